/**
 * Config APIs through the project's client against a real broker: IncrementalAlterConfigs
 * (SET, DELETE, APPEND, SUBTRACT), validation errors with hints, broker resources in
 * DescribeConfigs, DescribeCluster, and configs surviving a restart.
 */
import { StrataClient, ConfigResourceType, ConfigSource } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'log.retention.hours': '48' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  await client.createTopics([{ name: 'cfg', numPartitions: 1, replicationFactor: 1 }]);
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

const topic = { type: ConfigResourceType.TOPIC, name: 'cfg' } as const;

async function values(keys: string[]): Promise<Record<string, string | null>> {
  return Object.fromEntries((await client.describeConfigs(topic, keys)).map((e) => [e.name, e.value]));
}

test('topic defaults come from broker synonyms, with their source', async () => {
  const entries = await client.describeConfigs(topic, ['retention.ms', 'segment.bytes']);
  const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
  expect(byName['retention.ms']).toMatchObject({ value: String(48 * 3600_000), source: ConfigSource.STATIC_BROKER_CONFIG, isDefault: false });
  expect(byName['segment.bytes']).toMatchObject({ value: '1073741824', source: ConfigSource.DEFAULT_CONFIG, isDefault: true });
});

test('IncrementalAlterConfigs sets, appends, subtracts and deletes single keys', async () => {
  await client.incrementalAlterConfigs(topic, [
    { name: 'retention.ms', op: 'set', value: '1000' },
    { name: 'cleanup.policy', op: 'append', value: 'compact' },
  ]);
  expect(await values(['retention.ms', 'cleanup.policy'])).toEqual({ 'retention.ms': '1000', 'cleanup.policy': 'delete,compact' });

  await client.incrementalAlterConfigs(topic, [{ name: 'cleanup.policy', op: 'subtract', value: 'delete' }]);
  expect(await values(['cleanup.policy', 'retention.ms'])).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '1000' });

  await client.incrementalAlterConfigs(topic, [{ name: 'retention.ms', op: 'delete' }]);
  expect(await values(['retention.ms'])).toEqual({ 'retention.ms': String(48 * 3600_000) });

  // validateOnly checks without changing anything.
  await client.incrementalAlterConfigs(topic, [{ name: 'segment.bytes', op: 'set', value: '1048576' }], { validateOnly: true });
  expect(await values(['segment.bytes'])).toEqual({ 'segment.bytes': '1073741824' });
});

test('bad configs are rejected with INVALID_CONFIG and a message naming the key', async () => {
  await expect(client.incrementalAlterConfigs(topic, [{ name: 'retention.msx', op: 'set', value: '1' }])).rejects.toMatchObject({
    errorName: 'INVALID_CONFIG',
    errorMessage: expect.stringMatching(/retention\.msx.*Did you mean 'retention\.ms'/),
  });
  await expect(client.incrementalAlterConfigs(topic, [{ name: 'segment.bytes', op: 'set', value: 'lots' }])).rejects.toMatchObject({
    errorName: 'INVALID_CONFIG',
    errorMessage: expect.stringMatching(/segment\.bytes/),
  });
  await expect(client.incrementalAlterConfigs(topic, [{ name: 'retention.ms', op: 'append', value: '5' }])).rejects.toMatchObject({ errorName: 'INVALID_CONFIG' });
  // A broker config that cannot change at run time: Kafka's INVALID_REQUEST (test/integration/brokerConfigs.test.ts has more).
  await expect(client.incrementalAlterConfigs({ type: ConfigResourceType.BROKER, name: '0' }, [{ name: 'num.partitions', op: 'set', value: '3' }])).rejects.toMatchObject({
    errorName: 'INVALID_REQUEST',
    errorMessage: 'Cannot update these configs dynamically: Set(num.partitions)',
  });
});

test('resource types the broker has no configs for are INVALID_REQUEST, as in Kafka', async () => {
  // GROUP (32), CLIENT_METRICS (16): Kafka 3.7 knows neither and answers "Unknown resource type".
  for (const type of [32, 16] as unknown as (typeof ConfigResourceType.TOPIC)[]) {
    await expect(client.incrementalAlterConfigs({ type, name: 'g' }, [{ name: 'consumer.session.timeout.ms', op: 'set', value: '45000' }])).rejects.toMatchObject({
      errorName: 'INVALID_REQUEST',
      errorMessage: `Unknown resource type ${type as number}`,
    });
    await expect(client.alterConfigs({ type, name: 'g' }, { 'consumer.session.timeout.ms': '45000' })).rejects.toMatchObject({ errorName: 'INVALID_REQUEST' });
  }
  // Kafka answers one config named twice in a resource, or a SET without a value, the same way.
  await expect(
    client.incrementalAlterConfigs(topic, [
      { name: 'retention.ms', op: 'set', value: '1' },
      { name: 'retention.ms', op: 'delete' },
    ]),
  ).rejects.toMatchObject({ errorName: 'INVALID_REQUEST', errorMessage: 'Error due to duplicate config keys' });
});

