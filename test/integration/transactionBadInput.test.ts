/**
 * Bad input to idempotent and transactional producing, sent as raw requests over a real socket:
 * each gets Kafka's error code, nothing is appended, and no other producer's state changes.
 *   - a control batch (transaction marker) from a client             INVALID_RECORD
 *   - a transactional batch without the request's transactional id    TRANSACTIONAL_ID_AUTHORIZATION_FAILED
 *   - a transactional write to a partition not added to the txn        INVALID_TXN_STATE
 *   - a sequence gap / a new epoch not starting at 0                   OUT_OF_ORDER_SEQUENCE_NUMBER
 *   - a stale producer epoch                                           INVALID_PRODUCER_EPOCH
 *   - a producer id with a negative epoch                              INVALID_RECORD
 *   - a commit or AddPartitions from a fenced producer                 PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2)
 *   - a transaction timeout above transaction.max.timeout.ms           INVALID_TRANSACTION_TIMEOUT
 */
import { StrataClient } from '../../core/client/client';
import type { KafkaConnection } from '../../core/client/connection';
import { TransactionsAdmin } from '../../core/client/transactionsAdmin';
import { buildEndTxnMarker } from '../../core/log/controlRecords';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { ProduceResponse } from '../../core/protocol/generated/ProduceResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

const TOPIC = 'bad-input';

let broker: BrokerProcess;
let client: StrataClient;
let conn: KafkaConnection;

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'transaction.max.timeout.ms': '60000' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  await client.createTopics([{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }]);
  conn = await client.brokerConnection(0);
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

function batch(opts: { producerId: bigint; producerEpoch: number; baseSequence: number; count?: number; isTransactional?: boolean; tag?: string }): Buffer {
  const records = Array.from({ length: opts.count ?? 1 }, (_, i) => ({ key: null, value: Buffer.from(`${opts.tag ?? 'r'}-${opts.baseSequence + i}`) }));
  return buildRecordBatch({ records, producerId: opts.producerId, producerEpoch: opts.producerEpoch, baseSequence: opts.baseSequence, isTransactional: opts.isTransactional });
}

/** A raw Produce to one partition; the partition's answer. */
async function produce(records: Buffer, opts: { partition?: number; transactionalId?: string | null } = {}): Promise<{ errorCode: number; baseOffset: bigint }> {
  const partition = opts.partition ?? 0;
  const res = await conn.send<ProduceResponse>(ApiKey.Produce, {
    transactionalId: opts.transactionalId ?? null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }],
  });
  const p = res.responses[0].partitionResponses[0];
  return { errorCode: p.errorCode, baseOffset: p.baseOffset };
}

async function initProducerId(transactionalId: string | null, transactionTimeoutMs = 30_000): Promise<{ errorCode: number; producerId: bigint; producerEpoch: number }> {
  return conn.send(ApiKey.InitProducerId, { transactionalId, transactionTimeoutMs, producerId: -1n, producerEpoch: -1 });
}

async function logEnd(partition = 0): Promise<bigint> {
  return (await client.listOffsets(TOPIC, partition, -1n)).offset;
}

async function producerStates(): Promise<unknown> {
  return (await new TransactionsAdmin(client).describeProducers(TOPIC, [0, 1])).map((d) => d.activeProducers);
}

/** Runs `bad`, which must answer `code`, and checks that the log and every producer's state stayed as they were. */
async function refusedWithoutEffect(code: number, bad: () => Promise<{ errorCode: number }>): Promise<void> {
  const ends = [await logEnd(0), await logEnd(1)];
  const states = await producerStates();
  expect((await bad()).errorCode).toBe(code);
  expect([await logEnd(0), await logEnd(1)]).toEqual(ends);
  expect(await producerStates()).toEqual(states);
}

