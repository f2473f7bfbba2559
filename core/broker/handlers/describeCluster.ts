/**
 * DescribeCluster (api key 60). Flexible from v0; v1 endpoint type (1 = brokers; 2 =
 * controllers, which a Strata broker also answers for since it holds the controller role).
 * Cluster authorized operations are answered when asked: all 7, as Kafka without an
 * authorizer (AuthHelper.computeDescribeClusterResponse; see singleNode.ts).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeClusterRequest } from '../../protocol/generated/DescribeClusterRequest';
import type { DescribeClusterResponse } from '../../protocol/generated/DescribeClusterResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';
import { AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS, authorizedOperations } from '../singleNode';


export const describeClusterHandler: ApiHandler<DescribeClusterRequest, DescribeClusterResponse> = {
  apiKey: ApiKey.DescribeCluster,
  minImplemented: 0,
  handle(req, ctx) {
    const b = ctx.broker;
    const endpointType = req.endpointType ?? 1;
    if (endpointType !== 1 && endpointType !== 2) {
      return this.errorResponse(req, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, ctx);
    }
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType,
      clusterId: b.clusterId,
      controllerId: b.topics.controllerId >= 0 ? b.topics.controllerId : b.nodeId,
      brokers: b.topics.endpoints(ctx.conn.listenerName, { nodeId: b.nodeId, ...b.advertisedOn(ctx.conn.listenerName), rack: b.rack }).map((e) => ({ brokerId: e.nodeId, host: e.host, port: e.port, rack: e.rack })),
      clusterAuthorizedOperations: authorizedOperations(req.includeClusterAuthorizedOperations, CLUSTER_AUTHORIZED_OPERATIONS),
    };
  },
  errorResponse(req, errorCode, ctx) {
    return {
      throttleTimeMs: 0,
      errorCode,
      errorMessage: null,
      endpointType: req.endpointType ?? 1,
      clusterId: ctx.broker.clusterId,
      controllerId: -1,
      brokers: [],
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    };
  },
};
