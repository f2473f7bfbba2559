/**
 * The AWS backends end to end: a real broker process with `--metadata dynamodb://…
 * --object-store s3://…` against dynalite and s3rver (child processes), set up by
 * `strata aws-init`. The broker refuses to start until the table and bucket exist, serves
 * kcat and kafkajs once they do, and a broker started on an empty data dir finds its
 * topics in DynamoDB.
 */
import * as fs from 'node:fs';
import { Kafka, logLevel, ConfigResourceTypes } from 'kafkajs';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { DynamoKv } from '../../core/meta/dynamoKv';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { BROKER_MAIN, ensureBuilt } from '../helpers/build';
import { startEmulators, useEnv, type Emulators } from '../helpers/emulators';
import { kcatAvailable, kcatConsumeRecords, kcatProduce } from '../helpers/kcat';
import { runProcess, type RunResult } from '../helpers/proc';

let emulators: Emulators;
// Set once the emulators run (names are unique per run against an external endpoint).
let TABLE_PREFIX: string;
let BUCKET: string;
let METADATA: string;
let OBJECTS: string;
let ARGS: string[];

beforeAll(async () => {
  await kcatAvailable();
  await ensureBuilt();
  // Nothing created: the test creates the table and bucket with aws-init.
  emulators = await startEmulators({ create: false });
  TABLE_PREFIX = emulators.name('itest');
  BUCKET = emulators.name('itest-bucket');
  METADATA = `dynamodb://${TABLE_PREFIX}`;
  OBJECTS = `s3://${BUCKET}/cluster1`;
  ARGS = ['--metadata', METADATA, '--object-store', OBJECTS];
}, 120_000);

afterAll(async () => {
  await stopAllBrokers();
  await emulators?.stop();
}, 60_000);

function awsInit(args: string[]): Promise<RunResult> {
  return runProcess(process.execPath, [BROKER_MAIN, 'aws-init', ...args], { env: emulators.env, timeoutMs: 60_000 });
}

async function expectStartFailure(fragments: string[]): Promise<void> {
  let err: unknown;
  try {
    await startBroker({ env: emulators.env, args: ARGS, readyTimeoutMs: 60_000 });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(Error);
  for (const f of fragments) expect((err as Error).message).toContain(f);
}

test('the broker checks its table and bucket at start; aws-init creates them, idempotently', async () => {
  await expectStartFailure([
    `DynamoDB table '${TABLE_PREFIX}-metadata' does not exist`,
    `create it with \`strata aws-init --metadata ${METADATA}\` or the LocalStack init hook`,
  ]);

  const tableOnly = await awsInit(['--metadata', METADATA]);
  expect(tableOnly.code).toBe(0);
  expect(tableOnly.stdout.toString()).toContain(`Created DynamoDB table ${TABLE_PREFIX}-metadata (on-demand billing)`);
  await expectStartFailure([`S3 bucket '${BUCKET}' does not exist`, `strata aws-init --object-store ${OBJECTS}`]);

  const both = await awsInit(ARGS);
  expect(both.code).toBe(0);
  expect(both.stdout.toString()).toContain(`DynamoDB table ${TABLE_PREFIX}-metadata already exists`);
  expect(both.stdout.toString()).toContain(`Created S3 bucket ${BUCKET}`);
  const again = await awsInit(ARGS);
  expect(again.code).toBe(0);
  expect(again.stdout.toString().trim().split('\n')).toEqual([
    `DynamoDB table ${TABLE_PREFIX}-metadata already exists in DynamoDB in us-east-1 at ${emulators.dynamoEndpoint}; left as it is.`,
    `S3 bucket ${BUCKET} already exists in S3 in us-east-1 at ${emulators.s3Endpoint}; left as it is.`,
  ]);

  const usage = await awsInit(['--metadata', 'embedded:']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain('--metadata must be a dynamodb:// URL');
}, 180_000);

test('a broker on DynamoDB and S3 serves kcat and kafkajs, and one on an empty data dir finds the topics in DynamoDB', async () => {
  const first = await startBroker({ env: emulators.env, args: ARGS, readyTimeoutMs: 60_000 });
  const kafka = (b: BrokerProcess): Kafka => new Kafka({ clientId: 'aws-test', brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3 } });

  let admin = kafka(first).admin();
  await admin.connect();
  let clusterId: string;
  try {
    expect(
      await admin.createTopics({ topics: [{ topic: 'aws-orders', numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] }),
    ).toBe(true);
    expect(await admin.createTopics({ topics: [{ topic: 'aws-doomed', numPartitions: 1 }] })).toBe(true);
    clusterId = (await admin.describeCluster()).clusterId;

    const lines = Array.from({ length: 300 }, (_, i) => `k${i % 10}|v${i}`);
    await kcatProduce(first.bootstrap, 'aws-orders', lines, { keyDelimiter: '|', props: { acks: 'all' } }); // rejects unless every record was acknowledged
    const records = await kcatConsumeRecords(first.bootstrap, 'aws-orders');
    expect(records.map((r) => r.value).sort()).toEqual(lines.map((l) => l.split('|')[1]).sort());

    await admin.deleteTopics({ topics: ['aws-doomed'] });
  } finally {
    await admin.disconnect();
  }
  // The metadata is in the table, not under the data dir.
  expect(fs.existsSync(`${first.dataDir}/meta`)).toBe(false);
  const restore = useEnv(emulators.env);
  try {
    const store = new KvMetadataStore(await DynamoKv.open(TABLE_PREFIX));
    expect((await store.listTopics()).map((t) => [t.name, t.partitions, t.configs])).toEqual([['aws-orders', 3, { 'retention.ms': '3600000' }]]);
    await store.close();
  } finally {
    restore();
  }
  await first.stop();

  // A new broker with a new, empty data dir: a stateless container restarting elsewhere.
  const second = await startBroker({ env: emulators.env, args: ARGS, readyTimeoutMs: 60_000 });
  expect(second.dataDir).not.toBe(first.dataDir);
  admin = kafka(second).admin();
  await admin.connect();
  try {
    expect((await admin.listTopics()).sort()).toEqual(['aws-orders']);
    expect((await admin.describeCluster()).clusterId).toBe(clusterId);
    const meta = await admin.fetchTopicMetadata({ topics: ['aws-orders'] });
    expect(meta.topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
    const configs = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'aws-orders', configNames: ['retention.ms'] }], includeSynonyms: false });
    expect(configs.resources[0].configEntries[0]).toMatchObject({ configName: 'retention.ms', configValue: '3600000', isDefault: false });

    // Records lived on the first broker's disk (nothing is tiered yet); the topic takes new ones.
    await kcatProduce(second.bootstrap, 'aws-orders', ['after-restart'], { partition: 1 });
    const after = await kcatConsumeRecords(second.bootstrap, 'aws-orders', { partition: 1 });
    expect(after.map((r) => r.value)).toEqual(['after-restart']);
  } finally {
    await admin.disconnect();
  }
}, 180_000);
