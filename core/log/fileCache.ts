import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import type { FileRegion } from '../common/fileRegion';

/**
 * The broker's segment file descriptors, bounded: files are opened when first used and the
 * least recently used ones are closed when more than `maxOpen` are open (log.max.open.files), so
 * descriptor use follows the partitions being written and read, not every partition on disk.
 * Kafka keeps every segment's files open (and mapped) instead; with thousands of partitions that
 * needs ulimit -n in the tens of thousands.
 *
 * A descriptor handed out for longer than one synchronous call (a fetch response streaming from
 * the file as the socket drains) is pinned: pinned files are never closed by eviction, and a file
 * disposed of (segment deleted or replaced) while pinned keeps its descriptor until the last pin
 * is released, so the bytes a response promised stay readable even after the path is unlinked
 * (as with Kafka's FileChannel). The cache may then hold more than maxOpen for a while.
 *
 * Closing an evicted descriptor loses nothing: written bytes are in the page cache, and fsync
 * through a later descriptor flushes them (fsync acts on the file, not the descriptor).
 */
export class FileCache {
  /** Open files, least recently used first (a Map keeps insertion order; a use re-inserts). */
  private readonly open = new Map<CachedFile, true>();
  private _opens = 0;
  private _evictions = 0;

  constructor(private _maxOpen: number) {
    if (!(_maxOpen >= 1)) throw new StrataError('CONFIG_INVALID', `log.max.open.files must be at least 1, not ${_maxOpen}`);
  }

  /** A file of this cache; nothing is opened until it is used. `create` opens it with O_CREAT the first time. */
  file(path: string, opts: { create?: boolean; readOnly?: boolean } = {}): CachedFile {
    return new CachedFile(this, path, opts.create === true, opts.readOnly === true);
  }

  get maxOpen(): number {
    return this._maxOpen;
  }

  /** Changes the bound (a dynamic config); closes idle files beyond it at once. */
  set maxOpen(n: number) {
    if (!(n >= 1)) throw new StrataError('CONFIG_INVALID', `log.max.open.files must be at least 1, not ${n}`);
    this._maxOpen = n;
    this.evict(0);
  }

  /** Descriptors open now (pinned ones included). */
  get openCount(): number {
    return this.open.size;
  }

  /** Files opened so far (a reopen after eviction counts again). */
  get opens(): number {
    return this._opens;
  }

  /** Descriptors closed to stay within maxOpen. */
  get evictions(): number {
    return this._evictions;
  }

  /** @internal */
  touched(f: CachedFile): void {
    this.open.delete(f);
    this.open.set(f, true);
  }

  /** @internal Makes room for `incoming` more descriptors. */
  evict(incoming: number): void {
    if (this.open.size + incoming <= this._maxOpen) return;
    for (const f of this.open.keys()) {
      if (this.open.size + incoming <= this._maxOpen) return;
      if (f.pins > 0) continue;
      f.closeFd();
      this._evictions++;
    }
  }

  /**
   * @internal Closes the least recently used idle descriptor: after EMFILE, to get one back for
   * the open that failed. False when every open file is pinned.
   */
  evictOne(): boolean {
    for (const f of this.open.keys()) {
      if (f.pins > 0) continue;
      f.closeFd();
      this._evictions++;
      return true;
    }
    return false;
  }

  /** @internal */
  opened(f: CachedFile): void {
    this._opens++;
    this.open.set(f, true);
  }

  /** @internal */
  closed(f: CachedFile): void {
    this.open.delete(f);
  }
}

/** For files opened outside a broker (tests, tools, the cleaner's worker thread): no bound. */
export const UNBOUNDED_FILE_CACHE = new FileCache(Number.MAX_SAFE_INTEGER);

/** A pinned descriptor: valid until release() (idempotent). */
export interface FilePin {
  readonly fd: number;
  readonly path: string;
  release(): void;
}

/** One file of a FileCache: opened on use, maybe closed between uses. */
export class CachedFile {
  private fd = -1;
  private _pins = 0;
  private disposed = false;

  /** @internal use FileCache.file */
  constructor(
    private readonly cache: FileCache,
    readonly path: string,
    private create: boolean,
    private readonly readOnly: boolean,
  ) {}

  get pins(): number {
    return this._pins;
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /**
   * Runs `fn` with the open descriptor (opened now if need be), pinned for the call. The
   * descriptor is valid only during the call: do not keep it (pin() for that). Failures opening the file are STORAGE_IO
   * errors naming the file.
   */
  use<T>(fn: (fd: number) => T): T {
    const fd = this.acquire();
    // Pinned for the call: files opened inside it (an index written during an append) must not
    // evict this one, whose descriptor number could then be reused by the next open.
    this._pins++;
    try {
      return fn(fd);
    } finally {
      this.unpin();
    }
  }

  /** The descriptor, held open until the pin is released. */
  pin(): FilePin {
    const fd = this.acquire();
    this._pins++;
    let released = false;
    return {
      fd,
      path: this.path,
      release: () => {
        if (released) return;
        released = true;
        this.unpin();
      },
    };
  }

  private unpin(): void {
    this._pins--;
    if (this._pins === 0) {
      if (this.disposed) this.closeFd();
      else this.cache.evict(0);
    }
  }

  /** `length` bytes at `position` as a region of a response, pinned until the region is released. */
  region(position: number, length: number): FileRegion {
    const pin = this.pin();
    return { kind: 'file-region', fd: pin.fd, path: this.path, position, length, release: pin.release };
  }

  /**
   * The file is no longer used through this object (segment closed or deleted): its descriptor
   * closes now, or when the last pin is released.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this._pins === 0) this.closeFd();
  }

  /** @internal Closes the descriptor; the next use reopens the file. */
  closeFd(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.cache.closed(this);
    try {
      fs.closeSync(fd);
    } catch {
      // close(2) fails only for a bad descriptor or an I/O error already reported by fsync; the
      // descriptor is gone either way.
    }
  }

  private acquire(): number {
    if (this.disposed) throw new StrataError('STORAGE_IO', `${this.path} is closed`);
    if (this.fd >= 0) {
      this.cache.touched(this);
      return this.fd;
    }
    this.cache.evict(1);
    const flags = this.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR | (this.create ? fs.constants.O_CREAT : 0);
    let fd: number;
    for (;;) {
      try {
        fd = fs.openSync(this.path, flags, 0o644);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Out of descriptors (connections took them): give one of ours back and try again.
        if ((code === 'EMFILE' || code === 'ENFILE') && this.cache.evictOne()) continue;
        const hint =
          code === 'EMFILE'
            ? ' (out of file descriptors: raise ulimit -n, or lower log.max.open.files or max.connections)'
            : '';
        throw new StrataError('STORAGE_IO', `open ${this.path}: ${(e as Error).message}${hint}`, { cause: e });
      }
    }
    // Created once; a later reopen of a file that has since vanished must fail, not recreate it.
    this.create = false;
    this.fd = fd;
    this.cache.opened(this);
    return fd;
  }
}
