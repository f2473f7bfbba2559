import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { BenchCluster, sleep } from './clusterProcesses';
import { PRODUCE_PROPS, propArgs, runKcat } from './kcatPhases';
import { loopbackNode, loopbackPython, Throughput } from './limits';
import { MachineCpuMeter } from './machineCpu';
import { readCpuSeconds } from './rss';
import { MB, MiB, median, perSecond, secondsSince } from './units';

/**
 * The `cluster` section: a 3-broker Strata cluster on loopback (clusterProcesses.ts: one `strata
 * broker` per node id sharing one embedded metadata store and one file:// object store), topics
 * of 6 partitions with replication factor 3 and min.insync.replicas 2, and four measurements, in
 * this order (each explained in bench/README.md):
 *
 * 1. failover — a librdkafka producer (bench/clusterProduce.py `failover`) writes continuously
 *    with acks=all to every partition; the leader of one partition is SIGKILLed; the time from the
 *    SIGKILL to the first acknowledgement of a record of a partition it led (and to the last such
 *    partition's first one), then the broker is restarted on its port and its data dir, and the
 *    next trial waits until every ISR is whole again. First because the trials' restarts recover
 *    every partition log the broker holds: little data keeps the wait between trials short.
 * 2. throughput — kcat -P of the same 1 KiB records with acks=1 and with acks=all, each into a
 *    new topic, alternating (ABBA over two rounds); MB/s each and acks=all ÷ acks=1.
 * 3. latency — the librdkafka producer (`rate`) at fixed rates of 1 KiB records with acks=all:
 *    per-record latency from produce() to the delivery callback (p50/p99/max) and the rate achieved.
 * 4. catch-up — one broker stopped (SIGTERM), its data dir deleted, started again: the bytes it
 *    fetched back ÷ the time until it is in the ISR of every partition again, beside a plain TCP
 *    copy of the same bytes over 127.0.0.1 (limits.ts), measured after the cluster stopped.
 *
 * Nothing here asserts on time: the results are ratios and times the report compares with the
 * targets. What makes the section fail (an error) is a broken measurement: a broker that does not
 * start, a kcat or producer that fails, a partition whose records do not all arrive, a failover or
 * catch-up that does not finish within its (generous) bound.
 */

export interface ClusterBenchPlan {
  brokers: number;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  recordSize: number;
  /** kcat -P of `records` records per run; `rounds` rounds of acks=1 and acks=all (alternating order). */
  throughput: { records: number; rounds: number };
  /**
   * The librdkafka producers' linger.ms and max.in.flight.requests.per.connection (latency and
   * failover). librdkafka's default in-flight limit (1,000,000) with a small linger.ms sends one
   * request per record or two, pipelined, and a broker answers a connection's requests one at a
   * time (as Kafka does): 5 is the Java producer's default.
   */
  producer: { lingerMs: number; maxInFlight: number };
  /** One run per rate (MB/s of payload), each `warmupSeconds` (not counted) + `seconds`, then at most `drainSeconds` for late deliveries. */
  latency: { ratesMbPerSec: number[]; seconds: number; warmupSeconds: number; drainSeconds: number };
  /** `trials` leader kills while one producer writes `recordsPerSec` records/s (all partitions, round-robin). */
  failover: { trials: number; recordsPerSec: number };
}

export interface ClusterThroughputRun {
  acks: 'all' | '1';
  round: number;
  topic: string;
  records: number;
  seconds: number;
  mbPerSec: number;
  recordsPerSec: number;
  /** CPU cores of each broker (node id order) during the run. */
  brokerCpuCores: number[];
  kcatCpuCores: number | null;
  /** Everything else on the machine (cores) plus steal. */
  otherCores: number | null;
  /** From kcat's exit until every partition's high watermark covered the records (followers caught up). */
  replicatedAfterSeconds: number | null;
  ok: boolean;
  error?: string;
}

export interface ClusterLatencyRun {
  targetMbPerSec: number;
  targetRecordsPerSec: number;
  seconds: number;
  lingerMs: number;
  maxInFlight: number;
  records: number;
  achievedMbPerSec: number | null;
  achievedRecordsPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  librdkafkaP50Ms: number | null;
  librdkafkaP99Ms: number | null;
  /** Records not acknowledged `drainSeconds` after the last produce (they count as infinitely late). */
  undelivered: number;
  drainSeconds: number;
  /** How far the producer fell behind its own schedule (ms): large means the client, not the broker, set the pace. */
  maxLagMs: number | null;
  clientCpuCores: number | null;
  brokerCpuCores: number[];
  otherCores: number | null;
  ok: boolean;
  error?: string;
}

