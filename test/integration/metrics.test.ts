/**
 * The metrics endpoint of a real broker (`--metrics-listener http://127.0.0.1:0`), scraped with
 * node's http client while kcat, kafkajs and Strata's client use the broker: request counters and
 * per-topic bytes move, log gauges match what was produced and what is on disk, groups and
 * connections are counted, every metric in docs/operations.md is served with its documented type
 * (and nothing undocumented is), and the endpoint closes with the broker.
 *
 * Then tiering under an S3 outage (dynalite + s3rver; embedded project only, it starts its own
 * emulators): the upload backlog gauge rises while S3 is down and returns to 0 once it is back.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { KafkaResponseError } from '../../core/client/errors';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { awsBackendSelected } from '../helpers/awsBackend';
import { REPO_ROOT } from '../helpers/build';
import { metricsUrlOf, startBroker, type BrokerProcess } from '../helpers/broker';
import { EXTERNAL_AWS_ENDPOINT, startEmulators, type Emulators } from '../helpers/emulators';
import { kcat, kcatAvailable, kcatProduce } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';

interface Scrape {
  status: number;
  contentType: string | undefined;
  /** `name{labels}` (labels as served) → value. */
  values: Map<string, number>;
  /** Metric name → its # TYPE. */
  types: Map<string, string>;
  text: string;
}

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
  });
}

async function scrape(url: string): Promise<Scrape> {
  const r = await get(url);
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of r.body.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    values.set(m[1], Number(m[2]));
  }
  return { status: r.status, contentType: r.headers['content-type'], values, types, text: r.body };
}

/** The value of one series; fails the test when the broker does not serve it. */
function value(s: Scrape, series: string): number {
  const v = s.values.get(series);
  if (v === undefined) throw new Error(`${series} is not in the scrape:\n${s.text}`);
  return v;
}

/** The metrics documented in docs/operations.md's "Metrics" table: name → type. */
function documentedMetrics(): Map<string, string> {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
  const start = doc.indexOf('## Metrics');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));
  const out = new Map<string, string>();
  for (const m of section.matchAll(/^\| `([a-z0-9_:]+)` \| (counter|gauge|histogram) \|/gm)) out.set(m[1], m[2]);
  return out;
}

/** Bytes and number of the partition's .log files. */
function logFiles(dir: string): { bytes: number; count: number } {
  const logs = fs.readdirSync(dir).filter((n) => /^\d{20}\.log$/.test(n));
  return { bytes: logs.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0), count: logs.length };
}

const TOPIC = 'metered';

