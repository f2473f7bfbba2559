/**
 * Fetch (api key 1).
 *
 * v0-3 return magic 0/1 message sets (Kafka down-converts); Strata serves only the stored
 * RecordBatch v2 bytes, so those versions get UNSUPPORTED_VERSION. v4 adds isolation level,
 * last stable offset and aborted transactions; v5 logStartOffset; v7 fetch sessions (KIP-227,
 * fetchSession.ts: incremental fetches name only changed partitions, and their answers only
 * partitions with something to say); v9 current leader epoch; v11 rack id / preferred read
 * replica; v12 flexible, diverging epoch; v13 topic ids instead of names; v15 replica state; v16
 * node endpoints; v17 replica directory id.
 *
 * The answer's shape is Kafka's (FetchResponse.toMessage, KafkaApis.handleFetchRequest): one
 * entry per partition fetched (a partition named twice is fetched once), those that resolve in
 * fetch order, then those that do not (unknown topic, topic id or partition); consecutive
 * partitions of one topic share a topic entry, and a topic never appears without partitions.
 * A full fetch (session epoch 0 or -1) answers every partition it names, data or not; an
 * incremental one only those with records, a new high watermark or log start offset, or an
 * error. A request failing as a whole answers the top-level error; before v13 every partition
 * carries it too, from v13 no partition is listed (FetchRequest.getErrorResponse).
 *
 * A fetch with a broker's id (replica_id ≥ 0, from v15 replica_state) is a follower's: it reads
 * up to the log end rather than the high watermark, ignores isolation_level, and its fetch offset
 * tells the partition how far the follower's log goes (partition.ts, leaderReplicas.ts); a broker
 * that is not one of the partition's replicas gets NOT_LEADER_OR_FOLLOWER, as from Kafka.
 *
 * v12's last_fetched_epoch (sent by followers; consumers send -1): when the fetcher's log has
 * diverged from this one (its last epoch ends here before its fetch offset, or is unknown here
 * but older ones are), the answer carries diverging_epoch, where to truncate to, and no records
 * (KIP-595, Kafka's Partition.readRecords); such answers are always sent in a session.
 *
 * isolation_level 1 (read_committed) stops at the last stable offset and lists the aborted
 * transactions overlapping the records returned, so the client drops their batches (the abort
 * markers tell it where each ends); read_uncommitted (0) reads up to the high watermark.
 *
 * Records are served as byte ranges of whole batches of the segment files (file regions, sent
 * from the files as the socket drains: sendfile(2) where the addon is built, else a small buffer
 * at a time; see responseStream.ts); nothing is decoded or copied into the response. Limits:
 * the response's max_bytes and each partition's max_bytes, except that the first partition
 * with data returns at least one whole batch (KIP-74). When less than
 * min_bytes is available the request waits in the partition manager's fetch purgatory until an
 * append to one of its partitions, or max_wait_ms.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { FetchRequest } from '../../protocol/generated/FetchRequest';
import type { FetchResponse as WireFetchResponse, FetchableTopicResponse as WireTopic, PartitionData as WirePartition } from '../../protocol/generated/FetchResponse';
import type { RecordsInput } from '../../protocol/writer';
import { ErrorCode } from '../../protocol/errorCodes';
import { isStrataError, toKafkaErrorCode } from '../../common/errors';
import { releaseChunks } from '../../common/fileRegion';
import type { IsolationLevel, Partition } from '../../partition/partition';
import type { ApiHandler, RequestContext } from './types';
import { FetchSessions, INVALID_SESSION_ID, type FetchTarget, type PartitionAnswer } from './fetchSession';
import { LeaderHints } from './leaderHints';
import { fetchMaxBytes, throttleFetch } from '../../quota/byteRateQuotas';

/** Kafka's fetch.max.bytes (55 MiB): the most one response carries whatever the client asks for. */
export const FETCH_MAX_BYTES = 57671680;

// Records go out as the segment chunks they were read as (no copy).
type FetchResponse = WireFetchResponse<RecordsInput>;
type FetchableTopicResponse = WireTopic<RecordsInput>;
type PartitionData = WirePartition<RecordsInput>;

