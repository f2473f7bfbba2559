import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { acquireDirLock, type DirLock } from './dirLock';
import { encodeFrame, scanFrames } from './frames';
import { decodeKvValue, encodeKvValue, type KvValue } from './json';
import { MAX_VALUE_BYTES, checkExpectedVersion, checkKey, compareKeys, type KvEntry, type VersionedKv } from './versionedKv';
import { fsyncDir } from '../common/fsync';
import { pathExists } from '../common/pathExists';

/**
 * The journal-format embedded store, which `embedded:` URLs opened before metadata.sqlite
 * (sqliteKv.ts) replaced it. The broker now only reads it, to migrate a directory in this format
 * (embeddedStore.ts); it stays a complete VersionedKv, which unit tests use as an in-process store.
 * A durable single-process store in one directory:
 *
 *   <dir>/LOCK          owner pid + host (see dirLock.ts)
 *   <dir>/snapshot      every entry as of sequence number S (frames: header, entries, end)
 *   <dir>/journal       writes after S, one frame each, appended and fsynced
 *
 * The whole state lives in memory; disk is for durability. Each write is checked against
 * memory, appended to the journal and fsynced before it is applied and acknowledged.
 * Metadata writes are rare (topic changes, leader changes, offset commits in the tens per
 * second at most), so an fsync per write costs little and makes every acknowledged write
 * survive a crash. Writes are serialised, which is also what makes the version checks atomic.
 *
 * When the journal passes a number of entries or bytes it is compacted: the state is written
 * to snapshot.tmp, fsynced, renamed over the snapshot, and only then is the journal
 * truncated. Journal frames carry a sequence number, so a crash between the rename and the
 * truncation just leaves frames that replay skips (seq ≤ S).
 *
 * On open, the snapshot is loaded (it must be intact: it was renamed into place complete),
 * then journal frames are replayed in order until the first short, corrupt or out-of-sequence
 * frame; the journal is truncated there, since only a torn write can have produced it.
 *
 * A write that fails (ENOSPC on a full disk, EIO) changes nothing: memory is updated only after
 * the frame is durable, and the journal is cut back to the end of the last whole frame, so the
 * next append starts at a frame boundary (a partial frame left in the middle of the journal
 * would make replay stop there and drop every later write). The caller gets STORAGE_IO and the
 * next write may succeed: a full disk stops metadata writes only while it is full. If even the
 * cut-back fails, the next write retries it first, and reads, served from memory, go on.
 *
 *   journal   |frame s=7|frame s=8|fra…          write of s=9 fails midway (ENOSPC)
 *             |frame s=7|frame s=8|              cut back to journalBytes; seq stays 8
 *             |frame s=7|frame s=8|frame s=9|    a later write, once there is room
 */
export interface EmbeddedKvOptions {
  /** Compact once the journal holds this many entries (default 10000). */
  compactAfterEntries?: number;
  /** Compact once the journal holds this many bytes (default 16 MiB). */
  compactAfterBytes?: number;
}

/** What opening found, for the broker's startup log. */
export interface EmbeddedKvRecovery {
  snapshotEntries: number;
  journalEntries: number;
  /** Bytes of torn or damaged journal tail that were cut off (0 after a clean shutdown). */
  truncatedBytes: number;
  truncateReason?: string;
}

export { MAX_VALUE_BYTES };

const SNAPSHOT = 'snapshot';
const SNAPSHOT_TMP = 'snapshot.tmp';
const JOURNAL = 'journal';
const FORMAT = 1;

interface Stored {
  /** The encoded value: stored in this form so readers always get a fresh copy. */
  json: string;
  version: number;
}

// Journal frame payloads (bigint-safe JSON, see json.ts):
//   { s: seq, o: 'put', k: key, n: version, v: value }   |   { s: seq, o: 'del', k: key }
// Snapshot frame payloads:
//   { t: 'snapshot', f: FORMAT, s: seq, c: count }, then c × { k, n, v }, then { t: 'end', c: count }

export class EmbeddedKv implements VersionedKv {
  private closed = false;
  /**
   * Set when a failed append could not be cut back: the journal may end in a partial frame past
   * journalBytes. The next write cuts it back first (and fails if it still cannot).
   */
  private tornTail: Error | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private journalEntries = 0;
  /** Bytes of whole frames in the journal: where the next frame starts. */
  private journalBytes = 0;
  /** Last compaction failure, kept for diagnostics; compaction is retried on the next write. */
  lastCompactionError: Error | null = null;

