/**
 * ListOffsets (api key 2).
 *
 * v0 answers with a list of old-style offsets (maxNumOffsets); v1 a single offset and its
 * timestamp; v2 isolation level; v4 current leader epoch (and leaderEpoch in the answer);
 * v6 flexible; v7 MAX_TIMESTAMP (-3); v8 EARLIEST_LOCAL (-4); v9 LATEST_TIERED (-5);
 * v10 timeout. Special timestamps: -1 latest (the high watermark, or the last stable
 * offset under read_committed, which equals it until transactions exist), -2 earliest
 * (log start offset). Other values find the first offset whose timestamp is >= the target
 * through the time index; none → offset -1, timestamp -1 (Kafka's "no such offset").
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ListOffsetsRequest, ListOffsetsPartition } from '../../protocol/generated/ListOffsetsRequest';
import type { ListOffsetsResponse, ListOffsetsPartitionResponse } from '../../protocol/generated/ListOffsetsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { toKafkaErrorCode } from '../../common/errors';
import type { PartitionLog } from '../../log/partitionLog';
import type { TieredPartition } from '../../tier/tieredPartition';
import type { ApiHandler, RequestContext } from './types';
import type { TopicState } from '../topicRegistry';
import { LEADER_EPOCH } from '../singleNode';

import {
  EARLIEST_LOCAL_TIMESTAMP,
  EARLIEST_TIMESTAMP,
  LATEST_TIERED_TIMESTAMP,
  LATEST_TIMESTAMP,
  MAX_TIMESTAMP,
} from '../../protocol/listOffsetsTimestamps';

function answer(partitionIndex: number, errorCode: number, offset = -1n, timestamp = -1n): ListOffsetsPartitionResponse {
  return { partitionIndex, errorCode, oldStyleOffsets: offset >= 0n ? [offset] : [], timestamp, offset, leaderEpoch: offset >= 0n ? LEADER_EPOCH : -1 };
}

async function lookup(log: PartitionLog, tiered: TieredPartition | undefined, target: bigint): Promise<{ offset: bigint; timestamp: bigint }> {
  switch (target) {
    case LATEST_TIMESTAMP:
      return { offset: log.highWatermark, timestamp: -1n };
    case EARLIEST_TIMESTAMP:
      return { offset: tiered ? tiered.logStartOffset : log.logStartOffset, timestamp: -1n };
    case EARLIEST_LOCAL_TIMESTAMP:
      return { offset: log.logStartOffset, timestamp: -1n };
    case LATEST_TIERED_TIMESTAMP:
      // -1 when nothing has been tiered, as Kafka answers.
      return { offset: tiered ? tiered.lastTieredOffset : -1n, timestamp: -1n };
    case MAX_TIMESTAMP: {
      const m = tiered ? await tiered.maxTimestampOffset() : log.maxTimestampOffset();
      return m ?? { offset: -1n, timestamp: -1n };
    }
    default: {
      const found = tiered ? await tiered.offsetForTimestamp(target) : log.offsetForTimestamp(target);
      return found ?? { offset: -1n, timestamp: -1n };
    }
  }
}

async function answerPartition(ctx: RequestContext, topic: TopicState | undefined, p: ListOffsetsPartition): Promise<ListOffsetsPartitionResponse> {
  const log = topic?.partitions[p.partitionIndex];
  if (!topic || !log) return answer(p.partitionIndex, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const epoch = p.currentLeaderEpoch ?? -1;
  if (epoch >= 0 && epoch !== LEADER_EPOCH) {
    return answer(p.partitionIndex, epoch < LEADER_EPOCH ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH);
  }
  if (ctx.version === 0 && p.timestamp < -2n) return answer(p.partitionIndex, ErrorCode.UNSUPPORTED_VERSION);
  try {
    const r = await lookup(log, ctx.broker.tier.partition(topic.topicId, p.partitionIndex), p.timestamp);
    return answer(p.partitionIndex, ErrorCode.NONE, r.offset, r.timestamp);
  } catch (e) {
    return answer(p.partitionIndex, toKafkaErrorCode(e));
  }
}

export const listOffsetsHandler: ApiHandler<ListOffsetsRequest, ListOffsetsResponse> = {
  apiKey: ApiKey.ListOffsets,
  minImplemented: 0,

  async handle(req, ctx) {
    const topics = [];
    for (const t of req.topics) {
      const topic = ctx.broker.topics.get(t.name);
      const partitions = [];
      for (const p of t.partitions) partitions.push(await answerPartition(ctx, topic, p));
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
