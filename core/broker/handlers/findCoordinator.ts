/**
 * FindCoordinator (api key 10). v1 key type (0 = group, 1 = transaction) and error message;
 * v3 flexible; v4 batches several keys (KIP-699); v5/v6 new error codes (KIP-890, share groups).
 *
 * The coordinator of a key is the live broker that rendezvous hashing picks for it
 * (core/cluster/coordinatorPlacement.ts), from this broker's view of the live brokers; with no
 * live broker known (a single broker, or before the first heartbeat), this broker itself. A
 * chosen broker without a registration to name answers COORDINATOR_NOT_AVAILABLE, and the
 * client asks again. librdkafka also uses this API's presence to enable LZ4 (its "broker >=
 * 0.8.2" probe), so it is served even before the group APIs behind it.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { FindCoordinatorRequest } from '../../protocol/generated/FindCoordinatorRequest';
import type { FindCoordinatorResponse } from '../../protocol/generated/FindCoordinatorResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { coordinatorFor, coordinatorNodeIds } from '../../cluster/coordinatorPlacement';
import { listenerEndpoint } from '../../cluster/metadataCache';
import type { ApiHandler } from './types';

/** Kafka's CoordinatorType: 0 group, 1 transaction, 2 share. */
const KNOWN_KEY_TYPES = new Set([0, 1]);

export const findCoordinatorHandler: ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse> = {
  apiKey: ApiKey.FindCoordinator,
  minImplemented: 0,

  handle(req, ctx) {
    const b = ctx.broker;
    const keyType = req.keyType ?? 0;
    const nodeIds = coordinatorNodeIds(b.topics, b.nodeId);
    const answer = (key: string) => {
      if (!KNOWN_KEY_TYPES.has(keyType)) {
        return { key, nodeId: -1, host: '', port: -1, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported coordinator key type ${keyType}` };
      }
      if (key === '' && keyType === 0) {
        return { key, nodeId: -1, host: '', port: -1, errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: 'The group id must not be empty.' };
      }
      const nodeId = coordinatorFor(key, keyType === 0 ? 'group' : 'transaction', nodeIds);
      if (nodeId === b.nodeId) {
        // This broker, at the address it advertises (known after bind, even when the registration was written before it).
        return { key, nodeId, ...b.advertisedOn(ctx.conn.listenerName), errorCode: ErrorCode.NONE, errorMessage: null };
      }
      const reg = nodeId < 0 ? undefined : b.topics.broker(nodeId);
      const at = reg === undefined ? undefined : listenerEndpoint(reg, ctx.conn.listenerName);
      if (at === undefined) {
        return { key, nodeId: -1, host: '', port: -1, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: 'No live broker can coordinate this key.' };
      }
      return { key, nodeId, host: at.host, port: at.port, errorCode: ErrorCode.NONE, errorMessage: null };
    };
    if (ctx.version >= 4) {
      return { throttleTimeMs: 0, coordinators: (req.coordinatorKeys ?? []).map(answer) };
    }
    const one = answer(req.key ?? '');
    return { throttleTimeMs: 0, errorCode: one.errorCode, errorMessage: one.errorMessage, nodeId: one.nodeId, host: one.host, port: one.port, coordinators: [] };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      errorCode,
      errorMessage: null,
      nodeId: -1,
      host: '',
      port: -1,
      coordinators: (req.coordinatorKeys ?? []).map((key) => ({ key, nodeId: -1, host: '', port: -1, errorCode, errorMessage: null })),
    };
  },
};
