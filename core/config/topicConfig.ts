import { StrataError } from '../common/errors';
import {
  ConfigEntry,
  ConfigSource,
  ConfigSourceCode,
  ConfigSynonym,
  DescribedConfig,
  ParsedValue,
  Validator,
  configTypeCode,
  formatConfigValue,
  longToNumber,
  parseConfigValue,
} from './configDef';
import { closestName } from './didYouMean';

/**
 * The one registry of Kafka topic configs: Kafka's names, types, defaults (in the string form
 * DescribeConfigs reports), validators and broker-level synonyms. CreateTopics,
 * IncrementalAlterConfigs and DescribeConfigs all go through it, and so does the log, which
 * reads typed values from `resolveTopicConfig`.
 *
 * Only explicitly set topic configs are stored with a topic (TopicRecord.configs); everything
 * else is resolved against the broker's settings at read time, as Kafka does, so changing a
 * broker default changes every topic that did not override it.
 */

const LONG_MAX = '9223372036854775807';
const atLeast = (min: number): Validator => ({ kind: 'range', min });
const between = (min: number, max: number): Validator => ({ kind: 'range', min, max });
const oneOf = (...values: string[]): Validator => ({ kind: 'enum', values });

export const COMPRESSION_TYPES = ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'] as const;
export type CompressionType = (typeof COMPRESSION_TYPES)[number];
export type CleanupPolicy = 'delete' | 'compact';
export type TimestampType = 'CreateTime' | 'LogAppendTime';

// Kafka's ThrottledReplicaListValidator: '*' alone, or partition:broker pairs.
const throttledReplicas: Validator = {
  kind: 'custom',
  describe: '[partitionId]:[brokerId],[partitionId]:[brokerId],...',
  check: (v) => {
    const items = v as string[];
    if (items.length === 1 && items[0] === '*') return null;
    return items.every((i) => /^\d+:\d+$/.test(i))
      ? null
      : "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...";
  },
};

// Kafka 3.x's MetadataVersionValidator for the deprecated message.format.version: any
// inter-broker protocol version from 0.8.0 to 3.9, with or without its "-IVn" suffix; extra
// segments are ignored ("2.8.1" is 2.8, "0.10.2.1" is 0.10.2), as MetadataVersion.fromVersionString does.
const IBP_SUBVERSIONS: Record<string, number> = {
  '0.8.0': 0, '0.8.1': 0, '0.8.2': 0, '0.9.0': 0, '0.10.0': 2, '0.10.1': 3, '0.10.2': 1, '0.11.0': 3,
  '1.0': 1, '1.1': 1, '2.0': 2, '2.1': 3, '2.2': 2, '2.3': 2, '2.4': 2, '2.5': 1, '2.6': 1, '2.7': 3, '2.8': 2,
  '3.0': 2, '3.1': 1, '3.2': 1, '3.3': 4, '3.4': 1, '3.5': 3, '3.6': 3, '3.7': 5, '3.8': 1, '3.9': 1,
};

/** Whether `v` names a Kafka 3.x inter-broker protocol / message format version. */
export function isMessageFormatVersion(v: string): boolean {
  const key = v.split('.').slice(0, v.startsWith('0.') ? 3 : 2).join('.');
  const m = /^(.*?)(?:-IV(0|[1-9]\d*))?$/.exec(key)!;
  if (!Object.prototype.hasOwnProperty.call(IBP_SUBVERSIONS, m[1])) return false;
  return m[2] === undefined || Number(m[2]) < IBP_SUBVERSIONS[m[1]];
}

const messageFormatVersion: Validator = {
  kind: 'custom',
  describe: '[0.8.0, 0.8.1, ..., 3.0-IV1, 3.0, ..., 3.9-IV0, 3.9]',
  check: (v) => (isMessageFormatVersion(v as string) ? null : `Version ${String(v)} is not a valid version`),
};

function topic(
  name: string,
  type: ConfigEntry['type'],
  def: string | null,
  validator: Validator | undefined,
  synonyms: string[],
  doc: string,
): ConfigEntry {
  return { name, type, default: def, validator, doc, synonyms, isSensitive: false, readOnly: false };
}

