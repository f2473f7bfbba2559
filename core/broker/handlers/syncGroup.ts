/**
 * SyncGroup (api key 14). v1 throttle time; v2 same; v3 group.instance.id (KIP-345); v4
 * flexible; v5 protocol type and name in request and response, checked against the group's
 * (KIP-559) and mandatory from v5 on.
 *
 * The leader's request carries every member's assignment; followers' requests are parked until
 * it arrives.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { SyncGroupRequest } from '../../protocol/generated/SyncGroupRequest';
import type { SyncGroupResponse } from '../../protocol/generated/SyncGroupResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { EMPTY_BYTES } from '../../protocol/reader';
import type { ApiHandler } from './types';

export const syncGroupHandler: ApiHandler<SyncGroupRequest, SyncGroupResponse> = {
  apiKey: ApiKey.SyncGroup,
  minImplemented: 0,

  async handle(req, ctx) {
    const protocolType = req.protocolType ?? null;
    const protocolName = req.protocolName ?? null;
    if (ctx.version >= 5 && (protocolType === null || protocolName === null)) {
      return this.errorResponse(req, ErrorCode.INCONSISTENT_GROUP_PROTOCOL, ctx);
    }
    const r = await ctx.broker.groups.syncGroup({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId ?? null,
      protocolType,
      protocolName,
      assignments: req.assignments,
    });
    return { throttleTimeMs: 0, errorCode: r.errorCode, protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, protocolType: null, protocolName: null, assignment: EMPTY_BYTES };
  },
};
