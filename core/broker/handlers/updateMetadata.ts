/**
 * UpdateMetadata (api key 6), from the broker that changed cluster metadata (core/cluster/
 * metadataPush.ts): a nudge to read the metadata store now rather than at the next poll. Its
 * content is not applied (the store is the only source of truth), so a stale or forged request
 * costs one early read and nothing else.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { UpdateMetadataRequest } from '../../protocol/generated/UpdateMetadataRequest';
import type { UpdateMetadataResponse } from '../../protocol/generated/UpdateMetadataResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export const updateMetadataHandler: ApiHandler<UpdateMetadataRequest, UpdateMetadataResponse> = {
  apiKey: ApiKey.UpdateMetadata,
  minImplemented: 0,

  handle(_req, ctx) {
    ctx.broker.cluster?.refreshNow();
    return { errorCode: ErrorCode.NONE };
  },

  errorResponse(_req, errorCode) {
    return { errorCode };
  },
};
