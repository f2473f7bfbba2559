import Database from 'better-sqlite3';
import { StrataError } from '../common/errors';
import { decodeKvValue, encodeKvValue, type KvValue } from './json';
import { MAX_VALUE_BYTES, checkExpectedVersion, checkKey, type KvEntry, type VersionedKv } from './versionedKv';
import { SqliteWriter, type WriteFailure, type WriteOp } from './sqliteWriter';

/**
 * The embedded, durable VersionedKv: one SQLite database file (better-sqlite3), which several
 * processes on one host may open at once — brokers of one cluster sharing `embedded:PATH`.
 *
 *   table kv (key TEXT PRIMARY KEY, version INTEGER, value TEXT)   STRICT, WITHOUT ROWID
 *   value    the entry as encodeKvValue writes it (json.ts: bigint-safe JSON)
 *   header   application_id 'STRA', user_version 1 (the schema version)
 *
 * Pragmas, per connection: journal_mode=WAL (kept in the file: readers never wait for the
 * writer, and a commit is one append to the -wal file), synchronous=FULL (the -wal file is
 * fsynced at every commit: an acknowledged write survives a crash or a power cut, as the journal
 * store's fsync per write did — producer-id blocks and leader epochs must never roll back), and
 * a busy timeout (below) so a writer waits for another process's write rather than failing.
 *
 * Writes go through a connection of their own on a worker thread (sqliteWriter.ts), so that the
 * fsync of a commit never stalls the event loop; reads use this connection.
 *
 * Every conditional write runs in a `BEGIN IMMEDIATE` transaction: the write lock is taken
 * first (waiting for other processes' writes), then the version is read and checked, then the
 * row written, then COMMIT. So the check and the write are atomic across processes, and a
 * transaction never has to upgrade a read snapshot to a write (which in WAL mode fails at once
 * with SQLITE_BUSY_SNAPSHOT when another process committed meanwhile). Reads go to the database
 * every time: another process may have written. Each statement reads one consistent snapshot.
 *
 * Waiting. better-sqlite3 is synchronous, so SQLite's own busy handler would stall the event
 * loop for as long as it waits: reads keep it short (SYNC_BUSY_MS), and beyond it back off on
 * timers up to `busyTimeoutMs` (default 10 s) before failing with STORE_UNAVAILABLE; the writer
 * thread waits with SQLite's handler for up to `busyTimeoutMs` itself. A write transaction holds
 * the lock for one fsync, so waits are short — unless the holder is paused (SIGSTOP) in the
 * middle of one; a killed holder's locks go with it.
 *
 * Failures. A full disk (SQLITE_FULL) or an I/O error (SQLITE_IOERR_*) fails the call with
 * STORAGE_IO naming the file; SQLite rolls the transaction back (or it is rolled back here), so
 * nothing of it is applied, reads go on, and the next write succeeds once there is room.
 */
export interface SqliteKvOptions {
  /** How long a call waits for other processes' write transactions before STORE_UNAVAILABLE (default 10 000 ms). */
  busyTimeoutMs?: number;
}

/** The file's application_id: 'STRA'. */
const APPLICATION_ID = 0x53545241;
const SCHEMA_VERSION = 1;
/** SQLite's own (blocking) busy wait; past it, the wait goes on without blocking the event loop. */
const SYNC_BUSY_MS = 50;
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

const SCHEMA = `CREATE TABLE kv (
  key TEXT PRIMARY KEY NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  value TEXT NOT NULL
) STRICT, WITHOUT ROWID`;

interface Row {
  key: string;
  version: number;
  value: string;
}

export class SqliteKv implements VersionedKv {
  private closed = false;
  private readonly getStmt: Database.Statement<[string], Omit<Row, 'key'>>;
  private readonly scanAll: Database.Statement<[], Row>;
  private readonly scanFrom: Database.Statement<[string], Row>;
  private readonly writer: SqliteWriter;

