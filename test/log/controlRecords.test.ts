import { MAX_CONTROL_BATCH_BYTES, buildEndTxnMarker, readControlRecord } from '../../core/log/controlRecords';
import { emptyBatch, readStoredBatch } from '../../core/log/batchFilter';
import { validateRecords } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatch } from '../../core/log/recordDecoder';
import { fixCrc } from './helpers';
import { codeOf } from './helpers';

/** A control batch with an arbitrary key/value, as another Kafka component might write one. */
function controlBatch(key: Buffer | null, value: Buffer | null, compression?: 'gzip'): Buffer {
  return buildRecordBatch({ records: [{ key, value }], producerId: 3n, producerEpoch: 0, baseSequence: -1, isTransactional: true, isControl: true, compression });
}

function int16s(...vals: number[]): Buffer {
  const b = Buffer.alloc(vals.length * 2);
  vals.forEach((v, i) => b.writeInt16BE(v, i * 2));
  return b;
}

describe('end transaction markers', () => {
  const ts = 1_700_000_000_123n;

  it('are written as Kafka writes them: one control record in a transactional control batch', () => {
    const b = buildEndTxnMarker({ producerId: 42n, producerEpoch: 7, type: 'COMMIT', coordinatorEpoch: 5, timestamp: ts });
    expect(b.readInt16BE(21)).toBe(0x30); // attributes: TRANSACTIONAL | CONTROL, no compression
    const d = decodeRecordBatch(b);
    expect(d).toMatchObject({
      isControl: true,
      isTransactional: true,
      compression: 'none',
      producerId: 42n,
      producerEpoch: 7,
      baseSequence: -1,
      baseTimestamp: ts,
      maxTimestamp: ts,
      lastOffset: 0n,
    });
    expect(d.records).toHaveLength(1);
    expect(d.records[0].key).toEqual(int16s(0, 1)); // version 0, COMMIT = 1
    expect(d.records[0].value).toEqual(Buffer.from([0, 0, 0, 0, 0, 5])); // version 0, coordinatorEpoch 5
    expect(d.records[0].headers).toEqual([]);
    expect(d.records[0].timestamp).toBe(ts);
  });

  it('encode ABORT as type 0', () => {
    const d = decodeRecordBatch(buildEndTxnMarker({ producerId: 1n, producerEpoch: 0, type: 'ABORT', coordinatorEpoch: 0, timestamp: ts }));
    expect(d.records[0].key).toEqual(int16s(0, 0));
  });

  it('round-trip through readControlRecord', () => {
    for (const type of ['COMMIT', 'ABORT'] as const) {
      for (const coordinatorEpoch of [0, 1, 2 ** 31 - 1]) {
        const b = buildEndTxnMarker({ producerId: 9n, producerEpoch: 3, type, coordinatorEpoch, timestamp: ts });
        expect(readControlRecord(b)).toEqual({ type, coordinatorEpoch });
      }
    }
  });

  it('default their timestamp to now', () => {
    const before = BigInt(Date.now());
    const d = decodeRecordBatch(buildEndTxnMarker({ producerId: 1n, producerEpoch: 0, type: 'COMMIT', coordinatorEpoch: 0 }));
    expect(d.maxTimestamp).toBeGreaterThanOrEqual(before);
    expect(d.maxTimestamp).toBeLessThanOrEqual(BigInt(Date.now()));
  });

  it('pass validateRecords as a control batch except for the baseSequence rule, which Kafka applies to clients only', () => {
    const b = buildEndTxnMarker({ producerId: 42n, producerEpoch: 7, type: 'ABORT', coordinatorEpoch: 5, timestamp: ts });
    const clients = validateRecords(b, { maxMessageBytes: 1 << 20 });
    expect(clients.ok).toBe(false);
    // Passing batches with the same shape but baseSequence 0 shows nothing else is refused.
    const withSeq = Buffer.from(b);
    withSeq.writeInt32BE(0, 53);
    const v = validateRecords(fixCrc(withSeq), { maxMessageBytes: 1 << 20, allowControlBatches: true });
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.batches[0]).toMatchObject({ isControl: true, isTransactional: true, recordCount: 1, producerId: 42n });
  });

  // recordBatch.ts refuses any batch with a producer id and baseSequence < 0, while Kafka's
  // LogValidator applies that rule to client appends only (markers carry -1). Remove `.failing`
  // once validateRecords exempts control batches it was allowed to accept.
  it('pass validateRecords with allowControlBatches', () => {
    const b = buildEndTxnMarker({ producerId: 42n, producerEpoch: 7, type: 'ABORT', coordinatorEpoch: 5, timestamp: ts });
    expect(validateRecords(b, { maxMessageBytes: 1 << 20, allowControlBatches: true }).ok).toBe(true);
  });

  it('refuse a marker without a producer id', () => {
    expect(codeOf(() => buildEndTxnMarker({ producerId: -1n, producerEpoch: 0, type: 'COMMIT', coordinatorEpoch: 0 }))).toBe('BATCH_INVALID');
  });
});

