import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { Acks, StrataClient } from '../client/client';
import { KafkaResponseError } from '../client/errors';
import { BatchingProducer } from '../client/producer';
import { CompressionName } from '../client/records';
import { codecFor } from '../log/codecs';
import { CommandSpec, ParsedArgs, UsageError, parseIntStrict } from './args';
import { kafkaErrorText } from './errorText';
import { CliIO, bootstrapServers, keyValues, writeOut } from './io';
import { PRODUCER_CONFIG_FLAG, commandClientConfig } from './clientConfig';
import { lineBatches } from './lineReader';
import { LINE_PARSER_PROPERTIES, lineParserConfig, parseRecordLine } from './recordLineParser';

/**
 * `strata console-producer`: one record per stdin line, like kafka-console-producer.sh.
 * Reads stdin as a stream (never the whole input at once), batches per partition and exits
 * once every record is acknowledged; any failure stops it with exit code 1 and a message.
 */
export const consoleProducerSpec: CommandSpec = {
  name: 'console-producer',
  summary: 'Read records from stdin, one per line, and produce them to a topic (like kafka-console-producer.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'Topic to produce to. Required.' },
    {
      name: 'producer-property',
      kind: 'repeatable',
      valueName: 'KEY=VALUE',
      description: `Producer setting: ${producerPropertyNames().join(', ')}; or a security setting (security.protocol, ssl.*, sasl.*).`,
    },
    PRODUCER_CONFIG_FLAG,
    {
      name: 'property',
      kind: 'repeatable',
      valueName: 'KEY=VALUE',
      description: `Line parsing: parse.key=true, key.separator=<TAB>, parse.headers=true (h1:v1,h2:v2<TAB> before the key), headers.delimiter, headers.separator, headers.key.separator, ignore.error, null.marker.`,
    },
    { name: 'request-required-acks', kind: 'value', valueName: 'all|-1|1|0', description: 'Same as --producer-property acks=... (default all).' },
    { name: 'compression-codec', kind: 'value', valueName: 'none|gzip|snappy|lz4|zstd', description: 'Same as --producer-property compression.type=...' },
    { name: 'batch-size', kind: 'value', valueName: 'BYTES', description: 'Send a partition\'s batch once it holds this many bytes (batch.size, default 16384).' },
    { name: 'timeout', kind: 'value', valueName: 'MS', description: 'Longest a record waits for its batch to fill (linger.ms, default 5).' },
    { name: 'partition', kind: 'value', valueName: 'P', description: 'Send every record to this partition instead of choosing by key.' },
    { name: 'max-line-bytes', kind: 'value', valueName: 'BYTES', description: 'Longest accepted input line (default 10485760).' },
  ],
  examples: [
    'printf "a\\nb\\n" | strata console-producer --bootstrap-server 127.0.0.1:9092 --topic orders',
    'printf "k1,v1\\nk2,v2\\n" | strata console-producer --bootstrap-server 127.0.0.1:9092 --topic orders --property parse.key=true --property key.separator=,',
    'strata console-producer --bootstrap-server 127.0.0.1:9092 --topic orders --producer-property acks=1 --producer-property compression.type=zstd < records.txt',
    'strata console-producer --bootstrap-server broker1:9093 --topic orders --producer.config client.properties < records.txt',
  ],
};

/** A function so the spec above (evaluated first) can list them. */
function producerPropertyNames(): string[] {
  return ['acks', 'compression.type', 'linger.ms', 'batch.size', 'max.in.flight.requests.per.connection', 'request.timeout.ms', 'client.id'];
}

