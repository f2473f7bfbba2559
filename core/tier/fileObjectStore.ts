import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StrataError } from '../common/errors';
import { checkObjectKey, checkRange, compareUtf8, type ByteRange, type ObjectInfo, type ObjectStore } from './objectStore';
import { fsyncDir } from '../common/fsync';

/**
 * The object store as a local folder: key "a/b/c" is the file <root>/a/b/c. Used for
 * single-host deployments and tests, and as the reference for the S3 adapter's behaviour.
 *
 * A put writes the body to a private temp file under <root>/.strata-tmp, fsyncs it, and
 * hard-links it to its final name. link(2) fails if the name exists, so an object is never
 * replaced, and it appears complete or not at all; the parent directory is fsynced so the
 * new name survives a crash.
 *
 * One limitation S3 does not have: a key cannot be both an object and a "directory" of
 * other keys ("a" and "a/b"), since a path cannot be both a file and a folder. Strata's own
 * keys never do this; such a put fails with STORAGE_IO.
 */
const TMP_DIR = '.strata-tmp';
/** Temp files older than this at open are leftovers of a crash (a live put takes seconds). */
const STALE_TMP_MS = 24 * 60 * 60 * 1000;

export class FileObjectStore implements ObjectStore {
  private closed = false;

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<FileObjectStore> {
    const abs = path.resolve(root);
    try {
      await fs.mkdir(path.join(abs, TMP_DIR), { recursive: true });
      await removeStaleTemps(path.join(abs, TMP_DIR));
    } catch (e) {
      throw io(e, `opening object store folder ${abs}`);
    }
    return new FileObjectStore(abs);
  }

  async put(key: string, body: Buffer | Readable, opts: { contentLength?: number } = {}): Promise<void> {
    const final = this.pathOf(key);
    this.checkOpen();
    if (await isFile(final)) throw exists(key);
    const tmp = path.join(this.root, TMP_DIR, `${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      const fh = await fs.open(tmp, 'wx');
      let written: number;
      try {
        written = await writeBody(fh, body);
        if (opts.contentLength !== undefined && written !== opts.contentLength) {
          throw new StrataError('STORAGE_IO', `object ${key}: body was ${written} bytes but contentLength said ${opts.contentLength}; nothing was stored`);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.linkIntoPlace(key, tmp, final);
    } catch (e) {
      throw io(e, `storing object ${key}`);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const file = this.pathOf(key);
    if (range) checkRange(range);
    this.checkOpen();
    let fh: FileHandle;
    try {
      fh = await fs.open(file, 'r');
    } catch (e) {
      if (isMissing(e)) throw notFound(key);
      throw io(e, `reading object ${key}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(key);
      const size = st.size;
      let start = 0;
      let length = size;
      if (range) {
        if (range.start >= size) {
          throw new StrataError('OFFSET_OUT_OF_RANGE', `object ${key}: range start ${range.start} is not below its size ${size}`);
        }
        start = range.start;
        length = Math.min(range.end, size - 1) - start + 1;
      }
      // Sized from the file's real size, never from the caller's range alone.
      const buf = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await fh.read(buf, filled, length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled !== length) throw new StrataError('STORAGE_IO', `object ${key} shrank while being read`);
      return buf;
    } catch (e) {
      throw io(e, `reading object ${key}`);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const file = this.pathOf(key);
    this.checkOpen();
    try {
      const st = await fs.stat(file);
      return st.isFile() ? { size: st.size } : null;
    } catch (e) {
      if (isMissing(e)) return null;
      throw io(e, `reading object ${key}`);
    }
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    this.checkOpen();
    // "a/b/c" → walk the folder a/b/, keeping names that start with "c".
    const cut = prefix.lastIndexOf('/') + 1;
    const dirPart = prefix.slice(0, cut);
    const namePrefix = prefix.slice(cut);
    const segments = dirPart === '' ? [] : dirPart.slice(0, -1).split('/');
    // A prefix whose folder part no valid key can have matches nothing (and must not
    // escape the root: "../" is such a prefix).
    const impossible = segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0')) ||
      (segments[0] === TMP_DIR);
    const root = this.root;
    return {
      [Symbol.asyncIterator]: () => (impossible ? emptyWalk() : walk(path.join(root, ...segments), dirPart, namePrefix, segments.length === 0)),
    };
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    this.checkOpen();
    try {
      await fs.unlink(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (isMissing(e) || code === 'EISDIR' || code === 'EPERM') return; // not an object: nothing to delete
      throw io(e, `deleting object ${key}`);
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', `object store ${this.root} is closed`);
  }

  /** Validates the key and maps it to a path that is provably inside the root. */
  private pathOf(key: string): string {
    checkObjectKey(key);
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) throw new TypeError(`object key ${JSON.stringify(key)} is reserved by the file object store`);
    const file = path.join(this.root, ...key.split('/'));
    if (!file.startsWith(this.root + path.sep)) throw new TypeError(`object key ${JSON.stringify(key)} escapes the store`);
    return file;
  }

  private async linkIntoPlace(key: string, tmp: string, final: string): Promise<void> {
    const dir = path.dirname(final);
    // A concurrent delete may prune the folder between mkdir and link: retry a few times.
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.mkdir(dir, { recursive: true });
        await fs.link(tmp, final);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && (await isFile(final))) throw exists(key);
        if (code === 'EEXIST' || code === 'ENOTDIR') {
          throw new StrataError(
            'STORAGE_IO',
            `object ${key}: the file object store cannot hold an object and other keys below the same name (a key and a key/...)`,
          );
        }
        if (code === 'ENOENT' && attempt < 5) continue;
        throw e;
      }
    }
    await fsyncDir(dir);
  }

  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(dir);
      } catch {
        return; // not empty (or gone): stop climbing
      }
      dir = path.dirname(dir);
    }
  }
}

