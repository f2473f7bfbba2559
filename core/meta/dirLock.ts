import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { StrataError } from '../common/errors';

/**
 * One process per directory (or per name in a directory: `file` picks the lock file, so one
 * directory can hold several locks, e.g. the embedded metadata store's one per node.id). The
 * lock is a file holding the owner's pid and host,
 * created atomically with its content (written to a private temp file, then hard-linked into
 * place, which fails if the lock exists), so no reader ever sees a half-written lock.
 *
 * A lock whose pid is dead on this host is stale (the owner crashed) and is taken over.
 * A lock from another host cannot be checked, so it is respected; so is a live pid, which
 * includes this very process (opening the same directory twice in one process is a bug too).
 */
export interface DirLock {
  readonly path: string;
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  hostname: string;
  since: string;
  /** Tells this process's successive locks on one directory apart. */
  token: string;
}

const LOCK_FILE = 'LOCK';

/** Who holds a lock, for the message of a refusal. */
export interface LockHolder {
  /** "process 123" or "process 123 on host h". */
  who: string;
  pid: number;
  hostname: string;
  since: string;
  lockPath: string;
}

export interface DirLockOptions {
  /** The lock file's name in `dir` (default LOCK). */
  file?: string;
  /** The error thrown when a live process holds the lock (default: STORE_UNAVAILABLE naming `what`, the holder and the file). */
  inUse?: (holder: LockHolder) => Error;
}

export async function acquireDirLock(dir: string, what: string, opts: DirLockOptions = {}): Promise<DirLock> {
  const file = opts.file ?? LOCK_FILE;
  const lockPath = path.join(dir, file);
  const token = randomBytes(8).toString('hex');
  const me: LockOwner = { pid: process.pid, hostname: os.hostname(), since: new Date().toISOString(), token };
  const tmp = path.join(dir, `.${file}.${process.pid}.${token}`);
  try {
    // Inside the try: a write that fails (a full disk) must not leave its empty temp file behind.
    await fs.writeFile(tmp, JSON.stringify(me) + '\n', { flag: 'wx' });
    // Two rounds: the second follows the removal of a stale lock.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.link(tmp, lockPath);
        let released = false;
        return {
          path: lockPath,
          release: async () => {
            if (released) return;
            released = true;
            await releaseLock(lockPath, token);
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = await readOwner(lockPath);
      if (owner === 'gone') continue;
      if (owner !== null && (owner.hostname !== me.hostname || isAlive(owner.pid))) {
        const who = owner.hostname === me.hostname ? `process ${owner.pid}` : `process ${owner.pid} on host ${owner.hostname}`;
        if (opts.inUse) throw opts.inUse({ who, pid: owner.pid, hostname: owner.hostname, since: owner.since, lockPath });
        throw new StrataError(
          'STORE_UNAVAILABLE',
          `${what} ${dir} is in use by ${who} since ${owner.since} (lock file ${lockPath}). ` +
            'Stop that process first; if it is not a Strata broker, delete the lock file.',
        );
      }
      // Dead owner (or an unreadable lock): stale. Re-read just before removing it, to narrow
      // the window in which two processes both judge it stale and one removes the other's
      // fresh lock; the window cannot be closed with plain files, and needs two brokers
      // started on one directory at the same instant after a crash.
      const again = await readOwner(lockPath);
      if (again !== 'gone' && (again === null ? owner === null : owner !== null && again.token === owner.token)) {
        await fs.rm(lockPath, { force: true });
      }
    }
    throw new StrataError('STORE_UNAVAILABLE', `${what} ${dir}: could not take the lock file ${lockPath}; another process keeps taking it.`);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | null | 'gone'> {
  let text: string;
  try {
    text = await fs.readFile(lockPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.hostname === 'string') {
      return { pid: o.pid, hostname: o.hostname, since: String(o.since), token: String(o.token) };
    }
  } catch {
    // fall through: unreadable
  }
  return null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function releaseLock(lockPath: string, token: string): Promise<void> {
  // Only remove the lock if it is still this one (it may have been deleted and retaken).
  const owner = await readOwner(lockPath);
  if (owner !== 'gone' && owner !== null && owner.token === token) {
    await fs.rm(lockPath, { force: true });
  }
}
