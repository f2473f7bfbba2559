import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, PartitionFetch, StrataClient } from '../client/client';
import { KafkaResponseError, isKafkaError } from '../client/errors';
import { AutoOffsetReset, GroupConsumer } from '../client/groupConsumer';
import { FetchedRecord } from '../client/records';
import { CommandSpec, ParsedArgs, UsageError, parseIntStrict } from './args';
import { failureText } from './errorText';
import { CliIO, bootstrapServers, isTrueProperty, keyValues, writeOut } from './io';
import { CONSUMER_CONFIG_FLAG, commandClientConfig } from './clientConfig';
import type { ConnectionSecurity } from '../client/security';

/**
 * `strata console-consumer`: prints a topic's records to stdout, one per line, like
 * kafka-console-consumer.sh with its default formatter. It stops after --max-messages, after
 * --timeout-ms without a record, or on SIGINT, and then prints "Processed a total of N
 * messages" to stderr.
 *
 * With --group G it is a member of consumer group G (client/groupConsumer.ts): it reads the
 * partitions the group assigns it, from the group's committed offsets (or, where the group
 * has none, from the end — the start with --from-beginning, i.e. auto.offset.reset=earliest,
 * as in Kafka), commits what it printed, and leaves the group on exit. Without a group it
 * reads every partition (or --partition) directly and commits nothing.
 */
export const consoleConsumerSpec: CommandSpec = {
  name: 'console-consumer',
  summary: 'Print records of a topic to stdout, one per line (like kafka-console-consumer.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'Topic to read. Required.' },
    { name: 'from-beginning', kind: 'switch', description: 'Start at the earliest offset instead of the end.' },
    { name: 'partition', kind: 'value', valueName: 'P', description: 'Read only this partition.' },
    { name: 'offset', kind: 'value', valueName: 'N|earliest|latest', description: 'With --partition: where to start (default latest, or earliest with --from-beginning).' },
    { name: 'max-messages', kind: 'value', valueName: 'N', description: 'Exit after printing N records.' },
    { name: 'timeout-ms', kind: 'value', valueName: 'MS', description: 'Exit when no record arrived for this long.' },
    {
      name: 'property',
      kind: 'repeatable',
      valueName: 'KEY=VALUE',
      description:
        'Output format: print.key, print.value (default true), print.timestamp, print.offset, print.partition, print.headers (true|false); key.separator (default TAB), line.separator, headers.separator (default ","), null.literal (default "null").',
    },
    {
      name: 'consumer-property',
      kind: 'repeatable',
      valueName: 'KEY=VALUE',
      description:
        'Consumer setting: fetch.max.wait.ms, fetch.min.bytes, max.partition.fetch.bytes, isolation.level, request.timeout.ms, client.id; with a group also group.id, auto.offset.reset, enable.auto.commit, auto.commit.interval.ms, session.timeout.ms, heartbeat.interval.ms, max.poll.interval.ms, partition.assignment.strategy, group.instance.id; or a security setting (security.protocol, ssl.*, sasl.*).',
    },
    CONSUMER_CONFIG_FLAG,
    { name: 'isolation-level', kind: 'value', valueName: 'read_uncommitted|read_committed', description: 'Which transactional records to show (default read_uncommitted).' },
    { name: 'group', kind: 'value', valueName: 'GROUP', description: "Consume as a member of this consumer group: read the partitions it assigns, resume from and commit the group's offsets." },
  ],
  examples: [
    'strata console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --from-beginning --max-messages 10',
    'strata console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --from-beginning --timeout-ms 2000 --property print.key=true --property key.separator=,',
    'strata console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --partition 0 --offset 42 --property print.offset=true',
    'strata console-consumer --bootstrap-server 127.0.0.1:9092 --topic orders --group billing --from-beginning',
  ],
};

const FORMAT_PROPERTIES = [
  'print.key',
  'print.value',
  'print.timestamp',
  'print.offset',
  'print.partition',
  'print.headers',
  'key.separator',
  'line.separator',
  'headers.separator',
  'null.literal',
] as const;

