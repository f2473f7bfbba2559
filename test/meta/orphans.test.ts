/**
 * Crashes in the middle of createTopic and deleteTopic, which are several single-record
 * writes: the store is cut off after N writes (every later call fails, as for a process that
 * died), and a store opened afresh on the same EmbeddedKv collects what was left behind.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { PartitionStateInit } from '../../core/meta/metadataStore';
import type { VersionedKv } from '../../core/meta/versionedKv';

const state = (partition: number): PartitionStateInit => ({ partition, leader: 0, leaderEpoch: 0, isr: [0], replicas: [0], logStartOffset: 0n });
const states = (n: number): PartitionStateInit[] => Array.from({ length: n }, (_, i) => state(i));

/** `kv`, dying after `writes` puts/deletes: every later call rejects, nothing more is written. */
function dyingAfter(kv: VersionedKv, writes: number): VersionedKv {
  let left = writes;
  const dead = (): Promise<never> => Promise.reject(new Error('process died'));
  const write = <T>(op: () => Promise<T>): Promise<T> => (left-- > 0 ? op() : dead());
  return {
    get: (k) => (left > 0 ? kv.get(k) : dead()),
    list: (p) => (left > 0 ? kv.list(p) : dead()),
    put: (k, v, e) => write(() => kv.put(k, v, e)),
    delete: (k, e) => write(() => kv.delete(k, e)),
    close: async () => undefined,
  };
}

let dir: string;
let kv: EmbeddedKv;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-orphans-'));
  kv = await EmbeddedKv.open(dir);
});
afterEach(async () => {
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a create that died before its topic record: the partition states are collected once the intent is old enough', async () => {
  // Writes: intent, 3 partition states; the topic record never comes.
  const dying = new KvMetadataStore(dyingAfter(kv, 4));
  await expect(dying.createTopic({ name: 'half', partitions: 3, replicationFactor: 1, configs: {} }, states(3))).rejects.toThrow('process died');
  expect((await kv.list('partition/')).length).toBe(3);

  const store = new KvMetadataStore(kv);
  expect(await store.getTopic('half')).toBeNull();
  // Too young: it could be a create still in progress on another broker.
  expect(await store.collectOrphans()).toEqual({ pendingChanges: 0, topicIds: [] });
  expect((await kv.list('partition/')).length).toBe(3);

  const report = await store.collectOrphans({ now: Date.now() + 61_000 });
  expect(report.pendingChanges).toBe(1);
  expect(report.topicIds).toHaveLength(1);
  expect(await kv.list('partition/')).toEqual([]);
  expect(await kv.list('pending/')).toEqual([]);
  expect(await store.collectOrphans({ minAgeMs: 0 })).toEqual({ pendingChanges: 0, topicIds: [] });
});

test('a delete that died after the topic record went: its partition states are collected', async () => {
  const store = new KvMetadataStore(kv);
  const t = await store.createTopic({ name: 'doomed', partitions: 2, replicationFactor: 1, configs: {} }, states(2));
  // Writes: intent, topic record delete; the partition states stay.
  await expect(new KvMetadataStore(dyingAfter(kv, 2)).deleteTopic('doomed')).rejects.toThrow('process died');
  expect(await store.getTopic('doomed')).toBeNull();
  expect((await store.listPartitionStates(t.topicId)).length).toBe(2);

  expect(await store.collectOrphans({ minAgeMs: 0 })).toEqual({ pendingChanges: 1, topicIds: [t.topicId] });
  expect(await store.listPartitionStates(t.topicId)).toEqual([]);
});

test('a delete that died before the topic record went: the topic and its states are untouched, the stale intent goes', async () => {
  const store = new KvMetadataStore(kv);
  const t = await store.createTopic({ name: 'alive', partitions: 2, replicationFactor: 1, configs: {} }, states(2));
  await expect(new KvMetadataStore(dyingAfter(kv, 1)).deleteTopic('alive')).rejects.toThrow('process died');
  expect(await kv.list('pending/')).toHaveLength(1);

  expect(await store.collectOrphans({ minAgeMs: 0 })).toEqual({ pendingChanges: 1, topicIds: [] });
  expect(await store.getTopic('alive')).toMatchObject({ topicId: t.topicId });
  expect((await store.listPartitionStates(t.topicId)).length).toBe(2);
  expect(await kv.list('pending/')).toEqual([]);
  // And the topic can still be deleted normally.
  await store.deleteTopic('alive');
  expect(await store.listPartitionStates(t.topicId)).toEqual([]);
});
