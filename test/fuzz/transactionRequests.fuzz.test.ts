/**
 * Random sequences of idempotent and transactional requests — real and made-up producer ids,
 * epochs, sequences, transactional ids, partitions that do not exist, markers from nowhere —
 * thrown at a running broker process. Every request gets an answer (no hang, no crash, no closed
 * connection for well-formed requests), a bystander keeps producing and reading, and the
 * partition's views stay consistent: read_committed records are a subset of read_uncommitted
 * ones, the last stable offset never passes the high watermark, and once every transaction has
 * timed out the last stable offset catches up with the high watermark.
 */
import fc from 'fast-check';
import { StrataClient } from '../../core/client/client';
import type { KafkaConnection } from '../../core/client/connection';
import { buildEndTxnMarker } from '../../core/log/controlRecords';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { ApiKey } from '../../core/protocol/generated/index';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'txn-fuzz';
const RUNS = Math.ceil(Number(process.env.STRATA_FUZZ_RUNS ?? 1500) / 5);

let broker: BrokerProcess;
let client: StrataClient;
let conn: KafkaConnection;

beforeAll(async () => {
  broker = await startBroker({
    overrides: {
      'transaction.max.timeout.ms': '2000',
      'transaction.abort.timed.out.transaction.cleanup.interval.ms': '200',
    },
  });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'fuzz-bystander' });
  await client.createTopics([{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }]);
  conn = await client.brokerConnection(0);
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

const txnIds = fc.constantFrom('t1', 't2', 't3');
const pids = fc.oneof(fc.constantFrom(0n, 1n, 2n, 3n), fc.bigInt({ min: -2n, max: 1n << 40n }));
const epochs = fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: -2, max: 32767 }));
const partitions = fc.constantFrom(0, 1, 7);

const op = fc.oneof(
  fc.record({ kind: fc.constant('init' as const), txnId: fc.option(txnIds), timeout: fc.constantFrom(1000, 1500, 5000) }),
  fc.record({ kind: fc.constant('add' as const), txnId: txnIds, pid: pids, epoch: epochs, partition: partitions }),
  fc.record({ kind: fc.constant('offsets' as const), txnId: txnIds, pid: pids, epoch: epochs }),
  fc.record({ kind: fc.constant('txnCommit' as const), txnId: txnIds, pid: pids, epoch: epochs, offset: fc.bigInt({ min: -1n, max: 100n }) }),
  fc.record({ kind: fc.constant('end' as const), txnId: txnIds, pid: pids, epoch: epochs, commit: fc.boolean() }),
  fc.record({ kind: fc.constant('marker' as const), pid: pids, epoch: epochs, coordinatorEpoch: fc.integer({ min: -1, max: 10 }), commit: fc.boolean(), partition: partitions }),
  fc.record({
    kind: fc.constant('produce' as const),
    txnId: fc.option(txnIds),
    pid: pids,
    epoch: epochs,
    seq: fc.integer({ min: -1, max: 20 }),
    count: fc.integer({ min: 1, max: 3 }),
    transactional: fc.boolean(),
    control: fc.boolean(),
    partition: partitions,
  }),
);

