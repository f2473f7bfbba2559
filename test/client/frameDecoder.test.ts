import fc from 'fast-check';
import { isStrataError } from '../../core/common/errors';
import { FrameDecoder } from '../../core/client/frameDecoder';

function frame(payload: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length, 0);
  return Buffer.concat([size, payload]);
}

describe('FrameDecoder', () => {
  it('returns whole frames in order however the stream is split', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map((p) => frame(Buffer.from(p))));
        const d = new FrameDecoder(1024);
        const out: Buffer[] = [];
        let pos = 0;
        for (let i = 0; pos < stream.length; i++) {
          const n = cuts[i % cuts.length];
          out.push(...d.push(stream.subarray(pos, pos + n)));
          pos += n;
        }
        expect(out.map((b) => [...b])).toEqual(payloads.map((p) => [...p]));
        expect(d.pendingBytes).toBe(0);
      }),
    );
  });

  it('keeps a partial frame until the rest arrives', () => {
    const d = new FrameDecoder(100);
    const f = frame(Buffer.from('hello'));
    expect(d.push(f.subarray(0, 2))).toEqual([]);
    expect(d.push(f.subarray(2, 6))).toEqual([]);
    expect(d.pendingBytes).toBe(2);
    expect(d.push(f.subarray(6)).map(String)).toEqual(['hello']);
  });

  it('handles empty frames and several frames in one chunk', () => {
    const d = new FrameDecoder(100);
    const frames = d.push(Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.from('a')), frame(Buffer.from('bc'))]));
    expect(frames.map(String)).toEqual(['', 'a', 'bc']);
  });

  it('rejects a size above the limit or negative before buffering anything', () => {
    const big = Buffer.alloc(4);
    big.writeInt32BE(101, 0);
    let err: unknown;
    try {
      new FrameDecoder(100).push(big);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'PROTOCOL_MALFORMED')).toBe(true);
    expect((err as Error).message).toBe('frame size 101 is outside 0..100');
    const negative = Buffer.from([0xff, 0xff, 0xff, 0xfe]);
    expect(() => new FrameDecoder(100).push(negative)).toThrow('frame size -2 is outside 0..100');
  });
});
