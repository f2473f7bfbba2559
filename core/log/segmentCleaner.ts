import * as fs from 'node:fs';
import * as path from 'node:path';
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
import { type ControlRecord, readControlRecord } from './controlRecords';
import { OffsetMap } from './offsetMap';
import type { AbortedTxn } from './producerState';
import {
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  MIN_BATCH_LENGTH,
  RECORDS_COUNT_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
} from './recordBatch';
import { AppendedBatch, Segment } from './segment';
import { txnIndexFileName } from './segmentFiles';
import { removeCleanedFiles } from './segmentSwap';
import { ABORTED_TXN_SIZE, TransactionIndex } from './txnIndex';

/**
 * One cleaning round over files (Kafka's Cleaner.doClean), written to run in the cleaner's
 * worker thread: it only reads closed segment files and writes `.cleaned` files; every change to
 * the live log is the `swap` callback, which the worker forwards to the main thread.
 *
 * 1. Offset map: for every keyed record of the dirty section [firstDirty, firstUncleanable) that
 *    is not part of an aborted transaction, key → latest offset, in a map of bounded size. When
 *    the map fills up, the round stops there: the map's last offset + 1 is where the next round's
 *    dirty section starts.
 * 2. Groups: the segments below that end, in runs whose sizes (log, offset index, time index) fit
 *    one segment (segment.bytes, segment.index.bytes) and whose offsets fit int32 deltas.
 * 3. Each group is copied into one `.cleaned` segment at the group's first base offset (with its
 *    `.txnindex.cleaned`, see below), batch by batch in offset order (Kafka's cleanInto:
 *    checkBatchRetention, then shouldRetainRecord):
 *
 *      batch                           its records                          when none stays
 *      data of an aborted transaction  all go, whatever the codec           the batch goes
 *      other data                      a record past the map's range; a     the batch goes
 *                                      keyed record latest for its key — a
 *                                      tombstone only until its horizon
 *      transaction marker (control)    stays until its transaction has no   the batch goes
 *                                      data left and its horizon passed
 *      unreadable: its codec's library kept whole (never lost, never shrunk)
 *      did not load, or it inflates
 *      past maxDecompressedBytes
 *
 *    A filtered batch is compressed again with its own codec (gzip, snappy, lz4 or zstd:
 *    codecs.ts), so compaction never changes the codec a producer chose.
 *
 *    except that two batches are never dropped, only emptied (header only, offsets, producer id,
 *    epoch and base sequence kept, Kafka's RETAIN_EMPTY): the last batch of each producer that
 *    still has state (its sequence and epoch survive, so producer state rebuilt from the log
 *    knows where the producer is), and the batch ending the round (its last offset survives).
 *    A marker among them is kept whole rather than emptied, so this cleaner never writes an
 *    empty control batch (it reads one like Kafka: a marker whose transaction has no data).
 *    Keyless records go (Kafka's cleaner counts them as invalid). Then `swap` replaces the
 *    group's segments, and the next group follows.
 *
 * Transactions (TxnWalk below): the round never reaches the first unstable offset (cleaningPlan.ts),
 * so every transactional batch it reads belongs to a completed transaction: an aborted one if the
 * aborted-transaction indexes say so (the main thread gathers them when the round starts), a
 * committed one otherwise. A marker keeps its transaction's outcome readable while data of it is
 * in the log; once a clean finds none, it gets a delete horizon (now + delete.retention.ms, as
 * tombstones, KIP-534) and goes with the first clean after that. The cleaned segment's
 * aborted-transaction index holds the entries of the ABORT markers it keeps whose data the
 * round still saw — exactly what a read_committed fetch needs, and what rebuilding the index
 * from the cleaned log would find.
 *
 * Every batch read is checked against its CRC first: a corrupt batch fails the round
 * (BATCH_CORRUPT) rather than be re-encoded with a valid CRC.
 */

