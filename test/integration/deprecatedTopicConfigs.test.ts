/**
 * Kafka 3.x's deprecated topic config message.format.version is accepted and ignored, as Kafka
 * 3.x does from inter.broker.protocol.version 3.0 (tools and Terraform modules still set it):
 * CreateTopics with it (kafkajs, librdkafka's admin client), DescribeConfigs showing it as
 * Kafka does (the value set as TOPIC_CONFIG; else the default 3.0-IV1 with its broker synonym
 * log.message.format.version), IncrementalAlterConfigs, Kafka's validation of the version
 * string, a warning in the broker log, and records flowing as on any topic.
 */
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient, ConfigResourceType, ConfigSource } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatConsume, kcatProduce } from '../helpers/kcat';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  await pythonClientsAvailable();
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

const topic = (name: string) => ({ type: ConfigResourceType.TOPIC, name }) as const;

async function entry(name: string) {
  return (await client.describeConfigs(topic(name), ['message.format.version']))[0];
}

test('message.format.version is accepted at creation, described as Kafka describes it, and has no effect', async () => {
  const kafka = new Kafka({ clientId: 'deprecated-configs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: 'mfv', numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'message.format.version', value: '2.8' }] }] });
  } finally {
    await admin.disconnect();
  }
  expect(await entry('mfv')).toMatchObject({ value: '2.8', source: ConfigSource.DYNAMIC_TOPIC_CONFIG, isDefault: false });
  expect(broker.output()).toMatch(/topic mfv: message\.format\.version=2\.8 is deprecated and ignored/);

  // librdkafka's admin client, with an old 0.x version string.
  const py = await runPythonJson<{ error: string | null }>(
    {
      code: [
        'import json, sys',
        'from confluent_kafka.admin import AdminClient, NewTopic',
        'a = AdminClient({"bootstrap.servers": sys.argv[1]})',
        'f = a.create_topics([NewTopic("mfv-old", 1, 1, config={"message.format.version": "0.10.2-IV0"})])["mfv-old"]',
        'try:',
        '    f.result(20)',
        '    print(json.dumps({"error": None}))',
        'except Exception as e:',
        '    print(json.dumps({"error": str(e)}))',
      ].join('\n'),
    },
    { args: [broker.bootstrap], timeoutMs: 30_000 },
  );
  expect(py).toEqual({ error: null });
  expect((await entry('mfv-old')).value).toBe('0.10.2-IV0');

  // Without it: Kafka 3.x's default, from the broker synonym.
  await client.createTopics([{ name: 'plain', numPartitions: 1, replicationFactor: 1 }]);
  expect(await entry('plain')).toMatchObject({ value: '3.0-IV1', source: ConfigSource.DEFAULT_CONFIG, isDefault: true });

  // Records are stored and read as on any topic (message format v2).
  await kcatProduce(broker.bootstrap, 'mfv-old', ['a', 'b']);
  expect((await kcatConsume(broker.bootstrap, 'mfv-old')).lines).toEqual(['a', 'b']);
});

test("IncrementalAlterConfigs sets and removes it; a value that is not a Kafka version is refused with Kafka's message", async () => {
  await client.incrementalAlterConfigs(topic('plain'), [{ name: 'message.format.version', op: 'set', value: '3.0' }]);
  expect((await entry('plain')).value).toBe('3.0');
  await client.incrementalAlterConfigs(topic('plain'), [{ name: 'message.format.version', op: 'delete' }]);
  expect((await entry('plain')).value).toBe('3.0-IV1');

  await expect(client.incrementalAlterConfigs(topic('plain'), [{ name: 'message.format.version', op: 'set', value: '9.9' }])).rejects.toMatchObject({
    errorName: 'INVALID_CONFIG',
    errorMessage: expect.stringContaining('Invalid value 9.9 for configuration message.format.version: Version 9.9 is not a valid version'),
  });
  await expect(
    client.createTopics([{ name: 'mfv-bad', numPartitions: 1, replicationFactor: 1, configs: { 'message.format.version': 'banana' } }]),
  ).rejects.toMatchObject({ errorName: 'INVALID_CONFIG' });
  expect(await client.listTopics()).not.toContain('mfv-bad');
});
