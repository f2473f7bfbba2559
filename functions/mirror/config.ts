import { StrataError } from '../../core/common/errors';
import { closestName } from '../../core/config/didYouMean';
import { SASL_MECHANISMS, SECURITY_PROTOCOLS, checkSecurity, usesSasl, usesTls, type ConnectionSecurity, type SaslMechanism, type SecurityProtocol } from '../../core/client/security';
import type { ClusterConnection, MirrorConfig } from '../../core/mirror/config';
import { TOPIC_NAMINGS, validateSourceAlias, type TopicNaming } from '../../core/mirror/naming';
import { splitServers } from '../../core/mirror/event';

/**
 * The mirror function's configuration: environment variables, read once at cold start (the
 * handler module's init). Anything unknown or invalid is an error naming the variable, so a
 * misconfigured function fails its init instead of mirroring wrongly.
 *
 *   MIRROR_TARGET_BOOTSTRAP_SERVERS   required  host:port[,host:port...] of the target cluster
 *   MIRROR_SOURCE_ALIAS               required  the source cluster's alias (target topics are <alias>.<topic>)
 *   MIRROR_TOPIC_NAMING                         prefixed (default) | identity
 *   MIRROR_OFFSET_PRESERVING                    false (default) | true (Strata targets: same offsets, read-only mirror topics)
 *   MIRROR_SOURCE_BOOTSTRAP_SERVERS             default: the event's bootstrapServers; read only to create target topics
 *   MIRROR_{TARGET,SOURCE}_SECURITY_PROTOCOL    PLAINTEXT (default) | SSL | SASL_PLAINTEXT | SASL_SSL
 *   MIRROR_{TARGET,SOURCE}_SASL_MECHANISM       PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 (required with SASL_*)
 *   MIRROR_{TARGET,SOURCE}_SASL_SECRET_ARN      Secrets Manager secret {"username":...,"password":...}, fetched once per cold start
 *   MIRROR_{TARGET,SOURCE}_SASL_USERNAME/_PASSWORD   instead of the secret (local runs, tests)
 *   MIRROR_{TARGET,SOURCE}_SSL_CA_PEM           PEM certificate(s) to trust instead of Node's root CAs
 */

export interface SaslEnv {
  mechanism: SaslMechanism;
  /** Either a secret to fetch... */
  secretArn?: string;
  /** ...or the credentials themselves. */
  username?: string;
  password?: string;
}

export interface ClusterEnv {
  bootstrapServers: string[];
  protocol: SecurityProtocol;
  caPem?: string;
  sasl?: SaslEnv;
}

export interface MirrorEnv {
  sourceAlias: string;
  naming: TopicNaming;
  offsetPreserving: boolean;
  target: ClusterEnv;
  source: ClusterEnv;
}

const CLUSTER_SUFFIXES = ['BOOTSTRAP_SERVERS', 'SECURITY_PROTOCOL', 'SASL_MECHANISM', 'SASL_SECRET_ARN', 'SASL_USERNAME', 'SASL_PASSWORD', 'SSL_CA_PEM'];
export const MIRROR_ENV_VARS: readonly string[] = [
  'MIRROR_SOURCE_ALIAS',
  'MIRROR_TOPIC_NAMING',
  'MIRROR_OFFSET_PRESERVING',
  ...CLUSTER_SUFFIXES.map((s) => `MIRROR_TARGET_${s}`),
  ...CLUSTER_SUFFIXES.map((s) => `MIRROR_SOURCE_${s}`),
];

function invalid(message: string): never {
  throw new StrataError('CONFIG_INVALID', `mirror configuration: ${message}`);
}

/** Reads the MIRROR_* variables of `env`. Throws CONFIG_INVALID naming the variable to fix. */
export function parseMirrorEnv(env: NodeJS.ProcessEnv): MirrorEnv {
  for (const name of Object.keys(env)) {
    if (name.startsWith('MIRROR_') && !MIRROR_ENV_VARS.includes(name)) {
      const guess = closestName(name, MIRROR_ENV_VARS);
      invalid(`unknown variable ${name}${guess ? `; did you mean ${guess}?` : ''}`);
    }
  }
  const get = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };

  const sourceAlias = get('MIRROR_SOURCE_ALIAS') ?? invalid('MIRROR_SOURCE_ALIAS is required (the source cluster\'s alias, e.g. us-east-1)');
  try {
    validateSourceAlias(sourceAlias);
  } catch (e) {
    invalid(`MIRROR_SOURCE_ALIAS: ${(e as Error).message}`);
  }
  const naming = (get('MIRROR_TOPIC_NAMING') ?? 'prefixed') as TopicNaming;
  if (!TOPIC_NAMINGS.includes(naming)) invalid(`MIRROR_TOPIC_NAMING must be ${TOPIC_NAMINGS.join(' or ')}, got '${naming}'`);
  const offsetPreserving = bool(get('MIRROR_OFFSET_PRESERVING'), 'MIRROR_OFFSET_PRESERVING');

  const target = clusterEnv(get, 'TARGET');
  if (target.bootstrapServers.length === 0) invalid('MIRROR_TARGET_BOOTSTRAP_SERVERS is required (host:port[,host:port...] of the target cluster)');
  const source = clusterEnv(get, 'SOURCE');
  return { sourceAlias, naming, offsetPreserving, target, source };
}

function bool(v: string | undefined, name: string): boolean {
  if (v === undefined) return false;
  const l = v.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  return invalid(`${name} must be true or false, got '${v}'`);
}

