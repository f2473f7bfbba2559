/**
 * kafkajs 2.2.4 (producer and admin) against a real broker process; records are read back
 * with kcat, since kafkajs's consumer needs consumer groups (a later issue).
 */
import { Kafka, logLevel, Partitioners, CompressionTypes, ConfigResourceTypes, type Admin, type Producer } from 'kafkajs';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatAvailable, kcatConsumeRecords } from '../helpers/kcat';

let broker: BrokerProcess;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker();
  kafka = new Kafka({ clientId: 'strata-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await admin?.disconnect();
  await stopAllBrokers();
});

describe('topic administration', () => {
  test('create, list, describe, add partitions, delete', async () => {
    expect(await admin.createTopics({ topics: [{ topic: 'admin-a', numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })).toBe(true);
    expect(await admin.listTopics()).toContain('admin-a');

    const meta = await admin.fetchTopicMetadata({ topics: ['admin-a'] });
    expect(meta.topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1]);
    expect(meta.topics[0].partitions.every((p) => p.leader === 0 && p.isr.length === 1)).toBe(true);

    await admin.createPartitions({ topicPartitions: [{ topic: 'admin-a', count: 5 }] });
    const after = await admin.fetchTopicMetadata({ topics: ['admin-a'] });
    expect(after.topics[0].partitions).toHaveLength(5);

    const configs = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'admin-a', configNames: ['retention.ms', 'cleanup.policy'] }], includeSynonyms: false });
    const entries = Object.fromEntries(configs.resources[0].configEntries.map((e) => [e.configName, e]));
    expect(entries['retention.ms'].configValue).toBe('3600000');
    expect(entries['retention.ms'].isDefault).toBe(false);
    expect(entries['cleanup.policy'].configValue).toBe('delete');
    expect(entries['cleanup.policy'].isDefault).toBe(true);

    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'admin-a', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    const altered = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'admin-a', configNames: ['cleanup.policy', 'retention.ms'] }], includeSynonyms: false });
    const alteredEntries = Object.fromEntries(altered.resources[0].configEntries.map((e) => [e.configName, e.configValue]));
    // AlterConfigs replaces the whole set of overrides, as in Kafka.
    expect(alteredEntries).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '604800000' });

    await admin.deleteTopics({ topics: ['admin-a'] });
    expect(await admin.listTopics()).not.toContain('admin-a');
  });

  test('errors carry Kafka error codes', async () => {
    await admin.createTopics({ topics: [{ topic: 'admin-dup', numPartitions: 1 }] });
    // kafkajs turns TOPIC_ALREADY_EXISTS into `false` rather than an error.
    expect(await admin.createTopics({ topics: [{ topic: 'admin-dup', numPartitions: 1 }] })).toBe(false);
    await expect(admin.createTopics({ topics: [{ topic: 'bad-config', configEntries: [{ name: 'retention.msx', value: '1' }] }] })).rejects.toMatchObject({
      errors: [expect.objectContaining({ type: 'INVALID_CONFIG' })],
    });
    await expect(admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1 }] })).rejects.toMatchObject({ errors: [expect.objectContaining({ type: 'INVALID_TOPIC_EXCEPTION' })] });
    await expect(admin.createTopics({ topics: [{ topic: 'rf3', numPartitions: 1, replicationFactor: 3 }] })).rejects.toMatchObject({
      errors: [expect.objectContaining({ type: 'INVALID_REPLICATION_FACTOR' })],
    });
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'admin-dup', count: 1 }] })).rejects.toMatchObject({ type: 'INVALID_PARTITIONS' });
    expect(await admin.listTopics()).not.toContain('bad-config');
  });
});

describe('producing with kafkajs', () => {
  test('keys, headers and timestamps are preserved', async () => {
    // Timestamps from 2024 are past the default retention.ms: without retention.ms=-1 a
    // retention pass between produce and consume deletes them (as Kafka would).
    await admin.createTopics({ topics: [{ topic: 'kjs-records', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }] });
    const base = Date.UTC(2024, 0, 1);
    const messages = Array.from({ length: 50 }, (_, i) => ({
      key: i % 2 === 0 ? `key-${i}` : null,
      value: `value-${i}`,
      timestamp: String(base + i * 1000),
      headers: { 'trace-id': `t-${i}`, kind: i % 3 === 0 ? 'three' : 'other' },
    }));
    for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
      await producer.send({ topic: 'kjs-records', acks: -1, compression, messages });
    }
    const records = await kcatConsumeRecords(broker.bootstrap, 'kjs-records');
    expect(records).toHaveLength(100);
    records.forEach((r, idx) => {
      const i = idx % 50;
      expect(r.offset).toBe(BigInt(idx));
      expect(r.key).toBe(i % 2 === 0 ? `key-${i}` : null);
      expect(r.value).toBe(`value-${i}`);
      expect(r.timestamp).toBe(BigInt(base + i * 1000));
      expect(r.timestampType).toBe('create');
      expect(r.headers).toEqual([
        ['trace-id', `t-${i}`],
        ['kind', i % 3 === 0 ? 'three' : 'other'],
      ]);
    });
  });

  test('ListOffsets by timestamp finds the first record at or after it', async () => {
    await admin.createTopics({ topics: [{ topic: 'kjs-times', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }] });
    const base = Date.UTC(2024, 5, 1);
    // Ten sends = ten batches, one minute apart.
    for (let b = 0; b < 10; b++) {
      await producer.send({ topic: 'kjs-times', messages: Array.from({ length: 10 }, (_, i) => ({ value: `b${b}-${i}`, timestamp: String(base + b * 60_000 + i) })) });
    }
    const at = async (ts: number) => (await admin.fetchTopicOffsetsByTimestamp('kjs-times', ts))[0].offset;
    expect(await at(base)).toBe('0');
    expect(await at(base + 3 * 60_000)).toBe('30');
    expect(await at(base + 3 * 60_000 + 5)).toBe('35');
    expect(await at(base + 9 * 60_000 + 9)).toBe('99');
    // Past the newest timestamp Kafka answers -1 (kafkajs then reports the latest offset).
    expect(await at(base + 10 * 60_000)).toBe('100');
    const offsets = await admin.fetchTopicOffsets('kjs-times');
    expect(offsets[0]).toMatchObject({ partition: 0, offset: '100', high: '100', low: '0' });
  });

  test('producing to an unknown topic without auto-creation fails with UNKNOWN_TOPIC_OR_PARTITION', async () => {
    await expect(producer.send({ topic: 'kjs-missing', messages: [{ value: 'x' }] })).rejects.toThrow(/does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION|not found/i);
    expect(await admin.listTopics()).not.toContain('kjs-missing');
  });
});