  private constructor(
    /** The database file. */
    readonly file: string,
    private readonly db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {
    this.getStmt = db.prepare('SELECT version, value FROM kv WHERE key = ?');
    this.scanAll = db.prepare('SELECT key, version, value FROM kv ORDER BY key');
    // The primary key's BINARY collation is memcmp of the UTF-8 bytes: compareKeys' order. The
    // prefix's keys are the contiguous run from the prefix on (read until the first key without it).
    this.scanFrom = db.prepare('SELECT key, version, value FROM kv WHERE key >= ? ORDER BY key');
    this.writer = new SqliteWriter(file, busyTimeoutMs);
  }

  /**
   * Opens the database file, creating it (and the table) if needed. Safe to call from several
   * processes at once. Fails with STORAGE_IO when the file is not a Strata metadata store, or
   * is damaged, or the file system cannot hold a WAL database (it needs shared memory: a local
   * disk, not a network file system).
   */
  static async open(file: string, opts: SqliteKvOptions = {}): Promise<SqliteKv> {
    const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: SYNC_BUSY_MS });
    } catch (e) {
      throw storeError(e, file, 'opening it');
    }
    try {
      return await retryBusy(file, busyTimeoutMs, 'opening it', () => {
        initialise(db, file);
        return new SqliteKv(file, db, busyTimeoutMs);
      });
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async get(key: string): Promise<KvEntry | null> {
    checkKey(key);
    return this.run(`reading ${key}`, () => {
      const row = this.getStmt.get(key);
      return row ? { key, value: decodeKvValue(row.value), version: row.version } : null;
    });
  }

  async list(prefix: string): Promise<KvEntry[]> {
    return this.run(`listing ${JSON.stringify(prefix)}`, () => {
      const out: KvEntry[] = [];
      for (const row of prefix === '' ? this.scanAll.iterate() : this.scanFrom.iterate(prefix)) {
        if (!row.key.startsWith(prefix)) break; // past the prefix's run (ends the statement)
        out.push({ key: row.key, value: decodeKvValue(row.value), version: row.version });
      }
      return out;
    });
  }

  async put(key: string, value: KvValue, expectedVersion: number | null): Promise<number> {
    checkKey(key);
    checkExpectedVersion(expectedVersion);
    const json = encodeKvValue(value); // validates the value before anything is written
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_VALUE_BYTES) throw new TypeError(`metadata value for ${key} is ${bytes} bytes encoded; the limit is ${MAX_VALUE_BYTES}`);
    return (await this.write(`writing ${key}`, { op: 'put', key, json, expected: expectedVersion })) as number;
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    checkKey(key);
    checkExpectedVersion(expectedVersion);
    return (await this.write(`deleting ${key}`, { op: 'delete', key, expected: expectedVersion })) as boolean;
  }

  /**
   * For migration only: writes `entries` with their own versions (other records hold them for
   * conditional writes) into this store, which must be empty, in one transaction. Resolves
   * with the number written.
   * @internal
   */
  async importEntries(entries: KvEntry[]): Promise<number> {
    for (const e of entries) {
      checkKey(e.key);
      if (!Number.isSafeInteger(e.version) || e.version < 1) throw new TypeError(`entry ${e.key} has version ${e.version}; versions start at 1`);
    }
    return (await this.write('importing entries', { op: 'import', rows: entries.map((e): [string, number, string] => [e.key, e.version, encodeKvValue(e.value)]) })) as number;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.close();
    try {
      // The last connection to close checkpoints the WAL into the database and removes it.
      this.db.close();
    } catch (e) {
      throw storeError(e, this.file, 'closing it');
    }
  }

  /** One write on the writer thread; its failures as this class's errors (storeError, STORE_UNAVAILABLE). */
  private async write(doing: string, op: WriteOp): Promise<unknown> {
    if (this.closed) throw new StrataError('CLOSED', `metadata store ${this.file} is closed`);
    try {
      return await this.writer.call(op);
    } catch (e) {
      const f = (e as { failure?: WriteFailure }).failure;
      if (f === undefined) throw storeError(e, this.file, doing);
      if (f.strata !== undefined) throw new StrataError(f.strata, f.message);
      const cause = Object.assign(new Error(f.message), { name: f.name ?? 'Error', code: f.code });
      if (isBusy(cause)) {
        throw new StrataError(
          'STORE_UNAVAILABLE',
          `metadata store ${this.file} is busy: another process held its lock for more than ${this.busyTimeoutMs} ms while ${doing} (${f.message}); ` +
            'nothing was written. Is a process using it paused or hung?',
          { cause },
        );
      }
      throw storeError(cause, this.file, doing);
    }
  }

  /** Runs one synchronous database call, waiting out other processes' write locks (see the class comment). */
  private run<T>(doing: string, fn: () => T): Promise<T> {
    return retryBusy(this.file, this.busyTimeoutMs, doing, () => {
      if (this.closed) throw new StrataError('CLOSED', `metadata store ${this.file} is closed`);
      try {
        return fn();
      } finally {
        // better-sqlite3 rolls a failed transaction back; make sure no error leaves one open.
        if (this.db.open && this.db.inTransaction) {
          try {
            this.db.exec('ROLLBACK');
          } catch {
            // nothing more to undo
          }
        }
      }
    });
  }
}

