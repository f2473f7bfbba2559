import { StrataError, isStrataError } from '../common/errors';
import { validateTopicName } from '../config/topicName';
import { randomUuid } from '../protocol/reader';
import type { KvValue } from './json';
import type {
  BrokerRecord,
  MetadataStore,
  NewTopic,
  OrphanReport,
  PartitionStateInit,
  PartitionStateRecord,
  TopicChanges,
  TopicRecord,
} from './metadataStore';
import { prefixedKv, type KvEntry, type VersionedKv } from './versionedKv';

/**
 * MetadataStore over any VersionedKv. Key layout (numbers zero-padded so that key order is
 * numeric order, which a prefix listing returns):
 *
 *   cluster                          { clusterId }
 *   topic/<name>                     { name, topicId, partitions, replicationFactor, configs, createdAt }
 *   partition/<topicId>/<0000000007> { topicId, partition, leader, leaderEpoch, isr, replicas, logStartOffset }
 *   broker/<0000000003>              { nodeId, host, port, endpoints?, rack, epoch, incarnationId?, leaseExpiresAt? } (the lease: brokerLease.ts)
 *   pending/<topicId>                { op: 'create' | 'delete', name, at }: a multi-record change in
 *                                    progress (collectOrphans finishes or undoes it after a crash)
 *   ns/<name>/<key>                  whatever the namespace's owner stores
 *
 * A record's version is the item's version in the KV, so it never needs storing twice.
 */
const CLUSTER_KEY = 'cluster';
const TOPIC = 'topic/';
const PARTITION = 'partition/';
const BROKER = 'broker/';
const PENDING = 'pending/';
const NAMESPACE = 'ns/';

const pad = (n: number): string => String(n).padStart(10, '0');
const topicKey = (name: string): string => TOPIC + name;
const partitionPrefix = (topicId: string): string => `${PARTITION}${topicId}/`;
const partitionKey = (topicId: string, p: number): string => partitionPrefix(topicId) + pad(p);
const brokerKey = (nodeId: number): string => BROKER + pad(nodeId);
const pendingKey = (topicId: string): string => PENDING + topicId;

/** How long a pending change may be in progress before collectOrphans treats it as abandoned. */
export const DEFAULT_ORPHAN_MIN_AGE_MS = 60_000;

interface PendingChange {
  op: 'create' | 'delete';
  name: string;
  /** ms since the epoch. */
  at: number;
}

/** Kafka's textual uuid: 16 bytes as unpadded URL-safe base64. */
export function isKafkaUuid(s: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(s) && Buffer.from(s, 'base64url').toString('base64url') === s && s !== 'AAAAAAAAAAAAAAAAAAAAAA';
}

export class KvMetadataStore implements MetadataStore {
  constructor(private readonly kv: VersionedKv) {}

  async getOrCreateClusterId(): Promise<string> {
    const existing = await this.kv.get(CLUSTER_KEY);
    if (existing) return (existing.value as { clusterId: string }).clusterId;
    const clusterId = randomUuid();
    try {
      await this.kv.put(CLUSTER_KEY, { clusterId }, null);
      return clusterId;
    } catch (e) {
      // Another broker created it first: theirs is the cluster's id.
      if (!isStrataError(e, 'KEY_EXISTS')) throw e;
      const winner = await this.kv.get(CLUSTER_KEY);
      return (winner!.value as { clusterId: string }).clusterId;
    }
  }

  async createTopic(t: NewTopic, partitionStates?: PartitionStateInit[]): Promise<TopicRecord> {
    validateTopicName(t.name);
    checkCount(t.partitions, 'partitions', 'PARTITIONS_INVALID');
    checkCount(t.replicationFactor, 'replication factor', 'REPLICATION_FACTOR_INVALID');
    const topicId = t.topicId ?? randomUuid();
    if (!isKafkaUuid(topicId)) throw new TypeError(`topicId ${topicId} is not a Kafka uuid`);
    if (partitionStates) checkPartitionRange(partitionStates, 0, t.partitions);
    const record: Omit<TopicRecord, 'version'> = {
      name: t.name,
      topicId,
      partitions: t.partitions,
      replicationFactor: t.replicationFactor,
      configs: { ...t.configs },
      createdAt: t.createdAt ?? Date.now(),
    };
    // Cheap early answer; the conditional put below is what actually decides.
    if (await this.kv.get(topicKey(t.name))) throw topicExists(t.name);

    const written: string[] = [];
    const pending = (partitionStates?.length ?? 0) > 0;
    try {
      // The intent goes first: a crash before the topic record commits leaves it pointing at
      // the partition states no topic names, for collectOrphans.
      if (pending) await this.putPending(topicId, { op: 'create', name: t.name, at: Date.now() });
      for (const s of partitionStates ?? []) {
        const key = partitionKey(topicId, s.partition);
        await this.kv.put(key, partitionValue({ ...s, topicId }), null);
        written.push(key);
      }
      const version = await this.kv.put(topicKey(t.name), topicValue(record), null);
      if (pending) await this.kv.delete(pendingKey(topicId)).catch(() => undefined);
      return { ...record, version };
    } catch (e) {
      const undone = await Promise.all(written.map((k) => this.kv.delete(k).then(() => true, () => false)));
      // The intent stays (for collectOrphans) unless every state it covers is gone.
      if (pending && undone.every(Boolean)) await this.kv.delete(pendingKey(topicId)).catch(() => undefined);
      if (isStrataError(e, 'KEY_EXISTS')) {
        throw written.length === (partitionStates?.length ?? 0)
          ? topicExists(t.name)
          : new StrataError('TOPIC_EXISTS', `Topic id ${topicId} is already in use.`);
      }
      throw e;
    }
  }

