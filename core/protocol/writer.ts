import { StrataError } from '../common/errors';
import { isFileRegion, type ResponseChunk } from '../common/fileRegion';

// Uuid helpers live with the reader; re-exported so code that only builds messages needs one import.
export { ZERO_UUID, randomUuid } from './reader';

/**
 * Encoding of Kafka's wire primitives into a list of chunks.
 *
 * Small fields go into a growable scratch buffer; large byte fields (records read from segment
 * files, above BY_REFERENCE_BYTES) are appended to the chunk list by reference, never copied,
 * so a fetch response is a handful of small header chunks around the segment bytes and can be
 * handed to `socket.writev`/`cork` as is.
 *
 *   chunks:  [ scratch[0..a) ][ records A (by ref) ][ scratch[a..b) ][ records B ] ... pending
 *   scratch: |---- emitted ----|---- emitted ----|-- pending --|-- free --|
 *                                                ^flushed      ^pos
 *
 * Records may also be file regions (ranges of segment files, see fileRegion.ts): they become
 * chunks of their own, and the connection sends them from the file (toResponseChunks).
 *
 * Bytes already emitted as chunks are never overwritten: writing continues after them, and when
 * the scratch is full the pending bytes become a chunk and a new scratch is allocated (the old
 * one stays alive through the chunks that view it). Nothing is ever copied twice.
 *
 * Integers are written like a Java cast to the field's width (no range check, for speed);
 * int64 values must fit in 64 bits.
 */

/**
 * A `records` value to write: one buffer, several chunks that together are the bytes (buffers,
 * or regions of segment files), or null.
 */
export type RecordsInput = Buffer | ResponseChunk[] | null;

/** Byte fields at least this long are appended by reference instead of copied. */
export const BY_REFERENCE_BYTES = 4096;

const MIN_SCRATCH = 256;
const MAX_INT16 = 0x7fff;

/** An encoding failure: a programming error in whoever built the message, not bad input. */
export function encodeError(message: string): StrataError {
  return new StrataError('PROTOCOL_ENCODE', message);
}

export class Writer {
  private scratch: Buffer;
  private pos = 0;
  private flushed = 0;
  private readonly chunks: ResponseChunk[] = [];
  private regions = 0;
  private chunkBytes = 0;

  constructor(initialCapacity = 1024) {
    this.scratch = Buffer.allocUnsafe(Math.max(MIN_SCRATCH, initialCapacity));
  }

  /** Total bytes written so far. */
  get length(): number {
    return this.chunkBytes + (this.pos - this.flushed);
  }

  /** The written bytes as a list of chunks (large byte fields are the caller's own buffers). */
  toChunks(): Buffer[] {
    this.flush();
    if (this.regions > 0) throw encodeError('the message holds file regions: use toResponseChunks');
    return this.chunks.slice() as Buffer[];
  }

  /** The written chunks, file regions included (a response the connection sends from the files). */
  toResponseChunks(): ResponseChunk[] {
    this.flush();
    return this.chunks.slice();
  }

  /** The written bytes in one buffer (copies when there is more than one chunk). */
  toBuffer(): Buffer {
    const chunks = this.toChunks();
    if (chunks.length === 1) return chunks[0];
    return Buffer.concat(chunks, this.chunkBytes);
  }

  // ---- buffer management ----------------------------------------------------------------

  /** Moves pending scratch bytes to the chunk list (as a view, no copy). */
  private flush(): void {
    if (this.pos > this.flushed) {
      this.chunks.push(this.scratch.subarray(this.flushed, this.pos));
      this.chunkBytes += this.pos - this.flushed;
      this.flushed = this.pos;
    }
  }

  /** Makes room for n more bytes in the scratch and returns the position to write at. */
  private reserve(n: number): number {
    const at = this.pos;
    if (at + n > this.scratch.length) return this.grow(n);
    this.pos = at + n;
    return at;
  }

  private grow(n: number): number {
    this.flush();
    this.scratch = Buffer.allocUnsafe(Math.max(n, this.scratch.length * 2));
    this.pos = n;
    this.flushed = 0;
    return 0;
  }

  /** Appends a buffer: copied into the scratch when small, by reference when large; a file region as a chunk of its own. */
  private append(b: ResponseChunk): void {
    if (isFileRegion(b)) {
      this.flush();
      this.chunks.push(b);
      this.chunkBytes += b.length;
      this.regions++;
      return;
    }
    const n = b.length;
    if (n >= BY_REFERENCE_BYTES) {
      this.flush();
      this.chunks.push(b);
      this.chunkBytes += n;
    } else if (n > 0) {
      const at = this.reserve(n);
      b.copy(this.scratch, at);
    }
  }

  // ---- fixed-width integers -------------------------------------------------------------

  writeInt8(v: number): void {
    const at = this.reserve(1);
    this.scratch[at] = v & 0xff;
  }

  writeInt16(v: number): void {
    const at = this.reserve(2);
    const s = this.scratch;
    s[at] = (v >>> 8) & 0xff;
    s[at + 1] = v & 0xff;
  }

  writeUInt16(v: number): void {
    this.writeInt16(v);
  }

  writeInt32(v: number): void {
    const at = this.reserve(4);
    const s = this.scratch;
    s[at] = (v >>> 24) & 0xff;
    s[at + 1] = (v >>> 16) & 0xff;
    s[at + 2] = (v >>> 8) & 0xff;
    s[at + 3] = v & 0xff;
  }

  writeUInt32(v: number): void {
    this.writeInt32(v);
  }

