import { isStrataError } from '../common/errors';
import type { KvValue, VersionedKv } from './versionedKv';

/**
 * Writes to one key applied in the order they were issued (a promise chain per key), writes to
 * different keys independently: what the offset stores need so that two commits of one
 * partition reach the store in commit order while other partitions proceed.
 */
export class PerKeyWrites {
  private readonly chains = new Map<string, Promise<void>>();

  /** Runs `op` after the earlier operations on the same key; resolves with its error, never rejects. */
  enqueue(key: string, op: (key: string) => Promise<void>): Promise<Error | null> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const result = prev.then(() => op(key)).then(
      () => null,
      (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
    );
    const tail = result.then(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return result;
  }

  /** Resolves once every write issued so far has finished. */
  async flush(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }
}

/**
 * A conditional put on the version this writer last wrote. Should another writer have changed
 * the item meanwhile (only possible once several brokers share the store), the latest write
 * wins, as it does in Kafka's offsets topic: `onConflict` is told, the version re-read and the
 * value written once more.
 */
export async function putLatestWins(kv: VersionedKv, key: string, value: KvValue, version: number | null, onConflict: (e: Error) => void): Promise<number> {
  try {
    return await kv.put(key, value, version);
  } catch (e) {
    if (!isStrataError(e, 'VERSION_CONFLICT') && !isStrataError(e, 'KEY_EXISTS')) throw e;
    onConflict(e as Error);
    const current = await kv.get(key);
    return kv.put(key, value, current?.version ?? null);
  }
}
