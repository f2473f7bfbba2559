/**
 * `strata cluster` end to end: the built CLI starts its broker processes on loopback, prints the
 * bootstrap line first on stdout, and stops every broker on SIGTERM (or when one of them fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { BROKER_MAIN, REPO_ROOT, ensureBuilt } from '../helpers/build';
import { runProcess } from '../helpers/proc';
import { waitFor } from '../helpers/waitFor';

jest.setTimeout(120_000);

/** Longer than the command's own bounds (60 s to start, 30 s to stop), so it reports first. */
const READY_WAIT_MS = 75_000;
const EXIT_WAIT_MS = 45_000;

interface ClusterRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Pids of the brokers, from the command's `started broker i (pid N)` lines. */
  brokerPids(): number[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: ClusterRun[] = [];
const holders: net.Server[] = [];
let tmp: string;

beforeAll(async () => {
  await ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cluster-'));
});

afterAll(async () => {
  // Whatever a failed test left behind: the command gets SIGTERM (it stops its brokers), then
  // anything still alive — the command or a broker of it — is killed.
  for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
  await Promise.all(runs.map((r) => within(r.exited, EXIT_WAIT_MS).catch(() => r.child.kill('SIGKILL'))));
  for (const r of runs) for (const pid of r.brokerPids()) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(holders.map((s) => new Promise((resolve) => s.close(resolve))));
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function startCluster(args: string[]): ClusterRun {
  const child = spawn(process.execPath, [BROKER_MAIN, 'cluster', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const run: ClusterRun = {
    child,
    stdout: () => out,
    stderr: () => err,
    brokerPids: () => [...err.matchAll(/\[cluster\] started broker \d+ \(pid (\d+)\)/g)].map((m) => Number(m[1])),
    exited,
  };
  runs.push(run);
  return run;
}

/** Resolves with the first stdout line; rejects if the command exits first or takes too long. */
function firstLine(run: ClusterRun): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const nl = run.stdout().indexOf('\n');
        if (nl >= 0) resolve(run.stdout().slice(0, nl));
      };
      run.child.stdout!.on('data', check);
      check();
      void run.exited.then((s) => reject(new Error(`strata cluster exited (code ${s.code}, signal ${s.signal}) before printing a line:\n${run.stderr()}`)));
    }),
    READY_WAIT_MS,
    () => `no stdout line from strata cluster within ${READY_WAIT_MS} ms:\n${run.stderr()}`,
  );
}

function within<T>(p: Promise<T>, ms: number, what: () => string = () => `timed out after ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)));
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (s: net.Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

/** A base port P such that P..P+n-1 were all free on 127.0.0.1 a moment ago. */
async function consecutiveFreePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await listen(0);
    const base = (first.address() as net.AddressInfo).port;
    const held = [first];
    try {
      for (let i = 1; i < n; i++) held.push(await listen(base + i));
      return base;
    } catch {
      // base+i is taken (or past 65535): try another base
    } finally {
      await Promise.all(held.map(close));
    }
  }
  throw new Error(`found no ${n} consecutive free ports on 127.0.0.1`);
}

test('starts two brokers, prints the bootstrap line first, and stops them all on SIGTERM', async () => {
  const base = await consecutiveFreePorts(2);
  const run = startCluster(['--brokers', '2', '--base-port', String(base), '--data-dir', path.join(tmp, 'ok')]);

  expect(await firstLine(run)).toBe(`bootstrap: 127.0.0.1:${base},127.0.0.1:${base + 1}`);
  // Written to stderr before the bootstrap line went to stdout; the two pipes may deliver in either order.
  const listening = [0, 1].map((i) => new RegExp(`^\\[broker ${i}\\] .*listening on PLAINTEXT://127\\.0\\.0\\.1:${base + i} `, 'm'));
  await waitFor(() => run.brokerPids().length === 2 && listening.every((re) => re.test(run.stderr())), {
    timeoutMs: 10_000,
    message: 'the started and listening lines of both brokers on stderr',
  });
  const pids = run.brokerPids();

  // Each broker answers on its own port (ApiVersions handshake, then DescribeCluster).
  for (const i of [0, 1]) {
    const client = new StrataClient({ bootstrapServers: [`127.0.0.1:${base + i}`], connectTimeoutMs: 10_000, requestTimeoutMs: 10_000, retries: 0 });
    try {
      const cluster = await client.describeCluster();
      expect(cluster.clusterId).toBeTruthy();
      expect(cluster.brokers).toContainEqual(expect.objectContaining({ nodeId: i, host: '127.0.0.1', port: base + i }));
    } finally {
      await client.close();
    }
  }

  run.child.kill('SIGTERM');
  const status = await within(run.exited, EXIT_WAIT_MS, () => `strata cluster did not exit within ${EXIT_WAIT_MS} ms of SIGTERM:\n${run.stderr()}`);
  expect({ ...status, stderr: status.code === 0 ? '' : run.stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
  expect(run.stdout()).toBe(`bootstrap: 127.0.0.1:${base},127.0.0.1:${base + 1}\n`);
  // The command exits only after both brokers did (it waits for them): none is left running.
  expect(pids.filter(alive)).toEqual([]);
  expect(run.stderr()).toMatch(/^\[broker 0\] .*\] stopped$/m);
  expect(run.stderr()).toMatch(/^\[broker 1\] .*\] stopped$/m);
});

test('a broker that cannot start stops the others and fails the command (exit code 1)', async () => {
  const base = await consecutiveFreePorts(2);
  // Broker 1's port is taken: it exits at start, and broker 0 must be stopped with it.
  holders.push(await listen(base + 1));
  const run = startCluster(['--brokers', '2', '--base-port', String(base), '--data-dir', path.join(tmp, 'busy')]);
  const status = await within(run.exited, READY_WAIT_MS + EXIT_WAIT_MS, () => `strata cluster did not exit:\n${run.stderr()}`);
  expect(status).toEqual({ code: 1, signal: null });
  expect(run.stdout()).toBe('');
  expect(run.stderr()).toMatch(/strata cluster: broker 1 \(pid \d+\) exited with code 1 before it was listening/);
  expect(run.brokerPids()).toHaveLength(2);
  expect(run.brokerPids().filter(alive)).toEqual([]);
});

test('--base-port 0 is refused as a usage error (exit code 2)', async () => {
  const dir = path.join(tmp, 'port0');
  const r = await runProcess(process.execPath, [BROKER_MAIN, 'cluster', '--brokers', '2', '--base-port', '0', '--data-dir', dir], { timeoutMs: 30_000 });
  expect(r.code).toBe(2);
  expect(r.stdout.toString('utf8')).toBe('');
  expect(r.stderr).toMatch(/^strata cluster: --base-port 0 is not allowed: .*ports must be known/);
  expect(r.stderr).toContain('Usage: strata cluster [flags]');
  expect(fs.existsSync(dir)).toBe(false);
});
