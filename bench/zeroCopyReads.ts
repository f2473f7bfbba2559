import * as fs from 'fs';
import * as path from 'path';
import { ZERO_COPY_ENV } from '../core/net/zeroCopy';
import { RunningBroker, startBenchBroker } from './brokerProcess';
import { consumePhase, PhaseResult, producePhase } from './kcatPhases';
import { readMemory, UsageSampler } from './rss';
import { openStalledFetches, StalledConnectionState, StalledFetches } from './stalledFetches';
import { MB, median, sizeLabel } from './units';

/**
 * Fetch responses sent with sendfile(2) vs through a buffer: the same records, read by the same
 * kcat consumer, from two brokers that differ only in STRATA_ZERO_COPY (unset/1: sendfile through
 * the native addon; 0: segment bytes read into memory in chunks and written). For each record size:
 *
 * - a broker on a fresh data dir per send path, in turn (never both at once); its start line
 *   must name the path asked for — a sendfile broker that fell back to the buffer (addon not
 *   built) is an error, not a quiet comparison of the buffered path with itself;
 * - the record file produced once (kcat, as the kcat phases) into a new 1-partition topic;
 * - an unmeasured warm-up read of the topic's last tenth (the broker's fetch path is new to its JIT);
 * - `rounds` reads of the whole topic (`kcat -C -p 0 -o 0 -e`, verified record by record):
 *   throughput, the broker's CPU (utime + stime) and its peak RSS (sampled every 100 ms) during each;
 * - for the workloads marked `slowConsumers` (a topic of at least 60 MiB), each round is followed
 *   by the same read while `connections` raw connections each hold one Fetch of `maxBytes` from
 *   offset 0 that they never read (stalledFetches.ts): the broker must keep serving the normal
 *   consumer (read ÷ the rounds' read without them) with bounded memory (its peak RSS from
 *   before the connections open until the read ends).
 *
 * CPU per MB is the broker's CPU seconds over all valid rounds ÷ the MB they moved (/proc counts
 * CPU in 10 ms ticks: summing keeps a sub-second round's rounding small).
 */

export const SEND_PATHS = ['sendfile', 'buffered'] as const;
export type SendPath = (typeof SEND_PATHS)[number];

/** What each broker gets in its environment: the sendfile one says so explicitly, so an inherited STRATA_ZERO_COPY=0 cannot turn it off. */
export const SEND_PATH_ENV: Record<SendPath, Record<string, string>> = {
  sendfile: { [ZERO_COPY_ENV]: '1' },
  buffered: { [ZERO_COPY_ENV]: '0' },
};

const START_LINE_RE = /fetch responses are sent (with sendfile\(2\)|through a buffer)[^\n]*/g;

/** The send path the broker's start line announces (the last such line in `output`), or null when there is none. */
export function sendPathOf(output: string): { path: SendPath; line: string } | null {
  let last: RegExpExecArray | null = null;
  for (const m of output.matchAll(START_LINE_RE)) last = m;
  if (!last) return null;
  return { path: last[1]!.startsWith('with sendfile') ? 'sendfile' : 'buffered', line: last[0] };
}

export interface ZeroCopyWorkloadSpec {
  size: number;
  count: number;
  /** Run the slow-consumer rounds on this workload's topic (it must hold at least 60 MiB). */
  slowConsumers: boolean;
}

export interface ConsumeSummary {
  /** Medians over the valid rounds. */
  mbPerSec: number;
  recordsPerSec: number;
  /** Broker CPU seconds over all valid rounds ÷ MB moved by them. */
  brokerCpuSecondsPerMb: number;
  /** The highest broker RSS sampled during any valid round. */
  peakRssBytes: number;
  runs: number;
}

export interface SlowConsumerRound {
  /** The kcat read done while the stalled fetches were held. */
  phase: PhaseResult;
  /** The kernel's queues of every stalled connection once they had stalled, before the read. */
  stalled: StalledConnectionState[];
  /** How long the responses took to fill the socket buffers and stall. */
  stallMs: number;
  /** Connections still established, with their queues unchanged, after the read. */
  stillStalled: number;
  /** The broker's peak RSS from before the connections were opened until the read ended. */
  peakRssBytes: number;
}

