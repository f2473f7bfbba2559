/**
 * The state of one transactional.id and its transitions, as pure functions over an immutable
 * value: each `prepare*` computes the next value (or a Kafka error code) and changes nothing,
 * so the coordinator can write the result conditionally and apply it in memory only once the
 * write is durable. The rules are Kafka's TransactionMetadata (classic protocol, transaction
 * version 0/1: no epoch bump per transaction, KIP-360 epoch bumps on InitProducerId).
 *
 *                 AddPartitions / AddOffsets                 EndTxn            markers written
 *   Empty ───────────────────────────────────► Ongoing ────────────────► Prepare ──────────────► Complete
 *   Complete* ─────────────────────────────────┘  │ ▲                     Commit/Abort           Commit/Abort
 *     ▲   └─ InitProducerId (epoch bump) → Empty   │ └ more partitions                               │
 *     └────────────────────────────────────────────┼──────────────────────── InitProducerId ◄─────────┘
 *                                                  └─ InitProducerId / timeout: PrepareAbort with epoch + 1 (fencing)
 *
 * Strata never stores PrepareEpochFence or Dead: Kafka keeps those as pending in-memory
 * states. A fence is written directly as PrepareAbort with the bumped epoch (one conditional
 * write instead of Kafka's pending state plus append), and an expired id is deleted.
 */
import { ErrorCode } from '../protocol/errorCodes';

export type TxnState = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort' | 'Dead' | 'PrepareEpochFence';

export const TXN_STATES: readonly TxnState[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead', 'PrepareEpochFence'];

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

/** RecordBatch.NO_PRODUCER_ID / NO_PRODUCER_EPOCH. */
export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
/** Short.MaxValue: epochs are int16 on the wire. */
export const MAX_PRODUCER_EPOCH = 32767;

/**
 * Kafka never hands out Short.MaxValue to a client, so that the coordinator can always fence
 * the current producer with one more bump (TransactionMetadata.isEpochExhausted).
 */
export function isEpochExhausted(epoch: number): boolean {
  return epoch >= MAX_PRODUCER_EPOCH - 1;
}

export interface TxnMetadata {
  readonly transactionalId: string;
  readonly producerId: bigint;
  /** Kafka's previousProducerId: the producer id before the last InitProducerId (KIP-360 retries after a rotation). */
  readonly lastProducerId: bigint;
  readonly producerEpoch: number;
  /** The epoch before the last bump, when a KIP-360 producer asked for it (a retry gets the current one back). */
  readonly lastProducerEpoch: number;
  readonly transactionTimeoutMs: number;
  readonly state: TxnState;
  /** Sorted by topic then partition, no duplicates. */
  readonly partitions: readonly TopicPartitionRef[];
  /** Consumer groups added with AddOffsetsToTxn (Kafka adds their __consumer_offsets partition); sorted, unique. */
  readonly groups: readonly string[];
  /** When the current (or last) transaction started: its first AddPartitions/AddOffsets; -1 when none. */
  readonly txnStartTimestamp: number;
  readonly txnLastUpdateTimestamp: number;
}

export type Transition = { ok: true; next: TxnMetadata } | { ok: false; errorCode: number };

const fail = (errorCode: number): Transition => ({ ok: false, errorCode });
const ok = (next: TxnMetadata): Transition => ({ ok: true, next });

export function isPrepare(state: TxnState): state is 'PrepareCommit' | 'PrepareAbort' {
  return state === 'PrepareCommit' || state === 'PrepareAbort';
}

/** States in which an idle transactional id may expire (Kafka's isExpirationAllowed). */
export function isExpirationAllowed(state: TxnState): boolean {
  return state === 'Empty' || state === 'CompleteCommit' || state === 'CompleteAbort';
}

export function comparePartitions(a: TopicPartitionRef, b: TopicPartitionRef): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}

