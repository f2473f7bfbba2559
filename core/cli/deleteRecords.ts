import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { DeletedRecords, HIGH_WATERMARK_OFFSET, LATEST_TIMESTAMP, RecordsToDelete, StrataClient } from '../client/client';
import { KafkaResponseError, isKafkaError } from '../client/errors';
import { CommandSpec, ParsedArgs, UsageError } from './args';
import { failureText, kafkaErrorText } from './errorText';
import { CliIO, bootstrapServers, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata delete-records`: kafka-delete-records.sh's input and output, so scripts carry over.
 * The partitions and offsets come from Kafka's JSON file (--offset-json-file) or, as a Strata
 * convenience, from --topic [--partition] --offset. Offset -1 means the high watermark (every
 * record goes). Bad input (a missing or malformed file, an offset below -1) is a usage error
 * found before connecting (exit 2); a partition the broker refuses is printed in the list
 * and makes the command fail (exit 1) once every partition has been tried.
 */
export const deleteRecordsSpec: CommandSpec = {
  name: 'delete-records',
  summary: 'Delete the records of partitions below given offsets, moving their log start offset (like kafka-delete-records.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    {
      name: 'offset-json-file',
      kind: 'value',
      valueName: 'FILE',
      description: 'The partitions and offsets, in Kafka\'s format: {"partitions":[{"topic":"orders","partition":0,"offset":5}],"version":1}. Offset -1 = the high watermark.',
    },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'Instead of a file: delete from this topic (needs --offset).' },
    { name: 'partition', kind: 'value', valueName: 'P', description: 'With --topic: only this partition (default: every partition of the topic).' },
    { name: 'offset', kind: 'value', valueName: 'N', description: 'With --topic: delete the records below offset N; -1 = below the high watermark (all of them).' },
    { name: 'timeout', kind: 'value', valueName: 'MS', description: 'How long the broker may take per request, in milliseconds (default 30000).' },
  ],
  examples: [
    'strata delete-records --bootstrap-server 127.0.0.1:9092 --offset-json-file offsets.json',
    'strata delete-records --bootstrap-server 127.0.0.1:9092 --topic orders --partition 0 --offset 1000',
    'strata delete-records --bootstrap-server 127.0.0.1:9092 --topic orders --offset -1',
  ],
};

const MAX_OFFSET = 2n ** 63n - 1n;
const MAX_PARTITION = 2 ** 31 - 1;

/** The JSON file's content does not have Kafka's shape (shown with the usage, exit 2). */
class OffsetFileError extends StrataError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

export async function runDeleteRecords(args: ParsedArgs, io: CliIO): Promise<number> {
  const input = checkArgs(args);
  const timeoutMs = args.int('timeout', { min: 1, max: 2 ** 31 - 1 }) ?? 30_000;
  const servers = bootstrapServers(args);
  const client = commandClient(args, io, { clientId: 'strata-delete-records' });
  const describeHint = (topic: string) => `check it with: strata topics --bootstrap-server ${servers.join(',')} --describe --topic ${topic}`;
  try {
    let targets: RecordsToDelete[];
    if (input.kind === 'file') {
      targets = input.targets;
    } else if (input.partition !== undefined) {
      targets = [{ topic: input.topic, partition: input.partition, offset: input.offset }];
    } else {
      let partitions: number[];
      try {
        partitions = (await client.describeTopics([input.topic]))[0].partitions.map((p) => p.partition);
      } catch (err) {
        if (isKafkaError(err, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) {
          await writeOut(io.stderr, `Error: topic '${input.topic}' does not exist; list the topics with: strata topics --bootstrap-server ${servers.join(',')} --list\n`);
          return 1;
        }
        throw err;
      }
      targets = partitions.map((partition) => ({ topic: input.topic, partition, offset: input.offset }));
    }

    await writeOut(io.stdout, 'Executing records delete operation\n');
    const results = await client.deleteRecords(targets, { timeoutMs });
    const requested = new Map(targets.map((t) => [`${t.partition}:${t.topic}`, t.offset]));
    const lines: string[] = [];
    for (const r of results) {
      const label = `${r.topic}-${r.partition}`;
      if (!r.error) {
        lines.push(`partition: ${label}\tlow_watermark: ${r.lowWatermark}`);
        continue;
      }
      const offset = requested.get(`${r.partition}:${r.topic}`)!;
      const highWatermark = r.error.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE ? await currentHighWatermark(client, r) : undefined;
      lines.push(`partition: ${label}\terror: ${deleteRecordsErrorText(r.error, { topic: r.topic, offset, highWatermark, timeoutMs, describeHint: describeHint(r.topic) })}`);
    }
    await writeOut(io.stdout, `Records delete operation completed:\n${lines.map((l) => `${l}\n`).join('')}`);
    const failed = results.filter((r) => r.error !== null).length;
    if (failed === 0) return 0;
    await writeOut(io.stderr, `Error: records of ${failed} of ${results.length} partition(s) could not be deleted; see the errors above.\n`);
    return 1;
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof StrataError)) throw err;
    const text = failureText(err);
    await writeOut(io.stderr, `Error: Executing records delete operation failed due to ${text}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

type Input = { kind: 'file'; targets: RecordsToDelete[] } | { kind: 'topic'; topic: string; partition?: number; offset: bigint };

/** The command-line checks, and the file read: everything that can be wrong before connecting. */
function checkArgs(args: ParsedArgs): Input {
  const file = args.string('offset-json-file');
  const topic = args.string('topic');
  if (file !== undefined && topic !== undefined) throw new UsageError('give either --offset-json-file or --topic, not both', deleteRecordsSpec);
  if (file === undefined && topic === undefined) throw new UsageError('missing the records to delete: give --offset-json-file FILE, or --topic TOPIC --offset N', deleteRecordsSpec);
  if (file !== undefined) {
    for (const flag of ['partition', 'offset']) {
      if (args.has(flag)) throw new UsageError(`--${flag} can only be used with --topic (in --offset-json-file the file names partitions and offsets)`, deleteRecordsSpec);
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
      throw new UsageError(`cannot read --offset-json-file '${file}': ${why}`, deleteRecordsSpec);
    }
    try {
      return { kind: 'file', targets: parseOffsetJson(text) };
    } catch (err) {
      if (err instanceof OffsetFileError) throw new UsageError(`--offset-json-file '${file}': ${err.message}`, deleteRecordsSpec);
      throw err;
    }
  }
  if (topic === '') throw new UsageError('--topic must not be empty', deleteRecordsSpec);
  const rawOffset = args.required('offset', 'with --topic: records below this offset go; -1 = the high watermark');
  const partition = args.int('partition', { min: 0, max: MAX_PARTITION });
  return { kind: 'topic', topic: topic!, partition, offset: parseOffset(rawOffset, '--offset', (m) => new UsageError(m, deleteRecordsSpec)) };
}

/** An offset: a base-10 integer from -1 (the high watermark) up to 2^63-1. */
function parseOffset(raw: string, what: string, error: (message: string) => Error): bigint {
  if (!/^-?\d+$/.test(raw.trim())) throw error(`${what} must be an integer, got '${raw}'`);
  const v = BigInt(raw.trim());
  if (v < HIGH_WATERMARK_OFFSET) throw error(`${what} must be at least -1 (-1 = the high watermark), got ${v}`);
  if (v > MAX_OFFSET) throw error(`${what} is out of range: ${v}`);
  return v;
}

/**
 * JSON.parse reads numbers as doubles, which round offsets past 2^53. Before parsing, each
 * `"offset": <integer>` member is turned into a string carrying this prefix, so the exact
 * digits survive and a number can still be told apart from a string the user wrote (a JSON
 * text cannot contain a raw NUL character, only the escape that produces it).
 */
const EXACT_INTEGER = '\u0000integer:';

/**
 * Kafka's offset JSON: {"partitions":[{"topic":"t","partition":0,"offset":5}],"version":1}.
 * As in Kafka, "version" may be left out (it defaults to 1) and other members are ignored; a
 * partition listed twice is an error. Throws OffsetFileError naming what to fix.
 */
export function parseOffsetJson(text: string): RecordsToDelete[] {
  const exact = text.replace(/("offset"\s*:\s*)(-?\d+)(?=\s*[,}])/g, (_, key: string, digits: string) => `${key}"\\u0000integer:${digits}"`);
  let doc: unknown;
  try {
    doc = JSON.parse(exact);
  } catch (err) {
    throw new OffsetFileError(`not valid JSON (${(err as Error).message}); expected ${FORMAT}`);
  }
  if (!isObject(doc)) throw new OffsetFileError(`expected a JSON object like ${FORMAT}`);
  if (doc.version !== undefined && doc.version !== 1) throw new OffsetFileError(`unsupported "version" ${JSON.stringify(doc.version)}; the only version is 1`);
  if (!Array.isArray(doc.partitions)) throw new OffsetFileError(`missing the "partitions" array; expected ${FORMAT}`);
  if (doc.partitions.length === 0) throw new OffsetFileError('"partitions" is empty: list at least one {"topic":...,"partition":...,"offset":...}');
  const out: RecordsToDelete[] = [];
  const seen = new Set<string>();
  const duplicates: string[] = [];
  doc.partitions.forEach((entry: unknown, i: number) => {
    const where = `partitions[${i}]`;
    if (!isObject(entry)) throw new OffsetFileError(`${where} must be an object like {"topic":"orders","partition":0,"offset":5}`);
    const { topic, partition, offset } = entry;
    if (typeof topic !== 'string' || topic === '') throw new OffsetFileError(`${where} needs a "topic" (a non-empty string)`);
    if (typeof partition !== 'number' || !Number.isInteger(partition) || partition < 0 || partition > MAX_PARTITION) {
      throw new OffsetFileError(`${where} needs a "partition" (an integer from 0), got ${partition === undefined ? 'none' : JSON.stringify(partition)}`);
    }
    if (typeof offset !== 'string' || !offset.startsWith(EXACT_INTEGER)) {
      throw new OffsetFileError(`${where} needs an "offset" (an integer; -1 = the high watermark), got ${offset === undefined ? 'none' : JSON.stringify(offset)}`);
    }
    const value = parseOffset(offset.slice(EXACT_INTEGER.length), `${where} "offset"`, (m) => new OffsetFileError(m));
    const key = `${topic}-${partition}`;
    if (seen.has(`${partition}:${topic}`)) duplicates.push(key);
    seen.add(`${partition}:${topic}`);
    out.push({ topic, partition, offset: value });
  });
  if (duplicates.length > 0) throw new OffsetFileError(`lists these partitions more than once: ${[...new Set(duplicates)].join(', ')}; keep one offset per partition`);
  return out;
}