  private constructor(
    readonly dir: string,
    readonly recovery: EmbeddedKvRecovery,
    private readonly map: Map<string, Stored>,
    private seq: number,
    private journal: FileHandle,
    private readonly lock: DirLock,
    private readonly compactAfterEntries: number,
    private readonly compactAfterBytes: number,
  ) {}

  /** Opens (creating if needed) the store in `dir`; fails with STORE_UNAVAILABLE if another process has it. */
  static async open(dir: string, opts: EmbeddedKvOptions = {}): Promise<EmbeddedKv> {
    await fs.mkdir(dir, { recursive: true });
    const lock = await acquireDirLock(dir, 'metadata directory');
    try {
      await fs.rm(path.join(dir, SNAPSHOT_TMP), { force: true });
      const map = new Map<string, Stored>();
      const snapshotSeq = await loadSnapshot(path.join(dir, SNAPSHOT), map);
      const snapshotEntries = map.size;

      const journalPath = path.join(dir, JOURNAL);
      const created = !(await pathExists(journalPath));
      // 'a+': appends always go to the end (also after truncation); reads use explicit positions.
      const journal = await fs.open(journalPath, 'a+');
      try {
        if (created) await fsyncDir(dir);
        let seq = snapshotSeq;
        let journalEntries = 0;
        const scan = await scanFrames(journal, (payload) => {
          const rec = decodeRecord(payload);
          if (rec === null) return false;
          if (rec.s <= snapshotSeq) return true; // already in the snapshot (crash before truncation)
          if (rec.s !== seq + 1) return false; // a gap: not something a torn append can produce, stop
          applyRecord(map, rec);
          seq = rec.s;
          journalEntries++;
          return true;
        });
        if (scan.tailBytes > 0) {
          await journal.truncate(scan.validBytes);
          await journal.sync();
        }
        const recovery: EmbeddedKvRecovery = {
          snapshotEntries,
          journalEntries,
          truncatedBytes: scan.tailBytes,
          ...(scan.stopReason !== undefined ? { truncateReason: scan.stopReason } : {}),
        };
        const kv = new EmbeddedKv(
          dir,
          recovery,
          map,
          seq,
          journal,
          lock,
          opts.compactAfterEntries ?? 10_000,
          opts.compactAfterBytes ?? 16 * 1024 * 1024,
        );
        kv.journalEntries = journalEntries;
        kv.journalBytes = scan.validBytes;
        return kv;
      } catch (e) {
        await journal.close();
        throw e;
      }
    } catch (e) {
      await lock.release();
      throw wrapIo(e, `opening metadata store in ${dir}`);
    }
  }

  async get(key: string): Promise<KvEntry | null> {
    checkKey(key);
    this.checkUsable();
    const s = this.map.get(key);
    return s ? { key, value: decodeKvValue(s.json), version: s.version } : null;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.checkUsable();
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    return keys.map((key) => {
      const s = this.map.get(key)!;
      return { key, value: decodeKvValue(s.json), version: s.version };
    });
  }

  async put(key: string, value: KvValue, expectedVersion: number | null): Promise<number> {
    checkKey(key);
    checkExpectedVersion(expectedVersion);
    const json = encodeKvValue(value); // validates the value before anything is written
    if (Buffer.byteLength(json) > MAX_VALUE_BYTES) {
      throw new TypeError(`metadata value for ${key} is ${Buffer.byteLength(json)} bytes encoded; the limit is ${MAX_VALUE_BYTES}`);
    }
    return this.exclusive(async () => {
      const cur = this.map.get(key);
      if (expectedVersion === null || expectedVersion === 0) {
        if (cur) throw new StrataError('KEY_EXISTS', `metadata key ${key} already exists (version ${cur.version})`);
      } else if (!cur || cur.version !== expectedVersion) {
        throw conflict(key, expectedVersion, cur);
      }
      const version = (cur?.version ?? 0) + 1;
      const seq = this.seq + 1;
      // The record is built around the already-encoded value, so the value is encoded once.
      const payload = `{"s":${seq},"o":"put","k":${JSON.stringify(key)},"n":${version},"v":${json}}`;
      await this.append(Buffer.from(payload));
      this.seq = seq;
      this.map.set(key, { json, version });
      await this.maybeCompact();
      return version;
    });
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    checkKey(key);
    checkExpectedVersion(expectedVersion);
    return this.exclusive(async () => {
      const cur = this.map.get(key);
      if (expectedVersion !== undefined) {
        if (!cur) throw new StrataError('NOT_FOUND', `metadata key ${key} does not exist`);
        if (cur.version !== expectedVersion) throw conflict(key, expectedVersion, cur);
      }
      if (!cur) return false;
      const seq = this.seq + 1;
      await this.append(Buffer.from(`{"s":${seq},"o":"del","k":${JSON.stringify(key)}}`));
      this.seq = seq;
      this.map.delete(key);
      await this.maybeCompact();
      return true;
    });
  }

