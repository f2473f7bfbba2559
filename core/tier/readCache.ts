import { StrataError, isStrataError } from '../common/errors';
import type { ObjectStore } from './objectStore';

/**
 * The read cache in front of the object store for remote (tiered) reads: fixed-size chunks of
 * objects, least recently used evicted first, with a hard bound on the bytes it holds.
 *
 *   object  |chunk 0 (4 MiB)|chunk 1|chunk 2|chunk 3|…|last (shorter)|
 *   a read of [start, start+length) loads the chunks it touches (in parallel, one GET each, one
 *   GET per chunk however many readers want it) and returns slices of them, without copying;
 *   then it starts loading the next `readAheadChunks` chunks, since consumers read forward.
 *
 * Every GET is time-bounded: an object store that hangs makes a read fail with
 * StrataError('STORE_UNAVAILABLE') after `timeoutMs`, never a fetch that waits forever. After a
 * failure, reads that miss the cache fail at once for `failFastMs` (a small circuit breaker), so
 * during an outage consumers of tiered data get a retriable error quickly while cached chunks
 * are still served.
 *
 * Memory: the cached chunks never exceed `maxBytes`; chunks in flight are bounded by the reads
 * asking for them (each read's own size) plus `maxPrefetches` read-ahead chunks. Slices handed
 * to a response keep their chunk alive until the response is written, even if evicted.
 *
 * Chunk size: every GET costs a round trip and a fixed amount of CPU on both ends (request
 * signing, HTTP parsing, SDK middleware, a buffer), so larger chunks move more bytes per core.
 * Against s3rver on two cores (`npm run bench`, tiered reads) 4 MiB chunks read ~1.4× faster
 * than 1 MiB ones, and 8 MiB ones no faster than 4 (less overlap between GETs and sending);
 * AWS recommends 8–16 MB ranged GETs for S3 throughput. 4 MiB keeps a consumer's first fetch
 * short and lets the default 64 MiB cache hold read-ahead for several sequential readers.
 */
export interface ReadCacheOptions {
  /** Bytes per chunk (one GET each). Default 4 MiB. */
  chunkBytes?: number;
  /** Most bytes the cache holds. Default 64 MiB; at least 2 chunks. */
  maxBytes?: number;
  /** Chunks loaded ahead of a read. Default 2. */
  readAheadChunks?: number;
  /** Read-ahead GETs in flight at once across the cache. Default 4. */
  maxPrefetches?: number;
  /** A GET not answered within this fails the read. Default 5000 ms. */
  timeoutMs?: number;
  /** After a failed GET, misses fail immediately for this long. Default 1000 ms; 0 disables. */
  failFastMs?: number;
  /** Wall clock (tests). */
  now?: () => number;
}

export interface ReadCacheStats {
  bytes: number;
  chunks: number;
  maxBytes: number;
  chunkBytes: number;
  hits: number;
  misses: number;
  prefetches: number;
  evictions: number;
  failures: number;
}

const MiB = 1024 * 1024;

/** What the options default to (the benchmark measures the object store at the same chunk size). */
export const READ_CACHE_DEFAULTS = {
  chunkBytes: 4 * MiB,
  maxBytes: 64 * MiB,
  readAheadChunks: 2,
  maxPrefetches: 4,
  timeoutMs: 5000,
  failFastMs: 1000,
} as const;

export class ReadCache {
  readonly chunkBytes: number;
  readonly maxBytes: number;
  private readonly readAheadChunks: number;
  private readonly maxPrefetches: number;
  private readonly timeoutMs: number;
  private readonly failFastMs: number;
  private readonly now: () => number;
  /** LRU order = Map insertion order: a hit re-inserts its entry at the end. */
  private readonly chunks = new Map<string, Buffer>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private bytes = 0;
  private prefetchesActive = 0;
  private failingUntil = 0;
  private lastFailure: unknown = null;
  private readonly counters = { hits: 0, misses: 0, prefetches: 0, evictions: 0, failures: 0 };

