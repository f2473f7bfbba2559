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
 * Kafka's reserved names (__consumer_offsets, __transaction_state, ...) are never created:
 * Strata has no internal topics, so they are unknown (UNKNOWN_TOPIC_OR_PARTITION, marked
 * is_internal as Kafka marks them by name). Without auto-creation an illegal name answers
 * INVALID_TOPIC_EXCEPTION (KafkaApis.getTopicMetadata). Authorized operations (v8+) are
 * answered when asked: every operation, as Kafka without an authorizer (see singleNode.ts).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { MetadataRequest } from '../../protocol/generated/MetadataRequest';
import type { MetadataResponse, MetadataResponseTopic } from '../../protocol/generated/MetadataResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { ZERO_UUID } from '../../protocol/writer';
import { isStrataError, toKafkaErrorCode } from '../../common/errors';
import { isInternalTopic, isReservedTopicName, validateTopicName } from '../../config/topicName';
import type { TopicState } from '../../cluster/metadataCache';
import type { ApiHandler, BrokerContext, RequestContext } from './types';
import { LEADER_EPOCH, AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_AUTHORIZED_OPERATIONS, TOPIC_AUTHORIZED_OPERATIONS, authorizedOperations } from '../singleNode';

/**
 * A topic's partitions as the cluster has them: leader, leader epoch, replicas and ISR from each
 * partition's record (this broker's own view of the ISR where it leads), replicas on brokers that
 * are not alive as offline. A partition without a leader, or whose leader is not alive, answers
 * LEADER_NOT_AVAILABLE (clients retry their metadata), as does one whose record this broker has
 * not applied yet; outside a cluster (contexts built without one) a partition is this broker's.
 */
export function describeTopic(t: TopicState, broker: Pick<BrokerContext, 'nodeId' | 'topics' | 'cluster'>): MetadataResponseTopic {
  const { nodeId, topics } = broker;
  const live = (id: number) => id === nodeId || topics.isLive(id);
  return {
    errorCode: ErrorCode.NONE,
    name: t.name,
    topicId: t.topicId,
    isInternal: isInternalTopic(t.name),
    partitions: t.partitions.map((p, i) => {
      const s = p.state;
      if (s === null) {
        // In a cluster, a partition whose record this broker has not applied yet (it opened a
        // moment ago) has no known leader here: clients retry. Without one, it is this broker's.
        if (broker.cluster !== undefined) return { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, partitionIndex: i, leaderId: -1, leaderEpoch: -1, replicaNodes: [], isrNodes: [], offlineReplicas: [] };
        return { errorCode: ErrorCode.NONE, partitionIndex: i, leaderId: nodeId, leaderEpoch: LEADER_EPOCH, replicaNodes: [nodeId], isrNodes: [nodeId], offlineReplicas: [] };
      }
      const leaderKnown = s.leader >= 0 && live(s.leader);
      return {
        errorCode: leaderKnown ? ErrorCode.NONE : ErrorCode.LEADER_NOT_AVAILABLE,
        partitionIndex: i,
        leaderId: leaderKnown ? s.leader : -1,
        leaderEpoch: s.leaderEpoch,
        replicaNodes: [...s.replicas],
        isrNodes: [...s.isr],
        offlineReplicas: s.replicas.filter((id) => !live(id)),
      };
    }),
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

function missingTopic(name: string | null, topicId: string | undefined, errorCode: number): MetadataResponseTopic {
  return {
    errorCode,
    name,
    topicId: topicId ?? ZERO_UUID,
    isInternal: name !== null && isInternalTopic(name),
    partitions: [],
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

/** Kafka's answer for a named topic that does not exist and is not created: unknown, or an illegal name. */
function unknownName(name: string): MetadataResponseTopic {
  try {
    validateTopicName(name);
    return missingTopic(name, undefined, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  } catch {
    return missingTopic(name, undefined, ErrorCode.INVALID_TOPIC_EXCEPTION);
  }
}

async function resolveTopic(broker: BrokerContext, name: string | null, topicId: string | undefined, allowAutoCreate: boolean): Promise<MetadataResponseTopic> {
  if (name === null || name === undefined) {
    const byId = topicId && topicId !== ZERO_UUID ? broker.topics.getById(topicId) : undefined;
    return byId ? describeTopic(byId, broker) : missingTopic(null, topicId, ErrorCode.UNKNOWN_TOPIC_ID);
  }
  const existing = broker.topics.get(name);
  if (existing) return describeTopic(existing, broker);
  if (!allowAutoCreate || !broker.config.autoCreateTopicsEnable) return unknownName(name);
  // Kafka would create its own internal topic here; Strata has none, and a user topic must not take the name.
  if (isReservedTopicName(name)) return missingTopic(name, undefined, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  try {
    const created = await broker.topicAdmin.create(name, broker.config.numPartitions, broker.config.defaultReplicationFactor, {});
    return describeTopic(created!, broker);
  } catch (e) {
    if (isStrataError(e, 'TOPIC_EXISTS')) {
      const raced = broker.topics.get(name);
      if (raced) return describeTopic(raced, broker);
      // Created by another broker and not yet taken up here (within a heartbeat interval): Kafka
      // answers a topic it is still creating with LEADER_NOT_AVAILABLE, which clients retry.
      return missingTopic(name, undefined, ErrorCode.LEADER_NOT_AVAILABLE);
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
      ? broker.topics.list().map((t) => describeTopic(t, broker))
      : await Promise.all(req.topics!.map((t) => resolveTopic(broker, t.name ?? null, t.topicId, allowAutoCreate)));
    // Kafka sets them on every topic it answers by name (topics looked up by an unknown id get none).
    if (version >= 8 && req.includeTopicAuthorizedOperations) {
      for (const t of topics) if (t.name !== null) t.topicAuthorizedOperations = TOPIC_AUTHORIZED_OPERATIONS;
    }
    return {
      throttleTimeMs: 0,
      brokers: broker.topics.endpoints(ctx.conn.listenerName, { nodeId: broker.nodeId, ...broker.advertisedOn(ctx.conn.listenerName), rack: broker.rack }),
      clusterId: broker.clusterId,
      // Kafka (KRaft) answers a live broker's id here, the controllers being unreachable to clients.
      controllerId: broker.topics.controllerId >= 0 ? broker.topics.controllerId : broker.nodeId,
      topics,
      // v8-10 only: from v11 clients ask DescribeCluster instead.
      clusterAuthorizedOperations: authorizedOperations(version >= 8 && version <= 10 && req.includeClusterAuthorizedOperations, CLUSTER_AUTHORIZED_OPERATIONS),
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
