import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';

/**
 * The broker under test, started exactly as a user would (`node dist/core/cli/main.js broker`),
 * on an ephemeral port with the benchmark's temp data dir. Ready when it prints
 * `listening on PLAINTEXT://host:port`. (test/helpers/broker.ts does the same for tests, with
 * jest-specific cleanup; the benchmark needs only start and stop.)
 */

export interface RunningBroker {
  pid: number;
  bootstrap: string;
  /** SIGTERM, SIGKILL after `timeoutMs`; resolves to the exit code (null if killed by a signal). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** The last 256 KiB the broker printed, for error reports. */
  output(): string;
}

const READY_RE = /listening on PLAINTEXT:\/\/(\[[^\]]*\]|[^\s:/]+):(\d+)/;
const OUTPUT_TAIL_CHARS = 256 * 1024;
const SETPRIV = '/usr/bin/setpriv';

export async function startBenchBroker(
  main: string,
  dataDir: string,
  overrides: Record<string, string>,
  readyTimeoutMs = 20_000,
): Promise<RunningBroker> {
  if (!fs.existsSync(main)) throw new Error(`${main} not found: run \`npm run build\` first`);
  const argv = [main, 'broker', '--data-dir', dataDir, '--listeners', 'PLAINTEXT://127.0.0.1:0'];
  for (const [k, v] of Object.entries(overrides)) argv.push('--override', `${k}=${v}`);
  // setpriv: the kernel kills the broker if the benchmark dies (Ctrl-C, crash), so no broker is
  // ever left running in the background holding a port and a data dir.
  const child: ChildProcess = fs.existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });

  let tail = '';
  let pending = '';
  let bootstrap: string | null = null;
  let onReady: (() => void) | null = null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const onText = (text: string): void => {
    tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
    if (bootstrap !== null) return;
    pending = (pending + text).slice(-64 * 1024);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const m = READY_RE.exec(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (m) {
        bootstrap = `${m[1]}:${m[2]}`;
        onReady?.();
        return;
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onText);
  child.stderr!.setEncoding('utf8').on('data', onText);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`broker printed no listening line within ${readyTimeoutMs} ms; output:\n${tail}`));
    }, readyTimeoutMs);
    onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (code ${code}) before it was ready; output:\n${tail}`));
    });
  });

  return {
    pid: child.pid!,
    bootstrap: bootstrap!,
    output: () => tail,
    async stop(timeoutMs = 15_000): Promise<number | null> {
      if (hasExited) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
