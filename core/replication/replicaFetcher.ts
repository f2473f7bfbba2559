import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { KafkaConnection } from '../client/connection';
import type { PartitionLog } from '../log/partitionLog';
import { ErrorCode, errorName } from '../protocol/errorCodes';
import { ApiKey } from '../protocol/generated/index';
import { ZERO_UUID } from '../protocol/reader';
import type { FetchRequest } from '../protocol/generated/FetchRequest';
import type { FetchResponse, PartitionData } from '../protocol/generated/FetchResponse';
import type { ListOffsetsResponse } from '../protocol/generated/ListOffsetsResponse';

/**
 * A follower's fetcher for the partitions one leader broker leads (Kafka's ReplicaFetcherThread
 * and AbstractFetcherThread): Fetch requests with this broker's replica id, each partition from
 * its log end with the epoch of its last batch (last_fetched_epoch), so the leader says where to
 * truncate when the logs diverged (diverging_epoch, KIP-595); the leader's batches are appended
 * byte for byte (PartitionLog.appendAsFollower) and the follower's high watermark follows the
 * leader's, never past its own log end.
 *
 *   follower                                 leader
 *   fetch(offset = LEO, last epoch E) ───────►
 *            ◄──── records, HW, log start     (logs agree)
 *            ◄──── diverging (E', end)        (follower holds what the leader does not)
 *   truncate to min(own end of E', end), fetch again
 *
 * A fetch offset the leader no longer has (OFFSET_OUT_OF_RANGE) is resolved as Kafka does: past
 * the leader's end (an unclean election shortened it) the follower truncates to that end; below
 * the leader's start it starts over there. Errors that say leadership moved
 * (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_TOPIC_*) park the partition until
 * whoever owns the fetcher reassigns it, asking again after a backoff; UNKNOWN_LEADER_EPOCH (the
 * leader has not applied its new role yet, and this fetch made it look) is asked again after
 * 50 ms. Other errors back off and retry. A partition added while a long poll is out cuts that
 * poll short (it would otherwise wait up to replica.fetch.wait.max.ms to be asked for).
 */

export interface FollowerPartition {
  readonly topic: string;
  /** Used from Fetch v13 on; ZERO_UUID without one (then v12 is used). */
  readonly topicId: string;
  readonly partition: number;
  /** Opened with `replicated: true`: the fetcher sets its high watermark. */
  readonly log: PartitionLog;
  /** The leader epoch this follower follows (current_leader_epoch in its fetches). */
  leaderEpoch: number;
}

export interface ReplicaFetcherOptions {
  /** This broker's node id: the leader tracks the follower by it. */
  replicaId: number;
  /** This broker's registration epoch (ReplicaState from Fetch v15). */
  brokerEpoch: bigint;
  /** A connection to the leader; called again after a failure. */
  connect: () => Promise<KafkaConnection>;
  logger: Logger;
  /** replica.fetch.wait.max.ms (500). */
  maxWaitMs?: number;
  /** replica.fetch.min.bytes (1). */
  minBytes?: number;
  /** replica.fetch.response.max.bytes (10 MiB). */
  maxBytes?: number;
  /** replica.fetch.max.bytes (1 MiB) per partition. */
  partitionMaxBytes?: number;
  /** replica.fetch.backoff.ms (1000): after a failed fetch, or for a partition in error. */
  backoffMs?: number;
}

/** Where a partition stands in the fetcher. */
export type FollowerState = 'fetching' | 'backoff' | 'parked';

interface Entry {
  readonly p: FollowerPartition;
  state: FollowerState;
  /** While backing off: when to fetch again. */
  retryAt: number;
  /** Why it is parked or backing off. */
  reason: string;
}

/** How soon a partition whose leader is behind on its own leadership (UNKNOWN_LEADER_EPOCH) is asked for again. */
const LEADER_BEHIND_RETRY_MS = 50;

/** Kafka's FetchRequest.CONSUMER_REPLICA_ID is -1; brokers send their node id. ListOffsets from a follower uses -1 too (it reads like a consumer). */
const LIST_OFFSETS_CONSUMER = -1;

export class ReplicaFetcher {
  private readonly entries = new Map<string, Entry>();
  private conn: KafkaConnection | null = null;
  private running: Promise<void> | null = null;
  /** The loop is not running (never started, or stopped). */
  private stopped = true;
  /** stop() was called: answers still in flight are dropped. */
  private closing = false;
  private wake: (() => void) | null = null;
  /** A Fetch is out (a long poll of up to maxWaitMs). */
  private inFlight = false;
  /** The fetch out was cut short (its connection closed) to ask for partitions added since. */
  private interrupted = false;

