/**
 * DeleteGroups (api key 42). v1 same as v0; v2 flexible.
 *
 * Only an Empty group can be deleted (NON_EMPTY_GROUP while it has members); its committed
 * offsets go with it. An unknown group is GROUP_ID_NOT_FOUND.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DeleteGroupsRequest } from '../../protocol/generated/DeleteGroupsRequest';
import type { DeleteGroupsResponse } from '../../protocol/generated/DeleteGroupsResponse';
import type { ApiHandler } from './types';

export const deleteGroupsHandler: ApiHandler<DeleteGroupsRequest, DeleteGroupsResponse> = {
  apiKey: ApiKey.DeleteGroups,
  minImplemented: 0,

  async handle(req, ctx) {
    return { throttleTimeMs: 0, results: await ctx.broker.groups.deleteGroups(req.groupsNames) };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, results: [...new Set(req.groupsNames)].map((groupId) => ({ groupId, errorCode })) };
  },
};