export interface FailoverTrial {
  trial: number;
  /** The killed broker, the partition whose leader it was chosen as, and every partition it led. */
  victim: number;
  partition: number;
  ledPartitions: number[];
  wasController: boolean;
  /** SIGKILL → the first acknowledgement of a record of a partition the victim led (ms). */
  firstAckMs: number | null;
  /** SIGKILL → every such partition acknowledged again (ms). */
  allAckedMs: number | null;
  /** SIGKILL → each led partition's first acknowledgement (ms), by partition. */
  ackedMs: Record<string, number>;
  /** SIGKILL → when the benchmark read that acknowledgement's line (ms): ackedMs plus the pipe's delay. */
  readMs: Record<string, number>;
  /** SIGKILL → the first / last of those partitions' new leader logging "leader at epoch" (broker log timestamps). */
  firstElectedMs: number | null;
  lastElectedMs: number | null;
  /** Restart → listening (ms), listening → every ISR whole again (ms). */
  restartMs: number | null;
  isrBackMs: number | null;
  /** Producer not acknowledged on every partition within 1 s before the kill (the trial still ran). */
  unhealthyBefore: string | null;
  ok: boolean;
  error?: string;
}

export interface ClusterFailoverResult {
  topic: string;
  recordsPerSec: number;
  trials: FailoverTrial[];
  /** Over the valid trials, ms. */
  firstAckP50Ms: number | null;
  firstAckMaxMs: number | null;
  allAckedP50Ms: number | null;
  allAckedMaxMs: number | null;
  /** The producer's totals: produced, acknowledged, failed (delivery reports with an error). */
  produced: number | null;
  acked: number | null;
  failed: number | null;
  firstFailure: string | null;
}

export interface ClusterCatchUpResult {
  victim: number;
  /** Bytes of partition log segments (.log files) the broker held before, and fetched back. */
  bytesBefore: number;
  bytes: number;
  partitions: number;
  /** Start of the broker process → it is in the ISR of every partition it is a replica of. */
  seconds: number;
  /** Start → its listening line. */
  startSeconds: number;
  mbPerSec: number;
  brokerCpuCores: number[];
  loopbackNode: Throughput | null;
  loopbackPython: Throughput | null;
  /** mbPerSec ÷ loopback (node → node) MB/s. */
  ratioToLoopback: number | null;
}

export interface ClusterResult {
  brokers: number;
  partitions: number;
  replicationFactor: number;
  minInsyncReplicas: number;
  recordSize: number;
  overrides: Record<string, string>;
  client: string | null;
  failover: ClusterFailoverResult | null;
  throughput: ClusterThroughputRun[];
  /** Medians over the valid runs, and acks=all ÷ acks=1. */
  acks1MbPerSec: number | null;
  acksAllMbPerSec: number | null;
  acksRatio: number | null;
  latency: ClusterLatencyRun[];
  catchUp: ClusterCatchUpResult | null;
  /** The first acks=all produce to each new topic (ms, the slowest partition): a cold topic's cost. */
  firstProduceMs: Array<{ topic: string; ms: number }>;
  stopExitCodes: Array<{ nodeId: number; code: number | null }>;
  warnings: string[];
  errors: string[];
  ok: boolean;
}

export interface ClusterBenchOptions {
  /** The benchmark's temp dir: the cluster's directory goes under it. */
  workDir: string;
  /** dist/core/cli/main.js */
  brokerMain: string;
  overrides: Record<string, string>;
  python: string;
  /** bench/clusterProduce.py */
  script: string;
  /** plan.throughput.records records of plan.recordSize bytes, one per line (records.ts). */
  file: string;
  plan: ClusterBenchPlan;
  /** Called before each measurement (e.g. waiting for the disk to go quiet). */
  beforePhase?: (what: string) => Promise<void>;
  progress?: (message: string) => void;
}

/** Acknowledgements within this long after the SIGKILL are the dead leader's last answers, not a new leader's. */
export const FAILOVER_GRACE_MS = 200;
/** A trial that has not seen every led partition acknowledged again by then is broken. */
const FAILOVER_TIMEOUT_MS = 30_000;
/** How long a trial waits for the producer to be acknowledged on every partition before the kill. */
const HEALTH_WAIT_MS = 10_000;
/** How long the restarted broker gets to be back in every ISR. */
const ISR_BACK_TIMEOUT_MS = 60_000;
const SETPRIV = '/usr/bin/setpriv';

// ------------------------------------------------------------------------------------ helpers

/** CPU of several processes over a window, in cores each. */
class CpuMeter {
  private readonly start: number[];
  private readonly t0 = process.hrtime.bigint();
  constructor(private readonly pids: number[]) {
    this.start = pids.map((p) => readCpuSeconds(p) ?? 0);
  }
  stop(): { cores: number[]; seconds: number } {
    const seconds = secondsSince(this.t0);
    const cores = this.pids.map((p, i) => Math.max(0, (readCpuSeconds(p) ?? this.start[i]!) - this.start[i]!) / Math.max(seconds, 1e-9));
    return { cores, seconds };
  }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Until the brokers together use under `maxCores` over a 300 ms window (bounded): background replication is over. */
async function waitClusterIdle(cluster: BenchCluster, maxCores = 0.15, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = new CpuMeter(cluster.pids());
    await sleep(300);
    if (sum(m.stop().cores) < maxCores) return true;
    if (Date.now() > deadline) return false;
  }
}

