/**
 * WriteTxnMarkers (api key 27). v1 flexible.
 *
 * Appends COMMIT/ABORT control batches for the given producers to the given partitions: Kafka's
 * coordinator-to-leader request, also what `kafka-transactions.sh --abort` (Admin.abortTransaction)
 * sends to end a hanging transaction. Strata's own coordinator writes its markers through the
 * same MarkerWriter. Per partition: UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH (a marker
 * older than the producer's epoch), TRANSACTION_COORDINATOR_FENCED (an older coordinator epoch),
 * or a storage error.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { WriteTxnMarkersRequest } from '../../protocol/generated/WriteTxnMarkersRequest';
import type { WriteTxnMarkersResponse } from '../../protocol/generated/WriteTxnMarkersResponse';
import type { ApiHandler } from './types';

export const writeTxnMarkersHandler: ApiHandler<WriteTxnMarkersRequest, WriteTxnMarkersResponse> = {
  apiKey: ApiKey.WriteTxnMarkers,
  minImplemented: 0,

  async handle(req, ctx) {
    return {
      markers: await Promise.all(req.markers.map(async (m) => {
        const partitions = m.topics.flatMap((t) => t.partitionIndexes.map((partition) => ({ topic: t.name, partition })));
        const results = await ctx.broker.markers.writeLocal({
          producerId: m.producerId,
          producerEpoch: m.producerEpoch,
          coordinatorEpoch: m.coordinatorEpoch,
          result: m.transactionResult ? 'COMMIT' : 'ABORT',
          partitions,
        });
        let i = 0;
        return {
          producerId: m.producerId,
          topics: m.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: results[i++].errorCode })) })),
        };
      })),
    };
  },

  errorResponse(req, errorCode) {
    return {
      markers: req.markers.map((m) => ({
        producerId: m.producerId,
        topics: m.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode })) })),
      })),
    };
  },
};
