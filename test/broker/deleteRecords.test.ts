/**
 * The DeleteRecords handler on an in-process broker, over real sockets with the project's own
 * client and connection: each request version, Kafka's per-partition answers, local segments
 * and tiered segments below the new start, the log start that Produce, Fetch and ListOffsets
 * report for tiered topics, and the bounded wait behind a busy tiered partition.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Broker } from '../../core/broker/broker';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { createLogger } from '../../core/common/logger';
import { KafkaConnection } from '../../core/client/connection';
import { StrataClient } from '../../core/client/client';
import { ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import type { DeleteRecordsResponse } from '../../core/protocol/generated/DeleteRecordsResponse';
import { DEFAULT_KEY_PREFIX, parseRemoteObjectKey, partitionObjectPrefix } from '../../core/tier/remoteSegmentKeys';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, EARLIEST_TIMESTAMP as EARLIEST, LATEST_TIMESTAMP as LATEST } from '../../core/protocol/listOffsetsTimestamps';


let dataDir: string;
let broker: Broker;
let conn: KafkaConnection;
let client: StrataClient;
const lines: string[] = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-delete-records-'));
  // The object store defaults to a folder in the data dir: tiered topics work in-process.
  const config = loadBrokerConfig({ flags: { 'log.dirs': dataDir, listeners: 'PLAINTEXT://127.0.0.1:0' } });
  broker = await Broker.start(config, createLogger('broker', (l) => lines.push(l)));
  conn = await KafkaConnection.connect({ host: broker.endpoint.host, port: broker.endpoint.port, clientId: 'delete-records-test' });
  client = new StrataClient({ bootstrapServers: [`${broker.endpoint.host}:${broker.endpoint.port}`] });
});

afterAll(async () => {
  conn?.close();
  await client?.close();
  await broker?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** 20 records of ~100 bytes per batch: with segment.bytes 4096, a segment holds one batch or two. */
async function fill(topic: string, batches: number, partition = 0): Promise<void> {
  for (let i = 0; i < batches; i++) {
    await client.produce(topic, partition, Array.from({ length: 20 }, (_, j) => ({ key: Buffer.from(`k${j}`), value: Buffer.alloc(100, i) })), { acks: 1 });
  }
}

function deleteRecords(topics: { name: string; partitions: { partitionIndex: number; offset: bigint }[] }[], opts: { version?: number; timeoutMs?: number } = {}) {
  return conn.send<DeleteRecordsResponse>(ApiKey.DeleteRecords, { topics, timeoutMs: opts.timeoutMs ?? 10_000 }, { version: opts.version });
}

async function deleteOne(topic: string, partition: number, offset: bigint, opts: { version?: number; timeoutMs?: number } = {}) {
  const r = await deleteRecords([{ name: topic, partitions: [{ partitionIndex: partition, offset }] }], opts);
  expect(r.topics).toHaveLength(1);
  expect(r.topics[0].name).toBe(topic);
  expect(r.topics[0].partitions).toHaveLength(1);
  return r.topics[0].partitions[0];
}

const earliest = async (topic: string, partition = 0) => (await client.listOffsets(topic, partition, EARLIEST)).offset;

