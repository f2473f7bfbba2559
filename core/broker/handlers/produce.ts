/**
 * Produce (api key 0).
 *
 * v0-2 carry magic 0/1 message sets, which Strata does not store: they are advertised (old
 * librdkafka enables features by the advertised range) and answered UNSUPPORTED_VERSION.
 * v3 adds transactionalId and RecordBatch v2; v5 logStartOffset (across both tiers for tiered
 * topics, as Fetch and ListOffsets report it); v8 per-record errors (KIP-467) and an error
 * message; v9 flexible; v10 currentLeader/nodeEndpoints (KIP-951); v11 same shape.
 *
 * Each partition's records go to Partition.appendRecordsAsLeader, which validates them as a
 * whole before anything is written (invariant 2). acks=all then waits (the partition manager's
 * produce purgatory) until each partition's high watermark has passed its append, or
 * timeout_ms (REQUEST_TIMED_OUT). acks=0 gets no response at all.
 *
 * A producer's first transactional write to a partition is verified with the transaction
 * coordinator before it is appended (KIP-890 part 1). When this broker coordinates the
 * transactional id the check is synchronous, inside the append; when another broker does, the
 * handler reads the transaction's stored state first (the coordinator stores the partitions it
 * adds before it answers AddPartitionsToTxn) and appends after. Appends of one connection keep
 * request order either way: a Produce that has to wait (for a check, or for the Produce before
 * it that waits) joins the connection's chain, and the server may take the next Produce while
 * this one waits (core/broker/server.ts).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ProduceRequest } from '../../protocol/generated/ProduceRequest';
import type { ProduceResponse, PartitionProduceResponse } from '../../protocol/generated/ProduceResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { AppendOutcome, Partition } from '../../partition/partition';
import type { ConnectionInfo } from '../server';
import type { ApiHandler, RequestContext } from './types';
import { LeaderHints } from './leaderHints';
import { throttleProduce } from '../../quota/byteRateQuotas';

function partitionError(index: number, errorCode: number, errorMessage: string | null = null): PartitionProduceResponse {
  return { index, errorCode, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n, recordErrors: [], errorMessage };
}

function toResponse(index: number, o: AppendOutcome): PartitionProduceResponse {
  return {
    index,
    errorCode: o.errorCode,
    baseOffset: o.baseOffset,
    logAppendTimeMs: o.logAppendTime,
    logStartOffset: o.logStartOffset,
    recordErrors: o.recordErrors.map((r) => ({ batchIndex: r.batchIndex, batchIndexErrorMessage: r.message })),
    errorMessage: o.errorMessage,
  };
}

/** Per connection: the append phase of its last Produce that had to wait (see the file comment). */
const appendChains = new WeakMap<ConnectionInfo, Promise<void>>();

/** Where the transaction coordinator is elsewhere: the writes to verify before appending, by "topic\0partition". */
function remoteVerifications(req: ProduceRequest, ctx: RequestContext): Map<string, { topic: string; partition: number; producerId: bigint; producerEpoch: number }> {
  const checks = new Map<string, { topic: string; partition: number; producerId: bigint; producerEpoch: number }>();
  const transactionalId = req.transactionalId ?? null;
  if (transactionalId === null || ctx.broker.txn.owns(transactionalId)) return checks;
  for (const td of req.topicData) {
    const topic = ctx.broker.topics.get(td.name);
    for (const pd of td.partitionData) {
      const partition = topic?.partitions[pd.index];
      const write = partition?.isLeader ? partition.transactionToVerify(pd.records) : null;
      if (write) checks.set(`${td.name}\0${pd.index}`, { topic: td.name, partition: pd.index, ...write });
    }
  }
  return checks;
}

export const produceHandler: ApiHandler<ProduceRequest, ProduceResponse> = {
  apiKey: ApiKey.Produce,
  minImplemented: 3,

  async handle(req, ctx) {
    const prev = appendChains.get(ctx.conn);
    if (prev === undefined && remoteVerifications(req, ctx).size === 0) return produce(req, ctx, new Map());
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    appendChains.set(ctx.conn, mine);
    let answer: Promise<ProduceResponse | null>;
    try {
      await prev;
      const checks = remoteVerifications(req, ctx);
      const verified = new Map<string, number>();
      await Promise.all(
        [...checks].map(async ([key, c]) => {
          verified.set(key, await ctx.broker.txn.verifyTransactionalWriteAnywhere(req.transactionalId!, c.producerId, c.producerEpoch, { topic: c.topic, partition: c.partition }));
        }),
      );
      answer = produce(req, ctx, verified); // appends synchronously, then waits for acks
    } finally {
      if (appendChains.get(ctx.conn) === mine) appendChains.delete(ctx.conn);
      done();
    }
    return answer;
  },

  errorResponse(req, errorCode) {
    return {
      responses: req.topicData.map((td) => ({ name: td.name, partitionResponses: td.partitionData.map((pd) => partitionError(pd.index, errorCode)) })),
      throttleTimeMs: 0,
    };
  },
};

/** Appends every partition's records (synchronously, before the first wait), then answers per acks. */
async function produce(req: ProduceRequest, ctx: RequestContext, verified: ReadonlyMap<string, number>): Promise<ProduceResponse | null> {
  const { topics, partitions } = ctx.broker;
  const acks = req.acks;
  const validAcks = acks === 0 || acks === 1 || acks === -1;
  const appended: { partition: Partition; nextOffset: bigint; leaderEpoch: number; response: PartitionProduceResponse }[] = [];
  const responses = req.topicData.map((td) => {
    const topic = topics.get(td.name);
    return {
      name: td.name,
      partitionResponses: td.partitionData.map((pd): PartitionProduceResponse => {
        if (!validAcks) return partitionError(pd.index, ErrorCode.INVALID_REQUIRED_ACKS);
        const partition = topic?.partitions[pd.index];
        if (!partition) return partitionError(pd.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        const outcome = partition.appendRecordsAsLeader(pd.records, { acks, origin: 'client', transactionalId: req.transactionalId ?? null, verified: verified.get(`${td.name}\0${pd.index}`) });
        const response = toResponse(pd.index, outcome);
        if (outcome.errorCode === ErrorCode.NONE) appended.push({ partition, nextOffset: outcome.nextOffset, leaderEpoch: partition.leaderEpoch, response });
        return response;
      }),
    };
  });
  // producer_byte_rate, after the append as in Kafka; acks=0 gets no answer but is muted all the same.
  const throttleTimeMs = throttleProduce(req, ctx);
  if (acks === 0) return null;
  const hints = new LeaderHints(ctx.broker, ctx.conn.listenerName);
  if (acks === -1 && appended.length > 0) {
    // Refused after the append: the producer retries (at the new leader, if leadership moved).
    const codes = await partitions.awaitAcks(appended, req.timeoutMs);
    appended.forEach((a, i) => {
      if (codes[i] !== ErrorCode.NONE) Object.assign(a.response, partitionError(a.response.index, codes[i]));
    });
  }
  // Where leadership moved, the answer names the new leader (KIP-951).
  for (const t of responses) {
    const topic = topics.get(t.name);
    for (const pr of t.partitionResponses) {
      const leader = hints.currentLeader(topic?.partitions[pr.index], pr.errorCode);
      if (leader !== undefined) pr.currentLeader = leader;
    }
  }
  return { responses, throttleTimeMs, nodeEndpoints: hints.nodeEndpoints() };
}
