/**
 * Pending transactional offsets: what TxnOffsetCommit wrote for a producer's ongoing
 * transaction, kept apart from the committed offsets until the transaction ends (Kafka keeps
 * them as pendingTransactionalOffsetCommits until the marker reaches __consumer_offsets):
 * committed → they become the group's committed offsets; aborted → they are dropped.
 *
 * One metadata-store item per group/producer id/topic/partition, in the namespace the caller
 * passes (normally `store.namespace('txn-offsets')`), written before the TxnOffsetCommit is
 * acknowledged so that a crash between TxnOffsetCommit and the transaction's commit loses
 * nothing; those of the groups this broker coordinates are cached in memory (all of them at
 * start, or group by group as a coordinator that shares the store with other brokers takes
 * groups over).
 *
 *   key    <group>/<producerId>/<topic>/<partition>   group percent-encoded, or #<sha-256> when
 *                                                     too long (the rule of offsetStore.offsetKey)
 *   value  { group, producerId: bigint, producerEpoch, topic, partition, offset: bigint,
 *            leaderEpoch, metadata, commitTimestamp, topicId }
 *
 * Writes to one key run in the order they were issued (a per-key chain). A later write of the
 * same producer and partition replaces an earlier one whoever wrote it (the latest wins, as the
 * later record does in Kafka). Another broker's transaction coordinator may complete a
 * transaction of a group coordinated here straight in the store (readPending, deleteStored);
 * the group coordinator re-reads a group with pending offsets before it answers from them.
 */
