/**
 * The upload plan (core/tier/uploadPlan.ts): which local segments are new uploads, which are
 * held back until the cleaner has cleaned them, which were rewritten by the cleaner after they
 * were tiered (re-tiers), and where local retention must stop.
 */
import type { SegmentInfo } from '../../core/log/partitionLog';
import type { RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { planUploads, type UploadPlanInput } from '../../core/tier/uploadPlan';

let nextId = 1;

/** A local segment [base, last] of `size` bytes; size 0 = empty (last = base - 1). */
function local(base: number, last: number, size: number, closed = true): SegmentInfo {
  return {
    baseOffset: BigInt(base),
    lastOffset: size === 0 ? BigInt(base) - 1n : BigInt(last),
    nextOffset: size === 0 ? BigInt(base) : BigInt(last) + 1n,
    size,
    maxTimestamp: 1n,
    largestTimestamp: 1n,
    path: `/x/${base}.log`,
    closed,
    id: nextId++,
    firstBatchTimestamp: 1n,
    offsetIndexBytes: 8,
    timeIndexBytes: 12,
  };
}

function record(base: number, last: number, size: number): RemoteSegment {
  const id = String(nextId++).padStart(32, '0');
  return {
    topicId: 't',
    partition: 0,
    segmentId: id,
    baseOffset: BigInt(base),
    lastOffset: BigInt(last),
    sizeBytes: size,
    indexBytes: 8,
    timeIndexBytes: 12,
    maxTimestamp: 1n,
    leaderEpoch: 0,
    uploadedAt: 1,
    keys: { log: `${id}.log`, index: `${id}.index`, timeIndex: `${id}.timeindex` },
  };
}

function plan(overrides: Partial<UploadPlanInput> & Pick<UploadPlanInput, 'segments'>) {
  const records = overrides.records ?? [];
  const last = records[records.length - 1];
  return planUploads({
    records,
    remoteEnd: last ? last.lastOffset + 1n : 0n,
    highWatermark: 1_000_000n,
    compacted: true,
    cleanedUpTo: null,
    ...overrides,
  });
}

const bases = (segs: { baseOffset: bigint }[]): number[] => segs.map((s) => Number(s.baseOffset));

test('without a gate, every closed non-empty segment past the tiered end is a new upload, oldest first', () => {
  const segs = [local(0, 99, 1000), local(100, 199, 1000), local(200, 210, 0), local(200, 299, 1000), local(300, 309, 50, false)];
  const p = plan({ segments: [segs[0], segs[1], segs[3], segs[4]], records: [record(0, 99, 1000)] });
  expect(bases(p.uploads)).toEqual([100, 200]);
  expect(p.awaitingCleaner).toEqual([]);
  expect(p.retiers).toEqual([]);
  expect(p.retainFrom).toBeNull();
});

test('nothing at or past the high watermark is uploaded', () => {
  const p = plan({ segments: [local(0, 99, 1000), local(100, 199, 1000), local(200, 209, 10, false)], highWatermark: 150n });
  expect(bases(p.uploads)).toEqual([0]);
});

test('with the cleaner as gate, a segment is uploaded only once the cleaner has cleaned past its end', () => {
  const segs = [local(0, 99, 1000), local(100, 199, 1000), local(200, 299, 1000), local(300, 305, 60, false)];
  expect(bases(plan({ segments: segs, cleanedUpTo: 0n }).uploads)).toEqual([]);
  expect(bases(plan({ segments: segs, cleanedUpTo: 0n }).awaitingCleaner)).toEqual([0, 100, 200]);
  const partly = plan({ segments: segs, cleanedUpTo: 150n });
  expect(bases(partly.uploads)).toEqual([0]);
  expect(bases(partly.awaitingCleaner)).toEqual([100, 200]);
  expect(bases(plan({ segments: segs, cleanedUpTo: 300n }).uploads)).toEqual([0, 100, 200]);
  // A compacted segment that ends before its span does: its last offset is what counts.
  const gap = [local(0, 79, 800), local(100, 150, 500), local(200, 201, 20, false)];
  expect(bases(plan({ segments: gap, cleanedUpTo: 80n }).uploads)).toEqual([0]);
});

test('local segments that match their records byte count for byte count are in sync: nothing to do', () => {
  const segs = [local(0, 99, 1000), local(100, 199, 900), local(200, 200, 0), local(300, 301, 20, false)];
  const records = [record(0, 99, 1000), record(100, 199, 900)];
  const p = plan({ segments: segs, records, remoteEnd: 300n });
  expect(p.retiers).toEqual([]);
  expect(p.retainFrom).toBeNull();
  expect(p.uploads).toEqual([]);
});

test('a segment the cleaner rewrote (another size, or several records in its span) is re-tiered, and local retention stops there', () => {
  const records = [record(0, 99, 1000), record(100, 199, 1000), record(200, 299, 1000), record(300, 399, 1000)];
  // 0 is in sync; 100 is 100+200 merged and shrunk; 300 shrank in place; then an untiered segment.
  const segs = [local(0, 99, 1000), local(100, 280, 1200), local(300, 350, 400), local(400, 499, 1000), local(500, 505, 60, false)];
  const p = plan({ segments: segs, records });
  expect(p.retiers.map((r) => [Number(r.segment.baseOffset), Number(r.spanEnd), bases(r.replaced)])).toEqual([
    [100, 300, [100, 200]],
    [300, 400, [300]],
  ]);
  expect(p.retainFrom).toBe(100n);
  expect(bases(p.uploads)).toEqual([400]);
});

test('an emptied segment re-tiers as the removal of the records in its span', () => {
  const records = [record(0, 99, 1000), record(100, 199, 1000), record(200, 299, 1000)];
  const segs = [local(0, 0, 0), local(200, 299, 1000), local(300, 301, 20, false)];
  const p = plan({ segments: segs, records });
  expect(p.retiers.map((r) => [Number(r.segment.baseOffset), r.segment.size, bases(r.replaced)])).toEqual([[0, 0, [0, 100]]]);
});

test('re-tiers wait for the cleaner too, but still hold local retention', () => {
  const records = [record(0, 99, 1000), record(100, 199, 1000)];
  const segs = [local(0, 180, 700), local(200, 205, 60, false)];
  const held = plan({ segments: segs, records, cleanedUpTo: 150n });
  expect(held.retiers).toEqual([]);
  expect(held.retainFrom).toBe(0n);
  expect(plan({ segments: segs, records, cleanedUpTo: 200n }).retiers).toHaveLength(1);
});

test('topics that are not compacted never re-tier: a local segment below the tiered end is left as it is', () => {
  const records = [record(0, 99, 1000)];
  const p = plan({ segments: [local(0, 99, 900), local(100, 101, 20, false)], records, compacted: false });
  expect(p.retiers).toEqual([]);
  expect(p.retainFrom).toBeNull();
});

test('records that do not line up with local segments are reported and left alone', () => {
  // A record reaching into the first local segment's span from before it.
  const p = plan({ segments: [local(50, 149, 1000), local(150, 151, 20, false)], records: [record(0, 99, 1000), record(100, 149, 500)] });
  expect(p.misaligned).toEqual([50n]);
  expect(p.retiers).toEqual([]);
  expect(p.retainFrom).toBeNull();
  // A record running past the span's end.
  const q = plan({ segments: [local(0, 49, 500), local(50, 99, 500), local(100, 101, 20, false)], records: [record(0, 99, 1000)] });
  expect(q.misaligned).toEqual([0n]);
});

test('the active segment is never re-tiered, even below the tiered end', () => {
  const p = plan({ segments: [local(0, 10, 100, false)], records: [record(0, 99, 1000)] });
  expect(p.retiers).toEqual([]);
  expect(p.uploads).toEqual([]);
});
