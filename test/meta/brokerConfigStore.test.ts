import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { BROKER_CONFIGS_NAMESPACE, BrokerConfigStore, brokerConfigKey } from '../../core/meta/brokerConfigStore';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { KvValue, VersionedKv } from '../../core/meta/versionedKv';

/** Dynamic broker configs' layout in the metadata store and its conditional writes. */
let dir: string;
let kv: EmbeddedKv;
let ns: VersionedKv;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-broker-configs-'));
  kv = await EmbeddedKv.open(dir);
  ns = new KvMetadataStore(kv).namespace(BROKER_CONFIGS_NAMESPACE);
});
afterEach(async () => {
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rawItems(): Promise<Record<string, KvValue>> {
  return Object.fromEntries((await kv.list('')).map((e) => [e.key, e.value]));
}

test('one item per entity under ns/broker-configs/: default and broker/<zero-padded id>, sorted configs', async () => {
  const store = new BrokerConfigStore(ns);
  expect(brokerConfigKey('default')).toBe('default');
  expect(brokerConfigKey(3)).toBe('broker/0000000003');
  await store.update('default', () => ({ 'log.segment.bytes': '1024', 'log.retention.ms': '1000' }));
  await store.update(3, (c) => ({ ...c, 'compression.type': 'zstd' }));
  const items = await rawItems();
  expect(Object.keys(items).sort()).toEqual(['ns/broker-configs/broker/0000000003', 'ns/broker-configs/default']);
  expect(items['ns/broker-configs/default']).toMatchObject({ entity: 'default', configs: { 'log.retention.ms': '1000', 'log.segment.bytes': '1024' } });
  expect(Object.keys((items['ns/broker-configs/default'] as { configs: Record<string, string> }).configs)).toEqual(['log.retention.ms', 'log.segment.bytes']);
  expect(items['ns/broker-configs/broker/0000000003']).toMatchObject({ entity: 3, configs: { 'compression.type': 'zstd' } });
  expect(await store.read('default')).toEqual({ configs: { 'log.retention.ms': '1000', 'log.segment.bytes': '1024' }, version: 1 });
  expect(await store.read(7)).toEqual({ configs: {}, version: 0 });
});

test('an entity left with nothing set has no item', async () => {
  const store = new BrokerConfigStore(ns);
  await store.update(0, () => ({ 'log.retention.ms': '1' }));
  await store.update(0, () => ({}));
  expect(await rawItems()).toEqual({});
  await store.update(0, () => ({}));
  expect(await rawItems()).toEqual({});
});

test('a change that loses a race is computed again on the winner and retried', async () => {
  await new BrokerConfigStore(ns).update('default', () => ({ a: '1' }));
  // Another admin's write lands between this store's read and its write, once.
  let raced = false;
  const racing: VersionedKv = {
    ...ns,
    put: async (key, value, expected) => {
      if (!raced) {
        raced = true;
        await ns.put(key, { entity: 'default', configs: { a: '1', b: '2' } }, expected);
      }
      return ns.put(key, value, expected);
    },
  };
  const seen: Record<string, string>[] = [];
  const result = await new BrokerConfigStore(racing).update('default', (current) => {
    seen.push(current);
    return { ...current, c: '3' };
  });
  expect(seen).toEqual([{ a: '1' }, { a: '1', b: '2' }]);
  expect(result).toEqual({ a: '1', b: '2', c: '3' });
  expect(await new BrokerConfigStore(ns).read('default')).toEqual({ configs: { a: '1', b: '2', c: '3' }, version: 3 });
});

test('a refusal from the change writes nothing', async () => {
  const store = new BrokerConfigStore(ns);
  await expect(
    store.update('default', () => {
      throw new Error('no');
    }),
  ).rejects.toThrow('no');
  expect(await rawItems()).toEqual({});
});

test('an item without a configs map is an error, not an empty set', async () => {
  await ns.put('default', { entity: 'default' }, null);
  const e = await new BrokerConfigStore(ns).read('default').catch((x: unknown) => x);
  expect(isStrataError(e, 'STORE_UNAVAILABLE')).toBe(true);
});
