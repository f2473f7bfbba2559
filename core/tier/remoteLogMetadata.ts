import { StrataError, isStrataError } from '../common/errors';
import type { KvValue, VersionedKv } from '../meta/versionedKv';
import {
  segmentRecordKey,
  segmentRecordPrefix,
  stateRecordKey,
  stateRecordPrefix,
  type RemoteSegmentKeys,
} from './remoteSegmentKeys';

/** The metadata-store namespace holding tiered segment records. */
export const REMOTE_SEGMENTS_NAMESPACE = 'remote-segments';

/**
 * One tiered segment, as its metadata record describes it. The record is what makes the
 * segment part of the log (invariant 6): objects without a record are invisible orphans.
 */
export interface RemoteSegment {
  topicId: string;
  partition: number;
  /** Unique per upload attempt; part of every object key. */
  segmentId: string;
  baseOffset: bigint;
  /**
   * Inclusive: the last offset the segment covers. Its last batch's last offset, or for a
   * segment re-tiered after compaction (TieredPartition.retier) at least the last offset of the
   * records it replaced, since compaction may have removed the records at its end.
   */
  lastOffset: bigint;
  /** Bytes of the .log object. */
  sizeBytes: number;
  indexBytes: number;
  timeIndexBytes: number;
  /** Largest batch maxTimestamp in the segment, -1n when none carried one. */
  maxTimestamp: bigint;
  /** Leader epoch of the broker that uploaded it. */
  leaderEpoch: number;
  /** ms since the epoch. */
  uploadedAt: number;
  keys: RemoteSegmentKeys;
  /** Bytes of the .txnindex object; present exactly when `keys.txnIndex` is. */
  txnIndexBytes?: number;
  /** Bytes of the producer snapshot object; present exactly when `keys.producerSnapshot` is. */
  producerSnapshotBytes?: number;
  /**
   * The offset the producer snapshot reflects (exclusive): the segment's end, i.e. the base
   * offset of the local segment after it when it was uploaded. Present exactly when
   * `keys.producerSnapshot` is.
   */
  producerSnapshotOffset?: bigint;
}

/** One object of a tiered segment: its key and size (for deletes and cache invalidation). */
export interface RemoteObject {
  key: string;
  size: number;
}

/** Every object a segment record names, the three required ones first. */
export function segmentObjects(s: RemoteSegment): RemoteObject[] {
  const out: RemoteObject[] = [
    { key: s.keys.log, size: s.sizeBytes },
    { key: s.keys.index, size: s.indexBytes },
    { key: s.keys.timeIndex, size: s.timeIndexBytes },
  ];
  if (s.keys.txnIndex !== undefined) out.push({ key: s.keys.txnIndex, size: s.txnIndexBytes ?? 0 });
  if (s.keys.producerSnapshot !== undefined) out.push({ key: s.keys.producerSnapshot, size: s.producerSnapshotBytes ?? 0 });
  return out;
}

/**
 * Per-partition facts that outlive the segment records: where the log starts (moved by
 * retention and DeleteRecords) and the highest offset ever tiered. Without it, a broker with an
 * empty disk would restart a partition's offsets at 0 once retention had deleted every tiered
 * segment.
 */
export interface PartitionTierState {
  logStartOffset: bigint;
  /** One past the last offset ever tiered. */
  endOffset: bigint;
  /**
   * Compacted topics: the log start when re-tiering first removed the partition's first tiered
   * segment (every record in it was superseded). Compaction never moves the log start, so the
   * log keeps starting here rather than at the next segment's base. Only ever lowered; absent
   * until needed.
   */
  compactedStartOffset?: bigint;
}

/**
 * The records a reader should use, and the leftovers of an interrupted re-tier. Records never
 * overlap, except for a moment during a re-tier: the cleaned segment's record is committed at the
 * base offset of the first record it replaces, covering all of them, and the others are removed
 * after it. So a record that starts inside the range of the record before it (sorted by base
 * offset) is superseded: its data is in that earlier record, more compacted.
 */
