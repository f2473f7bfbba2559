import fc from 'fast-check';
import { ErrorCode } from '../../core/protocol/errorCodes';
import {
  BatchInfo,
  MAX_TIMESTAMP_OFFSET,
  ValidationResult,
  setLogAppendTime,
  stampBatch,
  validateRecords,
  validationError,
} from '../../core/log/recordBatch';
import { toKafkaErrorCode } from '../../core/common/errors';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { batch, fixCrc, recordsOf } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const KafkajsRecordBatch = require('kafkajs/src/protocol/recordBatch/v0').RecordBatch;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const KafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const KafkajsLong = require('kafkajs/src/utils/long');

const OPTS = { maxMessageBytes: 1_000_000 };

function expectReject(r: ValidationResult, code: number): string {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error('unreachable');
  expect(r.errorCode).toBe(code);
  expect(r.message.length).toBeGreaterThan(0);
  return r.message;
}

function accepted(r: ValidationResult): BatchInfo[] {
  if (!r.ok) throw new Error(`rejected: ${r.message}`);
  return r.batches;
}

/** Position of record `i`'s first byte in an uncompressed batch of small records. */
function recordPosition(buf: Buffer, i: number): number {
  let p = 61;
  for (let k = 0; k < i; k++) p += 1 + buf[p] / 2; // one-byte zigzag length for short records
  return p;
}

