/**
 * The stateless broker: a partition opened on an empty (or stale) data dir with the same
 * metadata store and object store serves the tiered data and continues the offsets.
 */
import * as fs from 'node:fs';
import { RemoteLogMetadata } from '../../core/tier/remoteLogMetadata';
import { TierManager } from '../../core/tier/tierManager';
import type { TieredPartition } from '../../core/tier/tieredPartition';
import { batch } from '../log/helpers';
import { TOPIC_ID, TierEnv, decode, fakeClock, fill, listKeys, memoryLogger, tierConfig } from './tierHelpers';

let env: TierEnv;
let tier: TierManager | null = null;

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  await tier?.close();
  tier = null;
  await env.destroy();
});

async function readRange(tp: TieredPartition, from: bigint, to: bigint): Promise<[bigint, string][]> {
  const out: [bigint, string][] = [];
  let offset = from;
  while (offset < to) {
    const r = await tp.read(offset, 2000, { minOneBatch: true, maxOffset: to });
    if (r.bytes === 0) break;
    for (const rec of decode(r.records)) if (rec[0] >= offset) out.push(rec);
    offset = r.nextOffset;
  }
  return out;
}

/** What a broker process restart does to the stores: close them, open them again. */
async function restartStores(): Promise<void> {
  await tier?.close();
  tier = null;
  await env.closeStores();
  await env.openStores();
}

test('an empty data dir starts at the tiered end, serves everything tiered, and new appends continue the offsets', async () => {
  const first = env.openLog('data1/t-0');
  fill(first, 40);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp1 = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: first, config: tierConfig({ localRetentionBytes: 1 }) });
  await tier.runOnce();
  const end = tp1.remoteEndOffset;
  expect(end).toBeGreaterThan(100n);
  const expected = await readRange(tp1, 0n, end);
  expect(expected.map(([o]) => o)).toEqual(Array.from({ length: Number(end) }, (_, i) => BigInt(i)));

  await restartStores();
  const logger = memoryLogger();
  const fresh = env.openLog('data2/t-0'); // an empty data dir
  expect(fresh.logEndOffset).toBe(0n);
  tier = new TierManager(env.objects, env.meta, { logger });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: fresh, config: tierConfig({ localRetentionBytes: 1 }) });

  expect(fresh.logStartOffset).toBe(end);
  expect(fresh.logEndOffset).toBe(end);
  expect(tp.logStartOffset).toBe(0n); // ListOffsets earliest
  expect(tp.localLogStartOffset).toBe(end); // earliest-local
  expect(tp.lastTieredOffset).toBe(end - 1n); // latest-tiered
  expect(logger.lines).toContainEqual(expect.stringContaining(`local log starts at the tiered end offset ${end}`));
  expect(await readRange(tp, 0n, end)).toEqual(expected);

  const appended = fresh.append(batch({ count: 3, label: 'after' }), { leaderEpoch: 0 });
  expect(appended.baseOffset).toBe(end);
  fill(fresh, 40);
  await tier.runOnce();
  // Uploads continue right after the old tiered end; the records stay contiguous.
  const segs = tp.remoteSegments;
  for (let i = 1; i < segs.length; i++) expect(segs[i].baseOffset).toBe(segs[i - 1].lastOffset + 1n);
  expect(segs.some((s) => s.baseOffset === end)).toBe(true);
  const all = await readRange(tp, 0n, fresh.highWatermark);
  expect(all.map(([o]) => o)).toEqual(Array.from({ length: Number(fresh.highWatermark) }, (_, i) => BigInt(i)));
});

