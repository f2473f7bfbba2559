import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { PartitionLog, ReadOptions, ReadResult, SegmentInfo } from '../log/partitionLog';
import { RECORD_BATCH_HEADER_SIZE } from '../log/recordBatch';
import type { ObjectStore } from './objectStore';
import type { ReadCache } from './readCache';
import type { RemoteLogMetadata, RemoteSegment } from './remoteLogMetadata';
import type { RemoteSegmentReader } from './remoteReader';
import { parseRemoteObjectKey, partitionObjectPrefix } from './remoteSegmentKeys';
import { deleteQuietly, uploadSegment } from './segmentUploader';
import { effectiveLocalRetentionBytes, effectiveLocalRetentionMs, type TierTopicConfig } from './tierConfig';

/** What every partition shares, owned by the TierManager. */
export interface TierContext {
  objects: ObjectStore;
  metadata: RemoteLogMetadata;
  cache: ReadCache;
  reader: RemoteSegmentReader;
  keyPrefix: string;
  logger: Logger;
  now: () => number;
}

export interface UploadBacklog {
  segments: number;
  bytes: number;
}

/**
 * One partition's log across both tiers: the local PartitionLog plus the tiered segments its
 * metadata records name.
 *
 *   remote  |seg 0|seg 1|seg 2|seg 3|               (object store, read through the cache)
 *   local               |seg 2|seg 3|seg 4|active|   (disk: a cache of the newest segments)
 *           ↑           ↑           ↑
 *           log start   local log   tiered end = the next segment to upload
 *                       start
 *
 * Offsets below the local log start are read from the object store; the rest locally. A
 * local segment is deleted only once it is tiered and local retention allows. Async work
 * (uploads, remote deletes, log start moves) runs one operation at a time, in order, through
 * `serial`; reads never wait on it.
 */
