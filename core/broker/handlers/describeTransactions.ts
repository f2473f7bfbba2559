/**
 * DescribeTransactions (api key 65, KIP-664). v0 only.
 *
 * The coordinator's state of each transactional id: state, producer id and epoch, timeout,
 * start time and the partitions of its transaction; TRANSACTIONAL_ID_NOT_FOUND for an unknown id,
 * NOT_COORDINATOR for an id another broker coordinates.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeTransactionsRequest } from '../../protocol/generated/DescribeTransactionsRequest';
import type { DescribeTransactionsResponse } from '../../protocol/generated/DescribeTransactionsResponse';
import type { ApiHandler } from './types';

export const describeTransactionsHandler: ApiHandler<DescribeTransactionsRequest, DescribeTransactionsResponse> = {
  apiKey: ApiKey.DescribeTransactions,
  minImplemented: 0,

  async handle(req, ctx) {
    // Ids this broker coordinates but has not loaded yet are read first.
    await ctx.broker.txn.ready(req.transactionalIds);
    return { throttleTimeMs: 0, transactionStates: ctx.broker.txn.describeTransactions(req.transactionalIds) };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      transactionStates: req.transactionalIds.map((transactionalId) => ({
        errorCode,
        transactionalId,
        transactionState: '',
        transactionTimeoutMs: 0,
        transactionStartTimeMs: -1n,
        producerId: -1n,
        producerEpoch: -1,
        topics: [],
      })),
    };
  },
};
