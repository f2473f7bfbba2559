import { spawn } from 'child_process';
import * as fs from 'fs';
import { IoStallMeter } from './ioPressure';
import { MachineCpu, MachineCpuMeter } from './machineCpu';
import { UsageSampler, ProcessUsage } from './rss';
import { MB, perSecond, secondsSince } from './units';

/**
 * The timed client phases: kcat (librdkafka, C), the fastest stock Kafka client available here,
 * against the broker. Its CPU time is measured too: on 2 cores kcat can itself be the limit (it
 * is, for producing small records), and the report must say so rather than blame the broker.
 * Produce reads a pre-generated file (`-l`); consume reads the same
 * records back from offset 0 to the end of the partition (`-e`) and every record is checked —
 * offsets contiguous from 0, payload size exact, count exact — because a benchmark that quietly
 * measured an error path (or half the data) would be worse than none.
 */

/** librdkafka producer settings: acks=1, small linger, big in-flight queue (kcat blocks when it is full). */
export const PRODUCE_PROPS: Record<string, string> = {
  acks: '1',
  'linger.ms': '5',
  'batch.num.messages': '10000',
  'queue.buffering.max.messages': '1000000',
  'queue.buffering.max.kbytes': '1048576',
};

/**
 * Consumer settings for throughput, each because the default measures librdkafka, not the broker:
 * - queued.min.messages (default 100,000): librdkafka stops fetching whenever that many records
 *   wait in its local queue and resumes only on a later wake-up; with 100-byte records that
 *   stop-and-go left both processes mostly idle (2M records took 1.2–3.2 s at ~0.1 broker cores;
 *   with 1,000,000 it is a steady ~0.9 s).
 * - fetch.message.max.bytes 4 MiB (Kafka's max.partition.fetch.bytes, default 1 MiB): fewer,
 *   larger fetches for a single partition.
 * - fetch.wait.max.ms: `-e` learns it has reached the end only from a fetch that comes back
 *   empty, which a broker rightly holds for up to this long (default 500 ms): idle time at the
 *   tail that says nothing about throughput. While data flows every fetch is answered at once.
 *   (Timing the last record instead doesn't work: kcat's piped stdout is block-buffered.)
 */
export const CONSUME_PROPS: Record<string, string> = {
  'queued.min.messages': '1000000',
  'fetch.message.max.bytes': String(4 * 1024 * 1024),
  'fetch.wait.max.ms': '10',
};

export interface PhaseResult {
  name: string;
  kind: 'produce' | 'consume';
  topic: string;
  recordSize: number;
  /** Records the phase was meant to move. */
  expectedRecords: number;
  /** Records verified (consume) or acknowledged (produce: all or nothing, kcat exits 1 on any failed delivery). */
  records: number;
  /** Payload bytes moved (records × recordSize; no keys, no protocol overhead). */
  payloadBytes: number;
  /** kcat start → kcat exit: for produce, until the last delivery report; for consume, until end of partition. */
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  broker: ProcessUsage;
  /** kcat's CPU: 1.0 cores = kcat kept one core busy, i.e. the client was the limit. */
  client: { cpuSeconds: number; cpuCores: number } | null;
  /** Share of the phase during which some task waited on I/O (Linux PSI); null where unavailable. */
  ioStall: number | null;
  /**
   * CPU (in cores) used by everything except the broker and kcat — other builds and tests on a
   * shared machine — and taken by the hypervisor (steal). Either one high means the phase had
   * less machine than it seemed to. It includes this benchmark process itself (reading and
   * checking kcat's output while consuming: a few % of a core). null where /proc/stat is unreadable.
   */
  otherCpu: { otherCores: number; stealCores: number } | null;
  ok: boolean;
  error?: string;
  command: string[];
}

export interface KcatRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stderr: string;
  seconds: number;
  /** kcat's own CPU time (user + system), when it could be measured. */
  cpuSeconds: number | null;
}

const SETPRIV = '/usr/bin/setpriv';
const HAVE_SETPRIV = fs.existsSync(SETPRIV);
/**
 * Node can't tell how much CPU a finished child used, but a shell can: POSIX `times` prints the
 * user and system time of the shell's terminated children. kcat runs under that shell, and both
 * carry a parent-death SIGKILL so that killing the shell (timeout) or the benchmark (Ctrl-C)
 * takes kcat down too.
 */
const TIMES_WRAPPER = `${SETPRIV} --pdeathsig SIGKILL -- kcat "$@"; rc=$?; printf '\\n' >&2; times >&2; exit $rc`;
const TIMES_RE = /\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/;

