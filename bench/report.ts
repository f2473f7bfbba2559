import * as fs from 'fs';
import * as path from 'path';
import { FAILOVER_GRACE_MS, type ClusterLatencyRun, type ClusterResult } from './clusterBench';
import type { GroupConsumeResult } from './groupConsume';
import { QuietResult } from './ioPressure';
import { Throughput } from './limits';
import { PhaseResult } from './kcatPhases';
import type { ProducerMode, ProducerModesResult } from './producerModes';
import type { RebalanceResult } from './rebalance';
import type { RecoveryCase, RecoveryResult } from './recovery';
import { PROTOCOLS, roundRatios, type SecurityResult, type SecuritySummary } from './securityBench';
import type { TierRead, TieredReadsResult } from './tieredReads';
import type { SendPath, ZeroCopyResult, ZeroCopyRun, ZeroCopyWorkload } from './zeroCopyReads';
import { MB, fixed, grouped, median, sizeLabel } from './units';

/**
 * Turns measurements into the printed table, the PASS/MISS lines against the product targets, and
 * the JSON written for notes. A MISS is information, not an error: only a broken run (a phase
 * that failed verification, a broker that would not start) makes the benchmark exit non-zero.
 */

export const TARGETS = {
  produceRecordsPerSec: 1_000_000, // 100-byte records, 1 partition, acks=1
  consumeRecordsPerSec: 2_000_000, // 100-byte records, 1 partition
  brokerRssBytes: 300 * MB,
  /** Leave → Stable again, minus the client's heartbeat interval (which no broker can beat). */
  rebalanceBeyondClientMs: 500,
  /** Consuming through a consumer group ÷ reading the partition directly, 100-byte records. */
  groupConsumeRatio: 0.9,
  /** Reading tiered data from the object store (S3 emulator) ÷ reading the same from local segments. */
  coldReadRatio: 0.5,
  /** librdkafka with enable.idempotence=true ÷ =false, same records, same broker. */
  idempotentProduceRatio: 0.9,
  /** librdkafka with a transactional.id, committing every 100 ms ÷ without, same records, same broker. */
  transactionalProduceRatio: 0.7,
  /** The broker's CPU per MB consumed with sendfile(2) ÷ through a buffer, 1 KiB records: at most this. */
  zeroCopyCpuPerMbRatio: 0.5,
  /** The record size the zero-copy CPU target is about. */
  zeroCopyTargetRecordSize: 1024,
  /**
   * kcat produce MB/s over SASL_SSL (SCRAM-SHA-512, TLS) ÷ over PLAINTEXT, same broker, same
   * settings, 1 KiB records. Kafka's own TLS overhead is typically 20–40% of throughput, so a
   * Kafka-compatible broker should keep at least 0.6. Produce keeps its shape over TLS (the
   * broker reads the request into memory either way); encryption and decryption are added on
   * both sides.
   */
  securityProduceRatio: 0.6,
  /**
   * The same for consume (kcat -C from offset 0 to the end). Lower than produce's: over TLS the
   * broker loses sendfile(2) and must read, encrypt and write every byte, as Kafka does (its
   * documentation: "sendfile is not used when SSL is enabled"), so 0.5.
   */
  securityConsumeRatio: 0.5,
  /** The record size the security targets are about. */
  securityTargetRecordSize: 1024,
  /** A normal consumer's read while 50 stalled 55 MiB fetches are held ÷ the same read without them. */
  slowConsumerReadRatio: 0.8,
  /** The broker's peak RSS while those stalled fetches are held: below this. */
  slowConsumerRssBytes: 400 * MB,
  /** Cluster (3 brokers, RF 3, min.insync.replicas 2): kcat produce MB/s with acks=all ÷ with acks=1, 1 KiB records. */
  clusterAcksAllRatio: 0.6,
  /** Cluster: acks=all delivery latency p99 (produce() → delivery callback) at this rate of 1 KiB records… */
  clusterLatencyAtMbPerSec: 20,
  /** …at most this. */
  clusterLatencyP99Ms: 10,
  /** Cluster: SIGKILL of a leader → first acknowledgement of one of its partitions, median and worst over the trials. */
  clusterFailoverP50Ms: 2000,
  clusterFailoverMaxMs: 4000,
};

export interface Limits {
  diskPageCache?: Throughput;
  diskFsync?: Throughput;
  loopbackNode?: Throughput;
  loopbackPython?: Throughput;
}

/** The consumer-group measurements (absent from runs made before they existed). */
export interface GroupResults {
  rebalance: RebalanceResult[];
  /** null when it did not run (e.g. the 100 B produce phase failed: nothing to consume). */
  consume: GroupConsumeResult | null;
}

export interface BenchResults {
  startedAt: string;
  mode: 'full' | 'quick';
  /** The sections `--only` picked (names from run.ts SECTIONS); absent when every section ran. */
  sections?: string[];
  durationSeconds: number;
  machine: { node: string; cpus: number; cpuModel: string; memoryBytes: number; kernel: string };
  kcatVersion: string;
  broker: {
    overrides: Record<string, string>;
    /** Kernel's VmHWM just before shutdown: the broker's peak RSS over the whole run. */
    peakRssBytes: number | null;
    stopExitCode: number | null | undefined;
  };
  limits: Limits;
  phases: PhaseResult[];
  /** Unmeasured warm-up phases (JIT, first topic creation), kept for the record. */
  warmup: PhaseResult[];
  /** The waits for disk I/O to go quiet before timing (see ioPressure.ts). */
  settle: Array<QuietResult & { when: string }>;
  groups?: GroupResults;
  /** Cold (S3 emulator) vs hot (local) reads, on a second broker (absent from older runs). */
  tier?: TieredReadsResult;
  /** Plain vs idempotent vs transactional produce, librdkafka via python3 (absent from older runs). */
  producerModes?: ProducerModesResult;
  /** Opening a partition log after a crash, a clean shutdown, and without producer snapshots (absent from older runs). */
  recovery?: RecoveryResult;
  /** Fetch responses with sendfile(2) vs through a buffer, and slow consumers, on brokers of their own (absent from older runs). */
  zeroCopy?: ZeroCopyResult;
  /** Produce and consume over SASL_SSL vs PLAINTEXT, one broker with both listeners (absent from older runs). */
  security?: SecurityResult;
  /** A 3-broker cluster: acks=all vs acks=1, acks=all latency, failover, follower catch-up (absent from older runs). */
  cluster?: ClusterResult;
  /** Conditions that may have lowered the numbers without invalidating them. */
  warnings: string[];
  /** Problems that make the run untrustworthy; non-empty ⇒ exit code 1. */
  errors: string[];
}

export interface PhaseRatios {
  /** produce: ÷ page-cache write speed, ÷ fsync write speed; consume: ÷ node loopback, ÷ python loopback. */
  [limit: string]: number;
}

export interface TargetOutcome {
  name: string;
  target: string;
  actual: string;
  /** null when the phase it depends on did not produce a valid measurement. */
  pass: boolean | null;
}

/** The limits each phase kind is compared with. */
export function ratiosFor(phase: PhaseResult, limits: Limits): PhaseRatios {
  const against: Array<[string, Throughput | undefined]> =
    phase.kind === 'produce'
      ? [
          ['disk (page cache)', limits.diskPageCache],
          ['disk (fsync)', limits.diskFsync],
        ]
      : [
          ['loopback (node)', limits.loopbackNode],
          ['loopback (python)', limits.loopbackPython],
        ];
  const out: PhaseRatios = {};
  for (const [name, limit] of against) if (phase.ok && limit && limit.mbPerSec > 0) out[name] = phase.mbPerSec / limit.mbPerSec;
  return out;
}

