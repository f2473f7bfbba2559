import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startBenchBroker, RunningBroker } from './brokerProcess';
import { ClusterBenchPlan, measureCluster } from './clusterBench';
import { compareGroupConsume } from './groupConsume';
import { TransitionLog } from './groupTransitions';
import { consumePhase, producePhase, PhaseResult } from './kcatPhases';
import { waitForIoQuiet } from './ioPressure';
import { diskWrite, loopbackNode, loopbackPython, Throughput } from './limits';
import { writeRecordFile } from './records';
import { measureProducerModes } from './producerModes';
import { createGroupTopic, measureRebalance } from './rebalance';
import { measureRecovery } from './recovery';
import { measureSecurity } from './securityBench';
import { RECOVERY_LOG_DEFAULTS } from './recoveryLog';
import { measureTieredReads } from './tieredReads';
import { measureZeroCopy, ZeroCopyWorkloadSpec } from './zeroCopyReads';
import { allPhases, formatReport, writeResultsJson, BenchResults, GroupResults, Limits } from './report';
import { readMemory } from './rss';
import { MB, MiB, fixed, secondsSince, sizeLabel } from './units';

/**
 * `npm run bench [-- --quick] [-- --override key=value ...] [-- --only <section> ...]`
 *
 * One run measures kcat producing to and consuming from a freshly started broker, then consumer
 * groups on the same broker (rebalance times with kafkajs members, kcat consuming through a group
 * vs directly), then librdkafka producing plain, idempotent and transactional to it, then fetch
 * responses sent with sendfile(2) vs through a buffer (brokers of their own, with and without
 * stalled slow consumers), then produce and consume over SASL_SSL vs PLAINTEXT (one broker with
 * both listeners), then cold (S3 emulator) vs hot (local) reads on a broker with the AWS
 * backends, then how long a partition log takes to recover with and without producer snapshots,
 * then a 3-broker cluster (acks=all vs acks=1, acks=all latency, leader failover, follower
 * catch-up), then the machine's limits, and prints tables with ratios and PASS/MISS against the targets.
 * `--only` runs some of these sections alone. Exit code 0 unless the run itself broke (see
 * report.ts); results also go to bench/results/latest.json.
 */

/** The parts of a run `--only` can pick, in the order a run does them. */
export const SECTIONS = ['broker', 'zero-copy', 'security', 'tiered', 'recovery', 'cluster', 'limits'] as const;
export type Section = (typeof SECTIONS)[number];

interface Plan {
  mode: 'full' | 'quick';
  diskBytes: number;
  loopbackBytes: number;
  /** Record counts per record size; each size gets a produce phase then a consume phase. */
  workloads: Array<{ size: number; count: number }>;
  /** 100-byte records produced and consumed first, unmeasured, so JIT and topic creation are behind us. */
  warmup: number;
  groups: {
    /** Group sizes for the rebalance measurement, each on the same topic of `partitions` partitions. */
    memberCounts: number[];
    /** Leaves timed per group size (the report gives the median). */
    leaves: number;
    partitions: number;
    /** Rounds of plain-then-group consumption of the 100 B workload's topic. */
    consumeRounds: number;
  };
  /**
   * Cold (S3 emulator) vs hot (local) reads on a broker with the AWS backends (tieredReads.ts).
   * records × recordSize must exceed the broker's read cache (64 MiB) by half again, so that
   * every round's cold read misses it.
   */
  tier: { recordSize: number; records: number; segmentBytes: number; rounds: number };
  /**
   * The same records produced by librdkafka (python3-confluent-kafka) without idempotence, with
   * it, and in transactions committed every `commitIntervalMs` (producerModes.ts): `rounds`
   * rounds of the three, rotated, on the first broker. 1 KiB records, as KIP-98 measured.
   */
  producerModes: { recordSize: number; records: number; rounds: number; commitIntervalMs: number };
  /**
   * PartitionLog.open of a log of `logBytes` (recovery.ts) after a crash, a clean shutdown and
   * without snapshots, each `rounds` times. `logBytes` is not a multiple of `segmentBytes`, so the
   * active segment a crash recovery replays is most of a segment, not a few batches.
   */
  recovery: { logBytes: number; segmentBytes: number; rounds: number };
  /**
   * Fetch responses sent with sendfile(2) vs through a buffer (zeroCopyReads.ts): per workload a
   * broker of each kind in turn, the records produced once to each, then `rounds` reads of the
   * whole topic; on the workloads marked slowConsumers (≥ 60 MiB), each read is followed by one
   * with `connections` stalled Fetches of `maxBytes` held open.
   */
  zeroCopy: {
    workloads: ZeroCopyWorkloadSpec[];
    rounds: number;
    slowConsumers: { connections: number; maxBytes: number };
  };
  /**
   * Produce and consume over SASL_SSL (SCRAM-SHA-512) vs PLAINTEXT, one broker with both
   * listeners, the same kcat settings (securityBench.ts): after a warm-up of `warmupRecords` over
   * each, `rounds` rounds of the file produced over each listener into a new topic, then read
   * back over each, the listener that goes first alternating.
   */
  security: { recordSize: number; records: number; warmupRecords: number; rounds: number };
  /**
   * A 3-broker cluster on loopback (clusterBench.ts): leader failover trials, kcat produce with
   * acks=1 vs acks=all, acks=all latency at fixed rates, follower catch-up from an empty data dir.
   */
  cluster: ClusterBenchPlan;
}

