import * as fs from 'node:fs';
import * as path from 'node:path';
import { PartitionLog } from '../../core/log/partitionLog';
import { readStoredBatch, recordsSection } from '../../core/log/batchFilter';
import { codecStatus, codecFor } from '../../core/log/codecs';
import { validateRecordKeysForCompaction } from '../../core/log/compactedTopicValidation';
import { validateRecords } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { isStrataError } from '../../core/common/errors';
import { parseCompression } from '../../core/cli/console-producer';
import { append, compactCfg, roundInProcess } from './cleanerHelpers';
import { makeTmpDir, quiet, removeDir, smallConfig } from './helpers';

/**
 * A codec whose native library does not load (a platform without its npm binary, a failed
 * node-gyp build) degrades as before codecs.ts existed: decode says COMPRESSION_UNSUPPORTED, the
 * cleaner keeps such batches whole, the compacted-topic key check lets them through unchecked,
 * and the console producer refuses the codec up front. gzip (node:zlib) is always there.
 */
jest.mock('snappy', () => {
  throw new Error('Cannot find native binding (mocked)');
});
jest.mock('zstd-napi/binding', () => {
  throw new Error('zstd-napi: no binding.node (mocked)');
});

const kcatSnappy = fs.readFileSync(path.join(__dirname, '../fixtures/codecs/kcat-snappy.batch'));

test('codecStatus says which codecs did not load, and why', () => {
  const s = codecStatus();
  expect(s.gzip.available).toBe(true);
  expect(s.lz4.available).toBe(true);
  expect(s.snappy).toEqual({ available: false, library: 'snappy (napi-rs)', error: 'Cannot find native binding (mocked)' });
  expect(s.zstd).toMatchObject({ available: false, error: expect.stringMatching(/mocked/) });
  expect(codecFor('snappy')).toBeNull();
});

test('decode and build throw COMPRESSION_UNSUPPORTED naming the codec', () => {
  let err: unknown;
  try {
    decodeRecordBatches(kcatSnappy);
  } catch (e) {
    err = e;
  }
  expect(isStrataError(err, 'COMPRESSION_UNSUPPORTED')).toBe(true);
  expect((err as Error).message).toMatch(/the snappy codec is not available in this process/);
  expect(() => buildRecordBatch({ records: [{ key: null, value: Buffer.from('x') }], compression: 'zstd' })).toThrow(
    expect.objectContaining({ code: 'COMPRESSION_UNSUPPORTED' }),
  );
});

test('recordsSection is null (the batch cannot be read) and the key check counts it unchecked', () => {
  expect(recordsSection(kcatSnappy, readStoredBatch(kcatSnappy), 1 << 20)).toBeNull();
  const v = validateRecords(kcatSnappy, { maxMessageBytes: 1 << 20 });
  if (!v.ok) throw new Error(v.message);
  expect(validateRecordKeysForCompaction(kcatSnappy, v.batches)).toEqual({ ok: true, unchecked: 1 });
});

test('the cleaner keeps such a batch whole; its keys do not shadow anything', async () => {
  const root = makeTmpDir();
  const log = PartitionLog.open(path.join(root, 't-0'), smallConfig({ segmentBytes: 64 * 1024 }), { logger: quiet });
  try {
    append(log, [['k1', 'first']], { compression: 'lz4' }); // 0
    log.append(kcatSnappy, { leaderEpoch: 0 }); // 1..4: k1, k2, keyless, k1
    append(log, [['k2', 'last']]); // 5
    log.roll();
    const r = (await roundInProcess(log, compactCfg(), 1_700_000_000_000))!;
    expect(r.result.stats.batchesKeptWhole).toBe(1);
    const read = Buffer.concat(log.read(0n, 1 << 20, { minOneBatch: true }).records);
    // The lz4 batch's k1 stays: the only later k1 is inside the unreadable batch.
    const kept: Buffer[] = [];
    for (let p = 0; p < read.length; p += 12 + read.readInt32BE(p + 8)) kept.push(read.subarray(p, p + 12 + read.readInt32BE(p + 8)));
    expect(kept.map((b) => readStoredBatch(b)).map((b) => [b.codec, b.baseOffset, b.lastOffset])).toEqual([
      ['lz4', 0n, 0n],
      ['snappy', 1n, 4n],
      ['none', 5n, 5n],
    ]);
    // Byte for byte as kcat wrote it (but its base offset, which the log assigns).
    expect(kept[1].subarray(8).equals(kcatSnappy.subarray(8))).toBe(true);
  } finally {
    log.close();
    removeDir(root);
  }
});

test('the console producer refuses the codec before reading any input', () => {
  expect(parseCompression('lz4')).toBe('lz4');
  expect(() => parseCompression('snappy')).toThrow(/compression.type=snappy is not available in this process: its library did not load/);
});
