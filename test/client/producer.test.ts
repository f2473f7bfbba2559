import { StrataClient } from '../../core/client/client';
import { KafkaResponseError } from '../../core/client/errors';
import { murmur2Partition } from '../../core/client/partitioner';
import { BatchingProducer } from '../../core/client/producer';
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

async function readAll(client: StrataClient, topic: string, partitions: number): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (let p = 0; p < partitions; p++) {
    const f = await client.fetch(topic, p, 0n, { maxWaitMs: 0, maxBytes: 10 * 1024 * 1024 });
    out.set(p, f.records.map((r) => `${r.key?.toString() ?? ''}=${r.value!.toString()}`));
  }
  return out;
}

describe('BatchingProducer', () => {
  it('puts keyed records where the Java client would, keeping per-key order', async () => {
    const { broker, client } = await setup();
    broker.createTopic('t', 3);
    const producer = new BatchingProducer(client, { topic: 't', lingerMs: 1, batchBytes: 200 });
    const sent: Array<[string, string]> = [];
    for (let i = 0; i < 300; i++) {
      const key = `key-${i % 17}`;
      sent.push([key, `v${i}`]);
      await producer.send({ key, value: `v${i}` });
    }
    await producer.flush();
    expect(producer.ackedRecords).toBe(300);
    const got = await readAll(client, 't', 3);
    for (let p = 0; p < 3; p++) {
      const expected = sent.filter(([k]) => murmur2Partition(Buffer.from(k), 3) === p).map(([k, v]) => `${k}=${v}`);
      expect(got.get(p)).toEqual(expected);
    }
  });

  it('spreads keyless records over partitions in whole batches (sticky)', async () => {
    const { broker, client } = await setup();
    broker.createTopic('t', 3);
    const producer = new BatchingProducer(client, { topic: 't', lingerMs: 1000, batchBytes: 10 * 25 }); // ~10 records per batch
    for (let i = 0; i < 60; i++) await producer.send({ value: `v${String(i).padStart(2, '0')}` });
    await producer.flush();
    const got = await readAll(client, 't', 3);
    const all = [...got.values()].flat();
    expect(all.sort()).toEqual(Array.from({ length: 60 }, (_, i) => `=v${String(i).padStart(2, '0')}`));
    for (const recs of got.values()) expect(recs.length).toBeGreaterThan(0);
    // Each stored batch holds consecutive records: sticky, not per-record round-robin.
    const batchSizes = broker.topics.get('t')!.partitions.flatMap((p) => p.batches.map((b) => b.readInt32BE(57)));
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
  });

  it('honours an explicit partition and rejects one that does not exist', async () => {
    const { broker, client } = await setup();
    broker.createTopic('t', 2);
    const producer = new BatchingProducer(client, { topic: 't' });
    await producer.send({ key: 'k', value: 'v', partition: 1 });
    await expect(producer.send({ value: 'v', partition: 2 })).rejects.toThrow("topic 't' has no partition 2 (it has 2)");
    await producer.flush();
    expect((await readAll(client, 't', 2)).get(1)).toEqual(['k=v']);
  });

  it('keeps at most maxInFlight produce requests outstanding', async () => {
    const { broker, client } = await setup();
    broker.createTopic('t', 1);
    // Count concurrent produce calls at the client boundary.
    let inFlight = 0;
    let peak = 0;
    const produce = client.produce.bind(client);
    client.produce = async (...args: Parameters<StrataClient['produce']>) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        return await produce(...args);
      } finally {
        inFlight--;
      }
    };
    const producer = new BatchingProducer(client, { topic: 't', batchBytes: 1, maxInFlight: 3 });
    for (let i = 0; i < 50; i++) await producer.send({ value: `v${i}` });
    await producer.flush();
    expect(peak).toBe(3);
    expect(producer.ackedRecords).toBe(50);
    expect(broker.topics.get('t')!.partitions[0].batches).toHaveLength(50);
  });

  it('fails every later call once a batch failed', async () => {
    const { broker, client } = await setup({
      hook: (h) =>
        h.apiKey === ApiKey.Produce
          ? { response: { responses: [{ name: 't', partitionResponses: [{ index: 0, errorCode: ErrorCode.MESSAGE_TOO_LARGE, baseOffset: -1n, recordErrors: [], errorMessage: null }] }], throttleTimeMs: 0 } }
          : undefined,
    });
    broker.createTopic('t', 1);
    const producer = new BatchingProducer(client, { topic: 't' });
    await producer.send({ value: 'x' });
    const err = await producer.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaResponseError);
    expect((err as KafkaResponseError).errorName).toBe('MESSAGE_TOO_LARGE');
    await expect(producer.send({ value: 'y' })).rejects.toBe(err);
  });
});
