/**
 * Consumer groups through coordinator and leader changes on a 3-broker cluster: two kafkajs
 * members of one group, kcat's balanced consumer (librdkafka) in a second group and a
 * python3-confluent-kafka member in a third, all three groups on the same coordinator, consume
 * while a kafkajs producer writes (acks=all); the broker
 * coordinating the group is SIGKILLed (the group moves to another broker with its committed
 * offsets and the members rejoin there), then the leader of a partition is. Every acknowledged
 * record is consumed (at least once: a record consumed but not yet committed when the
 * coordinator died is read again), no member fails on an error a broker answered (kafkajs
 * restarts a member that exhausted its connection retries to the dead broker), and the
 * producer's sends all succeed through its retries. The topic is known to every broker before
 * anyone subscribes (librdkafka's group consumer that subscribes while its broker still answers
 * UNKNOWN_TOPIC_OR_PARTITION does not look again for metadata.max.age.ms, against Kafka too).
 */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { followOutput, spawnNode, spawnPython, type StderrTail } from '../helpers/childOutput';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { kcatAvailable } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'orders';
const GROUP = 'order-readers';
const MEMBER_SCRIPT = path.join(__dirname, '..', 'helpers', 'kafkajsGroupMember.cjs');
const PYTHON_MEMBER_SCRIPT = path.join(__dirname, '..', 'helpers', 'groupConsumer.py');
let cluster: TestCluster;
let client: StrataClient;
/** The kafkajs members and the python3-confluent-kafka member run as processes of their own. */
const members: ChildProcess[] = [];
let producer: Producer | undefined;
let kcatGroup: ChildProcess | undefined;

beforeAll(async () => {
  await kcatAvailable();
  cluster = await startCluster({ brokers: 3, overrides: { 'group.initial.rebalance.delay.ms': '0' } });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'group-failover-test' });
  await client.createTopics([{ name: TOPIC, numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
  await cluster.awaitTopic(TOPIC, 3);
}, 90_000);

afterAll(async () => {
  kcatGroup?.kill('SIGKILL');
  for (const m of members) m.kill('SIGKILL');
  await producer?.disconnect().catch(() => undefined);
  await client?.close();
  await cluster?.stop();
});

/** A group id starting with `prefix` whose coordinator is GROUP's, so that every group sees the coordinator's SIGKILL. */
async function sameCoordinator(prefix: string): Promise<string> {
  const target = (await client.findCoordinator(GROUP)).nodeId;
  for (let i = 0; i < 200; i++) {
    const id = `${prefix}-${i}`;
    if ((await client.findCoordinator(id)).nodeId === target) return id;
  }
  throw new Error(`no group id ${prefix}-N hashes to broker ${target}`);
}

test('a consumer group keeps consuming every acknowledged record through SIGKILLs of its coordinator and of a partition leader', async () => {
  const kafka = new Kafka({ clientId: 'group-failover', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 100, maxRetryTime: 1000 } });
  const seen = new Set<string>();
  const memberErr: StderrTail[] = [];
  for (let i = 0; i < 2; i++) {
    const m = spawnNode(MEMBER_SCRIPT, [cluster.bootstrap(), GROUP, TOPIC]);
    members.push(m);
    memberErr.push(followOutput(m, (v) => seen.add(v), 64_000));
  }
  // python3-confluent-kafka: one member of a third group.
  const pySeen = new Set<string>();
  const py = spawnPython(PYTHON_MEMBER_SCRIPT, [cluster.bootstrap(), await sameCoordinator('python-readers'), TOPIC]);
  members.push(py);
  const pyErr = followOutput(py, (v) => pySeen.add(v), 8000);
  // kcat -G: librdkafka's balanced consumer in a group of its own, printing each value.
  const kcatSeen = new Set<string>();
  let kcatErr = '';
  kcatGroup = spawn('kcat', ['-u', '-b', cluster.bootstrap(), '-G', await sameCoordinator('kcat-readers'), '-o', 'beginning', '-f', '%s\n', '-X', 'topic.metadata.refresh.interval.ms=1000', TOPIC], { stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = '';
  kcatGroup.stdout!.setEncoding('utf8').on('data', (t: string) => {
    pending += t;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) kcatSeen.add(l);
  });
  kcatGroup.stderr!.setEncoding('utf8').on('data', (t: string) => (kcatErr = (kcatErr + t).slice(-4000)));
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const acked: string[] = [];
  let n = 0;
  const produce = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const value = `r${n++}`;
      await producer!.send({ topic: TOPIC, acks: -1, messages: [{ key: value, value }] });
      acked.push(value);
    }
  };
  const allConsumed = (what: string) =>
    waitFor(() => acked.every((v) => seen.has(v) && kcatSeen.has(v) && pySeen.has(v)), {
      timeoutMs: 60_000,
      message: `every acknowledged record consumed by all three groups ${what} (kafkajs missing ${acked.filter((v) => !seen.has(v)).length}, kcat missing ${acked.filter((v) => !kcatSeen.has(v)).length}, python missing ${acked.filter((v) => !pySeen.has(v)).length})`,
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n--- kcat stderr (end) ---\n${kcatErr}\n--- kafkajs members' stderr (end) ---\n${memberErr.map((m) => m.text().slice(-3000)).join('\n')}\n--- python member's stderr (end) ---\n${pyErr.text()}`);
    });

  await produce(150);
  await allConsumed('before the faults');

  const coordinator = (await client.findCoordinator(GROUP)).nodeId;
  await cluster.brokers[coordinator].kill9();
  await produce(150);
  await allConsumed(`after the coordinator (broker ${coordinator}) died`);
  const next = (await client.findCoordinator(GROUP)).nodeId;
  expect(next).not.toBe(coordinator);
  await cluster.restart(coordinator);

  const leader = await cluster.awaitLeader(TOPIC, 0);
  await cluster.brokers[leader].kill9();
  await produce(150);
  await allConsumed(`after the leader of ${TOPIC}-0 (broker ${leader}) died`);
  await cluster.restart(leader);
  await produce(50);
  await allConsumed('after the restarts');

  // kafkajs gives up on a broker it cannot connect to after its retries (the dead one), or on a
  // request whose connection the SIGKILL closed, and restarts the member (restartOnFailure): a
  // client-side retry, not an error the brokers answered.
  expect(kcatGroup.exitCode).toBeNull(); // kcat kept consuming throughout
  for (const m of members) expect(m.exitCode).toBeNull();
  // librdkafka reports lost brokers on stderr and recovers; a message-level error would be a broker's answer.
  expect(pyErr.text().split('\n').filter((l) => l.startsWith('consume-error '))).toEqual([]);
  const crashes = memberErr.flatMap((m) => m.text().split('\n').filter((l) => l.startsWith('crash ')));
  expect(crashes.filter((e) => !/KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED|KafkaJSConnectionClosedError: Closed connection/.test(e))).toEqual([]);
  expect(acked).toHaveLength(500);
  // The group's committed offsets, now on its current coordinator, cover the whole topic.
  await waitFor(
    async () => {
      const committed = await client.offsetFetch(GROUP, [0, 1, 2].map((partition) => ({ topic: TOPIC, partition })));
      let ends = 0n;
      for (let p = 0; p < 3; p++) ends += (await client.listOffsets(TOPIC, p, -1n)).offset;
      return committed.reduce((s, o) => s + o.offset, 0n) === ends;
    },
    { timeoutMs: 20_000, message: 'the group to commit up to the end of every partition' },
  );
}, 240_000);