export function liveSegments(sorted: readonly RemoteSegment[]): { live: RemoteSegment[]; superseded: RemoteSegment[] } {
  const live: RemoteSegment[] = [];
  const superseded: RemoteSegment[] = [];
  for (const s of sorted) {
    const prev = live[live.length - 1];
    if (prev && prev.partition === s.partition && s.baseOffset <= prev.lastOffset) superseded.push(s);
    else live.push(s);
  }
  return { live, superseded };
}

/**
 * Reads and writes the records of tiered segments in a VersionedKv namespace (normally
 * `store.namespace('remote-segments')`). Single-key conditional writes only, as the port allows:
 * a segment record is created once (must not exist) and deleted once; the state record is
 * written conditionally on its version.
 */
export class RemoteLogMetadata {
  constructor(private readonly kv: VersionedKv) {}

  /** The partition's segments sorted by base offset. Malformed records are reported, not returned. */
  async listSegments(topicId: string, partition: number, onBadRecord?: (key: string, why: string) => void): Promise<RemoteSegment[]> {
    return this.decodeAll(await this.kv.list(segmentRecordPrefix(topicId, partition)), onBadRecord);
  }

  /** Every segment of a topic (all partitions), for deleting a topic's tiered data. */
  async listTopicSegments(topicId: string, onBadRecord?: (key: string, why: string) => void): Promise<RemoteSegment[]> {
    return this.decodeAll(await this.kv.list(segmentRecordPrefix(topicId)), onBadRecord);
  }

  private decodeAll(entries: { key: string; value: KvValue }[], onBadRecord?: (key: string, why: string) => void): RemoteSegment[] {
    const out: RemoteSegment[] = [];
    for (const e of entries) {
      const seg = decodeSegment(e.value);
      if (typeof seg === 'string') onBadRecord?.(e.key, seg);
      else out.push(seg);
    }
    // Keys sort in offset order already (20-digit padding); sorting again costs little and
    // does not depend on that.
    return out.sort((a, b) => (a.partition - b.partition) || (a.baseOffset < b.baseOffset ? -1 : a.baseOffset > b.baseOffset ? 1 : 0));
  }

  async getSegment(topicId: string, partition: number, baseOffset: bigint): Promise<RemoteSegment | null> {
    const e = await this.kv.get(segmentRecordKey(topicId, partition, baseOffset));
    if (e === null) return null;
    const seg = decodeSegment(e.value);
    if (typeof seg === 'string') throw new StrataError('STORE_UNAVAILABLE', `remote segment record ${e.key} is malformed: ${seg}`);
    return seg;
  }

  /**
   * Commits a segment: from this moment it is part of the log. Throws KEY_EXISTS when a record
   * for the same base offset exists (the caller re-reads rather than overwrite it).
   */
  async addSegment(seg: RemoteSegment): Promise<void> {
    await this.kv.put(segmentRecordKey(seg.topicId, seg.partition, seg.baseOffset), encodeSegment(seg), null);
  }

  /**
   * Re-tiering (compacted topics): replaces the committed record `current` with `next`, at the
   * same base offset, conditionally on the stored record still being `current` (its segment id,
   * then a write on the version read). Throws VERSION_CONFLICT when it is not (removed, or
   * replaced meanwhile). From this moment `next` is the segment at this base offset; `current`'s
   * objects may be deleted once this resolves.
   */
  async replaceSegment(current: RemoteSegment, next: RemoteSegment): Promise<void> {
    if (current.baseOffset !== next.baseOffset || current.topicId !== next.topicId || current.partition !== next.partition) {
      throw new TypeError(`a replacing record must have the same partition and base offset (${current.baseOffset} vs ${next.baseOffset})`);
    }
    const key = segmentRecordKey(next.topicId, next.partition, next.baseOffset);
    const e = await this.kv.get(key);
    const stored = e === null ? null : decodeSegment(e.value);
    if (e === null || typeof stored === 'string' || stored === null || stored.segmentId !== current.segmentId) {
      throw new StrataError('VERSION_CONFLICT', `remote segment record ${key} is no longer segment ${current.segmentId}`);
    }
    await this.kv.put(key, encodeSegment(next), e.version);
  }

