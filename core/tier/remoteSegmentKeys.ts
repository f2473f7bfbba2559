import { randomBytes } from 'node:crypto';
import { checkObjectKey } from './objectStore';

/**
 * Names of tiered segments: object-store keys for a segment's files, and metadata-store keys for
 * its record. Built and parsed only here, as one strict pair.
 *
 *   objects   <prefix>/<topicId>/<partition>/<baseOffset, 20 digits>-<leaderEpoch>-<segmentId>.log
 *                                                                                  ….index
 *                                                                                  ….timeindex
 *                                                                                  ….txnindex   optional
 *                                                                                  ….snapshot   optional
 *   metadata  segment/<topicId>/<partition, 10 digits>/<baseOffset, 20 digits>   one per segment
 *             state/<topicId>/<partition, 10 digits>                              log start / tiered end
 *
 * Object keys are write-once and never reused: the segment id is 16 random bytes chosen per
 * upload attempt, so a retried upload writes new objects and can never overwrite an object a
 * committed record names (S3 conditional writes are not relied on). The topic id (not the
 * name) keeps a re-created topic of the same name away from the old data. The zero padding
 * makes a listing come back in offset order.
 */
export type RemoteFileExt = 'log' | 'index' | 'timeindex' | 'txnindex' | 'snapshot';

/**
 * Every extension a segment's objects carry: the three every segment has, then the aborted-
 * transaction index (only when the segment holds an ABORT marker) and the producer state snapshot
 * at the segment's end (the next segment's base offset), both tiered with it (KIP-405).
 */
export const REMOTE_FILE_EXTS: readonly RemoteFileExt[] = ['log', 'index', 'timeindex', 'txnindex', 'snapshot'];

/** The default first path segment of every tiered object. */
export const DEFAULT_KEY_PREFIX = 'remote-log';

export interface RemoteSegmentKeys {
  log: string;
  index: string;
  timeIndex: string;
  /** The segment's .txnindex; absent when it had none (no ABORT marker) or was tiered before these were. */
  txnIndex?: string;
  /** The producer state snapshot at the segment's end; absent when there was none locally, or in older records. */
  producerSnapshot?: string;
}

export interface ParsedRemoteObjectKey {
  topicId: string;
  partition: number;
  baseOffset: bigint;
  leaderEpoch: number;
  segmentId: string;
  ext: RemoteFileExt;
}

const MAX_OFFSET = (1n << 63n) - 1n;
const OBJECT_NAME_RE = /^(\d{20})-(\d{1,10})-([0-9a-f]{32})\.(log|index|timeindex|txnindex|snapshot)$/;
const SEGMENT_ID_RE = /^[0-9a-f]{32}$/;
const TOPIC_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** A fresh segment id: 16 random bytes as 32 hex digits. */
export function newSegmentId(): string {
  return randomBytes(16).toString('hex');
}

function pad20(offset: bigint): string {
  if (offset < 0n || offset > MAX_OFFSET) throw new RangeError(`offset ${offset} is not a valid Kafka offset`);
  return offset.toString().padStart(20, '0');
}

function pad10(partition: number): string {
  checkPartition(partition);
  return String(partition).padStart(10, '0');
}

function checkPartition(partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) throw new RangeError(`invalid partition ${partition}`);
}

function checkTopicId(topicId: string): void {
  if (!TOPIC_ID_RE.test(topicId)) throw new TypeError(`invalid topic id ${JSON.stringify(topicId)}`);
}

function checkPrefix(prefix: string): void {
  checkObjectKey(prefix); // a valid key is also a valid prefix of keys: no empty or dot segments
}

/** The folder (with its trailing '/') holding every tiered object of one partition. */
export function partitionObjectPrefix(prefix: string, topicId: string, partition: number): string {
  checkPrefix(prefix);
  checkTopicId(topicId);
  checkPartition(partition);
  return `${prefix}/${topicId}/${partition}/`;
}

/** The folder (with its trailing '/') holding every tiered object of one topic. */
export function topicObjectPrefix(prefix: string, topicId: string): string {
  checkPrefix(prefix);
  checkTopicId(topicId);
  return `${prefix}/${topicId}/`;
}

