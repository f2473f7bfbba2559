import { spawn, ChildProcess } from 'child_process';
import { BROKER_NODE_FLAGS } from '../../core/broker/nodeFlags';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BROKER_MAIN, CHECKED_ENV, REPO_ROOT, ensureBuilt, lastBuildLog } from './build';
import { waitFor } from './waitFor';

/**
 * Real broker processes for integration tests: `node dist/core/cli/main.js broker` on an
 * ephemeral port with a fresh data dir, ready when it prints `listening on PLAINTEXT://host:port`.
 *
 * No orphans: every process started here is tracked, and stopped (then its temp data dir removed)
 * by an afterAll hook registered at import time, and SIGKILLed by a process 'exit' hook should the
 * jest worker exit first. The afterAll is at the file's top level, so it runs after the hooks of
 * the file's describe blocks (and before any top-level afterAll the test file adds itself).
 */

export interface StartBrokerOptions {
  /** Reuse this data dir (kept afterwards). Default: a fresh mkdtemp dir, removed after the file. */
  dataDir?: string;
  /** Broker configs by their Kafka names, passed as `--override key=value`. */
  overrides?: Record<string, string>;
  /** Merged over process.env for the broker process. */
  env?: NodeJS.ProcessEnv;
  /** Extra command-line arguments after the standard ones. */
  args?: string[];
  /** Listener port; default 0 (ephemeral). */
  port?: number;
  /** Fail (killing the process) if the listening line hasn't appeared by then. Default 20 s. */
  readyTimeoutMs?: number;
  /** stop() escalates to SIGKILL after this long. Default 10 s. */
  stopTimeoutMs?: number;
  /**
   * The broker's listeners, instead of one PLAINTEXT listener on `port`; the first is what
   * `host`, `port` and `bootstrap` name (listenerPort gives the others').
   */
  listeners?: string;
  /** Script to run instead of dist/core/cli/main.js (the helpers' own tests use a stand-in). */
  entry?: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BrokerProcess {
  readonly host: string;
  readonly port: number;
  /** 'host:port', for clients' bootstrap.servers. */
  readonly bootstrap: string;
  /** The bound port of listener `name` (from the listening line), for brokers with several listeners. */
  listenerPort(name: string): number;
  readonly dataDir: string;
  readonly pid: number;
  /**
   * Send `signal` (default SIGTERM) and wait for the process to exit; SIGKILL if it hasn't after
   * stopTimeoutMs. Resolves to the exit code (null if it died from a signal). Idempotent: once the
   * process has exited, resolves to how it exited.
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL (a crash: no flush, no close) and wait until the process is gone. */
  kill9(): Promise<void>;
  /** Stop (if running) and start a new broker on the same data dir; samePort keeps the port. */
  restart(opts?: { samePort?: boolean }): Promise<BrokerProcess>;
  /** Everything the process printed so far (stdout and stderr, interleaved; bounded). */
  output(): string;
  /** How the process exited, or null while it runs. */
  exitStatus(): ExitStatus | null;
}

const READY_RE = /listening on [A-Z0-9_]+:\/\/(\[[^\]]*\]|[^\s:/]+):(\d+)/;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** Captured output is capped; the oldest text is dropped first (the end is what explains a failure). */
const OUTPUT_CAP_CHARS = 1024 * 1024;
/** A line longer than this can't be the listening line; don't buffer it unboundedly. */
const MAX_PENDING_LINE = 64 * 1024;

/** Environment variables that configure these helpers, not the broker. */
const HELPER_ENV = ['STRATA_SKIP_BUILD', CHECKED_ENV, 'STRATA_PYTHON', 'STRATA_TEST_BACKEND'];

const SETPRIV = '/usr/bin/setpriv';
const HAVE_SETPRIV = fs.existsSync(SETPRIV);

/** Processes started by this module instance (one per test file) and dirs it created. */
const live = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
const instances = new Set<SpawnedBroker>();

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerProcess> {
  let dataDir = opts.dataDir;
  if (dataDir === undefined) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-broker-'));
    ownedDirs.add(dataDir);
  } else {
    fs.mkdirSync(dataDir, { recursive: true });
  }
  return launch(opts, dataDir);
}

/**
 * The URL of a broker's metrics endpoint (started with metrics.listener): from its `metrics on`
 * line, which follows the listening line startBroker waits for.
 */
export async function metricsUrlOf(broker: BrokerProcess): Promise<string> {
  let url = '';
  await waitFor(
    () => {
      const m = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(broker.output());
      if (m) url = m[1];
      return m !== null;
    },
    { timeoutMs: 10_000, message: 'the broker logging its metrics URL' },
  );
  return url;
}