export interface SlowConsumerResult {
  connections: number;
  maxBytes: number;
  rounds: SlowConsumerRound[];
  /** Median MB/s of the valid reads with the stalled fetches held. */
  mbPerSec: number | null;
  /** With ÷ without (the same broker's normal rounds, medians). */
  ratio: number | null;
  /** Highest broker RSS over every slow-consumer round. */
  peakRssBytes: number | null;
  /** Median over the rounds of the response bytes held in kernel socket buffers (both ends, all connections). */
  kernelQueuedBytes: number | null;
}

export interface ZeroCopyRun {
  path: SendPath;
  recordSize: number;
  records: number;
  topic: string;
  /** The broker's line saying how it sends fetch responses. */
  startLine: string | null;
  produce: PhaseResult | null;
  warmup: PhaseResult | null;
  consumes: PhaseResult[];
  summary: ConsumeSummary | null;
  slow: SlowConsumerResult | null;
  /** VmHWM before the broker stopped (the produce included). */
  brokerHwmBytes: number | null;
  stopExitCode: number | null | undefined;
}

export interface ZeroCopyWorkload {
  recordSize: number;
  records: number;
  slowConsumers: boolean;
  sendfile: ZeroCopyRun | null;
  buffered: ZeroCopyRun | null;
  /** sendfile ÷ buffered, median MB/s. */
  throughputRatio: number | null;
  /** sendfile ÷ buffered, broker CPU seconds per MB. */
  cpuPerMbRatio: number | null;
}

export interface ZeroCopyResult {
  rounds: number;
  slowConsumers: { connections: number; maxBytes: number };
  workloads: ZeroCopyWorkload[];
  ok: boolean;
  errors: string[];
}

export interface ZeroCopyOptions {
  /** The benchmark's temp dir: each broker's data dir goes under it. */
  workDir: string;
  /** dist/core/cli/main.js */
  brokerMain: string;
  overrides: Record<string, string>;
  /** Record files (kcat -P -l), one per workload, same order. */
  workloads: Array<ZeroCopyWorkloadSpec & { file: string }>;
  rounds: number;
  slowConsumers: { connections: number; maxBytes: number };
  /** Per kcat run, by its record count and size. */
  timeoutMs: (records: number, recordSize: number) => number;
  /** Called before each broker starts (e.g. waiting for the disk to go quiet). */
  beforeBroker?: (what: string) => Promise<void>;
  progress?: (message: string) => void;
}

/** The smallest topic the slow-consumer rounds accept: every stalled response must be a full `maxBytes`, with room to spare. */
export const SLOW_CONSUMER_MIN_TOPIC_BYTES = 60 * 1024 * 1024;

/** Medians, CPU per MB and peak RSS of the valid reads; null when none is valid. */
export function summarizeConsumes(phases: readonly PhaseResult[]): ConsumeSummary | null {
  const ok = phases.filter((p) => p.ok);
  if (ok.length === 0) return null;
  const mb = ok.reduce((n, p) => n + p.payloadBytes, 0) / MB;
  const cpu = ok.reduce((n, p) => n + p.broker.cpuSeconds, 0);
  return {
    mbPerSec: median(ok.map((p) => p.mbPerSec))!,
    recordsPerSec: median(ok.map((p) => p.recordsPerSec))!,
    brokerCpuSecondsPerMb: mb > 0 ? cpu / mb : 0,
    peakRssBytes: Math.max(...ok.map((p) => p.broker.peakRssBytes)),
    runs: ok.length,
  };
}

/** sendfile ÷ buffered for throughput and CPU per MB; null where either side is missing (or the divisor is 0). */
export function compareSendPaths(
  sendfile: ConsumeSummary | null,
  buffered: ConsumeSummary | null,
): { throughputRatio: number | null; cpuPerMbRatio: number | null } {
  if (!sendfile || !buffered) return { throughputRatio: null, cpuPerMbRatio: null };
  return {
    throughputRatio: buffered.mbPerSec > 0 ? sendfile.mbPerSec / buffered.mbPerSec : null,
    cpuPerMbRatio: buffered.brokerCpuSecondsPerMb > 0 ? sendfile.brokerCpuSecondsPerMb / buffered.brokerCpuSecondsPerMb : null,
  };
}

