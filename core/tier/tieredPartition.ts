import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { ResponseChunk } from '../common/fileRegion';
import type { PartitionLog, ReadOptions, ReadResult, SegmentInfo } from '../log/partitionLog';
import { decodeProducerSnapshot, encodeProducerSnapshot, type ProducerSnapshotState } from '../log/producerSnapshot';
import { RECORD_BATCH_HEADER_SIZE } from '../log/recordBatch';
import type { AbortedRange } from '../log/txnIndex';
import type { ObjectStore } from './objectStore';
import type { ReadCache } from './readCache';
import { liveSegments, segmentObjects, type PartitionTierState, type RemoteLogMetadata, type RemoteSegment } from './remoteLogMetadata';
import type { RemoteSegmentReader } from './remoteReader';
import { searchRemoteTxnIndex } from './remoteTxnIndex';
import { parseRemoteObjectKey, partitionObjectPrefix } from './remoteSegmentKeys';
import { deleteQuietly, uploadSegment, type UploadRequest } from './segmentUploader';
import { effectiveLocalRetentionBytes, effectiveLocalRetentionMs, type TierTopicConfig } from './tierConfig';
import { planUploads, type Retier, type UploadPlan } from './uploadPlan';

/** Reads the local log: as buffers, or as regions of its files. */
type LocalRead<C extends ResponseChunk> = (fetchOffset: bigint, maxBytes: number, opts: ReadOptions) => ReadResult<C>;

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
 * The log cleaner as tiering sees it (LogCleaner implements it): how far it has cleaned a log.
 * Compacted topics upload only segments below that offset, so the object store gets compacted
 * data. Null: the cleaner will not clean this log (it is uncleanable), so segments are uploaded
 * as they close.
 */
export interface CompactionProgress {
  cleanedUpTo(log: PartitionLog): bigint | null;
}

