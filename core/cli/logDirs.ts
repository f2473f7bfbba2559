import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import type { KafkaResponseError } from '../client/errors';
import { LogDirsAdmin, type BrokerLogDirs } from '../client/logDirsAdmin';
import { CommandSpec, ParsedArgs, UsageError, parseArgs, parseIntStrict } from './args';
import { failureText } from './errorText';
import { CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata log-dirs --describe`: kafka-log-dirs.sh (Kafka's LogDirsCommand), with its flags and
 * its output, so scripts that parse it carry over: two progress lines, then one JSON line
 *
 *   Querying brokers for log directories information
 *   Received log directory information from brokers 0
 *   {"brokers":[{"broker":0,"logDirs":[{"partitions":[{"partition":"orders-0","size":1024,
 *     "offsetLag":0,"isFuture":false}],"error":null,"logDir":"/data"}]}],"version":1}
 *
 * (keys in the order Kafka's Jackson/HashMap output has them; brokers by id, partitions by topic
 * and partition). Every broker is asked for every partition, and --topic-list filters the
 * answer, as Kafka's tool does. A directory's "error" is the Java exception class Kafka names
 * (e.g. org.apache.kafka.common.errors.KafkaStorageException for an offline dir), else null.
 */
export const logDirsSpec: CommandSpec = {
  name: 'log-dirs',
  summary: 'Describe the log directories of brokers: partition sizes and offset lag (like kafka-log-dirs.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'describe', kind: 'switch', description: 'Describe the log directories on the brokers. Required.' },
    { name: 'topic-list', kind: 'value', valueName: 'T1,T2,...', description: 'Only partitions of these topics (default: every topic).' },
    { name: 'broker-list', kind: 'value', valueName: 'ID1,ID2,...', description: 'Only these brokers (default: every broker in the cluster).' },
  ],
  examples: [
    'strata log-dirs --bootstrap-server 127.0.0.1:9092 --describe',
    'strata log-dirs --bootstrap-server 127.0.0.1:9092 --describe --topic-list orders,payments --broker-list 0',
  ],
};

/** Kafka's names (Errors.exception().getClass().getName()) for what a log dir can answer. */
const JAVA_EXCEPTION: Record<number, string> = {
  [ErrorCode.KAFKA_STORAGE_ERROR]: 'org.apache.kafka.common.errors.KafkaStorageException',
  [ErrorCode.UNKNOWN_SERVER_ERROR]: 'org.apache.kafka.common.errors.UnknownServerException',
  [ErrorCode.CLUSTER_AUTHORIZATION_FAILED]: 'org.apache.kafka.common.errors.ClusterAuthorizationException',
};

/** --topic-list / --broker-list: split at commas, empty items dropped (Kafka's splitAtCommasAndFilterOutEmpty). */
function commaList(raw: string | undefined): string[] {
  return (raw ?? '').split(',').filter((x) => x !== '');
}

function checkArgs(args: ParsedArgs): { topics: Set<string>; brokers: number[] } {
  if (!args.flag('describe')) throw new UsageError('missing required flag --describe (the only action: describe the log directories)', logDirsSpec);
  const brokers = [...new Set(commaList(args.string('broker-list')).map((b) => parseIntStrict(b.trim(), '--broker-list entry', { min: 0, max: 2 ** 31 - 1 }, logDirsSpec)))];
  return { topics: new Set(commaList(args.string('topic-list'))), brokers };
}

export async function runLogDirs(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, logDirsSpec);
  const { topics, brokers: asked } = checkArgs(args);
  const client = commandClient(args, io, { clientId: 'strata-log-dirs' });
  try {
    const admin = new LogDirsAdmin(client);
    const cluster = await admin.brokerIds();
    const missing = asked.filter((b) => !cluster.includes(b)).sort((a, b) => a - b);
    if (missing.length > 0) {
      await writeOut(io.stderr, `ERROR: The given brokers do not exist from --broker-list: ${missing.join(',')}. Current existent brokers: ${cluster.join(',')}\n`);
      return 1;
    }
    const brokers = (asked.length > 0 ? asked : cluster).slice().sort((a, b) => a - b);
    await writeOut(io.stdout, 'Querying brokers for log directories information\n');
    const described = await admin.describeLogDirs(brokers);
    const failed = described.find((d) => d.error !== null);
    if (failed) {
      await writeOut(io.stderr, `Error: could not describe the log directories of broker ${failed.brokerId}: ${failureText(failed.error!)}\n`);
      return 1;
    }
    await writeOut(io.stdout, `Received log directory information from brokers ${brokers.join(',')}\n`);
    await writeOut(io.stdout, `${formatLogDirsJson(described, topics)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof StrataError) || err instanceof UsageError) throw err;
    await writeOut(io.stderr, `Error: ${failureText(err)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

/** Kafka's LogDirsCommand.formatAsJson, keys in the order its output has them. Sizes are exact (bigint). */
export function formatLogDirsJson(described: readonly BrokerLogDirs[], topics: ReadonlySet<string>): string {
  const brokers = [...described]
    .sort((a, b) => a.brokerId - b.brokerId)
    .map((b) => {
      const logDirs = b.logDirs.map((d) => {
        const partitions = d.replicas
          .filter((r) => topics.size === 0 || topics.has(r.topic))
          .map((r) => `{"partition":${JSON.stringify(`${r.topic}-${r.partition}`)},"size":${r.size},"offsetLag":${r.offsetLag},"isFuture":${r.isFuture}}`);
        return `{"partitions":[${partitions.join(',')}],"error":${errorJson(d.error)},"logDir":${JSON.stringify(d.logDir)}}`;
      });
      return `{"broker":${b.brokerId},"logDirs":[${logDirs.join(',')}]}`;
    });
  return `{"brokers":[${brokers.join(',')}],"version":1}`;
}

function errorJson(e: KafkaResponseError | null): string {
  if (e === null) return 'null';
  return JSON.stringify(JAVA_EXCEPTION[e.errorCode] ?? e.errorName);
}