  async getTopic(name: string): Promise<TopicRecord | null> {
    const e = await this.kv.get(topicKey(name));
    return e && toTopic(e);
  }

  async listTopics(): Promise<TopicRecord[]> {
    return (await this.kv.list(TOPIC)).map(toTopic);
  }

  async updateTopic(name: string, expectedVersion: number, changes: TopicChanges): Promise<TopicRecord> {
    const cur = await this.getTopic(name);
    if (!cur) throw topicNotFound(name);
    if (cur.version !== expectedVersion) throw versionConflict(`Topic '${name}'`, expectedVersion, cur.version);
    const partitions = changes.partitions ?? cur.partitions;
    checkCount(partitions, 'partitions', 'PARTITIONS_INVALID');
    if (partitions < cur.partitions) {
      throw new StrataError('PARTITIONS_INVALID', `Topic '${name}' has ${cur.partitions} partitions; the count can only grow (asked for ${partitions}).`);
    }
    if (changes.newPartitionStates) checkPartitionRange(changes.newPartitionStates, cur.partitions, partitions);
    // New partitions' states go first: until the topic record below commits, no reader
    // looks at partitions ≥ cur.partitions, so leftovers of an earlier lost race are overwritten.
    for (const s of changes.newPartitionStates ?? []) {
      const key = partitionKey(cur.topicId, s.partition);
      const existing = await this.kv.get(key);
      await this.kv.put(key, partitionValue({ ...s, topicId: cur.topicId }), existing ? existing.version : null);
    }
    const next: Omit<TopicRecord, 'version'> = {
      name,
      topicId: cur.topicId,
      partitions,
      replicationFactor: cur.replicationFactor,
      configs: changes.configs ? { ...changes.configs } : cur.configs,
      createdAt: cur.createdAt,
    };
    try {
      const version = await this.kv.put(topicKey(name), topicValue(next), expectedVersion);
      return { ...next, version };
    } catch (e) {
      if (isStrataError(e, 'VERSION_CONFLICT') && !(await this.kv.get(topicKey(name)))) throw topicNotFound(name);
      throw e;
    }
  }

  async deleteTopic(name: string, expectedVersion?: number): Promise<void> {
    let topicId: string;
    for (;;) {
      const cur = await this.getTopic(name);
      if (!cur) throw topicNotFound(name);
      if (expectedVersion !== undefined && cur.version !== expectedVersion) {
        throw versionConflict(`Topic '${name}'`, expectedVersion, cur.version);
      }
      try {
        // The intent first: a crash after the topic record goes leaves it naming the
        // partition states still to delete, for collectOrphans.
        await this.putPending(cur.topicId, { op: 'delete', name, at: Date.now() });
        // Conditional on the version read, so the partition states removed below are
        // those of the topic that was actually deleted.
        await this.kv.delete(topicKey(name), cur.version);
        topicId = cur.topicId;
        break;
      } catch (e) {
        if (isStrataError(e, 'NOT_FOUND')) throw topicNotFound(name);
        if (isStrataError(e, 'VERSION_CONFLICT') && expectedVersion === undefined) continue;
        throw e;
      }
    }
    await this.deletePartitionStates(topicId);
  }

  /** Deletes a topic id's partition states, then its intent; false if one of them could not be deleted. */
  private async deletePartitionStates(topicId: string): Promise<boolean> {
    let all = true;
    for (const s of await this.kv.list(partitionPrefix(topicId))) {
      await this.kv.delete(s.key).catch(() => (all = false));
    }
    if (all) await this.kv.delete(pendingKey(topicId)).catch(() => undefined);
    return all;
  }