  constructor(private readonly opts: ReplicaFetcherOptions) {}

  /** Starts following `p` (replacing an entry for the same partition). */
  addPartition(p: FollowerPartition): void {
    this.entries.set(keyOf(p), { p, state: 'fetching', retryAt: 0, reason: '' });
    this.wake?.();
    // A long poll out for the other partitions would hold the new one back for up to maxWaitMs
    // (in a failover, the new leader's high watermark waits on this follower's first fetch):
    // drop it and fetch again at once, the new partition included. Its answer is lost, not its
    // data: the next fetch starts from the log end as it stands.
    if (this.inFlight && !this.interrupted) {
      this.interrupted = true;
      this.conn?.close();
      this.conn = null;
    }
  }

  removePartition(p: { topic: string; partition: number }): void {
    this.entries.delete(keyOf(p));
  }

  /** The partitions and where each stands, for tests and tools. */
  status(): Array<{ topic: string; partition: number; state: FollowerState; reason: string }> {
    return [...this.entries.values()].map((e) => ({ topic: e.p.topic, partition: e.p.partition, state: e.state, reason: e.reason }));
  }

  /** Whether a Fetch is out to the leader now (for tests and tools). */
  get polling(): boolean {
    return this.inFlight;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.closing = false;
    this.running = this.run();
  }

