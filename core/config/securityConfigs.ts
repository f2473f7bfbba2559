import { StrataError } from '../common/errors';
import type { ConfigEntry, ParsedValue, Validator } from './configDef';
import type { SecurityProtocol } from '../security/principal';

/**
 * The broker's security configs (TLS, SASL), with Kafka's names, and how one listener's
 * settings are resolved from them.
 *
 * As in Kafka, every one of them may be set for one listener only with the prefix
 * `listener.name.<listener name, lower case>.` (listener.name.internal.ssl.client.auth=required),
 * which wins over the unprefixed value; a JAAS config may also be set per listener and
 * mechanism (listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=...).
 */

/** What the registry needs of one entry (brokerConfig.ts wraps these into its own entries). */
export type SecurityConfigEntry = Omit<ConfigEntry, 'readOnly'>;

const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

function isSaslMechanism(s: string): s is SaslMechanism {
  return (SASL_MECHANISMS as readonly string[]).includes(s);
}

const TLS_PROTOCOLS = ['TLSv1.2', 'TLSv1.3'];
const atLeast = (min: number): Validator => ({ kind: 'range', min });

function e(name: string, type: ConfigEntry['type'], def: string | null, doc: string, validator?: Validator, isSensitive = false): SecurityConfigEntry {
  return { name, type, default: def, doc, validator, synonyms: [], isSensitive };
}

export const SECURITY_CONFIGS: readonly SecurityConfigEntry[] = [
  e('inter.broker.listener.name', 'string', null,
    'The listener brokers use to reach each other (replication, metadata pushes, transaction markers). Unset: the listener whose protocol is security.inter.broker.protocol when that is set; else the one named PLAINTEXT, else the first listener.'),
  e('security.inter.broker.protocol', 'string', null,
    'The security protocol of the inter-broker listener when inter.broker.listener.name is unset (Kafka\'s default is PLAINTEXT). Set only one of the two.',
    { kind: 'enum', values: ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] }),
  e('sasl.enabled.mechanisms', 'list', 'SCRAM-SHA-256,SCRAM-SHA-512',
    'The SASL mechanisms a SASL listener accepts: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512. (Kafka\'s default, GSSAPI, needs Kerberos, which Strata does not have.)',
    { kind: 'list', values: [...SASL_MECHANISMS] }),
  e('sasl.mechanism.inter.broker.protocol', 'string', 'SCRAM-SHA-512',
    'The SASL mechanism brokers authenticate to each other with, on a SASL inter-broker listener; its JAAS config (username, password) names the broker\'s user.',
    { kind: 'enum', values: [...SASL_MECHANISMS] }),
  e('sasl.jaas.config', 'password', null,
    'JAAS login context, as in Kafka: `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="...";`. ' +
      'username/password are the broker\'s own credentials for inter-broker connections; PlainLoginModule\'s user_NAME="password" options define PLAIN users. ' +
      'Usually set per listener and mechanism: listener.name.<listener>.<mechanism>.sasl.jaas.config.', undefined, true),
  e('sasl.server.max.receive.size', 'int', '524288',
    'The largest request accepted from a connection that has not authenticated yet (and the largest SASL token).', atLeast(1)),
  e('connections.max.reauth.ms', 'long', '0',
    'KIP-368: when positive, a SASL session lasts at most this long; the client must re-authenticate before then or its connection is closed. 0: sessions never expire.', atLeast(0)),
  e('connection.failed.authentication.delay.ms', 'int', '100',
    'How long a connection whose authentication failed stays open (and silent) before it is closed, slowing down password guessing.', atLeast(0)),
  e('ssl.keystore.type', 'string', 'PEM', 'Only PEM: convert JKS or PKCS12 stores with openssl or keytool.', { kind: 'enum', values: ['PEM'] }),
  e('ssl.keystore.location', 'string', null, 'A PEM file holding the private key and the certificate chain of this broker (PEM keystore). Re-read when it changes.'),
  e('ssl.keystore.certificate.chain', 'password', null, 'The certificate chain in PEM, inline (instead of ssl.keystore.location).', undefined, true),
  e('ssl.keystore.key', 'password', null, 'The private key in PEM, inline (instead of ssl.keystore.location).', undefined, true),
  e('ssl.key.password', 'password', null, 'The password of an encrypted private key.', undefined, true),
  e('ssl.keystore.password', 'password', null, 'Accepted for compatibility: a PEM keystore has no store password (an encrypted key takes ssl.key.password).', undefined, true),
  e('ssl.truststore.type', 'string', 'PEM', 'Only PEM.', { kind: 'enum', values: ['PEM'] }),
  e('ssl.truststore.location', 'string', null, 'A PEM file of the CA certificates trusted for client certificates (and by this broker for inter-broker TLS). Re-read when it changes. Unset: the system\'s CAs.'),
  e('ssl.truststore.certificates', 'password', null, 'Trusted CA certificates in PEM, inline (instead of ssl.truststore.location).'),
  e('ssl.truststore.password', 'password', null, 'Accepted for compatibility: a PEM truststore has no password.', undefined, true),
  e('ssl.enabled.protocols', 'list', 'TLSv1.2,TLSv1.3', 'TLS versions accepted.', { kind: 'list', values: TLS_PROTOCOLS }),
  e('ssl.protocol', 'string', 'TLSv1.3', 'Accepted for compatibility; ssl.enabled.protocols decides.'),
  e('ssl.cipher.suites', 'list', '', 'TLS 1.2 cipher suites (OpenSSL or IANA names); empty: Node\'s defaults.'),
  e('ssl.client.auth', 'string', 'none',
    'Client certificates on SSL and SASL_SSL listeners: required (no certificate, no connection), requested (checked when sent), none.',
    { kind: 'enum', values: ['required', 'requested', 'none'] }),
  e('ssl.principal.mapping.rules', 'string', 'DEFAULT',
    'How an SSL client certificate\'s subject becomes the principal\'s name: RULE:pattern/replacement/[LU] entries, then DEFAULT (the whole distinguished name), as Kafka\'s.'),
  e('ssl.endpoint.identification.algorithm', 'string', 'https',
    'For this broker\'s own TLS connections to other brokers: https checks the host name against the certificate; empty does not.'),
];

