/**
 * Retention across tiers: retention.bytes counts tiered plus untiered-local bytes, retention.ms
 * goes by each segment's largest timestamp; a tiered segment's record is deleted before its
 * objects (invariant 6); the log start moves and is remembered in the metadata store.
 */
import { TierManager } from '../../core/tier/tierManager';
import { RemoteLogMetadata } from '../../core/tier/remoteLogMetadata';
import { allObjectKeys } from '../../core/tier/remoteSegmentKeys';
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

test('retention.bytes deletes the oldest tiered segments, record first, then objects, and moves the log start', async () => {
  const log = env.openLog();
  fill(log, 60);
  const segBytes = log.segments()[0].size;
  const metadata = new RemoteLogMetadata(env.meta.namespace('remote-segments'));
  const events: string[] = [];
  const realRemove = metadata.removeSegment.bind(metadata);
  metadata.removeSegment = async (s) => {
    events.push(`record ${s.baseOffset}`);
    return realRemove(s);
  };
  const realDelete = env.objects.delete.bind(env.objects);
  env.objects.delete = async (key) => {
    if (key.endsWith('.log')) events.push(`object ${BigInt(key.split('/').pop()!.slice(0, 20))}`);
    return realDelete(key);
  };
  tier = new TierManager(env.objects, metadata, { logger: memoryLogger() });
  // Upload first with no limit, then set retention.bytes to about four segments.
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  await tier.runOnce();
  const tiered = tp.remoteSegments.length;
  expect(tiered).toBeGreaterThanOrEqual(8);
  const totalBefore = tp.remoteSegments.reduce((n, s) => n + s.sizeBytes, 0) + log.size;

  tier.updateConfig(TOPIC_ID, 0, tierConfig({ localRetentionBytes: 1, retentionBytes: 4 * segBytes }));
  await tier.runOnce();

  const remaining = tp.remoteSegments;
  const total = remaining.reduce((n, s) => n + s.sizeBytes, 0) + log.size;
  expect(total).toBeLessThan(totalBefore);
  expect(total).toBeGreaterThanOrEqual(4 * segBytes); // deleting one more would go below the limit
  expect(total - remaining[0].sizeBytes).toBeLessThan(4 * segBytes);
  expect(tp.logStartOffset).toBe(remaining[0].baseOffset);
  const deleted = tiered - remaining.length;
  expect(deleted).toBeGreaterThan(0);
  // Invariant 6: each record goes before its objects.
  const recordEvents = events.filter((e) => e.startsWith('record '));
  expect(recordEvents).toHaveLength(deleted);
  for (const e of recordEvents) {
    const base = e.slice('record '.length);
    expect(events.indexOf(`object ${base}`)).toBeGreaterThan(events.indexOf(e));
  }
  expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual(remaining.flatMap((r) => allObjectKeys(r.keys)).sort());
  expect(await metadata.listSegments(TOPIC_ID, 0)).toEqual(remaining);
  expect(await metadata.getState(TOPIC_ID, 0)).toMatchObject({ state: { logStartOffset: remaining[0].baseOffset } });

  // Below the start is gone; the start itself reads.
  await expect(tp.read(0n, 1000, { minOneBatch: true })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
  const r = await tp.read(tp.logStartOffset, 1000, { minOneBatch: true });
  expect(decode(r.records)[0][0]).toBe(tp.logStartOffset);
});

test('retention.bytes counts local data not tiered yet, and never deletes it', async () => {
  const log = env.openLog();
  fill(log, 40);
  const segBytes = log.segments()[0].size;
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await tier.runOnce();
  const tieredEnd = tp.remoteEndOffset;
  // Tiering off for new segments (an outage would do the same): more local-only data arrives.
  tier.updateConfig(TOPIC_ID, 0, tierConfig({ remoteStorageEnable: false }));
  fill(log, 40);
  tier.updateConfig(TOPIC_ID, 0, tierConfig({ remoteStorageEnable: false, retentionBytes: 2 * segBytes }));
  await tier.runOnce();
  // Every tiered segment is now beyond the limit; untiered local data alone exceeds it but stays.
  expect(tp.remoteSegments).toEqual([]);
  expect(tp.logStartOffset).toBe(tieredEnd);
  expect(log.logStartOffset).toBe(tieredEnd);
  expect(tp.lastTieredOffset).toBe(tieredEnd - 1n);
  const r = await tp.read(tieredEnd, 1000, { minOneBatch: true });
  expect(decode(r.records)[0][0]).toBe(tieredEnd);
});

test('retention.ms deletes tiered segments by their largest timestamp; compacted topics keep theirs', async () => {
  const clock = fakeClock(1_800_000_000_000);
  const old = BigInt(clock.now() - 3_600_000);
  const log = env.openLog();
  fill(log, 20, { timestamp: old });
  fill(log, 20, { timestamp: BigInt(clock.now()) });
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), now: clock.now });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1, deleteRetention: false, retentionMs: 60_000 }) });
  await tier.runOnce();
  const before = tp.remoteSegments.length;
  expect(tp.remoteSegments.some((s) => s.maxTimestamp <= old + 10n)).toBe(true);
  await tier.runOnce();
  expect(tp.remoteSegments.length).toBe(before); // cleanup.policy=compact: no delete retention

  tier.updateConfig(TOPIC_ID, 0, tierConfig({ localRetentionBytes: 1, retentionMs: 60_000 }));
  await tier.runOnce();
  expect(tp.remoteSegments.length).toBeLessThan(before);
  expect(tp.remoteSegments.every((s) => s.maxTimestamp > old + 10n)).toBe(true);
  expect(tp.logStartOffset).toBe(tp.remoteSegments[0].baseOffset);
  // An hour later everything tiered is past retention.ms.
  clock.advance(3_600_000);
  await tier.runOnce();
  expect(tp.remoteSegments).toEqual([]);
  expect(tp.logStartOffset).toBe(log.logStartOffset);
});

