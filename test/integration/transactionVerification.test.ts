/**
 * KIP-890 part 1 in a cluster: a producer's first transactional write to a partition is verified
 * with its transaction's coordinator even when that coordinator is another broker than the
 * partition's leader. Raw requests over real sockets on a 3-broker cluster:
 *   - a write to a partition that was not added to the transaction    INVALID_TXN_STATE, nothing appended
 *   - a write to an added partition                                   appended
 *   - a late write after the transaction was aborted (the "hanging
 *     transaction" KIP-890 closes: it would hold the LSO until timeout) INVALID_TXN_STATE, nothing appended
 * The transactional id is chosen so that its coordinator leads none of the partitions written.
 */
import { CoordinatorType, StrataClient } from '../../core/client/client';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { ProduceResponse } from '../../core/protocol/generated/ProduceResponse';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'verified';
const PARTITIONS = 6;

let cluster: TestCluster;
let client: StrataClient;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3 });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'verification-test' });
  await client.createTopics([{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
  await cluster.awaitTopic(TOPIC, PARTITIONS);
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

const batch = (producerId: bigint, producerEpoch: number, baseSequence: number, tag: string): Buffer =>
  buildRecordBatch({ records: [{ key: null, value: Buffer.from(tag) }], producerId, producerEpoch, baseSequence, isTransactional: true });

async function produceTo(partition: number, leader: number, transactionalId: string, records: Buffer): Promise<number> {
  const conn = await client.brokerConnection(leader);
  const res = await conn.send<ProduceResponse>(ApiKey.Produce, { transactionalId, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: partition, records }] }] });
  return res.responses[0].partitionResponses[0].errorCode;
}

const logEnd = async (partition: number): Promise<bigint> => (await client.listOffsets(TOPIC, partition, -1n)).offset;

test('the first transactional write to a partition is verified with a coordinator on another broker; a write after the abort is refused', async () => {
  const md = await client.metadata([TOPIC]);
  const leaders = md.topics.get(TOPIC)!.partitions.map((p) => p.leader);
  // A transactional id coordinated by a broker that leads at least two partitions' worth of others.
  let transactionalId = '';
  let coordinator = -1;
  let foreign: number[] = [];
  for (let i = 0; foreign.length < 2; i++) {
    transactionalId = `verified-${i}`;
    coordinator = (await client.findCoordinator(transactionalId, CoordinatorType.TRANSACTION)).nodeId;
    foreign = leaders.flatMap((l, p) => (l !== coordinator ? [p] : []));
  }
  const [added, notAdded] = foreign;
  const conn = await client.brokerConnection(coordinator);
  const init = await conn.send(ApiKey.InitProducerId, { transactionalId, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
  expect(init.errorCode).toBe(ErrorCode.NONE);
  const { producerId, producerEpoch } = init as { producerId: bigint; producerEpoch: number };
  const add = await conn.send(ApiKey.AddPartitionsToTxn, { v3AndBelowTransactionalId: transactionalId, v3AndBelowProducerId: producerId, v3AndBelowProducerEpoch: producerEpoch, v3AndBelowTopics: [{ name: TOPIC, partitions: [added] }] }, { version: 3 });
  expect(add.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.NONE);

  // Not added: refused by the leader after asking (the stored state of) the coordinator elsewhere.
  const before = await logEnd(notAdded);
  expect(await produceTo(notAdded, leaders[notAdded], transactionalId, batch(producerId, producerEpoch, 0, 'not-added'))).toBe(ErrorCode.INVALID_TXN_STATE);
  expect(await logEnd(notAdded)).toBe(before);

  // Added: appended.
  expect(await produceTo(added, leaders[added], transactionalId, batch(producerId, producerEpoch, 0, 'in-txn'))).toBe(ErrorCode.NONE);

  // The transaction is aborted; once its markers are written, a late write of the same producer
  // and epoch (a retry that arrives after the abort) must not open a transaction nobody ends.
  const end = await conn.send(ApiKey.EndTxn, { transactionalId, producerId, producerEpoch, committed: false }, { version: 3 });
  expect(end.errorCode).toBe(ErrorCode.NONE);
  const lso = async () => (await client.listOffsets(TOPIC, added, -1n, { isolationLevel: 1 })).offset;
  await waitFor(async () => (await lso()) === (await logEnd(added)), { timeoutMs: 20_000, message: 'the abort marker written' });
  const afterAbort = await logEnd(added);
  expect(await produceTo(added, leaders[added], transactionalId, batch(producerId, producerEpoch, 1, 'late'))).toBe(ErrorCode.INVALID_TXN_STATE);
  expect(await logEnd(added)).toBe(afterAbort);
  expect(await lso()).toBe(afterAbort); // no hanging transaction holds read_committed readers back
}, 120_000);
