import * as fs from 'node:fs';
import { StrataError } from '../common/errors';

/**
 * The file underneath a sparse index: fixed-size entries appended at the end, read whole on open.
 * Indexes are small (one entry per ~4 KiB of log), so they are kept in memory as typed arrays and
 * the file is only written, never read again while open. They are not checksummed: a damaged index
 * is detected by its shape and rebuilt from the log (Kafka's approach too).
 */
export class IndexFile {
  private fd: number;
  /** Whether the file was there before this open (a missing index must be rebuilt). */
  readonly existed: boolean;

  constructor(readonly path: string) {
    this.existed = fs.existsSync(path);
    this.fd = io(() => fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644), 'open', path);
  }

  /**
   * Current contents, or null when the file holds more than `maxBytes` (a damaged file must not
   * make us allocate an arbitrary amount; the caller rebuilds instead).
   */
  readAll(maxBytes: number): Buffer | null {
    const size = io(() => fs.fstatSync(this.fd).size, 'stat', this.path);
    if (size > maxBytes) return null;
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const n = io(() => fs.readSync(this.fd, buf, done, size - done, done), 'read', this.path);
      if (n === 0) return buf.subarray(0, done);
      done += n;
    }
    return buf;
  }

  /** Writes `bytes` at `position` (the current end, for appends). */
  write(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length) {
      done += io(() => fs.writeSync(this.fd, bytes, done, bytes.length - done, position + done), 'write', this.path);
    }
  }

  truncate(size: number): void {
    io(() => fs.ftruncateSync(this.fd, size), 'truncate', this.path);
  }

  /** Replaces the whole contents. */
  rewrite(bytes: Uint8Array): void {
    this.truncate(0);
    this.write(bytes, 0);
  }

  sync(): void {
    io(() => fs.fsyncSync(this.fd), 'fsync', this.path);
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    io(() => fs.closeSync(fd), 'close', this.path);
  }
}

/** Runs a synchronous fs call, turning its failure into STORAGE_IO. */
export function io<T>(fn: () => T, what: string, file: string): T {
  try {
    return fn();
  } catch (e) {
    throw new StrataError('STORAGE_IO', `${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}
