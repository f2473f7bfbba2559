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
        message: expect.stringMatching(/^batch 1, record 1: .*without a key/),
        batch: 1,
        recordIndex: 1,
      });
    }
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