/** The cluster section's shape, the same in both plans: what the targets are about. */
const CLUSTER_SHAPE = {
  brokers: 3,
  partitions: 6,
  replicationFactor: 3,
  minInsyncReplicas: 2,
  recordSize: 1024,
  // A small linger, and the Java producer's in-flight limit (librdkafka's 1,000,000 pipelines a
  // request per record, which a broker answers one at a time per connection): see bench/README.md.
  producer: { lingerMs: 1, maxInFlight: 5 },
};

const PLANS: Record<'full' | 'quick', Plan> = {
  full: {
    mode: 'full',
    diskBytes: 1024 * MiB,
    loopbackBytes: 2048 * MiB,
    workloads: [
      { size: 100, count: 2_000_000 },
      { size: 1024, count: 500_000 },
    ],
    warmup: 100_000,
    groups: { memberCounts: [2, 10, 50], leaves: 5, partitions: 50, consumeRounds: 3 },
    tier: { recordSize: 1024, records: 250_000, segmentBytes: 8 * MiB, rounds: 3 },
    producerModes: { recordSize: 1024, records: 300_000, rounds: 3, commitIntervalMs: 100 },
    recovery: { logBytes: 1000 * MB, segmentBytes: 64 * MiB, rounds: 3 },
    zeroCopy: {
      // ~1 GB of 1 KiB records (the issue's "consume of 1 GB"), then 100 B records.
      workloads: [
        { size: 1024, count: 1_000_000, slowConsumers: true },
        { size: 100, count: 2_000_000, slowConsumers: false },
      ],
      rounds: 3,
      // Kafka's fetch.max.bytes (55 MiB): the largest response a consumer can ask for.
      slowConsumers: { connections: 50, maxBytes: 55 * MiB },
    },
    // 512 MB per run: 1–4 s on either listener. 6 topics, ~3 GB of segments.
    security: { recordSize: 1024, records: 500_000, warmupRecords: 50_000, rounds: 3 },
    cluster: {
      ...CLUSTER_SHAPE,
      // 4 runs of ~154 MB: with the latency runs ~0.9 GB for the catch-up to fetch back.
      throughput: { records: 150_000, rounds: 2 },
      latency: { ratesMbPerSec: [5, 20], seconds: 10, warmupSeconds: 2, drainSeconds: 15 },
      failover: { trials: 10, recordsPerSec: 100 },
    },
  },
  quick: {
    mode: 'quick',
    diskBytes: 256 * MiB,
    loopbackBytes: 512 * MiB,
    workloads: [
      { size: 100, count: 200_000 },
      { size: 1024, count: 50_000 },
    ],
    warmup: 20_000,
    groups: { memberCounts: [2, 10, 50], leaves: 3, partitions: 50, consumeRounds: 3 },
    tier: { recordSize: 1024, records: 100_000, segmentBytes: 8 * MiB, rounds: 2 },
    producerModes: { recordSize: 1024, records: 100_000, rounds: 3, commitIntervalMs: 100 },
    // A quarter of the full run's 1 GB log: still 3 full segments and a mostly full active one.
    recovery: { logBytes: 256 * MB, segmentBytes: 64 * MiB, rounds: 3 },
    zeroCopy: {
      workloads: [
        { size: 1024, count: 250_000, slowConsumers: true },
        { size: 100, count: 1_000_000, slowConsumers: false },
      ],
      rounds: 3,
      slowConsumers: { connections: 50, maxBytes: 55 * MiB },
    },
    // 256 MB per run: a read over PLAINTEXT still takes ~0.3 s, so kcat's start, the TLS handshake
    // and the SCRAM exchange weigh little (100 MB reads took 0.11–0.16 s, too short to compare).
    security: { recordSize: 1024, records: 250_000, warmupRecords: 25_000, rounds: 3 },
    cluster: {
      ...CLUSTER_SHAPE,
      throughput: { records: 50_000, rounds: 1 },
      latency: { ratesMbPerSec: [5, 20], seconds: 5, warmupSeconds: 1, drainSeconds: 10 },
      failover: { trials: 3, recordsPerSec: 100 },
    },
  },
};

