import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import {
  KeptRecords,
  StoredBatch,
  batchCrcOk,
  emptyBatch,
  filteredBatch,
  readStoredBatch,
  recordsSection,
  walkRecords,
} from './batchFilter';
import type { PlannedSegment } from './cleaningPlan';
import { OffsetMap } from './offsetMap';
import {
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  MIN_BATCH_LENGTH,
  RECORDS_COUNT_OFFSET,
} from './recordBatch';
import { AppendedBatch, Segment } from './segment';
import { removeCleanedFiles } from './segmentSwap';

/**
 * One cleaning round over files (Kafka's Cleaner.doClean), written to run in the cleaner's
 * worker thread: it only reads closed segment files and writes `.cleaned` files; every change to
 * the live log is the `swap` callback, which the worker forwards to the main thread.
 *
 * 1. Offset map: for every keyed record of the dirty section [firstDirty, firstUncleanable), key →
 *    latest offset, in a map of bounded size. When the map fills up, the round stops there: the
 *    map's last offset + 1 is where the next round's dirty section starts.
 * 2. Groups: the segments below that end, in runs whose sizes (log, offset index, time index) fit
 *    one segment (segment.bytes, segment.index.bytes) and whose offsets fit int32 deltas.
 * 3. Each group is copied into one `.cleaned` segment at the group's first base offset, keeping a
 *    record when it is past the map's range, or when it has a key and is the latest record for it
 *    — a tombstone only until its batch's delete horizon. Keyless records are dropped (Kafka's
 *    cleaner counts them as invalid). Batches that no record survives are dropped, except the one
 *    ending the round (kept empty, so its last offset survives); control batches, and batches
 *    whose codec is not available (snappy, lz4, zstd), are kept whole. Then `swap` replaces the
 *    group's segments, and the next group follows.
 *
 * Every batch read is checked against its CRC first: a corrupt batch fails the round
 * (BATCH_CORRUPT) rather than be re-encoded with a valid CRC.
 */

export interface CleanRoundInput {
  dir: string;
  /** Closed segments below firstUncleanableOffset, oldest first (CleaningPlan.segments). */
  segments: PlannedSegment[];
  firstDirtyOffset: bigint;
  firstUncleanableOffset: bigint;
  /** "Now" for delete horizons: set to now + deleteRetentionMs, and compared with it. */
  nowMs: number;
  deleteRetentionMs: number;
  /** segment.bytes and segment.index.bytes: a group's inputs fit these. */
  segmentBytes: number;
  maxIndexBytes: number;
  /** index.interval.bytes of the cleaned segments (the log's, so its open check agrees). */
  indexIntervalBytes: number;
  /** Slots of the offset map at most (memory = 24 bytes a slot). */
  maxMapSlots: number;
  /** Share of the slots the map fills before the round stops (Kafka: 0.9). */
  mapLoadFactor: number;
  /** Largest decompressed gzip records section handled; bigger batches are kept whole. */
  maxDecompressedBytes: number;
}

export interface CleanGroup {
  /** Segment ids (SegmentInfo.id) replaced, oldest first. */
  ids: number[];
  baseOffsets: bigint[];
  /** Base offset of the `.cleaned` segment: the first replaced segment's. */
  baseOffset: bigint;
}

export interface CleanerStats {
  /** Bytes of the segments copied, and of what was written for them. */
  bytesRead: number;
  bytesWritten: number;
  recordsRead: number;
  recordsKept: number;
  /** Records dropped because a later record has the same key. */
  recordsSuperseded: number;
  tombstonesRemoved: number;
  keylessRemoved: number;
  /** Batches copied whole because their records could not be read (codec not available, too large). */
  batchesKeptWhole: number;
  /** Bytes and records read to build the offset map, and its fill. */
  mapBytesRead: number;
  mapRecords: number;
  mapEntries: number;
  mapSlots: number;
  /** Segments read and groups written; groups whose output equals their input are not swapped. */
  segmentsCleaned: number;
  groups: number;
  groupsUnchanged: number;
}

export interface CleanRoundResult {
  /** Where the next round's dirty section starts (the new checkpoint). */
  endOffset: bigint;
  /** Earliest delete horizon of a tombstone kept in the cleaned segments, -1 when none. */
  deleteHorizonMs: number;
  /** A swap was refused (the log changed): the round stopped there and moves no checkpoint. */
  aborted: boolean;
  groupsSwapped: number;
  stats: CleanerStats;
}

