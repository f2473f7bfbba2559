/**
 * A compacted partition's upload racing the log cleaner's swap, on real parts (PartitionLog, a
 * cleaning round run in-process, FileObjectStore, the embedded metadata store).
 *
 * The uploader opens the segment's three files one after the other, with awaits in between, and
 * the cleaner swaps a group on the main thread whenever its worker asks (any turn of the event
 * loop). A swap renames the cleaned files to the same names (`<base>.log`, `.index`,
 * `.timeindex`), so a swap between the upload's plan and its opens hands the uploader another
 * segment's files, possibly a .log from one segment and an .index from the other. Whatever is
 * committed must be a consistent copy of one segment; otherwise the upload stops without
 * counting as a failure, and the next pass uploads what the log holds now.
 *
 * The interleaving is forced by running the swap from inside `fs/promises.open` (a spy that
 * calls the real function) right before the uploader opens the chosen file, or from the object
 * store's put, once every file is open (then the open descriptors still hold the old segment).
 */
// The module object itself (not an import-star copy), so a spy on it is what core/tier calls.
import fsp = require('node:fs/promises');
import { isStrataError } from '../../core/common/errors';
import type { PartitionLog } from '../../core/log/partitionLog';
import { BATCH_LENGTH_OFFSET, BASE_OFFSET_OFFSET, LAST_OFFSET_DELTA_OFFSET, LOG_OVERHEAD } from '../../core/log/recordBatch';
import type { CleanGroup } from '../../core/log/segmentCleaner';
import { RemoteLogMetadata, type RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { TierManager } from '../../core/tier/tierManager';
import { allObjectKeys } from '../../core/tier/remoteSegmentKeys';
import type { TieredPartition } from '../../core/tier/tieredPartition';
import { append, compactCfg, latestPerKey, roundInProcess, type Entry } from '../log/cleanerHelpers';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { TOPIC_ID, TierEnv, listKeys, memoryLogger, tierConfig } from './tierHelpers';

type Row = [bigint, string | null, string | null];

const NOW = 1_700_000_100_000;
const CFG = compactCfg({ deleteRetentionMs: 3_600_000 });

let env: TierEnv;
let tier: TierManager | null = null;
let clock = NOW;

beforeEach(async () => {
  env = await TierEnv.create();
  clock = NOW;
});

afterEach(async () => {
  jest.restoreAllMocks();
  await tier?.close();
  tier = null;
  await env.destroy();
});

/** Appends one batch per element of `keys` (five keys each); values name the batch's label. */
function write(log: PartitionLog, written: Row[], keys: string[][], label: string): void {
  for (const batchKeys of keys) {
    const entries: Entry[] = batchKeys.map((k, i) => [k, `${label}${written.length + i}`.padEnd(60, '.')]);
    const base = append(log, entries);
    entries.forEach(([k, v], i) => written.push([base + BigInt(i), k, v]));
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function readAll(tp: TieredPartition, log: PartitionLog): Promise<Row[]> {
  const rows: Row[] = [];
  let offset = tp.logStartOffset;
  const hw = log.highWatermark;
  while (offset < hw) {
    const r = await tp.read(offset, 1 << 20, { minOneBatch: true, maxOffset: hw });
    if (r.bytes === 0) break;
    for (const b of decodeRecordBatches(Buffer.concat(r.records))) {
      for (const x of b.records) rows.push([x.offset, x.key?.toString() ?? null, x.value?.toString() ?? null]);
    }
    offset = r.nextOffset;
  }
  return rows;
}

/**
 * What a committed record promises about its objects: the .log is whole batches within the
 * record's offsets, exactly sizeBytes long, and every .index entry points at the start of the
 * batch whose base offset it names (the index was written for this very .log).
 */
async function expectConsistent(rec: RemoteSegment): Promise<void> {
  const data = await env.files.get(rec.keys.log);
  expect(data.length).toBe(rec.sizeBytes);
  const starts = new Map<number, bigint>();
  let p = 0;
  while (p < data.length) {
    expect(data.length - p).toBeGreaterThanOrEqual(LOG_OVERHEAD);
    const size = LOG_OVERHEAD + data.readInt32BE(p + BATCH_LENGTH_OFFSET);
    expect(p + size).toBeLessThanOrEqual(data.length); // no batch cut off at the end
    const base = data.readBigInt64BE(p + BASE_OFFSET_OFFSET);
    const last = base + BigInt(data.readInt32BE(p + LAST_OFFSET_DELTA_OFFSET));
    expect(base).toBeGreaterThanOrEqual(rec.baseOffset);
    expect(last).toBeLessThanOrEqual(rec.lastOffset);
    starts.set(p, base);
    p += size;
  }
  const index = await env.files.get(rec.keys.index);
  expect(index.length).toBe(rec.indexBytes);
  for (let i = 0; i + 8 <= index.length; i += 8) {
    const rel = BigInt(index.readInt32BE(i));
    const pos = index.readInt32BE(i + 4);
    expect(starts.get(pos)).toBe(rec.baseOffset + rel);
  }
}

/**
 * A partition whose first segments the cleaner halved (round 1) and is about to merge in pairs
 * (round 2, its first swap held): the merged segment at the first base offset is larger than the
 * one the upload plan sees.
 */
async function setUp(): Promise<{ log: PartitionLog; tp: TieredPartition; t: TierManager; written: Row[]; swapFirstGroup: () => boolean; round: Promise<unknown>; first: bigint }> {
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  // Each batch: two keys for good and three that are overwritten later, so the first round
  // shrinks these segments to about 40% and the second merges them in groups.
  write(log, written, range(30).map((b) => [`p${b}a`, `p${b}b`, `t${b}a`, `t${b}b`, `t${b}c`]), 'a');
  write(log, written, range(18).map((b) => range(5).map((i) => `t${Math.floor((b * 5 + i) / 3)}${'abc'[(b * 5 + i) % 3]}`)), 'b');
  expect(await roundInProcess(log, CFG, NOW)).not.toBeNull();
  // New keys only: a dirty section for the second round.
  write(log, written, range(6).map((b) => range(5).map((i) => `n${b}-${i}`)), 'c');
  let held: { g: CleanGroup; resolve: (ok: boolean) => void } | null = null;
  let heldOnce = false;
  const round = roundInProcess(log, CFG, NOW, (g) => {
    if (heldOnce) return Promise.resolve(log.replaceWithCleanedSegment(g.ids));
    heldOnce = true;
    return new Promise<boolean>((resolve) => (held = { g, resolve }));
  });
  // The round runs until its first swap (the .cleaned files of the first merged group are written).
  const deadline = Date.now() + 10_000;
  while (held === null && Date.now() < deadline) await new Promise<void>((r) => setImmediate(r));
  expect(held).not.toBeNull();
  const h = held as unknown as { g: CleanGroup; resolve: (ok: boolean) => void };
  expect(h.g.ids.length).toBeGreaterThan(1);
  const first = log.segments()[0];
  expect(h.g.baseOffset).toBe(first.baseOffset);
  const swapFirstGroup = (): boolean => {
    const ok = log.replaceWithCleanedSegment(h.g.ids);
    h.resolve(ok);
    return ok;
  };

  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), uploadOnRollDelayMs: 0, now: () => clock });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ compact: true, deleteRetention: false }) });
  // No cleaner gate: segments go as they close, and rewritten ones are re-tiered.
  tp.compaction = null;
  expect(tp.nextUploadCandidate()?.baseOffset).toBe(first.baseOffset);
  return { log, tp, t: tier, written, swapFirstGroup, round, first: first.baseOffset };
}

