/**
 * Rolling restart of a 3-broker cluster under load (the cluster issue's Done 5): each broker in
 * turn is stopped with SIGTERM (controlled shutdown: its leaderships move to in-sync replicas and
 * it leaves the ISRs first) and started again; then one broker starts with an empty data dir,
 * catches up from the leaders, rejoins every ISR and leads its preferred partitions again. A
 * kafkajs idempotent producer (acks=all) writes all along and sees no failed send; every
 * acknowledged record reads back once, at its offset (the Jepsen-style checker: the new leaders
 * deduplicate retries sent to the old ones), and every replica is identical below the high
 * watermark.
 */
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { checkHistory, formatReport, type ProducedOp, type ReadOp } from '../helpers/history';
import { kcatConsumeRecords } from '../helpers/kcat';
import { compareReplicas } from '../helpers/replicaCompare';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'rolling';
const PARTITIONS = 3;

let cluster: TestCluster;
let client: StrataClient;
let producer: Producer | undefined;

beforeAll(async () => {
  // The preferred-leader check every second, so the emptied broker's leaderships come back within the test.
  cluster = await startCluster({ brokers: 3, overrides: { 'leader.imbalance.check.interval.seconds': '1' } });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'rolling-test' });
  await client.createTopics([{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
}, 90_000);

afterAll(async () => {
  await producer?.disconnect().catch(() => undefined);
  await client?.close();
  await cluster?.stop();
});

/** Until every partition has 3 in-sync replicas as the cluster describes it. */
async function fullIsr(): Promise<void> {
  await waitFor(
    async () => {
      const md = await client.metadata([TOPIC]).catch(() => null);
      const t = md?.topics.get(TOPIC);
      return t !== undefined && t.partitions.every((p) => p.errorCode === 0 && p.isr.length === 3);
    },
    { timeoutMs: 30_000, message: 'every partition back to 3 in-sync replicas' },
  );
}

test('a rolling restart and a broker rebuilt from an empty data dir lose nothing and fail no send', async () => {
  const kafka = new Kafka({ clientId: 'rolling-producer', brokers: cluster.bootstrap().split(','), logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 } });
  // Idempotent, one producer per sender with one send at a time (kafkajs reuses a failed send's
  // sequence number for the next one, so concurrent sends through one idempotent kafkajs producer
  // can pair a new record with an old sequence): a send retried after its first attempt landed
  // (the leader moved while it waited for the ISR) is deduplicated by the new leader, from the
  // producer state replicated with the batches. A plain producer would write it twice.
  const producers = Array.from({ length: 4 }, () => kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 }));
  producer = producers[0];
  for (const p of producers) await p.connect();
  const produced: ProducedOp[] = [];
  const failures: string[] = [];
  let running = true;
  let n = 0;
  // Four senders, each one record at a time to its own partition sequence, so offsets are known per record.
  const senders = Array.from({ length: 4 }, async (_, s) => {
    while (running) {
      const value = `v${s}-${n++}`;
      const partition = n % PARTITIONS;
      const op: ProducedOp = { producer: `p${s}`, partition, value, acked: false };
      produced.push(op);
      try {
        const [meta] = await producers[s].send({ topic: TOPIC, acks: -1, timeout: 10_000, messages: [{ value, partition }] });
        op.acked = true;
        op.offset = BigInt(meta.baseOffset!);
      } catch (e) {
        failures.push(`${value}: ${(e as Error).message}`);
      }
    }
  });
  const ackedNow = () => produced.filter((p) => p.acked).length;
  const progress = async (what: string) => {
    const before = ackedNow();
    await waitFor(() => ackedNow() >= before + 50, { timeoutMs: 30_000, message: `the producer making progress ${what}` });
  };

  try {
    await progress('before the restarts');
    for (let id = 0; id < 3; id++) {
      expect(await cluster.brokers[id].stop('SIGTERM')).toBe(0);
      await progress(`while broker ${id} is down`);
      await cluster.restart(id);
      await fullIsr();
      await progress(`after broker ${id} restarted`);
    }
    // A broker that lost its disk: it catches up from the leaders and leads its preferred partitions again.
    const md = await client.metadata([TOPIC]);
    const preferredOf1 = md.topics.get(TOPIC)!.partitions.filter((p) => p.replicas[0] === 1).map((p) => p.partition);
    expect(preferredOf1.length).toBeGreaterThan(0);
    await cluster.restart(1, { emptyDataDir: true });
    await fullIsr();
    for (const p of preferredOf1) {
      await waitFor(async () => (await cluster.leaderOf(TOPIC, p).catch(() => -1)) === 1, { timeoutMs: 20_000, message: `broker 1 leading ${TOPIC}-${p} again` });
    }
    await progress('after the empty-disk restart');
  } finally {
    running = false;
    await Promise.all(senders);
    for (const p of producers) await p.disconnect().catch(() => undefined);
  }

  if (failures.length > 0) {
    // The brokers' view of what went wrong, for the failure message.
    const lines = cluster.brokers.flatMap((b, id) => b.output().split('\n').filter((l) => /sequence|truncat|leader at epoch|following leader|WARN|ERROR/.test(l)).map((l) => `[broker ${id}] ${l}`));
    console.log(`rolling restart: ${failures.length} failed sends; broker lines:\n${lines.slice(-150).join('\n')}`);
  }
  expect(failures).toEqual([]);
  const read = await kcatConsumeRecords(cluster.bootstrap(), TOPIC, { timeoutMs: 60_000 });
  const reads: ReadOp[] = read.map((r) => ({ consumer: 'final', partition: r.partition, offset: r.offset, value: r.value ?? '', isolation: 'read_uncommitted' }));
  const report = checkHistory({ produced, reads }, { readsComplete: true });
  expect(report.ok ? '' : formatReport(report)).toBe('');

  const dirs = [0, 1, 2].map((id) => cluster.dataDir(id));
  for (let p = 0; p < PARTITIONS; p++) {
    const hw = (await client.listOffsets(TOPIC, p, -1n)).offset;
    let detail = '';
    await waitFor(
      () => {
        const c = compareReplicas(dirs, TOPIC, p, hw);
        detail = c.detail;
        return c.identical;
      },
      { timeoutMs: 20_000, message: `identical replicas of ${TOPIC}-${p} below ${hw}` },
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${detail}`);
    });
  }
  console.log(`rolling restart: ${ackedNow()} records acknowledged, ${produced.length - ackedNow()} not, through 3 restarts and an empty-disk rebuild`);
}, 240_000);