/** Sorted by name, the order DescribeConfigs lists them in. */
export const TOPIC_CONFIGS: readonly ConfigEntry[] = [
  topic('cleanup.policy', 'list', 'delete', { kind: 'list', values: ['compact', 'delete'] }, ['log.cleanup.policy'],
    'What happens to old segments: "delete" removes them past retention, "compact" keeps the latest record per key; both may be set.'),
  topic('compression.type', 'string', 'producer', oneOf(...COMPRESSION_TYPES), ['compression.type'],
    'Final compression of the topic\'s batches; "producer" keeps whatever codec the producer used.'),
  topic('delete.retention.ms', 'long', '86400000', atLeast(0), ['log.cleaner.delete.retention.ms'],
    'How long delete tombstones are kept on compacted topics, so that consumers see them.'),
  topic('file.delete.delay.ms', 'long', '60000', atLeast(0), ['log.segment.delete.delay.ms'],
    'Delay before a deleted segment\'s files are removed from disk.'),
  topic('flush.messages', 'long', LONG_MAX, atLeast(1), ['log.flush.interval.messages'],
    'Force an fsync after this many messages; the default leaves flushing to the OS and to replication.'),
  topic('flush.ms', 'long', LONG_MAX, atLeast(0), ['log.flush.interval.ms', 'log.flush.scheduler.interval.ms'],
    'Force an fsync when data has been unflushed this long; the default leaves flushing to the OS and to replication.'),
  topic('follower.replication.throttled.replicas', 'list', '', throttledReplicas, [],
    'Replicas whose follower-side replication is throttled (accepted for compatibility; Strata does not throttle yet).'),
  topic('index.interval.bytes', 'int', '4096', atLeast(0), ['log.index.interval.bytes'],
    'Bytes appended between two entries of the sparse offset index.'),
  topic('leader.replication.throttled.replicas', 'list', '', throttledReplicas, [],
    'Replicas whose leader-side replication is throttled (accepted for compatibility; Strata does not throttle yet).'),
  topic('local.retention.bytes', 'long', '-2', atLeast(-2), ['log.local.retention.bytes'],
    'With remote storage, the size of the local (cached) part of a partition before tiered segments are dropped locally; -2 means retention.bytes.'),
  topic('local.retention.ms', 'long', '-2', atLeast(-2), ['log.local.retention.ms'],
    'With remote storage, how long tiered segments are kept locally; -2 means retention.ms.'),
  topic('max.compaction.lag.ms', 'long', LONG_MAX, atLeast(1), ['log.cleaner.max.compaction.lag.ms'],
    'Longest time a record may stay uncompacted on a compacted topic.'),
  topic('max.message.bytes', 'int', '1048588', atLeast(0), ['message.max.bytes'],
    'Largest record batch the topic accepts, after compression.'),
  topic('message.downconversion.enable', 'boolean', 'true', undefined, ['log.message.downconversion.enable'],
    'Whether old fetch versions may be served by down-converting batches (accepted for compatibility).'),
  topic('message.format.version', 'string', '3.0-IV1', messageFormatVersion, ['log.message.format.version'],
    '[DEPRECATED] Accepted and ignored, as Kafka 3.x does from inter.broker.protocol.version 3.0: batches are always stored in message format v2. Kafka 4.0 removed it.'),
  topic('message.timestamp.after.max.ms', 'long', LONG_MAX, atLeast(0), ['log.message.timestamp.after.max.ms'],
    'How far a CreateTime timestamp may be ahead of the broker\'s clock.'),
  topic('message.timestamp.before.max.ms', 'long', LONG_MAX, atLeast(0), ['log.message.timestamp.before.max.ms'],
    'How far a CreateTime timestamp may be behind the broker\'s clock.'),
  topic('message.timestamp.difference.max.ms', 'long', LONG_MAX, atLeast(0), ['log.message.timestamp.difference.max.ms'],
    'Deprecated by Kafka: both bounds at once; used when the before/after configs are left at their defaults.'),
  topic('message.timestamp.type', 'string', 'CreateTime', oneOf('CreateTime', 'LogAppendTime'), ['log.message.timestamp.type'],
    'Whether record timestamps are the producer\'s (CreateTime) or the broker\'s append time (LogAppendTime).'),
  topic('min.cleanable.dirty.ratio', 'double', '0.5', between(0, 1), ['log.cleaner.min.cleanable.ratio'],
    'Share of a compacted log that must be uncompacted before the cleaner runs on it.'),
  topic('min.compaction.lag.ms', 'long', '0', atLeast(0), ['log.cleaner.min.compaction.lag.ms'],
    'Shortest time a record stays uncompacted on a compacted topic.'),
  topic('min.insync.replicas', 'int', '1', atLeast(1), ['min.insync.replicas'],
    'Replicas that must be in sync for an acks=all produce to succeed.'),
  topic('mirror.source.cluster', 'string', '', undefined, [],
    'Strata: set (to the source cluster\'s alias) on a topic that mirrors another cluster\'s topic with the source\'s offsets; the topic is then read-only to producers and written only by the mirror (MirrorAppend). Deleting it promotes the topic to an ordinary writable one.'),
  topic('preallocate', 'boolean', 'false', undefined, ['log.preallocate'],
    'Whether new segment files are preallocated to segment.bytes.'),
  topic('remote.storage.enable', 'boolean', 'false', undefined, [],
    'Whether closed segments are tiered to the object store.'),
  topic('retention.bytes', 'long', '-1', undefined, ['log.retention.bytes'],
    'Largest size of a partition before old segments are deleted; -1 means no size limit.'),
  topic('retention.ms', 'long', '604800000', atLeast(-1), ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours'],
    'How long a segment is kept before it is deleted; -1 means no time limit.'),
  topic('segment.bytes', 'int', '1073741824', atLeast(14), ['log.segment.bytes'],
    'Size at which the active segment is closed and a new one started.'),
  topic('segment.index.bytes', 'int', '10485760', atLeast(4), ['log.index.size.max.bytes'],
    'Largest size of a segment\'s offset index.'),
  topic('segment.jitter.ms', 'long', '0', atLeast(0), ['log.roll.jitter.ms', 'log.roll.jitter.hours'],
    'Random jitter subtracted from segment.ms so segments of many partitions do not roll at once.'),
  topic('segment.ms', 'long', '604800000', atLeast(1), ['log.roll.ms', 'log.roll.hours'],
    'Age at which the active segment is closed even if it is not full.'),
  topic('unclean.leader.election.enable', 'boolean', 'false', undefined, ['unclean.leader.election.enable'],
    'Whether a replica outside the ISR may become leader, at the price of losing records.'),
];

