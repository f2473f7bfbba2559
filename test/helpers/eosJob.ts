import { followOutput, spawnPython, type StderrTail } from './childOutput';
import type { ChildProcess } from 'child_process';
import * as path from 'path';
import type { TxnOutcomeKind } from './history';

/**
 * The exactly-once copy job (test/helpers/eosJob.py) as a process of its own, for tests that
 * SIGKILL and restart it: its stdout log is parsed as it arrives into the transactions it began
 * and how each ended (no "end" line = outcome unknown), and every process started here is
 * SIGKILLed by `stopAllJobs` (call it in afterAll) and, through setpriv's parent-death signal,
 * when the jest worker itself dies.
 */

export const EOS_JOB_SCRIPT = path.join(__dirname, 'eosJob.py');

export interface EosJobOptions {
  bootstrap: string;
  input: string;
  output: string;
  groupId: string;
  transactionalId: string;
  /** Unique per run: transaction ids are `<run>-<n>`. */
  run: string;
  /** Most records per transaction. */
  batch: number;
}

export interface JobTxn {
  txn: string;
  /** [partition, value] of each output record, in produce order. */
  recs: Array<[number, string]>;
  outcome: TxnOutcomeKind;
  /** The error an aborted transaction was aborted for. */
  error?: string;
}

/** One line of the job's log (see eosJob.py). */
export interface LogLine {
  ev: string;
  txn?: string;
  recs?: Array<[number, string]>;
  outcome?: 'committed' | 'aborted';
  error?: string;
  what?: string;
}

const STDERR_CAP = 256 * 1024;
const live = new Set<EosJob>();

export class EosJob {
  readonly txns = new Map<string, JobTxn>();
  /** Output records of this run's committed transactions. */
  committedRecords = 0;
  ready = false;
  cleanExit = false;
  /** A line the test did not expect (not JSON, or an unknown event); kept for the failure message. */
  readonly oddLines: string[] = [];
  /** The last event: 'txn' while a transaction is being produced, 'committing' during its commit. */
  lastEvent = '';
  private readonly watchers = new Set<(line: LogLine) => void>();
  private readonly stderr: StderrTail;
  private expectedExit = false;
  private status: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  /** Rejects if the job exits without being told to (a fatal client error, a crash). */
  readonly failed: Promise<never>;

  constructor(readonly opts: EosJobOptions) {
    this.child = spawnPython(EOS_JOB_SCRIPT, [opts.bootstrap, opts.input, opts.output, opts.groupId, opts.transactionalId, opts.run, String(opts.batch)]);
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
        if (!this.expectedExit) reject(new Error(`eos job ${opts.run} exited by itself (${this.describeExit()})\n${this.tail()}`));
      });
    });
    // Only a rejection nobody races against would be "unhandled"; the tests race against it.
    this.failed.catch(() => undefined);
    this.stderr = followOutput(this.child, (line) => this.onLine(line), STDERR_CAP);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private onLine(line: string): void {
    let j: LogLine;
    try {
      j = JSON.parse(line) as LogLine;
    } catch {
      this.oddLines.push(line);
      return;
    }
    if (j.ev === 'txn' && j.txn !== undefined && j.recs !== undefined) {
      this.txns.set(j.txn, { txn: j.txn, recs: j.recs, outcome: 'unknown' });
    } else if (j.ev === 'end' && j.txn !== undefined && j.outcome !== undefined) {
      const t = this.txns.get(j.txn);
      if (!t) {
        this.oddLines.push(line);
        return;
      }
      t.outcome = j.outcome;
      if (j.error !== undefined) t.error = j.error;
      if (j.outcome === 'committed') this.committedRecords += t.recs.length;
    } else if (j.ev === 'ready') {
      this.ready = true;
    } else if (j.ev === 'exit') {
      this.cleanExit = true;
    } else if (j.ev !== 'fatal' && j.ev !== 'committing') {
      this.oddLines.push(line);
    }
    // 'fatal' is followed by exit 3, which `failed` reports with the stderr tail.
    this.lastEvent = j.ev;
    for (const w of this.watchers) w(j);
  }

  /**
   * Resolves on the first log line (after the state it reports has been applied) for which
   * `pred` holds, in the same tick the line was read, so a caller that kills something then
   * hits the job at that point of its work. Rejects after timeoutMs, or if the job exits by itself.
   */
  nextLine(pred: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return new Promise<LogLine>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(watch);
      };
      const watch = (line: LogLine): void => {
        if (!pred(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.watchers.add(watch);
      this.failed.catch((e: Error) => {
        done();
        reject(e);
      });
    });
  }

  /** SIGKILL: whatever transaction is in flight stays unknown. */
  async kill9(): Promise<void> {
    this.expectedExit = true;
    if (!this.status) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (the job stops between transactions and closes its clients); SIGKILL after timeoutMs. */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
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

  describeExit(): string {
    if (!this.status) return 'running';
    return this.status.signal ? `killed by ${this.status.signal}` : `exit code ${this.status.code}`;
  }

  /** The end of the job's stderr and any unexpected stdout lines, for failure messages. */
  tail(chars = 6000): string {
    const odd = this.oddLines.length > 0 ? `\n--- unexpected stdout lines ---\n${this.oddLines.slice(-20).join('\n')}` : '';
    return `--- eos job ${this.opts.run} stderr (end) ---\n${this.stderr.text().slice(-chars)}${odd}`;
  }
}

/** SIGKILL every job still running (afterAll). */
export async function stopAllJobs(): Promise<void> {
  await Promise.all([...live].map((j) => j.kill9()));
}
