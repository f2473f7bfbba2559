/**
 * DescribeGroups (api key 15). v1 throttle time; v2 same; v3 authorized operations (left unset:
 * Strata has no authorizer, and clients read "not provided"); v4 group.instance.id of members
 * (KIP-345); v5 flexible.
 *
 * A group the coordinator does not know is answered as Kafka does before v6: state "Dead",
 * no error. Member metadata and assignments are filled in only when the group is Stable.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeGroupsRequest } from '../../protocol/generated/DescribeGroupsRequest';
import type { DescribeGroupsResponse } from '../../protocol/generated/DescribeGroupsResponse';
import type { ApiHandler } from './types';
import { AUTHORIZED_OPERATIONS_OMITTED } from '../singleNode';


export const describeGroupsHandler: ApiHandler<DescribeGroupsRequest, DescribeGroupsResponse> = {
  apiKey: ApiKey.DescribeGroups,
  minImplemented: 0,

  async handle(req, ctx) {
    const groups = ctx.broker.groups;
    await Promise.all(req.groups.map((id) => groups.ready(id)));
    return {
      throttleTimeMs: 0,
      groups: req.groups.map((id) => ({ ...groups.describeGroup(id), authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED })),
    };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      groups: req.groups.map((groupId) => ({ errorCode, groupId, groupState: '', protocolType: '', protocolData: '', members: [], authorizedOperations: AUTHORIZED_OPERATIONS_OMITTED })),
    };
  },
};
