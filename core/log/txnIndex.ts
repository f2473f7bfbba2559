import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { IndexFile } from './indexFile';
import type { FileCache } from './fileCache';
import type { AbortedTxn } from './producerState';

/**
 * The aborted-transaction index of one segment (`<base>.txnindex`, Kafka's TransactionIndex): one
 * entry per transaction aborted by a marker in that segment, appended in marker order. A
 * READ_COMMITTED fetch asks it which aborted transactions overlap the fetched range, so the
 * consumer can drop their records. Entries are 34 bytes, big-endian, exactly Kafka's AbortedTxn:
 *
 *   @0  version           int16 (0)
 *   @2  producerId        int64
 *   @10 firstOffset       int64   the transaction's first batch
 *   @18 lastOffset        int64   its ABORT marker
 *   @26 lastStableOffset  int64   the LSO once the marker was written: the first offset of the
 *                                 earliest other transaction still open, else lastOffset + 1
 *
 *   offset    40  41  42  43  44  45  46  47
 *   pid 7     d7      d7              A7          → entry (7, first 40, last 46, lso 41)
 *   pid 9         d9          d9              …     still open when A7 is written: lso = 41
 *
 * A transaction may start in an earlier segment; its entry lives with its marker. The file is
 * created on the first append (most segments have no aborted transaction) and is small, so it is
 * read whole on open and kept in memory; it is not checksummed (Kafka neither): a torn tail (size
 * not a multiple of 34) is cut off, anything else odd is refused and the index must be rebuilt
 * from the log.
 */
export const ABORTED_TXN_SIZE = 34;
export const ABORTED_TXN_VERSION = 0;

export interface AbortedRange {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint;
}

/** Kafka's TxnIndexSearchResult. */
export interface TxnIndexSearchResult {
  aborted: AbortedRange[];
  /** An entry's LSO reached the upper bound: no later segment can hold a transaction overlapping the range. */
  complete: boolean;
}

export interface TransactionIndexOptions {
  /** Where repair messages go; default console.warn. */
  logger?: (msg: string) => void;
  /** The broker's file cache (log.max.open.files); default unbounded. */
  files?: FileCache;
}

export class TransactionIndex {
  private file: IndexFile | null;
  private readonly list: AbortedTxn[];
  private closed = false;

  private constructor(
    readonly path: string,
    file: IndexFile | null,
    list: AbortedTxn[],
    private readonly files?: FileCache,
  ) {
    this.file = file;
    this.list = list;
  }

