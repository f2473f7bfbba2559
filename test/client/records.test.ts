import * as fs from 'node:fs';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { decodeFetchedRecords, encodeRecordBatch } from '../../core/client/records';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';

function at(batch: Buffer, baseOffset: bigint): Buffer {
  batch.writeBigInt64BE(baseOffset, 0); // what a broker stamps; outside the CRC
  return batch;
}

describe('decodeFetchedRecords', () => {
  it('returns nothing and keeps the offset for an empty or null records field', () => {
    expect(decodeFetchedRecords(null, 7n)).toEqual({ records: [], nextOffset: 7n });
    expect(decodeFetchedRecords(Buffer.alloc(0), 7n)).toEqual({ records: [], nextOffset: 7n });
  });

  it('skips control batches but moves past them', () => {
    const data = at(encodeRecordBatch([{ value: 'a' }, { value: 'b' }], 'none'), 10n);
    const marker = at(buildRecordBatch({ records: [{ key: Buffer.from([0, 0, 0, 0]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }], isControl: true, isTransactional: true, producerId: 1n, baseSequence: 0 }), 12n);
    const more = at(encodeRecordBatch([{ value: 'c' }], 'none'), 13n);
    const out = decodeFetchedRecords(Buffer.concat([data, marker, more]), 11n);
    expect(out.records.map((r) => [r.offset, r.value!.toString()])).toEqual([
      [11n, 'b'],
      [13n, 'c'],
    ]);
    expect(out.nextOffset).toBe(14n);
  });

  it('encodes and decodes every codec, and reads batches librdkafka and the Java client compressed', () => {
    for (const codec of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const mine = at(encodeRecordBatch([{ key: 'k', value: 'x'.repeat(500) }, { value: 'y' }], codec), 20n);
      expect(mine.readInt16BE(21) & 0x07).toBe(['none', 'gzip', 'snappy', 'lz4', 'zstd'].indexOf(codec));
      const java = at(fs.readFileSync(path.join(__dirname, `../fixtures/codecs/java-${codec}.batch`)), 22n);
      const out = decodeFetchedRecords(Buffer.concat([mine, java]), 21n);
      expect(out.records.map((r) => `${r.offset}:${r.key}=${r.value!.toString().slice(0, 4)}`)).toEqual([
        '21:null=y',
        ...Array.from({ length: 30 }, (_, i) => `${22 + i}:k-${i % 10}=v-${i}`),
      ]);
      expect(out.nextOffset).toBe(52n);
    }
  });

  it('ignores a trailing partial batch', () => {
    const a = at(encodeRecordBatch([{ value: 'a' }], 'none'), 0n);
    const b = at(encodeRecordBatch([{ value: 'b' }], 'none'), 1n);
    const out = decodeFetchedRecords(Buffer.concat([a, b.subarray(0, b.length - 3)]), 0n);
    expect(out.records.map((r) => r.value!.toString())).toEqual(['a']);
    expect(out.nextOffset).toBe(1n);
  });

  it('fails instead of looping when only part of one batch came back', () => {
    const a = at(encodeRecordBatch([{ value: 'x'.repeat(100) }], 'none'), 5n);
    let err: unknown;
    try {
      decodeFetchedRecords(a.subarray(0, 50), 5n);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'BATCH_TOO_LARGE')).toBe(true);
    expect((err as Error).message).toContain('the record batch at offset 5 is larger than the fetch size (50 bytes)');
  });

  it('encodes strings, buffers, nulls and numeric timestamps', () => {
    const out = decodeFetchedRecords(at(encodeRecordBatch([{ key: 'k', value: Buffer.from('v'), headers: [{ key: 'h', value: null }], timestamp: 42 }], 'gzip'), 0n), 0n);
    expect(out.records).toHaveLength(1);
    const r = out.records[0];
    expect([r.key!.toString(), r.value!.toString(), r.timestamp, r.headers]).toEqual(['k', 'v', 42n, [{ key: 'h', value: null }]]);
    expect(() => encodeRecordBatch([], 'none')).toThrow('produce needs at least one record');
  });
});