const COMPRESSIONS: readonly CompressionName[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export function parseAcks(raw: string): Acks {
  switch (raw.trim().toLowerCase()) {
    case 'all':
    case '-1':
      return -1;
    case '1':
      return 1;
    case '0':
      return 0;
    default:
      throw new UsageError(`acks must be all, -1, 1 or 0, got '${raw}'`, consoleProducerSpec);
  }
}

/** A producer's compression.type (Kafka's values). */
export function parseCompression(raw: string): CompressionName {
  const name = raw.trim().toLowerCase();
  if (!(COMPRESSIONS as readonly string[]).includes(name)) {
    throw new UsageError(`compression.type must be one of ${COMPRESSIONS.join(', ')}, got '${raw}'`, consoleProducerSpec);
  }
  // A codec whose library did not load here is refused before anything is read or sent.
  if (name !== 'none' && codecFor(name as CompressionName) === null) {
    throw new UsageError(`compression.type=${name} is not available in this process: its library did not load (run npm ci)`, consoleProducerSpec);
  }
  return name as CompressionName;
}

export async function runConsoleProducer(args: ParsedArgs, io: CliIO & { signal?: AbortSignal }): Promise<number> {
  const topic = args.required('topic');
  const { security, properties: producerProps } = commandClientConfig(args, io, { flag: 'producer-property', supported: producerPropertyNames() });
  const parser = lineParserConfig(keyValues(args, 'property', LINE_PARSER_PROPERTIES));
  const acksRaw = args.string('request-required-acks') ?? producerProps.get('acks');
  const acks = acksRaw === undefined ? -1 : parseAcks(acksRaw);
  const compressionRaw = args.string('compression-codec') ?? producerProps.get('compression.type');
  const compression = compressionRaw === undefined ? 'none' : parseCompression(compressionRaw);
  const intProp = (flag: string | null, prop: string, dflt: number, min: number): number => {
    const fromFlag = flag === null ? undefined : args.string(flag);
    const raw = fromFlag ?? producerProps.get(prop);
    return raw === undefined ? dflt : parseIntStrict(raw, fromFlag !== undefined ? `--${flag}` : prop, { min, max: 2 ** 31 - 1 }, consoleProducerSpec);
  };
  const batchBytes = intProp('batch-size', 'batch.size', 16_384, 1);
  const lingerMs = intProp('timeout', 'linger.ms', 5, 0);
  const maxInFlight = intProp(null, 'max.in.flight.requests.per.connection', 5, 1);
  const requestTimeoutMs = intProp(null, 'request.timeout.ms', 30_000, 1);
  const maxLineBytes = args.int('max-line-bytes', { min: 1, max: 2 ** 31 - 1 }) ?? 10 * 1024 * 1024;
  const partition = args.int('partition', { min: 0, max: 2 ** 31 - 1 });

  const client = new StrataClient({
    bootstrapServers: bootstrapServers(args),
    clientId: producerProps.get('client.id') ?? 'strata-console-producer',
    requestTimeoutMs,
    security,
  });
  const producer = new BatchingProducer(client, { topic, acks, compression, lingerMs, batchBytes, maxInFlight, timeoutMs: requestTimeoutMs });
  let lineNumber = 0;
  // SIGINT ends the input like EOF does: what was read is still sent and acknowledged.
  const stopReading = (): void => {
    io.stdin.destroy();
  };
  io.signal?.addEventListener('abort', stopReading, { once: true });
  try {
    try {
      for await (const lines of lineBatches(io.stdin, maxLineBytes)) {
        for (const line of lines) {
          lineNumber++;
          const parsed = parseRecordLine(line, lineNumber, parser);
          await producer.send({ key: parsed.key, value: parsed.value, headers: parsed.headers, timestamp: BigInt(Date.now()), partition });
        }
        if (io.signal?.aborted) break;
      }
    } catch (err) {
      if (!io.signal?.aborted) throw err;
    }
    await producer.flush();
    return 0;
  } catch (err) {
    producer.abort();
    if (err instanceof UsageError) throw err;
    if (err instanceof StrataError) {
      await writeOut(io.stderr, `Error: ${producerErrorText(err, topic)}\n`);
      return 1;
    }
    throw err;
  } finally {
    io.signal?.removeEventListener('abort', stopReading);
    await client.close();
  }
}

function producerErrorText(err: StrataError, topic: string): string {
  if (!(err instanceof KafkaResponseError)) return err.message;
  if (err.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION && err.resource === `topic '${topic}'`) {
    return `topic '${topic}' does not exist and the broker did not create it (auto.create.topics.enable is off). Create it first: strata topics --bootstrap-server <host:port> --create --topic ${topic}`;
  }
  return `could not produce to topic '${topic}'${err.resource ? ` (${err.resource})` : ''}: ${kafkaErrorText(err, topic)}`;
}