  /** Stops after the fetch in flight (its answer is dropped); resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.closing = true;
    this.wake?.();
    this.conn?.close();
    this.conn = null;
    await this.running;
    this.running = null;
  }

  /** One fetch round, for tests: fetches once for every partition due and applies the answer. */
  async fetchOnce(): Promise<void> {
    const due = this.duePartitions(Date.now());
    if (due.length === 0) return;
    const conn = await this.connection();
    await this.fetch(conn, due);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      const due = this.duePartitions(now);
      if (due.length === 0) {
        await this.sleep(this.nextRetryIn(now));
        continue;
      }
      try {
        const conn = await this.connection();
        // Partitions added while connecting go in this fetch too.
        await this.fetch(conn, this.duePartitions(Date.now()));
      } catch (e) {
        if (this.stopped) break;
        if (this.interrupted) {
          this.interrupted = false;
          continue;
        }
        this.opts.logger.warn(`fetching from the leader failed: ${(e as Error).message}; retrying in ${this.backoffMs} ms`);
        this.conn?.close();
        this.conn = null;
        await this.sleep(this.backoffMs);
      }
    }
  }

  private get backoffMs(): number {
    return this.opts.backoffMs ?? 1000;
  }

  /** A parked partition is asked for again after this long: the leader may not have taken its new role yet. */
  private get parkedRetryMs(): number {
    return Math.max(this.backoffMs, 100);
  }

  private duePartitions(now: number): Entry[] {
    const due: Entry[] = [];
    for (const e of this.entries.values()) {
      if (e.state !== 'fetching' && now >= e.retryAt) e.state = 'fetching';
      if (e.state === 'fetching') due.push(e);
    }
    return due;
  }

  private nextRetryIn(now: number): number {
    let next = Infinity;
    for (const e of this.entries.values()) if (e.state !== 'fetching') next = Math.min(next, e.retryAt - now);
    return Number.isFinite(next) ? Math.max(0, next) : this.backoffMs;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private async connection(): Promise<KafkaConnection> {
    if (this.conn === null) this.conn = await this.opts.connect();
    return this.conn;
  }

  private async fetch(conn: KafkaConnection, due: Entry[]): Promise<void> {
    if (due.length === 0) return;
    let version = conn.version(ApiKey.Fetch);
    if (version < 12) throw new StrataError('API_UNSUPPORTED', `the leader serves Fetch up to v${version}; followers need v12 (diverging epochs)`);
    if (version >= 13 && due.some((e) => e.p.topicId === ZERO_UUID)) version = 12;
    const byTopic = new Map<string, Entry[]>();
    for (const e of due) {
      const list = byTopic.get(e.p.topic);
      if (list) list.push(e);
      else byTopic.set(e.p.topic, [e]);
    }
    // Answers name topics by id from v13, by name before.
    const answerKey = (topic: string, partition: number): string => `${topic}\0${partition}`;
    const byAnswerKey = new Map(due.map((e) => [answerKey(version >= 13 ? e.p.topicId : e.p.topic, e.p.partition), e]));
    const maxWaitMs = this.opts.maxWaitMs ?? 500;
    const request: FetchRequest = {
      clusterId: null,
      replicaId: this.opts.replicaId,
      replicaState: { replicaId: this.opts.replicaId, replicaEpoch: this.opts.brokerEpoch },
      maxWaitMs,
      minBytes: this.opts.minBytes ?? 1,
      maxBytes: this.opts.maxBytes ?? 10 * 1024 * 1024,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...byTopic].map(([topic, list]) => ({
        topic,
        topicId: list[0].p.topicId,
        partitions: list.map((e) => ({
          partition: e.p.partition,
          currentLeaderEpoch: e.p.leaderEpoch,
          fetchOffset: e.p.log.logEndOffset,
          lastFetchedEpoch: e.p.log.leaderEpochs.latestEpoch,
          logStartOffset: e.p.log.logStartOffset,
          partitionMaxBytes: this.opts.partitionMaxBytes ?? 1024 * 1024,
        })),
      })),
      forgottenTopicsData: [],
      rackId: '',
    };
    let res: FetchResponse;
    this.interrupted = false;
    this.inFlight = true;
    try {
      res = await conn.send<FetchResponse>(ApiKey.Fetch, request, { version, timeoutMs: 30_000 + maxWaitMs });
    } finally {
      this.inFlight = false;
    }
    if (this.closing) return;
    if ((res.errorCode ?? ErrorCode.NONE) !== ErrorCode.NONE) throw new StrataError('KAFKA_ERROR_RESPONSE', `the leader answered Fetch with ${errorName(res.errorCode!)}`);
    for (const t of res.responses) {
      for (const pd of t.partitions) {
        const entry = byAnswerKey.get(answerKey((version >= 13 ? t.topicId : t.topic) ?? '', pd.partitionIndex));
        // Removed or replaced while the fetch was out: its answer is stale.
        if (entry === undefined || this.entries.get(keyOf(entry.p)) !== entry) continue;
        await this.apply(conn, entry, pd);
      }
    }
  }

  private async apply(conn: KafkaConnection, e: Entry, pd: PartitionData): Promise<void> {
    const log = e.p.log;
    const label = `${e.p.topic}-${e.p.partition}`;
    try {
      switch (pd.errorCode) {
        case ErrorCode.NONE:
          break;
        case ErrorCode.OFFSET_OUT_OF_RANGE:
          await this.resolveOutOfRange(conn, e);
          return;
        case ErrorCode.UNKNOWN_LEADER_EPOCH:
          // The leader has not applied the record that made it leader yet (this fetch told it to
          // look: see the fetch handler); ask again shortly rather than after a backoff.
          this.park(e, `the leader answered ${errorName(pd.errorCode)}`, LEADER_BEHIND_RETRY_MS);
          return;
        case ErrorCode.NOT_LEADER_OR_FOLLOWER:
        case ErrorCode.FENCED_LEADER_EPOCH:
        case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        case ErrorCode.UNKNOWN_TOPIC_ID:
          this.park(e, `the leader answered ${errorName(pd.errorCode)}`);
          return;
        default:
          this.backoff(e, `the leader answered ${errorName(pd.errorCode)}`);
          return;
      }
      const divergingEpoch = pd.divergingEpoch?.epoch ?? -1;
      const divergingEnd = pd.divergingEpoch?.endOffset ?? -1n;
      if (divergingEpoch >= 0 && divergingEnd >= 0n) {
        this.truncateOnDivergence(e, divergingEpoch, divergingEnd);
        return;
      }
      const records = recordBytes(pd);
      if (records !== null && records.length > 0) log.appendAsFollower(records);
      log.updateHighWatermark(pd.highWatermark < log.logEndOffset ? pd.highWatermark : log.logEndOffset);
      const leaderStart = pd.logStartOffset ?? -1n;
      // The leader's log start moved (retention, DeleteRecords): the follower's follows, up to its high watermark.
      if (leaderStart > log.logStartOffset && leaderStart <= log.highWatermark) log.deleteSegmentsBelow(leaderStart);
      if (e.state !== 'fetching') e.state = 'fetching';
    } catch (err) {
      if (isStrataError(err, 'UNEXPECTED_APPEND_OFFSET') || isStrataError(err, 'BATCH_CORRUPT') || isStrataError(err, 'STORAGE_IO')) {
        this.opts.logger.warn(`${label}: ${(err as Error).message}`);
        this.backoff(e, (err as Error).message);
        return;
      }
      throw err;
    }
  }

  /**
   * Kafka's truncation on a diverging epoch (AbstractFetcherThread.getOffsetTruncationState): to
   * where the leader's answer and the follower's own record of that epoch agree; when the
   * follower never wrote in that epoch, first to the end of the newest epoch below it, and the
   * next fetch (with that epoch) finds the rest (KIP-279).
   */
  private truncateOnDivergence(e: Entry, leaderEpoch: number, leaderEndOffset: bigint): void {
    const log = e.p.log;
    const leo = log.logEndOffset;
    const own = log.leaderEpochs.endOffsetFor(leaderEpoch, leo);
    let target: bigint;
    if (own.endOffset < 0n) target = leaderEndOffset;
    else if (own.epoch !== leaderEpoch) target = own.endOffset;
    else target = own.endOffset < leaderEndOffset ? own.endOffset : leaderEndOffset;
    if (target > leo) target = leo;
    if (target < log.highWatermark) {
      this.opts.logger.warn(`${e.p.topic}-${e.p.partition}: truncating below the high watermark ${log.highWatermark} to ${target} (leader epoch ${leaderEpoch} ends at ${leaderEndOffset} on the leader)`);
    } else {
      this.opts.logger.info(`${e.p.topic}-${e.p.partition}: truncating to ${target}: the log diverged from the leader's (epoch ${leaderEpoch} ends at ${leaderEndOffset} there)`);
    }
    log.truncateTo(target);
  }

  /**
   * The fetch offset is outside the leader's log (Kafka's handleOutOfRangeError): past its end
   * (an unclean election shortened the log) the follower truncates to that end; before its start
   * the follower's log is emptied and starts there.
   */
  private async resolveOutOfRange(conn: KafkaConnection, e: Entry): Promise<void> {
    const log = e.p.log;
    const leaderEnd = await this.leaderOffset(conn, e, -1n);
    if (leaderEnd < log.logEndOffset) {
      this.opts.logger.warn(`${e.p.topic}-${e.p.partition}: the leader's log ends at ${leaderEnd}, before this replica's ${log.logEndOffset}: truncating to it`);
      log.truncateTo(leaderEnd);
      return;
    }
    const leaderStart = await this.leaderOffset(conn, e, -2n);
    if (leaderStart > log.logEndOffset) {
      this.opts.logger.info(`${e.p.topic}-${e.p.partition}: the leader's log starts at ${leaderStart}, after this replica's end ${log.logEndOffset}: starting over there`);
      log.truncateFullyAndStartAt(leaderStart);
    }
  }

  private async leaderOffset(conn: KafkaConnection, e: Entry, timestamp: bigint): Promise<bigint> {
    const res = await conn.send<ListOffsetsResponse>(ApiKey.ListOffsets, {
      replicaId: LIST_OFFSETS_CONSUMER,
      isolationLevel: 0,
      topics: [{ name: e.p.topic, partitions: [{ partitionIndex: e.p.partition, currentLeaderEpoch: e.p.leaderEpoch, timestamp, maxNumOffsets: 1 }] }],
    });
    const p = res.topics[0]?.partitions[0];
    if (!p || p.errorCode !== ErrorCode.NONE) throw new StrataError('KAFKA_ERROR_RESPONSE', `ListOffsets for ${e.p.topic}-${e.p.partition}: ${p ? errorName(p.errorCode) : 'no answer'}`);
    return p.offset ?? -1n;
  }

  private park(e: Entry, reason: string, retryMs = this.parkedRetryMs): void {
    if (e.state !== 'parked') this.opts.logger.info(`${e.p.topic}-${e.p.partition}: not fetching until its leadership is updated: ${reason}`);
    e.state = 'parked';
    e.retryAt = Date.now() + retryMs;
    e.reason = reason;
  }

  private backoff(e: Entry, reason: string): void {
    e.state = 'backoff';
    e.retryAt = Date.now() + this.backoffMs;
    e.reason = reason;
  }
}

function keyOf(p: { topic: string; partition: number }): string {
  return `${p.topic}-${p.partition}`;
}

/** The records of a fetched partition as one buffer (the client decoder hands them over whole). */
function recordBytes(pd: PartitionData): Buffer | null {
  const r = pd.records as unknown;
  if (r === null || r === undefined) return null;
  if (Buffer.isBuffer(r)) return r;
  if (Array.isArray(r)) return Buffer.concat(r as Buffer[]);
  return null;
}
