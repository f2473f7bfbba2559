import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { StrataError } from '../common/errors';
import { closestName, editDistance } from '../config/didYouMean';
import { parseProperties } from '../config/properties';
import { clientCredentialsFromJaas } from '../security/jaasConfig';
import { ConnectionSecurity, SASL_MECHANISMS, SECURITY_PROTOCOLS, SaslMechanism, SecurityProtocol, TlsSettings, TlsVersion, checkSecurity, usesSasl, usesTls } from './security';

/**
 * A Kafka client's security settings from its properties (a client.properties file, the
 * --command-config / --producer.config / --consumer.config of Kafka's tools, or
 * --producer-property k=v), read with Kafka's names and rules:
 *
 *   security.protocol=SASL_SSL
 *   ssl.truststore.type=PEM
 *   ssl.truststore.location=/etc/kafka/ca.pem            (or ssl.truststore.certificates=<PEM>)
 *   ssl.keystore.type=PEM                                 (client certificate, when the broker asks)
 *   ssl.keystore.location=/etc/kafka/client.pem           (key + chain; or ssl.keystore.key + ssl.keystore.certificate.chain)
 *   ssl.key.password=...                                  (for an encrypted key)
 *   ssl.endpoint.identification.algorithm=https           (empty: do not check the host name)
 *   sasl.mechanism=SCRAM-SHA-512
 *   sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="...";
 *
 * Values are trimmed, as Kafka's ConfigDef does. Files are read when parsing, so a missing or
 * unreadable file is reported before anything connects, and the TLS material is loaded once
 * to check it (a wrong ssl.key.password, a key that does not match its certificate).
 *
 * Only PEM stores are read: JKS and PKCS12 are refused with the commands that convert them.
 * Keys that are not security settings are handed back in `others` (the caller applies the
 * ones it knows, e.g. client.id, acks). Kafka client settings Strata has no use for are
 * ignored quietly; an unknown key gets a warning, as Kafka's "supplied but isn't a known
 * config"; an unknown key that looks like a misspelt security setting (ssl.*, sasl.*,
 * security.*, or close to one) is an error naming the likely intended key, since ignoring
 * it would connect without the security the user asked for.
 */

export interface ClientSecurityConfig {
  security: ConnectionSecurity;
  /** The properties that are not security settings, in the order given. */
  others: Map<string, string>;
  /** Settings that were ignored, and why (for stderr or a log). */
  warnings: string[];
}

export interface SecurityParseOptions {
  /** Reads a file named by a setting; default fs.readFileSync. */
  readFile?: (path: string) => Buffer;
}

/** The settings Strata's client reads. */
const SUPPORTED = [
  'security.protocol',
  'ssl.protocol',
  'ssl.enabled.protocols',
  'ssl.endpoint.identification.algorithm',
  'ssl.truststore.type',
  'ssl.truststore.location',
  'ssl.truststore.certificates',
  'ssl.truststore.password',
  'ssl.keystore.type',
  'ssl.keystore.location',
  'ssl.keystore.certificate.chain',
  'ssl.keystore.key',
  'ssl.keystore.password',
  'ssl.key.password',
  'sasl.mechanism',
  'sasl.jaas.config',
] as const;

/** Kafka security settings that tune the JVM's TLS or login machinery: no meaning here, ignored with a warning. */
const IGNORED_SECURITY = [
  'security.providers',
  'ssl.provider',
  'ssl.cipher.suites',
  'ssl.keymanager.algorithm',
  'ssl.trustmanager.algorithm',
  'ssl.secure.random.implementation',
  'sasl.kerberos.service.name',
  'sasl.kerberos.kinit.cmd',
  'sasl.kerberos.ticket.renew.window.factor',
  'sasl.kerberos.ticket.renew.jitter',
  'sasl.kerberos.min.time.before.relogin',
  'sasl.login.refresh.window.factor',
  'sasl.login.refresh.window.jitter',
  'sasl.login.refresh.min.period.seconds',
  'sasl.login.refresh.buffer.seconds',
  'sasl.login.connect.timeout.ms',
  'sasl.login.read.timeout.ms',
  'sasl.login.retry.backoff.ms',
  'sasl.login.retry.backoff.max.ms',
] as const;

