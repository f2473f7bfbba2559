import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import type { FileRegion } from '../common/fileRegion';
import { UNBOUNDED_FILE_CACHE, type CachedFile, type FileCache } from './fileCache';
import { BatchScanner } from './batchScanner';
import { io } from './indexFile';
import { OffsetIndex } from './offsetIndex';
import {
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  RECORD_BATCH_HEADER_SIZE,
  TIMESTAMP_TYPE_MASK,
} from './recordBatch';
import { decodeRecordBatch } from './recordDecoder';
import { SEGMENT_FILE_EXTS, SegmentFileSuffix, segmentPath, txnIndexFileName } from './segmentFiles';
import { TimeIndex } from './timeIndex';
import { TransactionIndex } from './txnIndex';

const INT32_MAX = 0x7fffffff;
/** Read size when scanning forward from an index entry: one interval of small batches. */
const LOOKUP_CHUNK = 16 * 1024;

/**
 * How much of an existing segment to trust on open:
 *  - 'full':  check every batch (header sanity + CRC-32C), rebuild both indexes, truncate the log
 *             at the first torn, corrupt or out-of-order batch. The active segment after an
 *             unclean shutdown.
 *  - 'tail':  trust the indexes if well formed and check only the batches after the last index
 *             entry, with CRCs; anything wrong falls back to 'full'. The active segment after a
 *             clean shutdown.
 *  - 'trust': like 'tail' without CRCs, for closed segments (fsynced when they were closed).
 */
export type SegmentRecovery = 'full' | 'tail' | 'trust';

export interface SegmentOptions {
  indexIntervalBytes: number;
  logger: (msg: string) => void;
  /** Wall-clock ms now; the age of a segment whose batches carry no timestamp counts from here. */
  nowMs: number;
  /**
   * Appended to all three file names: the log cleaner writes its output as `….log.cleaned` etc.
   * (see segmentSwap.ts). Default '' (a live segment).
   */
  fileSuffix?: SegmentFileSuffix;
  /** The broker's file cache (log.max.open.files); default unbounded. */
  files?: FileCache;
}

/** What append needs to know of each batch it writes. */
export interface AppendedBatch {
  size: number;
  lastOffsetDelta: number;
  maxTimestamp: bigint;
  /**
   * The batch's base offset when it does not follow the previous batch directly (the cleaner
   * writes compacted batches, which keep their offsets, so gaps appear). Default: contiguous.
   */
  baseOffset?: bigint;
}

/** Distinguishes Segment objects for the same base offset (a cleaned one replaces the original). */
let nextSegmentId = 1;

/** A batch located in a segment file (header fields only). */
export interface BatchLocation {
  position: number;
  size: number;
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
  attributes: number;
}

/** Whole batches located in one segment (not read), and why locating stopped. */
export interface SegmentSpan {
  position: number;
  /** 0 when no batch qualified. */
  length: number;
  /** baseOffset of the first batch, -1n when none. */
  firstOffset: bigint;
  /** One past the last offset of the last batch, -1n when none. */
  nextOffset: bigint;
  /** 'end': this segment has nothing more; 'budget': maxBytes reached; 'limit': maxOffset reached. */
  stop: 'end' | 'budget' | 'limit';
}

/** Whole batches read from one segment, and why reading stopped. */
export interface SegmentRead {
  /** The batches' bytes, or null when none qualified. */
  bytes: Buffer | null;
  firstOffset: bigint;
  /** One past the last offset of the last batch returned. */
  nextOffset: bigint;
  /** 'end': this segment has nothing more; 'budget': maxBytes reached; 'limit': maxOffset reached. */
  stop: 'end' | 'budget' | 'limit';
}