/** A child process under setpriv's parent-death SIGKILL, with its stdout split into lines. */
function spawnPython(python: string, args: string[], onLine: (line: string) => void): {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  kill: (signal?: NodeJS.Signals) => void;
  closeStdin: () => void;
} {
  const argv = fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'SIGKILL', '--', python, ...args] : [python, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (err = (err + t).slice(-16 * 1024)));
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => {
    pending += t;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (e) => {
      err += `\n${e.message}`;
      resolve({ code: null, signal: null });
    });
    child.on('close', (code, signal) => {
      if (pending !== '') onLine(pending);
      pending = '';
      resolve({ code, signal });
    });
  });
  return {
    pid: child.pid ?? -1,
    exited,
    stderr: () => err,
    kill: (signal = 'SIGKILL') => void child.kill(signal),
    closeStdin: () => void child.stdin!.end(),
  };
}

/** Bytes in the partition log segments (*.log) under `dir`. */
export function segmentBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.log')) {
        try {
          total += fs.statSync(p).size;
        } catch {
          // removed meanwhile (retention, a roll)
        }
      }
    }
  };
  walk(dir);
  return total;
}

// ------------------------------------------------------------------------------------ topics

async function createTopic(cluster: BenchCluster, plan: ClusterBenchPlan, topic: string, firstProduce: ClusterResult['firstProduceMs']): Promise<void> {
  const client = cluster.client();
  try {
    await client.createTopics([
      { name: topic, numPartitions: plan.partitions, replicationFactor: plan.replicationFactor, configs: { 'min.insync.replicas': String(plan.minInsyncReplicas) } },
    ]);
  } finally {
    await client.close().catch(() => undefined);
  }
  await awaitFullIsr(cluster, [topic], 30_000);
  // One acks=all record to each partition: the topic is then known to every broker and every
  // follower fetches it. Timed, because a new topic's first acks=all produce is a cost of its own.
  const t0 = process.hrtime.bigint();
  const producer = cluster.client();
  try {
    await Promise.all(Array.from({ length: plan.partitions }, (_, p) => producer.produce(topic, p, [{ value: 'warm-up' }], { acks: -1, timeoutMs: 30_000 })));
  } finally {
    await producer.close().catch(() => undefined);
  }
  firstProduce.push({ topic, ms: secondsSince(t0) * 1000 });
}

/** Until every partition of `topics` has a leader and an ISR of the replication factor (all its replicas). */
async function awaitFullIsr(cluster: BenchCluster, topics: string[] | null, timeoutMs: number, pollMs = 100): Promise<number> {
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const md = await cluster.metadata(topics);
      const names = topics ?? [...md.topics.keys()];
      const short: string[] = [];
      for (const name of names) {
        const t = md.topics.get(name);
        if (!t || t.partitions.length === 0) {
          short.push(`${name}: no metadata`);
          continue;
        }
        for (const p of t.partitions) {
          if (p.leader < 0 || p.isr.length < p.replicas.length) short.push(`${name}-${p.partition}: leader ${p.leader}, isr ${p.isr.join(',')} of ${p.replicas.join(',')}`);
        }
      }
      if (short.length === 0) return secondsSince(t0) * 1000;
      last = short.slice(0, 6).join('; ');
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`ISRs not whole within ${timeoutMs} ms (${last})`);
    await sleep(pollMs);
  }
}

/** Sum of the partitions' high watermarks (ListOffsets latest). */
async function topicEnd(cluster: BenchCluster, topic: string, partitions: number): Promise<bigint> {
  const client = cluster.client();
  try {
    const ends = await Promise.all(Array.from({ length: partitions }, (_, p) => client.listOffsets(topic, p, -1n)));
    return ends.reduce((n, e) => n + e.offset, 0n);
  } finally {
    await client.close().catch(() => undefined);
  }
}

// ------------------------------------------------------------------------------------ throughput

