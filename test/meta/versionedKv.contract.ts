import { isStrataError, type StrataErrorCode } from '../../core/common/errors';
import type { VersionedKv } from '../../core/meta/versionedKv';

/**
 * The behaviour every VersionedKv adapter owes the metadata store. A backing is one durable
 * store (a directory, a DynamoDB table prefix); `open` may be called again after `close` to
 * check that what was acknowledged survived.
 */
export interface KvBacking {
  open(): Promise<VersionedKv>;
  /** Removes the backing (files, tables). */
  destroy(): Promise<void>;
}

export async function expectCode(p: Promise<unknown>, code: StrataErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  if (!isStrataError(caught, code)) {
    throw new Error(`expected StrataError ${code}, got ${caught === undefined ? 'success' : String(caught)}`);
  }
}

export function versionedKvContract(name: string, makeBacking: () => Promise<KvBacking>): void {
  describe(`VersionedKv contract: ${name}`, () => {
    let backing: KvBacking;
    let kv: VersionedKv;

    beforeEach(async () => {
      backing = await makeBacking();
      kv = await backing.open();
    });
    afterEach(async () => {
      await kv.close();
      await backing.destroy();
    });

    test('a missing key reads as null and lists as nothing', async () => {
      expect(await kv.get('nope')).toBeNull();
      expect(await kv.list('')).toEqual([]);
    });

    test('create-if-absent starts at version 1, and null or 0 both mean "must not exist"', async () => {
      expect(await kv.put('a', { x: 1 }, null)).toBe(1);
      expect(await kv.put('b', 'bee', 0)).toBe(1);
      expect(await kv.get('a')).toEqual({ key: 'a', value: { x: 1 }, version: 1 });
      await expectCode(kv.put('a', { x: 2 }, null), 'KEY_EXISTS');
      await expectCode(kv.put('b', 'again', 0), 'KEY_EXISTS');
      expect((await kv.get('a'))!.value).toEqual({ x: 1 });
    });

    test('conditional update increments the version and refuses stale or missing versions', async () => {
      await kv.put('k', 1, null);
      expect(await kv.put('k', 2, 1)).toBe(2);
      expect(await kv.put('k', 3, 2)).toBe(3);
      await expectCode(kv.put('k', 99, 2), 'VERSION_CONFLICT');
      await expectCode(kv.put('k', 99, 4), 'VERSION_CONFLICT');
      await expectCode(kv.put('absent', 1, 1), 'VERSION_CONFLICT');
      expect(await kv.get('k')).toEqual({ key: 'k', value: 3, version: 3 });
      expect(await kv.get('absent')).toBeNull();
    });

    test('of racing writers with the same expected version exactly one wins', async () => {
      await kv.put('race', 0, null);
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => kv.put('race', i + 1, 1)));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isStrataError(r.reason, 'VERSION_CONFLICT')).toBe(true);
      expect((await kv.get('race'))!.version).toBe(2);
    });

    test('of racing creators exactly one wins', async () => {
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => kv.put('new', i, null)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    test('delete: unconditional is idempotent, conditional checks presence and version', async () => {
      expect(await kv.delete('ghost')).toBe(false);
      await kv.put('d', 'x', null);
      await kv.put('d', 'y', 1);
      await expectCode(kv.delete('d', 1), 'VERSION_CONFLICT');
      await expectCode(kv.delete('ghost', 1), 'NOT_FOUND');
      await kv.delete('d', 2);
      expect(await kv.get('d')).toBeNull();
      expect(await kv.delete('d')).toBe(false);
      // A re-created key starts over.
      expect(await kv.put('d', 'z', null)).toBe(1);
      expect(await kv.delete('d')).toBe(true);
    });

    test('values keep bigints (beyond 2^53), nesting, unicode and $-prefixed keys exactly', async () => {
      const value = {
        offset: 2n ** 63n - 1n,
        negative: -(2n ** 40n),
        list: [1, 'two', null, true, { n: 3n }],
        nested: { deep: { deeper: [] as number[] } },
        text: 'ünïcødé ✓ "quotes" \\ \n',
        $bigint: 'not a bigint',
        $$x: { $bigint: '5' },
        ['__proto__']: 'plain key',
      };
      await kv.put('v', value, null);
      const back = (await kv.get('v'))!.value as Record<string, unknown>;
      expect(back).toEqual(value);
      expect(back.offset).toBe(2n ** 63n - 1n);
      expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
      expect(Object.keys(back)).toContain('__proto__');
    });

    test('values that JSON would silently change are refused', async () => {
      await expect(kv.put('bad', { n: NaN }, null)).rejects.toThrow(TypeError);
      await expect(kv.put('bad', { u: undefined } as never, null)).rejects.toThrow(TypeError);
      await expect(kv.put('bad', new Date() as never, null)).rejects.toThrow(TypeError);
      expect(await kv.get('bad')).toBeNull();
    });

    test('reads return copies: mutating one does not change the store', async () => {
      await kv.put('m', { list: [1, 2] }, null);
      const first = (await kv.get('m'))!.value as { list: number[] };
      first.list.push(3);
      expect(((await kv.get('m'))!.value as { list: number[] }).list).toEqual([1, 2]);
    });

    test('list returns the prefix\'s entries in key order', async () => {
      for (const k of ['t/b', 't/a', 't/a/x', 't-z', 'u/1', 't/c', 't/B']) await kv.put(k, k, null);
      expect((await kv.list('t/')).map((e) => e.key)).toEqual(['t/B', 't/a', 't/a/x', 't/b', 't/c']);
      expect((await kv.list('t')).map((e) => e.key)).toEqual(['t-z', 't/B', 't/a', 't/a/x', 't/b', 't/c']);
      expect((await kv.list('')).length).toBe(7);
      expect(await kv.list('zzz')).toEqual([]);
      const e = (await kv.list('u/'))[0];
      expect(e).toEqual({ key: 'u/1', value: 'u/1', version: 1 });
    });

    test('acknowledged writes survive close and reopen', async () => {
      await kv.put('p', { offset: 12345678901234567890n }, null);
      await kv.put('p', { offset: 1n }, 1);
      await kv.put('q', 'gone soon', null);
      await kv.delete('q');
      await kv.close();
      kv = await backing.open();
      expect(await kv.get('p')).toEqual({ key: 'p', value: { offset: 1n }, version: 2 });
      expect(await kv.get('q')).toBeNull();
      expect(await kv.put('p', { offset: 2n }, 2)).toBe(3);
    });

    test('invalid keys are refused', async () => {
      await expect(kv.put('', 1, null)).rejects.toThrow(TypeError);
      await expect(kv.put('a\0b', 1, null)).rejects.toThrow(TypeError);
      await expect(kv.put('x'.repeat(1025), 1, null)).rejects.toThrow(TypeError);
      await expect(kv.put('k', 1, -1)).rejects.toThrow(TypeError);
    });

    test('a closed store refuses calls', async () => {
      await kv.close();
      await expectCode(kv.get('a'), 'CLOSED');
      await expectCode(kv.put('a', 1, null), 'CLOSED');
      kv = await backing.open(); // for afterEach
    });
  });
}
