/**
 * Retention on the local log: closed segments past retention.bytes / retention.ms are deleted
 * by the broker's housekeeping and the log start offset (ListOffsets earliest) moves; compacted
 * topics are left alone by delete retention.
 */
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'log.retention.check.interval.ms': '200' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

async function fill(topic: string, batches: number): Promise<void> {
  for (let i = 0; i < batches; i++) {
    await client.produce(topic, 0, Array.from({ length: 20 }, (_, j) => ({ key: Buffer.from(`k${j}`), value: Buffer.alloc(100, i) })), { acks: 1 });
  }
}

test('retention.bytes deletes the oldest closed segments and moves the log start offset', async () => {
  await client.createTopics([{ name: 'ret-bytes', numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '4096', 'retention.bytes': '8192' } }]);
  await fill('ret-bytes', 40);
  const end = (await client.listOffsets('ret-bytes', 0, -1n)).offset;
  expect(end).toBe(800n);
  await waitFor(async () => (await client.listOffsets('ret-bytes', 0, -2n)).offset > 0n, { timeoutMs: 15_000, message: 'log start offset never moved' });
  const start = (await client.listOffsets('ret-bytes', 0, -2n)).offset;
  // Records from the new start on are all still readable; the ones before are gone.
  const r = await client.fetch('ret-bytes', 0, start, { maxWaitMs: 0 });
  expect(r.records[0].offset).toBe(start);
  expect(r.logStartOffset).toBe(start);
  await expect(client.fetch('ret-bytes', 0, 0n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
  expect(end - start).toBeGreaterThan(0n);
});

test('retention.ms deletes old segments, but not on a compacted topic', async () => {
  await client.createTopics([
    { name: 'ret-time', numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '4096', 'retention.ms': '1000' } },
    { name: 'ret-compact', numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '4096', 'retention.ms': '1000', 'cleanup.policy': 'compact' } },
  ]);
  // Records stamped two hours ago are past retention.ms as soon as their segment closes.
  const old = BigInt(Date.now() - 2 * 3600_000);
  for (const topic of ['ret-time', 'ret-compact']) {
    for (let i = 0; i < 20; i++) {
      await client.produce(topic, 0, Array.from({ length: 20 }, (_, j) => ({ key: Buffer.from(`k${j}`), value: Buffer.alloc(100, i), timestamp: old })), { acks: 1 });
    }
  }
  await waitFor(async () => (await client.listOffsets('ret-time', 0, -2n)).offset > 0n, { timeoutMs: 15_000, message: 'time retention never deleted a segment' });
  expect((await client.listOffsets('ret-compact', 0, -2n)).offset).toBe(0n);
});
