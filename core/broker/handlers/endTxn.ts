/**
 * EndTxn (api key 26).
 *
 * v1 same as v0; v2 PRODUCER_FENCED (older versions get INVALID_PRODUCER_EPOCH); v3 flexible;
 * v4 TRANSACTION_ABORTABLE; v5 (unstable, not advertised) the per-transaction epoch bump of
 * KIP-890 part 2.
 *
 * Commits or aborts the producer's transaction: the coordinator writes its decision
 * (PrepareCommit/PrepareAbort) to the metadata store, then the markers to every partition of the
 * transaction, completes the groups' transactional offsets, and writes the outcome.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { EndTxnRequest } from '../../protocol/generated/EndTxnRequest';
import type { EndTxnResponse } from '../../protocol/generated/EndTxnResponse';
import type { ApiHandler } from './types';
import { producerFencedFor } from './txnErrors';

export const endTxnHandler: ApiHandler<EndTxnRequest, EndTxnResponse> = {
  apiKey: ApiKey.EndTxn,
  minImplemented: 0,

  async handle(req, ctx) {
    const code = await ctx.broker.txn.endTxn({ transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch, committed: req.committed });
    return { throttleTimeMs: 0, errorCode: producerFencedFor(code, ctx.version, 2), producerId: -1n, producerEpoch: -1 };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 };
  },
};
