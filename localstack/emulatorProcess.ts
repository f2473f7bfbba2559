import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * One emulator process run by localstack/emulators.mjs (`--only dynamodb` or `--only s3`), for
 * the tests (test/helpers/emulators.ts) and the bench (bench/emulators.ts): ready once it prints
 * `# ready`, with the `export NAME=value` lines it printed before that.
 *
 * The process runs under `setpriv --pdeathsig SIGKILL` where setpriv exists, so it dies with
 * whoever started it, even on a crash or Ctrl-C. `--openssl-legacy-provider` up front (s3rver's
 * ListObjectsV2 paging needs it) spares the launcher its re-exec: one process, and the pid is
 * the one serving.
 */
export interface EmulatorProcess {
  child: ChildProcess;
  /** The launcher's `export NAME=value` lines (AWS_ENDPOINT_URL_S3, credentials, region, …). */
  exports: Record<string, string>;
  exited: Promise<void>;
  /** The tail of what it printed (stdout and stderr). */
  output(): string;
}

export interface LaunchEmulatorOptions {
  /** The repository root (localstack/emulators.mjs and node_modules live there). */
  root: string;
  /** Kill it and fail if `# ready` has not appeared by then. */
  readyTimeoutMs: number;
  /** Called with the child as soon as it is spawned (for callers that track their children). */
  onSpawn?: (child: ChildProcess) => void;
}

const SETPRIV = '/usr/bin/setpriv';
const OUTPUT_TAIL_CHARS = 256 * 1024;
const STOP_TIMEOUT_MS = 10_000;

/** The launcher's `export NAME=value` lines, up to and including `# ready`; null until ready. */
export function parseLauncherOutput(text: string): Record<string, string> | null {
  const exports: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) exports[m[1]!] = m[2]!;
    if (line === '# ready') return exports;
  }
  return null;
}

export function launchEmulator(args: string[], opts: LaunchEmulatorOptions): Promise<EmulatorProcess> {
  const launcher = path.join(opts.root, 'localstack', 'emulators.mjs');
  if (!fs.existsSync(launcher)) return Promise.reject(new Error(`${launcher} not found`));
  const nodeArgs = ['--openssl-legacy-provider', launcher, ...args];
  const [command, commandArgs] = fs.existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, commandArgs, { cwd: opts.root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  opts.onSpawn?.(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  const append = (t: string): void => {
    out = (out + t).slice(-OUTPUT_TAIL_CHARS);
  };
  const output = (): string => out;
  const describe = `node ${nodeArgs.join(' ')}`;
  child.stderr!.setEncoding('utf8').on('data', append);
  return new Promise<EmulatorProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`emulator did not print '# ready' within ${opts.readyTimeoutMs} ms (${describe}):\n${out}`));
    }, opts.readyTimeoutMs);
    let stdout = '';
    let ready = false;
    child.stdout!.setEncoding('utf8').on('data', (t: string) => {
      append(t);
      if (ready) return; // keep draining: a full pipe would block the emulator
      stdout += t;
      const exports = parseLauncherOutput(stdout);
      if (exports) {
        ready = true;
        stdout = '';
        clearTimeout(timer);
        resolve({ child, exports, exited, output });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`emulator exited before it was ready (${describe}); is \`npm ci\` done (dynalite, s3rver)?\n${out}`));
    });
  });
}

/** SIGTERM, SIGKILL after 10 s; resolves once it has exited. Nothing to do for null or an exited process. */
export async function stopEmulator(e: EmulatorProcess | null): Promise<void> {
  if (!e || e.child.exitCode !== null || e.child.signalCode !== null) return;
  e.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_TIMEOUT_MS)));
  if ((await Promise.race([e.exited, late])) === 'late') e.child.kill('SIGKILL');
  clearTimeout(timer);
  await e.exited;
}
