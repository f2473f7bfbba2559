/**
 * Dynamic broker configs and `strata configs` against a real broker process: a cluster-wide
 * default changed at run time applies to existing topics at once (smaller segments, then
 * retention deleting old ones), survives a restart, loses to a per-broker value and comes back
 * with --delete-config; DescribeConfigs reports each layer's source; read-only configs are
 * refused as Kafka refuses them; kafkajs' admin alters and describes a broker's configs.
 */
import { Kafka, logLevel, ConfigResourceTypes } from 'kafkajs';
import { StrataClient, ConfigResourceType, ConfigSource } from '../../core/client/client';
import { describeConfigs } from '../../core/client/configsAdmin';
import { EARLIEST_TIMESTAMP as EARLIEST } from '../../core/protocol/listOffsetsTimestamps';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { runProcess, type RunResult } from '../helpers/proc';
import { waitFor } from '../helpers/waitFor';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'log.retention.check.interval.ms': '500' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  await client.createTopics([
    { name: 'inherits', numPartitions: 1, replicationFactor: 1 },
    { name: 'own', numPartitions: 1, replicationFactor: 1, configs: { 'retention.ms': '-1' } },
  ]);
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

function strata(...args: string[]): Promise<RunResult> {
  return runProcess(process.execPath, [BROKER_MAIN, ...args], { timeoutMs: 30_000 });
}
const configs = (...args: string[]) => strata('configs', '--bootstrap-server', broker.bootstrap, ...args);
const out = (r: RunResult): string => r.stdout.toString('utf8');

const clusterDefault = { type: ConfigResourceType.BROKER, name: '' } as const;
const broker0 = { type: ConfigResourceType.BROKER, name: '0' } as const;

async function topicEntry(topic: string, name: string) {
  const [e] = await describeConfigs(client, { type: ConfigResourceType.TOPIC, name: topic }, { includeSynonyms: true, keys: [name] });
  return e;
}

async function earliest(topic: string): Promise<bigint> {
  return (await client.listOffsets(topic, 0, EARLIEST)).offset;
}

test('a cluster-wide default changed at run time applies to existing topics at once, unless they set their own', async () => {
  const set = await configs('--entity-type', 'brokers', '--entity-default', '--alter', '--add-config', 'log.segment.bytes=1024');
  expect({ code: set.code, stdout: out(set), stderr: set.stderr }).toEqual({ code: 0, stdout: 'Completed updating default config for brokers in the cluster.\n', stderr: '' });
  expect(await topicEntry('inherits', 'segment.bytes')).toMatchObject({ value: '1024', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, isDefault: false });

  // Records an hour old, in batches of ~600 bytes: with 1 KiB segments, about one batch per segment.
  const hourAgo = Date.now() - 3_600_000;
  for (let i = 0; i < 6; i++) {
    for (const topic of ['inherits', 'own']) await client.produce(topic, 0, [{ value: Buffer.alloc(600, i), timestamp: hourAgo }], { acks: 1 });
  }
  expect(await earliest('inherits')).toBe(0n);

  // Retention lowered cluster-wide: the next retention pass deletes the old closed segments of
  // the topic that inherits it, none of the topic with its own retention.ms.
  await client.incrementalAlterConfigs(clusterDefault, [{ name: 'log.retention.ms', op: 'set', value: '60000' }]);
  await waitFor(async () => (await earliest('inherits')) > 0n, { timeoutMs: 15_000, message: 'retention deleting segments of topic inherits' });
  expect(await earliest('own')).toBe(0n);
  expect(await topicEntry('own', 'retention.ms')).toMatchObject({ value: '-1', source: ConfigSource.DYNAMIC_TOPIC_CONFIG });

  // kafka-topics.sh shows inherited dynamic values among the topic's non-default configs.
  const described = await strata('topics', '--bootstrap-server', broker.bootstrap, '--describe', '--topic', 'inherits');
  expect(out(described)).toMatch(/^Topic: inherits\tTopicId: \S+\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: retention.ms=60000,segment.bytes=1024\n/);
});

