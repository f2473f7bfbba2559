/**
 * Slow consumers: 50 connections each send one Fetch for up to 55 MiB of a 64 MiB partition and
 * then never read their sockets. The broker must not hold those responses in memory: its peak
 * RSS (the kernel's VmHWM, over the whole run) stays under 400 MB, and a normal consumer reading
 * the same partition meanwhile gets every record, byte for byte. Once the stalled connections
 * close, everything they held is released.
 *
 * Both ways a response leaves the broker: sendfile(2) (the default where the addon is built; on
 * Linux it must be) and the buffered path (STRATA_ZERO_COPY=0), whose memory is bounded by
 * fetch.response.max.buffer.bytes. How fast the normal consumer reads with and without the
 * stalled ones is measured by `npm run bench` (bench/zeroCopy.ts), not asserted here.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import { StrataClient } from '../../core/client/client';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { writeRequestHeader } from '../../core/protocol/headers';
import { Writer } from '../../core/protocol/writer';
import { loadZeroCopy, zeroCopyUnavailableReason } from '../../core/net/zeroCopy';
import { metricsUrlOf, startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

const MiB = 1024 * 1024;
const STALLED = 50;
const FETCH_MAX_BYTES = 55 * MiB;
const RECORD_BYTES = 1024;
const RECORDS_PER_BATCH = 900;
const BATCHES = 73; // 73 × 900 × 1 KiB ≈ 64 MiB of values
const RSS_LIMIT = 400 * 1000 * 1000;

const sendfileSkipped = loadZeroCopy() === null && process.platform !== 'linux';

function valueOf(offset: number): Buffer {
  const v = Buffer.alloc(RECORD_BYTES, offset % 251);
  v.writeUInt32BE(offset, 0);
  return v;
}

/** A Fetch v4 request frame (size prefix included) for `topic` partition 0 from offset 0. */
function fetchFrame(topic: string, correlationId: number): Buffer {
  const w = new Writer();
  writeRequestHeader(w, { apiKey: ApiKey.Fetch, apiVersion: 4, correlationId, clientId: 'stalled-reader' });
  API_MESSAGES.get(ApiKey.Fetch)!.writeRequest(w, 4, {
    clusterId: null,
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: FETCH_MAX_BYTES,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic, topicId: '', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: FETCH_MAX_BYTES }] }],
    forgottenTopicsData: [],
    rackId: '',
  });
  const body = w.toBuffer();
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** Connects, sends one Fetch and never reads: the socket is paused before anything arrives. */
function stalledReader(port: number, topic: string, id: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.pause();
    s.once('error', reject);
    s.once('connect', () => {
      s.write(fetchFrame(topic, id), (err) => (err ? reject(err) : resolve(s)));
    });
  });
}

function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} is not served`);
  return Number(m[1]);
}

function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Reads partition 0 to the high watermark through a normal client, checking every value. */
async function consumeAll(client: StrataClient, topic: string, end: bigint): Promise<{ records: number; ms: number }> {
  const started = Date.now();
  let offset = 0n;
  let records = 0;
  while (offset < end) {
    const r = await client.fetch(topic, 0, offset, { maxBytes: 4 * MiB, maxWaitMs: 0 });
    for (const rec of r.records) {
      if (rec.offset !== offset) throw new Error(`expected offset ${offset}, read ${rec.offset}`);
      if (!rec.value?.equals(valueOf(Number(offset)))) throw new Error(`the value at offset ${offset} is not the one produced`);
      offset++;
      records++;
    }
    if (r.records.length === 0) throw new Error(`no records at ${offset} below the high watermark ${end}`);
  }
  return { records, ms: Date.now() - started };
}

const paths: Array<{ name: string; env: NodeJS.ProcessEnv; startLine: RegExp }> = [
  { name: 'sendfile', env: {}, startLine: /fetch responses are sent with sendfile\(2\)/ },
  { name: 'buffered (STRATA_ZERO_COPY=0)', env: { STRATA_ZERO_COPY: '0' }, startLine: /fetch responses are sent through a buffer/ },
];

describe.each(paths)('50 stalled 55 MiB fetches, $name', ({ name, env, startLine }) => {
  let broker: BrokerProcess;
  let client: StrataClient;
  let url: string;
  const stalled: net.Socket[] = [];
  const topic = 'slow-readers';
  const skip = name === 'sendfile' && sendfileSkipped;

  beforeAll(async () => {
    if (skip) return;
    broker = await startBroker({ env, overrides: { 'metrics.listener': 'http://127.0.0.1:0' } });
    url = await metricsUrlOf(broker);
    client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'slow-consumers' });
    await client.createTopics([{ name: topic, numPartitions: 1, replicationFactor: 1 }]);
    for (let b = 0; b < BATCHES; b++) {
      const records = Array.from({ length: RECORDS_PER_BATCH }, (_, i) => ({ value: valueOf(b * RECORDS_PER_BATCH + i) }));
      await client.produce(topic, 0, records, { acks: 1 });
    }
  }, 120_000);

  afterAll(async () => {
    for (const s of stalled) s.destroy();
    await client?.close();
    await stopAllBrokers();
  });

  (skip ? test.skip : test)('memory stays bounded, a normal consumer reads everything, and closing releases it all', async () => {
    if (name === 'sendfile' && loadZeroCopy() === null) throw new Error(`the sendfile addon is not loaded on Linux: ${zeroCopyUnavailableReason()}`);
    expect(broker.output()).toMatch(startLine);
    const end = BigInt(BATCHES * RECORDS_PER_BATCH);
    const alone = await consumeAll(client, topic, end);
    expect(alone.records).toBe(Number(end));

    for (let i = 0; i < STALLED; i++) stalled.push(await stalledReader(broker.port, topic, i + 1));
    // Every stalled connection's response has started and waits for its socket to drain.
    await waitFor(async () => metric(await scrape(url), 'strata_fetch_responses_streaming') === STALLED, {
      timeoutMs: 30_000,
      message: `${STALLED} responses streaming`,
    });
    const during = await consumeAll(client, topic, end);
    expect(during.records).toBe(Number(end));
    const stats = await scrape(url);
    expect(metric(stats, 'strata_fetch_responses_streaming')).toBe(STALLED);
    expect(metric(stats, 'strata_fetch_response_buffer_bytes')).toBeLessThanOrEqual(64 * MiB);
    const peak = peakRss(broker.pid);
    console.log(
      `[slowConsumers ${name}] peak RSS ${(peak / 1e6).toFixed(0)} MB; normal consumer read ${(Number(end) * RECORD_BYTES / MiB).toFixed(0)} MiB ` +
        `in ${alone.ms} ms alone, ${during.ms} ms beside ${STALLED} stalled fetches`,
    );
    expect(peak).toBeLessThan(RSS_LIMIT);

    for (const s of stalled.splice(0)) s.destroy();
    await waitFor(async () => {
      const after = await scrape(url);
      return metric(after, 'strata_fetch_responses_streaming') === 0 && metric(after, 'strata_fetch_response_buffer_bytes') === 0;
    }, { timeoutMs: 30_000, message: 'the stalled responses released' });
    expect((await client.fetch(topic, 0, end - 1n, { maxWaitMs: 0 })).records[0]?.value?.equals(valueOf(Number(end) - 1))).toBe(true);
    expect(broker.exitStatus()).toBeNull();
  }, 180_000);
});