test('after retention deleted every tiered segment, an empty data dir still continues the offsets', async () => {
  const clock = fakeClock(1_800_000_000_000);
  const first = env.openLog('data1/t-0');
  fill(first, 30, { timestamp: BigInt(clock.now()) });
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), now: clock.now });
  const tp1 = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: first, config: tierConfig({ localRetentionBytes: 1, retentionMs: 1000 }) });
  await tier.runOnce();
  const end = tp1.remoteEndOffset;
  clock.advance(10_000);
  await tier.runOnce();
  expect(tp1.remoteSegments).toEqual([]);

  await restartStores();
  const fresh = env.openLog('data2/t-0');
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), now: clock.now });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: fresh, config: tierConfig({ localRetentionBytes: 1, retentionMs: 1000 }) });
  expect(fresh.logEndOffset).toBe(end);
  expect(tp.logStartOffset).toBe(end);
  expect(tp.lastTieredOffset).toBe(end - 1n);
  expect(fresh.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(end);
});

test('a stale local copy that ends before the tiered end is replaced', async () => {
  const first = env.openLog('data1/t-0');
  fill(first, 40);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp1 = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: first, config: tierConfig() });
  await tier.runOnce();
  const end = tp1.remoteEndOffset;

  await restartStores();
  const stale = env.openLog('old/t-0');
  fill(stale, 3, { label: 'stale' });
  expect(stale.logEndOffset).toBeLessThan(end);
  const logger = memoryLogger();
  tier = new TierManager(env.objects, env.meta, { logger });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: stale, config: tierConfig() });
  expect(stale.logEndOffset).toBe(end);
  expect(logger.lines).toContainEqual(expect.stringContaining('replacing the stale local copy'));
  const r = await tp.read(0n, 2000, { minOneBatch: true });
  expect(decode(r.records)[0][1]).toMatch(/^v0-0/);
});

test('a local copy reopened after the log start moved drops the data below it', async () => {
  const log = env.openLog('data1/t-0');
  fill(log, 40);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await tier.runOnce();
  await restartStores();
  // Another broker moved the start (DeleteRecords) while this copy was away.
  await new RemoteLogMetadata(env.meta.namespace('remote-segments')).raiseState(TOPIC_ID, 0, { logStartOffset: 42n, endOffset: 0n });
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  expect(tp.logStartOffset).toBe(42n);
  expect(log.logStartOffset).toBe(42n);
  expect(fs.existsSync(log.segments()[0].path)).toBe(true);
  await expect(tp.read(41n, 1000, { minOneBatch: true })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
});

test('a log start moved past the tiered end (DeleteRecords into local-only data) holds on an empty data dir', async () => {
  const first = env.openLog('data1/t-0');
  fill(first, 40);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp1 = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: first, config: tierConfig() });
  await tier.runOnce();
  const target = first.logEndOffset - 2n; // past the tiered end, inside the active segment
  expect(target).toBeGreaterThan(tp1.remoteEndOffset);
  await tp1.advanceLogStartOffset(target);
  await restartStores();
  const fresh = env.openLog('data2/t-0');
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: fresh, config: tierConfig() });
  expect(tp.logStartOffset).toBe(target);
  expect(fresh.logEndOffset).toBe(target);
  expect(fresh.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(target);
});

test('a remote segment record that cannot be read keeps its objects: the orphan sweep is skipped, not run', async () => {
  const log = env.openLog('data1/t-0');
  fill(log, 40);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await tier.runOnce();
  expect(tp.remoteEndOffset).toBeGreaterThan(0n);
  const objectsBefore = await listKeys(env.objects, '');
  expect(objectsBefore.length).toBeGreaterThanOrEqual(3);

  // One record becomes unreadable (a bad write by another version, a manual edit).
  const ns = env.meta.namespace('remote-segments');
  const records = await ns.list('segment/');
  expect(records.length).toBeGreaterThan(0);
  await ns.put(records[0].key, { garbage: true }, records[0].version);

  await restartStores();
  const logger = memoryLogger();
  tier = new TierManager(env.objects, env.meta, { logger });
  await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log: env.openLog('data2/t-0'), config: tierConfig() });
  expect(logger.lines.some((l) => l.includes('orphan sweep skipped: 1 remote segment record(s) could not be read'))).toBe(true);
  expect(await listKeys(env.objects, '')).toEqual(objectsBefore);
});
