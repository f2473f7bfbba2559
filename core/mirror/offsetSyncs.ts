import type { ProduceRecord } from '../client/records';

/**
 * Offset syncs: how a consumer group's position on the source becomes its position on the
 * target (normal mode; the offset-preserving mode needs none).
 *
 * Each transaction the mirror commits for a source partition appends, besides the records, one
 * sync per produced batch to `strata-mirror-offset-syncs.<alias>.internal` (key
 * `<topic>:<partition>`, JSON value):
 *
 *   {"topic":"orders","partition":0,"sourceOffsets":[["10","14"],["17","19"]],"targetOffset":"40"}
 *
 * Offsets are decimal strings (they are 64-bit). The batch's records took the target offsets
 * 40..47, contiguous, in source order; their source offsets are the runs 10..14 and 17..19 —
 * a source may skip offsets (compaction, transaction markers, aborted records), so the runs
 * keep the mapping exact where a single (source, target) pair, as MirrorMaker 2 keeps, cannot:
 *
 *   source  10 11 12 13 14 ·· ·· 17 18 19       (15, 16: a marker, a compacted record)
 *   target  40 41 42 43 44 45 46 47
 *
 * Because the syncs are written in the same transaction as the records, a reader with
 * read_committed sees exactly the committed batches, never an aborted attempt.
 */

export type OffsetRun = [first: bigint, last: bigint];

export interface OffsetSync {
  /** The source topic and partition. */
  topic: string;
  partition: number;
  /** Source offsets of the batch's records, as rising runs of consecutive offsets. */
  sourceOffsets: OffsetRun[];
  /** Target offset of the batch's first record; the others follow contiguously. */
  targetOffset: bigint;
}

/** Rising offsets → runs of consecutive ones: [3,4,5,9,10] → [[3,5],[9,10]]. */
export function offsetRuns(offsets: readonly bigint[]): OffsetRun[] {
  const runs: OffsetRun[] = [];
  for (const o of offsets) {
    const last = runs[runs.length - 1];
    if (last && o === last[1] + 1n) last[1] = o;
    else if (last && o <= last[1]) throw new Error(`offsets must rise: ${o} after ${last[1]}`);
    else runs.push([o, o]);
  }
  return runs;
}

/** How many records a sync covers. */
export function syncRecordCount(s: OffsetSync): bigint {
  return s.sourceOffsets.reduce((n, [a, b]) => n + (b - a + 1n), 0n);
}

export function offsetSyncKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export function encodeOffsetSync(s: OffsetSync): ProduceRecord {
  const value = {
    topic: s.topic,
    partition: s.partition,
    sourceOffsets: s.sourceOffsets.map(([a, b]) => [a.toString(), b.toString()]),
    targetOffset: s.targetOffset.toString(),
  };
  return { key: offsetSyncKey(s.topic, s.partition), value: JSON.stringify(value) };
}

/** Reads a sync's value; throws on anything the mirror would not have written. */
export function decodeOffsetSync(value: Buffer | string | null): OffsetSync {
  if (value === null) throw new Error('an offset sync with a null value');
  const doc: unknown = JSON.parse(value.toString());
  if (typeof doc !== 'object' || doc === null) throw new Error('an offset sync must be a JSON object');
  const d = doc as Record<string, unknown>;
  const off = (v: unknown, what: string): bigint => {
    if ((typeof v === 'string' && /^\d+$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) return BigInt(v);
    throw new Error(`an offset sync's ${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  };
  if (typeof d.topic !== 'string' || d.topic === '') throw new Error('an offset sync needs a topic');
  if (typeof d.partition !== 'number' || !Number.isInteger(d.partition) || d.partition < 0) throw new Error('an offset sync needs a partition');
  if (!Array.isArray(d.sourceOffsets) || d.sourceOffsets.length === 0) throw new Error('an offset sync needs sourceOffsets runs');
  const runs: OffsetRun[] = d.sourceOffsets.map((r: unknown, i: number) => {
    if (!Array.isArray(r) || r.length !== 2) throw new Error(`sourceOffsets[${i}] must be [first, last]`);
    const run: OffsetRun = [off(r[0], `sourceOffsets[${i}][0]`), off(r[1], `sourceOffsets[${i}][1]`)];
    if (run[1] < run[0]) throw new Error(`sourceOffsets[${i}] ends before it starts`);
    return run;
  });
  for (let i = 1; i < runs.length; i++) if (runs[i][0] <= runs[i - 1][1]) throw new Error('sourceOffsets runs must rise');
  return { topic: d.topic, partition: d.partition, sourceOffsets: runs, targetOffset: off(d.targetOffset, 'targetOffset') };
}

/**
 * The target position for source position `sourceOffset` (a group's committed offset: the
 * next record it would read), from one partition's syncs:
 *
 *   - the target offset of the first mirrored record whose source offset is >= sourceOffset
 *     (so the consumer reads next exactly the record it would have read next on the source,
 *     or, when that one was never mirrored — compacted away, a marker —, the one after it);
 *   - when nothing at or after sourceOffset is mirrored yet: the target offset after the last
 *     mirrored record (the consumer then reads what the mirror appends next);
 *   - null when the partition has no syncs (nothing mirrored: there is no position to give).
 *
 * `syncs` may come in any order; they are ordered by target offset (the order of commits).
 */
export function translateOffset(syncs: readonly OffsetSync[], sourceOffset: bigint): bigint | null {
  if (syncs.length === 0) return null;
  const ordered = [...syncs].sort((a, b) => (a.targetOffset < b.targetOffset ? -1 : a.targetOffset > b.targetOffset ? 1 : 0));
  for (const s of ordered) {
    let index = 0n;
    for (const [first, last] of s.sourceOffsets) {
      if (last >= sourceOffset) return s.targetOffset + index + (sourceOffset > first ? sourceOffset - first : 0n);
      index += last - first + 1n;
    }
  }
  const lastSync = ordered[ordered.length - 1];
  return lastSync.targetOffset + syncRecordCount(lastSync);
}

/** The highest source offset the syncs say was mirrored (null without syncs). */
export function lastMirroredSourceOffset(syncs: readonly OffsetSync[]): bigint | null {
  let max: bigint | null = null;
  for (const s of syncs) {
    const last = s.sourceOffsets[s.sourceOffsets.length - 1][1];
    if (max === null || last > max) max = last;
  }
  return max;
}