/** Settings that only mean something for a group member. */
const GROUP_PROPERTIES = [
  'group.id',
  'auto.offset.reset',
  'enable.auto.commit',
  'auto.commit.interval.ms',
  'session.timeout.ms',
  'heartbeat.interval.ms',
  'max.poll.interval.ms',
  'partition.assignment.strategy',
  'group.instance.id',
] as const;

const CONSUMER_PROPERTIES = ['fetch.max.wait.ms', 'fetch.min.bytes', 'max.partition.fetch.bytes', 'isolation.level', 'request.timeout.ms', 'client.id', ...GROUP_PROPERTIES] as const;

/** Kafka's assignor class names, so `partition.assignment.strategy` values from Java configs work too. */
const ASSIGNOR_CLASSES: Record<string, string> = {
  'org.apache.kafka.clients.consumer.RangeAssignor': 'range',
  'org.apache.kafka.clients.consumer.RoundRobinAssignor': 'roundrobin',
};

/** Kafka's DefaultMessageFormatter settings. */
export interface RecordFormat {
  printKey: boolean;
  printValue: boolean;
  printTimestamp: boolean;
  printOffset: boolean;
  printPartition: boolean;
  printHeaders: boolean;
  keySeparator: Buffer;
  lineSeparator: Buffer;
  headersSeparator: Buffer;
  nullLiteral: Buffer;
}

export function recordFormat(props: ReadonlyMap<string, string>): RecordFormat {
  const bool = (k: string, dflt: boolean): boolean => (props.has(k) ? isTrueProperty(props.get(k)) : dflt);
  const bytes = (k: string, dflt: string): Buffer => Buffer.from(props.get(k) ?? dflt);
  return {
    printKey: bool('print.key', false),
    printValue: bool('print.value', true),
    printTimestamp: bool('print.timestamp', false),
    printOffset: bool('print.offset', false),
    printPartition: bool('print.partition', false),
    printHeaders: bool('print.headers', false),
    keySeparator: bytes('key.separator', '\t'),
    lineSeparator: bytes('line.separator', '\n'),
    headersSeparator: bytes('headers.separator', ','),
    nullLiteral: bytes('null.literal', 'null'),
  };
}

/**
 * One record as Kafka's console consumer prints it: the enabled fields in the order
 * timestamp, partition, offset, headers, key, value, separated by key.separator; the last
 * enabled field ends with line.separator.
 */
export function formatRecord(record: FetchedRecord, partition: number, f: RecordFormat): Buffer {
  const fields: Buffer[] = [];
  if (f.printTimestamp) fields.push(Buffer.from(`${record.timestampType}:${record.timestamp}`));
  if (f.printPartition) fields.push(Buffer.from(`Partition:${partition}`));
  if (f.printOffset) fields.push(Buffer.from(`Offset:${record.offset}`));
  if (f.printHeaders) {
    if (record.headers.length === 0) fields.push(Buffer.from('NO_HEADERS'));
    else {
      const parts: Buffer[] = [];
      record.headers.forEach((h, i) => {
        if (i > 0) parts.push(f.headersSeparator);
        parts.push(Buffer.from(`${h.key}:`), h.value ?? f.nullLiteral);
      });
      fields.push(Buffer.concat(parts));
    }
  }
  if (f.printKey) fields.push(record.key ?? f.nullLiteral);
  if (f.printValue) fields.push(record.value ?? f.nullLiteral);
  if (fields.length === 0) return Buffer.alloc(0);
  const out: Buffer[] = [];
  fields.forEach((b, i) => {
    if (i > 0) out.push(f.keySeparator);
    out.push(b);
  });
  out.push(f.lineSeparator);
  return Buffer.concat(out);
}

type StartAt = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'offset'; offset: bigint };

function parseStart(args: ParsedArgs): StartAt {
  const raw = args.string('offset');
  if (raw === undefined) return args.flag('from-beginning') ? { kind: 'earliest' } : { kind: 'latest' };
  if (!args.has('partition')) throw new UsageError('--offset needs --partition', consoleConsumerSpec);
  if (args.flag('from-beginning')) throw new UsageError('--offset and --from-beginning cannot be used together', consoleConsumerSpec);
  const v = raw.trim().toLowerCase();
  if (v === 'earliest') return { kind: 'earliest' };
  if (v === 'latest') return { kind: 'latest' };
  if (!/^\d+$/.test(v)) throw new UsageError(`--offset must be a non-negative number, earliest or latest, got '${raw}'`, consoleConsumerSpec);
  return { kind: 'offset', offset: BigInt(v) };
}

