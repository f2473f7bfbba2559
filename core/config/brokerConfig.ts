import * as fs from 'node:fs';
import { StrataError, isStrataError } from '../common/errors';
import {
  ConfigEntry,
  ConfigSource,
  DescribedConfig,
  ParsedValue,
  Validator,
  configTypeCode,
  describeValidator,
  formatConfigValue,
  longToNumber,
  parseConfigValue,
} from './configDef';
import { closestName } from './didYouMean';
import { parseMetricsListener } from '../metrics/metricsListener';
import { parseProperties } from './properties';
import { readFdLimit } from '../common/fdLimit';
import { AUTHORIZER_CLASS_NAMES } from '../security/authorizer';
import { SECURITY_CONFIGS, parseListenerPrefixedKey, resolveListenerSecurity, type ListenerSecurity } from './securityConfigs';
import type { SecurityProtocol } from '../security/principal';
import { BROKER_TOPIC_DEFAULT_CONFIGS, TOPIC_CONFIGS, brokerSynonymGroup, type BrokerDynamicLayers } from './topicConfig';

/**
 * The broker's own config registry, with Kafka's names wherever Kafka has the concept, and
 * the loader that layers flags over STRATA_* environment variables over a Kafka-style
 * server.properties file over the defaults.
 *
 * Three kinds of entry:
 * - 'kafka': a Kafka broker config Strata implements (num.partitions, listeners, ...), including
 *   the broker-level topic defaults from topicConfig.ts (log.retention.hours, ...);
 * - 'strata': Strata's own (metadata, object.store);
 * - 'ignored': a Kafka config that means nothing to Strata (zookeeper.connect, num.io.threads),
 *   accepted so that a server.properties copied from Kafka loads, and listed as such in the docs.
 */
export type BrokerConfigOrigin = 'kafka' | 'strata' | 'ignored';

export interface BrokerConfigEntry extends ConfigEntry {
  readonly origin: BrokerConfigOrigin;
}

/** One listener to bind: `listeners`' entry, its protocol and what clients are told. */
export interface ListenerConfig extends Listener {
  securityProtocol: SecurityProtocol;
  /** advertised.listeners' entry for it; null: clients are told the bound address. */
  advertised: { host: string; port: number } | null;
  security: ListenerSecurity;
}

export interface Listener {
  /** Upper-case listener name, e.g. PLAINTEXT. */
  name: string;
  /** As written; '' means every interface (as in Kafka), IPv6 without brackets. */
  host: string;
  /** 0 means an ephemeral port, which the broker fills in after binding. */
  port: number;
}

