import { StrataError } from '../common/errors';
import { StrataClient, type StrataClientOptions } from '../client/client';
import type { ConnectionSecurity } from '../client/security';
import { isSecurityKey, parseClientSecurity, readClientProperties } from '../client/securityConfig';
import { type CommandSpec, type FlagSpec, type ParsedArgs, UsageError, parseKeyValue } from './args';
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
  /** e.g. 'producer-property'. */
  flag: string;
  /** The non-security keys the command applies (others are refused on the command line). */
  supported: readonly string[];
}

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
  if (property) {
    for (const raw of args.list(property.flag)) {
      const [k, v] = parseKeyValue(raw, `--${property.flag}`, args.spec);
      if (!isSecurityKey(k) && !property.supported.includes(k)) {
        throw new UsageError(`--${property.flag} ${k} is not supported; supported: ${property.supported.join(', ')}, and the security settings (security.protocol, ssl.*, sasl.*)`, args.spec);
      }
      merged.set(k, v);
    }
  }
  let parsed: ReturnType<typeof parseClientSecurity>;
  try {
    parsed = parseClientSecurity(merged);
  } catch (e) {
    if (!(e instanceof StrataError)) throw e;
    const sources = [file !== undefined ? `--${configFlag} ${file}` : null, property && args.list(property.flag).length > 0 ? `--${property.flag}` : null].filter((s) => s !== null);
    throw new StrataError(e.code, sources.length > 0 ? `${sources.join(' / ')}: ${e.message}` : e.message, { cause: e });
  }
  for (const w of parsed.warnings) io.stderr.write(`strata ${args.spec.name}: warning: ${w}\n`);
  const supported = property?.supported ?? [];
  return { security: parsed.security, properties: new Map([...parsed.others].filter(([k]) => supported.includes(k))) };
}

/**
 * The one place a command creates its StrataClient: --bootstrap-server, and the security
 * settings of its config file (or `security` when the command already read them with
 * commandClientConfig).
 */
export function commandClient(args: ParsedArgs, io: CliIO, opts: Omit<StrataClientOptions, 'bootstrapServers'>): StrataClient {
  const servers = bootstrapServers(args);
  const security = opts.security ?? commandClientConfig(args, io).security;
  return new StrataClient({ ...opts, bootstrapServers: servers, security });
}
