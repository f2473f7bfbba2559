import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { crc32c } from './crc32c';
import { ByteCursor } from './varint';

/**
 * RecordBatch v2 ("magic 2"), the only format Strata stores or serves. All integers big-endian.
 *
 *   @0  baseOffset            int64   ─┐ stamped by the log on append;
 *   @8  batchLength           int32    │ batchLength counts the bytes after itself,
 *   @12 partitionLeaderEpoch  int32   ─┘ so a batch occupies 12 + batchLength bytes
 *   @16 magic                 int8     = 2
 *   @17 crc                   uint32   CRC-32C of bytes @21 .. end of batch
 *   @21 attributes            int16  ─┐
 *   @23 lastOffsetDelta       int32   │
 *   @27 baseTimestamp         int64   │
 *   @35 maxTimestamp          int64   │ covered by the CRC
 *   @43 producerId            int64   │
 *   @51 producerEpoch         int16   │
 *   @53 baseSequence          int32   │
 *   @57 recordsCount          int32   │
 *   @61 records …                    ─┘ (compressed as one blob when attributes say so)
 *
 * Because the CRC starts at @21, stamping baseOffset and partitionLeaderEpoch never invalidates
 * it: the bytes a producer sent are the bytes stored and the bytes a consumer receives.
 */
export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORDS_COUNT_OFFSET = 57;
/** Size of the fixed header; records start here. */
export const RECORD_BATCH_HEADER_SIZE = 61;
/** baseOffset + batchLength: the bytes not counted by batchLength (Kafka's LOG_OVERHEAD). */
export const LOG_OVERHEAD = 12;
/** Smallest legal batchLength: a header with no records. */
export const MIN_BATCH_LENGTH = RECORD_BATCH_HEADER_SIZE - LOG_OVERHEAD;
export const CURRENT_MAGIC = 2;

/**
 * Why the batch header at `at` in `buf` (RECORD_BATCH_HEADER_SIZE bytes there) cannot start a
 * v2 batch, or null when it can; `position` is its file position, for the message. The checks
 * every reader of stored batches makes before trusting batchLength.
 */
export function batchHeaderProblem(buf: Buffer, at: number, position: number): string | null {
  const batchLength = buf.readInt32BE(at + BATCH_LENGTH_OFFSET);
  const magic = buf.readInt8(at + MAGIC_OFFSET);
  if (magic !== CURRENT_MAGIC || batchLength < MIN_BATCH_LENGTH || buf.readInt32BE(at + LAST_OFFSET_DELTA_OFFSET) < 0) {
    return `bad batch header at ${position} (magic ${magic}, batchLength ${batchLength})`;
  }
  return null;
}

/** Attribute bits (int16 @21). */
export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_MASK = 0x10;
export const CONTROL_MASK = 0x20;
export const DELETE_HORIZON_MASK = 0x40;

/** Compression codecs by their attribute id (Kafka's CompressionType ids). */
export const COMPRESSION_CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type CompressionName = (typeof COMPRESSION_CODECS)[number];
export type TimestampType = 'CreateTime' | 'LogAppendTime';

/** What the validator learned about one batch of a produce request's `records` field. */
export interface BatchInfo {
  /** Byte position of the batch inside the validated buffer. */
  position: number;
  /** Whole batch size in bytes (12 + batchLength). */
  size: number;
  lastOffsetDelta: number;
  recordCount: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  attributes: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  isTransactional: boolean;
  isControl: boolean;
  compression: CompressionName;
  timestampType: TimestampType;
  /**
   * The largest record timestamp (baseTimestamp + timestampDelta over the records, -1 when none
   * is >= 0), computed while the records are walked: uncompressed batches only, else null.
   * Kafka's LogValidator stores this as the batch's maxTimestamp, whatever the producer wrote.
   */
  recordsMaxTimestamp: bigint | null;
}

export type ValidationResult =
  | { ok: true; batches: BatchInfo[] }
  | { ok: false; errorCode: number; message: string };

