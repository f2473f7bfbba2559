/**
 * JoinGroup (api key 11). v1 adds the rebalance timeout (v0 uses the session timeout for both);
 * v2 throttle time; v3 same; v4 a new dynamic member first gets MEMBER_ID_REQUIRED with its id
 * (KIP-394); v5 group.instance.id for static members (KIP-345); v6 flexible; v7 protocol type in
 * the response and a nullable protocol name (KIP-559); v8 reason (KIP-800); v9 skipAssignment
 * for a returning static leader (KIP-814).
 *
 * The answer is parked until the rebalance completes; the connection waits for it, as Kafka's
 * does, which is why a member parked here needs no heartbeats.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { JoinGroupRequest } from '../../protocol/generated/JoinGroupRequest';
import type { JoinGroupResponse } from '../../protocol/generated/JoinGroupResponse';
import type { JoinResult } from '../../group/coordinator';
import type { ApiHandler } from './types';

/** Kafka reports a member's host as Java's InetAddress text: '/' and the address, no port. */
export function clientHost(remote: string): string {
  const colon = remote.lastIndexOf(':');
  return `/${colon > 0 ? remote.slice(0, colon) : remote}`;
}

function toResponse(r: JoinResult, version: number): JoinGroupResponse {
  return {
    throttleTimeMs: 0,
    errorCode: r.errorCode,
    generationId: r.generationId,
    protocolType: r.protocolType,
    // Before v7 the field is not nullable: no protocol is the empty string.
    protocolName: version >= 7 ? r.protocolName : (r.protocolName ?? ''),
    leader: r.leader,
    skipAssignment: r.skipAssignment,
    memberId: r.memberId,
    members: r.members,
  };
}

export const joinGroupHandler: ApiHandler<JoinGroupRequest, JoinGroupResponse> = {
  apiKey: ApiKey.JoinGroup,
  minImplemented: 0,

  async handle(req, ctx) {
    const groupInstanceId = req.groupInstanceId ?? null;
    const result = await ctx.broker.groups.joinGroup({
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId,
      requireKnownMemberId: ctx.version >= 4 && groupInstanceId === null,
      supportSkippingAssignment: ctx.version >= 9,
      clientId: ctx.header.clientId ?? '',
      clientHost: clientHost(ctx.conn.remote),
      rebalanceTimeoutMs: ctx.version === 0 ? req.sessionTimeoutMs : (req.rebalanceTimeoutMs ?? req.sessionTimeoutMs),
      sessionTimeoutMs: req.sessionTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata })),
      reason: req.reason ?? null,
    });
    return toResponse(result, ctx.version);
  },

  errorResponse(req, errorCode, ctx) {
    return toResponse(
      { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', skipAssignment: false, memberId: req.memberId, members: [] },
      ctx.version,
    );
  },
};
