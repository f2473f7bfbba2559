/**
 * OffsetForLeaderEpoch (api key 23): for each partition and leader epoch, where that epoch ends
 * in the leader's log (the start offset of the next newer epoch, or the log end for the current
 * one) and which epoch answers. A replica that rejoins truncates to it (KIP-101/KIP-279); the Java
 * consumer asks it after a leader change to check that its position was not truncated away
 * (KIP-320), and skips that check when the broker does not offer the API.
 *
 * v1 adds leader_epoch to the answer; v2 current_leader_epoch (fencing: FENCED_LEADER_EPOCH when
 * the client's is older, UNKNOWN_LEADER_EPOCH when newer) and throttle_time_ms; v3 replica_id
 * (-1 for consumers; this broker has no followers yet, so a broker id is answered the same);
 * v4 flexible. An epoch the log does not know answers NONE with leader_epoch -1 and
 * end_offset -1, as Kafka does.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { OffsetForLeaderEpochRequest, OffsetForLeaderPartition } from '../../protocol/generated/OffsetForLeaderEpochRequest';
import type { EpochEndOffset, OffsetForLeaderEpochResponse } from '../../protocol/generated/OffsetForLeaderEpochResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { toKafkaErrorCode } from '../../common/errors';
import type { ApiHandler } from './types';
import type { TopicState } from '../../cluster/metadataCache';

function answer(partition: number, errorCode: number, leaderEpoch = -1, endOffset = -1n): EpochEndOffset {
  return { errorCode, partition, leaderEpoch, endOffset };
}

function answerPartition(topic: TopicState | undefined, p: OffsetForLeaderPartition): EpochEndOffset {
  const partition = topic?.partitions[p.partition];
  if (!partition) return answer(p.partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const epochError = partition.checkLeaderEpoch(p.currentLeaderEpoch);
  if (epochError !== ErrorCode.NONE) return answer(p.partition, epochError);
  try {
    const r = partition.endOffsetForEpoch(p.leaderEpoch);
    return answer(p.partition, ErrorCode.NONE, r.leaderEpoch, r.endOffset);
  } catch (e) {
    return answer(p.partition, toKafkaErrorCode(e));
  }
}

export const offsetForLeaderEpochHandler: ApiHandler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> = {
  apiKey: ApiKey.OffsetForLeaderEpoch,
  minImplemented: 0,

  handle(req, ctx) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => {
        const topic = ctx.broker.topics.get(t.topic);
        return { topic: t.topic, partitions: t.partitions.map((p) => answerPartition(topic, p)) };
      }),
    };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => answer(p.partition, errorCode)) })),
    };
  },
};
