import * as net from 'node:net';
import { StrataError } from '../../core/common/errors';
import { ConfigResourceType, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, StrataClient, parseHostPort } from '../../core/client/client';
import { KafkaResponseError } from '../../core/client/errors';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import { FakeBroker, FakeBrokerOptions } from './fakeBroker';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(opts: FakeBrokerOptions = {}): Promise<{ broker: FakeBroker; client: StrataClient }> {
  const broker = await FakeBroker.start(opts);
  cleanups.push(() => broker.close());
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap], retryBackoffMs: 1 });
  cleanups.push(() => client.close());
  return { broker, client };
}

async function kafkaError(p: Promise<unknown>): Promise<KafkaResponseError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KafkaResponseError);
  return e as KafkaResponseError;
}

describe('StrataClient admin', () => {
  it('creates, lists, describes, grows and deletes topics', async () => {
    const { broker, client } = await setup();
    const created = await client.createTopics([{ name: 'orders', numPartitions: 3, replicationFactor: 1, configs: { 'retention.ms': '1000' } }]);
    expect(created).toEqual([{ name: 'orders', topicId: broker.topics.get('orders')!.id, numPartitions: 3, replicationFactor: 1 }]);
    await client.createTopics([{ name: 'audit' }]);
    expect(await client.listTopics()).toEqual(['audit', 'orders']);

    const [orders] = await client.describeTopics(['orders']);
    expect(orders.topicId).toBe(broker.topics.get('orders')!.id);
    expect(orders.partitions.map((p) => [p.partition, p.leader, p.replicas, p.isr])).toEqual([
      [0, 0, [0], [0]],
      [1, 0, [0], [0]],
      [2, 0, [0], [0]],
    ]);

    await client.createPartitions([{ topic: 'orders', count: 5 }]);
    expect(await client.partitionCount('orders')).toBe(5); // cache was invalidated by the change

    await client.deleteTopics(['audit']);
    expect(await client.listTopics()).toEqual(['orders']);
  });

  it('turns per-topic error codes into KafkaResponseError with the broker message', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 1 }]);
    const e = await kafkaError(client.createTopics([{ name: 't', numPartitions: 1 }]));
    expect(e.errorCode).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);
    expect(e.errorName).toBe('TOPIC_ALREADY_EXISTS');
    expect(e.errorMessage).toBe("Topic 't' already exists.");
    expect(e.resource).toBe("topic 't'");
    expect(e.code).toBe('KAFKA_ERROR_RESPONSE');
    expect(e.message).toBe("CreateTopics failed for topic 't': TOPIC_ALREADY_EXISTS: Topic 't' already exists.");

    expect((await kafkaError(client.deleteTopics(['missing']))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await kafkaError(client.describeTopics(['missing']))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const shrink = await kafkaError(client.createPartitions([{ topic: 't', count: 1 }]));
    expect(shrink.errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
  });

  it('describes and alters configs', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', configs: { 'retention.ms': '5000' } }]);
    const topic = { type: ConfigResourceType.TOPIC, name: 't' } as const;
    const entries = await client.describeConfigs(topic);
    expect(entries.find((e) => e.name === 'retention.ms')).toMatchObject({ value: '5000', isDefault: false, source: 1 });
    expect(entries.find((e) => e.name === 'cleanup.policy')).toMatchObject({ value: 'delete', isDefault: true, source: 5 });

    await client.incrementalAlterConfigs(topic, [
      { name: 'segment.ms', op: 'set', value: '100' },
      { name: 'retention.ms', op: 'delete' },
    ]);
    const after = await client.describeConfigs(topic);
    expect(after.filter((e) => !e.isDefault).map((e) => `${e.name}=${e.value}`)).toEqual(['segment.ms=100']);

    await client.alterConfigs(topic, { 'max.message.bytes': '2048' });
    expect((await client.describeConfigs(topic)).filter((e) => !e.isDefault).map((e) => e.name)).toEqual(['max.message.bytes']);

    const bad = await kafkaError(client.incrementalAlterConfigs(topic, [{ name: 'bad.config', op: 'set', value: '1' }]));
    expect(bad.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect(bad.errorMessage).toBe('Unknown topic config name: bad.config');
  });

  it('describes the cluster', async () => {
    const { broker, client } = await setup();
    expect(await client.describeCluster()).toEqual({ clusterId: 'fake-cluster', controllerId: 0, brokers: [{ nodeId: 0, host: '127.0.0.1', port: broker.port, rack: null }] });
  });

  it('tries the next bootstrap server when the first is down', async () => {
    const broker = await FakeBroker.start();
    cleanups.push(() => broker.close());
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const client = new StrataClient({ bootstrapServers: [`127.0.0.1:${deadPort}`, broker.bootstrap] });
    cleanups.push(() => client.close());
    expect((await client.describeCluster()).clusterId).toBe('fake-cluster');
  });

  it('reports an unreachable cluster with the first connection error', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const client = new StrataClient({ bootstrapServers: [`127.0.0.1:${port}`] });
    cleanups.push(() => client.close());
    await expect(client.listTopics()).rejects.toThrow(`could not connect to 127.0.0.1:${port}: is the broker running? start it with \`npm start\``);
  });
});

