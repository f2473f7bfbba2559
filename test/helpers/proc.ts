import { spawn } from 'child_process';

/**
 * Run an external program (kcat, python3, …) to completion with a hard time limit and a cap on
 * captured output, so a hung or runaway tool fails one test instead of wedging the whole run.
 */

export interface RunOptions {
  /** Written to the program's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** The program is SIGKILLed after this long; the result then has `timedOut: true`. Default 30 s. */
  timeoutMs?: number;
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Cap per stream; past it the program is killed and the run rejects. Default 64 MiB. */
  maxOutputBytes?: number;
  /** Appended to the error when the program is not installed (e.g. the apt-get line). */
  missingHint?: string;
}

export interface RunResult {
  /** Exit code, or null when the program died from a signal (including our timeout kill). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
/** After a kill, how long we wait for the pipes to close before giving up on them. */
const CLOSE_GRACE_MS = 5_000;

export function runProcess(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxOutput = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const started = Date.now();

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });

    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let overflow: string | null = null;
    let settled = false;
    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    let graceTimer: NodeJS.Timeout | undefined;

    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      clearTimeout(graceTimer);
      fn();
    };

    const killTimer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);

    const collect = (sink: Buffer[], which: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const size = which === 'stdout' ? (outBytes += chunk.length) : (errBytes += chunk.length);
      if (size > maxOutput) {
        if (overflow === null) {
          overflow = `${which} exceeded ${maxOutput} bytes`;
          child.kill('SIGKILL');
        }
        return;
      }
      sink.push(chunk);
    };
    child.stdout!.on('data', collect(out, 'stdout'));
    child.stderr!.on('data', collect(err, 'stderr'));

    child.on('error', (e: NodeJS.ErrnoException) => {
      const missing = e.code === 'ENOENT';
      const msg = missing
        ? `${command}: not found${opts.missingHint ? ` — ${opts.missingHint}` : ''}`
        : `${command}: failed to start: ${e.message}`;
      finish(() => reject(new Error(msg, { cause: e })));
    });

    if (opts.input !== undefined && child.stdin) {
      // A program that exits without reading all its input makes the write fail with EPIPE;
      // that is the program's outcome to report, not a reason to crash the test process.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }

    const result = (): RunResult => ({
      code: exitCode,
      signal: exitSignal,
      stdout: Buffer.concat(out),
      stderr: Buffer.concat(err).toString('utf8'),
      timedOut,
      durationMs: Date.now() - started,
    });
    const settle = (): void =>
      finish(() => {
        if (overflow !== null) {
          const r = result();
          reject(new Error(`${command} ${args.join(' ')}: ${overflow}; stderr:\n${r.stderr.slice(-4000)}`));
        } else {
          resolve(result());
        }
      });

    child.on('exit', (code, signal) => {
      exitCode = code;
      exitSignal = signal;
      // A grandchild that inherited the pipes could keep them open forever; don't wait on it.
      graceTimer = setTimeout(settle, CLOSE_GRACE_MS);
    });
    child.on('close', settle);
  });
}

/** A one-paragraph description of a finished run, for assertion messages. */
export function describeRun(what: string, r: RunResult): string {
  const how = r.timedOut
    ? `timed out after ${r.durationMs} ms (killed)`
    : r.signal
      ? `died from ${r.signal}`
      : `exited with code ${r.code}`;
  const stdout = r.stdout.length > 2000 ? `${r.stdout.subarray(0, 2000).toString('utf8')}…` : r.stdout.toString('utf8');
  return `${what} ${how}\n--- stderr ---\n${r.stderr.slice(-4000)}\n--- stdout ---\n${stdout}`;
}
