import { StrataError } from '../common/errors';
import {
  ATTRIBUTES_OFFSET,
  batchHeaderProblem,
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
  TIMESTAMP_TYPE_MASK,
} from '../log/recordBatch';
import { decodeRecordBatch } from '../log/recordDecoder';
import type { BatchLocation } from '../log/segment';
import { OFFSET_INDEX_ENTRY_SIZE } from '../log/offsetIndex';
import { TIME_INDEX_ENTRY_SIZE } from '../log/timeIndex';
import type { ReadCache } from './readCache';
import type { RemoteSegment } from './remoteLogMetadata';

/**
 * Reads whole batches out of one tiered segment, through the read cache, never decoding them
 * (except one batch for an exact timestamp lookup, as the local log does).
 *
 * Finding an offset works as it does on disk, only on objects: a binary search of the remote
 * .index (8-byte entries, relative offset → position of a batch start) gives a batch at or
 * before the target, then a walk over 61-byte batch headers finds the batch holding it. The
 * bytes returned are slices of cached chunks, cut at batch boundaries.
 */
export interface RemoteReadOptions {
  /** Return the first batch whole even if it is larger than maxBytes (KIP-74). */
  minOneBatch: boolean;
  /** Exclusive: no batch whose last offset reaches it is returned. */
  maxOffset?: bigint;
}

export interface RemoteRead {
  /** Whole batches, as slices of cached chunks; empty when nothing qualified. */
  records: Buffer[];
  bytes: number;
  /** baseOffset of the first batch returned (the fetch offset when none). */
  firstOffset: bigint;
  /** One past the last offset returned (the fetch offset when none). */
  nextOffset: bigint;
  /** 'end': the segment has nothing more; 'budget': maxBytes reached; 'limit': maxOffset reached. */
  stop: 'end' | 'budget' | 'limit';
  /** Byte position in the segment just after what was returned (where the reader continues). */
  endPosition: number;
}

/** A batch located in a tiered segment: the same header fields a local segment reports. */
type Header = BatchLocation;

export class RemoteSegmentReader {
  constructor(private readonly cache: ReadCache) {}

  /**
   * Batches from the one holding `fetchOffset` (or the first after it), as many as fit in
   * maxBytes (at least one with minOneBatch), stopping before one that reaches maxOffset.
   */
  async read(seg: RemoteSegment, fetchOffset: bigint, maxBytes: number, opts: RemoteReadOptions): Promise<RemoteRead> {
    const maxOffset = opts.maxOffset ?? seg.lastOffset + 1n;
    const none = (stop: RemoteRead['stop'], endPosition: number): RemoteRead => ({ records: [], bytes: 0, firstOffset: fetchOffset, nextOffset: fetchOffset, stop, endPosition });
    if (fetchOffset > seg.lastOffset) return none('end', seg.sizeBytes);
    let pos = await this.findBatchPosition(seg, fetchOffset);
    if (pos < 0) return none('end', seg.sizeBytes);
    const start = pos;
    // Start loading every chunk this read may need at once (in parallel), rather than one
    // chunk at a time as the header walk below reaches it; the walk then waits on those loads.
    const span = Math.min(Math.max(maxBytes, RECORD_BATCH_HEADER_SIZE), seg.sizeBytes - start);
    this.cache.read(seg.keys.log, seg.sizeBytes, start, span, { readAhead: true }).catch(() => undefined);
    let firstOffset = -1n;
    let nextOffset = fetchOffset;
    let stop: RemoteRead['stop'] = 'end';
    while (pos < seg.sizeBytes) {
      const h = await this.header(seg, pos);
      if (h.lastOffset >= maxOffset) {
        stop = 'limit';
        break;
      }
      const taken = pos - start;
      if (taken + h.size > maxBytes && !(taken === 0 && opts.minOneBatch)) {
        stop = 'budget';
        break;
      }
      if (taken === 0) firstOffset = h.baseOffset;
      nextOffset = h.lastOffset + 1n;
      pos += h.size;
      if (taken + h.size >= maxBytes) {
        if (pos < seg.sizeBytes) stop = 'budget';
        break;
      }
    }
    const bytes = pos - start;
    if (bytes === 0) return none(stop, start);
    const records = await this.cache.read(seg.keys.log, seg.sizeBytes, start, bytes);
    return { records, bytes, firstOffset, nextOffset, stop, endPosition: pos };
  }

  /**
   * Position of the batch holding `offset`, or of the first batch after it (offsets may have
   * gaps); -1 when no batch of the segment has lastOffset >= offset.
   */
  async findBatchPosition(seg: RemoteSegment, offset: bigint): Promise<number> {
    if (offset > seg.lastOffset) return -1;
    const rel = offset <= seg.baseOffset ? 0n : offset - seg.baseOffset;
    let pos = await this.indexLookup(seg, rel);
    while (pos < seg.sizeBytes) {
      const h = await this.header(seg, pos);
      if (h.lastOffset >= offset) return pos;
      pos += h.size;
    }
    return -1;
  }

