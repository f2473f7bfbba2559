import { spawn, type ChildProcess } from 'child_process';
import { BROKER_NODE_FLAGS } from '../../core/broker/nodeFlags';
import * as fs from 'fs';
import { BROKER_MAIN, CHECKED_ENV, REPO_ROOT, ensureBuilt } from './build';

/**
 * `strata broker` exactly as an operator runs it, for the tests that startBroker cannot express:
 * no standard --listeners/--data-dir flags (a stock server.properties decides them), a lower
 * open-file limit (prlimit --nofile), a broker expected to fail at start. Every process is
 * killed by an afterAll hook registered at import, and by the kernel (setpriv --pdeathsig) if
 * the jest worker dies first.
 */

export interface BrokerCommand {
  readonly pid: number;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** The address of the `listening on PLAINTEXT://HOST:PORT` line (HOST may be empty: every interface). */
  readonly listening: Promise<{ host: string; port: number }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, SIGKILL after 10 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

export interface BrokerCommandOptions {
  /** Soft and hard RLIMIT_NOFILE for the broker (prlimit --nofile=N:N). */
  nofile?: number;
  /** Run as this user id (and its group id equal), without supplementary groups: needs root. */
  uid?: number;
  /** Reject `listening` after this long (the process is killed). Default 20 s. */
  readyTimeoutMs?: number;
}

const LISTENING = /listening on [A-Z0-9_]+:\/\/(\[[^\]]*\]|[^\s:/]*):(\d+)/;
/** Running processes, with the promise of their exit. */
const live = new Map<ChildProcess, Promise<unknown>>();

export async function spawnBrokerCommand(args: string[], opts: BrokerCommandOptions = {}): Promise<BrokerCommand> {
  await ensureBuilt();
  const node = [process.execPath, ...BROKER_NODE_FLAGS, BROKER_MAIN, 'broker', ...args];
  const user = opts.uid === undefined ? [] : [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups'];
  if (user.length > 0 && !fs.existsSync('/usr/bin/setpriv')) throw new Error('running the broker as another user needs /usr/bin/setpriv');
  let argv = fs.existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'SIGKILL', ...user, '--', ...node] : node;
  if (opts.nofile !== undefined) argv = ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, '--', ...argv];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['STRATA_SKIP_BUILD', CHECKED_ENV, 'STRATA_PYTHON', 'STRATA_TEST_BACKEND']) delete env[name];
  const child = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not spawn ${argv.join(' ')}`);
  let text = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  live.set(child, exited);
  const listening = new Promise<{ host: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no listening line within ${opts.readyTimeoutMs ?? 20_000} ms:\n${text}`));
    }, opts.readyTimeoutMs ?? 20_000);
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      const m = LISTENING.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((s) => {
      clearTimeout(timer);
      reject(new Error(`broker exited (code ${s.code}, signal ${s.signal}) before listening:\n${text}`));
    });
  });
  listening.catch(() => undefined);
  return {
    pid: child.pid,
    output: () => text,
    listening,
    exited,
    async stop() {
      if (!live.has(child)) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

if (typeof afterAll === 'function') {
  afterAll(async () => {
    const waits = [...live.values()];
    for (const child of live.keys()) child.kill('SIGKILL');
    await Promise.all(waits);
  });
}
