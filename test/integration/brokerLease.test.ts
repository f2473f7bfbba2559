import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { startEmulators, useEnv, type Emulators } from '../helpers/emulators';
import { kcatAvailable, kcatConsume, kcatProduce } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';
import { StrataClient } from '../../core/client/client';
import { DynamoKv } from '../../core/meta/dynamoKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { BrokerRecord } from '../../core/meta/metadataStore';

/**
 * Broker leases with real broker processes sharing one DynamoDB table and S3 prefix (dynalite
 * and s3rver): a second process with the same node.id is refused while the first runs, starts
 * at once after a clean stop, and takes over from a paused (SIGSTOP) one after its session
 * timeout — the paused one, resumed, is fenced: it logs `fenced`, exits non-zero and writes
 * nothing, not even a produce request that was waiting in its socket.
 *
 * Each test uses its own node.id, so the records do not meet. (Skipped by the `aws` jest
 * project: it picks its stores itself.)
 */
const FIX = 'Stop the other broker, or wait for its lease to expire; each broker needs its own node.id.';

let emulators: Emulators;
let restoreEnv: () => void;
let store: KvMetadataStore;
const paused = new Set<number>();
const clients: StrataClient[] = [];

beforeAll(async () => {
  await kcatAvailable();
  emulators = await startEmulators();
  restoreEnv = useEnv(emulators.env);
  store = new KvMetadataStore(await DynamoKv.open(emulators.tablePrefix));
}, 60_000);

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  // A stopped process ignores SIGTERM until continued.
  for (const pid of paused) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  paused.clear();
  await stopAllBrokers();
}, 60_000);

afterAll(async () => {
  await store?.close();
  restoreEnv?.();
  await emulators?.stop();
});

function launch(nodeId: number, overrides: Record<string, string> = {}, readyTimeoutMs?: number): Promise<BrokerProcess> {
  return startBroker({
    args: ['--metadata', emulators.dynamoUrl, '--object-store', emulators.s3Url],
    env: emulators.env,
    overrides: { 'node.id': String(nodeId), ...overrides },
    ...(readyTimeoutMs !== undefined ? { readyTimeoutMs } : {}),
  });
}

async function record(nodeId: number): Promise<BrokerRecord> {
  const r = await store.getBroker(nodeId);
  if (!r) throw new Error(`no registration for node.id ${nodeId}`);
  return r;
}

/** Every byte of a broker's local segments of partition 0 of `topic`. */
function localSegments(b: BrokerProcess, topic: string): string {
  const dir = path.join(b.dataDir, 'logs', `${topic}-0`);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'latin1'))
    .join('');
}

test('a second broker with the same node.id and table is refused while the first runs, with the holder and the fix', async () => {
  const first = await launch(1);
  const held = await record(1);
  expect(held).toMatchObject({ host: first.host, port: first.port, epoch: expect.any(Number) });

  let failure: unknown;
  try {
    await launch(1, {}, 60_000);
  } catch (e) {
    failure = e;
  }
  const text = String((failure as Error | undefined)?.message);
  expect(text).toContain('exited (code 1)');
  expect(text).toContain(`Broker node.id 1 is already registered to a running broker at ${first.host}:${first.port}`);
  expect(text).toMatch(/lease until \d{4}-\d\d-\d\dT/);
  expect(text).toContain(FIX);

  // The first one never noticed: same registration, still serving.
  expect(first.exitStatus()).toBeNull();
  expect((await record(1)).incarnationId).toBe(held.incarnationId);
  await kcatProduce(first.bootstrap, 'lease-a', ['still-here'], { props: { acks: '1' } });
  expect((await kcatConsume(first.bootstrap, 'lease-a')).lines).toEqual(['still-here']);
});

test('after a clean stop the registration is released, and the next broker starts at once', async () => {
  // A session timeout far above the ready timeout: waiting one out would fail the start.
  const slow = { 'broker.session.timeout.ms': '600000' };
  const first = await launch(2, slow);
  const epoch = (await record(2)).epoch;
  expect(await first.stop()).toBe(0);
  expect(first.output()).toContain('released the registration of node.id 2');
  expect(await record(2)).toMatchObject({ incarnationId: null, leaseExpiresAt: 0, epoch });

  const second = await launch(2, slow);
  expect(second.output()).not.toContain('waiting up to');
  expect(await record(2)).toMatchObject({ host: second.host, port: second.port, epoch: epoch + 1 });
});

test('a paused broker is taken over after its session timeout and, resumed, is fenced without writing anything', async () => {
  const lease = { 'broker.session.timeout.ms': '5000', 'broker.heartbeat.interval.ms': '1000' };
  const topic = 'lease-c';
  const first = await launch(3, lease);
  const client = new StrataClient({ bootstrapServers: [first.bootstrap], retries: 0, requestTimeoutMs: 20_000 });
  clients.push(client);
  await client.createTopics([{ name: topic, numPartitions: 1, replicationFactor: 1 }]);
  await client.produce(topic, 0, [{ value: 'before-pause' }], { acks: 1 });
  const firstRecord = await record(3);

  process.kill(first.pid, 'SIGSTOP');
  paused.add(first.pid);
  // Waits in the paused broker's socket: it must never be appended.
  const stray = client.produce(topic, 0, [{ value: 'while-paused' }], { acks: 1 }).then(
    () => 'appended',
    (e: Error) => `refused: ${e.message}`,
  );
  await waitFor(async () => (await record(3)).leaseExpiresAt! < Date.now(), {
    timeoutMs: 30_000,
    intervalMs: 200,
    message: "the paused broker's lease to pass its expiry",
  });

  const second = await launch(3, lease, 60_000);
  expect(second.output()).toMatch(/took over from .*unrenewed for 5000 ms/);
  const taken = await record(3);
  expect(taken).toMatchObject({ host: second.host, port: second.port, epoch: firstRecord.epoch + 1 });
  await kcatProduce(second.bootstrap, topic, ['after-1', 'after-2'], { props: { acks: '1' } });

  process.kill(first.pid, 'SIGCONT');
  paused.delete(first.pid);
  await waitFor(() => first.exitStatus() !== null, { timeoutMs: 30_000, message: 'the resumed broker to exit' });
  expect(first.exitStatus()).toEqual({ code: 1, signal: null });
  expect(first.output()).toMatch(/ERROR .*fenced: the lease of node\.id 3 \(broker epoch \d+\) ran out/);
  expect(first.output()).not.toContain('released the registration');
  expect(await stray).toMatch(/^refused/);

  // Nothing written after: the registration is the second's, its data intact, the stray produce nowhere.
  const now = await record(3);
  expect(now).toMatchObject({ incarnationId: taken.incarnationId, epoch: taken.epoch, host: second.host, port: second.port });
  expect(localSegments(first, topic)).toContain('before-pause');
  expect(localSegments(first, topic)).not.toContain('while-paused');
  expect((await kcatConsume(second.bootstrap, topic)).lines).toEqual(['after-1', 'after-2']);
  expect(second.exitStatus()).toBeNull();
});