/** Whether the run included `section` (runs from before `--only` ran every section). */
export function ran(r: BenchResults, section: string): boolean {
  return r.sections === undefined || r.sections.includes(section);
}

export function evaluateTargets(r: BenchResults): TargetOutcome[] {
  const phase = (kind: 'produce' | 'consume'): PhaseResult | undefined =>
    r.phases.find((p) => p.kind === kind && p.recordSize === 100);
  const rate = (kind: 'produce' | 'consume', target: number): TargetOutcome => {
    const p = phase(kind);
    const measured = p?.ok === true;
    return {
      name: `${kind} 100 B records, 1 partition${kind === 'produce' ? ', acks=1' : ''}`,
      target: `≥ ${grouped(target)} rec/s`,
      actual: measured ? `${grouped(p!.recordsPerSec)} rec/s` : `not measured (${p?.error ?? 'phase did not run'})`,
      pass: measured ? p!.recordsPerSec >= target : null,
    };
  };
  const peak = peakRss(r);
  return [
    ...(ran(r, 'broker') ? [rate('produce', TARGETS.produceRecordsPerSec), rate('consume', TARGETS.consumeRecordsPerSec)] : []),
    ...(ran(r, 'broker') || ran(r, 'tiered')
      ? [
          {
            name: 'broker peak RSS during the run',
            target: `≤ ${fixed(TARGETS.brokerRssBytes / MB, 0)} MB`,
            actual: peak === null ? 'not measured' : `${fixed(peak / MB)} MB`,
            pass: peak === null ? null : peak <= TARGETS.brokerRssBytes,
          },
        ]
      : []),
    ...(r.groups ? groupTargets(r.groups) : []),
    ...(r.tier ? [tierTarget(r.tier)] : []),
    ...(r.producerModes ? producerModeTargets(r.producerModes) : []),
    ...(r.zeroCopy ? zeroCopyTargets(r.zeroCopy) : []),
    ...(r.security ? securityTargets(r.security) : []),
    ...(r.cluster ? clusterTargets(r.cluster) : []),
  ];
}

/** The latency run the p99 target is about: the one at the target rate (or the fastest at or above it). */
export function clusterLatencyTargetRun(c: ClusterResult): ClusterLatencyRun | null {
  const runs = c.latency.filter((x) => x.targetMbPerSec >= TARGETS.clusterLatencyAtMbPerSec).sort((a, b) => a.targetMbPerSec - b.targetMbPerSec);
  return runs[0] ?? null;
}

/**
 * The cluster targets: acks=all ÷ acks=1 produce ≥ 0.6; acks=all p99 ≤ 10 ms at 20 MB/s (only a
 * run that achieved at least 95% of that rate with every record delivered can pass: a slower
 * producer did not measure latency at 20 MB/s); failover p50 ≤ 2 s and max ≤ 4 s.
 */
export function clusterTargets(c: ClusterResult): TargetOutcome[] {
  const problem = (what: string): string => `not measured (${firstError(c.errors.filter((e) => e.includes(what)), firstError(c.errors, 'did not run'))})`;
  const shape = `1 KiB records, ${c.partitions} partitions, RF ${c.replicationFactor}, min.insync.replicas ${c.minInsyncReplicas}`;
  const out: TargetOutcome[] = [];
  const ratioMeasured = c.acksRatio !== null;
  out.push({
    name: `cluster: kcat produce acks=all ÷ acks=1, ${c.brokers} brokers, ${shape}`,
    target: `≥ ${fixed(TARGETS.clusterAcksAllRatio, 2)}`,
    actual: ratioMeasured ? `${fixed(c.acksRatio!, 2)} (acks=all ${fixed(c.acksAllMbPerSec!)} MB/s, acks=1 ${fixed(c.acks1MbPerSec!)} MB/s, medians)` : problem('produce'),
    pass: ratioMeasured ? c.acksRatio! >= TARGETS.clusterAcksAllRatio : null,
  });
  const l = clusterLatencyTargetRun(c);
  const rateOk = l !== null && l.ok && l.achievedMbPerSec !== null && l.achievedMbPerSec >= 0.95 * l.targetMbPerSec && l.undelivered === 0;
  out.push({
    name: `cluster: acks=all latency p99 (produce() → delivery callback, librdkafka${l ? ` linger.ms ${l.lingerMs}` : ''}) at ${TARGETS.clusterLatencyAtMbPerSec} MB/s, ${shape}`,
    target: `≤ ${TARGETS.clusterLatencyP99Ms} ms`,
    actual:
      l === null || !l.ok
        ? problem('latency')
        : `${latencyMs(l.p99Ms, l)} (p50 ${latencyMs(l.p50Ms, l)}, max ${latencyMs(l.maxMs, l)}; achieved ${l.achievedMbPerSec === null ? '-' : fixed(l.achievedMbPerSec)} of ${fixed(l.targetMbPerSec)} MB/s` +
          `${l.undelivered > 0 ? `, ${grouped(l.undelivered)} records undelivered after ${l.drainSeconds} s` : ''})`,
    pass: l === null || !l.ok ? null : rateOk && l.p99Ms !== null && l.p99Ms <= TARGETS.clusterLatencyP99Ms,
  });
  const f = c.failover;
  const fMeasured = f !== null && f.firstAckP50Ms !== null;
  const trials = f ? `${f.trials.filter((t) => t.ok).length} of ${f.trials.length} trials` : '';
  out.push({
    name: `cluster: failover, SIGKILL of a leader → first acks=all acknowledgement of a partition it led, median`,
    target: `≤ ${fixed(TARGETS.clusterFailoverP50Ms / 1000, 1)} s`,
    actual: fMeasured ? `${fixed(f.firstAckP50Ms! / 1000, 2)} s (${trials}; every partition it led acknowledged again: median ${secondsOrDash(f.allAckedP50Ms)})` : problem('failover'),
    pass: fMeasured ? f.firstAckP50Ms! <= TARGETS.clusterFailoverP50Ms : null,
  });
  out.push({
    name: `cluster: failover, the same, worst trial`,
    target: `≤ ${fixed(TARGETS.clusterFailoverMaxMs / 1000, 1)} s`,
    actual: fMeasured ? `${fixed(f.firstAckMaxMs! / 1000, 2)} s (${trials}; every partition it led: worst ${secondsOrDash(f.allAckedMaxMs)})` : problem('failover'),
    pass: fMeasured ? f.firstAckMaxMs! <= TARGETS.clusterFailoverMaxMs && f.trials.every((t) => t.ok) : null,
  });
  return out;
}

const secondsOrDash = (ms: number | null): string => (ms === null ? '-' : `${fixed(ms / 1000, 2)} s`);

/** A latency in ms; null (a percentile that fell on an undelivered record) as "> drain". */
function latencyMs(v: number | null, l: ClusterLatencyRun): string {
  if (v !== null) return `${fixed(v, v < 100 ? 1 : 0)} ms`;
  return `> ${l.drainSeconds} s`;
}

const ZERO_COPY_PATHS: readonly SendPath[] = ['sendfile', 'buffered'];
const msPerMb = (cpuSecondsPerMb: number): string => `${fixed(cpuSecondsPerMb * 1000, 2)} ms`;
const firstError = (errors: string[], otherwise: string): string => (errors[0] ?? otherwise).split('\n')[0]!;

/**
 * The zero-copy targets: sendfile's CPU per MB ≤ half the buffered path's (1 KiB records), and
 * for each send path, with the stalled fetches held, a normal read ≥ 0.8 × without them and the
 * broker's peak RSS below 400 MB. N/A where a side did not produce a valid measurement.
 */
