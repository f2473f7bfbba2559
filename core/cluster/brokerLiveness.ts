import type { BrokerRecord } from '../meta/metadataStore';

/**
 * Which registered brokers are alive, as judged by one observer from the registrations it reads
 * (Kafka's controller fences a broker whose heartbeats stop; here every broker judges, so a new
 * controller needs no warm-up). A broker is live while it holds its registration (an incarnation,
 * not released) and the record's version keeps changing: a record seen at the same version for a
 * whole session timeout (T) on the observer's monotonic clock, counted from the read that first
 * showed that version, belongs to a broker whose lease has run out by its own clock (the
 * renewal that wrote the version was sent before that read: core/meta/brokerLease.ts).
 *
 *   broker    renew(v) sent ─────── lease until sent + T ─┤
 *   observer            read v (since) ─── same v for T ─────┤ dead
 *
 * A record released on a clean shutdown is dead at once; a broker seen for the first time is live
 * until its record stays unchanged for T.
 */
export interface BrokerView {
  readonly record: BrokerRecord;
  readonly live: boolean;
}

interface Watched {
  record: BrokerRecord;
  /** Monotonic ms when a read first returned this version. */
  since: number;
}

export class BrokerLiveness {
  private readonly watched = new Map<number, Watched>();

  constructor(private readonly sessionTimeoutMs: number) {}

  /** Takes one full listing of the registrations, read just before `now` (monotonic ms). */
  observe(records: readonly BrokerRecord[], now: number): void {
    const seen = new Set<number>();
    for (const r of records) {
      seen.add(r.nodeId);
      const w = this.watched.get(r.nodeId);
      if (w === undefined || w.record.version !== r.version || w.record.epoch !== r.epoch) this.watched.set(r.nodeId, { record: r, since: now });
    }
    for (const id of [...this.watched.keys()]) if (!seen.has(id)) this.watched.delete(id);
  }

  /** Whether broker `nodeId` is live as of `now` (monotonic ms). */
  isLive(nodeId: number, now: number): boolean {
    const w = this.watched.get(nodeId);
    if (w === undefined) return false;
    return isHeld(w.record) && now - w.since < this.sessionTimeoutMs;
  }

  /**
   * When the first broker live at `now` (other than `except`) will be judged dead if its
   * registration does not change before then (monotonic ms); null when none is live.
   */
  nextExpiry(now: number, except: number): number | null {
    let next: number | null = null;
    for (const w of this.watched.values()) {
      if (w.record.nodeId === except || !isHeld(w.record) || now - w.since >= this.sessionTimeoutMs) continue;
      const at = w.since + this.sessionTimeoutMs;
      if (next === null || at < next) next = at;
    }
    return next;
  }

  /** Every registered broker with its liveness, sorted by node id. */
  brokers(now: number): BrokerView[] {
    return [...this.watched.values()].sort((a, b) => a.record.nodeId - b.record.nodeId).map((w) => ({ record: w.record, live: isHeld(w.record) && now - w.since < this.sessionTimeoutMs }));
  }

  /** The live brokers' registrations, sorted by node id. */
  live(now: number): BrokerRecord[] {
    return this.brokers(now).filter((b) => b.live).map((b) => b.record);
  }

  record(nodeId: number): BrokerRecord | undefined {
    return this.watched.get(nodeId)?.record;
  }
}

/** Held by a running process: registrations written before leases existed count as held. */
function isHeld(r: BrokerRecord): boolean {
  return r.incarnationId !== null;
}
