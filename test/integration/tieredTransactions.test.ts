/**
 * Transactions and idempotent producers on a tiered topic, end to end with kafkajs: committed and
 * aborted transactions whose records are only in the object store are read correctly by a
 * read_committed consumer (the aborted-transaction lists come from the tiered .txnindex objects:
 * aborted records never appear) while a read_uncommitted one sees every record. A broker started
 * on an EMPTY data dir with the same metadata and object stores (DynamoDB and S3 emulators on the
 * `aws` project) restores the producer state tiered with the last segment: a retried idempotent
 * batch gets its original offsets back, and a transaction still open holds the last stable offset
 * until it commits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, LATEST_TIERED_TIMESTAMP as LATEST_TIERED } from '../../core/protocol/listOffsetsTimestamps';
import { awsBackendSelected, awsStores } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'tiered-txn';
const LATEST = -1n;
const PAD = 'x'.repeat(300);
const FAST_GROUPS = { 'group.initial.rebalance.delay.ms': '0' };

let root: string;
const producers: Producer[] = [];
const consumers: Consumer[] = [];
const clients: StrataClient[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tiered-txn-'));
});

afterAll(async () => {
  for (const c of consumers) await c.disconnect().catch(() => undefined);
  for (const p of producers) await p.disconnect().catch(() => undefined);
  for (const c of clients) await c.close().catch(() => undefined);
  await stopAllBrokers();
  fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

/** The stores both brokers share: a dir each, or on the `aws` project a DynamoDB table and an S3 prefix. */
async function storeArgs(): Promise<string[]> {
  if (awsBackendSelected()) return (await awsStores('tiered-txn')).args;
  return ['--metadata', `embedded:${path.join(root, 'meta')}`, '--object-store', `file://${path.join(root, 'tier')}`];
}

function strata(broker: BrokerProcess): StrataClient {
  const c = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  clients.push(c);
  return c;
}

interface Consumed {
  value: string;
  offset: bigint;
}

