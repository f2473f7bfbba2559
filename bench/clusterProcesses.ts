import * as fs from 'fs';
import * as path from 'path';
import { StrataClient, type MetadataSnapshot } from '../core/client/client';
import { RunningBroker, startBenchBroker } from './brokerProcess';

/**
 * A 3-broker (or n-broker) Strata cluster on loopback for the `cluster` section, started the way
 * `strata cluster` (core/cli/cluster.ts) and test/helpers/cluster.ts start one — one `strata
 * broker` process per node id, each with its own `--node-id`, `--data-dir` and listener, all
 * sharing one embedded metadata store (`--metadata embedded:DIR/meta`) and one object store
 * (`--object-store file://DIR/tier`) — but with each broker under the benchmark's control, so
 * that one can be SIGKILLed, restarted on its port, or restarted from an empty data dir while the
 * others keep running (`strata cluster` stops every broker when one dies).
 *
 * Every broker runs under `setpriv --pdeathsig SIGKILL` (brokerProcess.ts): if the benchmark dies
 * (Ctrl-C, a crash), the kernel kills them. `stop()` ends all of them in any case.
 */

export interface ClusterMember {
  readonly nodeId: number;
  readonly dataDir: string;
  /** The port, fixed once the first start picked it (restarts reuse it). */
  port: number;
  /** The running process, null while stopped or killed. */
  broker: RunningBroker | null;
  /** Lines of every process this node id ran, for error reports (also in DIR/broker-<id>.out). */
  log: string[];
}

const LOG_LINES_KEPT = 4000;

export class BenchCluster {
  readonly members: ClusterMember[];
  private readonly storeArgs: string[];
  /** Ends each running member's log file. */
  private readonly closers = new Map<number, () => void>();

  private constructor(
    readonly dir: string,
    private readonly brokerMain: string,
    private readonly overrides: Record<string, string>,
    brokers: number,
  ) {
    this.storeArgs = ['--metadata', `embedded:${path.join(dir, 'meta')}`, '--object-store', `file://${path.join(dir, 'tier')}`];
    this.members = Array.from({ length: brokers }, (_, nodeId) => ({ nodeId, dataDir: path.join(dir, `broker-${nodeId}`), port: 0, broker: null, log: [] }));
  }