  writeInt64(v: bigint): void {
    const at = this.reserve(8);
    this.scratch.writeBigInt64BE(v, at);
  }

  writeFloat64(v: number): void {
    const at = this.reserve(8);
    this.scratch.writeDoubleBE(v, at);
  }

  writeBool(v: boolean): void {
    const at = this.reserve(1);
    this.scratch[at] = v ? 1 : 0;
  }

  // ---- variable-length integers ---------------------------------------------------------

  /** Unsigned LEB128 of a value in [0, 2^32). */
  writeUVarint(v: number): void {
    if (v < 0x80 && v >= 0) {
      const at = this.reserve(1);
    this.scratch[at] = v;
      return;
    }
    v >>>= 0;
    const at = this.reserve(5);
    const s = this.scratch;
    let i = at;
    while (v >= 0x80) {
      s[i++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    s[i++] = v;
    this.pos = i; // give back the unused part of the 5 reserved bytes
  }

  /** Zigzag-encoded signed 32-bit varint. */
  writeVarint(v: number): void {
    this.writeUVarint(((v << 1) ^ (v >> 31)) >>> 0);
  }

  /** Zigzag-encoded signed 64-bit varint. */
  writeVarlong(v: bigint): void {
    let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    const at = this.reserve(10);
    const s = this.scratch;
    let i = at;
    if (z <= 0x1fffffffffffffn) {
      // fits a double exactly: avoid BigInt arithmetic per byte
      let n = Number(z);
      while (n >= 0x80) {
        s[i++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
      s[i++] = n;
    } else {
      while (z >= 0x80n) {
        s[i++] = Number(z & 0x7fn) | 0x80;
        z >>= 7n;
      }
      s[i++] = Number(z);
    }
    this.pos = i;
  }

  // ---- strings --------------------------------------------------------------------------

  writeString(v: string): void {
    const len = Buffer.byteLength(v, 'utf8');
    if (len > MAX_INT16) throw encodeError(`string of ${len} bytes exceeds the int16 length limit`);
    this.writeInt16(len);
    if (len > 0) {
      const at = this.reserve(len);
      this.scratch.write(v, at, len, 'utf8');
    }
  }

  writeNullableString(v: string | null): void {
    if (v === null) this.writeInt16(-1);
    else this.writeString(v);
  }

  writeCompactString(v: string): void {
    const len = Buffer.byteLength(v, 'utf8');
    this.writeUVarint(len + 1);
    if (len > 0) {
      const at = this.reserve(len);
      this.scratch.write(v, at, len, 'utf8');
    }
  }

  writeCompactNullableString(v: string | null): void {
    if (v === null) this.writeUVarint(0);
    else this.writeCompactString(v);
  }

  // ---- bytes and records ----------------------------------------------------------------

  writeBytes(v: Buffer): void {
    this.writeInt32(v.length);
    this.append(v);
  }

  writeNullableBytes(v: Buffer | null): void {
    if (v === null) this.writeInt32(-1);
    else this.writeBytes(v);
  }

  writeCompactBytes(v: Buffer): void {
    this.writeUVarint(v.length + 1);
    this.append(v);
  }

  writeCompactNullableBytes(v: Buffer | null): void {
    if (v === null) this.writeUVarint(0);
    else this.writeCompactBytes(v);
  }

  /**
   * A `records` field. An array value is several chunks that together form the records bytes
   * (e.g. ranges of different segment files); each chunk is appended by reference when large.
   */
  writeRecords(value: RecordsInput, compact: boolean): void {
    if (value === null) {
      if (compact) this.writeUVarint(0);
      else this.writeInt32(-1);
      return;
    }
    if (Buffer.isBuffer(value)) {
      if (compact) this.writeCompactBytes(value);
      else this.writeBytes(value);
      return;
    }
    let total = 0;
    for (const c of value) total += c.length;
    if (compact) this.writeUVarint(total + 1);
    else this.writeInt32(total);
    for (const c of value) this.append(c);
  }

  /** Bytes with no length prefix. */
  writeRaw(v: Buffer): void {
    this.append(v);
  }

  /** A uuid in Kafka's textual form (22 chars of URL-safe base64). */
  writeUuid(v: string): void {
    const at = this.reserve(16);
    if (v.length !== 22 || this.scratch.write(v, at, 16, 'base64url') !== 16) {
      this.pos = at;
      throw encodeError(`invalid uuid ${JSON.stringify(v)}: expected 22 characters of URL-safe base64`);
    }
  }

  // ---- arrays ---------------------------------------------------------------------------

  /** int32 element count; -1 writes a null array. */
  writeArrayLength(n: number): void {
    this.writeInt32(n);
  }

  /** uvarint (count + 1); -1 writes a null compact array (0). */
  writeCompactArrayLength(n: number): void {
    this.writeUVarint(n + 1);
  }

  // ---- tagged fields --------------------------------------------------------------------

  /** An empty tagged-field section (count 0). */
  writeEmptyTaggedFields(): void {
    const at = this.reserve(1);
    this.scratch[at] = 0;
  }

  /** One tagged field whose value was encoded into `body` (its size must precede it). */
  writeTaggedField(tag: number, body: Writer): void {
    this.writeUVarint(tag);
    this.writeUVarint(body.length);
    this.appendWriter(body);
  }

  /** Appends everything another writer holds (small parts copied, large ones by reference). */
  appendWriter(other: Writer): void {
    for (const c of other.toResponseChunks()) this.append(c);
  }
}
