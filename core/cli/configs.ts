import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { parseProperties, propertiesToRecord } from '../config/properties';
import { ConfigResourceType, ConfigSource, StrataClient, type AlterConfigOp, type ConfigResource } from '../client/client';
import { configSourceName, describeConfigs, incrementalAlterConfigs, type DescribedConfigEntry } from '../client/configsAdmin';
import { KafkaResponseError } from '../client/errors';
import { CommandSpec, ParsedArgs, UsageError, parseArgs } from './args';
import { CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';
import { UserConfigError } from './userScramConfigs';
import { CLIENT_SHORTHAND_FLAGS, clientEntitiesOf, runClientConfigs, type ClientEntities } from './clientQuotaConfigs';

/**
 * `strata configs`: kafka-configs.sh for topics, brokers and users' SCRAM credentials — its
 * flags, checks, output and messages, so scripts and habits carry over:
 *
 *   --describe [--all]   "Dynamic configs for topic t are:" (only what is set on the entity;
 *                        --all: every config, "All configs for ..."), one line per config:
 *                        `  name=value sensitive=false synonyms={SOURCE:name=value, ...}`
 *   --alter              --add-config k=v[,k=[a,b]] | --add-config-file F, --delete-config k[,k]:
 *                        one IncrementalAlterConfigs (SET / DELETE); a --delete-config of a key
 *                        the entity does not set is refused first ("Invalid config(s): k")
 *
 * Entities: `--entity-type topics|brokers` with `--entity-name N` or (brokers) `--entity-default`
 * (the cluster-wide default), or the shorthands --topic, --broker, --broker-defaults. Describing
 * without a name covers every topic, or every broker and the default. `--entity-type users` and
 * `--entity-type clients` (alone or together, each with a name or --entity-default) manage client
 * quotas (clientQuotaConfigs.ts: producer_byte_rate, consumer_byte_rate, request_percentage) and
 * users' SCRAM credentials (userScramConfigs.ts: 'SCRAM-SHA-512=[iterations=N,password=P]').
 * Kafka's other entity types (ips, broker-loggers, client-metrics, groups) have nothing to
 * configure in Strata yet. Difference: kafka-configs.sh 3.x alters brokers with the legacy AlterConfigs,
 * this uses IncrementalAlterConfigs for every entity (Kafka 4.0 does too); the broker accepts both.
 */
export const configsSpec: CommandSpec = {
  name: 'configs',
  summary: "Describe or change a topic's or broker's configs while it runs, client quotas, or a user's SCRAM credentials (like kafka-configs.sh).",
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'describe', kind: 'switch', description: 'List the configs the entity sets (dynamic configs), or all with --all.' },
    { name: 'alter', kind: 'switch', description: 'Change the entity\'s configs (needs --add-config, --add-config-file or --delete-config).' },
    { name: 'all', kind: 'switch', description: 'With --describe: every config, static and default ones included.' },
    {
      name: 'entity-type',
      kind: 'repeatable',
      valueName: 'topics|brokers|users|clients',
      description:
        "Type of entity. users and clients: quotas (producer_byte_rate, consumer_byte_rate, request_percentage); users and clients together: a user's client (--entity-type users --entity-name U --entity-type clients --entity-name C); users: also SCRAM credentials ('SCRAM-SHA-512=[iterations=8192,password=P]').",
    },
    { name: 'entity-name', kind: 'repeatable', valueName: 'NAME', description: 'Topic name, broker id, user (principal name) or client id; one per --entity-type, in the same order.' },
    { name: 'entity-default', kind: 'switch', description: 'In place of --entity-name: the cluster-wide broker default, or the default user or client id (quotas for every user or client id without their own).' },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'Shorthand for --entity-type topics --entity-name TOPIC.' },
    { name: 'broker', kind: 'value', valueName: 'ID', description: 'Shorthand for --entity-type brokers --entity-name ID.' },
    { name: 'broker-defaults', kind: 'switch', description: 'Shorthand for --entity-type brokers --entity-default.' },
    { name: 'user', kind: 'value', valueName: 'USER', description: 'Shorthand for --entity-type users --entity-name USER (with --client: that user\'s client).' },
    { name: 'client', kind: 'value', valueName: 'CLIENT_ID', description: 'Shorthand for --entity-type clients --entity-name CLIENT_ID.' },
    { name: 'user-defaults', kind: 'switch', description: 'Shorthand for --entity-type users --entity-default.' },
    { name: 'client-defaults', kind: 'switch', description: 'Shorthand for --entity-type clients --entity-default.' },
    {
      name: 'add-config',
      kind: 'value',
      valueName: 'K=V[,K=V]',
      description: "Configs to set, comma-separated; square brackets group a value with commas: 'k1=v1,k2=[v1,v2],k3=v3'.",
    },
    { name: 'add-config-file', kind: 'value', valueName: 'FILE', description: 'A properties file of configs to set (instead of --add-config).' },
    { name: 'delete-config', kind: 'repeatable', valueName: 'K[,K]', description: 'Config keys to remove (back to the inherited value).' },
  ],
  examples: [
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type topics --entity-name orders --alter --add-config retention.ms=86400000,cleanup.policy=[compact,delete]',
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type topics --entity-name orders --describe',
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type brokers --entity-default --alter --add-config log.retention.ms=3600000',
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type brokers --entity-name 0 --describe --all',
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type topics --entity-name orders --alter --delete-config retention.ms',
    "strata configs --bootstrap-server 127.0.0.1:9092 --entity-type users --entity-name alice --alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=alice-secret]'",
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type clients --entity-name app --alter --add-config producer_byte_rate=1048576,consumer_byte_rate=2097152',
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type users --entity-name alice --entity-type clients --entity-default --alter --add-config request_percentage=50',
    'strata configs --bootstrap-server 127.0.0.1:9092 --entity-type users --describe',
  ],
};

