import { isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import { systemClock, type LeaseClock } from '../meta/brokerLease';
import type { VersionedKv } from '../meta/versionedKv';
import { randomUuid } from '../protocol/writer';

/**
 * Which broker is the controller: one item (`controller`) in the metadata store that one broker
 * at a time holds as a lease, with an epoch that grows at every change of holder (Kafka's
 * controller epoch). The controller places replicas and elects leaders; every other broker
 * stands by, watching the item, and takes it over once it has seen it unrenewed for a whole
 * session timeout on its own monotonic clock. Only single-item conditional writes, so DynamoDB
 * without transactions and the embedded store behave alike.
 *
 * The timing argument (the broker lease's, brokerLease.ts): the holder's lease runs until the
 * monotonic time it *sent* its last successful renewal + T; a standby takes over only after it
 * has read the same version for T, measured from when a read that already showed that renewal
 * returned. The renewal was sent before it was read, so the holder's lease has run out by its own
 * clock before the standby writes: two controllers never act at once, whatever the clocks'
 * offsets (monotonic clocks advance at the same rate). A holder checks `isController` before
 * every decision and write; a write that passed the check just before the process was paused is
 * the window that remains, as for the broker lease — the single-item condition on every record
 * it writes (its version) makes such a stale write fail if anything changed meanwhile.
 *
 *   holder   renew(v=8) sent ─────────── lease until sent + T ──┤
 *   standby           read v=8 ──── same v for T ───────────────────┤ take over: epoch + 1
 */
export type ControllerRecord = {
  nodeId: number;
  epoch: number;
  /** The process holding it (random per process); null once resigned. */
  incarnationId: string | null;
  /** By the holder's wall clock, for people only: nothing is decided by it (clocks differ). */
  leaseExpiresAt: number;
};

export interface ControllerElectionOptions {
  nodeId: number;
  /** broker.session.timeout.ms: how long a silent controller keeps the role. */
  sessionTimeoutMs: number;
  /** broker.heartbeat.interval.ms: how often the holder renews and standbys look. */
  heartbeatIntervalMs: number;
  clock?: LeaseClock;
  logger?: Logger;
  /** Random per process unless given (tests). */
  incarnationId?: string;
  /** This broker became the controller, with this epoch. */
  onElected?: (epoch: number) => void;
  /** This broker stopped being the controller, and why. */
  onResigned?: (reason: string) => void;
}

export const CONTROLLER_KEY = 'controller';

interface Held {
  epoch: number;
  version: number;
  /** Monotonic ms until which this process holds the role. */
  deadline: number;
}

export class ControllerElection {
  private held: Held | null = null;
  /** The holder's record version as first seen by this standby, and when (monotonic, after the read). */
  private watched: { version: number; since: number } | null = null;
  private readonly clock: LeaseClock;
  readonly incarnationId: string;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private lastHolder: number | null = null;

  constructor(
    private readonly kv: VersionedKv,
    private readonly opts: ControllerElectionOptions,
  ) {
    if (!(opts.heartbeatIntervalMs > 0 && opts.heartbeatIntervalMs < opts.sessionTimeoutMs)) {
      throw new RangeError(`heartbeat interval ${opts.heartbeatIntervalMs} ms must be positive and below the session timeout ${opts.sessionTimeoutMs} ms`);
    }
    this.clock = opts.clock ?? systemClock;
    this.incarnationId = opts.incarnationId ?? randomUuid();
  }

  /** Whether this broker is the controller now: it holds the role and its time has not run out. Cheap (no I/O). */
  get isController(): boolean {
    if (this.held === null) return false;
    if (this.clock.monotonic() >= this.held.deadline) {
      this.resignLocally(`its lease ran out (no renewal reached the metadata store for ${this.opts.sessionTimeoutMs} ms)`);
      return false;
    }
    return true;
  }

  /** The controller's node id as last seen (this broker's own while it holds the role), null when none holds it. */
  get holderId(): number | null {
    return this.isController ? this.opts.nodeId : this.lastHolder;
  }

  /** The controller epoch while this broker is the controller, else null. */
  get epoch(): number | null {
    return this.isController ? this.held!.epoch : null;
  }

  /** Ticks every heartbeat interval until stop(). */
  start(): void {
    if (this.timer !== null || this.stopped) return;
    const run = (): void => {
      this.ticking ??= this.tick()
        .catch((e) => this.opts.logger?.warn(`controller election: ${(e as Error).message}`))
        .finally(() => {
          this.ticking = null;
        });
    };
    run();
    this.timer = setInterval(run, this.opts.heartbeatIntervalMs);
    this.timer.unref();
  }

  /** One step: the controller renews; a standby looks at the record and takes it over when it may. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.isController) await this.renew();
    else await this.campaign();
  }

  /** Stops ticking and, as the controller, resigns in the store (so a standby takes over at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    if (!this.isController) return;
    const held = this.held!;
    this.resignLocally('it stopped');
    try {
      await this.kv.put(CONTROLLER_KEY, this.record(held.epoch, null, 0), held.version);
    } catch (e) {
      // Not written: a standby takes over after a session timeout instead.
      this.opts.logger?.warn(`could not release the controller role (epoch ${held.epoch}): ${(e as Error).message}`);
    }
  }

  private async campaign(): Promise<void> {
    const T = this.opts.sessionTimeoutMs;
    const cur = await this.kv.get(CONTROLLER_KEY);
    const seenAt = this.clock.monotonic();
    const rec = cur?.value as ControllerRecord | undefined;
    const free = cur === null || rec!.incarnationId === null;
    this.lastHolder = free ? null : rec!.nodeId;
    if (!free) {
      if (this.watched === null || this.watched.version !== cur!.version) {
        this.watched = { version: cur!.version, since: seenAt };
        return;
      }
      if (seenAt - this.watched.since < T) return;
    }
    const epoch = (rec?.epoch ?? 0) + 1;
    const sentAt = this.clock.monotonic();
    let version: number;
    try {
      version = await this.kv.put(CONTROLLER_KEY, this.record(epoch, this.incarnationId, this.clock.now() + T), cur?.version ?? null);
    } catch (e) {
      // Another broker wrote first (took it, or the holder renewed): look again next time.
      if (isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS')) {
        this.watched = null;
        return;
      }
      throw e;
    }
    this.watched = null;
    this.held = { epoch, version, deadline: sentAt + T };
    const previous = free ? '' : `; node ${rec!.nodeId} (epoch ${rec!.epoch}) left it unrenewed for ${T} ms`;
    this.opts.logger?.info(`became the controller with epoch ${epoch}${previous}`);
    this.opts.onElected?.(epoch);
  }

  private async renew(): Promise<void> {
    const held = this.held!;
    const sentAt = this.clock.monotonic();
    try {
      const version = await this.kv.put(CONTROLLER_KEY, this.record(held.epoch, this.incarnationId, this.clock.now() + this.opts.sessionTimeoutMs), held.version);
      if (this.held !== held) return; // resigned while the write was out
      held.version = version;
      held.deadline = sentAt + this.opts.sessionTimeoutMs;
    } catch (e) {
      if (this.held !== held) return;
      if (isStrataError(e, 'VERSION_CONFLICT')) {
        const found = await this.kv.get(CONTROLLER_KEY).catch(() => null);
        const rec = found?.value as ControllerRecord | undefined;
        // A renewal whose first attempt landed (its answer was lost): only this process writes its incarnation.
        if (found && rec!.incarnationId === this.incarnationId && rec!.epoch === held.epoch && found.version > held.version) {
          held.version = found.version;
          held.deadline = sentAt + this.opts.sessionTimeoutMs;
          return;
        }
        this.resignLocally(found ? `node ${rec!.nodeId} holds it now (epoch ${rec!.epoch})` : 'its record was deleted');
        return;
      }
      // The store is unreachable: the role lasts until its time runs out (isController resigns then).
      this.opts.logger?.warn(`could not renew the controller role (epoch ${held.epoch}): ${(e as Error).message}; it lapses at the end of its lease unless a renewal succeeds`);
    }
  }

  private resignLocally(reason: string): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.opts.logger?.info(`no longer the controller (epoch ${held.epoch}): ${reason}`);
    this.opts.onResigned?.(reason);
  }

  private record(epoch: number, incarnationId: string | null, leaseExpiresAt: number): ControllerRecord {
    return { nodeId: this.opts.nodeId, epoch, incarnationId, leaseExpiresAt };
  }
}