describe('StrataClient produce / fetch / listOffsets', () => {
  it('round-trips keys, values, headers and timestamps, with gzip too', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 2 }]);
    const r1 = await client.produce('t', 1, [
      { key: 'k1', value: 'v1', headers: [{ key: 'h', value: 'x' }], timestamp: 1000 },
      { key: null, value: null, timestamp: 1001n },
    ]);
    expect(r1.baseOffset).toBe(0n);
    const r2 = await client.produce('t', 1, [{ value: Buffer.from([0, 255]) }], { compression: 'gzip', acks: 1 });
    expect(r2.baseOffset).toBe(2n);

    const f = await client.fetch('t', 1, 0n);
    expect(f.records.map((r) => [r.offset, r.key?.toString() ?? null, r.value === null ? null : [...r.value], r.timestampType])).toEqual([
      [0n, 'k1', [...Buffer.from('v1')], 'CreateTime'],
      [1n, null, null, 'CreateTime'],
      [2n, null, [0, 255], 'CreateTime'],
    ]);
    expect(f.records[0].headers.map((h) => [h.key, h.value?.toString()])).toEqual([['h', 'x']]);
    expect(f.records[0].timestamp).toBe(1000n);
    expect(f.records[1].timestamp).toBe(1001n);
    expect(f.highWatermark).toBe(3n);
    expect(f.nextOffset).toBe(3n);
  });

  it('skips records before the fetch offset inside a batch', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 1 }]);
    await client.produce('t', 0, ['a', 'b', 'c'].map((value) => ({ value })));
    const f = await client.fetch('t', 0, 1n);
    expect(f.records.map((r) => [r.offset, r.value!.toString()])).toEqual([
      [1n, 'b'],
      [2n, 'c'],
    ]);
    expect(f.nextOffset).toBe(3n);
  });

  it('returns an empty result at the end of the log after the long poll', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 1 }]);
    const f = await client.fetch('t', 0, 0n, { maxWaitMs: 20 });
    expect(f.records).toEqual([]);
    expect(f.nextOffset).toBe(0n);
  });

  it('fetches by topic name when the broker only speaks Fetch v12 or older', async () => {
    const versions = new Map<number, [number, number]>([
      [ApiKey.ApiVersions, [0, 3]],
      [ApiKey.Metadata, [0, 12]],
      [ApiKey.Produce, [3, 11]],
      [ApiKey.Fetch, [4, 12]],
      [ApiKey.ListOffsets, [1, 7]],
      [ApiKey.CreateTopics, [0, 7]],
    ]);
    const { broker, client } = await setup({ versions });
    await client.createTopics([{ name: 't', numPartitions: 1 }]);
    await client.produce('t', 0, [{ value: 'x' }]);
    const f = await client.fetch('t', 0, 0n);
    expect(f.records.map((r) => r.value!.toString())).toEqual(['x']);
    expect(broker.received.filter((h) => h.apiKey === ApiKey.Fetch).map((h) => h.apiVersion)).toEqual([12]);
  });

  it('fetches many partitions in one request per leader', async () => {
    const { broker, client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 3 }]);
    for (let p = 0; p < 3; p++) await client.produce('t', p, [{ value: `p${p}` }]);
    const before = broker.received.filter((h) => h.apiKey === ApiKey.Fetch).length;
    const results = await client.fetchPartitions('t', [0, 1, 2, 7].map((partition) => ({ partition, offset: 0n })));
    expect(broker.received.filter((h) => h.apiKey === ApiKey.Fetch).length - before).toBe(1);
    expect(results.slice(0, 3).map((r) => r.result!.records.map((x) => x.value!.toString()))).toEqual([['p0'], ['p1'], ['p2']]);
    expect(results[3].error).toBeInstanceOf(KafkaResponseError);
    expect((results[3].error as KafkaResponseError).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('lists earliest and latest offsets', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 1 }]);
    await client.produce('t', 0, [{ value: 'a' }, { value: 'b' }]);
    expect((await client.listOffsets('t', 0, EARLIEST_TIMESTAMP)).offset).toBe(0n);
    expect((await client.listOffsets('t', 0, LATEST_TIMESTAMP)).offset).toBe(2n);
  });

  it('reports OFFSET_OUT_OF_RANGE without retrying', async () => {
    const { client } = await setup();
    await client.createTopics([{ name: 't', numPartitions: 1 }]);
    const e = await kafkaError(client.fetch('t', 0, 5n));
    expect(e.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(e.resource).toBe('t-0');
  });

  it('refreshes metadata and retries after NOT_LEADER_OR_FOLLOWER', async () => {
    let failures = 2;
    const { broker, client } = await setup({
      hook: (h) => {
        if (h.apiKey === ApiKey.Produce && failures > 0) {
          failures--;
          return { response: { responses: [{ name: 't', partitionResponses: [{ index: 0, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, baseOffset: -1n, recordErrors: [], errorMessage: null }] }], throttleTimeMs: 0 } };
        }
        return undefined;
      },
    });
    broker.createTopic('t', 1);
    const metadataBefore = () => broker.received.filter((h) => h.apiKey === ApiKey.Metadata).length;
    const r = await client.produce('t', 0, [{ value: 'x' }]);
    expect(r.baseOffset).toBe(0n);
    expect(metadataBefore()).toBe(3); // initial lookup + one refresh per failure
  });

  it('does not retry errors that mean the batch may have been written', async () => {
    const { broker, client } = await setup({
      hook: (h) =>
        h.apiKey === ApiKey.Produce
          ? { response: { responses: [{ name: 't', partitionResponses: [{ index: 0, errorCode: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, baseOffset: -1n, recordErrors: [], errorMessage: 'only 1 in sync' }] }], throttleTimeMs: 0 } }
          : undefined,
    });
    broker.createTopic('t', 1);
    const e = await kafkaError(client.produce('t', 0, [{ value: 'x' }]));
    expect(e.errorName).toBe('NOT_ENOUGH_REPLICAS_AFTER_APPEND');
    expect(e.errorMessage).toBe('only 1 in sync');
    expect(broker.received.filter((h) => h.apiKey === ApiKey.Produce)).toHaveLength(1);
  });

  it('gives up on a topic that does not exist after bounded retries', async () => {
    const { broker, client } = await setup();
    const e = await kafkaError(client.produce('nope', 0, [{ value: 'x' }]));
    expect(e.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(e.resource).toBe("topic 'nope'");
    expect(broker.received.filter((h) => h.apiKey === ApiKey.Metadata).length).toBe(6); // 1 + 5 retries
  });

  it('produces with acks=0 without waiting for an answer', async () => {
    const { broker, client } = await setup();
    broker.createTopic('t', 1);
    expect(await client.produce('t', 0, [{ value: 'x' }], { acks: 0 })).toEqual({ baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n });
    expect((await client.fetch('t', 0, 0n)).records).toHaveLength(1);
  });

  it('rejects use after close', async () => {
    const { client } = await setup();
    await client.close();
    const e = await client.listTopics().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(StrataError);
    expect((e as StrataError).code).toBe('CLOSED');
  });
});

describe('parseHostPort', () => {
  it('parses host:port, bracketed IPv6 and a default port', () => {
    expect(parseHostPort('localhost:9093')).toEqual({ host: 'localhost', port: 9093 });
    expect(parseHostPort('[::1]:9093')).toEqual({ host: '::1', port: 9093 });
    expect(parseHostPort('broker')).toEqual({ host: 'broker', port: 9092 });
    expect(() => parseHostPort('h:99999')).toThrow("'h:99999' is not a valid host:port");
    expect(() => parseHostPort(':1')).toThrow('is not a valid host:port');
  });
});
