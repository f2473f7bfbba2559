import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import { fsyncDir } from '../common/fsync';
import { pathExists } from '../common/pathExists';
import { acquireDirLock, type DirLock } from './dirLock';
import { EmbeddedKv, type EmbeddedKvRecovery } from './embeddedKv';
import { SqliteKv, type SqliteKvOptions } from './sqliteKv';
import type { KvEntry, VersionedKv } from './versionedKv';

/**
 * The embedded metadata store's directory (`embedded:PATH`, default <data dir>/meta):
 *
 *   metadata.sqlite (+ -wal, -shm)   the store (sqliteKv.ts), shared by every process that opens it
 *   node-<id>.lock                    held by the broker with that node.id while it runs (dirLock.ts)
 *   journal.migrated, snapshot.migrated   the journal-format store this one was migrated from, if any
 *
 * Migration from the journal format (embeddedKv.ts: `snapshot`, `journal`, `LOCK`), once, at
 * the first open of a directory that has those files and no metadata.sqlite:
 *
 *   1. take the old store's LOCK and read it with EmbeddedKv (replaying the journal, cutting a
 *      torn tail as it always did); a running older broker holds that LOCK, and the open fails
 *      naming it;
 *   2. write every entry with its version into metadata.sqlite.migrating, in one transaction,
 *      close it (which checkpoints its WAL into the file) and fsync it;
 *   3. hard-link it to metadata.sqlite (never replacing one), fsync the directory: from here on
 *      the new store is the store;
 *   4. rename `journal` and `snapshot` aside to *.migrated, then remove the temp name (so old files
 *      beside metadata.sqlite without it were written after the migration, and are refused),
 *      release (and so remove) the old LOCK.
 *
 * A crash before 3 leaves the old store intact and no metadata.sqlite: the next open migrates
 * again (removing the partial temp file first). A crash after 3 leaves a complete
 * metadata.sqlite: the next open uses it and finishes step 4 (taking over the dead process's
 * LOCK, and removing it).
 */
export const DATABASE_FILE = 'metadata.sqlite';
const MIGRATING = `${DATABASE_FILE}.migrating`;
const OLD_FILES = ['journal', 'snapshot'] as const;
/** The journal-format store's lock (dirLock.ts's default name). */
const OLD_LOCK = 'LOCK';
/** What SQLite may leave beside a database file. */
const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

export interface OpenEmbeddedStoreOptions extends SqliteKvOptions {
  /**
   * Hold `<dir>/node-<nodeId>.lock` while the store is open (released by close): at most one
   * process per node.id on a store several brokers share.
   */
  nodeId?: number;
  logger?: Logger;
  /** How long an open waits for another process that holds the journal-format store's LOCK (default 10 s). */
  migrationWaitMs?: number;
}

/** What a migration found and did, for the start-up log. */
export interface EmbeddedMigration {
  entries: number;
  /** What reading the old store found (its torn tail, if any, was cut as it always was). */
  recovery: EmbeddedKvRecovery;
  /** The old files' new names. */
  keptAs: string[];
}

const MIGRATION_WAIT_MS = 10_000;

