/**
 * The cross-region mirror's Lambda handler as it is deployed against secured clusters: both
 * "regions" (two independent local brokers) are reachable by the mirror only over SASL_SSL with
 * SCRAM-SHA-512, each with its own CA; the user `mirror` is written to each broker's metadata
 * store before it starts (`strata storage format --add-scram`). The handler from dist
 * (dist/functions/mirror/handler.js, in a child process standing for one Lambda container, its
 * environment set before the require) gets the addresses, credentials and CA certificates only
 * through MIRROR_TARGET_* / MIRROR_SOURCE_* variables; the CA PEM both as multi-line text and
 * with literal "\n" escapes (as a Lambda console stores it). The test's own clients (topic
 * creation, produce, checks) use each broker's PLAINTEXT listener.
 *
 * - normal mode: records arrive on the target with key, value, headers and timestamp, in order;
 *   the target topic is created with the source's partition count (read from the source over
 *   SASL_SSL); the same event again adds nothing;
 * - a wrong target password fails the invocation with SASL_AUTHENTICATION_FAILED, in the thrown
 *   error and in the handler's JSON error line, and writes nothing; a wrong source password
 *   fails a batch whose target topic must be created, naming the source's SASL failure; no
 *   password appears in any log line;
 * - offset-preserving mode over SASL_SSL: every target offset equals its source offset.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigResourceType, LATEST_TIMESTAMP, StrataClient } from '../../core/client/client';
import { toMirrorEvent, type SelfManagedKafkaEventJson } from '../../core/mirror/event';
import { offsetSyncsTopic } from '../../core/mirror/naming';
import { runCli } from '../cli/runCli';
import { awsBackendSelected, awsStores } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { readCommitted } from '../../core/client/readCommitted';
import { recordMaker, recordView } from '../helpers/recordCopy';
import { LambdaContainer, stopAllContainers } from '../helpers/lambdaContainer';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { useEnv } from '../helpers/emulators';

jest.setTimeout(60_000);

const USER = 'mirror';
const PASSWORD = 'mirr0r,s3cret=1';
const WRONG_PASSWORD = 'not-the-mirror-password';


interface Region {
  broker: BrokerProcess;
  /** The CA certificate, PEM. */
  caPem: string;
  /** host:port of the SASL_SSL listener: the only address the mirror is given. */
  saslSsl: string;
  /** The test's own client, over PLAINTEXT. */
  client: StrataClient;
}

let dir: string;
let east: Region;
let west: Region;
const containers: LambdaContainer[] = [];

/** `strata storage format --add-scram` on the broker's store (embedded in its data dir, or its DynamoDB table in the aws project). */
async function formatStore(dataDir: string): Promise<void> {
  const args = ['storage', 'format', '--data-dir', dataDir, '--add-scram', `SCRAM-SHA-512=[name=${USER},password="${PASSWORD}"]`];
  let restore = (): void => undefined;
  if (awsBackendSelected()) {
    // The same store startBroker will give a broker on this data dir.
    const stores = await awsStores(dataDir);
    args.push('--metadata', stores.args[stores.args.indexOf('--metadata') + 1]);
    restore = useEnv(stores.env);
  }
  try {
    const r = await runCli(args);
    expect(r).toEqual({ code: 0, stdout: `Created SCRAM-SHA-512 credential for user ${USER} (4096 iterations).\n`, stderr: '' });
  } finally {
    restore();
  }
}

/** Certificates with the region's own CA, and a data dir whose store already has the user `mirror`. */
async function prepareRegion(name: string): Promise<{ name: string; certs: TestCerts; dataDir: string }> {
  const certs = makeCerts(path.join(dir, `${name}-certs`), { caName: `Strata ${name} CA` });
  const dataDir = path.join(dir, `${name}-data`);
  fs.mkdirSync(dataDir);
  await formatStore(dataDir);
  return { name, certs, dataDir };
}