/**
 * One segment of a partition log: a .log file of RecordBatch v2 bytes starting at `baseOffset`,
 * with its sparse .index and .timeindex. Appends are synchronous writes at the end of the file;
 * reads are synchronous reads of whole batches located by the offset index plus a short scan of
 * batch headers. Nothing here decodes records except a timestamp lookup inside one batch.
 *
 *   baseOffset                                                   nextOffset
 *   ↓                                                            ↓
 *   |batch|batch|batch ……………………………………………… |batch|  (size bytes)  ← append here
 */
export class Segment {
  readonly logPath: string;
  /** Unique per Segment object in this process: lets the cleaner notice a segment was replaced. */
  readonly id = nextSegmentId++;
  private readonly fileSuffix: SegmentFileSuffix;
  private readonly file: CachedFile;
  private _size: number;
  private _nextOffset: bigint;
  private _maxTimestamp = -1n;
  private _offsetOfMaxTimestamp = -1n;
  private _firstBatchTimestamp = -1n;
  private bytesSinceLastIndexEntry = 0;
  private _sealed = false;
  private closed = false;
  /**
   * Set when a failed append could not be undone: the files may hold part of it, so nothing more
   * is appended here (reads of what was there before go on). Recovery on the next open cuts it.
   */
  private undoFailed: string | null = null;
  private readonly offsetIndex: OffsetIndex;
  private readonly timeIndex: TimeIndex;
  private _txnIndex: TransactionIndex;
  /** Set when the .txnindex could not be read on open (it was removed): the log rebuilds it from the batches. */
  readonly txnIndexLost: boolean;
  /** index.interval.bytes; updatable when the topic config changes. */
  indexIntervalBytes: number;
  readonly createdMs: number;
  private readonly logger: (msg: string) => void;

  private constructor(
    readonly dir: string,
    readonly baseOffset: bigint,
    file: CachedFile,
    size: number,
    offsetIndex: OffsetIndex,
    timeIndex: TimeIndex,
    opts: SegmentOptions,
  ) {
    this.fileSuffix = opts.fileSuffix ?? '';
    this.logPath = segmentPath(dir, baseOffset, '.log', this.fileSuffix);
    this.file = file;
    this._size = size;
    this._nextOffset = baseOffset;
    this.offsetIndex = offsetIndex;
    this.timeIndex = timeIndex;
    this.indexIntervalBytes = opts.indexIntervalBytes;
    this.createdMs = opts.nowMs;
    this.logger = opts.logger;
    const txnPath = path.join(dir, txnIndexFileName(baseOffset) + this.fileSuffix);
    let lost = false;
    try {
      this._txnIndex = TransactionIndex.open(txnPath, { logger: opts.logger, files: opts.files });
    } catch (e) {
      // Unreadable (not merely torn): rebuilt from the log's markers by the partition log.
      opts.logger(`removing ${txnPath}: ${(e as Error).message}; it is rebuilt from the log`);
      fs.rmSync(txnPath, { force: true });
      this._txnIndex = TransactionIndex.open(txnPath, { logger: opts.logger, files: opts.files });
      lost = true;
    }
    this.txnIndexLost = lost;
  }

  /** Creates a new, empty segment. Refuses to overwrite an existing non-empty .log. */
  static create(dir: string, baseOffset: bigint, opts: SegmentOptions): Segment {
    const suffix = opts.fileSuffix ?? '';
    const logPath = segmentPath(dir, baseOffset, '.log', suffix);
    const files = opts.files ?? UNBOUNDED_FILE_CACHE;
    const file = files.file(logPath, { create: true });
    let seg: Segment | null = null;
    let index: OffsetIndex | null = null;
    let timeIndex: TimeIndex | null = null;
    try {
      const size = file.use((fd) => io(() => fs.fstatSync(fd).size, 'stat', logPath));
      if (size !== 0) throw new StrataError('STORAGE_IO', `cannot create segment ${logPath}: it exists and holds ${size} bytes`);
      index = OffsetIndex.open(segmentPath(dir, baseOffset, '.index', suffix), 0, files).index;
      timeIndex = TimeIndex.open(segmentPath(dir, baseOffset, '.timeindex', suffix), 0, files).index;
      seg = new Segment(dir, baseOffset, file, 0, index, timeIndex, opts);
      // Leftover index files of the same name would be meaningless: start them empty.
      seg.offsetIndex.beginRebuild();
      seg.offsetIndex.finishRebuild();
      seg.timeIndex.beginRebuild();
      seg.timeIndex.finishRebuild();
      return seg;
    } catch (e) {
      // No descriptor is left behind by a create that failed (a full disk, EMFILE).
      try {
        if (seg) seg.close();
        else {
          file.dispose();
          index?.close();
          timeIndex?.close();
        }
      } catch {
        // the failure that matters is e
      }
      throw e;
    }
  }

