/**
 * Idempotent producers through faults: librdkafka (python3-confluent-kafka) and kafkajs with
 * idempotence on (acks=all) produce numbered records while the fault proxy drops produce
 * responses (the broker wrote the batch, the client never hears so and resends it) and while a
 * broker is SIGKILLed mid-stream. Afterwards each partition must hold every acknowledged record
 * exactly once, in the order sent, and every record must have been acknowledged: the history
 * checker (test/helpers/history.ts) looks for lost, duplicated and reordered writes.
 *
 * Twice:
 * - on a single broker, SIGKILLed and restarted on its data dir (the producer state is rebuilt
 *   from the log);
 * - on a 3-broker cluster (test/helpers/cluster.ts; topics with replication factor 3 and
 *   min.insync.replicas=2), where the leader of partition 0 is SIGKILLed and restarted once
 *   another broker leads it (the producer state comes from the replicas): the producers' retries
 *   land on the new leader, which must recognise the batches the old one had already written.
 *   The cluster issue's "the exactly-once issue's idempotence tests pass with a partition leader
 *   SIGKILLed in a 3-broker cluster".
 *
 * Every client connection goes through a fault proxy: each broker advertises its own proxy's
 * address (on the cluster, followers' replica fetchers go through it too; only produce
 * responses are dropped). A SIGKILLed cluster broker keeps its proxy's target: connections to it
 * are refused until it is back on the same port, as a crashed process's host would refuse them.
 */
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { saveOutputs } from '../helpers/ackedLoad';
import { awsBackendSelected } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess, type ExitStatus } from '../helpers/broker';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { startFaultProxy, seededRng, type FaultProxy } from '../helpers/faultProxy';
import { checkHistory, formatReport, type ProducedOp, type ReadOp } from '../helpers/history';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';
import { waitFor } from '../helpers/waitFor';

const PRODUCE = 0;
const PARTITIONS = 3;
/** Records the librdkafka producer sends. */
const RDKAFKA_RECORDS = 3000;

/** Where the producers run: one broker or a cluster, each broker behind a fault proxy of its own. */
interface Setup {
  /** The producers' bootstrap.servers (the proxies). */
  bootstrap(): string;
  /** For topic creation and the final reads. */
  client(): StrataClient;
  proxies(): FaultProxy[];
  replicationFactor: number;
  topicConfigs: Record<string, string>;
  /**
   * Once `topic` exists: the crash, a function that sends SIGKILL before it returns (so the kill
   * lands exactly where the caller is in its stream) and resolves once a broker is back.
   */
  armCrash(topic: string): Promise<() => Promise<void>>;
}

async function endOffsets(client: StrataClient, topic: string): Promise<bigint[]> {
  const ends: bigint[] = [];
  for (let p = 0; p < PARTITIONS; p++) ends.push((await client.listOffsets(topic, p, -1n)).offset);
  return ends;
}

const sum = (xs: bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);

/** Every record of every partition, in offset order, as the history checker's reads (each fetch goes to the partition's leader). */
async function readAll(client: StrataClient, topic: string): Promise<ReadOp[]> {
  const reads: ReadOp[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const end = (await client.listOffsets(topic, p, -1n)).offset;
    let offset = 0n;
    while (offset < end) {
      const r = await client.fetch(topic, p, offset, { maxWaitMs: 0, maxBytes: 1 << 20 });
      for (const rec of r.records) reads.push({ consumer: 'final', partition: p, offset: rec.offset, value: rec.value!.toString(), isolation: 'read_uncommitted' });
      offset = r.nextOffset;
    }
  }
  return reads;
}

function expectExactlyOnce(produced: ProducedOp[], reads: ReadOp[]): void {
  const report = checkHistory({ produced, reads }, { readsComplete: true });
  if (!report.ok) throw new Error(formatReport(report));
  // Nothing but what was produced, each value once.
  expect(new Set(reads.map((r) => r.value)).size).toBe(reads.length);
}

const droppedResponses = (s: Setup): number => s.proxies().reduce((n, p) => n + p.stats().droppedResponses, 0);

