/**
 * A topic create answered with an error leaves nothing behind: CreateTopics (kafkajs) and
 * Metadata auto-creation (librdkafka through kcat, and the project's client) whose partition
 * directory cannot be made — a regular file sits where the directory should go — answer
 * KAFKA_STORAGE_ERROR, and the topic is absent from the running broker, from a broker restarted
 * on the same data dir (the metadata store never kept it), and can be created once the
 * obstacle is gone. The partitions opened before the failing one are removed from disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcat, kcatProduce } from '../helpers/kcat';

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'num.partitions': '3', 'auto.create.topics.enable': 'true' } });
});

afterAll(async () => {
  await stopAllBrokers();
});

function logsDir(): string {
  return path.join(broker.dataDir, 'logs');
}

/** A regular file where partition `p`'s directory belongs: opening that partition fails. */
function block(topic: string, p: number): string {
  const file = path.join(logsDir(), `${topic}-${p}`);
  fs.mkdirSync(logsDir(), { recursive: true });
  fs.writeFileSync(file, 'not a partition directory\n');
  return file;
}

/** Entries of the logs dir belonging to `topic` (its partition directories, and deletions in progress). */
function dirsOf(topic: string): string[] {
  return fs.readdirSync(logsDir()).filter((e) => e.startsWith(`${topic}-`) && fs.statSync(path.join(logsDir(), e)).isDirectory());
}

async function withClient<T>(fn: (c: StrataClient) => Promise<T>): Promise<T> {
  const c = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

test('failed CreateTopics and auto-creations leave no topic behind, on the running broker and after a restart', async () => {
  const obstacles = [block('refused-create', 2), block('refused-auto', 1), block('refused-kcat', 0)];

  // CreateTopics (kafkajs): partitions 0 and 1 open, partition 2 cannot.
  const kafka = new Kafka({ clientId: 'create-failure', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const refused = await admin.createTopics({ topics: [{ topic: 'refused-create', numPartitions: 3, replicationFactor: 1 }] }).then(
      () => null,
      (e: { errors?: { type: string }[] }) => e,
    );
    expect(refused?.errors?.map((x) => x.type)).toEqual(['KAFKA_STORAGE_ERROR']);
  } finally {
    await admin.disconnect();
  }

  // Auto-creation through Metadata (the project's client asks with allow_auto_topic_creation).
  const md = await withClient((c) => c.metadata(['refused-auto'], { allowAutoTopicCreation: true }));
  expect(md.topicErrors.get('refused-auto')).toBe(ErrorCode.KAFKA_STORAGE_ERROR);

  // Auto-creation by a librdkafka producer: nothing can be delivered, and nothing is created.
  await expect(kcatProduce(broker.bootstrap, 'refused-kcat', ['v1'], { props: { 'message.timeout.ms': '2000' }, timeoutMs: 20_000 })).rejects.toThrow();

  const refusedNames = ['refused-auto', 'refused-create', 'refused-kcat'];
  expect((await withClient((c) => c.listTopics())).filter((t) => refusedNames.includes(t))).toEqual([]);
  // The partitions that did open were removed again (only the obstacles are left).
  for (const name of refusedNames) expect(dirsOf(name)).toEqual([]);
  expect(broker.output()).toMatch(/refused-create/);

  // The store never kept them: with the obstacles gone, a restarted broker does not know them.
  for (const f of obstacles) fs.rmSync(f);
  broker = await broker.restart();
  expect((await withClient((c) => c.listTopics())).filter((t) => refusedNames.includes(t))).toEqual([]);
  const listed = await kcat(['-L', '-b', broker.bootstrap, '-J'], { timeoutMs: 20_000 });
  expect(listed.code).toBe(0);
  expect((JSON.parse(listed.stdout.toString('utf8')) as { topics: { topic: string }[] }).topics.map((t) => t.topic)).toEqual(
    expect.not.arrayContaining(refusedNames),
  );

  // And the names are free: the same creates now succeed.
  await withClient(async (c) => {
    await c.createTopics([{ name: 'refused-create', numPartitions: 3, replicationFactor: 1 }]);
    expect(await c.partitionCount('refused-auto', { allowAutoTopicCreation: true })).toBe(3);
  });
  await kcatProduce(broker.bootstrap, 'refused-kcat', ['v1'], { timeoutMs: 20_000 });
  expect((await withClient((c) => c.listTopics())).filter((t) => refusedNames.includes(t))).toEqual(refusedNames);
});
