import { StrataError, isStrataError } from '../common/errors';
import { createLogger, type Logger } from '../common/logger';
import { within } from '../common/timeout';
import type { PartitionLog } from '../log/partitionLog';
import type { MetadataStore } from '../meta/metadataStore';
import type { ObjectStore } from './objectStore';
import { ReadCache, type ReadCacheOptions, type ReadCacheStats } from './readCache';
import { REMOTE_SEGMENTS_NAMESPACE, RemoteLogMetadata, segmentObjects } from './remoteLogMetadata';
import { RemoteSegmentReader } from './remoteReader';
import { DEFAULT_KEY_PREFIX, topicObjectPrefix } from './remoteSegmentKeys';
import { deleteQuietly } from './segmentUploader';
import type { TierTopicConfig } from './tierConfig';
import { TieredPartition, type TierContext, type UploadBacklog } from './tieredPartition';
import { UploadBacklogMonitor, type UploadOutageStats } from './uploadBacklogMonitor';

/**
 * Tiered storage for the broker (KIP-405 semantics, Strata's design): uploads closed segments
 * to the object store, serves reads below the local log start from it, and applies retention
 * across both tiers. The broker wires it in; every entry point is here or on the
 * TieredPartition that `openPartition` returns.
 *
 * Background work, all off the request path, driven by a timer (`start`) or by `runOnce`:
 *  - uploads: per partition one at a time, oldest segment first; across partitions at most
 *    `uploadConcurrency` at once. A failed upload retries with exponential backoff
 *    (`retryBackoffMs` doubling up to `retryBackoffMaxMs`); meanwhile local segments stay, the
 *    backlog is reported (`backlog()`, `stats().outage`) and logged (each failed attempt, an
 *    "upload backlog:" line at most every `backlogLogIntervalMs`, and "upload backlog drained"
 *    when it is back to zero; see uploadBacklogMonitor.ts), nothing is lost. A successful
 *    upload schedules the partition's next one at once, so a backlog drains without waiting
 *    for ticks.
 *  - local retention after each upload and each tick (synchronous, local deletes only);
 *  - remote retention each tick when something is due (metadata first, objects after).
 */
export interface TierManagerOptions {
  /** First path segment of every tiered object. Default 'remote-log'. */
  keyPrefix?: string;
  /** How often the timer looks for work (Kafka's remote.log.manager.task.interval.ms). Default 1000. */
  taskIntervalMs?: number;
  /** Uploads in flight across all partitions. Default 2. */
  uploadConcurrency?: number;
  /** First retry delay after a failed upload or remote delete (remote.log.manager.task.retry.backoff.ms). Default 500. */
  retryBackoffMs?: number;
  /** Longest retry delay (remote.log.manager.task.retry.backoff.max.ms). Default 30000. */
  retryBackoffMaxMs?: number;
  /** Read cache: chunk size, total bound, read-ahead, remote read timeout (see ReadCacheOptions). */
  cache?: ReadCacheOptions;
  /** Delete a partition's unreferenced objects when it is opened. Default true. */
  sweepOrphansOnOpen?: boolean;
  /**
   * After an append, look for a rolled segment to upload this soon (ms) rather than at the
   * next tick; 0 turns it off. Default 50: a busy partition is looked at 20 times a second.
   */
  uploadOnRollDelayMs?: number;
  /**
   * How often a follower's copy reads the tiered state the leader records, to drop its own local
   * copies of tiered segments by local retention as the leader does (Kafka's followers learn it
   * from the remote log metadata topic). Default 30000 ms.
   */
  followerRefreshMs?: number;
  /** How long close() waits for in-flight work. Default 10000 ms. */
  closeTimeoutMs?: number;
  /** While uploads fail or a backlog drains, the backlog is logged at most this often. Default 5000 ms. */
  backlogLogIntervalMs?: number;
  logger?: Logger;
  /** Wall clock in ms (retention, backoff); default Date.now. */
  now?: () => number;
}

