import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { KafkaResponseError } from '../client/errors';
import {
  AbortTransactionSpec,
  DEFAULT_MAX_TRANSACTION_TIMEOUT_MS,
  HangingTransaction,
  ProducerState,
  TransactionDescription,
  TransactionListing,
  TransactionsAdmin,
} from '../client/transactionsAdmin';
import { CommandSpec, ParsedArgs, UsageError, parseArgs } from './args';
import { kafkaErrorText } from './errorText';
import { CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata transactions`: kafka-transactions.sh (KIP-664), to find and abort hanging
 * transactions: --list, --describe, --describe-producers, --abort and --find-hanging, with
 * Kafka's flags and its tab-separated tables. Kafka spells the action as a sub-command
 * (`kafka-transactions.sh --bootstrap-server B list`); that spelling is accepted too.
 * Kafka's tool prints nothing when an abort succeeds, and neither does this one.
 */
export const transactionsSpec: CommandSpec = {
  name: 'transactions',
  summary: 'List and describe transactions and producers; find and abort hanging transactions (like kafka-transactions.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'list', kind: 'switch', description: 'List the transactional ids every broker coordinates, with producer id and state.' },
    { name: 'describe', kind: 'switch', description: 'Describe the transaction state of --transactional-id at its coordinator.' },
    { name: 'describe-producers', kind: 'switch', description: 'Describe the active producers of --topic --partition at its leader (or --broker-id).' },
    { name: 'abort', kind: 'switch', description: 'Abort a hanging transaction on --topic --partition: by --start-offset, or by --producer-id, --producer-epoch and --coordinator-epoch.' },
    { name: 'find-hanging', kind: 'switch', description: 'Find hanging transactions on the partitions of --broker-id or --topic [--partition].' },
    { name: 'transactional-id', kind: 'value', valueName: 'ID', description: 'With --describe: the transactional id.' },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'With --describe-producers, --abort, --find-hanging: the topic.' },
    { name: 'partition', kind: 'value', valueName: 'P', description: 'With --describe-producers, --abort, --find-hanging (needs --topic): the partition.' },
    { name: 'broker-id', kind: 'value', valueName: 'N', description: 'With --find-hanging: search the partitions broker N hosts. With --describe-producers: ask broker N instead of the leader.' },
    { name: 'start-offset', kind: 'value', valueName: 'OFFSET', description: 'With --abort: the first offset of the transaction to abort (see --describe-producers or --find-hanging).' },
    { name: 'producer-id', kind: 'value', valueName: 'ID', description: 'With --abort, instead of --start-offset: the producer id.' },
    { name: 'producer-epoch', kind: 'value', valueName: 'EPOCH', description: 'With --abort --producer-id: the producer epoch.' },
    { name: 'coordinator-epoch', kind: 'value', valueName: 'EPOCH', description: 'With --abort --producer-id: the coordinator epoch (a negative one is sent as 0).' },
    { name: 'max-transaction-timeout', kind: 'value', valueName: 'MINUTES', description: 'With --find-hanging: the longest transaction timeout in the cluster, in minutes (default 15).' },
    { name: 'duration-filter', kind: 'value', valueName: 'MS', description: 'With --list: only transactions running longer than MS milliseconds (needs a Kafka 3.8+ broker); negative: all.' },
  ],
  examples: [
    'strata transactions --bootstrap-server 127.0.0.1:9092 --list',
    'strata transactions --bootstrap-server 127.0.0.1:9092 --describe --transactional-id payments-1',
    'strata transactions --bootstrap-server 127.0.0.1:9092 --find-hanging --broker-id 0',
    'strata transactions --bootstrap-server 127.0.0.1:9092 --describe-producers --topic orders --partition 0',
    'strata transactions --bootstrap-server 127.0.0.1:9092 --abort --topic orders --partition 0 --start-offset 1042',
  ],
};

const ACTIONS = ['list', 'describe', 'describe-producers', 'abort', 'find-hanging'] as const;
type Action = (typeof ACTIONS)[number];

/** Which flags make sense with which action: anything else is a usage error, not ignored. */
const ONLY_WITH: Record<string, readonly Action[]> = {
  'transactional-id': ['describe'],
  topic: ['describe-producers', 'abort', 'find-hanging'],
  partition: ['describe-producers', 'abort', 'find-hanging'],
  'broker-id': ['describe-producers', 'find-hanging'],
  'start-offset': ['abort'],
  'producer-id': ['abort'],
  'producer-epoch': ['abort'],
  'coordinator-epoch': ['abort'],
  'max-transaction-timeout': ['find-hanging'],
  'duration-filter': ['list'],
};

export const LIST_HEADERS = ['TransactionalId', 'Coordinator', 'ProducerId', 'TransactionState'] as const;
export const DESCRIBE_HEADERS = [
  'CoordinatorId',
  'TransactionalId',
  'ProducerId',
  'ProducerEpoch',
  'TransactionState',
  'TransactionTimeoutMs',
  'CurrentTransactionStartTimeMs',
  'TransactionDurationMs',
  'TopicPartitions',
] as const;
export const PRODUCERS_HEADERS = ['ProducerId', 'ProducerEpoch', 'LatestCoordinatorEpoch', 'LastSequence', 'LastTimestamp', 'CurrentTransactionStartOffset'] as const;
export const HANGING_HEADERS = ['Topic', 'Partition', 'ProducerId', 'ProducerEpoch', 'CoordinatorEpoch', 'StartOffset', 'LastTimestamp', 'Duration(min)'] as const;

const MAX_INT32 = 2 ** 31 - 1;
const MAX_INT64 = 2n ** 63n - 1n;
const MIN_INT64 = -(2n ** 63n);

/** A failure already worded as kafka-transactions.sh words it: printed as one line, exit 1. */
class TransactionsCommandError extends StrataError {
  constructor(message: string, cause?: StrataError) {
    super(cause?.code ?? 'INPUT_INVALID', message, { cause });
  }
}

export async function runTransactions(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(withKafkaSubcommand(argv), transactionsSpec);
  const action = checkArgs(args);
  const client = commandClient(args, io, { clientId: 'strata-transactions' });
  const admin = new TransactionsAdmin(client);
  try {
    switch (action) {
      case 'list':
        return await list(admin, args, io);
      case 'describe':
        return await describe(admin, args, io);
      case 'describe-producers':
        return await describeProducers(admin, args, io);
      case 'abort':
        return await abort(admin, args, io);
      case 'find-hanging':
        return await findHanging(admin, args, io);
    }
  } catch (err) {
    if (err instanceof TransactionsCommandError) {
      await writeOut(io.stderr, `${err.message}\n`);
      const cause = err.cause instanceof Error ? err.cause : err;
      if (process.env.STRATA_DEBUG === '1' && cause.stack) await writeOut(io.stderr, `${cause.stack}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

/**
 * Kafka's tool takes the action as a sub-command word (`... --bootstrap-server B list`); the
 * strict parser takes flags only, so such a word becomes its flag. A flag's value is left
 * alone (`--topic list` names a topic).
 */
function withKafkaSubcommand(argv: readonly string[]): string[] {
  const takesValue = new Set(transactionsSpec.flags.filter((f) => f.kind !== 'switch').map((f) => f.name));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word.startsWith('--')) {
      out.push(word);
      const next = argv[i + 1];
      if (!word.includes('=') && takesValue.has(word.slice(2)) && next !== undefined && !next.startsWith('--')) out.push(argv[++i]);
    } else {
      out.push((ACTIONS as readonly string[]).includes(word) ? `--${word}` : word);
    }
  }
  return out;
}

