/**
 * A compacted topic with tiered storage on a real broker (cleanup.policy=compact,
 * remote.storage.enable=true): the cleaner compacts the local log, and only what it has cleaned
 * goes to the object store; segments it rewrites after they were tiered are re-tiered under new
 * keys and the old objects deleted; a consumer (kcat) from offset 0 reads, across the object
 * store and the local log, exactly the latest record of every key at its original offset
 * (tombstones too: delete.retention.ms is an hour); and a broker on an EMPTY data dir with the
 * same metadata and object stores serves the same compacted view.
 *
 * Local retention is large while the keys are updated and small afterwards: the cleaner only
 * re-cleans segments it still has locally (a remote-only segment keeps the records it was
 * tiered with, see core/tier/README.md), so the exact view holds when the updates are cleaned
 * before their segments leave the local disk.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataClient, ConfigResourceType } from '../../core/client/client';
import type { FetchedRecord } from '../../core/client/records';
import { openMetadataStore } from '../../core/meta/url';
import { REMOTE_SEGMENTS_NAMESPACE, RemoteLogMetadata, liveSegments } from '../../core/tier/remoteLogMetadata';
import { allObjectKeys } from '../../core/tier/remoteSegmentKeys';
import { openObjectStore } from '../../core/tier/url';
import { awsBackendSelected, awsStores } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { useEnv } from '../helpers/emulators';
import { kcatAvailable, kcatConsumeRecords } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, EARLIEST_TIMESTAMP as EARLIEST, LATEST_TIERED_TIMESTAMP as LATEST_TIERED, LATEST_TIMESTAMP as LATEST } from '../../core/protocol/listOffsetsTimestamps';

type Row = [offset: bigint, key: string | null, value: string | null];

const TOPIC = 'compacted-tiered';
const SEGMENT_BYTES = 16 * 1024;
const LOCAL_RETENTION_BYTES = 16 * 1024;
const KEYS = 300;

let root: string;
let metaDir: string;
let tierDir: string;

beforeAll(async () => {
  await kcatAvailable();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compacted-tiering-'));
  metaDir = path.join(root, 'meta');
  tierDir = path.join(root, 'tier');
});

afterAll(async () => {
  await stopAllBrokers();
  fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

/** The stores both brokers share: a dir each, or on the `aws` project a DynamoDB table and an S3 prefix. */
async function stores(): Promise<{ args: string[]; env: NodeJS.ProcessEnv; metadata: string; objects: string }> {
  const args = awsBackendSelected() ? (await awsStores('compacted-tiering')).args : ['--metadata', `embedded:${metaDir}`, '--object-store', `file://${tierDir}`];
  const env = awsBackendSelected() ? (await awsStores('compacted-tiering')).env : {};
  return { args, env, metadata: args[args.indexOf('--metadata') + 1], objects: args[args.indexOf('--object-store') + 1] };
}

/** Opens the stores from this process (with the emulators' endpoints on the aws project). */
async function withStores<T>(fn: (md: RemoteLogMetadata, objects: Awaited<ReturnType<typeof openObjectStore>>) => Promise<T>): Promise<T> {
  const s = await stores();
  const restore = useEnv(s.env);
  try {
    const meta = await openMetadataStore(s.metadata, { dataDir: root });
    const objects = await openObjectStore(s.objects, { dataDir: root });
    try {
      return await fn(new RemoteLogMetadata(meta.namespace(REMOTE_SEGMENTS_NAMESPACE)), objects);
    } finally {
      await objects.close();
      await meta.close();
    }
  } finally {
    restore();
  }
}

/** The .log objects in the object store now (read while a broker runs: no store is opened on the embedded backend). */
async function logObjects(): Promise<Set<string>> {
  const out = new Set<string>();
  if (!awsBackendSelected()) {
    const walk = (dir: string): void => {
      if (!fs.existsSync(dir)) return;
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(dir, e.name));
        else if (e.name.endsWith('.log')) out.add(path.relative(tierDir, path.join(dir, e.name)));
      }
    };
    walk(path.join(tierDir, 'remote-log'));
    return out;
  }
  const s = await stores();
  const restore = useEnv(s.env);
  try {
    const objects = await openObjectStore(s.objects, { dataDir: root });
    try {
      for await (const o of objects.list('remote-log/')) if (o.key.endsWith('.log')) out.add(o.key);
    } finally {
      await objects.close();
    }
  } finally {
    restore();
  }
  return out;
}

