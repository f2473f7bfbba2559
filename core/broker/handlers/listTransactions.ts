/**
 * ListTransactions (api key 66, KIP-664).
 *
 * v0 state and producer id filters; v1 duration filter (KIP-994: only transactions running
 * longer than it; -1 = no filter). Unknown state names are echoed in unknown_state_filters.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ListTransactionsRequest } from '../../protocol/generated/ListTransactionsRequest';
import type { ListTransactionsResponse } from '../../protocol/generated/ListTransactionsResponse';
import type { ApiHandler } from './types';

export const listTransactionsHandler: ApiHandler<ListTransactionsRequest, ListTransactionsResponse> = {
  apiKey: ApiKey.ListTransactions,
  minImplemented: 0,

  async handle(req, ctx) {
    // The transactions of every id this broker coordinates, also those taken over but not yet asked for.
    await ctx.broker.txn.loadOwned().catch(() => undefined);
    const r = ctx.broker.txn.listTransactions({ states: req.stateFilters, producerIds: req.producerIdFilters, durationFilterMs: req.durationFilter ?? -1n });
    return { throttleTimeMs: 0, ...r };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, unknownStateFilters: [], transactionStates: [] };
  },
};
