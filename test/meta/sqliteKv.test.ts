import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { isStrataError } from '../../core/common/errors';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { SqliteKv } from '../../core/meta/sqliteKv';
import { MAX_VALUE_BYTES, compareKeys } from '../../core/meta/versionedKv';
import { metadataStoreContract } from './metadataStore.contract';
import { expectCode, versionedKvContract } from './versionedKv.contract';

/**
 * The SQLite adapter (the embedded store since metadata.sqlite): the contracts, then what only
 * it has — its pragmas, key order done by SQLite, waiting for other connections' locks, and
 * refusing files that are not its own. Several processes: sqliteKv.multiprocess.test.ts; a full
 * disk: sqliteKv.diskFull.test.ts.
 */
function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sqlite-'));
}

versionedKvContract('SqliteKv', async () => {
  const dir = tempDir();
  return {
    open: () => SqliteKv.open(path.join(dir, 'metadata.sqlite')),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

metadataStoreContract('KvMetadataStore over SqliteKv', async () => {
  const dir = tempDir();
  return {
    open: async () => new KvMetadataStore(await SqliteKv.open(path.join(dir, 'metadata.sqlite'))),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SqliteKv', () => {
  let dir: string;
  let file: string;
  const open: SqliteKv[] = [];
  const others: Database.Database[] = [];
  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'metadata.sqlite');
  });
  afterEach(async () => {
    for (const kv of open.splice(0)) await kv.close();
    for (const db of others.splice(0)) if (db.open) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  async function openKv(opts?: { busyTimeoutMs?: number }): Promise<SqliteKv> {
    const kv = await SqliteKv.open(file, opts);
    open.push(kv);
    return kv;
  }
  /** A second connection to the same file, as another process would have. */
  function connection(): Database.Database {
    const db = new Database(file, { timeout: 0 });
    others.push(db);
    return db;
  }

  test('WAL mode, fsync at every commit (synchronous=FULL, on the writer thread too), one STRICT table, application_id and schema version', async () => {
    const kv = await openKv();
    const db = (kv as unknown as { db: Database.Database }).db;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    // Writes commit on the writer thread's connection (core/meta/sqliteWriter.ts): fsynced there too.
    const writer = (kv as unknown as { writer: { call(op: { op: 'settings' }): Promise<unknown> } }).writer;
    expect(await writer.call({ op: 'settings' })).toEqual({ journalMode: 'wal', synchronous: 2 });
    const other = connection();
    expect(other.pragma('application_id', { simple: true })).toBe(0x53545241);
    expect(other.pragma('user_version', { simple: true })).toBe(1);
    expect(other.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all()).toEqual(['kv']);
    await kv.put('k', { big: 2n ** 64n }, null);
    // The value column holds json.ts's encoding, readable with any SQLite tool.
    expect(other.prepare('SELECT key, version, value FROM kv').all()).toEqual([{ key: 'k', version: 1, value: '{"big":{"$bigint":"18446744073709551616"}}' }]);
  });

  test('list(prefix) is exact for LIKE/GLOB metacharacters and non-ASCII, in UTF-8 byte order', async () => {
    const kv = await openKv();
    const keys = ['a%b', 'a%', 'a_b', 'a_', 'ab', 'a*', 'a[', 'a?', 'é', 'é/1', 'e', '\uFFFD', '\u{1F600}', '\u{1F600}x', '\uFFFF', 'a\uFFFF', 'a\u{10FFFF}', 'b'];
    for (const k of keys) await kv.put(k, k, null);
    const expectList = async (prefix: string): Promise<void> => {
      const want = keys.filter((k) => k.startsWith(prefix)).sort(compareKeys);
      expect((await kv.list(prefix)).map((e) => e.key)).toEqual(want);
    };
    for (const p of ['', 'a', 'a%', 'a_', 'a*', 'a[', 'a?', 'é', 'e', '\uFFFD', '\u{1F600}', '\uFFFF', 'a\uFFFF', 'a\u{10FFFF}', 'zz']) await expectList(p);
    // The astral character sorts after U+FFFD and U+FFFF, as UTF-8 bytes do (UTF-16 would not).
    expect((await kv.list('')).map((e) => e.key).slice(-4)).toEqual(['\uFFFD', '\uFFFF', '\u{1F600}', '\u{1F600}x']);
  });

  test('list(prefix) matches a model for random keys and prefixes', async () => {
    const kv = await openKv();
    const alphabet = ['a', 'b', '%', '_', '/', 'é', '\uFFFD', '\u{1F600}', '\uE000'];
    const keyArb = fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
    const keys = [...new Set(fc.sample(keyArb, { numRuns: 300, seed: 7 }))];
    for (const k of keys) await kv.put(k, k.length, null);
    const prefixes = fc.sample(fc.array(fc.constantFrom(...alphabet), { maxLength: 3 }).map((a) => a.join('')), { numRuns: 200, seed: 11 });
    for (const p of prefixes) {
      const want = keys.filter((k) => k.startsWith(p)).sort(compareKeys);
      expect((await kv.list(p)).map((e) => e.key)).toEqual(want);
    }
  });

  test('keys that UTF-8 cannot hold (a lone surrogate) are refused rather than merged into U+FFFD', async () => {
    const kv = await openKv();
    await expect(kv.put('a\uD800', 1, null)).rejects.toThrow(/lone surrogate/);
    await expect(kv.put('\uDC00b', 1, null)).rejects.toThrow(TypeError);
    await expect(kv.get('x\uD83D')).rejects.toThrow(TypeError);
    expect(await kv.put('\u{1F600}', 1, null)).toBe(1); // a pair is fine
    expect(await kv.list('')).toHaveLength(1);
  });

  test('values above MAX_VALUE_BYTES encoded are refused with a TypeError, and nothing is written', async () => {
    const kv = await openKv();
    await expect(kv.put('big', 'x'.repeat(MAX_VALUE_BYTES), null)).rejects.toThrow(/the limit is 409600/);
    expect(await kv.put('fits', 'x'.repeat(MAX_VALUE_BYTES - 2), null)).toBe(1); // 2 bytes of quotes
    expect(await kv.get('big')).toBeNull();
  });

  test('a write waits for another connection\'s write lock, without blocking the event loop, and goes through when it is released', async () => {
    const kv = await openKv();
    await kv.put('k', 1, null);
    const other = connection();
    other.exec('BEGIN IMMEDIATE');
    other.prepare("UPDATE kv SET value = '5' WHERE key = 'k'").run();
    // Readers do not wait for the writer (WAL) and see the last committed value.
    expect(await kv.get('k')).toEqual({ key: 'k', value: 1, version: 1 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = performance.now();
    setTimeout(() => other.exec('ROLLBACK'), 400);
    try {
      expect(await kv.put('k', 2, 1)).toBe(2);
    } finally {
      clearInterval(ticker);
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    // The loop kept turning while the put waited (a blocked loop ticks once at most; a loaded machine stretches the 10 ms).
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(await kv.get('k')).toEqual({ key: 'k', value: 2, version: 2 });
  });

  test('a write that cannot get the lock within busyTimeoutMs fails with STORE_UNAVAILABLE, writes nothing, and the store goes on', async () => {
    const kv = await openKv({ busyTimeoutMs: 300 });
    await kv.put('k', 1, null);
    const other = connection();
    other.exec('BEGIN IMMEDIATE');
    const started = performance.now();
    let err: unknown;
    try {
      await kv.put('k', 2, 1);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(`metadata store ${file} is busy: another process held its lock for more than 300 ms while writing k`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    await expectCode(kv.delete('k'), 'STORE_UNAVAILABLE');
    other.exec('ROLLBACK');
    expect(await kv.get('k')).toEqual({ key: 'k', value: 1, version: 1 });
    expect(await kv.put('k', 3, 1)).toBe(2);
  });

  test('a write committed by another connection is seen by the next read, and conditional writes check against it', async () => {
    const kv = await openKv();
    await kv.put('k', 'mine', null);
    connection().prepare("UPDATE kv SET version = 2, value = '\"theirs\"' WHERE key = 'k'").run();
    expect(await kv.get('k')).toEqual({ key: 'k', value: 'theirs', version: 2 });
    await expectCode(kv.put('k', 'stale', 1), 'VERSION_CONFLICT');
    expect(await kv.put('k', 'next', 2)).toBe(3);
  });

  test('a file that is not a Strata store is refused with STORAGE_IO naming it, and left as it was', async () => {
    fs.writeFileSync(file, 'this is not a database, it is a text file with enough bytes to have a header ........');
    const garbage = fs.readFileSync(file);
    let err: unknown;
    try {
      await openKv();
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'STORAGE_IO')).toBe(true);
    expect((err as Error).message).toContain(file);
    expect(fs.readFileSync(file)).toEqual(garbage);

    fs.rmSync(file);
    const other = new Database(file);
    other.exec('CREATE TABLE notes (x TEXT)');
    other.close();
    await expect(openKv()).rejects.toThrow(`metadata store ${file} is a SQLite database that is not a Strata metadata store`);
  });

  test('a store written by a newer schema is refused', async () => {
    (await openKv()).close();
    open.length = 0;
    const other = new Database(file);
    other.pragma('user_version = 2');
    other.close();
    await expect(openKv()).rejects.toThrow(/written by a newer Strata \(schema 2; this one reads 1\)/);
  });

  test('importEntries keeps versions, in one transaction, and only into an empty store', async () => {
    const kv = await openKv();
    await kv.importEntries([
      { key: 'a', value: { n: 1n }, version: 7 },
      { key: 'b', value: null, version: 1 },
    ]);
    expect(await kv.list('')).toEqual([
      { key: 'a', value: { n: 1n }, version: 7 },
      { key: 'b', value: null, version: 1 },
    ]);
    expect(await kv.put('a', 2, 7)).toBe(8);
    await expectCode(kv.importEntries([{ key: 'c', value: 1, version: 1 }]), 'STORAGE_IO');
    expect(await kv.get('c')).toBeNull();
    await expect(kv.importEntries([{ key: 'd', value: 1, version: 0 }])).rejects.toThrow(TypeError);
  });
});