  /** Writes a snapshot now and empties the journal (normally triggered by size). */
  compact(): Promise<void> {
    return this.exclusive(() => this.compactNow());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail.catch(() => undefined);
    try {
      await this.journal.close();
    } finally {
      await this.lock.release();
    }
  }

  /** Reads are served from memory, which only ever holds durable writes: a failed write does not stop them. */
  private checkUsable(): void {
    if (this.closed) throw new StrataError('CLOSED', `metadata store ${this.dir} is closed`);
  }

  /** Runs `fn` after every earlier write, so version checks and appends never interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.checkUsable();
      return fn();
    };
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /**
   * Appends one frame and makes it durable, or throws STORAGE_IO having left the journal as it
   * was (see the class comment): the caller applies the write to memory only after this returns.
   */
  private async append(payload: Buffer): Promise<void> {
    const frame = encodeFrame(payload);
    if (this.tornTail !== null) {
      try {
        await this.cutBack();
      } catch (e) {
        throw wrapIo(e, `appending to the metadata journal in ${this.dir}: a partial frame of an earlier failed write cannot be cut off`);
      }
    }
    try {
      await writeAll(this.journal, frame);
      await this.journal.datasync();
    } catch (e) {
      // Part of the frame may be on disk (a short write, or a whole one whose fsync failed): cut
      // it off, durably, so that neither the next append nor a replay after a crash sees it.
      this.tornTail = e as Error;
      await this.cutBack().catch(() => undefined);
      const what = this.tornTail === null ? 'nothing was written' : 'nothing was applied; the partial frame is cut off before the next write';
      throw wrapIo(e, `appending to the metadata journal in ${this.dir} (${what}${isNoSpace(e) ? '; writes resume once the disk has room' : ''})`);
    }
    this.journalEntries++;
    this.journalBytes += frame.length;
  }

  /** Truncates the journal to its last whole frame and fsyncs that; clears tornTail on success. */
  private async cutBack(): Promise<void> {
    await this.journal.truncate(this.journalBytes);
    await this.journal.datasync();
    this.tornTail = null;
  }

  private async maybeCompact(): Promise<void> {
    if (this.journalEntries < this.compactAfterEntries && this.journalBytes < this.compactAfterBytes) return;
    try {
      await this.compactNow();
      this.lastCompactionError = null;
    } catch (e) {
      // The write that triggered compaction is already durable in the journal; a failed
      // compaction leaves the journal as the source of truth and is retried next time.
      this.lastCompactionError = e as Error;
    }
  }