/** A producer with state when the round starts, and its last batch (Kafka's LastRecord). */
export interface ProducerLastBatch {
  producerId: bigint;
  producerEpoch: number;
  /** Last offset of its last data batch; null when it has none (its last write was a marker). */
  lastDataOffset: bigint | null;
}

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
  /** Largest decompressed records section handled (any codec); bigger batches are kept whole. */
  maxDecompressedBytes: number;
  /**
   * The aborted transactions with data in the round's segments (whatever segment holds their
   * marker), as their index entries; an entry whose marker is outside the round's segments is
   * never written to a cleaned index, and its lastStableOffset is not used.
   */
  abortedTxns: AbortedTxn[];
  /** Every producer with state when the round started (Kafka's lastRecordsOfActiveProducers). */
  activeProducers: ProducerLastBatch[];
  /** The log's first unstable offset when the round started (null: none); the round stays below it. */
  firstUnstableOffset: bigint | null;
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
  /** Records of aborted transactions removed. */
  abortedRecordsRemoved: number;
  /** Transaction markers removed (their transaction had no data left and their horizon passed). */
  markersRemoved: number;
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
  /** Earliest delete horizon of a tombstone or removable marker kept in the cleaned segments, -1 when none. */
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
    abortedRecordsRemoved: 0,
    markersRemoved: 0,
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

const byOffset = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The transactions a walk over the log in offset order is inside of (Kafka's
 * CleanedTransactionMetadata): which data batches belong to aborted transactions, and whether a
 * marker's transaction had data in the walk. The offset map's pass has one, the cleaning pass
 * another that runs through every group of the round, so a transaction spanning groups is seen
 * whole.
 *
 *   offset  10   11   12   13   14     index: pid 7 aborted [10, 14]
 *           d7   d9   d7   C9   A7
 *           drop keep drop ↑    ↑
 *                          │    └ kept, and its index entry: data of pid 7's transaction was seen
 *                          └ kept: data of pid 9's transaction was seen
 *
 * In the next round the same walk sees no data before C9 and A7: both get a delete horizon,
 * A7's index entry is left out, and a round after the horizon removes them.
 */
export class TxnWalk {
  private readonly pending: AbortedTxn[];
  private next = 0;
  /** Per producer: the aborted transaction the walk is inside of, and whether data of it was seen. */
  private readonly aborted = new Map<bigint, { txn: AbortedTxn; seen: boolean }>();
  /** Producers whose (committed) transactional data was seen since their last marker. */
  private readonly committed = new Set<bigint>();
  /** Where the entries of the ABORT markers that stay go: the group's cleaned index. */
  index: TransactionIndex | null = null;

  constructor(aborted: readonly AbortedTxn[]) {
    this.pending = [...aborted].sort((a, b) => byOffset(a.firstOffset, b.firstOffset));
  }

  /** A data batch: true when it belongs to an aborted transaction (it goes whole). */
  onData(b: StoredBatch): boolean {
    this.enterUpTo(b.lastOffset);
    if (!b.isTransactional) return false;
    const a = this.aborted.get(b.producerId);
    if (a !== undefined && a.txn.lastOffset > b.lastOffset) {
      a.seen = true;
      return true;
    }
    // (An entry whose marker is behind the batch belongs to a marker this walk did not read.)
    if (a !== undefined) this.aborted.delete(b.producerId);
    this.committed.add(b.producerId);
    return false;
  }

  /**
   * A control batch and its record (null for an empty one): true when the transaction it ends
   * had no data in the walk, so the marker may go once its delete horizon passed. Types other
   * than COMMIT and ABORT always stay (Kafka's rule). An empty control batch (left by a cleaner
   * that empties markers, as Kafka's does) ends nothing that still has data.
   */
  onControl(b: StoredBatch, record: ControlRecord | null): boolean {
    this.enterUpTo(b.lastOffset);
    const a = this.aborted.get(b.producerId);
    if (record === null) {
      if (a !== undefined && a.txn.lastOffset === b.baseOffset) this.aborted.delete(b.producerId);
      return true;
    }
    if (record.type === 'ABORT') {
      this.aborted.delete(b.producerId);
      if (a === undefined || !a.seen) return true;
      this.index?.append(a.txn);
      return false;
    }
    if (record.type === 'COMMIT') return !this.committed.delete(b.producerId);
    return false;
  }

  private enterUpTo(offset: bigint): void {
    while (this.next < this.pending.length && this.pending[this.next].firstOffset <= offset) {
      const t = this.pending[this.next++];
      if (!this.aborted.has(t.producerId)) this.aborted.set(t.producerId, { txn: t, seen: false });
    }
  }
}

/** What the cleaning pass carries from group to group. */
export interface RoundTxnState {
  txns: TxnWalk;
  lastBatches: Map<bigint, ProducerLastBatch>;
}

