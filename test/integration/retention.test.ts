/**
 * Retention on the local log: closed segments past retention.bytes / retention.ms are deleted
 * by the broker's housekeeping and the log start offset (ListOffsets earliest) moves; compacted
 * topics are left alone by delete retention.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { runPythonJson } from '../helpers/python';
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

/**
 * librdkafka sends records without a timestamp (the application passed -1) with the batch's
 * maxTimestamp 0. Kafka stores the records' own largest timestamp (none: -1) and ages such a
 * segment by its file's modification time, so the records are kept for retention.ms. Partition
 * 2 gets records stamped two hours ago: once time retention has deleted those, a retention pass
 * has seen the closed segments of partitions 0 and 1.
 */
test('records without a timestamp (-1) survive time retention, plain and lz4', async () => {
  const topic = 'ret-no-timestamp';
  await client.createTopics([{ name: topic, numPartitions: 3, replicationFactor: 1, configs: { 'retention.ms': '600000', 'segment.ms': '100' } }]);
  const produce = (partition: number, timestamp: number, codec: string) =>
    runPythonJson<{ errors: string[] }>(
      {
        code: String.raw`
import json, sys
from confluent_kafka import Producer
bootstrap, topic, partition, ts, codec = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
p = Producer({'bootstrap.servers': bootstrap, 'linger.ms': 5, 'compression.type': codec})
errors = []
def report(err, msg):
    if err is not None: errors.append(str(err))
for i in range(10):
    p.produce(topic, value=('v%d' % i).encode(), partition=partition, timestamp=ts, on_delivery=report)
left = p.flush(30)
if left: errors.append('%d unflushed' % left)
print(json.dumps({'errors': errors}))
`,
      },
      { args: [broker.bootstrap, topic, String(partition), String(timestamp), codec] },
    );
  expect((await produce(0, -1, 'none')).errors).toEqual([]);
  expect((await produce(1, -1, 'lz4')).errors).toEqual([]);
  // segment.ms rolls both active segments (housekeeping), so they are retention candidates.
  const closedSegments = (p: number) => fs.readdirSync(path.join(broker.dataDir, 'logs', `${topic}-${p}`)).filter((f) => f.endsWith('.log')).length;
  await waitFor(() => closedSegments(0) >= 2 && closedSegments(1) >= 2, { timeoutMs: 15_000, message: 'segment.ms never rolled the segments' });
  expect((await produce(2, Date.now() - 2 * 3600_000, 'none')).errors).toEqual([]);
  await waitFor(async () => (await client.listOffsets(topic, 2, -2n)).offset > 0n, { timeoutMs: 15_000, message: 'time retention never deleted the old records' });
  for (const p of [0, 1]) {
    expect((await client.listOffsets(topic, p, -2n)).offset).toBe(0n);
    expect((await client.listOffsets(topic, p, -1n)).offset).toBe(10n);
    const r = await client.fetch(topic, p, 0n, { maxWaitMs: 0 });
    expect(r.records.map((x) => x.value?.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
  }
});
