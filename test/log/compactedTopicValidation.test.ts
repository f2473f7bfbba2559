import { validateRecordKeysForCompaction } from '../../core/log/compactedTopicValidation';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CODEC_NAMES } from '../../core/log/codecs';
import { crc32c } from '../../core/log/crc32c';
import { ATTRIBUTES_OFFSET, CRC_OFFSET, RECORD_BATCH_HEADER_SIZE, validateRecords } from '../../core/log/recordBatch';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { Entry, keyedBatch } from './cleanerHelpers';

function check(buf: Buffer, maxDecompressedBytes?: number): ReturnType<typeof validateRecordKeysForCompaction> {
  const v = validateRecords(buf, { maxMessageBytes: 1 << 20, allowControlBatches: true });
  if (!v.ok) throw new Error(v.message);
  return validateRecordKeysForCompaction(buf, v.batches, { maxDecompressedBytes });
}

const CODECS = CODEC_NAMES;
const readFixture = (name: string): Buffer => fs.readFileSync(path.join(__dirname, '../fixtures/codecs', name));

const keyed: Entry[] = [
  ['a', '1'],
  ['b', null],
];
const withKeyless: Entry[] = [
  ['a', '1'],
  [null, '2'],
];

describe('validateRecordKeysForCompaction', () => {
  it('accepts records that all have keys (tombstones included), in every codec', () => {
    expect(check(keyedBatch(keyed))).toEqual({ ok: true, unchecked: 0 });
    const all = CODECS.map((compression) => keyedBatch(keyed, { compression }));
    expect(check(Buffer.concat([keyedBatch(keyed), ...all]))).toEqual({ ok: true, unchecked: 0 });
  });

  it('refuses a keyless record with INVALID_RECORD, naming batch and record, in every codec', () => {
    for (const compression of ['none', ...CODECS] as const) {
      const r = check(Buffer.concat([keyedBatch(keyed), keyedBatch(withKeyless, { compression })]));
      expect(r).toEqual({
        ok: false,
        errorCode: ErrorCode.INVALID_RECORD,
        message: expect.stringMatching(/^One or more records have been rejected due to 1 record errors.*record 1: .*without key/),
        batch: 1,
        recordErrors: [{ batchIndex: 1, message: expect.stringMatching(/without key/) }],
      });
    }
  });

  it('names every keyless record of a batch (KIP-467 record_errors), and only those', () => {
    const entries: Entry[] = [];
    const keyless: number[] = [];
    for (let i = 0; i < 100; i++) {
      const k = i % 10 === 3;
      if (k) keyless.push(i);
      entries.push([k ? null : `k${i}`, `v${i}`]);
    }
    const r = check(keyedBatch(entries));
    if (r.ok) throw new Error('expected a refusal');
    expect(r.recordErrors.map((e) => e.batchIndex)).toEqual(keyless);
    expect(r.message).toMatch(/due to 10 record errors/);
  });

  it('refuses a compressed batch that inflates past the cap instead of inflating it', () => {
    for (const compression of CODECS) {
      const r = check(keyedBatch(keyed, { compression }), 8);
      expect(r).toMatchObject({ ok: false, errorCode: ErrorCode.INVALID_RECORD, message: `batch 0: ${compression} records inflate to more than 8 bytes` });
    }
  });

  it('refuses a batch whose compressed data is damaged (CRC fixed up) with CORRUPT_MESSAGE', () => {
    for (const compression of CODECS) {
      const b = keyedBatch(keyed, { compression });
      b.fill(0xee, RECORD_BATCH_HEADER_SIZE + 4, b.length - 2);
      b.writeUInt32BE(crc32c(b.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
      expect(check(b)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, batch: 0 });
    }
  });

  it('checks the keys of batches librdkafka compressed (kcat captures)', () => {
    for (const codec of CODECS) {
      // Each capture holds one keyless record (index 2) among keyed ones.
      const r = check(readFixture(`kcat-${codec}.batch`));
      expect(r).toMatchObject({ ok: false, errorCode: ErrorCode.INVALID_RECORD, recordErrors: [{ batchIndex: 2 }] });
    }
  });

  it('skips control batches (transaction markers carry their own keys)', () => {
    expect(check(keyedBatch(withKeyless, { isControl: true }))).toEqual({ ok: true, unchecked: 0 });
  });
});
