/**
 * AddPartitionsToTxn (api key 24).
 *
 * v0-3 are the client's: one transactional id and its partitions (v2 PRODUCER_FENCED, older
 * versions get INVALID_PRODUCER_EPOCH; v3 flexible). v4+ are Kafka's broker-to-broker form
 * (KIP-890): several transactions, each with verify_only, and a top-level error code; served
 * here too (verify_only asks whether the partitions are already in the transaction, adding
 * nothing). v5 TRANSACTION_ABORTABLE.
 *
 * A transactional producer must add a partition here before it writes to it: the partition's
 * first transactional write is checked against the coordinator's state (KIP-890 part 1).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { AddPartitionsToTxnRequest, AddPartitionsToTxnTopic } from '../../protocol/generated/AddPartitionsToTxnRequest';
import type { AddPartitionsToTxnResponse, AddPartitionsToTxnTopicResult } from '../../protocol/generated/AddPartitionsToTxnResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { TransactionCoordinator } from '../../txn/txnCoordinator';
import type { ApiHandler } from './types';
import { producerFencedFor } from './txnErrors';

function flatten(topics: readonly AddPartitionsToTxnTopic[]): { topic: string; partition: number }[] {
  return topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition })));
}

function byTopic(topics: readonly AddPartitionsToTxnTopic[], codeOf: (topic: string, partition: number) => number): AddPartitionsToTxnTopicResult[] {
  return topics.map((t) => ({ name: t.name, resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: codeOf(t.name, p) })) }));
}

async function addOrVerify(
  txn: TransactionCoordinator,
  t: { transactionalId: string; producerId: bigint; producerEpoch: number; topics: readonly AddPartitionsToTxnTopic[]; verifyOnly: boolean },
  version: number,
): Promise<AddPartitionsToTxnTopicResult[]> {
  const partitions = flatten(t.topics);
  const codes = new Map<string, number>();
  if (t.verifyOnly) {
    // As the id's coordinator (NOT_COORDINATOR when another broker is): loaded first if needed.
    await txn.ready([t.transactionalId]);
    for (const tp of partitions) codes.set(`${tp.topic}\0${tp.partition}`, txn.verifyTransactionalWrite(t.transactionalId, t.producerId, t.producerEpoch, tp));
  } else {
    const results = await txn.addPartitions({ transactionalId: t.transactionalId, producerId: t.producerId, producerEpoch: t.producerEpoch, partitions });
    for (const r of results) codes.set(`${r.partition.topic}\0${r.partition.partition}`, producerFencedFor(r.errorCode, version, 2));
  }
  return byTopic(t.topics, (topic, p) => codes.get(`${topic}\0${p}`) ?? ErrorCode.UNKNOWN_SERVER_ERROR);
}

export const addPartitionsToTxnHandler: ApiHandler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse> = {
  apiKey: ApiKey.AddPartitionsToTxn,
  minImplemented: 0,

  async handle(req, ctx) {
    const txn = ctx.broker.txn;
    if (ctx.version <= 3) {
      const resultsByTopicV3AndBelow = await addOrVerify(
        txn,
        {
          transactionalId: req.v3AndBelowTransactionalId ?? '',
          producerId: req.v3AndBelowProducerId ?? -1n,
          producerEpoch: req.v3AndBelowProducerEpoch ?? -1,
          topics: req.v3AndBelowTopics ?? [],
          verifyOnly: false,
        },
        ctx.version,
      );
      return { throttleTimeMs: 0, resultsByTopicV3AndBelow };
    }
    const resultsByTransaction = [];
    for (const t of req.transactions ?? []) {
      const topicResults = await addOrVerify(txn, { ...t, verifyOnly: t.verifyOnly ?? false }, ctx.version);
      resultsByTransaction.push({ transactionalId: t.transactionalId, topicResults });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, resultsByTransaction };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      errorCode,
      resultsByTopicV3AndBelow: byTopic(req.v3AndBelowTopics ?? [], () => errorCode),
      resultsByTransaction: (req.transactions ?? []).map((t) => ({ transactionalId: t.transactionalId, topicResults: byTopic(t.topics, () => errorCode) })),
    };
  },
};
