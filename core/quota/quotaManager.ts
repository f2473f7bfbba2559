import type { Logger } from '../common/logger';
import { entityPath, type QuotaKey } from './clientQuotaEntity';
import type { ClientQuotaStore, StoredClientQuota } from './clientQuotaStore';
import { SampledRate, throttleTimeMs } from './rate';

/**
 * Kafka's client quotas (ClientQuotaManager, ClientRequestQuotaManager and the
 * DefaultQuotaCallback), one state per quota type:
 *
 *   produce   producer_byte_rate   request bytes of Produce, per second
 *   fetch     consumer_byte_rate   response bytes of consumers' Fetch, per second
 *   request   request_percentage   time spent handling the client's requests, in percent of one
 *                                  second per second (the broker's threads in Kafka; the event
 *                                  loop here)
 *
 * Which quota applies to a connection (its principal's user name and its client id) follows
 * Kafka's precedence, the first entity that has a quota of the type winning:
 *
 *   1 users/<user>/clients/<client-id>      5 users/<default>/clients/<default>
 *   2 users/<user>/clients/<default>        6 users/<default>
 *   3 users/<user>                          7 clients/<client-id>
 *   4 users/<default>/clients/<client-id>   8 clients/<default>
 *
 * and so does what is measured together: the rate is kept per (user, client id) for entities
 * 1, 2, 4 and 5 (each client id of a user has its own allowance even under a default), per user
 * for 3 and 6 (all of the user's clients share it), per client id for 7 and 8 (every user of the
 * client id shares it). A request that takes a rate past its bound is answered with a throttle
 * time (rate.ts) and the caller mutes the connection for it (KIP-219).
 *
 * The quotas come from the metadata store (ClientQuotaStore): read at start, every
 * `refreshIntervalMs` (so a change made through any broker applies everywhere within about a
 * second), and at once after an AlterClientQuotas through this broker. Rates of (user, client id)
 * pairs not seen for an hour are dropped, as Kafka expires its quota sensors.
 */
export type QuotaType = 'produce' | 'fetch' | 'request';

export const QUOTA_TYPES: readonly QuotaType[] = ['produce', 'fetch', 'request'];

/** The quota key each type enforces. */
export const QUOTA_KEY_OF: Readonly<Record<QuotaType, QuotaKey>> = { produce: 'producer_byte_rate', fetch: 'consumer_byte_rate', request: 'request_percentage' };

/** Kafka's ClientQuotaManager.InactiveSensorExpirationTimeSeconds. */
const INACTIVE_EXPIRATION_MS = 3600_000;
const DEFAULT_REFRESH_INTERVAL_MS = 1000;

export interface QuotaManagerOptions {
  /** quota.window.num */
  windowNum: number;
  /** quota.window.size.seconds */
  windowSizeSeconds: number;
  logger: Logger;
  /** How often the store is read again; default 1 s. */
  refreshIntervalMs?: number;
}

/** One measured rate: what Kafka's quota sensor (and its throttle-time sensor) hold. */
interface Sensor {
  /** The metric tags: '' when the rate is not kept per user (or per client id). */
  readonly user: string;
  readonly clientId: string;
  readonly rate: SampledRate;
  lastRecordMs: number;
  throttleMsTotal: number;
  throttles: number;
}

/** Where a (user, client id) pair is measured, and its bound (null: no quota). */
interface Resolution {
  readonly sensorKey: string;
  readonly user: string;
  readonly clientId: string;
  readonly bound: number | null;
}

/** What the metrics show of one rate. */
export interface QuotaSensorStats {
  type: QuotaType;
  user: string;
  clientId: string;
  /** Per second at the time asked (bytes, or percent for request). */
  rate: number;
  /** The quota, null when none applies (the rate is kept while quotas of the type exist). */
  bound: number | null;
  throttleMsTotal: number;
  throttles: number;
}

class TypeQuotas {
  /** The type's quota by entity path (clientQuotaEntity.ts), e.g. 'users/alice/clients/<default>'. */
  overrides = new Map<string, number>();
  readonly sensors = new Map<string, Sensor>();
  /** Resolutions by user \0 client id, dropped whenever the quotas change. */
  readonly resolved = new Map<string, Resolution>();
}