async function startRegion({ name, certs, dataDir }: { name: string; certs: TestCerts; dataDir: string }): Promise<Region> {
  const broker = await startBroker({
    dataDir,
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0',
    overrides: {
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
      'ssl.keystore.location': certs.server.pem,
      'ssl.truststore.location': certs.ca.cert,
    },
  });
  return {
    broker,
    caPem: fs.readFileSync(certs.ca.cert, 'utf8'),
    saslSsl: `127.0.0.1:${broker.listenerPort('SASL_SSL')}`,
    client: new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: `mirror-security-${name}` }),
  };
}

/** The handler's environment for east → west over SASL_SSL; `escapedPem` stores the CAs on one line with literal \n. */
function mirrorEnv(opts: { escapedPem?: boolean; targetPassword?: string; sourcePassword?: string; extra?: Record<string, string> } = {}): Record<string, string> {
  const pem = (p: string) => (opts.escapedPem ? p.replace(/\n/g, '\\n') : p);
  return {
    MIRROR_SOURCE_ALIAS: 'east',
    MIRROR_TARGET_BOOTSTRAP_SERVERS: west.saslSsl,
    MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL',
    MIRROR_TARGET_SASL_MECHANISM: 'SCRAM-SHA-512',
    MIRROR_TARGET_SASL_USERNAME: USER,
    MIRROR_TARGET_SASL_PASSWORD: opts.targetPassword ?? PASSWORD,
    MIRROR_TARGET_SSL_CA_PEM: pem(west.caPem),
    // No MIRROR_SOURCE_BOOTSTRAP_SERVERS by default: the event's bootstrapServers (the source's SASL_SSL address) are used.
    MIRROR_SOURCE_SECURITY_PROTOCOL: 'SASL_SSL',
    MIRROR_SOURCE_SASL_MECHANISM: 'SCRAM-SHA-512',
    MIRROR_SOURCE_SASL_USERNAME: USER,
    MIRROR_SOURCE_SASL_PASSWORD: opts.sourcePassword ?? PASSWORD,
    MIRROR_SOURCE_SSL_CA_PEM: pem(east.caPem),
    ...opts.extra,
  };
}

function container(env: Record<string, string>): LambdaContainer {
  const c = LambdaContainer.start(env);
  containers.push(c);
  return c;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-mirror-sec-'));
  // One after the other: in the aws project formatStore points process.env at the emulators while it runs.
  const prepared = [await prepareRegion('east'), await prepareRegion('west')];
  [east, west] = await Promise.all(prepared.map(startRegion));
}, 60_000);

afterAll(async () => {
  await Promise.all(containers.map((c) => c.stop().catch(() => undefined)));
  stopAllContainers();
  await east?.client.close();
  await west?.client.close();
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});


/** The Lambda event for the source partitions' records, built from real fetches; it names the source's SASL_SSL address, as the event source would. */
async function eventOf(topic: string, partitions: number[]): Promise<SelfManagedKafkaEventJson> {
  const parts = await Promise.all(partitions.map(async (partition) => ({ topic, partition, records: await readCommitted(east.client, topic, partition) })));
  return JSON.parse(JSON.stringify(toMirrorEvent(east.saslSsl, parts))) as SelfManagedKafkaEventJson;
}

const records = recordMaker();

async function expectMirrored(sourceTopic: string, targetTopic: string, partitions: number[]): Promise<void> {
  for (const p of partitions) {
    const [src, dst] = await Promise.all([readCommitted(east.client, sourceTopic, p), readCommitted(west.client, targetTopic, p)]);
    expect(dst.map(recordView)).toEqual(src.map(recordView));
  }
}

async function endOffsets(c: StrataClient, topic: string, partitions: number[]): Promise<bigint[]> {
  return Promise.all(partitions.map(async (p) => (await c.listOffsets(topic, p, LATEST_TIMESTAMP)).offset));
}

const P2 = [0, 1];
/** The records' timestamps are from 2021: without this, retention would delete them (the mirror copies it to the target topics). */
const KEEP_FOREVER = { 'retention.ms': '-1' };