describe('validateRecords', () => {
  it('accepts a batch and describes it', () => {
    const b = buildRecordBatch({ records: recordsOf({ count: 3, timestamp: 1000n }), producerId: 7n, producerEpoch: 2, baseSequence: 10 });
    const [info] = accepted(validateRecords(b, OPTS));
    expect(info).toEqual({
      position: 0,
      size: b.length,
      lastOffsetDelta: 2,
      recordCount: 3,
      baseTimestamp: 1000n,
      maxTimestamp: 1002n,
      attributes: 0,
      producerId: 7n,
      producerEpoch: 2,
      baseSequence: 10,
      isTransactional: false,
      isControl: false,
      compression: 'none',
      timestampType: 'CreateTime',
      recordsMaxTimestamp: 1002n,
    });
  });

  it("computes the records' largest timestamp of an uncompressed batch, whatever the header says", () => {
    // librdkafka with timestamp -1: records of no timestamp under a header claiming 0.
    const b = buildRecordBatch({ records: recordsOf({ count: 3, timestamp: -1n }).map((r) => ({ ...r, timestamp: -1n })) });
    fixCrc(b.fill(0, MAX_TIMESTAMP_OFFSET, MAX_TIMESTAMP_OFFSET + 8));
    const [info] = accepted(validateRecords(b, OPTS));
    expect(info.maxTimestamp).toBe(0n);
    expect(info.recordsMaxTimestamp).toBe(-1n);
    const mixed = buildRecordBatch({ records: [{ key: null, value: Buffer.from('a'), timestamp: 5000n }, { key: null, value: Buffer.from('b'), timestamp: 7000n }, { key: null, value: Buffer.from('c'), timestamp: 6000n }] });
    expect(accepted(validateRecords(mixed, OPTS))[0].recordsMaxTimestamp).toBe(7000n);
  });

  it('accepts a batch encoded by kafkajs (an independent encoder)', async () => {
    const records = [0, 1, 2].map((i) =>
      KafkajsRecord({ offsetDelta: i, timestampDelta: i * 5, key: Buffer.from(`k${i}`), value: Buffer.from(`value ${i}`), headers: { a: 'b' } }),
    );
    const enc = await KafkajsRecordBatch({
      firstOffset: KafkajsLong.fromInt(0),
      firstTimestamp: 1_600_000_000_000,
      maxTimestamp: 1_600_000_000_010,
      lastOffsetDelta: 2,
      producerId: KafkajsLong.fromInt(-1),
      producerEpoch: 0,
      firstSequence: 0,
      records,
    });
    const [info] = accepted(validateRecords(enc.buffer, OPTS));
    expect(info.recordCount).toBe(3);
    expect(info.maxTimestamp).toBe(1_600_000_000_010n);
  });

  it('accepts several concatenated batches, each described at its position', () => {
    const a = batch({ count: 2 });
    const b = batch({ count: 5, compression: 'gzip' });
    const c = batch({ count: 1 });
    const infos = accepted(validateRecords(Buffer.concat([a, b, c]), OPTS));
    expect(infos.map((i) => [i.position, i.size, i.recordCount, i.compression])).toEqual([
      [0, a.length, 2, 'none'],
      [a.length, b.length, 5, 'gzip'],
      [a.length + b.length, c.length, 1, 'none'],
    ]);
  });

  it('ignores baseOffset and partitionLeaderEpoch (not covered by the CRC)', () => {
    const b = batch({ count: 2 });
    b.writeBigInt64BE(123456n, 0);
    b.writeInt32BE(-77, 12);
    expect(validateRecords(b, OPTS).ok).toBe(true);
  });

  it('rejects an empty records field', () => {
    expectReject(validateRecords(Buffer.alloc(0), OPTS), ErrorCode.CORRUPT_MESSAGE);
  });

  it('rejects a bad CRC', () => {
    const b = batch({ count: 3 });
    b[b.length - 2] ^= 0x01;
    expect(expectReject(validateRecords(b, OPTS), ErrorCode.CORRUPT_MESSAGE)).toMatch(/CRC/);
    const c = batch({ count: 3 });
    c.writeUInt32BE((c.readUInt32BE(17) + 1) >>> 0, 17);
    expectReject(validateRecords(c, OPTS), ErrorCode.CORRUPT_MESSAGE);
  });

  it('rejects old message formats and unknown magics', () => {
    for (const magic of [0, 1]) {
      const b = batch();
      b.writeInt8(magic, 16);
      expect(expectReject(validateRecords(b, OPTS), ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT)).toMatch(`v${magic}`);
    }
    for (const magic of [3, -1, 127]) {
      const b = batch();
      b.writeInt8(magic, 16);
      expectReject(validateRecords(b, OPTS), ErrorCode.CORRUPT_MESSAGE);
    }
    // A short v1 message (less than a v2 header) still gets the format error.
    const v1 = Buffer.alloc(34);
    v1.writeInt32BE(22, 8);
    v1.writeInt8(1, 16);
    expectReject(validateRecords(v1, OPTS), ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
  });

  it('rejects truncated input', () => {
    const b = batch({ count: 3 });
    for (const len of [1, 11, 16, 17, 40, 60, 61, b.length - 1]) {
      expectReject(validateRecords(b.subarray(0, len), OPTS), ErrorCode.CORRUPT_MESSAGE);
    }
    // A whole batch followed by a partial one.
    expectReject(validateRecords(Buffer.concat([b, b.subarray(0, 30)]), OPTS), ErrorCode.CORRUPT_MESSAGE);
  });

  it('rejects a lying batchLength', () => {
    for (const len of [0x7fffffff, -1, -0x80000000, 0, 48]) {
      const b = batch({ count: 2 });
      b.writeInt32BE(len, 8);
      expectReject(validateRecords(b, OPTS), ErrorCode.CORRUPT_MESSAGE);
    }
    // Shorter than the records, with the CRC recomputed over the shortened range: the records
    // no longer fit, and the leftover byte is a truncated batch.
    const b = batch({ count: 2 });
    b.writeInt32BE(b.readInt32BE(8) - 1, 8);
    fixCrc(b);
    expect(validateRecords(b, OPTS).ok).toBe(false);
  });

  it('rejects a record count that disagrees with the records', () => {
    const more = batch({ count: 3 });
    more.writeInt32BE(4, 57);
    more.writeInt32BE(3, 23);
    expect(expectReject(validateRecords(fixCrc(more), OPTS), ErrorCode.INVALID_RECORD)).toMatch(/after 3 of 4/);
    const fewer = batch({ count: 3 });
    fewer.writeInt32BE(2, 57);
    fewer.writeInt32BE(1, 23);
    expect(expectReject(validateRecords(fixCrc(fewer), OPTS), ErrorCode.INVALID_RECORD)).toMatch(/follow the last/);
  });

  it('rejects lastOffsetDelta != recordsCount - 1 and empty batches', () => {
    const b = batch({ count: 3 });
    b.writeInt32BE(5, 23);
    expectReject(validateRecords(fixCrc(b), OPTS), ErrorCode.INVALID_RECORD);
    const z = batch({ count: 1 });
    z.writeInt32BE(0, 57);
    z.writeInt32BE(-1, 23);
    expectReject(validateRecords(fixCrc(z), OPTS), ErrorCode.INVALID_RECORD);
  });

  it('rejects offset deltas out of order', () => {
    const b = batch({ count: 3 });
    const r1 = recordPosition(b, 1);
    expect(b[r1 + 3]).toBe(2); // zigzag(1)
    b[r1 + 3] = 10; // offsetDelta 5
    expect(expectReject(validateRecords(fixCrc(b), OPTS), ErrorCode.INVALID_RECORD)).toMatch(/offsetDelta 5, expected 1/);
  });

  it('rejects a record length that does not frame the record', () => {
    const b = batch({ count: 3 });
    const r1 = recordPosition(b, 1);
    b[r1] += 2; // claims one byte more than it has
    expectReject(validateRecords(fixCrc(b), OPTS), ErrorCode.INVALID_RECORD);
    const c = batch({ count: 3 });
    c[recordPosition(c, 2)] = 0x7f; // negative length
    expectReject(validateRecords(fixCrc(c), OPTS), ErrorCode.INVALID_RECORD);
  });

  it('rejects a batch larger than max.message.bytes', () => {
    const b = batch({ count: 4, valueSize: 100 });
    expect(validateRecords(b, { maxMessageBytes: b.length }).ok).toBe(true);
    expect(expectReject(validateRecords(b, { maxMessageBytes: b.length - 1 }), ErrorCode.MESSAGE_TOO_LARGE)).toMatch(/max.message.bytes/);
  });

  it('refuses control batches from clients unless allowed', () => {
    const b = buildRecordBatch({ records: recordsOf({ count: 1 }), isControl: true, isTransactional: true, producerId: 1n, producerEpoch: 0, baseSequence: 0 });
    expectReject(validateRecords(b, OPTS), ErrorCode.INVALID_RECORD);
    const [info] = accepted(validateRecords(b, { ...OPTS, allowControlBatches: true }));
    expect(info.isControl).toBe(true);
    expect(info.isTransactional).toBe(true);
  });

  it('requires a producer id on transactional and control batches, and an epoch with a producer id', () => {
    const txnNoPid = buildRecordBatch({ records: recordsOf({ count: 1 }), isTransactional: true });
    expect(expectReject(validateRecords(txnNoPid, OPTS), ErrorCode.INVALID_RECORD)).toMatch(/transactional batch needs a producer id/);
    const controlNoPid = buildRecordBatch({ records: recordsOf({ count: 1 }), isControl: true });
    expect(expectReject(validateRecords(controlNoPid, { ...OPTS, allowControlBatches: true }), ErrorCode.INVALID_RECORD)).toMatch(/control batch needs a producer id/);
    const noEpoch = buildRecordBatch({ records: recordsOf({ count: 1 }), producerId: 5n, producerEpoch: -1, baseSequence: 0 });
    expect(expectReject(validateRecords(noEpoch, OPTS), ErrorCode.INVALID_RECORD)).toMatch(/invalid producerEpoch -1/);
  });

  it('requires a sequence number when a producer id is set', () => {
    const b = buildRecordBatch({ records: recordsOf(), producerId: 5n, producerEpoch: 0, baseSequence: -1 });
    expectReject(validateRecords(b, OPTS), ErrorCode.INVALID_RECORD);
  });

  it('checks compressed batches at the header level only', () => {
    const g = batch({ count: 3, compression: 'gzip' });
    expect(accepted(validateRecords(g, OPTS))[0].compression).toBe('gzip');
    // Garbage in place of the gzip stream, with a correct CRC: accepted (documented).
    g.fill(0xab, 61);
    expect(validateRecords(fixCrc(g), OPTS).ok).toBe(true);
    // Header inconsistency is still caught.
    const h = batch({ count: 3, compression: 'gzip' });
    h.writeInt32BE(7, 23);
    expectReject(validateRecords(fixCrc(h), OPTS), ErrorCode.INVALID_RECORD);
  });

  it('rejects an unknown compression codec', () => {
    const b = batch();
    b.writeInt16BE(5, 21);
    expectReject(validateRecords(fixCrc(b), OPTS), ErrorCode.CORRUPT_MESSAGE);
  });

  describe('never throws on mutated input', () => {
    const base = Buffer.concat([batch({ count: 4, label: 'alpha' }), batch({ count: 2, compression: 'gzip' })]);

    function checkOutcome(input: Buffer): void {
      let r: ValidationResult | undefined;
      expect(() => {
        r = validateRecords(input, OPTS);
      }).not.toThrow();
      if (r!.ok) {
        // Whatever is accepted frames whole batches, and uncompressed ones decode exactly
        // (compressed payloads are not inspected by design).
        const infos = r!.batches;
        const last = infos[infos.length - 1];
        expect(last.position + last.size).toBe(input.length);
        for (const info of infos) {
          if (info.compression !== 'none') continue;
          const [d] = decodeRecordBatches(input.subarray(info.position, info.position + info.size));
          expect(d.records.length).toBe(info.recordCount);
        }
      } else {
        expect(Object.values(ErrorCode)).toContain(r!.errorCode);
      }
    }

    it('byte edits, truncations and extensions', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          fc.option(fc.nat(base.length)),
          fc.uint8Array({ maxLength: 8 }),
          (edits, cut, tail) => {
            let b = Buffer.from(base);
            for (const [pos, val] of edits) b[pos] = val;
            if (cut !== null) b = b.subarray(0, cut);
            checkOutcome(Buffer.concat([b, Buffer.from(tail)]));
          },
        ),
        { numRuns: 400 },
      );
    });

    it('byte edits with the CRC recomputed, so the record walk itself is exercised', () => {
      const one = batch({ count: 5, label: 'beta' });
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.integer({ min: 21, max: one.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), (edits) => {
          const b = Buffer.from(one);
          for (const [pos, val] of edits) b[pos] = val;
          // The length field is not CRC-covered; keep it so the CRC range is the batch.
          checkOutcome(fixCrc(b));
        }),
        { numRuns: 600 },
      );
    });
  });
});

