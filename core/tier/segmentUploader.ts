import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { StrataError, isStrataError } from '../common/errors';
import type { SegmentInfo } from '../log/partitionLog';
import { OFFSET_INDEX_ENTRY_SIZE } from '../log/offsetIndex';
import { decodeProducerSnapshot, producerSnapshotPath } from '../log/producerSnapshot';
import { segmentPath, txnIndexFileName } from '../log/segmentFiles';
import { TIME_INDEX_ENTRY_SIZE } from '../log/timeIndex';
import { ABORTED_TXN_SIZE } from '../log/txnIndex';
import type { ObjectStore } from './objectStore';
import type { RemoteLogMetadata, RemoteSegment } from './remoteLogMetadata';
import { newSegmentId, remoteObjectKey, remoteSegmentKeys } from './remoteSegmentKeys';

/**
 * Uploads one closed local segment (.log, .index, .timeindex, and with them its .txnindex and the
 * producer snapshot at its end when they exist) and commits its record.
 *
 *   1. open the three files (an open descriptor keeps the bytes readable even if the log
 *      deletes the files meanwhile), then check that the segment is still the log's: the
 *      cleaner's swap puts another segment's files under the same names, so files opened after
 *      a swap (or some before it and some after) are not the segment that was planned. The
 *      .txnindex is read in the same synchronous step as that check (a swap renames the cleaned
 *      segment's .txnindex over it, so only a read in that step is this segment's)
 *   2. read the producer snapshot at the segment's end (`<snapshotOffset>.snapshot`, taken when
 *      the next segment rolled), if there is one and it decodes
 *   3. put .index, .timeindex, .txnindex, .snapshot, then .log (streamed, never held in memory
 *      whole) under fresh write-once keys carrying a new random segment id
 *   4. write the metadata record: only now does the segment exist remotely (invariant 6)
 *
 * On failure the objects written are deleted, best effort; they are orphans either way, since
 * no record names them. The one exception is a record write whose outcome is unknown (the
 * store failed mid-write): the record is read back, and if it cannot be read the objects are
 * left alone, because deleting objects a committed record names would lose data. The orphan
 * sweep at partition open removes whatever is left.
 */
export interface UploadRequest {
  objects: ObjectStore;
  /** Where the record commits (a re-tier passes one whose addSegment replaces the record it supersedes). */
  metadata: Pick<RemoteLogMetadata, 'addSegment' | 'getSegment'>;
  keyPrefix: string;
  topicId: string;
  partition: number;
  /** Leader epoch of this broker for the partition; goes into the keys and the record. */
  leaderEpoch: number;
  /** A closed segment below the high watermark, from PartitionLog.segments(). */
  segment: SegmentInfo;
  /**
   * Whether `segment` is still one of the log's segments (same id). Called synchronously once
   * the three files are open: if it still is, the files opened are its files (a segment's files
   * change only by being replaced or deleted, and either gives the segment up). False stops the
   * upload with NOT_FOUND (nothing committed; the caller plans again).
   */
  isCurrent?: () => boolean;
  /**
   * Where the segment ends for producer state: the base offset of the log's next segment (the
   * snapshot taken at that roll is the state after this segment). Default `segment.nextOffset`.
   */
  snapshotOffset?: bigint;
  now?: () => number;
  logger?: (msg: string) => void;
}

/** An index file larger than this is not one the log wrote (segment.index.bytes is an int). */
const MAX_INDEX_BYTES = 0x7fffffff;

