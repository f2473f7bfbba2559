import { isStrataError } from '../../core/common/errors';
import { isKafkaUuid } from '../../core/meta/kvMetadataStore';
import type { MetadataStore, PartitionStateInit } from '../../core/meta/metadataStore';
import { expectCode } from './versionedKv.contract';

/**
 * The behaviour every MetadataStore adapter owes the broker. `open` may be called again
 * after `close` on the same backing to check persistence.
 */
export interface MetadataStoreBacking {
  open(): Promise<MetadataStore>;
  destroy(): Promise<void>;
}

const state = (partition: number, extra: Partial<PartitionStateInit> = {}): PartitionStateInit => ({
  partition,
  leader: 0,
  leaderEpoch: 0,
  isr: [0],
  replicas: [0],
  logStartOffset: 0n,
  ...extra,
});

const topic = (name: string, partitions = 1, configs: Record<string, string> = {}) => ({
  name,
  partitions,
  replicationFactor: 1,
  configs,
});

export function metadataStoreContract(name: string, makeBacking: () => Promise<MetadataStoreBacking>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let backing: MetadataStoreBacking;
    let store: MetadataStore;

    beforeEach(async () => {
      backing = await makeBacking();
      store = await backing.open();
    });
    afterEach(async () => {
      await store.close();
      await backing.destroy();
    });

    const reopen = async (): Promise<void> => {
      await store.close();
      store = await backing.open();
    };

    test('the cluster id is created once, shared by concurrent callers, and survives reopen', async () => {
      const ids = await Promise.all([store.getOrCreateClusterId(), store.getOrCreateClusterId(), store.getOrCreateClusterId()]);
      expect(new Set(ids).size).toBe(1);
      expect(isKafkaUuid(ids[0])).toBe(true);
      await reopen();
      expect(await store.getOrCreateClusterId()).toBe(ids[0]);
    });

    test('createTopic stores the record at version 1 with a fresh Kafka uuid', async () => {
      const before = Date.now();
      const t = await store.createTopic(topic('orders', 3, { 'retention.ms': '1000' }));
      expect(t).toMatchObject({ name: 'orders', partitions: 3, replicationFactor: 1, configs: { 'retention.ms': '1000' }, version: 1 });
      expect(isKafkaUuid(t.topicId)).toBe(true);
      expect(t.topicId.startsWith('-')).toBe(false);
      expect(t.createdAt).toBeGreaterThanOrEqual(before);
      expect(await store.getTopic('orders')).toEqual(t);
      const other = await store.createTopic(topic('payments'));
      expect(other.topicId).not.toBe(t.topicId);
    });

    test('createTopic keeps a given topicId and createdAt', async () => {
      const t = await store.createTopic({ ...topic('given'), topicId: 'AAAAAAAAAAAAAAAAAAAAAg', createdAt: 42 });
      expect(t.topicId).toBe('AAAAAAAAAAAAAAAAAAAAAg');
      expect(t.createdAt).toBe(42);
    });

    test('a taken name fails with TOPIC_EXISTS, also when racing', async () => {
      await store.createTopic(topic('dup'));
      await expectCode(store.createTopic(topic('dup')), 'TOPIC_EXISTS');
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.createTopic(topic('raced', 2, {}), [state(0), state(1)])));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isStrataError(r.reason, 'TOPIC_EXISTS')).toBe(true);
      const winner = (await store.getTopic('raced'))!;
      expect((await store.listPartitionStates(winner.topicId)).map((s) => s.partition)).toEqual([0, 1]);
    });

    test('invalid topics are refused before anything is written', async () => {
      await expectCode(store.createTopic(topic('bad name')), 'TOPIC_NAME_INVALID');
      await expectCode(store.createTopic(topic('zero', 0)), 'PARTITIONS_INVALID');
      await expectCode(store.createTopic({ ...topic('rf'), replicationFactor: 0 }), 'REPLICATION_FACTOR_INVALID');
      await expectCode(store.createTopic(topic('short', 3), [state(0), state(1)]), 'PARTITIONS_INVALID');
      await expectCode(store.createTopic(topic('twice', 2), [state(0), state(0)]), 'PARTITIONS_INVALID');
      expect(await store.listTopics()).toEqual([]);
    });

    test('listTopics is sorted by name', async () => {
      for (const n of ['b', 'a.x', 'a', 'C', 'a_x']) await store.createTopic(topic(n));
      expect((await store.listTopics()).map((t) => t.name)).toEqual(['C', 'a', 'a.x', 'a_x', 'b']);
    });

    test('partition states are created with the topic and listed in numeric order', async () => {
      const states = Array.from({ length: 12 }, (_, p) => state(p, { leaderEpoch: p, logStartOffset: BigInt(p) * 10n ** 15n }));
      const t = await store.createTopic(topic('many', 12), states);
      const listed = await store.listPartitionStates(t.topicId);
      expect(listed.map((s) => s.partition)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(listed[11]).toEqual({ ...states[11], topicId: t.topicId, version: 1 });
      expect(await store.getPartitionState(t.topicId, 10)).toEqual({ ...states[10], topicId: t.topicId, version: 1 });
      expect(await store.getPartitionState(t.topicId, 12)).toBeNull();
    });

    test('updateTopic is conditional on the version and replaces configs as a whole', async () => {
      const t = await store.createTopic(topic('u', 1, { 'retention.ms': '1', 'segment.bytes': '1024' }));
      const u = await store.updateTopic('u', 1, { configs: { 'cleanup.policy': 'compact' } });
      expect(u).toEqual({ ...t, configs: { 'cleanup.policy': 'compact' }, version: 2 });
      await expectCode(store.updateTopic('u', 1, { configs: {} }), 'VERSION_CONFLICT');
      await expectCode(store.updateTopic('nope', 1, { configs: {} }), 'TOPIC_NOT_FOUND');
      expect(await store.getTopic('u')).toEqual(u);
      const racers = await Promise.allSettled([1, 2, 3].map((i) => store.updateTopic('u', 2, { configs: { 'retention.ms': String(i) } })));
      expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    test('partitions only grow, and added partitions get their states', async () => {
      const t = await store.createTopic(topic('grow', 2), [state(0), state(1)]);
      await expectCode(store.updateTopic('grow', 1, { partitions: 1 }), 'PARTITIONS_INVALID');
      await expectCode(store.updateTopic('grow', 1, { partitions: 4, newPartitionStates: [state(2)] }), 'PARTITIONS_INVALID');
      const u = await store.updateTopic('grow', 1, { partitions: 4, newPartitionStates: [state(2), state(3, { leader: 7 })] });
      expect(u.partitions).toBe(4);
      expect(u.topicId).toBe(t.topicId);
      expect((await store.getPartitionState(t.topicId, 3))!.leader).toBe(7);
      expect((await store.listPartitionStates(t.topicId)).length).toBe(4);
    });

    test('deleteTopic removes the topic and its partition states; a new topic of that name is a new topic', async () => {
      const t = await store.createTopic(topic('del', 2), [state(0), state(1)]);
      await expectCode(store.deleteTopic('del', 2), 'VERSION_CONFLICT');
      await store.deleteTopic('del', 1);
      expect(await store.getTopic('del')).toBeNull();
      expect(await store.listPartitionStates(t.topicId)).toEqual([]);
      await expectCode(store.deleteTopic('del'), 'TOPIC_NOT_FOUND');
      const again = await store.createTopic(topic('del'));
      expect(again.version).toBe(1);
      expect(again.topicId).not.toBe(t.topicId);
      await store.deleteTopic('del'); // without a version: unconditional
      expect(await store.listTopics()).toEqual([]);
    });

    test('completed creates and deletes leave no intent behind: collectOrphans finds nothing', async () => {
      const kept = await store.createTopic(topic('kept', 2), [state(0), state(1)]);
      await store.createTopic(topic('gone', 2), [state(0), state(1)]);
      await store.deleteTopic('gone');
      expect(await store.collectOrphans({ minAgeMs: 0 })).toEqual({ pendingChanges: 0, topicIds: [] });
      expect((await store.listPartitionStates(kept.topicId)).length).toBe(2);
    });

    test('partition state writes are conditional, and every lost condition is VERSION_CONFLICT', async () => {
      const t = await store.createTopic(topic('ps'));
      const base = { ...state(0), topicId: t.topicId };
      const a = await store.putPartitionState(base, null);
      expect(a.version).toBe(1);
      await expectCode(store.putPartitionState(base, null), 'VERSION_CONFLICT');
      await expectCode(store.putPartitionState(base, 0), 'VERSION_CONFLICT');
      const b = await store.putPartitionState({ ...base, leaderEpoch: 1, isr: [0, 1], logStartOffset: 2n ** 62n + 1n }, 1);
      expect(b).toEqual({ ...base, leaderEpoch: 1, isr: [0, 1], logStartOffset: 2n ** 62n + 1n, version: 2 });
      await expectCode(store.putPartitionState({ ...base, leaderEpoch: 9 }, 1), 'VERSION_CONFLICT');
      await expectCode(store.putPartitionState({ ...base, partition: 5 }, 3), 'VERSION_CONFLICT');
      expect(await store.getPartitionState(t.topicId, 0)).toEqual(b);
      // A fenced leader (stale epoch read) loses to one that read the latest version.
      const racers = await Promise.allSettled([2, 3, 4].map((e) => store.putPartitionState({ ...base, leaderEpoch: e }, 2)));
      expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    test('brokers register conditionally and list by node id', async () => {
      const b10 = await store.putBroker({ nodeId: 10, host: 'h10', port: 9092, rack: 'az1', epoch: 1 }, null);
      await store.putBroker({ nodeId: 2, host: 'h2', port: 9093, rack: null, epoch: 1 }, 0);
      expect(b10.version).toBe(1);
      await expectCode(store.putBroker({ nodeId: 10, host: 'x', port: 1, rack: null, epoch: 2 }, null), 'VERSION_CONFLICT');
      const b10b = await store.putBroker({ nodeId: 10, host: 'h10b', port: 9092, rack: 'az1', epoch: 2 }, 1);
      expect(await store.getBroker(10)).toEqual(b10b);
      expect((await store.listBrokers()).map((b) => b.nodeId)).toEqual([2, 10]);
      await store.deleteBroker(2);
      await store.deleteBroker(2);
      expect(await store.getBroker(2)).toBeNull();
    });

    test('namespaces are separate key spaces with the same conditional rules', async () => {
      const offsets = store.namespace('offsets');
      const pids = store.namespace('producer-ids');
      await offsets.put('g1/t/0', { offset: 5n }, null);
      await pids.put('g1/t/0', 'other', null);
      await expectCode(offsets.put('g1/t/0', { offset: 6n }, null), 'KEY_EXISTS');
      await offsets.put('g1/t/0', { offset: 6n }, 1);
      await offsets.put('g2/t/0', { offset: 1n }, null);
      expect((await offsets.list('g1/')).map((e) => [e.key, e.value])).toEqual([['g1/t/0', { offset: 6n }]]);
      expect((await offsets.list('')).map((e) => e.key)).toEqual(['g1/t/0', 'g2/t/0']);
      expect((await pids.get('g1/t/0'))!.value).toBe('other');
      expect(await store.listTopics()).toEqual([]);
      expect(() => store.namespace('Bad/Name')).toThrow(TypeError);
    });

    test('everything survives close and reopen', async () => {
      const clusterId = await store.getOrCreateClusterId();
      const t = await store.createTopic(topic('keep', 2, { 'retention.ms': '5' }), [state(0), state(1, { logStartOffset: 2n ** 63n - 1n })]);
      const u = await store.updateTopic('keep', 1, { configs: { 'retention.ms': '6' } });
      await store.createTopic(topic('gone'));
      await store.deleteTopic('gone');
      const b = await store.putBroker({ nodeId: 1, host: 'h', port: 1, rack: null, epoch: 3 }, null);
      await store.namespace('offsets').put('k', 7n, null);
      await reopen();
      expect(await store.getOrCreateClusterId()).toBe(clusterId);
      expect(await store.listTopics()).toEqual([u]);
      expect((await store.getPartitionState(t.topicId, 1))!.logStartOffset).toBe(2n ** 63n - 1n);
      expect(await store.getBroker(1)).toEqual(b);
      expect((await store.namespace('offsets').get('k'))!.value).toBe(7n);
    });
  });
}