const PYTHON = '/usr/bin/python3';
/**
 * Broker configs the benchmark needs (a user's --override wins): the first rebalance of a new
 * group would otherwise wait 3 s for more members, time spent forming groups that measures nothing.
 */
const BENCH_OVERRIDES: Record<string, string> = { 'group.initial.rebalance.delay.ms': '0' };
/** A phase may take 20 s plus 1 s per 50,000 records; slower than that counts as broken, not slow. */
const phaseTimeoutMs = (records: number): number => 20_000 + Math.ceil(records / 50_000) * 1000;
/** Uploading to the S3 emulator may take 30 s plus 1 s per 10 MB; longer counts as broken. */
const tieringTimeoutMs = (bytes: number): number => 30_000 + Math.ceil(bytes / 10_000_000) * 1000;
/** Writing the recovery log may take 30 s plus 1 s per 10 MB. */
const recoveryWriteTimeoutMs = (bytes: number): number => 30_000 + Math.ceil(bytes / 10_000_000) * 1000;
/** The zero-copy and security sections move up to 1 GB per phase: a phase's time, plus 1 s per 20 MB of payload. */
const zeroCopyTimeoutMs = (records: number, recordSize: number): number => phaseTimeoutMs(records) + Math.ceil((records * recordSize) / 20_000_000) * 1000;

const USAGE = `Usage: npm run bench [-- --quick] [-- --override key=value]... [-- --only section]...
  --quick                 smaller run (10–40% of the data) for a fast sanity check
  --override key=value    broker config passed to the brokers (repeatable)
  --only section          run only this section (repeatable); sections, in run order:
                            broker     kcat produce/consume, consumer groups, producer modes (first broker)
                            zero-copy  fetch responses with sendfile(2) vs buffered, slow consumers
                            security   produce and consume over SASL_SSL (SCRAM, TLS) vs PLAINTEXT, one broker
                            tiered     cold (S3 emulator) vs hot reads
                            recovery   partition log recovery with and without producer snapshots
                            cluster    3 brokers: acks=all vs acks=1, acks=all latency, failover, follower catch-up
                            limits     disk and loopback TCP limits
  --keep                  keep the temp dir (data dir, record files) and print its path`;

interface Args {
  quick: boolean;
  keep: boolean;
  overrides: Record<string, string>;
  /** The sections to run, in run order; null = all of them. */
  only: Section[] | null;
}