const atLeast = (min: number): Validator => ({ kind: 'range', min });
const INT_MAX = 2147483647;
const perIpOverridesSyntax: Validator = {
  kind: 'custom',
  describe: 'HOST:COUNT,...',
  check: (v) => {
    try {
      parsePerIpOverrides(v as string);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  },
};
// Listeners are checked by loadBrokerConfig, which knows listener.security.protocol.map; the
// validator only gives the docs their "Valid values" text.
const listenersSyntax: Validator = { kind: 'custom', describe: 'NAME://HOST:PORT,...', check: () => null };
const metricsListenerSyntax: Validator = {
  kind: 'custom',
  describe: 'http://HOST:PORT, or empty',
  check: (v) => {
    try {
      parseMetricsListener(v as string);
      return null;
    } catch {
      return 'Expected http://HOST:PORT (port 0 = ephemeral), or empty for no metrics endpoint';
    }
  },
};

const authorizerClassSyntax: Validator = {
  kind: 'custom',
  describe: `empty, or one of ${AUTHORIZER_CLASS_NAMES.join(', ')}`,
  check: (v) => {
    const name = (v as string).trim();
    if (name === '' || AUTHORIZER_CLASS_NAMES.includes(name)) return null;
    return `Strata's authorizer is enabled by one of ${AUTHORIZER_CLASS_NAMES.join(', ')} (or empty for none); '${name}' is not one of them`;
  },
};
const superUsersSyntax: Validator = {
  kind: 'custom',
  describe: 'TYPE:NAME;TYPE:NAME...',
  check: (v) => {
    for (const p of (v as string).split(';').map((x) => x.trim()).filter((x) => x !== '')) {
      if (p.indexOf(':') <= 0) return `'${p}' is not a principal: expected TYPE:NAME, e.g. User:admin`;
    }
    return null;
  },
};

/** super.users: semicolon-separated principals (Kafka's StandardAuthorizer.getConfiguredSuperUsers). */
export function parseSuperUsers(raw: string): string[] {
  return raw.split(';').map((x) => x.trim()).filter((x) => x !== '');
}

function entry(
  origin: BrokerConfigOrigin,
  name: string,
  type: ConfigEntry['type'],
  def: string | null,
  validator: Validator | undefined,
  doc: string,
  synonyms: string[] = [],
): BrokerConfigEntry {
  // Read-only in DescribeConfigs, as Kafka reports its static-only configs: of the broker
  // configs only the topic defaults (topicConfig.ts) can change at run time (`strata configs`).
  return { origin, name, type, default: def, validator, doc, synonyms, isSensitive: false, readOnly: true };
}

const OWN_CONFIGS: BrokerConfigEntry[] = [
  entry('kafka', 'node.id', 'int', '0', atLeast(0), 'This broker\'s id in the cluster.', ['broker.id']),
  entry('kafka', 'broker.id', 'int', null, atLeast(0), 'Older name of node.id; if both are set they must be equal.'),
  entry('kafka', 'broker.rack', 'string', null, undefined, 'Rack (availability zone) of this broker, reported to clients for rack-aware consumption.'),
  entry('kafka', 'listeners', 'string', 'PLAINTEXT://127.0.0.1:9092', listenersSyntax,
    'Where the broker listens, as NAME://HOST:PORT; an empty host means every interface, port 0 an ephemeral port (Kafka\'s default is PLAINTEXT://:9092). ' +
      'Several listeners may be given, each with its own name, port and protocol (listener.security.protocol.map), e.g. SASL_SSL://:9093,INTERNAL://:9094; ' +
      'KRaft controller listeners (those named in controller.listener.names, or CONTROLLER when that is unset) are ignored with a log line.'),
  entry('kafka', 'advertised.listeners', 'string', null, listenersSyntax,
    'What clients are told to connect to, per listener: a client gets the addresses of the listener it connected to. Defaults to listeners, with the bound port when it was 0. Controller listeners in it are ignored, as Kafka does.'),
  entry('kafka', 'listener.security.protocol.map', 'string', 'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL', undefined,
    'Security protocol of each listener name, as NAME:PROTOCOL pairs: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT, SASL_SSL (SASL over TLS).'),
  entry('kafka', 'log.dirs', 'string', null, undefined, 'The directory holding segments and the embedded metadata store (--data-dir); Strata supports one.'),
  entry('kafka', 'log.dir', 'string', './data', undefined, 'The data directory when log.dirs is not set.'),
  entry('kafka', 'auto.create.topics.enable', 'boolean', 'true', undefined, 'Whether a Metadata request for an unknown topic creates it.'),
  entry('kafka', 'num.partitions', 'int', '1', atLeast(1), 'Partitions of a topic created without a partition count.'),
  entry('kafka', 'default.replication.factor', 'int', '1', atLeast(1), 'Replication factor of a topic created without one.'),
  entry('kafka', 'socket.request.max.bytes', 'int', '104857600', atLeast(1), 'Largest request the broker reads; a larger size prefix closes the connection.'),
  entry('kafka', 'delete.topic.enable', 'boolean', 'true', undefined, 'Whether DeleteTopics is allowed.'),
  entry('kafka', 'connections.max.idle.ms', 'long', '600000', undefined, 'Idle connections are closed after this long.'),
  entry('kafka', 'max.connections', 'int', String(INT_MAX), atLeast(0),
    'Most connections the broker holds at once. A new connection beyond it is closed as soon as it is accepted, with a log line (at most one per 10 s, with a count of the rest); Kafka instead stops accepting until a connection closes.'),
  entry('kafka', 'max.connections.per.ip', 'int', String(INT_MAX), atLeast(0),
    'Most connections from one IP address, unless max.connections.per.ip.overrides names it; a new connection beyond it is closed with a log line, as in Kafka. 0 only together with overrides.'),
  entry('kafka', 'max.connections.per.ip.overrides', 'string', '', perIpOverridesSyntax,
    'Per-address exceptions to max.connections.per.ip, as HOST:COUNT pairs, e.g. hostName:100,127.0.0.1:200 (host names are resolved when the listener starts).'),
  entry('kafka', 'group.initial.rebalance.delay.ms', 'int', '3000', undefined, 'How long the first rebalance of an empty group waits for more members.'),
  entry('kafka', 'group.min.session.timeout.ms', 'int', '6000', undefined, 'Shortest session timeout a consumer may ask for.'),
  entry('kafka', 'group.max.session.timeout.ms', 'int', '1800000', undefined, 'Longest session timeout a consumer may ask for.'),
  entry('kafka', 'offsets.retention.minutes', 'int', '10080', atLeast(1), 'Committed offsets of an empty group are dropped after this long.'),
  entry('kafka', 'offsets.retention.check.interval.ms', 'long', '600000', atLeast(1), 'How often the group coordinator looks for expired offsets.'),
  entry('kafka', 'offset.metadata.max.bytes', 'int', '4096', atLeast(0), 'Longest metadata string an offset commit may carry (OFFSET_METADATA_TOO_LARGE beyond it).'),
  entry('kafka', 'group.max.size', 'int', '2147483647', atLeast(1), 'Most members a consumer group may have (GROUP_MAX_SIZE_REACHED beyond it).'),
  entry('kafka', 'transaction.max.timeout.ms', 'int', '900000', atLeast(1), 'Longest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond it).'),
  entry('kafka', 'transactional.id.expiration.ms', 'int', '604800000', atLeast(1), 'A transactional id with no transaction for this long is forgotten.'),
  entry('kafka', 'transaction.abort.timed.out.transaction.cleanup.interval.ms', 'int', '10000', atLeast(1), 'How often the transaction coordinator aborts transactions open longer than their transaction.timeout.ms.'),
  entry('kafka', 'transaction.remove.expired.transaction.cleanup.interval.ms', 'int', '3600000', atLeast(1), 'How often the transaction coordinator forgets transactional ids past transactional.id.expiration.ms.'),
  entry('kafka', 'producer.id.expiration.ms', 'int', '86400000', atLeast(1), 'A partition forgets an idempotent producer (its sequence numbers) after this long without a write from it, unless it has a transaction open.'),
  entry('kafka', 'producer.id.expiration.check.interval.ms', 'int', '600000', atLeast(1), 'How often partitions look for producers past producer.id.expiration.ms.'),
  entry('kafka', 'log.retention.check.interval.ms', 'long', '300000', atLeast(1), 'How often closed segments past retention.ms / retention.bytes are looked for and deleted.'),
  entry('kafka', 'log.cleaner.enable', 'boolean', 'true', undefined, 'Whether the log cleaner compacts topics whose cleanup.policy includes compact.'),
  entry('kafka', 'log.cleaner.backoff.ms', 'long', '15000', atLeast(0), 'How long the cleaner waits before looking again when no compacted partition was due for cleaning (after a round that cleaned, it looks again at once).'),
  entry('kafka', 'log.cleaner.dedupe.buffer.size', 'long', '134217728', atLeast(0), 'Memory for the cleaner\'s key → offset map (bounds how much of a log one pass can deduplicate).'),
  entry('kafka', 'log.cleaner.io.buffer.load.factor', 'double', '0.9', undefined, 'How full the cleaner\'s offset map may get before a pass stops.'),
  entry('strata', 'log.dir.free.space.warn.bytes', 'long', '1073741824', atLeast(0),
    'Free space on the disk holding log.dirs below which the broker logs a warning (at most once a minute while it stays low); 0 turns it off. The strata_log_dir_free_bytes metric shows the free space. Kafka has no such setting.'),
  entry('strata', 'log.max.open.files', 'int', null, atLeast(1),
    'Segment and index file descriptors the broker keeps open at once; beyond it the least recently used are closed (and reopened when used again), so descriptor use follows the partitions being written and read, not every partition on disk. Default: half of the open-file limit (ulimit -n) at start, at least 64. Kafka keeps every segment open instead.'),
  entry('strata', 'fetch.response.max.buffer.bytes', 'long', '67108864', atLeast(1),
    'Memory for fetched record bytes being sent, across all connections, where they cannot go zero-copy (sendfile): each connection reads at most 256 KiB of a segment at a time, as its socket drains, and 16 KiB at a time once this is spent (so stalled readers cannot starve the others; the most held is this plus 16 KiB per connection). With sendfile no record byte enters the broker\'s memory.'),
  entry('kafka', 'broker.session.timeout.ms', 'int', '9000', atLeast(1),
    'How long the broker\'s registration (its lease in the metadata store) lasts without a heartbeat. A broker that cannot renew it for this long stops (fenced); a new broker with the same node.id takes over after seeing no renewal for this long.'),
  entry('kafka', 'broker.heartbeat.interval.ms', 'int', '250', atLeast(1),
    'How often the broker renews its registration lease in the metadata store (and polls it for cluster changes); must be less than broker.liveness.timeout.ms. Kafka\'s default is 2000; Strata\'s is shorter because leader failover waits for missed heartbeats.'),
  entry('strata', 'broker.liveness.timeout.ms', 'int', '1500', atLeast(1),
    'How long a broker counts as alive in a cluster after its last successful heartbeat: past it, it stops acting as a partition leader (by its own clock), and the controller, having seen no heartbeat for as long, elects new leaders and shrinks ISRs. Between broker.heartbeat.interval.ms and broker.session.timeout.ms. Kafka folds this into broker.session.timeout.ms (9000), which here only guards node.id against a second process.'),
  entry('kafka', 'replica.lag.time.max.ms', 'long', '30000', atLeast(1),
    'A follower that has not caught up with the leader\'s log end for this long is removed from the ISR.'),
  entry('kafka', 'replica.fetch.wait.max.ms', 'int', '500', atLeast(0), 'How long a follower\'s fetch waits at the leader for new data.'),
  entry('kafka', 'replica.fetch.max.bytes', 'int', '1048576', atLeast(0), 'Record bytes a follower asks for per partition in one fetch (the first batch is returned whole even if larger).'),
  entry('kafka', 'replica.fetch.response.max.bytes', 'int', '10485760', atLeast(0), 'Record bytes a follower asks for in one fetch across partitions.'),
  entry('kafka', 'replica.fetch.backoff.ms', 'int', '1000', atLeast(0), 'How long a follower waits after a failed fetch.'),
  entry('kafka', 'auto.leader.rebalance.enable', 'boolean', 'true', undefined,
    'The controller moves leadership back to the preferred replica (the first in the assignment) once it is alive and in sync.'),
  entry('kafka', 'quota.window.num', 'int', '11', atLeast(1),
    'Samples a client quota\'s rate is measured over (producer_byte_rate, consumer_byte_rate, request_percentage; set with `strata configs --entity-type users|clients`). A rate is taken over at least quota.window.num - 1 whole samples, so a client\'s first burst is spread over them.'),
  entry('kafka', 'quota.window.size.seconds', 'int', '1', atLeast(1), 'Length of each of the quota.window.num samples a client quota\'s rate is measured over.'),
  entry('kafka', 'leader.imbalance.check.interval.seconds', 'long', '300', atLeast(1), 'How often the controller looks for partitions to give back to their preferred leader.'),
  entry('strata', 'metadata', 'string', 'embedded:', undefined,
    'Metadata store URL: embedded:PATH (default embedded: = <log.dirs>/meta) or dynamodb://TABLE_PREFIX.'),
  entry('strata', 'object.store', 'string', 'file:', undefined,
    'Object store URL for tiered segments: file://PATH (default file: = <log.dirs>/tier) or s3://BUCKET/PREFIX.'),
  entry('strata', 'metrics.listener', 'string', '', metricsListenerSyntax,
    'Where the broker serves its metrics in Prometheus text format (GET /metrics), as http://HOST:PORT; port 0 = ephemeral, empty (the default) = no metrics endpoint.'),
  entry('kafka', 'authorizer.class.name', 'string', '', authorizerClassSyntax,
    'The authorizer that checks every request against the ACLs: each of the valid values (Kafka\'s class names, and Strata\'s) means Strata\'s own, with the semantics of Kafka\'s StandardAuthorizer (ACLs in the metadata store, seen by every broker within a second). ' +
      'Empty (the default): no authorization, every client may do everything, and CreateAcls / DescribeAcls / DeleteAcls answer SECURITY_DISABLED.'),
  entry('kafka', 'super.users', 'string', '', superUsersSyntax,
    'Principals allowed everything whatever the ACLs say, separated by semicolons, e.g. User:admin;User:broker.'),
  entry('kafka', 'allow.everyone.if.no.acl.found', 'boolean', 'false', undefined,
    'With an authorizer: whether a resource no ACL names at all (no literal, prefixed or `*` pattern matches it, whoever the ACLs are for) is open to everyone. As in Kafka, once any ACL matches a resource only the ACLs decide.'),
];

// Kafka configs that configure machinery Strata does not have. Accepting them lets a Kafka
// server.properties load unchanged; the docs list them as having no effect.
const IGNORED: [string, ConfigEntry['type'], string | null][] = [
  ['num.network.threads', 'int', '3'],
  ['num.io.threads', 'int', '8'],
  ['socket.send.buffer.bytes', 'int', '102400'],
  ['socket.receive.buffer.bytes', 'int', '102400'],
  ['num.recovery.threads.per.data.dir', 'int', '2'],
  ['num.replica.fetchers', 'int', '1'],
  ['offsets.topic.replication.factor', 'short', '3'],
  ['offsets.topic.num.partitions', 'int', '50'],
  ['transaction.state.log.replication.factor', 'short', '3'],
  ['transaction.state.log.min.isr', 'int', '2'],
  ['log.cleaner.threads', 'int', '1'],
  ['zookeeper.connect', 'string', null],
  ['zookeeper.connection.timeout.ms', 'int', null],
  ['process.roles', 'list', ''],
  ['share.coordinator.state.topic.replication.factor', 'short', '3'],
  ['share.coordinator.state.topic.min.isr', 'short', '2'],
  ['metadata.log.dir', 'string', null],
  ['zookeeper.session.timeout.ms', 'int', '18000'],
  ['controller.quorum.voters', 'list', ''],
  ['controller.quorum.bootstrap.servers', 'list', ''],
  ['controller.listener.names', 'string', null],
  ['group.coordinator.rebalance.protocols', 'list', 'classic,consumer'],
];

const IGNORED_CONFIGS: BrokerConfigEntry[] = IGNORED.map(([name, type, def]) =>
  entry('ignored', name, type, def, undefined, 'Kafka setting accepted for compatibility; it has no effect in Strata.'),
);

/** Every broker config, sorted by name. */
export const BROKER_CONFIGS: readonly BrokerConfigEntry[] = [
  ...OWN_CONFIGS,
  ...SECURITY_CONFIGS.map((c) => ({ ...c, origin: 'kafka' as const, readOnly: true })),
  ...BROKER_TOPIC_DEFAULT_CONFIGS.map((e) => ({ ...e, origin: 'kafka' as const })),
  ...IGNORED_CONFIGS,
].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

const BY_NAME = new Map(BROKER_CONFIGS.map((e) => [e.name, e]));

export function brokerConfigEntry(name: string): BrokerConfigEntry | undefined {
  return BY_NAME.get(name);
}

/** Where an explicitly set broker config came from. */
export type BrokerConfigLayer = 'flag' | 'env' | 'file';

export interface BrokerConfig {
  nodeId: number;
  brokerRack: string | null;
  /**
   * The client listeners Strata binds, in the order of `listeners` (KRaft controller listeners
   * left out with a warning), each with its protocol, advertised address and security settings.
   */
  listeners: ListenerConfig[];
  /** The listener brokers reach each other on (inter.broker.listener.name, resolved). */
  interBrokerListenerName: string;
  /** sasl.mechanism.inter.broker.protocol */
  saslMechanismInterBrokerProtocol: string;
  /** The one data directory, as given (log.dirs, else log.dir); resolve it against the cwd. */
  logDirs: string;
  autoCreateTopicsEnable: boolean;
  numPartitions: number;
  defaultReplicationFactor: number;
  socketRequestMaxBytes: number;
  messageMaxBytes: number;
  deleteTopicEnable: boolean;
  connectionsMaxIdleMs: number;
  /** max.connections */
  maxConnections: number;
  /** max.connections.per.ip */
  maxConnectionsPerIp: number;
  /** max.connections.per.ip.overrides, parsed: host or IP address → its limit. */
  maxConnectionsPerIpOverrides: Record<string, number>;
  groupInitialRebalanceDelayMs: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  offsetsRetentionMinutes: number;
  offsetsRetentionCheckIntervalMs: number;
  offsetMetadataMaxBytes: number;
  groupMaxSize: number;
  logRetentionCheckIntervalMs: number;
  transactionMaxTimeoutMs: number;
  transactionalIdExpirationMs: number;
  transactionAbortTimedOutTransactionCleanupIntervalMs: number;
  transactionRemoveExpiredTransactionCleanupIntervalMs: number;
  producerIdExpirationMs: number;
  producerIdExpirationCheckIntervalMs: number;
  logCleanerEnable: boolean;
  logCleanerBackoffMs: number;
  logCleanerDedupeBufferSize: number;
  logCleanerIoBufferLoadFactor: number;
  /** log.dir.free.space.warn.bytes: warn below this much free space on the data dir's disk; 0 = never. */
  logDirFreeSpaceWarnBytes: number;
  /** log.max.open.files, resolved (half the open-file limit by default). */
  logMaxOpenFiles: number;
  /** fetch.response.max.buffer.bytes */
  fetchResponseMaxBufferBytes: number;
  /** broker.session.timeout.ms: the registration lease's length (core/meta/brokerLease.ts). */
  brokerSessionTimeoutMs: number;
  /** broker.heartbeat.interval.ms: how often the lease is renewed; less than the session timeout. */
  brokerHeartbeatIntervalMs: number;
  /** broker.liveness.timeout.ms: how long after its last heartbeat a broker may lead (core/cluster/leadershipGuard.ts). */
  brokerLivenessTimeoutMs: number;
  /** replica.lag.time.max.ms */
  replicaLagTimeMaxMs: number;
  replicaFetchWaitMaxMs: number;
  replicaFetchMaxBytes: number;
  replicaFetchResponseMaxBytes: number;
  replicaFetchBackoffMs: number;
  autoLeaderRebalanceEnable: boolean;
  /** leader.imbalance.check.interval.seconds, in ms. */
  leaderImbalanceCheckIntervalMs: number;
  /** quota.window.num: samples a client quota's rate is measured over. */
  quotaWindowNum: number;
  /** quota.window.size.seconds: each sample's length. */
  quotaWindowSizeSeconds: number;
  /** Metadata store URL (see core/meta/url.ts). */
  metadata: string;
  /** Object store URL (see core/tier/url.ts). */
  objectStore: string;
  /** metrics.listener, validated: http://HOST:PORT, or '' when there is no metrics endpoint (parse it with parseMetricsListener). */
  metricsListener: string;
  /** authorizer.class.name: '' (no authorization) or one of AUTHORIZER_CLASS_NAMES, all meaning Strata's authorizer. */
  authorizerClassName: string;
  /** super.users, parsed: principals as 'User:alice' strings. */
  superUsers: string[];
  allowEveryoneIfNoAclFound: boolean;
  /**
   * Every config set explicitly (flags, env, file), in canonical string form, by Kafka name.
   * These are Kafka's STATIC_BROKER_CONFIG values; the topic-default synonyms among them
   * (log.retention.hours, ...) are what resolveTopicConfig reads.
   */
  explicitValues: Record<string, string>;
  /** Which layer each explicit value came from, for error messages and startup logs. */
  explicitOrigins: Record<string, BrokerConfigLayer>;
  /** Non-fatal findings (an unrecognised STRATA_* variable, an ignored Kafka config), for the startup log. */
  warnings: string[];
  /** Same as explicitValues: lets `resolveTopicConfig(topicConfigs, brokerConfig)` take the whole config. */
  topicDefaults: Record<string, string>;
}

export interface LoadBrokerConfigOptions {
  /** Kafka names (log.retention.ms); kebab-case (log-retention-ms) and data-dir are accepted too. */
  flags: Record<string, string>;
  /** STRATA_LOG_RETENTION_MS=… sets log.retention.ms. */
  env?: NodeJS.ProcessEnv;
  /** Path of a Kafka-style server.properties file. */
  file?: string;
}

/** STRATA_* variables that are not broker configs (logging, test harness). */
const NON_CONFIG_ENV = new Set(['STRATA_LOG_LEVEL', 'STRATA_PYTHON', 'STRATA_SKIP_BUILD', 'STRATA_TEST_BACKEND']);
const ENV_PREFIX = 'STRATA_';

/** Strata's flag spellings that are not a Kafka name with dots turned into dashes. */
const FLAG_ALIASES: Record<string, string> = { 'data-dir': 'log.dirs' };

function flagToName(flag: string): string {
  const bare = flag.replace(/^--?/, '');
  if (bare.startsWith('listener.name.')) return bare;
  return FLAG_ALIASES[bare] ?? (BY_NAME.has(bare) ? bare : bare.replace(/-/g, '.'));
}

function envToName(variable: string): string {
  return variable.slice(ENV_PREFIX.length).toLowerCase().replace(/_/g, '.');
}

/** A registry name, or a valid listener.name.<listener>.<config> (a malformed one throws, saying why). */
function isBrokerConfigName(name: string, where: string): boolean {
  return BY_NAME.has(name) || withWhere(where, () => parseListenerPrefixedKey(name)) !== null;
}

function listenerKey(listener: string, name: string, mechanism: string | null = null): string {
  return `${listener}\0${mechanism ?? ''}\0${name}`;
}

function unknownBrokerConfig(name: string, where: string): StrataError {
  const hint = closestName(name, BY_NAME.keys());
  let message = `Unknown broker config '${name}' (${where}).`;
  if (hint !== undefined) message += ` Did you mean '${hint}'?`;
  // A topic config given to the broker is a common slip: name its broker-level default.
  const topic = TOPIC_CONFIGS.find((t) => t.name === name);
  if (topic) {
    message += ` '${name}' is a topic config; its broker-level default is ${topic.synonyms[0] ?? 'not configurable'}.`;
  }
  return new StrataError('CONFIG_UNKNOWN', message);
}

/**
 * Loads the broker config: flags > env (STRATA_*) > properties file > defaults, each key
 * independently. Kafka's synonym rules then choose between keys, whatever layer each came
 * from (log.retention.ms beats log.retention.hours even if the hours came from a flag), which
 * is also how Kafka merges dynamic over static configs.
 *
 * Unknown keys in flags or the file are errors with a did-you-mean hint; an unknown STRATA_*
 * variable is only a warning, because the environment is shared with other tools.
 */
export function loadBrokerConfig(opts: LoadBrokerConfigOptions): BrokerConfig {
  const values = new Map<string, { raw: string; layer: BrokerConfigLayer; where: string }>();
  const warnings: string[] = [];

  if (opts.file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new StrataError('CONFIG_INVALID', `Cannot read config file ${opts.file}: ${(e as Error).message}`, { cause: e });
    }
    for (const { key, value, line } of parseProperties(text)) {
      const where = `${opts.file} line ${line}`;
      if (!isBrokerConfigName(key, where)) throw unknownBrokerConfig(key, where);
      values.set(key, { raw: value, layer: 'file', where });
    }
  }
  for (const [variable, value] of Object.entries(opts.env ?? {})) {
    if (!variable.startsWith(ENV_PREFIX) || NON_CONFIG_ENV.has(variable) || value === undefined) continue;
    const name = envToName(variable);
    if (!isBrokerConfigName(name, `environment variable ${variable}`)) {
      const hint = closestName(name, BY_NAME.keys());
      warnings.push(
        `Ignoring environment variable ${variable}: '${name}' is not a broker config.` +
          (hint !== undefined ? ` Did you mean ${ENV_PREFIX}${hint.toUpperCase().replace(/\./g, '_')}?` : ''),
      );
      continue;
    }
    values.set(name, { raw: value, layer: 'env', where: `environment variable ${variable}` });
  }
  for (const [flag, value] of Object.entries(opts.flags)) {
    const name = flagToName(flag);
    const where = `flag --${flag.replace(/^--?/, '')}`;
    if (!isBrokerConfigName(name, where)) throw unknownBrokerConfig(name, where);
    values.set(name, { raw: value, layer: 'flag', where });
  }

  const explicitValues: Record<string, string> = {};
  const explicitOrigins: Record<string, BrokerConfigLayer> = {};
  const parsed = new Map<string, ParsedValue>();
  /** listener.name.<listener>.[<mechanism>.]<config> values, by listenerKey(). */
  const perListener = new Map<string, ParsedValue>();
  // Kafka settings Strata has no use for, by where they came from: one log line per source.
  const ignoredBySource = new Map<string, string[]>();
  for (const [name, { raw, layer, where }] of [...values].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const prefixed = BY_NAME.has(name) ? null : parseListenerPrefixedKey(name)!;
    const e = BY_NAME.get(prefixed?.name ?? name)!;
    const v = withWhere(where, () => parseConfigValue(e, raw));
    if (prefixed !== null) perListener.set(listenerKey(prefixed.listener, prefixed.name, prefixed.mechanism), v);
    else parsed.set(name, v);
    explicitValues[name] = formatConfigValue(e.type, v);
    explicitOrigins[name] = layer;
    if (e.origin === 'ignored') {
      const source = layer === 'file' ? opts.file! : layer === 'env' ? 'environment' : 'flags';
      ignoredBySource.set(source, [...(ignoredBySource.get(source) ?? []), name]);
    }
  }
  for (const [source, names] of ignoredBySource) {
    warnings.push(`Ignoring Kafka settings Strata has no use for (${source}): ${names.join(', ')}.`);
  }

  const get = (name: string): ParsedValue | null => {
    const v = parsed.get(name);
    if (v !== undefined) return v;
    const def = BY_NAME.get(name)!.default;
    return def === null ? null : parseConfigValue(BY_NAME.get(name)!, def);
  };
  const int = (name: string): number => {
    const v = get(name);
    return typeof v === 'bigint' ? longToNumber(v) : (v as number);
  };

  const nodeId = parsed.get('node.id');
  const brokerId = parsed.get('broker.id');
  if (nodeId !== undefined && brokerId !== undefined && nodeId !== brokerId) {
    throw new StrataError(
      'CONFIG_INVALID',
      `If both broker.id and node.id are set, they must be equal (node.id=${nodeId}, broker.id=${brokerId}).`,
    );
  }

  const logDirs = ((get('log.dirs') ?? get('log.dir')) as string).trim();
  const dirs = logDirs.split(/\s*,\s*/).filter((d) => d !== '');
  if (dirs.length !== 1) {
    throw new StrataError(
      'CONFIG_INVALID',
      `Strata keeps its data in one directory, but log.dirs lists ${dirs.length}: '${logDirs}'.`,
    );
  }

  const listeners = get('listeners') as string;
  const advertised = get('advertised.listeners') as string | null;
  const protocolMap = get('listener.security.protocol.map') as string;
  const whereOf = (name: string): string => values.get(name)?.where ?? 'default';
  if (int('broker.heartbeat.interval.ms') >= int('broker.session.timeout.ms')) {
    throw new StrataError(
      'CONFIG_INVALID',
      `broker.heartbeat.interval.ms (${int('broker.heartbeat.interval.ms')}, ${whereOf('broker.heartbeat.interval.ms')}) must be less than ` +
        `broker.session.timeout.ms (${int('broker.session.timeout.ms')}, ${whereOf('broker.session.timeout.ms')}).`,
    );
  }
  // Unset, it never exceeds a shorter session timeout.
  const liveness = values.has('broker.liveness.timeout.ms') ? int('broker.liveness.timeout.ms') : Math.min(int('broker.liveness.timeout.ms'), int('broker.session.timeout.ms'));
  if (liveness <= int('broker.heartbeat.interval.ms') || liveness > int('broker.session.timeout.ms')) {
    throw new StrataError(
      'CONFIG_INVALID',
      `broker.liveness.timeout.ms (${liveness}, ${whereOf('broker.liveness.timeout.ms')}) must be more than broker.heartbeat.interval.ms (${int('broker.heartbeat.interval.ms')}, ${whereOf('broker.heartbeat.interval.ms')}) ` +
        `and at most broker.session.timeout.ms (${int('broker.session.timeout.ms')}, ${whereOf('broker.session.timeout.ms')}).`,
    );
  }
  const readForListener = (listener: string, name: string, mechanism?: string): ParsedValue | null =>
    (mechanism !== undefined ? perListener.get(listenerKey(listener, name, mechanism)) : undefined) ?? perListener.get(listenerKey(listener, name)) ?? get(name);
  const served = resolveListeners({
    listeners,
    advertised,
    protocolMap,
    controllerListenerNames: get('controller.listener.names') as string | null,
    interBrokerListenerName: get('inter.broker.listener.name') as string | null,
    securityInterBrokerProtocol: get('security.inter.broker.protocol') as string | null,
    whereOf,
    warnings,
    security: (listener, protocol) => resolveListenerSecurity(listener, protocol, readForListener),
  });

  const maxConnectionsPerIp = int('max.connections.per.ip');
  const perIpOverrides = parsePerIpOverrides(get('max.connections.per.ip.overrides') as string);
  if (maxConnectionsPerIp === 0 && Object.keys(perIpOverrides).length === 0) {
    throw new StrataError(
      'CONFIG_INVALID',
      `max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set (${whereOf('max.connections.per.ip')}).`,
    );
  }

  return {
    nodeId: int(brokerId !== undefined && nodeId === undefined ? 'broker.id' : 'node.id'),
    brokerRack: (get('broker.rack') as string | null) ?? null,
    listeners: served.listeners,
    interBrokerListenerName: served.interBrokerListenerName,
    saslMechanismInterBrokerProtocol: get('sasl.mechanism.inter.broker.protocol') as string,
    logDirs: dirs[0],
    autoCreateTopicsEnable: get('auto.create.topics.enable') as boolean,
    numPartitions: int('num.partitions'),
    defaultReplicationFactor: int('default.replication.factor'),
    socketRequestMaxBytes: int('socket.request.max.bytes'),
    messageMaxBytes: int('message.max.bytes'),
    deleteTopicEnable: get('delete.topic.enable') as boolean,
    connectionsMaxIdleMs: int('connections.max.idle.ms'),
    maxConnections: int('max.connections'),
    maxConnectionsPerIp,
    maxConnectionsPerIpOverrides: perIpOverrides,
    groupInitialRebalanceDelayMs: int('group.initial.rebalance.delay.ms'),
    groupMinSessionTimeoutMs: int('group.min.session.timeout.ms'),
    groupMaxSessionTimeoutMs: int('group.max.session.timeout.ms'),
    offsetsRetentionMinutes: int('offsets.retention.minutes'),
    offsetsRetentionCheckIntervalMs: int('offsets.retention.check.interval.ms'),
    offsetMetadataMaxBytes: int('offset.metadata.max.bytes'),
    groupMaxSize: int('group.max.size'),
    logRetentionCheckIntervalMs: int('log.retention.check.interval.ms'),
    transactionMaxTimeoutMs: int('transaction.max.timeout.ms'),
    transactionalIdExpirationMs: int('transactional.id.expiration.ms'),
    transactionAbortTimedOutTransactionCleanupIntervalMs: int('transaction.abort.timed.out.transaction.cleanup.interval.ms'),
    transactionRemoveExpiredTransactionCleanupIntervalMs: int('transaction.remove.expired.transaction.cleanup.interval.ms'),
    producerIdExpirationMs: int('producer.id.expiration.ms'),
    producerIdExpirationCheckIntervalMs: int('producer.id.expiration.check.interval.ms'),
    logCleanerEnable: get('log.cleaner.enable') as boolean,
    logCleanerBackoffMs: int('log.cleaner.backoff.ms'),
    logCleanerDedupeBufferSize: int('log.cleaner.dedupe.buffer.size'),
    logCleanerIoBufferLoadFactor: get('log.cleaner.io.buffer.load.factor') as number,
    logDirFreeSpaceWarnBytes: int('log.dir.free.space.warn.bytes'),
    logMaxOpenFiles: get('log.max.open.files') === null ? defaultMaxOpenFiles() : int('log.max.open.files'),
    fetchResponseMaxBufferBytes: int('fetch.response.max.buffer.bytes'),
    brokerSessionTimeoutMs: int('broker.session.timeout.ms'),
    brokerHeartbeatIntervalMs: int('broker.heartbeat.interval.ms'),
    brokerLivenessTimeoutMs: liveness,
    replicaLagTimeMaxMs: int('replica.lag.time.max.ms'),
    replicaFetchWaitMaxMs: int('replica.fetch.wait.max.ms'),
    replicaFetchMaxBytes: int('replica.fetch.max.bytes'),
    replicaFetchResponseMaxBytes: int('replica.fetch.response.max.bytes'),
    replicaFetchBackoffMs: int('replica.fetch.backoff.ms'),
    autoLeaderRebalanceEnable: get('auto.leader.rebalance.enable') as boolean,
    leaderImbalanceCheckIntervalMs: int('leader.imbalance.check.interval.seconds') * 1000,
    quotaWindowNum: int('quota.window.num'),
    quotaWindowSizeSeconds: int('quota.window.size.seconds'),
    metadata: get('metadata') as string,
    objectStore: get('object.store') as string,
    metricsListener: get('metrics.listener') as string,
    authorizerClassName: (get('authorizer.class.name') as string).trim(),
    superUsers: parseSuperUsers(get('super.users') as string),
    allowEveryoneIfNoAclFound: get('allow.everyone.if.no.acl.found') as boolean,
    explicitValues,
    explicitOrigins,
    warnings,
    topicDefaults: explicitValues,
  };
}

