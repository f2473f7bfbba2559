import { randomBytes } from 'node:crypto';
import { StrataError } from '../common/errors';

/**
 * Decoding of Kafka's wire primitives from an untrusted buffer.
 *
 * Every length or count read from the wire is checked against the bytes actually left before
 * anything is sized from it, so a hostile 4-byte "2^31 elements" costs nothing: the check fails
 * and a ProtocolDecodeError is thrown. Byte and record fields come back as `subarray`s of the
 * input (zero copy); the caller keeps the input alive for as long as it uses them.
 */

/**
 * Any malformed input: truncated, bad length, overlong varint, null where the schema forbids it.
 * It is a StrataError (code PROTOCOL_MALFORMED) so the broker's edge maps it like any internal
 * failure, and keeps the name ProtocolDecodeError so logs say what went wrong.
 */
export class ProtocolDecodeError extends StrataError {
  constructor(message: string) {
    super('PROTOCOL_MALFORMED', message);
    this.name = 'ProtocolDecodeError';
  }
}

/** Kafka's all-zero uuid, in Kafka's textual form (URL-safe base64, no padding). */
export const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';

/** Shared empty buffer used as the default of `bytes` fields (zero length, so never mutated). */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/**
 * A random (version 4) uuid in Kafka's textual form. Like Kafka's `Uuid.randomUuid()` it never
 * returns the zero uuid (reserved as "none") nor one whose text starts with '-', which would
 * look like a command-line flag.
 */
export function randomUuid(): string {
  for (;;) {
    const b = randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // IETF variant
    const s = b.toString('base64url');
    if (s !== ZERO_UUID && s[0] !== '-') return s;
  }
}

/** Maximum bytes of an unsigned varint holding 32 bits, and of a varlong holding 64 bits. */
const MAX_VARINT_BYTES = 5;
const MAX_VARLONG_BYTES = 10;

export class Reader {
  readonly buf: Buffer;
  offset: number;
  /** Exclusive end of the readable region; a sub-reader (tagged field) has a nearer end. */
  readonly end: number;