export function zeroCopyTargets(z: ZeroCopyResult): TargetOutcome[] {
  const out: TargetOutcome[] = [];
  const problem = (): string => `not measured (${firstError(z.errors, 'no valid run')})`;
  const cpuWorkloads = z.workloads.filter((w) => w.recordSize === TARGETS.zeroCopyTargetRecordSize);
  for (const w of cpuWorkloads.length ? cpuWorkloads : [null]) {
    const size = sizeLabel(w?.recordSize ?? TARGETS.zeroCopyTargetRecordSize);
    const measured = w !== null && w.cpuPerMbRatio !== null;
    out.push({
      name: `zero-copy: broker CPU per MB consumed, sendfile(2) ÷ buffered, ${size} records, 1 partition`,
      target: `≤ ${fixed(TARGETS.zeroCopyCpuPerMbRatio, 2)}`,
      actual: measured
        ? `${fixed(w.cpuPerMbRatio!, 2)} (sendfile ${msPerMb(w.sendfile!.summary!.brokerCpuSecondsPerMb)}, buffered ${msPerMb(w.buffered!.summary!.brokerCpuSecondsPerMb)} of CPU per MB)`
        : problem(),
      pass: measured ? w.cpuPerMbRatio! <= TARGETS.zeroCopyCpuPerMbRatio : null,
    });
  }
  const slowWorkloads = z.workloads.filter((w) => w.slowConsumers);
  const { connections, maxBytes } = z.slowConsumers;
  for (const w of slowWorkloads.length ? slowWorkloads : [null]) {
    for (const p of ZERO_COPY_PATHS) {
      const slow = w?.[p]?.slow ?? null;
      const what = `${connections} stalled ${sizeLabel(maxBytes)} fetches held, ${p}${w ? `, ${sizeLabel(w.recordSize)} records` : ''}`;
      const without = w?.[p]?.summary ?? null;
      const measured = slow !== null && slow.ratio !== null && without !== null;
      out.push({
        name: `slow consumers: kcat read with ${what} ÷ without`,
        target: `≥ ${fixed(TARGETS.slowConsumerReadRatio, 2)}`,
        actual: measured ? `${fixed(slow.ratio!, 2)} (with ${fixed(slow.mbPerSec!)} MB/s, without ${fixed(without.mbPerSec)} MB/s, medians)` : problem(),
        pass: measured ? slow.ratio! >= TARGETS.slowConsumerReadRatio : null,
      });
      const rss = slow?.peakRssBytes ?? null;
      out.push({
        name: `slow consumers: broker peak RSS with ${what}`,
        target: `< ${fixed(TARGETS.slowConsumerRssBytes / MB, 0)} MB`,
        actual: rss === null ? problem() : `${fixed(rss / MB)} MB`,
        pass: rss === null ? null : rss < TARGETS.slowConsumerRssBytes,
      });
    }
  }
  return out;
}

/**
 * The security targets: produce and consume MB/s over SASL_SSL ÷ over PLAINTEXT (medians), at
 * least 0.6 and 0.5 (see TARGETS). N/A where a side has no valid run.
 */
export function securityTargets(s: SecurityResult): TargetOutcome[] {
  const what = `kcat, ${sizeLabel(s.recordSize)} records, 1 partition, one broker with both listeners`;
  const outcome = (kind: 'produce' | 'consume', ratio: number | null, target: number): TargetOutcome => {
    const tls = s.summary.SASL_SSL[kind];
    const plain = s.summary.PLAINTEXT[kind];
    const measured = ratio !== null && tls !== null && plain !== null;
    return {
      name: `security: ${kind} over SASL_SSL (${s.mechanism}, TLS) ÷ over PLAINTEXT, ${what}`,
      target: `≥ ${fixed(target, 2)}`,
      actual: measured
        ? `${fixed(ratio, 2)} (SASL_SSL ${fixed(tls.mbPerSec)} MB/s, PLAINTEXT ${fixed(plain.mbPerSec)} MB/s, medians; broker CPU per MB ${msPerMb(tls.brokerCpuSecondsPerMb)} vs ${msPerMb(plain.brokerCpuSecondsPerMb)})`
        : `not measured (${firstError(s.errors, 'no valid run')})`,
      pass: measured ? ratio >= target : null,
    };
  };
  return [outcome('produce', s.produceRatio, TARGETS.securityProduceRatio), outcome('consume', s.consumeRatio, TARGETS.securityConsumeRatio)];
}

function producerModeTargets(m: ProducerModesResult): TargetOutcome[] {
  const what = `${sizeLabel(m.recordSize)} records, 1 partition, acks=all`;
  const rate = (mode: ProducerMode): string => grouped(m.modes[mode]!.recordsPerSec);
  const problem = (): string => `not measured (${(m.errors[0] ?? 'no valid run').split('\n')[0]})`;
  const outcome = (name: string, ratio: number | null, mode: ProducerMode, target: number): TargetOutcome => ({
    name,
    target: `≥ ${fixed(target, 2)}`,
    actual: ratio === null ? problem() : `${fixed(ratio, 2)} (${mode} ${rate(mode)} rec/s, plain ${rate('plain')} rec/s, medians)`,
    pass: ratio === null ? null : ratio >= target,
  });
  return [
    outcome(`idempotent ÷ plain produce (librdkafka enable.idempotence=true vs false), ${what}`, m.idempotentRatio, 'idempotent', TARGETS.idempotentProduceRatio),
    outcome(
      `transactional produce, a commit every ${m.commitIntervalMs} ms ÷ plain produce (librdkafka), ${what}`,
      m.transactionalRatio,
      'transactional',
      TARGETS.transactionalProduceRatio,
    ),
  ];
}

/** The best ranged-GET rate the S3 emulator reached in the run: what a cold read could at most get. */
export function s3Limit(t: TieredReadsResult): number | null {
  const rates = t.gets.map((g) => g.mbPerSec).filter((v) => v > 0);
  return rates.length ? Math.max(...rates) : null;
}

function tierTarget(t: TieredReadsResult): TargetOutcome {
  const measured = t.ratio !== null && t.coldMbPerSec !== null && t.hotMbPerSec !== null;
  const limit = s3Limit(t);
  const ofLimit = limit !== null && t.coldMbPerSec !== null ? `; cold = ${fixed(t.coldMbPerSec / limit, 2)} of the S3 emulator's ranged-GET rate` : '';
  return {
    name: `cold read (S3 emulator, through the read cache) ÷ hot read (local segments), ${sizeLabel(t.recordSize)} records, 1 partition`,
    target: `≥ ${fixed(TARGETS.coldReadRatio, 2)}`,
    actual: measured
      ? `${fixed(t.ratio!, 2)} (cold ${fixed(t.coldMbPerSec!)} MB/s, hot ${fixed(t.hotMbPerSec!)} MB/s${ofLimit})`
      : `not measured (${(t.errors[0] ?? 'no valid run').split('\n')[0]})`,
    pass: measured ? t.ratio! >= TARGETS.coldReadRatio : null,
  };
}

