/**
 * `strata log-dirs` in-process (runCli) against fake brokers (test/client/fakeBroker.ts) that
 * answer DescribeLogDirs as scripted: kafka-log-dirs.sh's output (two lines, then the JSON with
 * Kafka's key order, an offline dir's Java exception name), --topic-list and --broker-list as
 * Kafka's tool reads them, a broker refusing the request, and the usage errors found before
 * connecting. The real broker's answers are checked in test/integration/describeLogDirs.test.ts.
 */
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { DescribeLogDirsResponse } from '../../core/protocol/generated/DescribeLogDirsResponse';
import { formatLogDirsJson } from '../../core/cli/logDirs';
import { KafkaResponseError } from '../../core/client/errors';
import { FakeBroker, type HookResult } from '../client/fakeBroker';
import { runCli } from './runCli';

let nodes: FakeBroker[] = [];
let answer: (node: number, version: number) => DescribeLogDirsResponse | { close: true };
let asked: Array<{ node: number; version: number; topics: unknown }> = [];

async function cluster(n: number, versions?: Map<number, [number, number]>): Promise<void> {
  nodes = [];
  for (let id = 0; id < n; id++) {
    nodes.push(
      await FakeBroker.start({
        versions,
        hook: (h, req): HookResult => {
          if (h.apiKey === ApiKey.Metadata) {
            return { response: { throttleTimeMs: 0, brokers: nodes.map((b, nodeId) => ({ nodeId, host: '127.0.0.1', port: b.port, rack: null })), clusterId: 'fake', controllerId: 0, topics: [] } };
          }
          if (h.apiKey !== ApiKey.DescribeLogDirs) return undefined;
          asked.push({ node: id, version: h.apiVersion, topics: req.topics });
          const a = answer(id, h.apiVersion);
          return 'close' in a ? a : { response: a };
        },
      }),
    );
  }
}

const part = (partitionIndex: number, partitionSize: bigint) => ({ partitionIndex, partitionSize, offsetLag: 0n, isFutureKey: false });

/** Broker n's answer: one healthy dir with partitions (listed out of order), and on broker 1 an offline dir too. */
function healthy(node: number): DescribeLogDirsResponse {
  const results: DescribeLogDirsResponse['results'] = [
    {
      errorCode: 0,
      logDir: `/data/broker-${node}`,
      topics: [
        { name: 'payments', partitions: [part(1, 10n), part(0, 2n ** 40n)] },
        { name: 'orders', partitions: [part(0, 512n)] },
      ],
      totalBytes: 1000n,
      usableBytes: 400n,
    },
  ];
  if (node === 1) results.push({ errorCode: ErrorCode.KAFKA_STORAGE_ERROR, logDir: '/data/broken', topics: [], totalBytes: -1n, usableBytes: -1n });
  return { throttleTimeMs: 0, errorCode: 0, results };
}

beforeEach(() => {
  asked = [];
  answer = healthy;
});

afterEach(async () => {
  for (const b of nodes) await b.close();
  nodes = [];
});

const HEAD = 'Querying brokers for log directories information\n';

test("every broker of the cluster, asked for every partition: Kafka's lines and JSON, brokers by id, partitions by topic and partition", async () => {
  await cluster(2);
  const r = await runCli(['log-dirs', '--bootstrap-server', nodes[0].bootstrap, '--describe']);
  const dir0 = '{"partitions":[{"partition":"orders-0","size":512,"offsetLag":0,"isFuture":false},{"partition":"payments-0","size":1099511627776,"offsetLag":0,"isFuture":false},{"partition":"payments-1","size":10,"offsetLag":0,"isFuture":false}],"error":null,"logDir":"/data/broker-0"}';
  const dir1 = dir0.replace('broker-0', 'broker-1');
  const broken = '{"partitions":[],"error":"org.apache.kafka.common.errors.KafkaStorageException","logDir":"/data/broken"}';
  expect(r).toEqual({
    code: 0,
    stdout: `${HEAD}Received log directory information from brokers 0,1\n{"brokers":[{"broker":0,"logDirs":[${dir0}]},{"broker":1,"logDirs":[${dir1},${broken}]}],"version":1}\n`,
    stderr: '',
  });
  // As Kafka's Admin.describeLogDirs: topics null (every partition), at the newest version both speak.
  expect(asked.sort((a, b) => a.node - b.node)).toEqual([
    { node: 0, version: 4, topics: null },
    { node: 1, version: 4, topics: null },
  ]);
});

test('--topic-list filters the partitions printed (empty items ignored); --broker-list picks brokers', async () => {
  await cluster(2);
  const r = await runCli(['log-dirs', '--bootstrap-server', nodes[0].bootstrap, '--describe', '--topic-list', ',orders,,nothing', '--broker-list', '1,']);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    `${HEAD}Received log directory information from brokers 1\n` +
      '{"brokers":[{"broker":1,"logDirs":[{"partitions":[{"partition":"orders-0","size":512,"offsetLag":0,"isFuture":false}],"error":null,"logDir":"/data/broker-1"},' +
      '{"partitions":[],"error":"org.apache.kafka.common.errors.KafkaStorageException","logDir":"/data/broken"}]}],"version":1}\n',
  );
  expect(asked.map((a) => a.node)).toEqual([1]);
});