const FORMAT = '{"partitions":[{"topic":"orders","partition":0,"offset":5}],"version":1}';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The high watermark, to say what a refused offset should have been; undefined if it cannot be read. */
async function currentHighWatermark(client: StrataClient, r: DeletedRecords): Promise<bigint | undefined> {
  try {
    return (await client.listOffsets(r.topic, r.partition, LATEST_TIMESTAMP)).offset;
  } catch {
    return undefined;
  }
}

/** One partition's refusal as a sentence that says what to do about it. */
export function deleteRecordsErrorText(e: KafkaResponseError, ctx: { topic: string; offset: bigint; highWatermark?: bigint; timeoutMs: number; describeHint: string }): string {
  switch (e.errorCode) {
    case ErrorCode.OFFSET_OUT_OF_RANGE:
      return ctx.highWatermark !== undefined
        ? `offset ${ctx.offset} is above the high watermark ${ctx.highWatermark}; give an offset up to ${ctx.highWatermark}, or -1 for the high watermark`
        : `offset ${ctx.offset} is not within the partition's offsets; give an offset up to its high watermark, or -1 for the high watermark`;
    case ErrorCode.POLICY_VIOLATION:
      return "the topic's cleanup.policy does not include 'delete' (records of a compacted topic cannot be deleted by offset); set cleanup.policy=compact,delete on the topic to allow it";
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
      return `${e.errorMessage ?? 'the broker does not host this topic-partition'}; ${ctx.describeHint}`;
    case ErrorCode.REQUEST_TIMED_OUT:
      return `the broker did not finish within ${ctx.timeoutMs} ms (a tiered partition first waits for its upload in flight); the deletion goes on: run the command again to see the new low watermark, or raise --timeout`;
    default:
      return kafkaErrorText(e, ctx.topic);
  }
}