export async function openEmbeddedStore(dir: string, opts: OpenEmbeddedStoreOptions = {}): Promise<VersionedKv> {
  await fs.mkdir(dir, { recursive: true });
  const nodeLock = opts.nodeId === undefined ? null : await acquireNodeLock(dir, opts.nodeId);
  try {
    const file = path.join(dir, DATABASE_FILE);
    const deadline = performance.now() + (opts.migrationWaitMs ?? MIGRATION_WAIT_MS);
    for (;;) {
      try {
        if (await pathExists(file)) {
          if (await anyExists(dir, [...OLD_FILES, MIGRATING, OLD_LOCK])) {
            const kept = await finishMigration(dir);
            if (kept.length > 0) opts.logger?.info(`finished an interrupted migration of the metadata store in ${dir}: kept the old files as ${kept.join(', ')}`);
          }
        } else if (await anyExists(dir, OLD_FILES)) {
          const m = await migrate(dir);
          if (m !== null) opts.logger?.info(describeMigration(dir, m));
          continue; // open what is there now
        }
        break;
      } catch (e) {
        // The old store's LOCK: another process migrating this directory right now (wait for
        // it), or an older broker still running on it (fails once the wait is over).
        if (!isStrataError(e, 'STORE_UNAVAILABLE') || performance.now() >= deadline) throw e;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const kv = await SqliteKv.open(file, { busyTimeoutMs: opts.busyTimeoutMs });
    return nodeLock === null ? kv : withLock(kv, nodeLock);
  } catch (e) {
    await nodeLock?.release();
    throw e;
  }
}

export function describeMigration(dir: string, m: EmbeddedMigration): string {
  const r = m.recovery;
  const torn = r.truncatedBytes > 0 ? `, ${r.truncatedBytes} bytes of torn journal tail cut (${r.truncateReason ?? 'damaged'})` : '';
  return (
    `migrated the metadata store in ${dir} to ${DATABASE_FILE}: ${m.entries} entries with their versions ` +
    `(snapshot ${r.snapshotEntries}, journal ${r.journalEntries}${torn}); the old files are kept as ${m.keptAs.join(', ')}`
  );
}

/** `<dir>/node-<id>.lock`: refused with BROKER_ALREADY_REGISTERED while a live process holds it. */
export function acquireNodeLock(dir: string, nodeId: number): Promise<DirLock> {
  return acquireDirLock(dir, 'metadata directory', {
    file: `node-${nodeId}.lock`,
    inUse: (h) =>
      new StrataError(
        'BROKER_ALREADY_REGISTERED',
        `Broker node.id ${nodeId} is already running on the embedded metadata store ${dir}: ${h.who} has held node.id ${nodeId} since ${h.since} ` +
          `(lock file ${h.lockPath}). Each broker needs its own node.id; stop the other broker first (if that process is not a Strata broker, delete the lock file).`,
      ),
  });
}

/** Steps 1–4 (see above); null when another process migrated the directory meanwhile. */
async function migrate(dir: string): Promise<EmbeddedMigration | null> {
  const old = await EmbeddedKv.open(dir); // takes the old LOCK
  try {
    const file = path.join(dir, DATABASE_FILE);
    if (await pathExists(file)) return null; // done by the process that held the lock before us
    const entries: KvEntry[] = await old.list('');
    const tmp = path.join(dir, MIGRATING);
    await removeDatabase(tmp);
    const kv = await SqliteKv.open(tmp);
    try {
      await kv.importEntries(entries);
    } finally {
      await kv.close();
    }
    if (await pathExists(`${tmp}-wal`)) throw new StrataError('STORAGE_IO', `migrating ${dir}: ${tmp} kept a write-ahead log after closing; not using it`);
    const fh = await fs.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.link(tmp, file); // fails rather than replace a store that appeared meanwhile
    await fsyncDir(dir);
    const keptAs = await setOldFilesAside(dir);
    return { entries: entries.length, recovery: old.recovery, keptAs };
  } finally {
    await old.close(); // releases, and so removes, the old LOCK
  }
}

/**
 * Step 4 after a crash between it and step 3, under the old LOCK (an older broker running there
 * is refused; a dead migrator's LOCK is taken over, and removed). The temp name is removed only
 * after the renames, so journal-format files without it were written after the migration had
 * finished — by an older Strata, say — and hold writes metadata.sqlite lacks: refused, not set
 * aside.
 */
async function finishMigration(dir: string): Promise<string[]> {
  const lock = await acquireDirLock(dir, 'metadata directory (journal format, being migrated)');
  try {
    if (!(await pathExists(path.join(dir, DATABASE_FILE)))) return [];
    const old: string[] = [];
    for (const f of OLD_FILES) if (await pathExists(path.join(dir, f))) old.push(f);
    if (old.length > 0 && !(await pathExists(path.join(dir, MIGRATING)))) {
      throw new StrataError(
        'STORAGE_IO',
        `metadata directory ${dir} holds ${DATABASE_FILE} and also a journal-format store (${old.join(', ')}) written after the migration ` +
          `(by an older Strata?); what it holds is not in ${DATABASE_FILE}. Move ${old.join(' and ')} out of the directory to go on with ` +
          `${DATABASE_FILE}, or remove ${DATABASE_FILE} (with its -wal and -shm files) to migrate from them again.`,
      );
    }
    return await setOldFilesAside(dir);
  } finally {
    await lock.release();
  }
}

async function setOldFilesAside(dir: string): Promise<string[]> {
  const kept: string[] = [];
  for (const f of OLD_FILES) {
    const from = path.join(dir, f);
    if (!(await pathExists(from))) continue;
    let to = `${f}.migrated`;
    if (await pathExists(path.join(dir, to))) to = `${f}.migrated.${Date.now()}`; // never overwrite an earlier migration's
    await fs.rename(from, path.join(dir, to));
    kept.push(to);
  }
  await removeDatabase(path.join(dir, MIGRATING));
  await fsyncDir(dir);
  return kept;
}

async function removeDatabase(file: string): Promise<void> {
  for (const suffix of SIDE_FILES) await fs.rm(file + suffix, { force: true });
}

/** The store, whose close also releases `lock`. */
function withLock(kv: VersionedKv, lock: DirLock): VersionedKv {
  return {
    get: (key) => kv.get(key),
    list: (prefix) => kv.list(prefix),
    put: (key, value, expectedVersion) => kv.put(key, value, expectedVersion),
    delete: (key, expectedVersion) => kv.delete(key, expectedVersion),
    close: async () => {
      try {
        await kv.close();
      } finally {
        await lock.release();
      }
    },
  };
}

async function anyExists(dir: string, names: readonly string[]): Promise<boolean> {
  for (const n of names) if (await pathExists(path.join(dir, n))) return true;
  return false;
}
