import type { Readable } from 'node:stream';

/** Keys sort in UTF-8 byte order, as S3 lists them (one implementation, shared with the metadata KV). */
export { compareKeys as compareUtf8 } from '../meta/versionedKv';

/**
 * The object store port: immutable objects under unique keys. Closed segments and their
 * indexes are tiered through it. The rules are the intersection of what S3 and a local
 * folder can both promise without S3's conditional writes:
 *
 * - Write-once. A put to an existing key fails with StrataError('KEY_EXISTS') where the
 *   adapter can tell (the file adapter always can). Callers never rely on that to
 *   coordinate: keys are made unique (offsets, epochs, a random suffix), and an object only
 *   becomes part of a log once a metadata record naming it commits.
 * - A visible object is complete: readers never see a partial or replaced body.
 * - Keys are '/'-separated paths of non-empty segments, with no '.' or '..' segment,
 *   no leading '/', no backslash or NUL, at most 1024 UTF-8 bytes (S3's limit).
 */
export interface ObjectInfo {
  key: string;
  size: number;
}

/** Inclusive byte range, as in an HTTP Range header. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectStore {
  /**
   * Stores `body` under `key`. With `contentLength`, a body of any other length fails the
   * put (StrataError('STORAGE_IO')) and nothing becomes visible.
   */
  put(key: string, body: Buffer | Readable, opts?: { contentLength?: number }): Promise<void>;
  /**
   * The object's bytes, or those of `range` (an end past the object is clamped, as S3 does;
   * a start at or past the end is StrataError('OFFSET_OUT_OF_RANGE')).
   * StrataError('NOT_FOUND') when the key does not exist.
   */
  get(key: string, range?: ByteRange): Promise<Buffer>;
  head(key: string): Promise<{ size: number } | null>;
  /** Objects whose key starts with `prefix`, sorted by key (UTF-8 byte order), fetched page by page. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export const MAX_OBJECT_KEY_BYTES = 1024;

/** Throws TypeError for a key outside the port's rules (above); adapters call it first. */
export function checkObjectKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('object key must be a non-empty string');
  if (Buffer.byteLength(key) > MAX_OBJECT_KEY_BYTES) throw new TypeError(`object key is longer than ${MAX_OBJECT_KEY_BYTES} bytes`);
  if (key.includes('\0') || key.includes('\\')) throw new TypeError(`object key ${JSON.stringify(key)} contains NUL or a backslash`);
  if (key.startsWith('/')) throw new TypeError(`object key ${JSON.stringify(key)} is absolute`);
  for (const segment of key.split('/')) {
    if (segment === '') throw new TypeError(`object key ${JSON.stringify(key)} has an empty path segment`);
    if (segment === '.' || segment === '..') throw new TypeError(`object key ${JSON.stringify(key)} has a '${segment}' segment`);
  }
}

export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new TypeError(`invalid byte range ${start}-${end}`);
  }
}

