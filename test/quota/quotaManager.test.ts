import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../core/common/logger';
import { openEmbeddedStore } from '../../core/meta/embeddedStore';
import type { VersionedKv } from '../../core/meta/versionedKv';
import type { ClientQuotaEntity, QuotaValues } from '../../core/quota/clientQuotaEntity';
import { ClientQuotaStore, type StoredClientQuota } from '../../core/quota/clientQuotaStore';
import { QuotaManager, metricTags, quotaLimit } from '../../core/quota/quotaManager';
import { entityPath } from '../../core/quota/clientQuotaEntity';
import { waitFor } from '../helpers/waitFor';

const logger = createLogger('test');
const manager = (quotas: StoredClientQuota[] = []): QuotaManager => {
  const m = new QuotaManager(null, { windowNum: 11, windowSizeSeconds: 1, logger });
  m.setQuotas(quotas);
  return m;
};
const q = (entity: ClientQuotaEntity, values: QuotaValues): StoredClientQuota => ({ entity, values });

describe("Kafka's quota precedence (DefaultQuotaCallback)", () => {
  // Every level of the docs' list, each with its own producer_byte_rate so the winner shows.
  const all = [
    q({ user: 'alice', clientId: 'app' }, { producer_byte_rate: 1 }),
    q({ user: 'alice', clientId: null }, { producer_byte_rate: 2 }),
    q({ user: 'alice' }, { producer_byte_rate: 3 }),
    q({ user: null, clientId: 'app' }, { producer_byte_rate: 4 }),
    q({ user: null, clientId: null }, { producer_byte_rate: 5 }),
    q({ user: null }, { producer_byte_rate: 6 }),
    q({ clientId: 'app' }, { producer_byte_rate: 7 }),
    q({ clientId: null }, { producer_byte_rate: 8 }),
  ];

  test('the first level that has a quota wins, from users/<user>/clients/<client-id> down to clients/<default>', () => {
    for (let level = 0; level < all.length; level++) {
      const m = manager(all.slice(level));
      expect(m.quotaOf('produce', 'alice', 'app')).toBe(level + 1);
    }
    expect(manager([]).quotaOf('produce', 'alice', 'app')).toBeNull();
  });

  test('another user or client id falls through to the defaults', () => {
    const m = manager(all);
    expect(m.quotaOf('produce', 'bob', 'app')).toBe(4); // users/<default>/clients/app
    expect(m.quotaOf('produce', 'alice', 'other')).toBe(2); // users/alice/clients/<default>
    const clientsOnly = manager(all.slice(6));
    expect(clientsOnly.quotaOf('produce', 'bob', 'other')).toBe(8);
  });

  test('which rate is shared: per (user, client id), per user, or per client id', () => {
    const overrides = (qs: StoredClientQuota[]) => new Map(qs.map((x) => [entityPath(x.entity), x.values.producer_byte_rate!]));
    expect(metricTags(overrides([all[1]]), 'alice', 'app')).toEqual(['alice', 'app']);
    expect(metricTags(overrides([all[2]]), 'alice', 'app')).toEqual(['alice', '']);
    expect(metricTags(overrides([all[5]]), 'alice', 'app')).toEqual(['alice', '']);
    expect(metricTags(overrides([all[6]]), 'alice', 'app')).toEqual(['', 'app']);
    expect(quotaLimit(overrides([all[6]]), '', 'app')).toBe(7);
    // Two users of one client id share its clients/<client-id> quota.
    const m = manager([q({ clientId: 'app' }, { producer_byte_rate: 1000 })]);
    expect(m.record('produce', 'alice', 'app', 10_000, 0)).toBe(0);
    expect(m.record('produce', 'bob', 'app', 1, 0)).toBeGreaterThan(0);
    expect(m.record('produce', 'bob', 'other', 1_000_000, 0)).toBe(0);
  });

  test('quota types are separate: a producer_byte_rate does not limit fetches', () => {
    const m = manager([q({ clientId: 'app' }, { producer_byte_rate: 100, request_percentage: 50 })]);
    expect(m.enabled('produce')).toBe(true);
    expect(m.enabled('fetch')).toBe(false);
    expect(m.record('fetch', 'alice', 'app', 1e9, 0)).toBe(0);
    expect(m.quotaOf('request', 'alice', 'app')).toBe(50);
  });
});