async function throughputRun(cluster: BenchCluster, opts: ClusterBenchOptions, acks: 'all' | '1', round: number, result: ClusterResult): Promise<ClusterThroughputRun> {
  const { plan } = opts;
  const records = plan.throughput.records;
  const topic = `bench-cluster-acks${acks === 'all' ? 'all' : '1'}-${round}`;
  const run: ClusterThroughputRun = {
    acks,
    round,
    topic,
    records,
    seconds: 0,
    mbPerSec: 0,
    recordsPerSec: 0,
    brokerCpuCores: [],
    kcatCpuCores: null,
    otherCores: null,
    replicatedAfterSeconds: null,
    ok: false,
  };
  try {
    await createTopic(cluster, plan, topic, result.firstProduceMs);
    await waitClusterIdle(cluster);
    await opts.beforePhase?.(`before the cluster's acks=${acks} produce #${round}`);
    const props = { ...PRODUCE_PROPS, acks: acks === 'all' ? 'all' : '1' };
    const command = ['-P', '-b', cluster.bootstrap(), '-t', topic, ...propArgs(props), '-l', opts.file];
    // Generous: acks=all must be slow indeed to need it (60 s + 1 s per 5 MB).
    const timeoutMs = 60_000 + Math.ceil((records * plan.recordSize) / 5_000_000) * 1000;
    const cpu = new CpuMeter(cluster.pids());
    const machine = new MachineCpuMeter();
    const k = await runKcat(command, timeoutMs);
    const used = cpu.stop();
    const m = machine.stop();
    run.seconds = k.seconds;
    run.brokerCpuCores = used.cores;
    run.kcatCpuCores = k.cpuSeconds === null ? null : k.cpuSeconds / k.seconds;
    if (m) run.otherCores = Math.max(0, m.busyCores - sum(used.cores) - (run.kcatCpuCores ?? 0)) + m.stealCores;
    if (k.timedOut) throw new Error(`kcat timed out after ${timeoutMs} ms (killed)`);
    if (k.code !== 0) throw new Error(`kcat exited ${k.signal ?? `with code ${k.code}`}: ${k.stderr.trim().slice(-2000)}`);
    run.recordsPerSec = perSecond(records, k.seconds);
    run.mbPerSec = perSecond(records * plan.recordSize, k.seconds) / MB;
    // Every record acknowledged must be there once the followers caught up (acks=1 answers before).
    const expected = BigInt(records + plan.partitions);
    const t0 = process.hrtime.bigint();
    const deadline = Date.now() + 60_000;
    let end = -1n;
    while ((end = await topicEnd(cluster, topic, plan.partitions)) < expected && Date.now() < deadline) await sleep(100);
    if (end !== expected) throw new Error(`the topic's partitions end at ${end} in all (high watermarks), expected ${expected} (${records} records + ${plan.partitions} warm-up records)`);
    run.replicatedAfterSeconds = secondsSince(t0);
    run.ok = true;
  } catch (e) {
    run.error = (e as Error).message;
  }
  return run;
}

// ------------------------------------------------------------------------------------ latency

async function latencyRun(cluster: BenchCluster, opts: ClusterBenchOptions, topic: string, mbPerSec: number, result: ClusterResult): Promise<ClusterLatencyRun> {
  const { plan } = opts;
  const l = plan.latency;
  const rate = Math.round((mbPerSec * MB) / plan.recordSize);
  const run: ClusterLatencyRun = {
    targetMbPerSec: mbPerSec,
    targetRecordsPerSec: rate,
    seconds: l.seconds,
    lingerMs: plan.producer.lingerMs,
    maxInFlight: plan.producer.maxInFlight,
    records: 0,
    achievedMbPerSec: null,
    achievedRecordsPerSec: null,
    p50Ms: null,
    p99Ms: null,
    p999Ms: null,
    maxMs: null,
    meanMs: null,
    librdkafkaP50Ms: null,
    librdkafkaP99Ms: null,
    undelivered: 0,
    drainSeconds: l.drainSeconds,
    maxLagMs: null,
    clientCpuCores: null,
    brokerCpuCores: [],
    otherCores: null,
    ok: false,
  };
  let cpu: CpuMeter | null = null;
  let machine: MachineCpuMeter | null = null;
  let json: string | null = null;
  const args = [opts.script, 'rate', cluster.bootstrap(), topic, String(plan.recordSize), String(rate), String(l.seconds), String(l.warmupSeconds), String(plan.producer.lingerMs), String(plan.producer.maxInFlight), String(l.drainSeconds)];
  const child = spawnPython(opts.python, args, (line) => {
    if (line === 'start') {
      cpu = new CpuMeter(cluster.pids());
      machine = new MachineCpuMeter();
    } else if (line.startsWith('{')) json = line;
  });
  const timeoutMs = (l.warmupSeconds + l.seconds + l.drainSeconds + 30) * 1000;
  const timer = setTimeout(() => child.kill(), timeoutMs);
  const exit = await child.exited;
  clearTimeout(timer);
  const used = (cpu as CpuMeter | null)?.stop() ?? null;
  const m = (machine as MachineCpuMeter | null)?.stop() ?? null;
  if (json === null) {
    run.error = `the producer exited ${exit.signal ?? `with code ${exit.code}`} without a result${exit.signal === 'SIGKILL' ? ` (killed after ${timeoutMs} ms)` : ''}: ${child.stderr().trim().slice(-2000)}`;
    return run;
  }
  const r = JSON.parse(json) as Record<string, unknown>;
  if (typeof r.client === 'string') result.client = r.client;
  if (typeof r.error === 'string') {
    run.error = `${r.error}${child.stderr() ? `; stderr: ${child.stderr().trim().slice(-1000)}` : ''}`;
    return run;
  }
  const num = (k: string): number | null => (typeof r[k] === 'number' ? (r[k] as number) : null);
  run.records = num('records') ?? 0;
  run.achievedMbPerSec = num('achievedMbPerSec');
  run.achievedRecordsPerSec = num('achievedRecordsPerSec');
  run.p50Ms = num('p50Ms');
  run.p99Ms = num('p99Ms');
  run.p999Ms = num('p999Ms');
  run.maxMs = num('maxMs');
  run.meanMs = num('meanMs');
  run.librdkafkaP50Ms = num('librdkafkaP50Ms');
  run.librdkafkaP99Ms = num('librdkafkaP99Ms');
  run.undelivered = num('undelivered') ?? 0;
  run.maxLagMs = num('maxLagMs');
  const wall = num('wallSeconds');
  const clientCpu = num('cpuSeconds');
  run.clientCpuCores = wall && clientCpu !== null ? clientCpu / wall : null;
  if (used) run.brokerCpuCores = used.cores;
  if (m && used) run.otherCores = Math.max(0, m.busyCores - sum(used.cores) - (run.clientCpuCores ?? 0)) + m.stealCores;
  run.ok = true;
  return run;
}