/** The keys of the three objects every tiered segment has (see remoteObjectKey for the optional ones). */
export function remoteSegmentKeys(
  prefix: string,
  topicId: string,
  partition: number,
  baseOffset: bigint,
  leaderEpoch: number,
  segmentId: string,
): RemoteSegmentKeys {
  const stem = objectStem(prefix, topicId, partition, baseOffset, leaderEpoch, segmentId);
  return { log: `${stem}.log`, index: `${stem}.index`, timeIndex: `${stem}.timeindex` };
}

/** The key of one of a segment's objects (e.g. its optional `txnindex` or `snapshot`). */
export function remoteObjectKey(
  prefix: string,
  topicId: string,
  partition: number,
  baseOffset: bigint,
  leaderEpoch: number,
  segmentId: string,
  ext: RemoteFileExt,
): string {
  if (!REMOTE_FILE_EXTS.includes(ext)) throw new TypeError(`invalid remote file extension ${JSON.stringify(ext)}`);
  return `${objectStem(prefix, topicId, partition, baseOffset, leaderEpoch, segmentId)}.${ext}`;
}

function objectStem(prefix: string, topicId: string, partition: number, baseOffset: bigint, leaderEpoch: number, segmentId: string): string {
  if (!Number.isInteger(leaderEpoch) || leaderEpoch < 0 || leaderEpoch > 0x7fffffff) throw new RangeError(`invalid leader epoch ${leaderEpoch}`);
  if (!SEGMENT_ID_RE.test(segmentId)) throw new TypeError(`invalid segment id ${JSON.stringify(segmentId)}`);
  return `${partitionObjectPrefix(prefix, topicId, partition)}${pad20(baseOffset)}-${leaderEpoch}-${segmentId}`;
}

/** Every object key a record names: the three required ones, then the optional ones it has. */
export function allObjectKeys(keys: RemoteSegmentKeys): string[] {
  const out = [keys.log, keys.index, keys.timeIndex];
  if (keys.txnIndex !== undefined) out.push(keys.txnIndex);
  if (keys.producerSnapshot !== undefined) out.push(keys.producerSnapshot);
  return out;
}

/** Inverse of remoteSegmentKeys for one object; null for any key it would not have produced. */
export function parseRemoteObjectKey(prefix: string, key: string): ParsedRemoteObjectKey | null {
  if (!key.startsWith(`${prefix}/`)) return null;
  const parts = key.slice(prefix.length + 1).split('/');
  if (parts.length !== 3) return null;
  const [topicId, partitionText, name] = parts;
  if (!TOPIC_ID_RE.test(topicId) || !/^(0|[1-9]\d{0,9})$/.test(partitionText)) return null;
  const partition = Number(partitionText);
  if (partition > 0x7fffffff) return null;
  const m = OBJECT_NAME_RE.exec(name);
  if (m === null) return null;
  const baseOffset = BigInt(m[1]);
  const leaderEpoch = Number(m[2]);
  if (baseOffset > MAX_OFFSET || leaderEpoch > 0x7fffffff || String(leaderEpoch) !== m[2]) return null;
  return { topicId, partition, baseOffset, leaderEpoch, segmentId: m[3], ext: m[4] as RemoteFileExt };
}

/** Metadata key of one segment's record (in the 'remote-segments' namespace). */
export function segmentRecordKey(topicId: string, partition: number, baseOffset: bigint): string {
  checkTopicId(topicId);
  return `segment/${topicId}/${pad10(partition)}/${pad20(baseOffset)}`;
}

/** Prefix of every segment record of one partition (or, without `partition`, of one topic). */
export function segmentRecordPrefix(topicId: string, partition?: number): string {
  checkTopicId(topicId);
  return partition === undefined ? `segment/${topicId}/` : `segment/${topicId}/${pad10(partition)}/`;
}

/** Metadata key of a partition's tier state record. */
export function stateRecordKey(topicId: string, partition: number): string {
  checkTopicId(topicId);
  return `state/${topicId}/${pad10(partition)}`;
}

export function stateRecordPrefix(topicId: string): string {
  checkTopicId(topicId);
  return `state/${topicId}/`;
}
