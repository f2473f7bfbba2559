/**
 * Transactions with real clients against a real broker: kafkajs (transactional producer with
 * sendOffsets) and librdkafka through python3-confluent-kafka (init/begin/commit/abort,
 * send_offsets_to_transaction). Committed transactions become visible to read_committed
 * consumers all at once, aborted ones never; read_uncommitted consumers see both; the group
 * offsets sent inside a transaction are committed with it; a second producer with the same
 * transactional.id fences the first and aborts its open transaction.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';

let broker: BrokerProcess;
let client: StrataClient;
let kafka: Kafka;
const producers: Producer[] = [];

beforeAll(async () => {
  await pythonClientsAvailable();
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  kafka = new Kafka({ clientId: 'txn-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 } });
});

afterAll(async () => {
  for (const p of producers) await p.disconnect().catch(() => undefined);
  await client?.close();
  await stopAllBrokers();
});

async function transactionalProducer(transactionalId: string): Promise<Producer> {
  const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  producers.push(p);
  await p.connect();
  return p;
}

/** Every value of the topic's partitions, read from the start with the given isolation. */
async function values(topic: string, partitions: number, isolationLevel: 0 | 1): Promise<string[]> {
  const out: string[] = [];
  for (let p = 0; p < partitions; p++) {
    const end = (await client.listOffsets(topic, p, -1n, { isolationLevel })).offset;
    let offset = 0n;
    while (offset < end) {
      const r = await client.fetch(topic, p, offset, { maxWaitMs: 0, isolationLevel });
      out.push(...r.records.map((x) => x.value!.toString()));
      if (r.nextOffset === offset) break;
      offset = r.nextOffset;
    }
  }
  return out.sort();
}

/** The group's committed offset of the partition, -1n when none. */
async function committedOffset(group: string, topic: string, partition: number): Promise<bigint> {
  const [c] = await client.offsetFetch(group, [{ topic, partition }]);
  return c?.offset ?? -1n;
}