/** A new group from the beginning, until it has `count` records (kafkajs drops control records and, read_committed, aborted ones). */
async function consume(kafka: Kafka, groupId: string, readUncommitted: boolean, count: number): Promise<Consumed[]> {
  const consumer = kafka.consumer({ groupId, readUncommitted, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 });
  consumers.push(consumer);
  const got: Consumed[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => void got.push({ value: message.value!.toString().split('|')[0], offset: BigInt(message.offset) }) });
  try {
    await waitFor(() => got.length >= count, { timeoutMs: 60_000, intervalMs: 100, message: `${groupId} received ${count} records (has ${got.length})` });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

const sorted = (values: string[]): string[] => [...values].sort();

test('read_committed below the local log, and producer state restored on an empty data dir', async () => {
  const broker = await startBroker({ overrides: FAST_GROUPS, args: await storeArgs() });
  const client = strata(broker);
  await client.createTopics([
    {
      name: TOPIC,
      numPartitions: 1,
      replicationFactor: 1,
      configs: {
        'remote.storage.enable': 'true',
        'segment.bytes': '4096', // about ten records a segment
        'segment.ms': '1000', // the last segment rolls (and is tiered) soon after the last write
        'local.retention.bytes': '1', // tiered segments leave local disk at once (but the last)
        'retention.ms': '-1',
      },
    },
  ]);
  const kafka = new Kafka({ clientId: 'tiered-txn', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 } });
  const start = async (opts: Parameters<Kafka['producer']>[0]): Promise<Producer> => {
    const p = kafka.producer(opts);
    producers.push(p);
    await p.connect();
    return p;
  };
  const idem = await start({ idempotent: true, maxInFlightRequests: 1 });
  const txp = await start({ transactionalId: 'tiered-txn-tx', idempotent: true, maxInFlightRequests: 1 });
  const message = (v: string) => ({ value: `${v}|${PAD}`, partition: 0 });

  // Committed (c…) and aborted (a…) transactions between an idempotent producer's records.
  const committed: string[] = [];
  const aborted: string[] = [];
  for (let t = 0; t < 8; t++) {
    for (let i = 0; i < 3; i++) {
      await idem.send({ topic: TOPIC, messages: [message(`idem-${t}-${i}`)] });
      committed.push(`idem-${t}-${i}`);
    }
    const tx = await txp.transaction();
    const kind = t % 2 === 0 ? 'c' : 'a';
    const values = Array.from({ length: 5 }, (_, i) => `${kind}${t}-${i}`);
    for (const v of values) await tx.send({ topic: TOPIC, messages: [message(v)] });
    if (kind === 'c') {
      await tx.commit();
      committed.push(...values);
    } else {
      await tx.abort();
      aborted.push(...values);
    }
  }
  // A batch of our own idempotent producer, to be retried after the restart.
  const ownBatch = buildRecordBatch({ records: [0, 1, 2].map((i) => ({ key: null, value: Buffer.from(`own-${i}|${PAD}`) })), producerId: 900_001n, producerEpoch: 0, baseSequence: 0 });
  const own = await client.produce(TOPIC, 0, Buffer.from(ownBatch), { acks: -1 });
  committed.push('own-0', 'own-1', 'own-2');
  // A transaction left open across the restart, then plain records after it: more than the
  // one segment local retention keeps, so every transaction before is only in the object store.
  const openP = await start({ transactionalId: 'tiered-txn-open', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 300_000 });
  const open = await openP.transaction();
  const openValues = ['open-0', 'open-1'];
  for (const v of openValues) await open.send({ topic: TOPIC, messages: [message(v)] });
  const afterValues = Array.from({ length: 12 }, (_, i) => `after-${i}`);
  await client.produce(TOPIC, 0, afterValues.map((v) => ({ value: `${v}|${PAD}` })), { acks: -1 });

  // Everything tiered (the last segment rolls after segment.ms), the local copy down to one segment.
  const hw = (await client.listOffsets(TOPIC, 0, LATEST)).offset;
  await waitFor(async () => (await client.listOffsets(TOPIC, 0, LATEST_TIERED)).offset === hw - 1n, { timeoutMs: 30_000, intervalMs: 200, message: 'every record tiered' });
  const lso = (await client.listOffsets(TOPIC, 0, LATEST, { isolationLevel: 1 })).offset;
  expect(lso).toBeLessThan(hw);

  // read_uncommitted: every record, aborted and open ones too.
  const all = await consume(kafka, 'ru-1', true, committed.length + aborted.length + openValues.length + afterValues.length);
  expect(sorted(all.map((r) => r.value))).toEqual(sorted([...committed, ...aborted, ...openValues, ...afterValues]));
  const offsetOf = new Map(all.map((r) => [r.value, r.offset]));
  expect(lso).toBe(offsetOf.get('open-0'));
  // The finished transactions' records (and markers) are only in the object store now.
  const lastFinished = offsetOf.get('a7-4')!;
  expect(lastFinished).toBeLessThan(offsetOf.get('own-0')!);
  await waitFor(async () => (await client.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset > lastFinished + 1n, { timeoutMs: 30_000, intervalMs: 200, message: 'local copies of the transactions dropped' });

  // read_committed: the committed records below the LSO, in order; no aborted one, no open one.
  const rc = await consume(kafka, 'rc-1', false, committed.length);
  expect(rc.map((r) => r.value)).toEqual(all.filter((r) => committed.includes(r.value)).map((r) => r.value));
  expect(rc.every((r) => r.offset < lso)).toBe(true);

  // A broker on an EMPTY data dir (same port, so the producers reconnect), same stores.
  const port = broker.port;
  await broker.stop();
  const restarted = await startBroker({ dataDir: path.join(root, 'empty-data'), port, overrides: FAST_GROUPS, args: await storeArgs() });
  expect(restarted.output()).toMatch(/producer state restored from the snapshot tiered with segment \d+: \d+ producer\(s\), 1 open transaction\(s\)/);
  const client2 = strata(restarted);
  expect((await client2.listOffsets(TOPIC, 0, LATEST)).offset).toBe(hw);
  expect((await client2.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset).toBe(hw);
  // The open transaction still holds the LSO.
  expect((await client2.listOffsets(TOPIC, 0, LATEST, { isolationLevel: 1 })).offset).toBe(lso);
  // The retried batch: its original offsets, nothing appended.
  const again = await client2.produce(TOPIC, 0, Buffer.from(ownBatch), { acks: -1 });
  expect(again.baseOffset).toBe(own.baseOffset);
  expect((await client2.listOffsets(TOPIC, 0, LATEST)).offset).toBe(hw);

  // Both views again, every record from the object store.
  const rc2 = await consume(kafka, 'rc-2', false, committed.length);
  expect(rc2).toEqual(rc);
  const all2 = await consume(kafka, 'ru-2', true, all.length);
  expect(all2).toEqual(all);

  // The open transaction commits: the LSO reaches the high watermark and its records appear.
  await open.commit();
  await waitFor(async () => (await client2.listOffsets(TOPIC, 0, LATEST, { isolationLevel: 1 })).offset === (await client2.listOffsets(TOPIC, 0, LATEST)).offset, {
    timeoutMs: 20_000,
    intervalMs: 100,
    message: 'the LSO at the high watermark after the commit',
  });
  const rc3 = await consume(kafka, 'rc-3', false, committed.length + openValues.length + afterValues.length);
  expect(sorted(rc3.map((r) => r.value))).toEqual(sorted([...committed, ...openValues, ...afterValues]));
  await restarted.stop();
}, 180_000);
