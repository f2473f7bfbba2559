import fc from 'fast-check';
import { Reader, ProtocolDecodeError, ZERO_UUID, randomUuid } from '../../core/protocol/reader';
import { Writer } from '../../core/protocol/writer';
import { isStrataError, toKafkaErrorCode } from '../../core/common/errors';
import { ErrorCode } from '../../core/protocol/errorCodes';

function bytes(...b: number[]): Reader {
  return new Reader(Buffer.from(b));
}

function written(fn: (w: Writer) => void): Reader {
  const w = new Writer(16);
  fn(w);
  return new Reader(w.toBuffer());
}

describe('ProtocolDecodeError', () => {
  it('is a StrataError mapped to INVALID_REQUEST', () => {
    const e = new ProtocolDecodeError('x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ProtocolDecodeError');
    expect(isStrataError(e, 'PROTOCOL_MALFORMED')).toBe(true);
    expect(toKafkaErrorCode(e)).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe('Reader fixed-width values', () => {
  it('reads big-endian integers, floats and booleans', () => {
    const r = bytes(0xff, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, 2, 0);
    expect(r.int8()).toBe(-1);
    expect(r.int16()).toBe(-32768);
    expect(r.uint16()).toBe(0xffff);
    expect(r.int32()).toBe(-2);
    expect(r.int64()).toBe(-3n);
    expect(r.bool()).toBe(true); // any non-zero byte
    expect(r.bool()).toBe(false);
    expect(r.remaining).toBe(0);
  });

  it('throws ProtocolDecodeError when truncated and leaves the offset alone', () => {
    const r = bytes(1, 2, 3);
    expect(() => r.int32()).toThrow(ProtocolDecodeError);
    expect(r.offset).toBe(0);
    expect(r.int16()).toBe(0x0102);
    expect(() => r.int16()).toThrow(/truncated/);
  });

  it('honours offset and end bounds', () => {
    const buf = Buffer.from([9, 0, 7, 9]);
    const r = new Reader(buf, 1, 3);
    expect(r.remaining).toBe(2);
    expect(r.int16()).toBe(7);
    expect(() => r.int8()).toThrow(ProtocolDecodeError);
    expect(() => new Reader(buf, 3, 5)).toThrow(RangeError);
  });

  it('round-trips every fixed-width type', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -128, max: 127 }),
        fc.integer({ min: -32768, max: 32767 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer(),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.double(),
        fc.boolean(),
        (i8, i16, u16, i32, u32, i64, f64, b) => {
          const r = written((w) => {
            w.writeInt8(i8);
            w.writeInt16(i16);
            w.writeUInt16(u16);
            w.writeInt32(i32);
            w.writeUInt32(u32);
            w.writeInt64(i64);
            w.writeFloat64(f64);
            w.writeBool(b);
          });
          expect([r.int8(), r.int16(), r.uint16(), r.int32(), r.uint32(), r.int64(), r.float64(), r.bool()]).toEqual([
            i8, i16, u16, i32, u32, i64, f64, b,
          ]);
          expect(r.remaining).toBe(0);
        },
      ),
    );
  });
});

describe('Reader varints', () => {
  it('decodes known encodings', () => {
    expect(bytes(0).uvarint()).toBe(0);
    expect(bytes(0x7f).uvarint()).toBe(127);
    expect(bytes(0x80, 0x01).uvarint()).toBe(128);
    expect(bytes(0xff, 0xff, 0xff, 0xff, 0x0f).uvarint()).toBe(0xffffffff);
    expect(bytes(0x01).varint()).toBe(-1);
    expect(bytes(0x02).varint()).toBe(1);
    expect(bytes(0xfe, 0xff, 0xff, 0xff, 0x0f).varint()).toBe(2147483647);
    expect(bytes(0xff, 0xff, 0xff, 0xff, 0x0f).varint()).toBe(-2147483648);
    expect(bytes(0x01).varlong()).toBe(-1n);
    expect(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).varlong()).toBe(-(2n ** 63n));
    expect(bytes(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).varlong()).toBe(2n ** 63n - 1n);
  });

  it('accepts non-minimal encodings, as Kafka does', () => {
    expect(bytes(0x81, 0x80, 0x00).uvarint()).toBe(1);
  });

  it('rejects overlong, overflowing and truncated varints', () => {
    expect(() => bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x00).uvarint()).toThrow(/longer than 5/);
    expect(() => bytes(0xff, 0xff, 0xff, 0xff, 0x1f).uvarint()).toThrow(/overflows/);
    expect(() => bytes(0x80, 0x80).uvarint()).toThrow(/truncated varint/);
    expect(() => bytes().uvarint()).toThrow(ProtocolDecodeError);
    expect(() => bytes(...new Array(10).fill(0x80), 0).varlong()).toThrow(/longer than 10/);
    expect(() => bytes(0x80).varlong()).toThrow(ProtocolDecodeError);
  });

  it('round-trips uvarint, varint and varlong', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (u, i, l) => {
        const r = written((w) => {
          w.writeUVarint(u);
          w.writeVarint(i);
          w.writeVarlong(l);
        });
        expect(r.uvarint()).toBe(u);
        expect(r.varint()).toBe(i);
        expect(r.varlong()).toBe(l);
        expect(r.remaining).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes varints minimally (1 byte per 7 bits)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (l) => {
        const w = new Writer();
        w.writeVarlong(l);
        const zigzag = l >= 0n ? l * 2n : -l * 2n - 1n;
        expect(w.length).toBe(Math.max(1, Math.ceil(zigzag.toString(2).length / 7)));
      }),
    );
  });
});

