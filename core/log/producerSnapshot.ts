import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { syncDir } from './checkpointFiles';
import { crc32c } from './crc32c';
import type { ProducerBatch, ProducerEntry } from './producerState';
import { TMP_SUFFIX, parseProducerSnapshotFileName, producerSnapshotFileName } from './segmentFiles';

/**
 * Producer state snapshots (`<20-digit offset>.snapshot`, Kafka's ProducerStateManager snapshot
 * files): the whole producer table as of a log offset, so that opening or truncating a log replays
 * only the batches after the newest snapshot instead of the whole log. The format is Strata's own
 * (Kafka's v1 keeps only each producer's last batch; this one keeps all five, so duplicate
 * detection survives a restart). All integers big-endian:
 *
 *   @0  magic        4 bytes "SPSN"  (tells these apart from Kafka's own .snapshot files)
 *   @4  version      int16 = 1
 *   @6  crc          uint32: CRC-32C of every byte from @10 to the end
 *   @10 endOffset    int64   the log offset the state reflects (exclusive) = the file name's offset
 *   @18 producers    int32 count, then per producer (sorted by id):
 *         producerId int64 │ producerEpoch int16 │ coordinatorEpoch int32 │ lastTimestamp int64 │
 *         currentTxnFirstOffset int64 (-1 none) │ batchCount int8 (0..5), then per batch (oldest first):
 *           firstSeq int32 │ lastSeq int32 │ firstOffset int64 │ lastOffset int64 │ timestamp int64
 *       unreplicated int32 count, then per completed transaction whose marker is not yet below the
 *         high watermark: producerId int64 │ firstOffset int64 │ lastOffset int64
 *
 * Decoding trusts no count: each is checked against the bytes left before anything is allocated,
 * and the buffer must end exactly after the last field.
 */

export interface UnreplicatedTxn {
  producerId: bigint;
  firstOffset: bigint;
  /** The marker's offset. */
  lastOffset: bigint;
}

export interface ProducerSnapshotState {
  endOffset: bigint;
  producers: ProducerEntry[];
  unreplicatedTxns: UnreplicatedTxn[];
}

const MAGIC = Buffer.from('SPSN', 'latin1');
export const PRODUCER_SNAPSHOT_VERSION = 1;
const VERSION_AT = 4;
const CRC_AT = 6;
const BODY_AT = 10;
const HEADER_SIZE = BODY_AT + 8 + 4;
const ENTRY_FIXED_SIZE = 8 + 2 + 4 + 8 + 8 + 1;
const BATCH_SIZE = 4 + 4 + 8 + 8 + 8;
const TXN_SIZE = 8 + 8 + 8;
const MAX_BATCHES = 5;

export function encodeProducerSnapshot(state: ProducerSnapshotState): Buffer {
  let size = HEADER_SIZE + 4 + state.unreplicatedTxns.length * TXN_SIZE;
  for (const e of state.producers) {
    if (e.batches.length > MAX_BATCHES) throw new RangeError(`producer ${e.producerId} has ${e.batches.length} batches, at most ${MAX_BATCHES} are kept`);
    size += ENTRY_FIXED_SIZE + e.batches.length * BATCH_SIZE;
  }
  const buf = Buffer.alloc(size);
  MAGIC.copy(buf, 0);
  buf.writeInt16BE(PRODUCER_SNAPSHOT_VERSION, VERSION_AT);
  let p = BODY_AT;
  p = buf.writeBigInt64BE(state.endOffset, p);
  p = buf.writeInt32BE(state.producers.length, p);
  for (const e of state.producers) {
    p = buf.writeBigInt64BE(e.producerId, p);
    p = buf.writeInt16BE(e.producerEpoch, p);
    p = buf.writeInt32BE(e.coordinatorEpoch, p);
    p = buf.writeBigInt64BE(e.lastTimestamp, p);
    p = buf.writeBigInt64BE(e.currentTxnFirstOffset ?? -1n, p);
    p = buf.writeInt8(e.batches.length, p);
    for (const b of e.batches) {
      p = buf.writeInt32BE(b.firstSeq, p);
      p = buf.writeInt32BE(b.lastSeq, p);
      p = buf.writeBigInt64BE(b.firstOffset, p);
      p = buf.writeBigInt64BE(b.lastOffset, p);
      p = buf.writeBigInt64BE(b.timestamp, p);
    }
  }
  p = buf.writeInt32BE(state.unreplicatedTxns.length, p);
  for (const t of state.unreplicatedTxns) {
    p = buf.writeBigInt64BE(t.producerId, p);
    p = buf.writeBigInt64BE(t.firstOffset, p);
    p = buf.writeBigInt64BE(t.lastOffset, p);
  }
  buf.writeUInt32BE(crc32c(buf.subarray(BODY_AT)), CRC_AT);
  return buf;
}