const SECURITY_CONFIG_NAMES: ReadonlySet<string> = new Set(SECURITY_CONFIGS.map((c) => c.name));

/** Configs that may be given per listener (listener.name.<name>.<config>). */
const PER_LISTENER = new Set([...SECURITY_CONFIG_NAMES].filter((n) => n !== 'inter.broker.listener.name' && n !== 'security.inter.broker.protocol'));

export interface PrefixedConfig {
  /** Upper-case listener name. */
  listener: string;
  /** Lower-case mechanism for `<mechanism>.sasl.jaas.config`, else null. */
  mechanism: string | null;
  /** The unprefixed config name. */
  name: string;
}

/**
 * Splits `listener.name.<listener>.[<mechanism>.]<config>`; null when `key` has no such prefix.
 * Throws when the prefix is there but the rest is not a per-listener security config.
 */
export function parseListenerPrefixedKey(key: string): PrefixedConfig | null {
  const m = /^listener\.name\.([A-Za-z0-9_]+)\.(.+)$/.exec(key);
  if (m === null) return null;
  const listener = m[1].toUpperCase();
  let rest = m[2];
  let mechanism: string | null = null;
  const mech = /^((?:plain|scram-sha-256|scram-sha-512|gssapi|oauthbearer))\.(sasl\..+)$/i.exec(rest);
  if (mech !== null) {
    mechanism = mech[1].toLowerCase();
    rest = mech[2];
    if (!['sasl.jaas.config', 'sasl.server.callback.handler.class', 'sasl.login.callback.handler.class'].includes(rest) || !isSaslMechanism(mechanism.toUpperCase())) {
      throw new StrataError('CONFIG_UNKNOWN', `Unknown broker config '${key}': per-mechanism configs are listener.name.<listener>.<plain|scram-sha-256|scram-sha-512>.sasl.jaas.config.`);
    }
    if (rest !== 'sasl.jaas.config') throw new StrataError('CONFIG_INVALID', `'${key}': Strata has no pluggable SASL callback handlers.`);
    return { listener, mechanism, name: rest };
  }
  if (!PER_LISTENER.has(rest)) {
    throw new StrataError('CONFIG_UNKNOWN', `Unknown broker config '${key}': after listener.name.<listener>. comes one of ${[...PER_LISTENER].sort().join(', ')}.`);
  }
  return { listener, mechanism: null, name: rest };
}