/** Every record of partition 0 from the log start up to the high watermark, through the broker. */
async function readAll(c: StrataClient): Promise<Row[]> {
  const rows: Row[] = [];
  let offset = (await c.listOffsets(TOPIC, 0, EARLIEST)).offset;
  for (;;) {
    const r = await c.fetch(TOPIC, 0, offset, { maxWaitMs: 0, maxBytes: 4 << 20 });
    rows.push(...r.records.map((x: FetchedRecord): Row => [x.offset, x.key?.toString() ?? null, x.value?.toString() ?? null]));
    if (r.nextOffset >= r.highWatermark || r.nextOffset === offset) return rows;
    offset = r.nextOffset;
  }
}

/** kcat (librdkafka) from the beginning of partition 0 to its end. */
async function kcatRows(bootstrap: string): Promise<Row[]> {
  const records = await kcatConsumeRecords(bootstrap, TOPIC, { partition: 0, timeoutMs: 60_000 });
  return records.map((r): Row => [r.offset, r.key, r.value]);
}

/** `count` updates over keys [0, keys), about one in `tombstoneEvery` a tombstone, 30 per request (~12 KiB). */
async function produceUpdates(c: StrataClient, written: Row[], count: number, keys: number, label: string, tombstoneEvery: number): Promise<void> {
  for (let i = 0; i < count; i += 30) {
    const records = Array.from({ length: Math.min(30, count - i) }, (_, j) => {
      const n = written.length + j;
      const key = `k${(n * 7 + Math.floor(n / keys)) % keys}`;
      return { key, value: n % tombstoneEvery === 3 ? null : `${label}${n}-${'x'.repeat(400)}` };
    });
    const { baseOffset } = await c.produce(TOPIC, 0, records, { acks: 1 });
    records.forEach((r, j) => written.push([baseOffset + BigInt(j), r.key, r.value]));
  }
}

/** Unique-key filler: rolls the updates into closed (cleanable, uploadable) segments. */
async function produceFiller(c: StrataClient, written: Row[], label: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const { baseOffset } = await c.produce(TOPIC, 0, [{ key: `fill-${label}-${i}`, value: 'f'.repeat(1000) }], { acks: 1 });
    written.push([baseOffset, `fill-${label}-${i}`, 'f'.repeat(1000)]);
  }
}

