/**
 * An S3 outage under a real broker (DynamoDB and S3 emulated by dynalite and s3rver, child
 * processes): S3 is stopped while kafkajs produces continuously with acks=all (and kcat produces
 * a burst), then started again. During the outage producing and local reads go on, segments
 * not yet tiered stay on local disk (above local.retention.bytes), the broker logs its upload
 * backlog, and a fetch of remote-only data gets a retriable KAFKA_STORAGE_ERROR within seconds.
 * Once S3 is back the backlog drains, local disk goes back within local.retention.bytes, a new
 * consumer (kcat) from offset 0 reads every acknowledged record once, in order, byte for byte,
 * and so does one against a broker started on an EMPTY data dir (everything is in S3 by then).
 *
 * Skipped against an external endpoint (LocalStack): its S3 cannot be stopped from here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { KafkaResponseError } from '../../core/client/errors';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { EXTERNAL_AWS_ENDPOINT, startEmulators, type Emulators } from '../helpers/emulators';
import { kcatAvailable, kcatProduce } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, EARLIEST_TIMESTAMP as EARLIEST, LATEST_TIERED_TIMESTAMP as LATEST_TIERED, LATEST_TIMESTAMP as LATEST } from '../../core/protocol/listOffsetsTimestamps';

const KiB = 1024;
const TOPIC = 'outage';
const SEGMENT_BYTES = 256 * KiB;
const LOCAL_RETENTION_BYTES = 512 * KiB;
/** Rolls the last segment once producing stops, so that in the end everything is tiered. */
const SEGMENT_MS = 3000;
const VALUE_BYTES = 1000;
const PER_SEND = 16;
/**
 * The producer's pace: well below what uploads to s3rver sustain, so that the backlog drains
 * while producing goes on (an object store slower than the producers grows the backlog by
 * design). Rate limiting, not synchronisation.
 */
const PRODUCE_BYTES_PER_SEC = 600_000;
/**
 * The outage lasts until the broker has logged at least this many segments kept locally
 * (about 7 s at this pace). STRATA_OUTAGE_SEGMENTS=130 makes it about a minute, long enough
 * for the upload backoff to reach its 30 s maximum.
 */
const OUTAGE_BACKLOG_SEGMENTS = Number(process.env.STRATA_OUTAGE_SEGMENTS ?? 16);
const KCAT_BURST = 300;

const suite = EXTERNAL_AWS_ENDPOINT ? describe.skip : describe;

let emulators: Emulators | null = null;
const kids = new Set<ChildProcess>();
let producer: PacedProducer | null = null;

beforeAll(async () => {
  if (EXTERNAL_AWS_ENDPOINT) return;
  await kcatAvailable();
  emulators = await startEmulators();
}, 120_000);

afterAll(async () => {
  await producer?.stop().catch(() => undefined);
  for (const k of kids) k.kill('SIGKILL');
  await stopAllBrokers();
  await emulators?.stop();
}, 60_000);

/** Record `seq` of producer `p` ('j' kafkajs, 'k' kcat): its id, then a block derived from it; printable, no spaces. */
function valueOf(p: string, seq: number): string {
  const head = `${p}${String(seq).padStart(8, '0')}|`;
  const block = createHash('sha256').update(head).digest('hex');
  return (head + block.repeat(Math.ceil(VALUE_BYTES / block.length))).slice(0, VALUE_BYTES);
}

/** The producer and sequence number a value claims, if the value is exactly what valueOf makes of them. */
function parseValue(v: string): { p: string; seq: number } | null {
  const m = /^([jk])(\d{8})\|/.exec(v);
  if (!m) return null;
  const seq = Number(m[2]);
  return valueOf(m[1], seq) === v ? { p: m[1], seq } : null;
}

/**
 * kafkajs producing to partition 0 with acks=all, one send at a time (so acknowledged records
 * are exactly sequence numbers 0..acked-1, in offset order), at PRODUCE_BYTES_PER_SEC.
 */
class PacedProducer {
  acked = 0;
  readonly errors: Error[] = [];
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly producer: Producer) {}

  start(): void {
    const began = Date.now();
    this.loop = (async () => {
      let next = 0;
      while (!this.stopping) {
        const messages = Array.from({ length: PER_SEND }, (_, i) => ({ partition: 0, value: valueOf('j', next + i) }));
        try {
          await this.producer.send({ topic: TOPIC, acks: -1, messages });
          this.acked = next + PER_SEND;
        } catch (e) {
          this.errors.push(e as Error);
          break; // a gap in the acknowledged sequence numbers would make the check below meaningless
        }
        next += PER_SEND;
        const due = began + (next * VALUE_BYTES * 1000) / PRODUCE_BYTES_PER_SEC - Date.now();
        if (due > 0 && !this.stopping) await new Promise((resolve) => setTimeout(resolve, due));
      }
    })();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.loop;
    await this.producer.disconnect();
  }
}

