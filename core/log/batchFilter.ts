import { StrataError } from '../common/errors';
import { InflateLimitError, codecFor, compressRecords, decompressRecords } from './codecs';
import { crc32c } from './crc32c';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODECS,
  COMPRESSION_MASK,
  CONTROL_MASK,
  CRC_OFFSET,
  CompressionName,
  DELETE_HORIZON_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAX_TIMESTAMP_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_MASK,
} from './recordBatch';
import { ByteCursor, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint';

/**
 * Record-level surgery on one stored RecordBatch v2, for the log cleaner: walk its records, and
 * write a batch that keeps a subset of them with the batch's original base offset, last offset
 * delta (so the batch still ends where it ended: consumers continue after it, KAFKA-5443),
 * producer fields and timestamps, and a fresh CRC.
 *
 * Kept records are copied byte for byte (their offset and timestamp deltas are relative to the
 * unchanged base offset and base timestamp), except when the batch gets a delete horizon
 * (KIP-534): then the horizon becomes the base timestamp, as Kafka writes it, and each kept
 * record's timestamp delta is re-encoded against it so every record keeps its timestamp.
 */

/** One record of a records section, as offsets into that section (reused between records). */
export interface RecordView {
  /** First byte of the record (its length varint) and one past its last byte. */
  start: number;
  end: number;
  offsetDelta: number;
  /** Where the key's bytes start; keyLength -1 for a null key. */
  keyStart: number;
  keyLength: number;
  /** -1 for a null value: a tombstone. */
  valueLength: number;
}

/**
 * Calls `visit` for each of the `count` records of an uncompressed records section, with one
 * reused view, until it returns false; returns whether every record was visited. Throws
 * BATCH_CORRUPT when the section does not hold exactly `count` well-framed records.
 */
export function walkRecords(section: Buffer, count: number, visit: (r: RecordView) => boolean | void): boolean {
  const c = new ByteCursor(section, 0, section.length);
  const r: RecordView = { start: 0, end: 0, offsetDelta: 0, keyStart: 0, keyLength: -1, valueLength: -1 };
  for (let i = 0; i < count; i++) {
    c.end = section.length;
    r.start = c.pos;
    const length = c.readVarint();
    if (!c.ok || length < 6 || length > section.length - c.pos) throw corrupt(`record ${i} of ${count}: bad length`);
    r.end = c.pos + length;
    c.end = r.end;
    c.skip(1);
    // The timestamp delta is only needed for records written anew (see filteredBatch).
    c.skipVarlong();
    r.offsetDelta = c.readVarint();
    r.keyLength = c.readVarint();
    r.keyStart = c.pos;
    if (r.keyLength > 0) c.skip(r.keyLength);
    r.valueLength = c.readVarint();
    if (!c.ok || r.keyLength < -1 || r.valueLength < -1 || (r.valueLength > 0 && r.valueLength > c.end - c.pos)) {
      throw corrupt(`record ${i} of ${count} is malformed`);
    }
    if (visit(r) === false) return false;
    c.pos = r.end;
  }
  if (c.pos !== section.length) throw corrupt(`${section.length - c.pos} bytes follow the last of ${count} records`);
  return true;
}

/** The fields of a batch header the cleaner works with. */
export interface StoredBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  attributes: number;
  codec: CompressionName;
  isControl: boolean;
  isTransactional: boolean;
  /** -1n for a batch without a producer (neither idempotent nor transactional). */
  producerId: bigint;
  producerEpoch: number;
  logAppendTime: boolean;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  recordCount: number;
  /** KIP-534: baseTimestamp holds the time after which this batch's tombstones may go; else null. */
  deleteHorizonMs: bigint | null;
}