/** The command-line checks, before connecting (Kafka's own messages where it has one). */
function checkArgs(args: ParsedArgs): Action {
  const actions = ACTIONS.filter((a) => args.flag(a));
  if (actions.length !== 1) throw new UsageError(`Command must include exactly one action: ${ACTIONS.map((a) => `--${a}`).join(', ')}`, transactionsSpec);
  const action = actions[0];
  for (const [flag, allowed] of Object.entries(ONLY_WITH)) {
    if (args.has(flag) && !allowed.includes(action)) throw new UsageError(`--${flag} can only be used with ${allowed.map((a) => `--${a}`).join(', ')}`, transactionsSpec);
  }
  if (args.string('topic') === '') throw new UsageError('--topic must not be empty', transactionsSpec);
  switch (action) {
    case 'describe':
      args.required('transactional-id', 'the transactional id to describe');
      break;
    case 'describe-producers':
      args.required('topic');
      args.required('partition');
      break;
    case 'abort': {
      args.required('topic');
      args.required('partition');
      const byProducer = ['producer-id', 'producer-epoch', 'coordinator-epoch'].filter((f) => args.has(f));
      if (args.has('start-offset') && byProducer.length > 0) {
        throw new UsageError(`give either --start-offset or --producer-id, --producer-epoch and --coordinator-epoch, not both (got --start-offset and --${byProducer[0]})`, transactionsSpec);
      }
      if (!args.has('start-offset') && !args.has('producer-id')) {
        throw new UsageError(
          'The transaction to abort must be identified either with --start-offset (for brokers on 3.0 or above) or with --producer-id, --producer-epoch, and --coordinator-epoch (for older brokers)',
          transactionsSpec,
        );
      }
      if (args.has('producer-id') && !args.has('producer-epoch')) throw new UsageError('Missing required argument --producer-epoch', transactionsSpec);
      if (args.has('producer-id') && !args.has('coordinator-epoch')) throw new UsageError('Missing required argument --coordinator-epoch', transactionsSpec);
      break;
    }
    case 'find-hanging':
      if (!args.has('topic') && !args.has('broker-id')) throw new UsageError('The `find-hanging` command requires either --topic or --broker-id to limit the scope of the search', transactionsSpec);
      if (args.has('partition') && !args.has('topic')) throw new UsageError('The --partition argument requires --topic to be provided', transactionsSpec);
      break;
    case 'list':
      break;
  }
  // Parse every number now, so a bad one is a usage error before connecting.
  args.int('partition', { min: 0, max: MAX_INT32 });
  args.int('broker-id', { min: 0, max: MAX_INT32 });
  args.int('producer-epoch', { min: 0, max: 32767 });
  args.int('coordinator-epoch', { min: -(2 ** 31), max: MAX_INT32 });
  args.int('max-transaction-timeout', { min: 0, max: 2 ** 31 - 1 });
  long(args, 'start-offset', 0n);
  long(args, 'producer-id', 0n);
  long(args, 'duration-filter', MIN_INT64);
  return action;
}

