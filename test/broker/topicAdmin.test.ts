/**
 * TopicAdmin's all-or-nothing topic creation, in-process on real parts (the embedded
 * metadata store, the log and partition managers, the orphan collector) with failures injected
 * where a real broker cannot easily be made to fail: the tiered view failing to open after the
 * record was stored (the record is deleted again before the error is answered), that deletion
 * failing too (the topic stays hidden and the orphan collector finishes it), and the store's
 * acknowledgement getting lost after the write landed (the client is told it succeeded).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OrphanCollector } from '../../core/broker/orphanCollector';
import { TopicAdmin, type TopicObserver } from '../../core/broker/topicAdmin';
import { MetadataCache } from '../../core/cluster/metadataCache';
import { StrataError } from '../../core/common/errors';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { LogManager } from '../../core/log/logManager';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { MetadataStore } from '../../core/meta/metadataStore';
import { PartitionManager } from '../../core/partition/partitionManager';
import type { TierManager } from '../../core/tier/tierManager';
import { memoryLogger } from '../tier/tierHelpers';
import { waitFor } from '../helpers/waitFor';

let root: string;
let kv: EmbeddedKv;
let store: KvMetadataStore;
let partitions: PartitionManager;
let registry: TopicAdmin;
let logger: ReturnType<typeof memoryLogger>;
/** Failures to inject, per store method: how many calls still fail. */
let failures: Partial<Record<'createTopicAfterWrite' | 'deleteTopic' | 'getTopic', number>>;
/** Whether the observer fails when partitions open. */
let observerFails: boolean;
let openedIds: string[];

beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-registry-'));
  kv = await EmbeddedKv.open(path.join(root, 'meta'));
  store = new KvMetadataStore(kv);
  failures = {};
  observerFails = false;
  openedIds = [];
  logger = memoryLogger();
  const faulty = new Proxy(store, {
    get(target, prop, receiver) {
      const real = Reflect.get(target, prop, receiver) as unknown;
      if (typeof real !== 'function') return real;
      const fn = real as (...a: unknown[]) => Promise<unknown>;
      const take = (k: keyof typeof failures): boolean => {
        if ((failures[k] ?? 0) <= 0) return false;
        failures[k]! -= 1;
        return true;
      };
      if (prop === 'createTopic') {
        return async (...a: unknown[]) => {
          const r = await fn.apply(target, a);
          if (take('createTopicAfterWrite')) throw new StrataError('STORE_UNAVAILABLE', 'the answer was lost');
          return r;
        };
      }
      if (prop === 'deleteTopic' || prop === 'getTopic') {
        return async (...a: unknown[]) => {
          if (take(prop)) throw new StrataError('STORE_UNAVAILABLE', `injected ${prop} failure`);
          return fn.apply(target, a);
        };
      }
      return fn.bind(target);
    },
  }) as MetadataStore;
  const logs = new LogManager(path.join(root, 'logs'), { retentionCheckIntervalMs: 1000, cleanerBackoffMs: 1000, cleaner: null, logger });
  const config = loadBrokerConfig({ flags: { 'log.dirs': root } });
  partitions = new PartitionManager(logs, { nodeId: config.nodeId, leaderEpoch: 0, logger });
  registry = new TopicAdmin(faulty, new MetadataCache(), partitions, config, logger);
  const observer: TopicObserver = {
    partitionsOpened: async (state) => {
      openedIds.push(state.topicId);
      if (observerFails) throw new Error('the object store is unreachable');
    },
    configChanged: async () => undefined,
    topicDeleted: async () => undefined,
  };
  registry.setObserver(observer);
  await registry.load();
});