  private async putPending(topicId: string, change: PendingChange): Promise<void> {
    const cur = await this.kv.get(pendingKey(topicId));
    await this.kv.put(pendingKey(topicId), { ...change } as unknown as KvValue, cur ? cur.version : null);
  }

  async collectOrphans(opts: { minAgeMs?: number; now?: number } = {}): Promise<OrphanReport> {
    const minAgeMs = opts.minAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS;
    const now = opts.now ?? Date.now();
    const report: OrphanReport = { pendingChanges: 0, topicIds: [] };
    const pending = await this.kv.list(PENDING);
    if (pending.length === 0) return report;
    const live = new Set((await this.listTopics()).map((t) => t.topicId));
    for (const e of pending) {
      const change = e.value as unknown as PendingChange;
      if (now - change.at < minAgeMs) continue; // may still be in progress
      const topicId = e.key.slice(PENDING.length);
      report.pendingChanges++;
      if (live.has(topicId)) {
        // The create committed, or the delete never did: nothing is orphaned.
        await this.kv.delete(e.key, e.version).catch(() => undefined);
        continue;
      }
      if (await this.deletePartitionStates(topicId)) report.topicIds.push(topicId);
    }
    return report;
  }

  async getPartitionState(topicId: string, partition: number): Promise<PartitionStateRecord | null> {
    const e = await this.kv.get(partitionKey(topicId, partition));
    return e && toPartitionState(e);
  }

  async listPartitionStates(topicId: string): Promise<PartitionStateRecord[]> {
    return (await this.kv.list(partitionPrefix(topicId))).map(toPartitionState);
  }

  async putPartitionState(state: Omit<PartitionStateRecord, 'version'>, expectedVersion: number | null): Promise<PartitionStateRecord> {
    if (!Number.isSafeInteger(state.partition) || state.partition < 0) throw new TypeError(`invalid partition ${state.partition}`);
    if (!isKafkaUuid(state.topicId)) throw new TypeError(`topicId ${state.topicId} is not a Kafka uuid`);
    const value = partitionValue(state);
    const version = await conditional(`Partition ${state.topicId}/${state.partition}`, () =>
      this.kv.put(partitionKey(state.topicId, state.partition), value, expectedVersion),
    );
    return { ...copyPartitionState(state), version };
  }

  async putBroker(broker: Omit<BrokerRecord, 'version'>, expectedVersion: number | null): Promise<BrokerRecord> {
    if (!Number.isSafeInteger(broker.nodeId) || broker.nodeId < 0) throw new TypeError(`invalid node id ${broker.nodeId}`);
    const value: Omit<BrokerRecord, 'version'> = { nodeId: broker.nodeId, host: broker.host, port: broker.port, rack: broker.rack, epoch: broker.epoch };
    if (broker.endpoints !== undefined) value.endpoints = broker.endpoints.map((e) => ({ listener: e.listener, host: e.host, port: e.port, securityProtocol: e.securityProtocol }));
    if (broker.incarnationId !== undefined) value.incarnationId = broker.incarnationId;
    if (broker.leaseExpiresAt !== undefined) value.leaseExpiresAt = broker.leaseExpiresAt;
    const version = await conditional(`Broker ${broker.nodeId}`, () =>
      this.kv.put(brokerKey(broker.nodeId), value as unknown as KvValue, expectedVersion),
    );
    return { ...value, version };
  }

  async getBroker(nodeId: number): Promise<BrokerRecord | null> {
    const e = await this.kv.get(brokerKey(nodeId));
    return e && toBroker(e);
  }

  async listBrokers(): Promise<BrokerRecord[]> {
    return (await this.kv.list(BROKER)).map(toBroker);
  }

  async deleteBroker(nodeId: number, expectedVersion?: number): Promise<void> {
    await this.kv.delete(brokerKey(nodeId), expectedVersion);
  }

  namespace(name: string): VersionedKv {
    if (!/^[a-z0-9._-]+$/.test(name)) throw new TypeError(`invalid metadata namespace '${name}'`);
    return prefixedKv(this.kv, `${NAMESPACE}${name}/`);
  }

  close(): Promise<void> {
    return this.kv.close();
  }
}

function checkCount(n: number, what: string, code: 'PARTITIONS_INVALID' | 'REPLICATION_FACTOR_INVALID'): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new StrataError(code, `Number of ${what} must be larger than 0 (got ${n}).`);
}

