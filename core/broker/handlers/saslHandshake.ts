/**
 * SaslHandshake (api key 17). v0: the SASL tokens that follow are raw size-prefixed frames;
 * v1: they go in SaslAuthenticate (api key 36) requests (KIP-152). Same fields in both.
 *
 * Strata has no SASL yet (every listener is PLAINTEXT), so a client configured for SASL is
 * told at once that no mechanism is enabled: UNSUPPORTED_SASL_MECHANISM with an empty
 * mechanism list, the answer a Kafka SASL listener gives for a mechanism it has not enabled
 * (SaslServerAuthenticator.handleHandshakeRequest). Clients treat it as a fatal
 * authentication error: the Java client throws UnsupportedSaslMechanismException ("Client
 * SASL mechanism 'PLAIN' not enabled in the server, enabled mechanisms are []"), kafkajs
 * KafkaJSProtocolError UNSUPPORTED_SASL_MECHANISM (not retriable), librdkafka fails the
 * connection with "Broker: Unsupported SASL mechanism". Before this handler the request
 * closed the connection, which clients retry as a network blip.
 *
 * Kafka's own PLAINTEXT listener answers through KafkaApis.handleSaslHandshakeRequest with
 * ILLEGAL_SASL_STATE (and no mechanisms); UNSUPPORTED_SASL_MECHANISM says more plainly what
 * is wrong, and clients fail the same way on either. SaslAuthenticate stays unregistered, so
 * ApiVersions does not advertise it. The connection stays open (the client closes it).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { SaslHandshakeRequest } from '../../protocol/generated/SaslHandshakeRequest';
import type { SaslHandshakeResponse } from '../../protocol/generated/SaslHandshakeResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

/** The SASL mechanisms enabled on Strata's listeners: none until security arrives. */
export const ENABLED_SASL_MECHANISMS: readonly string[] = [];

/** A client misconfigured for SASL reconnects over and over: log at most one line per this long. */
const LOG_INTERVAL_MS = 10_000;

export function createSaslHandshakeHandler(logIntervalMs = LOG_INTERVAL_MS): ApiHandler<SaslHandshakeRequest, SaslHandshakeResponse> {
  let lastLogged = -Infinity;
  let unlogged = 0;
  return {
    apiKey: ApiKey.SaslHandshake,
    minImplemented: 0,

    handle(req, ctx) {
      const now = Date.now();
      if (now - lastLogged >= logIntervalMs) {
        const more = unlogged > 0 ? ` (${unlogged} more SaslHandshake request${unlogged === 1 ? '' : 's'} since the previous line)` : '';
        ctx.broker.logger.warn(
          `${ctx.conn.remote} (client ${ctx.header.clientId ?? '-'}) asked for SASL mechanism ${req.mechanism}, but SASL is not enabled: ` +
            `this listener is PLAINTEXT; answered UNSUPPORTED_SASL_MECHANISM. Configure the client with security.protocol=PLAINTEXT${more}.`,
        );
        lastLogged = now;
        unlogged = 0;
      } else {
        unlogged++;
      }
      return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: [...ENABLED_SASL_MECHANISMS] };
    },

    errorResponse(_req, errorCode) {
      return { errorCode, mechanisms: [...ENABLED_SASL_MECHANISMS] };
    },
  };
}

export const saslHandshakeHandler = createSaslHandshakeHandler();
