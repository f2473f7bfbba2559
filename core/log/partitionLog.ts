import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import type { FileRegion } from '../common/fileRegion';
import type { FileCache } from './fileCache';
import {
  readLogStartOffset,
  syncDir,
  takeCleanShutdownMarker,
  writeCleanShutdownMarker,
  writeLogStartOffset,
} from './checkpointFiles';
import { EffectiveLogConfig, LogConfig, effectiveLogConfig } from './logConfig';
import {
  RECORD_BATCH_HEADER_SIZE,
  ValidationResult,
  PARTITION_LEADER_EPOCH_OFFSET,
  setLogAppendTime,
  setMaxTimestamp,
  stampBatch,
  validateRecords,
  validationError,
} from './recordBatch';
import { Segment, SegmentOptions, type SegmentSpan } from './segment';
import { storedMaxTimestamp } from './batchMaxTimestamp';
import { ProducerStateManager, appendBatchOf, type AppendOrigin, type AppendBatch } from './producerState';
import { completeTransactions, rebuildProducerState } from './producerStateLoader';
import { LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache } from './leaderEpochCache';
import type { AbortedRange } from './txnIndex';
import { CLEANER_CHECKPOINT_FILE, LOG_START_OFFSET_FILE, parseSegmentFileName, parseTxnIndexFileName } from './segmentFiles';
import { recoverCleanerFiles, swapInCleanedSegment } from './segmentSwap';
import { OFFSET_INDEX_ENTRY_SIZE } from './offsetIndex';
import { TIME_INDEX_ENTRY_SIZE } from './timeIndex';
import { isTransientIoError } from './diskSpace';

export type { LogConfig } from './logConfig';

const INT32_MAX = 0x7fffffffn;

export interface PartitionLogOptions {
  /** Where recovery and roll messages go; default console.warn. */
  logger?: (msg: string) => void;
  /** Wall clock in ms (LogAppendTime, segment.ms, flush.ms); default Date.now. */
  now?: () => number;
  /** producer.id.expiration.ms (a broker config): how long an idle producer's sequence state is kept. */
  producerIdExpirationMs?: number;
  /** Called once when the log goes offline (see `offline`); default: the logger. */
  onOffline?: (reason: string) => void;
  /** The broker's segment file descriptors (log.max.open.files); default unbounded. */
  files?: FileCache;
  /**
   * A replicated log: the high watermark moves only by updateHighWatermark /
   * maybeIncrementHighWatermark (a leader: the lowest log end of its in-sync replicas; a
   * follower: its leader's), starting at the log start when opened. Default false: a single
   * node's high watermark is its log end, moved by every append.
   */
  replicated?: boolean;
}

export interface AppendOptions {
  /** Stamped into each batch's partitionLeaderEpoch. */
  leaderEpoch: number;
  /**
   * The result of `validateRecords` on exactly this buffer, so a broker validates once. Without
   * it, append validates (allowing control batches: policy on what clients may send belongs to
   * the produce handler, which validates with its own options).
   */
  validated?: ValidationResult;
  /**
   * Who appends, which decides what the producer state checks (see producerState.ts): 'client'
   * (a producer: duplicates answered with their first offsets, sequences and epochs enforced),
   * 'coordinator' (transaction markers: epochs enforced), 'replication' (batches a leader already
   * accepted, and tools: recorded, never refused). Default 'replication'.
   */
  origin?: AppendOrigin;
}

export interface AppendResult {
  baseOffset: bigint;
  lastOffset: bigint;
  /** The broker time stamped into the batches for LogAppendTime topics, else -1n. */
  logAppendTime: bigint;
  logStartOffset: bigint;
  /**
   * The batch repeats one of its idempotent producer's last 5 batches (a retry whose first
   * attempt was written): nothing was appended, and the offsets are the original ones.
   */
  duplicate: boolean;
}

export interface ReadOptions {
  /** Return the first batch whole even if it is larger than maxBytes (Kafka's KIP-74 rule). */
  minOneBatch: boolean;
  /** Exclusive upper bound, normally the high watermark: no batch reaching it is returned. */
  maxOffset?: bigint;
}

export interface ReadResult<C extends Buffer | FileRegion = Buffer> {
  /** Whole batches, one chunk per segment touched; empty when there is nothing to return. */
  records: C[];
  bytes: number;
  /** baseOffset of the first batch returned (fetchOffset when none). */
  firstOffset: bigint;
  /** One past the last offset returned (fetchOffset when none): where the next read starts. */
  nextOffset: bigint;
}

export interface SegmentInfo {
  baseOffset: bigint;
  /** baseOffset - 1n when the segment is empty. */
  lastOffset: bigint;
  nextOffset: bigint;
  size: number;
  /** Largest batch maxTimestamp, -1n when empty or when no batch carries a timestamp. */
  maxTimestamp: bigint;
  /** maxTimestamp, or the .log file's modification time when that is -1n (what time retention goes by). */
  largestTimestamp: bigint;
  /** The .log file. */
  path: string;
  /** Closed for appends (every segment but the active one). */
  closed: boolean;
  /** Unique per segment object: a segment replaced by the cleaner gets a new id. */
  id: number;
  /** maxTimestamp of the first batch, -1n when empty (max.compaction.lag.ms counts from it). */
  firstBatchTimestamp: bigint;
  offsetIndexBytes: number;
  timeIndexBytes: number;
}

/**
 * One partition's log: a directory of segments, appended to at the end and read by offset.
 *
 *   logStartOffset           highWatermark = logEndOffset (single node, synchronous writes;
 *                            a replicated log's high watermark is set by its partition)
 *   ↓                        ↓
 *   |seg 0 (closed)|seg 1 (closed)|seg 2 (active)…|
 *
 * All I/O is synchronous (fs.*Sync on file descriptors): an append is one write of the batches
 * exactly as received (only baseOffset and partitionLeaderEpoch stamped), a read is a few
 * header reads plus one read of the bytes to return. The page cache does the buffering, and
 * ordering is trivial because nothing interleaves.
 */
