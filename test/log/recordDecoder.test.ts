import fc from 'fast-check';
import { isStrataError, StrataError } from '../../core/common/errors';
import { CODEC_NAMES } from '../../core/log/codecs';
import { setLogAppendTime } from '../../core/log/recordBatch';
import { buildRecordBatch, RecordInput } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatch, decodeRecordBatches } from '../../core/log/recordDecoder';
import { batch, fixCrc } from './helpers';
import { kafkajsEncode } from './kafkajsInterop';

function thrown(fn: () => unknown): StrataError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StrataError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('decodeRecordBatches', () => {
  it('decodes batches encoded by kafkajs, plain and gzip', async () => {
    for (const gzip of [false, true]) {
      const b = await kafkajsEncode(
        [
          { key: Buffer.from('a'), value: Buffer.from('one'), headers: { h1: 'v1' }, timestampDelta: 0 },
          { key: null, value: Buffer.from('two'), timestampDelta: 7 },
          { key: Buffer.from('c'), value: null, timestampDelta: 3 },
        ],
        { firstOffset: 1000n, firstTimestamp: 1_650_000_000_000, gzip },
      );
      const [d] = decodeRecordBatches(b);
      expect(d.compression).toBe(gzip ? 'gzip' : 'none');
      expect(d.baseOffset).toBe(1000n);
      expect(d.lastOffset).toBe(1002n);
      expect(d.maxTimestamp).toBe(1_650_000_000_007n);
      expect(d.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
        [1000n, 1_650_000_000_000n, 'a', 'one'],
        [1001n, 1_650_000_000_007n, null, 'two'],
        [1002n, 1_650_000_000_003n, 'c', null],
      ]);
      expect(d.records[0].headers).toEqual([{ key: 'h1', value: Buffer.from('v1') }]);
    }
  });

  it('round-trips arbitrary records through the builder', () => {
    const bytes = fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { nil: null });
    const record = fc.record({
      key: bytes,
      value: bytes,
      headers: fc.array(fc.record({ key: fc.string({ maxLength: 10 }), value: bytes }), { maxLength: 3 }),
      timestamp: fc.bigInt({ min: 0n, max: 2n ** 50n }),
    });
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 8 }), fc.boolean(), fc.bigInt({ min: 0n, max: 2n ** 62n }), (recs, gzip, base) => {
        const b = buildRecordBatch({ records: recs as RecordInput[], compression: gzip ? 'gzip' : 'none', baseOffset: base });
        const [d] = decodeRecordBatches(b);
        expect(d.records).toEqual(recs.map((r, i) => ({ ...r, offset: base + BigInt(i) })));
      }),
      { numRuns: 200 },
    );
  });

  it('stops at a partial trailing batch', () => {
    const a = batch({ count: 2, label: 'a' });
    const b = batch({ count: 2, label: 'b' });
    for (const cut of [1, 11, 12, 30, b.length - 1]) {
      const out = decodeRecordBatches(Buffer.concat([a, b.subarray(0, cut)]));
      expect(out.length).toBe(1);
      expect(out[0].records[1].value!.toString()).toBe('a-1');
    }
    expect(decodeRecordBatches(b.subarray(0, 20))).toEqual([]);
  });

  it('checks CRCs unless told not to', () => {
    const b = batch({ count: 2 });
    b[b.length - 2] ^= 0x20; // a character of the last value
    expect(thrown(() => decodeRecordBatches(b)).code).toBe('BATCH_CORRUPT');
    expect(decodeRecordBatches(b, { verifyCrc: false }).length).toBe(1);
  });

  it('refuses old formats and malformed records', () => {
    const old = batch();
    old.writeInt8(1, 16);
    expect(thrown(() => decodeRecordBatches(old)).code).toBe('BATCH_FORMAT_UNSUPPORTED');
    const bad = batch({ count: 2 });
    bad.writeInt32BE(bad.readInt32BE(57) + 1, 57);
    expect(thrown(() => decodeRecordBatches(fixCrc(bad))).code).toBe('BATCH_CORRUPT');
    const neg = batch();
    neg.writeInt32BE(10, 8);
    expect(thrown(() => decodeRecordBatches(neg)).code).toBe('BATCH_CORRUPT');
  });

  it('decodes every codec, and uses a supplied decompressor instead of the built-in one', () => {
    const records: RecordInput[] = [
      { key: Buffer.from('k'), value: Buffer.from('v'.repeat(1000)), headers: [{ key: 'h', value: Buffer.from('x') }] },
      { key: null, value: null },
    ];
    for (const compression of CODEC_NAMES) {
      const [d] = decodeRecordBatches(buildRecordBatch({ records, compression }));
      expect(d.compression).toBe(compression);
      expect(d.records.map((r) => [r.key?.toString() ?? null, r.value?.length ?? null, r.headers.length])).toEqual([
        ['k', 1000, 1],
        [null, null, 0],
      ]);
    }
    const identity = (x: Buffer): Buffer => x;
    const b = buildRecordBatch({ records: [{ key: null, value: Buffer.from('snappy?') }], compression: 'snappy', compressors: { snappy: identity } });
    expect(thrown(() => decodeRecordBatches(b)).code).toBe('BATCH_CORRUPT'); // not xerial, not a raw block
    expect(decodeRecordBatches(b, { decompressors: { snappy: identity } })[0].records[0].value!.toString()).toBe('snappy?');
  });

  it('bounds inflation and refuses damaged data, in every codec', () => {
    for (const compression of CODEC_NAMES) {
      const b = buildRecordBatch({ records: [{ key: null, value: Buffer.alloc(100_000) }], compression });
      expect(b.length).toBeLessThan(6000);
      expect(thrown(() => decodeRecordBatches(b, { maxDecompressedBytes: 10_000 }))).toMatchObject({ code: 'BATCH_CORRUPT', message: expect.stringMatching(/inflate to more than 10000 bytes/) });
      expect(decodeRecordBatches(b)[0].records[0].value!.length).toBe(100_000);
      // Garbage where the compressed stream should be.
      const g = buildRecordBatch({ records: [{ key: null, value: Buffer.from('x') }], compression });
      g.fill(0x11, 61);
      expect(thrown(() => decodeRecordBatches(fixCrc(g))).code).toBe('BATCH_CORRUPT');
    }
  });

  it('gives LogAppendTime batches the batch timestamp on every record', () => {
    const b = batch({ count: 3, timestamp: 10n });
    setLogAppendTime(b, 0, 99n);
    const d = decodeRecordBatch(b);
    expect(d.timestampType).toBe('LogAppendTime');
    expect(d.records.map((r) => r.timestamp)).toEqual([99n, 99n, 99n]);
  });

  it('never throws anything but StrataError on mutated input', () => {
    const base = Buffer.concat([batch({ count: 3 }), ...CODEC_NAMES.map((compression) => batch({ count: 2, compression }))]);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
        const b = Buffer.from(base);
        for (const [p, v] of edits) b[p] = v;
        try {
          decodeRecordBatches(b, { verifyCrc: false });
        } catch (e) {
          expect(isStrataError(e)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