export function emptyStats(): CleanerStats {
  return {
    bytesRead: 0,
    bytesWritten: 0,
    recordsRead: 0,
    recordsKept: 0,
    recordsSuperseded: 0,
    tombstonesRemoved: 0,
    keylessRemoved: 0,
    batchesKeptWhole: 0,
    mapBytesRead: 0,
    mapRecords: 0,
    mapEntries: 0,
    mapSlots: 0,
    segmentsCleaned: 0,
    groups: 0,
    groupsUnchanged: 0,
  };
}

const READ_CHUNK_BYTES = 1 << 20;
const WRITE_CHUNK_BYTES = 1 << 20;
const INT32_MAX = 0x7fffffffn;

export async function runCleanRound(input: CleanRoundInput, swap: (g: CleanGroup) => Promise<boolean>): Promise<CleanRoundResult> {
  const stats = emptyStats();
  const { map, endOffset } = buildOffsetMap(input, stats);
  const groups = groupSegments(
    input.segments.filter((s) => s.baseOffset < endOffset),
    input.segmentBytes,
    input.maxIndexBytes,
  );
  let horizon = Infinity;
  let swapped = 0;
  for (const group of groups) {
    const out = cleanGroup(input, group, map, endOffset, stats);
    if (out.deleteHorizonMs < horizon) horizon = out.deleteHorizonMs;
    if (!out.changed) continue;
    const g: CleanGroup = { ids: group.map((s) => s.id), baseOffsets: group.map((s) => s.baseOffset), baseOffset: group[0].baseOffset };
    if (!(await swap(g))) {
      removeCleanedFiles(input.dir, g.baseOffset);
      return { endOffset, deleteHorizonMs: horizon === Infinity ? -1 : horizon, aborted: true, groupsSwapped: swapped, stats };
    }
    swapped++;
  }
  return { endOffset, deleteHorizonMs: horizon === Infinity ? -1 : horizon, aborted: false, groupsSwapped: swapped, stats };
}

/**
 * Step 1: the offset map of the dirty section, sized from a header pass that counts its records
 * (so a small dirty section takes a small map), and the round's end offset.
 */
export function buildOffsetMap(input: CleanRoundInput, stats: CleanerStats): { map: OffsetMap; endOffset: bigint } {
  const firstDirty = input.firstDirtyOffset;
  const dirty = input.segments.filter((s) => s.end > firstDirty && s.baseOffset < input.firstUncleanableOffset);
  const first = input.segments[0]?.baseOffset ?? firstDirty;
  if (input.firstUncleanableOffset - first >= BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StrataError('STORAGE_IO', `cannot clean ${input.dir}: its offsets span more than 2^53`);
  }
  let records = 0;
  for (const s of dirty) {
    forEachBatch(s.path, s.size, (b) => {
      if (lastOffsetOf(b) >= firstDirty) records += b.readInt32BE(RECORDS_COUNT_OFFSET);
    });
  }
  const wanted = Math.ceil(records / input.mapLoadFactor) + 1;
  const slots = Math.max(16, Math.min(input.maxMapSlots, wanted));
  const map = new OffsetMap(slots, firstDirty);
  const capacity = Math.max(1, Math.floor(slots * input.mapLoadFactor));
  stats.mapSlots = slots;

  let full = false;
  for (const s of dirty) {
    forEachBatch(s.path, s.size, (b) => {
      const info = readStoredBatch(b);
      if (info.lastOffset < firstDirty) return;
      if (!batchCrcOk(b)) throw corruptBatch(s, info);
      stats.mapBytesRead += b.length;
      const batchRel = Number(info.baseOffset - firstDirty);
      const section = info.isControl ? null : recordsSection(b, info, input.maxDecompressedBytes);
      if (section !== null) {
        const complete = walkRecords(section, info.recordCount, (r) => {
          const rel = batchRel + r.offsetDelta;
          if (rel < 0 || r.keyLength < 0) return true;
          if (map.size >= capacity) return false;
          map.put(section.subarray(r.keyStart, r.keyStart + r.keyLength), rel);
          stats.mapRecords++;
          return true;
        });
        if (!complete) {
          full = true;
          return false;
        }
      }
      map.updateLatest(Number(info.lastOffset - firstDirty));
    });
    if (full) break;
    // Offsets between this segment's last batch and the next segment (gaps left by earlier
    // cleaning) belong to nobody: the round covers them.
    map.updateLatest(Number(s.end - 1n - firstDirty));
  }
  stats.mapEntries = map.size;
  const endOffset = map.latestOffset >= 0 ? firstDirty + BigInt(map.latestOffset) + 1n : firstDirty;
  return { map, endOffset };
}

