/**
 * Compacted topics with tiered storage, on real parts: a PartitionLog, the LogCleaner with its
 * worker thread, a FileObjectStore and the embedded metadata store.
 *
 *  - upload gating: a compacted partition uploads a closed segment only once the cleaner has
 *    cleaned past it (so the object store gets compacted data); without a cleaner, as today;
 *  - re-tiering: a segment the cleaner rewrites after it was tiered is uploaded again under new
 *    keys, replacing the records in its span (record first, then the old objects), local
 *    retention keeps it until then, and an emptied segment removes its records without moving
 *    the log start;
 *  - an interrupted re-tier (the new record committed, an old one left) reads correctly and is
 *    finished when the partition is opened again.
 */
import type { Readable } from 'node:stream';
import { LogCleaner } from '../../core/log/logCleaner';
import type { PartitionLog } from '../../core/log/partitionLog';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import type { ByteRange, ObjectInfo, ObjectStore } from '../../core/tier/objectStore';
import { RemoteLogMetadata, liveSegments, type RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { TierManager } from '../../core/tier/tierManager';
import { allObjectKeys } from '../../core/tier/remoteSegmentKeys';
import type { TieredPartition } from '../../core/tier/tieredPartition';
import type { TierTopicConfig } from '../../core/tier/tierConfig';
import { append, captureCleanerLogger, compactCfg, latestPerKey, type Entry } from '../log/cleanerHelpers';
import { waitFor } from '../helpers/waitFor';
import { TOPIC_ID, TierEnv, listKeys, memoryLogger, tierConfig } from './tierHelpers';

type Row = [bigint, string | null, string | null];

const NOW = 1_700_000_100_000;
const CFG = compactCfg({ deleteRetentionMs: 3_600_000 });

let env: TierEnv;
/** The tier managers' clock (retry backoff counts on it). */
let clock = NOW;
const managers: TierManager[] = [];
const cleaners: LogCleaner[] = [];

beforeEach(async () => {
  env = await TierEnv.create();
  clock = NOW;
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  for (const c of cleaners.splice(0)) await c.close();
  await env.destroy();
});

function cleaner(): LogCleaner {
  const c = new LogCleaner({ logger: captureCleanerLogger().logger, now: () => NOW });
  cleaners.push(c);
  return c;
}

/** Passes calls to the test's store; GETs wait while `held` (a read in flight, frozen). */
class HeldGets implements ObjectStore {
  held: Promise<void> | null = null;
  waiting = 0;
  constructor(private readonly inner: ObjectStore) {}
  put(key: string, body: Buffer | Readable, opts?: { contentLength?: number }): Promise<void> {
    return this.inner.put(key, body, opts);
  }
  async get(key: string, range?: ByteRange): Promise<Buffer> {
    if (this.held) {
      this.waiting++;
      await this.held;
    }
    return this.inner.get(key, range);
  }
  head(key: string): Promise<{ size: number } | null> {
    return this.inner.head(key);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function manager(metadata: RemoteLogMetadata = new RemoteLogMetadata(env.meta.namespace('remote-segments')), objects: ObjectStore = env.objects): TierManager {
  // No timers: the test drives every pass with runOnce.
  const m = new TierManager(objects, metadata, { logger: memoryLogger(), uploadOnRollDelayMs: 0, now: () => clock });
  managers.push(m);
  return m;
}

function compactedConfig(overrides: Partial<TierTopicConfig> = {}): TierTopicConfig {
  return tierConfig({ compact: true, deleteRetention: false, ...overrides });
}

async function open(t: TierManager, log: PartitionLog, progress: LogCleaner | null, config = compactedConfig()): Promise<TieredPartition> {
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config });
  tp.compaction = progress;
  return tp;
}

/** Appends `rounds` batches of updates over `keys` keys (values name the round); returns what was written. */
function write(log: PartitionLog, written: Row[], rounds: number, keys: number, label: string, opts: { tombstoneEvery?: number; keyOffset?: number } = {}): void {
  for (let b = 0; b < rounds; b++) {
    const entries: Entry[] = Array.from({ length: 5 }, (_, i) => {
      const n = written.length + i;
      const key = `k${(opts.keyOffset ?? 0) + ((n * 7 + b) % keys)}`;
      const tomb = opts.tombstoneEvery !== undefined && n % opts.tombstoneEvery === 0;
      return [key, tomb ? null : `${label}${n}`.padEnd(60, '.')];
    });
    const base = append(log, entries);
    entries.forEach(([k, v], i) => written.push([base + BigInt(i), k, v]));
  }
}

/** Every record from the log start up to the high watermark, through the tiered partition (both tiers). */
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

/** Records and objects in the stores; checks that every object is named by a live record and none overlap. */
async function stored(): Promise<{ records: RemoteSegment[]; objects: string[] }> {
  const records = await new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(TOPIC_ID, 0);
  expect(liveSegments(records).superseded).toEqual([]);
  const objects = (await listKeys(env.files, 'remote-log/')).sort();
  expect(objects).toEqual(records.flatMap((r) => allObjectKeys(r.keys)).sort());
  return { records, objects };
}

const activeBase = (log: PartitionLog): bigint => log.segments().at(-1)!.baseOffset;

test('a compacted partition uploads only what the cleaner has cleaned; without a cleaner, segments go as they close', async () => {
  const c = cleaner();
  const t = manager();
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  write(log, written, 24, 12, 'a');
  const tp = await open(t, log, c);
  const closed = log.segments().filter((s) => s.closed);
  expect(closed.length).toBeGreaterThanOrEqual(4);

  // The cleaner has not run: nothing is uploaded, and nothing counts as an upload backlog.
  await t.runOnce();
  expect(tp.remoteSegments).toEqual([]);
  expect(tp.uploadPlan().awaitingCleaner.length).toBe(closed.length);
  expect(t.backlog().segments).toBe(0);

  const r = await c.cleanIfNeeded(log, CFG, NOW);
  expect(r?.outcome).toBe('cleaned');
  expect(c.cleanedUpTo(log)).toBe(activeBase(log));
  await t.runOnce();

  // Every non-empty closed segment is tiered, byte for byte the cleaned local file, and the
  // objects hold exactly the latest record per key below the active segment.
  const { records } = await stored();
  const nonEmpty = log.segments().filter((s) => s.closed && s.size > 0);
  expect(records.map((x) => [x.baseOffset, x.sizeBytes])).toEqual(nonEmpty.map((s) => [s.baseOffset, s.size]));
  const inObjects: Row[] = [];
  for (const rec of records) {
    for (const b of decodeRecordBatches(await env.files.get(rec.keys.log))) {
      for (const x of b.records) inObjects.push([x.offset, x.key?.toString() ?? null, x.value?.toString() ?? null]);
    }
  }
  const a = activeBase(log);
  expect(inObjects).toEqual(latestPerKey(written.filter((w) => w[0] < a)));

  // Cleaner disabled (no progress to wait for): a second partition uploads at once.
  const log2 = env.openLog('data/t-1', { segmentBytes: 1500 });
  write(log2, [], 24, 12, 'b');
  const tp2 = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 1, log: log2, config: compactedConfig() });
  expect(tp2.compaction).toBeNull();
  await t.runOnce();
  expect(tp2.remoteSegments.length).toBe(log2.segments().filter((s) => s.closed).length);
});

