import type { OffsetToStore } from '../../group/coordinator';

/**
 * The request and response shape OffsetCommit and TxnOffsetCommit share: offsets by topic, one
 * error code per partition in the answer.
 */
interface RequestTopic {
  name: string;
  partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch?: number; committedMetadata: string | null; commitTimestamp?: bigint }[];
}

/** The request's offsets, flattened in request order. */
export function requestedOffsets(topics: readonly RequestTopic[]): OffsetToStore[] {
  return topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name,
      partition: p.partitionIndex,
      offset: p.committedOffset,
      leaderEpoch: p.committedLeaderEpoch ?? -1,
      metadata: p.committedMetadata,
      commitTimestamp: p.commitTimestamp ?? -1n,
    })),
  );
}

/** The answer in the request's shape: `codeOf(i)` for the i-th partition in request order. */
export function codesByTopic(topics: readonly RequestTopic[], codeOf: (i: number) => number): { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[] {
  let i = 0;
  return topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: codeOf(i++) })) }));
}