  /**
   * The first record at or after `startingOffset` with timestamp >= `timestamp`, or null: the
   * time index narrows the scan, headers find the batch, and an uncompressed CreateTime batch is
   * decoded to find the exact record (a compressed one answers with its first offset, as the
   * local log does).
   */
  async findByTimestamp(seg: RemoteSegment, timestamp: bigint, startingOffset: bigint): Promise<{ offset: bigint; timestamp: bigint } | null> {
    if (seg.maxTimestamp < timestamp || startingOffset > seg.lastOffset) return null;
    const fromTime = await this.timeIndexLookup(seg, timestamp);
    const fromStart = startingOffset <= seg.baseOffset ? 0n : startingOffset - seg.baseOffset;
    let pos = await this.indexLookup(seg, fromTime > fromStart ? fromTime : fromStart);
    let found: Header | null = null;
    while (pos < seg.sizeBytes) {
      const h = await this.header(seg, pos);
      if (h.lastOffset >= startingOffset && h.maxTimestamp >= timestamp) {
        found = h;
        break;
      }
      pos += h.size;
    }
    if (found === null) return null;
    const first = found.baseOffset > startingOffset ? found.baseOffset : startingOffset;
    const compressed = (found.attributes & COMPRESSION_MASK) !== 0;
    const logAppendTime = (found.attributes & TIMESTAMP_TYPE_MASK) !== 0;
    if (!compressed && !logAppendTime) {
      const batch = decodeRecordBatch(await this.cache.readBytes(seg.keys.log, seg.sizeBytes, found.position, found.size), { verifyCrc: false });
      for (const r of batch.records) {
        if (r.offset >= startingOffset && r.timestamp >= timestamp) return { offset: r.offset, timestamp: r.timestamp };
      }
    }
    return { offset: first, timestamp: found.maxTimestamp };
  }

  /** Position of the last index entry with relative offset <= rel (0: the segment start). */
  private async indexLookup(seg: RemoteSegment, rel: bigint): Promise<number> {
    const n = Math.floor(seg.indexBytes / OFFSET_INDEX_ENTRY_SIZE);
    let lo = 0;
    let hi = n - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = await this.cache.readBytes(seg.keys.index, seg.indexBytes, mid * OFFSET_INDEX_ENTRY_SIZE, OFFSET_INDEX_ENTRY_SIZE);
      if (BigInt(e.readInt32BE(0)) <= rel) {
        found = e.readInt32BE(4);
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0 || found >= seg.sizeBytes) throw damaged(seg, `its index points at ${found}, outside the segment`);
    return found;
  }

  /** Relative offset of the last time-index entry with timestamp <= target, or 0n. */
  private async timeIndexLookup(seg: RemoteSegment, timestamp: bigint): Promise<bigint> {
    const n = Math.floor(seg.timeIndexBytes / TIME_INDEX_ENTRY_SIZE);
    let lo = 0;
    let hi = n - 1;
    let found = 0n;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = await this.cache.readBytes(seg.keys.timeIndex, seg.timeIndexBytes, mid * TIME_INDEX_ENTRY_SIZE, TIME_INDEX_ENTRY_SIZE);
      if (e.readBigInt64BE(0) <= timestamp) {
        found = BigInt(e.readInt32BE(8));
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private async header(seg: RemoteSegment, pos: number): Promise<Header> {
    if (seg.sizeBytes - pos < RECORD_BATCH_HEADER_SIZE) throw damaged(seg, `${seg.sizeBytes - pos} bytes at ${pos} are less than a batch header`);
    const b = await this.cache.readBytes(seg.keys.log, seg.sizeBytes, pos, RECORD_BATCH_HEADER_SIZE);
    const problem = batchHeaderProblem(b, 0, pos);
    if (problem !== null) throw damaged(seg, problem);
    const size = LOG_OVERHEAD + b.readInt32BE(BATCH_LENGTH_OFFSET);
    if (pos + size > seg.sizeBytes) throw damaged(seg, `batch at ${pos} runs past its end`);
    const baseOffset = b.readBigInt64BE(BASE_OFFSET_OFFSET);
    return {
      position: pos,
      size,
      baseOffset,
      lastOffset: baseOffset + BigInt(b.readInt32BE(LAST_OFFSET_DELTA_OFFSET)),
      maxTimestamp: b.readBigInt64BE(MAX_TIMESTAMP_OFFSET),
      attributes: b.readInt16BE(ATTRIBUTES_OFFSET),
    };
  }
}

function damaged(seg: RemoteSegment, why: string): StrataError {
  return new StrataError('STORAGE_IO', `remote segment ${seg.keys.log} is damaged: ${why}`);
}
