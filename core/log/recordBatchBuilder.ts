import { StrataError } from '../common/errors';
import { compressRecords } from './codecs';
import { crc32c } from './crc32c';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODECS,
  CONTROL_MASK,
  CRC_OFFSET,
  CURRENT_MAGIC,
  CompressionName,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_MASK,
  TimestampType,
} from './recordBatch';
import { sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint';

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface RecordInput {
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  /** Milliseconds since the epoch; defaults to the batch's `now`. */
  timestamp?: bigint;
  /**
   * The record's offset minus the batch's base offset; defaults to its index. Given, the deltas
   * must rise (gaps allowed: a compacted batch, or a mirror keeping its source's offsets).
   */
  offsetDelta?: number;
}

/** Compresses the encoded records section of a batch. */
export type Compressor = (records: Buffer) => Buffer;

export interface BuildBatchOptions {
  records: RecordInput[];
  compression?: CompressionName;
  /** Replaces the built-in codec (codecs.ts: gzip, snappy, lz4, zstd) for these codecs. */
  compressors?: Partial<Record<CompressionName, Compressor>>;
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
  /** -1n (no producer id) unless idempotent/transactional. */
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  isTransactional?: boolean;
  isControl?: boolean;
  timestampType?: TimestampType;
  /** Timestamp for records that have none; defaults to Date.now(). */
  now?: bigint;
}

/**
 * Encodes records as one RecordBatch v2 with its CRC filled in: what a producer sends. Used by the
 * client, the CLI and tests; the broker itself never re-encodes batches.
 *
 * Sizes are computed in a first pass so the batch is written into a single buffer.
 */
export function buildRecordBatch(opts: BuildBatchOptions): Buffer {
  const records = opts.records;
  if (records.length === 0) throw new StrataError('BATCH_INVALID', 'a record batch needs at least one record');
  const now = opts.now ?? BigInt(Date.now());
  const baseTimestamp = records[0].timestamp ?? now;
  let maxTimestamp = -1n;
  const headerKeys: Buffer[][] = [];
  const bodySizes: number[] = new Array<number>(records.length);
  let recordsSize = 0;
  let lastOffsetDelta = -1;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    const delta = r.offsetDelta ?? i;
    if (!Number.isInteger(delta) || delta <= lastOffsetDelta || delta > 0x7fffffff) {
      throw new StrataError('BATCH_INVALID', `record ${i}'s offset delta ${delta} does not rise above ${lastOffsetDelta}`);
    }
    lastOffsetDelta = delta;
    const ts = r.timestamp ?? now;
    if (ts > maxTimestamp) maxTimestamp = ts;
    const keys = (r.headers ?? []).map((h) => Buffer.from(h.key, 'utf8'));
    headerKeys.push(keys);
    let body = 1 + sizeOfVarlong(ts - baseTimestamp) + sizeOfVarint(delta) + sizeOfBytes(r.key) + sizeOfBytes(r.value);
    const headers = r.headers ?? [];
    body += sizeOfVarint(headers.length);
    for (let h = 0; h < headers.length; h++) {
      body += sizeOfVarint(keys[h].length) + keys[h].length + sizeOfBytes(headers[h].value);
    }
    bodySizes[i] = body;
    recordsSize += sizeOfVarint(body) + body;
  }

  let section: Buffer = Buffer.allocUnsafe(recordsSize);
  let p = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    p = writeVarint(section, p, bodySizes[i]);
    section[p++] = 0; // record attributes: none defined
    p = writeVarlong(section, p, (r.timestamp ?? now) - baseTimestamp);
    p = writeVarint(section, p, r.offsetDelta ?? i);
    p = writeBytes(section, p, r.key);
    p = writeBytes(section, p, r.value);
    const headers = r.headers ?? [];
    p = writeVarint(section, p, headers.length);
    for (let h = 0; h < headers.length; h++) {
      p = writeBytes(section, p, headerKeys[i][h]);
      p = writeBytes(section, p, headers[h].value);
    }
  }

  const compression = opts.compression ?? 'none';
  if (compression !== 'none') {
    const custom = opts.compressors?.[compression];
    // COMPRESSION_UNSUPPORTED when the codec's library is not available in this process.
    section = custom ? custom(section) : compressRecords(compression, section);
  }

  let attributes = COMPRESSION_CODECS.indexOf(compression);
  if (opts.timestampType === 'LogAppendTime') attributes |= TIMESTAMP_TYPE_MASK;
  if (opts.isTransactional) attributes |= TRANSACTIONAL_MASK;
  if (opts.isControl) attributes |= CONTROL_MASK;

  const batch = Buffer.allocUnsafe(RECORD_BATCH_HEADER_SIZE + section.length);
  batch.writeBigInt64BE(opts.baseOffset ?? 0n, BASE_OFFSET_OFFSET);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  batch.writeInt32BE(opts.partitionLeaderEpoch ?? -1, PARTITION_LEADER_EPOCH_OFFSET);
  batch.writeInt8(CURRENT_MAGIC, MAGIC_OFFSET);
  batch.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  batch.writeInt32BE(lastOffsetDelta, LAST_OFFSET_DELTA_OFFSET);
  batch.writeBigInt64BE(baseTimestamp, BASE_TIMESTAMP_OFFSET);
  batch.writeBigInt64BE(maxTimestamp, MAX_TIMESTAMP_OFFSET);
  batch.writeBigInt64BE(opts.producerId ?? -1n, PRODUCER_ID_OFFSET);
  batch.writeInt16BE(opts.producerEpoch ?? -1, PRODUCER_EPOCH_OFFSET);
  batch.writeInt32BE(opts.baseSequence ?? -1, BASE_SEQUENCE_OFFSET);
  batch.writeInt32BE(records.length, RECORDS_COUNT_OFFSET);
  section.copy(batch, RECORD_BATCH_HEADER_SIZE);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return batch;
}

function sizeOfBytes(b: Buffer | null): number {
  return b === null ? sizeOfVarint(-1) : sizeOfVarint(b.length) + b.length;
}

function writeBytes(buf: Buffer, pos: number, b: Buffer | null): number {
  if (b === null) return writeVarint(buf, pos, -1);
  pos = writeVarint(buf, pos, b.length);
  b.copy(buf, pos);
  return pos + b.length;
}