/** Spawn kcat, stream its stdout into `onStdout`, kill it at `timeoutMs`. stderr keeps its last 16 KiB. */
export function runKcat(args: string[], timeoutMs: number, onStdout?: (chunk: Buffer) => void): Promise<KcatRun> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const stdio: ['ignore', 'pipe' | 'ignore', 'pipe'] = ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'];
    const child = HAVE_SETPRIV
      ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', '/bin/sh', '-c', TIMES_WRAPPER, 'sh', ...args], { stdio })
      : spawn('kcat', args, { stdio });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-16 * 1024)));
    if (onStdout) child.stdout!.on('data', onStdout);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new Error('kcat not found: install it with `apt-get install -y kcat`') : e);
    });
    // 'close' rather than 'exit': all of stdout must have been seen before the count is final.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = secondsSince(start);
      let cpuSeconds: number | null = null;
      const m = TIMES_RE.exec(stderr);
      if (m) {
        // Second line: the children's user and system time.
        cpuSeconds = Number(m[5]) * 60 + Number(m[6]) + Number(m[7]) * 60 + Number(m[8]);
        stderr = stderr.slice(0, m.index);
      }
      resolve({ code, signal, timedOut, stderr, seconds, cpuSeconds });
    });
  });
}

function otherCpu(machine: MachineCpu | null, broker: ProcessUsage, run: KcatRun): PhaseResult['otherCpu'] {
  if (!machine) return null;
  const kcatCores = run.cpuSeconds === null ? 0 : run.cpuSeconds / run.seconds;
  return { otherCores: Math.max(0, machine.busyCores - broker.cpuCores - kcatCores), stealCores: machine.stealCores };
}

function clientUsage(run: KcatRun): PhaseResult['client'] {
  return run.cpuSeconds === null ? null : { cpuSeconds: run.cpuSeconds, cpuCores: run.cpuSeconds / run.seconds };
}

function failure(run: KcatRun, timeoutMs: number): string | undefined {
  if (run.timedOut) return `kcat timed out after ${timeoutMs} ms (killed)`;
  if (run.code !== 0) return `kcat exited ${run.signal ?? `with code ${run.code}`}: ${run.stderr.trim().slice(-2000)}`;
  return undefined;
}

function result(
  base: Omit<PhaseResult, 'recordsPerSec' | 'mbPerSec' | 'payloadBytes'>,
): PhaseResult {
  const payloadBytes = base.records * base.recordSize;
  return {
    ...base,
    payloadBytes,
    recordsPerSec: base.ok ? perSecond(base.records, base.seconds) : 0,
    mbPerSec: base.ok ? perSecond(payloadBytes, base.seconds) / MB : 0,
  };
}

export function propArgs(props: Record<string, string>): string[] {
  return Object.entries(props).flatMap(([k, v]) => ['-X', `${k}=${v}`]);
}

/** The command as recorded in the results: a `sasl.password` is replaced by `***` (latest.json is kept around). */
export function recordedCommand(command: string[]): string[] {
  return ['kcat', ...command.map((a) => a.replace(/^(sasl\.password=).*/s, '$1***'))];
}

export async function producePhase(opts: {
  name: string;
  bootstrap: string;
  topic: string;
  file: string;
  records: number;
  recordSize: number;
  brokerPid: number;
  timeoutMs: number;
  /** More librdkafka properties (`-X`), e.g. security.protocol and the SASL and TLS settings. */
  clientProps?: Record<string, string>;
}): Promise<PhaseResult> {
  const command = ['-P', '-b', opts.bootstrap, '-t', opts.topic, '-p', '0', ...propArgs(PRODUCE_PROPS), ...propArgs(opts.clientProps ?? {}), '-l', opts.file];
  const sampler = new UsageSampler(opts.brokerPid);
  const io = new IoStallMeter();
  const cpu = new MachineCpuMeter();
  const run = await runKcat(command, opts.timeoutMs).finally(() => sampler.stop());
  const usage = sampler.stop();
  const ioStall = io.stop();
  const machine = cpu.stop();
  const error = failure(run, opts.timeoutMs);
  return result({
    name: opts.name,
    kind: 'produce',
    topic: opts.topic,
    recordSize: opts.recordSize,
    expectedRecords: opts.records,
    records: error ? 0 : opts.records,
    seconds: run.seconds,
    broker: usage,
    client: clientUsage(run),
    ioStall,
    otherCpu: otherCpu(machine, usage, run),
    ok: error === undefined,
    error,
    command: recordedCommand(command),
  });
}

/**
 * Checks kcat's `%o %S\n` output (offset, payload length) as it streams, in constant memory:
 * offsets must run firstOffset (0 unless told), +1, +2, … and every payload must have the
 * expected length.
 */
export class ConsumeVerifier {
  count = 0;
  firstError: string | undefined;
  private partial = '';