interface LocalSegment {
  baseOffset: bigint;
  size: number;
}

/** The partition's local .log files, oldest first. */
function localSegments(dir: string): LocalSegment[] {
  const out: LocalSegment[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = /^(\d{20})\.log$/.exec(name);
    if (!m) continue;
    try {
      out.push({ baseOffset: BigInt(m[1]), size: fs.statSync(path.join(dir, name)).size });
    } catch {
      // deleted while listing
    }
  }
  return out.sort((a, b) => (a.baseOffset < b.baseOffset ? -1 : 1));
}

const localLogBytes = (dir: string): number => localSegments(dir).reduce((n, s) => n + s.size, 0);

/** Every "upload backlog: N segment(s), B bytes kept locally" line the broker printed. */
function backlogLines(broker: BrokerProcess): Array<{ segments: number; bytes: number }> {
  return [...broker.output().matchAll(/upload backlog: (\d+) segment\(s\), (\d+) bytes kept locally/g)].map((m) => ({ segments: Number(m[1]), bytes: Number(m[2]) }));
}

interface ReadAll {
  records: number;
  /** Which record sits at each offset ('j00000012'), joined: compared between reads. */
  digest: string;
  ms: number;
}

/**
 * kcat -C from offset 0 to the end of partition 0, checking as it streams: offsets 0, 1, 2, …
 * without a gap, each value exactly valueOf(p, seq), and each producer's sequence numbers
 * 0, 1, 2, … in offset order (in order, nothing lost, nothing twice). Afterwards the caller
 * checks the counts against what was acknowledged.
 */
function kcatReadAll(bootstrap: string, timeoutMs: number): Promise<ReadAll & { perProducer: Map<string, number> }> {
  const args = ['-C', '-b', bootstrap, '-t', TOPIC, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%o %s\n'];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.env.KCAT ?? 'kcat', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    kids.add(child);
    const h = createHash('sha256');
    const perProducer = new Map<string, number>();
    let expectedOffset = 0n;
    let problem: string | null = null;
    let pending = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const fail = (why: string): void => {
      if (problem === null) problem = why;
      child.kill('SIGKILL');
    };
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      let nl: number;
      while (problem === null && (nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const sp = line.indexOf(' ');
        const offset = BigInt(line.slice(0, sp));
        if (offset !== expectedOffset) return fail(`offset ${offset} where ${expectedOffset} was expected`);
        const rec = parseValue(line.slice(sp + 1));
        if (rec === null) return fail(`offset ${offset}: a value no producer sent: ${line.slice(sp + 1, sp + 40)}…`);
        const want = perProducer.get(rec.p) ?? 0;
        if (rec.seq !== want) return fail(`offset ${offset}: ${rec.p} sequence ${rec.seq} where ${want} was expected (lost, repeated or reordered)`);
        perProducer.set(rec.p, want + 1);
        h.update(`${rec.p}${rec.seq}\n`);
        expectedOffset++;
      }
    });
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      kids.delete(child);
      if (problem !== null) reject(new Error(`kcat ${args.join(' ')}: ${problem}`));
      else if (code !== 0) reject(new Error(`kcat ${args.join(' ')} exited ${code ?? signal}: ${stderr}`));
      else if (pending !== '') reject(new Error(`kcat output ended inside a line: ${pending.slice(0, 80)}`));
      else resolve({ records: Number(expectedOffset), digest: h.digest('hex'), ms: Date.now() - started, perProducer });
    });
  });
}