test('segments the cleaner rewrites after they were tiered are re-tiered under new keys; old objects go; every offset reads the compacted view', async () => {
  const c = cleaner();
  const t = manager();
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  write(log, written, 30, 40, 'a');
  const tp = await open(t, log, c);
  await c.cleanIfNeeded(log, CFG, NOW);
  await t.runOnce();
  const first = await stored();
  expect(first.records.length).toBeGreaterThanOrEqual(3);

  // New values for most keys, and tombstones: the next round rewrites the tiered segments.
  write(log, written, 30, 30, 'b', { tombstoneEvery: 9 });
  const r = await c.cleanIfNeeded(log, CFG, NOW);
  expect(r?.outcome).toBe('cleaned');
  expect(r!.groupsSwapped).toBeGreaterThan(0);
  const plan = tp.uploadPlan();
  expect(plan.retiers.length).toBeGreaterThan(0);
  expect(plan.retainFrom).not.toBeNull();

  // Local retention (everything tiered may go) keeps the rewritten segments until they are re-tiered.
  tp.config = compactedConfig({ localRetentionBytes: 0 });
  tp.enforceLocalRetention(NOW);
  expect(log.logStartOffset).toBeLessThanOrEqual(plan.retainFrom!);

  await t.runOnce();
  expect(tp.retieredSegments).toBeGreaterThan(0);
  expect(tp.uploadPlan().retiers).toEqual([]);
  expect(tp.uploadPlan().retainFrom).toBeNull();
  const after = await stored();
  // The replaced segments' objects are gone; every remaining object has a record.
  const replacedIds = first.records.filter((x) => !after.records.some((y) => y.segmentId === x.segmentId));
  expect(replacedIds.length).toBeGreaterThan(0);
  for (const x of replacedIds) expect(after.objects).not.toContain(x.keys.log);

  // Now local retention drops the local copies; reads from the log start cross from the object
  // store into the local log and see exactly the latest record per key (tombstones kept: the
  // delete horizon is an hour away), at the original offsets.
  tp.enforceLocalRetention(NOW);
  expect(log.logStartOffset).toBeGreaterThan(0n);
  const a = activeBase(log);
  const expected = [...latestPerKey(written.filter((w) => w[0] < a)), ...written.filter((w) => w[0] >= a)];
  expect(tp.logStartOffset).toBe(0n);
  expect(await readAll(tp, log)).toEqual(expected);
  expect(expected.some((w) => w[2] === null)).toBe(true);

  // A partition opened on an empty local log with the same stores serves the same tiered view.
  const t2 = manager();
  const empty = env.openLog('data/empty-0', { segmentBytes: 1500 });
  const tp2 = await open(t2, empty, null);
  expect(tp2.logStartOffset).toBe(0n);
  expect(empty.logStartOffset).toBe(tp.remoteEndOffset);
  expect(await readAll(tp2, empty)).toEqual(expected.filter((w) => w[0] < tp.remoteEndOffset));
});

