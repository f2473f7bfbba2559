import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { ZERO_UUID } from '../protocol/reader';
import { ConfigEntry, ConfigResourceType, StrataClient, TopicInfo } from '../client/client';
import { isKafkaError } from '../client/errors';
import { CommandSpec, ParsedArgs, UsageError, parseKeyValue } from './args';
import { failureText } from './errorText';
import { CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata topics`: kafka-topics.sh's actions and output format, so scripts and habits carry
 * over. --topic is a regular expression for --list/--describe/--alter/--delete (commas act as
 * '|'), matched against the whole name, as Kafka does.
 */
export const topicsSpec: CommandSpec = {
  name: 'topics',
  summary: 'Create, delete, describe, alter or list topics (like kafka-topics.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'list', kind: 'switch', description: 'List topic names, one per line.' },
    { name: 'create', kind: 'switch', description: 'Create a topic (needs --topic).' },
    { name: 'describe', kind: 'switch', description: 'Describe topics (all, or those matching --topic).' },
    { name: 'delete', kind: 'switch', description: 'Delete the topics matching --topic.' },
    { name: 'alter', kind: 'switch', description: 'Raise the partition count of the topics matching --topic (needs --partitions).' },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'Topic name; a regex for --list/--describe/--alter/--delete.' },
    { name: 'partitions', kind: 'value', valueName: 'N', description: 'Partition count for --create (default: broker num.partitions) or --alter.' },
    { name: 'replication-factor', kind: 'value', valueName: 'R', description: 'Replication factor for --create (default: broker default.replication.factor).' },
    { name: 'config', kind: 'repeatable', valueName: 'KEY=VALUE', description: 'A topic config override for --create, e.g. retention.ms=60000.' },
    { name: 'if-not-exists', kind: 'switch', description: 'With --create: succeed quietly if the topic already exists.' },
    { name: 'if-exists', kind: 'switch', description: 'With --alter/--delete/--describe: succeed quietly if no topic matches.' },
    { name: 'exclude-internal', kind: 'switch', description: 'Leave internal topics (__consumer_offsets...) out of --list/--describe.' },
    { name: 'topics-with-overrides', kind: 'switch', description: 'With --describe: only topics with configs that are not defaults, without their partitions.' },
  ],
  examples: [
    'strata topics --bootstrap-server 127.0.0.1:9092 --create --topic orders --partitions 3 --replication-factor 1 --config retention.ms=86400000',
    'strata topics --bootstrap-server 127.0.0.1:9092 --list',
    'strata topics --bootstrap-server 127.0.0.1:9092 --describe --topic orders',
    'strata topics --bootstrap-server 127.0.0.1:9092 --alter --topic orders --partitions 6',
    'strata topics --bootstrap-server 127.0.0.1:9092 --delete --topic orders',
  ],
};

const ACTIONS = ['list', 'create', 'describe', 'delete', 'alter'] as const;
type Action = (typeof ACTIONS)[number];

/** Which flags make sense with which action (anything else is a usage error, not ignored). */
const ONLY_WITH: Record<string, readonly Action[]> = {
  partitions: ['create', 'alter'],
  'replication-factor': ['create'],
  config: ['create'],
  'if-not-exists': ['create'],
  'if-exists': ['alter', 'delete', 'describe'],
  'exclude-internal': ['list', 'describe'],
  'topics-with-overrides': ['describe'],
};

/** Thrown for the checks kafka-topics.sh itself makes (e.g. a topic that does not exist). */
class TopicCommandError extends StrataError {
  constructor(message: string) {
    super('USAGE_INVALID', message);
  }
}

export async function runTopics(args: ParsedArgs, io: CliIO): Promise<number> {
  const actions = ACTIONS.filter((a) => args.flag(a));
  if (actions.length !== 1) {
    throw new UsageError('Command must include exactly one action: --list, --describe, --create, --alter or --delete', topicsSpec);
  }
  const action = actions[0];
  for (const [flag, allowed] of Object.entries(ONLY_WITH)) {
    if (args.has(flag) && !allowed.includes(action)) {
      throw new UsageError(`--${flag} can only be used with ${allowed.map((a) => `--${a}`).join(', ')}`, topicsSpec);
    }
  }
  if ((action === 'create' || action === 'alter' || action === 'delete') && !args.has('topic')) {
    throw new UsageError(`--${action} needs --topic`, topicsSpec);
  }
  if (action === 'alter' && !args.has('partitions')) throw new UsageError('--alter needs --partitions', topicsSpec);
  const partitions = args.int('partitions', { min: 1, max: 2 ** 31 - 1 });
  const replicationFactor = args.int('replication-factor', { min: 1, max: 32767 });
  const configs: Record<string, string> = {};
  for (const raw of args.list('config')) {
    const [k, v] = parseKeyValue(raw, '--config', topicsSpec);
    configs[k] = v;
  }

  const client = commandClient(args, io, { clientId: 'strata-topics' });
  try {
    switch (action) {
      case 'list':
        await list(client, args, io);
        break;
      case 'create':
        await create(client, args.required('topic'), partitions, replicationFactor, configs, args.flag('if-not-exists'), io);
        break;
      case 'describe':
        await describe(client, args, io);
        break;
      case 'delete':
        await remove(client, args, io);
        break;
      case 'alter':
        await alter(client, args, partitions!, io);
        break;
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof StrataError) {
      const text = failureText(err, args.string('topic'));
      await writeOut(io.stderr, `Error while executing topic command: ${text}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

async function list(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<void> {
  const names = await matchingTopics(client, args);
  if (names.length > 0) await writeOut(io.stdout, names.join('\n') + '\n');
}

async function create(
  client: StrataClient,
  topic: string,
  numPartitions: number | undefined,
  replicationFactor: number | undefined,
  configs: Record<string, string>,
  ifNotExists: boolean,
  io: CliIO,
): Promise<void> {
  try {
    await client.createTopics([{ name: topic, numPartitions, replicationFactor, configs }]);
  } catch (err) {
    if (ifNotExists && isKafkaError(err, ErrorCode.TOPIC_ALREADY_EXISTS)) return;
    throw err;
  }
  await writeOut(io.stdout, `Created topic ${topic}.\n`);
}

async function describe(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<void> {
  const names = await matchingTopics(client, args);
  if (names.length === 0) return;
  const infos = await client.describeTopics(names);
  const overridesOnly = args.flag('topics-with-overrides');
  for (const info of infos) {
    const configs = await topicConfigs(client, info.name);
    if (overridesOnly && configs.length === 0) continue;
    await writeOut(io.stdout, formatTopicDescription(info, configs, { partitions: !overridesOnly }));
  }
}

async function remove(client: StrataClient, args: ParsedArgs, _io: CliIO): Promise<void> {
  const names = await matchingTopics(client, args);
  // kafka-topics.sh prints nothing on success.
  if (names.length > 0) await client.deleteTopics(names);
}

async function alter(client: StrataClient, args: ParsedArgs, partitions: number, _io: CliIO): Promise<void> {
  const names = await matchingTopics(client, args);
  if (names.length > 0) await client.createPartitions(names.map((topic) => ({ topic, count: partitions })));
}

/**
 * The topics an action applies to: all (or those matching --topic), sorted. Errors like
 * kafka-topics.sh when a named topic matches nothing, unless --if-exists.
 */
async function matchingTopics(client: StrataClient, args: ParsedArgs): Promise<string[]> {
  const all = await client.listTopics({ includeInternal: !args.flag('exclude-internal') });
  const pattern = args.string('topic');
  if (pattern === undefined || pattern === '') return all;
  const matches = all.filter(topicMatcher(pattern));
  if (matches.length === 0 && !args.flag('list') && !args.flag('if-exists')) {
    throw new TopicCommandError(`Topic '${pattern}' does not exist as expected`);
  }
  return matches;
}

/**
 * Kafka's include-list matching: the pattern (commas meaning '|', blanks and surrounding
 * quotes removed) must match the whole topic name. An invalid regex falls back to equality.
 */
export function topicMatcher(pattern: string): (topic: string) => boolean {
  const cleaned = pattern.trim().replace(/,/g, '|').replace(/ /g, '').replace(/^["']+/, '').replace(/["']+$/, '');
  try {
    const re = new RegExp(`^(?:${cleaned})$`);
    return (t) => t === pattern || re.test(t);
  } catch {
    return (t) => t === pattern;
  }
}

/**
 * The topic's configs whose source is not DEFAULT_CONFIG, as kafka-topics.sh shows them: its
 * own, and those it inherits from a dynamic (per-broker or cluster-wide) or static broker config.
 */
async function topicConfigs(client: StrataClient, topic: string): Promise<ConfigEntry[]> {
  try {
    return (await client.describeConfigs({ type: ConfigResourceType.TOPIC, name: topic })).filter((c) => !c.isDefault);
  } catch (err) {
    // A broker without DescribeConfigs still gets a description, with no configs listed.
    if (err instanceof StrataError && err.code === 'API_UNSUPPORTED') return [];
    throw err;
  }
}

/**
 *   Topic: T\tTopicId: ID\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: k=v,k=v
 *   \tTopic: T\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0
 * TopicId is left out when the broker reports none (all zeros), as kafka-topics.sh does.
 */
export function formatTopicDescription(info: TopicInfo, configs: ConfigEntry[], opts: { partitions?: boolean } = {}): string {
  const configText = configs.map((c) => `${c.name}=${c.value ?? 'null'}`).join(',');
  const replicationFactor = info.partitions[0]?.replicas.length ?? 0;
  let out = `Topic: ${info.name}`;
  if (info.topicId !== ZERO_UUID) out += `\tTopicId: ${info.topicId}`;
  out += `\tPartitionCount: ${info.partitions.length}\tReplicationFactor: ${replicationFactor}\tConfigs: ${configText}\n`;
  if (opts.partitions === false) return out;
  for (const p of info.partitions) {
    out += `\tTopic: ${info.name}\tPartition: ${p.partition}\tLeader: ${p.leader >= 0 ? p.leader : 'none'}`;
    out += `\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}`;
    if (p.offlineReplicas.length > 0) out += `\tOffline: ${p.offlineReplicas.join(',')}`;
    out += '\n';
  }
  return out;
}