/** Throws StrataError STORAGE_IO when `buf` is not a whole, intact snapshot of a known version. */
export function decodeProducerSnapshot(buf: Buffer): ProducerSnapshotState {
  if (buf.length < HEADER_SIZE + 4) throw bad(`${buf.length} bytes is shorter than a snapshot header`);
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('not a Strata producer snapshot (bad magic)');
  const version = buf.readInt16BE(VERSION_AT);
  if (version !== PRODUCER_SNAPSHOT_VERSION) throw bad(`unknown version ${version}`);
  if (crc32c(buf.subarray(BODY_AT)) !== buf.readUInt32BE(CRC_AT)) throw bad('CRC-32C mismatch');
  let p = BODY_AT;
  const endOffset = buf.readBigInt64BE(p);
  p += 8;
  if (endOffset < 0n) throw bad(`negative end offset ${endOffset}`);
  const count = buf.readInt32BE(p);
  p += 4;
  if (count < 0 || count > (buf.length - p) / ENTRY_FIXED_SIZE) throw bad(`producer count ${count} does not fit ${buf.length - p} bytes`);
  const producers: ProducerEntry[] = [];
  const seen = new Set<bigint>();
  for (let i = 0; i < count; i++) {
    if (buf.length - p < ENTRY_FIXED_SIZE) throw bad(`producer ${i} of ${count} is truncated`);
    const producerId = buf.readBigInt64BE(p);
    const producerEpoch = buf.readInt16BE(p + 8);
    const coordinatorEpoch = buf.readInt32BE(p + 10);
    const lastTimestamp = buf.readBigInt64BE(p + 14);
    const txnFirst = buf.readBigInt64BE(p + 22);
    const batchCount = buf.readInt8(p + 30);
    p += ENTRY_FIXED_SIZE;
    if (producerId < 0n || seen.has(producerId)) throw bad(`producer ${i}: invalid or repeated producer id ${producerId}`);
    seen.add(producerId);
    if (batchCount < 0 || batchCount > MAX_BATCHES) throw bad(`producer ${producerId}: ${batchCount} batches`);
    if (buf.length - p < batchCount * BATCH_SIZE) throw bad(`producer ${producerId}: batches truncated`);
    const batches: ProducerBatch[] = [];
    for (let j = 0; j < batchCount; j++) {
      const b: ProducerBatch = {
        firstSeq: buf.readInt32BE(p),
        lastSeq: buf.readInt32BE(p + 4),
        firstOffset: buf.readBigInt64BE(p + 8),
        lastOffset: buf.readBigInt64BE(p + 16),
        timestamp: buf.readBigInt64BE(p + 24),
      };
      p += BATCH_SIZE;
      if (b.firstOffset < 0n || b.lastOffset < b.firstOffset) throw bad(`producer ${producerId}: batch offsets ${b.firstOffset}..${b.lastOffset}`);
      batches.push(b);
    }
    producers.push({
      producerId,
      producerEpoch,
      coordinatorEpoch,
      batches,
      lastTimestamp,
      currentTxnFirstOffset: txnFirst >= 0n ? txnFirst : null,
    });
  }
  if (buf.length - p < 4) throw bad('unreplicated transactions truncated');
  const txnCount = buf.readInt32BE(p);
  p += 4;
  if (txnCount < 0 || txnCount * TXN_SIZE !== buf.length - p) {
    throw bad(`${txnCount} unreplicated transactions do not fill the ${buf.length - p} bytes left`);
  }
  const unreplicatedTxns: UnreplicatedTxn[] = [];
  for (let i = 0; i < txnCount; i++) {
    unreplicatedTxns.push({ producerId: buf.readBigInt64BE(p), firstOffset: buf.readBigInt64BE(p + 8), lastOffset: buf.readBigInt64BE(p + 16) });
    p += TXN_SIZE;
  }
  return { endOffset, producers, unreplicatedTxns };
}

/** The path of the snapshot at `offset` in `dir`. */
export function producerSnapshotPath(dir: string, offset: bigint): string {
  return path.join(dir, producerSnapshotFileName(offset));
}

/**
 * Writes `bytes` as the snapshot at `offset`: temp file, fsync, rename, fsync the directory, so
 * a reader (or a crash) sees no file or the whole file. Replaces an existing one.
 */
export function writeProducerSnapshotFile(dir: string, offset: bigint, bytes: Buffer): string {
  const file = producerSnapshotPath(dir, offset);
  const tmp = file + TMP_SUFFIX;
  try {
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new StrataError('STORAGE_IO', `write ${file}: ${(e as Error).message}`, { cause: e });
  }
  syncDir(dir);
  return file;
}

/**
 * Offsets of the snapshot files in `dir`, ascending (none when `dir` does not exist). Leftover
 * temp files of an interrupted write are removed.
 */
export function listProducerSnapshots(dir: string): bigint[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StrataError('STORAGE_IO', `list ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const offsets: bigint[] = [];
  for (const name of names) {
    const offset = parseProducerSnapshotFileName(name);
    if (offset !== null) offsets.push(offset);
    else if (name.endsWith(TMP_SUFFIX) && parseProducerSnapshotFileName(name.slice(0, -TMP_SUFFIX.length)) !== null) {
      fs.rmSync(path.join(dir, name), { force: true });
    }
  }
  return offsets.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function bad(message: string): StrataError {
  return new StrataError('STORAGE_IO', `producer snapshot: ${message}`);
}