test('an emptied segment removes its tiered records, and the log start does not move', async () => {
  const c = cleaner();
  const t = manager();
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  // Four keys written over and over: the first round empties all but the last groups.
  write(log, written, 40, 4, 'a');
  const tp = await open(t, log, c);
  await c.cleanIfNeeded(log, CFG, NOW);
  await t.runOnce();
  const first = await stored();
  expect(first.records.length).toBeGreaterThan(0);
  const firstBase = first.records[0].baseOffset;
  expect(firstBase).toBeGreaterThan(0n);

  // Every key again: what was tiered is all superseded now.
  write(log, written, 40, 4, 'b');
  await c.cleanIfNeeded(log, CFG, NOW);
  expect(tp.uploadPlan().retiers.some((x) => x.segment.size === 0)).toBe(true);
  await t.runOnce();
  const after = await stored();
  for (const x of first.records) expect(after.records.map((y) => y.segmentId)).not.toContain(x.segmentId);
  // With the local copies gone too, the log still starts at 0.
  tp.config = compactedConfig({ localRetentionBytes: 0 });
  tp.enforceLocalRetention(NOW);
  expect(log.logStartOffset).toBeGreaterThan(0n);
  expect(tp.logStartOffset).toBe(0n);
  const a = activeBase(log);
  const expected = [...latestPerKey(written.filter((w) => w[0] < a)), ...written.filter((w) => w[0] >= a)];
  expect(expected.every((w) => w[0] > firstBase)).toBe(true);
  expect(await readAll(tp, log)).toEqual(expected);

  // On an empty local log too: the state record keeps the log start.
  const t2 = manager();
  const empty = env.openLog('data/empty-0', { segmentBytes: 1500 });
  const tp2 = await open(t2, empty, null);
  expect(tp2.logStartOffset).toBe(0n);
  expect(await readAll(tp2, empty)).toEqual(expected.filter((w) => w[0] < tp.remoteEndOffset));
});

