/**
 * Fetch long-poll: a fetch with min_bytes that cannot be met waits max_wait_ms, and one that
 * is waiting wakes as soon as a record is appended to its partition.
 */
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

let broker: BrokerProcess;
let consumer: StrataClient;
let producer: StrataClient;

beforeAll(async () => {
  broker = await startBroker();
  consumer = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'long-poll-consumer' });
  producer = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'long-poll-producer' });
  await producer.createTopics([{ name: 'poll', numPartitions: 1, replicationFactor: 1 }]);
});

afterAll(async () => {
  await consumer?.close();
  await producer?.close();
  await stopAllBrokers();
});

test('an empty fetch waits for max_wait_ms, then answers with no records', async () => {
  const started = Date.now();
  const r = await consumer.fetch('poll', 0, 0n, { maxWaitMs: 400, minBytes: 1 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  expect(r.records).toEqual([]);
  expect(r.highWatermark).toBe(0n);
});

test('a waiting fetch wakes when data arrives', async () => {
  const maxWaitMs = 30_000;
  const started = Date.now();
  const pending = consumer.fetch('poll', 0, 0n, { maxWaitMs, minBytes: 1 });
  // The fetch is sent first on its own connection; the produce follows on another.
  await new Promise((r) => setImmediate(r));
  await producer.produce('poll', 0, [{ key: Buffer.from('k'), value: Buffer.from('wake up') }], { acks: 1 });
  const r = await pending;
  const elapsed = Date.now() - started;
  expect(r.records.map((x) => x.value?.toString())).toEqual(['wake up']);
  expect(r.highWatermark).toBe(1n);
  // Had the fetch not been woken by the append it would have answered only at maxWaitMs.
  expect(elapsed).toBeLessThan(maxWaitMs / 2);
});

test('a fetch beyond the log end gets OFFSET_OUT_OF_RANGE', async () => {
  await expect(consumer.fetch('poll', 0, 1000n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE', errorCode: 1 });
});
