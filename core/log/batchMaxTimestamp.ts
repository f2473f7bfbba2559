import { readStoredBatch, recordsSection } from './batchFilter';
import { DEFAULT_MAX_DECOMPRESSED_BYTES } from './codecs';
import type { BatchInfo } from './recordBatch';
import { ByteCursor } from './varint';

/** Kafka's RecordBatch.NO_TIMESTAMP. */
export const NO_TIMESTAMP = -1n;

/** Cap on one compressed batch's inflated records when its timestamps must be read (as the cleaner's). */
const MAX_INFLATED_BYTES = DEFAULT_MAX_DECOMPRESSED_BYTES;

/**
 * The maxTimestamp a CreateTime batch is stored with. Kafka's LogValidator stores the largest
 * record timestamp, whatever the producer put in the header; producers do get it wrong (librdkafka
 * sends maxTimestamp 0 with records of timestamp -1, "no timestamp"), and the header is what time
 * retention, segment.ms and the time index go by.
 *
 * - uncompressed: the validator already computed it while walking the records;
 * - compressed with a plausible header (baseTimestamp >= 0, maxTimestamp >= baseTimestamp):
 *   the header, as sent (inflating every compressed produce would cost more than the CRC);
 * - compressed with an implausible one: the records are inflated (any codec, bounded) and read;
 *   a batch this broker cannot inflate (codec library not available, larger than the cap,
 *   damaged) gives NO_TIMESTAMP, so the batch counts as having no timestamp (time retention
 *   then goes by the segment file's age, as Kafka's does) rather than as one from 1970.
 */
export function storedMaxTimestamp(records: Buffer, b: BatchInfo): bigint {
  if (b.recordsMaxTimestamp !== null) return b.recordsMaxTimestamp;
  if (b.baseTimestamp >= 0n && b.maxTimestamp >= b.baseTimestamp) return b.maxTimestamp;
  const batch = records.subarray(b.position, b.position + b.size);
  let section: Buffer | null;
  try {
    section = recordsSection(batch, readStoredBatch(batch), MAX_INFLATED_BYTES);
  } catch {
    return NO_TIMESTAMP;
  }
  if (section === null) return NO_TIMESTAMP;
  const maxDelta = largestTimestampDelta(section, b.recordCount);
  if (maxDelta === null) return NO_TIMESTAMP;
  const max = b.baseTimestamp + maxDelta;
  return max >= 0n ? max : NO_TIMESTAMP;
}

/** The largest timestampDelta of `count` records in an inflated records section; null if malformed. */
function largestTimestampDelta(section: Buffer, count: number): bigint | null {
  const c = new ByteCursor(section, 0, section.length);
  let max: bigint | null = null;
  for (let i = 0; i < count; i++) {
    c.end = section.length;
    const length = c.readVarint();
    if (!c.ok || length < 6 || length > section.length - c.pos) return null;
    const end = c.pos + length;
    c.end = end;
    c.skip(1);
    const delta = c.readVarlong();
    if (!c.ok) return null;
    if (max === null || delta > max) max = delta;
    c.pos = end;
  }
  return max;
}