  constructor(
    private readonly objects: ObjectStore,
    opts: ReadCacheOptions = {},
  ) {
    const d = READ_CACHE_DEFAULTS;
    this.chunkBytes = opts.chunkBytes ?? d.chunkBytes;
    this.maxBytes = opts.maxBytes ?? d.maxBytes;
    this.readAheadChunks = opts.readAheadChunks ?? d.readAheadChunks;
    this.maxPrefetches = opts.maxPrefetches ?? d.maxPrefetches;
    this.timeoutMs = opts.timeoutMs ?? d.timeoutMs;
    this.failFastMs = opts.failFastMs ?? d.failFastMs;
    this.now = opts.now ?? Date.now;
    if (!Number.isSafeInteger(this.chunkBytes) || this.chunkBytes < 1024) throw new TypeError('chunkBytes must be an integer of at least 1024');
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 2 * this.chunkBytes) throw new TypeError('maxBytes must hold at least two chunks');
    if (!Number.isInteger(this.readAheadChunks) || this.readAheadChunks < 0) throw new TypeError('readAheadChunks must be a non-negative integer');
    if (!(this.timeoutMs > 0)) throw new TypeError('timeoutMs must be positive');
  }

  stats(): ReadCacheStats {
    return { bytes: this.bytes, chunks: this.chunks.size, maxBytes: this.maxBytes, chunkBytes: this.chunkBytes, ...this.counters };
  }

  /**
   * Bytes [start, start+length) of the object `key`, whose size is `objectSize`, as slices of
   * cached chunks in order (no copy). `readAhead` also starts loading the chunks after it.
   */
  async read(key: string, objectSize: number, start: number, length: number, opts: { readAhead?: boolean } = {}): Promise<Buffer[]> {
    checkSpan(key, objectSize, start, length);
    if (length === 0) return [];
    const first = Math.floor(start / this.chunkBytes);
    const last = Math.floor((start + length - 1) / this.chunkBytes);
    const loads: (Buffer | Promise<Buffer>)[] = [];
    for (let i = first; i <= last; i++) loads.push(this.chunk(key, objectSize, i, false));
    if (opts.readAhead) this.readAhead(key, objectSize, last);
    const bufs = await Promise.all(loads);
    const out: Buffer[] = [];
    for (let i = first; i <= last; i++) {
      const buf = bufs[i - first];
      const chunkStart = i * this.chunkBytes;
      const from = Math.max(start, chunkStart) - chunkStart;
      const to = Math.min(start + length, chunkStart + buf.length) - chunkStart;
      out.push(from === 0 && to === buf.length ? buf : buf.subarray(from, to));
    }
    return out;
  }

  /** Like `read`, as one buffer: a slice when the span lies in one chunk, else a copy. */
  async readBytes(key: string, objectSize: number, start: number, length: number): Promise<Buffer> {
    const cached = this.peek(key, objectSize, start, length);
    if (cached !== null) return cached;
    const parts = await this.read(key, objectSize, start, length);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, length);
  }

  /** The span as one buffer if it lies in one cached chunk (no I/O, no await), else null. */
  peek(key: string, objectSize: number, start: number, length: number): Buffer | null {
    checkSpan(key, objectSize, start, length);
    const i = Math.floor(start / this.chunkBytes);
    if (length > 0 && Math.floor((start + length - 1) / this.chunkBytes) !== i) return null;
    const id = chunkId(key, i);
    const buf = this.chunks.get(id);
    if (buf === undefined) return null;
    this.touch(id, buf);
    this.counters.hits++;
    const from = start - i * this.chunkBytes;
    return buf.subarray(from, from + length);
  }

  /** Drops the cached chunks of an object (its segment was deleted). */
  invalidate(key: string, objectSize: number): void {
    const n = Math.ceil(objectSize / this.chunkBytes);
    for (let i = 0; i < n; i++) {
      const id = chunkId(key, i);
      const buf = this.chunks.get(id);
      if (buf !== undefined) {
        this.chunks.delete(id);
        this.bytes -= buf.length;
      }
    }
  }

  clear(): void {
    this.chunks.clear();
    this.bytes = 0;
  }

  private chunk(key: string, objectSize: number, i: number, prefetch: boolean): Buffer | Promise<Buffer> {
    const id = chunkId(key, i);
    const cached = this.chunks.get(id);
    if (cached !== undefined) {
      if (!prefetch) {
        this.touch(id, cached);
        this.counters.hits++;
      }
      return cached;
    }
    const pending = this.inflight.get(id);
    if (pending !== undefined) return pending;
    if (!prefetch) this.counters.misses++;
    if (this.now() < this.failingUntil) {
      throw new StrataError(
        'STORE_UNAVAILABLE',
        `remote read of ${key} refused: the object store failed moments ago (${describe(this.lastFailure)}); retry later`,
      );
    }
    const start = i * this.chunkBytes;
    const end = Math.min(objectSize, start + this.chunkBytes) - 1;
    const load = this.timed(this.objects.get(key, { start, end }), key).then(
      (buf) => {
        this.inflight.delete(id);
        if (buf.length !== end - start + 1) {
          throw new StrataError('STORAGE_IO', `remote object ${key} returned ${buf.length} bytes at ${start}, expected ${end - start + 1}: it is not the object its record describes`);
        }
        this.insert(id, buf);
        return buf;
      },
      (e: unknown) => {
        this.inflight.delete(id);
        throw this.failed(e, key);
      },
    );
    this.inflight.set(id, load);
    return load;
  }

  private readAhead(key: string, objectSize: number, last: number): void {
    this.prefetchChunks(key, objectSize, last + 1, last + this.readAheadChunks);
  }

  /** How far ahead of a read the cache loads: readAheadChunks whole chunks. */
  get readAheadBytes(): number {
    return this.readAheadChunks * this.chunkBytes;
  }

  /**
   * Starts loading the chunks of [start, start+length) in the background, within the
   * read-ahead limits (e.g. the next segment's first chunk while a reader nears the end of
   * this one). Never fails; a failed prefetch is a later miss.
   */
  prefetch(key: string, objectSize: number, start: number, length: number): void {
    if (length <= 0 || start < 0 || start + length > objectSize) return;
    this.prefetchChunks(key, objectSize, Math.floor(start / this.chunkBytes), Math.floor((start + length - 1) / this.chunkBytes));
  }

  private prefetchChunks(key: string, objectSize: number, from: number, to: number): void {
    const n = Math.ceil(objectSize / this.chunkBytes);
    for (let i = from; i <= to && i < n; i++) {
      if (this.prefetchesActive >= this.maxPrefetches || this.now() < this.failingUntil) return;
      const id = chunkId(key, i);
      if (this.chunks.has(id) || this.inflight.has(id)) continue;
      this.prefetchesActive++;
      this.counters.prefetches++;
      Promise.resolve()
        .then(() => this.chunk(key, objectSize, i, true))
        .catch(() => undefined) // a failed read-ahead only means a later miss
        .finally(() => this.prefetchesActive--);
    }
  }

  private insert(id: string, buf: Buffer): void {
    const old = this.chunks.get(id);
    if (old !== undefined) {
      this.chunks.delete(id);
      this.bytes -= old.length;
    }
    this.chunks.set(id, buf);
    this.bytes += buf.length;
    for (const [victim, b] of this.chunks) {
      if (this.bytes <= this.maxBytes) break;
      this.chunks.delete(victim);
      this.bytes -= b.length;
      this.counters.evictions++;
    }
  }

  private touch(id: string, buf: Buffer): void {
    this.chunks.delete(id);
    this.chunks.set(id, buf);
  }

  private timed(p: Promise<Buffer>, key: string): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StrataError('STORE_UNAVAILABLE', `remote read of ${key} timed out after ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /** Counts a failed GET, trips the breaker for store failures, and says what the caller sees. */
  private failed(e: unknown, key: string): unknown {
    this.counters.failures++;
    // A missing object is an answer, not an outage (its segment was deleted under the reader).
    if (isStrataError(e, 'NOT_FOUND')) return e;
    if (isStrataError(e, 'OFFSET_OUT_OF_RANGE')) {
      return new StrataError('STORAGE_IO', `remote object ${key} is shorter than its record says: ${describe(e)}`, { cause: e });
    }
    this.lastFailure = e;
    if (this.failFastMs > 0) this.failingUntil = this.now() + this.failFastMs;
    if (isStrataError(e, 'STORE_UNAVAILABLE')) return e;
    return new StrataError('STORE_UNAVAILABLE', `remote read of ${key} failed: ${describe(e)}`, { cause: e });
  }
}

function chunkId(key: string, i: number): string {
  return `${key}\0${i}`;
}

function checkSpan(key: string, objectSize: number, start: number, length: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > objectSize) {
    throw new StrataError('STORAGE_IO', `read of ${length} bytes at ${start} is outside remote object ${key} (${objectSize} bytes)`);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
