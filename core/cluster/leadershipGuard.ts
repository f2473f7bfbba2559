import type { Logger } from '../common/logger';

/**
 * Whether this broker may act as a partition leader right now (checked before every append and
 * by the partitions' ISR upkeep), and the timing argument that makes two leaders of one
 * partition impossible without any clock agreement:
 *
 *   this broker   heartbeat sent (s) ──── may lead until s + L ─┤
 *   other broker       reads that version (r ≥ s) ── same version for L ───┤ dead: elect another
 *
 * L is broker.liveness.timeout.ms. The other broker (the controller) declares this one dead only
 * after reading the same registration version for L from a read that already showed the last
 * heartbeat (core/cluster/brokerLiveness.ts); that heartbeat was sent before it was read, so by
 * this broker's own monotonic clock its leadership ended before anyone could be elected in its
 * place. Clocks may disagree on the time of day; only their rates must agree (monotonic clocks
 * on sane hosts drift by parts per million).
 *
 * Once lapsed, leadership does not come back with the next heartbeat alone: meanwhile another
 * broker may have been elected, which this one learns only by reading the partitions' records
 * again. So a lapse suspends every leadership until a full metadata read that started after a
 * heartbeat succeeded again (resume).
 */
export interface LeaseView {
  /** The last successful heartbeat was sent less than `windowMs` ago (core/meta/brokerLease.ts). */
  withinLease(windowMs: number): boolean;
  /** Called after each successful heartbeat with the send times of the previous one and this one. */
  onRenewal(listener: (previousSentAt: number, sentAt: number) => void): void;
}

export class LeadershipGuard {
  private suspended = false;

  constructor(
    private readonly lease: LeaseView,
    private readonly livenessTimeoutMs: number,
    private readonly logger: Logger,
  ) {
    // A lapse nobody asked about while it lasted (the process was paused and its first heartbeat
    // after resuming succeeded before any append looked) still suspends leadership: the gap
    // between two successful heartbeats says the lease ran out in between.
    lease.onRenewal((previous, sentAt) => {
      if (!this.suspended && sentAt - previous >= livenessTimeoutMs) this.suspend(`${Math.round(sentAt - previous)} ms passed between two heartbeats, more than`);
    });
  }

  mayLead(): boolean {
    if (this.suspended) return false;
    if (this.lease.withinLease(this.livenessTimeoutMs)) return true;
    this.suspend();
    return false;
  }

  /** Whether leadership waits for a full metadata read (see above). */
  get isSuspended(): boolean {
    if (!this.suspended && !this.lease.withinLease(this.livenessTimeoutMs)) this.suspend();
    return this.suspended;
  }

  /** Whether the lease holds now (a full read that starts now may resume leadership). */
  leaseHolds(): boolean {
    return this.lease.withinLease(this.livenessTimeoutMs);
  }

  /** A full metadata read that started while the lease held has been applied. */
  resume(): void {
    if (!this.suspended) return;
    this.suspended = false;
    this.logger.info('heartbeats reach the metadata store again and the cluster metadata was read again: leading what the records say');
  }

  private suspend(why = 'no heartbeat reached the metadata store within'): void {
    this.suspended = true;
    this.logger.warn(`${why} broker.liveness.timeout.ms (${this.livenessTimeoutMs} ms): leading nothing until heartbeats succeed and the cluster metadata is read again`);
  }
}
