/**
 * What a partition's leader knows of its followers (Kafka's Replica objects and Partition's ISR
 * bookkeeping), as a value with no I/O: each follower's log end offset as its fetches report it,
 * when it was last caught up, the in-sync replica set, and from them the high watermark and the
 * ISR changes to propose. Writing a changed ISR to the partition's record (one conditional write
 * in the metadata store) is its owner's job; `setIsr` applies what was written.
 *
 *   leader LEO 120 ─┬─ follower 2: fetched from 120 (caught up now)
 *                   └─ follower 3: fetched from 95, last caught up 31 s ago
 *   ISR {1, 2, 3}: high watermark = min(120, 120, 95) = 95
 *   replica.lag.time.max.ms 30 s: propose ISR {1, 2}; then the high watermark is 120
 *
 * Caught up (Kafka's updateFetchState): a fetch from at least the leader's log end at that moment
 * makes the follower caught up as of the fetch; a fetch from at least the leader's log end at its
 * previous fetch makes it caught up as of that previous fetch. A follower out of the ISR comes back
 * once its log end reaches the high watermark and the leader's current epoch start (so it holds
 * everything this leader acknowledged).
 */
export interface FollowerState {
  readonly id: number;
  /** The offset of its last fetch: everything below it is in its log. -1 before it fetched. */
  logEndOffset: bigint;
  lastFetchTimeMs: number;
  /** The leader's log end at that fetch. */
  lastFetchLeaderLogEndOffset: bigint;
  /** Last time it was known to hold the leader's whole log. */
  lastCaughtUpTimeMs: number;
}

export type FollowerFetchResult = 'ok' | 'not-a-replica';

export class LeaderReplicas {
  private readonly followers = new Map<number, FollowerState>();
  private inSync: Set<number>;

  /**
   * `replicas` is the partition's assignment (the leader among them), `isr` the in-sync set as
   * the partition's record has it. Followers in the ISR start as caught up now: Kafka gives a new
   * leader's followers replica.lag.time.max.ms to show they fetch.
   */
  constructor(
    readonly leaderId: number,
    replicas: readonly number[],
    isr: readonly number[],
    nowMs: number,
  ) {
    for (const id of replicas) {
      if (id === leaderId) continue;
      this.followers.set(id, { id, logEndOffset: -1n, lastFetchTimeMs: 0, lastFetchLeaderLogEndOffset: -1n, lastCaughtUpTimeMs: isr.includes(id) ? nowMs : 0 });
    }
    this.inSync = new Set(isr);
    this.inSync.add(leaderId);
  }

  get isr(): number[] {
    return [...this.inSync].sort((a, b) => a - b);
  }

  get replicas(): number[] {
    return [this.leaderId, ...this.followers.keys()].sort((a, b) => a - b);
  }

  follower(id: number): Readonly<FollowerState> | undefined {
    return this.followers.get(id);
  }

  /** A follower fetched from `fetchOffset` while the leader's log ended at `leaderLogEndOffset`. */
  updateFollowerFetch(id: number, fetchOffset: bigint, leaderLogEndOffset: bigint, nowMs: number): FollowerFetchResult {
    const f = this.followers.get(id);
    if (!f) return 'not-a-replica';
    if (fetchOffset >= leaderLogEndOffset) f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, nowMs);
    else if (fetchOffset >= f.lastFetchLeaderLogEndOffset && f.lastFetchLeaderLogEndOffset >= 0n) f.lastCaughtUpTimeMs = Math.max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs);
    f.logEndOffset = fetchOffset;
    f.lastFetchLeaderLogEndOffset = leaderLogEndOffset;
    f.lastFetchTimeMs = nowMs;
    return 'ok';
  }

  /** The lowest log end in the ISR, the leader's own included: what every in-sync replica holds. */
  highWatermark(leaderLogEndOffset: bigint): bigint {
    let hw = leaderLogEndOffset;
    for (const id of this.inSync) {
      if (id === this.leaderId) continue;
      const f = this.followers.get(id);
      const end = f && f.logEndOffset >= 0n ? f.logEndOffset : 0n;
      if (end < hw) hw = end;
    }
    return hw;
  }

  /**
   * In-sync followers that have not been caught up for `replicaLagTimeMaxMs` (Kafka's
   * getOutOfSyncReplicas): the ISR to propose without them, or null when all keep up.
   */
  proposeShrink(nowMs: number, replicaLagTimeMaxMs: number): number[] | null {
    const out: number[] = [];
    for (const id of this.inSync) {
      if (id === this.leaderId) continue;
      const f = this.followers.get(id);
      if (!f || nowMs - f.lastCaughtUpTimeMs > replicaLagTimeMaxMs) out.push(id);
    }
    if (out.length === 0) return null;
    return this.isr.filter((id) => !out.includes(id));
  }

  /**
   * Followers out of the ISR that hold everything it does (log end at or past the high watermark
   * and the start of the leader's current epoch): the ISR to propose with them, or null. `only`:
   * consider that follower alone (the one that just fetched).
   */
  proposeExpand(highWatermark: bigint, leaderEpochStartOffset: bigint, only?: number): number[] | null {
    const back: number[] = [];
    for (const f of this.followers.values()) {
      if (this.inSync.has(f.id) || (only !== undefined && f.id !== only)) continue;
      if (f.logEndOffset >= highWatermark && f.logEndOffset >= leaderEpochStartOffset) back.push(f.id);
    }
    if (back.length === 0) return null;
    return [...this.isr, ...back].sort((a, b) => a - b);
  }

  /**
   * The assignment changed under the same leader (a reassignment adds or removes replicas):
   * followers it keeps keep their positions, new ones start unknown (out of the ISR unless the
   * record has them in it), removed ones are forgotten.
   */
  updateAssignment(replicas: readonly number[], isr: readonly number[], nowMs: number): void {
    for (const id of replicas) {
      if (id === this.leaderId || this.followers.has(id)) continue;
      this.followers.set(id, { id, logEndOffset: -1n, lastFetchTimeMs: 0, lastFetchLeaderLogEndOffset: -1n, lastCaughtUpTimeMs: isr.includes(id) ? nowMs : 0 });
    }
    for (const id of [...this.followers.keys()]) if (!replicas.includes(id)) this.followers.delete(id);
    this.setIsr(isr);
  }

  /** The ISR as now written to the partition's record. */
  setIsr(isr: readonly number[]): void {
    this.inSync = new Set(isr);
    this.inSync.add(this.leaderId);
  }
}
