import type { StrataClient } from '../client/client';
import type { MirrorRecord } from './event';

/**
 * The offset-preserving mode's one write: records appended to the read-only mirror topic at
 * their source offsets (StrataClient.appendMirrored, Strata's MirrorAppend). The broker keeps
 * the offsets' gaps (compaction, transaction markers on the source) and skips records below
 * the target's log end, which makes a retried batch a no-op without any state of the mirror's.
 */
export async function appendMirroredRecords(
  target: StrataClient,
  targetTopic: string,
  partition: number,
  records: readonly MirrorRecord[],
  sourceAlias: string,
): Promise<{ logEndOffset: bigint; appended: number }> {
  return target.appendMirrored(
    targetTopic,
    partition,
    records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offset: r.offset })),
    { sourceCluster: sourceAlias, acks: -1 },
  );
}