/** One partition of this fetch, resolved once; its answer is rewritten by each read pass. */
interface PartitionPlan {
  target: FetchTarget;
  /** The topic's name (v13+: '' when the id is unknown) and id, as the answer names them. */
  topicName: string;
  topicId: string | undefined;
  partition: Partition | null;
  /** Set when the partition cannot be read at all (unknown topic, id, partition or leader epoch). */
  errorCode: number;
  answer: PartitionData;
  recordBytes: number;
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

/**
 * Resolves every partition once (reads may then be repeated after a wait), in Kafka's answer
 * order: partitions that resolve in fetch order, then the unknown ones.
 */
function plan(targets: readonly FetchTarget[], ctx: RequestContext): PartitionPlan[] {
  const useIds = ctx.version >= 13;
  const known: PartitionPlan[] = [];
  const unknown: PartitionPlan[] = [];
  for (const target of targets) {
    const state = useIds ? ctx.broker.topics.getById(target.topicId!) : ctx.broker.topics.get(target.topicName!);
    const partition = state?.partitions[target.partition] ?? null;
    let errorCode: number = ErrorCode.NONE;
    if (!state) errorCode = useIds ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    else if (!partition) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    const p: PartitionPlan = {
      target,
      topicName: state?.name ?? target.topicName ?? '',
      topicId: target.topicId,
      partition,
      errorCode: partition ? partition.checkLeaderEpoch(target.currentLeaderEpoch) : errorCode,
      answer: emptyPartition(target.partition, errorCode, partition),
      recordBytes: 0,
    };
    (partition ? known : unknown).push(p);
  }
  return [...known, ...unknown];
}

/** One pass over the planned partitions; returns the bytes gathered. Only tiered reads wait. */
async function readAll(parts: PartitionPlan[], responseMaxBytes: number, isolation: IsolationLevel, follower: number | undefined): Promise<{ bytes: number; hasError: boolean }> {
  let budget = responseMaxBytes;
  let total = 0;
  let hasError = false;
  for (const p of parts) {
    const partition = p.partition;
    // A pass after a long-poll wait reads again: the regions the last pass pinned are let go.
    if (Array.isArray(p.answer.records)) releaseChunks(p.answer.records);
    p.recordBytes = 0;
    if (p.errorCode !== ErrorCode.NONE || !partition) {
      p.answer = emptyPartition(p.target.partition, p.errorCode, partition);
      hasError = true;
      continue;
    }
    const res = emptyPartition(p.target.partition, ErrorCode.NONE, partition);
    try {
      // A follower whose log diverged from this one learns where to truncate instead (v12+).
      const diverging = partition.divergingEpoch(p.target.fetchOffset, p.target.lastFetchedEpoch);
      if (diverging !== null) {
        res.divergingEpoch = diverging;
        p.answer = res;
        continue;
      }
      const limit = Math.max(0, Math.min(p.target.maxBytes, budget));
      const read = await partition.read(p.target.fetchOffset, limit, { minOneBatch: total === 0, isolation, follower });
      res.highWatermark = read.highWatermark;
      res.lastStableOffset = read.lastStableOffset;
      res.logStartOffset = read.logStartOffset;
      // As Kafka: null for read_uncommitted, the (possibly empty) list for read_committed.
      res.abortedTransactions = isolation === 'read_committed' ? read.abortedTransactions.map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset })) : null;
      if (read.bytes > 0) {
        res.records = read.records;
        p.recordBytes = read.bytes;
        total += read.bytes;
        budget -= read.bytes;
      }
    } catch (e) {
      res.errorCode = isStrataError(e, 'OFFSET_OUT_OF_RANGE') ? ErrorCode.OFFSET_OUT_OF_RANGE : toKafkaErrorCode(e);
      hasError = true;
    }
    p.answer = res;
  }
  return { bytes: total, hasError };
}

function sessionAnswer(p: PartitionPlan): PartitionAnswer {
  return {
    errorCode: p.answer.errorCode,
    highWatermark: p.answer.highWatermark,
    logStartOffset: p.answer.logStartOffset ?? -1n,
    recordBytes: p.recordBytes,
    diverging: p.answer.divergingEpoch !== undefined,
  };
}

/**
 * Kafka's FetchResponse.toMessage: partitions in order, consecutive partitions of one topic
 * (by id from v13, by name before) under one topic entry; no topic without partitions.
 */
export function groupByTopic(parts: ReadonlyArray<{ topicName: string; topicId: string | undefined; answer: PartitionData }>, useIds: boolean): FetchableTopicResponse[] {
  const out: FetchableTopicResponse[] = [];
  let last: FetchableTopicResponse | undefined;
  for (const p of parts) {
    const same = last !== undefined && (useIds ? last.topicId === p.topicId : last.topic === p.topicName);
    if (same) {
      last!.partitions.push(p.answer);
    } else {
      last = { topic: p.topicName, topicId: p.topicId, partitions: [p.answer] };
      out.push(last);
    }
  }
  return out;
}