/** Runs `fn`, adding where a bad value came from to any StrataError it throws. */
function withWhere<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isStrataError(err)) throw new StrataError(err.code, `${err.message} (${where})`, { cause: err });
    throw err;
  }
}

const SECURITY_PROTOCOLS = new Set(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']);
// NAME://HOST:PORT where HOST may be empty, a name, an IPv4 address or a bracketed IPv6 address.
const LISTENER = /^([A-Za-z0-9_]+):\/\/(\[[0-9A-Fa-f:.%a-zA-Z]*\]|[^:/[\]\s]*):(-?\d+)$/;

/** One NAME://HOST:PORT entry of a listeners string, before its name is mapped to a protocol. */
interface Endpoint extends Listener {
  /** As written, for messages. */
  item: string;
}

function parseEndpoints(s: string): Endpoint[] {
  const items = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (items.length === 0) throw new StrataError('CONFIG_INVALID', `No listeners in '${s}': expected NAME://HOST:PORT, e.g. PLAINTEXT://127.0.0.1:9092.`);
  const out: Endpoint[] = [];
  for (const item of items) {
    const m = LISTENER.exec(item);
    if (!m) {
      throw new StrataError('CONFIG_INVALID', `Unable to parse ${item} to a broker endpoint: expected NAME://HOST:PORT, e.g. PLAINTEXT://127.0.0.1:9092.`);
    }
    const name = m[1].toUpperCase();
    const host = m[2].startsWith('[') ? m[2].slice(1, -1) : m[2];
    const port = Number(m[3]);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new StrataError('CONFIG_INVALID', `Invalid port ${m[3]} in listener ${item}: must be 0..65535 (0 = ephemeral).`);
    }
    if (out.some((l) => l.name === name)) {
      throw new StrataError('CONFIG_INVALID', `Each listener must have a different name, listeners: ${s}`);
    }
    out.push({ name, host, port, item });
  }
  return out;
}

