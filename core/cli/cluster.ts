import { spawn, type ChildProcess } from 'node:child_process';
import { BROKER_NODE_FLAGS } from '../broker/nodeFlags';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { UsageError, parseArgs, parseKeyValue, type CommandSpec, type ParsedArgs } from './args';
import type { CliIO } from './io';
import { createLogger, type Logger } from '../common/logger';

export const clusterSpec: CommandSpec = {
  name: 'cluster',
  summary: 'Run several brokers on loopback as one local cluster (one `strata broker` process each, sharing one embedded metadata store and object store).',
  flags: [
    { name: 'brokers', kind: 'value', valueName: 'N', description: 'how many brokers, node ids 0..N-1 (default 3)' },
    { name: 'data-dir', kind: 'value', valueName: 'DIR', description: 'holds broker-<i>/ (each broker\'s data), meta/ (the shared metadata store) and tier/ (the shared object store) (default ./data-cluster)' },
    { name: 'base-port', kind: 'value', valueName: 'P', description: 'broker i listens on 127.0.0.1:P+i (default 9092; 0 is refused: the ports must be known)' },
    { name: 'override', kind: 'repeatable', valueName: 'KEY=VALUE', description: 'set a broker config on every broker, as strata broker --override does' },
  ],
  examples: [
    'strata cluster',
    'strata cluster --brokers 5 --base-port 19092 --data-dir /tmp/strata-cluster',
    'strata cluster --override num.partitions=3',
  ],
};

export const DEFAULT_BROKERS = 3;
export const DEFAULT_BASE_PORT = 9092;
export const DEFAULT_DATA_DIR = './data-cluster';
export const MAX_BROKERS = 64;
/** How long every broker gets to print its listening line. */
export const READY_TIMEOUT_MS = 60_000;
/** How long the brokers get to stop after SIGTERM before they are killed. */
export const STOP_TIMEOUT_MS = 30_000;

/**
 * Configs the cluster sets per broker itself. Overriding one would either be ignored (the
 * broker's own flags win over --override) or give every broker the same value, which breaks them.
 */
const RESERVED_CONFIGS: Record<string, string> = {
  'node.id': '--brokers (node ids 0..N-1)',
  'broker.id': '--brokers (node ids 0..N-1)',
  listeners: '--base-port',
  'advertised.listeners': '--base-port',
  'log.dirs': '--data-dir',
  'log.dir': '--data-dir',
  metadata: '--data-dir (DIR/meta)',
  'object.store': '--data-dir (DIR/tier)',
};

export interface ClusterBroker {
  nodeId: number;
  port: number;
  /** The `strata broker` arguments (after `broker`). */
  args: string[];
}

export interface ClusterPlan {
  /** Absolute. */
  dataDir: string;
  brokers: ClusterBroker[];
  /** `127.0.0.1:P,127.0.0.1:P+1,…` */
  bootstrap: string;
}

/** What `strata cluster <argv>` will start; throws UsageError for a wrong command line. */
export function planCluster(args: ParsedArgs, cwd: string = process.cwd()): ClusterPlan {
  const n = args.int('brokers', { min: 1, max: MAX_BROKERS }) ?? DEFAULT_BROKERS;
  if (args.string('base-port')?.trim() === '0') {
    throw new UsageError('--base-port 0 is not allowed: the cluster prints its brokers\' addresses, so their ports must be known (pick a free port, e.g. --base-port 19092)', clusterSpec);
  }
  const basePort = args.int('base-port', { min: 1, max: 65535 - (n - 1) }) ?? DEFAULT_BASE_PORT;
  if (basePort + n - 1 > 65535) throw new UsageError(`--brokers ${n} from port ${basePort} runs past port 65535`, clusterSpec);
  const dataDirFlag = args.string('data-dir');
  if (dataDirFlag !== undefined && dataDirFlag.trim() === '') throw new UsageError('--data-dir must not be empty', clusterSpec);
  const dataDir = path.resolve(cwd, dataDirFlag ?? DEFAULT_DATA_DIR);
  const overrides: string[] = [];
  for (const o of args.list('override')) {
    const [key] = parseKeyValue(o, '--override', clusterSpec);
    const owner = RESERVED_CONFIGS[key];
    if (owner !== undefined) throw new UsageError(`--override ${key}=… is not allowed: strata cluster sets ${key} for each broker (see ${owner})`, clusterSpec);
    overrides.push('--override', o);
  }
  const brokers: ClusterBroker[] = [];
  for (let i = 0; i < n; i++) {
    const port = basePort + i;
    brokers.push({
      nodeId: i,
      port,
      args: [
        '--node-id', String(i),
        '--data-dir', path.join(dataDir, `broker-${i}`),
        '--listeners', `PLAINTEXT://127.0.0.1:${port}`,
        '--metadata', `embedded:${path.join(dataDir, 'meta')}`,
        '--object-store', `file://${path.join(dataDir, 'tier')}`,
        ...overrides,
      ],
    });
  }
  return { dataDir, brokers, bootstrap: brokers.map((b) => `127.0.0.1:${b.port}`).join(',') };
}

