import { StrataError } from '../common/errors';
import { StrataClient, type StrataClientOptions } from '../client/client';
import type { ConnectionSecurity } from '../client/security';
import { isSecurityKey, parseClientSecurity, readClientProperties } from '../client/securityConfig';
import { type CommandSpec, type FlagSpec, type ParsedArgs, UsageError, parseIntStrict, parseKeyValue } from './args';
import { type CliIO, bootstrapServers } from './io';

/**
 * How every client command gets its connection settings, as Kafka's tools do: a Java
 * properties file named by the tool's config flag, then `--<x>-property k=v` values over it.
 *
 *   kafka-topics, kafka-configs, kafka-consumer-groups, ...   --command-config FILE
 *   kafka-console-producer                                     --producer.config FILE  (+ --producer-property)
 *   kafka-console-consumer                                     --consumer.config FILE  (+ --consumer-property)
 *
 * The security settings among them (security.protocol, ssl.*, sasl.*; client/securityConfig.ts)
 * go to every connection of the command's StrataClient; the command applies the other keys it
 * knows (client.id, acks, ...). A command gets all this by declaring one of the flags below and
 * creating its client with `commandClient`.
 */

export const COMMAND_CONFIG_FLAG: FlagSpec = {
  name: 'command-config',
  kind: 'value',
  valueName: 'FILE',
  description: 'Client properties file, as for Kafka\'s tools: security.protocol, ssl.truststore.location, sasl.mechanism, sasl.jaas.config...',
};

export const PRODUCER_CONFIG_FLAG: FlagSpec = {
  name: 'producer.config',
  kind: 'value',
  valueName: 'FILE',
  description: 'Producer properties file (security.protocol, ssl.*, sasl.*, and the --producer-property settings); --producer-property values win.',
};

export const CONSUMER_CONFIG_FLAG: FlagSpec = {
  name: 'consumer.config',
  kind: 'value',
  valueName: 'FILE',
  description: 'Consumer properties file (security.protocol, ssl.*, sasl.*, and the --consumer-property settings); --consumer-property values win.',
};

const CONFIG_FLAGS = [COMMAND_CONFIG_FLAG.name, PRODUCER_CONFIG_FLAG.name, CONSUMER_CONFIG_FLAG.name];

export interface CommandClientConfig {
  security: ConnectionSecurity;
  /** The non-security settings the command supports, file first, property flags over it. */
  properties: Map<string, string>;
}

export interface PropertyFlag {
  /** e.g. 'producer-property'; none for commands that take settings from the file only. */
  flag?: string;
  /** The non-security keys the command applies (others are refused on the command line). */
  supported: readonly string[];
}

/** What an admin command takes from its --command-config besides security, as Kafka's AdminClient does. */
const ADMIN_SETTINGS = ['client.id', 'request.timeout.ms'];

/** The config-file flag a command declares, if any. */
function configFlagOf(spec: CommandSpec): string | undefined {
  return spec.flags.find((f) => CONFIG_FLAGS.includes(f.name))?.name;
}

/**
 * The settings of a command line: its config file (when the spec declares a config flag and
 * it is given), then `property` flag values. Warnings about ignored settings go to stderr.
 * Throws CONFIG_INVALID (exit 1) for settings that cannot work, UsageError (exit 2) for a
 * property flag naming a key the command does not support.
 */
export function commandClientConfig(args: ParsedArgs, io: CliIO, property?: PropertyFlag): CommandClientConfig {
  const configFlag = configFlagOf(args.spec);
  const file = configFlag === undefined ? undefined : args.string(configFlag);
  const merged = new Map<string, string>();
  if (file !== undefined) for (const [k, v] of readClientProperties(file)) merged.set(k, v);
  const propertyFlag = property?.flag;
  if (property && propertyFlag !== undefined) {
    for (const raw of args.list(propertyFlag)) {
      const [k, v] = parseKeyValue(raw, `--${propertyFlag}`, args.spec);
      if (!isSecurityKey(k) && !property.supported.includes(k)) {
        throw new UsageError(`--${propertyFlag} ${k} is not supported; supported: ${property.supported.join(', ')}, and the security settings (security.protocol, ssl.*, sasl.*)`, args.spec);
      }
      merged.set(k, v);
    }
  }
  let parsed: ReturnType<typeof parseClientSecurity>;
  try {
    parsed = parseClientSecurity(merged);
  } catch (e) {
    if (!(e instanceof StrataError)) throw e;
    const sources = [file !== undefined ? `--${configFlag} ${file}` : null, propertyFlag !== undefined && args.list(propertyFlag).length > 0 ? `--${propertyFlag}` : null].filter((s) => s !== null);
    throw new StrataError(e.code, sources.length > 0 ? `${sources.join(' / ')}: ${e.message}` : e.message, { cause: e });
  }
  for (const w of parsed.warnings) io.stderr.write(`strata ${args.spec.name}: warning: ${w}\n`);
  const supported = property?.supported ?? [];
  return { security: parsed.security, properties: new Map([...parsed.others].filter(([k]) => supported.includes(k))) };
}

/**
 * The one place an admin command creates its StrataClient: --bootstrap-server, and from its
 * --command-config the security settings, client.id (over the command's own) and
 * request.timeout.ms (unless the command sets a timeout itself).
 */
export function commandClient(args: ParsedArgs, io: CliIO, opts: Omit<StrataClientOptions, 'bootstrapServers' | 'security'>): StrataClient {
  const servers = bootstrapServers(args);
  const { security, properties } = commandClientConfig(args, io, { supported: ADMIN_SETTINGS });
  const timeout = properties.get('request.timeout.ms');
  return new StrataClient({
    ...opts,
    bootstrapServers: servers,
    security,
    clientId: properties.get('client.id') ?? opts.clientId,
    requestTimeoutMs: opts.requestTimeoutMs ?? (timeout === undefined ? undefined : parseIntStrict(timeout.trim(), 'request.timeout.ms', { min: 1, max: 2 ** 31 - 1 }, args.spec)),
  });
}