/** Reads the header of the whole batch `batch` (exactly one batch). Throws BATCH_CORRUPT. */
export function readStoredBatch(batch: Buffer): StoredBatch {
  if (batch.length < RECORD_BATCH_HEADER_SIZE || LOG_OVERHEAD + batch.readInt32BE(BATCH_LENGTH_OFFSET) !== batch.length) {
    throw corrupt('batch length does not match its header');
  }
  const attributes = batch.readInt16BE(ATTRIBUTES_OFFSET);
  const codecId = attributes & COMPRESSION_MASK;
  if (codecId >= COMPRESSION_CODECS.length) throw corrupt(`unknown compression codec id ${codecId}`);
  const baseOffset = batch.readBigInt64BE(BASE_OFFSET_OFFSET);
  const baseTimestamp = batch.readBigInt64BE(BASE_TIMESTAMP_OFFSET);
  return {
    baseOffset,
    lastOffset: baseOffset + BigInt(batch.readInt32BE(LAST_OFFSET_DELTA_OFFSET)),
    attributes,
    codec: COMPRESSION_CODECS[codecId],
    isControl: (attributes & CONTROL_MASK) !== 0,
    isTransactional: (attributes & TRANSACTIONAL_MASK) !== 0,
    producerId: batch.readBigInt64BE(PRODUCER_ID_OFFSET),
    producerEpoch: batch.readInt16BE(PRODUCER_EPOCH_OFFSET),
    logAppendTime: (attributes & TIMESTAMP_TYPE_MASK) !== 0,
    baseTimestamp,
    maxTimestamp: batch.readBigInt64BE(MAX_TIMESTAMP_OFFSET),
    recordCount: batch.readInt32BE(RECORDS_COUNT_OFFSET),
    deleteHorizonMs: (attributes & DELETE_HORIZON_MASK) !== 0 ? baseTimestamp : null,
  };
}

/** Whether the batch's CRC-32C matches its bytes. */
export function batchCrcOk(batch: Buffer): boolean {
  return crc32c(batch.subarray(ATTRIBUTES_OFFSET)) === batch.readUInt32BE(CRC_OFFSET);
}

/**
 * The records section of a batch, inflated when it is compressed (codecs.ts: gzip, snappy, lz4,
 * zstd); null when its codec's library is not available in this process or when the inflated
 * section would exceed `maxDecompressedBytes` (bounded memory whatever the batch claims): such a
 * batch cannot be read, only kept or dropped whole. Throws BATCH_CORRUPT when the compressed
 * data is damaged.
 */
export function recordsSection(batch: Buffer, info: StoredBatch, maxDecompressedBytes: number): Buffer | null {
  const raw = batch.subarray(RECORD_BATCH_HEADER_SIZE);
  if (info.codec === 'none') return raw;
  if (codecFor(info.codec) === null) return null;
  try {
    return decompressRecords(info.codec, raw, maxDecompressedBytes);
  } catch (e) {
    if (e instanceof InflateLimitError) return null;
    throw e;
  }
}

/**
 * The records a filtered batch keeps: spans of its (decompressed) records section, in growable
 * typed arrays reused from batch to batch.
 */
export class KeptRecords {
  count = 0;
  bytes = 0;
  private starts = new Int32Array(64);
  private ends = new Int32Array(64);

  reset(): void {
    this.count = 0;
    this.bytes = 0;
  }

  add(r: RecordView): void {
    if (this.count === this.starts.length) {
      const starts = new Int32Array(this.count * 2);
      const ends = new Int32Array(this.count * 2);
      starts.set(this.starts);
      ends.set(this.ends);
      this.starts = starts;
      this.ends = ends;
    }
    this.starts[this.count] = r.start;
    this.ends[this.count] = r.end;
    this.count++;
    this.bytes += r.end - r.start;
  }

  start(i: number): number {
    return this.starts[i];
  }

  end(i: number): number {
    return this.ends[i];
  }
}

/**
 * Writes `original` keeping only `kept` records of its records section `section`. The result has
 * the original baseOffset, lastOffsetDelta, partition leader epoch, producer fields, codec (the
 * kept records compressed again with the batch's own codec, as its producer wrote it) and base timestamp — or
 * `deleteHorizonMs` as base timestamp with the horizon attribute set — and recordsCount = kept
 * count. maxTimestamp is recomputed from the kept records for CreateTime batches (the largest
 * record may be gone), kept for LogAppendTime ones (every record carries it).
 */