function groupTargets(g: GroupResults): TargetOutcome[] {
  const out: TargetOutcome[] = [];
  const rebalanceName = (members: number | string): string => `rebalance after a clean leave, ${members} kafkajs members`;
  if (g.rebalance.length === 0) out.push({ name: rebalanceName('N'), target: 'measured', actual: 'not measured (see the errors)', pass: null });
  for (const rb of g.rebalance) {
    const measured = rb.ok && rb.medianMs !== null && rb.medianBeyondClientMs !== null;
    out.push({
      name: rebalanceName(rb.members),
      target: `≤ ${TARGETS.rebalanceBeyondClientMs} ms beyond the client's heartbeat interval (${rb.heartbeatIntervalMs} ms)`,
      actual: measured
        ? `${fixed(rb.medianBeyondClientMs!, 0)} ms beyond (leave → Stable ${fixed(rb.medianMs!, 0)} ms, median of ${rb.samples.length})`
        : `not measured (${(rb.error ?? 'did not run').split('\n')[0]})`,
      pass: measured ? rb.medianBeyondClientMs! <= TARGETS.rebalanceBeyondClientMs : null,
    });
  }
  const c = g.consume;
  const measured = c !== null && c.ok && c.ratio !== null;
  out.push({
    name: `consume through a group ÷ plain consume${c ? `, ${c.recordSize} B records` : ''}, 1 partition`,
    target: `≥ ${fixed(TARGETS.groupConsumeRatio, 2)}`,
    actual: measured
      ? `${fixed(c.ratio!, 2)} (group ${grouped(c.groupRecordsPerSec!)} rec/s, plain ${grouped(c.plainRecordsPerSec!)} rec/s)`
      : `not measured (${c === null ? 'did not run' : (c.errors[0] ?? 'no valid run').split('\n')[0]})`,
    pass: measured ? c.ratio! >= TARGETS.groupConsumeRatio : null,
  });
  return out;
}

/** The kcat phases of the first broker and the tiered-read broker: what the run-wide RSS target is about. */
function standardPhases(r: BenchResults): PhaseResult[] {
  const tier = r.tier ? [...r.tier.produce, ...[...r.tier.hot, ...r.tier.cold].map((x) => x.phase)] : [];
  const modes = r.producerModes?.runs.map((x) => x.phase) ?? [];
  return [...r.phases, ...(r.groups?.consume?.plain ?? []), ...(r.groups?.consume?.group ?? []), ...modes, ...tier];
}

/** The zero-copy section's kcat phases: produce, reads with and without the stalled fetches (not the warm-ups). */
export function zeroCopyPhases(z: ZeroCopyResult): PhaseResult[] {
  const out: PhaseResult[] = [];
  for (const w of z.workloads) {
    for (const run of [w.sendfile, w.buffered]) {
      if (!run) continue;
      if (run.produce) out.push(run.produce);
      out.push(...run.consumes, ...(run.slow?.rounds.map((x) => x.phase) ?? []));
    }
  }
  return out;
}

/** Every kcat phase that read or wrote records, for the disturbance warnings (not the warm-ups). */
export function allPhases(r: BenchResults): PhaseResult[] {
  return [...standardPhases(r), ...(r.zeroCopy ? zeroCopyPhases(r.zeroCopy) : []), ...(r.security?.runs.map((x) => x.phase) ?? [])];
}

/**
 * The larger of the kernel's high-water marks (the first and the tiered-read broker) and our own
 * samples (any may be missing). The zero-copy section's brokers have targets of their own (their
 * slow consumers hold up to 50 × 55 MiB fetches open) and are left out, as is the security
 * section's broker (its RSS is in its own table: a section that compares two listeners, not the
 * run-wide memory target's workload).
 */
export function peakRss(r: BenchResults): number | null {
  const candidates = [r.broker.peakRssBytes ?? 0, r.tier?.brokerPeakRssBytes ?? 0, ...standardPhases(r).map((p) => p.broker.peakRssBytes)];
  const peak = Math.max(...candidates);
  return peak > 0 ? peak : null;
}

function table(headers: string[], rows: string[][], rightAligned: Set<number>): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)];
}

/** The kcat phase table: one row per phase, with ratios to the physical limits. */
function phaseTable(phases: PhaseResult[], limits: Limits, clientLabel = 'kcat'): string[] {
  const rows = phases.map((p) => {
    const ratios = Object.entries(ratiosFor(p, limits))
      .map(([name, v]) => `${fixed(v, 3)} of ${name}`)
      .join(', ');
    return [
      p.name,
      grouped(p.expectedRecords),
      p.ok ? fixed(p.seconds, 2) : '-',
      p.ok ? grouped(p.recordsPerSec) : '-',
      p.ok ? fixed(p.mbPerSec) : '-',
      fixed(p.broker.cpuCores, 2),
      p.client ? fixed(p.client.cpuCores, 2) : '-',
      p.otherCpu ? fixed(p.otherCpu.otherCores + p.otherCpu.stealCores, 2) : '-',
      p.ioStall === null ? '-' : `${fixed(p.ioStall * 100, 0)}%`,
      `${fixed(p.broker.peakRssBytes / MB)} MB`,
      p.ok ? ratios : `FAILED: ${(p.error ?? '').split('\n')[0]}`,
    ];
  });
  return table(
    ['phase', 'records', 'seconds', 'rec/s', 'MB/s', 'broker CPU', `${clientLabel} CPU`, 'other CPU', 'I/O stall', 'broker RSS', 'ratio to limit'],
    rows,
    new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]),
  );
}

const ms = (v: number | null): string => (v === null ? '-' : fixed(v, 0));

function formatGroups(g: GroupResults, limits: Limits): string[] {
  const out: string[] = [];
  const first = g.rebalance[0];
  out.push(
    '',
    'Consumer groups: rebalance after one member leaves cleanly (LeaveGroup), timed by the coordinator\'s log',
    first
      ? `(leave → Stable again; kafkajs members, heartbeatInterval ${first.heartbeatIntervalMs} ms, fetch max wait ${first.fetchMaxWaitMs} ms, ` +
          `${first.partitions} partitions; "rejoin" = until every remaining member had sent JoinGroup)`
      : '(not measured)',
  );
  if (g.rebalance.length > 0) {
    const failed = g.rebalance.some((rb) => !rb.ok);
    const rows = g.rebalance.map((rb) => {
      const total = rb.samples.map((x) => x.leaveToStableMs);
      const row = [
        String(rb.members),
        String(rb.samples.length),
        ms(rb.medianMs),
        ms(rb.medianBeyondClientMs),
        ms(rb.ok ? median(rb.samples.map((x) => x.rejoinMs)) : null),
        ms(total.length ? Math.min(...total) : null),
        ms(total.length ? Math.max(...total) : null),
        rb.formSeconds === null ? '-' : `${fixed(rb.formSeconds, 2)} s`,
      ];
      return failed ? [...row, rb.ok ? '' : `FAILED: ${(rb.error ?? '').split('\n')[0]}`] : row;
    });
    const headers = ['members', 'leaves', 'median ms', 'beyond heartbeat ms', 'rejoin ms', 'min ms', 'max ms', 'group formed in'];
    out.push(...table(failed ? [...headers, 'error'] : headers, rows, new Set([0, 1, 2, 3, 4, 5, 6, 7])));
  }
  const c = g.consume;
  out.push('', 'Consumer groups: consume through a group (kcat -G, new group each round) vs plain (kcat -C -p 0), same topic');
  if (c === null) {
    out.push('(not measured)');
    return out;
  }
  out.push(...phaseTable([...c.plain, ...c.group], limits));
  out.push(
    `median rec/s: plain ${c.plainRecordsPerSec === null ? '-' : grouped(c.plainRecordsPerSec)}, ` +
      `group ${c.groupRecordsPerSec === null ? '-' : grouped(c.groupRecordsPerSec)}, ` +
      `group ÷ plain ${c.ratio === null ? '-' : fixed(c.ratio, 2)}`,
    `broker CPU per record (median): plain ${fixed(c.plainBrokerMicrosPerRecord ?? NaN, 2)} µs, group ${fixed(c.groupBrokerMicrosPerRecord ?? NaN, 2)} µs; ` +
      `group join (coordinator: first JoinGroup → Stable): ${ms(median(c.joins.map((j) => j.joinMs)))} ms median`,
  );
  return out;
}

