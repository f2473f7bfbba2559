import * as net from 'node:net';
import type * as tls from 'node:tls';
import { StrataError } from '../common/errors';
import type { SecurityProtocol } from '../security/principal';
import { SCRAM_MECHANISMS, type ScramMechanism } from '../security/scram';

/**
 * How a client connection is secured, in Kafka's terms (security.protocol, ssl.*, sasl.*):
 * whether the bytes go over TLS, and whether the connection authenticates with SASL after the
 * ApiVersions handshake. securityConfig.ts builds one from Kafka client properties; brokers
 * build one in code for their inter-broker connections.
 *
 *   PLAINTEXT       TCP
 *   SSL             TLS (the broker may ask for a client certificate: tls.cert + tls.key)
 *   SASL_PLAINTEXT  TCP, then SaslHandshake + SaslAuthenticate
 *   SASL_SSL        TLS, then SaslHandshake + SaslAuthenticate
 */
export type { SecurityProtocol };
export const SECURITY_PROTOCOLS: readonly SecurityProtocol[] = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'];

export type SaslMechanism = 'PLAIN' | ScramMechanism;
export const SASL_MECHANISMS: readonly SaslMechanism[] = ['PLAIN', ...SCRAM_MECHANISMS];

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsSettings {
  /**
   * Certificates to trust, PEM (ssl.truststore.*). Default: Node's bundled root CAs, as a Java
   * client without a truststore uses the JDK's.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate chain, PEM, for brokers with ssl.client.auth=required|requested. */
  cert?: string | Buffer;
  /** The client certificate's private key, PEM (PKCS#8, optionally encrypted with keyPassword). */
  key?: string | Buffer;
  /** ssl.key.password: decrypts an encrypted private key. */
  keyPassword?: string;
  /** SNI and the name the certificate is checked against. Default: the host, unless it is an IP address. */
  servername?: string;
  /**
   * Kafka's ssl.endpoint.identification.algorithm: true ('https', Kafka's default) checks that the
   * broker's certificate names the host connected to; false ('') skips only that check.
   */
  verifyHostname?: boolean;
  /**
   * Whether the broker's certificate chain must verify against `ca`. Default true. Kafka has no
   * switch for this (only a truststore that trusts everything); false is for tests.
   */
  rejectUnauthorized?: boolean;
  /** ssl.enabled.protocols, as a range. Default: Node's (TLSv1.2..TLSv1.3). */
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
}

export interface SaslSettings {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

export interface ConnectionSecurity {
  protocol: SecurityProtocol;
  /** TLS settings for SSL and SASL_SSL (optional: defaults verify against Node's root CAs). */
  tls?: TlsSettings;
  /** Required for SASL_PLAINTEXT and SASL_SSL. */
  sasl?: SaslSettings;
}

export function usesTls(s: ConnectionSecurity | undefined): boolean {
  return s !== undefined && (s.protocol === 'SSL' || s.protocol === 'SASL_SSL');
}

export function usesSasl(s: ConnectionSecurity | undefined): boolean {
  return s !== undefined && (s.protocol === 'SASL_PLAINTEXT' || s.protocol === 'SASL_SSL');
}

/** Throws CONFIG_INVALID when the settings cannot work (a SASL protocol without credentials, a mechanism we do not speak...). */
export function checkSecurity(s: ConnectionSecurity): void {
  if (!SECURITY_PROTOCOLS.includes(s.protocol)) {
    throw new StrataError('CONFIG_INVALID', `security protocol must be one of ${SECURITY_PROTOCOLS.join(', ')}, got '${String(s.protocol)}'`);
  }
  if (usesSasl(s)) {
    if (!s.sasl) throw new StrataError('CONFIG_INVALID', `security protocol ${s.protocol} needs SASL settings (sasl.mechanism and sasl.jaas.config)`);
    if (!SASL_MECHANISMS.includes(s.sasl.mechanism)) {
      throw new StrataError('CONFIG_INVALID', `SASL mechanism must be one of ${SASL_MECHANISMS.join(', ')}, got '${String(s.sasl.mechanism)}'`);
    }
    if (!s.sasl.username) throw new StrataError('CONFIG_INVALID', 'SASL username is empty');
    if (!s.sasl.password) throw new StrataError('CONFIG_INVALID', 'SASL password is empty');
  }
  if (s.tls && (s.tls.cert === undefined) !== (s.tls.key === undefined)) {
    throw new StrataError('CONFIG_INVALID', s.tls.cert === undefined ? 'a TLS private key is given without its certificate chain' : 'a TLS certificate chain is given without its private key');
  }
}

/** node:tls options for a connection to host:port with these settings. */
export function tlsConnectOptions(host: string, port: number, t: TlsSettings = {}): tls.ConnectionOptions {
  const servername = t.servername ?? (net.isIP(host) === 0 ? host : undefined);
  const out: tls.ConnectionOptions = {
    host,
    port,
    servername,
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    passphrase: t.keyPassword,
    rejectUnauthorized: t.rejectUnauthorized ?? true,
    minVersion: t.minVersion,
    maxVersion: t.maxVersion,
  };
  // The chain is still verified; only the name check is skipped (Kafka's empty
  // ssl.endpoint.identification.algorithm).
  if (t.verifyHostname === false) out.checkServerIdentity = () => undefined;
  return out;
}

/** Node's certificate verification error codes that mean "the broker's chain is not trusted". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** A TLS failure while connecting (or during the first exchange, where TLS 1.3 reports the broker's alerts), as SSL_HANDSHAKE_FAILED with what to check. */
export function tlsError(address: string, err: NodeJS.ErrnoException): StrataError {
  const code = err.code ?? '';
  let why: string;
  if (UNTRUSTED.has(code)) {
    why = `the broker's certificate is not trusted (${code}): set ssl.truststore.location (or ssl.truststore.certificates) to the CA that signed it`;
  } else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    why = `the broker's certificate is not valid now (${code})`;
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    why = `the broker's certificate does not name the host connected to: ${err.message} (connect by a name the certificate lists, or set ssl.endpoint.identification.algorithm= to skip the host name check)`;
  } else if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/.test(code)) {
    why = `the broker refused the handshake (${code}): it may require a client certificate the broker trusts (ssl.keystore.location, or ssl.keystore.certificate.chain + ssl.keystore.key)`;
  } else if (code === 'ECONNRESET' || code === 'EPIPE' || /disconnected before secure TLS/.test(err.message)) {
    why = `the connection closed during the TLS handshake: is this a TLS listener (SSL or SASL_SSL)? A PLAINTEXT or SASL_PLAINTEXT listener needs security.protocol to match`;
  } else if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    why = `the broker did not answer with TLS (${code}): this looks like a PLAINTEXT or SASL_PLAINTEXT listener; set security.protocol to match`;
  } else {
    why = `${err.message}${code ? ` (${code})` : ''}`;
  }
  return new StrataError('SSL_HANDSHAKE_FAILED', `TLS with ${address} failed: ${why}`, { cause: err });
}

/** Whether a socket error is a TLS-level one (as opposed to a plain TCP failure). */
export function isTlsError(err: NodeJS.ErrnoException | null): boolean {
  const code = err?.code ?? '';
  return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || UNTRUSTED.has(code) || code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID';
}