export class QuotaManager {
  private readonly types: Record<QuotaType, TypeQuotas> = { produce: new TypeQuotas(), fetch: new TypeQuotas(), request: new TypeQuotas() };
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private again = false;
  private failing = false;
  private closed = false;

  constructor(
    /** Null: quotas only through setQuotas (tests). */
    readonly store: ClientQuotaStore | null,
    private readonly opts: QuotaManagerOptions,
  ) {
    this.windowMs = opts.windowSizeSeconds * 1000;
  }

  /** Reads the store, then keeps reading it every refreshIntervalMs. */
  async start(): Promise<void> {
    await this.refreshNow();
    if (this.closed || this.store === null) return;
    this.timer = setInterval(() => void this.refreshNow(), this.opts.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the quotas from the store now (a read already running is followed by one more). */
  refreshNow(): Promise<void> {
    if (this.store === null || this.closed) return Promise.resolve();
    if (this.refreshing !== null) {
      this.again = true;
      return this.refreshing;
    }
    const store = this.store;
    this.refreshing = (async () => {
      try {
        do {
          this.again = false;
          try {
            this.setQuotas(await store.list());
            if (this.failing) this.opts.logger.info('client quotas are read from the metadata store again');
            this.failing = false;
          } catch (e) {
            if (!this.failing && !this.closed) this.opts.logger.warn(`cannot read client quotas from the metadata store (the last ones read stay in force): ${(e as Error).message}`);
            this.failing = true;
          }
        } while (this.again && !this.closed);
        this.expireSensors(Date.now());
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** Replaces every quota with `quotas` (what the store holds). */
  setQuotas(quotas: readonly StoredClientQuota[]): void {
    for (const type of QUOTA_TYPES) {
      const key = QUOTA_KEY_OF[type];
      const next = new Map<string, number>();
      for (const q of quotas) {
        const v = q.values[key];
        if (v !== undefined) next.set(entityPath(q.entity), v);
      }
      const t = this.types[type];
      if (!sameMap(t.overrides, next)) {
        t.overrides = next;
        t.resolved.clear();
      }
    }
  }

  /** Whether any quota of the type exists (without one nothing is measured, as in Kafka). */
  enabled(type: QuotaType): boolean {
    return this.types[type].overrides.size > 0;
  }

  /** The quota that applies to the pair, or null. */
  quotaOf(type: QuotaType, user: string, clientId: string): number | null {
    return this.resolve(type, user, clientId).bound;
  }

  /**
   * Records `value` for the pair at `nowMs` and returns how long to throttle it (0 within its
   * quota): Kafka's maybeRecordAndGetThrottleTimeMs. Request time is capped at one window, as
   * Kafka caps it; byte rates are not.
   */
  record(type: QuotaType, user: string, clientId: string, value: number, nowMs: number): number {
    if (!this.enabled(type)) return 0;
    const r = this.resolve(type, user, clientId);
    const sensor = this.sensorFor(type, r);
    sensor.lastRecordMs = nowMs;
    sensor.rate.record(value, nowMs);
    if (r.bound === null) return 0;
    const rate = sensor.rate.measure(nowMs);
    if (!(rate > r.bound)) return 0;
    return throttleTimeMs(rate, r.bound, sensor.rate.windowSizeMs(nowMs), type === 'request' ? this.windowMs : Infinity);
  }

  /** Takes back a recorded value (a throttled fetch returns nothing): Kafka's unrecordQuotaSensor. */
  unrecord(type: QuotaType, user: string, clientId: string, value: number, nowMs: number): void {
    if (!this.enabled(type)) return;
    this.sensorFor(type, this.resolve(type, user, clientId)).rate.record(-value, nowMs);
  }

  /**
   * The most that one request may take without being throttled even from an idle start (quota ×
   * (quota.window.num - 1) windows): Kafka caps a consumer's fetch size with it. Infinity
   * without a quota.
   */
  maxValueInWindow(type: QuotaType, user: string, clientId: string): number {
    if (!this.enabled(type)) return Infinity;
    const bound = this.resolve(type, user, clientId).bound;
    return bound === null ? Infinity : bound * (this.opts.windowNum - 1) * this.opts.windowSizeSeconds;
  }

  /** Counts a throttle given to the pair (Kafka's throttle-time sensor), for the metrics. */
  noteThrottle(type: QuotaType, user: string, clientId: string, ms: number): void {
    if (!(ms > 0) || !this.enabled(type)) return;
    const sensor = this.sensorFor(type, this.resolve(type, user, clientId));
    sensor.throttleMsTotal += ms;
    sensor.throttles++;
  }

  /** Every rate kept, for the metrics. */
  stats(nowMs = Date.now()): QuotaSensorStats[] {
    const out: QuotaSensorStats[] = [];
    for (const type of QUOTA_TYPES) {
      const t = this.types[type];
      for (const s of t.sensors.values()) {
        out.push({
          type,
          user: s.user,
          clientId: s.clientId,
          rate: s.rate.measure(nowMs),
          bound: this.limitOf(type, s.user, s.clientId),
          throttleMsTotal: s.throttleMsTotal,
          throttles: s.throttles,
        });
      }
    }
    return out;
  }

  private sensorFor(type: QuotaType, r: Resolution): Sensor {
    const sensors = this.types[type].sensors;
    let s = sensors.get(r.sensorKey);
    if (s === undefined) {
      s = { user: r.user, clientId: r.clientId, rate: new SampledRate(this.opts.windowNum, this.windowMs), lastRecordMs: 0, throttleMsTotal: 0, throttles: 0 };
      sensors.set(r.sensorKey, s);
    }
    return s;
  }

  private expireSensors(nowMs: number): void {
    for (const type of QUOTA_TYPES) {
      const sensors = this.types[type].sensors;
      for (const [k, s] of sensors) if (nowMs - s.lastRecordMs > INACTIVE_EXPIRATION_MS) sensors.delete(k);
    }
  }

  private resolve(type: QuotaType, user: string, clientId: string): Resolution {
    const t = this.types[type];
    const cacheKey = `${user}\0${clientId}`;
    let r = t.resolved.get(cacheKey);
    if (r === undefined) {
      const [u, c] = metricTags(t.overrides, user, clientId);
      r = { sensorKey: `${u}\0${c}`, user: u, clientId: c, bound: quotaLimit(t.overrides, u, c) };
      // Bounded: pairs are few in practice, and the cache restarts with every quota change.
      if (t.resolved.size >= 100_000) t.resolved.clear();
      t.resolved.set(cacheKey, r);
    }
    return r;
  }

  private limitOf(type: QuotaType, user: string, clientId: string): number | null {
    return quotaLimit(this.types[type].overrides, user, clientId);
  }
}

const path = (user: string | null | undefined, clientId: string | null | undefined): string => entityPath({ user, clientId });

/** DefaultQuotaCallback.quotaMetricTags: which (user, client id) the pair's rate is kept under. */
export function metricTags(overrides: ReadonlyMap<string, number>, user: string, clientId: string): [string, string] {
  const has = (u: string | null | undefined, c: string | null | undefined): boolean => overrides.has(path(u, c));
  if (has(user, clientId) || has(user, null)) return [user, clientId];
  if (has(user, undefined)) return [user, ''];
  if (has(null, clientId) || has(null, null)) return [user, clientId];
  if (has(null, undefined)) return [user, ''];
  return ['', clientId];
}

/** DefaultQuotaCallback.quotaLimit: the quota of a rate kept under (user, client id), or null. */
export function quotaLimit(overrides: ReadonlyMap<string, number>, user: string, clientId: string): number | null {
  const get = (u: string | null | undefined, c: string | null | undefined): number | undefined => overrides.get(path(u, c));
  let q: number | undefined;
  if (user !== '' && clientId !== '') q = get(user, clientId) ?? get(user, null) ?? get(null, clientId) ?? get(null, null);
  else if (user !== '') q = get(user, undefined) ?? get(null, undefined);
  else if (clientId !== '') q = get(undefined, clientId) ?? get(undefined, null);
  return q ?? null;
}

function sameMap(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