function formatTier(t: TieredReadsResult): string[] {
  const out: string[] = [];
  const c = t.cache;
  out.push(
    '',
    `Tiered reads: kcat -C -p 0 -o 0 to the end, ${sizeLabel(t.recordSize)} records, on a second broker with --metadata dynamodb:// and --object-store s3:// (dynalite, s3rver)`,
    `(cold = topic with remote.storage.enable=true, segment.bytes ${sizeLabel(t.segmentBytes)}, local.retention.bytes 0: read from s3rver through the broker's read cache,`,
    ` ${sizeLabel(c.chunkBytes)} chunks, read-ahead ${c.readAheadChunks} chunks, ${sizeLabel(c.maxBytes)}; hot = the same records in a topic without remote storage, from local segments;`,
    ` CPU in cores; "other CPU" leaves out the emulators; "broker read" = bytes the broker read(2) during the phase, sockets and files)`,
  );
  if (t.tiering) {
    out.push(
      `${grouped(t.records)} records in ${t.tiering.segments} tiered segments (${fixed(t.tiering.bytes / MB)} MB in S3), all tiered and none left local ` +
        `${fixed(t.tiering.seconds, 1)} s after the produce ended (local partition dir then ${grouped(t.tiering.localBytes)} bytes)`,
    );
  }
  if (t.warmup.length > 0) out.push(`(after an unmeasured warm-up: the last ${grouped(t.warmup[0]!.expectedRecords)} records of each topic read once)`);
  const failed = [...t.hot, ...t.cold].some((x) => !x.phase.ok);
  const row = (x: TierRead): string[] => {
    const p = x.phase;
    return [
      p.name,
      grouped(p.expectedRecords),
      p.ok ? fixed(p.seconds, 2) : '-',
      p.ok ? fixed(p.mbPerSec) : '-',
      fixed(p.broker.cpuCores, 2),
      fixed(x.s3rver.cpuCores, 2),
      p.client ? fixed(p.client.cpuCores, 2) : '-',
      p.otherCpu ? fixed(p.otherCpu.otherCores + p.otherCpu.stealCores, 2) : '-',
      x.brokerReadBytes === null ? '-' : `${fixed(x.brokerReadBytes / MB)} MB`,
      `${fixed(p.broker.peakRssBytes / MB)} MB`,
      ...(failed ? [p.ok ? '' : `FAILED: ${(p.error ?? '').split('\n')[0]}`] : []),
    ];
  };
  const reads: TierRead[] = [];
  for (let i = 0; i < Math.max(t.hot.length, t.cold.length); i++) reads.push(...[t.hot[i], t.cold[i]].filter((x): x is TierRead => x !== undefined));
  if (reads.length > 0) {
    out.push(
      ...table(
        ['phase', 'records', 'seconds', 'MB/s', 'broker CPU', 's3rver CPU', 'kcat CPU', 'other CPU', 'broker read', 'broker RSS', ...(failed ? ['error'] : [])],
        reads.map(row),
        new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]),
      ),
    );
  }
  for (const g of t.gets) {
    out.push(
      `S3 emulator limit: ranged GETs of the tiered objects, ${sizeLabel(g.chunkBytes)} each, ${g.inFlight} in flight (AWS SDK, bodies counted, broker idle): ` +
        `${fixed(g.mbPerSec)} MB/s, s3rver CPU ${fixed(g.s3rver.cpuCores, 2)}`,
    );
  }
  const limit = s3Limit(t);
  out.push(
    `median MB/s: hot ${t.hotMbPerSec === null ? '-' : fixed(t.hotMbPerSec)}, cold ${t.coldMbPerSec === null ? '-' : fixed(t.coldMbPerSec)}, ` +
      `cold ÷ hot ${t.ratio === null ? '-' : fixed(t.ratio, 2)}, ` +
      `cold ÷ S3 emulator limit ${limit === null || t.coldMbPerSec === null ? '-' : fixed(t.coldMbPerSec / limit, 2)}`,
  );
  return out;
}

const MODE_LABEL: Record<ProducerMode, string> = { plain: 'plain', idempotent: 'idempotent', transactional: 'transactional' };
const PRODUCER_MODE_ORDER: readonly ProducerMode[] = ['plain', 'idempotent', 'transactional'];

function formatProducerModes(m: ProducerModesResult, limits: Limits): string[] {
  const out: string[] = [
    '',
    `Producer modes: librdkafka${m.client ? ` (${m.client})` : ''} through python3, ${grouped(m.records)} × ${sizeLabel(m.recordSize)} records per run, each run to a new`,
    ` 1-partition topic of the same broker, acks=all, linger.ms 5; timed from the first produce to the last delivery report; plain = enable.idempotence=false,`,
    ` idempotent = true, transactional = a transactional.id and commit_transaction after every ${m.commitIntervalMs} ms of producing; the order rotates each round;`,
    ` "python CPU" = the client process, librdkafka's threads included)`,
  ];
  if (m.runs.length === 0) return [...out, '(not measured)'];
  out.push(...phaseTable(m.runs.map((x) => x.phase), limits, 'python'));
  const med = (mode: ProducerMode): string => {
    const s = m.modes[mode];
    return `${MODE_LABEL[mode]} ${s ? `${grouped(s.recordsPerSec)} rec/s (${fixed(s.mbPerSec)} MB/s)` : '-'}`;
  };
  out.push(
    `median: ${PRODUCER_MODE_ORDER.map(med).join(', ')}; ` +
      `idempotent ÷ plain ${m.idempotentRatio === null ? '-' : fixed(m.idempotentRatio, 2)}, ` +
      `transactional ÷ plain ${m.transactionalRatio === null ? '-' : fixed(m.transactionalRatio, 2)}`,
  );
  const micros = (mode: ProducerMode, side: 'brokerMicrosPerRecord' | 'clientMicrosPerRecord'): string => {
    const v = m.modes[mode]?.[side];
    return `${MODE_LABEL[mode]} ${v === undefined || v === null ? '-' : fixed(v, 2)} µs`;
  };
  out.push(
    `CPU per record (medians): broker ${PRODUCER_MODE_ORDER.map((x) => micros(x, 'brokerMicrosPerRecord')).join(', ')}; ` +
      `python ${PRODUCER_MODE_ORDER.map((x) => micros(x, 'clientMicrosPerRecord')).join(', ')}`,
  );
  const txns = m.runs.filter((x) => x.mode === 'transactional' && x.phase.ok);
  if (txns.length > 0) {
    out.push(
      `transactional runs: ${txns.map((x) => x.transactions).join(', ')} transactions committed (one marker each, all verified in the partition); ` +
        `longest commit_transaction ${fixed(Math.max(...txns.map((x) => x.maxCommitSeconds)) * 1000, 0)} ms`,
    );
  }
  return out;
}

const RECOVERY_LABEL: Record<RecoveryCase, string> = {
  clean: 'clean shutdown (snapshot at the log end)',
  crash: 'crash (no marker; snapshot at the last roll)',
  noSnapshots: 'no snapshot files (whole log replayed)',
};

