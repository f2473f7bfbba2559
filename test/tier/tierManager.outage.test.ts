/**
 * Object-store outages: appends and local reads go on, uploads back off exponentially while the
 * local segments stay (backlog reported and logged), and drain once the store is back; reads of
 * tiered-only data fail fast with a retriable error instead of hanging.
 */
import { isStrataError, toKafkaErrorCode } from '../../core/common/errors';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { TierManager } from '../../core/tier/tierManager';
import type { TieredPartition } from '../../core/tier/tieredPartition';
import { TOPIC_ID, TierEnv, decode, fakeClock, fill, memoryLogger, tierConfig } from './tierHelpers';

let env: TierEnv;
let tier: TierManager | null = null;

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  env.objects.releaseHung();
  await tier?.close();
  tier = null;
  await env.destroy();
});

async function readAllFrom(tp: TieredPartition, from: bigint): Promise<bigint[]> {
  const out: bigint[] = [];
  let offset = from;
  while (offset < tp.log.highWatermark) {
    const r = await tp.read(offset, 4096, { minOneBatch: true, maxOffset: tp.log.highWatermark });
    for (const [o] of decode(r.records)) if (o >= offset) out.push(o);
    offset = r.nextOffset;
  }
  return out;
}

test('uploads retry with exponential backoff while local segments stay, then the backlog drains', async () => {
  const clock = fakeClock();
  const logger = memoryLogger();
  const log = env.openLog();
  fill(log, 20);
  tier = new TierManager(env.objects, env.meta, { logger, now: clock.now, retryBackoffMs: 500, retryBackoffMaxMs: 4000 });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  env.objects.mode = 'fail';

  await tier.runOnce();
  expect(tp.remoteSegments).toEqual([]);
  const backlog = tier.backlog();
  expect(backlog.segments).toBeGreaterThanOrEqual(2);
  expect(tier.stats().failingPartitions).toBe(1);
  expect(log.logStartOffset).toBe(0n); // nothing untiered is ever dropped locally
  expect(logger.lines).toContainEqual(expect.stringContaining(`upload backlog ${backlog.segments} segment(s), ${backlog.bytes} bytes kept locally`));
  expect(logger.lines).toContainEqual(expect.stringContaining('(attempt 1)'));
  expect(logger.lines).toContainEqual(expect.stringContaining('retrying in 500 ms'));

  // Producing goes on, and so do reads of local data.
  fill(log, 20);
  expect(tier.backlog().segments).toBeGreaterThan(backlog.segments);
  expect(await readAllFrom(tp, 0n)).toEqual(Array.from({ length: Number(log.logEndOffset) }, (_, i) => BigInt(i)));

  // Inside the backoff window nothing is tried.
  const puts = env.objects.calls.put;
  await tier.runOnce();
  expect(env.objects.calls.put).toBe(puts);
  for (const [advance, attempt, next] of [[500, 2, 1000], [1000, 3, 2000], [2000, 4, 4000], [4000, 5, 4000]] as const) {
    clock.advance(advance);
    await tier.runOnce();
    expect(env.objects.calls.put).toBeGreaterThan(puts);
    expect(logger.lines).toContainEqual(expect.stringContaining(`(attempt ${attempt})`));
    expect(logger.lines[logger.lines.length - 1]).toContain(`retrying in ${next} ms`);
  }

  env.objects.mode = 'ok';
  clock.advance(4000);
  await tier.runOnce();
  expect(tier.backlog()).toEqual({ segments: 0, bytes: 0 });
  expect(tier.stats().failingPartitions).toBe(0);
  expect(logger.lines).toContainEqual(expect.stringContaining('uploads resumed after 5 failed attempt(s)'));
  const segs = log.segments();
  expect(tp.remoteEndOffset).toBe(segs[segs.length - 1].baseOffset);
  expect(log.logStartOffset).toBe(tp.remoteEndOffset); // local retention caught up
  // Nothing was lost: every offset reads back, from the store and then the disk.
  expect(await readAllFrom(tp, 0n)).toEqual(Array.from({ length: Number(log.logEndOffset) }, (_, i) => BigInt(i)));
});

test('reads of tiered-only data fail fast with a retriable error while the store refuses; cached and local data still serve', async () => {
  const clock = fakeClock();
  const log = env.openLog();
  fill(log, 30);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), now: clock.now, cache: { timeoutMs: 2000, failFastMs: 1000, readAheadChunks: 0, chunkBytes: 1024, maxBytes: 64 * 1024 } });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  await tier.runOnce();
  const localStart = log.logStartOffset;
  expect(localStart).toBeGreaterThan(20n);
  const warm = await tp.read(0n, 500, { minOneBatch: true }); // caches the first chunks
  expect(warm.bytes).toBeGreaterThan(0);

  env.objects.mode = 'fail';
  const started = Date.now();
  const err = await tp.read(15n, 500, { minOneBatch: true }).then(() => null, (e: unknown) => e);
  expect(Date.now() - started).toBeLessThan(1000);
  expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
  expect(toKafkaErrorCode(err)).toBe(ErrorCode.KAFKA_STORAGE_ERROR); // retriable for every client

  // The breaker: within failFastMs, misses fail without asking the store again.
  const gets = env.objects.calls.get;
  await expect(tp.read(15n, 500, { minOneBatch: true })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  expect(env.objects.calls.get).toBe(gets);

  // Chunks already cached are still served, and local reads never touch the store.
  const again = await tp.read(0n, 500, { minOneBatch: true });
  expect(Buffer.concat(again.records)).toEqual(Buffer.concat(warm.records));
  const hot = await tp.read(localStart, 1 << 20, { minOneBatch: true });
  expect(decode(hot.records)[0][0]).toBe(localStart);
  expect(env.objects.calls.get).toBe(gets);

  env.objects.mode = 'ok';
  clock.advance(1000);
  const after = await tp.read(15n, 500, { minOneBatch: true });
  expect(decode(after.records).some(([o]) => o === 15n)).toBe(true);
});

