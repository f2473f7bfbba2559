/**
 * Log compaction through a real broker process: the broker's housekeeping runs the log cleaner
 * (core/log/logCleaner.ts) on cleanup.policy=compact topics every log.cleaner.backoff.ms. After
 * it has run, exactly the last value of every live key remains at its original offset, deleted
 * keys disappear after delete.retention.ms, kcat (librdkafka) reads the compacted partition,
 * delete-policy topics are left alone, a restart keeps the compacted log, and a compacted topic
 * refuses keyless records.
 */
import { StrataClient } from '../../core/client/client';
import type { FetchedRecord } from '../../core/client/records';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatAvailable, kcatConsumeRecords } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker({ overrides: { 'log.cleaner.backoff.ms': '200', 'num.partitions': '1' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

type Row = [offset: bigint, key: string | null, value: string | null];

/** Every record of partition 0 up to the high watermark. */
async function readAll(c: StrataClient, topic: string): Promise<Row[]> {
  const rows: Row[] = [];
  let offset = (await c.listOffsets(topic, 0, -2n)).offset;
  for (;;) {
    const r = await c.fetch(topic, 0, offset, { maxWaitMs: 0, maxBytes: 4 << 20 });
    rows.push(...r.records.map((x: FetchedRecord): Row => [x.offset, x.key?.toString() ?? null, x.value?.toString() ?? null]));
    if (r.nextOffset >= r.highWatermark || r.nextOffset === offset) return rows;
    offset = r.nextOffset;
  }
}

const KEYS = 100;
const BATCHES = 100;
const PER_BATCH = 200;

/** 20,000 updates over 100 keys, about 1 in 15 a tombstone; returns the last write of each key. */
async function produceUpdates(topic: string): Promise<Map<string, Row>> {
  const last = new Map<string, Row>();
  let n = 0;
  for (let b = 0; b < BATCHES; b++) {
    const records = Array.from({ length: PER_BATCH }, () => {
      const key = `k${(n * 37 + (n >> 3)) % KEYS}`;
      const value = n % 15 === 7 ? null : `v${n}-${'x'.repeat(40)}`;
      n++;
      return { key, value };
    });
    const { baseOffset } = await client.produce(topic, 0, records, { acks: 1 });
    records.forEach((r, i) => last.set(r.key, [baseOffset + BigInt(i), r.key, r.value]));
  }
  return last;
}

test('the cleaner keeps the last value per key at its offset, drops deleted keys after delete.retention.ms, and kcat reads the result', async () => {
  const topic = 'compacted';
  await client.createTopics([
    {
      name: topic,
      numPartitions: 1,
      replicationFactor: 1,
      configs: { 'cleanup.policy': 'compact', 'segment.bytes': '16384', 'min.cleanable.dirty.ratio': '0.01', 'delete.retention.ms': '3000' },
    },
    { name: 'not-compacted', numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '16384' } },
  ]);
  const last = await produceUpdates(topic);
  for (let b = 0; b < 10; b++) {
    await client.produce('not-compacted', 0, Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 10}`, value: `v${b}.${i}` })), { acks: 1 });
  }
  // Unique-key filler after the updates rolls them all into closed (cleanable) segments.
  for (let i = 0; i < 40; i++) await client.produce(topic, 0, [{ key: `fill-${i}`, value: 'f'.repeat(1000) }], { acks: 1 });
  const end = (await client.listOffsets(topic, 0, -1n)).offset;
  expect(end).toBe(BigInt(BATCHES * PER_BATCH + 40));

  const live = [...last.values()].filter((r) => r[2] !== null).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const deleted = [...last.values()].filter((r) => r[2] === null);
  expect(deleted.length).toBeGreaterThan(0);
  const updates = (rows: Row[]): Row[] => rows.filter((r) => r[1] !== null && !r[1].startsWith('fill-'));

  // Compacted: every live key once, with its last value at its original offset; a deleted key
  // shows at most its tombstone (kept delete.retention.ms after the clean that first saw it).
  await waitFor(
    async () => {
      const rows = updates(await readAll(client, topic));
      return JSON.stringify(rows.filter((r) => r[2] !== null).map(String)) === JSON.stringify(live.map(String)) && rows.length <= last.size;
    },
    { timeoutMs: 30_000, intervalMs: 200, message: 'the compacted topic never showed exactly the last value per key' },
  );
  const compacted = updates(await readAll(client, topic));
  for (const r of compacted.filter((x) => x[2] === null)) expect(last.get(r[1]!)).toEqual(r);

  // kcat (librdkafka) reads the compacted partition: same records, same offsets.
  const viaKcat = await kcatConsumeRecords(broker.bootstrap, topic, { partition: 0, timeoutMs: 30_000 });
  const kcatRows = viaKcat.map((r): Row => [r.offset, r.key, r.value]);
  const clientRows = await readAll(client, topic);
  expect(updates(kcatRows).filter((r) => r[2] !== null)).toEqual(live);
  expect(kcatRows.filter((r) => r[1]?.startsWith('fill-')).map((r) => r[0])).toEqual(clientRows.filter((r) => r[1]?.startsWith('fill-')).map((r) => r[0]));

  // Deleted keys go once their tombstones are past delete.retention.ms, without new writes.
  await waitFor(async () => updates(await readAll(client, topic)).length === live.length, {
    timeoutMs: 30_000,
    intervalMs: 200,
    message: 'tombstones were never removed after delete.retention.ms',
  });
  expect(updates(await readAll(client, topic))).toEqual(live);
  // The log end did not move, and a delete-policy topic kept every record.
  expect((await client.listOffsets(topic, 0, -1n)).offset).toBe(end);
  expect(await readAll(client, 'not-compacted')).toHaveLength(1000);

  // A restart reopens the compacted segments (and the cleaner checkpoint) as they are.
  const before = await readAll(client, topic);
  await client.close();
  broker = await broker.restart({ samePort: true });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  expect(await readAll(client, topic)).toEqual(before);
  const next = await client.produce(topic, 0, [{ key: 'k1', value: 'after-restart' }], { acks: 1 });
  expect(next.baseOffset).toBe(end);
});

test('a compacted topic refuses records without a key (INVALID_RECORD)', async () => {
  await client.createTopics([{ name: 'compacted-keys', numPartitions: 1, replicationFactor: 1, configs: { 'cleanup.policy': 'compact' } }]);
  await expect(client.produce('compacted-keys', 0, [{ key: 'a', value: '1' }, { key: null, value: '2' }], { acks: 1 })).rejects.toMatchObject({
    errorName: 'INVALID_RECORD',
  });
  await expect(client.produce('compacted-keys', 0, [{ key: 'a', value: '1' }], { acks: 1, compression: 'gzip' })).resolves.toMatchObject({ baseOffset: 0n });
  // KIP-467: a batch of 100 with 10 keyless records names exactly those 10 (Produce v8+ record_errors).
  const keyless = [3, 13, 23, 33, 43, 53, 63, 73, 83, 93];
  const batch = Array.from({ length: 100 }, (_, i) => ({ key: keyless.includes(i) ? null : `k${i}`, value: `v${i}` }));
  const refused = await client.produce('compacted-keys', 0, batch, { acks: 1 }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(refused).toMatchObject({ errorName: 'INVALID_RECORD', errorMessage: expect.stringMatching(/due to 10 record errors/) });
  expect((refused as { recordErrors: { batchIndex: number }[] }).recordErrors.map((e) => e.batchIndex)).toEqual(keyless);
  expect((await client.listOffsets('compacted-keys', 0, -1n)).offset).toBe(1n);
  await expect(client.produce('compacted-keys', 0, [{ key: null, value: 'x' }], { acks: 1, compression: 'gzip' })).rejects.toMatchObject({
    errorName: 'INVALID_RECORD',
  });
});
