import fc from 'fast-check';
import { ByteCursor, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../../core/log/varint';

// kafkajs's encoder is an independent implementation of the same encoding: agreeing with it
// shows more than a round trip through our own writer and reader would.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const KafkajsEncoder = require('kafkajs/src/protocol/encoder');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const KafkajsLong = require('kafkajs/src/utils/long');

function encodeVarint(v: number): Buffer {
  const buf = Buffer.alloc(5);
  return buf.subarray(0, writeVarint(buf, 0, v));
}

function encodeVarlong(v: bigint): Buffer {
  const buf = Buffer.alloc(10);
  return buf.subarray(0, writeVarlong(buf, 0, v));
}

describe('zigzag varints', () => {
  it('encodes known values byte for byte', () => {
    expect([...encodeVarint(0)]).toEqual([0x00]);
    expect([...encodeVarint(-1)]).toEqual([0x01]);
    expect([...encodeVarint(1)]).toEqual([0x02]);
    expect([...encodeVarint(63)]).toEqual([0x7e]);
    expect([...encodeVarint(-64)]).toEqual([0x7f]);
    expect([...encodeVarint(64)]).toEqual([0x80, 0x01]);
    expect([...encodeVarint(2147483647)]).toEqual([0xfe, 0xff, 0xff, 0xff, 0x0f]);
    expect([...encodeVarint(-2147483648)]).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect([...encodeVarlong(-9223372036854775808n)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('agrees with kafkajs on int32 values and sizes', () => {
    fc.assert(
      fc.property(fc.integer({ min: -2147483648, max: 2147483647 }), (v) => {
        const ours = encodeVarint(v);
        expect(ours).toEqual(new KafkajsEncoder().writeVarInt(v).buffer);
        expect(sizeOfVarint(v)).toBe(ours.length);
        const c = new ByteCursor(ours, 0, ours.length);
        expect(c.readVarint()).toBe(v);
        expect(c.ok && c.pos === ours.length).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with kafkajs on int64 values and sizes', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        const ours = encodeVarlong(v);
        expect(ours).toEqual(new KafkajsEncoder().writeVarLong(KafkajsLong.fromString(v.toString())).buffer);
        expect(sizeOfVarlong(v)).toBe(ours.length);
        const c = new ByteCursor(ours, 0, ours.length);
        expect(c.readVarlong()).toBe(v);
        expect(c.ok && c.pos === ours.length).toBe(true);
        const s = new ByteCursor(ours, 0, ours.length);
        s.skipVarlong();
        expect(s.ok && s.pos === ours.length).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('flags truncated and over-long encodings instead of throwing', () => {
    const cases: [number[], 'varint' | 'varlong'][] = [
      [[], 'varint'],
      [[0x80], 'varint'],
      [[0xff, 0xff, 0xff, 0xff, 0x1f], 'varint'], // fifth byte uses more than 4 bits
      [[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 'varint'], // six bytes
      [[0x80, 0x80], 'varlong'],
      [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], 'varlong'], // tenth byte > 1
      [[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 'varlong'], // eleven bytes
    ];
    for (const [bytes, kind] of cases) {
      const buf = Buffer.from(bytes);
      const c = new ByteCursor(buf, 0, buf.length);
      if (kind === 'varint') c.readVarint();
      else c.readVarlong();
      expect(c.ok).toBe(false);
      if (kind === 'varlong') {
        const s = new ByteCursor(buf, 0, buf.length);
        s.skipVarlong();
        expect(s.ok).toBe(false);
      }
    }
  });

  it('never reads past its end bound', () => {
    const buf = Buffer.from([0x80, 0x80, 0x01]);
    const c = new ByteCursor(buf, 0, 2); // the terminating byte is outside the window
    c.readVarint();
    expect(c.ok).toBe(false);
    const d = new ByteCursor(buf, 0, 2);
    d.skip(3);
    expect(d.ok).toBe(false);
    const e = new ByteCursor(buf, 0, 3);
    e.skip(-1);
    expect(e.ok).toBe(false);
  });
});