/** Kafka security settings that supply credentials or TLS by other means: ignoring them would authenticate differently, so they are refused. */
const REFUSED_SECURITY: Record<string, string> = {
  'ssl.engine.factory.class': 'a custom SSL engine factory (a Java class) cannot be loaded here; use the ssl.keystore.* and ssl.truststore.* PEM settings',
  'sasl.client.callback.handler.class': 'a custom SASL callback handler (a Java class) cannot be loaded here; give username and password in sasl.jaas.config',
  'sasl.login.callback.handler.class': 'a custom SASL login callback handler (a Java class) cannot be loaded here; give username and password in sasl.jaas.config',
  'sasl.login.class': 'a custom SASL login class (a Java class) cannot be loaded here; give username and password in sasl.jaas.config',
};

/** Kafka's producer, consumer, admin and common client settings: not security, and not worth a warning when Strata ignores them. */
const KNOWN_CLIENT_CONFIGS = new Set([
  // common
  'bootstrap.servers', 'bootstrap.controllers', 'client.id', 'client.dns.lookup', 'client.rack', 'connections.max.idle.ms', 'receive.buffer.bytes', 'send.buffer.bytes',
  'request.timeout.ms', 'default.api.timeout.ms', 'metadata.max.age.ms', 'metadata.recovery.strategy', 'metadata.recovery.rebootstrap.trigger.ms', 'reconnect.backoff.ms',
  'reconnect.backoff.max.ms', 'retry.backoff.ms', 'retry.backoff.max.ms', 'retries', 'socket.connection.setup.timeout.ms', 'socket.connection.setup.timeout.max.ms',
  'metric.reporters', 'metrics.num.samples', 'metrics.recording.level', 'metrics.sample.window.ms', 'auto.include.jmx.reporter', 'enable.metrics.push', 'interceptor.classes',
  'config.providers',
  // producer
  'acks', 'batch.size', 'buffer.memory', 'compression.type', 'compression.gzip.level', 'compression.lz4.level', 'compression.zstd.level', 'delivery.timeout.ms',
  'enable.idempotence', 'key.serializer', 'value.serializer', 'linger.ms', 'max.block.ms', 'max.in.flight.requests.per.connection', 'max.request.size', 'partitioner.class',
  'partitioner.ignore.keys', 'partitioner.adaptive.partitioning.enable', 'partitioner.availability.timeout.ms', 'transactional.id', 'transaction.timeout.ms',
  'metadata.max.idle.ms', 'transaction.two.phase.commit.enable',
  // consumer
  'group.id', 'group.instance.id', 'group.protocol', 'group.remote.assignor', 'auto.offset.reset', 'enable.auto.commit', 'auto.commit.interval.ms', 'check.crcs',
  'exclude.internal.topics', 'fetch.max.bytes', 'fetch.max.wait.ms', 'fetch.min.bytes', 'heartbeat.interval.ms', 'isolation.level', 'key.deserializer', 'value.deserializer',
  'max.partition.fetch.bytes', 'max.poll.interval.ms', 'max.poll.records', 'partition.assignment.strategy', 'session.timeout.ms', 'allow.auto.create.topics',
  'internal.leave.group.on.close', 'internal.throw.on.fetch.stable.offset.unsupported', 'share.acknowledgement.mode',
]);

const SECURITY_KEYS: readonly string[] = [...SUPPORTED, ...IGNORED_SECURITY, ...Object.keys(REFUSED_SECURITY)];

