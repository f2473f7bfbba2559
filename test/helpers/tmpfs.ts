import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A small tmpfs for full-disk tests: mounted when the test file loads (synchronously, so a test
 * that cannot run is skipped with the reason in its name), unmounted by `unmountTmpfs` in the
 * file's afterAll. Needs Linux and root.
 */
export type Tmpfs = { dir: string } | { skip: string };

export function mountTmpfs(prefix: string, bytes: number): Tmpfs {
  if (process.platform !== 'linux') return { skip: `tmpfs needs Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    fs.rmdirSync(dir);
    const err = e as { stderr?: Buffer; message: string };
    return { skip: `cannot mount a tmpfs here (${(err.stderr?.toString().trim() || err.message).split('\n')[0]})` };
  }
  return { dir };
}

/** Unmounts (lazily if something still holds it open) and removes the mount point. */
export function unmountTmpfs(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
  fs.rmdirSync(dir);
}

/** Appends to `file` until the file system is full (ENOSPC); returns the bytes written. */
export function fillUp(file: string): number {
  const fd = fs.openSync(file, 'a');
  const chunk = Buffer.alloc(4096, 0x5a);
  let written = 0;
  try {
    for (;;) written += fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
  return written;
}