test('a re-tier interrupted after its record committed reads correctly, and is finished when the partition opens again', async () => {
  const c = cleaner();
  const metadata = new RemoteLogMetadata(env.meta.namespace('remote-segments'));
  const t = manager(metadata);
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  // Each key about twice: the first round halves the segments it uploads...
  write(log, written, 30, 70, 'a');
  const tp = await open(t, log, c);
  await c.cleanIfNeeded(log, CFG, NOW);
  await t.runOnce();
  const before = await stored();

  // ...and the next (new keys only) merges those halves in pairs: one segment for two records.
  write(log, written, 6, 30, 'b', { keyOffset: 1000 });
  await c.cleanIfNeeded(log, CFG, NOW);
  // Find a re-tier that replaces several records, and make the removal of the others fail (a crash).
  const step = tp.uploadPlan().retiers.find((x) => x.segment.size > 0 && x.replaced.length > 1);
  expect(step).toBeDefined();
  const realRemove = metadata.removeSegmentIfCurrent.bind(metadata);
  const doomed = new Set(step!.replaced.map((x) => x.segmentId));
  metadata.removeSegmentIfCurrent = async (seg) => {
    if (doomed.has(seg.segmentId)) throw new Error('injected: the broker died here');
    return realRemove(seg);
  };
  await t.runOnce();
  metadata.removeSegmentIfCurrent = realRemove;

  // The store now holds the new record at the group's base offset and the old ones it covers.
  const all = await metadata.listSegments(TOPIC_ID, 0);
  const { live, superseded } = liveSegments(all);
  // (All of the replaced records but the one at the base offset, which the new record took over, if any.)
  const others = step!.replaced.filter((x) => x.baseOffset !== step!.segment.baseOffset);
  expect(superseded.map((x) => x.segmentId).sort()).toEqual(others.map((x) => x.segmentId).sort());
  const committed = live.find((x) => x.baseOffset === step!.segment.baseOffset)!;
  expect(before.records.map((x) => x.segmentId)).not.toContain(committed.segmentId);
  expect(committed.lastOffset).toBeGreaterThanOrEqual(step!.replaced.at(-1)!.lastOffset);
  for (const s of superseded) {
    // A record that exists keeps its objects.
    expect(await env.files.head(s.keys.log)).not.toBeNull();
  }
  // This partition reads the new record only; after the retry backoff the other re-tiers run.
  expect(tp.remoteSegments.map((x) => x.segmentId)).not.toContain(superseded[0].segmentId);
  clock += 60_000;
  await t.runOnce();
  expect(tp.uploadPlan().retiers).toEqual([]);
  const a = activeBase(log);
  const expected = [...latestPerKey(written.filter((w) => w[0] < a)), ...written.filter((w) => w[0] >= a)];
  expect(await readAll(tp, log)).toEqual(expected);

  // A broker that opens the partition now (empty disk) reads the live records only, and removes
  // the leftovers, record first, then objects.
  await t.close();
  const t2 = manager();
  const empty = env.openLog('data/empty-0', { segmentBytes: 1500 });
  const tp2 = await open(t2, empty, null);
  const end = tp2.remoteEndOffset;
  expect(await readAll(tp2, empty)).toEqual(expected.filter((w) => w[0] < end));
  const clean = await stored();
  for (const s of superseded) expect(clean.records.map((x) => x.segmentId)).not.toContain(s.segmentId);
});

test('a lookup reading objects that a re-tier deletes under it starts over on the new records', async () => {
  const c = cleaner();
  const store = new HeldGets(env.objects);
  const t = manager(undefined, store);
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  write(log, written, 30, 40, 'a');
  const tp = await open(t, log, c);
  await c.cleanIfNeeded(log, CFG, NOW);
  await t.runOnce();
  write(log, written, 30, 40, 'b');
  await c.cleanIfNeeded(log, CFG, NOW);
  const step = tp.uploadPlan().retiers[0];
  expect(step.replaced[0]).toBe(tp.remoteSegments[0]);

  // ListOffsets by timestamp reads the first tiered segment's time index: frozen mid-read...
  let release!: () => void;
  store.held = new Promise<void>((resolve) => (release = resolve));
  const lookup = tp.offsetForTimestamp(0n);
  await waitFor(() => store.waiting > 0);
  // ...while the re-tier replaces that segment and deletes its objects.
  await t.runOnce();
  expect(tp.retieredSegments).toBeGreaterThan(0);
  expect(await env.files.head(step.replaced[0].keys.timeIndex)).toBeNull();
  store.held = null;
  release();
  const first = latestPerKey(written.filter((w) => w[0] < activeBase(log)))[0];
  expect(await lookup).toEqual({ offset: first[0], timestamp: expect.any(BigInt) });
});

test('tombstones the cleaner removes after delete.retention.ms leave the tiered copy too (while the segment is local)', async () => {
  const c = cleaner();
  const t = manager();
  const log = env.openLog('data/t-0', { segmentBytes: 1500 });
  const written: Row[] = [];
  write(log, written, 30, 40, 'a', { tombstoneEvery: 4 });
  const tp = await open(t, log, c);
  const cfg = compactCfg({ deleteRetentionMs: 1000 });
  await c.cleanIfNeeded(log, cfg, NOW);
  await t.runOnce();
  const a = activeBase(log);
  const compacted = latestPerKey(written.filter((w) => w[0] < a));
  const tail = written.filter((w) => w[0] >= a);
  expect(compacted.some((w) => w[2] === null)).toBe(true);
  expect(await readAll(tp, log)).toEqual([...compacted, ...tail]);

  // Past the delete horizon the cleaner drops them (no new writes needed), and the re-tier follows.
  const r = await c.cleanIfNeeded(log, cfg, NOW + 2000);
  expect(r).toMatchObject({ outcome: 'cleaned', reason: 'delete horizon' });
  await t.runOnce();
  expect(tp.retieredSegments).toBeGreaterThan(0);
  await stored();
  // Read from the object store alone: a partition on an empty local log.
  const t2 = manager();
  const empty = env.openLog('data/empty-0', { segmentBytes: 1500 });
  const tp2 = await open(t2, empty, null);
  expect(await readAll(tp2, empty)).toEqual(compacted.filter((w) => w[2] !== null && w[0] < tp2.remoteEndOffset));
});
