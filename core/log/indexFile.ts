import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { UNBOUNDED_FILE_CACHE, type CachedFile, type FileCache } from './fileCache';

/**
 * The file underneath a sparse index: fixed-size entries appended at the end, read whole on open.
 * Indexes are small (one entry per ~4 KiB of log), so they are kept in memory as typed arrays and
 * the file is only written, never read again while open. They are not checksummed: a damaged index
 * is detected by its shape and rebuilt from the log (Kafka's approach too).
 *
 * Its descriptor comes from the broker's file cache: opened when written, maybe closed between
 * writes (a closed segment's index is never written again, so it costs no descriptor).
 */
export class IndexFile {
  private readonly file: CachedFile;
  /** Whether the file was there before this open (a missing index must be rebuilt). */
  readonly existed: boolean;

  constructor(readonly path: string, files: FileCache = UNBOUNDED_FILE_CACHE) {
    this.existed = fs.existsSync(path);
    this.file = files.file(path, { create: true });
    // Created now (not at the first write), so that the file is there as it always was.
    if (!this.existed) this.file.use(() => undefined);
  }

  /**
   * Current contents, or null when the file holds more than `maxBytes` (a damaged file must not
   * make us allocate an arbitrary amount; the caller rebuilds instead).
   */
  readAll(maxBytes: number): Buffer | null {
    const size = this.file.use((fd) => io(() => fs.fstatSync(fd).size, 'stat', this.path));
    if (size > maxBytes) return null;
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = this.file.use((fd) => io(() => fs.readSync(fd, buf, done, size - done, done), 'read', this.path));
      if (n === 0) return buf.subarray(0, done);
      done += n;
    }
    return buf;
  }

  /** Writes `bytes` at `position` (the current end, for appends). */
  write(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length) {
      done += this.file.use((fd) => io(() => fs.writeSync(fd, bytes, done, bytes.length - done, position + done), 'write', this.path));
    }
  }

  truncate(size: number): void {
    this.file.use((fd) => io(() => fs.ftruncateSync(fd, size), 'truncate', this.path));
  }

  /** Replaces the whole contents. */
  rewrite(bytes: Uint8Array): void {
    this.truncate(0);
    this.write(bytes, 0);
  }

  sync(): void {
    this.file.use((fd) => io(() => fs.fsyncSync(fd), 'fsync', this.path));
  }

  close(): void {
    this.file.dispose();
  }
}

/** Runs a synchronous fs call, turning its failure into STORAGE_IO. */
/** Index of the last of the first `n` ascending `values` that is <= `target`, or -1 when none is (a binary search). */
export function lastAtOrBelow<T extends number | bigint>(values: ArrayLike<T>, n: number, target: T): number {
  let lo = 0;
  let hi = n - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export function io<T>(fn: () => T, what: string, file: string): T {
  try {
    return fn();
  } catch (e) {
    throw new StrataError('STORAGE_IO', `${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}
