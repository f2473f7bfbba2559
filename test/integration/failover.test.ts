/**
 * Leader failover under load, FAILOVER_TRIALS times (default 20) in one run: on a 3-broker
 * cluster, two producers (test/helpers/numberedProducer.py, python3-confluent-kafka 1.7 /
 * librdkafka 2.0.2, acks=all, no idempotence; a failed delivery is retried by the script as a new
 * attempt of the same value, so every attempt that may land is in the history) write unique
 * numbered records to every partition of a 6-partition topic (replication.factor 3, min.insync.replicas 2) while a consumer keeps
 * reading. Each trial SIGKILLs a partition leader at a random moment (seeded: FAILOVER_SEED
 * replays a run), measures how long after the SIGKILL the new leader of each partition it led
 * acknowledged a produce, restarts it and waits until it is back in every partition's ISR.
 *
 * Afterwards a Jepsen-style check (test/helpers/history.ts) of every produce attempt and its
 * delivery report against the concurrent consumer's reads and a complete final read finds no
 * lost acknowledged write, no offset read with two values, no acknowledged offset holding another
 * value, no value landing more often than it was sent, and acknowledged offsets in send order per
 * producer and partition; and the three replicas of every partition are the same bytes below the
 * high watermark. On a failure (and after a trial slower than FAILOVER_SLOW_MS, default 10 s) the
 * broker logs, the clients' logs and the partitions' data are kept in a directory that is named.
 *
 * Environment: FAILOVER_TRIALS (20; 5 on the aws project), FAILOVER_SEED (random, printed), FAILOVER_RATE (records per
 * second per producer, 150), FAILOVER_SLOW_MS (10000).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { StrataClient, type PartitionInfo } from '../../core/client/client';
import { awsBackendSelected } from '../helpers/awsBackend';
import type { BrokerProcess } from '../helpers/broker';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { checkHistory, formatReport, type CheckReport, type History, type ReadOp } from '../helpers/history';
import { kcatAvailable, kcatConsumeRecords } from '../helpers/kcat';
import { NumberedConsumer, NumberedProducer, stopAllLoad, type Ack } from '../helpers/numberedLoad';
import { pythonClientsAvailable } from '../helpers/python';
import { compareReplicas, readReplicaBatches } from '../helpers/replicaCompare';
import { seededRng } from '../helpers/seededRng';
import { waitFor } from '../helpers/waitFor';

/**
 * 20 on the embedded store; 5 on the emulators (the aws project), where each restart also waits
 * out the killed process's registration and dynalite is slower: the same code paths, a shorter run.
 */
const TRIALS = Number(process.env.FAILOVER_TRIALS ?? (awsBackendSelected() ? 5 : 20));
const SEED = process.env.FAILOVER_SEED !== undefined ? Number(process.env.FAILOVER_SEED) : Math.floor(Math.random() * 2 ** 31);
/** Records per second per producer (round-robin over the partitions). */
const RATE = Number(process.env.FAILOVER_RATE ?? 150);
const PRODUCERS = 2;
const TOPIC = 'failover';
const PARTITIONS = 6;
const BROKERS = 3;
/** The kill comes this long (uniformly random) after the cluster is whole again. */
const KILL_DELAY_MS: [number, number] = [200, 1500];
/**
 * Bounds per trial step: a new leader elected; its first acknowledgement (generous: the
 * producers' own timeout, message.timeout.ms 30 s, is what ends some stalls, see the report in
 * the run's output); the restarted broker back in every ISR.
 */
const ELECTION_TIMEOUT_MS = 30_000;
const FIRST_ACK_TIMEOUT_MS = 60_000;
const REJOIN_TIMEOUT_MS = 30_000;
/** A trial whose failover took longer keeps the logs (see keepEvidence). */
const SLOW_FAILOVER_MS = Number(process.env.FAILOVER_SLOW_MS ?? 10_000);

let cluster: TestCluster | undefined;
/** Every broker process of the run, restarts included, for the logs. */
const brokerRuns: Array<{ nodeId: number; incarnation: number; proc: BrokerProcess }> = [];
const producers: NumberedProducer[] = [];
let consumer: NumberedConsumer | undefined;

beforeAll(async () => {
  await Promise.all([pythonClientsAvailable(), kcatAvailable()]);
});

/** Set when the test got to its checks; otherwise (a step timed out, jest's timeout) afterAll keeps the logs. */
let reachedChecks = false;
/** Results so far, for the evidence of a run that did not finish. */
const results: TrialResult[] = [];

