/**
 * Producer state and the last stable offset survive a broker crash: idempotent producers, a
 * committed, an aborted and an open transaction are written over several segments (so recovery
 * starts from a producer-state snapshot and replays the rest); after kill -9 and a restart, and
 * again after a clean restart, DescribeProducers, the high watermark, the last stable offset
 * and the read_committed view are exactly what they were, and a retried batch from before the
 * crash is still recognised as a duplicate.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { TransactionsAdmin } from '../../core/client/transactionsAdmin';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

const TOPIC = 'recover';
const PARTITIONS = 2;

let broker: BrokerProcess;
const producers: Producer[] = [];

afterAll(async () => {
  for (const p of producers) await p.disconnect().catch(() => undefined);
  await stopAllBrokers();
});

interface Observed {
  producers: unknown;
  offsets: { hw: bigint; lso: bigint }[];
  committed: string[][];
}

/** What a client can see of the partitions' producer state and transactions. */
async function observe(): Promise<Observed> {
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    const admin = new TransactionsAdmin(client);
    const described = await admin.describeProducers(TOPIC, [0, 1]);
    const offsets = [];
    const committed: string[][] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const hw = (await client.listOffsets(TOPIC, p, -1n)).offset;
      const lso = (await client.listOffsets(TOPIC, p, -1n, { isolationLevel: 1 })).offset;
      offsets.push({ hw, lso });
      const values: string[] = [];
      let offset = 0n;
      while (offset < lso) {
        const r = await client.fetch(TOPIC, p, offset, { maxWaitMs: 0, isolationLevel: 1 });
        values.push(...r.records.map((x) => x.value!.toString()));
        if (r.nextOffset === offset) break;
        offset = r.nextOffset;
      }
      committed.push(values);
    }
    return { producers: described.map((d) => ({ partition: d.partition, error: d.error, producers: d.activeProducers })), offsets, committed };
  } finally {
    await client.close();
  }
}

test('producer state and LSO after kill -9 and after a clean restart equal those before', async () => {
  broker = await startBroker({ overrides: { 'broker.session.timeout.ms': '3000', 'broker.heartbeat.interval.ms': '500' } });
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  // Small segments: several rolls, each leaving a producer-state snapshot.
  await client.createTopics([{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1, configs: { 'segment.bytes': '8192' } }]);
  const kafka = new Kafka({ clientId: 'recover', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  const start = async (opts: Parameters<Kafka['producer']>[0]): Promise<Producer> => {
    const p = kafka.producer(opts);
    producers.push(p);
    await p.connect();
    return p;
  };
  for (let k = 0; k < 3; k++) {
    const p = await start({ idempotent: true, maxInFlightRequests: 1 });
    for (let i = 0; i < 40; i++) await p.send({ topic: TOPIC, messages: [{ value: `idem${k}-${i}-${'x'.repeat(100)}`, partition: i % PARTITIONS }] });
  }
  const txp = await start({ transactionalId: 'recover-tx', idempotent: true, maxInFlightRequests: 1 });
  const committed = await txp.transaction();
  await committed.send({ topic: TOPIC, messages: [0, 1, 2, 3].map((i) => ({ value: `committed-${i}`, partition: i % PARTITIONS })) });
  await committed.commit();
  const aborted = await txp.transaction();
  await aborted.send({ topic: TOPIC, messages: [0, 1, 2, 3].map((i) => ({ value: `aborted-${i}`, partition: i % PARTITIONS })) });
  await aborted.abort();
  // A second transactional id whose transaction stays open across the crash: it holds the LSO.
  const openP = await start({ transactionalId: 'recover-open', idempotent: true, maxInFlightRequests: 1 });
  const open = await openP.transaction();
  await open.send({ topic: TOPIC, messages: [{ value: 'open-0', partition: 0 }] });
  for (let i = 0; i < 6; i++) await client.produce(TOPIC, i % PARTITIONS, [{ value: `plain-${i}` }]);

  // A producer of our own whose batch is retried after the crash: it must be recognised.
  const retried = buildRecordBatch({ records: [0, 1, 2].map((i) => ({ key: null, value: Buffer.from(`own-${i}`) })), producerId: 900_000n, producerEpoch: 0, baseSequence: 0 });
  const first = await client.produce(TOPIC, 1, Buffer.from(retried));
  await client.close();

  const before = await observe();
  expect(before.offsets[0].lso).toBeLessThan(before.offsets[0].hw); // the open transaction holds it
  expect(before.offsets[1].lso).toBe(before.offsets[1].hw);
  expect(before.committed.flat().some((v) => v.startsWith('aborted'))).toBe(false);
  expect(before.committed.flat().filter((v) => v.startsWith('committed'))).toHaveLength(4);

  await broker.kill9();
  broker = await broker.restart();
  expect(broker.output()).toMatch(/producer state rebuilt from offset \d+ \(snapshot\)/);
  expect(await observe()).toEqual(before);

  const again = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    expect((await again.produce(TOPIC, 1, Buffer.from(retried))).baseOffset).toBe(first.baseOffset);
  } finally {
    await again.close();
  }

  broker = await broker.restart();
  expect(await observe()).toEqual(before);
}, 120_000);