/** States must cover exactly partitions from..to-1, once each. */
function checkPartitionRange(states: PartitionStateInit[], from: number, to: number): void {
  const seen = new Set(states.map((s) => s.partition));
  const ok = states.length === to - from && seen.size === states.length && states.every((s) => s.partition >= from && s.partition < to);
  if (!ok) {
    throw new StrataError(
      'PARTITIONS_INVALID',
      `Partition states must cover partitions ${from}..${to - 1} exactly once (got ${states.map((s) => s.partition).join(', ') || 'none'}).`,
    );
  }
}

function topicExists(name: string): StrataError {
  return new StrataError('TOPIC_EXISTS', `Topic '${name}' already exists.`);
}

function topicNotFound(name: string): StrataError {
  return new StrataError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
}

function versionConflict(what: string, expected: number, actual: number): StrataError {
  return new StrataError('VERSION_CONFLICT', `${what} is at version ${actual}, not the expected ${expected}.`);
}

/** Runs a conditional KV write, reporting every lost condition as VERSION_CONFLICT. */
async function conditional<T>(what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (isStrataError(e, 'KEY_EXISTS')) throw new StrataError('VERSION_CONFLICT', `${what} already exists.`, { cause: e });
    if (isStrataError(e, 'VERSION_CONFLICT')) throw new StrataError('VERSION_CONFLICT', `${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

function topicValue(t: Omit<TopicRecord, 'version'>): KvValue {
  return {
    name: t.name,
    topicId: t.topicId,
    partitions: t.partitions,
    replicationFactor: t.replicationFactor,
    configs: { ...t.configs },
    createdAt: t.createdAt,
  };
}

function copyPartitionState(s: Omit<PartitionStateRecord, 'version'>): Omit<PartitionStateRecord, 'version'> {
  const out: Omit<PartitionStateRecord, 'version'> = {
    topicId: s.topicId,
    partition: s.partition,
    leader: s.leader,
    leaderEpoch: s.leaderEpoch,
    isr: [...s.isr],
    replicas: [...s.replicas],
    logStartOffset: s.logStartOffset,
  };
  // Only during a reassignment, so records without one keep their shape.
  if (s.addingReplicas !== undefined && s.addingReplicas.length > 0) out.addingReplicas = [...s.addingReplicas];
  if (s.removingReplicas !== undefined && s.removingReplicas.length > 0) out.removingReplicas = [...s.removingReplicas];
  return out;
}

function partitionValue(s: Omit<PartitionStateRecord, 'version'>): KvValue {
  if (typeof s.logStartOffset !== 'bigint') throw new TypeError('logStartOffset must be a bigint');
  return copyPartitionState(s) as unknown as KvValue;
}

function malformed(e: KvEntry): StrataError {
  return new StrataError('STORAGE_IO', `metadata record ${e.key} is malformed`);
}

function toTopic(e: KvEntry): TopicRecord {
  const v = e.value as Partial<TopicRecord> | null;
  if (!v || typeof v.name !== 'string' || typeof v.topicId !== 'string' || typeof v.partitions !== 'number') throw malformed(e);
  return {
    name: v.name,
    topicId: v.topicId,
    partitions: v.partitions,
    replicationFactor: v.replicationFactor as number,
    configs: (v.configs ?? {}) as Record<string, string>,
    createdAt: v.createdAt as number,
    version: e.version,
  };
}

function toPartitionState(e: KvEntry): PartitionStateRecord {
  const v = e.value as Partial<PartitionStateRecord> | null;
  if (!v || typeof v.topicId !== 'string' || typeof v.partition !== 'number' || typeof v.logStartOffset !== 'bigint') throw malformed(e);
  return {
    topicId: v.topicId,
    partition: v.partition,
    leader: v.leader as number,
    leaderEpoch: v.leaderEpoch as number,
    isr: v.isr as number[],
    replicas: v.replicas as number[],
    ...(Array.isArray(v.addingReplicas) ? { addingReplicas: v.addingReplicas as number[] } : {}),
    ...(Array.isArray(v.removingReplicas) ? { removingReplicas: v.removingReplicas as number[] } : {}),
    logStartOffset: v.logStartOffset,
    version: e.version,
  };
}

function toBroker(e: KvEntry): BrokerRecord {
  const v = e.value as Partial<BrokerRecord> | null;
  if (!v || typeof v.nodeId !== 'number' || typeof v.host !== 'string') throw malformed(e);
  const b: BrokerRecord = { nodeId: v.nodeId, host: v.host, port: v.port as number, rack: v.rack ?? null, epoch: v.epoch as number, version: e.version };
  if (Array.isArray(v.endpoints)) b.endpoints = v.endpoints;
  if (v.incarnationId !== undefined) b.incarnationId = v.incarnationId;
  if (v.leaseExpiresAt !== undefined) b.leaseExpiresAt = v.leaseExpiresAt;
  return b;
}