  /**
   * Removes a segment's record if it is still this segment (same segment id); resolves whether
   * it removed it. Its objects may be deleted once this resolves true.
   */
  async removeSegmentIfCurrent(seg: RemoteSegment): Promise<boolean> {
    const key = segmentRecordKey(seg.topicId, seg.partition, seg.baseOffset);
    const e = await this.kv.get(key);
    if (e === null) return false;
    const stored = decodeSegment(e.value);
    if (typeof stored !== 'string' && stored.segmentId !== seg.segmentId) return false;
    try {
      await this.kv.delete(key, e.version);
      return true;
    } catch (err) {
      if (isStrataError(err, 'NOT_FOUND') || isStrataError(err, 'VERSION_CONFLICT')) return false;
      throw err;
    }
  }

  /** Removes a segment's record (idempotent); its objects may be deleted only after this resolves. */
  async removeSegment(seg: Pick<RemoteSegment, 'topicId' | 'partition' | 'baseOffset'>): Promise<void> {
    await this.kv.delete(segmentRecordKey(seg.topicId, seg.partition, seg.baseOffset));
  }

  async getState(topicId: string, partition: number): Promise<{ state: PartitionTierState; version: number } | null> {
    const e = await this.kv.get(stateRecordKey(topicId, partition));
    if (e === null) return null;
    const v = e.value as Record<string, KvValue> | null;
    if (v === null || typeof v !== 'object' || typeof v.logStartOffset !== 'bigint' || typeof v.endOffset !== 'bigint') {
      throw new StrataError('STORE_UNAVAILABLE', `remote tier state record ${e.key} is malformed`);
    }
    if (v.compactedStartOffset !== undefined && typeof v.compactedStartOffset !== 'bigint') {
      throw new StrataError('STORE_UNAVAILABLE', `remote tier state record ${e.key} is malformed`);
    }
    const state: PartitionTierState = { logStartOffset: v.logStartOffset, endOffset: v.endOffset };
    if (typeof v.compactedStartOffset === 'bigint') state.compactedStartOffset = v.compactedStartOffset;
    return { state, version: e.version };
  }

  /**
   * Raises the state to at least `want` (log start and end only ever grow; compactedStartOffset
   * only ever goes down), re-reading on a lost race. Returns the state now stored.
   */
  async raiseState(topicId: string, partition: number, want: PartitionTierState): Promise<PartitionTierState> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.getState(topicId, partition);
      const next: PartitionTierState = {
        logStartOffset: cur && cur.state.logStartOffset > want.logStartOffset ? cur.state.logStartOffset : want.logStartOffset,
        endOffset: cur && cur.state.endOffset > want.endOffset ? cur.state.endOffset : want.endOffset,
      };
      const floor = lowest(cur?.state.compactedStartOffset, want.compactedStartOffset);
      if (floor !== undefined) next.compactedStartOffset = floor;
      if (
        cur &&
        cur.state.logStartOffset === next.logStartOffset &&
        cur.state.endOffset === next.endOffset &&
        cur.state.compactedStartOffset === next.compactedStartOffset
      ) {
        return next;
      }
      const value: Record<string, KvValue> = { logStartOffset: next.logStartOffset, endOffset: next.endOffset };
      if (floor !== undefined) value.compactedStartOffset = floor;
      try {
        await this.kv.put(stateRecordKey(topicId, partition), value, cur?.version ?? null);
        return next;
      } catch (e) {
        const lost = isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS');
        if (!lost || attempt >= 4) throw e;
      }
    }
  }

  /**
   * Every topic id with a segment or state record. Reads every record of the namespace: meant
   * for an occasional sweep (e.g. at startup), not a hot path.
   */
  async listTopicIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const prefix of ['segment/', 'state/']) {
      for (const e of await this.kv.list(prefix)) ids.add(e.key.slice(prefix.length).split('/')[0]);
    }
    return [...ids].sort();
  }

  /** Removes every state record of a topic (after its segments are gone). */
  async removeTopicState(topicId: string): Promise<void> {
    for (const e of await this.kv.list(stateRecordPrefix(topicId))) await this.kv.delete(e.key);
  }
}

function lowest(a: bigint | undefined, b: bigint | undefined): bigint | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a < b ? a : b;
}

