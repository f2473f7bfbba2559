/**
 * Topic administration: CreateTopics (19), DeleteTopics (20), CreatePartitions (37).
 *
 * CreateTopics: v1 validateOnly and error messages; v4 numPartitions/replicationFactor -1
 * mean the broker defaults (KIP-464); v5 flexible and the created topic's configs in the
 * answer; v7 topic ids. DeleteTopics: v4 flexible; v5 error messages; v6 topics by name or
 * id. CreatePartitions: v2 flexible. Replicas are placed over the live brokers (rack-aware), or
 * as given by hand (assignments: every broker alive, none twice, the same count per partition;
 * INVALID_REPLICA_ASSIGNMENT with Kafka's messages otherwise).
 *
 * CreateTopics refuses Kafka's reserved names (__consumer_offsets, __transaction_state,
 * __share_group_state, __cluster_metadata) with INVALID_REQUEST, as Kafka's ControllerApis
 * refuses __cluster_metadata: Strata keeps that state in its metadata store, and a user topic
 * under such a name would mislead every tool that reads it. Names colliding with an existing
 * topic once '.' and '_' are alike are refused by the registry (INVALID_TOPIC_EXCEPTION).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { CreateTopicsRequest } from '../../protocol/generated/CreateTopicsRequest';
import type { CreateTopicsResponse, CreatableTopicResult } from '../../protocol/generated/CreateTopicsResponse';
import type { DeleteTopicsRequest } from '../../protocol/generated/DeleteTopicsRequest';
import type { DeleteTopicsResponse, DeletableTopicResult } from '../../protocol/generated/DeleteTopicsResponse';
import type { CreatePartitionsRequest } from '../../protocol/generated/CreatePartitionsRequest';
import type { CreatePartitionsResponse } from '../../protocol/generated/CreatePartitionsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { ZERO_UUID } from '../../protocol/writer';
import { toKafkaErrorCode } from '../../common/errors';
import { isReservedTopicName, reservedTopicMessage } from '../../config/topicName';
import { describeTopicConfigs } from './configs';
import type { ApiHandler, BrokerContext } from './types';

function failure(e: unknown): { errorCode: number; errorMessage: string } {
  return { errorCode: toKafkaErrorCode(e), errorMessage: (e as Error).message };
}

/**
 * CreateTopics' assignments as replica lists in partition order: the partition indexes must be
 * 0..n-1 (Kafka's message otherwise); the lists themselves are checked by topic admin.
 */
function manualAssignment(assignments: readonly { partitionIndex: number; brokerIds: number[] }[]): number[][] | string {
  const sorted = [...assignments].sort((a, b) => a.partitionIndex - b.partitionIndex);
  for (const [i, a] of sorted.entries()) {
    if (a.partitionIndex !== i) return `Partitions should be 0-based and consecutive: found partition index ${a.partitionIndex} where ${i} was expected.`;
  }
  return sorted.map((a) => [...a.brokerIds]);
}