export function roundTxnState(input: CleanRoundInput): RoundTxnState {
  return { txns: new TxnWalk(input.abortedTxns), lastBatches: new Map(input.activeProducers.map((p) => [p.producerId, p])) };
}

/**
 * Kafka's isBatchLastRecordOfProducer: the batch holding the producer's last data offset or, for
 * a producer whose last write was a marker, its markers of the current epoch.
 */
function isLastBatchOfProducer(b: StoredBatch, lastBatches: ReadonlyMap<bigint, ProducerLastBatch>): boolean {
  if (b.producerId < 0n) return false;
  const p = lastBatches.get(b.producerId);
  if (p === undefined) return false;
  if (p.lastDataOffset !== null) return b.lastOffset === p.lastDataOffset;
  return b.isControl && b.producerEpoch === p.producerEpoch;
}

export async function runCleanRound(input: CleanRoundInput, swap: (g: CleanGroup) => Promise<boolean>): Promise<CleanRoundResult> {
  if (input.firstUnstableOffset !== null && input.firstUncleanableOffset > input.firstUnstableOffset) {
    // The plan bounds rounds by the first unstable offset; a round past it would treat an open
    // transaction's data as committed.
    throw new StrataError('STORAGE_IO', `cannot clean ${input.dir} up to ${input.firstUncleanableOffset}: a transaction is open from ${input.firstUnstableOffset}`);
  }
  const stats = emptyStats();
  const { map, endOffset } = buildOffsetMap(input, stats);
  const groups = groupSegments(
    input.segments.filter((s) => s.baseOffset < endOffset),
    input.segmentBytes,
    input.maxIndexBytes,
  );
  const round = roundTxnState(input);
  let horizon = Infinity;
  let swapped = 0;
  for (const group of groups) {
    const out = cleanGroup(input, group, map, endOffset, stats, round);
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
 * (so a small dirty section takes a small map), and the round's end offset. Records of aborted
 * transactions never enter it, so they cannot shadow a committed value of their key.
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
  // As Kafka's buildOffsetMap: the aborted transactions overlapping the dirty section (an
  // earlier one's marker is never read by this walk, which starts at firstDirty).
  const txns = new TxnWalk(input.abortedTxns.filter((t) => t.lastOffset >= firstDirty));

  let full = false;
  for (const s of dirty) {
    forEachBatch(s.path, s.size, (b) => {
      const info = readStoredBatch(b);
      if (info.lastOffset < firstDirty) return;
      if (!batchCrcOk(b)) throw corruptBatch(s, info);
      stats.mapBytesRead += b.length;
      const batchRel = Number(info.baseOffset - firstDirty);
      let section: Buffer | null = null;
      if (info.isControl) txns.onControl(info, controlRecordOf(b, s, info));
      else if (!txns.onData(info)) section = recordsSection(b, info, input.maxDecompressedBytes);
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
 * Step 3 for one group: writes `<base>.*.cleaned` (sealed, fsynced, closed), and
 * `<base>.txnindex.cleaned` when it keeps an ABORT marker with an index entry. `changed` is false
 * when the output would equal the input (one segment, every batch copied as it was, the same
 * index): the `.cleaned` files are then removed and no swap is needed. `round` carries the
 * transaction walk from group to group (a fresh one when omitted: a round of this group alone).
 */
export function cleanGroup(
  input: CleanRoundInput,
  group: readonly PlannedSegment[],
  map: OffsetMap,
  endOffset: bigint,
  stats: CleanerStats,
  round: RoundTxnState = roundTxnState(input),
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
  const { txns, lastBatches } = round;
  let changed = group.length > 1;
  let horizon = Infinity;
  const earliestHorizon = (h: bigint): void => {
    if (Number(h) < horizon) horizon = Number(h);
  };
  try {
    txns.index = seg.txnIndex;
    for (const s of group) {
      stats.segmentsCleaned++;
      forEachBatch(s.path, s.size, (b) => {
        const info = readStoredBatch(b);
        if (!batchCrcOk(b)) throw corruptBatch(s, info);
        stats.bytesRead += b.length;
        stats.recordsRead += info.recordCount;
        // Kafka's RETAIN_EMPTY: these batches stay, emptied rather than dropped.
        const keepEmpty = isLastBatchOfProducer(info, lastBatches) || info.lastOffset + 1n === input.firstUncleanableOffset;
        /** None of the batch's records stays: the batch goes, or its header stays. */
        const dropRecords = (): void => {
          if (!keepEmpty) {
            changed = true;
          } else if (info.recordCount === 0 && b.length === RECORD_BATCH_HEADER_SIZE) {
            out.write(b, info); // emptied by an earlier round already
          } else {
            changed = true;
            out.write(emptyBatch(b, info), info);
          }
        };

        if (info.isControl) {
          const noData = txns.onControl(info, controlRecordOf(b, s, info));
          const horizonPassed = info.deleteHorizonMs !== null && now >= info.deleteHorizonMs;
          if (info.recordCount === 0) {
            dropRecords();
            return;
          }
          if (noData && horizonPassed && !keepEmpty) {
            stats.markersRemoved++;
            changed = true;
            return;
          }
          // A marker that must stay is kept whole, never emptied (Kafka empties it): its record
          // keeps the producer's epoch and coordinator epoch for a rebuild of producer state.
          stats.recordsKept += info.recordCount;
          if (noData && info.deleteHorizonMs !== null && !horizonPassed) earliestHorizon(info.deleteHorizonMs);
          const section = noData && info.deleteHorizonMs === null ? recordsSection(b, info, input.maxDecompressedBytes) : null;
          if (section === null) {
            out.write(b, info);
            return;
          }
          // The first clean that finds the marker's transaction without data: its horizon starts.
          kept.reset();
          walkRecords(section, info.recordCount, (r) => {
            kept.add(r);
          });
          changed = true;
          earliestHorizon(newHorizon);
          out.write(filteredBatch(b, info, section, kept, newHorizon), info);
          return;
        }

        if (txns.onData(info)) {
          // An aborted transaction's data: the whole batch, whatever its codec (nothing to read).
          stats.abortedRecordsRemoved += info.recordCount;
          dropRecords();
          return;
        }
        const section = recordsSection(b, info, input.maxDecompressedBytes);
        if (section === null) {
          // Unreadable (codec library not loaded, too large): kept whole rather than lose data.
          stats.batchesKeptWhole++;
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
        if (tombstonesKept > 0) earliestHorizon(needsHorizon ? newHorizon : (info.deleteHorizonMs as bigint));
        if (kept.count > 0 && kept.count === info.recordCount && !needsHorizon) {
          out.write(b, info);
          return;
        }
        if (kept.count > 0) {
          changed = true;
          out.write(filteredBatch(b, info, section, kept, needsHorizon ? newHorizon : null), info);
        } else {
          dropRecords();
        }
      });
    }
    out.flush();
    // A segment copied batch for batch can still lose index entries (an ABORT marker kept only
    // for its delete horizon keeps none): then it is swapped for its new index.
    if (!changed && seg.txnIndex.sizeInBytes !== txnIndexBytes(input.dir, base)) changed = true;
    stats.bytesWritten += seg.size;
    seg.seal();
    seg.flush();
  } catch (e) {
    seg.close();
    removeCleanedFiles(input.dir, base);
    throw e;
  } finally {
    txns.index = null;
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

/** The record of a control batch (readControlRecord); a damaged one fails the round as BATCH_CORRUPT. */
function controlRecordOf(batch: Buffer, s: PlannedSegment, info: StoredBatch): ControlRecord | null {
  try {
    return readControlRecord(batch);
  } catch (e) {
    throw new StrataError('BATCH_CORRUPT', `${s.path}: control batch ${info.baseOffset}..${info.lastOffset}: ${(e as Error).message}`, { cause: e });
  }
}

/** Size of the live `<base>.txnindex` in whole entries' bytes (0 when it does not exist). */
function txnIndexBytes(dir: string, base: bigint): number {
  const file = path.join(dir, txnIndexFileName(base));
  try {
    const size = fs.statSync(file).size;
    return size - (size % ABORTED_TXN_SIZE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new StrataError('STORAGE_IO', `stat ${file}: ${(e as Error).message}`, { cause: e });
  }
}

function corruptBatch(s: PlannedSegment, info: StoredBatch): StrataError {
  return new StrataError('BATCH_CORRUPT', `${s.path}: batch ${info.baseOffset}..${info.lastOffset} fails its CRC-32C check`);
}
