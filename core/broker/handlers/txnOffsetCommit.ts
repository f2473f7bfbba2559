/**
 * TxnOffsetCommit (api key 28).
 *
 * v1 same as v0; v2 committed leader epoch; v3 flexible, member id, generation and
 * group.instance.id (KIP-447: the group coordinator checks them as it does for OffsetCommit);
 * v4 TRANSACTION_ABORTABLE.
 *
 * The offsets stay pending (durably, in the metadata store) until the transaction ends: on
 * commit they become the group's committed offsets, on abort they are dropped. The group must
 * have been added to the transaction with AddOffsetsToTxn (checked against the transaction
 * coordinator, before and after the write).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { TxnOffsetCommitRequest } from '../../protocol/generated/TxnOffsetCommitRequest';
import type { TxnOffsetCommitResponse } from '../../protocol/generated/TxnOffsetCommitResponse';
import type { ApiHandler } from './types';
import { codesByTopic, requestedOffsets } from './offsetCommitShape';

export const txnOffsetCommitHandler: ApiHandler<TxnOffsetCommitRequest, TxnOffsetCommitResponse> = {
  apiKey: ApiKey.TxnOffsetCommit,
  minImplemented: 0,

  async handle(req, ctx) {
    const { groups, txn } = ctx.broker;
    const offsets = requestedOffsets(req.topics);
    const codes = await groups.commitTransactionalOffsets({
      groupId: req.groupId,
      producerId: req.producerId,
      producerEpoch: req.producerEpoch,
      generationId: req.generationId ?? -1,
      memberId: req.memberId ?? '',
      groupInstanceId: req.groupInstanceId ?? null,
      offsets,
      // The transaction's coordinator may be another broker: then its stored state answers.
      verify: () => txn.verifyTxnOffsetCommitAnywhere(req.transactionalId, req.producerId, req.producerEpoch, req.groupId),
    });
    return { throttleTimeMs: 0, topics: codesByTopic(req.topics, (i) => codes[i]) };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, topics: codesByTopic(req.topics, () => errorCode) };
  },
};