function formatRecovery(rec: RecoveryResult): string[] {
  const out: string[] = [''];
  const l = rec.log;
  const s = rec.spec;
  if (l === null) {
    return [...out, `Recovery: PartitionLog.open of a ${fixed(s.targetBytes / MB, 0)} MB partition log (not measured: ${(rec.errors[0] ?? '').split('\n')[0]})`];
  }
  out.push(
    `Recovery: PartitionLog.open of a ${fixed(l.bytes / MB)} MB partition log: ${l.segments} segments (segment.bytes ${sizeLabel(s.segmentBytes)}, the active one ${fixed(l.activeSegmentBytes / MB)} MB),`,
    ` ${grouped(l.batches)} batches of ${s.batchRecords} × ${s.valueBytes} B from ${s.idempotentProducers} idempotent and ${s.transactionalProducers} transactional producers ` +
      `(${grouped(l.markers)} markers, ${grouped(l.aborted)} aborts, ${l.ongoingTxns} transactions left open), written in ${fixed(l.seconds, 1)} s`,
    ` by a child process that then died by SIGKILL (round 1's crash is that directory; later rounds remove the marker and end snapshot a clean close wrote);`,
    ` page cache warm (a process restart); median of ${rec.rounds} opens per case; "read" = bytes read(2) during the open; every open must recover the writer's producer state)`,
  );
  const rows = RECOVERY_CASES_ORDER.map((c) => {
    const sum = rec.cases[c];
    const opens = rec.opens.filter((o) => o.case === c);
    const same = opens.filter((o) => o.sameState).length;
    const state = opens.length === 0 ? '-' : same === opens.length ? 'same as written' : `DIFFERS in ${opens.length - same} of ${opens.length}`;
    return [
      RECOVERY_LABEL[c],
      sum ? fixed(sum.medianSeconds, 3) : '-',
      sum ? fixed(sum.minSeconds, 3) : '-',
      sum ? fixed(sum.maxSeconds, 3) : '-',
      sum === null || sum.replayedBatches === null ? '-' : grouped(sum.replayedBatches),
      sum === null || sum.medianReadBytes === null ? '-' : `${fixed(sum.medianReadBytes / MB)} MB`,
      sum ? String(sum.producers) : '-',
      state,
    ];
  });
  out.push(...table(['case', 'seconds', 'min', 'max', 'batches replayed', 'read', 'producers', 'producer state'], rows, new Set([1, 2, 3, 4, 5, 6])));
  const clean = rec.cases.clean;
  const none = rec.cases.noSnapshots;
  if (clean && none && clean.medianSeconds > 0) {
    out.push(`without snapshots the open takes ${fixed(none.medianSeconds / clean.medianSeconds, 0)} × as long as after a clean shutdown`);
  }
  return out;
}

function formatZeroCopy(z: ZeroCopyResult, limits: Limits): string[] {
  const { connections, maxBytes } = z.slowConsumers;
  const out: string[] = [
    '',
    `Zero-copy: fetch responses sent with sendfile(2) (the default) vs through a buffer (STRATA_ZERO_COPY=0: segment bytes read into memory, then written),`,
    ` kcat -C -p 0 -o 0 to the end of a 1-partition topic; a new broker per record size and send path, one at a time, the same records produced once to each;`,
    ` ${z.rounds} reads each after an unmeasured warm-up; "stalled fetches" = the same read while ${connections} raw connections each hold one Fetch`,
    ` (v4, max_bytes ${sizeLabel(maxBytes)}, from offset 0) and never read it; CPU in cores; broker RSS sampled every 100 ms during the read)`,
  ];
  const runs = z.workloads.flatMap((w) => [w.sendfile, w.buffered]).filter((x): x is ZeroCopyRun => x !== null);
  const reads = runs.flatMap((x) => [...x.consumes, ...(x.slow?.rounds.map((s) => s.phase) ?? [])]);
  if (reads.length === 0) return [...out, `(not measured: ${firstError(z.errors, 'no valid run')})`];
  out.push(...phaseTable(reads, limits));

  const mbOrDash = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${fixed(v / MB)} MB`);
  out.push(
    '',
    ...table(
      ['records', 'send path', 'MB/s', 'rec/s', 'broker CPU per MB', 'broker RSS (reads)', 'broker VmHWM', 'start line'],
      runs.map((x) => [
        `${grouped(x.records)} × ${sizeLabel(x.recordSize)}`,
        x.path,
        x.summary ? fixed(x.summary.mbPerSec) : '-',
        x.summary ? grouped(x.summary.recordsPerSec) : '-',
        x.summary ? msPerMb(x.summary.brokerCpuSecondsPerMb) : '-',
        mbOrDash(x.summary?.peakRssBytes),
        mbOrDash(x.brokerHwmBytes),
        x.startLine ?? '-',
      ]),
      new Set([2, 3, 4, 5, 6]),
    ),
  );
  const ratio = (v: number | null): string => (v === null ? '-' : fixed(v, 2));
  out.push(
    `sendfile ÷ buffered (MB/s medians; CPU per MB = broker CPU seconds ÷ MB over all reads): ` +
      z.workloads.map((w: ZeroCopyWorkload) => `${sizeLabel(w.recordSize)}: MB/s ${ratio(w.throughputRatio)}, CPU per MB ${ratio(w.cpuPerMbRatio)}`).join('; '),
  );

  const slow = runs.filter((x) => x.slow !== null);
  if (slow.length > 0) {
    out.push(
      '',
      `Slow consumers: ${connections} stalled fetches of ${sizeLabel(maxBytes)} held during each read ("held" = response bytes in the kernel's socket buffers,`,
      ` both ends, all connections; "stalled in" = until the queues stopped moving; "still held" = connections established with unchanged queues after the read)`,
      ...table(
        ['records', 'send path', 'MB/s with', 'MB/s without', 'with ÷ without', 'broker peak RSS', 'held', 'stalled in', 'still held'],
        slow.map((x) => {
          const s = x.slow!;
          const stallMs = median(s.rounds.map((r) => r.stallMs));
          return [
            `${grouped(x.records)} × ${sizeLabel(x.recordSize)}`,
            x.path,
            s.mbPerSec === null ? '-' : fixed(s.mbPerSec),
            x.summary ? fixed(x.summary.mbPerSec) : '-',
            ratio(s.ratio),
            mbOrDash(s.peakRssBytes),
            mbOrDash(s.kernelQueuedBytes),
            stallMs === null ? '-' : `${fixed(stallMs, 0)} ms`,
            s.rounds.map((r) => `${r.stillStalled}/${s.connections}`).join(', '),
          ];
        }),
        new Set([2, 3, 4, 5, 6, 7]),
      ),
    );
  }
  return out;
}

