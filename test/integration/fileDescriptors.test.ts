/**
 * 3,000 partitions under `ulimit -n 1024` (prlimit --nofile=1024:1024), where keeping every
 * segment's files open (3 descriptors per partition, as Kafka does) could not even start: the
 * broker creates them, produces to and fetches from every one in turn, restarts over them, does
 * it again, and never holds more descriptors than the limit allows (log.max.open.files, half the
 * limit by default, bounds the segment files). Connections over max.connections are refused
 * with a log line, and the broker serves on once they are gone.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { StrataClient } from '../../core/client/client';
import { spawnBrokerCommand, type BrokerCommand } from '../helpers/brokerCommand';
import { waitFor } from '../helpers/waitFor';

const NOFILE = 1024;
const TOPICS = 30;
const PARTITIONS_PER_TOPIC = 100; // 3,000 partitions
const MAX_CONNECTIONS = 300;

const awsProject = process.env.STRATA_TEST_BACKEND === 'aws';
const haveTools = fs.existsSync('/usr/bin/prlimit') && process.platform === 'linux';
const describeHere = haveTools && !awsProject ? describe : describe.skip;
if (!haveTools) console.log('fileDescriptors test skipped: needs Linux and prlimit (util-linux)');

const topicName = (t: number): string => `fd-${String(t).padStart(2, '0')}`;

function openDescriptors(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function start(dataDir: string): Promise<BrokerCommand> {
  return spawnBrokerCommand(
    ['--data-dir', dataDir, '--listeners', 'PLAINTEXT://127.0.0.1:0', '--override', `max.connections=${MAX_CONNECTIONS}`],
    { nofile: NOFILE, readyTimeoutMs: 60_000 },
  );
}

/** Produces `value` to every partition, then reads every partition back from `from`; returns the most descriptors seen. */
async function roundTrip(client: StrataClient, pid: number, value: string, from: bigint): Promise<number> {
  let most = 0;
  for (let t = 0; t < TOPICS; t++) {
    for (let p = 0; p < PARTITIONS_PER_TOPIC; p++) {
      const r = await client.produce(topicName(t), p, [{ key: Buffer.from(`${t}/${p}`), value: Buffer.from(value) }], { acks: -1 });
      expect(r.baseOffset).toBe(from);
    }
    most = Math.max(most, openDescriptors(pid));
  }
  for (let t = 0; t < TOPICS; t++) {
    const reads = await client.fetchPartitions(
      topicName(t),
      Array.from({ length: PARTITIONS_PER_TOPIC }, (_, p) => ({ partition: p, offset: from })),
      { maxWaitMs: 0, maxBytes: 64 * 1024 },
    );
    for (const r of reads) {
      if (r.error) throw r.error;
      expect(r.result!.records.map((x) => [x.key?.toString(), x.value?.toString()])).toEqual([[`${t}/${r.partition}`, value]]);
    }
    most = Math.max(most, openDescriptors(pid));
  }
  return most;
}

function rawConnection(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed }));
    closed.then(() => reject(new Error('closed before connecting')));
  });
}

describeHere(`3,000 partitions under ulimit -n ${NOFILE}`, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-fd-'));
  let broker: BrokerCommand | null = null;
  let client: StrataClient | null = null;

  afterAll(async () => {
    await client?.close();
    await broker?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('starts, serves produce and fetch on every partition before and after a restart, refuses connections over max.connections', async () => {
    broker = await start(dataDir);
    let { port } = await broker.listening;
    expect(broker.output()).toMatch(new RegExp(`segment files: at most ${NOFILE / 2} open \\(log.max.open.files\\)`));
    client = new StrataClient({ bootstrapServers: [`127.0.0.1:${port}`], clientId: 'fd-test' });
    const created = await client.createTopics(
      Array.from({ length: TOPICS }, (_, t) => ({ name: topicName(t), numPartitions: PARTITIONS_PER_TOPIC, replicationFactor: 1 })),
      { timeoutMs: 120_000 },
    );
    expect(created.map((c) => c.numPartitions)).toEqual(Array(TOPICS).fill(PARTITIONS_PER_TOPIC));
    const firstMost = await roundTrip(client, broker.pid, 'first', 0n);

    // Over the 3,000 partitions on disk, a restart opens every log.
    await client.close();
    await broker.stop();
    broker = await start(dataDir);
    ({ port } = await broker.listening);
    client = new StrataClient({ bootstrapServers: [`127.0.0.1:${port}`], clientId: 'fd-test' });
    const secondMost = await roundTrip(client, broker.pid, 'second', 1n);
    console.log(`[fileDescriptors] 3,000 partitions under ulimit -n ${NOFILE}: at most ${firstMost} descriptors open before the restart, ${secondMost} after`);
    expect(Math.max(firstMost, secondMost)).toBeLessThan(NOFILE);
    expect(broker.output()).not.toMatch(/EMFILE|too many open files/i);

    // Connections: the client's own, then raw ones up to the limit and beyond.
    const extra = MAX_CONNECTIONS + 20;
    const opened = await Promise.all(Array.from({ length: extra }, () => rawConnection(port).catch(() => null)));
    const sockets = opened.filter((o): o is { socket: net.Socket; closed: Promise<void> } => o !== null);
    await waitFor(() => /refused a connection from 127\.0\.0\.1 on PLAINTEXT:\/\/127\.0\.0\.1:\d+: the broker already has \d+ connections \(max\.connections=300\)/.test(broker!.output()), {
      timeoutMs: 10_000,
      message: 'the max.connections refusal line',
    });
    // The broker closes the refused ones at once: the client's own connections (one or two) plus
    // these make MAX_CONNECTIONS + 20 + k, so 20 + k of them are refused and the rest stay open.
    let closed = opened.length - sockets.length;
    for (const s of sockets) void s.closed.then(() => closed++);
    await waitFor(() => closed >= extra - MAX_CONNECTIONS, { timeoutMs: 10_000, message: `${extra - MAX_CONNECTIONS} connections refused` });
    expect(closed).toBeLessThanOrEqual(extra - MAX_CONNECTIONS + 2);
    expect(openDescriptors(broker.pid)).toBeLessThan(NOFILE);
    for (const s of sockets) s.socket.destroy();
    await Promise.all(sockets.map((s) => s.closed));

    // Still serving: a fresh client reads the last partition.
    const after = new StrataClient({ bootstrapServers: [`127.0.0.1:${port}`], clientId: 'fd-after' });
    try {
      await waitFor(async () => (await after.fetch(topicName(TOPICS - 1), PARTITIONS_PER_TOPIC - 1, 0n, { maxWaitMs: 0 })).records.length === 2, {
        timeoutMs: 15_000,
        message: 'a fetch once the connections are gone',
      });
    } finally {
      await after.close();
    }
  }, 300_000);
});