describe('readControlRecord', () => {
  it('returns null for an empty control batch (what the cleaner leaves)', () => {
    const marker = buildEndTxnMarker({ producerId: 1n, producerEpoch: 0, type: 'COMMIT', coordinatorEpoch: 0, timestamp: 5n });
    const empty = emptyBatch(marker, readStoredBatch(marker));
    expect(readControlRecord(empty)).toBeNull();
  });

  it('tolerates control types it does not know (KRaft LEADER_CHANGE = 2) as UNKNOWN', () => {
    expect(readControlRecord(controlBatch(int16s(0, 2), Buffer.from('anything')))).toEqual({ type: 'UNKNOWN', coordinatorEpoch: -1 });
    expect(readControlRecord(controlBatch(int16s(0, -7), null))).toEqual({ type: 'UNKNOWN', coordinatorEpoch: -1 });
  });

  it('reads newer key and value versions as version 0 (fields are only ever added)', () => {
    const value = Buffer.from([0, 3, 0, 0, 0, 9, 0xaa, 0xbb]);
    expect(readControlRecord(controlBatch(Buffer.concat([int16s(4, 1), Buffer.from([1, 2])]), value))).toEqual({ type: 'COMMIT', coordinatorEpoch: 9 });
  });

  it('reads a gzip-compressed control batch', () => {
    expect(readControlRecord(controlBatch(int16s(0, 0), Buffer.from([0, 0, 0, 0, 0, 4]), 'gzip'))).toEqual({ type: 'ABORT', coordinatorEpoch: 4 });
  });

  it.each([
    ['a short key', int16s(0), Buffer.from([0, 0, 0, 0, 0, 1])],
    ['a null key', null, Buffer.from([0, 0, 0, 0, 0, 1])],
    ['a negative key version', int16s(-1, 1), Buffer.from([0, 0, 0, 0, 0, 1])],
    ['a short marker value', int16s(0, 1), Buffer.from([0, 0, 0, 0, 1])],
    ['a null marker value', int16s(0, 0), null],
    ['a negative value version', int16s(0, 1), Buffer.from([0xff, 0xff, 0, 0, 0, 1])],
  ])('refuses %s as BATCH_CORRUPT', (_what, key, value) => {
    expect(codeOf(() => readControlRecord(controlBatch(key, value)))).toBe('BATCH_CORRUPT');
  });

  it('checks the CRC and the batch length', () => {
    const b = buildEndTxnMarker({ producerId: 1n, producerEpoch: 0, type: 'COMMIT', coordinatorEpoch: 2, timestamp: 5n });
    const flipped = Buffer.from(b);
    flipped[flipped.length - 1] ^= 1;
    expect(codeOf(() => readControlRecord(flipped))).toBe('BATCH_CORRUPT');
    expect(codeOf(() => readControlRecord(b.subarray(0, b.length - 1)))).toBe('BATCH_CORRUPT');
    expect(codeOf(() => readControlRecord(Buffer.concat([b, Buffer.alloc(1)])))).toBe('BATCH_CORRUPT');
    expect(codeOf(() => readControlRecord(b.subarray(0, 30)))).toBe('BATCH_CORRUPT');
  });

  it('refuses anything larger than a control batch can be, before decoding', () => {
    const big = controlBatch(int16s(0, 1), Buffer.alloc(MAX_CONTROL_BATCH_BYTES));
    expect(big.length).toBeGreaterThan(MAX_CONTROL_BATCH_BYTES);
    expect(codeOf(() => readControlRecord(big))).toBe('BATCH_CORRUPT');
  });

  it('refuses a data batch', () => {
    const data = buildRecordBatch({ records: [{ key: int16s(0, 1), value: Buffer.from([0, 0, 0, 0, 0, 1]) }] });
    expect(codeOf(() => readControlRecord(data))).toBe('BATCH_INVALID');
  });
});
