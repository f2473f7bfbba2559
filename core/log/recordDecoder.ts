import { StrataError } from '../common/errors';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, decompressRecords } from './codecs';
import { crc32c } from './crc32c';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODECS,
  COMPRESSION_MASK,
  CONTROL_MASK,
  CRC_OFFSET,
  CURRENT_MAGIC,
  CompressionName,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  MIN_BATCH_LENGTH,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_MASK,
  TimestampType,
} from './recordBatch';
import type { RecordHeader } from './recordBatchBuilder';
import { ByteCursor } from './varint';

export interface DecodedRecord {
  offset: bigint;
  /** The record's own timestamp, or the batch's maxTimestamp when the batch is LogAppendTime. */
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface DecodedBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  /** Bytes the batch occupies (12 + batchLength). */
  size: number;
  partitionLeaderEpoch: number;
  attributes: number;
  compression: CompressionName;
  timestampType: TimestampType;
  isTransactional: boolean;
  isControl: boolean;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  records: DecodedRecord[];
}

/** Inflates the records section of a compressed batch. Should bound its own output size. */
export type Decompressor = (data: Buffer) => Buffer;

export interface DecodeOptions {
  /** Replaces the built-in codec (codecs.ts: gzip, snappy, lz4, zstd) for these codecs. */
  decompressors?: Partial<Record<CompressionName, Decompressor>>;
  /** Check each batch's CRC-32C (default true, like a consumer's check.crcs). */
  verifyCrc?: boolean;
  /** Cap on the inflated size of one compressed batch (default 64 MiB): a guard against zip bombs. */
  maxDecompressedBytes?: number;
}

/**
 * Decodes concatenated RecordBatch v2 into records, for clients, the CLI and tests. A partial
 * batch at the end is ignored, as a Kafka fetch response may end with one.
 *
 * For uncompressed batches, keys, values and header values are views into `buf` (no copies):
 * copy them if `buf` will be reused.
 */
export function decodeRecordBatches(buf: Buffer, opts: DecodeOptions = {}): DecodedBatch[] {
  const out: DecodedBatch[] = [];
  let p = 0;
  while (buf.length - p >= LOG_OVERHEAD) {
    const batchLength = buf.readInt32BE(p + BATCH_LENGTH_OFFSET);
    if (batchLength < MIN_BATCH_LENGTH) {
      throw new StrataError('BATCH_CORRUPT', `batch at byte ${p}: batchLength ${batchLength} below ${MIN_BATCH_LENGTH}`);
    }
    const size = LOG_OVERHEAD + batchLength;
    if (size > buf.length - p) break; // partial trailing batch
    out.push(decodeRecordBatch(buf.subarray(p, p + size), opts));
    p += size;
  }
  return out;
}

