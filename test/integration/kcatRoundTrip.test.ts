/**
 * Done-means 1 and the codec part of 2: kcat (librdkafka) produces and consumes through a
 * real broker process. Keys land in the partition librdkafka's default partitioner maps them
 * to, offsets are contiguous per partition, and compressed batches are stored as produced.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcat, kcatAvailable, kcatConsumeRecords, kcatProduce } from '../helpers/kcat';
import { librdkafkaPartition } from '../../core/client/partitioner';
import { segmentFileName } from '../../core/log/segmentFiles';

let broker: BrokerProcess;

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker({ overrides: { 'num.partitions': '1' } });
});

afterAll(async () => {
  await stopAllBrokers();
});

async function createTopic(name: string, partitions: number): Promise<void> {
  const { StrataClient } = await import('../../core/client/client');
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    await client.createTopics([{ name, numPartitions: partitions, replicationFactor: 1 }]);
  } finally {
    await client.close();
  }
}

test('100,000 keyed records round-trip on a 3-partition topic, each in the partition its key maps to', async () => {
  const topic = 'keyed-100k';
  await createTopic(topic, 3);
  const n = 100_000;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`key-${i % 5000}|value-${i}`);
  await kcatProduce(broker.bootstrap, topic, lines, { keyDelimiter: '|', props: { acks: 'all', 'linger.ms': '20' }, timeoutMs: 120_000 });

  const records = await kcatConsumeRecords(broker.bootstrap, topic, { timeoutMs: 120_000 });
  expect(records).toHaveLength(n);

  const byPartition = new Map<number, bigint[]>();
  const seen = new Set<string>();
  for (const r of records) {
    expect(r.partition).toBe(librdkafkaPartition(Buffer.from(r.key!), 3));
    const v = r.value!;
    expect(v.startsWith('value-')).toBe(true);
    expect(r.key).toBe(`key-${Number(v.slice(6)) % 5000}`);
    seen.add(v);
    if (!byPartition.has(r.partition)) byPartition.set(r.partition, []);
    byPartition.get(r.partition)!.push(r.offset);
  }
  expect(seen.size).toBe(n);
  expect([...byPartition.keys()].sort()).toEqual([0, 1, 2]);
  for (const offsets of byPartition.values()) {
    offsets.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    offsets.forEach((o, i) => expect(o).toBe(BigInt(i)));
  }
  // Per-key order is preserved: records of one key appear in production order.
  const lastIndexOfKey = new Map<string, number>();
  for (const r of records) {
    const idx = Number(r.value!.slice(6));
    const prev = lastIndexOfKey.get(r.key!) ?? -1;
    expect(idx).toBeGreaterThan(prev);
    lastIndexOfKey.set(r.key!, idx);
  }
}, 240_000);

const CODEC_IDS = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;

test.each(Object.keys(CODEC_IDS) as (keyof typeof CODEC_IDS)[])('%s batches are stored as produced and read back intact', async (codec) => {
  const topic = `codec-${codec}`;
  await createTopic(topic, 1);
  const lines = Array.from({ length: 2000 }, (_, i) => `k${i % 17}:${codec}-record-${i}-${'x'.repeat(i % 50)}`);
  await kcatProduce(broker.bootstrap, topic, lines, { keyDelimiter: ':', compression: codec, props: { 'linger.ms': '50' } });

  const records = await kcatConsumeRecords(broker.bootstrap, topic);
  expect(records.map((r) => `${r.key}:${r.value}`)).toEqual(lines);
  expect(records.map((r) => r.offset)).toEqual(lines.map((_, i) => BigInt(i)));

  // Inspect the segment: every batch carries the producer's codec in its attributes (no re-encoding).
  const log = fs.readFileSync(path.join(broker.dataDir, 'logs', `${topic}-0`, segmentFileName(0n, '.log')));
  let pos = 0;
  let batches = 0;
  while (pos + 61 <= log.length) {
    const len = log.readInt32BE(pos + 8);
    expect(log.readInt16BE(pos + 21) & 0x7).toBe(CODEC_IDS[codec]);
    pos += 12 + len;
    batches++;
  }
  expect(pos).toBe(log.length);
  expect(batches).toBeGreaterThan(0);
  expect(batches).toBeLessThan(lines.length); // batched, hence really compressed as batches
}, 60_000);

test('kcat metadata lists the broker and topics', async () => {
  await createTopic('listed', 2);
  const r = await kcat(['-L', '-b', broker.bootstrap, '-J']);
  expect(r.code).toBe(0);
  const meta = JSON.parse(r.stdout.toString('utf8'));
  expect(meta.brokers).toEqual([{ id: 0, name: `${broker.host}:${broker.port}` }]);
  const t = meta.topics.find((x: { topic: string }) => x.topic === 'listed');
  expect(t.partitions.map((p: { partition: number; leader: number }) => [p.partition, p.leader])).toEqual([
    [0, 0],
    [1, 0],
  ]);
});

test('producing to a missing topic auto-creates it with num.partitions', async () => {
  await kcatProduce(broker.bootstrap, 'auto-created', ['a', 'b', 'c']);
  const records = await kcatConsumeRecords(broker.bootstrap, 'auto-created');
  expect(records.map((r) => r.value)).toEqual(['a', 'b', 'c']);
  expect(records.every((r) => r.partition === 0)).toBe(true);
});
