import { spawn } from 'child_process';
import * as fs from 'fs';
import { StrataClient } from '../core/client/client';
import { IoStallMeter } from './ioPressure';
import type { PhaseResult } from './kcatPhases';
import { MachineCpu, MachineCpuMeter } from './machineCpu';
import { ProcessUsage, UsageSampler } from './rss';
import { MB, median, perSecond, sizeLabel } from './units';

/**
 * What idempotence and transactions cost a producer: the same client (librdkafka 2.0.2 through
 * Debian's python3-confluent-kafka, bench/producerModes.py) producing the same records (count and
 * size, the same file) to a new single-partition topic of the same broker, as
 *
 *   plain          enable.idempotence=false
 *   idempotent     enable.idempotence=true
 *   transactional  transactional.id set; begin_transaction … commit_transaction after every
 *                  `commitIntervalMs` of producing (KIP-98 measured 100 ms transactions)
 *
 * each timed from the first produce to the last delivery report (flush / the last commit), and
 * reported as idempotent ÷ plain and transactional ÷ plain (medians of the rounds). Every mode
 * asks for acks=all, which enable.idempotence imposes; everything else is the client's default or
 * the same for all three (linger.ms 5, batches up to 10,000 records).
 *
 * Round r runs the modes rotated by r (plain, idempotent, transactional; then idempotent,
 * transactional, plain; …), so that over 3 rounds each mode runs once first, once second and once
 * last: neither a warming JIT nor a disk filling with dirty pages can favour one mode.
 *
 * Each run is checked, not only timed: no delivery failed (the script exits 1 otherwise), and
 * afterwards the partition's high watermark is exactly the records plus one marker per committed
 * transaction, with the last stable offset equal to it (nothing left open).
 */

export const PRODUCER_MODES = ['plain', 'idempotent', 'transactional'] as const;
export type ProducerMode = (typeof PRODUCER_MODES)[number];

/** The order of the modes in round `round` (1-based): the list rotated left by round − 1. */
export function modeOrder(round: number): ProducerMode[] {
  const k = (((round - 1) % PRODUCER_MODES.length) + PRODUCER_MODES.length) % PRODUCER_MODES.length;
  return [...PRODUCER_MODES.slice(k), ...PRODUCER_MODES.slice(0, k)];
}

export interface ModeRun {
  mode: ProducerMode;
  round: number;
  /** kind 'produce'; its `client` is the Python process (librdkafka's threads included). */
  phase: PhaseResult;
  /** Transactions committed with at least one record (each wrote one marker); 0 unless transactional. */
  transactions: number;
  /** The longest commit_transaction call, seconds (0 unless transactional). */
  maxCommitSeconds: number;
}

export interface ModeSummary {
  recordsPerSec: number;
  mbPerSec: number;
  /**
   * The broker's CPU time per record (µs), and the client's: what each mode costs either side,
   * which the machine's other load disturbs less than the rates.
   */
  brokerMicrosPerRecord: number;
  clientMicrosPerRecord: number | null;
  /** Valid runs the medians are of. */
  runs: number;
}

export interface ProducerModesResult {
  records: number;
  recordSize: number;
  rounds: number;
  commitIntervalMs: number;
  /** e.g. "confluent-kafka 1.7.0, librdkafka 2.0.2" (null when no run got that far). */
  client: string | null;
  runs: ModeRun[];
  /** Medians per mode over its valid runs; null for a mode without one. */
  modes: Record<ProducerMode, ModeSummary | null>;
  /** idempotent ÷ plain, transactional ÷ plain (records/s medians); null when a side has no valid run. */
  idempotentRatio: number | null;
  transactionalRatio: number | null;
  ok: boolean;
  errors: string[];
}

export interface ProducerModesOptions {
  bootstrap: string;
  brokerPid: number;
  python: string;
  /** bench/producerModes.py */
  script: string;
  /** COUNT records of SIZE bytes, one per line (records.ts). */
  file: string;
  records: number;
  recordSize: number;
  rounds: number;
  commitIntervalMs: number;
  /** Per run; the Python process is killed after it. */
  timeoutMs: number;
  topicPrefix?: string;
  progress?: (message: string) => void;
}

/** Medians per mode and the two ratios, from whatever runs were valid. */
export function summarize(runs: readonly ModeRun[]): Pick<ProducerModesResult, 'modes' | 'idempotentRatio' | 'transactionalRatio'> {
  const modes = {} as Record<ProducerMode, ModeSummary | null>;
  for (const mode of PRODUCER_MODES) {
    const ok = runs.filter((r) => r.mode === mode && r.phase.ok).map((r) => r.phase);
    const rps = median(ok.map((p) => p.recordsPerSec));
    const mbps = median(ok.map((p) => p.mbPerSec));
    const perRecord = (cpuSeconds: number, p: PhaseResult): number => (cpuSeconds / Math.max(p.records, 1)) * 1e6;
    const broker = median(ok.map((p) => perRecord(p.broker.cpuSeconds, p)));
    const client = median(ok.filter((p) => p.client !== null).map((p) => perRecord(p.client!.cpuSeconds, p)));
    modes[mode] =
      rps === null || mbps === null || broker === null
        ? null
        : { recordsPerSec: rps, mbPerSec: mbps, brokerMicrosPerRecord: broker, clientMicrosPerRecord: client, runs: ok.length };
  }
  const ratio = (mode: ProducerMode): number | null => {
    const plain = modes.plain?.recordsPerSec ?? 0;
    const other = modes[mode];
    return plain > 0 && other ? other.recordsPerSec / plain : null;
  };
  return { modes, idempotentRatio: ratio('idempotent'), transactionalRatio: ratio('transactional') };
}