/** Decodes exactly one whole batch (`batch` holds it and nothing else). */
export function decodeRecordBatch(batch: Buffer, opts: DecodeOptions = {}): DecodedBatch {
  if (batch.length < RECORD_BATCH_HEADER_SIZE) {
    throw new StrataError('BATCH_CORRUPT', `record batch of ${batch.length} bytes is shorter than its header`);
  }
  const magic = batch.readInt8(MAGIC_OFFSET);
  if (magic !== CURRENT_MAGIC) {
    throw new StrataError('BATCH_FORMAT_UNSUPPORTED', `message format v${magic} is not supported (RecordBatch v2 only)`);
  }
  const size = LOG_OVERHEAD + batch.readInt32BE(BATCH_LENGTH_OFFSET);
  if (size !== batch.length) {
    throw new StrataError('BATCH_CORRUPT', `batchLength says ${size} bytes, ${batch.length} given`);
  }
  if (opts.verifyCrc !== false && crc32c(batch.subarray(ATTRIBUTES_OFFSET)) !== batch.readUInt32BE(CRC_OFFSET)) {
    throw new StrataError('BATCH_CORRUPT', 'record batch CRC-32C mismatch');
  }
  const attributes = batch.readInt16BE(ATTRIBUTES_OFFSET);
  const codecId = attributes & COMPRESSION_MASK;
  if (codecId >= COMPRESSION_CODECS.length) {
    throw new StrataError('BATCH_CORRUPT', `unknown compression codec id ${codecId}`);
  }
  const compression = COMPRESSION_CODECS[codecId];
  const baseOffset = batch.readBigInt64BE(BASE_OFFSET_OFFSET);
  const baseTimestamp = batch.readBigInt64BE(BASE_TIMESTAMP_OFFSET);
  const maxTimestamp = batch.readBigInt64BE(MAX_TIMESTAMP_OFFSET);
  const timestampType: TimestampType = (attributes & TIMESTAMP_TYPE_MASK) !== 0 ? 'LogAppendTime' : 'CreateTime';
  const recordCount = batch.readInt32BE(RECORDS_COUNT_OFFSET);

  let section = batch.subarray(RECORD_BATCH_HEADER_SIZE);
  if (compression !== 'none') section = inflate(compression, section, opts);

  const records: DecodedRecord[] = [];
  const c = new ByteCursor(section, 0, section.length);
  for (let i = 0; i < recordCount; i++) {
    c.end = section.length;
    const length = c.readVarint();
    if (!c.ok || length < 0 || length > section.length - c.pos) {
      throw new StrataError('BATCH_CORRUPT', `record ${i} of ${recordCount}: bad or truncated length`);
    }
    const recordEnd = c.pos + length;
    c.end = recordEnd;
    c.readInt8(); // record attributes: none defined
    const timestampDelta = c.readVarlong();
    const offsetDelta = c.readVarint();
    const key = readBytes(c, section);
    const value = readBytes(c, section);
    const headerCount = c.readVarint();
    if (headerCount < 0) c.ok = false;
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount && c.ok; h++) {
      const hk = readBytes(c, section);
      const hv = readBytes(c, section);
      if (hk === null) c.ok = false;
      else headers.push({ key: hk.toString('utf8'), value: hv });
    }
    if (!c.ok || c.pos !== recordEnd) {
      throw new StrataError('BATCH_CORRUPT', `record ${i} of ${recordCount} is malformed`);
    }
    records.push({
      offset: baseOffset + BigInt(offsetDelta),
      timestamp: timestampType === 'LogAppendTime' ? maxTimestamp : baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    });
  }

  return {
    baseOffset,
    lastOffset: baseOffset + BigInt(batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET)),
    size,
    partitionLeaderEpoch: batch.readInt32BE(PARTITION_LEADER_EPOCH_OFFSET),
    attributes,
    compression,
    timestampType,
    isTransactional: (attributes & TRANSACTIONAL_MASK) !== 0,
    isControl: (attributes & CONTROL_MASK) !== 0,
    baseTimestamp,
    maxTimestamp,
    producerId: batch.readBigInt64BE(PRODUCER_ID_OFFSET),
    producerEpoch: batch.readInt16BE(PRODUCER_EPOCH_OFFSET),
    baseSequence: batch.readInt32BE(BASE_SEQUENCE_OFFSET),
    records,
  };
}

/** varint length + bytes; -1 is null. Returns a view into `buf`. */
function readBytes(c: ByteCursor, buf: Buffer): Buffer | null {
  const len = c.readVarint();
  if (len === -1) return null;
  if (len < -1) {
    c.ok = false;
    return null;
  }
  const start = c.pos;
  c.skip(len);
  return c.ok ? buf.subarray(start, start + len) : null;
}

/**
 * The inflated records section: BATCH_CORRUPT when damaged or larger than the cap,
 * COMPRESSION_UNSUPPORTED when the codec's library is not available in this process.
 */
function inflate(codec: Exclude<CompressionName, 'none'>, data: Buffer, opts: DecodeOptions): Buffer {
  const custom = opts.decompressors?.[codec];
  if (custom === undefined) return decompressRecords(codec, data, opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES);
  try {
    return custom(data);
  } catch (e) {
    throw new StrataError('BATCH_CORRUPT', `${codec} records could not be decompressed: ${(e as Error).message}`, { cause: e });
  }
}