// ------------------------------------------------------------------------------------ failover

interface AckStream {
  /** Last acknowledgement per partition (callback time, ns on CLOCK_MONOTONIC). */
  lastAck: Map<number, bigint>;
  /** Called for every acknowledgement. */
  onAck: ((partition: number, at: bigint) => void) | null;
  ready: boolean;
  done: string | null;
  failed: number;
  firstFailure: string | null;
}

const LEADER_LINE_RE = /^(\S+Z) INFO\s+\[broker\/partitions\] (\S+)-(\d+): leader at epoch (\d+)/;

/** Broker log lines saying a partition of `topic` got its new leader after `afterWallMs`: ms after it per partition. */
function electionsAfter(cluster: BenchCluster, topic: string, partitions: number[], afterWallMs: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of cluster.members) {
    for (const line of m.log) {
      const x = LEADER_LINE_RE.exec(line);
      if (!x || x[2] !== topic) continue;
      const p = Number(x[3]);
      if (!partitions.includes(p)) continue;
      const at = Date.parse(x[1]!) - afterWallMs;
      if (at < 0) continue;
      if (!out.has(p) || at < out.get(p)!) out.set(p, at);
    }
  }
  return out;
}

async function failoverTrial(cluster: BenchCluster, opts: ClusterBenchOptions, topic: string, acks: AckStream, trial: number): Promise<FailoverTrial> {
  const { plan } = opts;
  const partition = (trial - 1) % plan.partitions;
  const t: FailoverTrial = {
    trial,
    victim: -1,
    partition,
    ledPartitions: [],
    wasController: false,
    firstAckMs: null,
    allAckedMs: null,
    ackedMs: {},
    readMs: {},
    firstElectedMs: null,
    lastElectedMs: null,
    restartMs: null,
    isrBackMs: null,
    unhealthyBefore: null,
    ok: false,
  };
  try {
    // The producer must be acknowledged on every partition just now: then "the first
    // acknowledgement after the kill" times the failover, not a backlog. If acks=all is stalled
    // even without a failure there is nothing to time: the trial is not run.
    const healthDeadline = Date.now() + HEALTH_WAIT_MS;
    let stale: number[] = [];
    for (;;) {
      const now = process.hrtime.bigint();
      stale = [];
      for (let p = 0; p < plan.partitions; p++) {
        const last = acks.lastAck.get(p);
        if (last === undefined || now - last > 1_000_000_000n) stale.push(p);
      }
      if (stale.length === 0 || Date.now() > healthDeadline) break;
      await sleep(50);
    }
    if (stale.length > 0) {
      t.unhealthyBefore = `no acks=all acknowledgement within the last second on partition(s) ${stale.join(', ')} after waiting ${HEALTH_WAIT_MS / 1000} s, before any kill`;
      throw new Error(`not run: ${t.unhealthyBefore}`);
    }
    const md = await cluster.metadata([topic]);
    const parts = md.topics.get(topic)?.partitions ?? [];
    const victim = parts.find((p) => p.partition === partition)?.leader ?? -1;
    if (victim < 0 || cluster.members[victim]?.broker == null) throw new Error(`partition ${partition} has no running leader (leader ${victim})`);
    t.victim = victim;
    t.ledPartitions = parts.filter((p) => p.leader === victim).map((p) => p.partition);
    t.wasController = md.cluster.controllerId === victim;

    const led = new Set(t.ledPartitions);
    const first = new Map<number, bigint>();
    let resolveAll: () => void = () => undefined;
    const allBack = new Promise<void>((resolve) => (resolveAll = resolve));
    const killWallMs = Date.now();
    const killNs = process.hrtime.bigint();
    const graceNs = BigInt(FAILOVER_GRACE_MS) * 1_000_000n;
    const arrived = new Map<number, bigint>();
    acks.onAck = (p, at) => {
      if (!led.has(p) || first.has(p) || at - killNs < graceNs) return;
      first.set(p, at);
      arrived.set(p, process.hrtime.bigint());
      if (first.size === led.size) resolveAll();
    };
    await cluster.kill(victim);
    const timedOut = await Promise.race([allBack.then(() => false), sleep(FAILOVER_TIMEOUT_MS).then(() => true)]);
    acks.onAck = null;
    for (const [p, at] of first) t.ackedMs[String(p)] = Number(at - killNs) / 1e6;
    for (const [p, at] of arrived) t.readMs[String(p)] = Number(at - killNs) / 1e6;
    const ms = Object.values(t.ackedMs);
    if (ms.length > 0) t.firstAckMs = Math.min(...ms);
    if (!timedOut) t.allAckedMs = Math.max(...ms);
    const elected = electionsAfter(cluster, topic, t.ledPartitions, killWallMs);
    if (elected.size > 0) {
      t.firstElectedMs = Math.min(...elected.values());
      t.lastElectedMs = elected.size === led.size ? Math.max(...elected.values()) : null;
    }
    if (timedOut) {
      const missing = t.ledPartitions.filter((p) => !first.has(p));
      throw new Error(`partition(s) ${missing.join(', ')} not acknowledged again within ${FAILOVER_TIMEOUT_MS} ms of the SIGKILL of broker ${victim}`);
    }

    const r0 = process.hrtime.bigint();
    await cluster.restart(victim);
    t.restartMs = secondsSince(r0) * 1000;
    t.isrBackMs = await awaitFullIsr(cluster, [topic], ISR_BACK_TIMEOUT_MS);
    t.ok = true;
  } catch (e) {
    t.error = (e as Error).message;
  }
  return t;
}