function dropProduceResponses(s: Setup, seed: number): void {
  s.proxies().forEach((p, i) => p.dropResponses({ apiKey: PRODUCE, probability: 0.1, rng: seededRng(seed + 1000 * i) }));
}

const RDKAFKA_PRODUCER = String.raw`
import json, sys, time
from confluent_kafka import Producer
bootstrap, topic, n, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True, 'linger.ms': 2,
              'message.timeout.ms': 90000, 'retry.backoff.ms': 50, 'reconnect.backoff.max.ms': 500})
acks = []
def report(err, msg):
    acks.append({'v': msg.value().decode(), 'p': msg.partition(), 'o': msg.offset() if err is None else -1, 'err': None if err is None else str(err)})
for i in range(n):
    while True:
        try:
            p.produce(topic, value=('rk-%d' % i).encode(), partition=i % partitions, on_delivery=report)
            break
        except BufferError:
            p.poll(0.05)
    if i % 100 == 99:
        p.poll(0)
        time.sleep(0.08)  # pacing: the test crashes the broker while this producer is mid-stream
left = p.flush(120)
print(json.dumps({'left': left, 'acks': acks}))
`;

/**
 * librdkafka produces n records round-robin over the partitions; at 1000 records in the log the
 * crash. Returns each partition's end offset when the crash began.
 */
async function rdkafkaThroughCrash(s: Setup, topic: string): Promise<bigint[]> {
  const n = RDKAFKA_RECORDS;
  const client = s.client();
  await client.createTopics([{ name: topic, numPartitions: PARTITIONS, replicationFactor: s.replicationFactor, configs: s.topicConfigs }]);
  const crash = await s.armCrash(topic);
  dropProduceResponses(s, 7);
  const run = runPythonJson<{ left: number; acks: { v: string; p: number; o: number; err: string | null }[] }>(
    { code: RDKAFKA_PRODUCER },
    { args: [s.bootstrap(), topic, String(n), String(PARTITIONS)], timeoutMs: 150_000 },
  );
  await waitFor(async () => sum(await endOffsets(client, topic)) >= 1000n, { timeoutMs: 60_000, message: 'the producer never reached 1000 records' });
  const atCrash = await endOffsets(client, topic);
  await crash();
  const out = await run;
  for (const p of s.proxies()) p.clearFaults();
  expect(sum(atCrash)).toBeLessThan(BigInt(n)); // the crash really happened mid-stream
  expect(droppedResponses(s)).toBeGreaterThan(0);
  expect(out.left).toBe(0);
  expect(out.acks.filter((a) => a.err !== null)).toEqual([]);
  const byValue = new Map(out.acks.map((a) => [a.v, a]));
  const produced: ProducedOp[] = Array.from({ length: n }, (_, i) => {
    const a = byValue.get(`rk-${i}`);
    return { producer: 'rdkafka', partition: i % PARTITIONS, value: `rk-${i}`, acked: a !== undefined && a.err === null, offset: a && a.o >= 0 ? BigInt(a.o) : undefined };
  });
  const reads = await readAll(client, topic);
  expectExactlyOnce(produced, reads);
  expect(reads).toHaveLength(n);
  return atCrash;
}

