import { isStrataError } from '../../core/common/errors';
import { validateRecords } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { kafkajsDecode } from './kafkajsInterop';

describe('buildRecordBatch', () => {
  const records = [
    { key: Buffer.from('k0'), value: Buffer.from('hello'), headers: [{ key: 'trace', value: Buffer.from('abc') }], timestamp: 1_700_000_000_500n },
    { key: null, value: Buffer.from(''), headers: [], timestamp: 1_700_000_000_000n }, // earlier than the first: negative delta
    { key: Buffer.from('k2'), value: null, headers: [{ key: 'ünïcode', value: null }], timestamp: 1_700_000_009_999n },
  ];

  it('produces a batch that kafkajs decodes to the same records', async () => {
    const b = buildRecordBatch({ records, baseOffset: 40n });
    const d = await kafkajsDecode(b);
    expect(d.firstOffset).toBe('40');
    expect(d.maxTimestamp).toBe('1700000009999');
    expect(d.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
      ['40', '1700000000500', 'k0', 'hello'],
      ['41', '1700000000000', null, ''],
      ['42', '1700000009999', 'k2', null],
    ]);
    expect(d.records[0].headers.trace.toString()).toBe('abc');
    expect(d.records[2].headers['ünïcode']).toBeNull();
  });

  it('produces gzip batches kafkajs can inflate', async () => {
    const b = buildRecordBatch({ records, compression: 'gzip' });
    expect(b.readInt16BE(21) & 0x07).toBe(1);
    const d = await kafkajsDecode(b);
    expect(d.records.map((r) => r.value?.toString() ?? null)).toEqual(['hello', '', null]);
  });

  it('fills header fields and a valid CRC', () => {
    const b = buildRecordBatch({
      records,
      baseOffset: 9n,
      partitionLeaderEpoch: 3,
      producerId: 1234n,
      producerEpoch: 5,
      baseSequence: 17,
      isTransactional: true,
    });
    const v = validateRecords(b, { maxMessageBytes: 1 << 20 });
    if (!v.ok) throw new Error(v.message);
    expect(v.batches[0]).toMatchObject({
      recordCount: 3,
      lastOffsetDelta: 2,
      baseTimestamp: 1_700_000_000_500n,
      maxTimestamp: 1_700_000_009_999n,
      producerId: 1234n,
      producerEpoch: 5,
      baseSequence: 17,
      isTransactional: true,
    });
    expect(b.readBigInt64BE(0)).toBe(9n);
    expect(b.readInt32BE(12)).toBe(3);
  });

  it('uses `now` for records without a timestamp', () => {
    const b = buildRecordBatch({ records: [{ key: null, value: Buffer.from('x') }], now: 42n });
    expect(decodeRecordBatches(b)[0].records[0].timestamp).toBe(42n);
  });

  it('compresses with every codec, the codec id in the attributes', () => {
    for (const [compression, id] of [['gzip', 1], ['snappy', 2], ['lz4', 3], ['zstd', 4]] as const) {
      const b = buildRecordBatch({ records, compression, baseOffset: 7n });
      expect(validateRecords(b, { maxMessageBytes: 1 << 20 }).ok).toBe(true);
      expect(b.readInt16BE(21) & 0x07).toBe(id);
      const [d] = decodeRecordBatches(b);
      expect(d.records.map((r) => [r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
        [7n, 'k0', 'hello'],
        [8n, null, ''],
        [9n, 'k2', null],
      ]);
    }
  });

  it('throws for an empty batch', () => {
    const catchErr = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(isStrataError(catchErr(() => buildRecordBatch({ records: [] })), 'BATCH_INVALID')).toBe(true);
  });

  it('uses a supplied compressor', () => {
    const b = buildRecordBatch({ records, compression: 'lz4', compressors: { lz4: (x) => Buffer.concat([Buffer.from('LZ'), x]) } });
    expect(b.readInt16BE(21) & 0x07).toBe(3);
    expect(b.subarray(61, 63).toString()).toBe('LZ');
    const [d] = decodeRecordBatches(b, { decompressors: { lz4: (x) => x.subarray(2) } });
    expect(d.records.length).toBe(3);
  });
});
