/**
 * A full disk, for real: the broker's data dir is a 16 MiB tmpfs that this test mounts (as
 * root; skipped, with the reason in the test's name, where that cannot be done). acks=all
 * producing fills it; then, on the same process:
 *
 * - producers get KAFKA_STORAGE_ERROR, readers keep reading every acknowledged record;
 * - offset commits fail with a retriable error (the embedded metadata journal is full too),
 *   CreateTopics and auto-creation are refused, and nothing of them is stored;
 * - the broker stays up through 30 s full, idle (longer than broker.session.timeout.ms, which
 *   used to fence it: the lease could not be renewed on the full store) and busy;
 * - the free-space warning is logged and strata_log_dir_free_bytes shows the low value;
 * - once space is freed, producing, commits and topic creation resume.
 *
 * Then kill -9; a start on the re-filled disk fails saying the disk is full and how to fix it;
 * with space again, the restarted broker has every acknowledged record and the last committed
 * offset, and none of the refused topics. (Embedded project only: its subject is the local disk
 * and the embedded metadata store.)
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { KafkaResponseError } from '../../core/client/errors';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { awsBackendSelected } from '../helpers/awsBackend';
import { metricsUrlOf, startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';
import { fillUp, mountTmpfs, unmountTmpfs, type Tmpfs } from '../helpers/tmpfs';

const TMPFS_BYTES = 16 * 1024 * 1024;
const WARN_BYTES = 4 * 1024 * 1024;
/** Written before producing and removed at the end, so that freeing it gives real room back. */
const BALLAST_BYTES = 3 * 1024 * 1024;
const RECORD_BYTES = 8 * 1024;
const RECORDS_PER_BATCH = 4; // 32 KiB batches: never fit in the slack of a page already allocated
const TOPIC = 'fill';
const GROUP = 'disk-full-group';
/** Longer than broker.session.timeout.ms (9 s) plus a heartbeat: the old fencing happened by then. */
const IDLE_MS = 14_000;
const BUSY_MS = 16_000;

/** Mounted when this file loads (the aws project skips it: its subject is the local disk and the embedded store). */
function mountHere(): Tmpfs {
  if (awsBackendSelected()) return { skip: 'aws project: the subject is the local disk and the embedded metadata store' };
  return mountTmpfs('strata-diskfull-', TMPFS_BYTES);
}

const mounted = mountHere();
const mnt = 'dir' in mounted ? mounted.dir : '';

afterAll(async () => {
  // Every mount is unmounted, whatever happened: brokers first (their files keep it busy).
  await stopAllBrokers();
  if (mnt) unmountTmpfs(mnt);
}, 30_000);

/** Fills what is left of the tmpfs with `name` until ENOSPC; returns the bytes written. */
function fillUpWith(name: string): number {
  return fillUp(path.join(mnt, name));
}

function freeBytes(): number {
  const s = fs.statfsSync(mnt);
  return s.bavail * s.bsize;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
  });
}

async function freeBytesGauge(url: string): Promise<number> {
  const m = /^strata_log_dir_free_bytes (\S+)$/m.exec(await get(url));
  if (!m) throw new Error('strata_log_dir_free_bytes is not served');
  return Number(m[1]);
}

/** The Kafka error a client call failed with (the test fails on anything else). */
async function kafkaError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KafkaResponseError) return e.errorName;
    throw e;
  }
  return 'NONE';
}

function batch(ids: number[]): { key: string; value: Buffer }[] {
  return ids.map((id) => ({ key: `k${id}`, value: Buffer.alloc(RECORD_BYTES, `record ${id};`) }));
}

/** Every record of partition 0, read from the start: offset → key. */
async function readAll(c: StrataClient): Promise<Map<bigint, string>> {
  const out = new Map<bigint, string>();
  let offset = 0n;
  for (;;) {
    const r = await c.fetch(TOPIC, 0, offset, { maxBytes: 1024 * 1024, maxWaitMs: 0 });
    for (const rec of r.records) {
      const key = rec.key!.toString();
      expect(rec.value!.equals(Buffer.alloc(RECORD_BYTES, `record ${key.slice(1)};`))).toBe(true);
      out.set(rec.offset, key);
    }
    if (r.nextOffset >= r.highWatermark || r.records.length === 0) return out;
    offset = r.nextOffset;
  }
}

