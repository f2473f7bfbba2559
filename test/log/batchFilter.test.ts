import * as fs from 'node:fs';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import {
  KeptRecords,
  RecordView,
  batchCrcOk,
  emptyBatch,
  filteredBatch,
  readStoredBatch,
  recordsSection,
  walkRecords,
} from '../../core/log/batchFilter';
import { CODEC_NAMES } from '../../core/log/codecs';
import { ATTRIBUTES_OFFSET, DELETE_HORIZON_MASK, RECORD_BATCH_HEADER_SIZE } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatch } from '../../core/log/recordDecoder';
import { Entry, keyedBatch } from './cleanerHelpers';

const ENTRIES: Entry[] = [
  ['a', 'one'],
  ['b', null],
  [null, 'keyless'],
  ['a', 'two'],
  ['c', 'three'],
];

/** Keeps the records whose index passes `pick`, as the cleaner would. */
function keep(batch: Buffer, pick: (i: number, r: RecordView) => boolean): { kept: KeptRecords; section: Buffer } {
  const info = readStoredBatch(batch);
  const section = recordsSection(batch, info, 1 << 20)!;
  const kept = new KeptRecords();
  let i = 0;
  walkRecords(section, info.recordCount, (r) => {
    if (pick(i++, r)) kept.add(r);
  });
  return { kept, section };
}

describe('walkRecords', () => {
  it('reports each record: offset delta, key, and whether the value is null', () => {
    const b = keyedBatch(ENTRIES);
    const info = readStoredBatch(b);
    const section = recordsSection(b, info, 1 << 20)!;
    const seen: [number, string | null, boolean][] = [];
    expect(
      walkRecords(section, info.recordCount, (r) => {
        seen.push([r.offsetDelta, r.keyLength < 0 ? null : section.toString('utf8', r.keyStart, r.keyStart + r.keyLength), r.valueLength < 0]);
      }),
    ).toBe(true);
    expect(seen).toEqual([
      [0, 'a', false],
      [1, 'b', true],
      [2, null, false],
      [3, 'a', false],
      [4, 'c', false],
    ]);
  });

  it('stops when the visitor returns false', () => {
    const b = keyedBatch(ENTRIES);
    const section = b.subarray(RECORD_BATCH_HEADER_SIZE);
    let n = 0;
    expect(walkRecords(section, 5, () => ++n < 2)).toBe(false);
    expect(n).toBe(2);
  });

  it('throws BATCH_CORRUPT on bad framing instead of reading past the section', () => {
    const section = Buffer.from(keyedBatch(ENTRIES).subarray(RECORD_BATCH_HEADER_SIZE));
    for (const bad of [section.subarray(0, section.length - 3), Buffer.concat([section, Buffer.from([0])])]) {
      let err: unknown;
      try {
        walkRecords(bad, 5, () => undefined);
      } catch (e) {
        err = e;
      }
      expect(isStrataError(err, 'BATCH_CORRUPT')).toBe(true);
    }
    expect(() => walkRecords(section, 6, () => undefined)).toThrow(/bad length/);
  });
});

