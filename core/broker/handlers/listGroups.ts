/**
 * ListGroups (api key 16). v1 throttle time; v2 same; v3 flexible; v4 a states filter and each
 * group's state (KIP-518); v5 a types filter and each group's type (KIP-848: every group here
 * is 'classic').
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ListGroupsRequest } from '../../protocol/generated/ListGroupsRequest';
import type { ListGroupsResponse } from '../../protocol/generated/ListGroupsResponse';
import type { ApiHandler } from './types';

const GROUP_TYPE = 'classic';

export const listGroupsHandler: ApiHandler<ListGroupsRequest, ListGroupsResponse> = {
  apiKey: ApiKey.ListGroups,
  minImplemented: 0,

  async handle(req, ctx) {
    // Every group this broker coordinates, also those nobody asked for since it took them over.
    await ctx.broker.groups.loadOwned().catch(() => undefined);
    const r = ctx.broker.groups.listGroups(req.statesFilter ?? []);
    // A types filter that does not name 'classic' (case-insensitively) matches none of our groups.
    const types = (req.typesFilter ?? []).map((t) => t.toLowerCase());
    const groups = types.length > 0 && !types.includes(GROUP_TYPE) ? [] : r.groups;
    return {
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      groups: groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.groupState, groupType: GROUP_TYPE })),
    };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, groups: [] };
  },
};
