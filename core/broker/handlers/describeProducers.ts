/**
 * DescribeProducers (api key 61, KIP-664). v0 only.
 *
 * The producer state of each partition: every producer id with state, its epoch, last sequence,
 * last timestamp, coordinator epoch and the first offset of its open transaction (-1 when none)
 * — what `kafka-transactions.sh --describe-producers` and `--find-hanging` read.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeProducersRequest } from '../../protocol/generated/DescribeProducersRequest';
import type { DescribeProducersResponse } from '../../protocol/generated/DescribeProducersResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export const describeProducersHandler: ApiHandler<DescribeProducersRequest, DescribeProducersResponse> = {
  apiKey: ApiKey.DescribeProducers,
  minImplemented: 0,

  handle(req, ctx) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => {
        const topic = ctx.broker.topics.get(t.name);
        return {
          name: t.name,
          partitions: t.partitionIndexes.map((partitionIndex) => {
            const p = topic?.partitions[partitionIndex];
            if (!p) return { partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null, activeProducers: [] };
            return { partitionIndex, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers: p.activeProducers() };
          }),
        };
      }),
    };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode, errorMessage: null, activeProducers: [] })) })),
    };
  },
};