  /** Opens an existing segment, checking and repairing it as `recovery` says. */
  static open(dir: string, baseOffset: bigint, recovery: SegmentRecovery, opts: SegmentOptions): Segment {
    const suffix = opts.fileSuffix ?? '';
    const logPath = segmentPath(dir, baseOffset, '.log', suffix);
    const files = opts.files ?? UNBOUNDED_FILE_CACHE;
    const file = files.file(logPath);
    let size: number;
    try {
      size = file.use((fd) => io(() => fs.fstatSync(fd).size, 'stat', logPath));
    } catch (e) {
      file.dispose();
      throw e;
    }
    if (size > INT32_MAX) {
      file.dispose();
      throw new StrataError('STORAGE_IO', `segment ${logPath} is ${size} bytes, more than a segment may hold`);
    }
    const oi = OffsetIndex.open(segmentPath(dir, baseOffset, '.index', suffix), size, files);
    const ti = TimeIndex.open(segmentPath(dir, baseOffset, '.timeindex', suffix), size, files);
    const seg = new Segment(dir, baseOffset, file, size, oi.index, ti.index, opts);
    if (recovery === 'full') {
      seg.recover('unclean shutdown');
    } else {
      const problem =
        (oi.problem && `offset index ${oi.problem}`) ??
        (ti.problem && `time index ${ti.problem}`) ??
        seg.loadFromIndexes(recovery === 'tail');
      if (problem !== null) seg.recover(problem);
    }
    return seg;
  }

  get size(): number {
    return this._size;
  }

  /** One past the last offset in the segment (baseOffset when empty). */
  get nextOffset(): bigint {
    return this._nextOffset;
  }

  get lastOffset(): bigint {
    return this._nextOffset - 1n;
  }

  /** Largest batch maxTimestamp in the segment, -1n when empty. */
  get maxTimestamp(): bigint {
    return this._maxTimestamp;
  }

  /**
   * What time retention ages the segment by (Kafka's LogSegment.largestTimestamp): maxTimestamp,
   * or the .log file's modification time when no batch carries a timestamp.
   */
  largestTimestamp(): bigint {
    if (this._maxTimestamp >= 0n) return this._maxTimestamp;
    this.checkOpen();
    return BigInt(Math.floor(this.file.use((fd) => io(() => fs.fstatSync(fd).mtimeMs, 'stat', this.logPath))));
  }

  /** Base offset of the batch where maxTimestamp was first reached, -1n when empty. */
  get offsetOfMaxTimestamp(): bigint {
    return this._offsetOfMaxTimestamp;
  }

  /** maxTimestamp of the first batch (segment.ms counts from it), -1n when empty. */
  get firstBatchTimestamp(): bigint {
    return this._firstBatchTimestamp;
  }

  /** Whether the segment was closed for appends (a newer segment follows it). */
  get sealed(): boolean {
    return this._sealed;
  }

  /**
   * The aborted transactions whose ABORT markers are in this segment (Kafka's .txnindex): empty,
   * and without a file, for most segments.
   */
  get txnIndex(): TransactionIndex {
    return this._txnIndex;
  }