afterAll(async () => {
  await stopAllLoad();
  if (cluster && !reachedChecks) {
    // The broker helper's own afterAll has stopped the brokers by now; their output and data dirs remain.
    const evidence = keepEvidence(cluster, `the test did not reach its checks (after ${results.length} trial(s))`, { 'trials.json': trialsJson() });
    console.log(`failover: the run did not finish; logs kept in ${evidence}`);
  }
  await cluster?.stop();
}, 60_000);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Metadata for the topic as broker `via` answers it (a fresh connection each time). */
async function partitionsVia(bootstrap: string): Promise<PartitionInfo[]> {
  const client = new StrataClient({ bootstrapServers: [bootstrap], clientId: 'failover-test', requestTimeoutMs: 5000, connectTimeoutMs: 3000 });
  try {
    const md = await client.metadata([TOPIC]);
    const t = md.topics.get(TOPIC);
    if (!t) throw new Error(`broker ${bootstrap} does not know ${TOPIC}`);
    return t.partitions;
  } finally {
    await client.close();
  }
}

const liveBrokers = (c: TestCluster) => c.brokers.filter((b) => b.exitStatus() === null);

/** Every broker answers that every partition has a leader and all three replicas in sync. */
async function wholeEverywhere(c: TestCluster): Promise<boolean> {
  if (liveBrokers(c).length < BROKERS) return false;
  for (const b of c.brokers) {
    const ps = await partitionsVia(b.bootstrap);
    if (ps.length !== PARTITIONS || ps.some((p) => p.errorCode !== 0 || p.leader < 0 || p.isr.length !== BROKERS)) return false;
  }
  return true;
}

/** Every partition's high watermark, from its leader. */
async function highWatermarks(c: TestCluster): Promise<bigint[]> {
  const reader = new StrataClient({ bootstrapServers: c.bootstrap().split(','), clientId: 'failover-test', retries: 8 });
  try {
    const out: bigint[] = [];
    for (let p = 0; p < PARTITIONS; p++) out.push((await reader.listOffsets(TOPIC, p, -1n)).offset);
    return out;
  } finally {
    await reader.close();
  }
}

/** The first offset a leader epoch above `epoch` starts at in `dataDir`'s copy of the partition, or null. */
function epochStartAbove(dataDir: string, partition: number, epoch: number): bigint | null {
  const batches = readReplicaBatches(dataDir, TOPIC, partition).batches;
  return batches.find((b) => b.partitionLeaderEpoch > epoch)?.baseOffset ?? null;
}