/** The slow-consumer figures from its rounds and the same broker's normal reads. */
export function summarizeSlowConsumers(
  spec: { connections: number; maxBytes: number },
  rounds: SlowConsumerRound[],
  without: ConsumeSummary | null,
): SlowConsumerResult {
  const valid = rounds.filter((r) => r.phase.ok && r.stillStalled === spec.connections);
  const mbPerSec = median(valid.map((r) => r.phase.mbPerSec));
  return {
    connections: spec.connections,
    maxBytes: spec.maxBytes,
    rounds,
    mbPerSec,
    ratio: mbPerSec !== null && without && without.mbPerSec > 0 ? mbPerSec / without.mbPerSec : null,
    peakRssBytes: rounds.length ? Math.max(...rounds.map((r) => r.peakRssBytes)) : null,
    kernelQueuedBytes: median(rounds.map((r) => r.stalled.reduce((n, c) => n + c.clientRx + c.brokerTx, 0))),
  };
}

function hostPort(bootstrap: string): { host: string; port: number } {
  const colon = bootstrap.lastIndexOf(':');
  return { host: bootstrap.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(bootstrap.slice(colon + 1)) };
}

/** One read of the topic with `connections` stalled fetches held meanwhile. */
async function slowConsumerRound(
  broker: RunningBroker,
  run: ZeroCopyRun,
  opts: ZeroCopyOptions,
  round: number,
): Promise<SlowConsumerRound> {
  const { connections, maxBytes } = opts.slowConsumers;
  const sampler = new UsageSampler(broker.pid);
  let fetches: StalledFetches | null = null;
  try {
    const { host, port } = hostPort(broker.bootstrap);
    const opened = await openStalledFetches({
      host,
      port,
      topic: run.topic,
      partition: 0,
      connections,
      maxBytes,
      partitionMaxBytes: maxBytes,
      timeoutMs: 15_000,
    });
    fetches = opened.fetches;
    const phase = await consumePhase({
      name: `consume ${sizeLabel(run.recordSize)}, ${run.path}, ${connections} stalled fetches #${round}`,
      bootstrap: broker.bootstrap,
      topic: run.topic,
      records: run.records,
      recordSize: run.recordSize,
      brokerPid: broker.pid,
      timeoutMs: opts.timeoutMs(run.records, run.recordSize),
    });
    const peak = sampler.stop().peakRssBytes;
    const after = fetches.states();
    const stillStalled = after.filter((c, i) => {
      const before = opened.stalled[i]!;
      return c.established && c.clientRx === before.clientRx && c.brokerTx === before.brokerTx;
    }).length;
    return { phase, stalled: opened.stalled, stallMs: opened.waitedMs, stillStalled, peakRssBytes: peak };
  } finally {
    sampler.stop();
    await fetches?.close();
  }
}