export function filteredBatch(original: Buffer, info: StoredBatch, section: Buffer, kept: KeptRecords, deleteHorizonMs: bigint | null): Buffer {
  const baseTimestamp = deleteHorizonMs ?? info.baseTimestamp;
  const shift = baseTimestamp - info.baseTimestamp;
  const heads: RecordHead[] = [];
  let size = 0;
  let maxTimestamp = -1n;
  for (let i = 0; i < kept.count; i++) {
    const h = readRecordHead(section, kept.start(i), kept.end(i));
    heads.push(h);
    const ts = info.baseTimestamp + h.timestampDelta;
    if (ts > maxTimestamp) maxTimestamp = ts;
    if (shift === 0n) size += kept.end(i) - kept.start(i);
    else {
      const body = 1 + sizeOfVarlong(h.timestampDelta - shift) + (kept.end(i) - h.deltaEnd);
      size += sizeOfVarint(body) + body;
    }
  }
  let records: Buffer = Buffer.allocUnsafe(size);
  let p = 0;
  for (let i = 0; i < kept.count; i++) {
    if (shift === 0n) p += section.copy(records, p, kept.start(i), kept.end(i));
    else p = reencode(section, heads[i], kept.end(i), shift, records, p);
  }
  if (info.logAppendTime) maxTimestamp = info.maxTimestamp;
  if (info.codec !== 'none') records = compressRecords(info.codec, records);
  let attributes = info.attributes;
  if (deleteHorizonMs !== null) attributes |= DELETE_HORIZON_MASK;
  return writeBatch(original, records, attributes, baseTimestamp, maxTimestamp, kept.count);
}

/**
 * A batch with no records that keeps the original's offsets, producer id, epoch and base sequence,
 * and its transactional and control bits (Kafka's DefaultRecordBatch.writeEmptyHeader): the
 * cleaner keeps the last batch of a round this way so its last offset survives, and the last
 * batch of each active producer so its sequence and epoch survive. Base and max timestamp are the
 * original maxTimestamp, as Kafka writes such headers; never compressed, no delete horizon.
 */
export function emptyBatch(original: Buffer, info: StoredBatch): Buffer {
  const attributes = (info.attributes & ~COMPRESSION_MASK & ~DELETE_HORIZON_MASK) | 0;
  return writeBatch(original, Buffer.alloc(0), attributes, info.maxTimestamp, info.maxTimestamp, 0);
}

/** The original header with the given changes, the records section, and a fresh CRC. */
function writeBatch(original: Buffer, records: Buffer, attributes: number, baseTimestamp: bigint, maxTimestamp: bigint, count: number): Buffer {
  const out = Buffer.allocUnsafe(RECORD_BATCH_HEADER_SIZE + records.length);
  original.copy(out, 0, 0, RECORD_BATCH_HEADER_SIZE);
  out.writeInt32BE(out.length - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  out.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  out.writeBigInt64BE(baseTimestamp, BASE_TIMESTAMP_OFFSET);
  out.writeBigInt64BE(maxTimestamp, MAX_TIMESTAMP_OFFSET);
  out.writeInt32BE(count, RECORDS_COUNT_OFFSET);
  records.copy(out, RECORD_BATCH_HEADER_SIZE);
  out.writeUInt32BE(crc32c(out.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return out;
}

/**
 * A record is: length varint | attributes int8 | timestampDelta varlong | the rest. Moving the
 * base timestamp by `shift` changes only the delta (and so possibly the length varint).
 */
interface RecordHead {
  attributesAt: number;
  timestampDelta: bigint;
  deltaEnd: number;
}

function readRecordHead(section: Buffer, start: number, end: number): RecordHead {
  const c = new ByteCursor(section, start, end);
  c.readVarint();
  const attributesAt = c.pos;
  c.skip(1);
  const timestampDelta = c.readVarlong();
  if (!c.ok) throw corrupt('record header is malformed');
  return { attributesAt, timestampDelta, deltaEnd: c.pos };
}

function reencode(section: Buffer, h: RecordHead, end: number, shift: bigint, out: Buffer, p: number): number {
  const delta = h.timestampDelta - shift;
  const rest = end - h.deltaEnd;
  p = writeVarint(out, p, 1 + sizeOfVarlong(delta) + rest);
  out[p++] = section[h.attributesAt];
  p = writeVarlong(out, p, delta);
  return p + section.copy(out, p, h.deltaEnd, end);
}

function corrupt(message: string): StrataError {
  return new StrataError('BATCH_CORRUPT', message);
}