/**
 * Step 2 (Kafka's groupSegmentsBySize): consecutive segments whose log and index sizes fit one
 * segment and whose offsets fit one segment's int32 relative offsets.
 */
export function groupSegments(segments: readonly PlannedSegment[], segmentBytes: number, maxIndexBytes: number): PlannedSegment[][] {
  const groups: PlannedSegment[][] = [];
  let i = 0;
  while (i < segments.length) {
    const group = [segments[i]];
    let logBytes = segments[i].size;
    let indexBytes = segments[i].offsetIndexBytes;
    let timeIndexBytes = segments[i].timeIndexBytes;
    i++;
    while (i < segments.length) {
      const next = segments[i];
      const fits =
        logBytes + next.size <= segmentBytes &&
        indexBytes + next.offsetIndexBytes <= maxIndexBytes &&
        timeIndexBytes + next.timeIndexBytes <= maxIndexBytes &&
        (next.size === 0 || next.end - 1n - group[0].baseOffset <= INT32_MAX);
      if (!fits) break;
      group.push(next);
      logBytes += next.size;
      indexBytes += next.offsetIndexBytes;
      timeIndexBytes += next.timeIndexBytes;
      i++;
    }
    groups.push(group);
  }
  return groups;
}

/**
 * Step 3 for one group: writes `<base>.*.cleaned` (sealed, fsynced, closed). `changed` is false
 * when the output would equal the input (one segment, every batch copied as it was): the
 * `.cleaned` files are then removed and no swap is needed.
 */
export function cleanGroup(
  input: CleanRoundInput,
  group: readonly PlannedSegment[],
  map: OffsetMap,
  endOffset: bigint,
  stats: CleanerStats,
): { changed: boolean; deleteHorizonMs: number } {
  const base = group[0].baseOffset;
  removeCleanedFiles(input.dir, base);
  const seg = Segment.create(input.dir, base, {
    indexIntervalBytes: input.indexIntervalBytes,
    logger: () => undefined,
    nowMs: input.nowMs,
    fileSuffix: '.cleaned',
  });
  const out = new BatchWriter(seg);
  const latestRel = Number(endOffset - 1n - map.baseOffset);
  const now = BigInt(input.nowMs);
  const newHorizon = BigInt(input.nowMs + input.deleteRetentionMs);
  const kept = new KeptRecords();
  let changed = group.length > 1;
  let horizon = Infinity;
  try {
    for (const s of group) {
      stats.segmentsCleaned++;
      forEachBatch(s.path, s.size, (b) => {
        const info = readStoredBatch(b);
        if (!batchCrcOk(b)) throw corruptBatch(s, info);
        stats.bytesRead += b.length;
        stats.recordsRead += info.recordCount;
        const section = info.isControl ? null : recordsSection(b, info, input.maxDecompressedBytes);
        if (section === null) {
          // Control batches are kept (transactions are not cleaned here yet); unreadable ones
          // are kept whole rather than lose data.
          if (!info.isControl) stats.batchesKeptWhole++;
          stats.recordsKept += info.recordCount;
          out.write(b, info);
          return;
        }
        const batchRel = Number(info.baseOffset - map.baseOffset);
        const horizonPassed = info.deleteHorizonMs !== null && now >= info.deleteHorizonMs;
        let tombstonesKept = 0;
        kept.reset();
        walkRecords(section, info.recordCount, (r) => {
          const rel = batchRel + r.offsetDelta;
          if (rel <= latestRel) {
            if (r.keyLength < 0) {
              stats.keylessRemoved++;
              return;
            }
            if (rel < map.get(section.subarray(r.keyStart, r.keyStart + r.keyLength))) {
              stats.recordsSuperseded++;
              return;
            }
            if (r.valueLength < 0 && horizonPassed) {
              stats.tombstonesRemoved++;
              return;
            }
          }
          if (r.valueLength < 0) tombstonesKept++;
          kept.add(r);
        });
        stats.recordsKept += kept.count;
        const needsHorizon = tombstonesKept > 0 && info.deleteHorizonMs === null;
        if (tombstonesKept > 0) {
          const h = needsHorizon ? Number(newHorizon) : Number(info.deleteHorizonMs);
          if (h < horizon) horizon = h;
        }
        if (kept.count === info.recordCount && !needsHorizon) {
          out.write(b, info);
          return;
        }
        changed = true;
        if (kept.count > 0) out.write(filteredBatch(b, info, section, kept, needsHorizon ? newHorizon : null), info);
        else if (info.lastOffset + 1n === input.firstUncleanableOffset) out.write(emptyBatch(b, info), info);
      });
    }
    out.flush();
    stats.bytesWritten += seg.size;
    seg.seal();
    seg.flush();
  } catch (e) {
    seg.close();
    removeCleanedFiles(input.dir, base);
    throw e;
  }
  seg.close();
  stats.groups++;
  if (!changed) {
    stats.groupsUnchanged++;
    removeCleanedFiles(input.dir, base);
  }
  return { changed, deleteHorizonMs: horizon };
}

