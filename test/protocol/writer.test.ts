import fc from 'fast-check';
import { Writer, BY_REFERENCE_BYTES, ZERO_UUID, randomUuid } from '../../core/protocol/writer';
import { Reader } from '../../core/protocol/reader';
import { isStrataError } from '../../core/common/errors';

describe('Writer', () => {
  it('writes big-endian fixed-width values', () => {
    const w = new Writer();
    w.writeInt8(-1);
    w.writeInt16(0x1234);
    w.writeInt32(-2);
    w.writeInt64(0x0102030405060708n);
    w.writeBool(true);
    expect(w.length).toBe(16);
    expect(w.toBuffer().toString('hex')).toBe('ff' + '1234' + 'fffffffe' + '0102030405060708' + '01');
  });

  it('keeps earlier bytes intact while its scratch buffer grows', () => {
    const w = new Writer(1); // smallest scratch: forces many growths
    const expected: number[] = [];
    for (let i = 0; i < 5000; i++) {
      w.writeInt16(i);
      expected.push(i >> 8, i & 0xff);
    }
    expect(w.length).toBe(10_000);
    expect(w.toBuffer()).toEqual(Buffer.from(expected));
  });

  it('appends large byte fields by reference and copies small ones', () => {
    const big = Buffer.alloc(BY_REFERENCE_BYTES, 1);
    const small = Buffer.alloc(100, 2);
    const almost = Buffer.alloc(BY_REFERENCE_BYTES - 1, 3);
    const w = new Writer();
    w.writeInt32(7);
    w.writeBytes(big);
    w.writeBytes(small);
    w.writeInt8(9);
    expect(w.toChunks()).toHaveLength(3); // [int32, len], big, [len, small, int8]
    w.writeBytes(almost);
    const chunks = w.toChunks();
    expect(chunks.filter((c) => c === big)).toHaveLength(1);
    expect(chunks.some((c) => c === small || c === almost)).toBe(false);
    expect(w.length).toBe(4 + 4 + big.length + 4 + small.length + 1 + 4 + almost.length);
    const r = new Reader(Buffer.concat(chunks));
    expect(r.int32()).toBe(7);
    expect(r.bytes()).toEqual(big);
    expect(r.bytes()).toEqual(small);
    expect(r.int8()).toBe(9);
    expect(r.bytes()).toEqual(almost);
  });

  it('writes records given as several chunks with one length prefix', () => {
    const a = Buffer.alloc(5000, 3);
    const b = Buffer.from([4, 5]);
    for (const compact of [false, true]) {
      const w = new Writer();
      w.writeRecords([a, b], compact);
      w.writeRecords(null, compact);
      w.writeRecords(b, compact);
      const chunks = w.toChunks();
      expect(chunks.some((c) => c === a)).toBe(true);
      const r = new Reader(Buffer.concat(chunks));
      expect(r.records(compact)).toEqual(Buffer.concat([a, b]));
      expect(r.records(compact)).toBeNull();
      expect(r.records(compact)).toEqual(b);
      expect(r.remaining).toBe(0);
    }
  });

  it('can keep writing after toChunks without disturbing what was returned', () => {
    const w = new Writer();
    w.writeInt32(1);
    const first = w.toChunks();
    w.writeInt32(2);
    expect(Buffer.concat(first)).toEqual(Buffer.from([0, 0, 0, 1]));
    expect(w.toBuffer()).toEqual(Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]));
  });

  it('appends another writer (tagged fields) with its size', () => {
    const body = new Writer();
    body.writeInt32(5);
    const w = new Writer();
    w.writeUVarint(1);
    w.writeTaggedField(3, body);
    expect(w.toBuffer()).toEqual(Buffer.from([1, 3, 4, 0, 0, 0, 5]));
    const r = new Reader(w.toBuffer());
    r.taggedFields((tag, fr) => {
      expect(tag).toBe(3);
      expect(fr.int32()).toBe(5);
    });
    expect(r.remaining).toBe(0);
  });

  it('encodes array lengths, with -1 as null', () => {
    const w = new Writer();
    w.writeArrayLength(2);
    w.writeArrayLength(-1);
    w.writeCompactArrayLength(2);
    w.writeCompactArrayLength(-1);
    w.writeEmptyTaggedFields();
    expect(w.toBuffer().toString('hex')).toBe('00000002' + 'ffffffff' + '03' + '00' + '00');
  });

  it('rejects values it cannot encode with PROTOCOL_ENCODE', () => {
    const w = new Writer();
    expect(() => w.writeString('x'.repeat(0x8000))).toThrow(/int16 length limit/);
    for (const bad of ['', 'not-a-uuid', 'AAAAAAAAAAAAAAAAAAAAA', '!!!!!!!!!!!!!!!!!!!!!!']) {
      try {
        w.writeUuid(bad);
        throw new Error(`accepted ${bad}`);
      } catch (e) {
        expect(isStrataError(e, 'PROTOCOL_ENCODE')).toBe(true);
      }
    }
    expect(w.length).toBe(0); // nothing half-written
  });

  it('re-exports the uuid helpers', () => {
    expect(ZERO_UUID).toBe('AAAAAAAAAAAAAAAAAAAAAA');
    expect(randomUuid()).toHaveLength(22);
  });

  it('produces the same bytes whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 9000 }), fc.string({ maxLength: 10 })), { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), (ops, cap) => {
        const w = new Writer(cap);
        const expected: Buffer[] = [];
        for (const op of ops) {
          if (typeof op === 'string') {
            w.writeCompactString(op);
            const s = Buffer.from(op);
            expected.push(Buffer.from([s.length + 1]), s);
          } else {
            const b = Buffer.alloc(op, op & 0xff);
            w.writeBytes(b);
            const len = Buffer.alloc(4);
            len.writeInt32BE(op);
            expected.push(len, b);
          }
        }
        const want = Buffer.concat(expected);
        expect(w.length).toBe(want.length);
        expect(w.toBuffer().equals(want)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});