test('dynamic configs survive a restart; a per-broker value wins over the cluster default; --delete-config restores', async () => {
  await client.close();
  broker = await broker.restart();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  expect(await topicEntry('inherits', 'retention.ms')).toMatchObject({ value: '60000', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG });

  const defaults = await configs('--entity-type', 'brokers', '--entity-default', '--describe');
  expect(out(defaults)).toBe(
    'Default configs for brokers in the cluster are:\n' +
      '  log.retention.ms=60000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=60000}\n' +
      '  log.segment.bytes=1024 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1024}\n',
  );

  expect((await configs('--broker', '0', '--alter', '--add-config', 'log.retention.ms=7200000')).code).toBe(0);
  const own = await configs('--entity-type', 'brokers', '--entity-name', '0', '--describe');
  expect(out(own)).toBe(
    'Dynamic configs for broker 0 are:\n' +
      '  log.retention.ms=7200000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=7200000, ' +
      'DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=60000, DEFAULT_CONFIG:log.retention.hours=168}\n',
  );
  const e = await topicEntry('inherits', 'retention.ms');
  expect(e).toMatchObject({ value: '7200000', source: ConfigSource.DYNAMIC_BROKER_CONFIG });
  expect(e.synonyms).toEqual([
    { name: 'log.retention.ms', value: '7200000', source: ConfigSource.DYNAMIC_BROKER_CONFIG },
    { name: 'log.retention.ms', value: '60000', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG },
    { name: 'log.retention.hours', value: '168', source: ConfigSource.DEFAULT_CONFIG },
  ]);
  // --all on the broker: static and default configs too, read-only ones among them.
  const all = out(await configs('--entity-type', 'brokers', '--entity-name', '0', '--describe', '--all'));
  expect(all.split('\n')[0]).toBe('All configs for broker 0 are:');
  expect(all).toContain('\n  log.retention.check.interval.ms=500 sensitive=false synonyms={STATIC_BROKER_CONFIG:log.retention.check.interval.ms=500, DEFAULT_CONFIG:log.retention.check.interval.ms=300000}\n');
  expect(all).toContain('\n  num.partitions=1 sensitive=false synonyms={DEFAULT_CONFIG:num.partitions=1}\n');

  const removeOwn = await configs('--entity-type', 'brokers', '--entity-name', '0', '--alter', '--delete-config', 'log.retention.ms');
  expect(out(removeOwn)).toBe('Completed updating config for broker 0.\n');
  expect(await topicEntry('inherits', 'retention.ms')).toMatchObject({ value: '60000', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG });

  const missing = await configs('--entity-type', 'brokers', '--entity-name', '0', '--alter', '--delete-config', 'log.retention.ms');
  expect({ code: missing.code, stderr: missing.stderr }).toEqual({ code: 1, stderr: 'Invalid config(s): log.retention.ms\n' });

  expect((await configs('--broker-defaults', '--alter', '--delete-config', 'log.retention.ms,log.segment.bytes')).code).toBe(0);
  expect(await topicEntry('inherits', 'retention.ms')).toMatchObject({ value: '604800000', source: ConfigSource.DEFAULT_CONFIG, isDefault: true });
  expect(out(await configs('--entity-type', 'brokers', '--entity-default', '--describe'))).toBe('Default configs for brokers in the cluster are:\n');

  // Gone for good: a restart finds nothing stored.
  await client.close();
  broker = await broker.restart();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  expect(await topicEntry('inherits', 'segment.bytes')).toMatchObject({ value: '1073741824', source: ConfigSource.DEFAULT_CONFIG });
});

test("read-only broker configs are refused with Kafka's answer, and nothing is stored", async () => {
  await expect(client.incrementalAlterConfigs(clusterDefault, [{ name: 'log.retention.hours', op: 'set', value: '1' }])).rejects.toMatchObject({
    errorName: 'INVALID_REQUEST',
    errorMessage: 'Cannot update these configs dynamically: Set(log.retention.hours)',
  });
  await expect(
    client.incrementalAlterConfigs(broker0, [
      { name: 'num.partitions', op: 'set', value: '3' },
      { name: 'log.retention.ms', op: 'set', value: '1000' },
    ]),
  ).rejects.toMatchObject({ errorName: 'INVALID_REQUEST', errorMessage: 'Cannot update these configs dynamically: Set(num.partitions)' });
  await expect(client.incrementalAlterConfigs(broker0, [{ name: 'log.segment.bytes', op: 'set', value: '1' }])).rejects.toMatchObject({
    errorName: 'INVALID_REQUEST',
    errorMessage: 'Invalid value 1 for configuration log.segment.bytes: Value must be at least 14',
  });
  await expect(client.incrementalAlterConfigs({ type: ConfigResourceType.BROKER, name: '7' }, [{ name: 'log.retention.ms', op: 'set', value: '1' }])).rejects.toMatchObject({
    errorName: 'INVALID_REQUEST',
    errorMessage: 'Unexpected broker id, expected 0, but received 7',
  });
  expect(await describeConfigs(client, clusterDefault)).toEqual([]);
  expect(await describeConfigs(client, broker0, { keys: ['log.retention.ms'] })).toMatchObject([{ value: null, source: ConfigSource.DEFAULT_CONFIG }]);

  const cli = await configs('--entity-type', 'brokers', '--entity-default', '--alter', '--add-config', 'num.partitions=3');
  expect(cli.code).toBe(1);
  expect(cli.stderr).toBe(
    `Error while executing config command with args '--bootstrap-server ${broker.bootstrap} --entity-type brokers --entity-default --alter --add-config num.partitions=3'\n` +
      'INVALID_REQUEST: Cannot update these configs dynamically: Set(num.partitions)\n',
  );
});