function parseArgs(argv: string[]): Args | string {
  const args: Args = { quick: false, keep: false, overrides: {}, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--keep') args.keep = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const name = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (!SECTIONS.includes(name as Section)) return `--only expects one of ${SECTIONS.join(', ')}, got ${name ?? 'nothing'}`;
      const only = new Set([...(args.only ?? []), name as Section]);
      args.only = SECTIONS.filter((s) => only.has(s));
    } else if (a === '--override' || a.startsWith('--override=')) {
      const kv = a === '--override' ? argv[++i] : a.slice('--override='.length);
      const eq = kv?.indexOf('=') ?? -1;
      if (kv === undefined || eq <= 0) return `--override expects key=value, got ${kv ?? 'nothing'}`;
      args.overrides[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a === '--help' || a === '-h') return '';
    else return `unknown argument ${a}`;
  }
  return args;
}

/** The repository root: the nearest ancestor with a package.json (works from dist/bench and bench/). */
function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = up;
  }
  return dir;
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function kcatVersion(): string {
  try {
    const out = execFileSync('kcat', ['-V'], { encoding: 'utf8', timeout: 10_000 });
    return (out.split('\n').find((l) => l.startsWith('Version ')) ?? out.split('\n')[0] ?? 'kcat').trim();
  } catch (e) {
    throw new Error(`kcat is needed for the benchmark: install it with \`apt-get install -y kcat\` (${(e as Error).message})`);
  }
}

