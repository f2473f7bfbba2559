import type { SegmentInfo } from '../log/partitionLog';
import type { RemoteSegment } from './remoteLogMetadata';

/**
 * Which local segments go to the object store next, decided from the local segments and the
 * tiered records alone (pure; TieredPartition runs it on every look for work):
 *
 *   records  |R0 ·······|R1 ·······|R2 ·······|                 tiered end
 *   local               |S1 ···|    |S2 ·······|S3 ····|S4 ···|active|
 *                        └ span ──────┘          └ new uploads ┘
 *
 * A local segment's span runs from its base offset to the next segment's (a compacted segment
 * may end before its span does). A segment at or past the tiered end is a new upload. A segment
 * below it is "in sync" when its span holds exactly one record with its base offset and size
 * (or, when it is empty, none): its bytes are what the object store has. Otherwise the cleaner
 * rewrote it after it was tiered (S1 above replaced R1 and R2... of which it kept less) and, on a
 * compacted topic, it is re-tiered: uploaded under new keys, replacing the records in its span.
 *
 * Compacted topics with a running cleaner upload (and re-tier) only what the cleaner has
 * already cleaned: segments ending at or below its first dirty offset (`cleanedUpTo`). Nothing
 * ever goes past the high watermark. Local retention must keep every segment whose tiered copy
 * is stale (`retainFrom`), so the cleaner's work reaches the object store before the local copy
 * goes.
 *
 * A record that starts before a local segment's span and reaches into it, or one that runs past
 * its span, cannot be matched to local segments (not a state uploads and re-tiers produce):
 * such a segment is reported in `misaligned` and left alone.
 */
export interface UploadPlanInput {
  /** PartitionLog.segments(): oldest first, the active segment last. */
  segments: readonly SegmentInfo[];
  /** The live tiered records, sorted by base offset (liveSegments). */
  records: readonly RemoteSegment[];
  /** One past the last tiered offset (TieredPartition.remoteEndOffset). */
  remoteEnd: bigint;
  highWatermark: bigint;
  /** cleanup.policy includes compact: segments the cleaner rewrote are re-tiered. */
  compacted: boolean;
  /** Compacted topics with a running cleaner: its first dirty offset; null: no gate. */
  cleanedUpTo: bigint | null;
}

/** A local segment the cleaner rewrote after it was tiered. */
export interface Retier {
  segment: SegmentInfo;
  /** The next local segment's base offset. */
  spanEnd: bigint;
  /** The live records in its span, oldest first (to be replaced by it, or removed when it is empty). */
  replaced: RemoteSegment[];
}

export interface UploadPlan {
  /** Closed, non-empty segments at or past the tiered end, ready to upload, oldest first. */
  uploads: SegmentInfo[];
  /** Segments past the tiered end the cleaner has not cleaned yet (held back by the gate). */
  awaitingCleaner: SegmentInfo[];
  /** Re-tiers ready to run, oldest first. */
  retiers: Retier[];
  /** Base offset of the first local segment whose tiered copy is stale (local retention stops there); null when none. */
  retainFrom: bigint | null;
  /** Base offsets of segments below the tiered end that no record lines up with. */
  misaligned: bigint[];
}

export function planUploads(input: UploadPlanInput): UploadPlan {
  const { segments, records, remoteEnd, highWatermark: hw, compacted, cleanedUpTo } = input;
  const plan: UploadPlan = { uploads: [], awaitingCleaner: [], retiers: [], retainFrom: null, misaligned: [] };
  const cleaned = (upTo: bigint): boolean => cleanedUpTo === null || upTo <= cleanedUpTo;
  let j = 0;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const spanEnd = i + 1 < segments.length ? segments[i + 1].baseOffset : null;
    if (s.baseOffset >= remoteEnd) {
      if (!s.closed || s.size <= 0 || s.nextOffset > hw) continue;
      if (cleaned(s.nextOffset)) plan.uploads.push(s);
      else plan.awaitingCleaner.push(s);
      continue;
    }
    // Below the tiered end. Records before the span: one reaching into it is misaligned.
    let reachesIn = false;
    while (j < records.length && records[j].baseOffset < s.baseOffset) {
      if (records[j].lastOffset >= s.baseOffset) reachesIn = true;
      j++;
    }
    const inSpan: RemoteSegment[] = [];
    while (j < records.length && (spanEnd === null || records[j].baseOffset < spanEnd)) inSpan.push(records[j++]);
    if (!compacted || !s.closed || spanEnd === null) continue; // the active segment is never re-tiered
    if (reachesIn || inSpan.some((r) => r.lastOffset >= spanEnd)) {
      plan.misaligned.push(s.baseOffset);
      continue;
    }
    if (inSync(s, inSpan)) continue;
    plan.retainFrom ??= s.baseOffset;
    if (s.nextOffset <= hw && cleaned(s.nextOffset)) plan.retiers.push({ segment: s, spanEnd, replaced: inSpan });
  }
  return plan;
}

/** Whether the tiered records in a local segment's span hold exactly its bytes. */
function inSync(s: SegmentInfo, inSpan: readonly RemoteSegment[]): boolean {
  if (s.size === 0) return inSpan.length === 0;
  if (inSpan.length !== 1) return false;
  const r = inSpan[0];
  return r.baseOffset === s.baseOffset && r.sizeBytes === s.size && r.lastOffset >= s.lastOffset;
}