describe('the metrics endpoint of a real broker', () => {
  let broker: BrokerProcess;
  let url: string;
  let client: StrataClient;

  beforeAll(async () => {
    await kcatAvailable();
    broker = await startBroker({ args: ['--metrics-listener', 'http://127.0.0.1:0'], overrides: { 'group.initial.rebalance.delay.ms': '0' } });
    url = await metricsUrlOf(broker);
    client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  });

  afterAll(async () => {
    await client?.close();
  });

  test('counters move with produce and fetch; log gauges match what was produced and what is on disk', async () => {
    const before = await scrape(url);
    expect(before.status).toBe(200);
    expect(before.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');

    const values = Array.from({ length: 5 }, (_, i) => `value-${i}-${'x'.repeat(100)}`);
    await kcatProduce(broker.bootstrap, TOPIC, values, { partition: 0 });
    const producedBytes = value(await scrape(url), `strata_topic_bytes_in_total{topic="${TOPIC}"}`);
    expect(producedBytes).toBeGreaterThan(5 * 100);
    const consumed = await kcat(['-C', '-b', broker.bootstrap, '-t', TOPIC, '-p', '0', '-o', 'beginning', '-e', '-q'], { timeoutMs: 30_000 });
    expect(consumed.code).toBe(0);
    expect(consumed.stdout.toString().trim().split('\n')).toEqual(values);
    // acks=0: no response, still counted once appended.
    await kcatProduce(broker.bootstrap, TOPIC, ['fire', 'forget'], { partition: 0, props: { acks: '0' } });
    // A fetch past the end: OFFSET_OUT_OF_RANGE, counted by error name.
    const [outOfRange] = await client.fetchPartitions(TOPIC, [{ partition: 0, offset: 100n }], { maxWaitMs: 100 });
    expect((outOfRange.error as KafkaResponseError).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);

    let after = before;
    await waitFor(
      async () => {
        after = await scrape(url);
        return after.values.get(`strata_log_end_offset{topic="${TOPIC}",partition="0"}`) === 7;
      },
      { timeoutMs: 10_000, message: 'the log end offset gauge at 7' },
    );
    const p = `{topic="${TOPIC}",partition="0"}`;
    const disk = logFiles(path.join(broker.dataDir, 'logs', `${TOPIC}-0`));
    expect(value(after, `strata_log_start_offset${p}`)).toBe(0);
    expect(value(after, `strata_log_size_bytes${p}`)).toBe(disk.bytes);
    expect(value(after, `strata_log_segments${p}`)).toBe(disk.count);
    // Every byte on disk was appended by a produce; the consumer read the first five records' bytes.
    expect(value(after, `strata_topic_bytes_in_total{topic="${TOPIC}"}`)).toBe(disk.bytes);
    expect(disk.bytes).toBeGreaterThan(producedBytes);
    expect(value(after, `strata_topic_messages_in_total{topic="${TOPIC}"}`)).toBe(7);
    expect(value(after, `strata_topic_bytes_out_total{topic="${TOPIC}"}`)).toBeGreaterThanOrEqual(producedBytes);

    const moved = (series: string): number => value(after, series) - (before.values.get(series) ?? 0);
    expect(moved('strata_requests_total{request="Produce"}')).toBeGreaterThanOrEqual(2);
    expect(moved('strata_requests_total{request="Fetch"}')).toBeGreaterThanOrEqual(2);
    expect(moved('strata_requests_total{request="Metadata"}')).toBeGreaterThanOrEqual(1);
    expect(moved('strata_request_seconds_total{request="Produce"}')).toBeGreaterThan(0);
    // The histogram counts each request once, in cumulative buckets ending at +Inf.
    expect(value(after, 'strata_request_duration_seconds_count{request="Produce"}')).toBe(value(after, 'strata_requests_total{request="Produce"}'));
    expect(value(after, 'strata_request_duration_seconds_bucket{request="Produce",le="+Inf"}')).toBe(value(after, 'strata_requests_total{request="Produce"}'));
    expect(value(after, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0);
    expect(moved('strata_request_errors_total{request="Fetch",error="OFFSET_OUT_OF_RANGE"}')).toBe(1);
    expect(value(after, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value(after, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value(after, 'strata_uptime_seconds')).toBeGreaterThan(0);
  }, 60_000);

  test('groups by state, members and connections follow a kafkajs group consumer', async () => {
    const kafka = new Kafka({ clientId: 'metrics-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'metered-group', sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 500 });
    let s = await scrape(url);
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({ eachMessage: async () => undefined });
      await waitFor(
        async () => {
          s = await scrape(url);
          return s.values.get('strata_groups{state="Stable"}') === 1 && s.values.get('strata_group_members') === 1;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: 'one Stable group with one member' },
      );
      expect(value(s, 'strata_connections')).toBeGreaterThanOrEqual(1);
      expect(value(s, 'strata_requests_total{request="JoinGroup"}')).toBeGreaterThanOrEqual(1);
      expect(value(s, 'strata_requests_total{request="SyncGroup"}')).toBeGreaterThanOrEqual(1);
    } finally {
      await consumer.disconnect();
    }
    await waitFor(
      async () => {
        s = await scrape(url);
        return s.values.get('strata_groups{state="Empty"}') === 1 && s.values.get('strata_group_members') === 0;
      },
      { timeoutMs: 15_000, intervalMs: 100, message: 'the group Empty once its member left' },
    );
    expect(value(s, 'strata_groups{state="Stable"}')).toBe(0);
  }, 60_000);

  test('an open transaction shows as LSO lag and an Ongoing transactional id; its commit clears both', async () => {
    await client.createTopics([{ name: 'metered-txn', numPartitions: 1, replicationFactor: 1 }]);
    const kafka = new Kafka({ clientId: 'metrics-txn', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ transactionalId: 'metered-tx', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const p = '{topic="metered-txn",partition="0"}';
    try {
      await client.produce('metered-txn', 0, [{ value: 'plain' }]);
      const txn = await producer.transaction();
      await txn.send({ topic: 'metered-txn', messages: [{ value: 'a' }, { value: 'b' }] });
      await client.produce('metered-txn', 0, [{ value: 'after' }]);
      let s = await scrape(url);
      expect(value(s, `strata_log_last_stable_offset_lag${p}`)).toBe(3); // 'a', 'b' and 'after' wait
      expect(value(s, `strata_log_producers${p}`)).toBe(1);
      expect(value(s, 'strata_transactions{state="Ongoing"}')).toBe(1);
      await txn.commit();
      s = await scrape(url);
      expect(value(s, `strata_log_last_stable_offset_lag${p}`)).toBe(0);
      expect(value(s, 'strata_transactions{state="Ongoing"}')).toBe(0);
      expect(value(s, 'strata_transactions{state="CompleteCommit"}')).toBe(1);
    } finally {
      await producer.disconnect();
    }
  }, 60_000);

  test('every documented metric is served with its documented type, and every served one is documented', async () => {
    const documented = documentedMetrics();
    expect(documented.size).toBeGreaterThan(30);
    const s = await scrape(url);
    expect(Object.fromEntries(s.types)).toEqual(Object.fromEntries(documented));
  });

  test('the endpoint closes with the broker', async () => {
    await client.close();
    expect(await broker.stop()).toBe(0);
    await expect(get(url)).rejects.toThrow(/ECONNREFUSED/);
  });
});

const tierSuite = EXTERNAL_AWS_ENDPOINT || awsBackendSelected() ? describe.skip : describe;

tierSuite('tier metrics under an S3 outage', () => {
  let emulators: Emulators | null = null;

  beforeAll(async () => {
    await kcatAvailable();
    emulators = await startEmulators();
  }, 120_000);

  afterAll(async () => {
    await emulators?.stop();
  }, 60_000);

  test('the upload backlog gauge rises while S3 is down and returns to 0 once it is back', async () => {
    const env = emulators!;
    const broker = await startBroker({
      env: env.env,
      args: ['--metadata', env.dynamoUrl, '--object-store', env.s3Url, '--metrics-listener', 'http://127.0.0.1:0'],
      readyTimeoutMs: 60_000,
    });
    const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
    try {
      const url = await metricsUrlOf(broker);
      await client.createTopics([
        { name: 'tiered', numPartitions: 1, replicationFactor: 1, configs: { 'remote.storage.enable': 'true', 'segment.bytes': String(16 * 1024) } },
      ]);
      let s = await scrape(url);
      expect(value(s, 'strata_tier_partitions')).toBe(1);
      expect(value(s, 'strata_tier_upload_outage')).toBe(0);

      await env.stopS3();
      // ~100 KiB in batches under segment.bytes: several segments close, none can be uploaded.
      const records = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(4, '0')}${'r'.repeat(996)}`);
      await kcatProduce(broker.bootstrap, 'tiered', records, { partition: 0, props: { 'batch.size': '8192' }, timeoutMs: 60_000 });
      await waitFor(
        async () => {
          s = await scrape(url);
          return value(s, 'strata_tier_upload_backlog_segments') >= 3 && value(s, 'strata_tier_failing_partitions') === 1 && value(s, 'strata_tier_upload_outage') === 1;
        },
        { timeoutMs: 60_000, intervalMs: 200, message: 'a backlog of at least 3 segments, uploads failing' },
      );
      const peak = value(s, 'strata_tier_upload_backlog_segments');
      expect(value(s, 'strata_tier_upload_backlog_bytes')).toBeGreaterThan(0);
      expect(value(s, 'strata_tier_upload_outage_seconds')).toBeGreaterThan(0);
      const uploadedBefore = value(s, 'strata_tier_uploaded_segments_total');
      expect(value(s, 'strata_log_size_bytes{topic="tiered",partition="0"}')).toBeGreaterThanOrEqual(value(s, 'strata_tier_upload_backlog_bytes'));

      await env.startS3();
      await waitFor(
        async () => {
          s = await scrape(url);
          return value(s, 'strata_tier_upload_backlog_segments') === 0 && value(s, 'strata_tier_upload_outage') === 0;
        },
        { timeoutMs: 90_000, intervalMs: 200, message: 'the upload backlog back to 0 and the outage over' },
      );
      expect(value(s, 'strata_tier_upload_backlog_bytes')).toBe(0);
      expect(value(s, 'strata_tier_failing_partitions')).toBe(0);
      expect(value(s, 'strata_tier_upload_outage_seconds')).toBe(0);
      expect(value(s, 'strata_tier_uploaded_segments_total') - uploadedBefore).toBeGreaterThanOrEqual(peak);
      expect(broker.output()).toMatch(/upload backlog drained: /);
    } finally {
      await client.close();
      await broker.stop();
    }
  }, 240_000);
});
