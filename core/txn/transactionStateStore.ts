/**
 * Persistence of transaction state: one metadata-store item per transactional.id (Strata's
 * stand-in for a __transaction_state record), in the namespace the caller passes (normally
 * `store.namespace('transactions')`). Every change is one conditional put on the item's
 * version, so DynamoDB without transactions is enough.
 *
 * Key: the transactional id percent-encoded; an id whose encoding is longer than 512
 * characters is replaced by `#<sha-256 hex of the id>` ('#' never survives percent-encoding,
 * so the two forms cannot collide), which keeps every key under the store's 1024 bytes.
 * Value (bigint-safe JSON, core/meta/json.ts):
 *
 *   { transactionalId, producerId: bigint, lastProducerId: bigint, producerEpoch, lastProducerEpoch,
 *     transactionTimeoutMs, state, topics: [{ topic, partitions: number[] }], groups: string[],
 *     txnStartTimestamp, txnLastUpdateTimestamp, coordinatorEpoch }
 *
 * coordinatorEpoch is the epoch of the coordinator that last wrote the item (Kafka's
 * coordinator epoch, which it takes from the __transaction_state partition's leader epoch): a
 * broker that takes the id over raises it with its first write, so its markers carry a higher
 * epoch than any earlier coordinator's and partitions refuse the late markers of a stale one
 * (TRANSACTION_COORDINATOR_FENCED). Items written before it existed read as -1.
 *
 * The id is in the value, so loading never parses keys. Partitions are grouped by topic to
 * keep large transactions well inside DynamoDB's 400 KB item limit.
 */
import { readableKeyPart } from '../meta/keyPart';
import type { KvValue } from '../meta/json';
import type { VersionedKv } from '../meta/versionedKv';
import { TXN_STATES, comparePartitions, type TopicPartitionRef, type TxnMetadata, type TxnState } from './transactionMetadata';

export function txnKey(transactionalId: string): string {
  return readableKeyPart(transactionalId);
}

export interface StoredTxn {
  metadata: TxnMetadata;
  /** The item's version: the condition of the next write. */
  version: number;
  /** The epoch of the coordinator that wrote it; -1 when none was recorded. */
  coordinatorEpoch: number;
}

export function encodeTxn(m: TxnMetadata, coordinatorEpoch = -1): KvValue {
  const topics: { topic: string; partitions: number[] }[] = [];
  for (const tp of [...m.partitions].sort(comparePartitions)) {
    const last = topics[topics.length - 1];
    if (last !== undefined && last.topic === tp.topic) last.partitions.push(tp.partition);
    else topics.push({ topic: tp.topic, partitions: [tp.partition] });
  }
  return {
    transactionalId: m.transactionalId,
    producerId: m.producerId,
    lastProducerId: m.lastProducerId,
    producerEpoch: m.producerEpoch,
    lastProducerEpoch: m.lastProducerEpoch,
    transactionTimeoutMs: m.transactionTimeoutMs,
    state: m.state,
    topics,
    groups: [...m.groups],
    txnStartTimestamp: m.txnStartTimestamp,
    txnLastUpdateTimestamp: m.txnLastUpdateTimestamp,
    coordinatorEpoch,
  };
}

/** The coordinator epoch recorded in a stored value; -1 when there is none. */
export function decodeCoordinatorEpoch(v: KvValue): number {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return -1;
  const e = v.coordinatorEpoch;
  return isInt(e) && e >= -1 ? e : -1;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** The stored value as metadata, or null when it is not one (logged and skipped by the loader). */
export function decodeTxn(v: KvValue): TxnMetadata | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const { transactionalId, producerId, lastProducerId, producerEpoch, lastProducerEpoch, transactionTimeoutMs, state, topics, groups, txnStartTimestamp, txnLastUpdateTimestamp } = v;
  if (typeof transactionalId !== 'string' || typeof producerId !== 'bigint' || typeof lastProducerId !== 'bigint') return null;
  if (!isInt(producerEpoch) || !isInt(lastProducerEpoch) || !isInt(transactionTimeoutMs) || !isInt(txnStartTimestamp) || !isInt(txnLastUpdateTimestamp)) return null;
  if (typeof state !== 'string' || !(TXN_STATES as readonly string[]).includes(state)) return null;
  if (!Array.isArray(topics) || !Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) return null;
  const partitions: TopicPartitionRef[] = [];
  for (const t of topics) {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return null;
    const { topic, partitions: ps } = t;
    if (typeof topic !== 'string' || !Array.isArray(ps) || !ps.every(isInt)) return null;
    for (const p of ps as number[]) partitions.push({ topic, partition: p });
  }
  return {
    transactionalId,
    producerId,
    lastProducerId,
    producerEpoch,
    lastProducerEpoch,
    transactionTimeoutMs,
    state: state as TxnState,
    partitions: partitions.sort(comparePartitions),
    groups: [...(groups as string[])].sort(),
    txnStartTimestamp,
    txnLastUpdateTimestamp,
  };
}

export class TransactionStateStore {
  constructor(private readonly kv: VersionedKv) {}

  /** Every stored transaction, and the keys of items that are not transaction state. */
  async loadAll(): Promise<{ entries: StoredTxn[]; malformed: string[] }> {
    const entries: StoredTxn[] = [];
    const malformed: string[] = [];
    for (const e of await this.kv.list('')) {
      const metadata = decodeTxn(e.value);
      if (metadata === null || txnKey(metadata.transactionalId) !== e.key) malformed.push(e.key);
      else entries.push({ metadata, version: e.version, coordinatorEpoch: decodeCoordinatorEpoch(e.value) });
    }
    return { entries, malformed };
  }

  async get(transactionalId: string): Promise<StoredTxn | null> {
    const e = await this.kv.get(txnKey(transactionalId));
    if (e === null) return null;
    const metadata = decodeTxn(e.value);
    return metadata === null || metadata.transactionalId !== transactionalId ? null : { metadata, version: e.version, coordinatorEpoch: decodeCoordinatorEpoch(e.value) };
  }

  /**
   * Writes `m`, by a coordinator of `coordinatorEpoch`, if the item is still at `expectedVersion`
   * (0: must not exist); resolves with the new version. Throws the store's StrataErrors
   * (VERSION_CONFLICT, KEY_EXISTS, STORE_UNAVAILABLE, ...).
   */
  put(m: TxnMetadata, expectedVersion: number, coordinatorEpoch = -1): Promise<number> {
    return this.kv.put(txnKey(m.transactionalId), encodeTxn(m, coordinatorEpoch), expectedVersion === 0 ? null : expectedVersion);
  }

  /** Deletes the item if it is still at `version`. */
  async delete(transactionalId: string, version: number): Promise<void> {
    await this.kv.delete(txnKey(transactionalId), version);
  }
}
