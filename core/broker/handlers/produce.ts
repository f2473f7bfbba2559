/**
 * Produce (api key 0).
 *
 * v0-2 carry magic 0/1 message sets, which Strata does not store: they are advertised (old
 * librdkafka enables features by the advertised range) and answered UNSUPPORTED_VERSION.
 * v3 adds transactionalId and RecordBatch v2; v5 logStartOffset (across both tiers for tiered
 * topics, as Fetch and ListOffsets report it); v8 per-record errors and an error message;
 * v9 flexible; v10 currentLeader/nodeEndpoints (KIP-951); v11 same shape.
 *
 * Each partition's `records` is validated as a whole before anything is written (invariant 2):
 * either every batch in it is appended or the partition gets an error code and nothing.
 * acks=0 gets no response at all.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ProduceRequest } from '../../protocol/generated/ProduceRequest';
import type { ProduceResponse, PartitionProduceResponse } from '../../protocol/generated/ProduceResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { toKafkaErrorCode } from '../../common/errors';
import { validateRecords } from '../../log/recordBatch';
import { validateRecordKeysForCompaction } from '../../log/compactedTopicValidation';
import type { ApiHandler, RequestContext } from './types';
import { LEADER_EPOCH } from '../singleNode';


function partitionError(index: number, errorCode: number, errorMessage: string | null = null): PartitionProduceResponse {
  return { index, errorCode, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n, recordErrors: [], errorMessage };
}

export const produceHandler: ApiHandler<ProduceRequest, ProduceResponse> = {
  apiKey: ApiKey.Produce,
  minImplemented: 3,

  handle(req, ctx) {
    const { topics, nodeId } = ctx.broker;
    const acks = req.acks;
    const validAcks = acks === 0 || acks === 1 || acks === -1;
    const responses = req.topicData.map((td) => {
      const topic = topics.get(td.name);
      return {
        name: td.name,
        partitionResponses: td.partitionData.map((pd): PartitionProduceResponse => {
          if (!validAcks) return partitionError(pd.index, ErrorCode.INVALID_REQUIRED_ACKS);
          const log = topic?.partitions[pd.index];
          if (!topic || !log) return partitionError(pd.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          if (acks === -1 && topic.config.values['min.insync.replicas'] > 1) {
            // Single broker: the ISR is this broker alone.
            return partitionError(
              pd.index,
              ErrorCode.NOT_ENOUGH_REPLICAS,
              `The size of the current ISR [${nodeId}] is insufficient to satisfy the min.isr requirement of ${topic.config.values['min.insync.replicas']}`,
            );
          }
          const records = pd.records;
          if (!records || records.length === 0) return partitionError(pd.index, ErrorCode.CORRUPT_MESSAGE, 'Produce request has no record batch');
          const validated = validateRecords(records, { maxMessageBytes: Number(topic.config.values['max.message.bytes']) });
          if (!validated.ok) return partitionError(pd.index, validated.errorCode, validated.message);
          if (topic.config.values['cleanup.policy'].includes('compact')) {
            // Kafka refuses keyless records on compacted topics (INVALID_RECORD).
            const keys = validateRecordKeysForCompaction(records, validated.batches);
            if (!keys.ok) {
              // KIP-467: name the refused records, so a client fails those and not their batch-mates.
              const refused = partitionError(pd.index, keys.errorCode, keys.message);
              refused.recordErrors = keys.recordErrors.map((r) => ({ batchIndex: r.batchIndex, batchIndexErrorMessage: r.message }));
              return refused;
            }
          }
          try {
            const r = log.append(records, { leaderEpoch: LEADER_EPOCH, validated });
            // Tiered topics: the start across both tiers (the local copy may start later).
            const tiered = ctx.broker.tier.partition(topic.topicId, pd.index);
            return {
              index: pd.index,
              errorCode: ErrorCode.NONE,
              baseOffset: r.baseOffset,
              logAppendTimeMs: r.logAppendTime,
              logStartOffset: tiered ? tiered.logStartOffset : r.logStartOffset,
              recordErrors: [],
              errorMessage: null,
            };
          } catch (e) {
            ctx.broker.logger.warn(`append to ${td.name}-${pd.index} failed: ${(e as Error).message}`);
            return partitionError(pd.index, toKafkaErrorCode(e), (e as Error).message);
          }
        }),
      };
    });
    if (acks === 0) return null;
    return { responses, throttleTimeMs: 0 };
  },

  errorResponse(req, errorCode) {
    return {
      responses: req.topicData.map((td) => ({ name: td.name, partitionResponses: td.partitionData.map((pd) => partitionError(pd.index, errorCode)) })),
      throttleTimeMs: 0,
    };
  },
};

export type { RequestContext };
