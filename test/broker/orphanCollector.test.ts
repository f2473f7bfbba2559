/**
 * The broker's orphan collector on a real broker process: partition states left by a topic
 * create that died before its topic record (an intent older than a minute, written here
 * straight into the embedded store while the broker is down) are deleted when a broker
 * starts, and the topics that do exist keep theirs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openEmbeddedStore } from '../../core/meta/embeddedStore';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

const ORPHAN_ID = 'AAAAAAAAAAAAAAAAAAAAAw';
let root: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-orphans-'));
});
afterAll(async () => {
  await stopAllBrokers();
  fs.rmSync(root, { recursive: true, force: true });
});

test('a broker deletes the partition states an interrupted topic create left, and nothing else', async () => {
  const metaDir = path.join(root, 'meta');
  const args = ['--metadata', `embedded:${metaDir}`];
  const first = await startBroker({ args });
  const client = new StrataClient({ bootstrapServers: [first.bootstrap] });
  await client.createTopics([{ name: 'kept', numPartitions: 2, replicationFactor: 1 }]);
  await client.close();
  await first.stop();

  // What a broker that died inside createTopic leaves: the intent and the partition states.
  let kv = await openEmbeddedStore(metaDir);
  await kv.put(`pending/${ORPHAN_ID}`, { op: 'create', name: 'half', at: Date.now() - 3_600_000 }, null);
  for (let p = 0; p < 3; p++) {
    await kv.put(`partition/${ORPHAN_ID}/${String(p).padStart(10, '0')}`, { topicId: ORPHAN_ID, partition: p, leader: 0, leaderEpoch: 0, isr: [0], replicas: [0], logStartOffset: 0n }, null);
  }
  const keptId = (await new KvMetadataStore(kv).getTopic('kept'))!.topicId;
  const keptStates = (await kv.list(`partition/${keptId}/`)).length;
  expect(keptStates).toBe(2);
  await kv.close();

  const second = await startBroker({ args });
  await waitFor(() => second.output().includes(`deleted the partition states of topic id ${ORPHAN_ID}`), {
    timeoutMs: 20_000,
    intervalMs: 50,
    message: 'the orphan collector ran',
  });
  await second.stop();

  kv = await openEmbeddedStore(metaDir);
  try {
    expect(await kv.list(`partition/${ORPHAN_ID}/`)).toEqual([]);
    expect(await kv.list('pending/')).toEqual([]);
    expect((await kv.list(`partition/${keptId}/`)).length).toBe(keptStates);
  } finally {
    await kv.close();
  }
});