const REFUSED = ['refused-create', 'refused-auto'];

const diskTest = 'skip' in mounted ? test.skip : test;
const title = 'skip' in mounted ? `disk full (skipped: ${mounted.skip})` : 'a full disk: appends refused, reads served, no fencing, resumes when space returns, nothing acknowledged lost';

diskTest(title, async () => {
  fs.writeFileSync(path.join(mnt, 'ballast'), Buffer.alloc(BALLAST_BYTES, 1));
  let broker = await startBroker({
    dataDir: mnt,
    overrides: {
      'log.segment.bytes': String(1024 * 1024), // rolls (and producer snapshots) happen while filling
      'group.initial.rebalance.delay.ms': '0',
      'log.dir.free.space.warn.bytes': String(WARN_BYTES),
      'metrics.listener': 'http://127.0.0.1:0',
    },
  });
  const metrics = await metricsUrlOf(broker);
  const admin = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  // Writes without client retries: each refusal is seen as the broker answered it.
  const producer = new StrataClient({ bootstrapServers: [broker.bootstrap], retries: 0 });
  try {
    await admin.createTopics([{ name: TOPIC, numPartitions: 1, replicationFactor: 1 }]);
    await admin.offsetCommit(GROUP, [{ topic: TOPIC, partition: 0, offset: 0n }]);
    let committed = 0n;

    // Fill the disk with acks=all producing, until the broker refuses.
    const acked = new Map<bigint, string>(); // offset → key
    let next = 0;
    let refusal = 'NONE';
    while (refusal === 'NONE') {
      const ids = Array.from({ length: RECORDS_PER_BATCH }, () => next++);
      try {
        const r = await producer.produce(TOPIC, 0, batch(ids), { acks: -1 });
        ids.forEach((id, i) => acked.set(r.baseOffset + BigInt(i), `k${id}`));
      } catch (e) {
        if (!(e instanceof KafkaResponseError)) throw e;
        refusal = e.errorName;
      }
      expect(next).toBeLessThan(TMPFS_BYTES / RECORD_BYTES); // it did fill up
    }
    expect(refusal).toBe('KAFKA_STORAGE_ERROR');
    expect(acked.size).toBeGreaterThan(500);
    // Whatever room was left is taken too: the metadata journal has no page to grow into now.
    fillUpWith('filler');
    expect(freeBytes()).toBe(0);
    const fullSince = Date.now();
    // The housekeeping pass (every second) has warned, before the disk was full, and the gauge says so.
    await waitFor(() => /WARN\s+\[broker\/logs\] low free space on the disk holding \S+: .* below log\.dir\.free\.space\.warn\.bytes \(4\.0 MiB\)/.test(broker.output()), {
      message: 'the low free space warning',
    });
    expect(await freeBytesGauge(metrics)).toBe(0);

    // Readers keep reading; writers and admin are refused cleanly, with nothing stored.
    expect(await readAll(admin)).toEqual(acked);
    expect(await kafkaError(producer.produce(TOPIC, 0, batch([next++]), { acks: -1 }))).toBe('KAFKA_STORAGE_ERROR');
    const commits: string[] = [];
    for (let i = 1; i <= 4; i++) {
      // 3 KiB of commit metadata: at most one such frame fits in the journal's last page.
      const outcome = await kafkaError(producer.offsetCommit(GROUP, [{ topic: TOPIC, partition: 0, offset: BigInt(i), metadata: 'm'.repeat(3000) }]));
      commits.push(outcome);
      if (outcome === 'NONE') committed = BigInt(i);
    }
    expect(commits).toContain('COORDINATOR_NOT_AVAILABLE');
    expect(commits.filter((c) => c !== 'NONE' && c !== 'COORDINATOR_NOT_AVAILABLE')).toEqual([]);
    expect(await kafkaError(producer.createTopics([{ name: 'refused-create', numPartitions: 2, replicationFactor: 1 }]))).toBe('KAFKA_STORAGE_ERROR');
    const md = await admin.metadata(['refused-auto'], { allowAutoTopicCreation: true });
    expect(md.topicErrors.get('refused-auto')).toBe(ErrorCode.KAFKA_STORAGE_ERROR);

    // Idle, for longer than the session timeout: no fencing, no exit.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    expect(broker.exitStatus()).toBeNull();

    // Busy: producers refused, readers served, commits refused, for the rest of the 30 s.
    const seen = new Map<string, number>();
    const count = (what: string): void => {
      seen.set(what, (seen.get(what) ?? 0) + 1);
    };
    while (Date.now() - fullSince < IDLE_MS + BUSY_MS) {
      count(`produce ${await kafkaError(producer.produce(TOPIC, 0, batch([next++]), { acks: -1 }))}`);
      const r = await admin.fetch(TOPIC, 0, BigInt(acked.size - 10), { maxWaitMs: 0 });
      count(`fetch ${r.records.length === 10 ? 'ok' : `got ${r.records.length}`}`);
      count(`commit ${await kafkaError(producer.offsetCommit(GROUP, [{ topic: TOPIC, partition: 0, offset: 7n, metadata: 'm'.repeat(3000) }]))}`);
    }
    expect([...seen.keys()].sort()).toEqual(['commit COORDINATOR_NOT_AVAILABLE', 'fetch ok', 'produce KAFKA_STORAGE_ERROR']);
    expect(broker.exitStatus()).toBeNull();
    expect(broker.output()).not.toMatch(/fenced/);
    expect(await freeBytesGauge(metrics)).toBe(0);
    expect(await readAll(admin)).toEqual(acked);
    // A refused commit is not served either: the group still has its last acknowledged offset.
    expect((await admin.offsetFetch(GROUP, [{ topic: TOPIC, partition: 0 }]))[0].offset).toBe(committed);

    // Space returns: the same process takes writes again.
    fs.rmSync(path.join(mnt, 'filler'));
    fs.rmSync(path.join(mnt, 'ballast'));
    await waitFor(async () => (await kafkaError(producer.produce(TOPIC, 0, batch([next]), { acks: -1 }).then((r) => acked.set(r.baseOffset, `k${next}`)))) === 'NONE', {
      message: 'producing resumes once space is freed',
    });
    next++;
    for (let i = 0; i < 5; i++) {
      const ids = Array.from({ length: RECORDS_PER_BATCH }, () => next++);
      const r = await producer.produce(TOPIC, 0, batch(ids), { acks: -1 });
      ids.forEach((id, k) => acked.set(r.baseOffset + BigInt(k), `k${id}`));
    }
    committed = BigInt(acked.size);
    await admin.offsetCommit(GROUP, [{ topic: TOPIC, partition: 0, offset: committed }]);
    await admin.createTopics([{ name: 'after-full', numPartitions: 1, replicationFactor: 1 }]);
    expect(broker.exitStatus()).toBeNull();
    expect(broker.output()).not.toMatch(/fenced/);
    // The broker, its own controller, never judged itself dead and left its partitions leaderless.
    expect(broker.output()).not.toMatch(/leader 0 -> -1/);

    // kill -9; a start on a full disk says so; with room again, nothing acknowledged is lost.
    await admin.close();
    await producer.close();
    await broker.kill9();
    fillUpWith('filler');
    const refused = await startBroker({ dataDir: mnt, readyTimeoutMs: 15_000 }).then(
      () => null,
      (e: Error) => e,
    );
    expect(refused?.message).toMatch(/no space left on the device holding .*strata-diskfull-.*free space/i);
    fs.rmSync(path.join(mnt, 'filler'));
    broker = await startBroker({ dataDir: mnt });
    const after = new StrataClient({ bootstrapServers: [broker.bootstrap] });
    try {
      expect(await readAll(after)).toEqual(acked);
      const [offset] = await after.offsetFetch(GROUP, [{ topic: TOPIC, partition: 0 }]);
      expect(offset.offset).toBe(committed);
      const topics = await after.listTopics();
      expect(topics.filter((t) => REFUSED.includes(t))).toEqual([]);
      expect(topics).toContain('after-full');
    } finally {
      await after.close();
    }
  } finally {
    await admin.close().catch(() => undefined);
    await producer.close().catch(() => undefined);
  }
}, 120_000);
