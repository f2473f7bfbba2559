/**
 * Measures cold (object store through the read cache) against hot (local segment) reads of the
 * same 64 MiB, 1 MiB per fetch as consumers do, and checks both return the same bytes. The
 * object store is the file adapter, so "cold" measures Strata's remote path (ranged GETs of
 * 1 MiB chunks, index lookups, header walks, read-ahead), not network latency.
 */
import { createHash } from 'node:crypto';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { TierManager } from '../../core/tier/tierManager';
import { TOPIC_ID, TierEnv, memoryLogger, tierConfig } from './tierHelpers';

const MiB = 1024 * 1024;
let env: TierEnv;
let tier: TierManager | null = null;

beforeAll(async () => {
  env = await TierEnv.create();
});

afterAll(async () => {
  await tier?.close();
  await env.destroy();
});

test('cold remote reads vs hot local reads of 64 MiB', async () => {
  const log = env.openLog('data/t-0', { segmentBytes: 8 * MiB, indexIntervalBytes: 4096 });
  const value = Buffer.alloc(1000, 'x');
  const template = buildRecordBatch({ records: Array.from({ length: 64 }, (_, i) => ({ key: Buffer.from(`k${i}`), value, timestamp: 1_700_000_000_000n })) });
  while (log.size < 64 * MiB) log.append(Buffer.from(template), { leaderEpoch: 0 });
  const total = log.size;
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), cache: { maxBytes: 64 * MiB, chunkBytes: MiB, readAheadChunks: 2 } });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  let t = process.hrtime.bigint();
  await tier.runOnce();
  const uploadMs = Number(process.hrtime.bigint() - t) / 1e6;
  const end = tp.remoteEndOffset;
  const tieredBytes = tp.remoteSegments.reduce((n, s) => n + s.sizeBytes, 0);

  const hotHash = createHash('sha256');
  t = process.hrtime.bigint();
  for (let offset = 0n; offset < end; ) {
    const r = log.read(offset, MiB, { minOneBatch: true, maxOffset: end });
    for (const b of r.records) hotHash.update(b);
    offset = r.nextOffset;
  }
  const hotMs = Number(process.hrtime.bigint() - t) / 1e6;

  tier.updateConfig(TOPIC_ID, 0, tierConfig({ localRetentionBytes: 1 }));
  await tier.runOnce();
  expect(log.logStartOffset).toBe(end);

  const coldHash = createHash('sha256');
  t = process.hrtime.bigint();
  for (let offset = 0n; offset < end; ) {
    const r = await tp.read(offset, MiB, { minOneBatch: true, maxOffset: end });
    for (const b of r.records) coldHash.update(b);
    offset = r.nextOffset;
  }
  const coldMs = Number(process.hrtime.bigint() - t) / 1e6;

  expect(coldHash.digest('hex')).toBe(hotHash.digest('hex'));
  const stats = tier.stats().cache;
  expect(stats.bytes).toBeLessThanOrEqual(64 * MiB);
  const mbps = (ms: number): string => ((tieredBytes / MiB) / (ms / 1000)).toFixed(0);
  // The measured numbers, for the report (not asserted: the machine is shared).
  console.log(
    `tier throughput over ${(tieredBytes / MiB).toFixed(1)} MiB tiered of ${(total / MiB).toFixed(1)} MiB: ` +
      `upload ${mbps(uploadMs)} MiB/s, hot local reads ${mbps(hotMs)} MiB/s (${hotMs.toFixed(0)} ms), ` +
      `cold remote reads ${mbps(coldMs)} MiB/s (${coldMs.toFixed(0)} ms); cache ${stats.misses} misses, ${stats.hits} hits, ${stats.prefetches} read-ahead chunks`,
  );
}, 60_000);

test('read-ahead hides object-store latency from a sequential consumer', async () => {
  // 16 MiB tiered, every GET delayed 20 ms (an S3-like round trip); 1 MiB fetches.
  const results: string[] = [];
  for (const readAheadChunks of [0, 4]) {
    const sub = await TierEnv.create();
    try {
      const log = sub.openLog('data/t-0', { segmentBytes: 4 * MiB, indexIntervalBytes: 4096 });
      const template = buildRecordBatch({ records: Array.from({ length: 64 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.alloc(1000, 'y'), timestamp: 1_700_000_000_000n })) });
      while (log.size < 16 * MiB) log.append(Buffer.from(template), { leaderEpoch: 0 });
      const t2 = new TierManager(sub.objects, sub.meta, { logger: memoryLogger(), cache: { chunkBytes: MiB, maxBytes: 32 * MiB, readAheadChunks } });
      try {
        const tp = await t2.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
        await t2.runOnce();
        const end = tp.remoteEndOffset;
        sub.objects.getDelayMs = 20;
        const started = process.hrtime.bigint();
        let bytes = 0;
        for (let offset = 0n; offset < end; ) {
          const r = await tp.read(offset, MiB, { minOneBatch: true, maxOffset: end });
          bytes += r.bytes;
          offset = r.nextOffset;
        }
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        results.push(`read-ahead ${readAheadChunks}: ${((bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s (${ms.toFixed(0)} ms)`);
        sub.objects.getDelayMs = 0;
      } finally {
        await t2.close();
      }
    } finally {
      await sub.destroy();
    }
  }
  console.log(`cold reads with 20 ms per GET: ${results.join(', ')}`);
  expect(results).toHaveLength(2);
}, 60_000);
