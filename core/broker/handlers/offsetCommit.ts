/**
 * OffsetCommit (api key 8). v1 generation id, member id and a per-partition commit timestamp;
 * v2 retention time (v2-4; later versions use the broker's offsets.retention.minutes) and no
 * more commit timestamp; v3 throttle time; v4 same; v5 drops the retention time; v6 leader
 * epoch; v7 group.instance.id (KIP-345); v8 flexible; v9 names the generation "member epoch"
 * for KIP-848 groups, which for classic groups is still the generation.
 *
 * v0 (commits that Kafka kept in ZooKeeper) is served like v1 with generation -1: a commit
 * from outside group management.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { OffsetCommitRequest } from '../../protocol/generated/OffsetCommitRequest';
import type { OffsetCommitResponse } from '../../protocol/generated/OffsetCommitResponse';
import type { ApiHandler } from './types';
import { codesByTopic, requestedOffsets } from './offsetCommitShape';

export const offsetCommitHandler: ApiHandler<OffsetCommitRequest, OffsetCommitResponse> = {
  apiKey: ApiKey.OffsetCommit,
  minImplemented: 0,

  async handle(req, ctx) {
    const offsets = requestedOffsets(req.topics);
    const codes = await ctx.broker.groups.commitOffsets({
      groupId: req.groupId,
      memberId: req.memberId ?? '',
      groupInstanceId: req.groupInstanceId ?? null,
      generationId: req.generationIdOrMemberEpoch ?? -1,
      retentionTimeMs: req.retentionTimeMs ?? -1n,
      offsets,
    });
    return { throttleTimeMs: 0, topics: codesByTopic(req.topics, (i) => codes[i]) };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, topics: codesByTopic(req.topics, () => errorCode) };
  },
};