export class PartitionLog {
  private config: EffectiveLogConfig;
  private readonly segs: Segment[];
  private _logStartOffset: bigint;
  private hw: bigint;
  private readonly listeners = new Set<() => void>();
  private unflushedMessages = 0;
  private lastFlushMs: number;
  private closed = false;
  /** Why the log takes no more appends until the broker restarts (see `offline`), or null. */
  private offlineReason: string | null = null;
  private readonly logger: (msg: string) => void;
  private readonly now: () => number;
  private onOffline: ((reason: string) => void) | undefined;
  private files: FileCache | undefined;
  /** See PartitionLogOptions.replicated. */
  private replicated = false;

  private constructor(
    readonly dir: string,
    config: EffectiveLogConfig,
    segs: Segment[],
    logStartOffset: bigint,
    logger: (msg: string) => void,
    now: () => number,
    /**
     * Idempotent producers and transactions (Kafka's ProducerStateManager): derived from the
     * batches of this log, snapshotted at each roll and on close, rebuilt on open and truncation.
     */
    readonly producerState: ProducerStateManager,
    /** Which leader epoch wrote which offsets (leaderEpochCache.ts): OffsetForLeaderEpoch's answers. */
    readonly leaderEpochs: LeaderEpochCache,
  ) {
    this.config = config;
    this.segs = segs;
    this._logStartOffset = logStartOffset;
    this.hw = this.logEndOffset;
    this.logger = logger;
    this.now = now;
    this.lastFlushMs = now();
  }

  /**
   * Opens the log in `dir` (created if missing), running recovery: the active segment is checked
   * batch by batch (only its tail after a clean shutdown) and cut at the first bad batch; closed
   * segments are trusted unless their indexes are damaged, which are then rebuilt.
   */
  static open(dir: string, config: LogConfig, opts: PartitionLogOptions = {}): PartitionLog {
    const eff = effectiveLogConfig(config);
    const logger = opts.logger ?? ((m: string) => console.warn(`[strata log ${dir}] ${m}`));
    const now = opts.now ?? Date.now;
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new StrataError('STORAGE_IO', `create ${dir}: ${(e as Error).message}`, { cause: e });
    }
    const clean = takeCleanShutdownMarker(dir);
    const logs: bigint[] = [];
    const indexFiles: { name: string; baseOffset: bigint }[] = [];
    const list = (): string[] => {
      try {
        return fs.readdirSync(dir);
      } catch (e) {
        throw new StrataError('STORAGE_IO', `list ${dir}: ${(e as Error).message}`, { cause: e });
      }
    };
    let names = list();
    // An interrupted cleaner swap is completed or undone first (segmentSwap.ts), so what follows
    // sees exactly the old segments or exactly the new one.
    if (recoverCleanerFiles(dir, names, logger)) names = list();
    for (const name of names) {
      const parsed = parseSegmentFileName(name);
      if (parsed === null) {
        if ([LOG_START_OFFSET_FILE, CLEANER_CHECKPOINT_FILE, LEADER_EPOCH_CHECKPOINT_FILE].some((f) => name === `${f}.tmp`)) fs.rmSync(path.join(dir, name), { force: true });
        continue; // not ours (e.g. partition.metadata): leave it alone
      }
      if (parsed.ext === '.log') logs.push(parsed.baseOffset);
      else indexFiles.push({ name, baseOffset: parsed.baseOffset });
    }
    logs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const logSet = new Set(logs);
    for (const f of indexFiles) {
      if (!logSet.has(f.baseOffset)) {
        logger(`removing ${f.name}: no segment with that base offset`);
        fs.rmSync(path.join(dir, f.name), { force: true });
      }
    }
    for (const name of names) {
      const base = parseTxnIndexFileName(name);
      if (base !== null && !logSet.has(base)) fs.rmSync(path.join(dir, name), { force: true });
    }