function formatSecurity(s: SecurityResult, limits: Limits): string[] {
  const l = s.listeners ?? {};
  const out: string[] = [
    '',
    `Security: kcat over SASL_SSL (${s.mechanism}, TLS${s.tls ? ` ${s.tls.version}, ${s.tls.cipher}` : ''}) vs PLAINTEXT, one broker with both listeners` +
      `${l.PLAINTEXT && l.SASL_SSL ? ` (PLAINTEXT ${l.PLAINTEXT}, SASL_SSL ${l.SASL_SSL})` : ''}, the same kcat settings;`,
    ` per round the ${grouped(s.records)} × ${sizeLabel(s.recordSize)} records produced over each listener into a new 1-partition topic, then the first topic read`,
    ` over each (kcat -C -p 0 -o 0 -e, verified); ${s.rounds} rounds after an unmeasured warm-up over each, the listener that goes first alternating;`,
    ` fetches over PLAINTEXT: ${s.sendPathLine ?? 'unknown send path'}; over TLS always read into memory, encrypted and written; CPU in cores)`,
  ];
  const phases = s.runs.map((x) => x.phase);
  if (phases.length === 0) return [...out, `(not measured: ${firstError(s.errors, 'no valid run')})`];
  out.push(...phaseTable(phases, limits));
  const rows: string[][] = [];
  const cells = (v: SecuritySummary | null): string[] =>
    v === null
      ? ['-', '-', '-', '-', '-']
      : [fixed(v.mbPerSec), grouped(v.recordsPerSec), msPerMb(v.brokerCpuSecondsPerMb), v.clientCpuSecondsPerMb === null ? '-' : msPerMb(v.clientCpuSecondsPerMb), `${fixed(v.peakRssBytes / MB)} MB`];
  for (const kind of ['produce', 'consume'] as const) {
    for (const p of PROTOCOLS) rows.push([kind, p, ...cells(s.summary[p][kind])]);
  }
  out.push(
    '',
    ...table(['direction', 'listener', 'MB/s', 'rec/s', 'broker CPU per MB', 'kcat CPU per MB', 'broker RSS'], rows, new Set([2, 3, 4, 5, 6])),
  );
  const ratio = (v: number | null): string => (v === null ? '-' : fixed(v, 2));
  out.push(
    `SASL_SSL ÷ PLAINTEXT (MB/s medians; CPU per MB = broker CPU seconds ÷ MB over all runs): produce MB/s ${ratio(s.produceRatio)}, CPU per MB ${ratio(s.produceCpuPerMbRatio)}; ` +
      `consume (TLS fetch vs the plaintext path) MB/s ${ratio(s.consumeRatio)}, CPU per MB ${ratio(s.consumeCpuPerMbRatio)}`,
    `SASL_SSL ÷ PLAINTEXT MB/s within each round (adjacent runs): produce ${roundRatios(s.runs, 'produce').map(ratio).join(', ')}; ` +
      `consume ${roundRatios(s.runs, 'consume').map(ratio).join(', ')}`,
    `SCRAM user created → first metadata over SASL_SSL: ${s.userReadyMs === null ? '-' : `${fixed(s.userReadyMs, 0)} ms`}; broker VmHWM ${s.brokerHwmBytes === null ? '-' : `${fixed(s.brokerHwmBytes / MB)} MB`}`,
  );
  return out;
}

function formatCluster(c: ClusterResult): string[] {
  const cores = (xs: number[]): string => (xs.length ? xs.map((x) => fixed(x, 2)).join(' / ') : '-');
  const brokersLabel = Array.from({ length: c.brokers }, (_, i) => `b${i}`).join('/');
  const overrides = Object.entries(c.overrides).map(([k, v]) => `${k}=${v}`).join(', ');
  const out: string[] = [
    '',
    `Cluster: ${c.brokers} brokers on loopback (one embedded metadata store, one file:// object store${overrides ? `; overrides ${overrides}` : ''}), each topic new,`,
    ` ${c.partitions} partitions, replication factor ${c.replicationFactor}, min.insync.replicas ${c.minInsyncReplicas}, ${sizeLabel(c.recordSize)} records; CPU in cores, per broker ${brokersLabel}` +
      `${c.client ? `; producers: ${c.client} (python3)` : ''}`,
  ];

  const f = c.failover;
  out.push('', `Failover (${f ? `librdkafka, acks=all, ${grouped(f.recordsPerSec)} records/s round-robin over the partitions, the latency runs' producer settings` : 'not measured'};`);
  out.push(` per trial the leader of one partition is SIGKILLed, then restarted on its data dir;`);
  out.push(
    ` "first ack" = SIGKILL → first acknowledgement of a record of a partition it led (none within ${FAILOVER_GRACE_MS} ms of the kill counts: the dead leader's last answers);`,
    ` "all acked" = until every partition it led was acknowledged again; "elected" = SIGKILL → the new leaders' "leader at epoch" log lines, first / last;`,
    ` "restart" = restart → listening; "ISR back" = then → every ISR whole again)`,
  );
  if (f && f.trials.length > 0) {
    const failed = f.trials.some((t) => !t.ok || t.unhealthyBefore !== null);
    const ms0 = (v: number | null): string => (v === null ? '-' : fixed(v, 0));
    out.push(
      ...table(
        ['trial', 'killed', 'led', 'controller', 'first ack ms', 'all acked ms', 'elected ms', 'restart ms', 'ISR back ms', ...(failed ? ['note'] : [])],
        f.trials.map((t) => [
          String(t.trial),
          t.victim < 0 ? '-' : `broker ${t.victim}`,
          t.ledPartitions.join(','),
          t.wasController ? 'yes' : 'no',
          ms0(t.firstAckMs),
          ms0(t.allAckedMs),
          `${ms0(t.firstElectedMs)} / ${ms0(t.lastElectedMs)}`,
          ms0(t.restartMs),
          ms0(t.isrBackMs),
          ...(failed ? [t.ok ? (t.unhealthyBefore ?? '') : `FAILED: ${(t.error ?? '').split('\n')[0]}`] : []),
        ]),
        new Set([0, 4, 5, 6, 7, 8]),
      ),
    );
    out.push(
      `first ack: median ${ms0(f.firstAckP50Ms)} ms, worst ${ms0(f.firstAckMaxMs)} ms; all acked: median ${ms0(f.allAckedP50Ms)} ms, worst ${ms0(f.allAckedMaxMs)} ms; ` +
        `producer: ${f.produced === null ? '-' : grouped(f.produced)} produced, ${f.acked === null ? '-' : grouped(f.acked)} acknowledged, ${f.failed ?? 0} failed` +
        `${f.firstFailure ? ` (first: ${f.firstFailure})` : ''}`,
    );
  }

  out.push(
    '',
    `Produce throughput (kcat -P, ${c.throughput[0] ? grouped(c.throughput[0].records) : '-'} × ${sizeLabel(c.recordSize)} records per run, keyless (random partition), linger.ms 5,`,
    ` up to 10,000 records a batch; acks=1 and acks=all alternating; "replicated" = kcat's exit → every partition's high watermark at the end)`,
  );
  if (c.throughput.length > 0) {
    const failed = c.throughput.some((t) => !t.ok);
    out.push(
      ...table(
        ['run', 'seconds', 'MB/s', 'rec/s', `broker CPU ${brokersLabel}`, 'kcat CPU', 'other CPU', 'replicated', ...(failed ? ['error'] : [])],
        c.throughput.map((t) => [
          `acks=${t.acks} #${t.round}`,
          t.ok ? fixed(t.seconds, 2) : '-',
          t.ok ? fixed(t.mbPerSec) : '-',
          t.ok ? grouped(t.recordsPerSec) : '-',
          cores(t.brokerCpuCores),
          t.kcatCpuCores === null ? '-' : fixed(t.kcatCpuCores, 2),
          t.otherCores === null ? '-' : fixed(t.otherCores, 2),
          t.replicatedAfterSeconds === null ? '-' : `${fixed(t.replicatedAfterSeconds, 2)} s`,
          ...(failed ? [t.ok ? '' : `FAILED: ${(t.error ?? '').split('\n')[0]}`] : []),
        ]),
        new Set([1, 2, 3, 5, 6, 7]),
      ),
    );
  }
  const mbs = (v: number | null): string => (v === null ? '-' : fixed(v));
  out.push(`median MB/s: acks=1 ${mbs(c.acks1MbPerSec)}, acks=all ${mbs(c.acksAllMbPerSec)}; acks=all ÷ acks=1 ${c.acksRatio === null ? '-' : fixed(c.acksRatio, 2)}`);

  const l0 = c.latency[0];
  out.push(
    '',
    `acks=all latency (librdkafka, linger.ms ${l0 ? l0.lingerMs : '-'}, max.in.flight.requests.per.connection ${l0 ? l0.maxInFlight : '-'}; keyless records at a fixed rate`,
    ` for ${l0 ? l0.seconds : '-'} s after an uncounted warm-up; latency = produce() → delivery callback; "librdkafka" = its own Message.latency(), without`,
    ` the callback's dispatch; "behind" = how late the producer was on its own schedule at worst; "late" = not acknowledged ${l0 ? l0.drainSeconds : '-'} s after the last produce)`,
  );
  if (c.latency.length > 0) {
    const failed = c.latency.some((x) => !x.ok);
    out.push(
      ...table(
        ['target MB/s', 'achieved MB/s', 'records', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'librdkafka p50/p99', 'behind ms', 'python CPU', `broker CPU ${brokersLabel}`, 'other CPU', ...(failed ? ['error'] : [])],
        c.latency.map((x) => [
          fixed(x.targetMbPerSec),
          x.achievedMbPerSec === null ? '-' : fixed(x.achievedMbPerSec),
          x.ok ? `${grouped(x.records)}${x.undelivered > 0 ? ` (${grouped(x.undelivered)} late)` : ''}` : '-',
          x.ok ? latencyMs(x.p50Ms, x) : '-',
          x.ok ? latencyMs(x.p99Ms, x) : '-',
          x.ok ? latencyMs(x.p999Ms, x) : '-',
          x.ok ? latencyMs(x.maxMs, x) : '-',
          x.ok ? `${latencyMs(x.librdkafkaP50Ms, x)} / ${latencyMs(x.librdkafkaP99Ms, x)}` : '-',
          x.maxLagMs === null ? '-' : fixed(x.maxLagMs, 0),
          x.clientCpuCores === null ? '-' : fixed(x.clientCpuCores, 2),
          cores(x.brokerCpuCores),
          x.otherCores === null ? '-' : fixed(x.otherCores, 2),
          ...(failed ? [x.ok ? '' : `FAILED: ${(x.error ?? '').split('\n')[0]}`] : []),
        ]),
        new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]),
      ),
    );
  }

  const u = c.catchUp;
  out.push('', 'Follower catch-up from an empty data dir (one broker stopped with SIGTERM, its data dir deleted, started again; timed until it is in the ISR of every');
  out.push(' partition it replicates, by Metadata polled every 100 ms; bytes = its segment files afterwards; loopback = the same bytes over 127.0.0.1, no broker running)');
  if (u) {
    const lp = u.loopbackPython;
    out.push(
      ...table(
        ['broker', 'partitions', 'MB fetched', 'seconds', 'start → listening', 'MB/s', 'loopback node MB/s', '÷ loopback', 'loopback python MB/s', `broker CPU ${brokersLabel}`],
        [
          [
            `broker ${u.victim}`,
            String(u.partitions),
            fixed(u.bytes / MB),
            fixed(u.seconds, 2),
            `${fixed(u.startSeconds, 2)} s`,
            fixed(u.mbPerSec),
            u.loopbackNode ? fixed(u.loopbackNode.mbPerSec, 0) : '-',
            u.ratioToLoopback === null ? '-' : fixed(u.ratioToLoopback, 3),
            lp ? fixed(lp.mbPerSec, 0) : '-',
            cores(u.brokerCpuCores),
          ],
        ],
        new Set([1, 2, 3, 5, 6, 7, 8]),
      ),
    );
    if (Math.abs(u.bytes - u.bytesBefore) > 0.02 * Math.max(u.bytesBefore, 1)) {
      out.push(`(it held ${fixed(u.bytesBefore / MB)} MB of segments before: the leaders' logs differ from its old copy by more than 2%)`);
    }
  } else {
    out.push('(not measured)');
  }
  if (c.firstProduceMs.length > 0) {
    out.push(
      '',
      `first acks=all produce to each new topic (one record per partition, all partitions at once; before any measurement): ` +
        c.firstProduceMs.map((x) => `${x.topic.replace(/^bench-cluster-/, '')} ${fixed(x.ms, 0)} ms`).join(', '),
    );
  }
  return out;
}