describe('filteredBatch', () => {
  it('keeps the chosen records with their offsets, timestamps and headers, the batch last offset and a valid CRC', () => {
    const original = buildRecordBatch({
      records: ENTRIES.map(([k, v], i) => ({
        key: k === null ? null : Buffer.from(k),
        value: v === null ? null : Buffer.from(v),
        headers: [{ key: 'n', value: Buffer.from(String(i)) }],
        timestamp: 5_000n + BigInt(i * 10),
      })),
      baseOffset: 700n,
      producerId: 42n,
      producerEpoch: 3,
      baseSequence: 9,
      partitionLeaderEpoch: 4,
    });
    const info = readStoredBatch(original);
    const { kept, section } = keep(original, (i) => i === 1 || i === 3);
    const out = filteredBatch(original, info, section, kept, null);
    expect(batchCrcOk(out)).toBe(true);
    const before = decodeRecordBatch(original);
    const d = decodeRecordBatch(out);
    expect(d.records).toEqual([before.records[1], before.records[3]]);
    expect([d.baseOffset, d.lastOffset, d.producerId, d.producerEpoch, d.baseSequence, d.partitionLeaderEpoch]).toEqual([700n, 704n, 42n, 3, 9, 4]);
    expect(d.baseTimestamp).toBe(5_000n);
    // The largest kept record is at +30; the removed one at +40 no longer counts.
    expect(d.maxTimestamp).toBe(5_030n);
    expect(d.attributes & DELETE_HORIZON_MASK).toBe(0);
  });

  it('with a delete horizon: stores it as base timestamp and re-encodes deltas so record timestamps stay', () => {
    const original = keyedBatch(ENTRIES, { timestamp: 1_700_000_000_000n });
    const info = readStoredBatch(original);
    const { kept, section } = keep(original, (i) => i !== 0);
    const horizon = 1_800_000_000_000n;
    const out = filteredBatch(original, info, section, kept, horizon);
    const again = readStoredBatch(out);
    expect(again.deleteHorizonMs).toBe(horizon);
    const d = decodeRecordBatch(out);
    expect(d.baseTimestamp).toBe(horizon);
    expect(d.records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual(
      decodeRecordBatch(original).records.slice(1).map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null]),
    );
  });

  it.each(CODEC_NAMES)('recompresses %s batches with their own codec', (codec) => {
    const original = keyedBatch(ENTRIES, { compression: codec });
    const info = readStoredBatch(original);
    const { kept, section } = keep(original, (i) => i >= 3);
    const out = filteredBatch(original, info, section, kept, null);
    expect(out.readInt16BE(ATTRIBUTES_OFFSET)).toBe(original.readInt16BE(ATTRIBUTES_OFFSET));
    const d = decodeRecordBatch(out);
    expect(d.compression).toBe(codec);
    expect(d.records.map((r) => [r.offset, r.value?.toString()])).toEqual([
      [3n, 'two'],
      [4n, 'three'],
    ]);
  });

  it.each(CODEC_NAMES)('filters a %s batch librdkafka wrote (kcat capture), keeping its codec', (codec) => {
    const original = fs.readFileSync(path.join(__dirname, `../fixtures/codecs/kcat-${codec}.batch`));
    const info = readStoredBatch(original);
    const { kept, section } = keep(original, (_, r) => r.keyLength >= 0 && r.offsetDelta !== 0); // k1's first value and the keyless one go
    const d = decodeRecordBatch(filteredBatch(original, info, section, kept, null));
    expect(d.compression).toBe(codec);
    expect(d.records.map((r) => `${r.offset}:${r.key}=${r.value!.toString().replace(/-[abc]+$/, '')}`)).toEqual([`1:k2=value-two-${codec}`, `3:k1=value-three-${codec}`]);
    expect(d.records.every((r) => r.headers[0]?.key === 'h1')).toBe(true);
  });

  it('keeps maxTimestamp of LogAppendTime batches (every record carries it)', () => {
    const original = keyedBatch(ENTRIES, { timestampType: 'LogAppendTime' });
    const info = readStoredBatch(original);
    const { kept, section } = keep(original, (i) => i === 0);
    expect(decodeRecordBatch(filteredBatch(original, info, section, kept, null)).maxTimestamp).toBe(info.maxTimestamp);
  });
});

describe('emptyBatch', () => {
  it('keeps the offsets with no records, uncompressed, with a valid CRC', () => {
    const original = buildRecordBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('v') }, { key: Buffer.from('k'), value: null }], baseOffset: 90n, compression: 'gzip' });
    const out = emptyBatch(original, readStoredBatch(original));
    const d = decodeRecordBatch(out);
    expect([d.baseOffset, d.lastOffset, d.records.length, d.compression]).toEqual([90n, 91n, 0, 'none']);
    expect(out.length).toBe(RECORD_BATCH_HEADER_SIZE);
  });
});

describe('recordsSection', () => {
  it('inflates every codec; null beyond the cap (the batch is then kept whole); damaged data is BATCH_CORRUPT', () => {
    for (const codec of CODEC_NAMES) {
      const b = keyedBatch(ENTRIES, { compression: codec });
      expect(recordsSection(b, readStoredBatch(b), 10)).toBeNull();
      expect(recordsSection(b, readStoredBatch(b), 1 << 20)!.equals(keyedBatch(ENTRIES).subarray(RECORD_BATCH_HEADER_SIZE))).toBe(true);
      const bad = Buffer.from(b);
      bad.fill(0x5a, RECORD_BATCH_HEADER_SIZE);
      expect(() => recordsSection(bad, readStoredBatch(bad), 1 << 20)).toThrow(expect.objectContaining({ code: 'BATCH_CORRUPT' }));
    }
  });
});
