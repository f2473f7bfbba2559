/**
 * Heartbeat (api key 12). v1 throttle time; v2 same; v3 group.instance.id (KIP-345); v4 flexible.
 *
 * Keeps a member's session alive; REBALANCE_IN_PROGRESS is how a member learns to rejoin.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { HeartbeatRequest } from '../../protocol/generated/HeartbeatRequest';
import type { HeartbeatResponse } from '../../protocol/generated/HeartbeatResponse';
import type { ApiHandler } from './types';

export const heartbeatHandler: ApiHandler<HeartbeatRequest, HeartbeatResponse> = {
  apiKey: ApiKey.Heartbeat,
  minImplemented: 0,

  async handle(req, ctx) {
    await ctx.broker.groups.ready(req.groupId);
    const errorCode = ctx.broker.groups.heartbeat({
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId ?? null,
      generationId: req.generationId,
    });
    return { throttleTimeMs: 0, errorCode };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode };
  },
};
