import { StrataError } from '../common/errors';
import { readControlRecord } from './controlRecords';
import type { AppendBatch, ProducerStateManager, StagedAppend } from './producerState';
import { CONTROL_MASK, TRANSACTIONAL_MASK } from './recordBatch';
import type { Segment } from './segment';
import type { TransactionIndex } from './txnIndex';

/**
 * After an append's producer state is committed: each transaction its markers completed leaves
 * the ongoing set, and an aborted one gets its entry in the aborted-transaction index of the
 * segment holding the marker, with the last stable offset as of the marker (Kafka's
 * UnifiedLog.updateProducers / completeTxn). Shared by appends and by recovery's replay, so a
 * rebuilt index is the index the appends wrote.
 */
export function completeTransactions(ps: ProducerStateManager, staged: StagedAppend, txnIndex: TransactionIndex): void {
  for (const c of staged.completedTxns) {
    const lastStableOffset = ps.lastStableOffsetOf(c);
    if (c.isAborted) txnIndex.append({ producerId: c.producerId, firstOffset: c.firstOffset, lastOffset: c.lastOffset, lastStableOffset });
    ps.completeTxn(c);
  }
}

export interface RebuildResult {
  /** Where the replay started: a snapshot's offset, or the log start. */
  from: bigint;
  /** Whether the replay started from a snapshot. */
  fromSnapshot: boolean;
  /** Batches replayed. */
  batches: number;
}

/**
 * Rebuilds a partition's producer state and aborted-transaction indexes from the log (Kafka's
 * UnifiedLog.rebuildProducerState): load the newest snapshot at or below the log end (unless
 * `useSnapshots` is false, e.g. because an index was lost), then replay the batch headers after it
 * — reading only control batches whole — with origin 'replication' (nothing the log holds is
 * refused). Each segment's aborted-transaction entries from the replay's start on are dropped
 * first and written again by the replay.
 *
 *   snapshot at S              log end
 *   ↓                          ↓
 *   |seg|seg|seg      |seg ………|        replay [S, end): headers only, markers decoded
 *
 * After a clean shutdown the snapshot is at the log end and nothing is replayed; after a crash,
 * the replay covers what was appended since the last segment roll.
 */
export function rebuildProducerState(
  segs: readonly Segment[],
  ps: ProducerStateManager,
  opts: { logStartOffset: bigint; logEndOffset: bigint; useSnapshots: boolean },
): RebuildResult {
  const { logStartOffset, logEndOffset } = opts;
  ps.deleteSnapshotsAbove(logEndOffset);
  let snapshot: bigint | null = null;
  if (opts.useSnapshots) snapshot = ps.loadSnapshot(logEndOffset, logStartOffset);
  else ps.reset(logStartOffset);
  // Batches below the log start are gone (retention, DeleteRecords): the replay can only start there.
  let from = snapshot ?? logStartOffset;
  if (from < logStartOffset) from = logStartOffset;
  let batches = 0;
  for (const seg of segs) {
    if (seg.nextOffset <= from) continue;
    seg.txnIndex.truncateTo(from);
    const start = seg.baseOffset >= from ? 0 : (seg.findBatch(from)?.position ?? seg.size);
    const s = seg.scanner(start);
    while (s.next()) {
      if (s.lastOffset < from) continue;
      const isControl = (s.attributes & CONTROL_MASK) !== 0;
      const b: AppendBatch = {
        producerId: s.producerId,
        producerEpoch: s.producerEpoch,
        baseSequence: s.baseSequence,
        lastOffsetDelta: s.lastOffsetDelta,
        baseOffset: s.baseOffset,
        maxTimestamp: s.maxTimestamp,
        isTransactional: (s.attributes & TRANSACTIONAL_MASK) !== 0,
        isControl,
        marker: isControl && s.producerId >= 0n ? readControlRecord(seg.read(s.position, s.size)) : undefined,
      };
      const staged = ps.stage([b], 'replication');
      ps.commit(staged);
      completeTransactions(ps, staged, seg.txnIndex);
      batches++;
    }
    if (s.stop !== 'end') throw new StrataError('STORAGE_IO', `rebuilding producer state: ${seg.logPath} is damaged: ${s.detail}`);
  }
  // Compaction can leave the log ending past its last batch.
  if (ps.endOffset < logEndOffset) ps.setEndOffset(logEndOffset);
  return { from, fromSnapshot: snapshot !== null && snapshot === from, batches };
}
