/**
 * InitProducerId (api key 22).
 *
 * v0 transactional id and transaction timeout; v1 same; v2 flexible; v3 producer id and epoch
 * (KIP-360: a producer resumes after an error by bumping its own epoch); v4 PRODUCER_FENCED
 * (older versions get INVALID_PRODUCER_EPOCH); v5 same shape.
 *
 * Without a transactional id this is an idempotent producer: a fresh producer id (allocated in
 * blocks from the metadata store, unique across brokers and restarts) at epoch 0. With one, the
 * transaction coordinator bumps the id's epoch, fencing the previous incarnation and aborting
 * its open transaction (core/txn/txnCoordinator.ts).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { InitProducerIdRequest } from '../../protocol/generated/InitProducerIdRequest';
import type { InitProducerIdResponse } from '../../protocol/generated/InitProducerIdResponse';
import type { ApiHandler } from './types';
import { producerFencedFor } from './txnErrors';

export const initProducerIdHandler: ApiHandler<InitProducerIdRequest, InitProducerIdResponse> = {
  apiKey: ApiKey.InitProducerId,
  minImplemented: 0,

  async handle(req, ctx) {
    const r = await ctx.broker.txn.initProducerId({
      transactionalId: req.transactionalId,
      transactionTimeoutMs: req.transactionTimeoutMs,
      producerId: req.producerId ?? -1n,
      producerEpoch: req.producerEpoch ?? -1,
    });
    return { throttleTimeMs: 0, errorCode: producerFencedFor(r.errorCode, ctx.version, 4), producerId: r.producerId, producerEpoch: r.producerEpoch };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, producerId: -1n, producerEpoch: -1 };
  },
};
