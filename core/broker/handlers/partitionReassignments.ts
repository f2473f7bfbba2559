/**
 * AlterPartitionReassignments (api key 45) and ListPartitionReassignments (46), KIP-455; v0,
 * flexible. A target replica list starts moving a partition (its new replicas fetch from the
 * leader and the controller completes the move once they are in sync); null cancels a move in
 * progress. Any broker answers: each change is one conditional write of the partition's record
 * (core/cluster/partitionElection.ts startReassignment). `strata reassign-partitions` is
 * kafka-reassign-partitions.sh.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { AlterPartitionReassignmentsRequest } from '../../protocol/generated/AlterPartitionReassignmentsRequest';
import type { AlterPartitionReassignmentsResponse, ReassignableTopicResponse } from '../../protocol/generated/AlterPartitionReassignmentsResponse';
import type { ListPartitionReassignmentsRequest } from '../../protocol/generated/ListPartitionReassignmentsRequest';
import type { ListPartitionReassignmentsResponse, OngoingTopicReassignment } from '../../protocol/generated/ListPartitionReassignmentsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export const alterPartitionReassignmentsHandler: ApiHandler<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse> = {
  apiKey: ApiKey.AlterPartitionReassignments,
  minImplemented: 0,

  async handle(req, ctx) {
    const cluster = ctx.broker.cluster;
    if (cluster === undefined) return this.errorResponse(req, ErrorCode.UNKNOWN_SERVER_ERROR, ctx);
    const targets = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas ?? null })));
    const results = await cluster.alterReassignments(targets);
    const byTopic = new Map<string, ReassignableTopicResponse>();
    for (const r of results) {
      let t = byTopic.get(r.topic);
      if (!t) byTopic.set(r.topic, (t = { name: r.topic, partitions: [] }));
      t.partitions.push({ partitionIndex: r.partition, errorCode: r.error === null ? ErrorCode.NONE : ErrorCode[r.error], errorMessage: r.message });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, responses: [...byTopic.values()] };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      errorCode,
      errorMessage: null,
      responses: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode, errorMessage: null })) })),
    };
  },
};

export const listPartitionReassignmentsHandler: ApiHandler<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse> = {
  apiKey: ApiKey.ListPartitionReassignments,
  minImplemented: 0,

  handle(req, ctx) {
    const cluster = ctx.broker.cluster;
    if (cluster === undefined) return this.errorResponse(req, ErrorCode.UNKNOWN_SERVER_ERROR, ctx);
    const targets = req.topics === null || req.topics === undefined ? null : req.topics.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition })));
    const byTopic = new Map<string, OngoingTopicReassignment>();
    for (const r of cluster.listReassignments(targets)) {
      let t = byTopic.get(r.topic);
      if (!t) byTopic.set(r.topic, (t = { name: r.topic, partitions: [] }));
      t.partitions.push({ partitionIndex: r.partition, replicas: r.replicas, addingReplicas: r.adding, removingReplicas: r.removing });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, topics: [...byTopic.values()] };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, errorMessage: null, topics: [] };
  },
};
