import { IndexFile, lastAtOrBelow } from './indexFile';
import type { FileCache } from './fileCache';

/**
 * Sparse offset index of one segment: entries (relativeOffset int32, position int32), 8 bytes each,
 * big-endian, appended roughly every index.interval.bytes of log. relativeOffset is the baseOffset
 * of a batch minus the segment's base offset and position is where that batch starts in the .log,
 * so every entry names a batch boundary. Both columns strictly increase.
 *
 *   .log    |b0 |b1 |b2     |b3 |b4 |b5    |b6 |…
 *   .index        (rel(b2), pos(b2))   (rel(b5), pos(b5))
 *
 * lookup(x) gives the largest entry with relativeOffset <= x: a batch at or before the one holding
 * x, from which a scan of batch headers finds it.
 */
export const OFFSET_INDEX_ENTRY_SIZE = 8;

export class OffsetIndex {
  private rel = new Int32Array(16);
  private pos = new Int32Array(16);
  private n = 0;
  private deferWrites = false;
  private readonly file: IndexFile;
  private readonly scratch = Buffer.alloc(OFFSET_INDEX_ENTRY_SIZE);

  private constructor(file: IndexFile) {
    this.file = file;
  }

  /**
   * Opens (creating if missing) the index at `path` and loads it. `problem` is null when the
   * file is well formed for a log of `logSize` bytes; otherwise it says why it must be rebuilt
   * and the index is loaded empty.
   */
  static open(path: string, logSize: number, files?: FileCache): { index: OffsetIndex; problem: string | null } {
    const index = new OffsetIndex(new IndexFile(path, files));
    // At most one entry per batch, and a batch is at least 61 bytes.
    const bytes = index.file.readAll(OFFSET_INDEX_ENTRY_SIZE * (Math.floor(logSize / 61) + 1));
    const problem =
      !index.file.existed && logSize > 0
        ? 'is missing'
        : bytes === null
          ? 'is larger than the log could need'
          : index.load(bytes, logSize);
    if (problem !== null) index.n = 0;
    return { index, problem };
  }

  private load(bytes: Buffer, logSize: number): string | null {
    if (bytes.length % OFFSET_INDEX_ENTRY_SIZE !== 0) return `has size ${bytes.length}, not a multiple of ${OFFSET_INDEX_ENTRY_SIZE}`;
    const count = bytes.length / OFFSET_INDEX_ENTRY_SIZE;
    this.ensureCapacity(count);
    for (let i = 0; i < count; i++) {
      const r = bytes.readInt32BE(i * OFFSET_INDEX_ENTRY_SIZE);
      const p = bytes.readInt32BE(i * OFFSET_INDEX_ENTRY_SIZE + 4);
      if (r < 0 || p < 0 || p >= logSize) return `has entry ${i} (${r} → ${p}) pointing outside the log`;
      if (i > 0 && (r <= this.rel[i - 1] || p <= this.pos[i - 1])) return `has entry ${i} not increasing`;
      this.rel[i] = r;
      this.pos[i] = p;
    }
    this.n = count;
    return null;
  }

  get entries(): number {
    return this.n;
  }

  get sizeInBytes(): number {
    return this.n * OFFSET_INDEX_ENTRY_SIZE;
  }

  lastEntry(): { relativeOffset: number; position: number } | null {
    return this.n === 0 ? null : { relativeOffset: this.rel[this.n - 1], position: this.pos[this.n - 1] };
  }

  entry(i: number): { relativeOffset: number; position: number } {
    return { relativeOffset: this.rel[i], position: this.pos[i] };
  }

  /** Appends an entry; both values must exceed the last entry's. */
  append(relativeOffset: number, position: number): void {
    if (this.n > 0 && (relativeOffset <= this.rel[this.n - 1] || position <= this.pos[this.n - 1])) {
      throw new RangeError(`offset index entry (${relativeOffset}, ${position}) does not increase`);
    }
    this.scratch.writeInt32BE(relativeOffset, 0);
    this.scratch.writeInt32BE(position, 4);
    if (!this.deferWrites) this.file.write(this.scratch, this.n * OFFSET_INDEX_ENTRY_SIZE);
    this.push(relativeOffset, position);
  }

  /** Position of the largest entry with relativeOffset <= target, or 0 (the segment start). */
  lookup(relativeOffset: number): number {
    const found = lastAtOrBelow(this.rel, this.n, relativeOffset);
    return found < 0 ? 0 : this.pos[found];
  }

  /**
   * Where a header scan should start to reach the last batch ending at or before `position`
   * and the batch before it: the position of the entry before the last entry at or below
   * `position`, or 0 (the segment start). Entries are batch starts every index.interval.bytes,
   * so the scan from there covers about two intervals.
   */
  scanStartBefore(position: number): number {
    const found = lastAtOrBelow(this.pos, this.n, position);
    return found < 1 ? 0 : this.pos[found - 1];
  }

  /** Drops every entry at or past `position` (the log was truncated there). */
  truncateToPosition(position: number): void {
    let keep = this.n;
    while (keep > 0 && this.pos[keep - 1] >= position) keep--;
    if (keep === this.n) return;
    this.n = keep;
    this.file.truncate(keep * OFFSET_INDEX_ENTRY_SIZE);
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
    const bytes = Buffer.allocUnsafe(this.n * OFFSET_INDEX_ENTRY_SIZE);
    for (let i = 0; i < this.n; i++) {
      bytes.writeInt32BE(this.rel[i], i * OFFSET_INDEX_ENTRY_SIZE);
      bytes.writeInt32BE(this.pos[i], i * OFFSET_INDEX_ENTRY_SIZE + 4);
    }
    this.file.rewrite(bytes);
  }

  sync(): void {
    this.file.sync();
  }

  close(): void {
    this.file.close();
  }

  private push(r: number, p: number): void {
    this.ensureCapacity(this.n + 1);
    this.rel[this.n] = r;
    this.pos[this.n] = p;
    this.n++;
  }

  private ensureCapacity(count: number): void {
    if (count <= this.rel.length) return;
    let cap = this.rel.length;
    while (cap < count) cap *= 2;
    const rel = new Int32Array(cap);
    const pos = new Int32Array(cap);
    rel.set(this.rel.subarray(0, this.n));
    pos.set(this.pos.subarray(0, this.n));
    this.rel = rel;
    this.pos = pos;
  }
}