const LISTENING = /\blistening on [A-Z0-9_]+:\/\//;

interface Member {
  readonly nodeId: number;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  exit: ExitStatus | null;
  listening: boolean;
}

interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

type ClusterEvent =
  | { kind: 'listening'; nodeId: number }
  | { kind: 'exit'; nodeId: number; status: ExitStatus }
  | { kind: 'signal'; signal: string }
  | { kind: 'ready-timeout' };

/** An unbounded queue that one loop awaits. */
class EventQueue<T> {
  private readonly items: T[] = [];
  private waiter: ((item: T) => void) | null = null;
  push(item: T): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(item);
    } else {
      this.items.push(item);
    }
  }
  next(): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

const describeExit = (s: ExitStatus): string => (s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`);

/**
 * `strata cluster …`: starts one `strata broker` child per node id, prints `bootstrap: …` as
 * the first line on stdout once every broker is listening, and runs until SIGINT/SIGTERM (it
 * then sends SIGTERM to every broker, waits for them to exit, and exits 0). A broker that dies
 * on its own, or does not come up within 60 s, stops the whole cluster with exit code 1.
 * Brokers' output goes to stderr, each line prefixed `[broker i] `.
 */
export async function runClusterCommand(argv: string[], io: CliIO): Promise<number> {
  const plan = planCluster(parseArgs(argv, clusterSpec));
  const logger = createLogger('cluster', (line) => io.stderr.write(`${line}\n`));
  fs.mkdirSync(plan.dataDir, { recursive: true });

  const events = new EventQueue<ClusterEvent>();
  const state = { stopping: false };
  // Installed before any broker starts, so a signal during start-up still stops them all. Once
  // stopping, a signal is only noted: a ^C in the terminal reaches the brokers and this process alike.
  const onSignal = (signal: string): void => {
    if (state.stopping) logger.info(`${signal} received, already stopping`);
    else events.push({ kind: 'signal', signal });
  };
  const onSigint = (): void => onSignal('SIGINT');
  const onSigterm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const members: Member[] = [];
  try {
    const main = path.join(__dirname, 'main.js');
    for (const b of plan.brokers) {
      const member = startBroker(main, b, io.stderr, events);
      members.push(member);
      logger.info(`started broker ${b.nodeId} (pid ${member.pid}) on 127.0.0.1:${b.port}, data ${path.join(plan.dataDir, `broker-${b.nodeId}`)}`);
    }
    const readyTimer = setTimeout(() => events.push({ kind: 'ready-timeout' }), READY_TIMEOUT_MS);
    let ready = false;
    try {
      for (;;) {
        const ev = await events.next();
        if (ev.kind === 'listening') {
          if (ready || !members.every((m) => m.listening)) continue;
          ready = true;
          clearTimeout(readyTimer);
          io.stdout.write(`bootstrap: ${plan.bootstrap}\n`);
          logger.info(`${members.length} brokers listening (bootstrap ${plan.bootstrap}); SIGINT or SIGTERM stops them all`);
        } else if (ev.kind === 'exit') {
          const m = members[ev.nodeId];
          const why = ready
            ? `broker ${m.nodeId} (pid ${m.pid}) ${describeExit(ev.status)} unexpectedly`
            : `broker ${m.nodeId} (pid ${m.pid}) ${describeExit(ev.status)} before it was listening (its [broker ${m.nodeId}] lines above say why)`;
          logger.error(`${why}; stopping the others`);
          await stopAll(members, state, logger);
          io.stderr.write(`strata cluster: ${why}\n`);
          return 1;
        } else if (ev.kind === 'ready-timeout') {
          const late = members.filter((m) => !m.listening).map((m) => m.nodeId);
          const why = `broker${late.length > 1 ? 's' : ''} ${late.join(', ')} did not report listening within ${READY_TIMEOUT_MS / 1000} s`;
          logger.error(`${why}; stopping the cluster`);
          await stopAll(members, state, logger);
          io.stderr.write(`strata cluster: ${why}\n`);
          return 1;
        } else {
          logger.info(`${ev.signal} received, stopping ${members.length} brokers`);
          const clean = await stopAll(members, state, logger);
          if (!clean) {
            io.stderr.write('strata cluster: not every broker stopped cleanly (see the lines above)\n');
            return 1;
          }
          logger.info('stopped');
          return 0;
        }
      }
    } finally {
      clearTimeout(readyTimer);
    }
  } catch (e) {
    // Spawning failed (or a bug): never leave brokers behind.
    await stopAll(members, state, logger);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}

function startBroker(main: string, b: ClusterBroker, stderr: Writable, events: EventQueue<ClusterEvent>): Member {
  const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, main, 'broker', ...b.args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let resolveExited!: (s: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((resolve) => (resolveExited = resolve));
  const member: Member = { nodeId: b.nodeId, child, pid: child.pid ?? -1, exited, exit: null, listening: false };
  const onExit = (status: ExitStatus): void => {
    if (member.exit !== null) return;
    member.exit = status;
    resolveExited(status);
    events.push({ kind: 'exit', nodeId: b.nodeId, status });
  };
  // 'error' with no pid: the process never started, and no 'close' follows.
  child.once('error', (e) => {
    stderr.write(`[broker ${b.nodeId}] could not start: ${e.message}\n`);
    if (child.pid === undefined) onExit({ code: null, signal: null });
  });
  // 'close', not 'exit': it comes once the pipes are drained too, so every line is relayed first.
  child.once('close', (code, signal) => onExit({ code, signal }));
  const prefix = `[broker ${b.nodeId}] `;
  const relay = (stream: Readable | null): void => {
    if (!stream) return;
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      stderr.write(`${prefix}${line}\n`);
      if (!member.listening && LISTENING.test(line)) {
        member.listening = true;
        events.push({ kind: 'listening', nodeId: b.nodeId });
      }
    });
  };
  relay(child.stdout);
  relay(child.stderr);
  return member;
}

/**
 * SIGTERM to every broker still running, then waits for all of them; a broker still running
 * after STOP_TIMEOUT_MS is killed. True when every signalled broker exited with code 0.
 */
async function stopAll(members: Member[], state: { stopping: boolean }, logger: Logger): Promise<boolean> {
  state.stopping = true;
  const running = members.filter((m) => m.exit === null);
  for (const m of running) m.child.kill('SIGTERM');
  let killed = false;
  const timer = setTimeout(() => {
    const late = running.filter((m) => m.exit === null);
    logger.error(`broker${late.length > 1 ? 's' : ''} ${late.map((m) => m.nodeId).join(', ')} still running ${STOP_TIMEOUT_MS / 1000} s after SIGTERM: killing (SIGKILL)`);
    killed = true;
    for (const m of late) m.child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  try {
    const statuses = await Promise.all(running.map((m) => m.exited));
    let clean = !killed;
    statuses.forEach((s, i) => {
      if (s.code !== 0) {
        clean = false;
        logger.error(`broker ${running[i].nodeId} (pid ${running[i].pid}) ${describeExit(s)} while stopping`);
      }
    });
    return clean;
  } finally {
    clearTimeout(timer);
  }
}
