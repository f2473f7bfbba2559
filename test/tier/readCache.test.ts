/**
 * The remote read cache over a real FileObjectStore: chunking, the byte bound and LRU order,
 * one GET per chunk however many readers, read-ahead, time-bounded GETs and the fail-fast window.
 */
import { randomBytes } from 'node:crypto';
import { isStrataError } from '../../core/common/errors';
import { READ_CACHE_DEFAULTS, ReadCache } from '../../core/tier/readCache';
import { waitFor } from '../helpers/waitFor';
import { TierEnv, fakeClock } from './tierHelpers';

const KiB = 1024;
let env: TierEnv;
let data: Buffer;

beforeEach(async () => {
  env = await TierEnv.create();
  data = randomBytes(100 * KiB + 123);
  await env.files.put('obj/a', data);
});

afterEach(async () => {
  await env.destroy();
});

test('reads return the exact bytes as slices of cached chunks, across chunk boundaries', async () => {
  const cache = new ReadCache(env.objects, { chunkBytes: 4 * KiB, maxBytes: 64 * KiB, readAheadChunks: 0 });
  for (const [start, length] of [[0, 1], [0, 4 * KiB], [4 * KiB - 3, 10], [5000, 20_000], [data.length - 7, 7], [data.length, 0], [123, 0]]) {
    const parts = await cache.read('obj/a', data.length, start, length);
    expect(Buffer.concat(parts)).toEqual(data.subarray(start, start + length));
    expect(await cache.readBytes('obj/a', data.length, start, length)).toEqual(data.subarray(start, start + length));
  }
  // A span inside one cached chunk is served synchronously, without copying.
  const p = cache.peek('obj/a', data.length, 4 * KiB + 10, 100);
  expect(p).toEqual(data.subarray(4 * KiB + 10, 4 * KiB + 110));
  await expect(cache.read('obj/a', data.length, data.length - 1, 2)).rejects.toMatchObject({ code: 'STORAGE_IO' });
});

test('the cache never holds more than maxBytes and evicts the least recently used chunk', async () => {
  const cache = new ReadCache(env.objects, { chunkBytes: 4 * KiB, maxBytes: 16 * KiB, readAheadChunks: 0 });
  let peak = 0;
  for (let i = 0; i < 200; i++) {
    const start = (i * 7919) % (data.length - 6000);
    await cache.read('obj/a', data.length, start, 6000);
    peak = Math.max(peak, cache.stats().bytes);
  }
  expect(peak).toBeLessThanOrEqual(16 * KiB);
  expect(cache.stats().evictions).toBeGreaterThan(0);

  cache.clear();
  for (const i of [0, 1, 2, 3]) await cache.read('obj/a', data.length, i * 4 * KiB, 1); // chunks 0..3: full
  await cache.read('obj/a', data.length, 0, 1); // touch chunk 0: chunk 1 is now the oldest
  await cache.read('obj/a', data.length, 4 * 4 * KiB, 1); // chunk 4 evicts chunk 1
  expect(cache.peek('obj/a', data.length, 0, 1)).not.toBeNull();
  expect(cache.peek('obj/a', data.length, 4 * KiB, 1)).toBeNull();
  expect(cache.peek('obj/a', data.length, 2 * 4 * KiB, 1)).not.toBeNull();
  expect(cache.stats().chunks).toBe(4);
});

test('concurrent readers of a chunk share one GET; hits cost none', async () => {
  const cache = new ReadCache(env.objects, { chunkBytes: 8 * KiB, maxBytes: 64 * KiB, readAheadChunks: 0 });
  const results = await Promise.all(Array.from({ length: 10 }, () => cache.readBytes('obj/a', data.length, 100, 1000)));
  for (const r of results) expect(r).toEqual(data.subarray(100, 1100));
  expect(env.objects.calls.get).toBe(1);
  await cache.read('obj/a', data.length, 0, 8 * KiB);
  expect(env.objects.calls.get).toBe(1);
  expect(cache.stats()).toMatchObject({ misses: 1 });
});

