/**
 * Durability of the local log through a real broker process: clean restart, kill -9 under
 * load, and a segment tail overwritten with garbage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel, Partitioners, type RecordMetadata } from 'kafkajs';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatAvailable, kcatConsumeRecords, kcatProduce } from '../helpers/kcat';
import { segmentFileName } from '../../core/log/segmentFiles';

beforeAll(async () => {
  await kcatAvailable();
});

afterAll(async () => {
  await stopAllBrokers();
});

function kafkaFor(b: BrokerProcess): Kafka {
  return new Kafka({ clientId: 'durability', brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
}

test('a restart keeps every record and offset', async () => {
  let broker = await startBroker({ overrides: { 'num.partitions': '2', 'log.segment.bytes': '16384' } });
  const lines = Array.from({ length: 5000 }, (_, i) => `k${i % 100}=v${i}`);
  // Batches must fit in a segment (Kafka rejects larger ones), so keep them small too.
  await kcatProduce(broker.bootstrap, 'restart', lines, { keyDelimiter: '=', props: { 'batch.size': '4096' } });
  const before = await kcatConsumeRecords(broker.bootstrap, 'restart');
  expect(before).toHaveLength(5000);
  // Small segments: the restart recovers a multi-segment log.
  expect(fs.readdirSync(path.join(broker.dataDir, 'logs', 'restart-0')).filter((f) => f.endsWith('.log')).length).toBeGreaterThan(1);

  broker = await broker.restart();
  const after = await kcatConsumeRecords(broker.bootstrap, 'restart');
  const view = (rs: typeof before) => rs.map((r) => `${r.partition}/${r.offset}/${r.key}/${r.value}`).sort();
  expect(view(after)).toEqual(view(before));

  // The log continues at the old end.
  await kcatProduce(broker.bootstrap, 'restart', ['k0=after-restart'], { keyDelimiter: '=' });
  const again = await kcatConsumeRecords(broker.bootstrap, 'restart');
  const added = again.find((r) => r.value === 'after-restart')!;
  const endBefore = before.filter((r) => r.partition === added.partition).length;
  expect(added.offset).toBe(BigInt(endBefore));
}, 60_000);

test('kill -9 during a produce load loses no acknowledged record', async () => {
  let broker = await startBroker();
  const kafka = kafkaFor(broker);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'crash', numPartitions: 3 }] });
  await admin.disconnect();

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 0 } });
  await producer.connect();
  const acked = new Map<string, string>(); // "partition/offset" -> value
  let sent = 0;
  let killed = false;
  const load = (async () => {
    for (let batch = 0; !killed; batch++) {
      // One partition per send, so the acknowledged base offset places every record exactly.
      const partition = batch % 3;
      const messages = Array.from({ length: 200 }, (_, i) => ({ partition, value: `batch-${batch}-record-${i}` }));
      let meta: RecordMetadata[];
      try {
        meta = await producer.send({ topic: 'crash', acks: 1, messages });
      } catch {
        return; // the broker died under this request: it was not acknowledged
      }
      sent += messages.length;
      expect(meta).toHaveLength(1);
      const base = BigInt(meta[0].baseOffset!);
      messages.forEach((m, i) => acked.set(`${partition}/${base + BigInt(i)}`, m.value));
    }
  })();
  // Kill once a real load is running (an outcome, polled with a bound, not a sleep).
  const deadline = Date.now() + 30_000;
  while (sent < 20_000 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  expect(sent).toBeGreaterThanOrEqual(20_000);
  await broker.kill9();
  killed = true;
  await load;
  await producer.disconnect().catch(() => undefined);

  broker = await broker.restart();
  const records = await kcatConsumeRecords(broker.bootstrap, 'crash', { timeoutMs: 60_000 });
  const stored = new Map(records.map((r) => [`${r.partition}/${r.offset}`, r.value]));
  expect(acked.size).toBeGreaterThanOrEqual(20_000);
  for (const [where, value] of acked) expect([where, stored.get(where)]).toEqual([where, value]);
  // Offsets are contiguous per partition after recovery.
  for (const p of [0, 1, 2]) {
    const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
    offsets.forEach((o, i) => expect(o).toBe(BigInt(i)));
  }
}, 120_000);

test('a segment tail overwritten with garbage is truncated on restart and the valid prefix is served', async () => {
  let broker = await startBroker();
  const first = Array.from({ length: 300 }, (_, i) => `first-${i}`);
  await kcatProduce(broker.bootstrap, 'torn', first, { props: { 'linger.ms': '0', 'batch.num.messages': '10' } });
  const last = Array.from({ length: 10 }, (_, i) => `last-${i}`);
  await kcatProduce(broker.bootstrap, 'torn', last, { props: { 'linger.ms': '100' } });
  await broker.stop();

  const file = path.join(broker.dataDir, 'logs', 'torn-0', segmentFileName(0n, '.log'));
  const size = fs.statSync(file).size;
  // Overwrite the middle of the last batch and append junk: a torn write followed by garbage.
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.alloc(40, 0xab), 0, 40, size - 30);
  fs.closeSync(fd);

  broker = await broker.restart();
  expect(broker.output()).toMatch(/truncat/i);
  const records = await kcatConsumeRecords(broker.bootstrap, 'torn');
  const values = records.map((r) => r.value);
  // Everything before the damaged batch survives, in order, and nothing after it.
  expect(values.slice(0, 300)).toEqual(first);
  expect(values.length).toBeLessThan(310);
  expect(values.every((v, i) => v === (i < 300 ? first[i] : last[i - 300]))).toBe(true);

  // The log keeps working: new records continue right after the valid prefix.
  await kcatProduce(broker.bootstrap, 'torn', ['after-repair']);
  const again = await kcatConsumeRecords(broker.bootstrap, 'torn');
  expect(again[again.length - 1]).toMatchObject({ value: 'after-repair', offset: BigInt(values.length) });
}, 60_000);