export async function uploadSegment(req: UploadRequest): Promise<RemoteSegment> {
  const { segment: seg, objects } = req;
  if (!seg.closed) throw new TypeError(`segment ${seg.path} is the active segment; only closed segments are uploaded`);
  if (seg.size <= 0 || seg.lastOffset < seg.baseOffset) throw new TypeError(`segment ${seg.path} is empty`);
  const dir = path.dirname(seg.path);
  const handles: FileHandle[] = [];
  const written: string[] = [];
  try {
    const logFh = await openSegmentFile(seg.path, handles);
    const indexFh = await openSegmentFile(segmentPath(dir, seg.baseOffset, '.index'), handles);
    const timeFh = await openSegmentFile(segmentPath(dir, seg.baseOffset, '.timeindex'), handles);
    if (req.isCurrent && !req.isCurrent()) {
      throw new StrataError('NOT_FOUND', `segment ${seg.path} was replaced (log cleaner) or deleted before its upload`);
    }
    const txnIndex = readTxnIndexNow(path.join(dir, txnIndexFileName(seg.baseOffset)));
    const snapshotOffset = req.snapshotOffset ?? seg.nextOffset;
    const snapshot = await readProducerSnapshot(dir, snapshotOffset, req.logger);
    const logSize = (await logFh.stat()).size;
    if (logSize < seg.size) throw new StrataError('STORAGE_IO', `segment ${seg.path} holds ${logSize} bytes, fewer than the ${seg.size} the log knows`);
    const index = await readSmallFile(indexFh, segmentPath(dir, seg.baseOffset, '.index'), OFFSET_INDEX_ENTRY_SIZE);
    const timeIndex = await readSmallFile(timeFh, segmentPath(dir, seg.baseOffset, '.timeindex'), TIME_INDEX_ENTRY_SIZE);

    const segmentId = newSegmentId();
    const keys = remoteSegmentKeys(req.keyPrefix, req.topicId, req.partition, seg.baseOffset, req.leaderEpoch, segmentId);
    written.push(keys.index);
    await objects.put(keys.index, index, { contentLength: index.length });
    written.push(keys.timeIndex);
    await objects.put(keys.timeIndex, timeIndex, { contentLength: timeIndex.length });
    if (txnIndex !== null) {
      keys.txnIndex = remoteObjectKey(req.keyPrefix, req.topicId, req.partition, seg.baseOffset, req.leaderEpoch, segmentId, 'txnindex');
      written.push(keys.txnIndex);
      await objects.put(keys.txnIndex, txnIndex, { contentLength: txnIndex.length });
    }
    if (snapshot !== null) {
      keys.producerSnapshot = remoteObjectKey(req.keyPrefix, req.topicId, req.partition, seg.baseOffset, req.leaderEpoch, segmentId, 'snapshot');
      written.push(keys.producerSnapshot);
      await objects.put(keys.producerSnapshot, snapshot, { contentLength: snapshot.length });
    }
    written.push(keys.log);
    const stream = logFh.createReadStream({ start: 0, end: seg.size - 1, autoClose: false, highWaterMark: 1024 * 1024 });
    try {
      await objects.put(keys.log, stream, { contentLength: seg.size });
    } finally {
      stream.destroy();
    }

    const record: RemoteSegment = {
      topicId: req.topicId,
      partition: req.partition,
      segmentId,
      baseOffset: seg.baseOffset,
      lastOffset: seg.lastOffset,
      sizeBytes: seg.size,
      indexBytes: index.length,
      timeIndexBytes: timeIndex.length,
      maxTimestamp: seg.maxTimestamp,
      leaderEpoch: req.leaderEpoch,
      uploadedAt: (req.now ?? Date.now)(),
      keys,
    };
    if (txnIndex !== null) record.txnIndexBytes = txnIndex.length;
    if (snapshot !== null) {
      record.producerSnapshotBytes = snapshot.length;
      record.producerSnapshotOffset = snapshotOffset;
    }
    try {
      await req.metadata.addSegment(record);
    } catch (e) {
      if (!isStrataError(e, 'KEY_EXISTS')) {
        // Did the write land even though the call failed? Only a read can tell.
        let stored: RemoteSegment | null;
        try {
          stored = await req.metadata.getSegment(req.topicId, req.partition, seg.baseOffset);
        } catch {
          written.length = 0; // outcome unknown: keep the objects (the orphan sweep decides later)
          throw e;
        }
        if (stored?.segmentId === segmentId) {
          written.length = 0; // committed after all: these objects are the segment now
          return stored;
        }
      }
      throw e;
    }
    written.length = 0;
    return record;
  } finally {
    for (const fh of handles) await fh.close().catch(() => undefined);
    if (written.length > 0) await deleteQuietly(objects, written, req.logger);
  }
}

async function openSegmentFile(file: string, handles: FileHandle[]): Promise<FileHandle> {
  try {
    const fh = await fsp.open(file, 'r');
    handles.push(fh);
    return fh;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StrataError('NOT_FOUND', `segment file ${file} is gone (the segment was deleted before its upload)`, { cause: e });
    }
    throw new StrataError('STORAGE_IO', `open ${file}: ${(e as Error).message}`, { cause: e });
  }
}

async function readSmallFile(fh: FileHandle, file: string, entrySize: number): Promise<Buffer> {
  const size = (await fh.stat()).size;
  if (size > MAX_INDEX_BYTES || size % entrySize !== 0) {
    throw new StrataError('STORAGE_IO', `index ${file} has size ${size}, not a whole number of ${entrySize}-byte entries`);
  }
  const buf = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await fh.read(buf, done, size - done, done);
    if (bytesRead === 0) throw new StrataError('STORAGE_IO', `index ${file} shrank while being read`);
    done += bytesRead;
  }
  return buf;
}

/**
 * The segment's aborted-transaction index as it is now (synchronously), whole entries only; null
 * when there is none or it is empty (most segments hold no ABORT marker).
 */
function readTxnIndexNow(file: string): Buffer | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StrataError('STORAGE_IO', `read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const whole = buf.length - (buf.length % ABORTED_TXN_SIZE);
  return whole === 0 ? null : buf.subarray(0, whole);
}

/**
 * The producer snapshot at `offset` in `dir`, or null when there is none (not taken: the log was
 * recovered after a crash, or the state was emptied since) or it does not decode as the state at
 * that offset (logged: uploading it would only move the problem to the object store).
 */
async function readProducerSnapshot(dir: string, offset: bigint, logger?: (msg: string) => void): Promise<Buffer | null> {
  const file = producerSnapshotPath(dir, offset);
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StrataError('STORAGE_IO', `read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const state = decodeProducerSnapshot(buf);
    if (state.endOffset !== offset) throw new StrataError('STORAGE_IO', `it holds the state at offset ${state.endOffset}`);
  } catch (e) {
    logger?.(`producer snapshot ${file} is not uploaded with its segment: ${(e as Error).message}`);
    return null;
  }
  return buf;
}

/** Deletes objects no record names; failures are logged (the orphan sweep retries them). */
export async function deleteQuietly(objects: ObjectStore, keys: readonly string[], logger?: (msg: string) => void): Promise<void> {
  for (const key of keys) {
    try {
      await objects.delete(key);
    } catch (e) {
      logger?.(`could not delete orphan object ${key}: ${(e as Error).message}`);
    }
  }
}