function broker(
  name: string,
  type: ConfigEntry['type'],
  def: string | null,
  validator: Validator | undefined,
  doc: string,
): ConfigEntry {
  return { name, type, default: def, validator, doc, synonyms: [], isSensitive: false, readOnly: true };
}

/**
 * The broker configs Kafka updates without a restart among the topic defaults (its
 * DynamicLogConfig.ReconfigurableConfigs): each topic config's first broker synonym, except
 * message.format.version's. log.retention.hours/minutes, log.roll.hours, log.roll.jitter.hours
 * and log.flush.scheduler.interval.ms are not dynamic in Kafka either: set the first synonym.
 * In Kafka's terms they are "cluster-wide": settable as a cluster default or per broker.
 */
const DYNAMIC_TOPIC_DEFAULTS: ReadonlySet<string> = new Set(
  TOPIC_CONFIGS.filter((e) => e.name !== 'message.format.version' && e.synonyms.length > 0).map((e) => e.synonyms[0]),
);

/**
 * The broker-level configs that supply topic defaults, with Kafka's types and defaults. The
 * broker registry includes them; they live here because their meaning is the topic config's.
 * A null default means "unset, fall through to the next synonym" (log.retention.ms → minutes → hours).
 * Those Kafka can change at run time are not read-only (DYNAMIC_TOPIC_DEFAULTS).
 */