  /**
   * Opens the index at `path`: a missing file is an empty index (created on the first append),
   * a torn tail is cut off (logged). Throws STORAGE_IO for an entry of an unknown version or
   * entries whose lastOffset does not increase.
   */
  static open(path: string, opts: TransactionIndexOptions = {}): TransactionIndex {
    const logger = opts.logger ?? ((m: string) => console.warn(`[strata txn index] ${m}`));
    if (!fs.existsSync(path)) return new TransactionIndex(path, null, [], opts.files);
    const file = new IndexFile(path, opts.files);
    try {
      // Bounded by the file itself; an index holds one entry per aborted transaction.
      let bytes = file.readAll(Number.MAX_SAFE_INTEGER) as Buffer;
      const torn = bytes.length % ABORTED_TXN_SIZE;
      if (torn !== 0) {
        logger(`${path}: cutting a torn tail of ${torn} bytes after ${Math.floor(bytes.length / ABORTED_TXN_SIZE)} entries`);
        bytes = bytes.subarray(0, bytes.length - torn);
        file.truncate(bytes.length);
      }
      const list = decodeAbortedTxns(bytes, path);
      return new TransactionIndex(path, file, list, opts.files);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  get sizeInBytes(): number {
    return this.list.length * ABORTED_TXN_SIZE;
  }

  /** Copies of every entry, in file order. */
  entries(): AbortedTxn[] {
    return this.list.map((t) => ({ ...t }));
  }

  /** Appends an entry; its lastOffset must exceed the last entry's (RangeError otherwise, as Kafka). */
  append(t: AbortedTxn): void {
    this.ensureOpen();
    const prev = this.list[this.list.length - 1];
    if (prev !== undefined && t.lastOffset <= prev.lastOffset) {
      throw new RangeError(`aborted transaction lastOffset ${t.lastOffset} does not follow ${prev.lastOffset} in ${this.path}`);
    }
    const buf = Buffer.allocUnsafe(ABORTED_TXN_SIZE);
    buf.writeInt16BE(ABORTED_TXN_VERSION, 0);
    buf.writeBigInt64BE(t.producerId, 2);
    buf.writeBigInt64BE(t.firstOffset, 10);
    buf.writeBigInt64BE(t.lastOffset, 18);
    buf.writeBigInt64BE(t.lastStableOffset, 26);
    this.file ??= new IndexFile(this.path, this.files);
    this.file.write(buf, this.sizeInBytes);
    this.list.push({ ...t });
  }

  /**
   * Aborted transactions overlapping [fetchOffset, upperBoundOffset): lastOffset >= fetchOffset
   * and firstOffset < upperBoundOffset (TransactionIndex.collectAbortedTxns). `complete` as soon
   * as an entry's lastStableOffset >= upperBoundOffset: every transaction that could overlap the
   * range had its marker before that entry's, so later segments need not be searched.
   */
  collectAbortedTxns(fetchOffset: bigint, upperBoundOffset: bigint): TxnIndexSearchResult {
    return searchAbortedTxns(this.list, fetchOffset, upperBoundOffset);
  }

  /** Drops the entries whose marker is at or past `offset` (the log was truncated there). */
  truncateTo(offset: bigint): void {
    this.ensureOpen();
    let keep = this.list.length;
    while (keep > 0 && this.list[keep - 1].lastOffset >= offset) keep--;
    if (keep === this.list.length) return;
    this.list.length = keep;
    this.file?.truncate(keep * ABORTED_TXN_SIZE);
  }

  /** fsyncs the file (nothing to do before the first append). */
  flush(): void {
    if (!this.closed) this.file?.sync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.file?.close();
    this.file = null;
  }

  /** Closes the index and removes its file (if any); the index is empty afterwards. */
  deleteFile(): void {
    this.close();
    this.list.length = 0;
    try {
      fs.rmSync(this.path, { force: true });
    } catch (e) {
      throw new StrataError('STORAGE_IO', `delete ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', `transaction index ${this.path} is closed`);
  }
}

/**
 * Decodes whole 34-byte entries (`bytes.length` a multiple of ABORTED_TXN_SIZE). Throws
 * STORAGE_IO for an entry of an unknown version or a lastOffset that does not increase.
 */
export function decodeAbortedTxns(bytes: Buffer, path: string): AbortedTxn[] {
  const list: AbortedTxn[] = [];
  for (let p = 0; p + ABORTED_TXN_SIZE <= bytes.length; p += ABORTED_TXN_SIZE) {
    const version = bytes.readInt16BE(p);
    if (version !== ABORTED_TXN_VERSION) throw corrupt(path, `entry ${list.length} has version ${version}`);
    const t: AbortedTxn = {
      producerId: bytes.readBigInt64BE(p + 2),
      firstOffset: bytes.readBigInt64BE(p + 10),
      lastOffset: bytes.readBigInt64BE(p + 18),
      lastStableOffset: bytes.readBigInt64BE(p + 26),
    };
    const prev = list[list.length - 1];
    if (prev !== undefined && t.lastOffset <= prev.lastOffset) {
      throw corrupt(path, `entry ${list.length} lastOffset ${t.lastOffset} does not follow ${prev.lastOffset}`);
    }
    list.push(t);
  }
  return list;
}

/**
 * Kafka's TransactionIndex.collectAbortedTxns over entries in marker order: those with
 * lastOffset >= fetchOffset and firstOffset < upperBoundOffset; `complete` as soon as an entry's
 * lastStableOffset >= upperBoundOffset.
 */
export function searchAbortedTxns(entries: readonly AbortedTxn[], fetchOffset: bigint, upperBoundOffset: bigint): TxnIndexSearchResult {
  const aborted: AbortedRange[] = [];
  for (const t of entries) {
    if (t.lastOffset >= fetchOffset && t.firstOffset < upperBoundOffset) {
      aborted.push({ producerId: t.producerId, firstOffset: t.firstOffset, lastOffset: t.lastOffset });
    }
    if (t.lastStableOffset >= upperBoundOffset) return { aborted, complete: true };
  }
  return { aborted, complete: false };
}

function corrupt(path: string, message: string): StrataError {
  return new StrataError('STORAGE_IO', `transaction index ${path}: ${message}`);
}
