import { IndexFile, lastAtOrBelow } from './indexFile';
import type { FileCache } from './fileCache';

/**
 * Sparse time index of one segment: entries (timestamp int64, relativeOffset int32), 12 bytes
 * each, big-endian. An entry (T, r) says: the largest timestamp in the segment up to and including
 * the batch starting at relative offset r is T, and that batch is where T was first reached.
 * Entries are added next to offset-index entries (and once more when the segment is closed), only
 * when the largest timestamp has grown, so timestamps strictly increase.
 *
 * Consequence used by lookups: every batch before the one at r has maxTimestamp < T. So for a
 * target t >= T the first batch with maxTimestamp >= t is at r or later, and the scan can start
 * there.
 */
export const TIME_INDEX_ENTRY_SIZE = 12;

export class TimeIndex {
  private ts = new BigInt64Array(16);
  private rel = new Int32Array(16);
  private n = 0;
  private deferWrites = false;
  private readonly file: IndexFile;
  private readonly scratch = Buffer.alloc(TIME_INDEX_ENTRY_SIZE);

  private constructor(file: IndexFile) {
    this.file = file;
  }

  /**
   * Opens (creating if missing) the index at `path` and loads it; `problem` is null when well
   * formed, else the reason it must be rebuilt (and the index is loaded empty). Whether entries
   * point past the log is checked by the segment, which knows its last offset.
   */
  static open(path: string, logSize: number, files?: FileCache): { index: TimeIndex; problem: string | null } {
    const index = new TimeIndex(new IndexFile(path, files));
    const bytes = index.file.readAll(TIME_INDEX_ENTRY_SIZE * (Math.floor(logSize / 61) + 2));
    const problem =
      !index.file.existed && logSize > 0
        ? 'is missing'
        : bytes === null
          ? 'is larger than the log could need'
          : index.load(bytes);
    if (problem !== null) index.n = 0;
    return { index, problem };
  }

  private load(bytes: Buffer): string | null {
    if (bytes.length % TIME_INDEX_ENTRY_SIZE !== 0) return `has size ${bytes.length}, not a multiple of ${TIME_INDEX_ENTRY_SIZE}`;
    const count = bytes.length / TIME_INDEX_ENTRY_SIZE;
    this.ensureCapacity(count);
    for (let i = 0; i < count; i++) {
      const t = bytes.readBigInt64BE(i * TIME_INDEX_ENTRY_SIZE);
      const r = bytes.readInt32BE(i * TIME_INDEX_ENTRY_SIZE + 8);
      if (r < 0) return `has entry ${i} with negative offset ${r}`;
      if (i > 0 && (t <= this.ts[i - 1] || r <= this.rel[i - 1])) return `has entry ${i} not increasing`;
      this.ts[i] = t;
      this.rel[i] = r;
    }
    this.n = count;
    return null;
  }

  get entries(): number {
    return this.n;
  }

  get sizeInBytes(): number {
    return this.n * TIME_INDEX_ENTRY_SIZE;
  }

  lastEntry(): { timestamp: bigint; relativeOffset: number } | null {
    return this.n === 0 ? null : { timestamp: this.ts[this.n - 1], relativeOffset: this.rel[this.n - 1] };
  }

  entry(i: number): { timestamp: bigint; relativeOffset: number } {
    return { timestamp: this.ts[i], relativeOffset: this.rel[i] };
  }

  /** Appends (timestamp, relativeOffset) if timestamp exceeds the last entry's; returns whether it did. */
  maybeAppend(timestamp: bigint, relativeOffset: number): boolean {
    if (this.n > 0 && timestamp <= this.ts[this.n - 1]) return false;
    if (this.n > 0 && relativeOffset <= this.rel[this.n - 1]) {
      throw new RangeError(`time index entry (${timestamp}, ${relativeOffset}) does not increase`);
    }
    this.scratch.writeBigInt64BE(timestamp, 0);
    this.scratch.writeInt32BE(relativeOffset, 8);
    if (!this.deferWrites) this.file.write(this.scratch, this.n * TIME_INDEX_ENTRY_SIZE);
    this.push(timestamp, relativeOffset);
    return true;
  }

  /** Relative offset of the largest entry with timestamp <= target, or -1 when there is none. */
  lookup(timestamp: bigint): number {
    const found = lastAtOrBelow(this.ts, this.n, timestamp);
    return found < 0 ? -1 : this.rel[found];
  }

  /** Drops every entry whose batch starts at or after `relativeOffset` (the log was truncated there). */
  truncateToOffset(relativeOffset: number): void {
    let keep = this.n;
    while (keep > 0 && this.rel[keep - 1] >= relativeOffset) keep--;
    if (keep === this.n) return;
    this.n = keep;
    this.file.truncate(keep * TIME_INDEX_ENTRY_SIZE);
  }

  /**
   * Starts a rebuild from the log: entries are cleared, and appends stay in memory until
   * `finishRebuild` writes the file in one go.
   */
  beginRebuild(): void {
    this.n = 0;
    this.deferWrites = true;
  }

  finishRebuild(): void {
    this.deferWrites = false;
    const bytes = Buffer.allocUnsafe(this.n * TIME_INDEX_ENTRY_SIZE);
    for (let i = 0; i < this.n; i++) {
      bytes.writeBigInt64BE(this.ts[i], i * TIME_INDEX_ENTRY_SIZE);
      bytes.writeInt32BE(this.rel[i], i * TIME_INDEX_ENTRY_SIZE + 8);
    }
    this.file.rewrite(bytes);
  }

  sync(): void {
    this.file.sync();
  }

  close(): void {
    this.file.close();
  }

  private push(t: bigint, r: number): void {
    this.ensureCapacity(this.n + 1);
    this.ts[this.n] = t;
    this.rel[this.n] = r;
    this.n++;
  }

  private ensureCapacity(count: number): void {
    if (count <= this.rel.length) return;
    let cap = this.rel.length;
    while (cap < count) cap *= 2;
    const ts = new BigInt64Array(cap);
    const rel = new Int32Array(cap);
    ts.set(this.ts.subarray(0, this.n));
    rel.set(this.rel.subarray(0, this.n));
    this.ts = ts;
    this.rel = rel;
  }
}