export const createTopicsHandler: ApiHandler<CreateTopicsRequest, CreateTopicsResponse> = {
  apiKey: ApiKey.CreateTopics,
  minImplemented: 0,

  async handle(req, ctx) {
    const b = ctx.broker;
    const seen = new Map<string, number>();
    for (const t of req.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
    const topics: CreatableTopicResult[] = [];
    for (const t of req.topics) {
      const base: CreatableTopicResult = { name: t.name, topicId: ZERO_UUID, errorCode: ErrorCode.NONE, errorMessage: null, numPartitions: -1, replicationFactor: -1, configs: [] };
      if (seen.get(t.name)! > 1) {
        topics.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Create topics request from client contains multiple entries for topic ${t.name}` });
        continue;
      }
      if (isReservedTopicName(t.name)) {
        topics.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: reservedTopicMessage(t.name) });
        continue;
      }
      const manual = t.assignments.length > 0 ? manualAssignment(t.assignments) : undefined;
      if (manual !== undefined && (t.numPartitions !== -1 || t.replicationFactor !== -1)) {
        topics.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.' });
        continue;
      }
      if (typeof manual === 'string') {
        topics.push({ ...base, errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: manual });
        continue;
      }
      const partitions = manual ? manual.length : t.numPartitions === -1 ? b.config.numPartitions : t.numPartitions;
      const rf = manual ? manual[0].length : t.replicationFactor === -1 ? b.config.defaultReplicationFactor : t.replicationFactor;
      const configs: Record<string, string> = {};
      for (const c of t.configs) if (c.value !== null) configs[c.name] = c.value;
      try {
        const created = await b.topicAdmin.create(t.name, partitions, rf, configs, req.validateOnly ?? false, manual);
        const state = created ?? null;
        topics.push({
          ...base,
          topicId: state?.topicId ?? ZERO_UUID,
          numPartitions: partitions,
          replicationFactor: rf,
          configs: state
            ? describeTopicConfigs(state, null, false, false).map((c) => ({ name: c.name, value: c.value, readOnly: c.readOnly, configSource: c.configSource, isSensitive: c.isSensitive }))
            : [],
        });
      } catch (e) {
        topics.push({ ...base, ...failure(e) });
      }
    }
    return { throttleTimeMs: 0, topics };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, topicId: ZERO_UUID, errorCode, errorMessage: null, numPartitions: -1, replicationFactor: -1, configs: [] })),
    };
  },
};

export const deleteTopicsHandler: ApiHandler<DeleteTopicsRequest, DeleteTopicsResponse> = {
  apiKey: ApiKey.DeleteTopics,
  minImplemented: 0,

  async handle(req, ctx) {
    const b = ctx.broker;
    const wanted: { name: string | null; topicId: string }[] =
      ctx.version >= 6 ? (req.topics ?? []).map((t) => ({ name: t.name ?? null, topicId: t.topicId ?? ZERO_UUID })) : (req.topicNames ?? []).map((n) => ({ name: n, topicId: ZERO_UUID }));
    const responses: DeletableTopicResult[] = [];
    for (const w of wanted) {
      const state = w.name !== null ? b.topics.get(w.name) : b.topics.getById(w.topicId);
      if (!b.config.deleteTopicEnable) {
        responses.push({ name: w.name, topicId: w.topicId, errorCode: ErrorCode.TOPIC_DELETION_DISABLED, errorMessage: 'Topic deletion is disabled (delete.topic.enable=false).' });
        continue;
      }
      if (!state) {
        const byId = w.name === null;
        responses.push({
          name: w.name,
          topicId: w.topicId,
          errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          errorMessage: byId ? `Topic id ${w.topicId} does not exist.` : `Topic '${w.name}' does not exist.`,
        });
        continue;
      }
      try {
        await b.topicAdmin.delete(state.name);
        responses.push({ name: state.name, topicId: state.topicId, errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (e) {
        responses.push({ name: state.name, topicId: state.topicId, ...failure(e) });
      }
    }
    return { throttleTimeMs: 0, responses };
  },

  errorResponse(req, errorCode, ctx) {
    const names = ctx.version >= 6 ? (req.topics ?? []).map((t) => ({ name: t.name ?? null, topicId: t.topicId ?? ZERO_UUID })) : (req.topicNames ?? []).map((n) => ({ name: n, topicId: ZERO_UUID }));
    return { throttleTimeMs: 0, responses: names.map((n) => ({ ...n, errorCode, errorMessage: null })) };
  },
};

export const createPartitionsHandler: ApiHandler<CreatePartitionsRequest, CreatePartitionsResponse> = {
  apiKey: ApiKey.CreatePartitions,
  minImplemented: 0,

  async handle(req, ctx) {
    const results = [];
    for (const t of req.topics) {
      const manual = t.assignments && t.assignments.length > 0 ? t.assignments.map((a) => [...a.brokerIds]) : undefined;
      try {
        await ctx.broker.topicAdmin.addPartitions(t.name, t.count, req.validateOnly, manual);
        results.push({ name: t.name, errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (e) {
        results.push({ name: t.name, ...failure(e) });
      }
    }
    return { throttleTimeMs: 0, results };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, results: req.topics.map((t) => ({ name: t.name, errorCode, errorMessage: null })) };
  },
};
