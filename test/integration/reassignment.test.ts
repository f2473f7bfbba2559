/**
 * Partition reassignment on a 3-broker cluster (KIP-455, kafka-reassign-partitions.sh): a
 * replica moves to a broker that had none, the data follows (the new replica's segments are the
 * leader's bytes below the high watermark), the move completes once it is in sync, leadership
 * follows the new preferred replica, and producing and reading go on throughout.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { partitionDirName } from '../../core/log/logManager';
import { BROKER_MAIN } from '../helpers/build';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { kcatConsume, kcatProduce } from '../helpers/kcat';
import { runProcess } from '../helpers/proc';
import { compareReplicas } from '../helpers/replicaCompare';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'moving';
let cluster: TestCluster;
let client: StrataClient;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3 });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'reassignment-test' });
  const admin = new Kafka({ clientId: 'reassignment-test', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, replicaAssignment: [{ partition: 0, replicas: [0, 1] }, { partition: 1, replicas: [1, 0] }] }] });
  await admin.disconnect();
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

/** Bytes of record data (.log files) in a partition's directory. */
const segmentBytes = (dir: string): number =>
  fs.readdirSync(dir).reduce((n, f) => (f.endsWith('.log') ? n + fs.statSync(path.join(dir, f)).size : n), 0);

const strata = (...args: string[]) => runProcess(process.execPath, [BROKER_MAIN, 'reassign-partitions', '--bootstrap-server', cluster.bootstrap(), ...args], { timeoutMs: 30_000 });

test('moving replicas to another broker copies the data there and completes once it is in sync', async () => {
  const first = Array.from({ length: 2000 }, (_, i) => `before-${i}`);
  await kcatProduce(cluster.bootstrap(), TOPIC, first, { props: { acks: 'all', 'enable.idempotence': 'true' }, timeoutMs: 60_000 });

  const gen = path.join(cluster.dir, 'topics.json');
  fs.writeFileSync(gen, JSON.stringify({ version: 1, topics: [{ topic: TOPIC }] }));
  const proposed = await strata('--generate', '--topics-to-move-json-file', gen, '--broker-list', '1,2');
  expect(proposed.code).toBe(0);
  expect(proposed.stdout.toString()).toMatch(/^Current partition replica assignment\n\{"version":1,"partitions":\[.*\]\}\n\nProposed partition reassignment configuration\n\{"version":1,"partitions":\[.*"replicas":\[[12],[12]\].*\]\}\n$/);

  const plan = path.join(cluster.dir, 'plan.json');
  fs.writeFileSync(plan, JSON.stringify({ version: 1, partitions: [{ topic: TOPIC, partition: 0, replicas: [2, 1] }, { topic: TOPIC, partition: 1, replicas: [1, 2] }] }));
  const exec = await strata('--execute', '--reassignment-json-file', plan);
  expect(exec.code).toBe(0);
  expect(exec.stdout.toString()).toBe(
    'Current partition replica assignment\n\n' +
      `{"version":1,"partitions":[{"topic":"${TOPIC}","partition":0,"replicas":[0,1],"log_dirs":["any","any"]},{"topic":"${TOPIC}","partition":1,"replicas":[1,0],"log_dirs":["any","any"]}]}\n\n` +
      'Save this to use as the --reassignment-json-file option during rollback\n' +
      `Successfully started partition reassignments for ${TOPIC}-0,${TOPIC}-1\n`,
  );
  // Writes go on while the new replicas catch up (idempotent: the move may hand leadership over
  // mid-write, and a plain retry of a batch the old leader had replicated would be a duplicate).
  const second = Array.from({ length: 500 }, (_, i) => `during-${i}`);
  await kcatProduce(cluster.bootstrap(), TOPIC, second, { props: { acks: 'all', 'enable.idempotence': 'true' }, timeoutMs: 60_000 });

  await waitFor(async () => (await strata('--verify', '--reassignment-json-file', plan)).stdout.toString().split('is completed.').length === 3, {
    timeoutMs: 30_000,
    message: 'both moves completed',
  });
  const parts = (await client.metadata([TOPIC])).topics.get(TOPIC)!.partitions;
  expect(parts.map((p) => [p.replicas, [...p.isr].sort()])).toEqual([
    [[2, 1], [1, 2]],
    [[1, 2], [1, 2]],
  ]);
  // The leader of partition 0 was broker 0, which left it: the first in-sync replica of the target took over.
  expect([2, 1]).toContain(parts[0].leader);
  expect((await strata('--list')).stdout.toString()).toBe('No partition reassignments found.\n');

  // Broker 2 holds the same bytes as the other replica, below the high watermark.
  for (const p of [0, 1]) {
    const hw = (await client.listOffsets(TOPIC, p, -1n)).offset;
    await waitFor(() => compareReplicas([cluster.dataDir(1), cluster.dataDir(2)], TOPIC, p, hw).identical, { timeoutMs: 20_000, message: `${TOPIC}-${p} identical on brokers 1 and 2` });
  }
  // Broker 0, no longer a replica of either partition, keeps none of their records (Kafka's
  // StopReplica with deletion): its logs are emptied once it applies the completed move.
  for (const p of [0, 1]) {
    const dir = path.join(cluster.dataDir(0), 'logs', partitionDirName(TOPIC, p));
    await waitFor(() => segmentBytes(dir) === 0, { timeoutMs: 20_000, message: `broker 0's ${TOPIC}-${p} emptied (${segmentBytes(dir)} bytes of records left)` });
  }
  const all = await kcatConsume(cluster.bootstrap(), TOPIC, { timeoutMs: 60_000 });
  expect(new Set(all.lines)).toEqual(new Set([...first, ...second]));
  expect(all.lines).toHaveLength(2500);
}, 180_000);