async function measure<T>(what: string, errors: string[], fn: () => T | Promise<T>): Promise<T | undefined> {
  progress(`${what}…`);
  try {
    return await fn();
  } catch (e) {
    errors.push(`${what}: ${(e as Error).message}`);
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'string') {
    process.stderr.write(`${parsed ? `${parsed}\n` : ''}${USAGE}\n`);
    return parsed ? 2 : 0;
  }
  const plan = PLANS[parsed.quick ? 'quick' : 'full'];
  const sections: readonly Section[] = parsed.only ?? SECTIONS;
  const runs = (s: Section): boolean => sections.includes(s);
  const overrides = { ...BENCH_OVERRIDES, ...parsed.overrides };
  const root = repoRoot();
  const started = process.hrtime.bigint();
  const errors: string[] = [];
  const kcat = kcatVersion();

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-'));
  const removeWork = (): void => {
    if (!parsed.keep) fs.rmSync(work, { recursive: true, force: true });
  };
  // Ctrl-C: the broker dies with us (setpriv death signal); the temp files must not stay behind.
  const onSignal = (): void => {
    removeWork();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    mode: plan.mode,
    ...(parsed.only ? { sections: [...parsed.only] } : {}),
    durationSeconds: 0,
    machine: {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryBytes: os.totalmem(),
      kernel: os.release(),
    },
    kcatVersion: kcat,
    broker: { overrides, peakRssBytes: null, stopExitCode: undefined },
    limits: {},
    phases: [],
    warmup: [],
    settle: [],
    warnings: [],
    errors,
  };

  try {
    const files = plan.workloads.map((w) => ({ ...w, file: path.join(work, `records-${w.size}.txt`) }));
    const warmup = { size: 100, count: plan.warmup, file: path.join(work, 'records-warmup.txt') };
    const tierFile = { size: plan.tier.recordSize, count: plan.tier.records, file: path.join(work, 'records-tier.txt') };
    const modesFile = { size: plan.producerModes.recordSize, count: plan.producerModes.records, file: path.join(work, 'records-modes.txt') };
    const zeroCopyFiles = plan.zeroCopy.workloads.map((w) => ({ ...w, file: path.join(work, `records-zero-copy-${w.size}.txt`) }));
    const clusterFile = { size: plan.cluster.recordSize, count: plan.cluster.throughput.records, file: path.join(work, 'records-cluster.txt') };
    const securityFile = { size: plan.security.recordSize, count: plan.security.records, file: path.join(work, 'records-security.txt') };
    const securityWarmup = { size: plan.security.recordSize, count: plan.security.warmupRecords, file: path.join(work, 'records-security-warmup.txt') };
    const needed = [
      ...(runs('broker') ? [warmup, ...files, modesFile] : []),
      ...(runs('zero-copy') ? zeroCopyFiles : []),
      ...(runs('security') ? [securityWarmup, securityFile] : []),
      ...(runs('tiered') ? [tierFile] : []),
      ...(runs('cluster') ? [clusterFile] : []),
    ];
    for (const f of needed) {
      await measure(`generating ${f.count} × ${sizeLabel(f.size)} records`, errors, () => writeRecordFile(f.file, f.count, f.size));
    }

    // The broker goes first, the physical limits after: writing and deleting gigabytes for the
    // disk test leaves the filesystem busy for a while, which measurably slowed the produce
    // phases that followed (2M × 100 B: ~0.7 s when run first, ~1.3 s right after the disk test).
    const main = path.join(root, 'dist', 'core', 'cli', 'main.js');
    if (runs('broker')) {
      await settle('before the broker phases', results);
      const dataDir = path.join(work, 'data');
      fs.mkdirSync(dataDir);
      const broker: RunningBroker | undefined = await measure('starting the broker', errors, () =>
        startBenchBroker(main, dataDir, overrides),
      );
      if (broker) {
        progress(`broker pid ${broker.pid} listening on ${broker.bootstrap}`);
        // From the start: the coordinator's transition lines are the group measurements' clock.
        const transitions = new TransitionLog(broker);
        try {
          await runPhases(broker, [warmup], results.warmup, errors, 'warm-up ');
          await runPhases(broker, files, results.phases, errors);
          results.groups = await runGroupPhases(broker, transitions, plan, results.phases, errors);
          const modes = await measureProducerModes({
            bootstrap: broker.bootstrap,
            brokerPid: broker.pid,
            python: PYTHON,
            script: path.join(root, 'bench', 'producerModes.py'),
            file: modesFile.file,
            records: modesFile.count,
            recordSize: modesFile.size,
            rounds: plan.producerModes.rounds,
            commitIntervalMs: plan.producerModes.commitIntervalMs,
            timeoutMs: phaseTimeoutMs(modesFile.count),
            progress,
          });
          results.producerModes = modes;
          errors.push(...modes.errors);
        } finally {
          transitions.close();
          results.broker.peakRssBytes = readMemory(broker.pid)?.hwmBytes ?? null;
          progress('stopping the broker…');
          results.broker.stopExitCode = await broker.stop();
          if (results.broker.stopExitCode !== 0) {
            errors.push(`broker exited with ${results.broker.stopExitCode} after SIGTERM; its last output:\n${broker.output().slice(-3000)}`);
          }
        }
      }
    }

    // Brokers of its own (one at a time), after the first broker stopped: sendfile vs buffered.
    if (runs('zero-copy')) {
      const zeroCopy = await measureZeroCopy({
        workDir: work,
        brokerMain: main,
        overrides,
        workloads: zeroCopyFiles,
        rounds: plan.zeroCopy.rounds,
        slowConsumers: plan.zeroCopy.slowConsumers,
        timeoutMs: zeroCopyTimeoutMs,
        // Each broker's produce follows the previous broker's reads (and their files' writeback).
        beforeBroker: (when) => settle(when, results),
        progress,
      });
      results.zeroCopy = zeroCopy;
      errors.push(...zeroCopy.errors);
    }

    // A broker of its own with a PLAINTEXT and a SASL_SSL listener, after the zero-copy brokers.
    if (runs('security')) {
      const security = await measureSecurity({
        workDir: work,
        brokerMain: main,
        overrides,
        file: securityFile.file,
        records: securityFile.count,
        recordSize: securityFile.size,
        warmupFile: securityWarmup.file,
        warmupRecords: securityWarmup.count,
        rounds: plan.security.rounds,
        timeoutMs: zeroCopyTimeoutMs,
        beforeBroker: (when) => settle(when, results),
        progress,
      });
      results.security = security;
      errors.push(...security.errors);
    }

    // Its own broker, on the AWS emulators; after the first broker stopped, before the limits.
    if (runs('tiered')) {
      await settle('before the tiered reads', results);
      const tier = await measureTieredReads({
        root,
        workDir: work,
        brokerMain: main,
        overrides,
        file: tierFile.file,
        records: tierFile.count,
        recordSize: tierFile.size,
        segmentBytes: plan.tier.segmentBytes,
        rounds: plan.tier.rounds,
        timeoutMs: phaseTimeoutMs(tierFile.count),
        tieringTimeoutMs: tieringTimeoutMs(tierFile.count * tierFile.size),
        progress,
      });
      results.tier = tier;
      errors.push(...tier.errors);
      results.warnings.push(...tier.warnings);
    }

    // No broker: core/log's PartitionLog in this process, the log written by a child that crashes.
    if (runs('recovery')) {
      await settle('before the recovery measurement', results);
      const recovery = await measureRecovery({
        workDir: work,
        writer: path.join(root, 'dist', 'bench', 'recoveryLog.js'),
        spec: { ...RECOVERY_LOG_DEFAULTS, targetBytes: plan.recovery.logBytes, segmentBytes: plan.recovery.segmentBytes },
        rounds: plan.recovery.rounds,
        timeoutMs: recoveryWriteTimeoutMs(plan.recovery.logBytes),
        progress,
      });
      results.recovery = recovery;
      errors.push(...recovery.errors);
    }

    // Three brokers of their own, one at a time killed and restarted; stopped before the limits.
    if (runs('cluster')) {
      await settle('before the cluster section', results);
      const cluster = await measureCluster({
        workDir: work,
        brokerMain: main,
        overrides,
        python: PYTHON,
        script: path.join(root, 'bench', 'clusterProduce.py'),
        file: clusterFile.file,
        plan: plan.cluster,
        beforePhase: (when) => settle(when, results),
        progress,
      });
      results.cluster = cluster;
      errors.push(...cluster.errors);
      results.warnings.push(...cluster.warnings);
    }

    if (runs('limits')) {
      await settle('before the physical limits', results);
      const limits: Limits = results.limits;
      const mb = sizeLabel(plan.diskBytes);
      limits.diskFsync = await measure(`disk write ${mb} + fsync`, errors, () => diskWrite(work, plan.diskBytes, MiB, true));
      limits.diskPageCache = await measure(`disk write ${mb}, no fsync`, errors, () => diskWrite(work, plan.diskBytes, MiB, false));
      const lb = sizeLabel(plan.loopbackBytes);
      limits.loopbackNode = await measure(`loopback TCP node → node, ${lb}`, errors, () => loopbackNode(plan.loopbackBytes, MiB));
      if (fs.existsSync(PYTHON)) {
        limits.loopbackPython = await measure(`loopback TCP python → python, ${lb}`, errors, () =>
          loopbackPython(PYTHON, plan.loopbackBytes, MiB),
        );
      }
    }
  } finally {
    if (parsed.keep) progress(`kept ${work}`);
    removeWork();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  results.warnings.push(...disturbedPhases(allPhases(results)));
  results.durationSeconds = secondsSince(started);
  process.stdout.write('\n' + formatReport(results));
  const json = path.join(root, 'bench', 'results', 'latest.json');
  writeResultsJson(json, results);
  process.stdout.write(`\nresults written to ${path.relative(process.cwd(), json) || json}\n`);
  return errors.length > 0 ? 1 : 0;
}

/** Wait for the disk to go quiet; an unquiet disk is noted with the results, not an error. */
async function settle(when: string, results: BenchResults): Promise<void> {
  progress(`waiting for disk I/O to settle ${when}…`);
  const q = await waitForIoQuiet();
  results.settle.push({ when, ...q });
  if (!q.quiet) {
    results.warnings.push(
      `disk I/O still busy ${when} after ${q.waitedMs} ms (${fixed((q.lastStall ?? 0) * 100, 0)}% stalled): numbers may be low`,
    );
  }
}

async function runPhases(
  broker: RunningBroker,
  files: Array<{ size: number; count: number; file: string }>,
  phases: PhaseResult[],
  errors: string[],
  prefix = '',
): Promise<void> {
  for (const f of files) {
    const label = `${prefix}${sizeLabel(f.size)}`;
    const topic = `bench-${label.replace(/\s+/g, '').toLowerCase()}`;
    const common = { bootstrap: broker.bootstrap, topic, records: f.count, recordSize: f.size, brokerPid: broker.pid };
    progress(`produce ${f.count} × ${label} to ${topic}…`);
    const produced = await producePhase({ ...common, name: `produce ${label}`, file: f.file, timeoutMs: phaseTimeoutMs(f.count) });
    phases.push(produced);
    if (!produced.ok) {
      errors.push(`produce ${label}: ${produced.error}`);
      continue; // consuming what a failed produce left would measure nothing meaningful
    }
    progress(`consume ${f.count} × ${label} from ${topic}…`);
    const consumed = await consumePhase({ ...common, name: `consume ${label}`, timeoutMs: phaseTimeoutMs(f.count) });
    phases.push(consumed);
    if (!consumed.ok) errors.push(`consume ${label}: ${consumed.error}`);
  }
}

/**
 * The consumer-group measurements, on the broker the kcat phases used: rebalance times for each
 * group size (kafkajs members in this process), then group vs plain consumption of the 100 B
 * workload's topic (reused: it holds exactly the records the produce phase acknowledged).
 */
async function runGroupPhases(
  broker: RunningBroker,
  transitions: TransitionLog,
  plan: Plan,
  phases: PhaseResult[],
  errors: string[],
): Promise<GroupResults> {
  const groups: GroupResults = { rebalance: [], consume: null };
  const { memberCounts, leaves, partitions, consumeRounds } = plan.groups;
  const topic = `bench-groups-${partitions}p`;
  const created = await measure(`creating ${topic} with ${partitions} partitions`, errors, () =>
    createGroupTopic(broker.bootstrap, topic, partitions).then(() => true),
  );
  if (created) {
    for (const members of memberCounts) {
      progress(`rebalance: group of ${members} kafkajs members, ${leaves} leaves…`);
      const rb = await measureRebalance({
        bootstrap: broker.bootstrap,
        log: transitions,
        topic,
        partitions,
        members,
        repeats: leaves,
        groupId: `bench-rebalance-${members}`,
      });
      groups.rebalance.push(rb);
      if (!rb.ok) errors.push(`${rb.name}: ${rb.error}`);
    }
  }

  const source = phases.find((p) => p.kind === 'produce' && p.recordSize === 100 && p.ok);
  if (source) {
    const consume = await compareGroupConsume({
      bootstrap: broker.bootstrap,
      brokerPid: broker.pid,
      log: transitions,
      topic: source.topic,
      records: source.expectedRecords,
      recordSize: source.recordSize,
      rounds: consumeRounds,
      timeoutMs: phaseTimeoutMs(source.expectedRecords),
      progress,
    });
    groups.consume = consume;
    errors.push(...consume.errors);
  }
  return groups;
}

/** Phases that had noticeably less machine than the table suggests. */
function disturbedPhases(phases: PhaseResult[]): string[] {
  const notes: string[] = [];
  for (const p of phases) {
    const other = p.otherCpu ? p.otherCpu.otherCores + p.otherCpu.stealCores : 0;
    if (other > 0.3) notes.push(`${p.name}: other processes / hypervisor used ${fixed(other, 2)} cores meanwhile: numbers may be low`);
    if ((p.ioStall ?? 0) > 0.1) notes.push(`${p.name}: I/O stalls during ${fixed((p.ioStall ?? 0) * 100, 0)}% of the phase: numbers may be low`);
  }
  return notes;
}

// Re-exported for the benchmark's own tests.
export { parseArgs, PLANS, phaseTimeoutMs, tieringTimeoutMs, recoveryWriteTimeoutMs, zeroCopyTimeoutMs };
export type { Throughput };

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`[bench] failed: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