/** Base offsets of the partition's local segment files, ascending. */
function localSegmentBases(topic: string, partition = 0): bigint[] {
  return fs
    .readdirSync(path.join(dataDir, 'logs', `${topic}-${partition}`))
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => BigInt(f.slice(0, 20)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

test('ApiVersions advertises DeleteRecords 0–2', () => {
  expect(conn.apiVersions.get(ApiKey.DeleteRecords)).toEqual({ minVersion: 0, maxVersion: 2 });
});

test.each([0, 1, 2])('v%i moves the log start, deletes the segments wholly below it, and readers see the new start', async (version) => {
  const topic = `local-v${version}`;
  await client.createTopics([{ name: topic, numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '4096' } }]);
  await fill(topic, 40);
  expect(localSegmentBases(topic).length).toBeGreaterThan(10);
  const target = 333n; // inside a batch (batches start at multiples of 20)
  const r = await deleteOne(topic, 0, target, { version });
  expect(r).toEqual({ partitionIndex: 0, errorCode: ErrorCode.NONE, lowWatermark: target });
  expect(await earliest(topic)).toBe(target);
  const bases = localSegmentBases(topic);
  expect(bases[0]).toBeLessThanOrEqual(target);
  expect(bases[1]).toBeGreaterThan(target); // the segment holding the target is now the first
  // Fetch: from the start on, the records are there (the straddling batch's earlier records are
  // not handed out); below it, OFFSET_OUT_OF_RANGE.
  const f = await client.fetch(topic, 0, target, { maxWaitMs: 0 });
  expect(f.records[0].offset).toBe(target);
  expect(f.logStartOffset).toBe(target);
  await expect(client.fetch(topic, 0, target - 1n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
  const p = await client.produce(topic, 0, [{ value: 'after' }], { acks: 1 });
  expect(p.baseOffset).toBe(800n);
  expect(p.logStartOffset).toBe(target);
  expect(lines.some((l) => l.includes(`${topic}-0: log start offset 0 → ${target} (DeleteRecords to ${target})`))).toBe(true);
});

test('-1 deletes up to the high watermark: the log is empty and appends continue its offsets', async () => {
  await client.createTopics([{ name: 'to-hw', numPartitions: 1, replicationFactor: 1, configs: { 'segment.bytes': '4096' } }]);
  await fill('to-hw', 10);
  const r = await deleteOne('to-hw', 0, -1n);
  expect(r).toEqual({ partitionIndex: 0, errorCode: ErrorCode.NONE, lowWatermark: 200n });
  expect(await earliest('to-hw')).toBe(200n);
  expect((await client.listOffsets('to-hw', 0, LATEST)).offset).toBe(200n);
  expect(localSegmentBases('to-hw')).toEqual([200n]);
  const f = await client.fetch('to-hw', 0, 200n, { maxWaitMs: 0 });
  expect(f.records).toEqual([]);
  const p = await client.produce('to-hw', 0, [{ value: 'next' }], { acks: 1 });
  expect(p).toMatchObject({ baseOffset: 200n, logStartOffset: 200n });
});

test("Kafka's per-partition answers: out of range, unknown, policy, below the start; failures change nothing", async () => {
  await client.createTopics([
    { name: 'answers', numPartitions: 2, replicationFactor: 1, configs: { 'segment.bytes': '4096' } },
    { name: 'compacted', numPartitions: 1, replicationFactor: 1, configs: { 'cleanup.policy': 'compact' } },
    { name: 'compact-delete', numPartitions: 1, replicationFactor: 1, configs: { 'cleanup.policy': 'compact,delete' } },
  ]);
  await fill('answers', 5, 0);
  await fill('answers', 5, 1);
  await fill('compacted', 2);
  await fill('compact-delete', 2);
  expect((await deleteOne('answers', 1, 50n)).lowWatermark).toBe(50n);

  const r = await deleteRecords([
    {
      name: 'answers',
      partitions: [
        { partitionIndex: 0, offset: 101n }, // past the high watermark (100)
        { partitionIndex: 1, offset: 10n }, // below the current start (50): a no-op
        { partitionIndex: 7, offset: 1n }, // no such partition
      ],
    },
    { name: 'no-such-topic', partitions: [{ partitionIndex: 0, offset: 1n }] },
    { name: 'compacted', partitions: [{ partitionIndex: 0, offset: 1n }] },
    { name: 'compact-delete', partitions: [{ partitionIndex: 0, offset: 5n }] },
  ]);
  expect(r.topics).toEqual([
    {
      name: 'answers',
      partitions: [
        { partitionIndex: 0, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1n },
        { partitionIndex: 1, errorCode: ErrorCode.NONE, lowWatermark: 50n },
        { partitionIndex: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, lowWatermark: -1n },
      ],
    },
    { name: 'no-such-topic', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, lowWatermark: -1n }] },
    { name: 'compacted', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.POLICY_VIOLATION, lowWatermark: -1n }] },
    { name: 'compact-delete', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.NONE, lowWatermark: 5n }] },
  ]);
  // Offsets below -1 are never valid.
  expect(await deleteOne('answers', 0, -2n)).toEqual({ partitionIndex: 0, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1n });
  expect(await earliest('answers', 0)).toBe(0n);
  expect(await earliest('answers', 1)).toBe(50n);
  expect(await earliest('compacted')).toBe(0n);
  expect(await earliest('compact-delete')).toBe(5n);
  // Auto-creation is a Metadata matter: DeleteRecords never creates the topic it names.
  expect(broker.context.topics.get('no-such-topic')).toBeUndefined();
});