/** Sets the pragmas and creates the schema on a new file; checks an existing one is a Strata store. */
function initialise(db: Database.Database, file: string): void {
  // Kept in the file: after the first open this only confirms it.
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') {
    throw new StrataError('STORAGE_IO', `metadata store ${file}: SQLite cannot use write-ahead logging there (journal mode ${String(mode)}); put the store on a local disk`);
  }
  db.pragma('synchronous = FULL');
  db.transaction(() => {
    const app = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    if (app === 0 && version === 0) {
      const objects = db.prepare<[], number>("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'").pluck().get()!;
      if (objects > 0) throw notOurs(file, 'a SQLite database that is not a Strata metadata store');
      db.exec(SCHEMA);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return;
    }
    if (app !== APPLICATION_ID) throw notOurs(file, 'a SQLite database that is not a Strata metadata store');
    if (version > SCHEMA_VERSION) throw notOurs(file, `written by a newer Strata (schema ${version}; this one reads ${SCHEMA_VERSION})`);
  }).immediate();
}

function notOurs(file: string, what: string): StrataError {
  return new StrataError('STORAGE_IO', `metadata store ${file} is ${what}; point --metadata elsewhere`);
}

/**
 * Runs `fn`, and again after a growing pause while it fails with SQLITE_BUSY, for at most
 * `timeoutMs`; other SQLite errors become StrataErrors (storeError).
 */
async function retryBusy<T>(file: string, timeoutMs: number, doing: string, fn: () => T): Promise<T> {
  const start = performance.now();
  let pause = 1;
  for (;;) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e)) throw storeError(e, file, doing);
      const waited = performance.now() - start;
      if (waited >= timeoutMs) {
        throw new StrataError(
          'STORE_UNAVAILABLE',
          `metadata store ${file} is busy: another process held its lock for more than ${timeoutMs} ms while ${doing} (${(e as Error).message}); ` +
            'nothing was written. Is a process using it paused or hung?',
          { cause: e },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, timeoutMs - waited)));
      pause = Math.min(pause * 2, 100);
    }
  }
}

/**
 * The SQLite result code (SQLITE_FULL, SQLITE_IOERR_WRITE, …) of a better-sqlite3 error. Judged by
 * name and code, not instanceof: the addon keeps the SqliteError class of the first copy of the
 * module loaded in the process, whose Error may be another realm's (jest: one per test file).
 */
function sqliteCode(e: unknown): string | null {
  if (typeof e !== 'object' || e === null) return null;
  const { name, code } = e as { name?: unknown; code?: unknown };
  return name === 'SqliteError' && typeof code === 'string' && code.startsWith('SQLITE_') ? code : null;
}

function isBusy(e: unknown): boolean {
  const code = sqliteCode(e);
  return code !== null && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

/** A SQLite failure as a StrataError naming the file; StrataErrors and TypeErrors pass through. */
function storeError(e: unknown, file: string, doing: string): unknown {
  if (e instanceof StrataError || e instanceof TypeError) return e;
  const code = sqliteCode(e);
  const msg = (e as Error)?.message ?? String(e);
  if (code === 'SQLITE_FULL') {
    // SQLITE_FULL is ENOSPC (or EDQUOT) from a write: say so in the cause chain, where the
    // broker's out-of-space checks (core/log/diskSpace.ts) look for an errno code.
    const errno = Object.assign(new Error(`ENOSPC: no space left on device (SQLite: ${msg})`), { code: 'ENOSPC', cause: e });
    return new StrataError(
      'STORAGE_IO',
      `metadata store ${file}: the disk is full (SQLITE_FULL) while ${doing}; nothing was written, and writes resume once the disk has room`,
      { cause: errno },
    );
  }
  if (code !== null && code.startsWith('SQLITE_IOERR')) {
    return new StrataError('STORAGE_IO', `metadata store ${file}: I/O error (${code}) while ${doing}: ${msg}; nothing was written`, { cause: e });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new StrataError('STORAGE_IO', `metadata store ${file} is damaged or not a SQLite database (${code}): ${msg}; restore it from a backup`, { cause: e });
  }
  if (code !== null) return new StrataError('STORAGE_IO', `metadata store ${file}: ${code} while ${doing}: ${msg}`, { cause: e });
  // Anything else (a value that does not decode, a file system error): still this file's failure.
  return new StrataError('STORAGE_IO', `metadata store ${file}: ${doing} failed: ${msg}`, { cause: e });
}