/** A 64-bit flag value as a bigint (exact beyond 2^53), at least `min`. */
function long(args: ParsedArgs, flag: string, min: bigint): bigint | undefined {
  const raw = args.string(flag);
  if (raw === undefined) return undefined;
  if (!/^[-+]?\d+$/.test(raw.trim())) throw new UsageError(`--${flag} must be an integer, got '${raw}'`, transactionsSpec);
  const v = BigInt(raw.trim());
  if (v < min) throw new UsageError(`--${flag} must be at least ${min}, got ${v}`, transactionsSpec);
  if (v > MAX_INT64) throw new UsageError(`--${flag} is out of range: '${raw}'`, transactionsSpec);
  return v;
}

/**
 * Runs one step; a failure becomes kafka-transactions.sh's "<what>: <reason>" line. `where`
 * adds what a broker's refusal was about, for steps whose `what` does not say it.
 */
async function step<T>(what: string, run: () => Promise<T>, opts: { where?: boolean } = {}): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof StrataError && !(err instanceof UsageError) && !(err instanceof TransactionsCommandError)) {
      const where = opts.where && err instanceof KafkaResponseError && err.resource ? ` (${err.resource})` : '';
      throw new TransactionsCommandError(`${what}: ${reasonText(err)}${where}`, err);
    }
    throw err;
  }
}

// ---------------------------------------------------------------- the actions