test('a store that never answers makes a remote read fail at its timeout, not hang', async () => {
  const log = env.openLog();
  fill(log, 30);
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), cache: { timeoutMs: 1500, failFastMs: 60_000 } });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  await tier.runOnce();
  expect(log.logStartOffset).toBeGreaterThan(0n);

  env.objects.mode = 'hang';
  let started = Date.now();
  await expect(tp.read(0n, 1000, { minOneBatch: true })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('timed out after 1500 ms') });
  const waited = Date.now() - started;
  expect(waited).toBeGreaterThanOrEqual(1400);
  expect(waited).toBeLessThan(10_000);
  // Later reads fail at once (breaker open) instead of each waiting for the timeout.
  started = Date.now();
  await expect(tp.read(0n, 1000, { minOneBatch: true })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  expect(Date.now() - started).toBeLessThan(700); // well under the 1500 ms timeout
  // Producing and local reads are untouched by the hung store.
  fill(log, 2);
  const hot = await tp.read(log.logStartOffset, 1 << 20, { minOneBatch: true });
  expect(hot.nextOffset).toBe(log.logEndOffset);
});

test('a broker restart during an outage still opens its partitions (orphan sweep skipped) and serves local data', async () => {
  const log = env.openLog();
  fill(log, 10);
  const logger = memoryLogger();
  env.objects.mode = 'fail';
  tier = new TierManager(env.objects, env.meta, { logger });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  expect(logger.lines).toContainEqual(expect.stringContaining('orphan sweep failed'));
  expect(await readAllFrom(tp, 0n)).toHaveLength(Number(log.logEndOffset));
});

test('an outage is reported from the first failed upload until the backlog drained: periodic backlog lines, stats, one drained line', async () => {
  const clock = fakeClock();
  const logger = memoryLogger();
  const log = env.openLog();
  fill(log, 20);
  tier = new TierManager(env.objects, env.meta, { logger, now: clock.now, retryBackoffMs: 500, retryBackoffMaxMs: 500, backlogLogIntervalMs: 2000, uploadOnRollDelayMs: 0 });
  await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  const backlogLines = (): string[] => logger.lines.filter((l) => l.includes('upload backlog: '));

  // Healthy uploads report nothing.
  await tier.runOnce();
  expect(tier.stats().outage).toBeNull();
  fill(log, 10);
  env.objects.mode = 'fail';
  clock.advance(100);
  await tier.runOnce();
  const first = tier.backlog();
  expect(first.segments).toBeGreaterThan(0);
  expect(tier.stats().outage).toEqual({ since: clock.now(), resumedAt: null, peak: first });
  expect(backlogLines()).toEqual([]); // the failed attempt's own line carries the backlog

  // Within the interval: no line, however the backlog grows.
  fill(log, 10);
  clock.advance(1000);
  await tier.runOnce();
  expect(backlogLines()).toEqual([]);
  // Past it: one line with the backlog now.
  clock.advance(1000);
  await tier.runOnce();
  const grown = tier.backlog();
  expect(grown.segments).toBeGreaterThan(first.segments);
  expect(backlogLines()).toEqual([expect.stringContaining(`upload backlog: ${grown.segments} segment(s), ${grown.bytes} bytes kept locally; uploads failing in 1 partition(s) for 2000 ms`)]);
  // Unchanged backlog: no repeat.
  clock.advance(2000);
  await tier.runOnce();
  expect(backlogLines()).toHaveLength(1);
  expect(tier.stats().outage?.peak).toEqual(grown);

  // The store is back: everything uploads, one drained line with the numbers, and the episode ends.
  env.objects.mode = 'ok';
  clock.advance(500);
  await tier.runOnce();
  expect(tier.backlog()).toEqual({ segments: 0, bytes: 0 });
  const drained = logger.lines.filter((l) => l.includes('upload backlog drained'));
  expect(drained).toEqual([
    expect.stringContaining(
      `upload backlog drained: ${grown.segments} segment(s), ${grown.bytes} bytes uploaded in 0 ms once uploads resumed; uploads had failed for 4500 ms; ` +
        `peak backlog ${grown.segments} segment(s), ${grown.bytes} bytes`,
    ),
  ]);
  expect(tier.stats().outage).toBeNull();
  // Healthy again: nothing more is logged.
  const linesAfter = logger.lines.length;
  fill(log, 10);
  clock.advance(5000);
  await tier.runOnce();
  expect(tier.stats().uploadedSegments).toBeGreaterThan(grown.segments);
  expect(logger.lines.slice(linesAfter)).toEqual([]);
});
