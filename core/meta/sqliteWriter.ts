import { Worker } from 'node:worker_threads';
import { StrataError, type StrataErrorCode } from '../common/errors';

/**
 * The embedded store's writes, on a thread of their own. A commit with synchronous=FULL waits
 * for an fsync of the -wal file, and on a disk busy writing back segment data (ext4 orders the
 * journal commit behind it) one fsync took 100–600 ms: on the event loop that stalled every
 * request of the broker (acks=all p99 at 20 MB/s: 508 ms with the store on that disk, 77 ms
 * with it on tmpfs). Here the writing connection lives in a worker thread: the fsync still
 * happens before the write is acknowledged (nothing about durability changes), but only the
 * callers of that write wait. Reads stay on the caller's connection (WAL readers never wait for
 * the writer, and see every commit that completed before them).
 *
 * The worker runs a small script (WORKER_SOURCE, plain JavaScript, evaluated: it loads
 * better-sqlite3 from the path the main thread resolved) holding the same conditional-write
 * transactions SqliteKv defined on the main thread before. It waits out other processes' locks
 * with SQLite's own busy handler for up to busyTimeoutMs (blocking only itself). Calls run one
 * at a time in order. The thread is referenced only while a call is pending, so it never keeps
 * a process alive by itself.
 */
export type WriteOp =
  | { op: 'put'; key: string; json: string; expected: number | null }
  | { op: 'delete'; key: string; expected: number | undefined }
  | { op: 'import'; rows: Array<[string, number, string]> }
  /** The writing connection's journal mode and synchronous level (for tests: every commit is fsynced). */
  | { op: 'settings' };

/** What a failed call reports: a StrataError of the transaction, or an error from SQLite. */
export interface WriteFailure {
  strata?: StrataErrorCode;
  name?: string;
  code?: string;
  message: string;
}

const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
db.pragma('synchronous = FULL');
const versionOf = db.prepare('SELECT version FROM kv WHERE key = ?').pluck();
const insert = db.prepare('INSERT INTO kv (key, version, value) VALUES (?, ?, ?)');
const update = db.prepare('UPDATE kv SET version = ?, value = ? WHERE key = ?');
const remove = db.prepare('DELETE FROM kv WHERE key = ?');
const count = db.prepare('SELECT count(*) FROM kv').pluck();
const refuse = (strata, message) => Object.assign(new Error(message), { strata });
const conflict = (key, expected, cur) => refuse('VERSION_CONFLICT', 'metadata key ' + key + ': expected version ' + expected + ', found ' + (cur !== undefined ? 'version ' + cur : 'no entry'));
const put = db.transaction((key, json, expected) => {
  const cur = versionOf.get(key);
  if (expected === null || expected === 0) {
    if (cur !== undefined) throw refuse('KEY_EXISTS', 'metadata key ' + key + ' already exists (version ' + cur + ')');
    insert.run(key, 1, json);
    return 1;
  }
  if (cur !== expected) throw conflict(key, expected, cur);
  update.run(cur + 1, json, key);
  return cur + 1;
});
const del = db.transaction((key, expected) => {
  const cur = versionOf.get(key);
  if (expected !== undefined && expected !== null) {
    if (cur === undefined) throw refuse('NOT_FOUND', 'metadata key ' + key + ' does not exist');
    if (cur !== expected) throw conflict(key, expected, cur);
  }
  if (cur === undefined) return false;
  remove.run(key);
  return true;
});
const importRows = db.transaction((rows) => {
  const n = count.get();
  if (n !== 0) throw refuse('STORAGE_IO', 'cannot import into ' + workerData.file + ': it already holds ' + n + ' entries');
  for (const [key, version, json] of rows) insert.run(key, version, json);
  return rows.length;
});
parentPort.on('message', (m) => {
  if (m.op === 'close') {
    try { db.close(); } catch {}
    parentPort.postMessage({ id: m.id, ok: true, value: null });
    parentPort.close();
    return;
  }
  try {
    let value;
    if (m.op === 'put') value = put.immediate(m.key, m.json, m.expected);
    else if (m.op === 'delete') value = del.immediate(m.key, m.expected);
    else if (m.op === 'import') value = importRows.immediate(m.rows);
    else if (m.op === 'settings') value = { journalMode: db.pragma('journal_mode', { simple: true }), synchronous: db.pragma('synchronous', { simple: true }) };
    else throw new Error('unknown operation ' + m.op);
    parentPort.postMessage({ id: m.id, ok: true, value });
  } catch (e) {
    if (db.open && db.inTransaction) { try { db.exec('ROLLBACK'); } catch {} }
    parentPort.postMessage({ id: m.id, ok: false, error: { strata: e && e.strata, name: e && e.name, code: e && e.code, message: String(e && e.message !== undefined ? e.message : e) } });
  }
});
`;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export class SqliteWriter {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {}

  /** Runs one write on the worker; resolves with its result or rejects with a WriteFailure-bearing Error. */
  call(op: WriteOp): Promise<unknown> {
    if (this.closed) return Promise.reject(new StrataError('CLOSED', `metadata store ${this.file} is closed`));
    const w = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) w.ref();
      w.postMessage({ id, ...op });
    });
  }

  /** Waits for the calls in flight, then closes the worker's connection and ends the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    if (w === null) return;
    await new Promise<void>((resolve) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: () => resolve(), reject: () => resolve() });
      w.ref();
      w.postMessage({ id, op: 'close' });
    });
    await w.terminate();
    this.worker = null;
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs, sqlite: require.resolve('better-sqlite3') } });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: WriteFailure }) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve(m.value);
      else p.reject(Object.assign(new Error(m.error!.message), { failure: m.error }));
    });
    const fail = (err: Error) => {
      // The thread is gone (it could not open the file, or crashed): every call in flight fails,
      // and the next call starts a new one.
      if (this.worker === w) this.worker = null;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(Object.assign(new Error(err.message), { failure: { message: `the metadata store's writer thread stopped: ${err.message}`, code: (err as { code?: string }).code, name: err.name } }));
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (!this.closed || this.pending.size > 0) fail(new Error(`exited with code ${code}`));
    });
    this.worker = w;
    return w;
  }
}
