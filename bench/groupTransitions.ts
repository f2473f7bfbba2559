import { TRANSITION_LOG_RE } from '../core/group/coordinator';

/**
 * The group coordinator's state changes as the broker logs them — one info line per change,
 * `ISO-time INFO  [component] group "<id>" <From> → <To> generation <g> members <n> (reason)` —
 * turned into timestamped events the consumer-group measurements wait on. The timestamps are
 * the broker's own (ms precision), so a rebalance is timed by the coordinator itself, not by
 * when its log line happened to reach this process through a pipe.
 */

export interface Transition {
  /** Sequence number in this log (0, 1, 2, …): "after index i" survives dropping old entries. */
  seq: number;
  /** Broker's wall clock when it logged the change (ms since the epoch). */
  atMs: number;
  groupId: string;
  from: string;
  to: string;
  generation: number;
  members: number;
  line: string;
}

const TIMESTAMP_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s/;

/** A transition from one broker log line, or null for any other line. */
export function parseTransition(line: string, seq = 0): Transition | null {
  const m = TRANSITION_LOG_RE.exec(line);
  const t = TIMESTAMP_RE.exec(line);
  if (!m || !t) return null;
  let groupId: string;
  try {
    groupId = JSON.parse(m[1]!) as string;
  } catch {
    return null;
  }
  return {
    seq,
    atMs: Date.parse(t[1]!),
    groupId,
    from: m[2]!,
    to: m[3]!,
    generation: Number(m[4]),
    members: Number(m[5]),
    line,
  };
}

/** Kept for waits and error reports; the benchmark's groups make a few hundred at most. */
const MAX_KEPT = 10_000;

export interface LineSource {
  onLine(listener: (line: string) => void): () => void;
}

export class TransitionLog {
  private readonly kept: Transition[] = [];
  private next = 0;
  private readonly waiters = new Set<() => void>();
  private readonly unsubscribe: () => void;

  constructor(source: LineSource) {
    this.unsubscribe = source.onLine((line) => {
      const t = parseTransition(line, this.next);
      if (!t) return;
      this.next++;
      this.kept.push(t);
      if (this.kept.length > MAX_KEPT) this.kept.splice(0, this.kept.length - MAX_KEPT);
      for (const w of [...this.waiters]) w();
    });
  }

  /** The sequence number the next transition will get: pass it to `waitFor` as `after`. */
  cursor(): number {
    return this.next;
  }

  /** Transitions of `groupId` with seq ≥ `after` (as far as they are still kept). */
  since(groupId: string, after: number): Transition[] {
    return this.kept.filter((t) => t.seq >= after && t.groupId === groupId);
  }

  /**
   * The first transition of `groupId` with seq ≥ `after` that satisfies `match`, as soon as the
   * broker logs it. Rejects after `timeoutMs`, or as soon as `fail` matches one first (e.g. the
   * group settled with the wrong member count: waiting longer would only hide that).
   */
  waitFor(
    groupId: string,
    after: number,
    match: (t: Transition) => boolean,
    opts: { timeoutMs: number; what: string; fail?: (t: Transition) => boolean },
  ): Promise<Transition> {
    return new Promise((resolve, reject) => {
      let checked = after;
      const check = (): void => {
        for (const t of this.kept) {
          if (t.seq < checked || t.groupId !== groupId) continue;
          if (match(t)) return done(() => resolve(t));
          if (opts.fail?.(t)) return done(() => reject(new Error(`${opts.what}: unexpected ${describe(t)}; transitions:\n${this.describe(groupId, after)}`)));
        }
        checked = this.next;
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${opts.what}: not within ${opts.timeoutMs} ms; transitions:\n${this.describe(groupId, after)}`))),
        opts.timeoutMs,
      );
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The group's transitions since `after`, one per line, for error messages (at most the last 30). */
  describe(groupId: string, after = 0): string {
    const lines = this.since(groupId, after).map((t) => `  ${describe(t)}`);
    return (lines.length > 30 ? ['  …', ...lines.slice(-30)] : lines).join('\n') || '  (none)';
  }

  close(): void {
    this.unsubscribe();
    this.waiters.clear();
  }
}

function describe(t: Transition): string {
  return `${new Date(t.atMs).toISOString()} ${t.from} → ${t.to} generation ${t.generation} members ${t.members}`;
}