type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function run(o: Op): Promise<void> {
  const timeoutMs = 10_000;
  switch (o.kind) {
    case 'init':
      await conn.send(ApiKey.InitProducerId, { transactionalId: o.txnId, transactionTimeoutMs: o.timeout, producerId: -1n, producerEpoch: -1 }, { timeoutMs });
      return;
    case 'add':
      await conn.send(ApiKey.AddPartitionsToTxn, { v3AndBelowTransactionalId: o.txnId, v3AndBelowProducerId: o.pid, v3AndBelowProducerEpoch: o.epoch, v3AndBelowTopics: [{ name: TOPIC, partitions: [o.partition] }] }, { version: 3, timeoutMs });
      return;
    case 'offsets':
      await conn.send(ApiKey.AddOffsetsToTxn, { transactionalId: o.txnId, producerId: o.pid, producerEpoch: o.epoch, groupId: 'fuzz-group' }, { timeoutMs });
      return;
    case 'txnCommit':
      await conn.send(ApiKey.TxnOffsetCommit, { transactionalId: o.txnId, groupId: 'fuzz-group', producerId: o.pid, producerEpoch: o.epoch, topics: [{ name: TOPIC, partitions: [{ partitionIndex: 0, committedOffset: o.offset, committedMetadata: null }] }] }, { timeoutMs });
      return;
    case 'end':
      await conn.send(ApiKey.EndTxn, { transactionalId: o.txnId, producerId: o.pid, producerEpoch: o.epoch, committed: o.commit }, { timeoutMs });
      return;
    case 'marker':
      await conn.send(ApiKey.WriteTxnMarkers, { markers: [{ producerId: o.pid, producerEpoch: o.epoch, transactionResult: o.commit, coordinatorEpoch: o.coordinatorEpoch, topics: [{ name: TOPIC, partitionIndexes: [o.partition] }] }] }, { timeoutMs });
      return;
    case 'produce': {
      const records = o.control
        ? buildEndTxnMarker({ producerId: o.pid < 0n ? 0n : o.pid, producerEpoch: Math.max(0, o.epoch), type: 'ABORT', coordinatorEpoch: 0, timestamp: 0n })
        : buildRecordBatch({
            records: Array.from({ length: o.count }, (_, i) => ({ key: null, value: Buffer.from(`f-${o.pid}-${o.seq + i}`) })),
            producerId: o.pid,
            producerEpoch: o.epoch,
            baseSequence: o.seq,
            isTransactional: o.transactional,
          });
      await conn.send(ApiKey.Produce, { transactionalId: o.txnId, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: o.partition, records }] }] }, { timeoutMs });
      return;
    }
  }
}

/** The records of partition `p` with the given isolation, as offsets. */
async function offsetsOf(p: number, isolationLevel: 0 | 1): Promise<bigint[]> {
  const end = (await client.listOffsets(TOPIC, p, -1n, { isolationLevel })).offset;
  const out: bigint[] = [];
  let offset = 0n;
  while (offset < end) {
    const r = await client.fetch(TOPIC, p, offset, { maxWaitMs: 0, isolationLevel, maxBytes: 1 << 20 });
    out.push(...r.records.map((x) => x.offset));
    if (r.nextOffset === offset) break;
    offset = r.nextOffset;
  }
  return out;
}

test('random transactional traffic: always answered, the broker keeps serving, read_committed stays a subset below the LSO', async () => {
  let bystander = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      for (const o of ops) await run(o);
      await client.produce(TOPIC, 0, [{ value: `bystander-${bystander++}` }], { acks: -1 });
    }),
    { numRuns: RUNS },
  ).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n--- broker output (tail) ---\n${broker.output().split('\n').filter((l) => !/INFO/.test(l)).join('\n').slice(-3000)}`);
  });
  expect(broker.exitStatus()).toBeNull();
  for (const p of [0, 1]) {
    const hw = (await client.listOffsets(TOPIC, p, -1n)).offset;
    const lso = (await client.listOffsets(TOPIC, p, -1n, { isolationLevel: 1 })).offset;
    expect(lso).toBeLessThanOrEqual(hw);
    const committed = await offsetsOf(p, 1);
    const all = new Set(await offsetsOf(p, 0));
    expect(committed.every((o) => all.has(o))).toBe(true);
  }
  // Every transaction left open by the traffic times out (transaction.max.timeout.ms 2 s) and is aborted.
  for (const p of [0, 1]) {
    await waitFor(async () => (await client.listOffsets(TOPIC, p, -1n, { isolationLevel: 1 })).offset === (await client.listOffsets(TOPIC, p, -1n)).offset, {
      timeoutMs: 20_000,
      message: `the LSO of ${TOPIC}-${p} never caught up with its high watermark`,
    });
  }
  const bys = (await client.fetch(TOPIC, 0, 0n, { maxWaitMs: 0, isolationLevel: 1, maxBytes: 16 << 20 })).records.filter((r) => r.value?.toString().startsWith('bystander-'));
  expect(bys.length).toBeGreaterThan(0);
}, 240_000);