async function measureFailover(cluster: BenchCluster, opts: ClusterBenchOptions, result: ClusterResult): Promise<ClusterFailoverResult> {
  const { plan } = opts;
  const progress = opts.progress ?? (() => undefined);
  const topic = 'bench-cluster-failover';
  const f: ClusterFailoverResult = {
    topic,
    recordsPerSec: plan.failover.recordsPerSec,
    trials: [],
    firstAckP50Ms: null,
    firstAckMaxMs: null,
    allAckedP50Ms: null,
    allAckedMaxMs: null,
    produced: null,
    acked: null,
    failed: null,
    firstFailure: null,
  };
  await createTopic(cluster, plan, topic, result.firstProduceMs);
  const acks: AckStream = { lastAck: new Map(), onAck: null, ready: false, done: null, failed: 0, firstFailure: null };
  const child = spawnPython(
    opts.python,
    [
      opts.script,
      'failover',
      cluster.bootstrap(),
      topic,
      String(plan.recordSize),
      String(plan.failover.recordsPerSec),
      String(plan.partitions),
      String(plan.producer.lingerMs),
      String(plan.producer.maxInFlight),
    ],
    (line) => {
      if (line.startsWith('A ')) {
        const [, p, at] = line.split(' ');
        const partition = Number(p);
        const t = BigInt(at!);
        acks.lastAck.set(partition, t);
        acks.onAck?.(partition, t);
      } else if (line.startsWith('E ')) {
        acks.failed++;
        acks.firstFailure ??= line.split(' ').slice(4).join(' ');
      } else if (line === 'ready') acks.ready = true;
      else if (line.startsWith('done ')) acks.done = line;
    },
  );
  try {
    const readyBy = Date.now() + 20_000;
    while (!acks.ready && Date.now() < readyBy) await sleep(50);
    if (!acks.ready) throw new Error(`the failover producer did not start: ${child.stderr().trim().slice(-2000)}`);
    let notRun = 0;
    for (let trial = 1; trial <= plan.failover.trials; trial++) {
      progress(`cluster: failover trial ${trial}/${plan.failover.trials}…`);
      const t = await failoverTrial(cluster, opts, topic, acks, trial);
      f.trials.push(t);
      if (t.ok) {
        notRun = 0;
        continue;
      }
      const logs = t.unhealthyBefore ? '' : `\n${cluster.members.map((m) => `--- broker ${m.nodeId} (last lines)\n${cluster.tail(m.nodeId, 15)}`).join('\n')}`;
      result.errors.push(`failover trial ${trial}: ${t.error}${logs}`);
      if (t.unhealthyBefore && ++notRun >= 2) {
        result.errors.push(`failover: stopped after ${trial} of ${plan.failover.trials} trials: acks=all was stalled before ${notRun} trials in a row`);
        break;
      }
      // A broker left stopped would break every later trial.
      for (const m of cluster.members) if (m.broker === null) await cluster.restart(m.nodeId).catch(() => undefined);
      await awaitFullIsr(cluster, [topic], ISR_BACK_TIMEOUT_MS).catch(() => undefined);
    }
  } finally {
    child.closeStdin();
    const timer = setTimeout(() => child.kill(), 20_000);
    await child.exited;
    clearTimeout(timer);
  }
  if (acks.done) {
    const [, produced, acked, failed] = acks.done.split(' ').map(Number);
    f.produced = produced ?? null;
    f.acked = acked ?? null;
    f.failed = failed ?? null;
  }
  f.failed = Math.max(f.failed ?? 0, acks.failed);
  f.firstFailure = acks.firstFailure;
  const ok = f.trials.filter((t) => t.ok);
  const firsts = ok.map((t) => t.firstAckMs!).filter((x) => x !== null);
  const alls = ok.map((t) => t.allAckedMs!).filter((x) => x !== null);
  f.firstAckP50Ms = median(firsts);
  f.firstAckMaxMs = firsts.length ? Math.max(...firsts) : null;
  f.allAckedP50Ms = median(alls);
  f.allAckedMaxMs = alls.length ? Math.max(...alls) : null;
  return f;
}

