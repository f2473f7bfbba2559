/**
 * Metadata (api key 3).
 *
 * v0 lists every topic when the topic array is empty; v1+ use null for "all topics" (an
 * empty array means none) and add rack, controller id and isInternal; v2 cluster id;
 * v3 throttle; v4 allowAutoTopicCreation (earlier versions always allow it); v5 offline
 * replicas; v7 leader epoch; v8 authorized operations; v9 flexible; v10 topic ids; v11 drops
 * cluster authorized operations; v12 topic lookup by id (nullable names).
 *
 * Auto-creation follows Kafka: a requested topic that does not exist is created with
 * num.partitions and default.replication.factor when auto.create.topics.enable is true and
 * the request allows it. Creation here is synchronous, so the answer already has leaders.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { MetadataRequest } from '../../protocol/generated/MetadataRequest';
import type { MetadataResponse, MetadataResponseTopic } from '../../protocol/generated/MetadataResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { ZERO_UUID } from '../../protocol/writer';
import { isStrataError, toKafkaErrorCode } from '../../common/errors';
import type { TopicState } from '../topicRegistry';
import type { ApiHandler, BrokerContext, RequestContext } from './types';
import { LEADER_EPOCH, AUTHORIZED_OPERATIONS_OMITTED } from '../singleNode';


export function describeTopic(t: TopicState, nodeId: number): MetadataResponseTopic {
  return {
    errorCode: ErrorCode.NONE,
    name: t.name,
    topicId: t.topicId,
    isInternal: false,
    partitions: t.partitions.map((_, i) => ({
      errorCode: ErrorCode.NONE,
      partitionIndex: i,
      leaderId: nodeId,
      leaderEpoch: LEADER_EPOCH,
      replicaNodes: [nodeId],
      isrNodes: [nodeId],
      offlineReplicas: [],
    })),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

function missingTopic(name: string | null, topicId: string | undefined, errorCode: number): MetadataResponseTopic {
  return { errorCode, name, topicId: topicId ?? ZERO_UUID, isInternal: false, partitions: [], topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED };
}

async function resolveTopic(broker: BrokerContext, name: string | null, topicId: string | undefined, allowAutoCreate: boolean): Promise<MetadataResponseTopic> {
  if (name === null || name === undefined) {
    const byId = topicId && topicId !== ZERO_UUID ? broker.topics.getById(topicId) : undefined;
    return byId ? describeTopic(byId, broker.nodeId) : missingTopic(null, topicId, ErrorCode.UNKNOWN_TOPIC_ID);
  }
  const existing = broker.topics.get(name);
  if (existing) return describeTopic(existing, broker.nodeId);
  if (!allowAutoCreate || !broker.config.autoCreateTopicsEnable) return missingTopic(name, undefined, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  try {
    const created = await broker.topics.create(name, broker.config.numPartitions, broker.config.defaultReplicationFactor, {});
    return describeTopic(created!, broker.nodeId);
  } catch (e) {
    if (isStrataError(e, 'TOPIC_EXISTS')) {
      const raced = broker.topics.get(name);
      if (raced) return describeTopic(raced, broker.nodeId);
    }
    broker.logger.warn(`auto-creating topic '${name}' failed: ${(e as Error).message}`);
    return missingTopic(name, undefined, toKafkaErrorCode(e));
  }
}

export const metadataHandler: ApiHandler<MetadataRequest, MetadataResponse> = {
  apiKey: ApiKey.Metadata,
  minImplemented: 0,

  async handle(req, ctx: RequestContext) {
    const { broker, version } = ctx;
    const all = req.topics === null || (version === 0 && req.topics.length === 0);
    const allowAutoCreate = version < 4 ? true : req.allowAutoTopicCreation !== false;
    const topics = all
      ? broker.topics.list().map((t) => describeTopic(t, broker.nodeId))
      : await Promise.all(req.topics!.map((t) => resolveTopic(broker, t.name ?? null, t.topicId, allowAutoCreate)));
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: broker.nodeId, host: broker.advertised.host, port: broker.advertised.port, rack: broker.rack }],
      clusterId: broker.clusterId,
      controllerId: broker.nodeId,
      topics,
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    };
  },

  errorResponse(req, errorCode, ctx) {
    return {
      throttleTimeMs: 0,
      brokers: [],
      clusterId: ctx.broker.clusterId,
      controllerId: -1,
      topics: (req.topics ?? []).map((t) => missingTopic(t.name ?? null, t.topicId, errorCode)),
    };
  },
};
