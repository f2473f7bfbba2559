import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PartitionLog } from '../core/log/partitionLog';
import { CLEAN_SHUTDOWN_FILE, parseProducerSnapshotFileName, producerSnapshotFileName } from '../core/log/segmentFiles';
import { BuiltLog, logConfigFor, producerStateOf, RecoveryLogSpec, stateKey } from './recoveryLog';
import { median, secondsSince } from './units';

/**
 * How long a partition log takes to open — recovery included — with and without producer-state
 * snapshots (core/log/producerState.ts: `<offset>.snapshot`, taken at every segment roll and on
 * a clean close). The log (recoveryLog.ts) is written by a child process that then dies by
 * SIGKILL, and opened here with PartitionLog.open, three ways:
 *
 *   crash         no clean-shutdown marker, newest snapshot at the last roll: the active segment
 *                 is checked batch by batch (CRC) and its batches replayed into the producer state
 *   clean         after close(): the marker and a snapshot at the log end; nothing is replayed
 *   no snapshots  clean shutdown, but every *.snapshot moved away: the whole log is replayed
 *
 * and each open must recover exactly the producer state the writer had (producers with their last
 * five batches, epochs, open transactions; log end and last stable offset) — a recovery that is
 * fast because it lost state would be worse than a slow one.
 *
 * Round 1 opens the crashed directory as the writer left it. Later rounds recreate that state from
 * the clean one by removing what only a clean close writes (the marker and the snapshot at the log
 * end); the active segment's indexes are rebuilt in crash mode either way. The stashed snapshots
 * of the "no snapshots" case are put back after it. Files are in the page cache throughout (the
 * writer just wrote them): these are restart-after-a-process-crash numbers, not after a reboot.
 */

export const RECOVERY_CASES = ['clean', 'crash', 'noSnapshots'] as const;
export type RecoveryCase = (typeof RECOVERY_CASES)[number];

export interface RecoveryOpen {
  case: RecoveryCase;
  round: number;
  /** PartitionLog.open, wall time. */
  seconds: number;
  /** Bytes this process read(2) during the open (/proc/self/io rchar; page-cache hits included). */
  readBytes: number | null;
  /** From the log's "producer state rebuilt" line; 0 when it printed none (nothing replayed). */
  replayedBatches: number | null;
  producers: number;
  /** Snapshot files in the directory when the open started. */
  snapshots: number;
  /** The recovered producer state equals the writer's. */
  sameState: boolean;
  /** Round 1's crash: the directory exactly as the killed writer left it. */
  genuineCrash: boolean;
}

export interface RecoveryCaseSummary {
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  /** Of the opens of this case (equal in every round unless something is wrong). */
  replayedBatches: number | null;
  medianReadBytes: number | null;
  producers: number;
  opens: number;
}

export interface RecoveryResult {
  spec: RecoveryLogSpec;
  rounds: number;
  /** The log as written (null when the writer failed). */
  log: Omit<BuiltLog, 'state' | 'stateKey'> & { producers: number; ongoingTxns: number } | null;
  opens: RecoveryOpen[];
  cases: Record<RecoveryCase, RecoveryCaseSummary | null>;
  ok: boolean;
  errors: string[];
}

export interface RecoveryOptions {
  /** A directory of its own is made in it (and removed at the end). */
  workDir: string;
  /** dist/bench/recoveryLog.js: the writer, run as a child process. */
  writer: string;
  spec: RecoveryLogSpec;
  rounds: number;
  /** For writing the log. */
  timeoutMs: number;
  progress?: (message: string) => void;
}

const SETPRIV = '/usr/bin/setpriv';
const REBUILT_RE = /producer state rebuilt from offset \d+(?: \(snapshot\))?: (\d+) batch\(es\) replayed/;

/** Bytes read by this process so far (rchar), or null where /proc/self/io is unreadable. */
function readChars(): number | null {
  try {
    const m = /^rchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function snapshotFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => parseProducerSnapshotFileName(n) !== null);
}

/** Medians per case over the opens that recovered the right state. */
export function summarizeRecovery(opens: readonly RecoveryOpen[]): Record<RecoveryCase, RecoveryCaseSummary | null> {
  const out = {} as Record<RecoveryCase, RecoveryCaseSummary | null>;
  for (const c of RECOVERY_CASES) {
    const ok = opens.filter((o) => o.case === c && o.sameState);
    const secs = ok.map((o) => o.seconds);
    const reads = ok.map((o) => o.readBytes).filter((b): b is number => b !== null);
    out[c] =
      ok.length === 0
        ? null
        : {
            medianSeconds: median(secs)!,
            minSeconds: Math.min(...secs),
            maxSeconds: Math.max(...secs),
            replayedBatches: ok[0]!.replayedBatches,
            medianReadBytes: median(reads),
            producers: ok[0]!.producers,
            opens: ok.length,
          };
  }
  return out;
}