test('advancing the log start (DeleteRecords) is stored first, drops local data, and later the tiered segments below it', async () => {
  const log = env.openLog();
  fill(log, 40);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ deleteRetention: false }) });
  await tier.runOnce();
  const segs = tp.remoteSegments;
  const target = segs[2].baseOffset + 2n; // inside the third tiered segment
  expect(await tp.advanceLogStartOffset(target)).toBe(target);
  expect(tp.logStartOffset).toBe(target);
  expect(log.logStartOffset).toBe(target);
  await expect(tp.read(target - 1n, 1000, { minOneBatch: true })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
  await tier.runOnce();
  // The two segments wholly below go (even with delete retention off); the straddling one stays.
  expect(tp.remoteSegments.map((s) => s.baseOffset)).toEqual(segs.slice(2).map((s) => s.baseOffset));
  expect(tp.logStartOffset).toBe(target);
  await expect(tp.advanceLogStartOffset(log.highWatermark + 1n)).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
  expect(await tp.advanceLogStartOffset(0n)).toBe(target); // never moves back
});

test('deleting a topic deletes its tiered records, objects and state', async () => {
  const log = env.openLog();
  fill(log, 30);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await tier.runOnce();
  await tp.advanceLogStartOffset(3n);
  expect(tp.remoteSegments.length).toBeGreaterThan(0);
  const other = 'BBBBBBBBBBBBBBBBBBBBBQ';
  await env.files.put(`remote-log/${other}/0/keep-me`, Buffer.from('x'));
  const n = await tier.deleteTopicData(TOPIC_ID);
  expect(n).toBe(tp.remoteSegments.length);
  expect(tier.partition(TOPIC_ID, 0)).toBeUndefined();
  expect(await listKeys(env.files, 'remote-log/')).toEqual([`remote-log/${other}/0/keep-me`]);
  expect(await env.meta.namespace('remote-segments').list('')).toEqual([]);
});

test('tiered data of topics that no longer exist is found and deleted', async () => {
  const other = 'CCCCCCCCCCCCCCCCCCCCCQ';
  const logA = env.openLog('data/a-0');
  const logB = env.openLog('data/b-0');
  fill(logA, 12);
  fill(logB, 12);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  await tier.openPartition({ topicId: TOPIC_ID, topicName: 'a', partition: 0, log: logA, config: tierConfig() });
  const b = await tier.openPartition({ topicId: other, topicName: 'b', partition: 0, log: logB, config: tierConfig() });
  await tier.runOnce();
  expect(await tier.deleteUnknownTopics((id) => id === other)).toEqual([TOPIC_ID]);
  expect((await listKeys(env.files, 'remote-log/')).every((k) => k.startsWith(`remote-log/${other}/`))).toBe(true);
  expect(await tier.metadata.listTopicIds()).toEqual([other]);
  expect(b.remoteSegments.length).toBeGreaterThan(0);
});