describe('throttling', () => {
  test('within the quota nothing; past it (rate - quota) / quota × window', () => {
    const m = manager([q({ clientId: 'app' }, { producer_byte_rate: 1000 })]);
    // 10 000 bytes over the initial 10 s window: exactly the quota.
    expect(m.record('produce', 'ANONYMOUS', 'app', 10_000, 0)).toBe(0);
    // 1000 more at t=0: 1100 B/s against 1000 over 10 s: 1 s.
    expect(m.record('produce', 'ANONYMOUS', 'app', 1000, 0)).toBe(1000);
    m.noteThrottle('produce', 'ANONYMOUS', 'app', 1000);
    const [s] = m.stats(0);
    expect(s).toMatchObject({ type: 'produce', user: '', clientId: 'app', bound: 1000, throttles: 1, throttleMsTotal: 1000 });
    expect(s.rate).toBe(1100);
  });

  test('request time is capped at one window; byte rates are not', () => {
    const m = manager([q({ clientId: 'app' }, { producer_byte_rate: 1, request_percentage: 1 })]);
    expect(m.record('produce', 'u', 'app', 1_000_000, 0)).toBeGreaterThan(1_000_000);
    expect(m.record('request', 'u', 'app', 1_000_000, 0)).toBe(1000);
  });

  test('a fetch may take (window.num - 1) windows of its quota at most; unrecord takes bytes back', () => {
    const m = manager([q({ user: 'alice' }, { consumer_byte_rate: 1000 })]);
    expect(m.maxValueInWindow('fetch', 'alice', 'x')).toBe(10_000);
    expect(m.maxValueInWindow('fetch', 'bob', 'x')).toBe(Infinity);
    expect(m.record('fetch', 'alice', 'x', 20_000, 0)).toBeGreaterThan(0);
    m.unrecord('fetch', 'alice', 'x', 20_000, 0);
    expect(m.record('fetch', 'alice', 'x', 10_000, 0)).toBe(0);
  });

  test('a quota changed while a client is measured applies to its next request', () => {
    const m = manager([q({ clientId: 'app' }, { producer_byte_rate: 1000 })]);
    expect(m.record('produce', 'u', 'app', 5000, 0)).toBe(0);
    m.setQuotas([q({ clientId: 'app' }, { producer_byte_rate: 100 })]);
    expect(m.record('produce', 'u', 'app', 1, 0)).toBeGreaterThan(0);
    m.setQuotas([]);
    expect(m.record('produce', 'u', 'app', 1e9, 0)).toBe(0);
  });
});

describe('with the metadata store', () => {
  let dir: string;
  let kv: VersionedKv;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-quotas-'));
    kv = await openEmbeddedStore(dir);
  });
  afterEach(async () => {
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('one key per entity; removing the last quota removes the entity; names may hold / and <default>', async () => {
    const store = new ClientQuotaStore(kv);
    await store.alter({ user: 'a/b', clientId: '<default>' }, [{ key: 'producer_byte_rate', value: 1024 }]);
    await store.alter({ user: 'a/b', clientId: '<default>' }, [{ key: 'consumer_byte_rate', value: 2048 }]);
    await store.alter({ clientId: null }, [{ key: 'request_percentage', value: 12.5 }]);
    expect((await kv.list('')).map((e) => e.key)).toEqual(['clients/<default>', 'users/a%2Fb/clients/%3Cdefault%3E']);
    expect(await store.list()).toEqual([
      { entity: { clientId: null }, values: { request_percentage: 12.5 } },
      { entity: { user: 'a/b', clientId: '<default>' }, values: { producer_byte_rate: 1024, consumer_byte_rate: 2048 } },
    ]);
    await store.alter({ clientId: null }, [{ key: 'request_percentage', value: null }]);
    expect(await store.get({ clientId: null })).toEqual({});
    expect((await kv.list('')).length).toBe(1);
  });

  test('concurrent alters of one entity both land (conditional writes, re-read on conflict)', async () => {
    const store = new ClientQuotaStore(kv);
    await Promise.all([
      store.alter({ user: 'alice' }, [{ key: 'producer_byte_rate', value: 1 }]),
      store.alter({ user: 'alice' }, [{ key: 'consumer_byte_rate', value: 2 }]),
      store.alter({ user: 'alice' }, [{ key: 'request_percentage', value: 3 }]),
    ]);
    expect(await store.get({ user: 'alice' })).toEqual({ producer_byte_rate: 1, consumer_byte_rate: 2, request_percentage: 3 });
  });

  test('a manager sees a change made elsewhere within its refresh interval', async () => {
    const store = new ClientQuotaStore(kv);
    const m = new QuotaManager(store, { windowNum: 11, windowSizeSeconds: 1, logger, refreshIntervalMs: 50 });
    await m.start();
    try {
      expect(m.quotaOf('produce', 'u', 'app')).toBeNull();
      await new ClientQuotaStore(kv).alter({ clientId: 'app' }, [{ key: 'producer_byte_rate', value: 4096 }]);
      await waitFor(() => m.quotaOf('produce', 'u', 'app') === 4096, { timeoutMs: 5000, message: 'the manager reading the new quota' });
    } finally {
      m.close();
    }
  });
});
