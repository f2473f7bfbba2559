/**
 * Topic names Kafka treats specially, seen through real clients:
 * - Kafka's internal topic names (__consumer_offsets, __transaction_state, ...): asking for
 *   their metadata, as Burrow and other monitoring tools do, never creates them (they are
 *   unknown, marked is_internal as Kafka marks them by name), and CreateTopics refuses them
 *   with INVALID_REQUEST, as Kafka refuses __cluster_metadata.
 * - Names that collide once '.' and '_' are treated alike: refused with Kafka's
 *   InvalidTopicException message for CreateTopics and auto-creation; a created name with
 *   either character gets Kafka's warning in the broker log.
 */
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import { ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import type { CreateTopicsResponse } from '../../core/protocol/generated/CreateTopicsResponse';
import type { MetadataResponse } from '../../core/protocol/generated/MetadataResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcat, kcatProduce } from '../helpers/kcat';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';

const RESERVED = ['__consumer_offsets', '__transaction_state', '__share_group_state', '__cluster_metadata'];

let broker: BrokerProcess;
let client: StrataClient;
let conn: KafkaConnection;

beforeAll(async () => {
  await pythonClientsAvailable();
  broker = await startBroker({ overrides: { 'auto.create.topics.enable': 'true' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  conn = await KafkaConnection.connect({ host: broker.host, port: broker.port, clientId: 'topic-names-test' });
});

afterAll(async () => {
  conn?.close();
  await client?.close();
  await stopAllBrokers();
});

function kafkaAdmin() {
  return new Kafka({ clientId: 'topic-names', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
}

async function createErrors(names: string[]): Promise<string[]> {
  const admin = kafkaAdmin();
  await admin.connect();
  try {
    return await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })) }).then(
      () => [],
      (e: { errors?: { type: string }[]; type?: string }) => (e.errors ?? [e]).map((x) => x.type ?? String(x)),
    );
  } finally {
    await admin.disconnect();
  }
}

test('metadata requests for internal topic names (librdkafka, the project client) create nothing', async () => {
  for (const name of ['__consumer_offsets', '__transaction_state']) {
    const r = await kcat(['-L', '-J', '-b', broker.bootstrap, '-t', name, '-X', 'allow.auto.create.topics=true', '-m', '5'], { timeoutMs: 20_000 });
    const md = JSON.parse(r.stdout.toString('utf8')) as { topics: { topic: string; partitions: unknown[]; err?: string }[] };
    const t = md.topics.find((x) => x.topic === name);
    expect(t?.partitions ?? []).toEqual([]);
  }
  const res = await conn.send<MetadataResponse>(ApiKey.Metadata, {
    topics: RESERVED.map((name) => ({ name })),
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
  expect(res.topics.map((t) => [t.name, t.errorCode, t.isInternal, t.partitions.length])).toEqual([
    ['__consumer_offsets', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, true, 0],
    ['__transaction_state', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, true, 0],
    ['__share_group_state', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, true, 0],
    ['__cluster_metadata', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, false, 0],
  ]);
  expect(await client.listTopics({ includeInternal: true })).toEqual([]);
  expect(broker.output()).not.toMatch(/created topic __/);

  // Without auto-creation Kafka tells an illegal name apart from an unknown one.
  const plain = await client.metadata(['no-such-topic', 'bad name!'], { allowAutoTopicCreation: false });
  expect(Object.fromEntries(plain.topicErrors)).toEqual({ 'no-such-topic': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'bad name!': ErrorCode.INVALID_TOPIC_EXCEPTION });
});

test('CreateTopics refuses the reserved names with INVALID_REQUEST (kafkajs, the project client)', async () => {
  expect(await createErrors(['__consumer_offsets', '__transaction_state'])).toEqual(['INVALID_REQUEST', 'INVALID_REQUEST']);
  const res = await conn.send<CreateTopicsResponse>(ApiKey.CreateTopics, {
    topics: RESERVED.map((name) => ({ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] })),
    timeoutMs: 5000,
    validateOnly: false,
  });
  for (const t of res.topics) {
    expect(t).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: expect.stringContaining(`Creation of internal topic ${t.name} is prohibited`) });
  }
  expect(await client.listTopics({ includeInternal: true })).toEqual([]);
});

test("names colliding on '.' and '_' are refused, for CreateTopics and auto-creation, with Kafka's message", async () => {
  await client.createTopics([{ name: 'metrics_cpu', numPartitions: 1, replicationFactor: 1 }]);
  expect(broker.output()).toMatch(/topic metrics_cpu: Due to limitations in metric names, topics with a period \('\.'\) or underscore \('_'\) could collide/);

  expect(await createErrors(['metrics.cpu'])).toEqual(['INVALID_TOPIC_EXCEPTION']);
  await expect(client.createTopics([{ name: 'metrics.cpu', numPartitions: 1, replicationFactor: 1 }])).rejects.toMatchObject({
    errorName: 'INVALID_TOPIC_EXCEPTION',
    errorMessage: "Topic 'metrics.cpu' collides with existing topic: metrics_cpu",
  });
  // librdkafka's admin client (python3-confluent-kafka) sees the same.
  const py = await runPythonJson<{ code: string; message: string }>(
    {
      code: [
        'import json, sys',
        'from confluent_kafka.admin import AdminClient, NewTopic',
        'a = AdminClient({"bootstrap.servers": sys.argv[1]})',
        'f = a.create_topics([NewTopic("metrics.cpu", 1, 1)])["metrics.cpu"]',
        'try:',
        '    f.result(20)',
        '    print(json.dumps({"code": "NONE", "message": ""}))',
        'except Exception as e:',
        '    err = e.args[0]',
        '    print(json.dumps({"code": err.name(), "message": err.str()}))',
      ].join('\n'),
    },
    { args: [broker.bootstrap], timeoutMs: 30_000 },
  );
  expect(py).toEqual({ code: 'TOPIC_EXCEPTION', message: "Topic 'metrics.cpu' collides with existing topic: metrics_cpu" });

  // Auto-creation: a metadata request, and a librdkafka producer, get the same refusal.
  const md = await client.metadata(['metrics.cpu'], { allowAutoTopicCreation: true });
  expect(md.topicErrors.get('metrics.cpu')).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
  await expect(kcatProduce(broker.bootstrap, 'metrics.cpu', ['v'], { props: { 'message.timeout.ms': '2000' }, timeoutMs: 20_000 })).rejects.toThrow();
  expect(await client.listTopics()).toEqual(['metrics_cpu']);

  // A name without either character draws no warning; the non-colliding one with '.' is fine.
  await client.createTopics([{ name: 'metrics-mem', numPartitions: 1, replicationFactor: 1 }, { name: 'metrics.disk', numPartitions: 1, replicationFactor: 1 }]);
  expect(broker.output()).not.toMatch(/topic metrics-mem: Due to limitations/);
  expect(await client.listTopics()).toEqual(['metrics-mem', 'metrics.disk', 'metrics_cpu']);
});
