/**
 * OffsetDelete (api key 47, KIP-496). v0 only.
 *
 * Deletes committed offsets of an Empty group, or of topics that no member of a live consumer
 * group subscribes to (learned by decoding the members' ConsumerProtocolSubscription):
 * GROUP_SUBSCRIBED_TO_TOPIC for the others. A group-level error (unknown group, a non-consumer
 * group with members) is answered alone, without partitions.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { OffsetDeleteRequest } from '../../protocol/generated/OffsetDeleteRequest';
import type { OffsetDeleteResponse } from '../../protocol/generated/OffsetDeleteResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export const offsetDeleteHandler: ApiHandler<OffsetDeleteRequest, OffsetDeleteResponse> = {
  apiKey: ApiKey.OffsetDelete,
  minImplemented: 0,

  async handle(req, ctx) {
    const partitions = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex })));
    const r = await ctx.broker.groups.deleteOffsets(req.groupId, partitions);
    if (r.errorCode !== ErrorCode.NONE) return this.errorResponse(req, r.errorCode, ctx);
    let i = 0;
    return {
      errorCode: ErrorCode.NONE,
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: r.results[i++] })) })),
    };
  },

  errorResponse(_req, errorCode) {
    return { errorCode, throttleTimeMs: 0, topics: [] };
  },
};