/** Sorted union without duplicates. */
export function unionPartitions(a: readonly TopicPartitionRef[], b: readonly TopicPartitionRef[]): TopicPartitionRef[] {
  const seen = new Set<string>();
  const out: TopicPartitionRef[] = [];
  for (const tp of [...a, ...b]) {
    const k = `${tp.partition}:${tp.topic}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ topic: tp.topic, partition: tp.partition });
  }
  return out.sort(comparePartitions);
}

export function containsPartition(list: readonly TopicPartitionRef[], tp: TopicPartitionRef): boolean {
  return list.some((x) => x.topic === tp.topic && x.partition === tp.partition);
}

function unionGroups(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

/**
 * A transactional id seen for the first time: epoch -1 until its first InitProducerId bump
 * (Kafka caches this before the first write; Strata only ever stores the bumped result).
 */
export function newTransaction(transactionalId: string, producerId: bigint, transactionTimeoutMs: number, now: number): TxnMetadata {
  return {
    transactionalId,
    producerId,
    lastProducerId: NO_PRODUCER_ID,
    producerEpoch: NO_PRODUCER_EPOCH,
    lastProducerEpoch: NO_PRODUCER_EPOCH,
    transactionTimeoutMs,
    state: 'Empty',
    partitions: [],
    groups: [],
    txnStartTimestamp: -1,
    txnLastUpdateTimestamp: now,
  };
}

export interface ExpectedProducer {
  producerId: bigint;
  producerEpoch: number;
}

/**
 * KIP-360 (TransactionCoordinator.prepareInitProducerIdTransit, isValidProducerId): an
 * InitProducerId naming a producer id and epoch is accepted when
 *   1. the id was just created (epoch -1): a producer recovering from UNKNOWN_PRODUCER_ID;
 *   2. it names the current producer id (the epoch is checked by the bump);
 *   3. it names the previous producer id with an exhausted epoch: a retry of a bump that
 *      rotated the producer id, whose answer was lost.
 * Anything else is an older incarnation: PRODUCER_FENCED.
 */
export function isValidExpectedProducer(m: TxnMetadata, expected: ExpectedProducer): boolean {
  return (
    m.producerEpoch === NO_PRODUCER_EPOCH ||
    expected.producerId === m.producerId ||
    (expected.producerId === m.lastProducerId && isEpochExhausted(expected.producerEpoch))
  );
}

/**
 * Whether InitProducerId must rotate to a new producer id (Empty/Complete* only): the epoch is
 * exhausted and the caller either named no epoch or named the current one.
 */
export function needsProducerIdRotation(m: TxnMetadata, expected: ExpectedProducer | null): boolean {
  return isEpochExhausted(m.producerEpoch) && (expected === null || expected.producerEpoch === m.producerEpoch);
}

/**
 * InitProducerId on an Empty/Complete* id without rotation (TransactionMetadata.prepareIncrementProducerEpoch):
 * - no expected epoch: bump, and forget the last epoch (a new producer instance);
 * - expected = current epoch (or the id is new): bump, remembering the old epoch, so that a
 *   retry of this very request can be recognised;
 * - expected = last epoch: the retry of a bump that succeeded; answer the current epoch again;
 * - otherwise the caller is fenced.
 * Kafka refuses (IllegalStateException) to even consider an exhausted epoch here; Strata only
 * refuses to bump one, so the retry and fenced answers stay available.
 */
export function prepareIncrementProducerEpoch(m: TxnMetadata, transactionTimeoutMs: number, expectedEpoch: number | null, now: number): Transition {
  let epoch: number;
  let lastEpoch: number;
  if (expectedEpoch === null) {
    epoch = m.producerEpoch + 1;
    lastEpoch = NO_PRODUCER_EPOCH;
  } else if (m.producerEpoch === NO_PRODUCER_EPOCH || expectedEpoch === m.producerEpoch) {
    epoch = m.producerEpoch + 1;
    lastEpoch = m.producerEpoch;
  } else if (expectedEpoch === m.lastProducerEpoch) {
    epoch = m.producerEpoch;
    lastEpoch = m.lastProducerEpoch;
  } else {
    return fail(ErrorCode.PRODUCER_FENCED);
  }
  if (epoch > m.producerEpoch && isEpochExhausted(m.producerEpoch)) {
    throw new Error(`transactional id ${JSON.stringify(m.transactionalId)}: cannot bump the exhausted epoch ${m.producerEpoch} of producer id ${m.producerId}`);
  }
  return ok({
    ...m,
    // A retry changes nothing but the timeout: it keeps the previous producer id, so that a
    // retry after a rotation can be retried again (Kafka overwrites it with the current one).
    lastProducerId: epoch === m.producerEpoch ? m.lastProducerId : m.producerId,
    producerEpoch: epoch,
    lastProducerEpoch: lastEpoch,
    transactionTimeoutMs,
    state: 'Empty',
    partitions: [],
    groups: [],
    txnStartTimestamp: -1,
    txnLastUpdateTimestamp: now,
  });
}

/** A new producer id at epoch 0 once the old one's epochs are used up (prepareProducerIdRotation). */
export function prepareProducerIdRotation(m: TxnMetadata, newProducerId: bigint, transactionTimeoutMs: number, now: number, recordLastEpoch: boolean): TxnMetadata {
  if (m.state === 'Ongoing' || isPrepare(m.state)) throw new Error(`cannot rotate the producer id of ${JSON.stringify(m.transactionalId)} during a transaction (${m.state})`);
  return {
    ...m,
    producerId: newProducerId,
    lastProducerId: m.producerId,
    producerEpoch: 0,
    // A KIP-360 caller's retry names the old id with this epoch (rule 3 of isValidExpectedProducer).
    lastProducerEpoch: recordLastEpoch ? m.producerEpoch : NO_PRODUCER_EPOCH,
    transactionTimeoutMs,
    state: 'Empty',
    partitions: [],
    groups: [],
    txnStartTimestamp: -1,
    txnLastUpdateTimestamp: now,
  };
}

/**
 * AddPartitionsToTxn / AddOffsetsToTxn (prepareAddPartitions): the transaction is Ongoing with
 * the union of what it had and what is added; it starts now unless it was already Ongoing.
 */
export function prepareAddToTransaction(m: TxnMetadata, add: { partitions?: readonly TopicPartitionRef[]; groups?: readonly string[] }, now: number): TxnMetadata {
  if (m.state !== 'Ongoing' && m.state !== 'Empty' && m.state !== 'CompleteCommit' && m.state !== 'CompleteAbort') {
    throw new Error(`cannot add to the transaction of ${JSON.stringify(m.transactionalId)} in state ${m.state}`);
  }
  return {
    ...m,
    state: 'Ongoing',
    partitions: unionPartitions(m.partitions, add.partitions ?? []),
    groups: unionGroups(m.groups, add.groups ?? []),
    txnStartTimestamp: m.state === 'Ongoing' ? m.txnStartTimestamp : now,
    txnLastUpdateTimestamp: now,
  };
}

/** Whether everything in `add` is already part of the Ongoing transaction (Kafka answers at once, without a write). */
export function alreadyInTransaction(m: TxnMetadata, add: { partitions?: readonly TopicPartitionRef[]; groups?: readonly string[] }): boolean {
  return m.state === 'Ongoing' && (add.partitions ?? []).every((tp) => containsPartition(m.partitions, tp)) && (add.groups ?? []).every((g) => m.groups.includes(g));
}

/** EndTxn on an Ongoing transaction (prepareAbortOrCommit): epochs unchanged under transaction version 0/1. */
export function prepareAbortOrCommit(m: TxnMetadata, committed: boolean, now: number): TxnMetadata {
  if (m.state !== 'Ongoing') throw new Error(`cannot end the transaction of ${JSON.stringify(m.transactionalId)} in state ${m.state}`);
  return { ...m, state: committed ? 'PrepareCommit' : 'PrepareAbort', txnLastUpdateTimestamp: now };
}

/**
 * Fencing an Ongoing transaction (InitProducerId from a new instance, or its timeout): Kafka's
 * prepareFenceProducerEpoch followed by the abort endTransaction makes of it, in one step. The
 * epoch is bumped, never returned to anyone, and carried by the abort markers, which is what
 * fences the old producer at every partition; the last epoch is forgotten, so the old producer
 * cannot claim the bump as a KIP-360 retry. Short.MaxValue cannot be bumped (Kafka refuses it
 * too); no client is ever handed that epoch, so it only occurs if a client invents it.
 */
export function prepareEpochFenceAbort(m: TxnMetadata, now: number): TxnMetadata {
  if (m.state !== 'Ongoing' && m.state !== 'PrepareEpochFence') throw new Error(`cannot fence the transaction of ${JSON.stringify(m.transactionalId)} in state ${m.state}`);
  // A stored PrepareEpochFence (not written by Strata; tolerated when loading) already carries the bumped epoch.
  const epoch = m.state === 'PrepareEpochFence' || m.producerEpoch >= MAX_PRODUCER_EPOCH ? m.producerEpoch : m.producerEpoch + 1;
  return { ...m, state: 'PrepareAbort', producerEpoch: epoch, lastProducerEpoch: NO_PRODUCER_EPOCH, txnLastUpdateTimestamp: now };
}

/**
 * After the markers (prepareComplete): CompleteCommit/CompleteAbort, partitions and groups
 * cleared, producer id and epochs unchanged (transaction version 0/1); the start timestamp is
 * kept, as Kafka reports it.
 */
export function prepareComplete(m: TxnMetadata, now: number): TxnMetadata {
  if (!isPrepare(m.state)) throw new Error(`cannot complete the transaction of ${JSON.stringify(m.transactionalId)} in state ${m.state}`);
  return { ...m, state: m.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort', partitions: [], groups: [], txnLastUpdateTimestamp: now };
}

/**
 * EndTxn's answer when the transaction is not Ongoing (TransactionCoordinator.endTransaction):
 * a retry of a completed end is NONE, of one still completing CONCURRENT_TRANSACTIONS, the
 * opposite result or an Empty id INVALID_TXN_STATE. Dead and PrepareEpochFence are never
 * current states (Kafka throws IllegalStateException, which its request handling turns into
 * UNKNOWN_SERVER_ERROR).
 */
export function endTxnRetryAnswer(state: TxnState, committed: boolean): number {
  switch (state) {
    case 'CompleteCommit':
      return committed ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE;
    case 'CompleteAbort':
      return committed ? ErrorCode.INVALID_TXN_STATE : ErrorCode.NONE;
    case 'PrepareCommit':
      return committed ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE;
    case 'PrepareAbort':
      return committed ? ErrorCode.INVALID_TXN_STATE : ErrorCode.CONCURRENT_TRANSACTIONS;
    case 'Empty':
      return ErrorCode.INVALID_TXN_STATE;
    case 'Ongoing':
    case 'Dead':
    case 'PrepareEpochFence':
      return ErrorCode.UNKNOWN_SERVER_ERROR;
  }
}

/** Partitions grouped by topic, topics in order (DescribeTransactions' shape). */
export function partitionsByTopic(partitions: readonly TopicPartitionRef[]): { topic: string; partitions: number[] }[] {
  const out: { topic: string; partitions: number[] }[] = [];
  for (const tp of partitions) {
    const last = out[out.length - 1];
    if (last !== undefined && last.topic === tp.topic) last.partitions.push(tp.partition);
    else out.push({ topic: tp.topic, partitions: [tp.partition] });
  }
  return out;
}