export async function measureProducerModes(opts: ProducerModesOptions): Promise<ProducerModesResult> {
  const result: ProducerModesResult = {
    records: opts.records,
    recordSize: opts.recordSize,
    rounds: opts.rounds,
    commitIntervalMs: opts.commitIntervalMs,
    client: null,
    runs: [],
    ...summarize([]),
    ok: false,
    errors: [],
  };
  const admin = new StrataClient({ bootstrapServers: [opts.bootstrap], clientId: 'bench-admin' });
  const prefix = opts.topicPrefix ?? 'bench-producer';
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const mode of modeOrder(round)) {
        const topic = `${prefix}-${mode}-${round}`;
        opts.progress?.(`produce ${opts.records} × ${sizeLabel(opts.recordSize)}, ${mode} (librdkafka via python3), round ${round} of ${opts.rounds}…`);
        const run = await produceOnce(admin, opts, mode, round, topic);
        result.client ??= run.client;
        result.runs.push(run.run);
        if (!run.run.phase.ok) result.errors.push(`${run.run.phase.name}: ${run.run.phase.error}`);
      }
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
  Object.assign(result, summarize(result.runs));
  result.ok = result.errors.length === 0 && result.idempotentRatio !== null && result.transactionalRatio !== null;
  return result;
}

interface ScriptOutput {
  mode?: string;
  client?: string;
  seconds?: number;
  cpuSeconds?: number;
  records?: number;
  failed?: number;
  transactions?: number;
  maxCommitSeconds?: number;
  error?: string;
}

interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  out: ScriptOutput | null;
  stderr: string;
  /** Broker and machine during the timed part (from the script's "start" line to its result). */
  broker: ProcessUsage;
  machine: MachineCpu | null;
  ioStall: number | null;
  /** Wall seconds of the sampling window (≈ the script's own timing plus a pipe hop each side). */
  windowSeconds: number;
}

const SETPRIV = '/usr/bin/setpriv';
const installHint = (stderr: string): string =>
  /No module named '?confluent_kafka/.test(stderr) ? ' (install the client with `apt-get install -y python3-confluent-kafka`)' : '';

async function produceOnce(
  admin: StrataClient,
  opts: ProducerModesOptions,
  mode: ProducerMode,
  round: number,
  topic: string,
): Promise<{ run: ModeRun; client: string | null }> {
  const name = `produce ${sizeLabel(opts.recordSize)}, ${mode}, round ${round}`;
  const args = [opts.script, opts.bootstrap, topic, mode, opts.file, String(opts.records), String(opts.recordSize), String(opts.commitIntervalMs)];
  const base: PhaseResult = {
    name,
    kind: 'produce',
    topic,
    recordSize: opts.recordSize,
    expectedRecords: opts.records,
    records: 0,
    payloadBytes: 0,
    seconds: 0,
    recordsPerSec: 0,
    mbPerSec: 0,
    broker: { peakRssBytes: 0, endRssBytes: 0, cpuSeconds: 0, cpuCores: 0, samples: 0 },
    client: null,
    ioStall: null,
    otherCpu: null,
    ok: false,
    command: [opts.python, ...args],
  };
  const failed = (error: string): { run: ModeRun; client: string | null } => ({
    run: { mode, round, phase: { ...base, error }, transactions: 0, maxCommitSeconds: 0 },
    client: null,
  });
  try {
    // Created beforehand, so that no mode's timing includes creating its topic.
    await admin.createTopics([{ name: topic, numPartitions: 1, replicationFactor: 1 }]);
  } catch (e) {
    return failed(`creating topic ${topic}: ${(e as Error).message}`);
  }
  let s: ScriptRun;
  try {
    s = await runScript(opts.python, args, opts.brokerPid, opts.timeoutMs);
  } catch (e) {
    return failed((e as Error).message);
  }
  const o = s.out;
  const phase: PhaseResult = { ...base, broker: s.broker, ioStall: s.ioStall };
  let error: string | undefined;
  if (s.timedOut) error = `python3 timed out after ${opts.timeoutMs} ms (killed)`;
  else if (o?.error !== undefined) error = o.error;
  else if (s.code !== 0) error = `python3 exited ${s.signal ?? `with code ${s.code}`}: ${s.stderr.trim().slice(-2000)}${installHint(s.stderr)}`;
  else if (o === null || typeof o.seconds !== 'number' || typeof o.cpuSeconds !== 'number') error = `python3 printed no result: ${s.stderr.trim().slice(-2000)}`;
  else if (o.records !== opts.records) error = `${o.records} of ${opts.records} records delivered`;
  const transactions = o?.transactions ?? 0;
  if (error === undefined) error = await checkPartition(admin, topic, opts.records, transactions);
  if (o && typeof o.seconds === 'number' && typeof o.cpuSeconds === 'number') {
    phase.seconds = o.seconds;
    phase.client = { cpuSeconds: o.cpuSeconds, cpuCores: o.seconds > 0 ? o.cpuSeconds / o.seconds : 0 };
    if (s.machine) {
      const clientCores = s.windowSeconds > 0 ? o.cpuSeconds / s.windowSeconds : 0;
      phase.otherCpu = { otherCores: Math.max(0, s.machine.busyCores - s.broker.cpuCores - clientCores), stealCores: s.machine.stealCores };
    }
  }
  if (error === undefined) {
    phase.ok = true;
    phase.records = opts.records;
    phase.payloadBytes = opts.records * opts.recordSize;
    phase.recordsPerSec = perSecond(opts.records, phase.seconds);
    phase.mbPerSec = perSecond(phase.payloadBytes, phase.seconds) / MB;
  } else {
    phase.error = error;
  }
  return { run: { mode, round, phase, transactions, maxCommitSeconds: o?.maxCommitSeconds ?? 0 }, client: o?.client ?? null };
}