async function* emptyWalk(): AsyncGenerator<ObjectInfo> {
  // nothing
}

/**
 * Depth-first walk in key order. Sorting a folder's entries with a folder's name followed by
 * '/' makes the walk order equal the order of the full keys: "a-c" < "a/b" because '-' < '/'.
 */
async function* walk(dir: string, keyPrefix: string, namePrefix: string, atRoot: boolean): AsyncGenerator<ObjectInfo> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (isMissing(e)) return;
    throw io(e, `listing ${dir}`);
  }
  const items = entries
    .filter((d) => d.name.startsWith(namePrefix) && !(atRoot && d.name === TMP_DIR) && (d.isFile() || d.isDirectory()))
    .map((d) => ({ name: d.name, dir: d.isDirectory(), sortKey: d.isDirectory() ? `${d.name}/` : d.name }))
    .sort((a, b) => compareUtf8(a.sortKey, b.sortKey));
  for (const item of items) {
    const full = path.join(dir, item.name);
    if (item.dir) {
      yield* walk(full, `${keyPrefix}${item.name}/`, '', false);
      continue;
    }
    try {
      const st = await fs.stat(full);
      yield { key: keyPrefix + item.name, size: st.size };
    } catch (e) {
      if (!isMissing(e)) throw io(e, `listing ${full}`); // deleted while listing: skip it
    }
  }
}

async function writeBody(fh: FileHandle, body: Buffer | Readable): Promise<number> {
  if (Buffer.isBuffer(body)) {
    await writeAll(fh, body);
    return body.length;
  }
  let n = 0;
  for await (const chunk of body) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    await writeAll(fh, buf);
    n += buf.length;
  }
  return n;
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isFile();
  } catch {
    return false;
  }
}

async function removeStaleTemps(tmpDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await fs.readdir(tmpDir)) {
    const p = path.join(tmpDir, name);
    try {
      if (now - (await fs.stat(p)).mtimeMs > STALE_TMP_MS) await fs.rm(p, { force: true });
    } catch {
      // raced with its owner: fine
    }
  }
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function exists(key: string): StrataError {
  return new StrataError('KEY_EXISTS', `object ${key} already exists; objects are write-once`);
}

function notFound(key: string): StrataError {
  return new StrataError('NOT_FOUND', `object ${key} does not exist`);
}

function io(e: unknown, doing: string): unknown {
  if (e instanceof StrataError || e instanceof TypeError) return e;
  return new StrataError('STORAGE_IO', `${doing}: ${(e as Error).message}`, { cause: e });
}