/** Each endpoint with its security protocol from listener.security.protocol.map. */
function withProtocols(endpoints: Endpoint[], map: Map<string, string>): (Endpoint & { securityProtocol: SecurityProtocol })[] {
  return endpoints.map((l) => {
    const protocol = map.get(l.name);
    if (protocol === undefined) {
      throw new StrataError('CONFIG_INVALID', `No security protocol defined for listener ${l.name} (add it to listener.security.protocol.map).`);
    }
    return { ...l, securityProtocol: protocol as SecurityProtocol };
  });
}

/**
 * Parses a Kafka listeners string: comma-separated NAME://HOST:PORT. Names map to a security
 * protocol through listener.security.protocol.map (by default each protocol name maps to
 * itself); a name with no mapping is refused.
 */
export function parseListeners(
  s: string,
  protocolMap = 'PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
): (Listener & { securityProtocol: SecurityProtocol })[] {
  return withProtocols(parseEndpoints(s), parseProtocolMap(protocolMap)).map(({ name, host, port, securityProtocol }) => ({ name, host, port, securityProtocol }));
}

/** NAME://HOST:PORT, with an IPv6 host in brackets. */
export function formatListener(name: string, l: { host: string; port: number }): string {
  return `${name}://${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
}

interface ResolveListenersInput {
  listeners: string;
  advertised: string | null;
  protocolMap: string;
  controllerListenerNames: string | null;
  interBrokerListenerName: string | null;
  securityInterBrokerProtocol: string | null;
  whereOf: (name: string) => string;
  warnings: string[];
  security: (listener: string, protocol: SecurityProtocol) => ListenerSecurity;
}

/**
 * Picks the listeners Strata binds, as Kafka picks its data-plane listeners
 * (KafkaConfig.dataPlaneListeners, effectiveAdvertisedBrokerListeners): listeners named in
 * controller.listener.names are the KRaft controller's, which Strata does not have, so they
 * are left out of listeners and advertised.listeners with one warning naming them (their
 * security mapping is not needed). When controller.listener.names is unset, a listener called
 * CONTROLLER is taken to be one too. A file that names no client listener is refused. Every
 * other listener is bound, each with its own protocol and security settings; the
 * inter-broker listener is inter.broker.listener.name, else the listener of
 * security.inter.broker.protocol, else PLAINTEXT when there is one, else the first.
 */
function resolveListeners(input: ResolveListenersInput): { listeners: ListenerConfig[]; interBrokerListenerName: string } {
  const { whereOf, warnings } = input;
  const map = parseProtocolMap(input.protocolMap);
  const controllerNames = new Set(
    (input.controllerListenerNames ?? '')
      .split(',')
      .map((n) => n.trim().toUpperCase())
      .filter((n) => n !== ''),
  );
  if (input.controllerListenerNames === null) controllerNames.add('CONTROLLER');
  const isController = (l: Endpoint): boolean => controllerNames.has(l.name);

  const all = withWhere(whereOf('listeners'), () => parseEndpoints(input.listeners));
  const controllers = all.filter(isController);
  const clients = withWhere(whereOf('listeners'), () => withProtocols(all.filter((l) => !isController(l)), map));
  if (clients.length === 0) {
    throw new StrataError(
      'CONFIG_INVALID',
      `listeners (${whereOf('listeners')}) names no listener for clients: ${controllers.map((l) => l.item).join(', ')} ` +
        `${controllers.length === 1 ? 'is a KRaft controller listener' : 'are KRaft controller listeners'} (controller.listener.names), which Strata has no use for. ` +
        'Add a client listener, e.g. listeners=PLAINTEXT://:9092,' + controllers.map((l) => l.item).join(',') + ', or pass --listeners PLAINTEXT://127.0.0.1:9092.',
    );
  }
  const ports = new Map<number, string>();
  for (const l of clients) {
    const other = l.port === 0 ? undefined : ports.get(l.port);
    if (other !== undefined) throw new StrataError('CONFIG_INVALID', `Listeners ${other} and ${l.name} both use port ${l.port} (${whereOf('listeners')}).`);
    ports.set(l.port, l.name);
  }
  const ignoredNotes: string[] = [];
  if (controllers.length > 0) ignoredNotes.push(`${controllers.map((l) => l.item).join(', ')} (KRaft controller: Strata has no controller quorum)`);

  const advertisedByName = new Map<string, Listener>();
  if (input.advertised !== null) {
    const adv = withWhere(whereOf('advertised.listeners'), () => {
      const endpoints = parseEndpoints(input.advertised!);
      const advControllers = endpoints.filter(isController);
      if (advControllers.length > 0) ignoredNotes.push(`advertised ${advControllers.map((l) => l.item).join(', ')} (KRaft controller)`);
      const brokers = withProtocols(endpoints.filter((l) => !isController(l)), map);
      if (brokers.length === 0) {
        throw new StrataError(
          'CONFIG_INVALID',
          'There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names?',
        );
      }
      checkAdvertised(brokers);
      const names = new Set(clients.map((l) => l.name));
      const stray = brokers.find((l) => !names.has(l.name));
      if (stray) {
        throw new StrataError(
          'CONFIG_INVALID',
          `advertised.listeners listener names must be equal to or a subset of the ones defined in listeners; ${stray.name} is not in listeners.`,
        );
      }
      return brokers;
    });
    for (const l of adv) advertisedByName.set(l.name, l);
  }
  if (ignoredNotes.length > 0) warnings.push(`Ignoring listeners Strata has no use for: ${ignoredNotes.join('; ')}.`);

  let interBroker: string;
  if (input.interBrokerListenerName !== null) {
    if (input.securityInterBrokerProtocol !== null) {
      throw new StrataError('CONFIG_INVALID', 'Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.');
    }
    interBroker = input.interBrokerListenerName.trim().toUpperCase();
    if (!clients.some((l) => l.name === interBroker)) {
      throw new StrataError(
        'CONFIG_INVALID',
        `inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are ${clients.map((l) => l.name).join(',')} (inter.broker.listener.name=${interBroker}, ${whereOf('inter.broker.listener.name')}).`,
      );
    }
  } else if (input.securityInterBrokerProtocol !== null) {
    const found = clients.find((l) => l.securityProtocol === input.securityInterBrokerProtocol);
    if (found === undefined) {
      throw new StrataError('CONFIG_INVALID', `security.inter.broker.protocol=${input.securityInterBrokerProtocol}, but no listener uses that protocol: ${clients.map((l) => formatListener(l.name, l)).join(', ')}.`);
    }
    interBroker = found.name;
  } else {
    interBroker = (clients.find((l) => l.name === 'PLAINTEXT') ?? clients[0]).name;
  }

  const listeners = clients.map(({ name, host, port, securityProtocol }): ListenerConfig => {
    const adv = advertisedByName.get(name);
    return {
      name,
      host,
      port,
      securityProtocol,
      advertised: adv ? { host: adv.host, port: adv.port } : null,
      security: withWhere(`listener ${name}`, () => input.security(name, securityProtocol)),
    };
  });
  return { listeners, interBrokerListenerName: interBroker };
}

/**
 * max.connections.per.ip.overrides: comma-separated HOST:COUNT, split at the last ':' as Kafka
 * does (so an IPv6 address may be written bare or in brackets). Keys are returned as written,
 * brackets removed.
 */
export function parsePerIpOverrides(s: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pair of s.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const colon = pair.lastIndexOf(':');
    let host = colon > 0 ? pair.slice(0, colon).trim() : '';
    const count = colon > 0 ? pair.slice(colon + 1).trim() : '';
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (host === '' || !/^[0-9a-zA-Z\-%._:]+$/.test(host) || !/^\d+$/.test(count) || Number(count) > INT_MAX) {
      throw new StrataError('CONFIG_INVALID', `Invalid max.connections.per.ip.overrides entry '${pair}': expected HOST:COUNT, e.g. 127.0.0.1:200.`);
    }
    out[host] = Number(count);
  }
  return out;
}

function parseProtocolMap(s: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const pair of s.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const [name, protocol, extra] = pair.split(':');
    if (!name || !protocol || extra !== undefined || !SECURITY_PROTOCOLS.has(protocol.toUpperCase())) {
      throw new StrataError('CONFIG_INVALID', `Invalid listener.security.protocol.map entry '${pair}': expected NAME:PROTOCOL with PROTOCOL one of ${[...SECURITY_PROTOCOLS].join(', ')}.`);
    }
    map.set(name.toUpperCase(), protocol.toUpperCase());
  }
  return map;
}

function checkAdvertised(listeners: Listener[]): void {
  for (const l of listeners) {
    if (l.host === '' || l.host === '0.0.0.0' || l.host === '::') {
      throw new StrataError(
        'CONFIG_INVALID',
        `advertised.listeners cannot use the nonroutable meta-address ${l.host || '(empty host)'}. Use a routable IP address or host name.`,
      );
    }
  }
}

/** log.max.open.files when not set: half the open-file limit, leaving the rest to connections and the stores. */
function defaultMaxOpenFiles(): number {
  const limit = readFdLimit();
  return limit === null ? 10_000 : Math.max(64, Math.floor(limit / 2));
}

/**
 * Describes the broker's configs for DescribeConfigs on a BROKER resource, as Kafka's
 * ConfigHelper does: each config's synonyms (its other-unit names, brokerSynonymGroup) layer by
 * layer — this broker's dynamic configs (DYNAMIC_BROKER_CONFIG), the cluster-wide dynamic
 * defaults (DYNAMIC_DEFAULT_BROKER_CONFIG), the explicitly set ones (STATIC_BROKER_CONFIG), the
 * defaults (DEFAULT_CONFIG) — less those ahead of the config's own name (describing
 * log.retention.hours leaves out a log.retention.ms above it); the head is the value in
 * effect. Ignored Kafka configs are left out unless set. node.id lists broker.id (Strata's
 * synonym for it) when that is what was set, even ahead of node.id's default.
 */
export function describeBrokerConfig(config: BrokerConfig, dynamic: BrokerDynamicLayers = {}): DescribedConfig[] {
  const layers: [Record<string, string>, DescribedConfig['source']][] = [
    [dynamic.broker ?? {}, ConfigSource.DYNAMIC_BROKER_CONFIG],
    [dynamic.clusterDefault ?? {}, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG],
    [config.explicitValues, ConfigSource.STATIC_BROKER_CONFIG],
  ];
  const out: DescribedConfig[] = [];
  for (const e of BROKER_CONFIGS) {
    const explicit = config.explicitValues[e.name];
    if (e.origin === 'ignored' && explicit === undefined) continue;
    const group = brokerSynonymGroup(e.name);
    const names = group.length > 1 ? group : [e.name, ...e.synonyms];
    const synonyms: DescribedConfig['synonyms'] = [];
    for (const [values, source] of layers) {
      for (const name of names) {
        const v = values[name];
        if (v !== undefined) synonyms.push({ name, value: v, source });
      }
    }
    for (const name of names) {
      const def = BY_NAME.get(name)?.default ?? null;
      if (def !== null) synonyms.push({ name, value: def, source: ConfigSource.DEFAULT_CONFIG });
    }
    if (group.length > 1) while (synonyms.length > 0 && synonyms[0].name !== e.name) synonyms.shift();
    const head = synonyms[0];
    const source = head ? head.source : ConfigSource.DEFAULT_CONFIG;
    // Passwords and keys are never told (Kafka answers null for sensitive configs, synonyms too).
    if (e.isSensitive) for (const syn of synonyms) syn.value = null;
    out.push({
      name: e.name,
      value: head && !e.isSensitive ? head.value : null,
      source,
      isDefault: source === ConfigSource.DEFAULT_CONFIG,
      readOnly: e.readOnly,
      isSensitive: e.isSensitive,
      synonyms,
      type: configTypeCode(e.type),
      documentation: e.doc,
    });
  }
  return out;
}

/**
 * Markdown reference of every broker and topic config, from the registries themselves;
 * docs/operations.md is generated from (or checked against) this.
 */
export function renderConfigDocs(): string {
  const cell = (s: string | null | undefined): string => (s === null || s === undefined || s === '' ? '' : `\`${s.replace(/\|/g, '\\|')}\``);
  const text = (s: string): string => s.replace(/\|/g, '\\|');
  const lines: string[] = [];
  lines.push('## Broker configs', '');
  lines.push('Set with `--override NAME=VALUE`, a `STRATA_NAME_WITH_UNDERSCORES` environment variable or a server.properties file (`--config`); that is also the precedence order. ' +
    'Those marked *dynamic* can also be changed while the broker runs, cluster-wide or per broker, with `strata configs --entity-type brokers --alter`; dynamic values win over these.', '');
  lines.push('| Name | Type | Default | Valid values | Description |', '| --- | --- | --- | --- | --- |');
  for (const e of BROKER_CONFIGS.filter((x) => x.origin !== 'ignored')) {
    const tag = e.origin === 'strata' ? ' (Strata)' : '';
    const syn = e.synonyms.length > 0 ? ` Synonyms: ${e.synonyms.map((s) => `\`${s}\``).join(', ')}.` : '';
    const dynamic = e.readOnly ? '' : ' *Dynamic.*';
    lines.push(`| \`${e.name}\`${tag} | ${e.type} | ${cell(e.default)} | ${cell(describeValidator(e.validator))} | ${text(e.doc)}${syn}${dynamic} |`);
  }
  lines.push('', '## Topic configs', '');
  lines.push('Set per topic with CreateTopics or AlterConfigs (`strata topics --create --config`, `strata configs --entity-type topics --alter`); a topic without its own value uses the first broker synonym that is set (dynamic per-broker, dynamic cluster-wide, then static), else the default.', '');
  lines.push('| Name | Type | Default | Valid values | Broker synonyms | Description |', '| --- | --- | --- | --- | --- | --- |');
  for (const e of TOPIC_CONFIGS) {
    const syn = e.synonyms.map((s) => `\`${s}\``).join(', ');
    lines.push(`| \`${e.name}\` | ${e.type} | ${cell(e.default)} | ${cell(describeValidator(e.validator))} | ${syn} | ${text(e.doc)} |`);
  }
  lines.push('', '## Kafka broker configs accepted with no effect', '');
  lines.push('So that a server.properties written for Kafka loads unchanged: ' +
    BROKER_CONFIGS.filter((x) => x.origin === 'ignored').map((e) => `\`${e.name}\``).join(', ') + '.', '');
  return lines.join('\n');
}
