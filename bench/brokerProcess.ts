import { spawn, ChildProcess } from 'child_process';
import { BROKER_NODE_FLAGS } from '../core/broker/nodeFlags';
import * as fs from 'fs';

/**
 * The broker under test, started exactly as a user would (`node dist/core/cli/main.js broker`),
 * on an ephemeral port with the benchmark's temp data dir. Ready when it prints
 * `listening on NAME://host:port[, NAME2://host:port…] (node.id=…`; the first listener is the
 * bootstrap, and every listener's address is in `listeners`. (test/helpers/broker.ts does the
 * same for tests, with jest-specific cleanup; the benchmark needs only start and stop.)
 */

export interface RunningBroker {
  pid: number;
  /** The first listener's host:port. */
  bootstrap: string;
  /** Every listener's host:port by listener name, as the ready line lists them (e.g. PLAINTEXT, SASL_SSL). */
  listeners: Record<string, string>;
  /** SIGTERM, SIGKILL after `timeoutMs`; resolves to the exit code (null if killed by a signal). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** The last 256 KiB the broker printed, for error reports. */
  output(): string;
  /**
   * Calls `listener` with every complete line the broker prints from now on (stdout and stderr,
   * without the newline), in order; returns the unsubscribe function. The consumer-group
   * measurements read the coordinator's state-transition lines this way.
   */
  onLine(listener: (line: string) => void): () => void;
}

const READY_RE = /listening on [A-Z0-9_]+:\/\/(\[[^\]]*\]|[^\s:/]+):(\d+)/;
const LISTENER_RE = /([A-Z0-9_]+):\/\/(\[[^\]]*\]|[^\s:/,]+):(\d+)/g;

/**
 * The listeners a ready line names, by name: `listening on PLAINTEXT://127.0.0.1:35919,
 * SASL_SSL://127.0.0.1:45765 (node.id=0, …, advertised …)` → { PLAINTEXT: '127.0.0.1:35919',
 * SASL_SSL: '127.0.0.1:45765' }. Only the bound addresses before " (": the advertised ones after
 * it may name other hosts. null when the line is not a ready line.
 */
export function listenersOf(line: string): Record<string, string> | null {
  const at = line.indexOf('listening on ');
  if (at < 0 || !READY_RE.test(line)) return null;
  const rest = line.slice(at + 'listening on '.length);
  const bound = rest.split(' (')[0]!;
  const out: Record<string, string> = {};
  for (const m of bound.matchAll(LISTENER_RE)) out[m[1]!] = `${m[2]}:${m[3]}`;
  return out;
}
const OUTPUT_TAIL_CHARS = 256 * 1024;
/** Longest partial line kept while waiting for its newline: broker lines are far shorter. */
const MAX_LINE_CHARS = 64 * 1024;
const SETPRIV = '/usr/bin/setpriv';

export async function startBenchBroker(
  main: string,
  dataDir: string,
  overrides: Record<string, string>,
  readyTimeoutMs = 20_000,
  extra: {
    /** More broker flags, e.g. `--metadata dynamodb://…`, `--object-store s3://…`. */
    args?: string[];
    /** Added to the environment (e.g. the AWS emulators' endpoints and credentials). */
    env?: Record<string, string>;
    /** The listener (default `PLAINTEXT://127.0.0.1:0`, an ephemeral port); a restarted cluster member keeps its port. */
    listeners?: string;
  } = {},
): Promise<RunningBroker> {
  if (!fs.existsSync(main)) throw new Error(`${main} not found: run \`npm run build\` first`);
  const argv = [...BROKER_NODE_FLAGS, main, 'broker', '--data-dir', dataDir, '--listeners', extra.listeners ?? 'PLAINTEXT://127.0.0.1:0', ...(extra.args ?? [])];
  for (const [k, v] of Object.entries(overrides)) argv.push('--override', `${k}=${v}`);
  const spawnOpts = { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extra.env } };
  // setpriv: the kernel kills the broker if the benchmark dies (Ctrl-C, crash), so no broker is
  // ever left running in the background holding a port and a data dir.
  const child: ChildProcess = fs.existsSync(SETPRIV)
    ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...argv], spawnOpts)
    : spawn(process.execPath, argv, spawnOpts);

  let tail = '';
  let bootstrap: string | null = null;
  let listeners: Record<string, string> = {};
  let onReady: (() => void) | null = null;
  const lineListeners = new Set<(line: string) => void>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const onLine = (line: string): void => {
    if (bootstrap === null) {
      const m = READY_RE.exec(line);
      if (m) {
        bootstrap = `${m[1]}:${m[2]}`;
        listeners = listenersOf(line) ?? {};
        onReady?.();
      }
    }
    for (const l of lineListeners) l(line);
  };
  // stdout and stderr are split into lines separately: their chunks interleave arbitrarily.
  const lineSplitter = (): ((text: string) => void) => {
    let pending = '';
    return (text) => {
      tail = (tail + text).slice(-OUTPUT_TAIL_CHARS);
      pending += text;
      let start = 0;
      let nl: number;
      while ((nl = pending.indexOf('\n', start)) >= 0) {
        onLine(pending.slice(start, nl));
        start = nl + 1;
      }
      pending = pending.slice(start).slice(-MAX_LINE_CHARS);
    };
  };
  child.stdout!.setEncoding('utf8').on('data', lineSplitter());
  child.stderr!.setEncoding('utf8').on('data', lineSplitter());

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
    listeners,
    output: () => tail,
    onLine(listener) {
      lineListeners.add(listener);
      return () => lineListeners.delete(listener);
    },
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