// ------------------------------------------------------------------------------------ catch-up

async function measureCatchUp(cluster: BenchCluster, opts: ClusterBenchOptions): Promise<ClusterCatchUpResult> {
  const md = await cluster.metadata(null);
  // Not the controller: the measurement is the follower's fetching, not a controller change.
  const candidates = cluster.members.filter((m) => m.broker !== null && m.nodeId !== md.cluster.controllerId);
  const victim = (candidates[candidates.length - 1] ?? cluster.members[cluster.members.length - 1]!).nodeId;
  const member = cluster.members[victim]!;
  const bytesBefore = segmentBytes(member.dataDir);
  const code = await cluster.stopMember(victim);
  if (code !== 0) throw new Error(`broker ${victim} exited with ${code} after SIGTERM; its last lines:\n${cluster.tail(victim)}`);
  fs.rmSync(member.dataDir, { recursive: true, force: true });
  await opts.beforePhase?.('before the follower catch-up');

  const partitionsOf = (snapshot: typeof md): Array<{ topic: string; partition: number; isr: number[] }> =>
    [...snapshot.topics.values()].flatMap((t) => t.partitions.filter((p) => p.replicas.includes(victim)).map((p) => ({ topic: t.name, partition: p.partition, isr: p.isr })));
  const expected = partitionsOf(md).length;
  // Generous: 60 s plus 1 s per 20 MB.
  const timeoutMs = 60_000 + Math.ceil(bytesBefore / 20_000_000) * 1000;
  const others = cluster.members.filter((m) => m.broker !== null).map((m) => m.broker!.pid);
  const t0 = process.hrtime.bigint();
  const b = await cluster.restart(victim, { readyTimeoutMs: 60_000 });
  const startSeconds = secondsSince(t0);
  const cpu = new CpuMeter([...others, b.pid]);
  const deadline = Date.now() + timeoutMs;
  let seconds = 0;
  let missing = '';
  for (;;) {
    try {
      const now = await cluster.metadata(null);
      const parts = partitionsOf(now);
      const out = parts.filter((p) => !p.isr.includes(victim));
      if (parts.length >= expected && out.length === 0) {
        seconds = secondsSince(t0);
        break;
      }
      missing = `${out.length} of ${parts.length} partitions without it in the ISR, e.g. ${out.slice(0, 3).map((p) => `${p.topic}-${p.partition} (isr ${p.isr.join(',')})`).join(', ')}`;
    } catch (e) {
      missing = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`broker ${victim} was not back in every ISR within ${timeoutMs} ms of its restart (${missing}); its last lines:\n${cluster.tail(victim)}`);
    await sleep(100);
  }
  const used = cpu.stop();
  const bytes = segmentBytes(member.dataDir);
  return {
    victim,
    bytesBefore,
    bytes,
    partitions: expected,
    seconds,
    startSeconds,
    mbPerSec: perSecond(bytes, seconds) / MB,
    // others first, then the restarted broker: put them back in node id order.
    brokerCpuCores: (() => {
      const order = [...cluster.members.filter((m) => m.nodeId !== victim).map((m) => m.nodeId), victim];
      const byNode = new Array<number>(cluster.members.length).fill(0);
      order.forEach((id, i) => (byNode[id] = used.cores[i] ?? 0));
      return byNode;
    })(),
    loopbackNode: null,
    loopbackPython: null,
    ratioToLoopback: null,
  };
}

// ------------------------------------------------------------------------------------ the section

export function emptyClusterResult(plan: ClusterBenchPlan, overrides: Record<string, string>): ClusterResult {
  return {
    brokers: plan.brokers,
    partitions: plan.partitions,
    replicationFactor: plan.replicationFactor,
    minInsyncReplicas: plan.minInsyncReplicas,
    recordSize: plan.recordSize,
    overrides,
    client: null,
    failover: null,
    throughput: [],
    acks1MbPerSec: null,
    acksAllMbPerSec: null,
    acksRatio: null,
    latency: [],
    catchUp: null,
    firstProduceMs: [],
    stopExitCodes: [],
    warnings: [],
    errors: [],
    ok: false,
  };
}

/** acks=1, acks=all in round 1; acks=all, acks=1 in round 2; … (ABBA: neither goes first every time). */
export function acksOrder(round: number): Array<'1' | 'all'> {
  return round % 2 === 1 ? ['1', 'all'] : ['all', '1'];
}