function encodeSegment(s: RemoteSegment): KvValue {
  const keys: Record<string, KvValue> = { log: s.keys.log, index: s.keys.index, timeIndex: s.keys.timeIndex };
  const v: Record<string, KvValue> = {
    topicId: s.topicId,
    partition: s.partition,
    segmentId: s.segmentId,
    baseOffset: s.baseOffset,
    lastOffset: s.lastOffset,
    sizeBytes: s.sizeBytes,
    indexBytes: s.indexBytes,
    timeIndexBytes: s.timeIndexBytes,
    maxTimestamp: s.maxTimestamp,
    leaderEpoch: s.leaderEpoch,
    uploadedAt: s.uploadedAt,
    keys,
  };
  // The optional objects: written only when present, so a record without them is what older
  // brokers wrote and read.
  if (s.keys.txnIndex !== undefined && s.txnIndexBytes !== undefined) {
    keys.txnIndex = s.keys.txnIndex;
    v.txnIndexBytes = s.txnIndexBytes;
  }
  if (s.keys.producerSnapshot !== undefined && s.producerSnapshotBytes !== undefined && s.producerSnapshotOffset !== undefined) {
    keys.producerSnapshot = s.keys.producerSnapshot;
    v.producerSnapshotBytes = s.producerSnapshotBytes;
    v.producerSnapshotOffset = s.producerSnapshotOffset;
  }
  return v;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The record as a RemoteSegment, or why it is not one. */
export function decodeSegment(value: KvValue): RemoteSegment | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not an object';
  const v = value as Record<string, KvValue>;
  const keys = v.keys as Record<string, KvValue> | null;
  if (typeof v.topicId !== 'string' || !isCount(v.partition) || typeof v.segmentId !== 'string') return 'bad identity fields';
  if (typeof v.baseOffset !== 'bigint' || typeof v.lastOffset !== 'bigint' || v.baseOffset < 0n || v.lastOffset < v.baseOffset) return 'bad offsets';
  if (!isCount(v.sizeBytes) || !isCount(v.indexBytes) || !isCount(v.timeIndexBytes) || v.sizeBytes === 0) return 'bad sizes';
  if (typeof v.maxTimestamp !== 'bigint' || !isCount(v.leaderEpoch) || typeof v.uploadedAt !== 'number') return 'bad timestamps or epoch';
  if (keys === null || typeof keys !== 'object' || typeof keys.log !== 'string' || typeof keys.index !== 'string' || typeof keys.timeIndex !== 'string') {
    return 'bad object keys';
  }
  // Optional objects (records written before them have none): each key comes with its size.
  const hasTxnIndex = keys.txnIndex !== undefined || v.txnIndexBytes !== undefined;
  if (hasTxnIndex && (typeof keys.txnIndex !== 'string' || !isCount(v.txnIndexBytes) || v.txnIndexBytes === 0)) return 'bad transaction index fields';
  const hasSnapshot = keys.producerSnapshot !== undefined || v.producerSnapshotBytes !== undefined || v.producerSnapshotOffset !== undefined;
  if (
    hasSnapshot &&
    (typeof keys.producerSnapshot !== 'string' || !isCount(v.producerSnapshotBytes) || v.producerSnapshotBytes === 0 ||
      typeof v.producerSnapshotOffset !== 'bigint' || v.producerSnapshotOffset <= v.baseOffset)
  ) {
    return 'bad producer snapshot fields';
  }
  const seg: RemoteSegment = {
    topicId: v.topicId,
    partition: v.partition,
    segmentId: v.segmentId,
    baseOffset: v.baseOffset,
    lastOffset: v.lastOffset,
    sizeBytes: v.sizeBytes,
    indexBytes: v.indexBytes,
    timeIndexBytes: v.timeIndexBytes,
    maxTimestamp: v.maxTimestamp,
    leaderEpoch: v.leaderEpoch,
    uploadedAt: v.uploadedAt,
    keys: { log: keys.log, index: keys.index, timeIndex: keys.timeIndex },
  };
  if (hasTxnIndex) {
    seg.keys.txnIndex = keys.txnIndex as string;
    seg.txnIndexBytes = v.txnIndexBytes as number;
  }
  if (hasSnapshot) {
    seg.keys.producerSnapshot = keys.producerSnapshot as string;
    seg.producerSnapshotBytes = v.producerSnapshotBytes as number;
    seg.producerSnapshotOffset = v.producerSnapshotOffset as bigint;
  }
  return seg;
}
