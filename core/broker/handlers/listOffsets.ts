/**
 * ListOffsets (api key 2).
 *
 * v0 answers with a list of old-style offsets (maxNumOffsets); v1 a single offset and its
 * timestamp; v2 isolation level; v4 current leader epoch (and leaderEpoch in the answer);
 * v6 flexible; v7 MAX_TIMESTAMP (-3); v8 EARLIEST_LOCAL (-4); v9 LATEST_TIERED (-5);
 * v10 timeout. Special timestamps: -1 latest (the high watermark, or the last stable
 * offset under read_committed), -2 earliest
 * (log start offset). Other values find the first offset whose timestamp is >= the target
 * through the time index; none → offset -1, timestamp -1 (Kafka's "no such offset").
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ListOffsetsRequest, ListOffsetsPartition } from '../../protocol/generated/ListOffsetsRequest';
import type { ListOffsetsResponse, ListOffsetsPartitionResponse } from '../../protocol/generated/ListOffsetsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { toKafkaErrorCode } from '../../common/errors';
import type { ApiHandler, RequestContext } from './types';
import type { TopicState } from '../../cluster/metadataCache';
import type { IsolationLevel } from '../../partition/partition';

function answer(partitionIndex: number, errorCode: number, offset = -1n, timestamp = -1n, leaderEpoch = -1): ListOffsetsPartitionResponse {
  return { partitionIndex, errorCode, oldStyleOffsets: offset >= 0n ? [offset] : [], timestamp, offset, leaderEpoch: offset >= 0n ? leaderEpoch : -1 };
}

async function answerPartition(ctx: RequestContext, topic: TopicState | undefined, p: ListOffsetsPartition, isolation: IsolationLevel): Promise<ListOffsetsPartitionResponse> {
  const partition = topic?.partitions[p.partitionIndex];
  if (!partition) return answer(p.partitionIndex, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const epochError = partition.checkLeaderEpoch(p.currentLeaderEpoch);
  if (epochError !== ErrorCode.NONE) return answer(p.partitionIndex, epochError);
  if (ctx.version === 0 && p.timestamp < -2n) return answer(p.partitionIndex, ErrorCode.UNSUPPORTED_VERSION);
  try {
    // isolation_level 1 (read_committed, v2+): LATEST is the last stable offset, lookups stop there.
    const r = await partition.fetchOffsetForTimestamp(p.timestamp, isolation);
    return answer(p.partitionIndex, ErrorCode.NONE, r.offset, r.timestamp, partition.leaderEpoch);
  } catch (e) {
    return answer(p.partitionIndex, toKafkaErrorCode(e));
  }
}

export const listOffsetsHandler: ApiHandler<ListOffsetsRequest, ListOffsetsResponse> = {
  apiKey: ApiKey.ListOffsets,
  minImplemented: 0,

  async handle(req, ctx) {
    const isolation: IsolationLevel = (req.isolationLevel ?? 0) === 1 ? 'read_committed' : 'read_uncommitted';
    const topics = [];
    for (const t of req.topics) {
      const topic = ctx.broker.topics.get(t.name);
      const partitions = [];
      for (const p of t.partitions) partitions.push(await answerPartition(ctx, topic, p, isolation));
      topics.push({ name: t.name, partitions });
    }
    return { throttleTimeMs: 0, topics };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => answer(p.partitionIndex, errorCode)) })),
    };
  },
};