describe('validateRecords with offsetGaps (a follower copying a compacted batch, a mirror keeping source offsets)', () => {
  const gapped = () => buildRecordBatch({ records: [0, 3, 7].map((d) => ({ key: Buffer.from(`k${d}`), value: null, offsetDelta: d })) });

  it('a producer may not leave gaps; a copied batch may', () => {
    expect(expectReject(validateRecords(gapped(), OPTS), ErrorCode.INVALID_RECORD)).toMatch(/lastOffsetDelta 7 does not match recordsCount 3/);
    const [info] = accepted(validateRecords(gapped(), { ...OPTS, offsetGaps: true }));
    expect(info).toMatchObject({ lastOffsetDelta: 7, recordCount: 3 });
  });

  it('refuses deltas that do not rise or pass lastOffsetDelta', () => {
    const b = gapped();
    // lastOffsetDelta 7 → 5: the last record's delta 7 now lies past it.
    b.writeInt32BE(5, 23);
    expect(expectReject(validateRecords(fixCrc(b), { ...OPTS, offsetGaps: true }), ErrorCode.INVALID_RECORD)).toMatch(/offsetDelta 7, expected above 3 and at most lastOffsetDelta 5/);
    expect(() => buildRecordBatch({ records: [2, 2].map((d) => ({ key: null, value: null, offsetDelta: d })) })).toThrow(/does not rise/);
  });
});