/** kafkajs sends 150 batches of 10, partition by partition in turn; the crash as batch 50 is sent. */
async function kafkajsThroughCrash(s: Setup, topic: string): Promise<void> {
  const sends = 150;
  const perSend = 10;
  const client = s.client();
  await client.createTopics([{ name: topic, numPartitions: PARTITIONS, replicationFactor: s.replicationFactor, configs: s.topicConfigs }]);
  const armed = await s.armCrash(topic);
  const kafka = new Kafka({ clientId: 'idem', brokers: s.bootstrap().split(','), logLevel: logLevel.NOTHING, retry: { retries: 40, initialRetryTime: 100, maxRetryTime: 1000 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const produced: ProducedOp[] = [];
  let crash: Promise<void> | null = null;
  try {
    dropProduceResponses(s, 11);
    for (let i = 0; i < sends; i++) {
      if (i === 50) crash = armed(); // mid-stream, not awaited: the sends below retry through it
      const partition = i % PARTITIONS;
      const values = Array.from({ length: perSend }, (_, k) => `kj-${i * perSend + k}`);
      let acked = false;
      let baseOffset: bigint | undefined;
      try {
        const [meta] = await producer.send({ topic, messages: values.map((value) => ({ value, partition })) });
        acked = meta.errorCode === 0;
        baseOffset = BigInt(meta.baseOffset!);
      } catch {
        acked = false;
      }
      values.forEach((value, k) => produced.push({ producer: 'kafkajs', partition, value, acked, offset: baseOffset === undefined ? undefined : baseOffset + BigInt(k) }));
    }
    await crash;
  } finally {
    for (const p of s.proxies()) p.clearFaults();
    await producer.disconnect();
  }
  expect(droppedResponses(s)).toBeGreaterThan(0);
  expect(produced.filter((p) => !p.acked)).toEqual([]);
  const reads = await readAll(client, topic);
  expectExactlyOnce(produced, reads);
  expect(reads).toHaveLength(sends * perSend);
}

afterAll(async () => {
  await stopAllBrokers();
});

describe('on a single broker', () => {
  let proxy: FaultProxy;
  let broker: BrokerProcess;
  let client: StrataClient;

  beforeAll(async () => {
    await pythonClientsAvailable();
    proxy = await startFaultProxy();
    broker = await startBroker({
      overrides: {
        'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxy.port}`,
        // A broker restarted after kill -9 waits out its old lease on a shared store (the aws project).
        'broker.session.timeout.ms': '3000',
        'broker.heartbeat.interval.ms': '500',
      },
    });
    proxy.setTarget('127.0.0.1', broker.port);
    client = new StrataClient({ bootstrapServers: [proxy.bootstrap] });
  });

  afterAll(async () => {
    await client?.close();
    await broker?.stop();
    await proxy?.close();
  });

  /** kill -9, then a new broker process on the same data dir; new connections go to it. */
  async function crashAndRestart(): Promise<void> {
    proxy.clearTarget();
    await broker.kill9();
    broker = await broker.restart();
    proxy.setTarget('127.0.0.1', broker.port);
  }

  const single: Setup = {
    bootstrap: () => proxy.bootstrap,
    client: () => client,
    proxies: () => [proxy],
    replicationFactor: 1,
    topicConfigs: {},
    armCrash: async () => crashAndRestart,
  };

  test('librdkafka (confluent-kafka) idempotent producer: lost responses and a broker kill -9 leave every record exactly once, in order', async () => {
    await rdkafkaThroughCrash(single, 'idem-rdkafka');
  }, 200_000);

  test('kafkajs idempotent producer: lost responses and a broker kill -9 leave every record exactly once, in order', async () => {
    await kafkajsThroughCrash(single, 'idem-kafkajs');
  }, 200_000);
});

describe('on a 3-broker cluster', () => {
  const BROKERS = 3;
  /** The partition whose leader is SIGKILLed. */
  const VICTIM_PARTITION = 0;
  const proxies: FaultProxy[] = [];
  let cluster: TestCluster;
  let client: StrataClient;

  interface Failover {
    topic: string;
    victim: number;
    /** The victim's process that was killed (cluster.brokers holds its successor). */
    killed: BrokerProcess;
    epochBefore: number;
    killedBy?: ExitStatus | null;
    newLeader?: number;
    /** ms from the SIGKILL to Metadata naming the new leader. */
    electedAfterMs?: number;
  }
  let failover: Failover | null = null;

  beforeAll(async () => {
    await pythonClientsAvailable();
    for (let id = 0; id < BROKERS; id++) proxies.push(await startFaultProxy());
    cluster = await startCluster({
      brokers: BROKERS,
      // On DynamoDB a restarted broker waits broker.session.timeout.ms for its dead registration: shorter here.
      overrides: awsBackendSelected() ? { 'broker.session.timeout.ms': '3000' } : {},
      nodeOverrides: (id) => ({ 'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxies[id].port}` }),
    });
    // A restart reuses the broker's port: the targets stay valid.
    cluster.brokers.forEach((b, id) => proxies[id].setTarget('127.0.0.1', b.port));
    client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'idem-check' });
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
    await Promise.all(proxies.map((p) => p.close()));
  }, 60_000);

  const clustered: Setup = {
    bootstrap: () => proxies.map((p) => p.bootstrap).join(','),
    client: () => client,
    proxies: () => proxies,
    replicationFactor: 3,
    topicConfigs: { 'min.insync.replicas': '2' },
    async armCrash(topic) {
      await cluster.awaitTopic(topic, PARTITIONS);
      const victim = await cluster.leaderOf(topic, VICTIM_PARTITION);
      expect(victim).toBeGreaterThanOrEqual(0);
      const f: Failover = { topic, victim, killed: cluster.brokers[victim], epochBefore: (await client.listOffsets(topic, VICTIM_PARTITION, -1n)).leaderEpoch };
      failover = f;
      return async () => {
        const t0 = performance.now();
        const killing = f.killed.kill9(); // SIGKILL sent now
        await killing;
        f.killedBy = f.killed.exitStatus();
        f.newLeader = await cluster.awaitLeader(topic, VICTIM_PARTITION, { not: victim, timeoutMs: 30_000 });
        f.electedAfterMs = Math.round(performance.now() - t0);
        await cluster.restart(victim);
      };
    },
  };

  /** The leader was SIGKILLed and another broker took the partition over (a new leader epoch). */
  async function expectFailover(topic: string): Promise<void> {
    const f = failover!;
    expect(f.topic).toBe(topic);
    expect(f.killedBy?.signal).toBe('SIGKILL');
    expect(f.newLeader).toBeGreaterThanOrEqual(0);
    expect(f.newLeader).not.toBe(f.victim);
    const epochAfter = (await client.listOffsets(topic, VICTIM_PARTITION, -1n)).leaderEpoch;
    expect(epochAfter).toBeGreaterThan(f.epochBefore);
    expect(cluster.brokers[f.victim].exitStatus()).toBeNull(); // restarted
    const dropped = proxies.map((p) => p.stats().droppedResponses);
    console.log(`${topic}: leader ${f.victim} of partition ${VICTIM_PARTITION} SIGKILLed, broker ${f.newLeader} named leader ${f.electedAfterMs} ms later (leader epoch ${f.epochBefore} -> ${epochAfter}); produce responses dropped per proxy: ${dropped.join(', ')}`);
  }

  /** A failure carries every broker's output (the killed process's too), saved whole to files. */
  async function withOutputs(name: string, run: () => Promise<void>): Promise<void> {
    failover = null;
    try {
      await run();
    } catch (e) {
      const procs = cluster.brokers.map((b, id) => ({ label: `broker-${id}`, output: () => b.output() }));
      const f = failover as Failover | null; // set by run()
      if (f) procs.push({ label: `broker-${f.victim}-killed`, output: () => f.killed.output() });
      const err = e as Error;
      err.message += `\n${saveOutputs(name, procs)}`;
      throw err;
    }
  }

  test('librdkafka (confluent-kafka) idempotent producer: lost responses and a partition leader kill -9 leave every record exactly once, in order', async () => {
    const topic = 'idem-cluster-rdkafka';
    await withOutputs(topic, async () => {
      const atCrash = await rdkafkaThroughCrash(clustered, topic);
      // The victim's partition still had records to come when its leader died.
      expect(atCrash[VICTIM_PARTITION]).toBeLessThan(BigInt(RDKAFKA_RECORDS / PARTITIONS));
      await expectFailover(topic);
    });
  }, 120_000);

  test('kafkajs idempotent producer: lost responses and a partition leader kill -9 leave every record exactly once, in order', async () => {
    const topic = 'idem-cluster-kafkajs';
    await withOutputs(topic, async () => {
      await kafkajsThroughCrash(clustered, topic);
      await expectFailover(topic);
    });
  }, 120_000);
});
