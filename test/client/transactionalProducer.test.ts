import { StrataClient } from '../../core/client/client';
import { isKafkaError } from '../../core/client/errors';
import { TransactionalProducer } from '../../core/client/transactionalProducer';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { startBroker, type BrokerProcess } from '../helpers/broker';

/**
 * TransactionalProducer against a real broker: committed records and offsets appear together
 * under read_committed; aborted ones never; a new producer of the same transactional id fences
 * the old one and aborts the transaction it left open; a retried send is not appended twice.
 */

let broker: BrokerProcess;
let client: StrataClient;
const TOPIC = 'txn-producer';
const GROUP = 'txn-producer-group';

beforeAll(async () => {
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'txn-producer-test' });
  await client.createTopics([{ name: TOPIC, numPartitions: 2, replicationFactor: 1 }]);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await broker?.stop();
});

async function committedValues(partition: number): Promise<string[]> {
  const r = await client.fetch(TOPIC, partition, 0n, { isolationLevel: 1, maxWaitMs: 0 });
  return r.records.map((x) => x.value!.toString());
}

test('a committed transaction shows its records and its group offsets together; an aborted one shows nothing', async () => {
  const p = new TransactionalProducer(client, { transactionalId: 'tp-commit' });
  await p.initTransactions();

  p.beginTransaction();
  const a = await p.send(TOPIC, 0, [{ value: 'a1' }, { value: 'a2' }]);
  const b = await p.send(TOPIC, 0, [{ value: 'a3', headers: [{ key: 'h', value: 'v' }], timestamp: 1234 }]);
  expect(b.baseOffset).toBe(a.baseOffset + 2n);
  await p.sendOffsetsToTransaction(GROUP, [{ topic: TOPIC, partition: 0, offset: 42n, metadata: 'm' }]);
  // Not visible before the commit.
  expect(await committedValues(0)).toEqual([]);
  expect((await client.offsetFetch(GROUP, [{ topic: TOPIC, partition: 0 }])).filter((o) => o.offset >= 0n)).toEqual([]);
  // A reader asking for stable offsets is told to wait for the transaction.
  const impatient = new StrataClient({ bootstrapServers: [broker.bootstrap], retries: 0 });
  try {
    await expect(impatient.offsetFetch(GROUP, [{ topic: TOPIC, partition: 0 }], { requireStable: true })).rejects.toMatchObject({ errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT });
  } finally {
    await impatient.close();
  }
  await p.commitTransaction();

  expect(await committedValues(0)).toEqual(['a1', 'a2', 'a3']);
  const read = await client.fetch(TOPIC, 0, 2n, { isolationLevel: 1, maxWaitMs: 0 });
  expect(read.records[0].headers).toEqual([{ key: 'h', value: Buffer.from('v') }]);
  expect(read.records[0].timestamp).toBe(1234n);
  const [committed] = await client.offsetFetch(GROUP, [{ topic: TOPIC, partition: 0 }], { requireStable: true });
  expect(committed.offset).toBe(42n);
  expect(committed.metadata).toBe('m');

  p.beginTransaction();
  await p.send(TOPIC, 0, [{ value: 'aborted' }]);
  await p.sendOffsetsToTransaction(GROUP, [{ topic: TOPIC, partition: 0, offset: 99n }]);
  await p.abortTransaction();
  expect(await committedValues(0)).toEqual(['a1', 'a2', 'a3']);
  expect((await client.offsetFetch(GROUP, [{ topic: TOPIC, partition: 0 }], { requireStable: true }))[0].offset).toBe(42n);
});

test('a new producer of the same transactional id fences the old one and aborts what it left open', async () => {
  const zombie = new TransactionalProducer(client, { transactionalId: 'tp-fence' });
  await zombie.initTransactions();
  zombie.beginTransaction();
  await zombie.send(TOPIC, 1, [{ value: 'zombie' }]);

  const next = new TransactionalProducer(client, { transactionalId: 'tp-fence' });
  await next.initTransactions();
  expect(next.identity.producerEpoch).toBeGreaterThan(zombie.identity.producerEpoch);
  next.beginTransaction();
  await next.send(TOPIC, 1, [{ value: 'next' }]);
  await next.commitTransaction();

  // The zombie's write and commit are refused; its open transaction was aborted.
  const refused = await zombie.send(TOPIC, 1, [{ value: 'late' }]).then(
    () => null,
    (e: unknown) => e,
  );
  expect(isKafkaError(refused, ErrorCode.INVALID_PRODUCER_EPOCH) || isKafkaError(refused, ErrorCode.PRODUCER_FENCED)).toBe(true);
  await expect(zombie.commitTransaction()).rejects.toThrow(/state failed/);
  expect(await committedValues(1)).toEqual(['next']);
});

test('methods out of order are refused with the state named', async () => {
  const p = new TransactionalProducer(client, { transactionalId: 'tp-state' });
  expect(() => p.beginTransaction()).toThrow(/initTransactions/);
  await p.initTransactions();
  await expect(p.send(TOPIC, 0, [{ value: 'x' }])).rejects.toMatchObject({ code: 'INVALID_TXN_STATE' });
  p.beginTransaction();
  expect(() => p.beginTransaction()).toThrow(/in-transaction/);
  // An empty transaction ends without asking the coordinator.
  await p.commitTransaction();
});
