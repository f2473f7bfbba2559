import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tls from 'tls';
import { RunningBroker, startBenchBroker } from './brokerProcess';
import { BenchCerts, makeBenchCerts } from './certs';
import { consumePhase, PhaseResult, producePhase, runKcat } from './kcatPhases';
import { readMemory } from './rss';
import { sendPathOf } from './zeroCopyReads';
import { MB, median, sizeLabel } from './units';

/**
 * Produce and consume over SASL_SSL as a ratio to PLAINTEXT: one broker with both listeners, the
 * same kcat (librdkafka) with the same settings on each, in the same run.
 *
 * - The broker gets `PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0`, SCRAM-SHA-512 and a
 *   certificate made here with openssl (certs.ts); a SCRAM user with a random password is created
 *   over the PLAINTEXT listener with `strata configs --alter --entity-type users`, and the run
 *   waits until kcat can fetch metadata over SASL_SSL with it.
 * - An unmeasured warm-up: a small file produced to a topic and read back over each listener
 *   (the TLS path, SCRAM and the fetch path are new to the broker's JIT).
 * - `rounds` rounds, each: the record file produced over each listener into a new 1-partition
 *   topic, then the same records read over each listener (`kcat -C -p 0 -o 0 -e`, verified
 *   record by record) from one topic, the first one produced. The listener that goes first
 *   alternates from round to round (ABBA), so a trend in the machine's load (writeback, other
 *   jobs) falls on both sides alike.
 *
 * The two fetch paths differ by more than encryption: on PLAINTEXT the broker sends segment bytes
 * with sendfile(2) (if the native addon is built: the broker's start line says which), while a TLS
 * connection always reads them into memory, encrypts them and writes the ciphertext. Hence the
 * broker's CPU per MB, beside the MB/s: kcat (librdkafka, checking every record) can set the pace
 * on the plaintext side while the broker sets it on the TLS side.
 */