export const BROKER_TOPIC_DEFAULT_CONFIGS: readonly ConfigEntry[] = ([
  broker('log.cleanup.policy', 'list', 'delete', { kind: 'list', values: ['compact', 'delete'] }, 'Default cleanup.policy for topics.'),
  broker('compression.type', 'string', 'producer', oneOf(...COMPRESSION_TYPES), 'Default compression.type for topics.'),
  broker('log.cleaner.delete.retention.ms', 'long', '86400000', atLeast(0), 'Default delete.retention.ms for topics.'),
  broker('log.segment.delete.delay.ms', 'long', '60000', atLeast(0), 'Default file.delete.delay.ms for topics.'),
  broker('log.flush.interval.messages', 'long', LONG_MAX, atLeast(1), 'Default flush.messages for topics.'),
  broker('log.flush.interval.ms', 'long', null, undefined, 'Default flush.ms for topics; when unset, log.flush.scheduler.interval.ms is used.'),
  broker('log.flush.scheduler.interval.ms', 'long', LONG_MAX, undefined, 'Fallback default flush.ms for topics.'),
  broker('log.index.interval.bytes', 'int', '4096', atLeast(0), 'Default index.interval.bytes for topics.'),
  broker('log.local.retention.bytes', 'long', '-2', atLeast(-2), 'Default local.retention.bytes for topics.'),
  broker('log.local.retention.ms', 'long', '-2', atLeast(-2), 'Default local.retention.ms for topics.'),
  broker('log.cleaner.max.compaction.lag.ms', 'long', LONG_MAX, atLeast(1), 'Default max.compaction.lag.ms for topics.'),
  broker('message.max.bytes', 'int', '1048588', atLeast(0), 'Default max.message.bytes for topics: the largest record batch accepted.'),
  broker('log.message.downconversion.enable', 'boolean', 'true', undefined, 'Default message.downconversion.enable for topics.'),
  broker('log.message.format.version', 'string', '3.0-IV1', messageFormatVersion, '[DEPRECATED] Default message.format.version for topics; ignored.'),
  broker('log.message.timestamp.after.max.ms', 'long', LONG_MAX, atLeast(0), 'Default message.timestamp.after.max.ms for topics.'),
  broker('log.message.timestamp.before.max.ms', 'long', LONG_MAX, atLeast(0), 'Default message.timestamp.before.max.ms for topics.'),
  broker('log.message.timestamp.difference.max.ms', 'long', LONG_MAX, atLeast(0), 'Default message.timestamp.difference.max.ms for topics.'),
  broker('log.message.timestamp.type', 'string', 'CreateTime', oneOf('CreateTime', 'LogAppendTime'), 'Default message.timestamp.type for topics.'),
  broker('log.cleaner.min.cleanable.ratio', 'double', '0.5', between(0, 1), 'Default min.cleanable.dirty.ratio for topics.'),
  broker('log.cleaner.min.compaction.lag.ms', 'long', '0', atLeast(0), 'Default min.compaction.lag.ms for topics.'),
  broker('min.insync.replicas', 'int', '1', atLeast(1), 'Default min.insync.replicas for topics.'),
  broker('log.preallocate', 'boolean', 'false', undefined, 'Default preallocate for topics.'),
  broker('log.retention.bytes', 'long', '-1', undefined, 'Default retention.bytes for topics.'),
  broker('log.retention.ms', 'long', null, undefined, 'Default retention.ms for topics; takes precedence over log.retention.minutes and log.retention.hours.'),
  broker('log.retention.minutes', 'int', null, undefined, 'Default retention.ms for topics, in minutes; takes precedence over log.retention.hours.'),
  broker('log.retention.hours', 'int', '168', undefined, 'Default retention.ms for topics, in hours.'),
  broker('log.segment.bytes', 'int', '1073741824', atLeast(14), 'Default segment.bytes for topics.'),
  broker('log.index.size.max.bytes', 'int', '10485760', atLeast(4), 'Default segment.index.bytes for topics.'),
  broker('log.roll.jitter.ms', 'long', null, undefined, 'Default segment.jitter.ms for topics; takes precedence over log.roll.jitter.hours.'),
  broker('log.roll.jitter.hours', 'int', '0', atLeast(0), 'Default segment.jitter.ms for topics, in hours.'),
  broker('log.roll.ms', 'long', null, undefined, 'Default segment.ms for topics; takes precedence over log.roll.hours.'),
  broker('log.roll.hours', 'int', '168', atLeast(1), 'Default segment.ms for topics, in hours.'),
  broker('unclean.leader.election.enable', 'boolean', 'false', undefined, 'Default unclean.leader.election.enable for topics.'),
] as ConfigEntry[]).map((e) => ({ ...e, readOnly: !DYNAMIC_TOPIC_DEFAULTS.has(e.name) }));

/** Broker synonyms expressed in a coarser unit than the topic config's milliseconds. */
const SYNONYM_SCALE: Record<string, bigint> = {
  'log.retention.minutes': 60_000n,
  'log.retention.hours': 3_600_000n,
  'log.roll.hours': 3_600_000n,
  'log.roll.jitter.hours': 3_600_000n,
};

const TOPIC_BY_NAME = new Map(TOPIC_CONFIGS.map((e) => [e.name, e]));
const BROKER_BY_NAME = new Map(BROKER_TOPIC_DEFAULT_CONFIGS.map((e) => [e.name, e]));
/** broker synonym → the topic config it supplies (log.retention.hours → retention.ms). */
const TOPIC_FOR_SYNONYM = new Map(TOPIC_CONFIGS.flatMap((e) => e.synonyms.map((s) => [s, e.name] as const)));