describe('tiered partitions (remote.storage.enable)', () => {
  /** Closed segments tiered, local copies of tiered segments dropped (local.retention.bytes 0). */
  async function tieredTopic(name: string, batches: number) {
    await client.createTopics([
      { name, numPartitions: 1, replicationFactor: 1, configs: { 'remote.storage.enable': 'true', 'segment.bytes': '4096', 'local.retention.bytes': '0', 'retention.ms': '-1' } },
    ]);
    await fill(name, batches);
    const t = broker.context.topics.get(name)!;
    const tp = broker.context.tier.partition(t.topicId, 0)!;
    expect(tp).toBeDefined();
    await broker.context.tier.runOnce();
    expect(tp.remoteSegments.length).toBeGreaterThan(5);
    return { topicId: t.topicId, tp };
  }

  async function tieredObjectBases(topicId: string): Promise<bigint[]> {
    const bases: bigint[] = [];
    for await (const o of broker.context.tier.objects.list(partitionObjectPrefix(DEFAULT_KEY_PREFIX, topicId, 0))) {
      const k = parseRemoteObjectKey(DEFAULT_KEY_PREFIX, o.key);
      if (k && k.ext === 'log') bases.push(k.baseOffset);
    }
    return bases.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  test('the start moves across tiers: stored first, readers and producers see it, tiered segments below go at the next pass', async () => {
    const { topicId, tp } = await tieredTopic('tiered', 40);
    const localStart = (await client.listOffsets('tiered', 0, EARLIEST_LOCAL)).offset;
    expect(localStart).toBeGreaterThan(0n);
    // Before any deletion: the log starts at 0 across tiers, whatever the local copy holds.
    expect((await client.produce('tiered', 0, [{ value: 'x' }], { acks: 1 })).logStartOffset).toBe(0n);
    expect((await client.fetch('tiered', 0, localStart, { maxWaitMs: 0 })).logStartOffset).toBe(0n);

    const segs = tp.remoteSegments;
    const target = segs[3].baseOffset + 1n; // inside the fourth tiered segment, below the local copy
    expect(target).toBeLessThan(localStart);
    const before = await tieredObjectBases(topicId);
    expect(before).toEqual(segs.map((s) => s.baseOffset));

    expect(await deleteOne('tiered', 0, target)).toEqual({ partitionIndex: 0, errorCode: ErrorCode.NONE, lowWatermark: target });
    // Stored in the partition's state record: a broker with an empty disk would start there.
    expect((await broker.context.tier.metadata.getState(topicId, 0))?.state.logStartOffset).toBe(target);
    expect(await earliest('tiered')).toBe(target);
    // The local copy is untouched (it may only move up, by tiering a segment an append rolled).
    expect((await client.listOffsets('tiered', 0, EARLIEST_LOCAL)).offset).toBeGreaterThanOrEqual(localStart);
    const f = await client.fetch('tiered', 0, target, { maxWaitMs: 0 });
    expect(f.records[0].offset).toBe(target);
    expect(f.logStartOffset).toBe(target);
    await expect(client.fetch('tiered', 0, target - 1n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });
    expect((await client.produce('tiered', 0, [{ value: 'y' }], { acks: 1 })).logStartOffset).toBe(target);

    // The next pass deletes the three tiered segments wholly below the start: records, then objects.
    await broker.context.tier.runOnce();
    const kept = segs.slice(3).map((s) => s.baseOffset);
    expect(tp.remoteSegments.map((s) => s.baseOffset).slice(0, kept.length)).toEqual(kept);
    expect((await tieredObjectBases(topicId)).slice(0, kept.length)).toEqual(kept);
    expect((await tieredObjectBases(topicId))[0]).toBe(segs[3].baseOffset);
    expect(await earliest('tiered')).toBe(target);

    // Past the local start: the local segments below go too.
    const hw = (await client.listOffsets('tiered', 0, LATEST)).offset;
    const local = hw - 5n;
    expect(await deleteOne('tiered', 0, local, { version: 2 })).toEqual({ partitionIndex: 0, errorCode: ErrorCode.NONE, lowWatermark: local });
    expect((await client.listOffsets('tiered', 0, EARLIEST_LOCAL)).offset).toBe(local);
    expect(localSegmentBases('tiered')[0]).toBeLessThanOrEqual(local);
    await broker.context.tier.runOnce();
    expect(tp.remoteSegments.every((s) => s.lastOffset >= local)).toBe(true);
    expect(await deleteOne('tiered', 0, hw + 1n)).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1n });
  });

  test('behind a busy partition the wait is bounded by timeout_ms: REQUEST_TIMED_OUT, and the start moves once the partition is free', async () => {
    const { tp } = await tieredTopic('tiered-busy', 20);
    const target = tp.remoteSegments[1].baseOffset;
    // Stands in for a slow upload: the partition's serial work queue is held.
    let release!: () => void;
    const held = tp.runSerial(() => new Promise<void>((resolve) => (release = resolve)));
    try {
      const started = Date.now();
      expect(await deleteOne('tiered-busy', 0, target, { timeoutMs: 300 })).toEqual({ partitionIndex: 0, errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: -1n });
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(await earliest('tiered-busy')).toBe(0n);
    } finally {
      release();
    }
    await held;
    await tp.settled();
    expect(await earliest('tiered-busy')).toBe(target);
    expect(lines.some((l) => l.includes(`tiered-busy-0: log start offset 0 → ${target}`))).toBe(true);
  });
});