function invalid(message: string, cause?: unknown): never {
  throw new StrataError('CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

/** Whether `key` is one of Kafka's security settings (read, ignored or refused here). */
export function isSecurityKey(key: string): boolean {
  return SECURITY_KEYS.includes(key);
}

/** Parses the security settings among `props`. Throws CONFIG_INVALID with what to fix. */
export function parseClientSecurity(props: Iterable<[string, string]> | Record<string, string>, opts: SecurityParseOptions = {}): ClientSecurityConfig {
  const entries = Symbol.iterator in props ? [...(props as Iterable<[string, string]>)] : Object.entries(props);
  const sec = new Map<string, string>();
  const others = new Map<string, string>();
  const warnings: string[] = [];
  for (const [key, raw] of entries) {
    const value = raw.trim();
    if ((SUPPORTED as readonly string[]).includes(key)) {
      sec.set(key, value);
    } else if ((IGNORED_SECURITY as readonly string[]).includes(key)) {
      warnings.push(`${key} is ignored: it tunes the Java client's TLS or login machinery, which Strata's client does not have`);
    } else if (key in REFUSED_SECURITY) {
      invalid(`${key} is not supported: ${REFUSED_SECURITY[key]}`);
    } else if (KNOWN_CLIENT_CONFIGS.has(key)) {
      others.set(key, raw);
    } else {
      // Under a security prefix any unknown key is suspect; elsewhere only a near miss
      // (schema.registry.url must not be taken for a typo of anything).
      const prefixed = /^(ssl|sasl|security)\./i.test(key);
      const guess = closestName(key, SECURITY_KEYS);
      if (prefixed || (guess !== undefined && editDistance(key.toLowerCase(), guess.toLowerCase()) <= 2)) {
        invalid(`unknown security setting '${key}'${guess ? `; did you mean '${guess}'?` : ''} (supported: ${SUPPORTED.join(', ')})`);
      }
      others.set(key, raw);
      warnings.push(`${key} is not a known Kafka client setting; ignored`);
    }
  }

  const protocol = securityProtocol(sec.get('security.protocol'));
  const security: ConnectionSecurity = { protocol };
  const sslKeys = [...sec.keys()].filter((k) => k.startsWith('ssl.'));
  const saslKeys = [...sec.keys()].filter((k) => k.startsWith('sasl.'));
  if (usesTls(security)) security.tls = tlsSettings(sec, opts.readFile ?? ((p) => fs.readFileSync(p)));
  else if (sslKeys.length > 0) warnings.push(`${sslKeys.join(', ')} ${sslKeys.length === 1 ? 'is' : 'are'} ignored: security.protocol is ${protocol} (SSL or SASL_SSL use TLS)`);
  if (usesSasl(security)) security.sasl = saslSettings(sec);
  else if (saslKeys.length > 0) warnings.push(`${saslKeys.join(', ')} ${saslKeys.length === 1 ? 'is' : 'are'} ignored: security.protocol is ${protocol} (SASL_PLAINTEXT or SASL_SSL use SASL)`);
  checkSecurity(security);
  return { security, others, warnings };
}

/** A Java .properties file of client settings (Kafka's client.properties), later keys winning. */
export function readClientProperties(file: string, readFile: (path: string) => Buffer = (p) => fs.readFileSync(p)): Map<string, string> {
  let text: string;
  try {
    text = readFile(file).toString('utf8');
  } catch (e) {
    invalid(`cannot read the client config file ${file}: ${(e as Error).message}`, e);
  }
  const out = new Map<string, string>();
  try {
    for (const { key, value } of parseProperties(text)) out.set(key, value);
  } catch (e) {
    invalid(`${file}: ${(e as Error).message}`, e);
  }
  return out;
}

function securityProtocol(raw: string | undefined): SecurityProtocol {
  if (raw === undefined || raw === '') return 'PLAINTEXT';
  const upper = raw.toUpperCase();
  if (!(SECURITY_PROTOCOLS as readonly string[]).includes(upper)) invalid(`security.protocol must be one of ${SECURITY_PROTOCOLS.join(', ')}, got '${raw}'`);
  return upper as SecurityProtocol;
}

const STORE_CONVERSION: Record<'truststore' | 'keystore', string> = {
  truststore:
    'export its certificates to PEM (keytool -exportcert -rfc -keystore truststore.jks -alias <alias> -file ca.pem, or openssl pkcs12 -in truststore.p12 -nokeys -out ca.pem) and set ssl.truststore.type=PEM, ssl.truststore.location=ca.pem',
  keystore:
    'convert it to PEM (keytool -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 -deststoretype PKCS12, then openssl pkcs12 -in keystore.p12 -out client.pem, whose key must be PKCS#8) and set ssl.keystore.type=PEM, ssl.keystore.location=client.pem',
};

/**
 * A store's type: PEM, or unset. Kafka's default type is JKS; a store given without a type is
 * read as PEM when it is one, and refused with the conversion otherwise.
 */
function storeType(sec: Map<string, string>, which: 'truststore' | 'keystore'): 'PEM' | undefined {
  const raw = sec.get(`ssl.${which}.type`);
  if (raw === undefined || raw === '') return undefined;
  if (raw.toUpperCase() === 'PEM') return 'PEM';
  invalid(`ssl.${which}.type=${raw} is not supported: Strata reads PEM only; ${STORE_CONVERSION[which]}`);
}

function readStoreFile(key: string, path: string, which: 'truststore' | 'keystore', typed: boolean, readFile: (p: string) => Buffer): string {
  let data: Buffer;
  try {
    data = readFile(path);
  } catch (e) {
    invalid(`cannot read ${key} ${path}: ${(e as Error).message}`, e);
  }
  const text = data.toString('utf8');
  if (!text.includes('-----BEGIN ')) {
    const kind = typed ? 'is not a PEM file' : `is not a PEM file (Kafka's default ssl.${which}.type is JKS; Strata reads PEM only)`;
    invalid(`${key} ${path} ${kind}: ${STORE_CONVERSION[which]}`);
  }
  return text;
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?(?:ENCRYPTED )?PRIVATE KEY-----/;
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

function tlsSettings(sec: Map<string, string>, readFile: (p: string) => Buffer): TlsSettings {
  const out: TlsSettings = {};

  // Trust store: the CAs the broker's certificate must chain to.
  const trustType = storeType(sec, 'truststore');
  const trustLocation = nonEmpty(sec.get('ssl.truststore.location'));
  const trustCerts = nonEmpty(sec.get('ssl.truststore.certificates'));
  if (trustCerts !== undefined || trustLocation !== undefined) {
    if (trustCerts !== undefined && trustLocation !== undefined) invalid('Both SSL trust store location and separate trust certificates are specified.');
    if (nonEmpty(sec.get('ssl.truststore.password')) !== undefined) invalid('SSL trust store password cannot be specified for PEM format.');
    const pem = trustCerts ?? readStoreFile('ssl.truststore.location', trustLocation!, 'truststore', trustType !== undefined, readFile);
    if (!CERTIFICATE.test(pem)) invalid(`No matching CERTIFICATE entries in ${trustLocation ? `PEM file ${trustLocation}` : 'ssl.truststore.certificates'}`);
    out.ca = pem;
  } else if (nonEmpty(sec.get('ssl.truststore.password')) !== undefined) {
    invalid('SSL trust store is not specified, but trust store password is specified.');
  }

  // Key store: this client's certificate and key, for brokers with ssl.client.auth.
  storeType(sec, 'keystore');
  const keyLocation = nonEmpty(sec.get('ssl.keystore.location'));
  const chain = nonEmpty(sec.get('ssl.keystore.certificate.chain'));
  const key = nonEmpty(sec.get('ssl.keystore.key'));
  const keystorePassword = nonEmpty(sec.get('ssl.keystore.password'));
  const keyPassword = nonEmpty(sec.get('ssl.key.password'));
  if (key !== undefined) {
    if (chain === undefined) invalid('SSL private key is specified, but certificate chain is not specified.');
    if (keyLocation !== undefined) invalid('Both SSL key store location and separate private key are specified.');
  } else if (chain !== undefined) {
    invalid('SSL certificate chain is specified, but private key is not specified');
  }
  if ((key !== undefined || keyLocation !== undefined) && keystorePassword !== undefined) {
    invalid('SSL key store password cannot be specified with PEM format, only key password may be specified.');
  }
  if (key === undefined && keyLocation === undefined && keystorePassword !== undefined) invalid('SSL key store is not specified, but key store password is specified.');
  if (keyLocation !== undefined || key !== undefined) {
    const pemKey = key ?? readStoreFile('ssl.keystore.location', keyLocation!, 'keystore', sec.has('ssl.keystore.type'), readFile);
    const pemChain = chain ?? pemKey;
    const where = keyLocation !== undefined ? `ssl.keystore.location ${keyLocation}` : 'ssl.keystore.key';
    if (!PRIVATE_KEY.test(pemKey)) invalid(`${where} holds no private key (a PEM key store holds the private key and the certificate chain)`);
    if (!CERTIFICATE.test(pemChain)) invalid(`${keyLocation !== undefined ? where : 'ssl.keystore.certificate.chain'} holds no certificate`);
    if (ENCRYPTED_KEY.test(pemKey) && keyPassword === undefined) invalid(`the private key in ${where} is encrypted: set ssl.key.password`);
    out.key = pemKey;
    out.cert = pemChain;
    if (keyPassword !== undefined) out.keyPassword = keyPassword;
  }

  const algorithm = sec.get('ssl.endpoint.identification.algorithm');
  if (algorithm !== undefined) {
    if (algorithm === '') out.verifyHostname = false;
    else if (algorithm.toLowerCase() === 'https') out.verifyHostname = true;
    else invalid(`ssl.endpoint.identification.algorithm must be https or empty, got '${algorithm}'`);
  }

  const versions = tlsVersions(sec.get('ssl.enabled.protocols'), sec.get('ssl.protocol'));
  if (versions) {
    out.minVersion = versions[0];
    out.maxVersion = versions[versions.length - 1];
  }

  // Load the material once now: a wrong key password or a key that does not match its
  // certificate is a config error, not a mysterious handshake failure later.
  try {
    tls.createSecureContext({ ca: out.ca, cert: out.cert, key: out.key, passphrase: out.keyPassword });
  } catch (e) {
    const msg = (e as Error).message;
    if (/bad decrypt|bad password|decrypt/i.test(msg)) invalid('ssl.key.password does not decrypt the private key', e);
    if (/key values mismatch/i.test(msg)) invalid('the private key does not belong to the first certificate of the key store\'s chain', e);
    invalid(`the TLS certificates or key do not load: ${msg}`, e);
  }
  return out;
}

const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

function tlsVersions(enabled: string | undefined, protocol: string | undefined): TlsVersion[] | undefined {
  if (protocol !== undefined && protocol !== '' && !['TLS', 'TLSV1.2', 'TLSV1.3'].includes(protocol.toUpperCase())) {
    invalid(`ssl.protocol must be TLSv1.2, TLSv1.3 or TLS, got '${protocol}'`);
  }
  if (enabled === undefined || enabled.trim() === '') return undefined;
  const list = enabled
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const v of list) {
    if (!(TLS_VERSIONS as readonly string[]).includes(v)) invalid(`ssl.enabled.protocols: ${v} is not supported (TLSv1.2 and TLSv1.3 are)`);
  }
  return [...new Set(list as TlsVersion[])].sort();
}

function saslSettings(sec: Map<string, string>): { mechanism: SaslMechanism; username: string; password: string } {
  const raw = sec.get('sasl.mechanism');
  if (raw === undefined || raw === '') {
    invalid(`sasl.mechanism is not set; Kafka's default, GSSAPI (Kerberos), is not supported: set sasl.mechanism to one of ${SASL_MECHANISMS.join(', ')}`);
  }
  if (!(SASL_MECHANISMS as readonly string[]).includes(raw)) {
    const fix = SASL_MECHANISMS.find((m) => m === raw.toUpperCase());
    const why = raw === 'GSSAPI' || raw === 'OAUTHBEARER' ? `SASL/${raw} is not supported` : `unknown mechanism '${raw}'${fix ? ` (mechanism names are case-sensitive: ${fix})` : ''}`;
    invalid(`sasl.mechanism: ${why}; use one of ${SASL_MECHANISMS.join(', ')}`);
  }
  const jaas = sec.get('sasl.jaas.config');
  if (jaas === undefined || jaas === '') {
    invalid(`sasl.jaas.config is not set: give the credentials as sasl.jaas.config=org.apache.kafka.common.security.${raw === 'PLAIN' ? 'plain.PlainLoginModule' : 'scram.ScramLoginModule'} required username="..." password="...";`);
  }
  const { username, password } = clientCredentialsFromJaas(jaas);
  return { mechanism: raw as SaslMechanism, username, password };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