  constructor(
    private readonly recordSize: number,
    private readonly firstOffset = 0,
  ) {}

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('latin1');
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.partial = text.slice(start);
    // A line is ~20 characters; anything longer is not kcat's format and must not grow unbounded.
    if (this.partial.length > 1024) {
      this.firstError ??= `unexpected output from kcat: ${JSON.stringify(this.partial.slice(0, 80))}…`;
      this.partial = '';
    }
  }

  end(): void {
    if (this.partial !== '') this.firstError ??= `truncated last line from kcat: ${JSON.stringify(this.partial)}`;
    this.partial = '';
  }

  private line(line: string): void {
    const sp = line.indexOf(' ');
    const offset = line.slice(0, sp);
    const size = line.slice(sp + 1);
    if (this.firstError === undefined) {
      const expected = String(this.firstOffset + this.count);
      if (sp < 0 || offset !== expected) {
        this.firstError = `record #${this.count} has offset ${JSON.stringify(offset)}, expected ${expected}`;
      } else if (size !== String(this.recordSize)) {
        this.firstError = `record at offset ${offset} has ${size} payload bytes, expected ${this.recordSize}`;
      }
    }
    this.count++;
  }
}

/**
 * The kcat consumer command. Plain (`-C -p 0 -o 0`): librdkafka's legacy consumer reads
 * partition 0 directly from offset 0 (the benchmark's topics are new, so 0 is the beginning).
 * With a group id (`-G`): librdkafka's KafkaConsumer joins the group, is assigned the topic's
 * partitions by the coordinator and starts at the group's committed offsets
 * (`auto.offset.reset=earliest` where there are none). `-e` exits once every partition read
 * reached its end (with `-G`, kcat then commits and leaves the group). Same fetch settings and
 * output format either way.
 *
 * Absolute or committed offsets, never `-o beginning`: for a logical offset librdkafka 2.0.2
 * first sends ListOffsets, sometimes before its broker thread has taken the partition over, and
 * then retries only after a fixed 500 ms ("no current leader for partition: (re)starting offset
 * query timer"). That client-side race hit about one consume run in ten (plain or group): half a
 * second of idle time in a phase of a second or less.
 */
export function consumeCommand(bootstrap: string, topic: string, groupId?: string, fromOffset = 0, clientProps: Record<string, string> = {}): string[] {
  const common = ['-e', ...propArgs(CONSUME_PROPS), ...propArgs(clientProps), '-f', '%o %S\\n'];
  return groupId === undefined
    ? ['-C', '-b', bootstrap, '-t', topic, '-p', '0', '-o', String(fromOffset), ...common]
    : ['-b', bootstrap, '-G', groupId, '-X', 'auto.offset.reset=earliest', ...common, topic];
}

export async function consumePhase(opts: {
  name: string;
  bootstrap: string;
  topic: string;
  records: number;
  recordSize: number;
  brokerPid: number;
  timeoutMs: number;
  /**
   * Consume as a member of this consumer group instead of reading partition 0 directly, from the
   * group's committed offsets (commit offset 0 first to read everything; see consumeCommand).
   */
  groupId?: string;
  /** Plain consumption only: start at this absolute offset instead of 0 (`records` then counts from it). */
  fromOffset?: number;
  /** More librdkafka properties (`-X`), e.g. security.protocol and the SASL and TLS settings. */
  clientProps?: Record<string, string>;
}): Promise<PhaseResult> {
  const command = consumeCommand(opts.bootstrap, opts.topic, opts.groupId, opts.fromOffset, opts.clientProps);
  const verifier = new ConsumeVerifier(opts.recordSize, opts.groupId === undefined ? (opts.fromOffset ?? 0) : 0);
  const sampler = new UsageSampler(opts.brokerPid);
  const io = new IoStallMeter();
  const cpu = new MachineCpuMeter();
  const run = await runKcat(command, opts.timeoutMs, (chunk) => verifier.push(chunk)).finally(() => sampler.stop());
  const usage = sampler.stop();
  const ioStall = io.stop();
  const machine = cpu.stop();
  verifier.end();
  let error = failure(run, opts.timeoutMs) ?? verifier.firstError;
  if (error === undefined && verifier.count !== opts.records) {
    error = `consumed ${verifier.count} records, expected exactly ${opts.records}`;
  }
  return result({
    name: opts.name,
    kind: 'consume',
    topic: opts.topic,
    recordSize: opts.recordSize,
    expectedRecords: opts.records,
    records: verifier.count,
    seconds: run.seconds,
    broker: usage,
    client: clientUsage(run),
    ioStall,
    otherCpu: otherCpu(machine, usage, run),
    ok: error === undefined,
    error,
    command: recordedCommand(command),
  });
}