function clusterEnv(get: (name: string) => string | undefined, which: 'TARGET' | 'SOURCE'): ClusterEnv {
  const p = `MIRROR_${which}_`;
  const bootstrapServers = splitServers(get(`${p}BOOTSTRAP_SERVERS`) ?? '');
  for (const s of bootstrapServers) if (!/^.+:\d{1,5}$/.test(s)) invalid(`${p}BOOTSTRAP_SERVERS: '${s}' is not host:port`);
  const protocol = (get(`${p}SECURITY_PROTOCOL`)?.toUpperCase() ?? 'PLAINTEXT') as SecurityProtocol;
  if (!SECURITY_PROTOCOLS.includes(protocol)) invalid(`${p}SECURITY_PROTOCOL must be one of ${SECURITY_PROTOCOLS.join(', ')}, got '${get(`${p}SECURITY_PROTOCOL`)}'`);
  const out: ClusterEnv = { bootstrapServers, protocol };

  // A PEM pasted into one line with literal \n escapes (as consoles and .env files often hold it) works too.
  const caPem = get(`${p}SSL_CA_PEM`)?.replace(/\\n/g, '\n');
  if (caPem !== undefined) {
    if (!usesTls({ protocol })) invalid(`${p}SSL_CA_PEM is set but ${p}SECURITY_PROTOCOL is ${protocol} (SSL or SASL_SSL use TLS)`);
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) invalid(`${p}SSL_CA_PEM must hold PEM certificate(s) (-----BEGIN CERTIFICATE-----...)`);
    out.caPem = caPem;
  }

  const mechanism = get(`${p}SASL_MECHANISM`);
  const secretArn = get(`${p}SASL_SECRET_ARN`);
  const username = get(`${p}SASL_USERNAME`);
  const password = get(`${p}SASL_PASSWORD`);
  const saslVars = [mechanism && 'SASL_MECHANISM', secretArn && 'SASL_SECRET_ARN', username && 'SASL_USERNAME', password && 'SASL_PASSWORD'].filter(Boolean);
  if (!usesSasl({ protocol })) {
    if (saslVars.length > 0) invalid(`${saslVars.map((v) => p + v).join(', ')} set but ${p}SECURITY_PROTOCOL is ${protocol} (SASL_PLAINTEXT or SASL_SSL use SASL)`);
    return out;
  }
  if (mechanism === undefined) invalid(`${p}SASL_MECHANISM is required with ${protocol} (one of ${SASL_MECHANISMS.join(', ')})`);
  if (!SASL_MECHANISMS.includes(mechanism.toUpperCase() as SaslMechanism)) invalid(`${p}SASL_MECHANISM must be one of ${SASL_MECHANISMS.join(', ')}, got '${mechanism}'`);
  if (secretArn !== undefined && (username !== undefined || password !== undefined)) invalid(`give either ${p}SASL_SECRET_ARN or ${p}SASL_USERNAME and ${p}SASL_PASSWORD, not both`);
  if (secretArn === undefined && (username === undefined || password === undefined)) {
    invalid(`${protocol} needs credentials: ${p}SASL_SECRET_ARN (a Secrets Manager secret {"username","password"}), or ${p}SASL_USERNAME and ${p}SASL_PASSWORD`);
  }
  if (secretArn !== undefined && !/^arn:aws[a-z-]*:secretsmanager:/.test(secretArn)) invalid(`${p}SASL_SECRET_ARN must be a Secrets Manager secret ARN (arn:aws:secretsmanager:...), got '${secretArn}'`);
  out.sasl = { mechanism: mechanism.toUpperCase() as SaslMechanism, secretArn, username, password };
  return out;
}

export interface SaslCredentials {
  username: string;
  password: string;
}

/**
 * The typed MirrorConfig core/mirror takes: SASL secrets fetched (each ARN once) with
 * `fetchSecret`. Called once per container.
 */
export async function resolveMirrorConfig(env: MirrorEnv, fetchSecret: (arn: string) => Promise<SaslCredentials>): Promise<MirrorConfig> {
  const secrets = new Map<string, Promise<SaslCredentials>>();
  const resolve = async (c: ClusterEnv): Promise<ClusterConnection> => {
    const security: ConnectionSecurity = { protocol: c.protocol };
    if (c.caPem !== undefined) security.tls = { ca: c.caPem };
    if (c.sasl) {
      let creds: SaslCredentials;
      if (c.sasl.secretArn !== undefined) {
        const arn = c.sasl.secretArn;
        if (!secrets.has(arn)) secrets.set(arn, fetchSecret(arn));
        creds = await secrets.get(arn)!;
      } else {
        creds = { username: c.sasl.username!, password: c.sasl.password! };
      }
      security.sasl = { mechanism: c.sasl.mechanism, ...creds };
    }
    checkSecurity(security);
    return { bootstrapServers: c.bootstrapServers, security };
  };
  return {
    sourceAlias: env.sourceAlias,
    naming: env.naming,
    offsetPreserving: env.offsetPreserving,
    target: await resolve(env.target),
    source: await resolve(env.source),
  };
}

/** A Secrets Manager secret string as SASL credentials: JSON {"username": ..., "password": ...}. */
export function parseSaslSecret(arn: string, secretString: string | undefined): SaslCredentials {
  let doc: unknown;
  try {
    doc = secretString === undefined ? undefined : JSON.parse(secretString);
  } catch {
    // Never echo the secret's text.
    invalid(`secret ${arn} is not JSON; it must be {"username": "...", "password": "..."}`);
  }
  const d = doc as Record<string, unknown> | undefined;
  if (!d || typeof d.username !== 'string' || d.username === '' || typeof d.password !== 'string' || d.password === '') {
    invalid(`secret ${arn} must be a JSON object with non-empty "username" and "password" strings`);
  }
  return { username: d.username as string, password: d.password as string };
}
