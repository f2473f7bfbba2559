import { followOutput, spawnPython, type StderrTail } from './childOutput';
import type { ChildProcess } from 'child_process';
import * as path from 'path';
import type { ProducedOp, ReadOp } from './history';

/**
 * The numbered-records load for failover tests, as processes of their own that outlive broker
 * crashes: producers (test/helpers/numberedProducer.py: acks=all, no idempotence, unique values
 * round-robin over the partitions, every attempt and its delivery report logged) and a consumer
 * that keeps reading (test/helpers/numberedConsumer.py). Their stdout is parsed as it arrives
 * into history operations (test/helpers/history.ts). Every process started here is SIGKILLed by
 * `stopAllLoad` (call it in afterAll) and, through setpriv's parent-death signal, when the jest
 * worker itself dies.
 */

export const NUMBERED_PRODUCER_SCRIPT = path.join(__dirname, 'numberedProducer.py');
export const NUMBERED_CONSUMER_SCRIPT = path.join(__dirname, 'numberedConsumer.py');

const STDERR_CAP = 256 * 1024;
const live = new Set<LoadProcess>();

/** A Python script run as a child process whose stdout is handled line by line. */
abstract class LoadProcess {
  private readonly child: ChildProcess;
  private readonly stderr: StderrTail;
  private expectedExit = false;
  private status: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  /** Lines the parser did not expect; kept for failure messages. */
  readonly oddLines: string[] = [];
  /** Rejects if the process exits without being told to. */
  readonly failed: Promise<never>;

  protected constructor(
    readonly name: string,
    script: string,
    args: string[],
  ) {
    this.child = spawnPython(script, args);
    live.add(this);
    this.exited = new Promise<void>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.status = { code, signal };
        live.delete(this);
        resolve();
      });
    });
    this.failed = new Promise<never>((_resolve, reject) => {
      void this.exited.then(() => {
        if (!this.expectedExit) reject(new Error(`${name} exited by itself (${this.describeExit()})\n${this.tail()}`));
      });
    });
    this.failed.catch(() => undefined);
    this.stderr = followOutput(this.child, (line) => this.onLine(line), STDERR_CAP);
  }

  protected abstract onLine(line: string): void;

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.status === null;
  }

  /** SIGTERM (the script stops and prints its exit line); SIGKILL after timeoutMs. */
  async stop(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.expectedExit = true;
    if (!this.status) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
      if ((await Promise.race([this.exited, late])) === 'late') {
        this.stderr.note(`\n[test helper] no exit ${timeoutMs} ms after SIGTERM: SIGKILL\n`);
        this.child.kill('SIGKILL');
      }
      clearTimeout(timer);
      await this.exited;
    }
    return this.status!;
  }

  async kill9(): Promise<void> {
    this.expectedExit = true;
    if (!this.status) this.child.kill('SIGKILL');
    await this.exited;
  }

  describeExit(): string {
    if (!this.status) return 'running';
    return this.status.signal ? `killed by ${this.status.signal}` : `exit code ${this.status.code}`;
  }

  /** The end of stderr and any unexpected stdout lines, for failure messages. */
  tail(chars = 4000): string {
    const odd = this.oddLines.length > 0 ? `\n--- unexpected stdout lines ---\n${this.oddLines.slice(-20).join('\n')}` : '';
    return `--- ${this.name} stderr (end) ---\n${this.stderr.text().slice(-chars)}${odd}`;
  }
}

/** One produce attempt of a value and what its delivery report said (nothing yet: in flight). */
export interface Attempt {
  seq: number;
  value: string;
  partition: number;
  acked: boolean;
  offset?: bigint;
  error?: string;
  /** When the report was handled, ms since the epoch (python's time.time()). */
  reportedAtMs?: number;
}

/** A successful delivery report. */
export interface Ack {
  seq: number;
  offset: bigint;
  atMs: number;
}

interface ProducerLine {
  ev?: string;
  s?: number;
  v?: string;
  p?: number;
  o?: number;
  e?: string;
  t?: number;
  sent?: number;
  pending?: Array<[number, string, number]>;
}

export interface NumberedProducerOptions {
  bootstrap: string;
  topic: string;
  partitions: number;
  /** Values are `<id>-<n>`: unique per producer and run. */
  id: string;
  ratePerSecond: number;
}

export class NumberedProducer extends LoadProcess {
  readonly attempts = new Map<number, Attempt>();
  /** Successful delivery reports per partition, in the order they were handled. */
  readonly acks = new Map<number, Ack[]>();
  ready = false;
  exitLine: ProducerLine | null = null;
  private readonly watchers = new Set<() => void>();

  constructor(readonly opts: NumberedProducerOptions) {
    super(`producer ${opts.id}`, NUMBERED_PRODUCER_SCRIPT, [opts.bootstrap, opts.topic, String(opts.partitions), opts.id, String(opts.ratePerSecond)]);
  }