/** One listener's security settings, resolved (file contents read by the listener at bind time). */
export interface ListenerSecurity {
  ssl: SslSettings | null;
  sasl: SaslSettings | null;
}

export interface SslSettings {
  /** ssl.keystore.location, or null when the chain and key are inline. */
  keystoreLocation: string | null;
  certificateChain: string | null;
  key: string | null;
  keyPassword: string | null;
  truststoreLocation: string | null;
  truststoreCertificates: string | null;
  enabledProtocols: string[];
  cipherSuites: string[];
  clientAuth: 'required' | 'requested' | 'none';
  principalMappingRules: string;
  endpointIdentification: boolean;
}

export interface SaslSettings {
  enabledMechanisms: SaslMechanism[];
  /** JAAS config by mechanism (per-listener-and-mechanism, else per-listener, else global). */
  jaasConfig: Partial<Record<SaslMechanism, string>>;
  maxReceiveSize: number;
  connectionsMaxReauthMs: number;
  failedAuthenticationDelayMs: number;
}

/** Reads a config's value for a listener: the listener.name.<listener>. one first, then the unprefixed one, then the default. */
export type ListenerConfigReader = (listener: string, name: string, mechanism?: string) => ParsedValue | null;

export function resolveListenerSecurity(listener: string, protocol: SecurityProtocol, get: ListenerConfigReader): ListenerSecurity {
  const str = (name: string): string | null => {
    const v = get(listener, name);
    return v === null || v === '' ? null : String(v);
  };
  let ssl: SslSettings | null = null;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    const keystoreLocation = str('ssl.keystore.location');
    const certificateChain = str('ssl.keystore.certificate.chain');
    const key = str('ssl.keystore.key');
    if (keystoreLocation === null && (certificateChain === null || key === null)) {
      throw new StrataError(
        'CONFIG_INVALID',
        `Listener ${listener} uses ${protocol} but has no certificate: set ssl.keystore.location (a PEM file with the key and the certificate chain), ` +
          `or ssl.keystore.certificate.chain and ssl.keystore.key (listener.name.${listener.toLowerCase()}.ssl.keystore.location for this listener only).`,
      );
    }
    if (keystoreLocation !== null && (certificateChain !== null || key !== null)) {
      throw new StrataError('CONFIG_INVALID', `Listener ${listener}: set either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both.`);
    }
    ssl = {
      keystoreLocation,
      certificateChain,
      key,
      keyPassword: str('ssl.key.password'),
      truststoreLocation: str('ssl.truststore.location'),
      truststoreCertificates: str('ssl.truststore.certificates'),
      enabledProtocols: get(listener, 'ssl.enabled.protocols') as string[],
      cipherSuites: get(listener, 'ssl.cipher.suites') as string[],
      clientAuth: str('ssl.client.auth') as SslSettings['clientAuth'],
      principalMappingRules: str('ssl.principal.mapping.rules') ?? 'DEFAULT',
      endpointIdentification: (str('ssl.endpoint.identification.algorithm') ?? '').toLowerCase() === 'https',
    };
    if (ssl.enabledProtocols.length === 0) throw new StrataError('CONFIG_INVALID', `Listener ${listener}: ssl.enabled.protocols is empty.`);
  }
  let sasl: SaslSettings | null = null;
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const enabled = get(listener, 'sasl.enabled.mechanisms') as string[];
    if (enabled.length === 0) throw new StrataError('CONFIG_INVALID', `Listener ${listener} uses ${protocol} but sasl.enabled.mechanisms is empty.`);
    const jaasConfig: Partial<Record<SaslMechanism, string>> = {};
    for (const m of enabled as SaslMechanism[]) {
      const v = get(listener, 'sasl.jaas.config', m.toLowerCase());
      if (v !== null && v !== '') jaasConfig[m] = String(v);
    }
    sasl = {
      enabledMechanisms: enabled as SaslMechanism[],
      jaasConfig,
      maxReceiveSize: get(listener, 'sasl.server.max.receive.size') as number,
      connectionsMaxReauthMs: Number(get(listener, 'connections.max.reauth.ms') as bigint),
      failedAuthenticationDelayMs: get(listener, 'connection.failed.authentication.delay.ms') as number,
    };
  }
  return { ssl, sasl };
}