async function list(admin: TransactionsAdmin, args: ParsedArgs, io: CliIO): Promise<number> {
  const durationFilterMs = long(args, 'duration-filter', MIN_INT64);
  const listings = await step('Failed to list transactions', () => admin.listTransactions({ durationFilterMs }), { where: true });
  await writeOut(io.stdout, formatListings(listings));
  return 0;
}

async function describe(admin: TransactionsAdmin, args: ParsedArgs, io: CliIO): Promise<number> {
  const id = args.required('transactional-id');
  const what = `Failed to describe transaction state of transactional-id \`${id}\``;
  const [r] = await step(what, () => admin.describeTransactions([id]));
  if (r.error) throw new TransactionsCommandError(`${what}: ${reasonText(r.error)}`, r.error);
  await writeOut(io.stdout, formatDescription(r.description!, Date.now()));
  return 0;
}

async function describeProducers(admin: TransactionsAdmin, args: ParsedArgs, io: CliIO): Promise<number> {
  const topic = args.required('topic');
  const partition = args.int('partition')!;
  const brokerId = args.int('broker-id');
  const what = `Failed to describe producers for partition ${topic}-${partition} on ${brokerId === undefined ? 'leader' : `broker ${brokerId}`}`;
  const [r] = await step(what, () => admin.describeProducers(topic, [partition], { brokerId }));
  if (r.error) throw new TransactionsCommandError(`${what}: ${reasonText(r.error)}`, r.error);
  await writeOut(io.stdout, formatProducers(r.activeProducers));
  return 0;
}

async function abort(admin: TransactionsAdmin, args: ParsedArgs, io: CliIO): Promise<number> {
  const topic = args.required('topic');
  const partition = args.int('partition')!;
  const tp = `${topic}-${partition}`;
  const startOffset = long(args, 'start-offset', 0n);
  let spec: AbortTransactionSpec;
  if (startOffset === undefined) {
    // A transaction that hung before its producer's first commit or abort shows coordinator
    // epoch -1 in DescribeProducers; 0 is at most any real coordinator epoch, as Kafka reasons.
    spec = { topic, partition, producerId: long(args, 'producer-id', 0n)!, producerEpoch: args.int('producer-epoch')!, coordinatorEpoch: Math.max(0, args.int('coordinator-epoch')!) };
  } else {
    const what = `Failed to validate producer state for partition ${tp}`;
    const [r] = await step(what, () => admin.describeProducers(topic, [partition]));
    if (r.error) throw new TransactionsCommandError(`${what}: ${reasonText(r.error)}`, r.error);
    const open = r.activeProducers.find((p) => p.currentTxnStartOffset >= 0n && p.currentTxnStartOffset === startOffset);
    if (!open) throw new TransactionsCommandError(`Could not find any open transactions starting at offset ${startOffset} on partition ${tp}`);
    spec = { topic, partition, producerId: open.producerId, producerEpoch: open.producerEpoch, coordinatorEpoch: Math.max(0, open.coordinatorEpoch) };
  }
  await step(`Failed to abort transaction ${abortSpecText(spec)}`, () => admin.abortTransaction(spec));
  return 0;
}

async function findHanging(admin: TransactionsAdmin, args: ParsedArgs, io: CliIO): Promise<number> {
  const minutes = args.int('max-transaction-timeout');
  const hanging = await step('Failed to find hanging transactions', () =>
    admin.findHangingTransactions({
      brokerId: args.int('broker-id'),
      topic: args.string('topic'),
      partition: args.int('partition'),
      maxTransactionTimeoutMs: minutes === undefined ? DEFAULT_MAX_TRANSACTION_TIMEOUT_MS : minutes * 60_000,
    }),
    { where: true },
  );
  await writeOut(io.stdout, formatHanging(hanging, Date.now()));
  return 0;
}

// ---------------------------------------------------------------- output

/**
 * Kafka's table (ToolsUtils.prettyPrintTable): each column as wide as its widest cell or
 * header, every cell padded and followed by a tab, the header first.
 */
