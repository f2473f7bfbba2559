/**
 * Zigzag varints as used inside RecordBatch v2 records (the protobuf encoding Kafka borrowed):
 * a signed value is zigzag-mapped (0,-1,1,-2,… → 0,1,2,3,…) and written 7 bits per byte, low
 * group first, high bit set on every byte but the last.
 *
 * Reading never throws: the produce-path validator walks every record of every batch with these
 * and must stay allocation- and exception-free on hostile input.
 */

/**
 * A read position over `buf[pos, end)`. A read that would run past `end` or meets a malformed
 * encoding clears `ok` (and returns 0); callers check `ok` once after a group of reads rather than
 * after each one. One cursor serves a whole batch, so walking records allocates nothing.
 */
export class ByteCursor {
  ok = true;
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    public end: number,
  ) {}

  private fail(): number {
    this.ok = false;
    this.pos = this.end;
    return 0;
  }

  readInt8(): number {
    if (this.pos >= this.end) return this.fail();
    const b = this.buf[this.pos++];
    return (b << 24) >> 24;
  }

  /** Advances over `n` bytes (n >= 0), failing if fewer remain. */
  skip(n: number): void {
    if (n < 0 || n > this.end - this.pos) this.fail();
    else this.pos += n;
  }

  /**
   * A zigzag varint that must fit in 32 bits: at most 5 bytes, the fifth using only its low 4
   * bits (a well-formed writer never sets the bits that would be dropped).
   */
  readVarint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let raw = 0;
    for (let i = 0; ; i++) {
      if (pos >= this.end) return this.fail();
      const b = buf[pos++];
      if (i === 4) {
        if (b > 0x0f) return this.fail();
        raw = (raw | (b << 28)) >>> 0;
        break;
      }
      raw |= (b & 0x7f) << (7 * i);
      if ((b & 0x80) === 0) break;
    }
    this.pos = pos;
    return (raw >>> 1) ^ -(raw & 1);
  }

  /**
   * Steps over a zigzag varlong (at most 10 bytes, the tenth carrying only the 64th bit) without
   * computing it: the produce-path validator never needs a timestamp delta's value.
   */
  skipVarlong(): void {
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) {
        this.fail();
        return;
      }
      const b = buf[pos++];
      if ((b & 0x80) === 0) {
        if (i === 9 && b > 0x01) this.fail();
        else this.pos = pos;
        return;
      }
    }
    this.fail();
  }

  /**
   * A zigzag varlong as a bigint. Short encodings (the common case: timestamp deltas) are
   * accumulated as doubles, exact below 2^53; only longer ones pay for BigInt arithmetic.
   */
  readVarlong(): bigint {
    const buf = this.buf;
    let pos = this.pos;
    let raw = 0;
    let shift = 0;
    let i = 0;
    for (; i < 7; i++) {
      if (pos >= this.end) return BigInt(this.fail());
      const b = buf[pos++];
      raw += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) {
        this.pos = pos;
        // raw < 2^49 here, so zigzag-decoding in doubles is exact.
        return BigInt(raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2);
      }
    }
    let big = BigInt(raw);
    for (; i < 10; i++) {
      if (pos >= this.end) break;
      const b = buf[pos++];
      if (i === 9 && b > 0x01) break;
      big |= BigInt(b & 0x7f) << BigInt(shift);
      shift += 7;
      if ((b & 0x80) === 0) {
        this.pos = pos;
        return BigInt.asIntN(64, (big >> 1n) ^ -(big & 1n));
      }
    }
    return BigInt(this.fail());
  }
}

/** Bytes `writeVarint` uses for `value` (a signed 32-bit integer). */
export function sizeOfVarint(value: number): number {
  let raw = ((value << 1) ^ (value >> 31)) >>> 0;
  let n = 1;
  while (raw >= 0x80) {
    raw >>>= 7;
    n++;
  }
  return n;
}

/** Writes a signed 32-bit integer as a zigzag varint at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  let raw = ((value << 1) ^ (value >> 31)) >>> 0;
  while (raw >= 0x80) {
    buf[pos++] = (raw & 0x7f) | 0x80;
    raw >>>= 7;
  }
  buf[pos++] = raw;
  return pos;
}

function zigzag64(value: bigint): bigint {
  return BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
}

/** Bytes `writeVarlong` uses for `value` (a signed 64-bit integer). */
export function sizeOfVarlong(value: bigint): number {
  let raw = zigzag64(value);
  let n = 1;
  while (raw >= 0x80n) {
    raw >>= 7n;
    n++;
  }
  return n;
}

/** Writes a signed 64-bit integer as a zigzag varlong at `pos`; returns the position after it. */
export function writeVarlong(buf: Uint8Array, pos: number, value: bigint): number {
  let raw = zigzag64(value);
  while (raw >= 0x80n) {
    buf[pos++] = Number(raw & 0x7fn) | 0x80;
    raw >>= 7n;
  }
  buf[pos++] = Number(raw);
  return pos;
}