test("kafkajs' admin alters (AlterConfigs, whole set) and describes (with synonyms) a broker's dynamic configs", async () => {
  const kafka = new Kafka({ clientId: 'broker-configs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configEntries: [{ name: 'log.retention.bytes', value: '1048576' }, { name: 'compression.type', value: 'zstd' }] }],
    });
    const described = await admin.describeConfigs({ includeSynonyms: true, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configNames: ['log.retention.bytes', 'compression.type'] }] });
    const byName = Object.fromEntries(described.resources[0].configEntries.map((e) => [e.configName, e]));
    expect(byName['log.retention.bytes']).toMatchObject({ configValue: '1048576', readOnly: false, configSource: ConfigSource.DYNAMIC_BROKER_CONFIG });
    expect(byName['log.retention.bytes'].configSynonyms).toEqual([
      { configName: 'log.retention.bytes', configValue: '1048576', configSource: ConfigSource.DYNAMIC_BROKER_CONFIG },
      { configName: 'log.retention.bytes', configValue: '-1', configSource: ConfigSource.DEFAULT_CONFIG },
    ]);
    const topic = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'inherits', configNames: ['retention.bytes', 'compression.type'] }] });
    expect(Object.fromEntries(topic.resources[0].configEntries.map((e) => [e.configName, e.configValue]))).toEqual({ 'retention.bytes': '1048576', 'compression.type': 'zstd' });

    // AlterConfigs replaces the whole set: one entry left.
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configEntries: [{ name: 'compression.type', value: 'lz4' }] }] });
    expect(out(await configs('--broker', '0', '--describe'))).toBe(
      'Dynamic configs for broker 0 are:\n  compression.type=lz4 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:compression.type=lz4, DEFAULT_CONFIG:compression.type=producer}\n',
    );
    await expect(
      admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configEntries: [{ name: 'broker.rack', value: 'a' }] }] }),
    ).rejects.toMatchObject({ type: 'INVALID_REQUEST' });
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configEntries: [] }] });
    expect(out(await configs('--broker', '0', '--describe'))).toBe('Dynamic configs for broker 0 are:\n');
  } finally {
    await admin.disconnect();
  }
});

test('topics: --alter --add-config and --delete-config through the CLI, described as kafka-configs.sh does', async () => {
  const add = await configs('--entity-type', 'topics', '--entity-name', 'inherits', '--alter', '--add-config', 'cleanup.policy=[compact,delete],retention.ms=86400000');
  expect(out(add)).toBe('Completed updating config for topic inherits.\n');
  expect(out(await configs('--topic', 'inherits', '--describe'))).toBe(
    'Dynamic configs for topic inherits are:\n' +
      '  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete}\n' +
      '  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000, DEFAULT_CONFIG:log.retention.hours=168}\n',
  );
  expect((await configs('--topic', 'inherits', '--alter', '--delete-config', 'cleanup.policy', '--delete-config', 'retention.ms')).code).toBe(0);
  expect(out(await configs('--topic', 'inherits', '--describe'))).toBe('Dynamic configs for topic inherits are:\n');

  const bad = await configs('--topic', 'inherits', '--alter', '--add-config', 'retention.msx=1');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("INVALID_CONFIG: Unknown topic config 'retention.msx'. Did you mean 'retention.ms'?");
});