export type TopicConfigName =
  | 'cleanup.policy'
  | 'compression.type'
  | 'delete.retention.ms'
  | 'file.delete.delay.ms'
  | 'flush.messages'
  | 'flush.ms'
  | 'follower.replication.throttled.replicas'
  | 'index.interval.bytes'
  | 'leader.replication.throttled.replicas'
  | 'local.retention.bytes'
  | 'local.retention.ms'
  | 'max.compaction.lag.ms'
  | 'max.message.bytes'
  | 'message.downconversion.enable'
  | 'message.format.version'
  | 'message.timestamp.after.max.ms'
  | 'message.timestamp.before.max.ms'
  | 'message.timestamp.difference.max.ms'
  | 'message.timestamp.type'
  | 'min.cleanable.dirty.ratio'
  | 'min.compaction.lag.ms'
  | 'min.insync.replicas'
  | 'mirror.source.cluster'
  | 'preallocate'
  | 'remote.storage.enable'
  | 'retention.bytes'
  | 'retention.ms'
  | 'segment.bytes'
  | 'segment.index.bytes'
  | 'segment.jitter.ms'
  | 'segment.ms'
  | 'unclean.leader.election.enable';

/**
 * Typed values. Long configs are numbers clamped to ±Number.MAX_SAFE_INTEGER (see
 * configDef.longToNumber): flush.messages, flush.ms, max.compaction.lag.ms and the timestamp
 * bounds default to 2^63-1 and come out as Number.MAX_SAFE_INTEGER, which means "never" for
 * every comparison the log makes. The exact string stays in the described entries.
 */
export interface TopicConfigValues {
  'cleanup.policy': CleanupPolicy[];
  'compression.type': CompressionType;
  'delete.retention.ms': number;
  'file.delete.delay.ms': number;
  'flush.messages': number;
  'flush.ms': number;
  'follower.replication.throttled.replicas': string[];
  'index.interval.bytes': number;
  'leader.replication.throttled.replicas': string[];
  'local.retention.bytes': number;
  'local.retention.ms': number;
  'max.compaction.lag.ms': number;
  'max.message.bytes': number;
  'message.downconversion.enable': boolean;
  /** Deprecated, no effect. */
  'message.format.version': string;
  'message.timestamp.after.max.ms': number;
  'message.timestamp.before.max.ms': number;
  'message.timestamp.difference.max.ms': number;
  'message.timestamp.type': TimestampType;
  'mirror.source.cluster': string;
  'min.cleanable.dirty.ratio': number;
  'min.compaction.lag.ms': number;
  'min.insync.replicas': number;
  preallocate: boolean;
  'remote.storage.enable': boolean;
  'retention.bytes': number;
  'retention.ms': number;
  'segment.bytes': number;
  'segment.index.bytes': number;
  'segment.jitter.ms': number;
  'segment.ms': number;
  'unclean.leader.election.enable': boolean;
}

export interface ResolvedTopicConfig {
  values: TopicConfigValues;
  /** One entry per topic config, sorted by name, ready for a DescribeConfigs response. */
  entries: DescribedConfig[];
}

/** Broker settings that supply topic defaults, by layer (Kafka's dynamic configs are optional). */
export interface BrokerDynamicLayers {
  /** Per-broker dynamic configs (DYNAMIC_BROKER_CONFIG). */
  broker?: Record<string, string>;
  /** Cluster-wide dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG). */
  clusterDefault?: Record<string, string>;
}

/**
 * Explicitly set broker configs by Kafka name, or anything carrying them as `topicDefaults`
 * (a BrokerConfig), so callers can pass their BrokerConfig straight through.
 */
export type BrokerTopicDefaults = Record<string, string> | { readonly topicDefaults: Record<string, string> };

function isBrokerConfigLike(x: BrokerTopicDefaults): x is { readonly topicDefaults: Record<string, string> } {
  // A plain record's values are strings, so an object-valued topicDefaults marks a BrokerConfig.
  return typeof (x as { topicDefaults?: unknown }).topicDefaults === 'object';
}

export function topicConfigEntry(name: string): ConfigEntry | undefined {
  return TOPIC_BY_NAME.get(name);
}