export interface ValidateOptions {
  /** max.message.bytes: the largest batch (as sent, i.e. after compression) accepted. */
  maxMessageBytes: number;
  /**
   * Kafka refuses control batches (transaction markers) from clients. The log itself, and the
   * coordinator writing markers, pass true.
   */
  allowControlBatches?: boolean;
  /**
   * Batches copied with the offsets they were given (a follower's from its leader, a mirror's
   * from its source): a compacted batch keeps its lastOffsetDelta but holds fewer records, so
   * lastOffsetDelta >= recordsCount - 1 and record offset deltas rise with gaps up to it; the
   * cleaner may even leave a batch emptied to its header (recordsCount 0).
   * Producers' batches (false) must be contiguous.
   */
  offsetGaps?: boolean;
}

/** Location prefix for error messages; built only on the failure path. */
function where(index: number, position: number): string {
  return `batch ${index} at byte ${position}`;
}

function reject(errorCode: number, message: string): ValidationResult {
  return { ok: false, errorCode, message };
}

/**
 * Validates the `records` field of one partition in a Produce request: one or more concatenated
 * RecordBatch v2. Never throws and never allocates per record; the cost is one CRC pass plus, for
 * uncompressed batches, one walk over the record framing.
 *
 * Per batch, in this order (the first failure decides the error code):
 *   - at least 17 bytes so the magic can be read; magic 0/1 → UNSUPPORTED_FOR_MESSAGE_FORMAT
 *     (Kafka up-converts old formats; Strata stores v2 only), any other magic ≠ 2 → CORRUPT_MESSAGE
 *   - a whole header, 49 <= batchLength, and the batch fully present → else CORRUPT_MESSAGE
 *   - batch size <= maxMessageBytes → else MESSAGE_TOO_LARGE (per batch, as Kafka checks it)
 *   - CRC-32C matches → else CORRUPT_MESSAGE; a known compression codec → else CORRUPT_MESSAGE
 *   - header consistency → INVALID_RECORD (Kafka's InvalidRecordException): recordsCount >= 1,
 *     lastOffsetDelta == recordsCount - 1, a producer id on transactional and control batches, a
 *     producerEpoch >= 0 when a producerId is set, and a baseSequence >= 0 too unless it is a
 *     control batch (markers carry -1), no control
 *     batch unless allowed
 *   - uncompressed only: exactly recordsCount records whose varint lengths frame them exactly up
 *     to the batch end, offset deltas 0..n-1 in order (rising with gaps for `offsetGaps`), sane
 *     key/value/header lengths → INVALID_RECORD.
 *     Compressed batches are checked at the header level only: inflating every produce on the
 *     broker would cost far more than the CRC, and consumers decompress (and check) anyway.
 * baseOffset and partitionLeaderEpoch are not checked: the log overwrites both.
 */