export class TieredPartition {
  /** Tiered segments sorted by base offset: the committed records, mirrored in memory. */
  private segs: RemoteSegment[] = [];
  /** From the state record: the log start offset moved by retention / DeleteRecords. */
  private stateStart = 0n;
  /** From the state record: one past the highest offset ever tiered. */
  private stateEnd = 0n;
  private serial: Promise<unknown> = Promise.resolve();
  /** Closed by closePartition / TierManager.close: no new work starts. */
  closed = false;
  /** Scheduling state, managed by the TierManager. */
  queued = false;
  uploading = false;
  retentionRunning = false;
  failures = 0;
  retryAt = 0;
  retentionRetryAt = 0;
  retentionFailures = 0;
  uploadedSegments = 0;
  uploadedBytes = 0;
  /** Set by appends since the last look: a segment may have rolled (see TierManager.kick). */
  appended = false;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly ctx: TierContext,
    readonly topicId: string,
    readonly topicName: string,
    readonly partition: number,
    readonly log: PartitionLog,
    public config: TierTopicConfig,
    readonly leaderEpoch: number,
  ) {}

  get label(): string {
    return `${this.topicName}-${this.partition}`;
  }

  /** The tiered segments, oldest first (a snapshot: the array is replaced, never mutated). */
  get remoteSegments(): readonly RemoteSegment[] {
    return this.segs;
  }

  /** One past the last tiered offset (0n when nothing was ever tiered): the next upload starts here. */
  get remoteEndOffset(): bigint {
    const last = this.segs[this.segs.length - 1];
    const end = last ? last.lastOffset + 1n : 0n;
    return end > this.stateEnd ? end : this.stateEnd;
  }

  /** ListOffsets LATEST_TIERED (-5): the highest tiered offset, -1n when nothing is tiered. */
  get lastTieredOffset(): bigint {
    return this.remoteEndOffset - 1n;
  }

  /** ListOffsets EARLIEST (-2), Fetch/Produce logStartOffset: where the log starts across both tiers. */
  get logStartOffset(): bigint {
    // The earliest data either tier holds, unless DeleteRecords/retention moved the start past it.
    const first = this.segs[0];
    const local = this.log.logStartOffset;
    const base = first && first.baseOffset < local ? first.baseOffset : local;
    return base > this.stateStart ? base : this.stateStart;
  }

  /** ListOffsets EARLIEST_LOCAL (-4): where the local copy starts. */
  get localLogStartOffset(): bigint {
    return this.log.logStartOffset;
  }

  /** Whether a fetch at `offset` has to go to the object store (it is below the local copy). */
  isRemoteOffset(offset: bigint): boolean {
    return offset < this.log.logStartOffset;
  }

  /**
   * Calls `onAppend` after appends to the log (cheap: it only sets a flag and arms a timer),
   * so a rolled segment is uploaded at once instead of at the next tick.
   */
  watchAppends(onAppend: () => void): void {
    this.unsubscribe?.();
    this.unsubscribe = this.log.onAppend(() => {
      this.appended = true;
      onAppend();
    });
  }

  /** Stops watching appends; no new work starts for this partition. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Runs `op` after every earlier operation of this partition, whatever their outcome. */
  runSerial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.serial.then(op, op);
    this.serial = next.catch(() => undefined);
    return next;
  }

  /** Resolves when the operations queued so far are done. */
  settled(): Promise<void> {
    return this.serial.then(() => undefined);
  }

  // ---------------------------------------------------------------- open

  /** Loads the records and the state, then lines the local log up with the tiered part. */
  async load(opts: { sweepOrphans: boolean }): Promise<void> {
    const { metadata, logger } = this.ctx;
    this.segs = await metadata.listSegments(this.topicId, this.partition, (key, why) => logger.warn(`${this.label}: ignoring remote segment record ${key}: ${why}`));
    const state = await metadata.getState(this.topicId, this.partition);
    if (state) {
      this.stateStart = state.state.logStartOffset;
      this.stateEnd = state.state.endOffset;
    }
    if (opts.sweepOrphans) {
      try {
        await this.sweepOrphans();
      } catch (e) {
        // An object-store outage must not keep the broker from starting: orphans wait.
        logger.warn(`${this.label}: orphan sweep failed: ${(e as Error).message}`);
      }
    }
    this.reconcileLocal();
  }

  /**
   * The stateless-broker rule: a local log that ends before the tiered end (an empty data dir,
   * or a stale one) restarts at the tiered end, so new appends continue the offsets; and local
   * data below the log start (moved while this copy was away) is dropped.
   */
  private reconcileLocal(): void {
    const log = this.log;
    const end = this.remoteEndOffset;
    // The local log must reach at least the tiered end, and the log start (DeleteRecords may
    // have moved it past the tiered end, into data that only a lost disk held).
    const floor = end > this.stateStart ? end : this.stateStart;
    if (floor > 0n && log.logEndOffset < floor) {
      if (log.size > 0) this.ctx.logger.warn(`${this.label}: local log ends at ${log.logEndOffset}, before the tiered end ${floor}: replacing the stale local copy`);
      log.truncateFullyAndStartAt(floor);
      this.ctx.logger.info(`${this.label}: local log starts at the tiered end offset ${floor} (${this.segs.length} tiered segment(s), log start ${this.logStartOffset})`);
    } else if (end > 0n && log.logStartOffset > end) {
      this.ctx.logger.warn(`${this.label}: offsets ${end}..${log.logStartOffset - 1n} are neither tiered nor local`);
    }
    this.dropLocalBelow(this.logStartOffset);
  }

  /** Moves the local log start up to `offset` (never past the high watermark). */
  private dropLocalBelow(offset: bigint): void {
    const log = this.log;
    const to = offset < log.highWatermark ? offset : log.highWatermark;
    if (to > log.logStartOffset) log.deleteSegmentsBelow(to);
  }

  /**
   * Deletes this partition's objects that no record names: leftovers of uploads that failed
   * or crashed before their record committed, and of deletes that stopped half way. Only safe
   * while no upload of this partition is in flight (call it before the first one), and only
   * for epochs up to this leader's: a newer leader's uploads are not ours to judge.
   */
  async sweepOrphans(): Promise<number> {
    const { objects, keyPrefix, logger } = this.ctx;
    const named = new Set(this.segs.map((s) => s.segmentId));
    const orphans: string[] = [];
    for await (const o of objects.list(partitionObjectPrefix(keyPrefix, this.topicId, this.partition))) {
      const k = parseRemoteObjectKey(keyPrefix, o.key);
      if (k === null || k.topicId !== this.topicId || k.partition !== this.partition) continue;
      if (!named.has(k.segmentId) && k.leaderEpoch <= this.leaderEpoch) orphans.push(o.key);
    }
    if (orphans.length > 0) {
      await deleteQuietly(objects, orphans, (m) => logger.warn(`${this.label}: ${m}`));
      logger.info(`${this.label}: deleted ${orphans.length} orphan object(s) no remote segment record names`);
    }
    return orphans.length;
  }

  // ---------------------------------------------------------------- reads

  /**
   * Reads whole batches from `fetchOffset` across both tiers, with PartitionLog.read's
   * semantics (maxBytes, minOneBatch, maxOffset, OFFSET_OUT_OF_RANGE outside the log). Local
   * offsets are read synchronously from disk. Remote ones go through the read cache and may
   * fail with StrataError('STORE_UNAVAILABLE') (time-bounded; Kafka's retriable
   * KAFKA_STORAGE_ERROR). A remote read that reaches the end of the tiered data continues
   * into the local log within the same budget.
   */
  async read(fetchOffset: bigint, maxBytes: number, opts: ReadOptions): Promise<ReadResult> {
    const start = this.logStartOffset;
    if (fetchOffset < start) {
      throw new StrataError('OFFSET_OUT_OF_RANGE', `offset ${fetchOffset} is below the log start offset ${start} of ${this.label}`);
    }
    if (!this.isRemoteOffset(fetchOffset)) return this.log.read(fetchOffset, maxBytes, opts);
    try {
      return await this.readRemote(fetchOffset, maxBytes, opts);
    } catch (e) {
      // A segment deleted by retention under the reader: the offset is gone now, not the store.
      if (isStrataError(e, 'NOT_FOUND')) {
        if (fetchOffset < this.logStartOffset) {
          throw new StrataError('OFFSET_OUT_OF_RANGE', `offset ${fetchOffset} is below the log start offset ${this.logStartOffset} of ${this.label}`, { cause: e });
        }
        throw new StrataError('STORE_UNAVAILABLE', `remote read of ${this.label} at ${fetchOffset} failed: ${(e as Error).message}`, { cause: e });
      }
      throw e;
    }
  }

  private async readRemote(fetchOffset: bigint, maxBytes: number, opts: ReadOptions): Promise<ReadResult> {
    const log = this.log;
    const maxOffset = opts.maxOffset ?? log.highWatermark;
    const segs = this.segs;
    const result: ReadResult = { records: [], bytes: 0, firstOffset: fetchOffset, nextOffset: fetchOffset };
    let offset = fetchOffset;
    let i = firstSegmentEndingAtOrAfter(segs, offset);
    while (i < segs.length && offset < log.logStartOffset) {
      const minOne = opts.minOneBatch && result.bytes === 0;
      const budget = maxBytes - result.bytes;
      if (budget < RECORD_BATCH_HEADER_SIZE && !minOne) return result;
      let r;
      try {
        r = await this.ctx.reader.read(segs[i], offset, budget, { minOneBatch: minOne, maxOffset });
      } catch (e) {
        if (result.bytes > 0) return result; // what was read is good; the next fetch retries
        throw e;
      }
      if (r.bytes > 0) {
        if (result.bytes === 0) result.firstOffset = r.firstOffset;
        result.records.push(...r.records);
        result.bytes += r.bytes;
        result.nextOffset = r.nextOffset;
      }
      // Read-ahead across the segment boundary: a sequential consumer nearing the end of this
      // object needs the next segment's index and first bytes next.
      const following = segs[i + 1];
      if (following && segs[i].sizeBytes - r.endPosition <= this.ctx.cache.readAheadBytes) {
        this.ctx.cache.prefetch(following.keys.index, following.indexBytes, 0, following.indexBytes);
        this.ctx.cache.prefetch(following.keys.log, following.sizeBytes, 0, Math.min(following.sizeBytes, this.ctx.cache.readAheadBytes));
      }
      if (r.stop !== 'end') return result;
      const after = segs[i].lastOffset + 1n;
      offset = r.bytes > 0 && r.nextOffset > after ? r.nextOffset : after;
      i++;
    }
    if (offset >= log.logStartOffset) {
      const minOne = opts.minOneBatch && result.bytes === 0;
      const budget = maxBytes - result.bytes;
      if (budget >= RECORD_BATCH_HEADER_SIZE || minOne) {
        const local = log.read(offset, Math.max(0, budget), { minOneBatch: minOne, maxOffset });
        if (local.bytes > 0) {
          if (result.bytes === 0) result.firstOffset = local.firstOffset;
          result.records.push(...local.records);
          result.bytes += local.bytes;
          result.nextOffset = local.nextOffset;
        }
      }
      return result;
    }
    if (result.bytes === 0) {
      // No tiered segment holds the offset and the local copy starts later: a hole.
      throw new StrataError('OFFSET_OUT_OF_RANGE', `offset ${fetchOffset} of ${this.label} is neither tiered nor local (local log starts at ${log.logStartOffset})`);
    }
    return result;
  }

  /**
   * ListOffsets by timestamp across both tiers: the first offset >= the log start whose
   * timestamp is >= ts, or null (also when the answer is not below maxOffset, default HW).
   */
  async offsetForTimestamp(ts: bigint, opts: { maxOffset?: bigint } = {}): Promise<{ offset: bigint; timestamp: bigint } | null> {
    const maxOffset = opts.maxOffset ?? this.log.highWatermark;
    const start = this.logStartOffset;
    for (const seg of this.segs) {
      if (seg.lastOffset < start || seg.maxTimestamp < ts) continue;
      const found = await this.ctx.reader.findByTimestamp(seg, ts, start);
      if (found !== null) return found.offset < maxOffset ? found : null;
    }
    return this.log.offsetForTimestamp(ts, { maxOffset });
  }

  /** ListOffsets MAX_TIMESTAMP (-3) across both tiers: the first record with the largest timestamp. */
  async maxTimestampOffset(): Promise<{ offset: bigint; timestamp: bigint } | null> {
    let best = -1n;
    const start = this.logStartOffset;
    for (const s of this.segs) if (s.lastOffset >= start && s.maxTimestamp > best) best = s.maxTimestamp;
    const local = this.log.maxTimestampOffset();
    if (best < 0n || (local !== null && local.timestamp > best)) return local;
    // The largest timestamp is tiered (maybe also local): its first occurrence, tiered first.
    return this.offsetForTimestamp(best);
  }

  // ---------------------------------------------------------------- uploads

  /** Closed local segments below the high watermark not tiered yet (the upload backlog). */
  backlog(): UploadBacklog {
    const out: UploadBacklog = { segments: 0, bytes: 0 };
    if (!this.config.remoteStorageEnable || this.closed) return out;
    for (const s of this.pendingUploads()) {
      out.segments++;
      out.bytes += s.size;
    }
    return out;
  }

  private pendingUploads(): SegmentInfo[] {
    const end = this.remoteEndOffset;
    const hw = this.log.highWatermark;
    return this.log.segments().filter((s) => s.closed && s.size > 0 && s.nextOffset > end && s.nextOffset <= hw);
  }

  /** The next segment to upload, or null. */
  nextUploadCandidate(): SegmentInfo | null {
    if (!this.config.remoteStorageEnable || this.closed) return null;
    return this.pendingUploads()[0] ?? null;
  }

  /**
   * Uploads the next segment, commits its record, then applies local retention. Returns
   * whether a segment was uploaded. Runs inside `serial` (the TierManager arranges that).
   */
  async uploadNext(): Promise<boolean> {
    if (this.closed) return false;
    const seg = this.nextUploadCandidate();
    if (seg === null) return false;
    const { objects, metadata, keyPrefix, logger, now } = this.ctx;
    let record: RemoteSegment;
    try {
      record = await uploadSegment({
        objects,
        metadata,
        keyPrefix,
        topicId: this.topicId,
        partition: this.partition,
        leaderEpoch: this.leaderEpoch,
        segment: seg,
        now,
        logger: (m) => logger.warn(`${this.label}: ${m}`),
      });
    } catch (e) {
      if (isStrataError(e, 'KEY_EXISTS')) {
        // A record for this base offset committed earlier (a write whose answer was lost):
        // take the store's word for what is tiered.
        this.segs = await metadata.listSegments(this.topicId, this.partition);
      }
      throw e;
    }
    if (this.segs.some((s) => s.baseOffset === record.baseOffset)) {
      this.segs = await metadata.listSegments(this.topicId, this.partition);
    } else {
      this.segs = [...this.segs, record].sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : a.baseOffset > b.baseOffset ? 1 : 0));
    }
    this.uploadedSegments++;
    this.uploadedBytes += record.sizeBytes;
    if (!this.closed) this.enforceLocalRetention(now());
    return true;
  }

  // ---------------------------------------------------------------- retention

  /**
   * Drops local copies of tiered segments, oldest first, while local.retention.ms or
   * local.retention.bytes says so. Never a segment that is not wholly tiered. Synchronous.
   */
  enforceLocalRetention(nowMs: number): number {
    if (!this.config.remoteStorageEnable || this.closed) return 0;
    const ms = effectiveLocalRetentionMs(this.config);
    const bytes = effectiveLocalRetentionBytes(this.config);
    if (ms < 0 && bytes < 0) return 0;
    const end = this.remoteEndOffset;
    let size = this.log.size;
    let upTo = -1n;
    let count = 0;
    for (const s of this.log.segments()) {
      if (!s.closed || s.nextOffset > end) break;
      const expired = ms >= 0 && s.maxTimestamp >= 0n && nowMs - Number(s.maxTimestamp) > ms;
      const oversize = bytes >= 0 && size - s.size >= bytes;
      if (!expired && !oversize) break;
      size -= s.size;
      upTo = s.nextOffset;
      count++;
    }
    if (upTo > this.log.logStartOffset) this.log.deleteSegmentsBelow(upTo);
    return count;
  }

  /**
   * The tiered segments retention would delete now, oldest first: wholly below the log start
   * (DeleteRecords), or with cleanup.policy=delete, past retention.ms by their largest
   * timestamp or beyond retention.bytes counted over the whole log (tiered + local not yet
   * tiered). Only a prefix, so the log stays contiguous.
   */
  remoteRetentionCandidates(nowMs: number): RemoteSegment[] {
    const c = this.config;
    const out: RemoteSegment[] = [];
    if (this.segs.length === 0) return out;
    const end = this.remoteEndOffset;
    let total = 0;
    for (const s of this.segs) total += s.sizeBytes;
    for (const s of this.log.segments()) if (s.baseOffset >= end) total += s.size;
    for (const s of this.segs) {
      const below = s.lastOffset < this.stateStart;
      const expired = c.deleteRetention && c.retentionMs >= 0 && s.maxTimestamp >= 0n && nowMs - Number(s.maxTimestamp) > c.retentionMs;
      const oversize = c.deleteRetention && c.retentionBytes >= 0 && total - s.sizeBytes >= c.retentionBytes;
      if (!below && !expired && !oversize) break;
      out.push(s);
      total -= s.sizeBytes;
    }
    return out;
  }

  /**
   * Deletes the tiered segments retention allows. The log start moves first (state record),
   * then each record goes, then its objects (invariant 6: record first, object after); local
   * data below the new start is dropped. Returns how many segments were deleted.
   */
  async applyRemoteRetention(nowMs: number): Promise<number> {
    const doomed = this.remoteRetentionCandidates(nowMs);
    if (doomed.length === 0 || this.closed) return 0;
    const { metadata, objects, cache, logger } = this.ctx;
    const lastDoomed = doomed[doomed.length - 1];
    const next = this.segs[doomed.length];
    let newStart = next ? next.baseOffset : lastDoomed.lastOffset + 1n;
    if (newStart < this.stateStart) newStart = this.stateStart;
    const state = await metadata.raiseState(this.topicId, this.partition, { logStartOffset: newStart, endOffset: this.remoteEndOffset });
    this.stateStart = state.logStartOffset;
    this.stateEnd = state.endOffset;
    let deleted = 0;
    for (const s of doomed) {
      await metadata.removeSegment(s);
      this.segs = this.segs.filter((x) => x.segmentId !== s.segmentId);
      deleted++;
      const keys = [s.keys.log, s.keys.index, s.keys.timeIndex];
      await deleteQuietly(objects, keys, (m) => logger.warn(`${this.label}: ${m}`));
      cache.invalidate(s.keys.log, s.sizeBytes);
      cache.invalidate(s.keys.index, s.indexBytes);
      cache.invalidate(s.keys.timeIndex, s.timeIndexBytes);
    }
    this.dropLocalBelow(this.logStartOffset);
    logger.info(`${this.label}: deleted ${deleted} tiered segment(s) past retention; log start offset ${this.logStartOffset}`);
    return deleted;
  }

  /**
   * DeleteRecords across tiers: moves the log start to `offset` (stored first, so it survives
   * a restart with an empty disk), drops local data below it; tiered segments wholly below it
   * are deleted by the next retention pass. Throws OFFSET_OUT_OF_RANGE past the high watermark.
   */
  advanceLogStartOffset(offset: bigint): Promise<bigint> {
    return this.runSerial(async () => {
      if (offset > this.log.highWatermark) {
        throw new StrataError('OFFSET_OUT_OF_RANGE', `cannot delete records below ${offset}: the high watermark of ${this.label} is ${this.log.highWatermark}`);
      }
      if (offset <= this.logStartOffset) return this.logStartOffset;
      const state = await this.ctx.metadata.raiseState(this.topicId, this.partition, { logStartOffset: offset, endOffset: this.remoteEndOffset });
      this.stateStart = state.logStartOffset;
      this.stateEnd = state.endOffset;
      this.dropLocalBelow(offset);
      return this.logStartOffset;
    });
  }
}

/** Index of the first segment whose lastOffset >= offset (segs.length if none). */
function firstSegmentEndingAtOrAfter(segs: readonly RemoteSegment[], offset: bigint): number {
  let lo = 0;
  let hi = segs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segs[mid].lastOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