/** The Fetch handler with its own fetch sessions (one per connection at most). */
export function createFetchHandler(sessions: FetchSessions = new FetchSessions()): ApiHandler<FetchRequest, FetchResponse> {
  return {
    apiKey: ApiKey.Fetch,
    minImplemented: 4,

    async handle(req, ctx) {
      const context = sessions.newContext(ctx.conn, ctx.version, req);
      if (context.kind === 'sessionError') return { throttleTimeMs: 0, errorCode: context.errorCode, sessionId: INVALID_SESSION_ID, responses: [] };
      const parts = plan(context.targets, ctx);
      // A consumer's fetch takes no more than its consumer_byte_rate allows in a quota window.
      const maxBytes = Math.max(0, Math.min(req.maxBytes ?? FETCH_MAX_BYTES, FETCH_MAX_BYTES, fetchMaxBytes(req, ctx)));
      const deadline = Date.now() + Math.max(0, req.maxWaitMs);
      const waitable = parts.flatMap((p) => (p.partition ? [p.partition] : []));
      // A broker's id (replica_id before v15, replica_state from v15) makes this a follower's fetch.
      const replicaId = ctx.version >= 15 ? (req.replicaState?.replicaId ?? -1) : (req.replicaId ?? -1);
      const follower = replicaId >= 0 ? replicaId : undefined;
      // A follower that names a newer leader epoch than this broker knows has read a record this
      // broker has not yet applied (it may be the new leader): look at the store now.
      if (follower !== undefined && parts.some((p) => p.errorCode === ErrorCode.UNKNOWN_LEADER_EPOCH)) ctx.broker.cluster?.refreshNow();
      const isolation: IsolationLevel = follower === undefined && (req.isolationLevel ?? 0) === 1 ? 'read_committed' : 'read_uncommitted';
      // Progress marks taken before each read: the wait ends at once if anything moved since (an
      // append that landed while the read ran), as Kafka's DelayedFetch checks real offsets.
      let since = ctx.broker.partitions.progressMarks(waitable);
      let read = await readAll(parts, maxBytes, isolation, follower);
      while (read.bytes < req.minBytes && !read.hasError && waitable.length > 0) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) break;
        await ctx.broker.partitions.awaitData(waitable, remaining, since);
        since = ctx.broker.partitions.progressMarks(waitable);
        read = await readAll(parts, maxBytes, isolation, follower);
      }
      const useIds = ctx.version >= 13;
      // Where leadership moved, the answer names the new leader (KIP-951).
      const hints = new LeaderHints(ctx.broker, ctx.conn.listenerName);
      for (const p of parts) {
        const leader = hints.currentLeader(p.partition, p.answer.errorCode);
        if (leader !== undefined) p.answer.currentLeader = leader;
      }
      const nodeEndpoints = hints.nodeEndpoints();
      // consumer_byte_rate: over it, an answer without records (Kafka's FetchContext.getThrottledResponse:
      // no session opened, an incremental session's state left as it was but for its epoch).
      const throttleTimeMs = follower === undefined ? throttleFetch(read.bytes, ctx) : 0;
      if (throttleTimeMs > 0) {
        for (const p of parts) if (Array.isArray(p.answer.records)) releaseChunks(p.answer.records);
        return { throttleTimeMs, errorCode: ErrorCode.NONE, sessionId: context.kind === 'incremental' ? context.session.id : INVALID_SESSION_ID, responses: [], nodeEndpoints };
      }
      const answered = parts.map((p) => ({ target: p.target, answer: sessionAnswer(p) }));
      switch (context.kind) {
        case 'sessionless':
          return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: INVALID_SESSION_ID, responses: groupByTopic(parts, useIds), nodeEndpoints };
        case 'full': {
          const sessionId = sessions.open(ctx.conn, ctx.version, answered);
          return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId, responses: groupByTopic(parts, useIds), nodeEndpoints };
        }
        case 'incremental': {
          const keep = sessions.select(context.session, answered);
          return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: context.session.id, responses: groupByTopic(parts.filter((_, i) => keep[i]), useIds), nodeEndpoints };
        }
      }
    },

    errorResponse(req, errorCode, ctx) {
      // Kafka's FetchRequest.getErrorResponse: from v13 the top-level error alone.
      return {
        throttleTimeMs: 0,
        errorCode,
        sessionId: req.sessionId ?? INVALID_SESSION_ID,
        responses:
          ctx.version >= 13
            ? []
            : req.topics.map((ft) => ({
                topic: ft.topic,
                topicId: ft.topicId,
                partitions: ft.partitions.map((fp) => emptyPartition(fp.partition, errorCode)),
              })),
      };
    },
  };
}

export const fetchHandler = createFetchHandler();