test('read-ahead loads the next chunks so a forward reader finds them cached', async () => {
  const cache = new ReadCache(env.objects, { chunkBytes: 8 * KiB, maxBytes: 64 * KiB, readAheadChunks: 2 });
  await cache.read('obj/a', data.length, 0, 100, { readAhead: true });
  await waitFor(() => cache.stats().chunks === 3, { message: 'chunks 1 and 2 read ahead' });
  const gets = env.objects.calls.get;
  expect(Buffer.concat(await cache.read('obj/a', data.length, 8 * KiB, 16 * KiB))).toEqual(data.subarray(8 * KiB, 24 * KiB));
  expect(env.objects.calls.get).toBe(gets);
  expect(cache.stats().prefetches).toBe(2);
  // Never past the object's last chunk.
  await cache.read('obj/a', data.length, data.length - 10, 10, { readAhead: true });
  expect(cache.stats().prefetches).toBe(2);
});

test('a GET that never answers fails the read at the timeout; the breaker then fails misses at once, and failures are not cached', async () => {
  const clock = fakeClock();
  const cache = new ReadCache(env.objects, { chunkBytes: 8 * KiB, maxBytes: 64 * KiB, timeoutMs: 200, failFastMs: 1000, now: clock.now });
  await cache.read('obj/a', data.length, 0, 10); // chunk 0 cached
  env.objects.mode = 'hang';
  const started = Date.now();
  const err = await cache.read('obj/a', data.length, 20 * KiB, 10).then(() => null, (e: unknown) => e);
  expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
  expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  const gets = env.objects.calls.get;
  await expect(cache.read('obj/a', data.length, 40 * KiB, 10)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('failed moments ago') });
  expect(env.objects.calls.get).toBe(gets);
  expect(await cache.readBytes('obj/a', data.length, 0, 10)).toEqual(data.subarray(0, 10)); // hits still serve
  env.objects.mode = 'ok';
  env.objects.releaseHung();
  clock.advance(1000);
  expect(await cache.readBytes('obj/a', data.length, 20 * KiB, 10)).toEqual(data.subarray(20 * KiB, 20 * KiB + 10));
});

test('a missing object is NOT_FOUND (not an outage), and invalidate drops an object\'s chunks', async () => {
  const cache = new ReadCache(env.objects, { chunkBytes: 8 * KiB, maxBytes: 64 * KiB, readAheadChunks: 0 });
  await expect(cache.read('obj/missing', 100, 0, 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  // No breaker for a missing key: the next read goes to the store.
  expect(await cache.readBytes('obj/a', data.length, 0, 10)).toEqual(data.subarray(0, 10));
  await cache.read('obj/a', data.length, 0, 3 * 8 * KiB);
  expect(cache.stats().chunks).toBe(3);
  cache.invalidate('obj/a', data.length);
  expect(cache.stats()).toMatchObject({ chunks: 0, bytes: 0 });
});

test('an object shorter than its record is reported as damaged storage', async () => {
  const cache = new ReadCache(env.objects, { chunkBytes: 8 * KiB, maxBytes: 64 * KiB, readAheadChunks: 0 });
  await expect(cache.read('obj/a', data.length + 20 * KiB, data.length + 10 * KiB, 10)).rejects.toMatchObject({ code: 'STORAGE_IO' });
  await expect(cache.read('obj/a', data.length + 100, data.length - 10, 20)).rejects.toMatchObject({ code: 'STORAGE_IO' });
});

test('options are checked', () => {
  expect(() => new ReadCache(env.objects, { chunkBytes: 10 })).toThrow(TypeError);
  expect(() => new ReadCache(env.objects, { chunkBytes: 4096, maxBytes: 4096 })).toThrow(TypeError);
});

test('by default one GET fetches 4 MiB (fewer, larger GETs: see READ_CACHE_DEFAULTS) and read-ahead stays within the defaults', async () => {
  const MiB = 1024 * KiB;
  const big = randomBytes(9 * MiB + 5);
  await env.files.put('obj/big', big);
  const cache = new ReadCache(env.objects);
  expect(cache.stats()).toMatchObject({ chunkBytes: 4 * MiB, maxBytes: 64 * MiB });
  expect(cache.readAheadBytes).toBe(READ_CACHE_DEFAULTS.readAheadChunks * 4 * MiB);
  const gets = env.objects.calls.get;
  // Buffer#equals: jest's toEqual walks 9 MiB byte by byte for minutes.
  expect(Buffer.concat(await cache.read('obj/big', big.length, 0, big.length)).equals(big)).toBe(true);
  expect(env.objects.calls.get - gets).toBe(3); // 4 MiB + 4 MiB + 1 MiB + 5 bytes
  expect(cache.stats()).toMatchObject({ misses: 3, chunks: 3, bytes: big.length });
});
