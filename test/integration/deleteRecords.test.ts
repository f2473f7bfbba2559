/**
 * DeleteRecords end to end: kafkajs 2.2.4's admin.deleteTopicRecords against a real broker
 * process moves the log start; ListOffsets earliest answers it, kafkajs consumers from the
 * earliest offset (and one whose committed offset fell below it, after OFFSET_OUT_OF_RANGE)
 * start there, and the start survives a SIGKILL restart. Tiered: the tiered segments wholly
 * below the new start lose their objects, Produce reports the start across tiers, and a broker
 * on an empty data dir starts there too.
 *
 * Not covered by the Python clients: confluent-kafka's AdminClient.delete_records arrived in
 * 2.4 (Debian ships 1.7) and kafka-python 2.0.2 has no delete_records.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { openObjectStore } from '../../core/tier/url';
import { awsBackendSelected, awsStores, emulatorEnv } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { useEnv } from '../helpers/emulators';
import { waitFor } from '../helpers/waitFor';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, EARLIEST_TIMESTAMP as EARLIEST, LATEST_TIERED_TIMESTAMP as LATEST_TIERED } from '../../core/protocol/listOffsetsTimestamps';

/** A lone consumer's group forms without Kafka's 3 s initial rebalance delay. */
const FAST_GROUPS = { 'group.initial.rebalance.delay.ms': '0' };

let root: string;
const kafkas: { admin: Admin; producer: Producer; consumers: Consumer[] }[] = [];
const clients: StrataClient[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-delete-records-'));
});

afterAll(async () => {
  for (const k of kafkas) {
    await Promise.all(k.consumers.map((c) => c.disconnect().catch(() => undefined)));
    await k.producer.disconnect().catch(() => undefined);
    await k.admin.disconnect().catch(() => undefined);
  }
  for (const c of clients) await c.close().catch(() => undefined);
  await stopAllBrokers();
  fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

async function connectKafkajs(broker: BrokerProcess) {
  const kafka = new Kafka({ clientId: 'delete-records-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  const k = { kafka, admin: kafka.admin(), producer: kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false }), consumers: [] as Consumer[] };
  kafkas.push(k);
  await k.admin.connect();
  await k.producer.connect();
  return k;
}

function strataClient(broker: BrokerProcess): StrataClient {
  const c = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  clients.push(c);
  return c;
}

/** `batches` sends of 20 records of 100 bytes: with segment.bytes 4096, one or two batches a segment. */
async function produce(producer: Producer, topic: string, batches: number): Promise<void> {
  for (let i = 0; i < batches; i++) {
    await producer.send({ topic, acks: 1, messages: Array.from({ length: 20 }, (_, j) => ({ partition: 0, value: `${i * 20 + j}`.padEnd(100, '.') })) });
  }
}

/**
 * A kafkajs group consumer from the earliest offset (the group's committed offset, if any,
 * takes precedence). Resolves with the offsets it received once it has `count` of them.
 */
async function consumeOffsets(k: { kafka: Kafka; consumers: Consumer[] }, topic: string, groupId: string, count: number): Promise<bigint[]> {
  const consumer = k.kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  k.consumers.push(consumer);
  const offsets: bigint[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => void offsets.push(BigInt(message.offset)) });
  try {
    await waitFor(() => offsets.length >= count, { timeoutMs: 30_000, intervalMs: 100, message: `${groupId} received ${count} records` });
  } finally {
    await consumer.disconnect();
  }
  return offsets;
}

function contiguousFrom(start: bigint, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => start + BigInt(i));
}

test('kafkajs deleteTopicRecords on a local partition: earliest, consumers, OFFSET_OUT_OF_RANGE, and a SIGKILL restart', async () => {
  const broker = await startBroker({ overrides: FAST_GROUPS });
  const k = await connectKafkajs(broker);
  const client = strataClient(broker);
  const topic = 'dr-local';
  await k.admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'segment.bytes', value: '4096' }] }] });
  await produce(k.producer, topic, 30); // offsets 0..599
  // A group whose committed position the deletion will leave behind.
  await k.admin.setOffsets({ groupId: 'dr-stale', topic, partitions: [{ partition: 0, offset: '10' }] });

  const target = 250n; // inside a batch
  await k.admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(target) }] });

  expect(await k.admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ partition: 0, low: String(target), high: '600' })]);
  expect((await client.listOffsets(topic, 0, EARLIEST)).offset).toBe(target);
  await expect(client.fetch(topic, 0, target - 1n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
  // A new group from the earliest offset starts at the new start, and reads everything after it.
  expect(await consumeOffsets(k, topic, 'dr-fresh', 350)).toEqual(contiguousFrom(target, 350));
  // A group committed at 10 gets OFFSET_OUT_OF_RANGE and resets to the earliest offset.
  expect(await consumeOffsets(k, topic, 'dr-stale', 350)).toEqual(contiguousFrom(target, 350));
  // An offset past the high watermark is refused, and nothing moves.
  await expect(k.admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '601' }] })).rejects.toMatchObject({
    name: 'KafkaJSNonRetriableError',
    cause: {
      name: 'KafkaJSDeleteTopicRecordsError',
      partitions: [expect.objectContaining({ partition: 0, error: expect.objectContaining({ type: 'OFFSET_OUT_OF_RANGE' }) })],
    },
  });
  expect((await client.listOffsets(topic, 0, EARLIEST)).offset).toBe(target);

  // A crash: no clean close, the start comes back from the partition's checkpoint.
  await broker.kill9();
  const restarted = await broker.restart();
  const after = strataClient(restarted);
  expect((await after.listOffsets(topic, 0, EARLIEST)).offset).toBe(target);
  expect((await after.listOffsets(topic, 0, -1n)).offset).toBe(600n);
  await expect(after.fetch(topic, 0, target - 1n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
  const f = await after.fetch(topic, 0, target, { maxWaitMs: 0 });
  expect(f.records[0].offset).toBe(target);
  expect(f.logStartOffset).toBe(target);
}, 120_000);

