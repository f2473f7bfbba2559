/**
 * SaslAuthenticate (api key 36) as the dispatcher sees it: only where no SASL exchange is under
 * way, i.e. on listeners without SASL (on SASL listeners each connection's session answers it,
 * core/security/saslServer.ts). Answered ILLEGAL_SASL_STATE, as Kafka answers a SaslAuthenticate
 * that no SaslHandshake announced. Registered so that ApiVersions advertises the API: clients
 * (kafkajs, librdkafka) pick the framed v1 SASL flow only when it is listed.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { SaslAuthenticateRequest } from '../../protocol/generated/SaslAuthenticateRequest';
import type { SaslAuthenticateResponse } from '../../protocol/generated/SaslAuthenticateResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

export const saslAuthenticateHandler: ApiHandler<SaslAuthenticateRequest, SaslAuthenticateResponse> = {
  apiKey: ApiKey.SaslAuthenticate,
  minImplemented: 0,

  handle(_req, ctx) {
    return {
      errorCode: ErrorCode.ILLEGAL_SASL_STATE,
      errorMessage: `Unexpected SaslAuthenticate request: listener ${ctx.conn.listenerName} is ${ctx.conn.securityProtocol}, without SASL`,
      authBytes: Buffer.alloc(0),
      sessionLifetimeMs: 0n,
    };
  },

  errorResponse(_req, errorCode) {
    return { errorCode, errorMessage: null, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n };
  },
};