test('the user formatted into the store authenticates on the SASL_SSL listener; the other region\'s CA is not trusted there', async () => {
  const secured = new StrataClient({
    bootstrapServers: [west.saslSsl],
    clientId: 'mirror-security-check',
    security: { protocol: 'SASL_SSL', tls: { ca: west.caPem }, sasl: { mechanism: 'SCRAM-SHA-512', username: USER, password: PASSWORD } },
  });
  try {
    expect(Array.isArray(await secured.listTopics())).toBe(true);
  } finally {
    await secured.close();
  }
  // The other region's CA does not vouch for this broker: each CA variable must reach its own cluster.
  const wrongCa = new StrataClient({
    bootstrapServers: [west.saslSsl],
    clientId: 'mirror-security-wrong-ca',
    security: { protocol: 'SASL_SSL', tls: { ca: east.caPem }, sasl: { mechanism: 'SCRAM-SHA-512', username: USER, password: PASSWORD } },
  });
  try {
    await expect(wrongCa.listTopics()).rejects.toMatchObject({ code: 'SSL_HANDSHAKE_FAILED', message: expect.stringContaining("the broker's certificate is not trusted") });
  } finally {
    await wrongCa.close();
  }
});

describe('normal mode over SASL_SSL', () => {
  const ORDERS = 'orders';
  let normal: LambdaContainer;

  beforeAll(async () => {
    normal = container(mirrorEnv());
    await east.client.createTopics([{ name: ORDERS, numPartitions: 2, configs: KEEP_FOREVER }]);
    for (const p of P2) {
      await east.client.produce(ORDERS, p, records(p, 5));
      await east.client.produce(ORDERS, p, records(p, 4));
    }
  });

  test('records arrive with key, value, headers and timestamps, in order, in a target topic shaped by the source; the same event again adds nothing', async () => {
    const event = await eventOf(ORDERS, P2);
    expect(event.bootstrapServers).toBe(east.saslSsl);
    expect(Object.values(event.records).map((r) => r.length)).toEqual([9, 9]);

    const out = await normal.ok(event);
    expect(out.map((p) => [p.partition, p.targetTopic, p.recordsIn, p.recordsOut, p.alreadyMirrored])).toEqual(P2.map((p) => [p, 'east.orders', 9, 9, 0]));
    await expectMirrored(ORDERS, 'east.orders', P2);
    // The partition count was read from the source, over its SASL_SSL listener.
    expect(await west.client.partitionCount('east.orders')).toBe(2);
    const [retention] = await west.client.describeConfigs({ type: ConfigResourceType.TOPIC, name: 'east.orders' }, ['retention.ms']);
    expect(retention.value).toBe('-1');
    expect(normal.logs).toContainEqual(expect.objectContaining({ msg: 'created target topic', topic: 'east.orders', partitions: 2 }));
    expect(normal.logs).toContainEqual(expect.objectContaining({ level: 'info', msg: 'mirrored', requestId: 'req-1' }));

    const ends = await endOffsets(west.client, 'east.orders', P2);
    const again = await normal.ok(event);
    expect(again.map((p) => [p.recordsOut, p.alreadyMirrored])).toEqual(P2.map(() => [0, 9]));
    expect(await endOffsets(west.client, 'east.orders', P2)).toEqual(ends);
    await expectMirrored(ORDERS, 'east.orders', P2);
    expect(normal.stdout).not.toContain(PASSWORD);
  });
});

