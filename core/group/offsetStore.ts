/**
 * Committed offsets: one metadata-store item per group/topic/partition (the shape of a
 * DynamoDB item later), with an in-memory copy of all of them so OffsetFetch never waits on
 * the store. A commit is acknowledged only after its items are written.
 *
 * Keys are `<group>/<topic>/<partition>` with the group id percent-encoded (so '/' in a group
 * id cannot be confused with the separator); a group id too long for a key is replaced by
 * `#<sha-256>` ('#' never survives percent-encoding, so the two forms cannot collide). The
 * group, topic and partition are also in the value, so loading never parses keys.
 *
 * Writes to one key are applied in the order they were issued (a per-key chain), each
 * conditional on the version the previous one produced; writes to different keys proceed
 * independently.
 */
import { readableKeyPart } from '../meta/keyPart';
import { PerKeyWrites, putLatestWins } from '../meta/perKeyWrites';
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

export function offsetKey(group: string, topic: string, partition: number): string {
  return `${readableKeyPart(group)}/${topic}/${partition}`;
}

export class OffsetStore {
  /** group → topic → partition → entry */
  private readonly cache = new Map<string, Map<string, Map<number, Entry>>>();
  private readonly writes = new PerKeyWrites();

  private constructor(private readonly kv: VersionedKv, private readonly logger: Logger) {}

  /** Reads every stored offset into memory. */
  static async open(kv: VersionedKv, logger: Logger): Promise<OffsetStore> {
    const store = new OffsetStore(kv, logger);
    let n = 0;
    for (const e of await kv.list('')) {
      const parsed = parseValue(e.value);
      if (parsed === null) {
        logger.warn(`ignoring malformed committed offset item ${JSON.stringify(e.key)}`);
        continue;
      }
      store.setCached(parsed.group, parsed.topic, parsed.partition, { value: parsed.offset, version: e.version });
      n++;
    }
    if (n > 0) logger.info(`loaded ${n} committed offset(s) of ${store.cache.size} group(s)`);
    return store;
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
   * Writes each offset; resolves, per entry in order, with null on success or the error that
   * stopped it. The cache is updated entry by entry as writes succeed.
   */
  commit(group: string, entries: { topic: string; partition: number; value: CommittedOffset }[]): Promise<(Error | null)[]> {
    return Promise.all(
      entries.map(({ topic, partition, value }) =>
        this.writes.enqueue(offsetKey(group, topic, partition), async (key) => {
          const item: KvValue = {
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
          const version = await this.putFresh(key, item, this.cache.get(group)?.get(topic)?.get(partition)?.version ?? null);
          this.setCached(group, topic, partition, { value, version });
        }),
      ),
    );
  }

  /** Deletes the given offsets (absent ones are skipped); resolves with how many existed. */
  async delete(group: string, partitions: readonly TopicPartitionRef[]): Promise<number> {
    let deleted = 0;
    const results = await Promise.all(
      partitions.map(({ topic, partition }) =>
        this.writes.enqueue(offsetKey(group, topic, partition), async (key) => {
          if (this.cache.get(group)?.get(topic)?.get(partition) === undefined) return;
          await this.kv.delete(key);
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

  /** Writes over another writer's change of the item (the latest write wins). */
  private putFresh(key: string, value: KvValue, version: number | null): Promise<number> {
    return putLatestWins(this.kv, key, value, version, (e) => this.logger.warn(`offset item ${JSON.stringify(key)} changed under us (${e.message}); writing over it`));
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

function parseValue(v: KvValue): { group: string; topic: string; partition: number; offset: CommittedOffset } | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const { group, topic, partition, offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp, topicId } = v;
  if (typeof group !== 'string' || typeof topic !== 'string' || typeof partition !== 'number' || typeof offset !== 'bigint') return null;
  if (typeof leaderEpoch !== 'number' || typeof metadata !== 'string' || typeof commitTimestamp !== 'number' || typeof topicId !== 'string') return null;
  if (expireTimestamp !== null && typeof expireTimestamp !== 'number') return null;
  return { group, topic, partition, offset: { offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp, topicId } };
}
