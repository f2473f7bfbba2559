import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describeAws, type AwsSettings } from '../../core/common/awsConfig';
import { StrataError, isStrataError } from '../../core/common/errors';
import { BROKER_CONFIGS, loadBrokerConfig } from '../../core/config/brokerConfig';
import { BrokerLease, systemClock, type BrokerLeaseOptions, type LeaseClock } from '../../core/meta/brokerLease';
import { createDynamoClient, DynamoKv, dynamoSettings } from '../../core/meta/dynamoKv';
import { ensureMetadataTable, metadataTableName } from '../../core/meta/dynamoTable';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { BrokerRecord, MetadataStore } from '../../core/meta/metadataStore';
import { startEmulators, useEnv, type Emulators } from '../helpers/emulators';
import { waitFor } from '../helpers/waitFor';
import { expectCode } from './versionedKv.contract';

/**
 * The broker lease (core/meta/brokerLease.ts) over both metadata backends: one EmbeddedKv two
 * "brokers" share, and two DynamoKv clients on one dynalite table. Time is simulated (a shared
 * world time; each host has its own wall-clock skew), so session timeouts pass without waiting;
 * one test runs the real heartbeat timer.
 */
const T = 9000;
const H = 2000;
const NODE = 3;
const FIX = 'Stop the other broker, or wait for its lease to expire; each broker needs its own node.id.';

/** Time as every host sees it, plus what should happen while a host sleeps (another host's heartbeat). */
class World {
  t = 1_000_000;
  readonly whileSleeping: (() => Promise<unknown>)[] = [];
  slept = 0;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** One host's clock: the world's time, its wall clock `skewMs` off. */
function hostClock(world: World, skewMs = 0): LeaseClock {
  return {
    now: () => Date.UTC(2025, 0, 1) + world.t + skewMs,
    monotonic: () => world.t,
    sleep: async (ms) => {
      world.advance(ms);
      world.slept += ms;
      for (const f of world.whileSleeping) await f();
    },
  };
}

function options(host: string, clock: LeaseClock, extra: Partial<BrokerLeaseOptions> = {}): BrokerLeaseOptions {
  return { nodeId: NODE, host, port: 9092, rack: null, sessionTimeoutMs: T, heartbeatIntervalMs: H, clock, ...extra };
}

/** A store whose broker writes can fail the way a network does: not at all, or after landing. */
class FaultyStore {
  mode: 'ok' | 'down' | 'response-lost' = 'ok';
  readonly store: MetadataStore;
  constructor(inner: MetadataStore) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        if (prop !== 'putBroker') return Reflect.get(target, prop, receiver) as unknown;
        return async (b: Omit<BrokerRecord, 'version'>, v: number | null) => {
          if (this.mode === 'down') throw new StrataError('STORE_UNAVAILABLE', 'metadata store unreachable (injected)');
          if (this.mode === 'response-lost') {
            // The first attempt lands, its response is lost, the client's retry meets the new version.
            await target.putBroker(b, v);
            return target.putBroker(b, v);
          }
          return target.putBroker(b, v);
        };
      },
    });
  }
}

interface Backing {
  /** A new handle on the one shared store (another "process"). */
  open(): Promise<MetadataStore>;
  destroy(): Promise<void>;
}

let emulators: Emulators | null = null;
let restoreEnv: (() => void) | null = null;
let settings: AwsSettings;
let admin: DynamoDBClient;
let tables = 0;

afterAll(async () => {
  admin?.destroy();
  restoreEnv?.();
  await emulators?.stop();
});