export async function measureRecovery(opts: RecoveryOptions): Promise<RecoveryResult> {
  const result: RecoveryResult = {
    spec: opts.spec,
    rounds: opts.rounds,
    log: null,
    opens: [],
    cases: summarizeRecovery([]),
    ok: false,
    errors: [],
  };
  const base = fs.mkdtempSync(path.join(opts.workDir, 'recovery-'));
  const dir = path.join(base, 'partition-0');
  const stash = path.join(base, 'snapshots-aside');
  try {
    opts.progress?.(`recovery: writing a ${(opts.spec.targetBytes / 2 ** 20).toFixed(0)} MiB partition log (segment.bytes ${(opts.spec.segmentBytes / 2 ** 20).toFixed(0)} MiB) in a child process that then crashes…`);
    const built = await writeCrashedLog(opts.writer, dir, opts.spec, path.join(base, 'written.json'), opts.timeoutMs);
    const { state: _state, stateKey: expected, ...shape } = built;
    result.log = { ...shape, producers: built.state.producers.length, ongoingTxns: built.state.ongoingTxns.length };

    for (let round = 1; round <= opts.rounds; round++) {
      // crash: round 1 as the writer left it; later rounds the clean state minus what close() adds.
      if (round > 1) {
        const leo = BigInt(built.state.logEndOffset);
        fs.rmSync(path.join(dir, CLEAN_SHUTDOWN_FILE));
        fs.rmSync(path.join(dir, producerSnapshotFileName(leo)));
      }
      opts.progress?.(`recovery round ${round} of ${opts.rounds}: open after a crash, after a clean shutdown, without snapshots…`);
      result.opens.push(openOnce(dir, opts.spec, 'crash', round, expected));
      result.opens.push(openOnce(dir, opts.spec, 'clean', round, expected));
      fs.mkdirSync(stash, { recursive: true });
      for (const f of snapshotFiles(dir)) fs.renameSync(path.join(dir, f), path.join(stash, f));
      result.opens.push(openOnce(dir, opts.spec, 'noSnapshots', round, expected));
      // Put the roll snapshots back (the one at the log end, which close() just wrote again, too).
      for (const f of fs.readdirSync(stash)) fs.renameSync(path.join(stash, f), path.join(dir, f));
    }
    for (const o of result.opens) {
      if (!o.sameState) result.errors.push(`recovery ${o.case}, round ${o.round}: the recovered producer state differs from the one written`);
    }
    const crashes = new Set(result.opens.filter((o) => o.case === 'crash').map((o) => o.replayedBatches));
    if (crashes.size > 1) result.errors.push(`recovery: crash opens replayed different batch counts (${[...crashes].join(', ')}): the recreated crash is not the real one`);
  } catch (e) {
    result.errors.push(`recovery: ${(e as Error).message}`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
  result.cases = summarizeRecovery(result.opens);
  result.ok = result.errors.length === 0 && RECOVERY_CASES.every((c) => result.cases[c] !== null);
  return result;
}

/** Opens the log (timed), compares its producer state with the writer's, closes it (a clean shutdown). */
function openOnce(dir: string, spec: RecoveryLogSpec, c: RecoveryCase, round: number, expected: string): RecoveryOpen {
  const lines: string[] = [];
  const snapshots = snapshotFiles(dir).length;
  const genuineCrash = c === 'crash' && round === 1;
  const read0 = readChars();
  const t0 = process.hrtime.bigint();
  const log = PartitionLog.open(dir, logConfigFor(spec.segmentBytes), { logger: (m) => lines.push(m) });
  const seconds = secondsSince(t0);
  const read1 = readChars();
  try {
    const rebuilt = lines.map((l) => REBUILT_RE.exec(l)).find((m) => m !== null);
    return {
      case: c,
      round,
      seconds,
      readBytes: read0 === null || read1 === null ? null : read1 - read0,
      replayedBatches: rebuilt ? Number(rebuilt[1]) : 0,
      producers: log.producerState.size,
      snapshots,
      sameState: stateKey(producerStateOf(log)) === expected,
      genuineCrash,
    };
  } finally {
    log.close();
  }
}

/** Runs the writer; resolves once it died by SIGKILL (its crash) having written `stateFile`. */
function writeCrashedLog(writer: string, dir: string, spec: RecoveryLogSpec, stateFile: string, timeoutMs: number): Promise<BuiltLog> {
  if (!fs.existsSync(writer)) return Promise.reject(new Error(`${writer} not found: run \`npm run build\` first`));
  return new Promise((resolve, reject) => {
    // setpriv: the writer dies with the benchmark (Ctrl-C). It execs node: the pid, and so the
    // SIGKILL the writer sends itself, stay the same.
    const argv = [process.execPath, writer, dir, JSON.stringify(spec), stateFile];
    const stdio: ['ignore', 'ignore', 'pipe'] = ['ignore', 'ignore', 'pipe'];
    const child = fs.existsSync(SETPRIV) ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', ...argv], { stdio }) : spawn(argv[0]!, argv.slice(1), { stdio });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr = (stderr + t).slice(-8000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return reject(new Error(`writing the log took over ${timeoutMs} ms (killed)`));
      if (signal !== 'SIGKILL' || !fs.existsSync(stateFile)) {
        return reject(new Error(`the log writer exited ${signal ?? `with code ${code}`} instead of crashing after its work: ${stderr.trim()}`));
      }
      try {
        resolve(JSON.parse(fs.readFileSync(stateFile, 'utf8')) as BuiltLog);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
