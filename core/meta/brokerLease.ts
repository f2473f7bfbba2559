import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import { randomUuid } from '../protocol/reader';
import type { BrokerEndpoint, BrokerRecord, MetadataStore } from './metadataStore';

/**
 * The broker's lease on its registration record (`broker/<node.id>` in the metadata store),
 * Strata's form of KRaft's broker session: while one process holds node.id N, a second one is
 * refused (Kafka's DUPLICATE_BROKER_REGISTRATION), and a holder that stops renewing is fenced.
 *
 *   record   { nodeId, host, port, rack, epoch, incarnationId, leaseExpiresAt } + version
 *   acquire  take the record with epoch + 1, conditional on the version read (create if absent)
 *   renew    every broker.heartbeat.interval.ms: rewrite it with a later leaseExpiresAt,
 *            conditional on the version this process wrote last
 *   release  on clean shutdown: incarnationId null, leaseExpiresAt 0, conditional on the
 *            version; the record (and its epoch) stays, so epochs only ever grow
 *
 * Expiry and clock skew. Neither backend has a clock of its own to judge expiry by (DynamoDB
 * conditions cannot compare with server time; its TTL deletes days late), and the
 * leaseExpiresAt a holder writes is by *its* wall clock. So no decision compares one host's
 * wall clock with another's; both sides measure one session timeout (T) on their own
 * monotonic clock:
 *
 *   holder    its lease runs until (monotonic time it *sent* its last successful write) + T.
 *             Past that it is fenced, whatever the store says later.
 *   acquirer  a record held by another incarnation is taken over only after the acquirer has
 *             seen the same version for a full T (from the moment its read returned) and its
 *             conditional write on that version succeeds. If the version changes while it
 *             watches, the holder is alive: refused (BROKER_ALREADY_REGISTERED).
 *
 *            holder sends write v ──► store applies v ──► acquirer reads v (watch starts)
 *            │◄──────────────────── T ────────────────────►│ holder's lease over
 *                                                          │◄── ≤ read latency ──►│ acquirer may write
 *
 * The holder's lease ends no later than the acquirer's watch: the write was sent before it was
 * read. A live holder renews every heartbeat interval (< T), so a duplicate is refused within
 * about one interval; a crashed one is replaced after T; a cleanly stopped one at once. The
 * cost is that a restart after a crash waits one session timeout, as KRaft's does.
 *
 * Exception: a store that admits one process per node.id (the embedded store: several brokers
 * on one host may share it, but each holds `node-<id>.lock` in its directory while it runs, and a
 * second process with that node.id is refused before it reaches the lease) cannot have a live
 * holder of this record other than this process, so with `exclusiveStore` a held record is taken
 * over at once.
 *
 * What the lease protects, and why time never fences it on such a store. On a shared store
 * (DynamoDB) the lease is the only thing keeping a second process with this node.id from
 * acting on the same table and bucket: after T without a renewal another process may take the
 * record over, so a holder whose renewals fail must assume it has been replaced and stop when
 * T has passed — a renewal failure there is a network or store failure that the other process
 * may not share. On the embedded store the node.id lock file (a lock on this node.id, not on
 * the store, which other brokers share) keeps every other process with this node.id out for as
 * long as this one lives (a paused process is alive: its lock is respected), so no one can take
 * the record over, whatever the time; the store is a local directory, so a failed renewal means
 * this host's disk is full or failing, which fencing cannot help and a restart would only make
 * worse (a full disk then refuses the start). So with `exclusiveStore` the lease does not run
 * out: renewals still run (leaseExpiresAt stays current for people, and a conflict — the record
 * deleted or rewritten by hand — still fences), their failures are logged, and the broker keeps
 * serving reads while metadata writes fail on their own. This says nothing about the liveness of
 * one broker as seen by the others sharing the store: leadership leases among them need time
 * (renewals watched on monotonic clocks, as above) whatever the store.
 *
 * What the lease cannot do alone: a write that passed checkHeld() just before the process was
 * paused still leaves after it wakes. DESIGN.md's answer (every write conditional on the epoch)
 * needs multi-item conditions (TransactWriteItems), which dynalite lacks; until then the window
 * is one write per writer, against T for the new holder to start.
 */