export const PROTOCOLS = ['PLAINTEXT', 'SASL_SSL'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** The mechanism the SASL_SSL listener offers and the client uses: AWS Lambda's Kafka poller's default. */
export const SASL_MECHANISM = 'SCRAM-SHA-512';
export const SECURITY_LISTENERS = PROTOCOLS.map((p) => `${p}://127.0.0.1:0`).join(',');

export interface SecurityUser {
  name: string;
  password: string;
}

/** The broker configs that turn the SASL_SSL listener on (Kafka's names). */
export function securityOverrides(certs: BenchCerts): Record<string, string> {
  return {
    'sasl.enabled.mechanisms': SASL_MECHANISM,
    'ssl.keystore.location': certs.serverPem,
    'ssl.truststore.location': certs.caCert,
  };
}

/** librdkafka's settings per listener: nothing for PLAINTEXT, SASL/SCRAM over TLS for SASL_SSL. */
export function clientProps(protocol: Protocol, certs: BenchCerts, user: SecurityUser): Record<string, string> {
  if (protocol === 'PLAINTEXT') return {};
  return {
    'security.protocol': 'SASL_SSL',
    'sasl.mechanisms': SASL_MECHANISM,
    'sasl.username': user.name,
    'sasl.password': user.password,
    'ssl.ca.location': certs.caCert,
  };
}

/** The listener that goes first in `round` (1-based): PLAINTEXT, SASL_SSL, SASL_SSL, PLAINTEXT, … */
export function roundOrder(round: number): Protocol[] {
  return round % 2 === 1 ? ['PLAINTEXT', 'SASL_SSL'] : ['SASL_SSL', 'PLAINTEXT'];
}

export interface SecurityRun {
  protocol: Protocol;
  round: number;
  phase: PhaseResult;
}

export interface SecuritySummary {
  /** Medians over the valid runs. */
  mbPerSec: number;
  recordsPerSec: number;
  /** CPU seconds over all valid runs ÷ MB moved by them (sums, not a median of per-run ratios: /proc counts in 10 ms ticks). */
  brokerCpuSecondsPerMb: number;
  clientCpuSecondsPerMb: number | null;
  /** The highest broker RSS sampled during a valid run. */
  peakRssBytes: number;
  runs: number;
}

export interface ProtocolSummary {
  produce: SecuritySummary | null;
  consume: SecuritySummary | null;
}

export interface SecurityRatios {
  /** SASL_SSL ÷ PLAINTEXT, median MB/s; null where a side has no valid run. */
  produceRatio: number | null;
  consumeRatio: number | null;
  /** SASL_SSL ÷ PLAINTEXT, the broker's CPU seconds per MB. */
  produceCpuPerMbRatio: number | null;
  consumeCpuPerMbRatio: number | null;
}

export interface SecurityResult extends SecurityRatios {
  recordSize: number;
  records: number;
  rounds: number;
  mechanism: string;
  /** host:port of each listener, from the broker's ready line. */
  listeners: Record<string, string> | null;
  /** The broker's line on how it sends fetch responses (what the PLAINTEXT listener uses). */
  sendPathLine: string | null;
  /** The TLS version and cipher the SASL_SSL listener negotiated with a Node client (OpenSSL's defaults, as librdkafka's). */
  tls: { version: string; cipher: string } | null;
  /** The SCRAM user's creation (configs CLI) → first metadata fetched over SASL_SSL, ms. */
  userReadyMs: number | null;
  warmup: PhaseResult[];
  runs: SecurityRun[];
  summary: Record<Protocol, ProtocolSummary>;
  /** VmHWM before the broker stopped. */
  brokerHwmBytes: number | null;
  stopExitCode: number | null | undefined;
  ok: boolean;
  errors: string[];
}

export interface SecurityOptions {
  /** The benchmark's temp dir: the data dir and the certificates go under it. */
  workDir: string;
  /** dist/core/cli/main.js */
  brokerMain: string;
  overrides: Record<string, string>;
  /** kcat -P -l input: `records` × `recordSize`. */
  file: string;
  records: number;
  recordSize: number;
  /** A smaller file of the same record size for the warm-up. */
  warmupFile: string;
  warmupRecords: number;
  rounds: number;
  /** Per kcat run, by its record count and size. */
  timeoutMs: (records: number, recordSize: number) => number;
  /** Called before the broker starts (e.g. waiting for the disk to go quiet). */
  beforeBroker?: (what: string) => Promise<void>;
  progress?: (message: string) => void;
}

/** Medians of the valid runs, CPU per MB over all of them; null when none is valid. */
export function summarizeRuns(phases: readonly PhaseResult[]): SecuritySummary | null {
  const ok = phases.filter((p) => p.ok);
  if (ok.length === 0) return null;
  const mb = ok.reduce((n, p) => n + p.payloadBytes, 0) / MB;
  const perMb = (seconds: number): number => (mb > 0 ? seconds / mb : 0);
  const withClient = ok.every((p) => p.client !== null);
  return {
    mbPerSec: median(ok.map((p) => p.mbPerSec))!,
    recordsPerSec: median(ok.map((p) => p.recordsPerSec))!,
    brokerCpuSecondsPerMb: perMb(ok.reduce((n, p) => n + p.broker.cpuSeconds, 0)),
    clientCpuSecondsPerMb: withClient ? perMb(ok.reduce((n, p) => n + p.client!.cpuSeconds, 0)) : null,
    peakRssBytes: Math.max(...ok.map((p) => p.broker.peakRssBytes)),
    runs: ok.length,
  };
}

/** Per listener and direction, the summaries of the runs. */
export function summarizeSecurity(runs: readonly SecurityRun[]): Record<Protocol, ProtocolSummary> {
  const of = (protocol: Protocol, kind: 'produce' | 'consume'): SecuritySummary | null =>
    summarizeRuns(runs.filter((r) => r.protocol === protocol && r.phase.kind === kind).map((r) => r.phase));
  return {
    PLAINTEXT: { produce: of('PLAINTEXT', 'produce'), consume: of('PLAINTEXT', 'consume') },
    SASL_SSL: { produce: of('SASL_SSL', 'produce'), consume: of('SASL_SSL', 'consume') },
  };
}

/** SASL_SSL ÷ PLAINTEXT; null where either side is missing or the divisor is 0. */
export function compareProtocols(s: Record<Protocol, ProtocolSummary>): SecurityRatios {
  const ratio = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined || b <= 0 ? null : a / b);
  return {
    produceRatio: ratio(s.SASL_SSL.produce?.mbPerSec, s.PLAINTEXT.produce?.mbPerSec),
    consumeRatio: ratio(s.SASL_SSL.consume?.mbPerSec, s.PLAINTEXT.consume?.mbPerSec),
    produceCpuPerMbRatio: ratio(s.SASL_SSL.produce?.brokerCpuSecondsPerMb, s.PLAINTEXT.produce?.brokerCpuSecondsPerMb),
    consumeCpuPerMbRatio: ratio(s.SASL_SSL.consume?.brokerCpuSecondsPerMb, s.PLAINTEXT.consume?.brokerCpuSecondsPerMb),
  };
}

