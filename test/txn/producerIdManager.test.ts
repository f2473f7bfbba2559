/**
 * Producer id blocks on a real embedded store: unique across managers sharing the store (two
 * brokers) and across restarts, one block fetch at a time, retries on lost races.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { VersionedKv } from '../../core/meta/versionedKv';
import { PRODUCER_ID_BLOCK_KEY, ProducerIdManager } from '../../core/txn/producerIdManager';

let dir: string;
let kv: EmbeddedKv;
let ns: VersionedKv;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pid-'));
  kv = await EmbeddedKv.open(dir);
  ns = new KvMetadataStore(kv).namespace('producer-ids');
});

afterEach(async () => {
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Counts the puts that reach the store. */
function counting(inner: VersionedKv): VersionedKv & { puts: number } {
  const view = {
    puts: 0,
    get: (k: string) => inner.get(k),
    list: (p: string) => inner.list(p),
    put: (k: string, v: Parameters<VersionedKv['put']>[1], e: number | null) => {
      view.puts++;
      return inner.put(k, v, e);
    },
    delete: (k: string, e?: number) => inner.delete(k, e),
    close: async () => undefined,
  };
  return view;
}

test('ids start at 0, run through a block, and the next block is taken with one write', async () => {
  const store = counting(ns);
  const m = new ProducerIdManager(store, { blockSize: 3 });
  const ids: bigint[] = [];
  for (let i = 0; i < 7; i++) ids.push(await m.generate());
  expect(ids).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n]);
  expect(store.puts).toBe(3);
  expect(await ns.get(PRODUCER_ID_BLOCK_KEY)).toEqual({ key: PRODUCER_ID_BLOCK_KEY, value: { nextBlockStart: 9n }, version: 3 });
});

test('the default block is 1000 ids', async () => {
  const m = new ProducerIdManager(ns);
  expect(await m.generate()).toBe(0n);
  expect((await ns.get(PRODUCER_ID_BLOCK_KEY))!.value).toEqual({ nextBlockStart: 1000n });
});

test('two managers on one store (two brokers) never hand out the same id', async () => {
  const a = new ProducerIdManager(ns, { blockSize: 5 });
  const b = new ProducerIdManager(ns, { blockSize: 7 });
  const all = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).generate()));
  expect(new Set(all).size).toBe(200);
});

test('a restart never reuses an id: the unused rest of a block is skipped', async () => {
  const first = new ProducerIdManager(ns, { blockSize: 10 });
  const before = [await first.generate(), await first.generate()];
  await kv.close();
  kv = await EmbeddedKv.open(dir);
  ns = new KvMetadataStore(kv).namespace('producer-ids');
  const second = new ProducerIdManager(ns, { blockSize: 10 });
  const after = await second.generate();
  expect(before).toEqual([0n, 1n]);
  expect(after).toBe(10n);
});

test('concurrent callers share one block fetch', async () => {
  const store = counting(ns);
  const m = new ProducerIdManager(store, { blockSize: 100 });
  const ids = await Promise.all(Array.from({ length: 50 }, () => m.generate()));
  expect(new Set(ids).size).toBe(50);
  expect(store.puts).toBe(1);
});

test('a lost race (another broker took the block) re-reads and takes the next one', async () => {
  let raced = false;
  const racing: VersionedKv = {
    get: (k) => ns.get(k),
    list: (p) => ns.list(p),
    put: async (k, v, e) => {
      if (!raced) {
        raced = true;
        // Another broker takes [0, 50) between our read and our write.
        await ns.put(k, { nextBlockStart: 50n }, null);
      }
      return ns.put(k, v, e);
    },
    delete: (k, e) => ns.delete(k, e),
    close: async () => undefined,
  };
  const m = new ProducerIdManager(racing, { blockSize: 10 });
  expect(await m.generate()).toBe(50n);
  expect((await ns.get(PRODUCER_ID_BLOCK_KEY))!.value).toEqual({ nextBlockStart: 60n });
});

test('a store failure rejects the callers, and the next call tries again', async () => {
  let fail = true;
  const failing: VersionedKv = {
    get: (k) => ns.get(k),
    list: (p) => ns.list(p),
    put: async (k, v, e) => {
      if (fail) throw new StrataError('STORE_UNAVAILABLE', 'down');
      return ns.put(k, v, e);
    },
    delete: (k, e) => ns.delete(k, e),
    close: async () => undefined,
  };
  const m = new ProducerIdManager(failing, { blockSize: 10 });
  await expect(Promise.all([m.generate(), m.generate()])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  fail = false;
  expect(await m.generate()).toBe(0n);
});

test('a block size must be a positive integer', () => {
  expect(() => new ProducerIdManager(ns, { blockSize: 0 })).toThrow(TypeError);
  expect(() => new ProducerIdManager(ns, { blockSize: 1.5 })).toThrow(TypeError);
});

test('a block item that is not a block start is refused, not overwritten', async () => {
  await ns.put(PRODUCER_ID_BLOCK_KEY, { nextBlockStart: 'soon' }, null);
  await expect(new ProducerIdManager(ns).generate()).rejects.toMatchObject({ code: 'STORAGE_IO' });
});
