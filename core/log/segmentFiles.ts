import * as path from 'node:path';
import { StrataError } from '../common/errors';

/**
 * Names of the files in a partition directory. Building and parsing live here, as one strict
 * pair, so a name this module writes is exactly a name it accepts and nothing else is.
 *
 *   00000000000000000000.log         RecordBatch v2 bytes, as received (offsets stamped)
 *   00000000000000000000.index       sparse offset index
 *   00000000000000000000.timeindex   sparse time index
 *   00000000000000001234.log         next segment: its first offset is 1234
 *   log-start-offset                 the log start offset, when DeleteRecords moved it past the first segment's base
 *   clean-shutdown                   present only between a clean close and the next open
 *   cleaner-offset-checkpoint        compacted topics: where the cleaner's dirty section starts
 *   00000000000000001234.snapshot    producer state as of offset 1234 (exclusive): see producerSnapshot.ts
 *   00000000000000001234.txnindex    aborted transactions whose markers are in segment 1234: see txnIndex.ts
 *
 * `.snapshot` and `.txnindex` names have their own build/parse pairs below and are not segment
 * file extensions: parseSegmentFileName rejects them, so code listing segments ignores them.
 *
 * While the log cleaner replaces segments, a segment file name may carry one more suffix (see
 * segmentSwap.ts for the protocol and its recovery):
 *
 *   00000000000000000000.log.cleaned the cleaner's output, still being written (never trusted)
 *   00000000000000000000.log.swap    the cleaner's output, committed: it replaces the .deleted files
 *   00000000000000000000.log.deleted a segment being replaced (restored if no .log.swap exists)
 *
 * The 20-digit zero padding makes `ls` order equal offset order (Kafka's convention).
 */
export type SegmentFileExt = '.log' | '.index' | '.timeindex';

export const SEGMENT_FILE_EXTS: readonly SegmentFileExt[] = ['.log', '.index', '.timeindex'];

/** Suffixes of the segment files the log cleaner writes, commits and replaces. */
export type CleanerFileSuffix = '.cleaned' | '.swap' | '.deleted';
/** '' for a live segment file. */
export type SegmentFileSuffix = '' | CleanerFileSuffix;

/** Kafka offsets are signed 64-bit; a base offset is never negative. */
const MAX_OFFSET = (1n << 63n) - 1n;
const DIGITS = 20;
const NAME_RE = /^(\d{20})(\.log|\.index|\.timeindex)$/;
const CLEANER_NAME_RE = /^(\d{20})(\.log|\.index|\.timeindex)(\.cleaned|\.swap|\.deleted)$/;

/** Holds the persisted log start offset (see checkpointFiles.ts). */
export const LOG_START_OFFSET_FILE = 'log-start-offset';
/** Written by a clean close, removed on open (see checkpointFiles.ts). */
export const CLEAN_SHUTDOWN_FILE = 'clean-shutdown';
/** The log cleaner's first dirty offset and pending delete horizon (see checkpointFiles.ts). */
export const CLEANER_CHECKPOINT_FILE = 'cleaner-offset-checkpoint';

export function segmentFileName(baseOffset: bigint, ext: SegmentFileExt): string {
  return offsetFileName(baseOffset, ext, 'segment base offset');
}

function offsetFileName(offset: bigint, ext: string, what: string): string {
  if (offset < 0n || offset > MAX_OFFSET) {
    throw new StrataError('OFFSET_OUT_OF_RANGE', `${what} ${offset} is not a valid offset`);
  }
  return offset.toString().padStart(DIGITS, '0') + ext;
}

function parseOffsetFileName(re: RegExp, name: string): bigint | null {
  const m = re.exec(name);
  if (m === null) return null;
  const offset = BigInt(m[1]);
  return offset > MAX_OFFSET ? null : offset;
}

/** Kafka's producer state snapshot suffix (LogFileUtils.PRODUCER_SNAPSHOT_FILE_SUFFIX). */
export const PRODUCER_SNAPSHOT_EXT = '.snapshot';
/** Kafka's transaction index suffix (LogFileUtils.TXN_INDEX_FILE_SUFFIX). */
export const TXN_INDEX_EXT = '.txnindex';
/** Suffix of a file still being written; renamed onto its final name once fsynced. */
export const TMP_SUFFIX = '.tmp';
const PRODUCER_SNAPSHOT_NAME_RE = /^(\d{20})\.snapshot$/;
const TXN_INDEX_NAME_RE = /^(\d{20})\.txnindex$/;

/** `<20-digit offset>.snapshot`: the producer state as of `offset`, the log offset it reflects (exclusive). */
export function producerSnapshotFileName(offset: bigint): string {
  return offsetFileName(offset, PRODUCER_SNAPSHOT_EXT, 'producer snapshot offset');
}

/** Inverse of `producerSnapshotFileName`; null for any name it would not have produced. */
export function parseProducerSnapshotFileName(name: string): bigint | null {
  return parseOffsetFileName(PRODUCER_SNAPSHOT_NAME_RE, name);
}

/** `<20-digit segment base offset>.txnindex`: the aborted transactions of that segment. */
export function txnIndexFileName(baseOffset: bigint): string {
  return offsetFileName(baseOffset, TXN_INDEX_EXT, 'transaction index base offset');
}

/** Inverse of `txnIndexFileName`; null for any name it would not have produced. */
export function parseTxnIndexFileName(name: string): bigint | null {
  return parseOffsetFileName(TXN_INDEX_NAME_RE, name);
}

/** Inverse of `segmentFileName`; null for any name it would not have produced. */
export function parseSegmentFileName(name: string): { baseOffset: bigint; ext: SegmentFileExt } | null {
  const m = NAME_RE.exec(name);
  if (m === null) return null;
  const baseOffset = BigInt(m[1]);
  if (baseOffset > MAX_OFFSET) return null;
  return { baseOffset, ext: m[2] as SegmentFileExt };
}

/** Inverse of `segmentFileName(...) + suffix` for the cleaner's suffixes; null for anything else. */
export function parseCleanerFileName(name: string): { baseOffset: bigint; ext: SegmentFileExt; suffix: CleanerFileSuffix } | null {
  const m = CLEANER_NAME_RE.exec(name);
  if (m === null) return null;
  const baseOffset = BigInt(m[1]);
  if (baseOffset > MAX_OFFSET) return null;
  return { baseOffset, ext: m[2] as SegmentFileExt, suffix: m[3] as CleanerFileSuffix };
}

export function segmentPath(dir: string, baseOffset: bigint, ext: SegmentFileExt, suffix: SegmentFileSuffix = ''): string {
  return path.join(dir, segmentFileName(baseOffset, ext) + suffix);
}