export interface OpenPartitionRequest {
  topicId: string;
  /** For log lines only. */
  topicName: string;
  partition: number;
  log: PartitionLog;
  config: TierTopicConfig;
  /** This broker's leader epoch for the partition (0 on a single node). */
  leaderEpoch?: number;
}

export interface TierStats {
  partitions: number;
  backlog: UploadBacklog;
  uploadsInFlight: number;
  /** Partitions whose last upload failed (retrying with backoff). */
  failingPartitions: number;
  /** From the first failed upload until the backlog drained: when, and the peak backlog; else null. */
  outage: UploadOutageStats | null;
  uploadedSegments: number;
  uploadedBytes: number;
  cache: ReadCacheStats;
}

const partitionKey = (topicId: string, partition: number): string => `${topicId}:${partition}`;

export class TierManager {
  readonly metadata: RemoteLogMetadata;
  readonly cache: ReadCache;
  private readonly ctx: TierContext;
  private readonly parts = new Map<string, TieredPartition>();
  private readonly queue: TieredPartition[] = [];
  private readonly uploadConcurrency: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly taskIntervalMs: number;
  private readonly sweepOrphansOnOpen: boolean;
  private readonly closeTimeoutMs: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private kickTimer: NodeJS.Timeout | null = null;
  private readonly uploadOnRollDelayMs: number;
  private readonly followerRefreshMs: number;
  private readonly backlogMonitor: UploadBacklogMonitor;
  private uploadsInFlight = 0;
  /** Uploads and remote retention passes running; `whenIdle` waits for 0. */
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    readonly objects: ObjectStore,
    metadata: MetadataStore | RemoteLogMetadata,
    opts: TierManagerOptions = {},
  ) {
    this.metadata = metadata instanceof RemoteLogMetadata ? metadata : new RemoteLogMetadata(metadata.namespace(REMOTE_SEGMENTS_NAMESPACE));
    this.logger = opts.logger ?? createLogger('tier');
    this.now = opts.now ?? Date.now;
    this.cache = new ReadCache(objects, { now: this.now, ...opts.cache });
    this.uploadConcurrency = opts.uploadConcurrency ?? 2;
    this.retryBackoffMs = opts.retryBackoffMs ?? 500;
    this.retryBackoffMaxMs = opts.retryBackoffMaxMs ?? 30_000;
    this.taskIntervalMs = opts.taskIntervalMs ?? 1000;
    this.sweepOrphansOnOpen = opts.sweepOrphansOnOpen ?? true;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    this.uploadOnRollDelayMs = opts.uploadOnRollDelayMs ?? 50;
    this.followerRefreshMs = opts.followerRefreshMs ?? 30_000;
    if (!Number.isInteger(this.uploadConcurrency) || this.uploadConcurrency < 1) throw new TypeError('uploadConcurrency must be a positive integer');
    this.backlogMonitor = new UploadBacklogMonitor({ logger: this.logger, now: this.now, logIntervalMs: opts.backlogLogIntervalMs ?? 5000 });
    this.ctx = {
      objects,
      metadata: this.metadata,
      cache: this.cache,
      reader: new RemoteSegmentReader(this.cache),
      keyPrefix: opts.keyPrefix ?? DEFAULT_KEY_PREFIX,
      logger: this.logger,
      now: this.now,
    };
    topicObjectPrefix(this.ctx.keyPrefix, 'x'); // validates the prefix now rather than at the first upload
  }

  /** Starts the background timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.tick(), this.taskIntervalMs);
    this.timer.unref();
  }

  /**
   * Opens a partition for tiering and tiered reads: loads its records, sweeps orphans, and
   * lines the local log up with the tiered part (an empty local log starts at the tiered
   * end). Must complete before the partition takes produce or fetch traffic. Throws when the
   * metadata store cannot be read: serving without knowing the tiered end could reuse offsets.
   * Opening an open partition returns it (with the new config).
   */
  async openPartition(req: OpenPartitionRequest): Promise<TieredPartition> {
    this.checkOpen();
    const key = partitionKey(req.topicId, req.partition);
    const existing = this.parts.get(key);
    if (existing && existing.log === req.log) {
      existing.config = req.config;
      return existing;
    }
    if (existing) await this.closePartition(req.topicId, req.partition);
    const tp = new TieredPartition(this.ctx, req.topicId, req.topicName, req.partition, req.log, req.config, req.leaderEpoch ?? 0);
    await tp.load({ sweepOrphans: this.sweepOrphansOnOpen });
    this.checkOpen();
    this.parts.set(key, tp);
    if (this.uploadOnRollDelayMs > 0) tp.watchAppends(() => this.kick());
    return tp;
  }

  /** The open partition, or undefined (then every offset is local). */
  partition(topicId: string, partition: number): TieredPartition | undefined {
    return this.parts.get(partitionKey(topicId, partition));
  }

  /** Applies changed topic configs (AlterConfigs); takes effect at the next tick. */
  updateConfig(topicId: string, partition: number, config: TierTopicConfig): void {
    const tp = this.partition(topicId, partition);
    if (tp) tp.config = config;
  }

  /** Stops tiering a partition (it moved away, or the broker stops); waits for its running operation. */
  async closePartition(topicId: string, partition: number): Promise<void> {
    const key = partitionKey(topicId, partition);
    const tp = this.parts.get(key);
    if (!tp) return;
    this.parts.delete(key);
    tp.close();
    await within(tp.settled().catch(() => undefined), this.closeTimeoutMs);
  }

  /**
   * Deletes every tiered segment of a deleted topic: records first, then objects, then any
   * object left under the topic's prefix, then the state records. Closes its open partitions
   * first. Safe to repeat (e.g. after a restart interrupted it).
   */
  async deleteTopicData(topicId: string): Promise<number> {
    for (const tp of [...this.parts.values()]) if (tp.topicId === topicId) await this.closePartition(topicId, tp.partition);
    const segs = await this.metadata.listTopicSegments(topicId);
    const warn = (m: string): void => this.logger.warn(`topic ${topicId}: ${m}`);
    for (const s of segs) {
      await this.metadata.removeSegment(s);
      const all = segmentObjects(s);
      await deleteQuietly(this.objects, all.map((o) => o.key), warn);
      for (const o of all) this.cache.invalidate(o.key, o.size);
    }
    const leftovers: string[] = [];
    for await (const o of this.objects.list(topicObjectPrefix(this.ctx.keyPrefix, topicId))) leftovers.push(o.key);
    await deleteQuietly(this.objects, leftovers, warn);
    await this.metadata.removeTopicState(topicId);
    if (segs.length > 0 || leftovers.length > 0) this.logger.info(`topic ${topicId}: deleted ${segs.length} tiered segment(s) and ${leftovers.length} leftover object(s)`);
    return segs.length;
  }

  /**
   * Deletes the tiered data of every topic id `isLive` rejects: topics deleted while a broker
   * was down, or whose deleteTopicData was interrupted. Reads every record of the namespace
   * (call it at startup, after the topics are loaded). `isLive` is asked after the listing, so a
   * topic created meanwhile is judged by what it knows then. Returns the topic ids cleaned up.
   */
  async deleteUnknownTopics(isLive: (topicId: string) => boolean | Promise<boolean>): Promise<string[]> {
    const gone: string[] = [];
    for (const id of await this.metadata.listTopicIds()) if (!(await isLive(id))) gone.push(id);
    for (const id of gone) await this.deleteTopicData(id);
    return gone;
  }

  /** Upload backlog over all partitions: closed segments below the HW not tiered yet. */
  backlog(): UploadBacklog {
    const out: UploadBacklog = { segments: 0, bytes: 0 };
    for (const tp of this.parts.values()) {
      const b = safely(() => tp.backlog(), { segments: 0, bytes: 0 });
      out.segments += b.segments;
      out.bytes += b.bytes;
    }
    return out;
  }

  stats(): TierStats {
    let failing = 0;
    let uploadedSegments = 0;
    let uploadedBytes = 0;
    for (const tp of this.parts.values()) {
      if (tp.failures > 0) failing++;
      uploadedSegments += tp.uploadedSegments;
      uploadedBytes += tp.uploadedBytes;
    }
    return {
      partitions: this.parts.size,
      backlog: this.backlog(),
      uploadsInFlight: this.uploadsInFlight,
      failingPartitions: failing,
      outage: this.backlogMonitor.stats(),
      uploadedSegments,
      uploadedBytes,
      cache: this.cache.stats(),
    };
  }

  /**
   * One scheduling pass: local retention (synchronous), remote retention that is due, and
   * uploads for partitions with a closed segment to tier (not in backoff). Returns at once;
   * `whenIdle` waits for what it started.
   */
  tick(): void {
    if (this.closed) return;
    const now = this.now();
    for (const tp of this.parts.values()) {
      if (!tp.mayTier()) {
        tp.followerRetention(now, this.followerRefreshMs);
        continue;
      }
      try {
        tp.enforceLocalRetention(now);
        if (!tp.retentionRunning && now >= tp.retentionRetryAt && tp.remoteRetentionCandidates(now).length > 0) this.startRetention(tp);
        if (!tp.queued && !tp.uploading && now >= tp.retryAt) {
          if (tp.nextUploadCandidate() !== null) {
            this.enqueue(tp);
          } else if (tp.failures > 0) {
            // Its retry is due and nothing is left to retry (e.g. DeleteRecords removed the
            // segments that failed): it is no longer failing, so an outage can end.
            this.logger.info(`${tp.label}: nothing left to upload after ${tp.failures} failed attempt(s)`);
            tp.failures = 0;
            tp.retryAt = 0;
          }
        }
      } catch (e) {
        if (!isStrataError(e, 'CLOSED')) this.logger.warn(`${tp.label}: tiering housekeeping failed: ${(e as Error).message}`);
      }
    }
    this.observeBacklog();
    this.pump();
  }

  /** During an upload outage or its drain: passes the backlog to the monitor (which logs it). */
  private observeBacklog(): void {
    if (!this.backlogMonitor.active) return;
    let failing = 0;
    for (const tp of this.parts.values()) if (tp.failures > 0) failing++;
    this.backlogMonitor.observe(this.backlog(), failing);
  }

  /**
   * Appends happened: soon, look at the partitions that took them for a segment to upload
   * (only those, so a busy broker does not rescan every partition at this rate).
   */
  private kick(): void {
    if (this.kickTimer !== null || this.closed) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = null;
      if (this.closed) return;
      const now = this.now();
      for (const tp of this.parts.values()) {
        if (!tp.appended || tp.closed) continue;
        tp.appended = false;
        if (!tp.mayTier()) continue;
        try {
          if (!tp.queued && !tp.uploading && now >= tp.retryAt && tp.nextUploadCandidate() !== null) this.enqueue(tp);
        } catch (e) {
          if (!isStrataError(e, 'CLOSED')) this.logger.warn(`${tp.label}: tiering check failed: ${(e as Error).message}`);
        }
      }
      this.pump();
    }, this.uploadOnRollDelayMs);
    this.kickTimer.unref();
  }

  /** A tick, then waits until every upload and retention pass it led to has finished. */
  async runOnce(): Promise<void> {
    this.tick();
    await this.whenIdle();
  }

  /** Resolves when no upload or remote retention pass is running or queued. */
  whenIdle(): Promise<void> {
    if (this.pending === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the timer and new work; waits (bounded) for running uploads. Does not close the stores. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    this.timer = null;
    this.kickTimer = null;
    this.queue.length = 0;
    const parts = [...this.parts.values()];
    this.parts.clear();
    for (const tp of parts) tp.close();
    await within(Promise.all(parts.map((tp) => tp.settled())).catch(() => undefined), this.closeTimeoutMs);
    this.cache.clear();
  }

  private enqueue(tp: TieredPartition): void {
    tp.queued = true;
    this.queue.push(tp);
  }

  private pump(): void {
    while (!this.closed && this.uploadsInFlight < this.uploadConcurrency && this.queue.length > 0) {
      const tp = this.queue.shift()!;
      tp.queued = false;
      if (tp.closed) continue;
      this.uploadsInFlight++;
      this.pending++;
      tp.uploading = true;
      const bytesBefore = tp.uploadedBytes;
      void tp
        .runSerial(() => tp.uploadNext())
        .then(
          (uploaded) => {
            if (tp.failures > 0) this.logger.info(`${tp.label}: uploads resumed after ${tp.failures} failed attempt(s)`);
            tp.failures = 0;
            tp.retryAt = 0;
            if (uploaded) this.backlogMonitor.uploaded(tp.uploadedBytes - bytesBefore);
            if (uploaded && !this.closed && tp.mayTier() && tp.nextUploadCandidate() !== null) this.enqueue(tp);
            // This partition caught up: maybe the whole backlog did (a full scan only then, not per upload).
            else if (!this.closed) this.observeBacklog();
          },
          (e: unknown) => this.uploadFailed(tp, e),
        )
        .finally(() => {
          tp.uploading = false;
          this.uploadsInFlight--;
          this.pending--;
          this.pump();
          this.notifyIfIdle();
        });
    }
    this.notifyIfIdle();
  }

  private uploadFailed(tp: TieredPartition, e: unknown): void {
    if (tp.closed || this.closed) return;
    if (isStrataError(e, 'NOT_FOUND') || isStrataError(e, 'KEY_EXISTS')) {
      // The local segment went away, or the store already had a record: look again next tick.
      this.logger.info(`${tp.label}: upload skipped: ${(e as Error).message}`);
      return;
    }
    tp.failures++;
    const delay = this.backoff(tp.failures);
    tp.retryAt = this.now() + delay;
    const b = safely(() => tp.backlog(), { segments: 0, bytes: 0 });
    this.logger.warn(
      `${tp.label}: segment upload failed (attempt ${tp.failures}): ${(e as Error).message}; retrying in ${delay} ms; ` +
        `upload backlog ${b.segments} segment(s), ${b.bytes} bytes kept locally`,
    );
    this.backlogMonitor.uploadFailed(this.backlog());
  }

  private startRetention(tp: TieredPartition): void {
    tp.retentionRunning = true;
    this.pending++;
    void tp
      .runSerial(() => tp.applyRemoteRetention(this.now()))
      .then(
        () => {
          tp.retentionFailures = 0;
          tp.retentionRetryAt = 0;
        },
        (e: unknown) => {
          tp.retentionFailures++;
          tp.retentionRetryAt = this.now() + this.backoff(tp.retentionFailures);
          if (!tp.closed && !isStrataError(e, 'CLOSED')) this.logger.warn(`${tp.label}: deleting tiered segments past retention failed: ${(e as Error).message}`);
        },
      )
      .finally(() => {
        tp.retentionRunning = false;
        this.pending--;
        this.notifyIfIdle();
      });
  }

  private backoff(failures: number): number {
    const exp = Math.min(30, Math.max(0, failures - 1));
    return Math.min(this.retryBackoffMaxMs, this.retryBackoffMs * 2 ** exp);
  }

  private notifyIfIdle(): void {
    if (this.pending !== 0 || (this.queue.length > 0 && !this.closed)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', 'the tier manager is closed');
  }
}

function safely<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

