/**
 * Requests that wait for a partition to move on (Kafka's DelayedOperation and its purgatory):
 * a long-polling Fetch waits for data, an acks=all Produce for the high watermark. One
 * mechanism serves both. An operation watches one or more keys (partitions); whoever moves a
 * partition (an append, a high-watermark advance, a transaction marker) calls
 * `checkAndComplete(key)`, which asks each operation watching that key whether it can complete
 * now. An operation completes exactly once: by `tryComplete` returning true, or at its deadline.
 *
 * Everything runs on the event loop, so there is no locking: `tryComplete` is called
 * synchronously from the event that moved the partition and must be cheap (compare offsets,
 * never read a segment).
 */
export interface DelayedOperation {
  /** Whether the operation can complete now; called on registration and on each event of a watched key. */
  tryComplete(): boolean;
  /** Called exactly once: `expired` when the deadline passed before tryComplete said yes. */
  onComplete(expired: boolean): void;
}

interface Watched {
  op: DelayedOperation;
  keys: readonly string[];
  timer: NodeJS.Timeout | null;
  done: boolean;
}

export class DelayedOperationPurgatory {
  private readonly watchers = new Map<string, Set<Watched>>();
  private count = 0;
  private closed = false;

  constructor(readonly name: string) {}

  /** Operations waiting now. */
  get size(): number {
    return this.count;
  }

  /**
   * Completes `op` at once if it can, else watches `keys` until an event completes it or
   * `timeoutMs` passes. Returns whether it completed at once.
   */
  tryCompleteElseWatch(op: DelayedOperation, keys: readonly string[], timeoutMs: number): boolean {
    if (op.tryComplete()) {
      op.onComplete(false);
      return true;
    }
    if (this.closed || timeoutMs <= 0 || keys.length === 0) {
      op.onComplete(true);
      return true;
    }
    const w: Watched = { op, keys, timer: null, done: false };
    for (const k of keys) {
      let set = this.watchers.get(k);
      if (set === undefined) this.watchers.set(k, (set = new Set()));
      set.add(w);
    }
    this.count++;
    w.timer = setTimeout(() => this.finish(w, true), timeoutMs);
    return false;
  }

  /** Asks every operation watching `key` whether it can complete; returns how many did. */
  checkAndComplete(key: string): number {
    const set = this.watchers.get(key);
    if (set === undefined) return 0;
    let completed = 0;
    for (const w of [...set]) {
      if (!w.done && w.op.tryComplete()) {
        this.finish(w, false);
        completed++;
      }
    }
    return completed;
  }

  /** Completes every waiting operation now (as expired), e.g. on shutdown; later operations complete at once. */
  close(): void {
    this.closed = true;
    const all = new Set<Watched>();
    for (const set of this.watchers.values()) for (const w of set) all.add(w);
    for (const w of all) this.finish(w, true);
  }

  private finish(w: Watched, expired: boolean): void {
    if (w.done) return;
    w.done = true;
    if (w.timer !== null) clearTimeout(w.timer);
    for (const k of w.keys) {
      const set = this.watchers.get(k);
      if (set === undefined) continue;
      set.delete(w);
      if (set.size === 0) this.watchers.delete(k);
    }
    this.count--;
    w.op.onComplete(expired);
  }
}
