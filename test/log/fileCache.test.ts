import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileCache } from '../../core/log/fileCache';
import { isStrataError } from '../../core/common/errors';
import { makeTmpDir, removeDir } from './helpers';

/** Descriptors of this process pointing into `dir`, from /proc (Linux). */
function openIn(dir: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // closed while listing (readdir's own descriptor)
    }
  }
  return n;
}

describe('FileCache', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => removeDir(dir));

  function files(cache: FileCache, n: number): ReturnType<FileCache['file']>[] {
    return Array.from({ length: n }, (_, i) => cache.file(path.join(dir, `f${i}`), { create: true }));
  }

  it('opens on first use and keeps at most maxOpen descriptors, closing the least recently used', () => {
    const cache = new FileCache(3);
    const fs5 = files(cache, 5);
    expect(openIn(dir)).toBe(0);
    for (const f of fs5) f.use((fd) => fs.writeSync(fd, Buffer.from(f.path)));
    expect(cache.openCount).toBe(3);
    expect(openIn(dir)).toBe(3);
    expect(fs5.map((f) => f.isOpen)).toEqual([false, false, true, true, true]);
    // Using f2 makes it the most recent: opening f0 again evicts f3.
    fs5[2].use(() => undefined);
    fs5[0].use(() => undefined);
    expect(fs5.map((f) => f.isOpen)).toEqual([true, false, true, false, true]);
    expect(cache.evictions).toBe(3);
    // Reopened files keep their bytes and are not truncated or recreated.
    const readAt0 = (fd: number): string => {
      const buf = Buffer.alloc(200);
      return buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    };
    for (const f of fs5) expect(f.use(readAt0)).toBe(f.path);
  });

  it('never closes a pinned file; a disposed pinned file closes at its last release', () => {
    const cache = new FileCache(1);
    const [a, b] = files(cache, 2);
    const pin = a.pin();
    const pin2 = a.pin();
    // b opens beside the pinned a (over the bound for the call), then closes at once.
    expect(b.use(() => cache.openCount)).toBe(2);
    expect(a.isOpen).toBe(true);
    expect(b.isOpen).toBe(false);
    expect(cache.openCount).toBe(1);
    fs.rmSync(a.path);
    a.dispose();
    expect(a.isOpen).toBe(true);
    // The descriptor still reads the unlinked file.
    expect(fs.fstatSync(pin.fd).nlink).toBe(0);
    pin.release();
    pin.release();
    expect(a.isOpen).toBe(true);
    pin2.release();
    expect(a.isOpen).toBe(false);
    expect(openIn(dir)).toBe(0);
    expect(() => a.use(() => undefined)).toThrow(/closed/);
  });

  it('a file removed while closed is not recreated by its next use', () => {
    const cache = new FileCache(1);
    const [a, b] = files(cache, 2);
    a.use(() => undefined);
    b.use(() => undefined);
    fs.rmSync(a.path);
    let err: unknown;
    try {
      a.use(() => undefined);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'STORAGE_IO')).toBe(true);
    expect(fs.existsSync(a.path)).toBe(false);
  });

  it('lowering maxOpen closes idle files at once', () => {
    const cache = new FileCache(10);
    const fsN = files(cache, 6);
    for (const f of fsN) f.use(() => undefined);
    const pin = fsN[0].pin();
    cache.maxOpen = 2;
    expect(cache.openCount).toBe(2);
    expect(fsN[0].isOpen).toBe(true);
    expect(fsN[5].isOpen).toBe(true);
    pin.release();
    expect(() => (cache.maxOpen = 0)).toThrow(/at least 1/);
  });
});
