import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../core/common/logger';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { prefixedKv, checkKey } from '../../core/meta/versionedKv';
import { OffsetStore, offsetKey, type CommittedOffset } from '../../core/group/offsetStore';

let dir: string;
let kv: EmbeddedKv;
const lines: string[] = [];
const logger = createLogger('offsets', (l) => lines.push(l));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-offsets-'));
  kv = await EmbeddedKv.open(dir);
});

afterEach(async () => {
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function offset(o: bigint, extra: Partial<CommittedOffset> = {}): CommittedOffset {
  return { offset: o, leaderEpoch: -1, metadata: '', commitTimestamp: 1_700_000_000_000, expireTimestamp: null, topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', ...extra };
}

test('keys: one item per group/topic/partition, any group id, always a valid key', () => {
  expect(offsetKey('g', 't', 0)).toBe('g/t/0');
  expect(offsetKey('a/b', 't', 3)).toBe('a%2Fb/t/3');
  expect(offsetKey('', 't', 1)).toBe('/t/1');
  const long = offsetKey('x'.repeat(5000), 't'.repeat(249), 99999);
  expect(long).toMatch(/^#[0-9a-f]{64}\/t+\/99999$/);
  for (const k of [offsetKey('g\u0000', 't', 0), long, offsetKey('ü'.repeat(300), 't', 0)]) expect(() => checkKey(k)).not.toThrow();
  expect(offsetKey('ü'.repeat(300), 't', 0)).not.toBe(offsetKey('ü'.repeat(301), 't', 0));
});

test('commits are durable: a reopened store has them, odd group ids included', async () => {
  const ns = prefixedKv(kv, 'ns/offsets/');
  const store = await OffsetStore.open(ns, logger);
  const groups = ['g', 'a/b', '', 'x'.repeat(2000)];
  for (const g of groups) {
    expect(await store.commit(g, [{ topic: 't', partition: 0, value: offset(42n, { metadata: `m-${g.length}`, leaderEpoch: 2 }) }])).toEqual([null]);
  }
  const again = await OffsetStore.open(ns, logger);
  expect(again.groups().sort()).toEqual([...groups].sort());
  for (const g of groups) expect(again.get(g, 't', 0)).toEqual(offset(42n, { metadata: `m-${g.length}`, leaderEpoch: 2 }));
});

test('writes to one key apply in issue order; delete reports how many existed', async () => {
  const store = await OffsetStore.open(kv, logger);
  const p1 = store.commit('g', [{ topic: 't', partition: 0, value: offset(1n) }]);
  const del = store.delete('g', [{ topic: 't', partition: 0 }, { topic: 't', partition: 9 }]);
  const p2 = store.commit('g', [{ topic: 't', partition: 0, value: offset(2n) }]);
  expect(await p1).toEqual([null]);
  expect(await del).toBe(1);
  expect(await p2).toEqual([null]);
  expect(store.get('g', 't', 0)?.offset).toBe(2n);
  expect((await kv.get('g/t/0'))?.version).toBe(1); // deleted, then created again
  await store.flush();
});

test('an item another writer changed is not overwritten: the commit is refused, the item re-read, a retry writes on top', async () => {
  const store = await OffsetStore.open(kv, logger);
  await store.commit('g', [{ topic: 't', partition: 0, value: offset(1n) }]);
  // Another broker's coordinator (during a handover) commits a newer offset.
  await kv.put('g/t/0', { group: 'g', topic: 't', partition: 0, offset: 5n, leaderEpoch: -1, metadata: '', commitTimestamp: 2, expireTimestamp: null, topicId: 'x' }, 1);
  const [err] = await store.commit('g', [{ topic: 't', partition: 0, value: offset(7n) }]);
  expect(err).toMatchObject({ code: 'VERSION_CONFLICT' });
  expect((await kv.get('g/t/0'))?.value).toMatchObject({ offset: 5n });
  expect(store.get('g', 't', 0)?.offset).toBe(5n);
  expect(lines.some((l) => l.includes('changed by another writer'))).toBe(true);
  // The client's retry (after it found the coordinator again) applies on top of what is there.
  expect(await store.commit('g', [{ topic: 't', partition: 0, value: offset(7n) }])).toEqual([null]);
  expect((await kv.get('g/t/0'))?.version).toBe(3);
  // A delete is conditional too.
  await kv.put('g/t/0', { group: 'g', topic: 't', partition: 0, offset: 9n, leaderEpoch: -1, metadata: '', commitTimestamp: 3, expireTimestamp: null, topicId: 'x' }, 3);
  await expect(store.delete('g', [{ topic: 't', partition: 0 }])).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
  expect(store.get('g', 't', 0)?.offset).toBe(9n);
  expect(await store.delete('g', [{ topic: 't', partition: 0 }])).toBe(1);
});

test('a failed write is reported per entry and leaves the cache as it was', async () => {
  const store = await OffsetStore.open(kv, logger);
  await store.commit('g', [{ topic: 't', partition: 0, value: offset(1n) }]);
  await kv.close();
  const [err] = await store.commit('g', [{ topic: 't', partition: 0, value: offset(2n) }]);
  expect(err).toMatchObject({ code: 'CLOSED' });
  expect(store.get('g', 't', 0)?.offset).toBe(1n);
  kv = await EmbeddedKv.open(dir);
});

test('malformed items are skipped with a warning', async () => {
  await kv.put('junk', { not: 'an offset' }, null);
  await kv.put('g/t/0', { group: 'g', topic: 't', partition: 0, offset: 3n, leaderEpoch: -1, metadata: '', commitTimestamp: 1, expireTimestamp: null, topicId: 'x' }, null);
  const store = await OffsetStore.open(kv, logger);
  expect(store.groups()).toEqual(['g']);
  expect(lines.some((l) => l.includes('malformed committed offset item "junk"'))).toBe(true);
});