/** Medians per acks over the valid runs, and their ratio. */
export function summarizeThroughput(runs: readonly ClusterThroughputRun[]): Pick<ClusterResult, 'acks1MbPerSec' | 'acksAllMbPerSec' | 'acksRatio'> {
  const one = median(runs.filter((r) => r.ok && r.acks === '1').map((r) => r.mbPerSec));
  const all = median(runs.filter((r) => r.ok && r.acks === 'all').map((r) => r.mbPerSec));
  return { acks1MbPerSec: one, acksAllMbPerSec: all, acksRatio: one !== null && all !== null && one > 0 ? all / one : null };
}

export async function measureCluster(opts: ClusterBenchOptions): Promise<ClusterResult> {
  const { plan } = opts;
  const progress = opts.progress ?? (() => undefined);
  const result = emptyClusterResult(plan, opts.overrides);
  const { errors } = result;
  if (!fs.existsSync(opts.python)) {
    errors.push(`cluster: ${opts.python} not found: the latency and failover producers need python3 with python3-confluent-kafka (apt-get install -y python3 python3-confluent-kafka)`);
  }
  let cluster: BenchCluster | null = null;
  try {
    await opts.beforePhase?.('before the cluster starts');
    progress(`cluster: starting ${plan.brokers} brokers…`);
    cluster = await BenchCluster.start({ dir: path.join(opts.workDir, 'cluster'), brokerMain: opts.brokerMain, overrides: opts.overrides, brokers: plan.brokers, readyTimeoutMs: 30_000 });
    progress(`cluster: brokers ${cluster.members.map((m) => `${m.nodeId} (pid ${m.broker!.pid}, port ${m.port})`).join(', ')}`);
    const c = cluster;

    if (errors.length === 0) {
      try {
        result.failover = await measureFailover(c, opts, result);
      } catch (e) {
        errors.push(`cluster failover: ${(e as Error).message}`);
      }
    }

    for (let round = 1; round <= plan.throughput.rounds; round++) {
      for (const acks of acksOrder(round)) {
        progress(`cluster: kcat produce ${plan.throughput.records} × 1 KiB, acks=${acks}, round ${round}/${plan.throughput.rounds}…`);
        const run = await throughputRun(c, opts, acks, round, result);
        result.throughput.push(run);
        if (!run.ok) errors.push(`cluster produce acks=${acks} #${round}: ${run.error}`);
      }
    }
    Object.assign(result, summarizeThroughput(result.throughput));

    if (fs.existsSync(opts.python)) {
      const topic = 'bench-cluster-latency';
      try {
        await createTopic(c, plan, topic, result.firstProduceMs);
        for (const rate of plan.latency.ratesMbPerSec) {
          await waitClusterIdle(c);
          await opts.beforePhase?.(`before the cluster's latency run at ${rate} MB/s`);
          progress(`cluster: acks=all latency at ${rate} MB/s for ${plan.latency.seconds} s…`);
          const run = await latencyRun(c, opts, topic, rate, result);
          result.latency.push(run);
          if (!run.ok) errors.push(`cluster latency at ${rate} MB/s: ${run.error}`);
          else if (run.undelivered > 0) {
            result.warnings.push(`cluster latency at ${rate} MB/s: ${run.undelivered} of ${run.records} records not acknowledged ${run.drainSeconds} s after the last produce (counted as infinitely late)`);
          }
        }
      } catch (e) {
        errors.push(`cluster latency: ${(e as Error).message}`);
      }
    }

    try {
      await waitClusterIdle(c);
      progress('cluster: follower catch-up from an empty data dir…');
      result.catchUp = await measureCatchUp(c, opts);
    } catch (e) {
      errors.push(`cluster catch-up: ${(e as Error).message}`);
    }
  } catch (e) {
    errors.push(`cluster: ${(e as Error).message}`);
  } finally {
    if (cluster) {
      progress('cluster: stopping the brokers…');
      result.stopExitCodes = await cluster.stop();
      for (const s of result.stopExitCodes) {
        if (s.code !== 0) errors.push(`cluster: broker ${s.nodeId} exited with ${s.code} after SIGTERM; its last lines:\n${cluster.tail(s.nodeId)}`);
      }
    }
  }

  // The loopback limit for the catch-up, with no broker running: the same bytes over 127.0.0.1.
  if (result.catchUp && result.catchUp.bytes > 0) {
    const bytes = Math.max(result.catchUp.bytes, 64 * MiB);
    try {
      progress(`cluster: loopback TCP node → node, ${round1(bytes / MB)} MB (the catch-up's bytes)…`);
      result.catchUp.loopbackNode = await loopbackNode(bytes, MiB);
      if (fs.existsSync(opts.python)) result.catchUp.loopbackPython = await loopbackPython(opts.python, bytes, MiB);
      const limit = result.catchUp.loopbackNode.mbPerSec;
      result.catchUp.ratioToLoopback = limit > 0 ? result.catchUp.mbPerSec / limit : null;
    } catch (e) {
      errors.push(`cluster: loopback limit: ${(e as Error).message}`);
    }
  }
  result.ok = errors.length === 0;
  return result;
}