/** Runs `swap` once, right before the uploader opens the file of segment `base` ending in `ext`. */
function swapBeforeOpening(base: bigint, ext: string, swap: () => boolean): { fired: () => boolean } {
  const name = `${base.toString().padStart(20, '0')}${ext}`;
  const realOpen = fsp.open;
  let fired = false;
  jest.spyOn(fsp, 'open').mockImplementation(((file: Parameters<typeof fsp.open>[0], ...rest: unknown[]) => {
    if (!fired && String(file).endsWith(name)) {
      fired = true;
      expect(swap()).toBe(true);
    }
    return (realOpen as (...a: unknown[]) => ReturnType<typeof fsp.open>)(file, ...rest);
  }) as typeof fsp.open);
  return { fired: () => fired };
}

/** Runs `swap` once, right before the uploader puts its first object (its files are all open by then). */
function swapBeforeFirstPut(swap: () => boolean): { fired: () => boolean } {
  let fired = false;
  env.objects.beforePut = () => {
    if (fired) return;
    fired = true;
    expect(swap()).toBe(true);
  };
  return { fired: () => fired };
}

describe.each([
  ['opening .log', 'between the upload plan and the opening of its files (the planned size is stale)'],
  ['opening .index', 'between the opening of the .log and of the .index (files of two segments)'],
  ['the first put', 'while the upload streams from its open files (the old segment is uploaded, then re-tiered)'],
])('a cleaner swap before %s', (when, what) => {
  test(`${what}: nothing inconsistent is committed, the attempt is not an upload failure, and the next pass tiers the new segment`, async () => {
    const { log, tp, t, written, swapFirstGroup, round, first } = await setUp();
    const hook = when === 'the first put' ? swapBeforeFirstPut(swapFirstGroup) : swapBeforeOpening(first, when.slice('opening '.length), swapFirstGroup);

    const outcome = await tp.runSerial(() => tp.uploadNext()).then(
      (uploaded) => ({ uploaded, error: null as unknown }),
      (error: unknown) => ({ uploaded: false, error }),
    );
    expect(hook.fired()).toBe(true);
    jest.restoreAllMocks();
    env.objects.beforePut = null;
    await round;

    // Either the upload noticed (NOT_FOUND: the TierManager looks again, no backoff, no outage)...
    if (outcome.error !== null) expect(isStrataError(outcome.error, 'NOT_FOUND')).toBe(true);
    // ...or what it committed is one consistent segment.
    const records = await new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(TOPIC_ID, 0);
    for (const r of records) await expectConsistent(r);
    // No object outlives a failed attempt.
    expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual(records.flatMap((r) => allObjectKeys(r.keys)).sort());

    // The next passes tier the log as it is now; the object store alone serves the compacted view.
    await t.runOnce();
    expect(tp.uploadPlan().retiers).toEqual([]);
    expect(t.stats().failingPartitions).toBe(0);
    expect(t.stats().outage).toBeNull();
    const after = await new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(TOPIC_ID, 0);
    for (const r of after) await expectConsistent(r);
    const active = log.segments().at(-1)!.baseOffset;
    const expected = [...latestPerKey(written.filter((w) => w[0] < active)), ...written.filter((w) => w[0] >= active)];
    expect(await readAll(tp, log)).toEqual(expected);

    await t.close();
    tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), uploadOnRollDelayMs: 0, now: () => clock });
    const empty = env.openLog('data/empty-0', { segmentBytes: 1500 });
    const tp2 = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: empty, config: tierConfig({ compact: true, deleteRetention: false }) });
    expect(await readAll(tp2, empty)).toEqual(expected.filter((w) => w[0] < tp2.remoteEndOffset));
  });
});
