import { StrataError } from '../common/errors';
import { BROKER_CONFIGS, brokerConfigEntry, type BrokerConfig } from './brokerConfig';
import { ConfigSource, configTypeCode, formatConfigValue, parseConfigValue, type DescribedConfig } from './configDef';
import { closestName } from './didYouMean';
import { isDynamicTopicDefault, resolveTopicConfig, topicConfigEntry, type BrokerDynamicLayers } from './topicConfig';

/**
 * Dynamic broker configs (Kafka's KIP-226, DynamicBrokerConfig): broker configs changed while
 * the broker runs, stored in the metadata store at two levels — a cluster-wide default (BROKER
 * resource '') and per broker (resource '<node.id>') — and layered over the static config:
 *
 *   per-broker dynamic > cluster-wide dynamic > static (flags, STRATA_*, server.properties) > default
 *
 * Strata can change the topic defaults at run time (isDynamicTopicDefault: Kafka's
 * "cluster-wide" LogConfig defaults, log.retention.ms, log.segment.bytes, message.max.bytes,
 * ...); a topic without its own value follows at once. Everything else is read-only, answered
 * as Kafka answers (INVALID_REQUEST, "Cannot update these configs dynamically: Set(...)"), with
 * a message of Strata's own for the configs Kafka can change but Strata applies only at start.
 */

/** Kafka's other dynamic configs that Strata has (or accepts with no effect), applied only at start. */
const DYNAMIC_IN_KAFKA_ONLY: ReadonlySet<string> = new Set([
  // SocketServer
  'max.connections',
  'max.connections.per.ip',
  'max.connections.per.ip.overrides',
  // LogCleaner (message.max.bytes, also in Kafka's set, is a dynamic topic default here)
  'log.cleaner.backoff.ms',
  'log.cleaner.dedupe.buffer.size',
  'log.cleaner.io.buffer.load.factor',
  'log.cleaner.threads',
  // ProducerStateManager
  'producer.id.expiration.ms',
  // thread pools
  'num.io.threads',
  'num.network.threads',
  'num.replica.fetchers',
  'num.recovery.threads.per.data.dir',
]);

/** Whether Strata changes `name` (a broker config) without a restart. */
export function isDynamicBrokerConfig(name: string): boolean {
  return isDynamicTopicDefault(name);
}

/** A set of names as Kafka's message prints a Scala Set: Set(a, b). */
function scalaSet(names: string[]): string {
  return `Set(${names.join(', ')})`;
}

function unknownBrokerConfig(name: string): StrataError {
  const topic = topicConfigEntry(name);
  if (topic) {
    const broker = topic.synonyms.find(isDynamicBrokerConfig);
    return new StrataError(
      'CONFIG_UNKNOWN',
      `Unknown broker config '${name}': it is a topic config` +
        (broker ? `; its broker-level default is ${broker}.` : ', with no broker-level default.') +
        ' Use --entity-type topics to set it on a topic.',
    );
  }
  const hint = closestName(name, BROKER_CONFIGS.filter((e) => !e.readOnly).map((e) => e.name)) ?? closestName(name, BROKER_CONFIGS.map((e) => e.name));
  return new StrataError('CONFIG_UNKNOWN', `Unknown broker config '${name}'.${hint === undefined ? '' : ` Did you mean '${hint}'?`}`);
}

/**
 * Checks the configs one BROKER resource is to hold, in the order Kafka's
 * DynamicBrokerConfig.validateConfigs checks them (names that cannot change dynamically, then
 * values), and returns them in canonical form. Unlike Kafka, which keeps unknown names as
 * custom configs for plugins, an unknown name is refused with a hint (Strata has no plugins).
 * Throws StrataError('CONFIG_UNKNOWN' | 'CONFIG_INVALID'); Kafka answers all of these
 * INVALID_REQUEST (KAFKA-13609), and so does the handler.
 */
export function normalizeDynamicBrokerConfigs(configs: Record<string, string>): Record<string, string> {
  const names = Object.keys(configs).sort();
  for (const name of names) if (!brokerConfigEntry(name)) throw unknownBrokerConfig(name);
  const readOnly = names.filter((n) => !isDynamicBrokerConfig(n) && !DYNAMIC_IN_KAFKA_ONLY.has(n));
  if (readOnly.length > 0) throw new StrataError('CONFIG_INVALID', `Cannot update these configs dynamically: ${scalaSet(readOnly)}`);
  const startOnly = names.filter((n) => DYNAMIC_IN_KAFKA_ONLY.has(n));
  if (startOnly.length > 0) {
    throw new StrataError(
      'CONFIG_INVALID',
      `Cannot update these configs dynamically: ${scalaSet(startOnly)}. Kafka can, Strata applies them only at start: ` +
        'set them with --override, STRATA_* or server.properties and restart the broker.',
    );
  }
  const out: Record<string, string> = {};
  for (const name of names) {
    const entry = brokerConfigEntry(name)!;
    out[name] = formatConfigValue(entry.type, parseConfigValue(entry, configs[name]));
  }
  return out;
}

/**
 * Kafka's one cross-config check of dynamic log defaults (DynamicLogConfig
 * .validateReconfiguration): with bounded retention, the local retention default may be
 * neither -1 nor longer (larger) than it. Checked on the broker-level values the change would
 * leave in effect. Kafka's answer is "Invalid dynamic configuration"; Strata adds why.
 */
export function checkDynamicLogDefaults(config: BrokerConfig, layers: BrokerDynamicLayers): void {
  const v = resolveTopicConfig({}, config, layers).values;
  const check = (localName: string, local: number, totalName: string, total: number): void => {
    if (total === -1 || local === -2) return;
    let reason: string | null = null;
    if (local === -1) reason = `Value must not be -1 as ${totalName} value is set as ${total}.`;
    else if (local > total) reason = `Value must not be more than ${totalName} property value: ${total}`;
    if (reason !== null) throw new StrataError('CONFIG_INVALID', `Invalid dynamic configuration: Invalid value ${local} for configuration ${localName}: ${reason}`);
  };
  check('log.local.retention.ms', v['local.retention.ms'], 'log.retention.ms', v['retention.ms']);
  check('log.local.retention.bytes', v['local.retention.bytes'], 'log.retention.bytes', v['retention.bytes']);
}

/**
 * DescribeConfigs of the cluster-wide default (BROKER resource ''): only what is set there,
 * each with itself as its one synonym, as Kafka describes it.
 */
export function describeClusterDefaults(defaults: Record<string, string>): DescribedConfig[] {
  return Object.keys(defaults)
    .sort()
    .flatMap((name) => {
      const e = brokerConfigEntry(name);
      if (!e) return [];
      const value = e.isSensitive ? null : defaults[name];
      return [
        {
          name,
          value,
          source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
          isDefault: false,
          readOnly: e.readOnly,
          isSensitive: e.isSensitive,
          synonyms: [{ name, value, source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG }],
          type: configTypeCode(e.type),
          documentation: e.doc,
        },
      ];
    });
}

/**
 * What a stored entity may keep when loaded: names that are not (or no longer) dynamic and
 * values that no longer parse are dropped and reported, as Kafka ignores them with an error
 * line rather than refusing to start.
 */
export function sanitizeStoredConfigs(configs: Record<string, string>): { kept: Record<string, string>; dropped: string[] } {
  const kept: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(configs)) {
    try {
      Object.assign(kept, normalizeDynamicBrokerConfigs({ [name]: value }));
    } catch (e) {
      dropped.push(`${name}=${value} (${(e as Error).message})`);
    }
  }
  return { kept, dropped };
}