  private async compactNow(): Promise<void> {
    const tmp = path.join(this.dir, SNAPSHOT_TMP);
    const fh = await fs.open(tmp, 'w');
    let written = false;
    try {
      const keys = [...this.map.keys()].sort(compareKeys);
      const frames: Buffer[] = [encodeFrame(Buffer.from(`{"t":"snapshot","f":${FORMAT},"s":${this.seq},"c":${keys.length}}`))];
      let pending = frames[0].length;
      for (const key of keys) {
        const s = this.map.get(key)!;
        const frame = encodeFrame(Buffer.from(`{"k":${JSON.stringify(key)},"n":${s.version},"v":${s.json}}`));
        frames.push(frame);
        pending += frame.length;
        // Write in batches so a large store never needs one huge buffer.
        if (pending >= 1024 * 1024) {
          await writeAll(fh, Buffer.concat(frames));
          frames.length = 0;
          pending = 0;
        }
      }
      frames.push(encodeFrame(Buffer.from(`{"t":"end","c":${keys.length}}`)));
      await writeAll(fh, Buffer.concat(frames));
      await fh.sync();
      written = true;
    } finally {
      await fh.close();
      // A partial snapshot.tmp (a full disk) would hold on to the space the journal needs.
      if (!written) await fs.rm(tmp, { force: true }).catch(() => undefined);
    }
    await fs.rename(tmp, path.join(this.dir, SNAPSHOT));
    await fsyncDir(this.dir);
    // Only now is the journal redundant. If truncation fails the journal keeps its (old,
    // sequence-covered) frames, which replay skips; appends continue after them.
    await this.journal.truncate(0);
    await this.journal.sync();
    this.journalEntries = 0;
    this.journalBytes = 0;
  }
}

type JournalRecord = { s: number; o: 'put'; k: string; n: number; v: KvValue } | { s: number; o: 'del'; k: string };

function decodeRecord(payload: Buffer): JournalRecord | null {
  let r: unknown;
  try {
    r = decodeKvValue(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return null;
  const o = r as Record<string, KvValue>;
  if (typeof o.s !== 'number' || typeof o.k !== 'string') return null;
  if (o.o === 'put' && typeof o.n === 'number' && 'v' in o) return { s: o.s, o: 'put', k: o.k, n: o.n, v: o.v };
  if (o.o === 'del') return { s: o.s, o: 'del', k: o.k };
  return null;
}

function applyRecord(map: Map<string, Stored>, rec: JournalRecord): void {
  if (rec.o === 'put') map.set(rec.k, { json: encodeKvValue(rec.v), version: rec.n });
  else map.delete(rec.k);
}

/** Loads the snapshot into `map` and returns its sequence number (0 when there is none). */
async function loadSnapshot(file: string, map: Map<string, Stored>): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  try {
    let header: { s: number; c: number } | null = null;
    let end: number | null = null;
    let bad = '';
    const scan = await scanFrames(fh, (payload) => {
      const r = decodeSafe(payload);
      if (r === undefined || end !== null) return reject('unreadable frame');
      if (header === null) {
        if (r.t !== 'snapshot' || r.f !== FORMAT || typeof r.s !== 'number' || typeof r.c !== 'number') {
          return reject(`not a format ${FORMAT} snapshot header`);
        }
        header = { s: r.s, c: r.c };
        return true;
      }
      if (r.t === 'end') {
        end = typeof r.c === 'number' ? r.c : -1;
        return true;
      }
      if (typeof r.k !== 'string' || typeof r.n !== 'number' || !('v' in r)) return reject('malformed entry');
      map.set(r.k, { json: encodeKvValue(r.v), version: r.n });
      return true;
    });
    function reject(why: string): false {
      bad = why;
      return false;
    }
    // The snapshot was renamed into place complete and fsynced, so anything short of a
    // whole one is damage, not a torn write: refuse to start rather than lose metadata.
    const h = header as { s: number; c: number } | null;
    if (scan.tailBytes > 0 || h === null || end === null || end !== h.c || map.size !== h.c) {
      throw new StrataError(
        'STORAGE_IO',
        `metadata snapshot ${file} is damaged (${bad || scan.stopReason || 'incomplete'}); restore it from a backup or remove the metadata directory`,
      );
    }
    return h.s;
  } finally {
    await fh.close();
  }
}

function decodeSafe(payload: Buffer): Record<string, KvValue> | undefined {
  try {
    const r = decodeKvValue(payload.toString('utf8'));
    return typeof r === 'object' && r !== null && !Array.isArray(r) ? r : undefined;
  } catch {
    return undefined;
  }
}

function conflict(key: string, expected: number, cur: Stored | undefined): StrataError {
  return new StrataError(
    'VERSION_CONFLICT',
    `metadata key ${key}: expected version ${expected}, found ${cur ? `version ${cur.version}` : 'no entry'}`,
  );
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

function isNoSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function wrapIo(e: unknown, doing: string): unknown {
  if (e instanceof StrataError || e instanceof TypeError) return e;
  return new StrataError('STORAGE_IO', `${doing}: ${(e as Error).message}`, { cause: e });
}