export function validateRecords(buf: Buffer, opts: ValidateOptions): ValidationResult {
  const batches: BatchInfo[] = [];
  const total = buf.length;
  if (total === 0) return reject(ErrorCode.CORRUPT_MESSAGE, 'records field holds no record batch');
  let p = 0;
  while (p < total) {
    const remaining = total - p;
    if (remaining < MAGIC_OFFSET + 1) {
      return reject(ErrorCode.CORRUPT_MESSAGE, `${where(batches.length, p)}: truncated, ${remaining} bytes left`);
    }
    const magic = buf.readInt8(p + MAGIC_OFFSET);
    if (magic !== CURRENT_MAGIC) {
      if (magic === 0 || magic === 1) {
        return reject(
          ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
          `${where(batches.length, p)}: message format v${magic} is not supported; send RecordBatch v2 (Kafka 0.11+ clients)`,
        );
      }
      return reject(ErrorCode.CORRUPT_MESSAGE, `${where(batches.length, p)}: invalid magic ${magic}`);
    }
    if (remaining < RECORD_BATCH_HEADER_SIZE) {
      return reject(ErrorCode.CORRUPT_MESSAGE, `${where(batches.length, p)}: truncated header, ${remaining} bytes left`);
    }
    const batchLength = buf.readInt32BE(p + BATCH_LENGTH_OFFSET);
    if (batchLength < MIN_BATCH_LENGTH) {
      return reject(ErrorCode.CORRUPT_MESSAGE, `${where(batches.length, p)}: batchLength ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`);
    }
    if (batchLength > remaining - LOG_OVERHEAD) {
      return reject(
        ErrorCode.CORRUPT_MESSAGE,
        `${where(batches.length, p)}: batchLength ${batchLength} runs past the ${remaining - LOG_OVERHEAD} bytes present`,
      );
    }
    const size = LOG_OVERHEAD + batchLength;
    if (size > opts.maxMessageBytes) {
      return reject(
        ErrorCode.MESSAGE_TOO_LARGE,
        `${where(batches.length, p)}: ${size} bytes exceeds max.message.bytes ${opts.maxMessageBytes}`,
      );
    }
    const end = p + size;
    const storedCrc = buf.readUInt32BE(p + CRC_OFFSET);
    if (crc32c(buf.subarray(p + ATTRIBUTES_OFFSET, end)) !== storedCrc) {
      return reject(ErrorCode.CORRUPT_MESSAGE, `${where(batches.length, p)}: CRC-32C mismatch`);
    }
    const attributes = buf.readInt16BE(p + ATTRIBUTES_OFFSET);
    const codec = attributes & COMPRESSION_MASK;
    if (codec >= COMPRESSION_CODECS.length) {
      return reject(ErrorCode.CORRUPT_MESSAGE, `${where(batches.length, p)}: unknown compression codec id ${codec}`);
    }
    const isControl = (attributes & CONTROL_MASK) !== 0;
    if (isControl && !opts.allowControlBatches) {
      return reject(ErrorCode.INVALID_RECORD, `${where(batches.length, p)}: clients may not write control batches`);
    }
    const lastOffsetDelta = buf.readInt32BE(p + LAST_OFFSET_DELTA_OFFSET);
    const recordCount = buf.readInt32BE(p + RECORDS_COUNT_OFFSET);
    // A copied batch may be a compacted one's empty header (Kafka's RETAIN_EMPTY).
    if (recordCount < (opts.offsetGaps ? 0 : 1)) {
      return reject(ErrorCode.INVALID_RECORD, `${where(batches.length, p)}: recordsCount ${recordCount} must be at least ${opts.offsetGaps ? 0 : 1}`);
    }
    if (opts.offsetGaps ? lastOffsetDelta < recordCount - 1 : lastOffsetDelta !== recordCount - 1) {
      return reject(
        ErrorCode.INVALID_RECORD,
        `${where(batches.length, p)}: lastOffsetDelta ${lastOffsetDelta} does not match recordsCount ${recordCount}`,
      );
    }
    const producerId = buf.readBigInt64BE(p + PRODUCER_ID_OFFSET);
    const baseSequence = buf.readInt32BE(p + BASE_SEQUENCE_OFFSET);
    const producerEpoch = buf.readInt16BE(p + PRODUCER_EPOCH_OFFSET);
    const isTransactional = (attributes & TRANSACTIONAL_MASK) !== 0;
    if ((isTransactional || isControl) && producerId < 0n) {
      return reject(ErrorCode.INVALID_RECORD, `${where(batches.length, p)}: a ${isControl ? 'control' : 'transactional'} batch needs a producer id`);
    }
    if (producerId >= 0n && producerEpoch < 0) {
      return reject(ErrorCode.INVALID_RECORD, `${where(batches.length, p)}: producerId ${producerId} with invalid producerEpoch ${producerEpoch}`);
    }
    // Markers (control batches) carry sequence -1: Kafka checks sequences of data batches only.
    if (producerId >= 0n && baseSequence < 0 && !isControl) {
      return reject(ErrorCode.INVALID_RECORD, `${where(batches.length, p)}: producerId ${producerId} with invalid baseSequence ${baseSequence}`);
    }
    const baseTimestamp = buf.readBigInt64BE(p + BASE_TIMESTAMP_OFFSET);
    let recordsMaxTimestamp: bigint | null = null;
    if (codec === 0) {
      const framing = checkRecordFraming(buf, p + RECORD_BATCH_HEADER_SIZE, end, recordCount, opts.offsetGaps ? lastOffsetDelta : null);
      if (typeof framing === 'string') return reject(ErrorCode.INVALID_RECORD, `${where(batches.length, p)}: ${framing}`);
      const max = baseTimestamp + framing;
      recordsMaxTimestamp = max >= 0n ? max : -1n;
    }
    batches.push({
      position: p,
      size,
      lastOffsetDelta,
      recordCount,
      baseTimestamp,
      maxTimestamp: buf.readBigInt64BE(p + MAX_TIMESTAMP_OFFSET),
      attributes,
      producerId,
      producerEpoch,
      baseSequence,
      isTransactional,
      isControl,
      compression: COMPRESSION_CODECS[codec],
      timestampType: (attributes & TIMESTAMP_TYPE_MASK) !== 0 ? 'LogAppendTime' : 'CreateTime',
      recordsMaxTimestamp,
    });
    p = end;
  }
  return { ok: true, batches };
}