describe('Reader strings and bytes', () => {
  it('round-trips classic and compact strings, nullable or not', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.option(fc.string({ unit: 'binary', maxLength: 20 })), (s, n) => {
        const r = written((w) => {
          w.writeString(s);
          w.writeNullableString(n);
          w.writeCompactString(s);
          w.writeCompactNullableString(n);
        });
        expect([r.string(), r.nullableString(), r.compactString(), r.compactNullableString()]).toEqual([s, n, s, n]);
        expect(r.remaining).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips bytes as views of the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.option(fc.uint8Array({ maxLength: 64 })), (a, b) => {
        const A = Buffer.from(a);
        const B = b === null ? null : Buffer.from(b);
        const w = new Writer();
        w.writeBytes(A);
        w.writeNullableBytes(B);
        w.writeCompactBytes(A);
        w.writeCompactNullableBytes(B);
        const input = w.toBuffer();
        const r = new Reader(input);
        const got = [r.bytes(), r.nullableBytes(), r.compactBytes(), r.compactNullableBytes()];
        expect(got).toEqual([A, B, A, B]);
        for (const g of got) if (g !== null) expect(g.buffer).toBe(input.buffer);
      }),
    );
  });

  it('distinguishes null from non-nullable and rejects bad lengths', () => {
    expect(bytes(0xff, 0xff).nullableString()).toBeNull();
    expect(() => bytes(0xff, 0xff).string()).toThrow(/non-nullable string was serialized as null/);
    expect(() => bytes(0xff, 0xfe).nullableString()).toThrow(/invalid string length -2/);
    expect(() => bytes(0x00).compactString()).toThrow(/serialized as null/);
    expect(bytes(0x00).compactNullableString()).toBeNull();
    expect(() => bytes(0, 5, 0x61).string()).toThrow(/truncated/);
    expect(() => bytes(0xff, 0xff, 0xff, 0xff).bytes()).toThrow(/serialized as null/);
    expect(bytes(0xff, 0xff, 0xff, 0xff).nullableBytes()).toBeNull();
    expect(() => bytes(0x80, 0, 0, 0).nullableBytes()).toThrow(/invalid bytes length/);
    expect(() => bytes(0x7f, 0xff, 0xff, 0xff, 1).bytes()).toThrow(/truncated/);
    expect(bytes(0, 0, 0, 1, 9).records(false)).toEqual(Buffer.from([9]));
    expect(bytes(0).records(true)).toBeNull();
  });

  it('decodes UTF-8', () => {
    const s = 'héllo \u{1F600}';
    const r = written((w) => w.writeCompactString(s));
    expect(r.compactString()).toBe(s);
  });
});

