import { NO_TIMESTAMP, storedMaxTimestamp } from '../../core/log/batchMaxTimestamp';
import { CODEC_NAMES } from '../../core/log/codecs';
import { crc32c } from '../../core/log/crc32c';
import { ATTRIBUTES_OFFSET, CRC_OFFSET, MAX_TIMESTAMP_OFFSET, RECORD_BATCH_HEADER_SIZE, validateRecords } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';

/** storedMaxTimestamp on compressed batches: the header when plausible, else the records, any codec. */

const T = 1_700_000_000_000n;

/** A batch of records at T, T+5, T+2, its header's maxTimestamp replaced (CRC fixed). */
function withHeaderMax(compression: (typeof CODEC_NAMES)[number], headerMax: bigint, value = 'v'): Buffer {
  const b = buildRecordBatch({
    records: [0n, 5n, 2n].map((d) => ({ key: Buffer.from('k'), value: Buffer.from(value), timestamp: T + d })),
    compression,
  });
  b.writeBigInt64BE(headerMax, MAX_TIMESTAMP_OFFSET);
  b.writeUInt32BE(crc32c(b.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return b;
}

function stored(b: Buffer): bigint {
  const v = validateRecords(b, { maxMessageBytes: 1 << 26 });
  if (!v.ok) throw new Error(v.message);
  return storedMaxTimestamp(b, v.batches[0]);
}

describe.each(CODEC_NAMES)('storedMaxTimestamp of a %s batch', (codec) => {
  it('trusts a plausible header', () => {
    expect(stored(withHeaderMax(codec, T + 9n))).toBe(T + 9n);
  });

  it('reads the records when the header says 0 (librdkafka with timestamp -1)', () => {
    expect(stored(withHeaderMax(codec, 0n))).toBe(T + 5n);
  });

  it('gives NO_TIMESTAMP when the records cannot be read (damaged, CRC fixed up)', () => {
    const b = withHeaderMax(codec, 0n);
    b.fill(0x33, RECORD_BATCH_HEADER_SIZE + 2);
    b.writeUInt32BE(crc32c(b.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
    expect(stored(b)).toBe(NO_TIMESTAMP);
  });
});