/**
 * SASL_SSL ÷ PLAINTEXT MB/s within each round (the two runs of a round are adjacent in time), per
 * direction, in round order; null for a round where a side has no valid run. For judging the
 * spread: on a shared machine one run of a pair can fall into a burst of other load.
 */
export function roundRatios(runs: readonly SecurityRun[], kind: 'produce' | 'consume'): Array<number | null> {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  return rounds.map((round) => {
    const rate = (p: Protocol): number | undefined => runs.find((r) => r.round === round && r.protocol === p && r.phase.kind === kind && r.phase.ok)?.phase.mbPerSec;
    const tls = rate('SASL_SSL');
    const plain = rate('PLAINTEXT');
    return tls === undefined || plain === undefined || plain <= 0 ? null : tls / plain;
  });
}

/** `strata configs --alter --entity-type users … --add-config 'SCRAM-SHA-512=[password=…]'` against the PLAINTEXT listener. */
function createUser(brokerMain: string, bootstrap: string, user: SecurityUser): Promise<void> {
  const args = [brokerMain, 'configs', '--bootstrap-server', bootstrap, '--alter', '--entity-type', 'users', '--entity-name', user.name, '--add-config', `${SASL_MECHANISM}=[password=${user.password}]`];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`strata configs --alter --entity-type users failed: ${(stderr || stdout || err.message).trim().slice(-2000)}`));
      else resolve();
    });
  });
}

/** Until kcat fetches metadata over SASL_SSL with the user (the credential is in the store, the TLS and SASL paths work). */
async function waitForSaslSsl(bootstrap: string, props: Record<string, string>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const args = ['-L', '-b', bootstrap, '-m', '5', ...Object.entries(props).flatMap(([k, v]) => ['-X', `${k}=${v}`])];
  let last = '';
  while (Date.now() < deadline) {
    const run = await runKcat(args, 10_000);
    if (run.code === 0 && !run.timedOut) return;
    last = run.timedOut ? 'kcat -L timed out' : run.stderr.trim().slice(-1000);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`kcat could not fetch metadata over SASL_SSL with the new SCRAM user within ${timeoutMs} ms: ${last}`);
}

/** The TLS version and cipher suite the listener agrees on with a Node client trusting `caCert`. */
function tlsSession(bootstrap: string, caCert: string): Promise<{ version: string; cipher: string }> {
  const colon = bootstrap.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: bootstrap.slice(0, colon), port: Number(bootstrap.slice(colon + 1)), ca: fs.readFileSync(caCert) }, () => {
      const out = { version: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher()?.standardName ?? 'unknown' };
      socket.destroy();
      resolve(out);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no TLS handshake within 10 s')));
    socket.once('error', reject);
  });
}

