import { validateRecordKeysForCompaction } from '../../core/log/compactedTopicValidation';
import { validateRecords } from '../../core/log/recordBatch';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { Entry, keyedBatch } from './cleanerHelpers';

function check(buf: Buffer, maxDecompressedBytes?: number): ReturnType<typeof validateRecordKeysForCompaction> {
  const v = validateRecords(buf, { maxMessageBytes: 1 << 20, allowControlBatches: true });
  if (!v.ok) throw new Error(v.message);
  return validateRecordKeysForCompaction(buf, v.batches, { maxDecompressedBytes });
}

const keyed: Entry[] = [
  ['a', '1'],
  ['b', null],
];
const withKeyless: Entry[] = [
  ['a', '1'],
  [null, '2'],
];

describe('validateRecordKeysForCompaction', () => {
  it('accepts records that all have keys (tombstones included), plain and gzip', () => {
    expect(check(keyedBatch(keyed))).toEqual({ ok: true, unchecked: 0 });
    expect(check(Buffer.concat([keyedBatch(keyed), keyedBatch(keyed, { compression: 'gzip' })]))).toEqual({ ok: true, unchecked: 0 });
  });

  it('refuses a keyless record with INVALID_RECORD, naming batch and record', () => {
    for (const compression of ['none', 'gzip'] as const) {
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

  it('accepts batches of codecs it cannot inflate, counting them unchecked', () => {
    const snappy = keyedBatch(withKeyless, { compression: 'snappy', compressors: { snappy: (b) => b } });
    expect(check(snappy)).toEqual({ ok: true, unchecked: 1 });
  });

  it('refuses a gzip batch that inflates past the cap instead of inflating it', () => {
    const r = check(keyedBatch(keyed, { compression: 'gzip' }), 8);
    expect(r).toMatchObject({ ok: false, errorCode: ErrorCode.INVALID_RECORD });
  });

  it('skips control batches (transaction markers carry their own keys)', () => {
    expect(check(keyedBatch(withKeyless, { isControl: true }))).toEqual({ ok: true, unchecked: 0 });
  });
});