export async function runConsoleConsumer(args: ParsedArgs, io: CliIO & { signal?: AbortSignal }): Promise<number> {
  const topic = args.required('topic');
  const { security, properties: props } = commandClientConfig(args, io, { flag: 'consumer-property', supported: CONSUMER_PROPERTIES });
  const groupId = resolveGroupId(args, props);
  if (groupId !== undefined) return runGroupConsumer(args, io, topic, groupId, props, security);
  // Group settings on the command line without a group are a mistake; in a --consumer.config file (shared with other consumers) they are just unused.
  const flagKeys = new Set(args.list('consumer-property').map((kv) => kv.slice(0, kv.indexOf('='))));
  const groupOnly = GROUP_PROPERTIES.find((k) => flagKeys.has(k));
  if (groupOnly) throw new UsageError(`--consumer-property ${groupOnly} needs a consumer group (--group)`, consoleConsumerSpec);
  const start = parseStart(args);
  const format = recordFormat(keyValues(args, 'property', FORMAT_PROPERTIES));
  const maxMessages = args.int('max-messages', { min: 1 });
  const timeoutMs = args.int('timeout-ms', { min: 0 });
  const onlyPartition = args.int('partition', { min: 0, max: 2 ** 31 - 1 });
  const propInt = (k: string, dflt: number, min: number): number => {
    const v = props.get(k);
    return v === undefined ? dflt : parseIntStrict(v, k, { min, max: 2 ** 31 - 1 }, consoleConsumerSpec);
  };
  const maxWaitMs = propInt('fetch.max.wait.ms', 500, 0);
  const minBytes = propInt('fetch.min.bytes', 1, 0);
  const maxBytes = propInt('max.partition.fetch.bytes', 1024 * 1024, 1);
  const requestTimeoutMs = propInt('request.timeout.ms', 30_000, 1);
  const isolationRaw = args.string('isolation-level') ?? props.get('isolation.level') ?? 'read_uncommitted';
  if (isolationRaw !== 'read_uncommitted' && isolationRaw !== 'read_committed') {
    throw new UsageError(`isolation level must be read_uncommitted or read_committed, got '${isolationRaw}'`, consoleConsumerSpec);
  }
  const isolationLevel = isolationRaw === 'read_committed' ? 1 : 0;

  const client = new StrataClient({
    bootstrapServers: bootstrapServers(args),
    clientId: props.get('client.id') ?? 'strata-console-consumer',
    requestTimeoutMs,
    security,
  });
  let processed = 0;
  let exitCode = 0;
  try {
    const info = await client.topicInfo(topic).catch((err: unknown) => {
      if (isKafkaError(err, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) throw new StrataError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`);
      throw err;
    });
    const partitions = onlyPartition === undefined ? info.partitions.map((p) => p.partition) : [onlyPartition];
    if (onlyPartition !== undefined && !info.partitions.some((p) => p.partition === onlyPartition)) {
      throw new StrataError('TOPIC_NOT_FOUND', `topic '${topic}' has no partition ${onlyPartition} (it has ${info.partitions.length})`);
    }
    // Where each partition resumes if its offset falls out of range (auto.offset.reset).
    const reset = start.kind === 'earliest' ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP;
    const positions = new Map<number, bigint>();
    for (const p of partitions) {
      positions.set(p, start.kind === 'offset' ? start.offset : (await client.listOffsets(topic, p, start.kind === 'earliest' ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP)).offset);
    }

    let lastActivity = Date.now();
    let failingSince: number | undefined;
    const stopped = (): boolean => io.signal?.aborted === true || (maxMessages !== undefined && processed >= maxMessages);
    while (!stopped()) {
      const idleLeft = timeoutMs === undefined ? Infinity : timeoutMs - (Date.now() - lastActivity);
      if (idleLeft <= 0) break;
      const waitMs = Math.max(0, Math.min(maxWaitMs, idleLeft));
      let results: PartitionFetch[];
      try {
        results = await client.fetchPartitions(
          topic,
          [...positions].map(([partition, offset]) => ({ partition, offset })),
          { maxWaitMs: waitMs, minBytes, maxBytes, isolationLevel },
        );
        failingSince = undefined;
      } catch (err) {
        // A dropped connection (broker restart) is waited out for up to request.timeout.ms,
        // as a Kafka consumer would; the client reconnects on the next fetch.
        if (!(err instanceof StrataError) || (err.code !== 'CONNECTION_FAILED' && err.code !== 'REQUEST_TIMED_OUT')) throw err;
        failingSince ??= Date.now();
        if (Date.now() - failingSince > requestTimeoutMs) throw err;
        await pause(Math.min(200, Math.max(0, idleLeft)));
        continue;
      }
      const out: Buffer[] = [];
      if (results.every((r) => r.error)) {
        // Nothing answered (leaders moving, topic being recreated): pause briefly rather than
        // asking for metadata in a tight loop.
        await pause(Math.min(100, Math.max(0, idleLeft)));
      }
      for (const r of results) {
        if (r.error) {
          if (isKafkaError(r.error, ErrorCode.OFFSET_OUT_OF_RANGE)) {
            positions.set(r.partition, (await client.listOffsets(topic, r.partition, reset)).offset);
            continue;
          }
          if (r.error instanceof KafkaResponseError && r.error.retriable) continue; // metadata was refreshed; try again next round
          throw r.error;
        }
        const res = r.result!;
        for (const record of res.records) {
          if (maxMessages !== undefined && processed >= maxMessages) break;
          out.push(formatRecord(record, r.partition, format));
          processed++;
          positions.set(r.partition, record.offset + 1n);
        }
        if (maxMessages === undefined || processed < maxMessages) positions.set(r.partition, res.nextOffset);
        if (res.records.length > 0) lastActivity = Date.now();
      }
      if (out.length > 0) await writeOut(io.stdout, Buffer.concat(out));
    }
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof StrataError)) throw err;
    const text = failureText(err, topic);
    await writeOut(io.stderr, `Error: ${text}\n`);
    exitCode = 1;
  } finally {
    await client.close();
  }
  await writeOut(io.stderr, `Processed a total of ${processed} messages\n`);
  return exitCode;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** --group or group.id; Kafka refuses two different ids. */
function resolveGroupId(args: ParsedArgs, props: ReadonlyMap<string, string>): string | undefined {
  const flag = args.string('group');
  const prop = props.get('group.id');
  if (flag !== undefined && prop !== undefined && flag !== prop) {
    throw new UsageError(`The group ids provided in different places (directly using '--group', via '--consumer-property') do not match. Detected group ids: '${flag}', '${prop}'`, consoleConsumerSpec);
  }
  const id = flag ?? prop;
  if (id === '') throw new UsageError('--group must not be empty', consoleConsumerSpec);
  return id;
}

/** The console consumer as a group member: see the module note. */
async function runGroupConsumer(
  args: ParsedArgs,
  io: CliIO & { signal?: AbortSignal },
  topic: string,
  groupId: string,
  props: ReadonlyMap<string, string>,
  security: ConnectionSecurity,
): Promise<number> {
  if (args.has('partition') || args.has('offset')) throw new UsageError('Options group and partition cannot be specified together.', consoleConsumerSpec);
  const format = recordFormat(keyValues(args, 'property', FORMAT_PROPERTIES));
  const maxMessages = args.int('max-messages', { min: 1 });
  const timeoutMs = args.int('timeout-ms', { min: 0 });
  const propInt = (k: string, dflt: number, min: number): number => {
    const v = props.get(k);
    return v === undefined ? dflt : parseIntStrict(v, k, { min, max: 2 ** 31 - 1 }, consoleConsumerSpec);
  };
  const maxWaitMs = propInt('fetch.max.wait.ms', 500, 0);
  const requestTimeoutMs = propInt('request.timeout.ms', 30_000, 1);
  const isolationRaw = args.string('isolation-level') ?? props.get('isolation.level') ?? 'read_uncommitted';
  if (isolationRaw !== 'read_uncommitted' && isolationRaw !== 'read_committed') {
    throw new UsageError(`isolation level must be read_uncommitted or read_committed, got '${isolationRaw}'`, consoleConsumerSpec);
  }
  const resetProp = props.get('auto.offset.reset');
  if (resetProp !== undefined && resetProp !== 'earliest' && resetProp !== 'latest' && resetProp !== 'none') {
    throw new UsageError(`auto.offset.reset must be earliest, latest or none, got '${resetProp}'`, consoleConsumerSpec);
  }
  if (args.flag('from-beginning') && resetProp !== undefined) {
    throw new UsageError(`Can't simultaneously specify --from-beginning and 'auto.offset.reset=${resetProp}', please remove one option`, consoleConsumerSpec);
  }
  const assignors = (props.get('partition.assignment.strategy') ?? 'range,roundrobin')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => ASSIGNOR_CLASSES[s] ?? s);
  const enableAutoCommit = props.has('enable.auto.commit') ? isTrueProperty(props.get('enable.auto.commit')) : true;

  const clientId = props.get('client.id') ?? 'strata-console-consumer';
  const servers = bootstrapServers(args);
  // The group consumer's own connections take their security settings from this client.
  const client = new StrataClient({ bootstrapServers: servers, clientId, requestTimeoutMs, security });
  let consumer: GroupConsumer;
  try {
    consumer = new GroupConsumer({
      bootstrapServers: servers,
      groupId,
      topics: [topic],
      clientId,
      client,
      groupInstanceId: props.get('group.instance.id') ?? null,
      autoOffsetReset: (resetProp as AutoOffsetReset | undefined) ?? (args.flag('from-beginning') ? 'earliest' : 'latest'),
      enableAutoCommit,
      autoCommitIntervalMs: propInt('auto.commit.interval.ms', 5_000, 0),
      sessionTimeoutMs: propInt('session.timeout.ms', 45_000, 1),
      heartbeatIntervalMs: propInt('heartbeat.interval.ms', 3_000, 1),
      rebalanceTimeoutMs: propInt('max.poll.interval.ms', 300_000, 1),
      assignors,
      fetchMaxWaitMs: maxWaitMs,
      fetchMinBytes: propInt('fetch.min.bytes', 1, 0),
      maxPartitionFetchBytes: propInt('max.partition.fetch.bytes', 1024 * 1024, 1),
      isolationLevel: isolationRaw === 'read_committed' ? 1 : 0,
      requestTimeoutMs,
    });
  } catch (err) {
    await client.close();
    if (err instanceof StrataError && err.code === 'CONFIG_INVALID') throw new UsageError(err.message, consoleConsumerSpec);
    throw err;
  }

  let processed = 0;
  let exitCode = 0;
  try {
    await client.topicInfo(topic).catch((err: unknown) => {
      if (isKafkaError(err, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) throw new StrataError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`);
      throw err;
    });
    let lastActivity = Date.now();
    while (io.signal?.aborted !== true && (maxMessages === undefined || processed < maxMessages)) {
      const idleLeft = timeoutMs === undefined ? Infinity : timeoutMs - (Date.now() - lastActivity);
      if (idleLeft <= 0) break;
      // Only as many records as may still be printed: the group then commits exactly up to
      // the last printed one, and the next run with this group starts right after it.
      const records = await consumer.poll({
        maxWaitMs: Math.max(0, Math.min(maxWaitMs, idleLeft)),
        maxRecords: maxMessages === undefined ? undefined : maxMessages - processed,
        signal: io.signal,
      });
      if (records.length === 0) continue;
      processed += records.length;
      lastActivity = Date.now();
      await writeOut(io.stdout, Buffer.concat(records.map((r) => formatRecord(r, r.partition, format))));
    }
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof StrataError)) throw err;
    const text = failureText(err, topic);
    await writeOut(io.stderr, `Error: ${text}\n`);
    exitCode = 1;
  } finally {
    // Commits what was printed and leaves the group, so the others take over at once.
    await consumer.close();
    await client.close();
  }
  await writeOut(io.stderr, `Processed a total of ${processed} messages\n`);
  return exitCode;
}
