/**
 * Tiered storage end to end on a real broker: 200 MB produced to a topic with small segments
 * and a small local.retention.bytes stays bounded on local disk, a new consumer (kcat) from
 * offset 0 reads every record in order (checksummed), and a broker started on an EMPTY data
 * dir with the same metadata store and object store serves the tiered data and continues the
 * offsets. The metadata and tier dirs live outside the data dirs, as a stateless deployment's
 * DynamoDB table and S3 bucket would (and on the `aws` jest project are: dynalite and s3rver).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { awsBackendSelected, awsStores } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatAvailable } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, EARLIEST_TIMESTAMP as EARLIEST, LATEST_TIERED_TIMESTAMP as LATEST_TIERED } from '../../core/protocol/listOffsetsTimestamps';

const MiB = 1024 * 1024;
const TOPIC = 'tiered';
const SEGMENT_BYTES = 4 * MiB;
const LOCAL_RETENTION_BYTES = 8 * MiB;
const VALUE_BYTES = 10_000;
const RECORDS = 20_000; // 200 MB of values
const PER_REQUEST = 80; // ~800 KB per produce: under max.message.bytes (1 MiB)
/**
 * The producer is held to this rate: slower than the object store takes uploads, as in any
 * sustainable deployment. (A producer outrunning the object store grows the local backlog, by
 * design: nothing untiered is dropped.)
 */
const PRODUCE_BYTES_PER_SEC = 40 * 1e6;

let root: string;
let metaDir: string;
let tierDir: string;
const kids = new Set<ChildProcess>();

beforeAll(async () => {
  await kcatAvailable();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tiering-'));
  metaDir = path.join(root, 'meta');
  tierDir = path.join(root, 'tier');
});

afterAll(async () => {
  for (const k of kids) k.kill('SIGKILL');
  await stopAllBrokers();
  fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

/** The stores both brokers share: a dir each, or on the `aws` project a DynamoDB table and an S3 prefix. */
async function storeArgs(): Promise<string[]> {
  if (awsBackendSelected()) return (await awsStores('tiering')).args;
  return ['--metadata', `embedded:${metaDir}`, '--object-store', `file://${tierDir}`];
}

/** Record i's value: its index, then a block derived from it, repeated; printable, no newline. */
function valueOf(i: number): Buffer {
  const v = Buffer.alloc(VALUE_BYTES, createHash('sha256').update(String(i)).digest('hex'));
  v.write(`${String(i).padStart(8, '0')}|`, 0, 'latin1');
  return v;
}

/** sha256 over values 0..n-1, each followed by '\n' (kcat's -f '%s\n' output). */
function expectedDigest(n: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < n; i++) h.update(valueOf(i)).update('\n');
  return h.digest('hex');
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const name of fs.readdirSync(dir)) {
    try {
      n += fs.statSync(path.join(dir, name)).size;
    } catch {
      // deleted while listing
    }
  }
  return n;
}

/** Bytes of the .log files of local segments wholly below `tieredEnd` (each ends where the next begins). */
function tieredLocalBytes(dir: string, tieredEnd: bigint): number {
  const logs: { base: bigint; size: number }[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!/^\d{20}\.log$/.test(name)) continue;
    try {
      logs.push({ base: BigInt(name.slice(0, 20)), size: fs.statSync(path.join(dir, name)).size });
    } catch {
      // deleted while listing
    }
  }
  logs.sort((a, b) => (a.base < b.base ? -1 : 1));
  let n = 0;
  for (let i = 0; i + 1 < logs.length && logs[i + 1].base <= tieredEnd; i++) n += logs[i].size;
  return n;
}

/**
 * kcat -C from offset 0 to the end of the partition, hashing its output as it streams (200 MB
 * never sits in memory). Killed if it takes longer than timeoutMs.
 */
function kcatDigest(bootstrap: string, timeoutMs: number): Promise<{ digest: string; records: number; ms: number }> {
  const args = ['-C', '-b', bootstrap, '-t', TOPIC, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%s\n'];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.KCAT ?? 'kcat', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.add(child);
    const h = createHash('sha256');
    let records = 0;
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      h.update(chunk);
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) records++;
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      kids.delete(child);
      if (code !== 0) reject(new Error(`kcat ${args.join(' ')} exited ${code ?? signal}: ${stderr}`));
      else resolve({ digest: h.digest('hex'), records, ms: Date.now() - started });
    });
  });
}