export function prettyPrintTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => `${c.padEnd(widths[i])}\t`).join('') + '\n';
  return line(headers) + rows.map(line).join('');
}

/** `--list`: one row per transactional id, by coordinator. */
export function formatListings(listings: TransactionListing[]): string {
  return prettyPrintTable(
    LIST_HEADERS,
    listings.map((l) => [l.transactionalId, String(l.coordinatorId), String(l.producerId), l.state]),
  );
}

/** `--describe`: the start time and duration print as None when no transaction is open. */
export function formatDescription(d: TransactionDescription, nowMs: number): string {
  const start = d.transactionStartTimeMs;
  return prettyPrintTable(DESCRIBE_HEADERS, [
    [
      String(d.coordinatorId),
      d.transactionalId,
      String(d.producerId),
      String(d.producerEpoch),
      d.state,
      String(d.transactionTimeoutMs),
      start === null ? 'None' : String(start),
      start === null ? 'None' : String(BigInt(nowMs) - start),
      d.topicPartitions.map((tp) => `${tp.topic}-${tp.partition}`).join(','),
    ],
  ]);
}

/** `--describe-producers`: CurrentTransactionStartOffset is None when no transaction is open. */
export function formatProducers(producers: ProducerState[]): string {
  return prettyPrintTable(
    PRODUCERS_HEADERS,
    producers.map((p) => [
      String(p.producerId),
      String(p.producerEpoch),
      String(p.coordinatorEpoch < 0 ? -1 : p.coordinatorEpoch),
      String(p.lastSequence),
      String(p.lastTimestamp),
      p.currentTxnStartOffset < 0n ? 'None' : String(p.currentTxnStartOffset),
    ]),
  );
}

/** `--find-hanging`: the header alone when nothing hangs; Duration(min) counts from the producer's last write. */
export function formatHanging(hanging: HangingTransaction[], nowMs: number): string {
  return prettyPrintTable(
    HANGING_HEADERS,
    hanging.map((h) => [
      h.topic,
      String(h.partition),
      String(h.producerId),
      String(h.producerEpoch),
      String(h.coordinatorEpoch < 0 ? -1 : h.coordinatorEpoch),
      String(h.currentTxnStartOffset),
      String(h.lastTimestamp),
      String((BigInt(nowMs) - h.lastTimestamp) / 60_000n),
    ]),
  );
}

/** Kafka's AbortTransactionSpec.toString(), as its tool names the transaction in errors. */
export function abortSpecText(s: AbortTransactionSpec): string {
  return `AbortTransactionSpec(topicPartition=${s.topic}-${s.partition}, producerId=${s.producerId}, producerEpoch=${s.producerEpoch}, coordinatorEpoch=${s.coordinatorEpoch})`;
}

/** Why a step failed: a broker's refusal in Kafka's words (its Errors messages), else the error's own message. */
export function reasonText(e: StrataError): string {
  if (!(e instanceof KafkaResponseError)) return e.message;
  if (e.errorMessage) return e.errorMessage;
  switch (e.errorCode) {
    case ErrorCode.TRANSACTIONAL_ID_NOT_FOUND:
      return 'The transactionalId could not be found.';
    case ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return 'Transactional Id authorization failed.';
    case ErrorCode.CLUSTER_AUTHORIZATION_FAILED:
      return 'Cluster authorization failed.';
    case ErrorCode.TOPIC_AUTHORIZATION_FAILED:
      return 'Topic authorization failed.';
    case ErrorCode.INVALID_PRODUCER_EPOCH:
      return 'Producer attempted to produce with an old epoch.';
    case ErrorCode.TRANSACTION_COORDINATOR_FENCED:
      return 'Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.';
    case ErrorCode.COORDINATOR_NOT_AVAILABLE:
      return 'The coordinator is not available.';
    case ErrorCode.NOT_COORDINATOR:
      return 'This is not the correct coordinator.';
    case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
      return "The coordinator is loading and hence can't process requests.";
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
      return 'For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.';
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
      return 'This server does not host this topic-partition.';
    default:
      return kafkaErrorText(e);
  }
}