  constructor(buf: Buffer, offset = 0, end: number = buf.length) {
    if (offset < 0 || end > buf.length || offset > end) {
      throw new RangeError(`Reader bounds [${offset}, ${end}) outside buffer of ${buf.length}`);
    }
    this.buf = buf;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Reserves n bytes and returns where they start; throws if fewer are left. */
  private take(n: number): number {
    const at = this.offset;
    if (n > this.end - at) throw this.truncated(n);
    this.offset = at + n;
    return at;
  }

  private truncated(n: number): ProtocolDecodeError {
    return new ProtocolDecodeError(
      `truncated input: need ${n} byte(s) at offset ${this.offset}, ${this.remaining} left`,
    );
  }

  // ---- fixed-width integers -------------------------------------------------------------

  int8(): number {
    return this.buf.readInt8(this.take(1));
  }

  int16(): number {
    return this.buf.readInt16BE(this.take(2));
  }

  uint16(): number {
    return this.buf.readUInt16BE(this.take(2));
  }

  int32(): number {
    return this.buf.readInt32BE(this.take(4));
  }

  uint32(): number {
    return this.buf.readUInt32BE(this.take(4));
  }

  int64(): bigint {
    return this.buf.readBigInt64BE(this.take(8));
  }

  float64(): number {
    return this.buf.readDoubleBE(this.take(8));
  }

  /** Kafka reads any non-zero byte as true. */
  bool(): boolean {
    return this.buf[this.take(1)] !== 0;
  }

  // ---- variable-length integers ---------------------------------------------------------

  /** Unsigned LEB128 of at most 5 bytes, value < 2^32. */
  uvarint(): number {
    const buf = this.buf;
    let pos = this.offset;
    let b = pos < this.end ? buf[pos++] : this.failVarint();
    if (b < 0x80) {
      this.offset = pos;
      return b;
    }
    let value = b & 0x7f;
    let mul = 0x80;
    for (let i = 1; ; i++) {
      if (i >= MAX_VARINT_BYTES) throw new ProtocolDecodeError(`varint longer than ${MAX_VARINT_BYTES} bytes at offset ${this.offset}`);
      if (pos >= this.end) this.failVarint();
      b = buf[pos++];
      value += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
    }
    if (value > 0xffffffff) throw new ProtocolDecodeError(`varint overflows 32 bits at offset ${this.offset}`);
    this.offset = pos;
    return value;
  }

  private failVarint(): never {
    throw new ProtocolDecodeError(`truncated varint at offset ${this.offset}`);
  }

  /** Zigzag-encoded signed 32-bit varint (record headers). */
  varint(): number {
    const raw = this.uvarint();
    // zigzag: 0,1,2,3 -> 0,-1,1,-2; done in 32-bit integer arithmetic
    return (raw >>> 1) ^ -(raw & 1);
  }

  /** Zigzag-encoded signed 64-bit varint. */
  varlong(): bigint {
    const buf = this.buf;
    let pos = this.offset;
    // Up to 7 bytes (49 bits) fit exactly in a double; only longer values need BigInt math.
    let lo = 0;
    let mul = 1;
    let i = 0;
    let b: number;
    for (;;) {
      if (pos >= this.end) this.failVarint();
      b = buf[pos++];
      lo += (b & 0x7f) * mul;
      i++;
      if (b < 0x80) break;
      mul *= 0x80;
      if (i === 7) break;
    }
    let raw: bigint;
    if (b < 0x80) {
      raw = BigInt(lo);
    } else {
      raw = BigInt(lo);
      let shift = 49n;
      for (;;) {
        if (i >= MAX_VARLONG_BYTES) throw new ProtocolDecodeError(`varlong longer than ${MAX_VARLONG_BYTES} bytes at offset ${this.offset}`);
        if (pos >= this.end) this.failVarint();
        b = buf[pos++];
        i++;
        raw |= BigInt(b & 0x7f) << shift;
        if (b < 0x80) break;
        shift += 7n;
      }
      raw = BigInt.asUintN(64, raw);
    }
    this.offset = pos;
    return (raw >> 1n) ^ -(raw & 1n);
  }

  // ---- strings --------------------------------------------------------------------------

  private utf8(len: number): string {
    const at = this.take(len);
    return this.buf.toString('utf8', at, at + len);
  }

  /** int16-length string; null (-1) is rejected. */
  string(): string {
    const len = this.int16();
    if (len < 0) throw this.badLength('string', len);
    return this.utf8(len);
  }

  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) {
      if (len === -1) return null;
      throw this.badLength('string', len);
    }
    return this.utf8(len);
  }

  /** uvarint (length + 1) string; null (0) is rejected. */
  compactString(): string {
    const n = this.uvarint();
    if (n === 0) throw this.badLength('compact string', -1);
    return this.utf8(n - 1);
  }

  compactNullableString(): string | null {
    const n = this.uvarint();
    return n === 0 ? null : this.utf8(n - 1);
  }

  private badLength(what: string, len: number): ProtocolDecodeError {
    return new ProtocolDecodeError(
      len === -1
        ? `non-nullable ${what} was serialized as null at offset ${this.offset}`
        : `invalid ${what} length ${len} at offset ${this.offset}`,
    );
  }

  // ---- bytes and records (zero copy) ----------------------------------------------------

  private slice(len: number): Buffer {
    const at = this.take(len);
    return this.buf.subarray(at, at + len);
  }

  /** int32-length bytes; null (-1) is rejected. */
  bytes(): Buffer {
    const len = this.int32();
    if (len < 0) throw this.badLength('bytes', len);
    return this.slice(len);
  }

  nullableBytes(): Buffer | null {
    const len = this.int32();
    if (len < 0) {
      if (len === -1) return null;
      throw this.badLength('bytes', len);
    }
    return this.slice(len);
  }

  compactBytes(): Buffer {
    const n = this.uvarint();
    if (n === 0) throw this.badLength('compact bytes', -1);
    return this.slice(n - 1);
  }

  compactNullableBytes(): Buffer | null {
    const n = this.uvarint();
    return n === 0 ? null : this.slice(n - 1);
  }

  /** A `records` field: nullable bytes whose content (record batches) is parsed elsewhere. */
  records(compact: boolean): Buffer | null {
    return compact ? this.compactNullableBytes() : this.nullableBytes();
  }

  /** A raw run of n bytes (no length prefix). */
  raw(n: number): Buffer {
    if (n < 0) throw new ProtocolDecodeError(`invalid length ${n}`);
    return this.slice(n);
  }

  skip(n: number): void {
    this.take(n);
  }

  uuid(): string {
    return this.slice(16).toString('base64url');
  }

  // ---- arrays ---------------------------------------------------------------------------
  // Counts are checked against the bytes left: every element occupies at least one byte, so a
  // larger count can only be a lie and is rejected before any array is grown.

  private checkCount(n: number): number {
    if (n > this.end - this.offset) {
      throw new ProtocolDecodeError(
        `array of ${n} elements cannot fit in the ${this.remaining} byte(s) left at offset ${this.offset}`,
      );
    }
    return n;
  }

  /** int32 element count of a non-nullable array. */
  arrayLength(): number {
    const n = this.int32();
    if (n < 0) throw this.badLength('array', n);
    return this.checkCount(n);
  }

  /** int32 element count, or -1 for a null array. */
  nullableArrayLength(): number {
    const n = this.int32();
    if (n < 0) {
      if (n === -1) return -1;
      throw this.badLength('array', n);
    }
    return this.checkCount(n);
  }

  /** uvarint (count + 1) of a non-nullable compact array. */
  compactArrayLength(): number {
    const n = this.uvarint();
    if (n === 0) throw this.badLength('compact array', -1);
    return this.checkCount(n - 1);
  }

  /** uvarint (count + 1), or -1 for a null compact array. */
  compactNullableArrayLength(): number {
    const n = this.uvarint();
    return n === 0 ? -1 : this.checkCount(n - 1);
  }

  array<T>(readElement: (r: Reader) => T): T[] {
    return this.elements(this.arrayLength(), readElement);
  }

  nullableArray<T>(readElement: (r: Reader) => T): T[] | null {
    const n = this.nullableArrayLength();
    return n < 0 ? null : this.elements(n, readElement);
  }

  compactArray<T>(readElement: (r: Reader) => T): T[] {
    return this.elements(this.compactArrayLength(), readElement);
  }

  compactNullableArray<T>(readElement: (r: Reader) => T): T[] | null {
    const n = this.compactNullableArrayLength();
    return n < 0 ? null : this.elements(n, readElement);
  }

  private elements<T>(n: number, readElement: (r: Reader) => T): T[] {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(readElement(this));
    return out;
  }

  // ---- tagged fields --------------------------------------------------------------------

  /**
   * Reads one tagged field's size and returns a reader bounded to its bytes, advancing this
   * reader past them, so a decoder for a known tag cannot run into the next field and an
   * unknown tag is skipped by simply ignoring the returned reader.
   */
  taggedFieldReader(): Reader {
    const size = this.uvarint();
    const at = this.take(size);
    return new Reader(this.buf, at, at + size);
  }

  /**
   * Reads a whole tagged-field section. `handler(tag, fieldReader)` is called for each field;
   * without a handler (or for tags it ignores) the fields are skipped.
   */
  taggedFields(handler?: (tag: number, r: Reader) => void): void {
    // Each field takes at least two bytes (tag and size), so a huge count fails on truncation
    // after a few iterations rather than looping for long.
    let n = this.uvarint();
    for (; n > 0; n--) {
      const tag = this.uvarint();
      const fr = this.taggedFieldReader();
      if (handler !== undefined) handler(tag, fr);
    }
  }

  /** Skips a tagged-field section (the common case: a struct that declares no tagged fields). */
  skipTaggedFields(): void {
    let n = this.uvarint();
    for (; n > 0; n--) {
      this.uvarint();
      this.take(this.uvarint());
    }
  }
}
