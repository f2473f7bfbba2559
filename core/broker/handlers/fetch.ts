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
 * Records are served as byte ranges of whole batches read from segment files; nothing is
 * decoded. Limits: the response's max_bytes and each partition's max_bytes, except that the
 * first partition with data returns at least one whole batch (KIP-74). When less than
 * min_bytes is available the request waits (a long-poll) until an append to one of its
 * partitions or max_wait_ms.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { FetchRequest } from '../../protocol/generated/FetchRequest';
import type { FetchResponse as WireFetchResponse, FetchableTopicResponse as WireTopic, PartitionData as WirePartition } from '../../protocol/generated/FetchResponse';
import type { RecordsInput } from '../../protocol/writer';
import { ErrorCode } from '../../protocol/errorCodes';
import { isStrataError, toKafkaErrorCode } from '../../common/errors';
import type { PartitionLog } from '../../log/partitionLog';
import type { TieredPartition } from '../../tier/tieredPartition';
import type { TopicState } from '../topicRegistry';
import type { ApiHandler, RequestContext } from './types';
import { LEADER_EPOCH } from '../singleNode';

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
  log: PartitionLog | null;
  /** Set for topics with remote.storage.enable: offsets below the local log come from the object store. */
  tiered: TieredPartition | undefined;
  errorCode: number;
}

function emptyPartition(partitionIndex: number, errorCode: number, log: PartitionLog | null = null, tiered?: TieredPartition): PartitionData {
  return {
    partitionIndex,
    errorCode,
    highWatermark: log ? log.highWatermark : -1n,
    lastStableOffset: log ? log.highWatermark : -1n,
    logStartOffset: tiered ? tiered.logStartOffset : log ? log.logStartOffset : -1n,
    abortedTransactions: [],
    preferredReadReplica: -1,
    records: Buffer.alloc(0),
  };
}

function leaderEpochError(currentLeaderEpoch: number | undefined): number {
  if (currentLeaderEpoch === undefined || currentLeaderEpoch < 0) return ErrorCode.NONE;
  if (currentLeaderEpoch < LEADER_EPOCH) return ErrorCode.FENCED_LEADER_EPOCH;
  if (currentLeaderEpoch > LEADER_EPOCH) return ErrorCode.UNKNOWN_LEADER_EPOCH;
  return ErrorCode.NONE;
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
      const log = state?.partitions[fp.partition] ?? null;
      let errorCode: number = ErrorCode.NONE;
      if (!state) errorCode = useIds ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (!log) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else errorCode = leaderEpochError(fp.currentLeaderEpoch);
      const tiered = state ? ctx.broker.tier.partition(state.topicId, fp.partition) : undefined;
      parts.push({ topic, partitionIndex: fp.partition, fetchOffset: fp.fetchOffset, maxBytes: fp.partitionMaxBytes, log, tiered, errorCode });
    }
  }
  return { topics, parts };
}

/** One pass over the planned partitions; returns the bytes gathered. Only tiered reads wait. */
async function readAll(parts: PartitionPlan[], responseMaxBytes: number): Promise<{ bytes: number; hasError: boolean }> {
  for (const p of parts) p.topic.partitions = [];
  let budget = responseMaxBytes;
  let total = 0;
  let hasError = false;
  for (const p of parts) {
    if (p.errorCode !== ErrorCode.NONE || !p.log) {
      p.topic.partitions.push(emptyPartition(p.partitionIndex, p.errorCode, p.log, p.tiered));
      hasError = true;
      continue;
    }
    const log = p.log;
    const res = emptyPartition(p.partitionIndex, ErrorCode.NONE, log, p.tiered);
    try {
      const limit = Math.max(0, Math.min(p.maxBytes, budget));
      const opts = { minOneBatch: total === 0, maxOffset: log.highWatermark };
      const read = p.tiered ? await p.tiered.read(p.fetchOffset, limit, opts) : log.read(p.fetchOffset, limit, opts);
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

function waitForAppend(parts: PartitionPlan[], timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const unsubs: (() => void)[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const u of unsubs) u();
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    const seen = new Set<PartitionLog>();
    for (const p of parts) {
      if (p.log && !seen.has(p.log)) {
        seen.add(p.log);
        unsubs.push(p.log.onAppend(finish));
      }
    }
  });
}

export const fetchHandler: ApiHandler<FetchRequest, FetchResponse> = {
  apiKey: ApiKey.Fetch,
  minImplemented: 4,

  async handle(req, ctx) {
    const { topics, parts } = plan(req, ctx);
    const maxBytes = ctx.version >= 3 ? Math.max(0, Math.min(req.maxBytes ?? FETCH_MAX_BYTES, FETCH_MAX_BYTES)) : FETCH_MAX_BYTES;
    const deadline = Date.now() + Math.max(0, req.maxWaitMs);
    let read = await readAll(parts, maxBytes);
    while (read.bytes < req.minBytes && !read.hasError && parts.length > 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await waitForAppend(parts, remaining);
      read = await readAll(parts, maxBytes);
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