/**
 * What the partition must hold after a valid run: every record once and one marker per committed
 * transaction (high watermark), and nothing unstable (last stable offset = high watermark).
 */
async function checkPartition(admin: StrataClient, topic: string, records: number, transactions: number): Promise<string | undefined> {
  try {
    const hw = (await admin.listOffsets(topic, 0, -1n)).offset;
    const lso = (await admin.listOffsets(topic, 0, -1n, { isolationLevel: 1 })).offset;
    const expected = BigInt(records + transactions);
    const markers = transactions > 0 ? ` + ${transactions} transaction markers` : '';
    if (hw !== expected) return `the partition ends at offset ${hw}, expected ${expected} (${records} records${markers})`;
    if (lso !== hw) return `the last stable offset is ${lso}, below the high watermark ${hw}: a transaction was left open`;
    return undefined;
  } catch (e) {
    return `checking ${topic}: ${(e as Error).message}`;
  }
}

/**
 * Runs the script (under a parent-death signal, so Ctrl-C or a timeout leaves no producer
 * behind), sampling the broker from the script's "start" line to its result line.
 */
function runScript(python: string, args: string[], brokerPid: number, timeoutMs: number): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(python)) {
      reject(new Error(`${python} not found: install Debian's client with \`apt-get install -y python3 python3-confluent-kafka\``));
      return;
    }
    const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
    const env = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' };
    const child = fs.existsSync(SETPRIV)
      ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', python, ...args], { stdio, env })
      : spawn(python, args, { stdio, env });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let window: { sampler: UsageSampler; io: IoStallMeter; cpu: MachineCpuMeter; started: bigint } | null = null;
    let ended: Pick<ScriptRun, 'broker' | 'machine' | 'ioStall' | 'windowSeconds'> | null = null;
    const endWindow = (): void => {
      if (window === null || ended !== null) return;
      ended = {
        broker: window.sampler.stop(),
        ioStall: window.io.stop(),
        machine: window.cpu.stop(),
        windowSeconds: Number(process.hrtime.bigint() - window.started) / 1e9,
      };
    };
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
      if (window === null && /^start$/m.test(stdout)) {
        window = { sampler: new UsageSampler(brokerPid), io: new IoStallMeter(), cpu: new MachineCpuMeter(), started: process.hrtime.bigint() };
      }
      // The result is the line after "start": the timed part is over once it begins to arrive.
      if (window !== null && /^start\n[^\n]/m.test(stdout)) endWindow();
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-16 * 1024)));
    child.on('error', (e) => {
      clearTimeout(timer);
      endWindow();
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      endWindow();
      const e = ended as Pick<ScriptRun, 'broker' | 'machine' | 'ioStall' | 'windowSeconds'> | null;
      resolve({
        code,
        signal,
        timedOut,
        out: lastJson(stdout),
        stderr,
        broker: e?.broker ?? { peakRssBytes: 0, endRssBytes: 0, cpuSeconds: 0, cpuCores: 0, samples: 0 },
        machine: e?.machine ?? null,
        ioStall: e?.ioStall ?? null,
        windowSeconds: e?.windowSeconds ?? 0,
      });
    });
  });
}

/** The last line of `text` that parses as a JSON object, or null. */
export function lastJson(text: string): ScriptOutput | null {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v: unknown = JSON.parse(lines[i]!);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as ScriptOutput;
    } catch {
      // not JSON: keep looking
    }
  }
  return null;
}
