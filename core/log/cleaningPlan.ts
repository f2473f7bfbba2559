import type { CleanerCheckpoint } from './checkpointFiles';
import type { EffectiveCompactionConfig } from './logConfig';
import type { SegmentInfo } from './partitionLog';

/**
 * Whether a compacted log should be cleaned now, and which part of it (Kafka's
 * LogCleanerManager.cleanableOffsets and LogToClean):
 *
 *   logStart        firstDirty                 firstUncleanable      active segment
 *   |  clean section  |  dirty, cleanable section  |  uncleanable ……… |  (never cleaned)
 *
 * - the clean section was cleaned by earlier rounds; the dirty section has not been (it starts at
 *   the cleaner checkpoint, or at the log start);
 * - the uncleanable part starts at the first segment that reaches the active segment, the high
 *   watermark or the first unstable offset (the first offset of the earliest open transaction:
 *   its data must stay whole until its marker says whether it committed), or whose newest record
 *   is younger than min.compaction.lag.ms;
 * - a round runs when dirty bytes / (clean + dirty bytes) > min.cleanable.dirty.ratio, or when a
 *   dirty segment's first batch is older than max.compaction.lag.ms (and there are dirty bytes),
 *   or — Strata's addition — when tombstones kept by an earlier round have reached their delete
 *   horizon (KIP-534), so deleted keys disappear about delete.retention.ms after the clean that
 *   first kept their tombstone even when nothing new is written (Kafka removes them only when the
 *   dirty ratio next triggers a round).
 */

/** A closed segment a round may read, with the offset where the next segment starts. */
export interface PlannedSegment {
  id: number;
  baseOffset: bigint;
  /** The next segment's base offset: this segment holds offsets below it (a cleaned one may have gaps). */
  end: bigint;
  size: number;
  path: string;
  offsetIndexBytes: number;
  timeIndexBytes: number;
  maxTimestamp: bigint;
  firstBatchTimestamp: bigint;
}

export type CleaningReason = 'dirty ratio' | 'max.compaction.lag.ms' | 'delete horizon';

export interface CleaningPlan {
  firstDirtyOffset: bigint;
  /** Exclusive upper bound of the round: a segment base offset, <= the active segment's and the high watermark. */
  firstUncleanableOffset: bigint;
  /** Every closed segment below firstUncleanableOffset, oldest first. */
  segments: PlannedSegment[];
  cleanBytes: number;
  dirtyBytes: number;
  dirtyRatio: number;
  reason: CleaningReason;
  /** The checkpoint was outside the log (truncation, retention) and was reset to the log start. */
  checkpointReset: boolean;
}

export interface LogForPlanning {
  segments(): SegmentInfo[];
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
  readonly highWatermark: bigint;
  /** The log's transactions (PartitionLog.producerState); without it, no transaction is open. */
  readonly producerState?: { firstUnstableOffset(): bigint | null };
}

/** The plan for a round now, or null when the log needs none (or is not compacted). */
export function planCleaning(
  log: LogForPlanning,
  checkpoint: CleanerCheckpoint | null,
  cfg: EffectiveCompactionConfig,
  nowMs: number,
): CleaningPlan | null {
  if (!cfg.compact) return null;
  const infos = log.segments();
  const closed: PlannedSegment[] = [];
  for (let i = 0; i < infos.length - 1; i++) {
    const s = infos[i];
    closed.push({
      id: s.id,
      baseOffset: s.baseOffset,
      end: infos[i + 1].baseOffset,
      size: s.size,
      path: s.path,
      offsetIndexBytes: s.offsetIndexBytes,
      timeIndexBytes: s.timeIndexBytes,
      maxTimestamp: s.maxTimestamp,
      firstBatchTimestamp: s.firstBatchTimestamp,
    });
  }
  const active = infos[infos.length - 1];
  const logStart = log.logStartOffset;

  let firstDirty = checkpoint?.firstDirtyOffset ?? logStart;
  let checkpointReset = false;
  if (firstDirty < logStart || firstDirty > log.logEndOffset) {
    checkpointReset = checkpoint !== null;
    firstDirty = logStart;
  }

  let uncleanable = active.baseOffset < log.highWatermark ? active.baseOffset : log.highWatermark;
  // Kafka's firstUncleanableOffset starts from the last stable offset: min(first unstable, HW).
  const unstable = log.producerState?.firstUnstableOffset() ?? null;
  if (unstable !== null && unstable < uncleanable) uncleanable = unstable;
  if (cfg.minCompactionLagMs > 0) {
    const young = closed.find((s) => s.end > firstDirty && Number(s.maxTimestamp) > nowMs - cfg.minCompactionLagMs);
    if (young && young.baseOffset < uncleanable) uncleanable = young.baseOffset;
  }
  // Whole segments only: the first segment reaching `uncleanable` is not cleaned at all.
  const reaching = closed.find((s) => s.end > uncleanable);
  let firstUncleanable = reaching ? reaching.baseOffset : active.baseOffset;
  if (firstUncleanable < firstDirty) firstUncleanable = firstDirty;

  const segments = closed.filter((s) => s.baseOffset < firstUncleanable);
  let cleanBytes = 0;
  let dirtyBytes = 0;
  let earliestDirty = Infinity;
  for (const s of segments) {
    if (s.end > firstDirty) {
      dirtyBytes += s.size;
      const first = Number(s.firstBatchTimestamp);
      if (first > 0 && first < earliestDirty) earliestDirty = first;
    } else {
      cleanBytes += s.size;
    }
  }
  const total = cleanBytes + dirtyBytes;
  if (total === 0) return null;
  const dirtyRatio = dirtyBytes / total;

  let reason: CleaningReason | null = null;
  if (dirtyRatio > cfg.minCleanableDirtyRatio) reason = 'dirty ratio';
  else if (dirtyBytes > 0 && earliestDirty < nowMs - cfg.maxCompactionLagMs) reason = 'max.compaction.lag.ms';
  else if (checkpoint !== null && checkpoint.deleteHorizonMs >= 0 && nowMs >= checkpoint.deleteHorizonMs && cleanBytes > 0) {
    reason = 'delete horizon';
  }
  if (reason === null) return null;
  return { firstDirtyOffset: firstDirty, firstUncleanableOffset: firstUncleanable, segments, cleanBytes, dirtyBytes, dirtyRatio, reason, checkpointReset };
}