function latestPerKey(rows: readonly Row[]): Row[] {
  const last = new Map<string, Row>();
  for (const r of rows) last.set(r[1]!, r);
  return [...last.values()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

const same = (a: Row[], b: Row[]): boolean => JSON.stringify(a.map(String)) === JSON.stringify(b.map(String));

test('compacted + tiered: only cleaned data is uploaded, rewritten segments are re-tiered, kcat from 0 reads the latest record per key across both tiers, an empty data dir serves it too', async () => {
  const s = await stores();
  const broker: BrokerProcess = await startBroker({ args: s.args, overrides: { 'log.cleaner.backoff.ms': '200' } });
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  let restarted: BrokerProcess | null = null;
  let client2: StrataClient | null = null;
  try {
    await client.createTopics([
      {
        name: TOPIC,
        numPartitions: 1,
        replicationFactor: 1,
        configs: {
          'cleanup.policy': 'compact',
          'remote.storage.enable': 'true',
          'segment.bytes': String(SEGMENT_BYTES),
          // Everything stays local while keys are updated (see the file comment); small later.
          'local.retention.bytes': String(64 * SEGMENT_BYTES),
          'min.cleanable.dirty.ratio': '0.01',
          'delete.retention.ms': '3600000',
        },
      },
    ]);
    const written: Row[] = [];

    // Phase A: 3000 updates over 300 keys. The cleaner compacts them, then they are tiered.
    await produceUpdates(client, written, 3000, KEYS, 'a', 17);
    const lastA = written[written.length - 1][0];
    await produceFiller(client, written, 'a');
    await waitFor(async () => (await client.listOffsets(TOPIC, 0, LATEST_TIERED)).offset >= lastA, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'phase A updates tiered',
    });
    const objectsA = await logObjects();
    expect(objectsA.size).toBeGreaterThan(0);

    // Phase B: half of the keys again, more tombstones. The cleaner rewrites segments that are
    // already tiered (still local): they are re-tiered.
    await produceUpdates(client, written, 1500, KEYS / 2, 'b', 11);
    const lastB = written[written.length - 1][0];
    await produceFiller(client, written, 'b');
    const end = (await client.listOffsets(TOPIC, 0, LATEST)).offset;
    expect(end).toBe(BigInt(written.length));
    const expected = latestPerKey(written);
    expect(expected.some((r) => r[2] === null)).toBe(true);
    await waitFor(async () => same(await readAll(client), expected), {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'the local log compacted to the latest record per key',
    });
    await waitFor(async () => (await client.listOffsets(TOPIC, 0, LATEST_TIERED)).offset >= lastB, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'phase B updates tiered',
    });
    await waitFor(() => /re-tiered compacted segment/.test(broker.output()), { timeoutMs: 30_000, intervalMs: 200, message: 'a re-tier logged' });

    // Local retention shrinks: the local copies go once their current bytes are tiered.
    await client.incrementalAlterConfigs({ type: ConfigResourceType.TOPIC, name: TOPIC }, [
      { name: 'local.retention.bytes', op: 'set', value: String(LOCAL_RETENTION_BYTES) },
    ]);
    await waitFor(async () => (await client.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset > lastB, {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'every update read from the object store',
    });
    expect((await client.listOffsets(TOPIC, 0, EARLIEST)).offset).toBe(0n);

    // kcat from offset 0: exactly the latest record per key, at its original offset, offsets
    // increasing, from the object store into the local log without a seam.
    const viaKcat = await kcatRows(broker.bootstrap);
    expect(viaKcat).toEqual(expected);
    const localStart = (await client.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset;
    expect(viaKcat.some((r) => r[0] < localStart)).toBe(true);
    expect(viaKcat.some((r) => r[0] >= localStart)).toBe(true);

    // Objects of segments that were re-tiered (or emptied) are gone.
    const objectsEnd = await logObjects();
    const gone = [...objectsA].filter((k) => !objectsEnd.has(k));
    expect(gone.length).toBeGreaterThan(0);
    const retiers = broker.output().match(/re-tiered compacted segment|compaction emptied segment/g)!.length;
    const tieredEnd = (await client.listOffsets(TOPIC, 0, LATEST_TIERED)).offset + 1n;
    console.log(
      `compacted tiering: ${written.length} records produced, ${expected.length} after compaction; ${objectsA.size} segments tiered after phase A, ` +
        `${retiers} re-tiers, ${gone.length} of them gone by the end, ${objectsEnd.size} tiered now; local log starts at ${localStart}, tiered end ${tieredEnd}`,
    );

    // A broker on an EMPTY data dir, same stores.
    await client.close();
    await broker.stop();
    await withStores(async (md, objects) => {
      // Every object is named by a live record; no record is left superseded.
      const records = await md.listSegments(await topicIdOf(md), 0);
      expect(liveSegments(records).superseded).toEqual([]);
      const named = new Set(records.flatMap((r) => allObjectKeys(r.keys)));
      const all: string[] = [];
      for await (const o of objects.list('remote-log/')) all.push(o.key);
      expect(all.sort()).toEqual([...named].sort());
      for (const k of gone) expect(named.has(awsBackendSelected() ? k : k.split(path.sep).join('/'))).toBe(false);
    });
    restarted = await startBroker({ dataDir: path.join(root, 'empty-data'), args: s.args });
    client2 = new StrataClient({ bootstrapServers: [restarted.bootstrap] });
    expect((await client2.listOffsets(TOPIC, 0, LATEST_TIERED)).offset + 1n).toBe(tieredEnd);
    expect((await client2.listOffsets(TOPIC, 0, EARLIEST)).offset).toBe(0n);
    expect((await client2.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset).toBe(tieredEnd);
    expect(await kcatRows(restarted.bootstrap)).toEqual(expected.filter((r) => r[0] < tieredEnd));
  } finally {
    await client.close().catch(() => undefined);
    await client2?.close().catch(() => undefined);
    await restarted?.stop();
    await broker.stop();
  }
}, 240_000);

/** The topic id the records are under (one topic in these stores). */
async function topicIdOf(md: RemoteLogMetadata): Promise<string> {
  const ids = await md.listTopicIds();
  expect(ids).toHaveLength(1);
  return ids[0];
}