  get offsetIndexBytes(): number {
    return this.offsetIndex.sizeInBytes;
  }

  get timeIndexBytes(): number {
    return this.timeIndex.sizeInBytes;
  }

  /**
   * Appends already validated and stamped batches, written with one write at the end of the
   * file. `firstOffset` is the first batch's (stamped) baseOffset; `maxTimestampOverride` is the
   * append time for LogAppendTime topics. On any failure (ENOSPC midway through the log write or
   * an index write) the .log and both index files are cut back to what they held before, entry
   * for entry, so a failed append leaves nothing behind and the next one starts where this one
   * did. Should the cut-back itself fail, the segment takes no more appends (`writeBlocked`).
   *
   *   .log     |…batch|new batch (part wri…   → ftruncate to the old size
   *   .index   |…entry|new en…                → the old entry count, in memory and on disk
   */
  append(
    buf: Buffer,
    batches: ReadonlyArray<AppendedBatch>,
    firstOffset: bigint,
    maxTimestampOverride?: bigint,
  ): void {
    this.checkWritable();
    // Opening the file (after eviction) may fail (EMFILE): then nothing was written, nothing to undo.
    this.file.use((fd) => this.appendTo(fd, buf, batches, firstOffset, maxTimestampOverride));
  }

  private appendTo(fd: number, buf: Buffer, batches: ReadonlyArray<AppendedBatch>, firstOffset: bigint, maxTimestampOverride: bigint | undefined): void {
    const start = this._size;
    const saved = [this._maxTimestamp, this._offsetOfMaxTimestamp, this._firstBatchTimestamp, this.bytesSinceLastIndexEntry] as const;
    const offsetEntries = this.offsetIndex.entries;
    const timeEntries = this.timeIndex.entries;
    try {
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, start + done);
      let pos = start;
      let offset = firstOffset;
      for (const b of batches) {
        if (b.baseOffset !== undefined) offset = b.baseOffset;
        this.track(pos, b.size, offset, maxTimestampOverride ?? b.maxTimestamp);
        pos += b.size;
        offset += BigInt(b.lastOffsetDelta) + 1n;
      }
      this._size = start + buf.length;
      this._nextOffset = offset;
    } catch (e) {
      try {
        fs.ftruncateSync(fd, start);
        // Entries this append added (the time index may have gained one naming an earlier batch,
        // whose max timestamp it recorded), then any partial entry a failed index write left.
        if (this.offsetIndex.entries > offsetEntries) this.offsetIndex.truncateToPosition(this.offsetIndex.entry(offsetEntries).position);
        if (this.timeIndex.entries > timeEntries) this.timeIndex.truncateToOffset(this.timeIndex.entry(timeEntries).relativeOffset);
        fs.truncateSync(segmentPath(this.dir, this.baseOffset, '.index', this.fileSuffix), this.offsetIndex.sizeInBytes);
        fs.truncateSync(segmentPath(this.dir, this.baseOffset, '.timeindex', this.fileSuffix), this.timeIndex.sizeInBytes);
      } catch (cleanup) {
        this.undoFailed = (cleanup as Error).message;
        this.logger(`could not undo a failed append to ${this.logPath}: ${(cleanup as Error).message}; the segment takes no more appends until the broker restarts`);
      }
      [this._maxTimestamp, this._offsetOfMaxTimestamp, this._firstBatchTimestamp, this.bytesSinceLastIndexEntry] = saved;
      if (e instanceof StrataError) throw e;
      throw new StrataError('STORAGE_IO', `append to ${this.logPath}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Why this segment refuses appends after a failed append it could not undo, or null. */
  get writeBlocked(): string | null {
    return this.undoFailed;
  }

  /**
   * Per-batch bookkeeping shared by append and recovery, so a rebuilt index is exactly the index
   * the appends wrote: an offset-index entry (and a time-index entry if the largest timestamp
   * grew) once more than index.interval.bytes were appended since the last entry.
   */
  private track(position: number, size: number, baseOffset: bigint, maxTimestamp: bigint): void {
    if (position === 0) this._firstBatchTimestamp = maxTimestamp;
    if (maxTimestamp > this._maxTimestamp) {
      this._maxTimestamp = maxTimestamp;
      this._offsetOfMaxTimestamp = baseOffset;
    }
    if (this.bytesSinceLastIndexEntry > this.indexIntervalBytes) {
      this.offsetIndex.append(Number(baseOffset - this.baseOffset), position);
      this.timeIndex.maybeAppend(this._maxTimestamp, Number(this._offsetOfMaxTimestamp - this.baseOffset));
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += size;
  }

  /**
   * Recovery as a loop over frames: walks every batch from the start with CRC checks, rebuilding
   * both indexes, and cuts the file at the first batch that is torn, corrupt, or whose offsets
   * do not increase. Everything after a bad frame is unreachable anyway (batches are found by
   * walking from the previous one), so it is dropped, and logged.
   */
  private recover(reason: string): void {
    this.logger(`recovering ${this.logPath}: ${reason}`);
    this.offsetIndex.beginRebuild();
    this.timeIndex.beginRebuild();
    this._maxTimestamp = -1n;
    this._offsetOfMaxTimestamp = -1n;
    this._firstBatchTimestamp = -1n;
    this.bytesSinceLastIndexEntry = 0;
    const s = new BatchScanner(this.file, this.logPath, this._size, 0, { verifyCrc: true });
    let expect = this.baseOffset;
    let bad: string | null = null;
    let validEnd = 0;
    while (s.next()) {
      if (s.baseOffset < expect || s.lastOffset - this.baseOffset > BigInt(INT32_MAX)) {
        bad = `batch at ${s.position} has offsets ${s.baseOffset}..${s.lastOffset}, expected ${expect} or later`;
        break;
      }
      this.track(s.position, s.size, s.baseOffset, s.maxTimestamp);
      expect = s.lastOffset + 1n;
      validEnd = s.end;
    }
    if (bad === null && s.stop !== 'end') bad = s.detail;
    if (validEnd < this._size) {
      this.logger(`truncating ${this.logPath} from ${this._size} to ${validEnd} bytes: ${bad}`);
      this.file.use((fd) => io(() => fs.ftruncateSync(fd, validEnd), 'truncate', this.logPath));
      this._size = validEnd;
    }
    this._nextOffset = expect;
    this.offsetIndex.finishRebuild();
    this.timeIndex.finishRebuild();
  }

  /**
   * Trusts the loaded indexes and walks only the batches after the last offset-index entry (the
   * part of the segment the indexes say nothing about) to learn nextOffset and the largest
   * timestamp. Returns a problem (the caller then recovers in full) or null.
   */
  private loadFromIndexes(verifyCrc: boolean): string | null {
    const last = this.offsetIndex.lastEntry();
    const lastTime = this.timeIndex.lastEntry();
    this._maxTimestamp = lastTime ? lastTime.timestamp : -1n;
    this._offsetOfMaxTimestamp = lastTime ? this.baseOffset + BigInt(lastTime.relativeOffset) : -1n;
    this.bytesSinceLastIndexEntry = 0;
    let expect = last ? this.baseOffset + BigInt(last.relativeOffset) : this.baseOffset;
    const s = new BatchScanner(this.file, this.logPath, this._size, last ? last.position : 0, { verifyCrc });
    // The first offset-index entry always comes with a time-index entry.
    if (last !== null && lastTime === null) return 'time index is empty but the offset index is not';
    let first = true;
    while (s.next()) {
      if (first && last && s.baseOffset !== expect) return `last offset index entry does not point at batch ${expect}`;
      // The append rule (see track) would have indexed this batch: entries were lost.
      if (!first && this.bytesSinceLastIndexEntry > this.indexIntervalBytes) return `offset index is missing entries after ${expect}`;
      first = false;
      if (s.baseOffset < expect || s.lastOffset - this.baseOffset > BigInt(INT32_MAX)) {
        return `batch at ${s.position} has offsets ${s.baseOffset}..${s.lastOffset}, expected ${expect} or later`;
      }
      if (s.maxTimestamp > this._maxTimestamp) {
        this._maxTimestamp = s.maxTimestamp;
        this._offsetOfMaxTimestamp = s.baseOffset;
      }
      this.bytesSinceLastIndexEntry += s.size;
      expect = s.lastOffset + 1n;
    }
    if (s.stop !== 'end') return s.detail;
    if (lastTime && this.baseOffset + BigInt(lastTime.relativeOffset) >= expect) {
      return `time index points at offset ${this.baseOffset + BigInt(lastTime.relativeOffset)}, past the log`;
    }
    this._nextOffset = expect;
    this._firstBatchTimestamp = -1n;
    if (this._size > 0) {
      const head = new BatchScanner(this.file, this.logPath, this._size, 0, { chunkSize: RECORD_BATCH_HEADER_SIZE });
      if (head.next()) this._firstBatchTimestamp = head.maxTimestamp;
    }
    return null;
  }

  /**
   * Closes the segment for appends: records the final largest timestamp in the time index (so
   * lookups of the newest timestamps go straight to it) and marks it sealed.
   */
  seal(): void {
    if (this._size > 0 && this._maxTimestamp >= 0n) {
      this.timeIndex.maybeAppend(this._maxTimestamp, Number(this._offsetOfMaxTimestamp - this.baseOffset));
    }
    this._sealed = true;
  }

  /**
   * The batch holding `offset`, or else the first batch after it (offsets may have gaps);
   * null when the segment has no batch with lastOffset >= offset.
   */
  findBatch(offset: bigint): BatchLocation | null {
    this.checkOpen();
    if (offset >= this._nextOffset) return null;
    const rel = offset <= this.baseOffset ? 0 : Number(offset - this.baseOffset);
    return this.scanFrom(this.offsetIndex.lookup(rel), (s) => s.lastOffset >= offset);
  }

  /** A scanner over the batch headers from `position` (a batch boundary) to the end of the segment. */
  scanner(position: number): BatchScanner {
    this.checkOpen();
    return new BatchScanner(this.file, this.logPath, this._size, position);
  }

  private scanFrom(position: number, match: (s: BatchScanner) => boolean): BatchLocation | null {
    const s = new BatchScanner(this.file, this.logPath, this._size, position, { chunkSize: LOOKUP_CHUNK });
    while (s.next()) {
      if (match(s)) {
        return {
          position: s.position,
          size: s.size,
          baseOffset: s.baseOffset,
          lastOffset: s.lastOffset,
          maxTimestamp: s.maxTimestamp,
          attributes: s.attributes,
        };
      }
    }
    if (s.stop !== 'end') throw new StrataError('STORAGE_IO', `segment ${this.logPath} is damaged: ${s.detail}`);
    return null;
  }

  /**
   * Locates whole batches starting at `position` (a batch boundary) without reading them: as
   * many as fit in maxBytes, stopping before the first batch whose lastOffset >= maxOffset. With
   * minOneBatch, a first batch larger than maxBytes is taken whole. Costs a lookup in the offset
   * index and a header scan of about two index intervals (plus one to find maxOffset when it
   * lies inside this segment), whatever maxBytes is: a 55 MiB fetch reads no record bytes here.
   */
  locate(position: number, maxBytes: number, maxOffset: bigint, minOneBatch: boolean): SegmentSpan {
    this.checkOpen();
    const none = (stop: SegmentSpan['stop']): SegmentSpan => ({ position, length: 0, firstOffset: -1n, nextOffset: -1n, stop });
    if (position >= this._size) return none('end');
    // Where the first batch reaching maxOffset starts: nothing from there on qualifies.
    let limitPos = this._size;
    if (maxOffset < this._nextOffset) limitPos = this.findBatch(maxOffset)?.position ?? this._size;
    if (limitPos <= position) return none('limit');
    const bound = Math.min(limitPos, position + Math.max(0, maxBytes));
    const from = Math.max(position, this.offsetIndex.scanStartBefore(bound));
    const s = new BatchScanner(this.file, this.logPath, this._size, from, { chunkSize: LOOKUP_CHUNK });
    let end = position;
    let firstOffset = -1n;
    let nextOffset = -1n;
    let first: { size: number; lastOffset: bigint } | null = null;
    while (s.next()) {
      if (s.position === position) {
        firstOffset = s.baseOffset;
        first = { size: s.size, lastOffset: s.lastOffset };
      }
      if (s.end > bound) break;
      end = s.end;
      nextOffset = s.lastOffset + 1n;
    }
    if (s.stop !== null && s.stop !== 'end') throw new StrataError('STORAGE_IO', `segment ${this.logPath} is damaged: ${s.detail}`);
    if (end === position) {
      // Not even the first batch fits (it starts the scan: no index entry lies inside a batch).
      if (minOneBatch && first !== null && first.lastOffset < maxOffset) {
        return { position, length: first.size, firstOffset, nextOffset: first.lastOffset + 1n, stop: 'budget' };
      }
      return none('budget');
    }
    if (firstOffset < 0n) firstOffset = this.batchAt(position).baseOffset;
    const stop = end === this._size ? 'end' : end === limitPos ? 'limit' : 'budget';
    return { position, length: end - position, firstOffset, nextOffset, stop };
  }

  /**
   * Reads whole batches starting at `position` (see locate): memory is bounded by maxBytes, or
   * by one batch.
   */
  readFrom(position: number, maxBytes: number, maxOffset: bigint, minOneBatch: boolean): SegmentRead {
    const span = this.locate(position, maxBytes, maxOffset, minOneBatch);
    const bytes = span.length === 0 ? null : this.read(span.position, span.length);
    return { bytes, firstOffset: span.firstOffset, nextOffset: span.nextOffset, stop: span.stop };
  }

  /**
   * `length` bytes at `position` as a region of a response: the descriptor stays open (pinned)
   * until the region is released, even if the segment is closed or deleted meanwhile.
   */
  region(position: number, length: number): FileRegion {
    this.checkOpen();
    return this.file.region(position, length);
  }

  /** The header of the batch at `position` (a batch boundary). */
  private batchAt(position: number): BatchScanner {
    const s = new BatchScanner(this.file, this.logPath, this._size, position, { chunkSize: RECORD_BATCH_HEADER_SIZE });
    if (!s.next()) throw new StrataError('STORAGE_IO', `segment ${this.logPath} is damaged: no batch at ${position} (${s.detail || 'end of file'})`);
    return s;
  }

  /** Reads `length` bytes at `position` (both within the segment). */
  read(position: number, length: number): Buffer {
    this.checkOpen();
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = this.file.use((fd) => io(() => fs.readSync(fd, buf, done, length - done, position + done), 'read', this.logPath));
      if (n === 0) throw new StrataError('STORAGE_IO', `read ${this.logPath}: unexpected end of file at ${position + done}`);
      done += n;
    }
    return buf;
  }

  /**
   * The first record at or after `startingOffset` whose timestamp is >= `timestamp`, or null if
   * no batch here has maxTimestamp >= timestamp. The time index gives a batch before which every
   * batch is older than the target; a header scan from there finds the first batch whose
   * maxTimestamp reaches it. Inside that batch: for uncompressed CreateTime batches the records
   * are decoded to find the exact record; for LogAppendTime batches every record carries the
   * batch's timestamp, so its first record is the answer; for compressed batches the batch's first
   * offset and maxTimestamp are returned (a consumer starting there skips the earlier records of
   * the batch itself, so nothing is lost).
   */
  findByTimestamp(timestamp: bigint, startingOffset: bigint): { offset: bigint; timestamp: bigint } | null {
    this.checkOpen();
    if (this._maxTimestamp < timestamp || startingOffset >= this._nextOffset) return null;
    const fromTime = this.timeIndex.lookup(timestamp);
    const fromStart = startingOffset <= this.baseOffset ? 0 : Number(startingOffset - this.baseOffset);
    const rel = Math.max(fromTime, fromStart);
    const loc = this.scanFrom(this.offsetIndex.lookup(rel), (s) => s.lastOffset >= startingOffset && s.maxTimestamp >= timestamp);
    if (loc === null) return null;
    const first = loc.baseOffset > startingOffset ? loc.baseOffset : startingOffset;
    const compressed = (loc.attributes & COMPRESSION_MASK) !== 0;
    const logAppendTime = (loc.attributes & TIMESTAMP_TYPE_MASK) !== 0;
    if (!compressed && !logAppendTime) {
      const batch = decodeRecordBatch(this.read(loc.position, loc.size), { verifyCrc: false });
      for (const r of batch.records) {
        if (r.offset >= startingOffset && r.timestamp >= timestamp) return { offset: r.offset, timestamp: r.timestamp };
      }
    }
    return { offset: first, timestamp: loc.maxTimestamp };
  }

  /**
   * Removes every batch whose lastOffset >= offset; returns the new nextOffset, one past the last
   * batch kept (so it is what recovery would compute after a restart). A batch is never split:
   * if `offset` falls inside one, the whole batch goes.
   *
   *   before          |b 10-14|b 15-19|b 20-24|
   *   truncateTo(17)  |b 10-14|                 nextOffset 15
   *   truncateTo(20)  |b 10-14|b 15-19|         nextOffset 20
   */
  truncateTo(offset: bigint): bigint {
    this.checkOpen();
    const loc = this.findBatch(offset);
    if (loc === null) return this._nextOffset;
    this.file.use((fd) => io(() => fs.ftruncateSync(fd, loc.position), 'truncate', this.logPath));
    this._size = loc.position;
    this.offsetIndex.truncateToPosition(loc.position);
    this.timeIndex.truncateToOffset(Number(loc.baseOffset - this.baseOffset));
    this._txnIndex.truncateTo(loc.baseOffset);
    const problem = this.loadFromIndexes(false);
    if (problem !== null) this.recover(`after truncation: ${problem}`);
    return this._nextOffset;
  }

  /** Makes a sealed segment writable again: the segments after it were truncated away. */
  unseal(): void {
    this._sealed = false;
  }

  /** fsyncs the log and both indexes. */
  flush(): void {
    this.checkOpen();
    this.file.use((fd) => io(() => fs.fsyncSync(fd), 'fsync', this.logPath));
    this.offsetIndex.sync();
    this.timeIndex.sync();
    this._txnIndex.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A descriptor pinned by a response still being sent closes when that response is done.
    this.file.dispose();
    this.offsetIndex.close();
    this.timeIndex.close();
    this._txnIndex.close();
  }

  /** Closes the segment and removes its three files. */
  deleteFiles(): void {
    this.close();
    for (const ext of SEGMENT_FILE_EXTS) {
      const file = segmentPath(this.dir, this.baseOffset, ext, this.fileSuffix);
      io(() => fs.rmSync(file, { force: true }), 'delete', file);
    }
    this._txnIndex.deleteFile();
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', `segment ${this.logPath} is closed`);
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this._sealed) throw new StrataError('STORAGE_IO', `segment ${this.logPath} is sealed`);
    if (this.undoFailed !== null) {
      throw new StrataError('STORAGE_IO', `segment ${this.logPath} takes no appends: a failed append could not be undone (${this.undoFailed})`);
    }
  }
}