async function runOnBroker(spec: ZeroCopyWorkloadSpec & { file: string }, sendPath: SendPath, opts: ZeroCopyOptions, errors: string[]): Promise<ZeroCopyRun> {
  const progress = opts.progress ?? (() => undefined);
  const label = `${sizeLabel(spec.size)}, ${sendPath}`;
  const run: ZeroCopyRun = {
    path: sendPath,
    recordSize: spec.size,
    records: spec.count,
    topic: `bench-zero-copy-${spec.size}`,
    startLine: null,
    produce: null,
    warmup: null,
    consumes: [],
    summary: null,
    slow: null,
    brokerHwmBytes: null,
    stopExitCode: undefined,
  };
  const fail = (what: string): void => void errors.push(`zero-copy ${label}: ${what}`);
  const slowRounds: SlowConsumerRound[] = [];
  let broker: RunningBroker | null = null;
  try {
    await opts.beforeBroker?.(`before the zero-copy ${label} broker`);
    const dataDir = path.join(opts.workDir, `data-zero-copy-${spec.size}-${sendPath}`);
    fs.mkdirSync(dataDir, { recursive: true });
    progress(`zero-copy: starting a ${sendPath} broker for ${sizeLabel(spec.size)} records…`);
    broker = await startBenchBroker(opts.brokerMain, dataDir, opts.overrides, 30_000, { env: SEND_PATH_ENV[sendPath] });
    const announced = sendPathOf(broker.output());
    run.startLine = announced?.line ?? null;
    if (announced?.path !== sendPath) {
      throw new Error(
        announced
          ? `the broker, started with ${ZERO_COPY_ENV}=${SEND_PATH_ENV[sendPath][ZERO_COPY_ENV]}, says "${announced.line}": not the ${sendPath} path`
          : `the broker never said how it sends fetch responses (no "fetch responses are sent …" line)`,
      );
    }

    const common = { bootstrap: broker.bootstrap, topic: run.topic, recordSize: spec.size, brokerPid: broker.pid, timeoutMs: opts.timeoutMs(spec.count, spec.size) };
    progress(`zero-copy: produce ${spec.count} × ${sizeLabel(spec.size)} to the ${sendPath} broker…`);
    run.produce = await producePhase({ ...common, name: `produce ${label}`, file: spec.file, records: spec.count });
    if (!run.produce.ok) throw new Error(`produce: ${run.produce.error}`);

    const from = spec.count - Math.ceil(spec.count / 10);
    run.warmup = await consumePhase({ ...common, name: `warm-up ${label}`, fromOffset: from, records: spec.count - from });
    if (!run.warmup.ok) throw new Error(`warm-up read: ${run.warmup.error}`);

    if (spec.slowConsumers && spec.count * spec.size < SLOW_CONSUMER_MIN_TOPIC_BYTES) {
      fail(`the slow-consumer rounds need a topic of at least ${sizeLabel(SLOW_CONSUMER_MIN_TOPIC_BYTES)}, this one holds ${spec.count * spec.size} bytes: skipped`);
    }
    const slow = spec.slowConsumers && spec.count * spec.size >= SLOW_CONSUMER_MIN_TOPIC_BYTES;
    for (let round = 1; round <= opts.rounds; round++) {
      progress(`zero-copy: ${label}: read ${round}/${opts.rounds}…`);
      const c = await consumePhase({ ...common, name: `consume ${label} #${round}`, records: spec.count });
      run.consumes.push(c);
      if (!c.ok) fail(`${c.name}: ${c.error}`);
      if (!slow) continue;
      progress(`zero-copy: ${label}: read ${round}/${opts.rounds} with ${opts.slowConsumers.connections} stalled fetches…`);
      try {
        const s = await slowConsumerRound(broker, run, opts, round);
        slowRounds.push(s);
        if (!s.phase.ok) fail(`${s.phase.name}: ${s.phase.error}`);
        else if (s.stillStalled !== opts.slowConsumers.connections) {
          fail(`${s.phase.name}: only ${s.stillStalled} of the ${opts.slowConsumers.connections} stalled fetches were still held (established, queues unchanged) after the read`);
        }
      } catch (e) {
        fail(`slow consumers, round ${round}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    fail((e as Error).message);
  } finally {
    if (broker) {
      run.brokerHwmBytes = readMemory(broker.pid)?.hwmBytes ?? null;
      progress(`zero-copy: stopping the ${sendPath} broker…`);
      run.stopExitCode = await broker.stop();
      if (run.stopExitCode !== 0) fail(`broker exited with ${run.stopExitCode} after SIGTERM; its last output:\n${broker.output().slice(-3000)}`);
    }
  }
  run.summary = summarizeConsumes(run.consumes);
  if (spec.slowConsumers && slowRounds.length > 0) run.slow = summarizeSlowConsumers(opts.slowConsumers, slowRounds, run.summary);
  return run;
}

export async function measureZeroCopy(opts: ZeroCopyOptions): Promise<ZeroCopyResult> {
  const result: ZeroCopyResult = { rounds: opts.rounds, slowConsumers: opts.slowConsumers, workloads: [], ok: false, errors: [] };
  for (const spec of opts.workloads) {
    const w: ZeroCopyWorkload = {
      recordSize: spec.size,
      records: spec.count,
      slowConsumers: spec.slowConsumers,
      sendfile: null,
      buffered: null,
      throughputRatio: null,
      cpuPerMbRatio: null,
    };
    result.workloads.push(w);
    for (const sendPath of SEND_PATHS) w[sendPath] = await runOnBroker(spec, sendPath, opts, result.errors);
    Object.assign(w, compareSendPaths(w.sendfile?.summary ?? null, w.buffered?.summary ?? null));
  }
  result.ok = result.errors.length === 0 && result.workloads.every((w) => w.throughputRatio !== null);
  return result;
}