export interface LeaseClock {
  /** Wall-clock ms since the epoch: written into records and messages, never compared across hosts. */
  now(): number;
  /** Monotonic ms (any origin): every decision about time. */
  monotonic(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: LeaseClock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface BrokerLeaseOptions {
  nodeId: number;
  /** The endpoint to register; updated with setEndpoint once the listener is bound. */
  host: string;
  port: number;
  rack: string | null;
  /** broker.session.timeout.ms */
  sessionTimeoutMs: number;
  /** broker.heartbeat.interval.ms: must be below the session timeout. */
  heartbeatIntervalMs: number;
  /** The store admits one process per node.id, by a lock of its own (see above). Default false. */
  exclusiveStore?: boolean;
  clock?: LeaseClock;
  logger?: Logger;
  /** Random per process unless given (tests). */
  incarnationId?: string;
}

const FIX = 'Stop the other broker, or wait for its lease to expire; each broker needs its own node.id.';

export class BrokerLease {
  private fencedReason: string | null = null;
  private released = false;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<boolean> | null = null;
  private onFenced: ((reason: string) => void) | null = null;
  /** Renewals failed in a row, the first failure's monotonic time and the last error (for logs and the fence reason). */
  private failures: { count: number; since: number; lastWarnAt: number; last: Error } | null = null;
  /** Monotonic time the last successful renewal (or the acquisition) was sent. */
  private lastRenewalSentAt: number;
  private readonly renewalListeners: ((previousSentAt: number, sentAt: number) => void)[] = [];
  /** Monotonic time of the last renewal attempt (sent), or of the acquisition. */
  private lastAttemptAt: number;
  /** A renewal's write is in flight. */
  private awaitingStore = false;
  private endpoint: { host: string; port: number; endpoints?: BrokerEndpoint[] };

  private constructor(
    private readonly store: MetadataStore,
    private readonly opts: BrokerLeaseOptions,
    private readonly clock: LeaseClock,
    readonly incarnationId: string,
    private record: BrokerRecord,
    /** Monotonic ms until which this process holds the lease. */
    private deadline: number,
  ) {
    this.endpoint = { host: record.host, port: record.port };
    this.lastAttemptAt = deadline - opts.sessionTimeoutMs;
    this.lastRenewalSentAt = this.lastAttemptAt;
  }

  /**
   * Takes node.id's registration, waiting up to one session timeout for proof that a previous
   * holder is gone (see above). Fails with BROKER_ALREADY_REGISTERED when another process
   * holds it and renews; store failures propagate.
   */
  static async acquire(store: MetadataStore, opts: BrokerLeaseOptions): Promise<BrokerLease> {
    checkTimes(opts.sessionTimeoutMs, opts.heartbeatIntervalMs);
    const clock = opts.clock ?? systemClock;
    const incarnationId = opts.incarnationId ?? randomUuid();
    const T = opts.sessionTimeoutMs;
    const log = opts.logger;
    /** The other holder's record as first seen, and when (monotonic, after the read returned). */
    let watched: { record: BrokerRecord; since: number } | null = null;
    for (;;) {
      const cur = await store.getBroker(opts.nodeId);
      const seenAt = clock.monotonic();
      const held = cur !== null && typeof cur.incarnationId === 'string' && cur.incarnationId !== incarnationId;
      let takeOver = cur === null || !held || opts.exclusiveStore === true;
      if (!takeOver) {
        if (watched === null) {
          watched = { record: cur!, since: seenAt };
          log?.info(
            `node.id ${opts.nodeId} is registered to ${describeHolder(cur!)}, ${describeExpiry(cur!, clock)}; ` +
              `waiting up to ${T} ms (broker.session.timeout.ms) for it to renew before taking over`,
          );
        } else if (!sameHolding(watched.record, cur!)) {
          throw alreadyRegistered(opts.nodeId, cur!, clock);
        } else if (seenAt - watched.since >= T) {
          takeOver = true;
        }
      }
      if (!takeOver) {
        await clock.sleep(Math.min(opts.heartbeatIntervalMs, Math.max(1, T - (seenAt - watched!.since))));
        continue;
      }
      const next: Omit<BrokerRecord, 'version'> = {
        nodeId: opts.nodeId,
        host: opts.host,
        port: opts.port,
        rack: opts.rack,
        epoch: (cur?.epoch ?? 0) + 1,
        incarnationId,
        leaseExpiresAt: clock.now() + T,
      };
      const sentAt = clock.monotonic();
      let written: BrokerRecord;
      try {
        written = await store.putBroker(next, cur?.version ?? null);
      } catch (e) {
        // Someone else wrote first: look again (a live holder is then refused, a released record taken).
        if (isStrataError(e, 'VERSION_CONFLICT')) continue;
        throw e;
      }
      const previous = cur && held ? `; took over from ${describeHolder(cur)}${opts.exclusiveStore ? ' (the store admits one process per node.id, so it is gone)' : `, unrenewed for ${T} ms`}` : '';
      log?.info(`registered node.id ${opts.nodeId} with broker epoch ${written.epoch} (incarnation ${incarnationId})${previous}`);
      return new BrokerLease(store, opts, clock, incarnationId, written, sentAt + T);
    }
  }

  /** The broker epoch of this registration (grows with every acquisition). */
  get epoch(): number {
    return this.record.epoch;
  }

  /** The record as last written by this process. */
  get current(): BrokerRecord {
    return { ...this.record };
  }

  /** Why the lease was lost, or null while it is held (or after release). */
  get fenced(): string | null {
    return this.fencedReason;
  }

  /**
   * Whether the lease is held now: not fenced, not released, and its time not run out (which it
   * never does on an exclusive store, see above). Cheap (no I/O).
   */
  isHeld(): boolean {
    if (this.fencedReason !== null || this.released) return false;
    if (this.opts.exclusiveStore !== true && this.clock.monotonic() >= this.deadline) {
      this.fence(this.expiredReason());
      return false;
    }
    return true;
  }

  /**
   * Whether this process may act as a partition leader now: the lease is held and its last
   * successful renewal was sent less than `windowMs` ago (broker.liveness.timeout.ms), on any store (an exclusive store never fences on time, but other brokers sharing
   * it judge this one by its renewals all the same: see core/cluster/leadershipGuard.ts). Cheap.
   */
  withinLease(windowMs: number = this.opts.sessionTimeoutMs): boolean {
    return this.fencedReason === null && !this.released && this.clock.monotonic() < this.lastRenewalSentAt + Math.min(windowMs, this.opts.sessionTimeoutMs);
  }

  /**
   * Calls `listener` after each successful renewal with the send times of the previous successful
   * renewal and of this one (monotonic ms): a gap longer than a lease window means the lease ran
   * out in between, even if nothing asked while it had (a process paused, then resumed).
   */
  onRenewal(listener: (previousSentAt: number, sentAt: number) => void): void {
    this.renewalListeners.push(listener);
  }

  private renewedAt(sentAt: number): void {
    const previous = this.lastRenewalSentAt;
    this.lastRenewalSentAt = sentAt;
    for (const l of this.renewalListeners) l(previous, sentAt);
  }

  /** Throws StrataError('BROKER_FENCED') unless the lease is held: call before every shared write. */
  checkHeld(): void {
    if (this.isHeld()) return;
    const why = this.fencedReason ?? `the registration of node.id ${this.opts.nodeId} was released`;
    throw new StrataError('BROKER_FENCED', `Broker node.id ${this.opts.nodeId} no longer holds its lease: ${why}.`);
  }

  /** The endpoints the next renewal writes (the bound listeners, once known): the inter-broker one, and every listener's. */
  setEndpoint(host: string, port: number, endpoints?: BrokerEndpoint[]): void {
    this.endpoint = { host, port, endpoints };
  }

  /**
   * One renewal, conditional on the version this process wrote last. Resolves true when it was
   * written; false when it failed (the lease stays held until its time runs out, then it is
   * fenced) or the lease was lost (fenced: a conflict, another holder, the time run out).
   * One at a time: a call while a renewal is in flight gets that renewal's outcome.
   */
  renew(): Promise<boolean> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<boolean> {
    if (!this.isHeld()) return false;
    const T = this.opts.sessionTimeoutMs;
    const sentAt = this.clock.monotonic();
    this.lastAttemptAt = sentAt;
    const next: Omit<BrokerRecord, 'version'> = {
      nodeId: this.record.nodeId,
      host: this.endpoint.host,
      port: this.endpoint.port,
      ...(this.endpoint.endpoints !== undefined ? { endpoints: this.endpoint.endpoints } : {}),
      rack: this.record.rack,
      epoch: this.record.epoch,
      incarnationId: this.incarnationId,
      leaseExpiresAt: this.clock.now() + T,
    };
    try {
      let written: BrokerRecord;
      this.awaitingStore = true;
      try {
        written = await this.store.putBroker(next, this.record.version);
      } finally {
        this.awaitingStore = false;
      }
      if (this.fencedReason !== null || this.released) return false;
      this.record = written;
      this.deadline = sentAt + T;
      this.renewedAt(sentAt);
      this.renewed();
      return true;
    } catch (e) {
      if (this.fencedReason !== null || this.released) return false;
      if (isStrataError(e, 'VERSION_CONFLICT')) {
        let found: BrokerRecord | null;
        try {
          found = await this.store.getBroker(this.record.nodeId);
        } catch {
          return this.renewalFailed(e as Error);
        }
        // A retried write whose first attempt landed (the response was lost): only this process
        // writes its incarnation id, and one renewal at a time, so the record is this renewal.
        if (found && found.incarnationId === this.incarnationId && found.epoch === this.record.epoch && found.version > this.record.version) {
          this.record = found;
          this.deadline = sentAt + T;
      this.renewedAt(sentAt);
          this.renewed();
          return true;
        }
        this.fence(
          found === null
            ? `the registration of node.id ${this.record.nodeId} was deleted from the metadata store`
            : `the registration of node.id ${this.record.nodeId} now belongs to ${describeHolder(found)}`,
        );
        return false;
      }
      return this.renewalFailed(e as Error);
    }
  }

  /**
   * Renews every heartbeat interval until release or fencing; `onFenced` is called once, with
   * the reason, as soon as the lease is lost (a renewal's conflict, or its time running out
   * even while a renewal hangs).
   */
  start(onFenced: (reason: string) => void): void {
    if (this.timer) return;
    this.onFenced = onFenced;
    if (this.fencedReason !== null) {
      onFenced(this.fencedReason);
      return;
    }
    this.timer = setInterval(() => this.heartbeat(), this.opts.heartbeatIntervalMs);
    this.timer.unref();
  }

  /**
   * Clean shutdown: stops the heartbeats and marks the record released (conditional on its
   * version), so the next broker with this node.id starts at once. Nothing to do once fenced;
   * if the store cannot be reached the record expires on its own (the next broker waits T).
   */
  async release(): Promise<void> {
    this.stopTimer();
    await this.renewing?.catch(() => undefined);
    if (this.fencedReason !== null || this.released) return;
    this.released = true;
    const r = this.record;
    try {
      await this.store.putBroker(
        { nodeId: r.nodeId, host: r.host, port: r.port, rack: r.rack, epoch: r.epoch, incarnationId: null, leaseExpiresAt: 0 },
        r.version,
      );
      this.opts.logger?.info(`released the registration of node.id ${r.nodeId} (broker epoch ${r.epoch})`);
    } catch (e) {
      this.opts.logger?.warn(
        `could not release the registration of node.id ${r.nodeId} (${(e as Error).message}); ` +
          `the next broker with this node.id waits broker.session.timeout.ms (${this.opts.sessionTimeoutMs} ms) before taking over`,
      );
    }
  }

  private heartbeat(): void {
    // Checked on every tick, so the lease is given up on time even while a renewal hangs.
    if (!this.isHeld() || this.renewing) return;
    void this.renew();
  }

  private renewalFailed(e: Error): boolean {
    const now = this.clock.monotonic();
    const f = this.failures;
    if (f === null) this.failures = { count: 1, since: now, lastWarnAt: -Infinity, last: e };
    else {
      f.count++;
      f.last = e;
    }
    if (!this.isHeld()) return false;
    const failures = this.failures!;
    const id = this.record.nodeId;
    if (this.opts.exclusiveStore === true) {
      // Logged at the first failure, then at most once a minute: a full disk can last.
      if (now - failures.lastWarnAt < 60_000) return false;
      failures.lastWarnAt = now;
      this.opts.logger?.warn(
        `could not renew the registration of node.id ${id} (${failures.count} attempt(s) failed over ${Math.round(now - failures.since)} ms): ${e.message}; ` +
          'the embedded store admits no other process with this node.id, so the broker keeps its lease and goes on serving; metadata writes fail until the store can write again',
      );
      return false;
    }
    const left = Math.round(this.deadline - now);
    this.opts.logger?.warn(`could not renew the registration of node.id ${id}: ${e.message}; the lease runs out in ${left} ms unless a renewal succeeds`);
    return false;
  }

  /** A renewal succeeded: after failures, say so once. */
  private renewed(): void {
    const f = this.failures;
    if (f === null) return;
    this.failures = null;
    this.opts.logger?.info(
      `renewed the registration of node.id ${this.record.nodeId} again after ${f.count} failed attempt(s) over ${Math.round(this.clock.monotonic() - f.since)} ms`,
    );
  }

  /** Why the lease ran out, naming the cause this process saw (not merely "another broker"). */
  private expiredReason(): string {
    const T = this.opts.sessionTimeoutMs;
    const head = `the lease of node.id ${this.opts.nodeId} (broker epoch ${this.record.epoch}) ran out: no renewal succeeded within broker.session.timeout.ms (${T} ms)`;
    const f = this.failures;
    const quiet = Math.round(this.clock.monotonic() - this.lastAttemptAt);
    let cause: string;
    if (this.awaitingStore) {
      cause = `a renewal sent ${quiet} ms ago has not been answered (the metadata store is unreachable or slow)`;
    } else if (f !== null && quiet < T) {
      cause = `the metadata store refused or did not answer ${f.count} renewal(s), the last with: ${f.last.message}`;
    } else {
      // No attempt for longer than a session: the process (or its event loop) did not run.
      cause = `the process did not run for ${quiet} ms (paused — SIGSTOP, a VM freeze — or its event loop blocked)`;
    }
    return `${head}: ${cause}. After that long, another broker with node.id ${this.opts.nodeId} may have taken over the registration, so this one stops`;
  }

  private fence(reason: string): void {
    if (this.fencedReason !== null) return;
    this.fencedReason = reason;
    this.stopTimer();
    this.onFenced?.(reason);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** broker.heartbeat.interval.ms must be below broker.session.timeout.ms, both positive. */
export function checkTimes(sessionTimeoutMs: number, heartbeatIntervalMs: number): void {
  if (!(heartbeatIntervalMs > 0 && sessionTimeoutMs > heartbeatIntervalMs)) {
    throw new StrataError(
      'CONFIG_INVALID',
      `broker.heartbeat.interval.ms (${heartbeatIntervalMs}) must be positive and less than broker.session.timeout.ms (${sessionTimeoutMs}).`,
    );
  }
}

/** The same holding: same incarnation and version, i.e. no renewal, release or takeover since. */
function sameHolding(a: BrokerRecord, b: BrokerRecord): boolean {
  return a.version === b.version && a.incarnationId === b.incarnationId;
}

function describeHolder(r: BrokerRecord): string {
  return `${r.host}:${r.port} (broker epoch ${r.epoch}, incarnation ${r.incarnationId})`;
}

function describeExpiry(r: BrokerRecord, clock: LeaseClock): string {
  const at = r.leaseExpiresAt ?? 0;
  const delta = at - clock.now();
  const rel = delta >= 0 ? `in ${(delta / 1000).toFixed(1)} s` : `${(-delta / 1000).toFixed(1)} s ago`;
  return `lease until ${new Date(at).toISOString()} by its clock (${rel} by this host's)`;
}

function alreadyRegistered(nodeId: number, holder: BrokerRecord, clock: LeaseClock): StrataError {
  const skew = (holder.leaseExpiresAt ?? 0) < clock.now() ? " (its expiry is in the past by this host's clock although it renews: the two hosts' clocks disagree)" : '';
  return new StrataError(
    'BROKER_ALREADY_REGISTERED',
    `Broker node.id ${nodeId} is already registered to a running broker at ${describeHolder(holder)}: it renewed its lease while this ` +
      `broker watched; ${describeExpiry(holder, clock)}${skew}. ${FIX}`,
  );
}