function trialsJson(): string {
  return JSON.stringify(results, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface TrialResult {
  trial: number;
  victim: number;
  partitions: number[];
  killedAt: number;
  /** Per partition the victim led: the new leader, and ms from the SIGKILL to its first acknowledgement. */
  failovers: Array<{ partition: number; newLeader: number; epochStart: bigint; ackMs: number }>;
  restartMs: number;
  rejoinMs: number;
}

/** Keeps what explains a failure: broker and client logs, the history, the partitions' data. */
function keepEvidence(c: TestCluster, reason: string, extra: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-failover-evidence-${SEED}-`));
  fs.writeFileSync(path.join(dir, 'reason.txt'), `seed ${SEED}\n${reason}\n`);
  for (const r of brokerRuns) fs.writeFileSync(path.join(dir, `broker-${r.nodeId}.run${r.incarnation}.log`), r.proc.output());
  for (const p of producers) {
    const lines = [...p.attempts.values()].sort((a, b) => a.seq - b.seq).map((a) => JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    fs.writeFileSync(path.join(dir, `producer-${p.opts.id}.attempts.jsonl`), lines.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, `producer-${p.opts.id}.stderr.txt`), p.tail(200_000));
  }
  if (consumer) fs.writeFileSync(path.join(dir, 'consumer.stderr.txt'), consumer.tail(200_000));
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, name), text);
  for (let id = 0; id < BROKERS; id++) {
    const logs = path.join(c.dataDir(id), 'logs');
    if (!fs.existsSync(logs)) continue;
    for (const d of fs.readdirSync(logs).filter((n) => n.startsWith(`${TOPIC}-`))) {
      fs.cpSync(path.join(logs, d), path.join(dir, `data-broker-${id}`, d), { recursive: true });
    }
  }
  return dir;
}

/** Broker log lines about the given partitions (leadership, ISR, truncation), every run. */
function brokerLinesAbout(partitions: number[], max = 80): string {
  const labels = partitions.map((p) => `${TOPIC}-${p}:`);
  const out: string[] = [];
  for (const r of brokerRuns) {
    for (const line of r.proc.output().split('\n')) {
      if (labels.some((l) => line.includes(l))) out.push(`[broker ${r.nodeId} run ${r.incarnation}] ${line}`);
    }
  }
  return out.length > max ? [...out.slice(0, max / 2), `… ${out.length - max} lines …`, ...out.slice(-max / 2)].join('\n') : out.join('\n');
}

function partitionsIn(r: CheckReport): number[] {
  const ps = new Set<number>();
  for (const e of r.lostWrites.examples) ps.add(e.partition);
  for (const e of r.inconsistentOffsets.examples) ps.add(e.partition);
  for (const e of r.orderViolations.examples) ps.add(e.partition);
  for (const e of r.ackedOffsetMismatch.examples) ps.add(e.partition);
  for (const e of r.unexpectedValues.examples) ps.add(e.partition);
  for (const e of r.duplicates.examples) for (const p of e.positions) ps.add(p.partition);
  return [...ps].sort((a, b) => a - b);
}

test(
  `${TRIALS} leader SIGKILLs under acks=all load: no lost or diverging writes, replicas identical`,
  async () => {
    console.log(`failover: seed ${SEED} (replay with FAILOVER_SEED=${SEED}), ${TRIALS} trials, ${PRODUCERS} producers x ${RATE} records/s`);
    const rng = seededRng(SEED);
    // On a shared store a restarted broker waits broker.session.timeout.ms for its dead registration: shorter here.
    const c = (cluster = await startCluster({ brokers: BROKERS, overrides: awsBackendSelected() ? { 'broker.session.timeout.ms': '3000' } : {} }));
    c.brokers.forEach((proc, nodeId) => brokerRuns.push({ nodeId, incarnation: 0, proc }));
    const admin = new StrataClient({ bootstrapServers: c.bootstrap().split(','), clientId: 'failover-test', retries: 8 });
    try {
      await admin.createTopics([{ name: TOPIC, numPartitions: PARTITIONS, replicationFactor: BROKERS, configs: { 'min.insync.replicas': '2' } }]);
    } finally {
      await admin.close();
    }
    await waitFor(() => wholeEverywhere(c), { timeoutMs: 30_000, intervalMs: 200, message: 'every partition led, with 3 in-sync replicas, on every broker' });

    const bootstrap = c.bootstrap();
    for (let i = 0; i < PRODUCERS; i++) {
      producers.push(new NumberedProducer({ bootstrap, topic: TOPIC, partitions: PARTITIONS, id: `w${i}`, ratePerSecond: RATE }));
    }
    consumer = new NumberedConsumer({ bootstrap, topic: TOPIC, partitions: PARTITIONS, name: 'live' });
    const loadFailed = Promise.race([...producers.map((p) => p.failed), consumer.failed]);
    loadFailed.catch(() => undefined); // raced against in guarded(); a failure between steps surfaces at the next one
    /** Races a step against the load processes dying. */
    const guarded = <T>(step: Promise<T>): Promise<T> => Promise.race([step, loadFailed]);
    // Writes are flowing to every partition before the first kill.
    await guarded(
      waitFor(() => producers.every((p) => Array.from({ length: PARTITIONS }, (_, i) => i).every((i) => (p.acks.get(i)?.length ?? 0) > 0)), {
        timeoutMs: 30_000,
        message: 'every producer acknowledged on every partition',
      }),
    );

    const incarnations = new Array<number>(BROKERS).fill(0);
    const runStart = Date.now();
    for (let trial = 1; trial <= TRIALS; trial++) {
      await sleep(KILL_DELAY_MS[0] + rng() * (KILL_DELAY_MS[1] - KILL_DELAY_MS[0]));
      const before = await partitionsVia(liveBrokers(c)[0].bootstrap);
      const leaders = [...new Set(before.map((p) => p.leader))].filter((l) => l >= 0).sort((a, b) => a - b);
      const victim = leaders[Math.floor(rng() * leaders.length)];
      const led = before.filter((p) => p.leader === victim);
      const killedAt = Date.now();
      await c.brokers[victim].kill9();

      // Per partition it led: the new leader, where its epoch starts in its log, and the first
      // acknowledgement at or past that offset (so from the new leader, not a late one from the old).
      const failovers = await guarded(
        Promise.all(
          led.map(async (p) => {
            const newLeader = await c.awaitLeader(TOPIC, p.partition, { not: victim, timeoutMs: ELECTION_TIMEOUT_MS });
            let epochStart: bigint | null = null;
            let first: Ack | undefined;
            await waitFor(
              () => {
                epochStart ??= epochStartAbove(c.dataDir(newLeader), p.partition, p.leaderEpoch);
                if (epochStart === null) return false;
                const from = epochStart;
                const acks = producers.map((pr) => pr.acks.get(p.partition)?.find((a) => a.offset >= from && a.atMs >= killedAt)).filter((a): a is Ack => a !== undefined);
                first = acks.sort((a, b) => a.atMs - b.atMs)[0];
                return first !== undefined;
              },
              { timeoutMs: FIRST_ACK_TIMEOUT_MS, intervalMs: 50, message: `an acknowledgement from the new leader ${newLeader} of ${TOPIC}-${p.partition} (trial ${trial}, broker ${victim} killed)` },
            );
            return { partition: p.partition, newLeader, epochStart: epochStart!, ackMs: Math.round(first!.atMs - killedAt) };
          }),
        ),
      );
      const slowest = Math.max(...failovers.map((f) => f.ackMs));
      const t0 = Date.now();
      const proc = await c.restart(victim);
      brokerRuns.push({ nodeId: victim, incarnation: ++incarnations[victim], proc });
      const restartMs = Date.now() - t0;
      const t1 = Date.now();
      await guarded(waitFor(() => wholeEverywhere(c), { timeoutMs: REJOIN_TIMEOUT_MS, intervalMs: 100, message: `broker ${victim} back in the ISR of every partition (trial ${trial})` }));
      const rejoinMs = Date.now() - t1;
      results.push({ trial, victim, partitions: led.map((p) => p.partition), killedAt, failovers, restartMs, rejoinMs });
      console.log(
        `trial ${trial}: killed broker ${victim} (leader of partitions ${led.map((p) => p.partition).join(',')}) at ${new Date(killedAt).toISOString()}; ` +
          `new leader acknowledged after ${slowest} ms (${failovers.map((f) => `p${f.partition}->${f.newLeader} ${f.ackMs} ms`).join(', ')}); ` +
          `restarted in ${restartMs} ms, back in every ISR ${rejoinMs} ms later`,
      );
    }
    const trialsMs = Date.now() - runStart;

    // The load keeps going a little past the last rejoin, then stops; producers flush what they hold.
    await sleep(500);
    const stopped = await Promise.all(producers.map((p) => p.stop(60_000)));
    await consumer.stop(15_000);
    for (const [i, s] of stopped.entries()) {
      if (s.code !== 0 || producers[i].exitLine === null) throw new Error(`producer ${producers[i].opts.id} did not stop cleanly (${producers[i].describeExit()})\n${producers[i].tail()}`);
    }

    // Every replica catches up: its log ends at the leader's high watermark (read afresh each
    // time, as the last followers' fetches move it). Then below it the replicas are the same bytes.
    const dirs = Array.from({ length: BROKERS }, (_, id) => c.dataDir(id));
    const logEnd = (dir: string, p: number): bigint => {
      const b = readReplicaBatches(dir, TOPIC, p).batches;
      return b.length === 0 ? 0n : b[b.length - 1].lastOffset + 1n;
    };
    let hws: bigint[] = [];
    let ends = '';
    const unsettled: string[] = [];
    try {
      await waitFor(
        async () => {
          hws = await highWatermarks(c);
          const lines = hws.map((hw, p) => ({ p, hw, ends: dirs.map((d) => logEnd(d, p)) }));
          ends = lines.map((l) => `${TOPIC}-${l.p}: high watermark ${l.hw}, log ends ${l.ends.join(',')}`).join('; ');
          return lines.every((l) => l.ends.every((e) => e === l.hw));
        },
        { timeoutMs: 30_000, intervalMs: 200, message: 'every replica ending at its leader\'s high watermark' },
      );
    } catch {
      unsettled.push(`replicas did not converge within 30 s: ${ends}`);
    }
    const divergent: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const r = compareReplicas(dirs, TOPIC, p, hws[p]);
      if (!r.identical) divergent.push(`${TOPIC}-${p} (high watermark ${hws[p]}): ${r.detail}`);
    }

    // The final read: everything up to the high watermarks, from the leaders.
    const records = await kcatConsumeRecords(c.bootstrap(), TOPIC, { timeoutMs: 120_000, props: { 'fetch.wait.max.ms': '100' } });
    const finalReads: ReadOp[] = records.map((r) => ({ consumer: 'final', partition: r.partition, offset: r.offset, value: r.value ?? '', isolation: 'read_uncommitted' }));
    // Complete means every offset below the high watermark (no compaction, no transactions: offsets are dense).
    const gaps: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = finalReads.filter((r) => r.partition === p).map((r) => r.offset).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const expected = Number(hws[p]);
      const missing: bigint[] = [];
      let i = 0;
      for (let o = 0n; o < hws[p] && missing.length < 10; o++) {
        if (offsets[i] === o) i++;
        else missing.push(o);
      }
      if (offsets.length !== expected || missing.length > 0) gaps.push(`${TOPIC}-${p}: read ${offsets.length} records below high watermark ${hws[p]}${missing.length ? `, missing offsets ${missing.join(',')}` : ''}`);
    }

    const history: History = { produced: producers.flatMap((p) => p.produced()), reads: [...consumer.reads, ...finalReads] };
    const report = checkHistory(history, { readsComplete: true });
    reachedChecks = true; // from here on failures keep their evidence themselves

    // ---- the run in numbers ----
    const times = results.map((r) => Math.max(...r.failovers.map((f) => f.ackMs))).sort((a, b) => a - b);
    const perPartition = results.flatMap((r) => r.failovers.map((f) => f.ackMs)).sort((a, b) => a - b);
    const errors = new Map<string, number>();
    for (const p of producers) for (const [e, n] of p.errorCounts()) errors.set(e, (errors.get(e) ?? 0) + n);
    console.log(
      [
        `failover: seed ${SEED}; ${TRIALS} trials in ${(trialsMs / 1000).toFixed(1)} s`,
        `SIGKILL -> new leader acknowledged (slowest partition per trial): p50 ${percentile(times, 50)} ms, max ${times[times.length - 1]} ms; ` +
          `per partition (${perPartition.length}): p50 ${percentile(perPartition, 50)} ms, max ${perPartition[perPartition.length - 1]} ms`,
        `restart p50 ${percentile(results.map((r) => r.restartMs).sort((a, b) => a - b), 50)} ms, rejoin every ISR p50 ${percentile(results.map((r) => r.rejoinMs).sort((a, b) => a - b), 50)} ms`,
        `producers: ${history.produced.length} attempts, ${report.totals.acked} acked; failed delivery reports: ${[...errors].map(([e, n]) => `${n} x ${e}`).join('; ') || 'none'}`,
        `consumer: ${consumer.reads.length} live reads, ${consumer.rewinds.length} rewinds, ${consumer.errors.length} errors; final read ${finalReads.length} records; high watermarks ${hws.join(',')}`,
        formatReport(report),
      ].join('\n'),
    );

    const slow = results.filter((r) => r.failovers.some((f) => f.ackMs > SLOW_FAILOVER_MS));
    if (slow.length > 0 && report.ok && divergent.length === 0 && gaps.length === 0 && unsettled.length === 0) {
      const evidence = keepEvidence(c, `slow failovers (over ${SLOW_FAILOVER_MS} ms): trials ${slow.map((r) => r.trial).join(',')}`, {
        'trials.json': trialsJson(),
      });
      console.log(`failover: ${slow.length} trial(s) took over ${SLOW_FAILOVER_MS} ms; logs kept in ${evidence}`);
    }

    if (!report.ok || divergent.length > 0 || gaps.length > 0 || unsettled.length > 0) {
      const parts = [...new Set([...partitionsIn(report), ...divergent.map((d) => Number(/-(\d+) /.exec(d)?.[1]))])].filter((p) => !Number.isNaN(p));
      const reason = [
        formatReport(report, { examplesPerKind: 10 }),
        divergent.length ? `diverging replicas:\n${divergent.join('\n')}` : '',
        gaps.length ? `incomplete final read:\n${gaps.join('\n')}` : '',
        unsettled.join('\n'),
      ]
        .filter(Boolean)
        .join('\n');
      const evidence = keepEvidence(c, reason, {
        'trials.json': trialsJson(),
        'final-read.tsv': finalReads.map((r) => `${r.partition}\t${r.offset}\t${r.value}`).join('\n') + '\n',
        'live-read.tsv': consumer.reads.map((r) => `${r.partition}\t${r.offset}\t${r.value}`).join('\n') + '\n',
      });
      throw new Error(`seed ${SEED}: ${reason}\n--- broker log lines about partitions ${parts.join(',')} ---\n${brokerLinesAbout(parts)}\n(evidence kept in ${evidence})`);
    }
    expect(report.ok).toBe(true);
    expect(results).toHaveLength(TRIALS);
  },
  // A trial is a few seconds on the embedded store; on DynamoDB a restart after a crash waits
  // out broker.session.timeout.ms (9 s) for the dead incarnation's registration.
  120_000 + TRIALS * (awsBackendSelected() ? 60_000 : 20_000),
);