/** How many times a read starts over when the tiered segments were replaced under it. */
const READ_ATTEMPTS = 3;

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
  /** From the state record: where the log starts although compaction removed its first tiered segment(s). */
  private compactedStart: bigint | null = null;
  /** Misaligned segments already warned about (see uploadPlan.ts). */
  private readonly warnedMisaligned = new Set<bigint>();
  /**
   * The log cleaner, for compacted topics (set by the broker's TierBridge right after
   * openPartition, before any upload can start); null: segments are uploaded as they close.
   */
  compaction: CompactionProgress | null = null;
  /**
   * The leader epoch while this broker leads the partition, else null (set by the tier bridge;
   * on a broker of its own, the epoch it was opened at). Only the leader uploads and applies
   * remote retention.
   */
  leadsAt: () => number | null = () => this.epoch;
  /** The leader epoch this copy's view of the tiered part was read at (see mayTier). */
  private epoch: number;
  private resyncing = false;
  /** When a follower copy last read the tiered state (followerRetention), by the tier clock. */
  private followerReadAt = -Infinity;
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
  /** Segments the cleaner rewrote after they were tiered, uploaded again (also counted in uploadedSegments). */
  retieredSegments = 0;
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
    leaderEpoch: number,
  ) {
    this.epoch = leaderEpoch;
  }

  /** The leader epoch this copy tiers at (object keys carry it; see sweepOrphans). */
  get leaderEpoch(): number {
    return this.epoch;
  }

  /**
   * Whether this broker may tier the partition now: it leads it, and its view of the tiered
   * part (segment records, log start) was read at its current leader epoch. A broker that takes
   * leadership over (a follower until now, or a leader before another one tiered more) first
   * reads the records again, in order with its other tiering operations, so that it neither
   * uploads again what the previous leader tiered nor keeps a stale log start; the next pass
   * tiers.
   */
  mayTier(): boolean {
    const epoch = this.leadsAt();
    if (epoch === null || this.closed) return false;
    if (epoch === this.epoch) return true;
    if (!this.resyncing) {
      this.resyncing = true;
      this.runSerial(() => this.resync(epoch))
        .catch((e) => this.ctx.logger.warn(`${this.label}: reading the tiered state as leader at epoch ${epoch} failed (retried): ${(e as Error).message}`))
        .finally(() => (this.resyncing = false));
    }
    return false;
  }

  /** Reads the segment records and the tiered state again, as the leader at `epoch`. */
  private async resync(epoch: number): Promise<void> {
    await this.readTieredState();
    this.epoch = epoch;
    this.ctx.logger.info(`${this.label}: tiering as leader at epoch ${epoch}: ${this.segs.length} tiered segment(s), tiered end ${this.remoteEndOffset}`);
  }

  /**
   * Reads this copy's view of the tiered part from the store: the live segment records and the
   * tiered state. Returns how many records could not be read and the superseded ones (removing
   * those is left to whoever opens or leads the partition).
   */
  private async readTieredState(): Promise<{ malformed: number; superseded: RemoteSegment[] }> {
    const { metadata, logger } = this.ctx;
    let malformed = 0;
    const all = await metadata.listSegments(this.topicId, this.partition, (key, why) => {
      malformed++;
      logger.warn(`${this.label}: ignoring remote segment record ${key}: ${why}`);
    });
    const { live, superseded } = liveSegments(all);
    this.segs = live;
    const state = await metadata.getState(this.topicId, this.partition);
    if (state) this.applyState(state.state);
    return { malformed, superseded };
  }

  /**
   * On a copy that does not lead the partition: reads the tiered part as the leader recorded it
   * (at most every `refreshMs`), then drops local copies of tiered segments by local retention
   * as the leader does, so a follower's disk does not keep every segment the partition ever had.
   * Safe with a stale view: it only ever knows less than is tiered. Never uploads.
   */
  followerRetention(nowMs: number, refreshMs: number): void {
    if (this.closed || this.resyncing || this.leadsAt() !== null || nowMs - this.followerReadAt < refreshMs) return;
    this.followerReadAt = nowMs;
    this.resyncing = true;
    this.runSerial(async () => {
      await this.readTieredState();
      if (this.leadsAt() === null) this.enforceLocalRetention(this.ctx.now());
    })
      .catch((e) => this.ctx.logger.warn(`${this.label}: reading the tiered state as a follower failed: ${(e as Error).message}`))
      .finally(() => (this.resyncing = false));
  }

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
    let base = first && first.baseOffset < local ? first.baseOffset : local;
    // Compaction emptied the first tiered segment(s): the log still starts where it did.
    if (this.compactedStart !== null && this.compactedStart < base) base = this.compactedStart;
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
    const { logger } = this.ctx;
    const { malformed, superseded } = await this.readTieredState();
    let leftovers = superseded;
    if (superseded.length > 0) {
      try {
        await this.removeSupersededRecords(superseded);
        leftovers = [];
      } catch (e) {
        logger.warn(`${this.label}: removing the records an interrupted re-tier left failed: ${(e as Error).message}`);
      }
    }
    if (opts.sweepOrphans && malformed > 0) {
      // The objects of a record that could not be read look unnamed: sweeping would delete the
      // data of a record that still exists. Leave them until the record is readable or removed.
      logger.warn(`${this.label}: orphan sweep skipped: ${malformed} remote segment record(s) could not be read`);
    } else if (opts.sweepOrphans) {
      try {
        await this.sweepOrphans(leftovers);
      } catch (e) {
        // An object-store outage must not keep the broker from starting: orphans wait.
        logger.warn(`${this.label}: orphan sweep failed: ${(e as Error).message}`);
      }
    }
    await this.reconcileLocal();
  }

  /**
   * The stateless-broker rule: a local log that ends before the tiered end (an empty data dir,
   * or a stale one) restarts at the tiered end, so new appends continue the offsets, with the
   * producer state tiered with the last segment (restoreProducerState); and local data below the
   * log start (moved while this copy was away) is dropped.
   */
  private async reconcileLocal(): Promise<void> {
    const log = this.log;
    const end = this.remoteEndOffset;
    // The local log must reach at least the tiered end, and the log start (DeleteRecords may
    // have moved it past the tiered end, into data that only a lost disk held).
    const floor = end > this.stateStart ? end : this.stateStart;
    if (floor > 0n && log.logEndOffset < floor) {
      if (log.size > 0) this.ctx.logger.warn(`${this.label}: local log ends at ${log.logEndOffset}, before the tiered end ${floor}: replacing the stale local copy`);
      log.truncateFullyAndStartAt(floor);
      this.ctx.logger.info(`${this.label}: local log starts at the tiered end offset ${floor} (${this.segs.length} tiered segment(s), log start ${this.logStartOffset})`);
      await this.restoreProducerState(floor);
    } else if (floor > 0n && log.logEndOffset === floor && log.size === 0 && log.segments().length === 1 && log.producerState.latestSnapshotOffset() === null) {
      // Started at the tiered end before, but its producer state never arrived (the open failed
      // while reading it): try again before anything is appended.
      await this.restoreProducerState(floor);
    } else if (end > 0n && log.logStartOffset > end) {
      this.ctx.logger.warn(`${this.label}: offsets ${end}..${log.logStartOffset - 1n} are neither tiered nor local`);
    }
    this.dropLocalBelow(this.logStartOffset);
  }

  /**
   * Starts the empty local log's producer state at `offset` (the tiered end) from the snapshot
   * tiered with the last segment (KIP-405's producer snapshot), so idempotent producers keep
   * deduplicating and open transactions keep bounding the LSO on a broker with an empty disk.
   * No snapshot object (records from before they were tiered, or retention removed every
   * segment): one line, and the state starts empty. A snapshot at another offset than the
   * tiered end (compaction emptied the segments after it, or DeleteRecords moved the start past
   * the tiered end: no records lie between) is moved to it, as the log does when its start moves
   * past its end. Throws STORE_UNAVAILABLE / STORAGE_IO when the snapshot cannot be read: the
   * partition must not take appends without the state it knows exists (the next open retries).
   */
  private async restoreProducerState(offset: bigint): Promise<void> {
    const { cache, logger } = this.ctx;
    const last = this.segs[this.segs.length - 1];
    const key = last?.keys.producerSnapshot;
    const size = last?.producerSnapshotBytes ?? 0;
    if (last === undefined || key === undefined || size === 0) {
      logger.info(
        last === undefined
          ? `${this.label}: no tiered segment holds a producer snapshot; producer state starts empty at ${offset}`
          : `${this.label}: tiered segment ${last.baseOffset} has no producer snapshot (tiered before snapshots were); producer state starts empty at ${offset}`,
      );
      return;
    }
    let buf: Buffer;
    try {
      buf = await cache.readBytes(key, size, 0, size);
    } catch (e) {
      throw new StrataError('STORE_UNAVAILABLE', `${this.label}: reading the producer snapshot ${key} failed: ${(e as Error).message}`, { cause: e });
    } finally {
      cache.invalidate(key, size); // read once; it need not take cache space
    }
    let state: ProducerSnapshotState;
    try {
      state = decodeProducerSnapshot(buf);
    } catch (e) {
      throw new StrataError('STORAGE_IO', `${this.label}: the producer snapshot ${key} is damaged: ${(e as Error).message}`, { cause: e });
    }
    if (state.endOffset !== offset) {
      logger.info(`${this.label}: the producer snapshot tiered with segment ${last.baseOffset} is at offset ${state.endOffset}, the tiered end is ${offset}: moved there (no records lie between)`);
      buf = encodeProducerSnapshot({ ...state, endOffset: offset });
    }
    this.log.restoreProducerState(buf, offset);
    const open = this.log.producerState.ongoingTransactions().length;
    logger.info(`${this.label}: producer state restored from the snapshot tiered with segment ${last.baseOffset}: ${this.log.producerState.size} producer(s), ${open} open transaction(s); last stable offset ${this.log.lastStableOffset}`);
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
  async sweepOrphans(stillNamed: readonly RemoteSegment[] = []): Promise<number> {
    const { objects, keyPrefix, logger } = this.ctx;
    const named = new Set([...this.segs, ...stillNamed].map((s) => s.segmentId));
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
    const local = (o: bigint, m: number, ro: ReadOptions): ReadResult => this.log.read(o, m, ro);
    return this.retryIfReplaced((retry) => this.readOnce(fetchOffset, maxBytes, opts, retry, local));
  }

  /**
   * As read, with the local part as regions of the segment files (PartitionLog.readRegions; the
   * remote part is in memory already): for fetch responses sent as the socket drains. The caller
   * releases the regions.
   */
  async readRegions(fetchOffset: bigint, maxBytes: number, opts: ReadOptions): Promise<ReadResult<ResponseChunk>> {
    const local = (o: bigint, m: number, ro: ReadOptions): ReadResult<ResponseChunk> => this.log.readRegions(o, m, ro);
    return this.retryIfReplaced((retry) => this.readOnce(fetchOffset, maxBytes, opts, retry, local));
  }

  /**
   * Runs a remote lookup again when an object it read was gone (NOT_FOUND) because the tiered
   * segments were replaced under it: a re-tier deleted the old objects, and the new records hold
   * the same offsets, so the reader sees the old copy or the new one, not an error. `op` gets
   * whether it may throw NOT_FOUND for a retry (false on the last attempt).
   */
  private async retryIfReplaced<T>(op: (retry: boolean) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const segs = this.segs;
      try {
        return await op(attempt < READ_ATTEMPTS);
      } catch (e) {
        if (!isStrataError(e, 'NOT_FOUND') || this.segs === segs || attempt >= READ_ATTEMPTS) throw e;
      }
    }
  }

  private async readOnce<C extends ResponseChunk>(fetchOffset: bigint, maxBytes: number, opts: ReadOptions, retry: boolean, local: LocalRead<C>): Promise<ReadResult<C | Buffer>> {
    const start = this.logStartOffset;
    if (fetchOffset < start) {
      throw new StrataError('OFFSET_OUT_OF_RANGE', `offset ${fetchOffset} is below the log start offset ${start} of ${this.label}`);
    }
    if (!this.isRemoteOffset(fetchOffset)) return local(fetchOffset, maxBytes, opts);
    const segs = this.segs;
    try {
      return await this.readRemote(fetchOffset, maxBytes, opts, local);
    } catch (e) {
      // Replaced under the reader: `read` starts over on the new records.
      if (retry && isStrataError(e, 'NOT_FOUND') && this.segs !== segs) throw e;
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

  private async readRemote<C extends ResponseChunk>(fetchOffset: bigint, maxBytes: number, opts: ReadOptions, local: LocalRead<C>): Promise<ReadResult<C | Buffer>> {
    const log = this.log;
    const maxOffset = opts.maxOffset ?? log.highWatermark;
    const segs = this.segs;
    const result: ReadResult<C | Buffer> = { records: [], bytes: 0, firstOffset: fetchOffset, nextOffset: fetchOffset };
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
    if (this.segs !== segs && offset < log.logStartOffset) {
      // The records changed under the reader (an upload committed, and local retention dropped
      // the local copy of what it tiered): the offsets past the ones this read knew are in the
      // new records, not a hole. What was read stands; else read again on the new records.
      if (result.bytes > 0) return result;
      return this.readRemote(fetchOffset, maxBytes, opts, local);
    }
    // Past the last record but below the tiered end: offsets compaction removed (a re-tier
    // dropped the records of segments it emptied). They hold nothing; the local copy follows.
    const tieredEnd = this.remoteEndOffset;
    if (i >= segs.length && offset < log.logStartOffset && offset < tieredEnd && log.logStartOffset <= tieredEnd) offset = log.logStartOffset;
    if (offset >= log.logStartOffset) {
      const minOne = opts.minOneBatch && result.bytes === 0;
      const budget = maxBytes - result.bytes;
      if (budget >= RECORD_BATCH_HEADER_SIZE || minOne) {
        const tail = local(offset, Math.max(0, budget), { minOneBatch: minOne, maxOffset });
        if (tail.bytes > 0) {
          if (result.bytes === 0) result.firstOffset = tail.firstOffset;
          result.records.push(...tail.records);
          result.bytes += tail.bytes;
          result.nextOffset = tail.nextOffset;
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
  offsetForTimestamp(ts: bigint, opts: { maxOffset?: bigint } = {}): Promise<{ offset: bigint; timestamp: bigint } | null> {
    return this.retryIfReplaced(() => this.offsetForTimestampOnce(ts, opts));
  }

  private async offsetForTimestampOnce(ts: bigint, opts: { maxOffset?: bigint }): Promise<{ offset: bigint; timestamp: bigint } | null> {
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

  /**
   * The aborted transactions overlapping [from, to), for a read_committed fetch, across both
   * tiers (Kafka's RemoteLogManager.collectAbortedTransactions): the transaction indexes tiered
   * with the segments below the local log, segment by segment from the one holding `from` until
   * one says the search is complete, then the local log's. Each transaction once, in marker
   * order. May throw STORE_UNAVAILABLE (a retriable KAFKA_STORAGE_ERROR for the fetch).
   */
  async collectAbortedTransactions(from: bigint, to: bigint): Promise<AbortedRange[]> {
    if (!this.isRemoteOffset(from)) return this.log.collectAbortedTransactions(from, to);
    try {
      return await this.retryIfReplaced(() => this.collectAbortedTransactionsOnce(from, to));
    } catch (e) {
      // An index deleted under the search (retention) although the records did not change: a
      // retriable failure for the fetch, never an incomplete list.
      if (isStrataError(e, 'NOT_FOUND')) throw new StrataError('STORE_UNAVAILABLE', `aborted transactions of ${this.label} at ${from}: ${(e as Error).message}`, { cause: e });
      throw e;
    }
  }

  private async collectAbortedTransactionsOnce(from: bigint, to: bigint): Promise<AbortedRange[]> {
    const segs = this.segs;
    const out: AbortedRange[] = [];
    for (let i = firstSegmentEndingAtOrAfter(segs, from); i < segs.length && this.isRemoteOffset(segs[i].baseOffset); i++) {
      const r = await searchRemoteTxnIndex(this.ctx.cache, segs[i], from, to);
      out.push(...r.aborted);
      if (r.complete) return out;
    }
    // The local copy may overlap the last tiered segments searched (its first segment starts
    // below the local log start): a transaction listed by both tiers is listed once.
    const seen = new Set(out.map((t) => `${t.producerId}:${t.firstOffset}`));
    for (const t of this.log.collectAbortedTransactions(from, to)) if (!seen.has(`${t.producerId}:${t.firstOffset}`)) out.push(t);
    return out;
  }

  // ---------------------------------------------------------------- uploads

  /**
   * Closed local segments below the high watermark not tiered yet and ready to go (the upload
   * backlog); segments of a compacted topic waiting for the cleaner are not counted.
   */
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
    return this.uploadPlan().uploads;
  }

  /**
   * What to upload next (see uploadPlan.ts): closed segments past the tiered end and, for
   * compacted topics, segments the cleaner rewrote after they were tiered; with a cleaner, only
   * what it has cleaned.
   */
  uploadPlan(): UploadPlan {
    const compacted = this.config.compact === true;
    const progress = compacted && this.compaction !== null ? this.compaction.cleanedUpTo(this.log) : null;
    const plan = planUploads({
      segments: this.log.segments(),
      records: this.segs,
      remoteEnd: this.remoteEndOffset,
      highWatermark: this.log.highWatermark,
      compacted,
      cleanedUpTo: progress,
    });
    for (const base of plan.misaligned) {
      if (this.warnedMisaligned.has(base)) continue;
      this.warnedMisaligned.add(base);
      this.ctx.logger.warn(`${this.label}: local segment ${base} does not line up with the tiered segments; it is not re-tiered`);
    }
    return plan;
  }

  /** Whether `seg` (from log.segments()) is still a segment of the log: not replaced by the cleaner, not deleted. */
  private hasLocalSegment(seg: SegmentInfo): boolean {
    return this.log.segments().some((s) => s.id === seg.id);
  }

  /** The next segment to upload or re-tier, or null. */
  nextUploadCandidate(): SegmentInfo | null {
    if (!this.config.remoteStorageEnable || this.closed) return null;
    const next = nextStep(this.uploadPlan());
    return next === null ? null : 'segment' in next ? next.segment : next;
  }

  /**
   * Uploads the next segment, commits its record, then applies local retention. Returns
   * whether a segment was uploaded. Runs inside `serial` (the TierManager arranges that).
   */
  async uploadNext(): Promise<boolean> {
    // Leadership may have moved while this waited in the queue.
    if (!this.config.remoteStorageEnable || !this.mayTier()) return false;
    const step = nextStep(this.uploadPlan());
    if (step === null) return false;
    if ('segment' in step) return this.retier(step);
    const seg = step;
    const { metadata, now } = this.ctx;
    let record: RemoteSegment;
    try {
      record = await uploadSegment(this.uploadRequest(seg, metadata));
    } catch (e) {
      if (isStrataError(e, 'KEY_EXISTS')) {
        // A record for this base offset committed earlier (a write whose answer was lost):
        // take the store's word for what is tiered.
        await this.relist();
      }
      throw e;
    }
    if (this.segs.some((s) => s.baseOffset === record.baseOffset)) {
      await this.relist();
    } else {
      this.segs = sortSegments([...this.segs, record]);
    }
    this.uploadedSegments++;
    this.uploadedBytes += record.sizeBytes;
    if (!this.closed) this.enforceLocalRetention(now());
    return true;
  }

  // ---------------------------------------------------------------- re-tiering (compacted topics)

  /**
   * Uploads a segment the cleaner rewrote after it was tiered, in place of the records in its
   * span (see uploadPlan.ts), keeping design invariant 6 (objects before the record, record
   * before the objects go):
   *
   *   1. its three files go under new keys (a fresh segment id), as any upload does;
   *   2. its record commits at its base offset: replacing the record there, conditionally on that
   *      record's segment id and version, or created when there is none. Its lastOffset covers
   *      every replaced record's offsets, so a reader of the store that still finds the other
   *      replaced records knows them superseded (liveSegments). Readers here switch to it now;
   *   3. the other replaced records are removed, each conditionally on its segment id;
   *   4. then the replaced records' objects are deleted (a read still on them starts over on the
   *      new record: retryIfReplaced).
   *
   * An emptied segment (the cleaner removed every record of its span) commits no record: the
   * tiered end (and, when its span held the first tiered segment, the log start) goes into the
   * state record first, then its records are removed, then their objects. A crash at any point
   * leaves records that read correctly (the old copy or the new one); the span is still out of
   * sync, so the next look finishes the job, and records left superseded are removed on open.
   */
  /** One upload of `seg`, its record committed through `commit`. */
  private uploadRequest(seg: SegmentInfo, commit: UploadRequest['metadata']): UploadRequest {
    const { objects, keyPrefix, logger, now } = this.ctx;
    // The producer snapshot at the segment's end: taken when the segment after it rolled.
    const local = this.log.segments();
    const at = local.findIndex((s) => s.id === seg.id);
    const snapshotOffset = at >= 0 && at + 1 < local.length ? local[at + 1].baseOffset : seg.nextOffset;
    return {
      objects,
      metadata: commit,
      keyPrefix,
      topicId: this.topicId,
      partition: this.partition,
      leaderEpoch: this.leaderEpoch,
      segment: seg,
      isCurrent: () => this.hasLocalSegment(seg),
      snapshotOffset,
      now,
      logger: (m) => logger.warn(`${this.label}: ${m}`),
    };
  }

  private async retier(step: Retier): Promise<boolean> {
    const { metadata, logger, now } = this.ctx;
    const seg = step.segment;
    const replaced = step.replaced;
    const atBase = replaced.find((r) => r.baseOffset === seg.baseOffset) ?? null;
    let committed: RemoteSegment | null = null;
    if (seg.size > 0) {
      let covers = seg.lastOffset;
      for (const r of replaced) if (r.lastOffset > covers) covers = r.lastOffset;
      const covering = (r: RemoteSegment): RemoteSegment => (r.lastOffset >= covers ? r : { ...r, lastOffset: covers });
      try {
        const record = await uploadSegment(
          this.uploadRequest(seg, {
            getSegment: (topicId, partition, baseOffset) => metadata.getSegment(topicId, partition, baseOffset),
            addSegment: (r) => (atBase ? metadata.replaceSegment(atBase, covering(r)) : metadata.addSegment(covering(r))),
          }),
        );
        committed = covering(record);
      } catch (e) {
        if (isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS')) {
          // The store changed under us (e.g. an earlier attempt committed after all): reload.
          logger.info(`${this.label}: re-tier of segment ${seg.baseOffset} skipped: ${(e as Error).message}; reloading the tiered segments`);
          await this.relist();
          return false;
        }
        throw e;
      }
    } else {
      const want: PartitionTierState = { logStartOffset: this.stateStart, endOffset: this.remoteEndOffset };
      if (replaced[0] === this.segs[0]) want.compactedStartOffset = this.logStartOffset;
      this.applyState(await metadata.raiseState(this.topicId, this.partition, want));
    }
    const gone = new Set(replaced.map((r) => r.segmentId));
    const rest = this.segs.filter((s) => !gone.has(s.segmentId));
    this.segs = committed ? sortSegments([...rest, committed]) : rest;
    const unnamed: RemoteSegment[] = committed && atBase ? [atBase] : [];
    try {
      for (const r of replaced) {
        if (committed && r === atBase) continue;
        await metadata.removeSegmentIfCurrent(r);
        unnamed.push(r);
      }
    } catch (e) {
      // The store and this copy may disagree now: take the store's word (what it still names stays).
      await this.relist().catch(() => undefined);
      await this.deleteObjects(unnamed);
      throw e;
    }
    await this.deleteObjects(unnamed);
    this.retieredSegments++;
    if (committed) {
      this.uploadedSegments++;
      this.uploadedBytes += committed.sizeBytes;
    }
    const range = `${replaced[0].baseOffset}..${replaced[replaced.length - 1].lastOffset}`;
    logger.info(
      committed
        ? `${this.label}: re-tiered compacted segment ${seg.baseOffset} (${seg.size} bytes) in place of ${replaced.length} tiered segment(s) ${range} (${sumBytes(replaced)} bytes)`
        : `${this.label}: compaction emptied segment ${seg.baseOffset}: removed ${replaced.length} tiered segment(s) ${range} (${sumBytes(replaced)} bytes)`,
    );
    if (!this.closed) this.enforceLocalRetention(now());
    return true;
  }

  /** Deletes the objects of segments no record names any more, and drops them from the cache. */
  private async deleteObjects(segs: readonly RemoteSegment[]): Promise<void> {
    const { objects, cache, logger } = this.ctx;
    for (const s of segs) {
      const all = segmentObjects(s);
      await deleteQuietly(objects, all.map((o) => o.key), (m) => logger.warn(`${this.label}: ${m}`));
      for (const o of all) cache.invalidate(o.key, o.size);
    }
  }

  /** Reloads the records from the store (the store's word on what is tiered), removing superseded ones. */
  private async relist(): Promise<void> {
    const { live, superseded } = liveSegments(await this.ctx.metadata.listSegments(this.topicId, this.partition));
    this.segs = live;
    if (superseded.length === 0) return;
    try {
      await this.removeSupersededRecords(superseded);
    } catch (e) {
      this.ctx.logger.warn(`${this.label}: removing superseded tiered segment records failed: ${(e as Error).message}`);
    }
  }

  /** Records an interrupted re-tier left behind (see liveSegments): record first, then objects. */
  private async removeSupersededRecords(superseded: readonly RemoteSegment[]): Promise<void> {
    for (const s of superseded) {
      await this.ctx.metadata.removeSegmentIfCurrent(s);
      await this.deleteObjects([s]);
    }
    this.ctx.logger.info(`${this.label}: removed ${superseded.length} tiered segment record(s) an interrupted re-tier left superseded`);
  }

  private applyState(state: PartitionTierState): void {
    this.stateStart = state.logStartOffset;
    this.stateEnd = state.endOffset;
    this.compactedStart = state.compactedStartOffset ?? null;
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
    // A segment the cleaner rewrote stays until its new bytes are tiered (then it is in sync).
    const retainFrom = this.config.compact === true ? this.uploadPlan().retainFrom : null;
    let size = this.log.size;
    let upTo = -1n;
    let count = 0;
    for (const s of this.log.segments()) {
      if (!s.closed || s.nextOffset > end) break;
      if (retainFrom !== null && s.baseOffset >= retainFrom) break;
      const expired = ms >= 0 && nowMs - Number(s.largestTimestamp) > ms;
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
      // No batch timestamp: the segment ages from its upload, as a local one ages from its file's mtime.
      const age = nowMs - (s.maxTimestamp >= 0n ? Number(s.maxTimestamp) : s.uploadedAt);
      const expired = c.deleteRetention && c.retentionMs >= 0 && age > c.retentionMs;
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
    this.applyState(state);
    let deleted = 0;
    for (const s of doomed) {
      await metadata.removeSegment(s);
      this.segs = this.segs.filter((x) => x.segmentId !== s.segmentId);
      deleted++;
      const all = segmentObjects(s);
      await deleteQuietly(objects, all.map((o) => o.key), (m) => logger.warn(`${this.label}: ${m}`));
      for (const o of all) cache.invalidate(o.key, o.size);
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
      this.applyState(state);
      this.dropLocalBelow(offset);
      return this.logStartOffset;
    });
  }
}

/** The next step of a plan: re-tiers first (they are below the tiered end), then uploads. */
function nextStep(plan: UploadPlan): Retier | SegmentInfo | null {
  return plan.retiers[0] ?? plan.uploads[0] ?? null;
}

function sortSegments(segs: RemoteSegment[]): RemoteSegment[] {
  return segs.sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : a.baseOffset > b.baseOffset ? 1 : 0));
}

function sumBytes(segs: readonly RemoteSegment[]): number {
  let n = 0;
  for (const s of segs) n += s.sizeBytes;
  return n;
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