test("tiered topics follow Kafka's retention rules, and remote storage cannot be switched off", async () => {
  // retention.ms is 48 h here (log.retention.hours): the local part may not outlive it.
  await expect(
    client.createTopics([{ name: 'tiered-bad', numPartitions: 1, replicationFactor: 1, configs: { 'remote.storage.enable': 'true', 'local.retention.ms': '-1' } }]),
  ).rejects.toMatchObject({ errorName: 'INVALID_CONFIG', errorMessage: expect.stringContaining('local.retention.ms: Value must not be -1 as retention.ms value is set as 172800000') });
  await expect(
    client.createTopics([{ name: 'tiered-bad', numPartitions: 1, replicationFactor: 1, configs: { 'remote.storage.enable': 'true', 'retention.bytes': '1000', 'local.retention.bytes': '2000' } }]),
  ).rejects.toMatchObject({ errorName: 'INVALID_CONFIG', errorMessage: expect.stringContaining('Value must not be more than retention.bytes property value: 1000') });
  expect(await client.listTopics()).not.toContain('tiered-bad');

  await client.createTopics([{ name: 'tiered-ok', numPartitions: 1, replicationFactor: 1, configs: { 'remote.storage.enable': 'true', 'local.retention.ms': '3600000' } }]);
  const tiered = { type: ConfigResourceType.TOPIC, name: 'tiered-ok' } as const;
  await expect(client.incrementalAlterConfigs(tiered, [{ name: 'local.retention.ms', op: 'set', value: '999999999999' }])).rejects.toMatchObject({ errorName: 'INVALID_CONFIG' });
  await expect(client.incrementalAlterConfigs(tiered, [{ name: 'remote.storage.enable', op: 'set', value: 'false' }])).rejects.toMatchObject({
    errorName: 'INVALID_CONFIG',
    errorMessage: expect.stringContaining('invalid to disable remote storage'),
  });
  const now = Object.fromEntries((await client.describeConfigs(tiered, ['remote.storage.enable', 'local.retention.ms'])).map((e) => [e.name, e.value]));
  expect(now).toEqual({ 'remote.storage.enable': 'true', 'local.retention.ms': '3600000' });
});

test('broker configs are described; DescribeCluster names this broker', async () => {
  const entries = await client.describeConfigs({ type: ConfigResourceType.BROKER, name: '0' }, ['log.retention.hours', 'num.partitions']);
  const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
  expect(byName['log.retention.hours']).toMatchObject({ value: '48', source: ConfigSource.STATIC_BROKER_CONFIG });
  expect(byName['num.partitions']).toMatchObject({ value: '1', isDefault: true });
  await expect(client.describeConfigs({ type: ConfigResourceType.BROKER, name: '7' })).rejects.toMatchObject({ errorName: 'INVALID_REQUEST' });

  const cluster = await client.describeCluster();
  expect(cluster.brokers).toEqual([{ nodeId: 0, host: broker.host, port: broker.port, rack: null }]);
  expect(cluster.controllerId).toBe(0);
  expect(cluster.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
});

test('topic configs and the cluster id survive a restart', async () => {
  await client.incrementalAlterConfigs(topic, [{ name: 'max.message.bytes', op: 'set', value: '2048' }]);
  const clusterId = (await client.describeCluster()).clusterId;
  await client.close();
  broker = await broker.restart();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  expect(await values(['max.message.bytes'])).toEqual({ 'max.message.bytes': '2048' });
  expect((await client.describeCluster()).clusterId).toBe(clusterId);
  // The limit is enforced: a batch above it is refused with MESSAGE_TOO_LARGE and nothing is appended.
  await expect(client.produce('cfg', 0, [{ value: Buffer.alloc(4096, 1) }], { acks: 1 })).rejects.toMatchObject({ errorName: 'MESSAGE_TOO_LARGE' });
  expect((await client.listOffsets('cfg', 0, -1n)).offset).toBe(0n);
});
