/**
 * Replication on a 3-broker cluster (replication.factor 3, min.insync.replicas 2): after a
 * produce load with kcat and kafkajs (acks=all), every replica's segment bytes are identical below
 * the high watermark, every broker describes the topic alike (leader, replicas, ISR), and
 * everything acknowledged reads back. Runs on both jest projects (embedded store; DynamoDB and S3
 * emulators).
 */
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { BROKER_MAIN } from '../helpers/build';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { kcatConsumeRecords, kcatProduce } from '../helpers/kcat';
import { runProcess, describeRun } from '../helpers/proc';
import { compareReplicas } from '../helpers/replicaCompare';
import { waitFor } from '../helpers/waitFor';

let cluster: TestCluster;
let client: StrataClient;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3 });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'replication-test' });
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

async function describe3(topic: string, via: number): Promise<string> {
  const r = await runProcess(process.execPath, [BROKER_MAIN, 'topics', '--bootstrap-server', cluster.brokers[via].bootstrap, '--describe', '--topic', topic], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeRun('strata topics --describe', r));
  return r.stdout.toString('utf8');
}

async function highWatermarks(topic: string, partitions: number): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let p = 0; p < partitions; p++) out.push((await client.listOffsets(topic, p, -1n)).offset);
  return out;
}

test('a produce load with kcat and kafkajs leaves identical replicas and one view of the topic on every broker', async () => {
  const topic = 'replicated';
  await client.createTopics([{ name: topic, numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);

  // Every broker serves the topic with three in-sync replicas and a leader of its own per partition.
  let described = '';
  await waitFor(
    async () => {
      const views = await Promise.all([0, 1, 2].map((id) => describe3(topic, id)));
      described = views[0];
      return views.every((v) => v === views[0]) && (views[0].match(/Isr: \d,\d,\d/g) ?? []).length === 3;
    },
    { timeoutMs: 20_000, message: 'every broker describing the topic alike with 3 in-sync replicas' },
  );
  const leaders = [...described.matchAll(/Partition: (\d)\tLeader: (\d)\tReplicas: ([\d,]+)\tIsr: ([\d,]+)/g)];
  expect(leaders).toHaveLength(3);
  // Leadership is spread: each broker leads one partition (the preferred replicas differ).
  expect(new Set(leaders.map((m) => m[2])).size).toBe(3);

  const kcatValues = Array.from({ length: 3000 }, (_, i) => `k${i % 97},kcat-${i}`);
  await kcatProduce(cluster.bootstrap(), topic, kcatValues, { keyDelimiter: ',', props: { acks: 'all', 'linger.ms': '5' }, timeoutMs: 60_000 });

  const kafka = new Kafka({ clientId: 'replication-test', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let b = 0; b < 20; b++) {
      await producer.send({ topic, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `j${(b * 50 + i) % 89}`, value: `kafkajs-${b * 50 + i}` })) });
    }
  } finally {
    await producer.disconnect();
  }

  // Every acknowledged record reads back, once.
  const read = await kcatConsumeRecords(cluster.bootstrap(), topic, { timeoutMs: 60_000 });
  const values = read.map((r) => r.value);
  expect(values).toHaveLength(4000);
  expect(new Set(values).size).toBe(4000);

  // Followers catch up to the leader's end; below the high watermark the logs are the same bytes.
  const hws = await highWatermarks(topic, 3);
  expect(hws.reduce((a, b) => a + b, 0n)).toBe(4000n);
  const dirs = [0, 1, 2].map((id) => cluster.dataDir(id));
  for (let p = 0; p < 3; p++) {
    let detail = '';
    await waitFor(
      () => {
        const c = compareReplicas(dirs, topic, p, hws[p]);
        detail = c.detail;
        return c.identical;
      },
      { timeoutMs: 20_000, message: `identical replicas of ${topic}-${p} below ${hws[p]}` },
    );
  }

  // And every broker still describes the topic alike.
  const views = await Promise.all([0, 1, 2].map((id) => describe3(topic, id)));
  expect(views[1]).toBe(views[0]);
  expect(views[2]).toBe(views[0]);
}, 180_000);