export function isTopicConfigName(name: string): name is TopicConfigName {
  return TOPIC_BY_NAME.has(name);
}

/** Whether a broker config is a topic default Kafka (and Strata) can change without a restart. */
export function isDynamicTopicDefault(name: string): boolean {
  return DYNAMIC_TOPIC_DEFAULTS.has(name);
}

/**
 * The broker configs that name the same setting in other units, highest precedence first, as
 * Kafka's DynamicBrokerConfig.brokerConfigSynonyms lists them: every retention name gives the
 * three, either roll (or jitter) name gives both, log.flush.interval.ms gives itself and its
 * fallback log.flush.scheduler.interval.ms; any other name is alone.
 */
export function brokerSynonymGroup(name: string): readonly string[] {
  const topicName = TOPIC_FOR_SYNONYM.get(name);
  const group = topicName === undefined ? undefined : TOPIC_BY_NAME.get(topicName)!.synonyms;
  if (group === undefined || group.length < 2 || name === 'log.flush.scheduler.interval.ms') return [name];
  return group;
}

/** The registry entry of a broker-level topic default (log.retention.hours, message.max.bytes, ...). */
export function brokerTopicDefaultEntry(name: string): ConfigEntry | undefined {
  return BROKER_BY_NAME.get(name);
}

function unknownTopicConfig(name: string): StrataError {
  // A broker-level name used on a topic is the commonest mistake: point at the topic name.
  const hint = TOPIC_FOR_SYNONYM.get(name) ?? closestName(name, TOPIC_BY_NAME.keys());
  const suffix = hint === undefined ? '' : ` Did you mean '${hint}'?`;
  return new StrataError('CONFIG_UNKNOWN', `Unknown topic config '${name}'.${suffix}`);
}

/**
 * Checks names and values of topic configs as given to CreateTopics or AlterConfigs.
 * A null value means "remove the override" (IncrementalAlterConfigs DELETE) and only needs a
 * known name; callers that must reject nulls (CreateTopics) do so themselves.
 * Throws StrataError('CONFIG_UNKNOWN') for an unknown name (with a did-you-mean hint) and
 * StrataError('CONFIG_INVALID') for a bad value, in Kafka's wording.
 */
export function validateTopicConfigs(configs: Record<string, string | null>): void {
  const parsed = new Map<string, ParsedValue>();
  for (const [name, value] of Object.entries(configs)) {
    const entry = TOPIC_BY_NAME.get(name);
    if (!entry) throw unknownTopicConfig(name);
    if (value !== null) parsed.set(name, parseConfigValue(entry, value));
  }
  // Kafka's one cross-field check among topic-level values.
  const minLag = parsed.get('min.compaction.lag.ms');
  const maxLag = parsed.get('max.compaction.lag.ms');
  if (typeof minLag === 'bigint' && typeof maxLag === 'bigint' && minLag > maxLag) {
    throw new StrataError(
      'CONFIG_INVALID',
      `conflict topic config setting min.compaction.lag.ms (${minLag}) > max.compaction.lag.ms (${maxLag})`,
    );
  }
}

/**
 * Validates and rewrites topic configs in canonical form ("compact, delete" → "compact,delete",
 * " 100 " → "100", "TRUE" → "true"), which is what a TopicRecord should store.
 */
export function normalizeTopicConfigs(configs: Record<string, string>): Record<string, string> {
  validateTopicConfigs(configs);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(configs)) {
    const entry = TOPIC_BY_NAME.get(name)!;
    out[name] = formatConfigValue(entry.type, parseConfigValue(entry, value));
  }
  return out;
}

/**
 * Resolves every topic config for one topic: the topic's own override, else the broker
 * synonyms in Kafka's precedence (dynamic per-broker, dynamic cluster default, static broker
 * config; within a layer set, log.retention.ms before minutes before hours), else the default.
 *
 * `brokerDefaults` holds the broker configs that were set explicitly (flags, env, properties
 * file: STATIC_BROKER_CONFIG): a BrokerConfig itself, or a plain record such as
 * BrokerConfig.explicitValues; keys that are not topic synonyms are ignored. Values must
 * already be valid (loadBrokerConfig checks them).
 *
 * The synonyms list is ordered so that its head is the value in effect, as Kafka's is, and
 * ends with the broker default (DEFAULT_CONFIG) where the broker synonym has one.
 */