  protected onLine(line: string): void {
    let j: ProducerLine;
    try {
      // Offsets fit in a double for any log these tests write.
      j = JSON.parse(line) as ProducerLine;
    } catch {
      this.oddLines.push(line);
      return;
    }
    if (j.ev === 'ready') {
      this.ready = true;
    } else if (j.ev === 'exit') {
      this.exitLine = j;
      for (const [s, v, p] of j.pending ?? []) this.attempts.set(s, { seq: s, value: v, partition: p, acked: false });
    } else if (j.s !== undefined && j.v !== undefined && j.p !== undefined && j.t !== undefined) {
      const atMs = j.t * 1000;
      const a: Attempt = { seq: j.s, value: j.v, partition: j.p, acked: j.o !== undefined, reportedAtMs: atMs };
      if (j.o !== undefined) {
        a.offset = BigInt(j.o);
        let list = this.acks.get(j.p);
        if (!list) this.acks.set(j.p, (list = []));
        list.push({ seq: j.s, offset: a.offset, atMs });
      } else {
        a.error = j.e ?? 'unknown error';
      }
      this.attempts.set(j.s, a);
    } else {
      this.oddLines.push(line);
      return;
    }
    for (const w of this.watchers) w();
  }

  /** Acked attempts. */
  get ackedCount(): number {
    let n = 0;
    for (const a of this.attempts.values()) if (a.acked) n++;
    return n;
  }

  /** Failed delivery reports so far, by error text. */
  errorCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.attempts.values()) if (a.error !== undefined) m.set(a.error, (m.get(a.error) ?? 0) + 1);
    return m;
  }

  /**
   * Resolves on the first successful delivery report for `partition` that `pred` accepts
   * (reports already in are checked first); rejects after timeoutMs or if the producer dies.
   */
  awaitAck(partition: number, pred: (a: Ack) => boolean, timeoutMs: number, what: string): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      const find = (): Ack | undefined => this.acks.get(partition)?.find(pred);
      const now = find();
      if (now) return resolve(now);
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watch);
      };
      const watch = (): void => {
        const a = find();
        if (!a) return;
        done();
        resolve(a);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (producer ${this.opts.id})`));
      }, timeoutMs);
      this.watchers.add(watch);
      this.failed.catch((e: Error) => {
        done();
        reject(e);
      });
    });
  }

  /**
   * The history's produced operations: every attempt in send order, acked with its offset or not
   * (a failed report, or none at all). Call after stop(): an attempt without a report then is one
   * the script listed as pending at exit; while it runs, in-flight attempts are left out.
   */
  produced(): ProducedOp[] {
    return [...this.attempts.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((a) => ({
        producer: this.opts.id,
        partition: a.partition,
        value: a.value,
        acked: a.acked,
        ...(a.offset !== undefined ? { offset: a.offset } : {}),
        ...(a.acked && a.reportedAtMs !== undefined ? { ackedAtMs: a.reportedAtMs } : {}),
      }));
  }
}

export interface NumberedConsumerOptions {
  bootstrap: string;
  topic: string;
  partitions: number;
  /** The consumer's name in the history. */
  name: string;
}

export class NumberedConsumer extends LoadProcess {
  readonly reads: ReadOp[] = [];
  readonly errors: string[] = [];
  /** Per partition, the offset read last (to notice a consumer that moved backwards: a reset). */
  readonly lastOffset = new Map<number, bigint>();
  /** Reads at or below an offset already read in the partition (the consumer was reset or re-fetched). */
  readonly rewinds: Array<{ partition: number; from: bigint; to: bigint }> = [];
  exitLine: { ev: string; records?: number } | null = null;

  constructor(readonly opts: NumberedConsumerOptions) {
    super(`consumer ${opts.name}`, NUMBERED_CONSUMER_SCRIPT, [opts.bootstrap, opts.topic, String(opts.partitions)]);
  }

  protected onLine(line: string): void {
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { ev: string; error?: string; records?: number };
        if (j.ev === 'error') this.errors.push(j.error ?? line);
        else if (j.ev === 'exit') this.exitLine = j;
        else this.oddLines.push(line);
      } catch {
        this.oddLines.push(line);
      }
      return;
    }
    const m = /^(\d+)\t(\d+)\t(.*)$/.exec(line);
    if (!m) {
      this.oddLines.push(line);
      return;
    }
    const partition = Number(m[1]);
    const offset = BigInt(m[2]!);
    const prev = this.lastOffset.get(partition);
    if (prev !== undefined && offset <= prev) this.rewinds.push({ partition, from: prev, to: offset });
    this.lastOffset.set(partition, offset);
    this.reads.push({ consumer: this.opts.name, partition, offset, value: m[3]!, isolation: 'read_uncommitted' });
  }
}

/** SIGKILL every load process still running (afterAll). */
export async function stopAllLoad(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill9()));
}
