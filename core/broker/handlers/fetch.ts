/**
 * Fetch (api key 1).
 *
 * v0-3 return magic 0/1 message sets (Kafka down-converts); Strata serves only the stored
 * RecordBatch v2 bytes, so those versions get UNSUPPORTED_VERSION. v4 adds isolation level,
 * last stable offset and aborted transactions; v5 logStartOffset; v7 fetch sessions (KIP-227:
 * Strata answers session id 0, "no session", so clients send full fetches); v9 current leader
 * epoch; v11 rack id / preferred read replica; v12 flexible, diverging epoch; v13 topic ids
 * instead of names; v15 replica state; v16 node endpoints; v17 replica directory id.
 *
 * isolation_level 1 (read_committed) stops at the last stable offset and lists the aborted
 * transactions overlapping the records returned, so the client drops their batches (the abort
 * markers tell it where each ends); read_uncommitted (0) reads up to the high watermark.
 *
 * Records are served as byte ranges of whole batches read from segment files; nothing is
 * decoded. Limits: the response's max_bytes and each partition's max_bytes, except that the
 * first partition with data returns at least one whole batch (KIP-74). When less than
 * min_bytes is available the request waits in the partition manager's fetch purgatory until an
 * append to one of its partitions, or max_wait_ms.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { FetchRequest } from '../../protocol/generated/FetchRequest';
import type { FetchResponse as WireFetchResponse, FetchableTopicResponse as WireTopic, PartitionData as WirePartition } from '../../protocol/generated/FetchResponse';
import type { RecordsInput } from '../../protocol/writer';
import { ErrorCode } from '../../protocol/errorCodes';
import { isStrataError, toKafkaErrorCode } from '../../common/errors';
import type { IsolationLevel, Partition } from '../../partition/partition';
import type { TopicState } from '../topicRegistry';
import type { ApiHandler, RequestContext } from './types';

/**
 * Kafka's fetch.max.bytes (55 MiB): the most one response carries whatever the client asks
 * for, since a response's segment bytes are read into memory before they are sent.
 */
export const FETCH_MAX_BYTES = 57671680;

// Records go out as the segment chunks they were read as (no copy).
type FetchResponse = WireFetchResponse<RecordsInput>;
type FetchableTopicResponse = WireTopic<RecordsInput>;
type PartitionData = WirePartition<RecordsInput>;

interface PartitionPlan {
  topic: FetchableTopicResponse;
  partitionIndex: number;
  fetchOffset: bigint;
  maxBytes: number;
  partition: Partition | null;
  errorCode: number;
}

function emptyPartition(partitionIndex: number, errorCode: number, partition: Partition | null = null): PartitionData {
  return {
    partitionIndex,
    errorCode,
    highWatermark: partition ? partition.highWatermark : -1n,
    lastStableOffset: partition ? partition.lastStableOffset : -1n,
    logStartOffset: partition ? partition.logStartOffset : -1n,
    abortedTransactions: [],
    preferredReadReplica: -1,
    records: Buffer.alloc(0),
  };
}

/** Resolves every requested partition once; reads may then be repeated after a wait. */
function plan(req: FetchRequest, ctx: RequestContext): { topics: FetchableTopicResponse[]; parts: PartitionPlan[] } {
  const useIds = ctx.version >= 13;
  const topics: FetchableTopicResponse[] = [];
  const parts: PartitionPlan[] = [];
  for (const ft of req.topics) {
    const state: TopicState | undefined = useIds ? ctx.broker.topics.getById(ft.topicId!) : ctx.broker.topics.get(ft.topic!);
    const topic: FetchableTopicResponse = { topic: state?.name ?? ft.topic ?? '', topicId: ft.topicId, partitions: [] };
    topics.push(topic);
    for (const fp of ft.partitions) {
      const partition = state?.partitions[fp.partition] ?? null;
      let errorCode: number = ErrorCode.NONE;
      if (!state) errorCode = useIds ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (!partition) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else errorCode = partition.checkLeaderEpoch(fp.currentLeaderEpoch);
      parts.push({ topic, partitionIndex: fp.partition, fetchOffset: fp.fetchOffset, maxBytes: fp.partitionMaxBytes, partition, errorCode });
    }
  }
  return { topics, parts };
}

/** One pass over the planned partitions; returns the bytes gathered. Only tiered reads wait. */
async function readAll(parts: PartitionPlan[], responseMaxBytes: number, isolation: IsolationLevel): Promise<{ bytes: number; hasError: boolean }> {
  for (const p of parts) p.topic.partitions = [];
  let budget = responseMaxBytes;
  let total = 0;
  let hasError = false;
  for (const p of parts) {
    const partition = p.partition;
    if (p.errorCode !== ErrorCode.NONE || !partition) {
      p.topic.partitions.push(emptyPartition(p.partitionIndex, p.errorCode, partition));
      hasError = true;
      continue;
    }
    const res = emptyPartition(p.partitionIndex, ErrorCode.NONE, partition);
    try {
      const limit = Math.max(0, Math.min(p.maxBytes, budget));
      const read = await partition.read(p.fetchOffset, limit, { minOneBatch: total === 0, isolation });
      res.highWatermark = read.highWatermark;
      res.lastStableOffset = read.lastStableOffset;
      res.logStartOffset = read.logStartOffset;
      // As Kafka: null for read_uncommitted, the (possibly empty) list for read_committed.
      res.abortedTransactions = isolation === 'read_committed' ? read.abortedTransactions.map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset })) : null;
      if (read.bytes > 0) {
        res.records = read.records;
        total += read.bytes;
        budget -= read.bytes;
      }
    } catch (e) {
      res.errorCode = isStrataError(e, 'OFFSET_OUT_OF_RANGE') ? ErrorCode.OFFSET_OUT_OF_RANGE : toKafkaErrorCode(e);
      hasError = true;
    }
    p.topic.partitions.push(res);
  }
  return { bytes: total, hasError };
}

export const fetchHandler: ApiHandler<FetchRequest, FetchResponse> = {
  apiKey: ApiKey.Fetch,
  minImplemented: 4,

  async handle(req, ctx) {
    const { topics, parts } = plan(req, ctx);
    const maxBytes = ctx.version >= 3 ? Math.max(0, Math.min(req.maxBytes ?? FETCH_MAX_BYTES, FETCH_MAX_BYTES)) : FETCH_MAX_BYTES;
    const deadline = Date.now() + Math.max(0, req.maxWaitMs);
    const waitable = parts.flatMap((p) => (p.partition ? [p.partition] : []));
    const isolation: IsolationLevel = (req.isolationLevel ?? 0) === 1 ? 'read_committed' : 'read_uncommitted';
    let read = await readAll(parts, maxBytes, isolation);
    while (read.bytes < req.minBytes && !read.hasError && waitable.length > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await ctx.broker.partitions.awaitData(waitable, remaining);
      read = await readAll(parts, maxBytes, isolation);
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: topics };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      errorCode,
      sessionId: 0,
      responses: req.topics.map((ft) => ({
        topic: ft.topic,
        topicId: ft.topicId,
        partitions: ft.partitions.map((fp) => emptyPartition(fp.partition, errorCode)),
      })),
    };
  },
};