test("brokers not in the cluster: Kafka's message, exit 1, nobody asked", async () => {
  await cluster(1);
  const r = await runCli(['log-dirs', '--bootstrap-server', nodes[0].bootstrap, '--describe', '--broker-list', '7,0,5']);
  expect(r).toEqual({ code: 1, stdout: '', stderr: 'ERROR: The given brokers do not exist from --broker-list: 5,7. Current existent brokers: 0\n' });
  expect(asked).toEqual([]);
});

test('a broker refusing the request as a whole (top-level error from v3, no dirs before: CLUSTER_AUTHORIZATION_FAILED, as the Java admin reads it): exit 1', async () => {
  await cluster(1);
  answer = () => ({ throttleTimeMs: 0, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, results: [] });
  let r = await runCli(['log-dirs', '--bootstrap-server', nodes[0].bootstrap, '--describe']);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe(HEAD);
  expect(r.stderr).toBe('Error: could not describe the log directories of broker 0: UNKNOWN_SERVER_ERROR (Kafka error code -1) for broker 0\n');

  for (const b of nodes) await b.close();
  asked = [];
  // A broker speaking DescribeLogDirs 0-2 (before Kafka 2.7's v3 top-level error code).
  await cluster(1, new Map<number, [number, number]>([[ApiKey.ApiVersions, [0, 3]], [ApiKey.Metadata, [0, 12]], [ApiKey.DescribeLogDirs, [0, 2]]]));
  answer = () => ({ throttleTimeMs: 0, results: [] });
  r = await runCli(['log-dirs', '--bootstrap-server', nodes[0].bootstrap, '--describe']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('CLUSTER_AUTHORIZATION_FAILED');
  expect(asked.map((a) => a.version)).toEqual([2]);
});

test('a broker that drops the connection: exit 1 with the reason', async () => {
  await cluster(1);
  answer = () => ({ close: true });
  const r = await runCli(['log-dirs', '--bootstrap-server', nodes[0].bootstrap, '--describe']);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe(HEAD);
  expect(r.stderr).toMatch(/^Error: could not describe the log directories of broker 0: .+\n$/);
});

describe('usage errors, found before connecting (exit 2, with the usage)', () => {
  // Nothing listens on port 1: a usage error must come first.
  const base = ['log-dirs', '--bootstrap-server', '127.0.0.1:1'];
  test.each([
    [[...base], /strata log-dirs: missing required flag --describe/],
    [['log-dirs', '--describe'], /strata log-dirs: missing required flag --bootstrap-server/],
    [[...base, '--describe', '--broker-list', '0,x'], /--broker-list entry must be an integer, got 'x'/],
    [[...base, '--describe', '--broker-list', '-1'], /--broker-list entry must be at least 0, got -1/],
    [[...base, '--describe', '--topic', 'orders'], /unknown flag --topic for 'log-dirs'; did you mean --topic-list\?/],
    [[...base, '--describe', 'extra'], /unexpected argument 'extra'/],
  ])('%j', async (argv, message) => {
    const r = await runCli(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('Usage: strata log-dirs [flags]');
  });

  test('--help lists the flags', async () => {
    const r = await runCli(['log-dirs', '--help']);
    expect(r.code).toBe(0);
    for (const f of ['--bootstrap-server', '--describe', '--topic-list', '--broker-list']) expect(r.stdout).toContain(f);
  });
});

test('formatLogDirsJson: exact sizes beyond 2^53, other errors by name, no brokers', () => {
  const dir = (error: KafkaResponseError | null) => ({ logDir: '/d', error, replicas: [{ topic: 't', partition: 0, size: 2n ** 60n + 1n, offsetLag: 3n, isFuture: true }], totalBytes: null, usableBytes: null });
  expect(formatLogDirsJson([{ brokerId: 3, logDirs: [dir(new KafkaResponseError(ErrorCode.UNKNOWN_SERVER_ERROR, { api: 'DescribeLogDirs' }))], error: null }], new Set())).toBe(
    '{"brokers":[{"broker":3,"logDirs":[{"partitions":[{"partition":"t-0","size":1152921504606846977,"offsetLag":3,"isFuture":true}],"error":"org.apache.kafka.common.errors.UnknownServerException","logDir":"/d"}]}],"version":1}',
  );
  expect(formatLogDirsJson([{ brokerId: 0, logDirs: [dir(new KafkaResponseError(ErrorCode.NOT_CONTROLLER, { api: 'DescribeLogDirs' }))], error: null }], new Set(['other']))).toBe(
    '{"brokers":[{"broker":0,"logDirs":[{"partitions":[],"error":"NOT_CONTROLLER","logDir":"/d"}]}],"version":1}',
  );
  expect(formatLogDirsJson([], new Set())).toBe('{"brokers":[],"version":1}');
});
