/**
 * Tiered storage on a 3-broker cluster: only the leader uploads; after its SIGKILL the new leader
 * reads the tiered state first and continues from the old leader's tiered end (the committed
 * segment records are contiguous, none twice), drops its own local copies
 * by local retention, and serves every acknowledged record from offset 0, the old part from the
 * object store.
 */
import * as fs from 'fs';
import * as path from 'path';
import { StrataClient } from '../../core/client/client';
import { isStrataError } from '../../core/common/errors';
import { openEmbeddedStore } from '../../core/meta/embeddedStore';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { RemoteLogMetadata } from '../../core/tier/remoteLogMetadata';
import { awsBackendSelected } from '../helpers/awsBackend';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'tiered-replicated';
const BATCHES = 40;
const PER_BATCH = 10;
let cluster: TestCluster;
let client: StrataClient;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3 });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'cluster-tiering-test', retries: 20, retryBackoffMs: 100 });
  await client.createTopics([
    {
      name: TOPIC,
      numPartitions: 1,
      replicationFactor: 3,
      configs: { 'remote.storage.enable': 'true', 'segment.bytes': '16384', 'local.retention.bytes': '1', 'min.insync.replicas': '2' },
    },
  ]);
  await cluster.awaitTopic(TOPIC, 1);
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

/** The base offset of the first local segment of the partition on broker `id`. */
function localStart(id: number): bigint {
  const dir = path.join(cluster.dataDir(id), 'logs', `${TOPIC}-0`);
  const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log'));
  return logs.length === 0 ? -1n : BigInt(logs.sort()[0].slice(0, 20));
}

async function produce(from: number, count: number): Promise<void> {
  for (let b = from; b < from + count; b++) {
    const records = Array.from({ length: PER_BATCH }, (_, i) => ({ key: null, value: Buffer.from(`v${b * PER_BATCH + i}-${'x'.repeat(150)}`) }));
    // A refused connection sent nothing (a broker that has not applied the new leadership yet
    // may still name the dead one): trying again cannot duplicate.
    await waitFor(
      () =>
        client.produce(TOPIC, 0, records, { acks: -1 }).then(
          () => true,
          (e: Error) => {
            if (isStrataError(e, 'CONNECTION_FAILED') && /could not connect/.test(e.message)) return false;
            throw e;
          },
        ),
      { timeoutMs: 20_000, message: `batch ${b} acknowledged` },
    );
  }
}

test('after a leader SIGKILL the new leader continues tiering where the old one stopped and serves everything from 0', async () => {
  const first = await cluster.awaitLeader(TOPIC, 0);
  await produce(0, BATCHES);
  await waitFor(() => localStart(first) > 0n, { timeoutMs: 30_000, message: `the leader (broker ${first}) to tier segments and drop its local copies` });

  await cluster.brokers[first].kill9();
  const second = await cluster.awaitLeader(TOPIC, 0, { not: first });
  // A client that knows only the live brokers (a produce is not retried over a lost connection).
  await client.close();
  client = new StrataClient({ bootstrapServers: [cluster.brokers[second].bootstrap], clientId: 'cluster-tiering-test', retries: 20, retryBackoffMs: 100 });
  await produce(BATCHES, BATCHES);
  const total = BigInt(2 * BATCHES * PER_BATCH);
  // The old leader tiered only closed segments below the failover offset, so a local start on the
  // new leader past it means the new leader uploaded the segment holding it, at its own epoch.
  const failoverOffset = BigInt(BATCHES * PER_BATCH);
  await waitFor(() => localStart(second) > failoverOffset, { timeoutMs: 30_000, message: `the new leader (broker ${second}) to tier past offset ${failoverOffset}` });

  // Everything acknowledged, once and in order, from offset 0 (the start only in the object store).
  const values: string[] = [];
  let offset = 0n;
  while (offset < total) {
    const r = await client.fetch(TOPIC, 0, offset, { maxWaitMs: 0 });
    for (const rec of r.records) values.push(rec.value!.toString().split('-')[0]);
    expect(r.nextOffset).toBeGreaterThan(offset);
    offset = r.nextOffset;
  }
  expect(values).toEqual(Array.from({ length: Number(total) }, (_, i) => `v${i}`));

  if (!awsBackendSelected()) {
    // The committed segment records (read from the embedded store beside the brokers): contiguous,
    // none twice, the new leader's at its own epoch. (Objects of an upload the SIGKILL cut before
    // its record committed are orphans, swept by a later leader's open, not records.)
    const kv = new KvMetadataStore(await openEmbeddedStore(path.join(cluster.dir, 'meta')));
    try {
      // The topic's id as its tiered objects are named: <prefix>/<topicId>/<partition>/…
      const topicId = fs.readdirSync(path.join(cluster.dir, 'tier', 'remote-log')).find((d) => d !== '.tmp')!;
      const segs = await new RemoteLogMetadata(kv.namespace('remote-segments')).listSegments(topicId, 0);
      // At least one segment uploaded by each leader.
      expect(segs.length).toBeGreaterThanOrEqual(2);
      expect(segs[0].baseOffset).toBe(0n);
      for (let k = 1; k < segs.length; k++) expect(segs[k].baseOffset).toBe(segs[k - 1].lastOffset + 1n);
      expect(segs.some((r) => r.leaderEpoch >= 1)).toBe(true);
    } finally {
      await kv.close();
    }
  }
  expect(cluster.brokers[second].output()).toMatch(new RegExp(`${TOPIC}-0: tiering as leader at epoch [1-9]\\d*: \\d+ tiered segment\\(s\\), tiered end \\d+`));
}, 180_000);
