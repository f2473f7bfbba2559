import { StrataError } from '../common/errors';
import { ErrorCode, errorName } from '../protocol/errorCodes';
import { ApiKey } from '../protocol/generated/index';
import type { SaslAuthenticateResponse } from '../protocol/generated/SaslAuthenticateResponse';
import type { SaslHandshakeResponse } from '../protocol/generated/SaslHandshakeResponse';
import { ScramClient } from '../security/scram';
import type { SaslSettings } from './security';

/**
 * The client's side of Kafka's SASL authentication, run on a connection right after
 * ApiVersions (and again to re-authenticate, KIP-368), as Kafka's SaslClientAuthenticator:
 *
 *   SaslHandshake v1 { mechanism }           → { errorCode, mechanisms }
 *   SaslAuthenticate { authBytes: token }    → { errorCode, errorMessage, authBytes, sessionLifetimeMs }
 *   ... one SaslAuthenticate per client token: PLAIN sends one, SCRAM two (client-first, client-final)
 *
 * SaslHandshake v0 (Kafka before 1.0: raw tokens without Kafka headers) is not spoken; such a
 * broker gets a clear API_UNSUPPORTED. Failures are StrataErrors with stable codes:
 * UNSUPPORTED_SASL_MECHANISM (the listener does not enable ours), SASL_AUTHENTICATION_FAILED
 * (anything else, with the broker's errorMessage when it sent one).
 */

/** What the authenticator needs from a connection: send one request at a given version. */
export interface SaslTransport {
  readonly address: string;
  /** The negotiated version of an API, or undefined when the broker shares none with us. */
  versionOf(apiKey: number): number | undefined;
  request<T>(apiKey: number, request: unknown, version: number): Promise<T>;
}

export interface SaslOutcome {
  /** The broker's session lifetime (SaslAuthenticate v1+), 0 when it set none. */
  sessionLifetimeMs: number;
}

export async function saslAuthenticate(t: SaslTransport, sasl: SaslSettings): Promise<SaslOutcome> {
  const handshakeVersion = t.versionOf(ApiKey.SaslHandshake);
  if (handshakeVersion === undefined || handshakeVersion < 1) {
    throw new StrataError(
      'API_UNSUPPORTED',
      handshakeVersion === undefined
        ? `the broker at ${t.address} does not offer SaslHandshake: is this a SASL listener? (check security.protocol)`
        : `the broker at ${t.address} speaks only SaslHandshake v0 (Kafka before 1.0), which this client does not`,
    );
  }
  const authVersion = t.versionOf(ApiKey.SaslAuthenticate);
  if (authVersion === undefined) throw new StrataError('API_UNSUPPORTED', `the broker at ${t.address} does not offer SaslAuthenticate`);

  const hs = await t.request<SaslHandshakeResponse>(ApiKey.SaslHandshake, { mechanism: sasl.mechanism }, 1);
  if (hs.errorCode !== ErrorCode.NONE) {
    const enabled = `[${hs.mechanisms.join(', ')}]`;
    if (hs.errorCode === ErrorCode.UNSUPPORTED_SASL_MECHANISM) {
      throw new StrataError('UNSUPPORTED_SASL_MECHANISM', `Client SASL mechanism '${sasl.mechanism}' not enabled in the server at ${t.address}, enabled mechanisms are ${enabled}`);
    }
    throw new StrataError('SASL_AUTHENTICATION_FAILED', `SaslHandshake with ${t.address} failed: ${errorName(hs.errorCode)} (client mechanism ${sasl.mechanism}, enabled mechanisms are ${enabled})`);
  }

  let lifetime = 0n;
  const step = async (token: Buffer): Promise<Buffer> => {
    const res = await t.request<SaslAuthenticateResponse>(ApiKey.SaslAuthenticate, { authBytes: token }, authVersion);
    if (res.errorCode !== ErrorCode.NONE) {
      const code = res.errorCode === ErrorCode.UNSUPPORTED_SASL_MECHANISM ? 'UNSUPPORTED_SASL_MECHANISM' : 'SASL_AUTHENTICATION_FAILED';
      const detail = res.errorMessage ?? errorName(res.errorCode);
      throw new StrataError(code, `authentication with ${t.address} as '${sasl.username}' (${sasl.mechanism}) failed: ${detail}`);
    }
    if (res.sessionLifetimeMs !== undefined && res.sessionLifetimeMs > 0n) lifetime = res.sessionLifetimeMs;
    return res.authBytes;
  };

  if (sasl.mechanism === 'PLAIN') {
    // RFC 4616: [authzid] NUL authcid NUL passwd; Kafka's client sends no authorization id.
    await step(Buffer.concat([Buffer.from([0]), Buffer.from(sasl.username, 'utf8'), Buffer.from([0]), Buffer.from(sasl.password, 'utf8')]));
  } else {
    const scram = new ScramClient(sasl.mechanism, sasl.username, sasl.password);
    const serverFirst = await step(scram.first());
    const serverFinal = await step(withAddress(t.address, () => scram.final(serverFirst)));
    withAddress(t.address, () => scram.verify(serverFinal));
  }
  return { sessionLifetimeMs: Number(lifetime) };
}

/** ScramClient's own failures (a malformed server message, a server signature that does not match), naming the broker. */
function withAddress<T>(address: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof StrataError) throw new StrataError(e.code, `authentication with ${address} failed: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * When to re-authenticate (KIP-368), as Kafka's client: at a random point between 85% and 95%
 * of the session lifetime, so that many connections authenticated together do not all come
 * back at once, and with room for network latency and clock drift.
 */
export function reauthenticationDelayMs(sessionLifetimeMs: number, random: () => number = Math.random): number {
  return Math.floor(sessionLifetimeMs * (0.85 + 0.1 * random()));
}