export async function measureSecurity(opts: SecurityOptions): Promise<SecurityResult> {
  const progress = opts.progress ?? (() => undefined);
  const result: SecurityResult = {
    recordSize: opts.recordSize,
    records: opts.records,
    rounds: opts.rounds,
    mechanism: SASL_MECHANISM,
    listeners: null,
    sendPathLine: null,
    tls: null,
    userReadyMs: null,
    warmup: [],
    runs: [],
    summary: summarizeSecurity([]),
    produceRatio: null,
    consumeRatio: null,
    produceCpuPerMbRatio: null,
    consumeCpuPerMbRatio: null,
    brokerHwmBytes: null,
    stopExitCode: undefined,
    ok: false,
    errors: [],
  };
  const fail = (what: string): void => void result.errors.push(`security: ${what}`);
  const size = sizeLabel(opts.recordSize);
  let broker: RunningBroker | null = null;
  try {
    const certs = makeBenchCerts(path.join(opts.workDir, 'security-certs'));
    // Random per run: the broker is the benchmark's own, but the password goes through argv.
    const user: SecurityUser = { name: 'bench', password: crypto.randomBytes(12).toString('hex') };
    await opts.beforeBroker?.('before the security broker');
    const dataDir = path.join(opts.workDir, 'data-security');
    fs.mkdirSync(dataDir, { recursive: true });
    progress(`security: starting a broker with ${SECURITY_LISTENERS}…`);
    broker = await startBenchBroker(opts.brokerMain, dataDir, { ...opts.overrides, ...securityOverrides(certs) }, 30_000, { listeners: SECURITY_LISTENERS });
    result.listeners = broker.listeners;
    result.sendPathLine = sendPathOf(broker.output())?.line ?? null;
    const missing = PROTOCOLS.filter((p) => !broker!.listeners[p]);
    if (missing.length > 0) throw new Error(`the broker's ready line names no ${missing.join(' or ')} listener: ${JSON.stringify(broker.listeners)}`);
    const at = (p: Protocol): string => broker!.listeners[p]!;

    progress(`security: creating the ${SASL_MECHANISM} user over PLAINTEXT…`);
    const created = process.hrtime.bigint();
    await createUser(opts.brokerMain, at('PLAINTEXT'), user);
    await waitForSaslSsl(at('SASL_SSL'), clientProps('SASL_SSL', certs, user), 30_000);
    result.userReadyMs = Number(process.hrtime.bigint() - created) / 1e6;
    result.tls = await tlsSession(at('SASL_SSL'), certs.caCert);

    const common = (p: Protocol): { bootstrap: string; recordSize: number; brokerPid: number; clientProps: Record<string, string> } => ({
      bootstrap: at(p),
      recordSize: opts.recordSize,
      brokerPid: broker!.pid,
      clientProps: clientProps(p, certs, user),
    });
    for (const p of PROTOCOLS) {
      const topic = `bench-security-warmup-${p.toLowerCase()}`;
      const timeoutMs = opts.timeoutMs(opts.warmupRecords, opts.recordSize);
      progress(`security: warm-up over ${p}…`);
      const w = await producePhase({ ...common(p), name: `warm-up produce ${size}, ${p}`, topic, file: opts.warmupFile, records: opts.warmupRecords, timeoutMs });
      result.warmup.push(w);
      if (!w.ok) throw new Error(`${w.name}: ${w.error}`);
      const c = await consumePhase({ ...common(p), name: `warm-up consume ${size}, ${p}`, topic, records: opts.warmupRecords, timeoutMs });
      result.warmup.push(c);
      if (!c.ok) throw new Error(`${c.name}: ${c.error}`);
    }

    const timeoutMs = opts.timeoutMs(opts.records, opts.recordSize);
    let source: string | null = null;
    for (let round = 1; round <= opts.rounds; round++) {
      for (const p of roundOrder(round)) {
        const topic = `bench-security-${p.toLowerCase()}-${round}`;
        progress(`security: round ${round}/${opts.rounds}: produce ${opts.records} × ${size} over ${p}…`);
        const phase = await producePhase({ ...common(p), name: `produce ${size}, ${p} #${round}`, topic, file: opts.file, records: opts.records, timeoutMs });
        result.runs.push({ protocol: p, round, phase });
        if (!phase.ok) fail(`${phase.name}: ${phase.error}`);
        else source ??= topic;
      }
      if (source === null) continue; // nothing to read yet
      for (const p of roundOrder(round)) {
        progress(`security: round ${round}/${opts.rounds}: consume ${opts.records} × ${size} over ${p}…`);
        const phase = await consumePhase({ ...common(p), name: `consume ${size}, ${p} #${round}`, topic: source, records: opts.records, timeoutMs });
        result.runs.push({ protocol: p, round, phase });
        if (!phase.ok) fail(`${phase.name}: ${phase.error}`);
      }
    }
  } catch (e) {
    fail((e as Error).message);
  } finally {
    if (broker) {
      result.brokerHwmBytes = readMemory(broker.pid)?.hwmBytes ?? null;
      progress('security: stopping the broker…');
      result.stopExitCode = await broker.stop();
      if (result.stopExitCode !== 0) fail(`broker exited with ${result.stopExitCode} after SIGTERM; its last output:\n${broker.output().slice(-3000)}`);
    }
  }
  result.summary = summarizeSecurity(result.runs);
  Object.assign(result, compareProtocols(result.summary));
  result.ok = result.errors.length === 0 && result.produceRatio !== null && result.consumeRatio !== null;
  return result;
}