    const segOpts: SegmentOptions = { indexIntervalBytes: eff.indexIntervalBytes, logger, nowMs: now(), files: opts.files };
    const persistedStart = readLogStartOffset(dir);
    const segs: Segment[] = [];
    try {
      logs.forEach((base, i) => {
        const isLast = i === logs.length - 1;
        const seg = Segment.open(dir, base, isLast ? (clean ? 'tail' : 'full') : 'trust', segOpts);
        const prev = segs[segs.length - 1];
        if (prev && prev.nextOffset > base) {
          // Overlapping segments cannot come from this code; keep the newer data.
          logger(`segment ${prev.logPath} overlaps ${seg.logPath}: truncating it to offset ${base}`);
          prev.truncateTo(base);
        }
        if (!isLast) seg.seal();
        segs.push(seg);
      });
      if (segs.length === 0) segs.push(Segment.create(dir, persistedStart ?? 0n, segOpts));
    } catch (e) {
      for (const s of segs) s.close();
      throw e;
    }
    const leo = segs[segs.length - 1].nextOffset;
    let start = segs[0].baseOffset;
    if (persistedStart !== null && persistedStart > start) start = persistedStart > leo ? leo : persistedStart;
    const ps = new ProducerStateManager(dir, { producerIdExpirationMs: opts.producerIdExpirationMs, now, logger });
    try {
      const rebuilt = rebuildProducerState(segs, ps, { logStartOffset: start, logEndOffset: leo, useSnapshots: !segs.some((seg) => seg.txnIndexLost) });
      if (rebuilt.batches > 0) logger(`producer state rebuilt from offset ${rebuilt.from}${rebuilt.fromSnapshot ? ' (snapshot)' : ''}: ${rebuilt.batches} batch(es) replayed, ${ps.size} producer(s)`);
      // A single node's high watermark is its log end: every completed transaction is stable. A
      // replicated log's starts at its log start until its partition sets it.
      ps.onHighWatermarkUpdated(opts.replicated === true ? start : leo);
    } catch (e) {
      for (const seg of segs) seg.close();
      throw e;
    }
    let epochs: LeaderEpochCache;
    try {
      epochs = loadLeaderEpochs(dir, segs, leo, logger);
    } catch (e) {
      for (const seg of segs) seg.close();
      throw e;
    }
    const log = new PartitionLog(dir, eff, segs, start, logger, now, ps, epochs);
    log.onOffline = opts.onOffline;
    log.files = opts.files;
    if (opts.replicated === true) {
      log.replicated = true;
      log.hw = start;
    }
    return log;
  }

  /** Applies changed topic configs; takes effect from the next append. */
  updateConfig(config: LogConfig): void {
    this.config = effectiveLogConfig(config);
    for (const s of this.segs) s.indexIntervalBytes = this.config.indexIntervalBytes;
  }

  get logStartOffset(): bigint {
    return this._logStartOffset;
  }

  /** The settings in force (from the last open or updateConfig). */
  get effectiveConfig(): Readonly<EffectiveLogConfig> {
    return this.config;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Why the log is offline for appends, or null. Kafka takes a whole log dir offline on any I/O
   * error; here a failure that only ran out of something (ENOSPC, EDQUOT, EMFILE: the append is
   * cut back and refused, and the next one may succeed) leaves the log online, while a device
   * error (EIO, EROFS, …), a failed fsync (the page cache may have dropped what it held) or an
   * append that could not be undone takes this log offline: appends are refused with STORAGE_IO
   * (KAFKA_STORAGE_ERROR) until the broker restarts and recovery has checked the log. Reads of
   * what the log holds go on.
   */
  get offline(): string | null {
    return this.offlineReason;
  }

  get logEndOffset(): bigint {
    return this.active.nextOffset;
  }

  /**
   * The last stable offset: read_committed consumers never read at or past it. The first offset
   * of the earliest transaction still open (or whose marker is not yet below the high
   * watermark), else the high watermark.
   */
  get lastStableOffset(): bigint {
    const unstable = this.producerState.firstUnstableOffset();
    return unstable !== null && unstable < this.hw ? unstable : this.hw;
  }

  /**
   * Consumers never read past this. On a single node every append is complete (and fsynced
   * when the flush policy says so) before append returns, so it equals the log end offset.
   */
  get highWatermark(): bigint {
    return this.hw;
  }

  /** Total bytes of all segments. */
  get size(): number {
    let n = 0;
    for (const s of this.segs) n += s.size;
    return n;
  }

  private get active(): Segment {
    return this.segs[this.segs.length - 1];
  }

  /**
   * Appends the `records` field of one produce partition (one or more batches) and returns the
   * offsets assigned. Batches are stamped in place in `records` (baseOffset, partitionLeaderEpoch
   * and, for LogAppendTime topics, maxTimestamp + CRC), then written with one write.
   * Throws StrataError (BATCH_CORRUPT / BATCH_INVALID / BATCH_TOO_LARGE /
   * BATCH_FORMAT_UNSUPPORTED, or STORAGE_IO) having written nothing.
   */
  append(records: Buffer, opts: AppendOptions): AppendResult {
    this.checkOpen();
    this.checkOnline();
    const v = opts.validated ?? validateRecords(records, { maxMessageBytes: this.config.maxMessageBytes, allowControlBatches: true });
    if (!v.ok) throw validationError(v);
    const batches = v.batches;
    const lastBatch = batches[batches.length - 1];
    if (batches.length === 0 || batches[0].position !== 0 || lastBatch.position + lastBatch.size !== records.length) {
      throw new StrataError('BATCH_INVALID', 'the validation result passed to append does not describe these records');
    }
    if (records.length > this.config.segmentBytes) {
      throw new StrataError('BATCH_TOO_LARGE', `${records.length} bytes of records exceed segment.bytes ${this.config.segmentBytes}`);
    }
    const origin = opts.origin ?? 'replication';
    if (origin === 'client' && batches.length > 1 && batches.some((b) => b.producerId >= 0n)) {
      // Kafka's rule for Produce v3+, which duplicate detection relies on (a retry is one batch).
      throw new StrataError('BATCH_INVALID', 'Produce requests with idempotent or transactional batches may carry exactly one record batch per partition');
    }
    const baseOffset = this.logEndOffset;
    const createTime = this.config.messageTimestampType === 'CreateTime';
    let next = baseOffset;
    let recordCount = 0;
    let maxTimestamp = -1n;
    const stored: { size: number; lastOffsetDelta: number; maxTimestamp: bigint }[] = [];
    const producerBatches: AppendBatch[] = [];
    for (const b of batches) {
      let ts = b.maxTimestamp;
      if (createTime && !b.isControl) ts = storedMaxTimestamp(records, b);
      producerBatches.push(appendBatchOf(b, records, next, ts));
      stored.push({ size: b.size, lastOffsetDelta: b.lastOffsetDelta, maxTimestamp: ts });
      next += BigInt(b.lastOffsetDelta) + 1n;
      recordCount += b.recordCount;
      if (ts > maxTimestamp) maxTimestamp = ts;
    }
    if (origin === 'client') {
      // A producer's retry of a batch that was written: answer with its offsets, append nothing.
      const dup = this.producerState.findDuplicate(producerBatches[0]);
      if (dup !== null) {
        return { baseOffset: dup.firstOffset, lastOffset: dup.lastOffset, logAppendTime: -1n, logStartOffset: this._logStartOffset, duplicate: true };
      }
    }
    // Throws (OUT_OF_ORDER_SEQUENCE, INVALID_PRODUCER_EPOCH, …) before anything is written.
    const staged = this.producerState.stage(producerBatches, origin);
    const lastOffset = next - 1n;
    if (lastOffset - baseOffset > INT32_MAX) {
      throw new StrataError('BATCH_INVALID', `records span ${lastOffset - baseOffset + 1n} offsets, more than one segment can index`);
    }
    let offset = baseOffset;
    batches.forEach((b, i) => {
      stampBatch(records, b.position, offset, opts.leaderEpoch);
      if (stored[i].maxTimestamp !== b.maxTimestamp) setMaxTimestamp(records, b.position, stored[i].maxTimestamp);
      offset += BigInt(b.lastOffsetDelta) + 1n;
    });
    const nowMs = this.now();
    let logAppendTime = -1n;
    if (this.config.messageTimestampType === 'LogAppendTime') {
      logAppendTime = BigInt(nowMs);
      for (const b of batches) setLogAppendTime(records, b.position, logAppendTime);
      maxTimestamp = logAppendTime;
    }
    const epochs = opts.leaderEpoch >= 0 ? [{ epoch: opts.leaderEpoch, startOffset: baseOffset }] : [];
    this.writeBatches(records, { stored, staged, baseOffset, lastOffset, recordCount, maxTimestamp, logAppendTime, epochs, nowMs });
    return { baseOffset, lastOffset, logAppendTime, logStartOffset: this._logStartOffset, duplicate: false };
  }

  /**
   * Appends batches copied from the leader (Kafka's appendAsFollower): byte for byte, with the
   * leader's offsets, timestamps and partitionLeaderEpoch; nothing is stamped. The first batch
   * must start at or after the log end (a compacted leader's log has gaps, which are kept) and
   * offsets must rise, else StrataError('UNEXPECTED_APPEND_OFFSET'): the follower truncates and
   * fetches again. Producer state records the batches (origin 'replication': nothing refused) and
   * each newer leader epoch among them enters the leader-epoch cache. Throws having written
   * nothing.
   */
  appendAsFollower(records: Buffer): AppendResult {
    this.checkOpen();
    this.checkOnline();
    // Whatever size the leader accepted (its max.message.bytes may differ); a segment must hold it.
    const v = validateRecords(records, { maxMessageBytes: this.config.segmentBytes, allowControlBatches: true, offsetGaps: true });
    if (!v.ok) throw validationError(v);
    const batches = v.batches;
    if (batches.length === 0) throw new StrataError('BATCH_INVALID', 'no record batch to append');
    if (records.length > this.config.segmentBytes) {
      throw new StrataError('BATCH_TOO_LARGE', `${records.length} bytes of records exceed segment.bytes ${this.config.segmentBytes}`);
    }
    const stored: { size: number; lastOffsetDelta: number; maxTimestamp: bigint; baseOffset: bigint }[] = [];
    const producerBatches: AppendBatch[] = [];
    const epochs: { epoch: number; startOffset: bigint }[] = [];
    let latestEpoch = this.leaderEpochs.latestEpoch;
    let next = this.logEndOffset;
    let recordCount = 0;
    let maxTimestamp = -1n;
    for (const b of batches) {
      const base = records.readBigInt64BE(b.position);
      if (base < next) {
        throw new StrataError('UNEXPECTED_APPEND_OFFSET', `batch at offset ${base} is below ${next === this.logEndOffset ? `the log end ${next}` : `the previous batch's end ${next}`} of ${this.dir}`);
      }
      const epoch = records.readInt32BE(b.position + PARTITION_LEADER_EPOCH_OFFSET);
      if (epoch > latestEpoch) {
        epochs.push({ epoch, startOffset: base });
        latestEpoch = epoch;
      }
      producerBatches.push(appendBatchOf(b, records, base));
      stored.push({ size: b.size, lastOffsetDelta: b.lastOffsetDelta, maxTimestamp: b.maxTimestamp, baseOffset: base });
      next = base + BigInt(b.lastOffsetDelta) + 1n;
      recordCount += b.recordCount;
      if (b.maxTimestamp > maxTimestamp) maxTimestamp = b.maxTimestamp;
    }
    const baseOffset = stored[0].baseOffset;
    const lastOffset = next - 1n;
    if (lastOffset - baseOffset > INT32_MAX) {
      throw new StrataError('BATCH_INVALID', `records span ${lastOffset - baseOffset + 1n} offsets, more than one segment can index`);
    }
    const staged = this.producerState.stage(producerBatches, 'replication');
    this.writeBatches(records, { stored, staged, baseOffset, lastOffset, recordCount, maxTimestamp, logAppendTime: -1n, epochs, nowMs: this.now() });
    return { baseOffset, lastOffset, logAppendTime: -1n, logStartOffset: this._logStartOffset, duplicate: false };
  }

  /**
   * The write both appends share: new leader epochs checkpointed first (never behind the log),
   * roll if due, one write, the producer state committed and completed transactions indexed,
   * flush.messages / flush.ms. A failure undoes what was written and throws.
   */
  private writeBatches(
    records: Buffer,
    a: {
      stored: { size: number; lastOffsetDelta: number; maxTimestamp: bigint; baseOffset?: bigint }[];
      staged: ReturnType<ProducerStateManager['stage']>;
      baseOffset: bigint;
      lastOffset: bigint;
      recordCount: number;
      maxTimestamp: bigint;
      logAppendTime: bigint;
      epochs: { epoch: number; startOffset: bigint }[];
      nowMs: number;
    },
  ): void {
    const { stored, staged, baseOffset, lastOffset, recordCount, maxTimestamp, logAppendTime, nowMs } = a;
    try {
      for (const e of a.epochs) this.leaderEpochs.assign(e.epoch, e.startOffset);
      this.maybeRoll(records.length, maxTimestamp, lastOffset, nowMs);
      this.active.append(records, stored, baseOffset, logAppendTime >= 0n ? logAppendTime : undefined);
    } catch (e) {
      // Nothing was appended (the segment cut back what it wrote); the producer state was only staged.
      try {
        this.leaderEpochs.truncateFromEnd(this.logEndOffset);
      } catch {
        // The cache in memory is right; an entry left in the checkpoint past the log end goes at the next open.
      }
      throw this.onWriteFailure(e, `append to ${this.dir} at offset ${baseOffset}`);
    }
    this.producerState.commit(staged);
    try {
      completeTransactions(this.producerState, staged, this.active.txnIndex);
    } catch (e) {
      // The aborted-transaction index must hold every abort the log holds: undo the append.
      this.logger(`recording a completed transaction failed (${(e as Error).message}); undoing the append at ${baseOffset}`);
      this.truncateTo(baseOffset);
      throw new StrataError('STORAGE_IO', `append to ${this.dir}: the transaction index could not be written: ${(e as Error).message}`, { cause: e });
    }

    this.unflushedMessages += recordCount;
    if (this.unflushedMessages >= this.config.flushMessages || nowMs - this.lastFlushMs >= this.config.flushMs) {
      try {
        this.flush();
      } catch (e) {
        // Not durable, so not acknowledged: undo it, and stop appending (see `offline`).
        this.goOffline(`fsync failed: ${(e as Error).message}`);
        try {
          this.truncateTo(baseOffset);
        } catch (undo) {
          this.logger(`undoing the unflushed append at ${baseOffset} failed: ${(undo as Error).message}`);
        }
        throw this.asStorageError(e, `append to ${this.dir} at offset ${baseOffset}: fsync failed, the append was undone`, true);
      }
    }
    if (!this.replicated) {
      this.hw = this.logEndOffset;
      this.producerState.onHighWatermarkUpdated(this.hw);
    }
    this.notify();
  }

  /**
   * Sets the high watermark of a replicated log (a follower takes its leader's), bounded by the
   * log start and the log end; it may move back (Kafka's updateHighWatermark). Listeners hear of a
   * change. Returns the high watermark now.
   */
  updateHighWatermark(offset: bigint): bigint {
    this.checkOpen();
    let hw = offset > this.logEndOffset ? this.logEndOffset : offset;
    if (hw < this._logStartOffset) hw = this._logStartOffset;
    if (hw !== this.hw) {
      this.hw = hw;
      this.producerState.onHighWatermarkUpdated(hw);
      this.notify();
    }
    return this.hw;
  }

  /** As updateHighWatermark, but only forward (a leader's, as its in-sync replicas catch up). Returns whether it moved. */
  maybeIncrementHighWatermark(offset: bigint): boolean {
    if (offset <= this.hw) return false;
    const before = this.hw;
    return this.updateHighWatermark(offset) !== before;
  }

  /**
   * The aborted transactions overlapping [fetchOffset, upperBoundOffset), for a read_committed
   * fetch (Kafka's collectAbortedTransactions): from the segment holding fetchOffset on, until
   * an index entry shows no later one can overlap.
   */
  collectAbortedTransactions(fetchOffset: bigint, upperBoundOffset: bigint): AbortedRange[] {
    this.checkOpen();
    const out: AbortedRange[] = [];
    for (let i = this.segmentIndexFor(fetchOffset); i < this.segs.length; i++) {
      const r = this.segs[i].txnIndex.collectAbortedTxns(fetchOffset, upperBoundOffset);
      out.push(...r.aborted);
      if (r.complete) break;
    }
    return out;
  }

  /**
   * Reads whole batches from fetchOffset: the first is the batch containing fetchOffset (returned
   * whole even when fetchOffset is inside it), then following batches while they fit in maxBytes,
   * never one whose last offset reaches maxOffset (default: the log end). A read may span
   * segments (one chunk each). Records are never decoded.
   * Throws OFFSET_OUT_OF_RANGE when fetchOffset < logStartOffset or > logEndOffset.
   */
  read(fetchOffset: bigint, maxBytes: number, opts: ReadOptions): ReadResult {
    const { spans, ...found } = this.locate(fetchOffset, maxBytes, opts);
    return { ...found, records: spans.map(({ segment, span }) => segment.read(span.position, span.length)) };
  }

  /**
   * As read, but the batches come as regions of the segment files (pinned until released; see
   * fileRegion.ts), for a response that is sent from the files as the socket drains: nothing is
   * read into memory here. The caller owns the regions and must release them.
   */
  readRegions(fetchOffset: bigint, maxBytes: number, opts: ReadOptions): ReadResult<FileRegion> {
    const { spans, ...found } = this.locate(fetchOffset, maxBytes, opts);
    return { ...found, records: spans.map(({ segment, span }) => segment.region(span.position, span.length)) };
  }

  /** Where the batches read() returns are: one span per segment touched. */
  private locate(fetchOffset: bigint, maxBytes: number, opts: ReadOptions): Omit<ReadResult, 'records'> & { spans: { segment: Segment; span: SegmentSpan }[] } {
    this.checkOpen();
    const leo = this.logEndOffset;
    if (fetchOffset < this._logStartOffset || fetchOffset > leo) {
      throw new StrataError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${fetchOffset} is outside the log [${this._logStartOffset}, ${leo}] of ${this.dir}`,
      );
    }
    const limit = opts.maxOffset === undefined || opts.maxOffset > leo ? leo : opts.maxOffset;
    const result = { spans: [] as { segment: Segment; span: SegmentSpan }[], bytes: 0, firstOffset: fetchOffset, nextOffset: fetchOffset };
    if (fetchOffset >= limit) return result;
    let i = this.segmentIndexFor(fetchOffset);
    let position = this.segs[i].findBatch(fetchOffset)?.position ?? -1;
    while (position < 0) {
      // fetchOffset is past this segment's last batch (a gap in offsets): start at the next one.
      if (++i >= this.segs.length) return result;
      position = 0;
    }
    for (; i < this.segs.length; i++, position = 0) {
      const budget = maxBytes - result.bytes;
      const minOne = opts.minOneBatch && result.bytes === 0;
      if (budget < RECORD_BATCH_HEADER_SIZE && !minOne) break;
      const span = this.segs[i].locate(position, budget, limit, minOne);
      if (span.length > 0) {
        if (result.bytes === 0) result.firstOffset = span.firstOffset;
        result.spans.push({ segment: this.segs[i], span });
        result.bytes += span.length;
        result.nextOffset = span.nextOffset;
      }
      if (span.stop !== 'end') break;
    }
    return result;
  }

  /**
   * ListOffsets by timestamp: the first offset (>= logStartOffset) whose record timestamp is
   * >= ts, with that timestamp; null when none is, or when the answer is not below maxOffset
   * (default the high watermark). Exact for uncompressed batches; for compressed ones the
   * batch's first offset and maxTimestamp (see Segment.findByTimestamp).
   */
  offsetForTimestamp(ts: bigint, opts: { maxOffset?: bigint } = {}): { offset: bigint; timestamp: bigint } | null {
    this.checkOpen();
    const maxOffset = opts.maxOffset ?? this.hw;
    for (const s of this.segs) {
      if (s.nextOffset <= this._logStartOffset || s.maxTimestamp < ts) continue;
      const found = s.findByTimestamp(ts, this._logStartOffset);
      if (found !== null) return found.offset < maxOffset ? found : null;
    }
    return null;
  }

  /**
   * ListOffsets MAX_TIMESTAMP (-3, KIP-734): the first record carrying the largest timestamp in
   * the log, or null for an empty log. Cheap: each segment knows its largest timestamp.
   */
  maxTimestampOffset(): { offset: bigint; timestamp: bigint } | null {
    this.checkOpen();
    let best = -1n;
    for (const s of this.segs) {
      if (s.nextOffset > this._logStartOffset && s.maxTimestamp > best) best = s.maxTimestamp;
    }
    return best < 0n ? null : this.offsetForTimestamp(best);
  }

  /**
   * Calls `listener` after every append (Fetch long-polls wait on it), synchronously at the end
   * of append: keep it cheap (resolve a promise, set a flag). Returns an unsubscribe function.
   */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private notify(): void {
    if (this.listeners.size === 0) return;
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        this.logger(`onAppend listener failed: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Closes the active segment (if it holds anything) and starts a new one at the log end. The
   * closed segment is sealed and fsynced first, which is what lets recovery trust every segment
   * but the last.
   */
  roll(reason = 'requested'): void {
    this.checkOpen();
    const a = this.active;
    if (a.size === 0) return;
    const started = this.now();
    let seg: Segment;
    try {
      a.seal();
      a.flush();
      seg = Segment.create(this.dir, a.nextOffset, this.segmentOptions(started));
    } catch (e) {
      // The active segment stays the active one (a full disk: appends resume in it once there is room).
      a.unseal();
      throw this.asStorageError(e, `rolling a new segment of ${this.dir} at offset ${a.nextOffset}`, true);
    }
    this.segs.push(seg);
    syncDir(this.dir);
    // Kafka snapshots the producer state at each roll: recovery replays at most the active segment.
    // Without it (a full disk), recovery replays from an older snapshot: slower, not wrong.
    try {
      if (this.producerState.endOffset === seg.baseOffset) this.producerState.takeSnapshot();
    } catch (e) {
      this.logger(`producer state snapshot at offset ${seg.baseOffset} failed (recovery replays from an older one): ${(e as Error).message}`);
    }
    this.unflushedMessages = 0;
    this.lastFlushMs = started;
    this.logger(`rolled new segment at offset ${seg.baseOffset} (${reason})`);
  }

  private maybeRoll(incomingBytes: number, incomingMaxTimestamp: bigint, incomingLastOffset: bigint, nowMs: number): void {
    const a = this.active;
    if (a.size === 0) return;
    const c = this.config;
    let reason: string | null = null;
    if (a.size + incomingBytes > c.segmentBytes) reason = 'segment.bytes';
    else if (this.segmentAge(a, incomingMaxTimestamp, nowMs) > c.segmentMs) reason = 'segment.ms';
    else if (
      a.offsetIndexBytes + OFFSET_INDEX_ENTRY_SIZE > c.segmentIndexBytes ||
      a.timeIndexBytes + TIME_INDEX_ENTRY_SIZE > c.segmentIndexBytes
    ) {
      reason = 'segment.index.bytes';
    } else if (incomingLastOffset - a.baseOffset > INT32_MAX) reason = 'relative offsets would overflow';
    if (reason !== null) this.roll(reason);
  }

  /**
   * Kafka's segment age: record time elapsed since the segment's first batch (so replayed or
   * mirrored old data rolls by its own clock), or wall time since creation when there is none.
   */
  private segmentAge(s: Segment, incomingTimestamp: bigint, nowMs: number): number {
    if (s.firstBatchTimestamp >= 0n) return Number(incomingTimestamp - s.firstBatchTimestamp);
    return nowMs - s.createdMs;
  }

  /**
   * Housekeeping for a periodic timer: fsyncs when flush.ms has passed with unflushed data, and
   * rolls a non-empty active segment older than segment.ms even if nothing is appended.
   */
  maybeFlushOrRoll(nowMs: number = this.now()): void {
    if (this.closed) return;
    if (this.unflushedMessages > 0 && nowMs - this.lastFlushMs >= this.config.flushMs) {
      try {
        this.flush();
      } catch (e) {
        this.goOffline(`fsync failed: ${(e as Error).message}`);
        throw e;
      }
    }
    if (this.offlineReason !== null) return;
    const a = this.active;
    if (a.size > 0 && this.segmentAge(a, BigInt(nowMs), nowMs) > this.config.segmentMs) this.roll('segment.ms');
  }

  /** fsyncs the active segment (closed ones were fsynced when they were rolled). */
  flush(): void {
    this.checkOpen();
    this.active.flush();
    this.unflushedMessages = 0;
    this.lastFlushMs = this.now();
  }

  /**
   * Removes every batch whose lastOffset >= offset (a batch containing offset goes whole) and
   * returns the new log end offset. Below the first segment, the log is emptied and restarts at
   * offset (Kafka's truncateFullyAndStartAt).
   */
  truncateTo(offset: bigint): bigint {
    this.checkOpen();
    if (offset >= this.logEndOffset) return this.logEndOffset;
    if (offset < this.segs[0].baseOffset) {
      this.truncateFullyAndStartAt(offset);
      return offset;
    }
    while (this.segs.length > 1 && this.active.baseOffset >= offset) {
      this.segs.pop()!.deleteFiles();
    }
    const a = this.active;
    if (a.sealed && a.nextOffset < offset) {
      // `offset` falls in the gap a cleaned segment leaves after its last batch (compaction
      // removed the records there): nothing of this segment goes, and the log must still end
      // at `offset`, which a new active segment starting there says.
      this.segs.push(Segment.create(this.dir, offset, this.segmentOptions(this.now())));
      syncDir(this.dir);
    } else {
      a.unseal();
      a.truncateTo(offset);
    }
    const leo = this.logEndOffset;
    if (this.hw > leo) this.hw = leo;
    if (this._logStartOffset > leo) this.setLogStartOffset(leo);
    this.leaderEpochs.truncateFromEnd(leo);
    // Producer state as of the new end: the newest snapshot at or below it, plus a replay.
    rebuildProducerState(this.segs, this.producerState, { logStartOffset: this._logStartOffset, logEndOffset: leo, useSnapshots: true });
    this.producerState.onHighWatermarkUpdated(this.hw);
    return leo;
  }

  /** Deletes every segment and starts an empty log at `offset`, which becomes the log start. */
  truncateFullyAndStartAt(offset: bigint): void {
    this.checkOpen();
    for (const s of this.segs.splice(0)) s.deleteFiles();
    this.segs.push(Segment.create(this.dir, offset, this.segmentOptions(this.now())));
    syncDir(this.dir);
    this.hw = offset;
    this.setLogStartOffset(offset);
    this.producerState.truncateFullyAndStartAt(offset);
    this.leaderEpochs.clear();
  }

  /**
   * Starts the producer state of an empty log at `offset` from a snapshot taken elsewhere (the
   * one tiered with the segment that ends there), so producers keep their sequences and open
   * transactions when the local copy of the log is gone (a broker on an empty disk).
   */
  restoreProducerState(snapshot: Buffer, offset: bigint): void {
    this.checkOpen();
    if (this.logEndOffset !== offset || this.active.size > 0 || this.segs.length > 1) {
      throw new StrataError('STORAGE_IO', `producer state for offset ${offset} can only start an empty log at that offset (log ${this.dir} ends at ${this.logEndOffset})`);
    }
    this.producerState.installSnapshot(snapshot, offset);
    this.producerState.loadSnapshot(offset, offset);
    this.producerState.onHighWatermarkUpdated(this.hw);
  }

  /**
   * Moves the log start offset up to `offset` (DeleteRecords) and deletes the segments wholly
   * below it; returns how many were deleted. An offset past the high watermark is refused (Kafka
   * answers OFFSET_OUT_OF_RANGE). If every record is below `offset` the active segment is rolled
   * first so that the log keeps an active segment at its end.
   */
  deleteSegmentsBelow(offset: bigint): number {
    this.checkOpen();
    if (offset > this.hw) {
      throw new StrataError('OFFSET_OUT_OF_RANGE', `cannot delete records below ${offset}: the high watermark is ${this.hw}`);
    }
    if (offset <= this._logStartOffset) return 0;
    this.setLogStartOffset(offset);
    if (this.active.nextOffset <= offset && this.active.size > 0) this.roll('log start offset moved past the active segment');
    let deleted = 0;
    while (this.segs.length > 1 && this.segs[0].nextOffset <= offset) {
      this.segs.shift()!.deleteFiles();
      deleted++;
    }
    this.onLogStartMoved();
    return deleted;
  }

  /**
   * The log start moved (DeleteRecords, retention): snapshots below the first segment are not
   * needed for any replay. Producer entries stay until they expire (KAFKA-7190: a producer whose
   * batches were all deleted keeps its sequence state).
   */
  private onLogStartMoved(): void {
    this.producerState.onLogStartOffsetIncremented(this._logStartOffset);
    this.producerState.deleteSnapshotsBelow(this.segs[0].baseOffset);
  }

  /** Forgets producers idle for producer.id.expiration.ms (no open transaction); returns how many. */
  removeExpiredProducers(nowMs: number = this.now()): number {
    if (this.closed) return 0;
    return this.producerState.removeExpiredProducers(nowMs);
  }

  /**
   * Deletes closed segments past retention.ms (by their largest timestamp) or beyond
   * retention.bytes (oldest first), never the active segment nor data at or above the high
   * watermark. Returns how many were deleted. Not scheduled by the log itself.
   */
  deleteRetentionBreachedSegments(nowMs: number = this.now()): number {
    this.checkOpen();
    const { retentionMs, retentionBytes } = this.config;
    let excess = retentionBytes >= 0 ? this.size - retentionBytes : 0;
    let deleted = 0;
    while (this.segs.length > 1 && this.segs[0].nextOffset <= this.hw) {
      const s = this.segs[0];
      // A segment whose batches carry no timestamp ages by its file's modification time (Kafka's
      // LogSegment.largestTimestamp), so records without one are kept for retention.ms too.
      const expired = retentionMs >= 0 && nowMs - Number(s.largestTimestamp()) > retentionMs;
      const oversize = retentionBytes >= 0 && excess - s.size >= 0;
      if (!expired && !oversize) break;
      excess -= s.size;
      this.segs.shift()!.deleteFiles();
      deleted++;
    }
    if (deleted > 0 && this.segs[0].baseOffset > this._logStartOffset) this._logStartOffset = this.segs[0].baseOffset;
    if (deleted > 0) this.onLogStartMoved();
    return deleted;
  }

  /** The segments, oldest first (for tiering and tools). */
  segments(): SegmentInfo[] {
    return this.segs.map((s) => ({
      baseOffset: s.baseOffset,
      lastOffset: s.lastOffset,
      nextOffset: s.nextOffset,
      size: s.size,
      maxTimestamp: s.maxTimestamp,
      largestTimestamp: s.largestTimestamp(),
      path: s.logPath,
      closed: s !== this.active,
      id: s.id,
      firstBatchTimestamp: s.firstBatchTimestamp,
      offsetIndexBytes: s.offsetIndexBytes,
      timeIndexBytes: s.timeIndexBytes,
    }));
  }

  /**
   * The log cleaner's swap (see segmentSwap.ts): replaces the closed segments `replaced` (by id,
   * consecutive, oldest first) with the cleaned segment whose `.cleaned` files the cleaner wrote
   * at the first one's base offset. Returns false (the caller removes the `.cleaned` files) when
   * the log changed meanwhile so that the swap no longer applies: closed, truncated, segments
   * deleted by retention or DeleteRecords, or one of them the active segment again.
   *
   * Runs synchronously, so for the request loop it is atomic: a read before it sees the old
   * segments, a read after it the new one, and no read is in between (reads are synchronous and
   * copy the bytes they return). The old segments' descriptors stay open until the new segment is
   * open; if that fails (STORAGE_IO is thrown) the old ones keep serving reads from their
   * descriptors although their files are gone, and the next open finds the new files.
   *
   * The aborted-transaction index goes with the segment: the cleaner writes the cleaned one as
   * `<base>.txnindex.cleaned` (only the entries of the ABORT markers it keeps; none, no file), and
   * the swap replaces the old segments' `.txnindex` files with it like their other files.
   */
  replaceWithCleanedSegment(replaced: readonly number[]): boolean {
    const first = this.closed ? -1 : this.segs.findIndex((s) => s.id === replaced[0]);
    const valid =
      first >= 0 &&
      replaced.length > 0 &&
      first + replaced.length < this.segs.length && // never the active segment
      replaced.every((id, k) => this.segs[first + k].id === id && this.segs[first + k].sealed);
    if (!valid) return false;
    const old = this.segs.slice(first, first + replaced.length);
    const base = old[0].baseOffset;
    swapInCleanedSegment(this.dir, old.map((s) => s.baseOffset), base);
    const seg = Segment.open(this.dir, base, 'trust', this.segmentOptions(this.now()));
    seg.seal();
    this.segs.splice(first, old.length, seg);
    for (const s of old) {
      try {
        // Only descriptors: the swap renamed the files away (the new segment owns the names now).
        s.close();
      } catch (e) {
        this.logger(`closing replaced segment ${s.logPath}: ${(e as Error).message}`);
      }
    }
    return true;
  }

  /**
   * fsyncs and closes every file, then leaves the clean-shutdown marker so the next open only
   * checks the active segment's tail. Later calls are no-ops; other methods throw CLOSED.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    let flushed = true;
    try {
      // A clean shutdown leaves a snapshot at the log end: the next open replays nothing. Not
      // for an offline log: the next open checks and rebuilds everything, as after a crash.
      if (this.offlineReason === null && this.producerState.endOffset === this.logEndOffset) this.producerState.takeSnapshot();
    } catch (e) {
      this.logger(`producer state snapshot on close failed: ${(e as Error).message}`);
    }
    try {
      this.active.flush();
    } catch (e) {
      flushed = false;
      this.logger(`flush on close failed: ${(e as Error).message}`);
    }
    for (const s of this.segs) {
      try {
        s.close();
      } catch (e) {
        flushed = false;
        this.logger(`close failed: ${(e as Error).message}`);
      }
    }
    if (flushed && this.offlineReason === null) writeCleanShutdownMarker(this.dir);
  }

  /** Closes the log and removes its directory. */
  delete(): void {
    if (!this.closed) {
      this.closed = true;
      this.listeners.clear();
      for (const s of this.segs) s.close();
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private setLogStartOffset(offset: bigint): void {
    this._logStartOffset = offset;
    writeLogStartOffset(this.dir, offset);
  }

  /** Index of the last segment whose baseOffset <= offset (0 if none). */
  private segmentIndexFor(offset: bigint): number {
    let lo = 0;
    let hi = this.segs.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segs[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private segmentOptions(nowMs: number): SegmentOptions {
    return { indexIntervalBytes: this.config.indexIntervalBytes, logger: this.logger, nowMs, files: this.files };
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', `partition log ${this.dir} is closed`);
  }

  private checkOnline(): void {
    if (this.offlineReason !== null) {
      throw new StrataError(
        'STORAGE_IO',
        `partition log ${this.dir} is offline (${this.offlineReason}): it takes no appends until the broker restarts; check the disk, then restart (recovery checks the log)`,
      );
    }
  }

  /**
   * A write of an append or roll failed: the error to throw (STORAGE_IO), after taking the log
   * offline unless the failure only ran out of space or descriptors and was cut back cleanly.
   */
  private onWriteFailure(e: unknown, doing: string): StrataError {
    const blocked = this.active.writeBlocked;
    if (blocked !== null) this.goOffline(`a failed append could not be undone: ${blocked}`);
    else if (!isTransientIoError(e)) this.goOffline(`${doing} failed: ${(e as Error).message}`);
    return this.asStorageError(e, doing);
  }

  private goOffline(reason: string): void {
    if (this.offlineReason !== null) return;
    this.offlineReason = reason;
    if (this.onOffline) this.onOffline(reason);
    else this.logger(`offline: ${reason}; appends to this partition are refused (KAFKA_STORAGE_ERROR) until the broker restarts, reads go on`);
  }

  /** STORAGE_IO saying what was being done; a STORAGE_IO from below is kept as is unless `always`. */
  private asStorageError(e: unknown, doing: string, always = false): StrataError {
    if (!always && e instanceof StrataError && e.code === 'STORAGE_IO') return e;
    return new StrataError('STORAGE_IO', `${doing}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The leader-epoch cache of a log being opened: its checkpoint without the entries past the log
 * end (a crash after the checkpoint, before the batch), or, without a checkpoint (a log written
 * before leader epochs were kept), rebuilt from the partitionLeaderEpoch of every batch header.
 */
function loadLeaderEpochs(dir: string, segs: readonly Segment[], logEndOffset: bigint, logger: (msg: string) => void): LeaderEpochCache {
  const loaded = LeaderEpochCache.load(dir, logger);
  if (loaded !== null) {
    loaded.truncateFromEnd(logEndOffset);
    return loaded;
  }
  const epochs = LeaderEpochCache.empty(dir, logger);
  for (const seg of segs) {
    const s = seg.scanner(0);
    while (s.next()) {
      if (s.partitionLeaderEpoch > epochs.latestEpoch) epochs.assign(s.partitionLeaderEpoch, s.baseOffset);
    }
  }
  return epochs;
}