export function resolveTopicConfig(
  topicConfigs: Record<string, string>,
  brokerDefaults: BrokerTopicDefaults = {},
  dynamic: BrokerDynamicLayers = {},
): ResolvedTopicConfig {
  const brokerConfigs = isBrokerConfigLike(brokerDefaults) ? brokerDefaults.topicDefaults : brokerDefaults;
  const layers: [Record<string, string> | undefined, ConfigSourceCode][] = [
    [dynamic.broker, ConfigSource.DYNAMIC_BROKER_CONFIG],
    [dynamic.clusterDefault, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG],
    [brokerConfigs, ConfigSource.STATIC_BROKER_CONFIG],
  ];
  const values: Record<string, unknown> = {};
  const entries: DescribedConfig[] = [];
  for (const entry of TOPIC_CONFIGS) {
    const synonyms: ConfigSynonym[] = [];
    let effective: ParsedValue | undefined;

    const own = topicConfigs[entry.name];
    if (own !== undefined) {
      effective = parseConfigValue(entry, own);
      synonyms.push({ name: entry.name, value: formatConfigValue(entry.type, effective), source: ConfigSource.TOPIC_CONFIG });
    }
    for (const synonym of entry.synonyms) {
      const brokerEntry = BROKER_BY_NAME.get(synonym)!;
      for (const [layer, source] of layers) {
        const raw = layer?.[synonym];
        if (raw === undefined) continue;
        const parsed = parseConfigValue(brokerEntry, raw);
        synonyms.push({ name: synonym, value: formatConfigValue(brokerEntry.type, parsed), source });
        if (effective === undefined) effective = fromBrokerSynonym(entry, synonym, parsed);
      }
    }
    for (const synonym of entry.synonyms) {
      const def = BROKER_BY_NAME.get(synonym)!.default;
      if (def !== null) synonyms.push({ name: synonym, value: def, source: ConfigSource.DEFAULT_CONFIG });
    }
    if (effective === undefined) effective = parseConfigValue(entry, entry.default ?? '');

    const source = synonyms.length > 0 ? synonyms[0].source : ConfigSource.DEFAULT_CONFIG;
    values[entry.name] = typed(effective);
    entries.push({
      name: entry.name,
      value: formatConfigValue(entry.type, effective),
      source,
      isDefault: source === ConfigSource.DEFAULT_CONFIG,
      readOnly: false,
      isSensitive: false,
      synonyms,
      type: configTypeCode(entry.type),
      documentation: entry.doc,
    });
  }
  return { values: values as unknown as TopicConfigValues, entries };
}

/** Converts a broker synonym's value into the topic config's unit and conventions. */
function fromBrokerSynonym(entry: ConfigEntry, synonym: string, parsed: ParsedValue): ParsedValue {
  const scale = SYNONYM_SCALE[synonym];
  let value = parsed;
  if (scale !== undefined) value = BigInt(parsed as number) * scale;
  // Kafka: a negative broker retention in any unit means "no time limit", i.e. -1.
  if (entry.name === 'retention.ms' && typeof value === 'bigint' && value < 0n) value = -1n;
  return value;
}

function typed(v: ParsedValue): unknown {
  return typeof v === 'bigint' ? longToNumber(v) : v;
}

/** local.retention.ms in effect: -2 means "same as retention.ms". */
export function effectiveLocalRetentionMs(v: TopicConfigValues): number {
  return v['local.retention.ms'] === -2 ? v['retention.ms'] : v['local.retention.ms'];
}

/** local.retention.bytes in effect: -2 means "same as retention.bytes". */
export function effectiveLocalRetentionBytes(v: TopicConfigValues): number {
  return v['local.retention.bytes'] === -2 ? v['retention.bytes'] : v['local.retention.bytes'];
}

/**
 * How far behind / ahead of the broker clock a CreateTime timestamp may be. As in Kafka, the
 * deprecated message.timestamp.difference.max.ms applies to a bound left at its default.
 */
export function effectiveTimestampBounds(v: TopicConfigValues): { beforeMaxMs: number; afterMaxMs: number } {
  const unset = Number.MAX_SAFE_INTEGER;
  const diff = v['message.timestamp.difference.max.ms'];
  return {
    beforeMaxMs: v['message.timestamp.before.max.ms'] === unset ? diff : v['message.timestamp.before.max.ms'],
    afterMaxMs: v['message.timestamp.after.max.ms'] === unset ? diff : v['message.timestamp.after.max.ms'],
  };
}