/** Collects output batches and appends them to the segment about a megabyte at a time. */
class BatchWriter {
  private readonly buf = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  private used = 0;
  private readonly batches: AppendedBatch[] = [];

  constructor(private readonly seg: Segment) {}

  /** `info` is the source batch's header: the output keeps its offsets. */
  write(batch: Buffer, info: StoredBatch): void {
    if (this.used + batch.length > this.buf.length) this.flush();
    const desc: AppendedBatch = {
      size: batch.length,
      lastOffsetDelta: batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET),
      maxTimestamp: batch.readBigInt64BE(MAX_TIMESTAMP_OFFSET),
      baseOffset: info.baseOffset,
    };
    if (batch.length > this.buf.length) {
      this.seg.append(batch, [desc], info.baseOffset);
      return;
    }
    batch.copy(this.buf, this.used);
    this.used += batch.length;
    this.batches.push(desc);
  }

  flush(): void {
    if (this.batches.length === 0) return;
    this.seg.append(this.buf.subarray(0, this.used), this.batches, this.batches[0].baseOffset!);
    this.used = 0;
    this.batches.length = 0;
  }
}

/**
 * Calls `visit` with each whole batch of the first `size` bytes of a segment file, until it
 * returns false. Batches are views into a reused read buffer (one megabyte, or one batch when a
 * batch is larger): copy what must outlive the call.
 */
export function forEachBatch(file: string, size: number, visit: (batch: Buffer) => boolean | void): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const gone = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new StrataError(gone ? 'NOT_FOUND' : 'STORAGE_IO', `open ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, Math.max(size, 1)));
    let pos = 0;
    while (pos < size) {
      const want = Math.min(buf.length, size - pos);
      const n = readFully(fd, file, buf, want, pos);
      if (n < want) throw new StrataError('STORAGE_IO', `${file} is shorter than the ${size} bytes planned`);
      let p = 0;
      while (n - p >= LOG_OVERHEAD) {
        const length = buf.readInt32BE(p + BATCH_LENGTH_OFFSET);
        if (length < MIN_BATCH_LENGTH) throw new StrataError('BATCH_CORRUPT', `${file}: bad batch length ${length} at ${pos + p}`);
        const end = p + LOG_OVERHEAD + length;
        if (end > n) break;
        if (visit(buf.subarray(p, end)) === false) return;
        p = end;
      }
      if (p === 0) {
        // Either one batch larger than the buffer (read it on its own) or a torn end.
        const need = n < LOG_OVERHEAD ? Infinity : LOG_OVERHEAD + buf.readInt32BE(BATCH_LENGTH_OFFSET);
        if (pos + need > size) throw new StrataError('BATCH_CORRUPT', `${file}: batch at ${pos} runs past the segment end`);
        const big = Buffer.allocUnsafe(need);
        if (readFully(fd, file, big, need, pos) < need) throw new StrataError('STORAGE_IO', `${file} is shorter than the ${size} bytes planned`);
        if (visit(big) === false) return;
        pos += need;
        continue;
      }
      pos += p;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function readFully(fd: number, file: string, buf: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, done, length - done, position + done);
    } catch (e) {
      throw new StrataError('STORAGE_IO', `read ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

function lastOffsetOf(batch: Buffer): bigint {
  return batch.readBigInt64BE(BASE_OFFSET_OFFSET) + BigInt(batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET));
}

function corruptBatch(s: PlannedSegment, info: StoredBatch): StrataError {
  return new StrataError('BATCH_CORRUPT', `${s.path}: batch ${info.baseOffset}..${info.lastOffset} fails its CRC-32C check`);
}
