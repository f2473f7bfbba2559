import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { openMetadataStore } from '../../core/meta/url';
import { awsBackendSelected } from '../helpers/awsBackend';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

/**
 * Several broker processes on one host sharing one `--metadata embedded:PATH` store (the
 * cluster's set-up on a single machine): they start side by side and register in the one
 * metadata.sqlite; a broker with a node.id that is running already is refused at once, naming
 * the process; a broker on a data directory in use is refused, naming it; a crashed broker's
 * locks are stale, so its restart starts at once. (Embedded project only: the subject is the
 * embedded store.)
 */
const describeEmbedded = awsBackendSelected() ? describe.skip : describe;

let shared: string;
const clients: StrataClient[] = [];
beforeAll(() => {
  shared = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-shared-meta-'));
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await stopAllBrokers();
  fs.rmSync(shared, { recursive: true, force: true });
});

const META = (): string[] => ['--metadata', `embedded:${shared}`];

function launch(nodeId: number, opts: { dataDir?: string } = {}): Promise<BrokerProcess> {
  return startBroker({ args: META(), overrides: { 'node.id': String(nodeId) }, ...opts });
}

async function refusal(p: Promise<BrokerProcess>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the broker started');
}

function clusterIdOf(b: BrokerProcess): string {
  const m = /cluster\.id=(\S+?),/.exec(b.output());
  if (!m) throw new Error(`no cluster.id in the output of broker ${b.pid}`);
  return m[1];
}

describeEmbedded('brokers sharing one embedded metadata store', () => {
  test('two start side by side; the same node.id again, or a data dir in use, is refused with the holder named; a crashed one restarts at once', async () => {
    const one = await launch(1);
    const two = await launch(2);
    expect(clusterIdOf(two)).toBe(clusterIdOf(one));

    // Both registered, in the one store, read by a third process (this one).
    const store = await openMetadataStore(`embedded:${shared}`, { dataDir: shared });
    try {
      const brokers = await store.listBrokers();
      expect(brokers.map((b) => [b.nodeId, b.port, typeof b.incarnationId])).toEqual([
        [1, one.port, 'string'],
        [2, two.port, 'string'],
      ]);
      // A topic created through one broker is in the shared store.
      const client = new StrataClient({ bootstrapServers: [one.bootstrap] });
      clients.push(client);
      await client.createTopics([{ name: 'shared-a', numPartitions: 2, replicationFactor: 1 }]);
      expect((await store.listTopics()).map((t) => t.name)).toEqual(['shared-a']);
    } finally {
      await store.close();
    }

    const sameId = await refusal(launch(1));
    expect(sameId).toContain('exited (code 1)');
    expect(sameId).toContain(`Broker node.id 1 is already running on the embedded metadata store ${shared}: process ${one.pid} has held node.id 1 since`);
    expect(sameId).toContain(`(lock file ${path.join(shared, 'node-1.lock')})`);
    expect(sameId).toContain('Each broker needs its own node.id');

    const sameDir = await refusal(launch(3, { dataDir: one.dataDir }));
    expect(sameDir).toContain('exited (code 1)');
    expect(sameDir).toContain(`data directory ${one.dataDir} is in use by process ${one.pid} since`);
    expect(sameDir).toContain(`(lock file ${path.join(one.dataDir, '.lock')})`);

    // The refused ones disturbed nothing.
    expect(one.exitStatus()).toBeNull();
    expect(two.exitStatus()).toBeNull();
    expect((await clients[0].produce('shared-a', 0, [{ value: 'still here' }], { acks: -1 })).baseOffset).toBe(0n);

    // kill -9: its locks are stale (dead pid), so the restart starts at once and takes the registration.
    await two.kill9();
    const again = await launch(2, { dataDir: two.dataDir });
    expect(again.output()).toMatch(/took over from .* \(the store admits one process per node\.id, so it is gone\)/);

    // A clean stop releases both locks.
    expect(await one.stop()).toBe(0);
    expect(fs.existsSync(path.join(shared, 'node-1.lock'))).toBe(false);
    expect(fs.existsSync(path.join(one.dataDir, '.lock'))).toBe(false);
    expect(fs.existsSync(path.join(shared, 'node-2.lock'))).toBe(true);
  }, 90_000);
});
