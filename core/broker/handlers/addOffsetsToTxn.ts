/**
 * AddOffsetsToTxn (api key 25).
 *
 * v1 same as v0; v2 PRODUCER_FENCED (older versions get INVALID_PRODUCER_EPOCH); v3 flexible;
 * v4 TRANSACTION_ABORTABLE.
 *
 * Adds a consumer group to the transaction, so that its TxnOffsetCommit offsets become committed
 * with the transaction (Kafka adds the group's __consumer_offsets partition; Strata's group
 * offsets live in the metadata store, and the coordinator completes them itself).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { AddOffsetsToTxnRequest } from '../../protocol/generated/AddOffsetsToTxnRequest';
import type { AddOffsetsToTxnResponse } from '../../protocol/generated/AddOffsetsToTxnResponse';
import type { ApiHandler } from './types';
import { producerFencedFor } from './txnErrors';

export const addOffsetsToTxnHandler: ApiHandler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse> = {
  apiKey: ApiKey.AddOffsetsToTxn,
  minImplemented: 0,

  async handle(req, ctx) {
    const code = await ctx.broker.txn.addOffsets({ transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch, groupId: req.groupId });
    return { throttleTimeMs: 0, errorCode: producerFencedFor(code, ctx.version, 2) };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode };
  },
};
