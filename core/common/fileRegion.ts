import * as fs from 'node:fs';
import { StrataError } from './errors';

/**
 * A byte range of an open file, standing in for those bytes in a response: a fetch response's
 * records are regions of segment files, which the connection sends as the socket drains
 * (sendfile(2) where it can, else a small buffer at a time) instead of holding them in memory.
 * The descriptor stays valid until release() (the file cache does not close a pinned file, and
 * a deleted segment's descriptor closes at the last release), so the region must be released
 * exactly once by whoever ends up owning it: the connection after sending it, or the code that
 * decides not to send it.
 */
export interface FileRegion {
  readonly kind: 'file-region';
  readonly fd: number;
  /** The file's path, for messages. */
  readonly path: string;
  readonly position: number;
  readonly length: number;
  /** Idempotent. */
  release(): void;
}

/** A piece of an encoded response: bytes, or a file region sent from the file. */
export type ResponseChunk = Buffer | FileRegion;

export function isFileRegion(c: unknown): c is FileRegion {
  return typeof c === 'object' && c !== null && (c as FileRegion).kind === 'file-region';
}

/** Releases every region among `chunks` (after a response is dropped or fully sent). */
export function releaseChunks(chunks: readonly ResponseChunk[] | null | undefined): void {
  if (!chunks) return;
  for (const c of chunks) if (isFileRegion(c)) c.release();
}

/**
 * Reads `length` bytes of a region starting `offset` bytes into it. A short read means the file
 * shrank under a pinned region (a truncation), which the response can no longer honour.
 */
export function readRegion(r: FileRegion, offset = 0, length = r.length - offset, into?: Buffer): Buffer {
  const buf = into ?? Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = fs.readSync(r.fd, buf, done, length - done, r.position + offset + done);
    } catch (e) {
      throw new StrataError('STORAGE_IO', `read ${r.path}: ${(e as Error).message}`, { cause: e });
    }
    if (n === 0) throw new StrataError('STORAGE_IO', `read ${r.path}: the file ends at ${r.position + offset + done}, before the ${r.length} bytes promised at ${r.position}`);
    done += n;
  }
  return buf;
}