type EntityType = 'topics' | 'brokers';

/** Kafka's entity types that Strata has nothing to configure for yet. */
const KAFKA_ONLY_TYPES = ['broker-loggers', 'ips', 'client-metrics', 'groups'];

/** What the command acts on: a type and a name ('' = the brokers' cluster-wide default; undefined = every entity, describe only). */
interface Entity {
  type: EntityType;
  name: string | undefined;
}

/** A refusal kafka-configs.sh prints as its bare message (InvalidConfigurationException), exit 1. */
class ConfigCommandError extends StrataError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

export async function runConfigs(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, configsSpec);
  const entity = checkArgs(args, argv);
  const client = commandClient(args, io, { clientId: 'strata-configs' });
  try {
    if ('types' in entity) {
      await runClientConfigs(client, args, entity, args.flag('alter') ? configsToAdd(args) : new Map(), deleteList(args), io);
    } else if (args.flag('alter')) await alter(client, args, entity, io);
    else await describe(client, entity, args.flag('all'), io);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof ConfigCommandError || err instanceof UserConfigError) {
      await writeOut(io.stderr, `${err.message}\n`);
      return 1;
    }
    if (err instanceof StrataError) {
      const cause = err instanceof KafkaResponseError ? `${err.errorName}: ${err.errorMessage ?? err.message}` : err.message;
      await writeOut(io.stderr, `Error while executing config command with args '${argv.join(' ')}'\n${cause}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

/** The checks kafka-configs.sh makes before connecting (ConfigCommandOptions.checkArgs), in its words. */
function checkArgs(args: ParsedArgs, argv: readonly string[]): Entity | ClientEntities {
  const usage = (message: string): UsageError => new UsageError(message, configsSpec);
  const actions = ['describe', 'alter'].filter((a) => args.flag(a));
  if (actions.length !== 1) throw usage('Command must include exactly one action: --describe, --alter');
  const describing = args.flag('describe');
  for (const flag of ['add-config', 'add-config-file', 'delete-config']) {
    if (describing && args.has(flag)) throw usage(`--${flag} can only be used with --alter`);
  }
  if (!describing && args.flag('all')) throw usage('--all can only be used with --describe');

  const generic = args.has('entity-type') || args.has('entity-name') || args.flag('entity-default');
  const specific = ['topic', 'broker', 'broker-defaults'].filter((f) => args.has(f));
  if (generic && (specific.length > 0 || CLIENT_SHORTHAND_FLAGS.some((f) => args.has(f)))) throw usage('--entity-{type,name,default} should not be used in conjunction with specific entity flags');
  // Users and clients (quotas, SCRAM credentials): their own checks, as many types as names.
  const clients = clientEntitiesOf(args, argv, configsSpec);
  if (clients !== null) return clients;
  if (specific.length > 1) throw usage(`Only one entity may be specified: ${specific.map((f) => `--${f}`).join(', ')}`);

  let type: string;
  let name: string | undefined;
  if (specific.length === 1) {
    const flag = specific[0];
    type = flag === 'topic' ? 'topics' : 'brokers';
    name = flag === 'broker-defaults' ? '' : args.string(flag);
  } else {
    const t = args.string('entity-type');
    if (t === undefined) throw usage('At least one entity type must be specified');
    type = t;
    if (args.list('entity-name').length > 1) throw usage('More entity names specified than entity types');
    if (args.has('entity-name') && args.flag('entity-default')) throw usage('--entity-name and --entity-default cannot be used together');
    name = args.flag('entity-default') ? '' : args.string('entity-name');
  }
  if (KAFKA_ONLY_TYPES.includes(type)) throw usage(`Strata has no ${type} configs yet: the entity type must be one of topics, brokers, users, clients`);
  if (type !== 'topics' && type !== 'brokers') throw usage(`Invalid entity type ${type}, the entity type must be one of topics, brokers, users, clients with a --bootstrap-server argument`);

  if (type === 'brokers' && name !== undefined && name !== '' && !/^-?\d+$/.test(name)) {
    throw usage(`The entity name for brokers must be a valid integer broker id, but it is: ${name}`);
  }
  if (describing && type === 'topics' && name === '') throw usage('--entity-default must not be specified with --describe of topics');
  if (!describing) {
    if (type === 'brokers' && name === undefined) throw usage('An entity-name or default entity must be specified with --alter of users, clients, brokers or ips');
    if (type === 'topics' && (name === undefined || name === '')) throw usage('An entity name must be specified with --alter of topics');
    if (args.has('add-config') && args.has('add-config-file')) throw usage('Only one of --add-config or --add-config-file must be specified');
    if (!args.has('add-config') && !args.has('add-config-file') && !args.has('delete-config')) {
      throw usage('At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter');
    }
  }
  return { type: type as EntityType, name };
}

function resourceOf(type: EntityType, name: string): ConfigResource {
  return { type: type === 'topics' ? ConfigResourceType.TOPIC : ConfigResourceType.BROKER, name };
}

/** The source of the configs an entity sets itself: what --describe lists without --all, and what --delete-config may remove. */
function dynamicSourceOf(type: EntityType, name: string): number {
  if (type === 'topics') return ConfigSource.DYNAMIC_TOPIC_CONFIG;
  return name === '' ? ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG : ConfigSource.DYNAMIC_BROKER_CONFIG;
}

/** Kafka's getResourceConfig: the entity's configs, sorted by name, only its own unless `all`. */
async function entityConfigs(client: StrataClient, type: EntityType, name: string, all: boolean, includeSynonyms: boolean): Promise<DescribedConfigEntry[]> {
  const source = dynamicSourceOf(type, name);
  const entries = await describeConfigs(client, resourceOf(type, name), { includeSynonyms });
  return entries.filter((e) => all || e.source === source).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function describe(client: StrataClient, entity: Entity, all: boolean, io: CliIO): Promise<void> {
  let names: string[];
  if (entity.name !== undefined) names = [entity.name];
  else if (entity.type === 'topics') names = await client.listTopics({ includeInternal: true });
  else names = [...(await client.describeCluster()).brokers.map((b) => String(b.nodeId)), ''];
  for (const name of names) {
    const heading =
      name === '' ? `Default configs for ${entity.type} in the cluster are:` : `${all ? 'All' : 'Dynamic'} configs for ${entity.type.slice(0, -1)} ${name} are:`;
    const lines = [heading, ...(await entityConfigs(client, entity.type, name, all, true)).map(formatConfigLine)];
    await writeOut(io.stdout, lines.join('\n') + '\n');
  }
}

/** `  name=value sensitive=false synonyms={SOURCE:name=value, ...}`, as ConfigCommand prints it. */
export function formatConfigLine(e: DescribedConfigEntry): string {
  const synonyms = e.synonyms.map((s) => `${configSourceName(s.source)}:${s.name}=${s.value ?? 'null'}`).join(', ');
  return `  ${e.name}=${e.value ?? 'null'} sensitive=${e.isSensitive} synonyms={${synonyms}}`;
}

async function alter(client: StrataClient, args: ParsedArgs, entity: Entity, io: CliIO): Promise<void> {
  const { type } = entity;
  const name = entity.name!;
  const toAdd = configsToAdd(args);
  if (toAdd.has('message.format.version')) {
    await writeOut(
      io.stdout,
      `WARNING: The configuration message.format.version=${toAdd.get('message.format.version')} is specified. ` +
        'This configuration will be ignored if the version is newer than the inter.broker.protocol.version specified in the broker or ' +
        'if the inter.broker.protocol.version is 3.0 or newer. This configuration is deprecated and it will be removed in Apache Kafka 4.0.\n',
    );
  }
  const toDelete = deleteList(args);

  // Kafka's check against the entity's own configs before altering anything.
  const current = new Set((await entityConfigs(client, type, name, false, false)).map((e) => e.name));
  const invalid = toDelete.filter((k) => !current.has(k));
  if (invalid.length > 0) throw new ConfigCommandError(`Invalid config(s): ${invalid.join(',')}`);

  const ops: AlterConfigOp[] = [
    ...[...toAdd].map(([k, v]): AlterConfigOp => ({ name: k, op: 'set', value: v })),
    ...toDelete.map((k): AlterConfigOp => ({ name: k, op: 'delete' })),
  ];
  await incrementalAlterConfigs(client, resourceOf(type, name), ops);
  const done = name === '' ? `Completed updating default config for ${type} in the cluster.` : `Completed updating config for ${type.slice(0, -1)} ${name}.`;
  await writeOut(io.stdout, done + '\n');
}

function deleteList(args: ParsedArgs): string[] {
  return args.list('delete-config').flatMap((v) => v.split(',')).map((k) => k.trim());
}

/**
 * --add-config-file (a properties file) or --add-config, parsed as ConfigCommand does: pairs
 * split at commas outside square brackets, each at its '=' (exactly one, blanks around it
 * dropped), brackets removed from values; keys limited to [a-zA-Z0-9._-].
 */
export function configsToAdd(args: ParsedArgs): Map<string, string> {
  const out = new Map<string, string>();
  const file = args.string('add-config-file');
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigCommandError(`Cannot read --add-config-file ${file}: ${(e as Error).message}`);
    }
    for (const [k, v] of Object.entries(propertiesToRecord(parseProperties(text)))) out.set(k, v);
  }
  const raw = args.string('add-config');
  if (raw !== undefined) for (const [k, v] of parseAddConfig(raw)) out.set(k, v);
  for (const k of out.keys()) {
    if (!/^[a-zA-Z0-9._-]*$/.test(k)) throw new UsageError(`Invalid character found for config key: ${k}`, configsSpec);
  }
  return out;
}

/** 'k1=v1,k2=[v1,v2],k3=v3' → [[k1, v1], [k2, 'v1,v2'], [k3, v3]]. */
export function parseAddConfig(raw: string): [string, string][] {
  const pairs: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      pairs.push(raw.slice(start, i));
      start = i + 1;
    }
  }
  pairs.push(raw.slice(start));
  return pairs.map((pair) => {
    const outside = pair.replace(/\[[^\]]*\]?/g, (m) => ' '.repeat(m.length));
    const eqs = [...outside].map((c, i) => (c === '=' ? i : -1)).filter((i) => i >= 0);
    if (eqs.length !== 1) throw new UsageError('Invalid entity config: all configs to be added must be in the format "key=val".', configsSpec);
    const key = pair.slice(0, eqs[0]).trim();
    const value = pair.slice(eqs[0] + 1).replace(/[[\]]/g, '').trim();
    return [key, value];
  });
}