  /** Starts `brokers` brokers (in parallel) and waits until every one lists all of them in Metadata. */
  static async start(opts: { dir: string; brokerMain: string; overrides: Record<string, string>; brokers: number; readyTimeoutMs?: number }): Promise<BenchCluster> {
    fs.mkdirSync(opts.dir, { recursive: true });
    const c = new BenchCluster(opts.dir, opts.brokerMain, opts.overrides, opts.brokers);
    try {
      await Promise.all(c.members.map((m) => c.launch(m, opts.readyTimeoutMs)));
      await c.awaitMembership(opts.readyTimeoutMs ?? 30_000);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** `127.0.0.1:P0,127.0.0.1:P1,…` of every member (running or not: clients skip the dead ones). */
  bootstrap(): string {
    return this.members.map((m) => `127.0.0.1:${m.port}`).join(',');
  }

  running(): ClusterMember[] {
    return this.members.filter((m) => m.broker !== null);
  }

  pids(): number[] {
    return this.running().map((m) => m.broker!.pid);
  }

  /** Starts node `nodeId` again on its port (after kill or stop); `emptyDataDir` removes its data dir first. */
  async restart(nodeId: number, opts: { emptyDataDir?: boolean; readyTimeoutMs?: number } = {}): Promise<RunningBroker> {
    const m = this.members[nodeId]!;
    if (m.broker !== null) throw new Error(`broker ${nodeId} is still running`);
    if (opts.emptyDataDir) fs.rmSync(m.dataDir, { recursive: true, force: true });
    return this.launch(m, opts.readyTimeoutMs);
  }

  /** SIGKILL: no controlled shutdown, no clean-shutdown marker. Resolves once the process is gone. */
  async kill(nodeId: number): Promise<void> {
    const m = this.members[nodeId]!;
    const b = m.broker;
    if (b === null) return;
    try {
      process.kill(b.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await b.stop(1000);
    m.broker = null;
    this.closers.get(nodeId)?.();
  }

  /** SIGTERM (controlled shutdown: leaderships handed over, ISRs left); resolves to the exit code. */
  async stopMember(nodeId: number, timeoutMs = 30_000): Promise<number | null> {
    const m = this.members[nodeId]!;
    const b = m.broker;
    if (b === null) return null;
    const code = await b.stop(timeoutMs);
    m.broker = null;
    this.closers.get(nodeId)?.();
    return code;
  }

  /** Stops every running broker (SIGTERM, SIGKILL after `timeoutMs`); returns each one's exit code. */
  async stop(timeoutMs = 30_000): Promise<Array<{ nodeId: number; code: number | null }>> {
    return Promise.all(this.running().map(async (m) => ({ nodeId: m.nodeId, code: await this.stopMember(m.nodeId, timeoutMs) })));
  }

  /** The last lines node `nodeId`'s processes printed. */
  tail(nodeId: number, lines = 40): string {
    return this.members[nodeId]!.log.slice(-lines).join('\n');
  }

  /**
   * Metadata for `topics` (null: all) from a running broker: each call uses a new client
   * bootstrapped from the running brokers only, so a killed broker's closed connection is never
   * reused. Tries each running broker in turn.
   */
  async metadata(topics: string[] | null, timeoutMs = 5000): Promise<MetadataSnapshot> {
    let last: unknown = new Error('no broker is running');
    for (const m of this.running()) {
      const client = new StrataClient({ bootstrapServers: [`127.0.0.1:${m.port}`], clientId: 'strata-bench-cluster', requestTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs });
      try {
        return await client.metadata(topics);
      } catch (e) {
        last = e;
      } finally {
        await client.close().catch(() => undefined);
      }
    }
    throw last;
  }

  /** A client bootstrapped from the running brokers; the caller closes it. */
  client(clientId = 'strata-bench-cluster'): StrataClient {
    return new StrataClient({ bootstrapServers: this.running().map((m) => `127.0.0.1:${m.port}`), clientId, requestTimeoutMs: 30_000 });
  }

  private async launch(m: ClusterMember, readyTimeoutMs = 30_000): Promise<RunningBroker> {
    fs.mkdirSync(m.dataDir, { recursive: true });
    const b = await startBenchBroker(this.brokerMain, m.dataDir, this.overrides, readyTimeoutMs, {
      args: ['--node-id', String(m.nodeId), ...this.storeArgs],
      listeners: `PLAINTEXT://127.0.0.1:${m.port}`,
    });
    m.port = Number(b.bootstrap.slice(b.bootstrap.lastIndexOf(':') + 1));
    m.broker = b;
    // Every line also goes to DIR/broker-<id>.out (kept with --keep), restarts appended.
    const out = path.join(this.dir, `broker-${m.nodeId}.out`);
    const first = b.output();
    m.log.push(...first.split('\n').filter((l) => l !== ''));
    fs.appendFileSync(out, `--- started pid ${b.pid}\n${first}`);
    const file = fs.createWriteStream(out, { flags: 'a' });
    file.on('error', () => undefined);
    b.onLine((line) => {
      m.log.push(line);
      if (m.log.length > LOG_LINES_KEPT * 2) m.log.splice(0, m.log.length - LOG_LINES_KEPT);
      file.write(`${line}\n`);
    });
    this.closers.set(m.nodeId, () => file.end());
    return b;
  }

  /** Until every running broker's Metadata lists every running broker. */
  private async awaitMembership(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = this.running();
      let all = true;
      for (const m of up) {
        const client = new StrataClient({ bootstrapServers: [`127.0.0.1:${m.port}`], clientId: 'strata-bench-cluster', requestTimeoutMs: 5000 });
        try {
          const md = await client.metadata([]);
          if (md.cluster.brokers.length < up.length) all = false;
        } catch {
          all = false;
        } finally {
          await client.close().catch(() => undefined);
        }
      }
      if (all) return;
      if (Date.now() > deadline) throw new Error(`the brokers did not all see each other within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
