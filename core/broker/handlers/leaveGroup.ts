/**
 * LeaveGroup (api key 13). v1 throttle time; v2 same; v3 a batch of members, each by member id
 * or (member id '') by group.instance.id, with per-member errors (KIP-345); v4 flexible; v5 a
 * reason per member (KIP-800).
 *
 * Before v3 one member leaves and the response has only a top-level error: the group error, or
 * else that member's error.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { LeaveGroupRequest } from '../../protocol/generated/LeaveGroupRequest';
import type { LeaveGroupResponse } from '../../protocol/generated/LeaveGroupResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export const leaveGroupHandler: ApiHandler<LeaveGroupRequest, LeaveGroupResponse> = {
  apiKey: ApiKey.LeaveGroup,
  minImplemented: 0,

  async handle(req, ctx) {
    await ctx.broker.groups.ready(req.groupId);
    const leaving =
      ctx.version >= 3
        ? (req.members ?? []).map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, reason: m.reason ?? null }))
        : [{ memberId: req.memberId ?? '', groupInstanceId: null, reason: null }];
    const r = ctx.broker.groups.leaveGroup(req.groupId, leaving);
    if (ctx.version >= 3) return { throttleTimeMs: 0, errorCode: r.errorCode, members: r.members };
    const memberError = r.members.find((m) => m.errorCode !== ErrorCode.NONE)?.errorCode ?? ErrorCode.NONE;
    return { throttleTimeMs: 0, errorCode: r.errorCode !== ErrorCode.NONE ? r.errorCode : memberError, members: [] };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, members: [] };
  },
};