describe('kafkajs', () => {
  test('a committed transaction appears to read_committed readers all at once, with its offsets; an aborted one never', async () => {
    await client.createTopics([
      { name: 'kj-in', numPartitions: 1, replicationFactor: 1 },
      { name: 'kj-out', numPartitions: 2, replicationFactor: 1 },
    ]);
    await client.produce('kj-in', 0, Array.from({ length: 20 }, (_, i) => ({ value: `in-${i}` })));
    const producer = await transactionalProducer('kj-tx');
    const group = 'kj-group';

    const t1 = await producer.transaction();
    await t1.send({ topic: 'kj-out', messages: Array.from({ length: 6 }, (_, i) => ({ value: `c1-${i}`, partition: i % 2 })) });
    await t1.sendOffsets({ consumerGroupId: group, topics: [{ topic: 'kj-in', partitions: [{ partition: 0, offset: '10' }] }] });
    // Written but not committed: read_committed readers stop at the last stable offset.
    expect(await values('kj-out', 2, 1)).toEqual([]);
    expect(await values('kj-out', 2, 0)).toHaveLength(6);
    expect((await client.listOffsets('kj-out', 0, -1n, { isolationLevel: 1 })).offset).toBe(0n);
    expect((await client.listOffsets('kj-out', 0, -1n)).offset).toBe(3n);
    expect(await committedOffset(group, 'kj-in', 0)).toBe(-1n);
    await t1.commit();
    expect(await values('kj-out', 2, 1)).toEqual(['c1-0', 'c1-1', 'c1-2', 'c1-3', 'c1-4', 'c1-5']);
    expect(await committedOffset(group, 'kj-in', 0)).toBe(10n);

    const t2 = await producer.transaction();
    await t2.send({ topic: 'kj-out', messages: Array.from({ length: 4 }, (_, i) => ({ value: `a2-${i}`, partition: i % 2 })) });
    await t2.sendOffsets({ consumerGroupId: group, topics: [{ topic: 'kj-in', partitions: [{ partition: 0, offset: '15' }] }] });
    await t2.abort();
    expect(await committedOffset(group, 'kj-in', 0)).toBe(10n);

    const t3 = await producer.transaction();
    await t3.send({ topic: 'kj-out', messages: [{ value: 'c3-0', partition: 0 }, { value: 'c3-1', partition: 1 }] });
    await t3.commit();

    const committed = ['c1-0', 'c1-1', 'c1-2', 'c1-3', 'c1-4', 'c1-5', 'c3-0', 'c3-1'];
    expect(await values('kj-out', 2, 1)).toEqual(committed);
    expect(await values('kj-out', 2, 0)).toEqual([...committed, 'a2-0', 'a2-1', 'a2-2', 'a2-3'].sort());

    // kafkajs's own consumer (read_committed by default) agrees.
    const consumer = kafka.consumer({ groupId: 'kj-reader', maxWaitTimeInMs: 100 });
    await consumer.connect();
    const seen: string[] = [];
    try {
      await consumer.subscribe({ topic: 'kj-out', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
      const deadline = Date.now() + 30_000;
      while (seen.length < committed.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await consumer.disconnect();
    }
    expect(seen.sort()).toEqual(committed);
  });

  test('a second producer with the same transactional.id fences the first and aborts its open transaction', async () => {
    await client.createTopics([{ name: 'kj-fence', numPartitions: 1, replicationFactor: 1 }]);
    const first = await transactionalProducer('kj-fenced');
    const open = await first.transaction();
    await open.send({ topic: 'kj-fence', messages: [{ value: 'zombie-0' }, { value: 'zombie-1' }] });

    const second = await transactionalProducer('kj-fenced');
    const t = await second.transaction();
    await t.send({ topic: 'kj-fence', messages: [{ value: 'new-0' }] });
    await t.commit();

    await expect(open.commit()).rejects.toMatchObject({ type: expect.stringMatching(/INVALID_PRODUCER_EPOCH|PRODUCER_FENCED/) });
    expect(await values('kj-fence', 1, 1)).toEqual(['new-0']);
    expect(await values('kj-fence', 1, 0)).toEqual(['new-0', 'zombie-0', 'zombie-1']);
  });
});

const CONFLUENT_TRANSACTIONS = String.raw`
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition, KafkaException
bootstrap, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
def producer(tid):
    p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': tid, 'linger.ms': 5})
    p.init_transactions(30)
    return p
meta = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-group', 'enable.auto.commit': False}).consumer_group_metadata()
out = {'committed': [], 'aborted': [], 'fenced': None}
p = producer('py-tx')
for t in range(6):
    p.begin_transaction()
    vals = ['py%d-%d' % (t, i) for i in range(5)]
    for i, v in enumerate(vals):
        p.produce(dst, value=v.encode(), partition=i % 2)
    p.send_offsets_to_transaction([TopicPartition(src, 0, (t + 1) * 3)], meta, 30)
    if t % 3 == 1:
        p.flush(30)  # the records reach the log (librdkafka purges unsent ones on abort)
        p.abort_transaction(30)
        out['aborted'] += vals
    else:
        p.commit_transaction(30)
        out['committed'] += vals
# Fencing: an open transaction, then a new producer with the same transactional.id.
p.begin_transaction()
p.produce(dst, value=b'zombie', partition=0)
p.flush(30)
q = producer('py-tx')
try:
    p.commit_transaction(30)
except KafkaException as e:
    out['fenced'] = {'fatal': e.args[0].fatal(), 'text': str(e)}
q.begin_transaction()
q.produce(dst, value=b'after-fence', partition=1)
q.commit_transaction(30)
out['committed'].append('after-fence')
out['aborted'].append('zombie')
def read(isolation):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'py-reader-' + isolation, 'isolation.level': isolation,
                  'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
    c.subscribe([dst])
    got, idle = [], 0
    while idle < 25:
        m = c.poll(0.2)
        if m is None:
            idle += 1
            continue
        if m.error():
            continue
        idle = 0
        got.append(m.value().decode())
    c.close()
    return sorted(got)
out['read_committed'] = read('read_committed')
out['read_uncommitted'] = read('read_uncommitted')
print(json.dumps(out))
`;

describe('librdkafka (python3-confluent-kafka)', () => {
  test('init/begin/commit/abort with send_offsets_to_transaction; fencing by a second producer', async () => {
    await client.createTopics([
      { name: 'py-in', numPartitions: 1, replicationFactor: 1 },
      { name: 'py-out', numPartitions: 2, replicationFactor: 1 },
    ]);
    await client.produce('py-in', 0, Array.from({ length: 30 }, (_, i) => ({ value: `in-${i}` })));
    const out = await runPythonJson<{ committed: string[]; aborted: string[]; fenced: { fatal: boolean; text: string } | null; read_committed: string[]; read_uncommitted: string[] }>(
      { code: CONFLUENT_TRANSACTIONS },
      { args: [broker.bootstrap, 'py-in', 'py-out'], timeoutMs: 120_000 },
    );
    expect(out.fenced).toMatchObject({ fatal: true });
    expect(out.read_committed).toEqual([...out.committed].sort());
    expect(out.read_uncommitted).toEqual([...out.committed, ...out.aborted].sort());
    // The last committed transaction sent offset 18 (transaction 5); the aborted ones' offsets were dropped.
    expect(await committedOffset('py-group', 'py-in', 0)).toBe(18n);
    expect(await values('py-out', 2, 1)).toEqual(out.read_committed);
  }, 150_000);
});