const backings: [string, () => Promise<Backing>][] = [
  [
    'EmbeddedKv',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-lease-'));
      const shared = new KvMetadataStore(await EmbeddedKv.open(dir));
      // One process holds the directory: every "broker" gets the same store; only destroy closes it.
      const handle = new Proxy(shared, { get: (t, p, r) => (p === 'close' ? async () => undefined : (Reflect.get(t, p, r) as unknown)) });
      return {
        open: async () => handle,
        destroy: async () => {
          await shared.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'DynamoKv on dynalite',
    async () => {
      if (!emulators) {
        emulators = await startEmulators({ create: false });
        restoreEnv = useEnv(emulators.env);
        settings = await dynamoSettings();
        admin = createDynamoClient(settings);
      }
      const prefix = emulators.name(`lease${++tables}-${process.pid}`);
      const tableName = metadataTableName(prefix);
      await ensureMetadataTable({ client: admin, tableName, prefix, target: describeAws(settings), region: settings.region }, { pollMs: 20 });
      const opened: MetadataStore[] = [];
      return {
        open: async () => {
          const s = new KvMetadataStore(await DynamoKv.open(prefix));
          opened.push(s);
          return s;
        },
        destroy: async () => {
          for (const s of opened) await s.close();
          await admin.send(new DeleteTableCommand({ TableName: tableName }));
        },
      };
    },
  ],
];

describe.each(backings)('broker lease over %s', (_name, makeBacking) => {
  let backing: Backing;
  let world: World;
  let storeA: MetadataStore;
  let storeB: MetadataStore;
  const leases: BrokerLease[] = [];
  const lease = async (store: MetadataStore, opts: BrokerLeaseOptions): Promise<BrokerLease> => {
    const l = await BrokerLease.acquire(store, opts);
    leases.push(l);
    return l;
  };

  beforeEach(async () => {
    backing = await makeBacking();
    storeA = await backing.open();
    storeB = await backing.open();
    world = new World();
  }, 60_000);

  afterEach(async () => {
    for (const l of leases.splice(0)) await l.release();
    await backing.destroy();
  });

  test('acquire registers epoch 1, renewals move the lease on, release lets the next broker in at once with epoch 2', async () => {
    const clock = hostClock(world);
    const a = await lease(storeA, options('hostA', clock));
    const r1 = (await storeB.getBroker(NODE))!;
    expect(r1).toMatchObject({ nodeId: NODE, host: 'hostA', port: 9092, epoch: 1, incarnationId: a.incarnationId, leaseExpiresAt: clock.now() + T });
    expect(a.epoch).toBe(1);
    expect(world.slept).toBe(0);

    world.advance(H);
    a.setEndpoint('hostA', 19092);
    expect(await a.renew()).toBe(true);
    const r2 = (await storeB.getBroker(NODE))!;
    expect(r2).toMatchObject({ port: 19092, epoch: 1, incarnationId: a.incarnationId, leaseExpiresAt: clock.now() + T, version: r1.version + 1 });

    // Held for a full session timeout after the last renewal was sent, not a moment longer.
    world.advance(T - 1);
    expect(() => a.checkHeld()).not.toThrow();
    world.advance(1);
    expect(a.isHeld()).toBe(false);
    expect(a.fenced).toMatch(/ran out/);

    // (A fresh lease for the release half.)
    const b = await lease(storeB, options('hostB', hostClock(world), { exclusiveStore: true }));
    await b.release();
    const released = (await storeA.getBroker(NODE))!;
    expect(released).toMatchObject({ incarnationId: null, leaseExpiresAt: 0, epoch: 2 });
    expect(() => b.checkHeld()).toThrow(expect.objectContaining({ code: 'BROKER_FENCED' }));

    const sleptBefore = world.slept;
    const c = await lease(storeA, options('hostC', hostClock(world)));
    expect(world.slept).toBe(sleptBefore); // no wait after a release
    expect(c.epoch).toBe(3);
    expect((await storeB.getBroker(NODE))!).toMatchObject({ host: 'hostC', epoch: 3, incarnationId: c.incarnationId });
  });

  test('a second broker is refused while the holder renews; the message names the holder, its expiry and the fix', async () => {
    const a = await lease(storeA, options('hostA', hostClock(world)));
    world.whileSleeping.push(() => a.renew());
    let caught: unknown;
    try {
      await BrokerLease.acquire(storeB, options('hostB', hostClock(world)));
    } catch (e) {
      caught = e;
    }
    expect(isStrataError(caught, 'BROKER_ALREADY_REGISTERED')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain(`node.id ${NODE}`);
    expect(message).toContain('hostA:9092');
    expect(message).toContain(new Date((await storeA.getBroker(NODE))!.leaseExpiresAt!).toISOString());
    expect(message).toContain(FIX);
    // Refused as soon as one renewal was seen: within one heartbeat interval.
    expect(world.slept).toBeLessThanOrEqual(H);
    expect((await storeA.getBroker(NODE))!.incarnationId).toBe(a.incarnationId);
    expect(a.isHeld()).toBe(true);
  });

  test('a holder that stopped renewing is taken over after one full session timeout, and is fenced when it wakes', async () => {
    const a = await lease(storeA, options('hostA', hostClock(world)));
    const b = await lease(storeB, options('hostB', hostClock(world)));
    expect(world.slept).toBeGreaterThanOrEqual(T);
    expect(world.slept).toBeLessThan(T + H);
    expect(b.epoch).toBe(2);
    expect((await storeA.getBroker(NODE))!).toMatchObject({ host: 'hostB', epoch: 2, incarnationId: b.incarnationId });
    // A wakes up: its lease ran out before B's watch ended, so it gives up without writing.
    const before = (await storeA.getBroker(NODE))!;
    expect(await a.renew()).toBe(false);
    expect(a.fenced).toMatch(/ran out/);
    expect(() => a.checkHeld()).toThrow(expect.objectContaining({ code: 'BROKER_FENCED' }));
    await a.release();
    expect(await storeA.getBroker(NODE)).toEqual(before);
    expect(b.isHeld()).toBe(true);
  });

  test('expiry is judged by watching for renewals, never by comparing two hosts\' clocks', async () => {
    // A's clock is an hour behind: its record looks long expired to B, yet A is alive.
    const a = await lease(storeA, options('hostA', hostClock(world, -3_600_000)));
    world.whileSleeping.push(() => a.renew());
    const refused = BrokerLease.acquire(storeB, options('hostB', hostClock(world)));
    await expect(refused).rejects.toThrow(/clocks disagree/);
    await expectCode(refused, 'BROKER_ALREADY_REGISTERED');
    world.whileSleeping.length = 0;
    await a.release();

    // D's clock is an hour ahead: its record claims an hour of lease, but D is gone. Taken after T.
    await lease(storeA, options('hostD', hostClock(world, 3_600_000)));
    const slept = world.slept;
    const e = await lease(storeB, options('hostE', hostClock(world)));
    expect(world.slept - slept).toBeGreaterThanOrEqual(T);
    expect(world.slept - slept).toBeLessThan(T + H);
    expect((await storeA.getBroker(NODE))!.incarnationId).toBe(e.incarnationId);
  });

  test('a renewal that meets another writer\'s version fences the lease', async () => {
    const a = await lease(storeA, options('hostA', hostClock(world)));
    const cur = (await storeB.getBroker(NODE))!;
    await storeB.putBroker({ ...cur, host: 'intruder', incarnationId: 'someone-else' }, cur.version);
    const fenced: string[] = [];
    a.start((reason) => fenced.push(reason));
    expect(await a.renew()).toBe(false);
    expect(a.fenced).toContain('intruder:9092');
    expect(fenced).toEqual([a.fenced]);
    expect(() => a.checkHeld()).toThrow(expect.objectContaining({ code: 'BROKER_FENCED' }));
    // A deleted registration fences too.
    const b = await lease(storeB, options('hostB', hostClock(world), { exclusiveStore: true }));
    await storeA.deleteBroker(NODE);
    expect(await b.renew()).toBe(false);
    expect(b.fenced).toMatch(/deleted/);
  });

  test('renewals that fail keep the lease until it runs out, then fence it; nothing is written after', async () => {
    const faulty = new FaultyStore(storeA);
    const a = await lease(faulty.store, options('hostA', hostClock(world)));
    const written = (await storeB.getBroker(NODE))!;
    faulty.mode = 'down';
    for (let i = 0; i < 4; i++) {
      world.advance(H);
      expect(await a.renew()).toBe(false);
      expect(a.fenced).toBeNull();
      expect(() => a.checkHeld()).not.toThrow();
    }
    world.advance(T - 4 * H);
    expect(await a.renew()).toBe(false);
    expect(a.fenced).toMatch(/ran out.*the metadata store refused or did not answer 4 renewal\(s\), the last with: metadata store unreachable \(injected\)/);
    faulty.mode = 'ok';
    expect(await a.renew()).toBe(false);
    await a.release();
    expect(await storeB.getBroker(NODE)).toEqual(written);
  });

  test('a holder that did not run for a session timeout is told so when it wakes (not that the store failed)', async () => {
    const a = await lease(storeA, options('hostA', hostClock(world)));
    world.advance(T + 1);
    expect(await a.renew()).toBe(false);
    expect(a.fenced).toMatch(/ran out: .*the process did not run for 9001 ms \(paused/);
  });

  test('on a store that admits one process per node.id, failing renewals (a full disk) and pauses never fence; conflicts still do', async () => {
    const faulty = new FaultyStore(storeA);
    const lines: string[] = [];
    const logger = { debugEnabled: false, debug: () => undefined, info: (m: string) => lines.push(`INFO ${m}`), warn: (m: string) => lines.push(`WARN ${m}`), error: (m: string) => lines.push(`ERROR ${m}`), child: () => logger };
    const a = await lease(faulty.store, options('hostA', hostClock(world), { exclusiveStore: true, logger }));
    const fenced: string[] = [];
    a.start((r) => fenced.push(r));
    faulty.mode = 'down';
    for (let i = 0; i < 20; i++) {
      world.advance(H);
      expect(await a.renew()).toBe(false);
    }
    world.advance(10 * T); // and a long pause on top
    expect(a.isHeld()).toBe(true);
    expect(() => a.checkHeld()).not.toThrow();
    expect(fenced).toEqual([]);
    // Logged once (rate-limited), naming the cause and what the broker does about it.
    const warnings = lines.filter((l) => l.startsWith('WARN'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/could not renew .*metadata store unreachable \(injected\).*keeps its lease/);
    faulty.mode = 'ok';
    expect(await a.renew()).toBe(true);
    expect(lines[lines.length - 1]).toMatch(/^INFO renewed the registration of node\.id 3 again after 20 failed attempt/);
    // Someone rewrote the record by hand: that still fences.
    const cur = (await storeB.getBroker(NODE))!;
    await storeB.putBroker({ ...cur, incarnationId: 'someone-else' }, cur.version);
    expect(await a.renew()).toBe(false);
    expect(fenced).toHaveLength(1);
  });

  test('a renewal whose first attempt landed but whose response was lost is recognised as its own', async () => {
    const faulty = new FaultyStore(storeA);
    const a = await lease(faulty.store, options('hostA', hostClock(world)));
    const v = (await storeB.getBroker(NODE))!.version;
    faulty.mode = 'response-lost';
    world.advance(H);
    expect(await a.renew()).toBe(true);
    expect(a.fenced).toBeNull();
    expect(a.current.version).toBe(v + 1);
    faulty.mode = 'ok';
    expect(await a.renew()).toBe(true);
    expect((await storeB.getBroker(NODE))!.version).toBe(v + 2);
  });

  test('on a store that admits one process per node.id (the embedded store\'s node.id lock), a held record is taken over at once', async () => {
    await lease(storeA, options('hostA', hostClock(world)));
    const b = await lease(storeB, options('hostB', hostClock(world), { exclusiveStore: true }));
    expect(world.slept).toBe(0);
    expect(b.epoch).toBe(2);
  });

  test('start() renews every heartbeat interval on real timers and reports fencing once', async () => {
    const a = await lease(storeA, { nodeId: NODE, host: 'hostA', port: 9092, rack: null, sessionTimeoutMs: 5000, heartbeatIntervalMs: 50, clock: systemClock });
    const reasons: string[] = [];
    a.start((r) => reasons.push(r));
    const v0 = a.current.version;
    await waitFor(async () => (await storeB.getBroker(NODE))!.version >= v0 + 3, { message: 'three renewals' });
    // Another writer takes the record (retried if it races a renewal in flight).
    await waitFor(
      async () => {
        if (reasons.length > 0) return true;
        const cur = (await storeB.getBroker(NODE))!;
        await storeB.putBroker({ ...cur, incarnationId: 'someone-else' }, cur.version).catch(() => undefined);
        return false;
      },
      { message: 'fencing reported' },
    );
    const after = (await storeB.getBroker(NODE))!;
    expect(after.incarnationId).toBe('someone-else');
    expect(reasons).toHaveLength(1);
    expect(a.fenced).toBe(reasons[0]);
  });

  test('a heartbeat interval not below the session timeout is refused', async () => {
    await expectCode(BrokerLease.acquire(storeA, options('hostA', hostClock(world), { heartbeatIntervalMs: T })), 'CONFIG_INVALID');
  });
});

describe('broker.session.timeout.ms and broker.heartbeat.interval.ms', () => {
  test("Kafka's session default, a shorter heartbeat (failover waits on it), and the heartbeat must be shorter than the session", () => {
    const c = loadBrokerConfig({ flags: {} });
    expect([c.brokerSessionTimeoutMs, c.brokerHeartbeatIntervalMs, c.brokerLivenessTimeoutMs]).toEqual([9000, 250, 1500]);
    expect(BROKER_CONFIGS.map((e) => e.name)).toEqual(expect.arrayContaining(['broker.session.timeout.ms', 'broker.heartbeat.interval.ms']));
    const short = loadBrokerConfig({ flags: { 'broker.session.timeout.ms': '3000', 'broker.heartbeat.interval.ms': '500' } });
    expect([short.brokerSessionTimeoutMs, short.brokerHeartbeatIntervalMs]).toEqual([3000, 500]);
    let caught: unknown;
    try {
      loadBrokerConfig({ flags: { 'broker.session.timeout.ms': '200' } });
    } catch (e) {
      caught = e;
    }
    expect(isStrataError(caught, 'CONFIG_INVALID')).toBe(true);
    expect((caught as Error).message).toContain('broker.heartbeat.interval.ms (250, default) must be less than broker.session.timeout.ms (200, flag --broker.session.timeout.ms)');
    // The liveness timeout sits between the two: unset, it shrinks with a short session timeout.
    expect(loadBrokerConfig({ flags: { 'broker.session.timeout.ms': '1000' } }).brokerLivenessTimeoutMs).toBe(1000);
    expect(() => loadBrokerConfig({ flags: { 'broker.liveness.timeout.ms': '200' } })).toThrow(/broker.liveness.timeout.ms \(200, flag --broker.liveness.timeout.ms\) must be more than broker.heartbeat.interval.ms/);
  });
});