/** (a), (b), (c) of the issue: clean, crash, no snapshots. */
const RECOVERY_CASES_ORDER: readonly RecoveryCase[] = ['clean', 'crash', 'noSnapshots'];

export function formatReport(r: BenchResults): string {
  const out: string[] = [];
  out.push(
    `Strata benchmark (${r.mode}) — ${r.startedAt} — ${fixed(r.durationSeconds, 0)} s`,
    `node ${r.machine.node}, ${r.machine.cpus} × ${r.machine.cpuModel}, ${fixed(r.machine.memoryBytes / 2 ** 30, 0)} GiB RAM, Linux ${r.machine.kernel}`,
    `client: ${r.kcatVersion}`,
    `units: MB = 10^6 bytes; MB/s counts record payload bytes only`,
  );
  if (r.sections !== undefined) out.push(`sections: only ${r.sections.join(', ')} (--only)`);
  out.push('', 'Physical limits');
  const limits = [r.limits.diskPageCache, r.limits.diskFsync, r.limits.loopbackNode, r.limits.loopbackPython].filter(
    (l): l is Throughput => l !== undefined,
  );
  // The S3 emulator's, measured during the tiered-read phase (its own emulator, broker idle).
  limits.push(...(r.tier?.gets ?? []));
  if (limits.length === 0 && !ran(r, 'limits')) {
    out.push('(not measured in this run: no ratios to limits)');
  } else {
    out.push(
      ...table(
        ['measurement', 'size', 'seconds', 'MB/s'],
        limits.map((l) => [l.name, sizeLabel(l.bytes), fixed(l.seconds, 2), fixed(l.mbPerSec, 0)]),
        new Set([1, 2, 3]),
      ),
    );
  }

  if (ran(r, 'broker')) {
    out.push(
      '',
      'kcat ↔ Strata (1 partition; CPU in cores: 1.00 = one core busy for the whole phase;',
      '"other CPU" = other processes + hypervisor steal, "I/O stall" = share of time some task waited on I/O)',
    );
    if (r.warmup.length > 0) {
      const w = r.warmup[0]!;
      out.push(`(after an unmeasured warm-up: ${grouped(w.expectedRecords)} × ${w.recordSize} B produced and consumed)`);
    }
    out.push(...phaseTable(r.phases, r.limits));
  }
  if (r.groups) out.push(...formatGroups(r.groups, r.limits));
  if (r.producerModes) out.push(...formatProducerModes(r.producerModes, r.limits));
  if (r.zeroCopy) out.push(...formatZeroCopy(r.zeroCopy, r.limits));
  if (r.security) out.push(...formatSecurity(r.security, r.limits));
  if (r.tier) out.push(...formatTier(r.tier));
  if (r.recovery) out.push(...formatRecovery(r.recovery));
  if (r.cluster) out.push(...formatCluster(r.cluster));

  out.push('', 'Targets');
  for (const t of evaluateTargets(r)) {
    const verdict = t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'MISS';
    out.push(`  ${verdict}  ${t.name}: ${t.target} — measured ${t.actual}`);
  }
  if (r.broker.stopExitCode !== undefined) out.push('', `broker exit code after SIGTERM: ${r.broker.stopExitCode}`);
  if (r.warnings.length > 0) out.push('', 'Warnings:', ...r.warnings.map((w) => `  - ${w}`));
  if (r.errors.length > 0) {
    out.push('', 'ERRORS (the run is not trustworthy):', ...r.errors.map((e) => `  - ${e}`));
  }
  return out.join('\n') + '\n';
}

/** results + derived ratios and target outcomes, as written to bench/results/latest.json. */
export function writeResultsJson(file: string, r: BenchResults): void {
  const doc = {
    ...r,
    phases: r.phases.map((p) => ({ ...p, ratios: ratiosFor(p, r.limits) })),
    targets: evaluateTargets(r),
    brokerPeakRssBytes: peakRss(r),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
}
