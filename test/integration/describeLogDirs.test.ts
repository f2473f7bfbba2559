/**
 * DescribeLogDirs (api key 35) against a real broker process: Strata's LogDirsAdmin over a real
 * socket, every version of the schema (0-4) encoded and decoded by the generated codec, and the
 * built `strata log-dirs` binary. Sizes are checked against the segment files on disk, the
 * volume's bytes against statfs of the data dir. (kafkajs 2.2.4 and the Debian Python clients
 * have no describeLogDirs; the Java client's Admin.describeLogDirs was checked by hand, see
 * docs/compatibility.md.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import { LogDirsAdmin } from '../../core/client/logDirsAdmin';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { DescribeLogDirsResponse } from '../../core/protocol/generated/DescribeLogDirsResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { runProcess } from '../helpers/proc';

let broker: BrokerProcess;
let client: StrataClient;
let admin: LogDirsAdmin;
let logDir: string;

beforeAll(async () => {
  broker = await startBroker();
  logDir = fs.realpathSync(broker.dataDir);
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'log-dirs-test' });
  admin = new LogDirsAdmin(client);
  await client.createTopics([
    { name: 'ld-orders', numPartitions: 2, replicationFactor: 1 },
    { name: 'ld-empty', numPartitions: 1, replicationFactor: 1 },
  ]);
  await client.produce('ld-orders', 0, Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `order ${i}` })));
  await client.produce('ld-orders', 1, [{ value: 'one' }]);
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

/** Bytes of a partition's segment files (.log), as Kafka's UnifiedLog.size counts them. */
function segmentBytes(topic: string, partition: number): bigint {
  const dir = path.join(broker.dataDir, 'logs', `${topic}-${partition}`);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + BigInt(fs.statSync(path.join(dir, f)).size), 0n);
}

test("Admin's view: the one log dir, every partition with its segment bytes and offset lag 0, the volume's total and usable bytes", async () => {
  expect(await admin.brokerIds()).toEqual([0]);
  const [b] = await admin.describeLogDirs([0]);
  expect(b.error).toBeNull();
  expect(b.logDirs).toHaveLength(1);
  const d = b.logDirs[0];
  expect(fs.realpathSync(d.logDir)).toBe(logDir);
  expect(path.isAbsolute(d.logDir)).toBe(true);
  expect(d.error).toBeNull();
  expect(d.replicas).toEqual([
    { topic: 'ld-empty', partition: 0, size: 0n, offsetLag: 0n, isFuture: false },
    { topic: 'ld-orders', partition: 0, size: segmentBytes('ld-orders', 0), offsetLag: 0n, isFuture: false },
    { topic: 'ld-orders', partition: 1, size: segmentBytes('ld-orders', 1), offsetLag: 0n, isFuture: false },
  ]);
  expect(d.replicas[1].size).toBeGreaterThan(d.replicas[2].size);
  const s = fs.statfsSync(broker.dataDir, { bigint: true });
  expect(d.totalBytes).toBe(s.blocks * s.bsize);
  // Usable space moves as anything on the machine writes: within 1 GiB of what statfs says now.
  const usable = s.bavail * s.bsize;
  expect(d.usableBytes).not.toBeNull();
  expect(d.usableBytes! > usable - 2n ** 30n && d.usableBytes! < usable + 2n ** 30n).toBe(true);
  expect(d.usableBytes!).toBeLessThanOrEqual(d.totalBytes!);
});

test('asking for some partitions: only those that exist here are answered, unknown ones left out without an error', async () => {
  const [b] = await admin.describeLogDirs([0], {
    topics: [
      { topic: 'ld-orders', partitions: [1, 7, 1] },
      { topic: 'ld-missing', partitions: [0] },
      { topic: 'ld-empty', partitions: [3] },
    ],
  });
  expect(b.logDirs[0].replicas).toEqual([{ topic: 'ld-orders', partition: 1, size: segmentBytes('ld-orders', 1), offsetLag: 0n, isFuture: false }]);
  const [none] = await admin.describeLogDirs([0], { topics: [] });
  expect(none.logDirs[0].replicas).toEqual([]);
  expect(none.logDirs[0].error).toBeNull();
});

test.each([0, 1, 2, 3, 4])('v%i on the wire: the schema of the version, no error, sizes from v4 only', async (version) => {
  const [host, port] = broker.bootstrap.split(':');
  const conn = await KafkaConnection.connect({ host, port: Number(port), clientId: 'log-dirs-raw' });
  try {
    const res = await conn.send<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, { topics: [{ topic: 'ld-orders', partitions: [0] }] }, { version });
    expect(res.throttleTimeMs).toBe(0);
    expect(res.errorCode).toBe(ErrorCode.NONE);
    expect(res.results).toHaveLength(1);
    const [r] = res.results;
    expect({ errorCode: r.errorCode, logDir: fs.realpathSync(r.logDir), topics: r.topics }).toEqual({
      errorCode: ErrorCode.NONE,
      logDir,
      topics: [{ name: 'ld-orders', partitions: [{ partitionIndex: 0, partitionSize: segmentBytes('ld-orders', 0), offsetLag: 0n, isFutureKey: false }] }],
    });
    // Before v4 the fields are not on the wire: the decoder gives the schema default, -1.
    if (version >= 4) expect(r.totalBytes! > 0n && r.usableBytes! >= 0n).toBe(true);
    else expect([r.totalBytes, r.usableBytes]).toEqual([-1n, -1n]);
  } finally {
    conn.close();
  }
});

test('the built `strata log-dirs --describe`: Kafka\'s two lines and JSON; --topic-list filters; an unknown --broker-list id is refused', async () => {
  const strata = async (...args: string[]) => {
    const r = await runProcess(process.execPath, [BROKER_MAIN, 'log-dirs', '--bootstrap-server', broker.bootstrap, ...args], { timeoutMs: 30_000 });
    return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
  };
  const dir = (await admin.describeLogDirs([0]))[0].logDirs[0].logDir;
  const part = (topic: string, p: number) => `{"partition":"${topic}-${p}","size":${segmentBytes(topic, p)},"offsetLag":0,"isFuture":false}`;
  const json = (parts: string[]) => `{"brokers":[{"broker":0,"logDirs":[{"partitions":[${parts.join(',')}],"error":null,"logDir":${JSON.stringify(dir)}}]}],"version":1}`;
  const head = 'Querying brokers for log directories information\nReceived log directory information from brokers 0\n';

  expect(await strata('--describe')).toEqual({ code: 0, stdout: `${head}${json([part('ld-empty', 0), part('ld-orders', 0), part('ld-orders', 1)])}\n`, stderr: '' });
  expect(await strata('--describe', '--topic-list', 'ld-orders,ld-nothing', '--broker-list', '0')).toEqual({
    code: 0,
    stdout: `${head}${json([part('ld-orders', 0), part('ld-orders', 1)])}\n`,
    stderr: '',
  });
  expect(await strata('--describe', '--broker-list', '0,3,2')).toEqual({
    code: 1,
    stdout: '',
    stderr: 'ERROR: The given brokers do not exist from --broker-list: 2,3. Current existent brokers: 0\n',
  });
  const parsed = JSON.parse((await strata('--describe')).stdout.split('\n')[2]) as { brokers: { logDirs: { partitions: unknown[] }[] }[] };
  expect(parsed.brokers[0].logDirs[0].partitions).toHaveLength(3);
});