describe('wrong credentials', () => {
  const PAYMENTS = 'payments';

  beforeAll(async () => {
    await east.client.createTopics([{ name: PAYMENTS, numPartitions: 2, configs: KEEP_FOREVER }]);
    for (const p of P2) await east.client.produce(PAYMENTS, p, records(p, 3));
  });

  test('a wrong target password fails the invocation naming SASL authentication, in the error and the JSON log line; nothing is written', async () => {
    const wrong = container(mirrorEnv({ targetPassword: WRONG_PASSWORD, escapedPem: true }));
    const event = await eventOf(PAYMENTS, P2);
    expect(Object.values(event.records).map((r) => r.length)).toEqual([3, 3]);
    const topicsBefore = (await west.client.listTopics()).sort();
    const syncsEnd = await endOffsets(west.client, offsetSyncsTopic('east'), [0]).catch(() => null);

    const r = await wrong.invoke(event);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('SASL_AUTHENTICATION_FAILED');
    expect(r.error).toMatch(/SASL|authenticat/i);

    const log = wrong.logs[wrong.logs.length - 1];
    expect(log).toMatchObject({ level: 'error', msg: 'mirror failed; the batch will be retried', requestId: 'req-1', code: 'SASL_AUTHENTICATION_FAILED' });
    expect(String(log.error)).toMatch(/SASL|authenticat/i);

    expect((await west.client.listTopics()).sort()).toEqual(topicsBefore);
    expect(topicsBefore).not.toContain('east.payments');
    if (syncsEnd !== null) expect(await endOffsets(west.client, offsetSyncsTopic('east'), [0])).toEqual(syncsEnd);
    expect(wrong.stdout).not.toContain(WRONG_PASSWORD);
    expect(wrong.stdout).not.toContain(PASSWORD);
  });

  test('a wrong source password fails a batch whose target topic must be created, naming the source and SASL; nothing is created', async () => {
    const wrong = container(mirrorEnv({ sourcePassword: WRONG_PASSWORD }));
    const event = await eventOf(PAYMENTS, P2);
    expect(Object.values(event.records).map((r) => r.length)).toEqual([3, 3]);
    const r = await wrong.invoke(event);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toContain("target topic 'east.payments' does not exist, and the source topic 'payments' could not be read");
    expect(r.error).toMatch(/SASL|authenticat/i);
    expect(wrong.logs[wrong.logs.length - 1]).toMatchObject({ level: 'error', failedPartitions: P2.map((p) => expect.objectContaining({ topic: PAYMENTS, partition: p })) });
    expect(await west.client.listTopics()).not.toContain('east.payments');
    expect(wrong.stdout).not.toContain(WRONG_PASSWORD);
  });
});

describe('offset-preserving mode over SASL_SSL', () => {
  const LEDGER = 'ledger';

  beforeAll(async () => {
    await east.client.createTopics([{ name: LEDGER, numPartitions: 2, configs: KEEP_FOREVER }]);
    for (const p of P2) {
      await east.client.produce(LEDGER, p, records(p, 4));
      await east.client.produce(LEDGER, p, records(p, 3));
    }
    // A log start above 0 on partition 1: the target must start there too.
    await east.client.deleteRecords([{ topic: LEDGER, partition: 1, offset: 2n }]);
  });

  test('every target offset equals its source offset (explicit source servers, CA PEMs with literal \\n escapes); a retry adds nothing', async () => {
    const preserving = container(
      mirrorEnv({ escapedPem: true, extra: { MIRROR_OFFSET_PRESERVING: 'true', MIRROR_TOPIC_NAMING: 'identity', MIRROR_SOURCE_BOOTSTRAP_SERVERS: east.saslSsl } }),
    );
    const event = await eventOf(LEDGER, P2);
    expect(Object.values(event.records).map((r) => r.map((x) => x.offset))).toEqual([
      [0, 1, 2, 3, 4, 5, 6],
      [2, 3, 4, 5, 6],
    ]);
    expect((await preserving.ok(event)).map((p) => [p.targetTopic, p.recordsOut])).toEqual([
      [LEDGER, 7],
      [LEDGER, 5],
    ]);
    for (const p of P2) {
      const [src, dst] = await Promise.all([readCommitted(east.client, LEDGER, p), readCommitted(west.client, LEDGER, p)]);
      expect(dst.map((r) => r.offset)).toEqual(src.map((r) => r.offset));
      expect(dst.map(recordView)).toEqual(src.map(recordView));
    }
    const ends = await endOffsets(west.client, LEDGER, P2);
    expect(ends).toEqual(await endOffsets(east.client, LEDGER, P2));
    expect((await preserving.ok(event)).map((p) => [p.recordsOut, p.alreadyMirrored])).toEqual([
      [0, 7],
      [0, 5],
    ]);
    expect(await endOffsets(west.client, LEDGER, P2)).toEqual(ends);
    expect(preserving.stdout).not.toContain(PASSWORD);
  });
});
