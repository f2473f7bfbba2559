import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { crc32c } from './crc32c';
import {
  ATTRIBUTES_OFFSET,
  batchHeaderProblem,
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  BASE_SEQUENCE_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
} from './recordBatch';

/** A descriptor, or a file that opens on use (a CachedFile: its descriptor may be closed between reads). */
export type ScannedFile = number | { use<T>(fn: (fd: number) => T): T };

/** Why a scan stopped: clean end of file, a batch cut short by the end of file, or bad bytes. */
export type ScanStop = 'end' | 'torn' | 'corrupt';

/**
 * Walks the batches of a segment file from a given position, reading headers only (the records are
 * skipped, never decoded). Reads go through one reusable buffer, so many small batches cost one
 * read per chunk and a large batch costs one header read; memory stays at `chunkSize` whatever
 * the file says.
 *
 * With `verifyCrc`, each batch's CRC-32C is also checked, streaming through the buffer for batches
 * larger than it: recovery uses this to find the first torn or corrupt batch.
 *
 * Usage: `while (s.next()) { use s.position, s.size, s.baseOffset, … }` then look at `s.stop`.
 * The fields describe the current batch and are overwritten by each `next()`.
 */
export class BatchScanner {
  position = -1;
  size = 0;
  baseOffset = 0n;
  lastOffsetDelta = 0;
  maxTimestamp = 0n;
  attributes = 0;
  producerId = -1n;
  producerEpoch = -1;
  baseSequence = -1;
  /** The leader epoch stamped into the batch when it was appended (-1 for batches never stamped). */
  partitionLeaderEpoch = -1;
  /** Set once `next()` returns false. */
  stop: ScanStop | null = null;
  /** Human-readable reason for a 'torn' or 'corrupt' stop. */
  detail = '';

  private readonly buf: Buffer;
  private bufStart = 0;
  private bufEnd = 0;
  private nextPos: number;

  constructor(
    private readonly fd: ScannedFile,
    private readonly file: string,
    private readonly fileSize: number,
    start: number,
    private readonly opts: { verifyCrc?: boolean; chunkSize?: number } = {},
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(RECORD_BATCH_HEADER_SIZE, opts.chunkSize ?? 64 * 1024));
    this.nextPos = start;
  }

  /** Position just after the last batch returned (where a scan that stopped would resume). */
  get end(): number {
    return this.nextPos;
  }

  get lastOffset(): bigint {
    return this.baseOffset + BigInt(this.lastOffsetDelta);
  }

  next(): boolean {
    if (this.stop !== null) return false;
    const p = this.nextPos;
    const left = this.fileSize - p;
    if (left <= 0) return this.halt('end', '');
    if (left < RECORD_BATCH_HEADER_SIZE) return this.halt('torn', `${left} bytes at ${p} are less than a batch header`);
    if (p < this.bufStart || p + RECORD_BATCH_HEADER_SIZE > this.bufEnd) this.fill(p);
    const h = p - this.bufStart;
    const buf = this.buf;
    const problem = batchHeaderProblem(buf, h, p);
    if (problem !== null) return this.halt('corrupt', problem);
    const size = LOG_OVERHEAD + buf.readInt32BE(h + BATCH_LENGTH_OFFSET);
    if (size > left) return this.halt('torn', `batch at ${p} needs ${size} bytes, ${left} remain`);
    this.baseOffset = buf.readBigInt64BE(h + BASE_OFFSET_OFFSET);
    this.maxTimestamp = buf.readBigInt64BE(h + MAX_TIMESTAMP_OFFSET);
    this.attributes = buf.readInt16BE(h + ATTRIBUTES_OFFSET);
    this.lastOffsetDelta = buf.readInt32BE(h + LAST_OFFSET_DELTA_OFFSET);
    this.producerId = buf.readBigInt64BE(h + PRODUCER_ID_OFFSET);
    this.producerEpoch = buf.readInt16BE(h + PRODUCER_EPOCH_OFFSET);
    this.baseSequence = buf.readInt32BE(h + BASE_SEQUENCE_OFFSET);
    this.partitionLeaderEpoch = buf.readInt32BE(h + PARTITION_LEADER_EPOCH_OFFSET);
    if (this.opts.verifyCrc) {
      // Read the stored CRC first: crcOf may refill the buffer.
      const stored = buf.readUInt32BE(h + CRC_OFFSET);
      if (this.crcOf(p, size) !== stored) return this.halt('corrupt', `CRC-32C mismatch in batch at ${p}`);
    }
    this.position = p;
    this.size = size;
    this.nextPos = p + size;
    return true;
  }

  private halt(stop: ScanStop, detail: string): false {
    this.stop = stop;
    this.detail = detail;
    return false;
  }

  /** CRC over bytes [p+21, p+size), streamed through the buffer when the batch exceeds it. */
  private crcOf(p: number, size: number): number {
    let from = p + ATTRIBUTES_OFFSET;
    const to = p + size;
    let crc = 0;
    while (from < to) {
      if (from < this.bufStart || from >= this.bufEnd) this.fill(from);
      const upto = Math.min(to, this.bufEnd);
      crc = crc32c(this.buf.subarray(from - this.bufStart, upto - this.bufStart), crc);
      from = upto;
    }
    return crc;
  }

  private fill(p: number): void {
    const want = Math.min(this.buf.length, this.fileSize - p);
    let got = 0;
    const read = (fd: number): void => {
      while (got < want) {
        const n = fs.readSync(fd, this.buf, got, want - got, p + got);
        if (n === 0) break;
        got += n;
      }
    };
    try {
      if (typeof this.fd === 'number') read(this.fd);
      else this.fd.use(read);
    } catch (e) {
      if (e instanceof StrataError) throw e;
      throw new StrataError('STORAGE_IO', `read ${this.file}: ${(e as Error).message}`, { cause: e });
    }
    this.bufStart = p;
    this.bufEnd = p + got;
    if (got < want) {
      // The file shrank under us; treat what is missing as not there.
      throw new StrataError('STORAGE_IO', `read ${this.file}: expected ${want} bytes at ${p}, got ${got}`);
    }
  }
}