test('200 MB tiered: bounded local disk, a consumer from 0 reads it all, an empty data dir still serves it', async () => {
  const broker: BrokerProcess = await startBroker({ args: await storeArgs() });
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
          'remote.storage.enable': 'true',
          'segment.bytes': String(SEGMENT_BYTES),
          'local.retention.bytes': String(LOCAL_RETENTION_BYTES),
          'retention.ms': '-1',
        },
      },
    ]);
    const partitionDir = path.join(broker.dataDir, 'logs', `${TOPIC}-0`);

    // Produce, measuring the partition directory after every request: all of it (peak), and
    // the part of it that is already tiered (tieredLocalPeak), which local retention bounds
    // whatever the upload backlog (a loaded machine uploads slower; untiered data is never
    // dropped, so the whole dir may grow with the backlog, by design).
    let peak = 0;
    let tieredLocalPeak = 0;
    const produceStart = Date.now();
    for (let i = 0; i < RECORDS; i += PER_REQUEST) {
      const records = [];
      for (let j = i; j < Math.min(RECORDS, i + PER_REQUEST); j++) records.push({ value: valueOf(j) });
      const r = await client.produce(TOPIC, 0, records, { acks: 1 });
      expect(r.baseOffset).toBe(BigInt(i));
      // The tiered end first, the files after: the end only grows, and local retention runs in
      // the same turn as the upload that moves it, so no file counted below was still due to go.
      const tieredEnd = (await client.listOffsets(TOPIC, 0, LATEST_TIERED)).offset + 1n;
      peak = Math.max(peak, dirBytes(partitionDir));
      tieredLocalPeak = Math.max(tieredLocalPeak, tieredLocalBytes(partitionDir, tieredEnd));
      // Rate limiting (not synchronisation): stay at PRODUCE_BYTES_PER_SEC on average.
      const due = produceStart + ((i + PER_REQUEST) * VALUE_BYTES * 1000) / PRODUCE_BYTES_PER_SEC - Date.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    }
    const produceMs = Date.now() - produceStart;
    const end = (await client.listOffsets(TOPIC, 0, -1n)).offset;
    expect(end).toBe(BigInt(RECORDS));

    // Uploads catch up and local retention trims the local copy to its bound.
    const bound = LOCAL_RETENTION_BYTES + 2 * SEGMENT_BYTES;
    await waitFor(async () => dirBytes(partitionDir) <= bound, { timeoutMs: 90_000, intervalMs: 200, message: `local partition dir within ${bound} bytes` });
    await waitFor(async () => (await client.listOffsets(TOPIC, 0, LATEST_TIERED)).offset >= end - BigInt(2 * Math.ceil(SEGMENT_BYTES / VALUE_BYTES)), {
      timeoutMs: 30_000,
      intervalMs: 200,
      message: 'everything but the last segments tiered',
    });
    const settled = dirBytes(partitionDir);
    expect((await client.listOffsets(TOPIC, 0, EARLIEST)).offset).toBe(0n);
    const localStart = (await client.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset;
    expect(localStart).toBeGreaterThan(0n);
    // While producing, the tiered data kept locally stayed within local.retention.bytes (plus
    // the segment retention keeps while the log is still above the bound). It may be 0: when
    // uploads lag, each segment is dropped locally as soon as it is tiered.
    expect(tieredLocalPeak).toBeLessThanOrEqual(LOCAL_RETENTION_BYTES + SEGMENT_BYTES);

    // A new consumer from offset 0: every record, in order, byte for byte.
    const cold = await kcatDigest(broker.bootstrap, 120_000);
    expect(cold.records).toBe(RECORDS);
    expect(cold.digest).toBe(expectedDigest(RECORDS));
    console.log(
      `tiering: produced ${(RECORDS * VALUE_BYTES / 1e6).toFixed(0)} MB in ${produceMs} ms; local partition dir peak ${(peak / MiB).toFixed(1)} MiB (of it tiered ${(tieredLocalPeak / MiB).toFixed(1)} MiB), ` +
        `settled ${(settled / MiB).toFixed(1)} MiB (local.retention.bytes ${LOCAL_RETENTION_BYTES / MiB} MiB, segment.bytes ${SEGMENT_BYTES / MiB} MiB); ` +
        `kcat read all from offset 0 (local start ${localStart}) in ${cold.ms} ms`,
    );

    // A broker on an EMPTY data dir, same metadata store and object store.
    await client.close();
    await broker.stop();
    const emptyDir = path.join(root, 'empty-data');
    restarted = await startBroker({ dataDir: emptyDir, args: await storeArgs() });
    client2 = new StrataClient({ bootstrapServers: [restarted.bootstrap] });
    const tieredEnd = (await client2.listOffsets(TOPIC, 0, LATEST_TIERED)).offset + 1n;
    expect(tieredEnd).toBeGreaterThan(end - BigInt(2 * Math.ceil(SEGMENT_BYTES / VALUE_BYTES)));
    expect((await client2.listOffsets(TOPIC, 0, EARLIEST)).offset).toBe(0n);
    expect((await client2.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset).toBe(tieredEnd);
    // The untiered tail lived only on the old disk (replication factor 1); the tiered part is all here.
    expect((await client2.listOffsets(TOPIC, 0, -1n)).offset).toBe(tieredEnd);
    const again = await kcatDigest(restarted.bootstrap, 120_000);
    expect(again.records).toBe(Number(tieredEnd));
    expect(again.digest).toBe(expectedDigest(Number(tieredEnd)));
    // New appends continue the offsets.
    const next = await client2.produce(TOPIC, 0, [{ value: 'after the restart' }], { acks: 1 });
    expect(next.baseOffset).toBe(tieredEnd);
    console.log(`tiering: empty-data-dir broker served ${tieredEnd} tiered records in ${again.ms} ms`);
  } finally {
    await client.close().catch(() => undefined);
    await client2?.close().catch(() => undefined);
    await restarted?.stop();
    await broker.stop();
  }
}, 180_000);