describe('tiered topic (remote.storage.enable)', () => {
  let metaDir: string;
  let tierDir: string;

  beforeAll(() => {
    metaDir = path.join(root, 'meta');
    tierDir = path.join(root, 'tier');
  });

  // The stores live outside the data dirs, as a stateless deployment's table and bucket would
  // (and on the `aws` jest project are: a DynamoDB table and an S3 prefix on the emulators).
  async function storeArgs(): Promise<string[]> {
    if (awsBackendSelected()) return (await awsStores('delete-records-tiered')).args;
    return ['--metadata', `embedded:${metaDir}`, '--object-store', `file://${tierDir}`];
  }

  /** Base offsets of the tiered objects (`<base:20>-<epoch>-<id>.log|.index|.timeindex`), read through the object store port: of the .log ones, and of all three kinds. */
  async function tieredObjects(): Promise<{ bases: bigint[]; allBases: bigint[] }> {
    const args = await storeArgs();
    const url = args[args.indexOf('--object-store') + 1];
    const env = awsBackendSelected() ? await emulatorEnv() : {};
    const restore = useEnv(env);
    const names: string[] = [];
    try {
      const objects = await openObjectStore(url, { dataDir: root });
      try {
        for await (const o of objects.list('')) {
          const name = o.key.slice(o.key.lastIndexOf('/') + 1);
          if (/^\d{20}-\d+-[0-9a-f]{32}\.(log|index|timeindex)$/.test(name)) names.push(name);
        }
      } finally {
        await objects.close();
      }
    } finally {
      restore();
    }
    const base = (f: string) => BigInt(f.slice(0, 20));
    const sorted = (a: bigint[]) => a.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    return { bases: sorted(names.filter((f) => f.endsWith('.log')).map(base)), allBases: sorted(names.map(base)) };
  }

  test('past tiered segments: their objects go, Produce/Fetch/ListOffsets report the start across tiers, an empty data dir starts there', async () => {
    const broker = await startBroker({ overrides: FAST_GROUPS, args: await storeArgs() });
    const k = await connectKafkajs(broker);
    const client = strataClient(broker);
    const topic = 'dr-tiered';
    await client.createTopics([
      {
        name: topic,
        numPartitions: 1,
        replicationFactor: 1,
        configs: { 'remote.storage.enable': 'true', 'segment.bytes': '4096', 'local.retention.bytes': '0', 'retention.ms': '-1' },
      },
    ]);
    await produce(k.producer, topic, 30); // offsets 0..599
    // Every closed segment tiered, and its local copy dropped (local.retention.bytes 0).
    await waitFor(
      async () => {
        const tieredEnd = (await client.listOffsets(topic, 0, LATEST_TIERED)).offset + 1n;
        return tieredEnd >= 500n && (await client.listOffsets(topic, 0, EARLIEST_LOCAL)).offset === tieredEnd;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: 'closed segments tiered and dropped locally' },
    );
    const localStart = (await client.listOffsets(topic, 0, EARLIEST_LOCAL)).offset;
    const before = await tieredObjects();
    expect(before.bases.length).toBeGreaterThan(5);
    // The log starts at 0 across tiers, though the local copy starts far later.
    expect((await client.listOffsets(topic, 0, EARLIEST)).offset).toBe(0n);
    expect((await client.produce(topic, 0, [{ value: 'at 600' }], { acks: 1 })).logStartOffset).toBe(0n);

    const target = before.bases[3] + 1n; // inside the fourth tiered segment
    // kafkajs's admin finds the leader in its metadata cache: load the topic (created by core/client) first.
    await k.admin.fetchTopicMetadata({ topics: [topic] });
    await k.admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(target) }] });
    expect(await k.admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ partition: 0, low: String(target), high: '601' })]);
    expect((await client.produce(topic, 0, [{ value: 'at 601' }], { acks: 1 })).logStartOffset).toBe(target);
    // The local copy is untouched (it may only have moved up, by tiering a segment the appends rolled).
    expect((await client.listOffsets(topic, 0, EARLIEST_LOCAL)).offset).toBeGreaterThanOrEqual(localStart);

    // The three segments wholly below the start lose their objects (the tier manager's next pass).
    // (More segments may be tiered meanwhile: the appends above can roll one.)
    await waitFor(async () => (await tieredObjects()).allBases[0] === before.bases[3], { timeoutMs: 20_000, intervalMs: 100, message: 'tiered objects below the start deleted' });
    expect((await tieredObjects()).bases.slice(0, before.bases.length - 3)).toEqual(before.bases.slice(3));

    // Reads: below the start OFFSET_OUT_OF_RANGE; from it, remote then local, every record.
    await expect(client.fetch(topic, 0, target - 1n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
    const f = await client.fetch(topic, 0, target, { maxWaitMs: 0 });
    expect(f.records[0].offset).toBe(target);
    expect(f.logStartOffset).toBe(target);
    expect(await consumeOffsets(k, topic, 'dr-tiered-fresh', Number(602n - target))).toEqual(contiguousFrom(target, Number(602n - target)));

    // A broker on an EMPTY data dir with the same stores: the start holds (the state record).
    await broker.stop();
    const empty = await startBroker({ dataDir: path.join(root, 'empty-data'), args: await storeArgs() });
    const fresh = strataClient(empty);
    expect((await fresh.listOffsets(topic, 0, EARLIEST)).offset).toBe(target);
    await expect(fresh.fetch(topic, 0, target - 1n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
    const g = await fresh.fetch(topic, 0, target, { maxWaitMs: 0 });
    expect(g.records[0].offset).toBe(target);
    expect(g.logStartOffset).toBe(target);
    await empty.stop();
  }, 120_000);
});
