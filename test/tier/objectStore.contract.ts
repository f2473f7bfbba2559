import { Readable } from 'node:stream';
import { isStrataError, type StrataErrorCode } from '../../core/common/errors';
import type { ObjectInfo, ObjectStore } from '../../core/tier/objectStore';

/**
 * The behaviour every ObjectStore adapter owes the tiering code. The S3 adapter runs this
 * same suite (against LocalStack or a real bucket under a fresh prefix).
 */
export interface ObjectStoreBacking {
  open(): Promise<ObjectStore>;
  destroy(): Promise<void>;
  /**
   * Whether a put to an existing key is refused. The file adapter always can; an S3 adapter
   * without conditional writes cannot, and the design never depends on it.
   */
  detectsExistingKeys?: boolean;
}

async function expectCode(p: Promise<unknown>, code: StrataErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  if (!isStrataError(caught, code)) throw new Error(`expected StrataError ${code}, got ${caught === undefined ? 'success' : String(caught)}`);
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

/** Runs `fn` over `items` with at most `n` in flight (keeps the 2-core test machine calm). */
async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

export function objectStoreContract(name: string, makeBacking: () => Promise<ObjectStoreBacking>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let backing: ObjectStoreBacking;
    let store: ObjectStore;

    beforeEach(async () => {
      backing = await makeBacking();
      store = await backing.open();
    });
    afterEach(async () => {
      await store.close();
      await backing.destroy();
    });

    test('put then get and head return the same bytes and size', async () => {
      const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
      await store.put('topic/0/00000000000000000000.log', body);
      expect(await store.get('topic/0/00000000000000000000.log')).toEqual(body);
      expect(await store.head('topic/0/00000000000000000000.log')).toEqual({ size: 3000 });
    });

    test('missing objects: get is NOT_FOUND, head is null, delete succeeds', async () => {
      await expectCode(store.get('no/such/key'), 'NOT_FOUND');
      await expectCode(store.get('no/such/key', { start: 0, end: 1 }), 'NOT_FOUND');
      expect(await store.head('no/such/key')).toBeNull();
      await store.delete('no/such/key');
    });

    test('objects are write-once', async () => {
      if (backing.detectsExistingKeys === false) return;
      await store.put('once', Buffer.from('first'));
      await expectCode(store.put('once', Buffer.from('second, longer')), 'KEY_EXISTS');
      expect((await store.get('once')).toString()).toBe('first');
      const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((v) => store.put('raced', Buffer.from(v.repeat(1000)))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const got = (await store.get('raced')).toString();
      expect(got).toMatch(/^(a{1000}|b{1000}|c{1000}|d{1000})$/); // one whole body, never a mix
    });

    test('a deleted key can be written again', async () => {
      await store.put('re/key', Buffer.from('v1'));
      await store.delete('re/key');
      await store.delete('re/key');
      await expectCode(store.get('re/key'), 'NOT_FOUND');
      await store.put('re/key', Buffer.from('v2'));
      expect((await store.get('re/key')).toString()).toBe('v2');
    });

    test('empty objects are objects', async () => {
      await store.put('empty', Buffer.alloc(0));
      expect(await store.head('empty')).toEqual({ size: 0 });
      expect((await store.get('empty')).length).toBe(0);
      await expectCode(store.get('empty', { start: 0, end: 0 }), 'OFFSET_OUT_OF_RANGE');
    });

    test('a stream body is stored, and a wrong contentLength stores nothing', async () => {
      const chunks = [Buffer.from('hello '), Buffer.from('streaming '), Buffer.from('world')];
      await store.put('s/ok', Readable.from(chunks), { contentLength: 21 });
      expect((await store.get('s/ok')).toString()).toBe('hello streaming world');
      await expectCode(store.put('s/short', Readable.from([Buffer.from('abc')]), { contentLength: 4 }), 'STORAGE_IO');
      expect(await store.head('s/short')).toBeNull();
      await store.put('s/short', Buffer.from('abcd')); // the failed put left nothing behind
    });

    test('a failing stream stores nothing', async () => {
      const failing = new Readable({
        read() {
          this.push(Buffer.from('partial'));
          this.destroy(new Error('upstream broke'));
        },
      });
      await expect(store.put('s/broken', failing)).rejects.toThrow(/upstream broke/);
      expect(await store.head('s/broken')).toBeNull();
    });

    test('ranged get: inclusive ends, clamped at the object end, refused at or past it', async () => {
      const body = Buffer.from('0123456789');
      await store.put('r', body);
      expect((await store.get('r', { start: 0, end: 0 })).toString()).toBe('0');
      expect((await store.get('r', { start: 2, end: 5 })).toString()).toBe('2345');
      expect((await store.get('r', { start: 7, end: 9 })).toString()).toBe('789');
      expect((await store.get('r', { start: 7, end: 1_000_000_000 })).toString()).toBe('789');
      await expectCode(store.get('r', { start: 10, end: 12 }), 'OFFSET_OUT_OF_RANGE');
      await expect(store.get('r', { start: 5, end: 4 })).rejects.toThrow(TypeError);
      await expect(store.get('r', { start: -1, end: 4 })).rejects.toThrow(TypeError);
    });

    test('list: prefixes, byte-order sorting, sizes', async () => {
      const keys = ['seg/a/2', 'seg/a/10', 'seg/a-c', 'seg/a/1', 'seg/b', 'seg/ab', 'other/x', 'seg/a.b', 'segment'];
      for (const k of keys) await store.put(k, Buffer.alloc(k.length));
      const all = await collect(store.list(''));
      expect(all.map((o) => o.key)).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
      expect(all.find((o) => o.key === 'seg/a/10')!.size).toBe(8);
      expect((await collect(store.list('seg/a/'))).map((o) => o.key)).toEqual(['seg/a/1', 'seg/a/10', 'seg/a/2']);
      expect((await collect(store.list('seg/a'))).map((o) => o.key)).toEqual(['seg/a-c', 'seg/a.b', 'seg/a/1', 'seg/a/10', 'seg/a/2', 'seg/ab']);
      expect((await collect(store.list('seg/a/1'))).map((o) => o.key)).toEqual(['seg/a/1', 'seg/a/10']);
      expect((await collect(store.list('seg'))).length).toBe(8);
      expect(await collect(store.list('nothing/here/'))).toEqual([]);
      expect(await collect(store.list('../'))).toEqual([]);
    });

    test('list pages through more than 1000 keys in order', async () => {
      const keys = Array.from({ length: 1105 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await pool(keys, 16, (k) => store.put(k, Buffer.from('x')));
      await store.put('many-after', Buffer.from('y'));
      const listed = await collect(store.list('many/'));
      expect(listed.length).toBe(1105);
      expect(listed.map((o) => o.key)).toEqual(keys);
    });

    test('invalid keys, path traversal included, are refused for every operation', async () => {
      const bad = ['', '/abs', '../up', 'a/../../up', 'a/./b', '.', '..', 'a//b', 'a/', 'a\\b', 'nul\0', 'k'.repeat(1025)];
      for (const k of bad) {
        await expect(store.put(k, Buffer.from('x'))).rejects.toThrow(TypeError);
        await expect(store.get(k)).rejects.toThrow(TypeError);
        await expect(store.head(k)).rejects.toThrow(TypeError);
        await expect(store.delete(k)).rejects.toThrow(TypeError);
      }
      expect(await collect(store.list(''))).toEqual([]);
    });

    test('a closed store refuses calls', async () => {
      await store.close();
      await expectCode(store.put('k', Buffer.from('x')), 'CLOSED');
      await expectCode(store.get('k'), 'CLOSED');
      store = await backing.open();
    });

    test('objects survive close and reopen', async () => {
      await store.put('keep/me', Buffer.from('durable'));
      await store.close();
      store = await backing.open();
      expect((await store.get('keep/me')).toString()).toBe('durable');
    });
  });
}