import { readableKeyPart } from '../meta/keyPart';
import { PerKeyWrites, putLatestWins } from '../meta/perKeyWrites';
import { isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { KvValue, VersionedKv } from '../meta/versionedKv';
import type { TopicPartitionRef } from './offsetStore';

export interface PendingTxnOffset {
  topic: string;
  partition: number;
  producerEpoch: number;
  offset: bigint;
  /** -1 when the client did not send one. */
  leaderEpoch: number;
  metadata: string;
  /** When the TxnOffsetCommit was written (ms): orders it against regular commits of the same partition. */
  commitTimestamp: number;
  /** The topic id when committed: an offset of a deleted topic does not apply to a re-created one. */
  topicId: string;
}

interface Entry {
  value: PendingTxnOffset;
  version: number;
}

/** One stored pending offset, as read from the store. */
export interface StoredTxnOffset {
  producerId: bigint;
  value: PendingTxnOffset;
  version: number;
}

export function txnOffsetKey(group: string, producerId: bigint, topic: string, partition: number): string {
  return `${readableKeyPart(group)}/${producerId}/${topic}/${partition}`;
}

/** The key prefix of the group's pending offsets (of one producer, when given). */
function groupPrefix(group: string, producerId?: bigint): string {
  return producerId === undefined ? `${readableKeyPart(group)}/` : `${readableKeyPart(group)}/${producerId}/`;
}

/** Topic names cannot contain '/', so this identifies a partition within a producer's map. */
const tpKey = (topic: string, partition: number): string => `${topic}/${partition}`;

export class TxnOffsetStore {
  /** group → producer id → topic/partition → entry */
  private readonly cache = new Map<string, Map<bigint, Map<string, Entry>>>();
  private readonly writes = new PerKeyWrites();

  private constructor(private readonly kv: VersionedKv, private readonly logger: Logger) {}

  /** Reads every pending offset into memory, or (`loadAll` false) nothing: groups are then install()ed one by one. */
  static async open(kv: VersionedKv, logger: Logger, opts: { loadAll?: boolean } = {}): Promise<TxnOffsetStore> {
    const store = new TxnOffsetStore(kv, logger);
    if (opts.loadAll === false) return store;
    let n = 0;
    for (const [group, entries] of await store.readAll()) {
      store.install(group, entries);
      n += entries.length;
    }
    if (n > 0) logger.info(`loaded ${n} pending transactional offset(s) of ${store.cache.size} group(s)`);
    return store;
  }

  /** The group's pending offsets (of one producer, when given), read from the store (the cache is not touched). */
  async readGroup(group: string, producerId?: bigint): Promise<StoredTxnOffset[]> {
    return (await this.readItems(groupPrefix(group, producerId))).get(group) ?? [];
  }

  /** Every pending offset by group, read from the store (the cache is not touched). */
  readAll(): Promise<Map<string, StoredTxnOffset[]>> {
    return this.readItems('');
  }

  private async readItems(prefix: string): Promise<Map<string, StoredTxnOffset[]>> {
    const out = new Map<string, StoredTxnOffset[]>();
    for (const e of await this.kv.list(prefix)) {
      const parsed = parseValue(e.value);
      if (parsed === null || txnOffsetKey(parsed.group, parsed.producerId, parsed.value.topic, parsed.value.partition) !== e.key) {
        this.logger.warn(`ignoring malformed pending transactional offset item ${JSON.stringify(e.key)}`);
        continue;
      }
      let list = out.get(parsed.group);
      if (list === undefined) out.set(parsed.group, (list = []));
      list.push({ producerId: parsed.producerId, value: parsed.value, version: e.version });
    }
    return out;
  }

  /** Makes `entries` the cached pending offsets of the group (replacing whatever was cached for it). */
  install(group: string, entries: readonly StoredTxnOffset[]): void {
    this.cache.delete(group);
    for (const e of entries) this.setCached(group, e.producerId, { value: e.value, version: e.version });
  }

  /** Makes `entries` (read with readGroup for the producer) the producer's cached pending offsets in the group. */
  installProducer(group: string, producerId: bigint, entries: readonly StoredTxnOffset[]): void {
    const producers = this.cache.get(group);
    producers?.delete(producerId);
    if (producers !== undefined && producers.size === 0) this.cache.delete(group);
    for (const e of entries) if (e.producerId === producerId) this.setCached(group, producerId, { value: e.value, version: e.version });
  }

  /** Drops the group from the cache (another broker coordinates it now); the store keeps it. */
  forget(group: string): void {
    this.cache.delete(group);
  }

  /**
   * Deletes items read with readGroup, each conditionally on the version read: one rewritten
   * meanwhile (the producer's next transaction) stays. Runs in the keys' chains; the cache is
   * not touched. Rejects with the first failure other than a lost condition.
   */
  async deleteStored(group: string, items: readonly StoredTxnOffset[]): Promise<void> {
    const results = await Promise.all(
      items.map((it) =>
        this.writes.enqueue(txnOffsetKey(group, it.producerId, it.value.topic, it.value.partition), async (key) => {
          try {
            await this.kv.delete(key, it.version);
          } catch (e) {
            if (isStrataError(e, 'NOT_FOUND') || isStrataError(e, 'VERSION_CONFLICT')) return;
            throw e;
          }
        }),
      ),
    );
    const failed = results.find((r) => r !== null);
    if (failed) throw failed;
  }

  /** Groups with at least one pending transactional offset. */
  groups(): string[] {
    return [...this.cache.keys()];
  }

  hasGroup(group: string): boolean {
    return this.cache.has(group);
  }

  /** Whether any producer has a pending offset for the partition (OffsetFetch's UNSTABLE_OFFSET_COMMIT). */
  hasPending(group: string, topic: string, partition: number): boolean {
    for (const parts of this.cache.get(group)?.values() ?? []) if (parts.has(tpKey(topic, partition))) return true;
    return false;
  }

  /** The producer's pending offsets in the group. */
  pending(group: string, producerId: bigint): PendingTxnOffset[] {
    return [...(this.cache.get(group)?.get(producerId)?.values() ?? [])].map((e) => e.value);
  }

  /** Producer ids with pending offsets in the group. */
  producers(group: string): bigint[] {
    return [...(this.cache.get(group)?.keys() ?? [])];
  }

  /**
   * Writes each pending offset (a later one of the same producer and partition replaces the
   * earlier, as in Kafka); resolves, per entry in order, with null or the error that stopped it.
   */
  put(group: string, producerId: bigint, entries: readonly PendingTxnOffset[]): Promise<(Error | null)[]> {
    return Promise.all(
      entries.map((value) =>
        this.writes.enqueue(txnOffsetKey(group, producerId, value.topic, value.partition), async (key) => {
          const item: KvValue = { group, producerId, ...value };
          const cached = this.cache.get(group)?.get(producerId)?.get(tpKey(value.topic, value.partition));
          const version = await this.putFresh(key, item, cached?.version ?? null);
          this.setCached(group, producerId, { value, version });
        }),
      ),
    );
  }

  /**
   * Deletes the producer's pending offsets in the group (only `partitions` when given); resolves
   * with how many existed, or rejects with the first failure (what failed stays).
   */
  async remove(group: string, producerId: bigint, partitions?: readonly TopicPartitionRef[]): Promise<number> {
    const targets = partitions ?? this.pending(group, producerId);
    let removed = 0;
    const results = await Promise.all(
      targets.map(({ topic, partition }) =>
        this.writes.enqueue(txnOffsetKey(group, producerId, topic, partition), async (key) => {
          if (this.cache.get(group)?.get(producerId)?.get(tpKey(topic, partition)) === undefined) return;
          await this.kv.delete(key);
          this.deleteCached(group, producerId, topic, partition);
          removed++;
        }),
      ),
    );
    const failed = results.find((r) => r !== null);
    if (failed) throw failed;
    return removed;
  }

  /** Deletes every producer's pending offsets of the partitions, or of the whole group when `partitions` is null. */
  async removeAll(group: string, partitions: readonly TopicPartitionRef[] | null): Promise<number> {
    let removed = 0;
    for (const producerId of this.producers(group)) {
      const targets = partitions === null ? undefined : partitions.filter((tp) => this.cache.get(group)?.get(producerId)?.has(tpKey(tp.topic, tp.partition)));
      removed += await this.remove(group, producerId, targets);
    }
    return removed;
  }

  /** Resolves once every write issued so far has finished. */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  /** Writes over another writer's change of the item (the latest write wins). */
  private putFresh(key: string, value: KvValue, version: number | null): Promise<number> {
    return putLatestWins(this.kv, key, value, version, (e) => this.logger.warn(`pending transactional offset item ${JSON.stringify(key)} changed under us (${e.message}); writing over it`));
  }


  private setCached(group: string, producerId: bigint, e: Entry): void {
    let producers = this.cache.get(group);
    if (producers === undefined) this.cache.set(group, (producers = new Map()));
    let parts = producers.get(producerId);
    if (parts === undefined) producers.set(producerId, (parts = new Map()));
    parts.set(tpKey(e.value.topic, e.value.partition), e);
  }

  private deleteCached(group: string, producerId: bigint, topic: string, partition: number): void {
    const producers = this.cache.get(group);
    const parts = producers?.get(producerId);
    if (producers === undefined || parts === undefined) return;
    parts.delete(tpKey(topic, partition));
    if (parts.size === 0) producers.delete(producerId);
    if (producers.size === 0) this.cache.delete(group);
  }
}

function parseValue(v: KvValue): { group: string; producerId: bigint; value: PendingTxnOffset } | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const { group, producerId, producerEpoch, topic, partition, offset, leaderEpoch, metadata, commitTimestamp, topicId } = v;
  if (typeof group !== 'string' || typeof producerId !== 'bigint' || typeof producerEpoch !== 'number' || typeof topic !== 'string' || typeof partition !== 'number') return null;
  if (typeof offset !== 'bigint' || typeof leaderEpoch !== 'number' || typeof metadata !== 'string' || typeof commitTimestamp !== 'number' || typeof topicId !== 'string') return null;
  return { group, producerId, value: { topic, partition, producerEpoch, offset, leaderEpoch, metadata, commitTimestamp, topicId } };
}