describe('validationError', () => {
  it('maps each rejection to a StrataError that maps back to the same Kafka code', () => {
    for (const code of [ErrorCode.CORRUPT_MESSAGE, ErrorCode.INVALID_RECORD, ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT]) {
      const e = validationError({ ok: false, errorCode: code, message: 'why' });
      expect(e.message).toBe('why');
      expect(toKafkaErrorCode(e)).toBe(code);
    }
  });
});

describe('stampBatch and setLogAppendTime', () => {
  it('stamps baseOffset and leader epoch without invalidating the CRC', () => {
    const two = Buffer.concat([batch({ count: 2 }), batch({ count: 3 })]);
    const infos = accepted(validateRecords(two, OPTS));
    stampBatch(two, infos[0].position, 100n, 7);
    stampBatch(two, infos[1].position, 102n, 7);
    expect(validateRecords(two, OPTS).ok).toBe(true);
    const decoded = decodeRecordBatches(two);
    expect(decoded.map((d) => [d.baseOffset, d.partitionLeaderEpoch])).toEqual([
      [100n, 7],
      [102n, 7],
    ]);
    expect(decoded.flatMap((d) => d.records.map((r) => r.offset))).toEqual([100n, 101n, 102n, 103n, 104n]);
  });

  it('sets LogAppendTime and maxTimestamp and recomputes the CRC', () => {
    const b = batch({ count: 3, timestamp: 5n });
    setLogAppendTime(b, 0, 1_234_567n);
    const [info] = accepted(validateRecords(b, OPTS));
    expect(info.timestampType).toBe('LogAppendTime');
    expect(info.maxTimestamp).toBe(1_234_567n);
    expect(info.baseTimestamp).toBe(5n);
    const [d] = decodeRecordBatches(b);
    expect(d.records.map((r) => r.timestamp)).toEqual([1_234_567n, 1_234_567n, 1_234_567n]);
  });
});
