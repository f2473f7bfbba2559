/**
 * SaslHandshake (api key 17) as the dispatcher sees it: only on listeners without SASL
 * (PLAINTEXT, SSL). On SASL_PLAINTEXT and SASL_SSL listeners each connection's SASL session
 * (core/security/saslServer.ts) answers SaslHandshake and SaslAuthenticate itself.
 *
 * A client configured for SASL against a listener without it is told at once that no mechanism
 * is enabled: UNSUPPORTED_SASL_MECHANISM with an empty mechanism list, the answer a Kafka SASL
 * listener gives for a mechanism it has not enabled (SaslServerAuthenticator.handleHandshakeRequest).
 * Clients treat it as a fatal authentication error: the Java client throws
 * UnsupportedSaslMechanismException, kafkajs KafkaJSProtocolError UNSUPPORTED_SASL_MECHANISM
 * (not retriable), librdkafka fails the connection with "Broker: Unsupported SASL mechanism".
 * (Kafka's own PLAINTEXT listener answers ILLEGAL_SASL_STATE; clients fail the same way on
 * either, and this one says more plainly what is wrong.) The connection stays open.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { SaslHandshakeRequest } from '../../protocol/generated/SaslHandshakeRequest';
import type { SaslHandshakeResponse } from '../../protocol/generated/SaslHandshakeResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { ApiHandler } from './types';

/** The SASL mechanisms a listener without SASL enables: none. */
const NO_MECHANISMS: readonly string[] = [];

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
          `${ctx.conn.remote} (client ${ctx.header.clientId ?? '-'}) asked for SASL mechanism ${req.mechanism}, but listener ${ctx.conn.listenerName} ` +
            `is ${ctx.conn.securityProtocol}, without SASL; answered UNSUPPORTED_SASL_MECHANISM. Configure the client with security.protocol=${ctx.conn.securityProtocol}, ` +
            `or point it at a SASL_PLAINTEXT or SASL_SSL listener${more}.`,
        );
        lastLogged = now;
        unlogged = 0;
      } else {
        unlogged++;
      }
      return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: [...NO_MECHANISMS] };
    },

    errorResponse(_req, errorCode) {
      return { errorCode, mechanisms: [...NO_MECHANISMS] };
    },
  };
}

export const saslHandshakeHandler = createSaslHandshakeHandler();
