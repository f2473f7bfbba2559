import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { BrokerConfig, ListenerConfig } from '../config/brokerConfig';
import type { SaslMechanism } from '../config/securityConfigs';
import type { ConnectionSecurity, TlsVersion } from '../client/security';
import { parseJaasEntry, plainUsers } from '../security/jaasConfig';
import { userPrincipal } from '../security/principal';
import { SaslServerSession } from '../security/saslServer';
import type { ScramCredentialStore } from '../security/scramCredentialStore';
import { isScramMechanism, scramCredential } from '../security/scram';
import { mapPrincipalName, parseMappingRules, subjectDistinguishedName } from '../security/sslPrincipal';
import { TlsContextSource, secureContextOptions } from '../security/tlsContext';
import type { ConnectionAuthenticator, AuthenticatingConnection, ServerTls } from './server';

/** What a listener's KafkaServer needs for TLS and SASL, and what to stop with the broker. */
export interface ListenerSecurityParts {
  tls?: ServerTls;
  authenticator?: (conn: AuthenticatingConnection) => ConnectionAuthenticator;
  /** Stops watching certificate files. */
  close(): void;
}

/**
 * A listener's TLS context (watched for certificate changes) and SASL sessions, from its
 * resolved settings. Throws CONFIG_INVALID when a certificate or key does not load, so a broker
 * with a bad file does not start.
 */
export function listenerSecurity(
  l: ListenerConfig,
  scram: ScramCredentialStore | undefined,
  logger: Logger,
  onOutcome?: (mechanism: string, outcome: 'success' | 'failure') => void,
): ListenerSecurityParts {
  const parts: ListenerSecurityParts = { close: () => undefined };
  const { ssl, sasl } = l.security;
  if (ssl !== null) {
    const source = new TlsContextSource(l.name, ssl, logger);
    source.watch();
    const rules = parseMappingRules(ssl.principalMappingRules);
    parts.tls = {
      options: () => source.options,
      onReload: (fn) => source.onReload(fn),
      clientAuth: ssl.clientAuth,
      principalOf: (der) => userPrincipal(mapPrincipalName(subjectDistinguishedName(der), rules)),
    };
    parts.close = () => source.close();
  }
  if (sasl !== null) {
    const plainJaas = sasl.jaasConfig.PLAIN;
    const users = plainJaas === undefined ? new Map<string, string>() : plainUsers(parseJaasEntry(plainJaas, `the PLAIN JAAS config of listener ${l.name}`));
    const ctx = {
      settings: sasl,
      plainUsers: users,
      logger,
      onOutcome,
      scramCredential: async (user: string, mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512') => (scram === undefined ? null : scram.get(user, mechanism)),
    };
    parts.authenticator = (conn) => new SaslServerSession(ctx, conn);
  }
  return parts;
}

/**
 * How this broker connects to the others' inter-broker listener (replication, metadata pushes,
 * transaction markers): that listener's protocol; for TLS its trust store, and its key store as
 * the client certificate (as Kafka's inter-broker client uses the broker's key store); for SASL
 * sasl.mechanism.inter.broker.protocol with the username and password of that listener's JAAS
 * config for the mechanism. Throws CONFIG_INVALID when SASL is on and no credentials are given.
 */
export function interBrokerSecurity(config: BrokerConfig): ConnectionSecurity {
  const l = config.listeners.find((x) => x.name === config.interBrokerListenerName)!;
  const out: ConnectionSecurity = { protocol: l.securityProtocol };
  const { ssl, sasl } = l.security;
  if (ssl !== null) {
    const opts = secureContextOptions(l.name, ssl);
    const versions = [...ssl.enabledProtocols].sort() as TlsVersion[];
    out.tls = {
      ca: opts.ca as string | undefined,
      cert: opts.cert as string,
      key: opts.key as string,
      keyPassword: ssl.keyPassword ?? undefined,
      verifyHostname: ssl.endpointIdentification,
      minVersion: versions[0],
      maxVersion: versions[versions.length - 1],
    };
  }
  if (sasl !== null) {
    const mechanism = config.saslMechanismInterBrokerProtocol as SaslMechanism;
    const where = `listener.name.${l.name.toLowerCase()}.${mechanism.toLowerCase()}.sasl.jaas.config`;
    if (!sasl.enabledMechanisms.includes(mechanism)) {
      throw new StrataError(
        'CONFIG_INVALID',
        `sasl.mechanism.inter.broker.protocol=${mechanism} is not enabled on the inter-broker listener ${l.name} (sasl.enabled.mechanisms=${sasl.enabledMechanisms.join(',')}).`,
      );
    }
    const jaas = sasl.jaasConfig[mechanism];
    const entry = jaas === undefined ? null : parseJaasEntry(jaas, where);
    const username = entry?.options.get('username');
    const password = entry?.options.get('password');
    if (!username || !password) {
      throw new StrataError(
        'CONFIG_INVALID',
        `The inter-broker listener ${l.name} uses ${l.securityProtocol}: give this broker's credentials as username and password in ${where} ` +
          `(e.g. org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="...";).`,
      );
    }
    out.sasl = { mechanism, username, password };
  }
  return out;
}

/**
 * With SCRAM between brokers, creates this broker's own credential from its JAAS config when the
 * store has none for that user, so a new cluster can replicate before anyone has run
 * `strata configs` (Kafka asks for `kafka-storage format --add-scram` instead). An existing
 * credential is left alone: a broker configured with another password fails to authenticate
 * and says so.
 */
export async function ensureInterBrokerCredential(security: ConnectionSecurity, store: ScramCredentialStore, logger: Logger): Promise<void> {
  const sasl = security.sasl;
  if (sasl === undefined || !isScramMechanism(sasl.mechanism)) return;
  if ((await store.get(sasl.username, sasl.mechanism)) !== null) return;
  await store.put(sasl.username, scramCredential(sasl.mechanism, sasl.password));
  logger.info(`created the ${sasl.mechanism} credential of the inter-broker user ${sasl.username} (from sasl.jaas.config): the store had none`);
}