afterEach(async () => {
  await registry.close();
  partitions.close();
  await kv.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function partitionDirs(): string[] {
  return fs.readdirSync(path.join(root, 'logs')).sort();
}

function collector(): OrphanCollector {
  const tier = { deleteUnknownTopics: async () => [] } as unknown as TierManager;
  return new OrphanCollector(store, tier, registry, logger, 60_000);
}

test('a create that fails after its record was stored deletes the record and partition states again, then answers the error', async () => {
  observerFails = true;
  await expect(registry.create('half', 2, 1, {})).rejects.toMatchObject({ code: 'STORAGE_IO', message: expect.stringContaining('the object store is unreachable') });
  const [topicId] = openedIds;
  expect(registry.cache.get('half')).toBeUndefined();
  expect(await store.getTopic('half')).toBeNull();
  expect(await store.listPartitionStates(topicId)).toEqual([]);
  expect(registry.hasUnfinishedRemovals).toBe(false);
  await waitFor(() => partitionDirs().length === 0, { message: 'the partition directories are removed' });
  expect(logger.lines.some((l) => l.includes('creating topic half') && l.includes('the record was deleted again'))).toBe(true);

  observerFails = false;
  await registry.create('half', 2, 1, {});
  expect(registry.cache.get('half')?.partitions).toHaveLength(2);
});

test('when deleting the record fails too, the topic stays hidden and the orphan collector deletes it', async () => {
  observerFails = true;
  failures.deleteTopic = 2;
  await expect(registry.create('stuck', 1, 1, {})).rejects.toMatchObject({ code: 'STORAGE_IO' });
  const [topicId] = openedIds;
  expect(registry.cache.get('stuck')).toBeUndefined();
  expect((await store.getTopic('stuck'))?.topicId).toBe(topicId);
  expect(registry.hasUnfinishedRemovals).toBe(true);
  expect(logger.lines.some((l) => l.startsWith('ERROR') && l.includes('deleting the record failed too'))).toBe(true);

  // A new create of the name first finishes the old one's deletion; here that fails (the 2nd injected failure).
  observerFails = false;
  await expect(registry.create('stuck', 1, 1, {})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('still being deleted') });

  const c = collector();
  await waitFor(
    async () => {
      c.maybeRun(Date.now());
      await c.idle();
      return !registry.hasUnfinishedRemovals;
    },
    { timeoutMs: 10_000, message: 'the collector deleted the record of the failed create' },
  );
  expect(await store.getTopic('stuck')).toBeNull();
  expect(await store.listPartitionStates(topicId)).toEqual([]);
  expect(logger.lines.some((l) => l.includes(`deleted the record of topic stuck (${topicId}), whose creation had failed`))).toBe(true);

  await registry.create('stuck', 1, 1, {});
  expect(registry.cache.get('stuck')?.topicId).not.toBe(topicId);
});

test('a store write that landed although its answer was lost counts as created', async () => {
  failures.createTopicAfterWrite = 1;
  const state = await registry.create('landed', 1, 1, {});
  expect(state?.topicId).toBe((await store.getTopic('landed'))?.topicId);
  expect(registry.cache.get('landed')).toBeDefined();
});

test('when the outcome cannot be known (the store cannot be read either), a record that did land is deleted later', async () => {
  failures.createTopicAfterWrite = 1;
  failures.getTopic = 1;
  await expect(registry.create('unknown', 1, 1, {})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  expect(registry.cache.get('unknown')).toBeUndefined();
  expect(registry.hasUnfinishedRemovals).toBe(true);
  const c = collector();
  c.maybeRun(Date.now());
  await c.idle();
  expect(await store.getTopic('unknown')).toBeNull();
  expect(registry.hasUnfinishedRemovals).toBe(false);
  await waitFor(() => partitionDirs().length === 0, { message: 'the partition directory is removed' });
});

test("reserved and colliding names are refused with Kafka's messages; a name with '.' or '_' is created with a warning", async () => {
  await expect(registry.create('__consumer_offsets', 1, 1, {})).rejects.toMatchObject({ code: 'TOPIC_NAME_INVALID', message: expect.stringContaining('Creation of internal topic __consumer_offsets is prohibited') });
  await registry.create('metrics_cpu', 1, 1, {});
  expect(logger.lines.some((l) => l.startsWith('WARN') && l.includes("topics with a period ('.') or underscore ('_') could collide"))).toBe(true);
  await expect(registry.create('metrics.cpu', 1, 1, {})).rejects.toMatchObject({ code: 'TOPIC_NAME_INVALID', message: "Topic 'metrics.cpu' collides with existing topic: metrics_cpu" });
  await expect(registry.create('metrics.cpu', 1, 1, {}, true)).rejects.toMatchObject({ code: 'TOPIC_NAME_INVALID' });
  expect(await store.getTopic('metrics.cpu')).toBeNull();
});
