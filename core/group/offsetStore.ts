/**
 * Committed offsets: one metadata-store item per group/topic/partition (the shape of a
 * DynamoDB item later), with an in-memory copy of the groups this broker coordinates so
 * OffsetFetch never waits on the store. A commit is acknowledged only after its items are
 * written.
 *
 * Keys are `<group>/<topic>/<partition>` with the group id percent-encoded (so '/' in a group
 * id cannot be confused with the separator); a group id too long for a key is replaced by
 * `#<sha-256>` ('#' never survives percent-encoding, so the two forms cannot collide). The
 * group, topic and partition are also in the value, so loading never parses keys; a group's
 * items share the key prefix `<group>/`, which is how one group is loaded on its own.
 *
 * Writes to one key are applied in the order they were issued (a per-key chain), each
 * conditional on the version this store last read or wrote; writes to different keys proceed
 * independently. A lost condition means another broker's coordinator wrote the item (two
 * brokers believed they coordinate the group while the cluster's view of its live brokers
 * settled, or another broker's transaction coordinator completed a transactional commit): the
 * write is refused with StrataError('VERSION_CONFLICT') rather than written over a change that
 * may be newer, and the item is re-read, so a retry (the client's, after it found the
 * coordinator again) writes on top of what is there.
 */
import { readableKeyPart } from '../meta/keyPart';
import { PerKeyWrites } from '../meta/perKeyWrites';
import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { KvValue, VersionedKv } from '../meta/versionedKv';

export interface CommittedOffset {
  offset: bigint;
  /** -1 when the client did not send one. */
  leaderEpoch: number;
  metadata: string;
  /** ms since the epoch. */
  commitTimestamp: number;
  /** Explicit expiry of OffsetCommit v2-4's retention_time_ms; null means broker retention. */
  expireTimestamp: number | null;
  /** The topic id when committed: an offset of a deleted topic does not apply to a re-created one. */
  topicId: string;
}

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

interface Entry {
  value: CommittedOffset;
  version: number;
}

/** One stored offset item, as read from the store. */
export interface StoredOffset {
  topic: string;
  partition: number;
  value: CommittedOffset;
  version: number;
}

export function offsetKey(group: string, topic: string, partition: number): string {
  return `${offsetGroupPrefix(group)}${topic}/${partition}`;
}

/** The key prefix of every offset item of the group. */
export function offsetGroupPrefix(group: string): string {
  return `${readableKeyPart(group)}/`;
}

/** Lost races of applyInStore before it gives up (each loss is another writer's progress). */
const MAX_APPLY_ATTEMPTS = 10;

const isConflict = (e: unknown): boolean => isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS');

export class OffsetStore {
  /** group → topic → partition → entry */
  private readonly cache = new Map<string, Map<string, Map<number, Entry>>>();
  private readonly writes = new PerKeyWrites();

  private constructor(private readonly kv: VersionedKv, private readonly logger: Logger) {}

  /**
   * Reads every stored offset into memory, or (`loadAll` false: a coordinator that loads the
   * groups it coordinates one by one, install()) nothing.
   */
  static async open(kv: VersionedKv, logger: Logger, opts: { loadAll?: boolean } = {}): Promise<OffsetStore> {
    const store = new OffsetStore(kv, logger);
    if (opts.loadAll === false) return store;
    let n = 0;
    for (const [group, entries] of await store.readAll()) {
      store.install(group, entries);
      n += entries.length;
    }
    if (n > 0) logger.info(`loaded ${n} committed offset(s) of ${store.cache.size} group(s)`);
    return store;
  }

  /** The group's stored offsets, read from the store (the cache is not touched). */
  async readGroup(group: string): Promise<StoredOffset[]> {
    return (await this.readItems(offsetGroupPrefix(group))).get(group) ?? [];
  }

  /** Every stored offset by group, read from the store (the cache is not touched). */
  readAll(): Promise<Map<string, StoredOffset[]>> {
    return this.readItems('');
  }

