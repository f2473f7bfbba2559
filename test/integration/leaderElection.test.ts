/**
 * Leader elections on a 3-broker cluster: controlled shutdown moves a broker's leaderships to
 * in-sync replicas; back in sync, it gets them back with `strata leader-election --election-type
 * PREFERRED` (ElectLeaders), as with kafka-leader-election.sh (auto.leader.rebalance.enable is off
 * here, so only the command moves them); partitions already led by their preferred replica need
 * no election, and an unknown partition is an error.
 */
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { BROKER_MAIN } from '../helpers/build';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { runProcess } from '../helpers/proc';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'elect';
let cluster: TestCluster;
let client: StrataClient;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3, overrides: { 'auto.leader.rebalance.enable': 'false' } });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'election-test' });
  await client.createTopics([{ name: TOPIC, numPartitions: 3, replicationFactor: 3 }]);
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

const strata = (...args: string[]) => runProcess(process.execPath, [BROKER_MAIN, ...args], { timeoutMs: 30_000 });

async function partitions() {
  return (await client.metadata([TOPIC])).topics.get(TOPIC)!.partitions;
}

test('preferred leaders come back with leader-election after a controlled shutdown', async () => {
  const preferredOf0 = (await partitions()).filter((p) => p.replicas[0] === 0).map((p) => p.partition);
  expect(preferredOf0.length).toBeGreaterThan(0);
  for (const p of preferredOf0) expect(await cluster.leaderOf(TOPIC, p)).toBe(0);

  expect(await cluster.brokers[0].stop('SIGTERM')).toBe(0);
  await cluster.restart(0);
  await waitFor(async () => (await partitions()).every((p) => p.isr.length === 3), { timeoutMs: 30_000, message: 'broker 0 back in every ISR' });
  // It handed its leaderships over when it stopped and, with the rebalance off, has not got them back.
  for (const p of preferredOf0) expect(await cluster.leaderOf(TOPIC, p)).not.toBe(0);

  const r = await strata('leader-election', '--bootstrap-server', cluster.bootstrap(), '--election-type', 'PREFERRED', '--all-topic-partitions');
  expect(r.code).toBe(0);
  expect(r.stdout.toString()).toBe(`Successfully completed leader election (PREFERRED) for partitions ${preferredOf0.map((p) => `${TOPIC}-${p}`).join(', ')}\n`);
  await waitFor(async () => (await Promise.all(preferredOf0.map((p) => cluster.leaderOf(TOPIC, p)))).every((l) => l === 0), { timeoutMs: 10_000, message: 'broker 0 leading its preferred partitions' });

  const again = await strata('leader-election', '--bootstrap-server', cluster.bootstrap(), '--election-type', 'PREFERRED', '--topic', TOPIC);
  expect(again.code).toBe(0);
  expect(again.stdout.toString()).toBe(`Valid replica already elected for partitions ${TOPIC}-0, ${TOPIC}-1, ${TOPIC}-2\n`);

  const unknown = await strata('leader-election', '--bootstrap-server', cluster.bootstrap(), '--election-type', 'PREFERRED', '--topic', TOPIC, '--partition', '7');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr.toString()).toContain(`Error completing leader election (PREFERRED) for partition: ${TOPIC}-7: UNKNOWN_TOPIC_OR_PARTITION`);
}, 120_000);

test('replicas assigned by hand (CreateTopics, CreatePartitions through kafkajs) are taken as given, and refused as Kafka refuses them', async () => {
  const kafka = new Kafka({ clientId: 'assignment-test', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: 'manual', replicaAssignment: [{ partition: 0, replicas: [2, 0] }, { partition: 1, replicas: [1, 2] }] }] });
    await admin.createPartitions({ topicPartitions: [{ topic: 'manual', count: 3, assignments: [[0, 1]] }] });
    await waitFor(
      async () => {
        const ps = (await client.metadata(['manual'])).topics.get('manual')?.partitions ?? [];
        return ps.length === 3 && ps.every((p) => p.errorCode === 0);
      },
      { timeoutMs: 10_000, message: 'three partitions of manual, each with its leader' },
    );
    const parts = (await client.metadata(['manual'])).topics.get('manual')!.partitions;
    expect(parts.map((p) => [p.replicas, p.leader])).toEqual([
      [[2, 0], 2],
      [[1, 2], 1],
      [[0, 1], 0],
    ]);
    const refused = async (replicas: number[]) => {
      const e = await admin.createTopics({ topics: [{ topic: `bad-${replicas.join('-')}`, replicaAssignment: [{ partition: 0, replicas }] }] }).then(
        () => null,
        (err: { errors?: { type?: string; message?: string }[] }) => err.errors?.[0] ?? err,
      );
      return e as { type?: string; message?: string } | null;
    };
    // (kafkajs reports the error type with its own message text.)
    expect(await refused([0, 0])).toMatchObject({ type: 'INVALID_REPLICA_ASSIGNMENT' });
    expect(await refused([0, 7])).toMatchObject({ type: 'INVALID_REPLICA_ASSIGNMENT' });
    const grow = await admin.createPartitions({ topicPartitions: [{ topic: 'manual', count: 4, assignments: [[0]] }] }).then(
      () => null,
      (err: { errors?: { type?: string }[]; type?: string }) => err.errors?.[0]?.type ?? err.type,
    );
    expect(grow).toBe('INVALID_REPLICA_ASSIGNMENT');
  } finally {
    await admin.disconnect();
  }
}, 60_000);