/**
 * The StrataError for a failed validation, for callers that throw (PartitionLog.append). The
 * produce path can answer with `errorCode` directly; this maps it back at the broker's edge.
 */
export function validationError(v: Extract<ValidationResult, { ok: false }>): StrataError {
  switch (v.errorCode) {
    case ErrorCode.MESSAGE_TOO_LARGE:
      return new StrataError('BATCH_TOO_LARGE', v.message);
    case ErrorCode.INVALID_RECORD:
      return new StrataError('BATCH_INVALID', v.message);
    case ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT:
      return new StrataError('BATCH_FORMAT_UNSUPPORTED', v.message);
    default:
      return new StrataError('BATCH_CORRUPT', v.message);
  }
}

/** Smallest record body: attributes, timestampDelta, offsetDelta, key, value, header count. */
const MIN_RECORD_BODY = 6;

/**
 * Walks the uncompressed records of one batch, checking framing; returns a description of the
 * first problem, or the largest timestamp delta (so the caller knows the records' largest
 * timestamp without a second walk). Each record is:
 *
 *   length varint │ attributes int8 │ timestampDelta varlong │ offsetDelta varint │
 *   keyLength varint, key │ valueLength varint, value │ headerCount varint,
 *   headerCount × (keyLength varint, key │ valueLength varint, value)
 *
 * Every loop consumes at least one byte per iteration and stops at the first byte it cannot read,
 * so a hostile count (2^31 records, 2^31 headers) costs no more than the bytes actually present.
 */