  private async readItems(prefix: string): Promise<Map<string, StoredOffset[]>> {
    const out = new Map<string, StoredOffset[]>();
    for (const e of await this.kv.list(prefix)) {
      const parsed = parseValue(e.value);
      if (parsed === null || offsetKey(parsed.group, parsed.topic, parsed.partition) !== e.key) {
        this.logger.warn(`ignoring malformed committed offset item ${JSON.stringify(e.key)}`);
        continue;
      }
      let list = out.get(parsed.group);
      if (list === undefined) out.set(parsed.group, (list = []));
      list.push({ topic: parsed.topic, partition: parsed.partition, value: parsed.offset, version: e.version });
    }
    return out;
  }

  /** Makes `entries` the cached offsets of the group (replacing whatever was cached for it). */
  install(group: string, entries: readonly StoredOffset[]): void {
    this.cache.delete(group);
    for (const e of entries) this.setCached(group, e.topic, e.partition, { value: e.value, version: e.version });
  }

  /** Drops the group from the cache (another broker coordinates it now); the store keeps it. */
  forget(group: string): void {
    this.cache.delete(group);
  }

  /** Group ids that have at least one committed offset. */
  groups(): string[] {
    return [...this.cache.keys()];
  }

  hasOffsets(group: string): boolean {
    return this.cache.has(group);
  }

  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.cache.get(group)?.get(topic)?.get(partition)?.value;
  }

  /** Every offset of the group, by topic then partition. */
  all(group: string): { topic: string; partition: number; value: CommittedOffset }[] {
    const out: { topic: string; partition: number; value: CommittedOffset }[] = [];
    for (const [topic, parts] of this.cache.get(group) ?? []) {
      for (const [partition, e] of parts) out.push({ topic, partition, value: e.value });
    }
    return out;
  }

  /**
   * Writes each offset, conditionally on the version last seen; resolves, per entry in order,
   * with null on success or the error that stopped it (StrataError('VERSION_CONFLICT') when
   * another writer changed the item: the cache then holds what it wrote). The cache is updated
   * entry by entry as writes succeed.
   */
  commit(group: string, entries: { topic: string; partition: number; value: CommittedOffset }[]): Promise<(Error | null)[]> {
    return Promise.all(
      entries.map(({ topic, partition, value }) =>
        this.writes.enqueue(offsetKey(group, topic, partition), async (key) => {
          const item = itemOf(group, topic, partition, value);
          const version = await this.putConditional(key, group, topic, partition, item);
          this.setCached(group, topic, partition, { value, version });
        }),
      ),
    );
  }

  /**
   * Deletes the given offsets (absent ones are skipped), each conditionally on the version last
   * seen; resolves with how many existed, or rejects with the first failure (VERSION_CONFLICT
   * when another writer changed an item: that one stays, re-read into the cache).
   */
  async delete(group: string, partitions: readonly TopicPartitionRef[]): Promise<number> {
    let deleted = 0;
    const results = await Promise.all(
      partitions.map(({ topic, partition }) =>
        this.writes.enqueue(offsetKey(group, topic, partition), async (key) => {
          const cached = this.cache.get(group)?.get(topic)?.get(partition);
          if (cached === undefined) return;
          try {
            await this.kv.delete(key, cached.version);
          } catch (e) {
            if (isStrataError(e, 'NOT_FOUND')) {
              // Someone else deleted it: gone all the same.
              this.deleteCached(group, topic, partition);
              return;
            }
            if (isConflict(e)) await this.refresh(key, group, topic, partition);
            throw e;
          }
          this.deleteCached(group, topic, partition);
          deleted++;
        }),
      ),
    );
    const failed = results.find((r) => r !== null);
    if (failed) throw failed;
    return deleted;
  }

  /** Resolves once every write issued so far has finished. */
  flush(): Promise<void> {
    return this.writes.flush();
  }

  /**
   * Writes the item the store-level way, for a group this broker does not coordinate (a
   * transactional commit completed by this broker's transaction coordinator): reads the item,
   * asks `shouldApply` about its current value, and writes conditionally on the version read,
   * starting over when another writer got in between. Runs in the key's chain; the cache is not
   * touched. Resolves with whether the value was written.
   */
  async applyInStore(group: string, topic: string, partition: number, value: CommittedOffset, shouldApply: (current: CommittedOffset | undefined) => boolean): Promise<boolean> {
    let applied = false;
    const err = await this.writes.enqueue(offsetKey(group, topic, partition), async (key) => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.kv.get(key);
        const parsed = current === null ? null : parseValue(current.value);
        if (!shouldApply(parsed?.offset)) return;
        try {
          await this.kv.put(key, itemOf(group, topic, partition, value), current?.version ?? null);
          applied = true;
          return;
        } catch (e) {
          if (!isConflict(e) || attempt >= MAX_APPLY_ATTEMPTS) throw e;
        }
      }
    });
    if (err) throw err;
    return applied;
  }

  /**
   * A conditional put on the cached version. A lost condition re-reads the item into the cache
   * and rethrows: the caller answers the commit with an error instead of overwriting a change
   * that may be newer than this one.
   */
  private async putConditional(key: string, group: string, topic: string, partition: number, item: KvValue): Promise<number> {
    try {
      return await this.kv.put(key, item, this.cache.get(group)?.get(topic)?.get(partition)?.version ?? null);
    } catch (e) {
      if (!isConflict(e)) throw e;
      this.logger.warn(`offset item ${JSON.stringify(key)} was changed by another writer (${(e as Error).message}); the commit is refused and the item re-read`);
      await this.refresh(key, group, topic, partition);
      throw new StrataError('VERSION_CONFLICT', `the committed offset of ${topic}-${partition} in group ${JSON.stringify(group)} was changed by another coordinator`, { cause: e });
    }
  }

  /** Re-reads one item into the cache (after another writer changed it); a failed read keeps what we had. */
  private async refresh(key: string, group: string, topic: string, partition: number): Promise<void> {
    try {
      const e = await this.kv.get(key);
      const parsed = e === null ? null : parseValue(e.value);
      if (e === null || parsed === null) this.deleteCached(group, topic, partition);
      else this.setCached(group, topic, partition, { value: parsed.offset, version: e.version });
    } catch (err) {
      this.logger.warn(`re-reading offset item ${JSON.stringify(key)} failed: ${(err as Error).message}`);
    }
  }


  private setCached(group: string, topic: string, partition: number, e: Entry): void {
    let topics = this.cache.get(group);
    if (topics === undefined) this.cache.set(group, (topics = new Map()));
    let parts = topics.get(topic);
    if (parts === undefined) topics.set(topic, (parts = new Map()));
    parts.set(partition, e);
  }

  private deleteCached(group: string, topic: string, partition: number): void {
    const topics = this.cache.get(group);
    const parts = topics?.get(topic);
    if (topics === undefined || parts === undefined) return;
    parts.delete(partition);
    if (parts.size === 0) topics.delete(topic);
    if (topics.size === 0) this.cache.delete(group);
  }
}

function itemOf(group: string, topic: string, partition: number, value: CommittedOffset): KvValue {
  return {
    group,
    topic,
    partition,
    offset: value.offset,
    leaderEpoch: value.leaderEpoch,
    metadata: value.metadata,
    commitTimestamp: value.commitTimestamp,
    expireTimestamp: value.expireTimestamp,
    topicId: value.topicId,
  };
}

function parseValue(v: KvValue): { group: string; topic: string; partition: number; offset: CommittedOffset } | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const { group, topic, partition, offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp, topicId } = v;
  if (typeof group !== 'string' || typeof topic !== 'string' || typeof partition !== 'number' || typeof offset !== 'bigint') return null;
  if (typeof leaderEpoch !== 'number' || typeof metadata !== 'string' || typeof commitTimestamp !== 'number' || typeof topicId !== 'string') return null;
  if (expireTimestamp !== null && typeof expireTimestamp !== 'number') return null;
  return { group, topic, partition, offset: { offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp, topicId } };
}
