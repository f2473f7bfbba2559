/**
 * The orphan collector's tiered-data sweep, in-process on real parts (TopicAdmin, the embedded
 * metadata store, FileObjectStore, TierManager uploads): it deletes the tiered data of topic ids
 * no topic names, and never that of a topic the metadata store names although this broker's
 * registry does not know it (yet): a topic created through another broker sharing the store, or
 * one this registry has not loaded.
 */
import * as path from 'node:path';
import { OrphanCollector } from '../../core/broker/orphanCollector';
import { TopicAdmin } from '../../core/broker/topicAdmin';
import { MetadataCache } from '../../core/cluster/metadataCache';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { LogManager } from '../../core/log/logManager';
import { PartitionManager } from '../../core/partition/partitionManager';
import { RemoteLogMetadata } from '../../core/tier/remoteLogMetadata';
import { allObjectKeys } from '../../core/tier/remoteSegmentKeys';
import { TierManager } from '../../core/tier/tierManager';
import { TierEnv, fill, listKeys, memoryLogger, tierConfig } from '../tier/tierHelpers';

const UNKNOWN_ID = 'AAAAAAAAAAAAAAAAAAAABQ';

let env: TierEnv;
const managers: TierManager[] = [];
const registries: TopicAdmin[] = [];
const closers: (() => void)[] = [];

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  for (const r of registries.splice(0)) await r.close();
  for (const c of closers.splice(0)) c();
  await env.destroy();
});

function manager(): TierManager {
  const m = new TierManager(env.objects, env.meta, { logger: memoryLogger(), uploadOnRollDelayMs: 0 });
  managers.push(m);
  return m;
}

/** Uploads the closed segments of a fresh log as partition 0 of `topicId`; returns how many. */
async function tierSomething(topicId: string, name: string): Promise<number> {
  const log = env.openLog(`data-${name}/${name}-0`);
  fill(log, 30);
  const t = manager();
  await t.openPartition({ topicId, topicName: name, partition: 0, log, config: tierConfig() });
  await t.runOnce();
  const n = (await new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(topicId, 0)).length;
  expect(n).toBeGreaterThan(0);
  return n;
}

test('tiered data of a topic the store names is kept even when this registry does not know the topic; unknown ids are deleted', async () => {
  const logger = memoryLogger();
  const config = loadBrokerConfig({ flags: {} });
  // This broker's registry, loaded before the topic exists.
  const logs = new LogManager(path.join(env.root, 'logs-a'), { retentionCheckIntervalMs: 1000, cleanerBackoffMs: 1000, cleaner: null, logger });
  const partitions = new PartitionManager(logs, { nodeId: config.nodeId, leaderEpoch: 0, logger });
  const registry = new TopicAdmin(env.meta, new MetadataCache(), partitions, config, logger);
  registries.push(registry);
  closers.push(() => partitions.close());
  await registry.load();

  // A topic created through another broker on the same store, with segments already tiered.
  const record = await env.meta.createTopic({ name: 'elsewhere', partitions: 1, replicationFactor: 1, configs: { 'remote.storage.enable': 'true' } });
  expect(registry.cache.getById(record.topicId)).toBeUndefined();
  const kept = await tierSomething(record.topicId, 'elsewhere');
  // And tiered data of a topic id nothing names (its topic was deleted while a broker was down).
  await tierSomething(UNKNOWN_ID, 'gone');

  const tier = manager();
  const collector = new OrphanCollector(env.meta, tier, registry, logger, 60_000);
  collector.maybeRun(Date.now());
  await collector.idle();

  const metadata = new RemoteLogMetadata(env.meta.namespace('remote-segments'));
  const segs = await metadata.listSegments(record.topicId, 0);
  expect(segs.length).toBe(kept);
  const objects = await listKeys(env.files, `remote-log/${record.topicId}/`);
  expect(objects.sort()).toEqual(segs.flatMap((s) => allObjectKeys(s.keys)).sort());
  // The control: the collector did run, and removed what no topic names.
  expect(await metadata.listSegments(UNKNOWN_ID, 0)).toEqual([]);
  expect(await listKeys(env.files, `remote-log/${UNKNOWN_ID}/`)).toEqual([]);
  expect(logger.lines.some((l) => l.includes(UNKNOWN_ID) && l.includes('deleted the tiered data'))).toBe(true);
});