/** Stop every broker this test file started (SIGTERM, SIGKILL after the timeout) and remove temp dirs. */
export async function stopAllBrokers(): Promise<void> {
  await Promise.all([...instances].map((b) => b.stop().catch(() => null)));
  for (const dir of ownedDirs) fs.rmSync(dir, { recursive: true, force: true });
  ownedDirs.clear();
}

async function launch(opts: StartBrokerOptions, dataDir: string): Promise<BrokerProcess> {
  const entry = opts.entry ?? BROKER_MAIN;
  if (opts.entry === undefined) await ensureBuilt();
  if (!fs.existsSync(entry)) {
    throw new Error(
      `${path.relative(REPO_ROOT, entry)} does not exist: run \`npm run build\` ` +
        `(jest's globalSetup test/helpers/globalSetup.ts builds it)${buildNote()}`,
    );
  }
  const argv = [...BROKER_NODE_FLAGS, entry, 'broker', '--data-dir', dataDir, '--listeners', opts.listeners ?? `PLAINTEXT://127.0.0.1:${opts.port ?? 0}`];
  for (const [k, v] of Object.entries(opts.overrides ?? {})) argv.push('--override', `${k}=${v}`);
  argv.push(...(opts.args ?? []));
  // The `aws` jest project: DynamoDB and S3 emulators stand in for the embedded stores, unless
  // the test picked its stores itself. Emulator endpoints go in the environment either way.
  let backendEnv: NodeJS.ProcessEnv = {};
  let onEmulators = false;
  if (awsBackend && opts.entry === undefined) {
    if (awsBackend.choosesStores(opts.args ?? [])) {
      backendEnv = await awsBackend.emulatorEnv();
    } else {
      const stores = await awsBackend.awsStores(dataDir);
      argv.push(...stores.args);
      backendEnv = stores.env;
      onEmulators = true;
    }
  }

  // With setpriv, the kernel SIGKILLs the broker if this process dies for any reason (a crash,
  // process.exit in a test, jest killing the worker), which no JS exit hook can guarantee: inside
  // jest, `process` is a copy whose 'exit' listeners never fire. setpriv execs node, so the pid
  // stays the broker's own.
  const [command, commandArgs] = HAVE_SETPRIV
    ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', process.execPath, ...argv]]
    : [process.execPath, argv];
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The broker reads STRATA_* variables as configs (and warns about unknown ones); the helpers'
  // own switches are not meant for it.
  for (const name of HELPER_ENV) delete env[name];
  const child = spawn(command, commandArgs, {
    cwd: REPO_ROOT,
    env: { ...env, ...backendEnv, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const broker = new SpawnedBroker(child, dataDir, opts);
  instances.add(broker);
  try {
    await broker.ready(opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, argv);
    // The `aws` project proves nothing unless the broker really runs on the emulators.
    if (onEmulators) {
      if (!/metadata dynamodb:\/\/\S+, object store s3:\/\//.test(broker.output())) {
        await broker.stop();
        throw new Error(`broker was to run on DynamoDB and S3 but its listening line says otherwise:\n${broker.output()}`);
      }
    }
  } catch (e) {
    instances.delete(broker);
    throw e;
  }
  return broker;
}

function buildNote(): string {
  const log = lastBuildLog().trim();
  return log ? `\n(note: the last tsc build reported errors:\n${log.slice(0, 4000)})` : '';
}

class OutputLog {
  private chunks: string[] = [];
  private size = 0;
  private dropped = 0;

  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > OUTPUT_CAP_CHARS && this.chunks.length > 1) {
      const first = this.chunks.shift()!;
      this.size -= first.length;
      this.dropped += first.length;
    }
  }

  text(): string {
    const body = this.chunks.join('');
    return this.dropped > 0 ? `[… ${this.dropped} earlier characters dropped …]\n${body}` : body;
  }
}

class SpawnedBroker implements BrokerProcess {
  host = '';
  port = 0;
  readonly pid: number;
  private readonly log = new OutputLog();
  private status: ExitStatus | null = null;
  private readonly exited: Promise<ExitStatus>;
  private stopping: Promise<number | null> | null = null;
  private onReadyLine: ((host: string, port: number) => void) | null = null;

  constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
    private readonly opts: StartBrokerOptions,
  ) {
    // spawn() only lacks a pid when the exec itself failed, which for process.execPath means
    // something is badly wrong with the machine; fail loudly.
    if (child.pid === undefined) throw new Error('failed to spawn the broker process');
    this.pid = child.pid;
    this.exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        this.status = { code, signal };
        live.delete(child);
        resolve(this.status);
      });
    });
    child.on('error', (e) => this.log.append(`\n[test helper] process error: ${e.message}\n`));
    this.watch(child.stdout!);
    this.watch(child.stderr!);
  }

  listenerPort(name: string): number {
    const line = /listening on (.*?) \(node\.id=/.exec(this.output());
    const m = line === null ? null : new RegExp(`(?:^|, )${name}://(?:\\[[^\\]]*\\]|[^\\s:/]*):(\\d+)`).exec(line[1]);
    if (m === null) throw new Error(`the broker has no listener ${name}: ${line?.[1] ?? 'no listening line'}`);
    return Number(m[1]);
  }

  get bootstrap(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Capture a stream and look for the listening line in it, one complete line at a time. */
  private watch(stream: NodeJS.ReadableStream): void {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      this.log.append(text);
      if (!this.onReadyLine) return;
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = READY_RE.exec(line);
        if (m && this.onReadyLine) {
          this.onReadyLine(m[1]!.replace(/^\[|\]$/g, ''), Number(m[2]));
          break;
        }
      }
      if (pending.length > MAX_PENDING_LINE) pending = pending.slice(-MAX_PENDING_LINE);
    });
  }

  ready(timeoutMs: number, argv: string[]): Promise<void> {
    const cmd = `node ${argv.map((a) => (a.startsWith(REPO_ROOT + path.sep) ? path.relative(REPO_ROOT, a) : a)).join(' ')}`;
    return new Promise<void>((resolve, reject) => {
      let done = false;
      let timedOut = false;
      const fail = (why: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.onReadyLine = null;
        reject(new Error(`broker did not become ready: ${why}\ncommand: ${cmd}\n--- broker output ---\n${this.output()}${buildNote()}`));
      };
      const timer = setTimeout(() => {
        // Kill it so a half-started broker never outlives the failed test; fail once it's gone.
        timedOut = true;
        this.child.kill('SIGKILL');
      }, timeoutMs);
      this.onReadyLine = (host, port) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.onReadyLine = null;
        this.host = host;
        this.port = port;
        resolve();
      };
      void this.exited.then((s) =>
        fail(
          timedOut
            ? `no 'listening on PLAINTEXT://…' line within ${timeoutMs} ms (killed)`
            : `it exited (${describeExit(s)}) before printing its listening line`,
        ),
      );
    });
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.status) return Promise.resolve(this.status.code);
    this.stopping ??= (async () => {
      const timeoutMs = this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
      this.child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const escalated = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const first = await Promise.race([this.exited, escalated]);
      clearTimeout(timer);
      if (first === 'timeout') {
        this.log.append(`\n[test helper] no exit ${timeoutMs} ms after ${signal}: sending SIGKILL\n`);
        this.child.kill('SIGKILL');
      }
      return (await this.exited).code;
    })();
    return this.stopping;
  }

  async kill9(): Promise<void> {
    if (this.status) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async restart(opts: { samePort?: boolean } = {}): Promise<BrokerProcess> {
    await this.stop();
    instances.delete(this);
    return launch({ ...this.opts, port: opts.samePort ? this.port : this.opts.port }, this.dataDir);
  }

  output(): string {
    return this.log.text();
  }

  exitStatus(): ExitStatus | null {
    return this.status;
  }
}

function describeExit(s: ExitStatus): string {
  return s.signal ? `killed by ${s.signal}` : `code ${s.code}`;
}

/**
 * Last resort outside jest (scripts using these helpers) when the process exits without
 * stopAllBrokers having run: SIGKILL is synchronous. Under jest the setpriv death signal does this.
 */
function killLeftovers(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of ownedDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
}

process.on('exit', killLeftovers);
if (typeof afterAll === 'function') {
  afterAll(async () => {
    await stopAllBrokers();
    // This module is loaded afresh for every test file; don't let exit listeners pile up.
    process.removeListener('exit', killLeftovers);
  }, 60_000);
}

/**
 * The `aws` jest project only (embedded runs never load the AWS SDK). Loaded here, after the
 * afterAll above; the emulators' own afterAll stops these brokers first all the same.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const awsBackend: typeof import('./awsBackend') | null = process.env.STRATA_TEST_BACKEND === 'aws' ? require('./awsBackend') : null;
awsBackend?.beforeEmulatorsStop(stopAllBrokers);