test('idempotent batches: duplicates are answered with their offsets; gaps, stale epochs and bad headers are refused and change nothing', async () => {
  const a = await initProducerId(null);
  const b = await initProducerId(null);
  expect(a.errorCode).toBe(ErrorCode.NONE);
  expect(b.producerId).not.toBe(a.producerId); // ids come in blocks, never twice
  const first = await produce(batch({ ...a, baseSequence: 0, count: 3 }));
  expect(first.errorCode).toBe(ErrorCode.NONE);
  expect((await produce(batch({ ...b, baseSequence: 0, count: 2, tag: 'b' }))).errorCode).toBe(ErrorCode.NONE);
  // The same batch again: the original offsets, nothing appended.
  const end = await logEnd();
  expect(await produce(batch({ ...a, baseSequence: 0, count: 3 }))).toEqual({ errorCode: ErrorCode.NONE, baseOffset: first.baseOffset });
  expect(await logEnd()).toBe(end);

  await refusedWithoutEffect(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, () => produce(batch({ ...a, baseSequence: 5 })));
  await refusedWithoutEffect(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, () => produce(batch({ ...a, producerEpoch: a.producerEpoch + 1, baseSequence: 3 })));
  await refusedWithoutEffect(ErrorCode.INVALID_RECORD, () => produce(batch({ producerId: a.producerId, producerEpoch: -1, baseSequence: 3 })));
  // A bumped epoch at sequence 0 is fine (KIP-360); the old epoch is then stale.
  expect((await produce(batch({ ...a, producerEpoch: a.producerEpoch + 1, baseSequence: 0 }))).errorCode).toBe(ErrorCode.NONE);
  await refusedWithoutEffect(ErrorCode.INVALID_PRODUCER_EPOCH, () => produce(batch({ ...a, baseSequence: 3 })));
});

test('a control batch from a client is refused', async () => {
  const p = await initProducerId(null);
  const marker = buildEndTxnMarker({ ...p, type: 'COMMIT', coordinatorEpoch: 0, timestamp: BigInt(Date.now()) });
  await refusedWithoutEffect(ErrorCode.INVALID_RECORD, () => produce(marker));
});

test('transactional writes: only to partitions added to the open transaction, only with the transactional id', async () => {
  const t = await initProducerId('bad-tx');
  expect(t.errorCode).toBe(ErrorCode.NONE);
  const add = await conn.send(ApiKey.AddPartitionsToTxn, { v3AndBelowTransactionalId: 'bad-tx', v3AndBelowProducerId: t.producerId, v3AndBelowProducerEpoch: t.producerEpoch, v3AndBelowTopics: [{ name: TOPIC, partitions: [0] }] }, { version: 3 });
  expect(add.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.NONE);
  // Partition 1 was not added.
  await refusedWithoutEffect(ErrorCode.INVALID_TXN_STATE, () => produce(batch({ ...t, baseSequence: 0, isTransactional: true }), { partition: 1, transactionalId: 'bad-tx' }));
  await refusedWithoutEffect(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, () => produce(batch({ ...t, baseSequence: 0, isTransactional: true }), { transactionalId: null }));
  expect((await produce(batch({ ...t, baseSequence: 0, isTransactional: true, tag: 'tx' }), { transactionalId: 'bad-tx' })).errorCode).toBe(ErrorCode.NONE);

  // A new incarnation fences this one: its commit and its AddPartitions are refused.
  const again = await initProducerId('bad-tx');
  const retryUntilFenced = async (): Promise<{ errorCode: number; producerId: bigint; producerEpoch: number }> => {
    // The open transaction is aborted first: CONCURRENT_TRANSACTIONS until it is.
    let r = again;
    for (let i = 0; i < 50 && r.errorCode === ErrorCode.CONCURRENT_TRANSACTIONS; i++) r = await initProducerId('bad-tx');
    return r;
  };
  const fresh = await retryUntilFenced();
  expect(fresh.errorCode).toBe(ErrorCode.NONE);
  expect(fresh.producerEpoch).toBeGreaterThan(t.producerEpoch);
  const endTxn = (version: number) => conn.send(ApiKey.EndTxn, { transactionalId: 'bad-tx', producerId: t.producerId, producerEpoch: t.producerEpoch, committed: true }, { version });
  expect((await endTxn(3)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  expect((await endTxn(1)).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  await refusedWithoutEffect(ErrorCode.INVALID_PRODUCER_EPOCH, () => produce(batch({ ...t, baseSequence: 1, isTransactional: true }), { transactionalId: 'bad-tx' }));
  // The fenced producer's transaction was aborted: its record is not readable with read_committed.
  const committed = await client.fetch(TOPIC, 0, 0n, { maxWaitMs: 0, isolationLevel: 1, maxBytes: 1 << 20 });
  const uncommitted = await client.fetch(TOPIC, 0, 0n, { maxWaitMs: 0, maxBytes: 1 << 20 });
  expect(uncommitted.records.map((r) => r.value!.toString())).toContain('tx-0');
  expect(committed.records.map((r) => r.value!.toString())).not.toContain('tx-0');

  expect((await initProducerId('too-long', 120_000)).errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
});
