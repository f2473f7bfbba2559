import type { KvValue } from './json';

export type { KvValue } from './json';

/**
 * The storage port under the metadata store: single keys with a version, and conditional
 * writes on that version. It is deliberately no more than DynamoDB offers for one item
 * (PutItem/DeleteItem with a condition expression, Query on a key prefix), so that the
 * embedded adapter and the DynamoDB adapter give the same guarantees and nothing above this
 * port can rely on multi-key transactions.
 *
 * Versions: a key that exists has version ≥ 1; every successful put increments it by one.
 * "Version 0" means "absent", so `expectedVersion` 0 and null both mean "must not exist".
 * A deleted and re-created key starts again at version 1.
 */
export interface KvEntry<V extends KvValue = KvValue> {
  key: string;
  value: V;
  version: number;
}

export interface VersionedKv {
  /** The entry, or null when the key does not exist. */
  get(key: string): Promise<KvEntry | null>;
  /** All entries whose key starts with `prefix`, sorted by key (UTF-8 byte order). */
  list(prefix: string): Promise<KvEntry[]>;
  /**
   * Writes `value` if the key's current version is `expectedVersion` (null or 0: the key must
   * not exist) and resolves with the new version. The write is durable when this resolves.
   * Throws StrataError('KEY_EXISTS') when the key had to be absent but exists, and
   * StrataError('VERSION_CONFLICT') when it exists with another version or is absent.
   */
  put(key: string, value: KvValue, expectedVersion: number | null): Promise<number>;
  /**
   * Deletes the key. Without `expectedVersion` it is unconditional and idempotent (resolves
   * false when there was nothing to delete). With it, throws StrataError('NOT_FOUND') when
   * the key is absent and StrataError('VERSION_CONFLICT') when its version differs.
   */
  delete(key: string, expectedVersion?: number): Promise<boolean>;
  /** Releases files, locks and connections; later calls throw StrataError('CLOSED'). */
  close(): Promise<void>;
}

/** Keys are non-empty strings without NUL, at most this many UTF-8 bytes (DynamoDB's sort key limit). */
export const MAX_KEY_BYTES = 1024;

/** Values are limited to DynamoDB's item size (encoded, see json.ts), so that nothing comes to depend on more. */
export const MAX_VALUE_BYTES = 400 * 1024;

/** An unpaired UTF-16 surrogate: with the u flag, a well-formed pair is one code point and does not match. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('metadata key must be a non-empty string');
  if (key.includes('\0')) throw new TypeError(`metadata key ${JSON.stringify(key)} contains NUL`);
  // Stores keep keys as UTF-8, which has no encoding for a lone surrogate: it would be stored as
  // U+FFFD, and two different keys would name one entry.
  if (LONE_SURROGATE.test(key)) throw new TypeError(`metadata key ${JSON.stringify(key)} is not well-formed Unicode (a lone surrogate)`);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new TypeError(`metadata key is longer than ${MAX_KEY_BYTES} bytes`);
}

export function checkExpectedVersion(v: number | null | undefined): void {
  if (v === null || v === undefined) return;
  if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`expected version must be a non-negative integer, got ${v}`);
}

/**
 * S3 and DynamoDB order keys by UTF-8 bytes, which is Unicode code point order. JS string
 * comparison orders UTF-16 code units instead, which differs only where a surrogate pair (a
 * code point ≥ U+10000) meets a BMP character ≥ U+E000; this fixes that case without
 * allocating, since listings sort every key.
 */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * A view of `kv` under a key prefix, for features that want their own namespace
 * (e.g. group offsets under "ns/offsets/"): keys passed in and returned are relative.
 * Closing the view does not close the underlying store.
 */
export function prefixedKv(kv: VersionedKv, prefix: string): VersionedKv {
  const strip = (e: KvEntry): KvEntry => ({ ...e, key: e.key.slice(prefix.length) });
  return {
    get: async (key) => {
      checkKey(key);
      const e = await kv.get(prefix + key);
      return e && strip(e);
    },
    list: async (p) => (await kv.list(prefix + p)).map(strip),
    put: (key, value, expectedVersion) => {
      checkKey(key);
      return kv.put(prefix + key, value, expectedVersion);
    },
    delete: (key, expectedVersion) => {
      checkKey(key);
      return kv.delete(prefix + key, expectedVersion);
    },
    close: async () => undefined,
  };
}
