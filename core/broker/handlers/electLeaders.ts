/**
 * ElectLeaders (api key 43, KIP-460). v1 election type (0 preferred, 1 unclean) and a top-level
 * error code; v2 flexible. Any broker answers: each election is one conditional write of the
 * partition's record (core/cluster/partitionElection.ts electRequested), as Kafka's controller
 * would make it. A null partition list means every partition; those needing no election are then
 * left out of the answer, as Kafka does.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ElectLeadersRequest } from '../../protocol/generated/ElectLeadersRequest';
import type { ElectLeadersResponse, ReplicaElectionResult } from '../../protocol/generated/ElectLeadersResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

const ELECTION_TYPES = ['preferred', 'unclean'] as const;

export const electLeadersHandler: ApiHandler<ElectLeadersRequest, ElectLeadersResponse> = {
  apiKey: ApiKey.ElectLeaders,
  minImplemented: 0,

  async handle(req, ctx) {
    const cluster = ctx.broker.cluster;
    const type = ELECTION_TYPES[req.electionType ?? 0];
    if (cluster === undefined || type === undefined) return this.errorResponse(req, cluster === undefined ? ErrorCode.UNKNOWN_SERVER_ERROR : ErrorCode.INVALID_REQUEST, ctx);
    const targets = req.topicPartitions === null ? null : req.topicPartitions.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition })));
    const results = await cluster.electLeaders(type, targets);
    const byTopic = new Map<string, ReplicaElectionResult>();
    for (const r of results) {
      let t = byTopic.get(r.topic);
      if (!t) byTopic.set(r.topic, (t = { topic: r.topic, partitionResult: [] }));
      t.partitionResult.push({ partitionId: r.partition, errorCode: r.error === null ? ErrorCode.NONE : ErrorCode[r.error], errorMessage: r.message });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, replicaElectionResults: [...byTopic.values()] };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      errorCode,
      replicaElectionResults: (req.topicPartitions ?? []).map((t) => ({ topic: t.topic, partitionResult: t.partitions.map((partitionId) => ({ partitionId, errorCode, errorMessage: null })) })),
    };
  },
};