describe('uuids', () => {
  it("uses Kafka's textual form", () => {
    expect(ZERO_UUID).toHaveLength(22);
    expect(new Reader(Buffer.alloc(16)).uuid()).toBe(ZERO_UUID);
    const b = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    expect(new Reader(b).uuid()).toBe('ASNFZ4mrze8BI0VniavN7w');
  });

  it('round-trips random uuids, which are never zero and never start with a dash', () => {
    for (let i = 0; i < 200; i++) {
      const u = randomUuid();
      expect(u).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(u).not.toBe(ZERO_UUID);
      expect(written((w) => w.writeUuid(u)).uuid()).toBe(u);
    }
  });

  it('round-trips any 16 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const u = new Reader(Buffer.from(b)).uuid();
        const w = new Writer();
        w.writeUuid(u);
        expect(w.toBuffer()).toEqual(Buffer.from(b));
      }),
    );
  });
});

describe('Reader arrays', () => {
  it('reads classic and compact arrays, nullable or not', () => {
    const r = bytes(0, 0, 0, 2, 1, 2, 0xff, 0xff, 0xff, 0xff, 3, 7, 8, 0);
    expect(r.array((x) => x.int8())).toEqual([1, 2]);
    expect(r.nullableArray((x) => x.int8())).toBeNull();
    expect(r.compactArray((x) => x.int8())).toEqual([7, 8]);
    expect(r.compactNullableArray((x) => x.int8())).toBeNull();
    expect(r.remaining).toBe(0);
  });

  it('rejects counts larger than the bytes left, before allocating', () => {
    const huge = Buffer.alloc(14);
    huge.writeInt32BE(0x7fffffff, 0);
    let calls = 0;
    expect(() => new Reader(huge).array((x) => (calls++, x.int8()))).toThrow(/cannot fit/);
    expect(calls).toBe(0);
    expect(() => bytes(0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2).compactArray((x) => x.int8())).toThrow(/cannot fit/);
    expect(() => bytes(0xff, 0xff, 0xff, 0xfe).nullableArrayLength()).toThrow(/invalid array length/);
    expect(() => bytes(0xff, 0xff, 0xff, 0xff).arrayLength()).toThrow(/serialized as null/);
    expect(() => bytes(0).compactArrayLength()).toThrow(/serialized as null/);
  });
});

describe('Reader tagged fields', () => {
  it('hands each field a reader bounded to its bytes and skips the rest', () => {
    // 2 fields: tag 1 (size 2: int16 5), tag 300 (size 3: unknown)
    const r = bytes(2, 1, 2, 0, 5, 0xac, 0x02, 3, 9, 9, 9, 0x42);
    const seen: [number, number][] = [];
    r.taggedFields((tag, fr) => {
      seen.push([tag, fr.remaining]);
      if (tag === 1) {
        expect(fr.int16()).toBe(5);
        expect(() => fr.int8()).toThrow(ProtocolDecodeError); // cannot read past the field
      }
    });
    expect(seen).toEqual([
      [1, 2],
      [300, 3],
    ]);
    expect(r.int8()).toBe(0x42);
  });

  it('skips whole sections and fails on truncated ones', () => {
    const r = bytes(1, 7, 2, 0, 0, 0x42);
    r.skipTaggedFields();
    expect(r.int8()).toBe(0x42);
    expect(() => bytes(1, 7, 5, 0).skipTaggedFields()).toThrow(ProtocolDecodeError);
    // a huge field count runs out of bytes quickly instead of looping
    expect(() => bytes(0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0).skipTaggedFields()).toThrow(ProtocolDecodeError);
  });
});
