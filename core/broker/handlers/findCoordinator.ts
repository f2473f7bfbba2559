/**
 * FindCoordinator (api key 10). v1 key type (0 = group, 1 = transaction) and error message;
 * v3 flexible; v4 batches several keys (KIP-699); v5/v6 new error codes (KIP-890, share groups).
 *
 * On a single broker, this broker coordinates every group and transactional id. librdkafka
 * also uses this API's presence to enable LZ4 (its "broker >= 0.8.2" probe), so it is served
 * even before the group APIs behind it.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { FindCoordinatorRequest } from '../../protocol/generated/FindCoordinatorRequest';
import type { FindCoordinatorResponse } from '../../protocol/generated/FindCoordinatorResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

/** Kafka's CoordinatorType: 0 group, 1 transaction, 2 share. */
const KNOWN_KEY_TYPES = new Set([0, 1]);

export const findCoordinatorHandler: ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse> = {
  apiKey: ApiKey.FindCoordinator,
  minImplemented: 0,

  handle(req, ctx) {
    const b = ctx.broker;
    const keyType = req.keyType ?? 0;
    const answer = (key: string) => {
      if (!KNOWN_KEY_TYPES.has(keyType)) {
        return { key, nodeId: -1, host: '', port: -1, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported coordinator key type ${keyType}` };
      }
      if (key === '' && keyType === 0) {
        return { key, nodeId: -1, host: '', port: -1, errorCode: ErrorCode.INVALID_GROUP_ID, errorMessage: 'The group id must not be empty.' };
      }
      return { key, nodeId: b.nodeId, host: b.advertised.host, port: b.advertised.port, errorCode: ErrorCode.NONE, errorMessage: null };
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
