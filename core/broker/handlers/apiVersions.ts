/**
 * ApiVersions (api key 18). Always answered with response header v0 (clients read it before
 * they know our versions). v1 throttle; v3 flexible, client software name/version (KIP-511)
 * and feature lists. An unknown version is handled by the dispatcher (v0 + UNSUPPORTED_VERSION).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { ApiVersionsRequest } from '../../protocol/generated/ApiVersionsRequest';
import type { ApiVersionsResponse } from '../../protocol/generated/ApiVersionsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export function apiVersionsHandler(supported: () => { apiKey: number; minVersion: number; maxVersion: number }[]): ApiHandler<ApiVersionsRequest, ApiVersionsResponse> {
  return {
    apiKey: ApiKey.ApiVersions,
    minImplemented: 0,
    handle(req, ctx) {
      if (ctx.version >= 3) {
        // KIP-511: names must be non-empty and of [a-zA-Z0-9._-], starting and ending alphanumeric.
        const valid = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?$/;
        if (!valid.test(req.clientSoftwareName ?? '') || !valid.test(req.clientSoftwareVersion ?? '')) {
          return { errorCode: ErrorCode.INVALID_REQUEST, apiKeys: [], throttleTimeMs: 0 };
        }
      }
      return { errorCode: ErrorCode.NONE, apiKeys: supported(), throttleTimeMs: 0 };
    },
    errorResponse(_req, errorCode) {
      return { errorCode, apiKeys: supported(), throttleTimeMs: 0 };
    },
  };
}