suite('S3 outage under a real broker', () => {
  test('producing and local reads go on, untiered segments stay, remote reads fail fast; afterwards the backlog drains and nothing acknowledged is lost', async () => {
    const env = emulators!;
    const args = ['--metadata', env.dynamoUrl, '--object-store', env.s3Url];
    const broker = await startBroker({ env: env.env, args, readyTimeoutMs: 60_000 });
    const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
    const offsetOf = async (ts: bigint): Promise<bigint> => (await client.listOffsets(TOPIC, 0, ts)).offset;
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
            'segment.ms': String(SEGMENT_MS),
            'local.retention.bytes': String(LOCAL_RETENTION_BYTES),
            'retention.ms': '-1',
          },
        },
      ]);
      const dir = path.join(broker.dataDir, 'logs', `${TOPIC}-0`);
      const kafka = new Kafka({ clientId: 'outage-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
      const kjs = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
      await kjs.connect();
      producer = new PacedProducer(kjs);
      producer.start();

      // 1. Healthy: segments are tiered and local retention drops their local copies, so the
      //    first offsets are in S3 only.
      await waitFor(async () => (await offsetOf(EARLIEST_LOCAL)) > 0n, { timeoutMs: 60_000, intervalMs: 200, message: 'the oldest segments tiered and dropped locally' });
      expect(await offsetOf(EARLIEST)).toBe(0n);
      const remoteOnlyEnd = await offsetOf(EARLIEST_LOCAL);

      // 2. The outage.
      await env.stopS3();
      const outageStart = Date.now();
      const ackedAtStop = producer.acked;

      //    A fetch of remote-only data: a retriable error within the read cache's timeout, not a hang.
      const fetchStart = Date.now();
      const [remote] = await client.fetchPartitions(TOPIC, [{ partition: 0, offset: 0n }], { maxWaitMs: 100 });
      const remoteFetchMs = Date.now() - fetchStart;
      expect(remote.result).toBeUndefined();
      expect(remote.error).toBeInstanceOf(KafkaResponseError);
      expect((remote.error as KafkaResponseError).errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
      expect((remote.error as KafkaResponseError).retriable).toBe(true);
      expect(remoteFetchMs).toBeLessThan(15_000);

      //    Uploads fail and retry with backoff; the broker reports the growing backlog.
      await waitFor(() => /segment upload failed \(attempt 2\)/.test(broker.output()), { timeoutMs: 60_000, intervalMs: 200, message: 'a retried upload failed' });
      const kcatBurst = Array.from({ length: KCAT_BURST }, (_, i) => valueOf('k', i));
      await kcatProduce(broker.bootstrap, TOPIC, kcatBurst, { partition: 0, props: { acks: 'all', 'batch.size': String(64 * KiB) }, timeoutMs: 60_000 }); // batches under segment.bytes; rejects unless every record was acknowledged
      await waitFor(() => backlogLines(broker).some((b) => b.segments >= OUTAGE_BACKLOG_SEGMENTS), {
        timeoutMs: 120_000,
        intervalMs: 200,
        message: `the broker logging an upload backlog of at least ${OUTAGE_BACKLOG_SEGMENTS} segments`,
      });

      //    Still in the outage: producing went on, nothing untiered was dropped (local disk is
      //    above local.retention.bytes), and recent offsets read from local disk.
      expect(producer.errors).toEqual([]);
      expect(producer.acked - ackedAtStop).toBeGreaterThan((OUTAGE_BACKLOG_SEGMENTS / 2) * Math.floor(SEGMENT_BYTES / VALUE_BYTES) - KCAT_BURST);
      const tieredEnd = (await offsetOf(LATEST_TIERED)) + 1n;
      const localStart = await offsetOf(EARLIEST_LOCAL);
      expect(localStart).toBeLessThanOrEqual(tieredEnd); // no hole between the tiers
      const segs = localSegments(dir);
      const untiered = segs.filter((s) => s.baseOffset >= tieredEnd).length - 1; // all but the active one
      expect(untiered).toBeGreaterThanOrEqual(OUTAGE_BACKLOG_SEGMENTS);
      const outageLocalBytes = localLogBytes(dir);
      expect(outageLocalBytes).toBeGreaterThan(LOCAL_RETENTION_BYTES + 4 * SEGMENT_BYTES);
      const hot = await client.fetch(TOPIC, 0, tieredEnd, { maxBytes: 64 * KiB });
      expect(hot.records.length).toBeGreaterThan(0);
      expect(hot.records[0].offset).toBe(tieredEnd);
      for (const r of hot.records) expect(parseValue(r.value!.toString('latin1'))).not.toBeNull();
      const leo = await offsetOf(LATEST);
      const tail = await client.fetch(TOPIC, 0, leo - 1n);
      expect(tail.records[0].offset).toBe(leo - 1n);
      expect(parseValue(tail.records[0].value!.toString('latin1'))).not.toBeNull();
      // The remote-only offsets still fail (the store is still down), never silently empty.
      const [again] = await client.fetchPartitions(TOPIC, [{ partition: 0, offset: remoteOnlyEnd - 1n }], { maxWaitMs: 100 });
      expect((again.error as KafkaResponseError | undefined)?.errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);

      // 3. S3 comes back; producing goes on while the backlog drains.
      await env.startS3();
      const restartAt = Date.now();
      const outageMs = restartAt - outageStart;
      const ackedDuringOutage = producer.acked - ackedAtStop;
      await waitFor(() => /upload backlog drained: /.test(broker.output()), { timeoutMs: 120_000, intervalMs: 100, message: 'the broker logging that its upload backlog drained' });
      const drainMs = Date.now() - restartAt;
      const drained = /upload backlog drained: (\d+) segment\(s\), (\d+) bytes uploaded in (\d+) ms once uploads resumed; uploads had failed for (\d+) ms; peak backlog (\d+) segment\(s\), (\d+) bytes/.exec(broker.output());
      expect(drained).not.toBeNull();
      const [, drainedSegs, , drainedInMs, failedForMs, peakSegs, peakBytes] = drained!.map(Number);
      expect(peakSegs).toBeGreaterThanOrEqual(OUTAGE_BACKLOG_SEGMENTS);
      expect(drainedSegs).toBeGreaterThanOrEqual(OUTAGE_BACKLOG_SEGMENTS);
      await producer.stop();
      expect(producer.errors).toEqual([]);
      const acked = producer.acked;

      // Everything is tiered (the last segment rolls after segment.ms) and local disk is back
      // within local.retention.bytes (plus the one segment the rule may keep above it).
      const end = await offsetOf(LATEST);
      expect(end).toBe(BigInt(acked + KCAT_BURST));
      await waitFor(async () => (await offsetOf(LATEST_TIERED)) === end - 1n, { timeoutMs: 60_000, intervalMs: 200, message: 'every record tiered' });
      await waitFor(() => localLogBytes(dir) <= LOCAL_RETENTION_BYTES + SEGMENT_BYTES, {
        timeoutMs: 30_000,
        intervalMs: 200,
        message: `local segments within ${LOCAL_RETENTION_BYTES + SEGMENT_BYTES} bytes`,
      });
      const settledLocalBytes = localLogBytes(dir);

      // 4. A new consumer from offset 0 (the first segments come from S3): every acknowledged
      //    record, once, in order, intact.
      const all = await kcatReadAll(broker.bootstrap, 120_000);
      expect(all.records).toBe(acked + KCAT_BURST);
      expect(Object.fromEntries(all.perProducer)).toEqual({ j: acked, k: KCAT_BURST });
      await client.close();
      await broker.stop();

      // 5. A broker on an EMPTY data dir (same table, same bucket) serves all of it from S3.
      restarted = await startBroker({ env: env.env, args, readyTimeoutMs: 60_000 });
      client2 = new StrataClient({ bootstrapServers: [restarted.bootstrap] });
      expect((await client2.listOffsets(TOPIC, 0, LATEST)).offset).toBe(end);
      expect((await client2.listOffsets(TOPIC, 0, EARLIEST_LOCAL)).offset).toBe(end);
      const fromS3 = await kcatReadAll(restarted.bootstrap, 120_000);
      expect(fromS3.records).toBe(all.records);
      expect(fromS3.digest).toBe(all.digest);

      console.log(
        `tier outage: S3 down ${outageMs} ms; ${ackedDuringOutage} kafkajs + ${KCAT_BURST} kcat records acknowledged meanwhile; ` +
          `remote fetch failed with KAFKA_STORAGE_ERROR in ${remoteFetchMs} ms; local segments ${(outageLocalBytes / KiB).toFixed(0)} KiB during the outage ` +
          `(local.retention.bytes ${LOCAL_RETENTION_BYTES / KiB} KiB), ${(settledLocalBytes / KiB).toFixed(0)} KiB after; ` +
          `peak backlog ${peakSegs} segments, ${peakBytes} bytes (broker log); uploads failed for ${failedForMs} ms; ` +
          `drained ${drainedSegs} segments ${drainMs} ms after S3 restarted (${drainedInMs} ms after uploads resumed); ` +
          `${all.records} records read back in ${all.ms} ms, from an empty data dir in ${fromS3.ms} ms`,
      );
    } finally {
      await producer?.stop().catch(() => undefined);
      await client.close().catch(() => undefined);
      await client2?.close().catch(() => undefined);
      await restarted?.stop();
      await broker.stop();
    }
  }, 420_000);
});
