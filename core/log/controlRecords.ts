import { StrataError } from '../common/errors';
import { BATCH_LENGTH_OFFSET, CONTROL_MASK, LOG_OVERHEAD, RECORD_BATCH_HEADER_SIZE } from './recordBatch';
import { buildRecordBatch } from './recordBatchBuilder';
import { decodeRecordBatch } from './recordDecoder';

/**
 * Control records: the transaction markers (end-transaction markers) a transaction coordinator
 * writes into every partition of a transaction, as Kafka encodes them (EndTransactionMarker,
 * ControlRecordType). A marker is a RecordBatch v2 of its own:
 *
 *   attributes      TRANSACTIONAL | CONTROL (0x30), never compressed
 *   producerId      the transaction's producer id; producerEpoch its epoch
 *   baseSequence    -1 (markers carry no sequence)
 *   one record      key   = int16 version (0) | int16 type (0 ABORT, 1 COMMIT)
 *                   value = int16 version (0) | int32 coordinatorEpoch
 *
 * Consumers skip control batches; the broker reads them to complete transactions (producer
 * state, LSO, aborted-transaction index).
 */

export type EndTxnMarkerType = 'COMMIT' | 'ABORT';
/** A control record type; 'UNKNOWN' for types this broker does not act on (KRaft's LEADER_CHANGE = 2, …). */
export type ControlRecordType = EndTxnMarkerType | 'UNKNOWN';

export interface ControlRecord {
  type: ControlRecordType;
  /** The marker's coordinator epoch; -1 for an 'UNKNOWN' type (its value is not read). */
  coordinatorEpoch: number;
}

export interface EndTxnMarkerSpec {
  producerId: bigint;
  producerEpoch: number;
  type: EndTxnMarkerType;
  coordinatorEpoch: number;
  /** The marker record's timestamp (ms); default now. */
  timestamp?: bigint;
  /** Stamped by the log on append anyway; default -1. */
  partitionLeaderEpoch?: number;
}

/** ControlRecordType ids (Kafka: ABORT 0, COMMIT 1, then KRaft's types from 2). */
const ABORT_TYPE = 0;
const COMMIT_TYPE = 1;
const CONTROL_KEY_VERSION = 0;
const CONTROL_KEY_SIZE = 4;
const END_TXN_MARKER_VERSION = 0;
const END_TXN_MARKER_VALUE_SIZE = 6;

/**
 * A control batch is tiny (a marker is 61 + ~20 bytes): anything larger than this is refused
 * rather than decoded, so a damaged length cannot make the reader allocate.
 */
export const MAX_CONTROL_BATCH_BYTES = 4096;
/** Bound on an (unexpectedly) compressed control batch's inflated records. */
const MAX_CONTROL_RECORDS_BYTES = 64 * 1024;

/** The bytes of one end-transaction marker batch, baseOffset 0 (the log stamps the real one). */
export function buildEndTxnMarker(spec: EndTxnMarkerSpec): Buffer {
  if (spec.producerId < 0n) {
    throw new StrataError('BATCH_INVALID', `a transaction marker needs a producer id, got ${spec.producerId}`);
  }
  const key = Buffer.allocUnsafe(CONTROL_KEY_SIZE);
  key.writeInt16BE(CONTROL_KEY_VERSION, 0);
  key.writeInt16BE(spec.type === 'ABORT' ? ABORT_TYPE : COMMIT_TYPE, 2);
  const value = Buffer.allocUnsafe(END_TXN_MARKER_VALUE_SIZE);
  value.writeInt16BE(END_TXN_MARKER_VERSION, 0);
  value.writeInt32BE(spec.coordinatorEpoch, 2);
  const timestamp = spec.timestamp ?? BigInt(Date.now());
  return buildRecordBatch({
    records: [{ key, value, timestamp }],
    now: timestamp,
    producerId: spec.producerId,
    producerEpoch: spec.producerEpoch,
    baseSequence: -1,
    isTransactional: true,
    isControl: true,
    partitionLeaderEpoch: spec.partitionLeaderEpoch,
  });
}

/**
 * Reads the control record of one stored control batch (`batch` holds exactly that batch).
 * Returns null for a control batch with no record (the log cleaner may leave one: its last
 * offset must survive). Types other than COMMIT/ABORT come back as 'UNKNOWN', as Kafka's
 * ControlRecordType.parse does; newer key/value versions are read as version 0 (Kafka's rule:
 * versions only add fields), negative versions are corrupt.
 *
 * Throws BATCH_CORRUPT for a batch over MAX_CONTROL_BATCH_BYTES, a bad header, CRC or record,
 * and BATCH_INVALID for a batch that is not a control batch.
 */
export function readControlRecord(batch: Buffer): ControlRecord | null {
  if (batch.length > MAX_CONTROL_BATCH_BYTES) {
    throw corrupt(`control batch of ${batch.length} bytes exceeds ${MAX_CONTROL_BATCH_BYTES}`);
  }
  if (batch.length < RECORD_BATCH_HEADER_SIZE || batch.readInt32BE(BATCH_LENGTH_OFFSET) !== batch.length - LOG_OVERHEAD) {
    throw corrupt(`control batch of ${batch.length} bytes does not match its header`);
  }
  let decoded;
  try {
    decoded = decodeRecordBatch(batch, { maxDecompressedBytes: MAX_CONTROL_RECORDS_BYTES });
  } catch (e) {
    throw corrupt(`control batch: ${(e as Error).message}`, e);
  }
  if ((decoded.attributes & CONTROL_MASK) === 0) {
    throw new StrataError('BATCH_INVALID', `batch at offset ${decoded.baseOffset} is not a control batch`);
  }
  if (decoded.records.length === 0) return null;
  const { key, value } = decoded.records[0];
  if (key === null || key.length < CONTROL_KEY_SIZE) throw corrupt(`control record key of ${key?.length ?? 'null'} bytes, need ${CONTROL_KEY_SIZE}`);
  const keyVersion = key.readInt16BE(0);
  if (keyVersion < 0) throw corrupt(`control record key version ${keyVersion}`);
  const typeId = key.readInt16BE(2);
  if (typeId !== ABORT_TYPE && typeId !== COMMIT_TYPE) return { type: 'UNKNOWN', coordinatorEpoch: -1 };
  if (value === null || value.length < END_TXN_MARKER_VALUE_SIZE) {
    throw corrupt(`end transaction marker value of ${value?.length ?? 'null'} bytes, need ${END_TXN_MARKER_VALUE_SIZE}`);
  }
  const valueVersion = value.readInt16BE(0);
  if (valueVersion < 0) throw corrupt(`end transaction marker version ${valueVersion}`);
  return { type: typeId === ABORT_TYPE ? 'ABORT' : 'COMMIT', coordinatorEpoch: value.readInt32BE(2) };
}

function corrupt(message: string, cause?: unknown): StrataError {
  return new StrataError('BATCH_CORRUPT', message, cause === undefined ? undefined : { cause });
}