function checkRecordFraming(buf: Buffer, start: number, batchEnd: number, recordCount: number, gapsUpTo: number | null): string | bigint {
  const c = new ByteCursor(buf, start, batchEnd);
  let maxDelta = 0n;
  let prevOffsetDelta = -1;
  for (let i = 0; i < recordCount; i++) {
    c.end = batchEnd;
    if (c.pos >= batchEnd) return `batch ends after ${i} of ${recordCount} records`;
    const length = c.readVarint();
    if (!c.ok) return `record ${i}: malformed length`;
    if (length < MIN_RECORD_BODY || length > batchEnd - c.pos) {
      return `record ${i}: length ${length} does not fit the ${batchEnd - c.pos} bytes left`;
    }
    const recordEnd = c.pos + length;
    c.end = recordEnd;
    c.skip(1); // attributes: no record-level attribute is defined
    const timestampDelta = c.readVarlong();
    if (i === 0 || timestampDelta > maxDelta) maxDelta = timestampDelta;
    const offsetDelta = c.readVarint();
    if (!c.ok) return `record ${i}: malformed header`;
    if (gapsUpTo === null ? offsetDelta !== i : offsetDelta <= prevOffsetDelta || offsetDelta > gapsUpTo) {
      return `record ${i}: offsetDelta ${offsetDelta}, expected ${gapsUpTo === null ? i : `above ${prevOffsetDelta} and at most lastOffsetDelta ${gapsUpTo}`}`;
    }
    prevOffsetDelta = offsetDelta;
    const keyLength = c.readVarint();
    if (keyLength < -1) return `record ${i}: invalid key length ${keyLength}`;
    if (keyLength > 0) c.skip(keyLength);
    const valueLength = c.readVarint();
    if (valueLength < -1) return `record ${i}: invalid value length ${valueLength}`;
    if (valueLength > 0) c.skip(valueLength);
    const headerCount = c.readVarint();
    if (!c.ok) return `record ${i}: key/value overrun the record length`;
    if (headerCount < 0) return `record ${i}: invalid header count ${headerCount}`;
    for (let h = 0; h < headerCount && c.ok; h++) {
      const hk = c.readVarint();
      if (hk < 0) return `record ${i}: invalid header key length ${hk}`;
      c.skip(hk);
      const hv = c.readVarint();
      if (hv < -1) return `record ${i}: invalid header value length ${hv}`;
      if (hv > 0) c.skip(hv);
    }
    if (!c.ok) return `record ${i}: headers overrun the record length`;
    if (c.pos !== recordEnd) return `record ${i}: ${recordEnd - c.pos} unread bytes inside the record`;
  }
  if (c.pos !== batchEnd) return `${batchEnd - c.pos} bytes follow the last of ${recordCount} records`;
  return maxDelta;
}

/**
 * Writes the log-assigned baseOffset and the leader's epoch into a batch, in place. Neither field
 * is covered by the CRC, so the batch stays valid.
 */
export function stampBatch(buf: Buffer, position: number, baseOffset: bigint, partitionLeaderEpoch: number): void {
  buf.writeBigInt64BE(baseOffset, position + BASE_OFFSET_OFFSET);
  buf.writeInt32BE(partitionLeaderEpoch, position + PARTITION_LEADER_EPOCH_OFFSET);
}

/**
 * Rewrites a CreateTime batch's maxTimestamp (and its CRC, which covers it), in place. Kafka's
 * LogValidator stores the largest record timestamp, not the producer's header value: librdkafka
 * writes maxTimestamp 0 for records without a timestamp (-1), which would make time retention
 * delete fresh data as if it were from 1970.
 */
export function setMaxTimestamp(buf: Buffer, position: number, timestamp: bigint): void {
  const end = position + LOG_OVERHEAD + buf.readInt32BE(position + BATCH_LENGTH_OFFSET);
  buf.writeBigInt64BE(timestamp, position + MAX_TIMESTAMP_OFFSET);
  buf.writeUInt32BE(crc32c(buf.subarray(position + ATTRIBUTES_OFFSET, end)), position + CRC_OFFSET);
}

/**
 * message.timestamp.type=LogAppendTime: marks the batch's timestamps as broker-assigned and sets
 * maxTimestamp to the append time, then recomputes the CRC (these fields are covered by it).
 * Consumers read every record's timestamp as maxTimestamp for such batches, so record-level
 * timestamp deltas are left alone, as Kafka does.
 */
export function setLogAppendTime(buf: Buffer, position: number, timestamp: bigint): void {
  const end = position + LOG_OVERHEAD + buf.readInt32BE(position + BATCH_LENGTH_OFFSET);
  const attributes = buf.readInt16BE(position + ATTRIBUTES_OFFSET);
  buf.writeInt16BE(attributes | TIMESTAMP_TYPE_MASK, position + ATTRIBUTES_OFFSET);
  buf.writeBigInt64BE(timestamp, position + MAX_TIMESTAMP_OFFSET);
  buf.writeUInt32BE(crc32c(buf.subarray(position + ATTRIBUTES_OFFSET, end)), position + CRC_OFFSET);
}
