/**
 * The transaction coordinator: Kafka's TransactionCoordinator (classic protocol, transaction
 * version 0/1; KIP-360 epoch bumps on InitProducerId; KIP-588's PRODUCER_FENCED), with its
 * state in the metadata store instead of a __transaction_state topic: one item per
 * transactional.id (transactionStateStore.ts), and every state change one conditional write
 * on that item's version.
 *
 * How a change is made (Kafka's prepareTransition / appendTransactionToLog / completeTransition):
 * compute the next value (transactionMetadata.ts), write it conditionally, and only then apply
 * it in memory. A failed write answers COORDINATOR_NOT_AVAILABLE and leaves memory as it was
 * (so Kafka's hasFailedEpochFence is not needed); a lost condition (another writer) reloads the
 * item and answers NOT_COORDINATOR, as Kafka does when its coordinator epoch moved on.
 * Operations on one transactional id run one at a time (a promise chain per id, in place of
 * Kafka's per-metadata lock and pendingState); different ids proceed independently. The
 * synchronous reads (verify*, describe, list) see only durable state.
 *
 * Ending a transaction (EndTxn, a fence, a timeout) writes PrepareCommit/PrepareAbort — the
 * decision — then, outside the id's chain, writes the markers through TxnMarkerWriter (Kafka's
 * TransactionMarkerChannelManager), completes the groups' pending transactional offsets, and
 * writes CompleteCommit/CompleteAbort. start() resumes every Prepare* it finds, so a coordinator
 * that stopped after deciding finishes what was decided.
 *
 * Which ids (Kafka: the leader of the id's __transaction_state partition): without an ownership
 * (a single broker, unit tests) every id, all loaded at start. With one
 * (core/cluster/coordinatorPlacement.ts; several brokers share the store), only those this
 * broker owns at the moment, as Kafka's TransactionStateManager does with its partitions:
 * - requests for an id owned elsewhere get NOT_COORDINATOR; the client looks it up again;
 * - when the live brokers change, the ids lost are unloaded (their completions abandoned: the
 *   new coordinator finishes them), and the store is scanned for the ids gained, which are
 *   taken over: a Prepare* transaction is completed, an Ongoing one is aborted once past its
 *   timeout by the usual timer; until the scan is done, the synchronous calls answer
 *   COORDINATOR_LOAD_IN_PROGRESS for ids not loaded yet, and requests load the id they need.
 *
 * Coordinator epochs (carried by every marker; a partition refuses one older than it has seen)
 * are per transactional id, stored in its item: the first write a coordinator makes to an id
 * after loading it raises the stored epoch (to at least `coordinatorEpoch` of the config), and
 * a decision it did not write itself is written again before its markers go out. Writes are
 * conditional, so the store's epochs only grow, and a new coordinator's markers always carry a
 * higher epoch than the previous coordinator's.
 *
 * Marker errors (TransactionMarkerRequestCompletionHandler): NONE, and UNKNOWN_TOPIC_OR_PARTITION
 * (a deleted topic; Kafka skips partitions without a leader) or UNSUPPORTED_FOR_MESSAGE_FORMAT /
 * UNSUPPORTED_VERSION are done; INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED mean
 * this coordinator is stale: its markers are abandoned and the item reloaded; anything else is
 * retried with backoff until done or close().
 */
import { isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import { TIMED_OUT, within } from '../common/timeout';
import type { VersionedKv } from '../meta/versionedKv';
import type { CoordinatorOwnership } from '../cluster/coordinatorPlacement';
import { ErrorCode, errorName } from '../protocol/errorCodes';
import {
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  TXN_STATES,
  alreadyInTransaction,
  containsPartition,
  endTxnRetryAnswer,
  isExpirationAllowed,
  isPrepare,
  isValidExpectedProducer,
  needsProducerIdRotation,
  newTransaction,
  partitionsByTopic,
  prepareAbortOrCommit,
  prepareAddToTransaction,
  prepareComplete,
  prepareEpochFenceAbort,
  prepareIncrementProducerEpoch,
  prepareProducerIdRotation,
  type ExpectedProducer,
  type TopicPartitionRef,
  type TxnMetadata,
  type TxnState,
} from './transactionMetadata';
import { TransactionStateStore, type StoredTxn } from './transactionStateStore';

export type { TopicPartitionRef, TxnMetadata, TxnState } from './transactionMetadata';

/** Appends end-transaction markers to partition logs (the WriteTxnMarkers path); one code per partition. */
export interface TxnMarkerWriter {
  writeMarkers(m: {
    producerId: bigint;
    producerEpoch: number;
    coordinatorEpoch: number;
    result: 'COMMIT' | 'ABORT';
    partitions: TopicPartitionRef[];
  }): Promise<{ partition: TopicPartitionRef; errorCode: number }[]>;
}

/**
 * KIP-890 verification of a producer's write against the id's state: NONE when Ongoing with
 * this producer id and epoch and `includes` holds (INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_EPOCH,
 * CONCURRENT_TRANSACTIONS or INVALID_TXN_STATE otherwise, see verifyTransactionalWrite).
 */
function checkVerified(m: TxnMetadata | undefined, producerId: bigint, producerEpoch: number, includes: (m: TxnMetadata) => boolean): number {
  if (m === undefined || m.state === 'Dead' || m.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
  if (m.producerEpoch !== producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
  if (isPrepare(m.state)) return ErrorCode.CONCURRENT_TRANSACTIONS;
  return m.state === 'Ongoing' && includes(m) ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE;
}

/** The group coordinator's side of a transaction's end: pending transactional offsets become committed, or are dropped. */
export interface TxnOffsetsCompleter {
  completeTransaction(producerId: bigint, groups: string[], committed: boolean): Promise<void>;
}

export interface ProducerIdGenerator {
  generate(): Promise<bigint>;
}

export interface TransactionCoordinatorConfig {
  /** transaction.max.timeout.ms */
  transactionMaxTimeoutMs: number;
  /** transactional.id.expiration.ms */
  transactionalIdExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms */
  abortTimedOutTransactionsIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms */
  removeExpiredTransactionalIdsIntervalMs: number;
  /**
   * The lowest coordinator epoch this coordinator writes to an id it takes over (the broker's
   * lease epoch, which grows with every start, keeps ids written before epochs were stored per
   * id safe); each takeover raises the id's stored epoch by at least one.
   */
  coordinatorEpoch: number;
  /** First retry delay of a failed marker or completion write (default 100 ms), doubling up to 5 s. */
  markerRetryBackoffMs?: number;
  /** How long EndTxn (and a fencing InitProducerId) waits for the transaction to complete before answering (default 2000 ms). */
  endTxnCompletionWaitMs?: number;
  /** How long close() waits for in-flight store writes (default 5000 ms). */
  closeWaitMs?: number;
  /** How often a change of ownership is looked for when no request asks (default 100 ms). */
  ownershipCheckIntervalMs?: number;
}

export interface TransactionCoordinatorDeps {
  producerIds: ProducerIdGenerator;
  markers: TxnMarkerWriter;
  offsets: TxnOffsetsCompleter;
  /** Whether the topic exists and has the partition (AddPartitionsToTxn; markers of deleted topics are skipped). */
  partitionExists(tp: TopicPartitionRef): boolean;
  logger: Logger;
  /** Clock (ms); Date.now by default. */
  now?: () => number;
  /** Which transactional ids this broker coordinates (see the top of this file); every id without it. */
  ownership?: CoordinatorOwnership;
}

export interface InitProducerIdParams {
  /** null for an idempotent producer without transactions. */
  transactionalId: string | null;
  transactionTimeoutMs: number;
  /** KIP-360: the producer's current id and epoch, or -1/-1. */
  producerId: bigint;
  producerEpoch: number;
}

export interface InitProducerIdResult {
  errorCode: number;
  producerId: bigint;
  producerEpoch: number;
}

export interface TxnRequestParams {
  transactionalId: string;
  producerId: bigint;
  producerEpoch: number;
}

/** DescribeTransactions' per-id answer, in the generated response's field names. */
export interface DescribedTransaction {
  errorCode: number;
  transactionalId: string;
  transactionState: string;
  transactionTimeoutMs: number;
  transactionStartTimeMs: bigint;
  producerId: bigint;
  producerEpoch: number;
  /** Partitions of the transaction; while it completes, only those still without a marker. */
  topics: { topic: string; partitions: number[] }[];
}

export interface ListTransactionsResult {
  errorCode: number;
  /** Requested state names that are not transaction states. */
  unknownStateFilters: string[];
  transactionStates: { transactionalId: string; producerId: bigint; transactionState: string }[];
}

const DEFAULT_MARKER_RETRY_BACKOFF_MS = 100;
const MAX_RETRY_BACKOFF_MS = 5000;
const DEFAULT_END_TXN_COMPLETION_WAIT_MS = 2000;
const DEFAULT_CLOSE_WAIT_MS = 5000;
const DEFAULT_OWNERSHIP_CHECK_INTERVAL_MS = 100;
/** A failed takeover scan is retried no sooner than this. */
const SCAN_RETRY_MS = 1000;
/** Repeated failures of one completion are logged at most this often. */
const FAILURE_LOG_INTERVAL_MS = 5000;

/** A transaction being completed: markers, then offsets, then the Complete* write. */
interface Completion {
  /** The decision; replaced by its rewrite with this coordinator's epoch when it was resumed. */
  prepared: StoredTxn;
  /** Set when the id is unloaded (another broker coordinates it now): the work stops. */
  abandoned: boolean;
  /** Partitions still without a marker (DescribeTransactions shows these, as Kafka does). */
  remaining: TopicPartitionRef[];
  done: Promise<void>;
}

type PersistResult = { ok: true; entry: StoredTxn } | { ok: false; errorCode: number };

/** An operation's answer, and the completion it started (waited for outside the id's chain). */
interface Outcome<T> {
  result: T;
  completion?: Promise<void>;
}

const CLOSED = Symbol('closed');

function unref(t: NodeJS.Timeout): NodeJS.Timeout {
  t.unref();
  return t;
}

const tpName = (tp: TopicPartitionRef): string => `${tp.topic}-${tp.partition}`;

export class TransactionCoordinator {
  private readonly entries = new Map<string, StoredTxn>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly completions = new Map<string, Completion>();
  private active = true;
  private readonly timers: NodeJS.Timeout[] = [];
  private abortRunning: Promise<void> | null = null;
  private expiryRunning: Promise<void> | null = null;
  /** Waits that close() cuts short (a listener per wait, removed when it ends: racing every wait against one long-pending promise would pile up reactions on it). */
  private readonly closeListeners = new Set<() => void>();
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly retryBackoffMs: number;
  private readonly endTxnWaitMs: number;
  /** Null: every id is this coordinator's, and all of them are loaded. */
  private ownership: CoordinatorOwnership | null;
  /** The ownership version last acted on. */
  private ownershipVersion = -1;
  /** The ownership version for which every owned id of the store was taken over (a missing entry is then an absent id). */
  private scannedVersion = -1;
  private scanning: Promise<void> | null = null;
  private lastScanFailure = -Infinity;
  private ownershipTimer: NodeJS.Timeout | null = null;
  /** Ids whose stored coordinator epoch this coordinator has raised since it loaded them. */
  private readonly bumped = new Set<string>();

  private constructor(
    private readonly store: TransactionStateStore,
    private readonly deps: TransactionCoordinatorDeps,
    private readonly config: TransactionCoordinatorConfig,
  ) {
    this.now = deps.now ?? Date.now;
    this.logger = deps.logger;
    this.retryBackoffMs = config.markerRetryBackoffMs ?? DEFAULT_MARKER_RETRY_BACKOFF_MS;
    this.endTxnWaitMs = config.endTxnCompletionWaitMs ?? DEFAULT_END_TXN_COMPLETION_WAIT_MS;
    this.ownership = deps.ownership ?? null;
  }

  /**
   * Loads every transactional id from `kv` (normally `store.namespace('transactions')`), or with
   * `deps.ownership` those this broker owns, resumes the completion of every
   * PrepareCommit/PrepareAbort (and turns a stored PrepareEpochFence into an abort with its
   * bumped epoch), and starts the timeout-abort and id-expiration timers. Resolves once loaded;
   * resumed completions continue in the background.
   */
  static async start(kv: VersionedKv, deps: TransactionCoordinatorDeps, config: TransactionCoordinatorConfig): Promise<TransactionCoordinator> {
    if (!(config.transactionMaxTimeoutMs > 0)) throw new TypeError(`transaction.max.timeout.ms must be positive, got ${config.transactionMaxTimeoutMs}`);
    const store = new TransactionStateStore(kv);
    const c = new TransactionCoordinator(store, deps, config);
    if (c.ownership !== null) {
      c.ownershipVersion = c.ownership.version;
      await c.loadOwned();
    } else {
      await c.loadEverything();
    }
    // setInterval treats anything above 2^31-1 ms as 1 ms; a longer interval means "rarely".
    const every = (ms: number, fn: () => void) => c.timers.push(unref(setInterval(fn, Math.min(Math.max(ms, 1), 2 ** 31 - 1))));
    every(config.abortTimedOutTransactionsIntervalMs, () => void c.abortTimedOutTransactions());
    every(config.removeExpiredTransactionalIdsIntervalMs, () => void c.removeExpiredTransactionalIds());
    if (c.ownership !== null) c.startOwnershipTimer();
    return c;
  }

  /**
   * From now on coordinate only the ids `ownership` says this broker owns (the same as passing
   * it to start(), for a coordinator started without one): what it holds stays loaded where it
   * is still owned, the rest is unloaded at once.
   */
  setOwnership(ownership: CoordinatorOwnership): void {
    if (!this.active) return;
    const hadAll = this.ownership === null;
    this.ownership = ownership;
    this.ownershipVersion = -1;
    this.scannedVersion = -1;
    // Until now it held every id of the store: nothing is left to take over for this view.
    if (hadAll) this.scannedVersion = ownership.version;
    this.checkOwnership();
    this.startOwnershipTimer();
  }

  private startOwnershipTimer(): void {
    if (this.ownershipTimer !== null) return;
    const ms = this.config.ownershipCheckIntervalMs ?? DEFAULT_OWNERSHIP_CHECK_INTERVAL_MS;
    this.ownershipTimer = unref(setInterval(() => this.onOwnershipTimer(), Math.max(ms, 1)));
    this.timers.push(this.ownershipTimer);
  }

  /** A coordinator of every id: loads them all, resuming every decided transaction. */
  private async loadEverything(): Promise<void> {
    const { entries, malformed } = await this.store.loadAll();
    for (const key of malformed) this.logger.warn(`ignoring malformed transaction state item ${JSON.stringify(key)}`);
    let resumed = 0;
    for (const e of entries) {
      const id = e.metadata.transactionalId;
      if (e.metadata.state === 'Dead') {
        // Strata deletes expired ids rather than writing Dead; a stored one is removed.
        await this.store.delete(id, e.version).catch((err: Error) => this.logger.warn(`removing dead transactional id ${JSON.stringify(id)} failed: ${err.message}`));
        continue;
      }
      this.entries.set(id, e);
    }
    for (const e of this.entries.values()) {
      const m = e.metadata;
      if (isPrepare(m.state)) {
        this.logger.info(`resuming the ${m.state === 'PrepareCommit' ? 'commit' : 'abort'} of transactional id ${JSON.stringify(m.transactionalId)} (producer id ${m.producerId}, epoch ${m.producerEpoch}, ${m.partitions.length} partition(s), ${m.groups.length} group(s))`);
        this.startCompletion(e);
        resumed++;
      } else if (m.state === 'PrepareEpochFence') {
        this.logger.info(`resuming the fencing abort of transactional id ${JSON.stringify(m.transactionalId)} (producer id ${m.producerId}, epoch ${m.producerEpoch})`);
        void this.enqueue(m.transactionalId, () => this.fenceAndAbort(m.transactionalId, null, 'resumed epoch fence'));
        resumed++;
      }
    }
    if (this.entries.size > 0) this.logger.info(`loaded ${this.entries.size} transactional id(s), resuming ${resumed} transaction(s)`);
  }

  // ---- ownership (which ids this broker coordinates) ---------------------------------------------------

  /**
   * Acts on a change of ownership (at most once per version): unloads the ids lost, and starts
   * the scan that takes over the ids gained. Runs on a timer and before every request.
   */
  checkOwnership(): void {
    const o = this.ownership;
    if (o === null || !this.active) return;
    const version = o.version;
    if (version === this.ownershipVersion) return;
    this.ownershipVersion = version;
    const lost = [...this.entries.keys()].filter((id) => !o.owns(id));
    for (const id of lost) this.unload(id);
    if (lost.length > 0) this.logger.info(`gave up ${lost.length} transactional id(s) now coordinated by other brokers`);
    this.loadOwned().catch(() => undefined);
  }

  private onOwnershipTimer(): void {
    this.checkOwnership();
    // A scan that failed (the store unreachable) is tried again.
    const o = this.ownership;
    if (o !== null && this.active && this.scanning === null && this.scannedVersion !== o.version && this.now() - this.lastScanFailure >= SCAN_RETRY_MS) {
      this.loadOwned().catch(() => undefined);
    }
  }

  /**
   * Takes over every id of the store this broker owns and has not loaded (once per ownership
   * version): decided transactions are completed by this coordinator, with its epoch. Resolves
   * once each is loaded (completions continue in the background); rejects when the store
   * cannot be read.
   */
  loadOwned(): Promise<void> {
    const o = this.ownership;
    if (o === null || !this.active || this.scannedVersion === o.version) return Promise.resolve();
    this.scanning ??= this.scanOwned(o)
      .catch((e: Error) => {
        this.lastScanFailure = this.now();
        this.logger.warn(`loading the transactional ids this broker coordinates failed: ${e.message}`);
        throw e;
      })
      .finally(() => {
        this.scanning = null;
      });
    return this.scanning;
  }

  private async scanOwned(o: CoordinatorOwnership): Promise<void> {
    const version = o.version;
    const { entries } = await this.store.loadAll();
    let taken = 0;
    await Promise.all(
      entries.map((e) => {
        const id = e.metadata.transactionalId;
        if (this.entries.has(id) || !o.owns(id)) return Promise.resolve();
        return this.enqueue(id, async () => {
          // A request may have loaded it first; it may have moved on meanwhile.
          if (!this.active || this.entries.has(id) || !o.owns(id)) return;
          await this.takeOver(id, e);
          taken++;
        });
      }),
    );
    if (taken > 0) this.logger.info(`took over ${taken} transactional id(s) from the metadata store`);
    // Ownership that moved during the scan is looked at again by the next check.
    this.scannedVersion = version;
  }

  /**
   * Starts coordinating a stored id (in its chain): a decided transaction is completed (its
   * decision first written again with this coordinator's epoch), a stored PrepareEpochFence
   * becomes its abort, Dead is removed; an Ongoing one is left to the timeout timer.
   */
  private async takeOver(id: string, stored: StoredTxn): Promise<void> {
    const m = stored.metadata;
    if (m.state === 'Dead') {
      // Strata deletes expired ids rather than writing Dead; a stored one is removed.
      await this.store.delete(id, stored.version).catch((err: Error) => this.logger.warn(`removing dead transactional id ${JSON.stringify(id)} failed: ${err.message}`));
      return;
    }
    this.entries.set(id, stored);
    this.bumped.delete(id);
    if (isPrepare(m.state)) {
      this.logger.info(`taking over the ${m.state === 'PrepareCommit' ? 'commit' : 'abort'} of transactional id ${JSON.stringify(id)} (producer id ${m.producerId}, epoch ${m.producerEpoch}, ${m.partitions.length} partition(s), ${m.groups.length} group(s))`);
      void this.startCompletion(stored);
    } else if (m.state === 'PrepareEpochFence') {
      this.logger.info(`taking over the fencing abort of transactional id ${JSON.stringify(id)} (producer id ${m.producerId}, epoch ${m.producerEpoch})`);
      await this.fenceAndAbort(id, stored, 'resumed epoch fence');
    }
  }

  /** Forgets an id another broker coordinates now; a completion in progress stops (the new coordinator finishes it). */
  private unload(id: string): void {
    this.entries.delete(id);
    this.bumped.delete(id);
    const c = this.completions.get(id);
    if (c !== undefined) {
      c.abandoned = true;
      this.completions.delete(id);
    }
  }

  /**
   * At the start of every operation on an id (in its chain): COORDINATOR_NOT_AVAILABLE once
   * closed, NOT_COORDINATOR for an id owned elsewhere; an owned id not loaded yet is read from
   * the store and taken over first.
   */
  private async acquire(id: string): Promise<number | null> {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const o = this.ownership;
    if (o === null) return null;
    this.checkOwnership();
    if (!o.owns(id)) return ErrorCode.NOT_COORDINATOR;
    if (this.entries.has(id) || this.scannedVersion === o.version) return null;
    let stored: StoredTxn | null;
    try {
      stored = await this.store.get(id);
    } catch (e) {
      this.logger.warn(`loading transactional id ${JSON.stringify(id)} failed: ${(e as Error).message}`);
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (!o.owns(id)) return ErrorCode.NOT_COORDINATOR;
    if (stored !== null && !this.entries.has(id)) await this.takeOver(id, stored);
    return null;
  }

  /** For the synchronous reads: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS (until the id is loaded), or null. */
  private readError(id: string): number | null {
    const o = this.ownership;
    if (o === null) return null;
    this.checkOwnership();
    if (!o.owns(id)) return ErrorCode.NOT_COORDINATOR;
    if (this.entries.has(id) || this.scannedVersion === o.version) return null;
    void this.ready([id]);
    return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }

  /** Whether this coordinator owns the id now (always, without an ownership). */
  owns(transactionalId: string): boolean {
    if (this.ownership === null) return true;
    this.checkOwnership();
    return this.ownership.owns(transactionalId);
  }

  /**
   * Loads the owned ids among `ids` that are not loaded yet (handlers await this before the
   * synchronous describeTransactions). Never rejects.
   */
  async ready(ids: readonly string[]): Promise<void> {
    const o = this.ownership;
    if (o === null || !this.active) return;
    this.checkOwnership();
    const loads = ids.filter((id) => o.owns(id) && !this.entries.has(id) && this.scannedVersion !== o.version).map((id) => this.enqueue(id, () => this.acquire(id)));
    await Promise.all(loads.map((p) => p.catch((e: Error) => this.logger.warn(`loading a transactional id failed: ${e.message}`))));
  }

  /**
   * Stops the timers and the marker retries, and waits (at most closeWaitMs) for store writes
   * in flight. A completion interrupted here is resumed by the next start() on the same store.
   * Later calls answer COORDINATOR_NOT_AVAILABLE.
   */
  async close(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    for (const t of this.timers) clearInterval(t);
    for (const wake of [...this.closeListeners]) wake();
    this.closeListeners.clear();
    const inFlight = [...this.chains.values(), ...[...this.completions.values()].map((c) => c.done), this.abortRunning, this.expiryRunning, this.scanning];
    const settled = await within(Promise.allSettled(inFlight), this.config.closeWaitMs ?? DEFAULT_CLOSE_WAIT_MS);
    if (settled === TIMED_OUT) this.logger.warn('transaction coordinator closed with store writes still in flight');
  }

  // ---- InitProducerId ---------------------------------------------------------------------------

  /**
   * InitProducerId (TransactionCoordinator.handleInitProducerId):
   * - no transactional id: a new producer id at epoch 0 (idempotent producers);
   * - '' → INVALID_REQUEST; a timeout outside (0, transaction.max.timeout.ms] → INVALID_TRANSACTION_TIMEOUT;
   * - a new id: a new producer id at epoch 0;
   * - Empty/Complete*: the epoch is bumped (a new producer id once it is exhausted), with
   *   KIP-360's checks of the producer id/epoch the caller names (PRODUCER_FENCED when it is
   *   an older incarnation; the current epoch again for a retry of a bump that succeeded);
   * - Prepare*: CONCURRENT_TRANSACTIONS (the client backs off and retries);
   * - Ongoing: the current producer is fenced (epoch + 1, never returned) and its transaction
   *   aborted with that epoch; the answer is CONCURRENT_TRANSACTIONS, and the client's retry,
   *   once the abort completed, gets the next epoch.
   */
  async initProducerId(p: InitProducerIdParams): Promise<InitProducerIdResult> {
    const error = (errorCode: number): InitProducerIdResult => ({ errorCode, producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH });
    if (!this.active) return error(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (p.transactionalId === null) {
      const producerId = await this.generateProducerId();
      return producerId === null ? error(ErrorCode.COORDINATOR_NOT_AVAILABLE) : { errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
    }
    if (p.transactionalId === '') return error(ErrorCode.INVALID_REQUEST);
    if (!(p.transactionTimeoutMs > 0 && p.transactionTimeoutMs <= this.config.transactionMaxTimeoutMs)) return error(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    // KafkaApis: both -1 means "none"; only one of them -1 is a malformed request.
    const noId = p.producerId === NO_PRODUCER_ID;
    const noEpoch = p.producerEpoch === NO_PRODUCER_EPOCH;
    if (noId !== noEpoch) return error(ErrorCode.INVALID_REQUEST);
    const expected: ExpectedProducer | null = noId ? null : { producerId: p.producerId, producerEpoch: p.producerEpoch };
    const id = p.transactionalId;
    const outcome = await this.enqueue(id, () => this.doInitProducerId(id, p.transactionTimeoutMs, expected));
    if (outcome.completion) await within(outcome.completion, this.endTxnWaitMs);
    return outcome.result;
  }

  private async doInitProducerId(id: string, timeoutMs: number, expected: ExpectedProducer | null): Promise<Outcome<InitProducerIdResult>> {
    const error = (errorCode: number): Outcome<InitProducerIdResult> => ({ result: { errorCode, producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH } });
    const unavailable = await this.acquire(id);
    if (unavailable !== null) return error(unavailable);
    const current = this.entries.get(id);
    let m: TxnMetadata;
    if (current === undefined) {
      const producerId = await this.generateProducerId();
      if (producerId === null) return error(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      m = newTransaction(id, producerId, timeoutMs, this.now());
    } else {
      m = current.metadata;
    }
    if (expected !== null && !isValidExpectedProducer(m, expected)) return error(ErrorCode.PRODUCER_FENCED);
    switch (m.state) {
      case 'PrepareCommit':
      case 'PrepareAbort':
        return error(ErrorCode.CONCURRENT_TRANSACTIONS);
      case 'Empty':
      case 'CompleteCommit':
      case 'CompleteAbort': {
        let next: TxnMetadata;
        if (needsProducerIdRotation(m, expected)) {
          const producerId = await this.generateProducerId();
          if (producerId === null) return error(ErrorCode.COORDINATOR_NOT_AVAILABLE);
          next = prepareProducerIdRotation(m, producerId, timeoutMs, this.now(), expected !== null);
        } else {
          const t = prepareIncrementProducerEpoch(m, timeoutMs, expected?.producerEpoch ?? null, this.now());
          if (!t.ok) {
            this.logger.info(`transactional id ${JSON.stringify(id)}: InitProducerId naming producer id ${expected?.producerId} epoch ${expected?.producerEpoch} is fenced (current epoch ${m.producerEpoch}, last ${m.lastProducerEpoch})`);
            return error(t.errorCode);
          }
          next = t.next;
        }
        const r = await this.persist(id, current, next);
        if (!r.ok) return error(r.errorCode);
        this.logger.info(`initialized transactional id ${JSON.stringify(id)} with producer id ${next.producerId} and epoch ${next.producerEpoch}`);
        return { result: { errorCode: ErrorCode.NONE, producerId: next.producerId, producerEpoch: next.producerEpoch } };
      }
      case 'Ongoing': {
        const fenced = await this.fenceAndAbort(id, current!, 'a new producer instance called InitProducerId');
        if (fenced.errorCode !== ErrorCode.NONE) return error(fenced.errorCode);
        return { ...error(ErrorCode.CONCURRENT_TRANSACTIONS), completion: fenced.completion };
      }
      case 'Dead':
      case 'PrepareEpochFence':
        this.logger.error(`transactional id ${JSON.stringify(id)} is in state ${m.state}, which is never current`);
        return error(ErrorCode.UNKNOWN_SERVER_ERROR);
    }
  }

  // ---- AddPartitionsToTxn / AddOffsetsToTxn -------------------------------------------------------

  /**
   * AddPartitionsToTxn: one code per requested partition. Partitions that do not exist get
   * UNKNOWN_TOPIC_OR_PARTITION and every other one OPERATION_NOT_ATTEMPTED, with nothing added
   * (KafkaApis checks this before the coordinator); otherwise all get the coordinator's code.
   */
  async addPartitions(p: TxnRequestParams & { partitions: TopicPartitionRef[] }): Promise<{ partition: TopicPartitionRef; errorCode: number }[]> {
    const missing = p.partitions.map((tp) => !this.deps.partitionExists(tp));
    if (missing.some(Boolean)) {
      return p.partitions.map((partition, i) => ({ partition, errorCode: missing[i] ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.OPERATION_NOT_ATTEMPTED }));
    }
    const errorCode = await this.addToTransaction(p, { partitions: p.partitions });
    return p.partitions.map((partition) => ({ partition, errorCode }));
  }

  /**
   * AddOffsetsToTxn: adds the consumer group to the transaction (Kafka adds the group's
   * __consumer_offsets partition through the same path as AddPartitionsToTxn), so that the
   * transaction's end completes the group's pending transactional offsets.
   */
  addOffsets(p: TxnRequestParams & { groupId: string }): Promise<number> {
    return this.addToTransaction(p, { groups: [p.groupId] });
  }

  /** TransactionCoordinator.handleAddPartitionsToTransaction. */
  private async addToTransaction(p: TxnRequestParams, add: { partitions?: TopicPartitionRef[]; groups?: string[] }): Promise<number> {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (p.transactionalId === '') return ErrorCode.INVALID_REQUEST;
    return this.enqueue(p.transactionalId, async () => {
      const unavailable = await this.acquire(p.transactionalId);
      if (unavailable !== null) return unavailable;
      const current = this.entries.get(p.transactionalId);
      const invalid = this.checkProducer(current, p);
      if (invalid !== null) return invalid;
      const m = current!.metadata;
      if (isPrepare(m.state)) return ErrorCode.CONCURRENT_TRANSACTIONS;
      if (m.state === 'Dead' || m.state === 'PrepareEpochFence') return ErrorCode.UNKNOWN_SERVER_ERROR;
      // Already part of the transaction: answered at once, without a write.
      if (alreadyInTransaction(m, add)) return ErrorCode.NONE;
      const r = await this.persist(p.transactionalId, current, prepareAddToTransaction(m, add, this.now()));
      return r.ok ? ErrorCode.NONE : r.errorCode;
    });
  }

  /** Unknown id or another producer id → INVALID_PRODUCER_ID_MAPPING; another epoch → PRODUCER_FENCED. */
  private checkProducer(current: StoredTxn | undefined, p: TxnRequestParams): number | null {
    if (current === undefined || current.metadata.producerId !== p.producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (current.metadata.producerEpoch !== p.producerEpoch) return ErrorCode.PRODUCER_FENCED;
    return null;
  }

  // ---- EndTxn -------------------------------------------------------------------------------------

  /**
   * EndTxn (TransactionCoordinator.endTransaction, isFromClient): an Ongoing transaction's
   * decision (PrepareCommit/PrepareAbort) is written, then completed in the background. The
   * answer is NONE once the decision is durable, after waiting up to endTxnCompletionWaitMs for
   * the completion, so that the client's next request does not meet CONCURRENT_TRANSACTIONS.
   * Retries: a completed end with the same result is NONE, one still completing
   * CONCURRENT_TRANSACTIONS, the other result or an Empty id INVALID_TXN_STATE.
   */
  async endTxn(p: TxnRequestParams & { committed: boolean }): Promise<number> {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (p.transactionalId === '') return ErrorCode.INVALID_REQUEST;
    const outcome = await this.enqueue(p.transactionalId, async (): Promise<Outcome<number>> => {
      const unavailable = await this.acquire(p.transactionalId);
      if (unavailable !== null) return { result: unavailable };
      const current = this.entries.get(p.transactionalId);
      const invalid = this.checkProducer(current, p);
      if (invalid !== null) return { result: invalid };
      const m = current!.metadata;
      if (m.state !== 'Ongoing') {
        const answer = endTxnRetryAnswer(m.state, p.committed);
        if (answer === ErrorCode.UNKNOWN_SERVER_ERROR) this.logger.error(`transactional id ${JSON.stringify(p.transactionalId)} is in state ${m.state}, which is never current`);
        return { result: answer };
      }
      const r = await this.persist(p.transactionalId, current, prepareAbortOrCommit(m, p.committed, this.now()));
      if (!r.ok) return { result: r.errorCode };
      return { result: ErrorCode.NONE, completion: this.startCompletion(r.entry) };
    });
    if (outcome.completion) await within(outcome.completion, this.endTxnWaitMs);
    return outcome.result;
  }

  /**
   * Fences the producer of an Ongoing transaction and aborts the transaction with the bumped
   * epoch (prepareFenceProducerEpoch + endTransaction(isFromClient = false)). Runs in the id's
   * chain; `current` null re-reads it (a stored PrepareEpochFence being resumed).
   */
  private async fenceAndAbort(id: string, current: StoredTxn | null, why: string): Promise<{ errorCode: number; completion?: Promise<void> }> {
    const entry = current ?? this.entries.get(id);
    if (!this.active) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    if (entry === undefined || (entry.metadata.state !== 'Ongoing' && entry.metadata.state !== 'PrepareEpochFence')) return { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS };
    const m = entry.metadata;
    const next = prepareEpochFenceAbort(m, this.now());
    const r = await this.persist(id, entry, next);
    if (!r.ok) {
      this.logger.warn(`transactional id ${JSON.stringify(id)}: fencing producer id ${m.producerId} epoch ${m.producerEpoch} failed (${errorName(r.errorCode)})`);
      return { errorCode: r.errorCode };
    }
    this.logger.info(`transactional id ${JSON.stringify(id)}: aborting the ongoing transaction of producer id ${m.producerId} and fencing epoch ${m.producerEpoch} with ${next.producerEpoch}: ${why}`);
    return { errorCode: ErrorCode.NONE, completion: this.startCompletion(r.entry) };
  }

  // ---- completing a decided transaction -----------------------------------------------------------

  /** Starts (once per decision) the markers → offsets → Complete* work for a Prepare* entry. */
  private startCompletion(prepared: StoredTxn): Promise<void> {
    const id = prepared.metadata.transactionalId;
    const existing = this.completions.get(id);
    if (existing !== undefined && existing.prepared.version === prepared.version) return existing.done;
    const c: Completion = { prepared, abandoned: false, remaining: [...prepared.metadata.partitions], done: Promise.resolve() };
    this.completions.set(id, c);
    c.done = this.runCompletion(c)
      .catch((e: unknown) => this.logger.error(`completing the transaction of ${JSON.stringify(id)} failed: ${(e as Error).stack ?? String(e)}`))
      .finally(() => {
        if (this.completions.get(id) === c) this.completions.delete(id);
      });
    return c.done;
  }

  private async runCompletion(c: Completion): Promise<void> {
    const m = c.prepared.metadata;
    const id = m.transactionalId;
    const committed = m.state === 'PrepareCommit';
    const result = committed ? 'COMMIT' : 'ABORT';
    const backoff = this.backoff();
    let lastLog = -Infinity;
    const logFailure = (what: string) => {
      const now = this.now();
      if (now - lastLog < FAILURE_LOG_INTERVAL_MS) return;
      lastLog = now;
      this.logger.warn(`transactional id ${JSON.stringify(id)}: ${what}; retrying`);
    };
    const stopped = () => !this.active || c.abandoned;

    // 0. The markers must carry an epoch above every earlier coordinator's of this id: a
    //    decision this coordinator did not write itself (resumed after a restart or taken over
    //    from another broker) is first written again with this coordinator's epoch.
    for (;;) {
      if (stopped()) return;
      const r = await this.enqueue(id, async (): Promise<PersistResult | null> => {
        const current = this.entries.get(id);
        if (current === undefined || current.version !== c.prepared.version || stopped()) return null;
        if (this.bumped.has(id)) return { ok: true, entry: current };
        return this.persist(id, current, current.metadata);
      });
      if (r === null) return;
      if (r.ok) {
        c.prepared = r.entry;
        break;
      }
      if (r.errorCode === ErrorCode.NOT_COORDINATOR) return;
      logFailure(`writing the decision with this coordinator's epoch failed (${errorName(r.errorCode)})`);
      if ((await this.sleep(backoff.next())) === CLOSED) return;
    }
    backoff.reset();
    const coordinatorEpoch = c.prepared.coordinatorEpoch;

    // 1. Markers, carrying the producer's epoch (transaction version 0/1).
    while (c.remaining.length > 0) {
      if (stopped()) return;
      const gone = c.remaining.filter((tp) => !this.deps.partitionExists(tp));
      if (gone.length > 0) {
        this.logger.info(`transactional id ${JSON.stringify(id)}: skipping the ${result} markers of deleted partition(s) ${gone.map(tpName).join(', ')}`);
        c.remaining = c.remaining.filter((tp) => !containsPartition(gone, tp));
        if (c.remaining.length === 0) break;
      }
      const partitions = [...c.remaining];
      let answers: { partition: TopicPartitionRef; errorCode: number }[] | typeof CLOSED;
      try {
        answers = await this.untilClosed(this.deps.markers.writeMarkers({ producerId: m.producerId, producerEpoch: m.producerEpoch, coordinatorEpoch, result, partitions }));
      } catch (e) {
        answers = [];
        logFailure(`writing ${result} markers failed: ${(e as Error).message}`);
      }
      if (answers === CLOSED || c.abandoned) return;
      const retry: TopicPartitionRef[] = [];
      const failures: string[] = [];
      for (const tp of partitions) {
        const code = answers.find((a) => a.partition.topic === tp.topic && a.partition.partition === tp.partition)?.errorCode ?? ErrorCode.REQUEST_TIMED_OUT;
        switch (code) {
          case ErrorCode.NONE:
            break;
          case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
            this.logger.info(`transactional id ${JSON.stringify(id)}: ${tpName(tp)} no longer exists; its ${result} marker is skipped`);
            break;
          case ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT:
          case ErrorCode.UNSUPPORTED_VERSION:
            // Kafka: the producer could not have written to this partition either.
            this.logger.info(`transactional id ${JSON.stringify(id)}: ${tpName(tp)} answered ${errorName(code)}; its ${result} marker is skipped`);
            break;
          case ErrorCode.INVALID_PRODUCER_EPOCH:
          case ErrorCode.TRANSACTION_COORDINATOR_FENCED: {
            // The partition has seen a newer producer epoch or coordinator epoch. Kafka stops
            // sending this transaction's markers: its coordinator must be stale. Here the item
            // says whether it is: if another coordinator wrote it meanwhile, that one finishes
            // the transaction; if not, someone else wrote a newer epoch to the partition (a
            // WriteTxnMarkers or a batch naming this producer id), which no retry can get past —
            // the partition is left as that writer left it, so the transaction can still complete
            // rather than stay in Prepare* (and its id unusable) for ever.
            await this.reload(id);
            const now = this.entries.get(id);
            const stale = now === undefined || now.version !== c.prepared.version;
            this.logger.error(
              `transactional id ${JSON.stringify(id)}: ${tpName(tp)} refused the ${result} marker of producer id ${m.producerId} epoch ${m.producerEpoch} with ${errorName(code)}; ` +
                (stale ? 'another coordinator has the transaction now: abandoning its markers' : 'a newer epoch was written to the partition by another writer: its marker is skipped'),
            );
            if (stale) return;
            break;
          }
          default:
            retry.push(tp);
            failures.push(`${tpName(tp)}: ${errorName(code)}`);
        }
      }
      c.remaining = retry;
      if (retry.length > 0) {
        if (failures.length > 0) logFailure(`${result} markers failed for ${failures.join(', ')}`);
        if ((await this.sleep(backoff.next())) === CLOSED) return;
      } else {
        backoff.reset();
      }
    }

    // 2. The groups' pending transactional offsets (Kafka: the marker in __consumer_offsets).
    if (m.groups.length > 0) {
      for (;;) {
        if (stopped()) return;
        try {
          if ((await this.untilClosed(this.deps.offsets.completeTransaction(m.producerId, [...m.groups], committed))) === CLOSED) return;
          break;
        } catch (e) {
          logFailure(`completing the transactional offsets of group(s) ${m.groups.join(', ')} failed: ${(e as Error).message}`);
          if ((await this.sleep(backoff.next())) === CLOSED) return;
        }
      }
    }

    // 3. The Complete* write; retried while the store is unavailable (Kafka retries the append).
    for (;;) {
      if (stopped()) return;
      const r = await this.enqueue(id, async (): Promise<PersistResult | null> => {
        const current = this.entries.get(id);
        // Changed under us (reloaded after another writer), or unloaded: no longer ours to complete.
        if (current === undefined || current.version !== c.prepared.version || stopped()) return null;
        return this.persist(id, current, prepareComplete(current.metadata, this.now()));
      });
      if (r === null) return;
      if (r.ok) {
        this.logger.debug(`transactional id ${JSON.stringify(id)}: ${r.entry.metadata.state} (producer id ${m.producerId}, epoch ${m.producerEpoch})`);
        return;
      }
      if (r.errorCode === ErrorCode.NOT_COORDINATOR) return;
      logFailure(`writing the end of the transaction failed (${errorName(r.errorCode)})`);
      if ((await this.sleep(backoff.next())) === CLOSED) return;
    }
  }

  // ---- verification (KIP-890 part 1) ------------------------------------------------------------

  /**
   * Whether a transactional produce to `tp` belongs to the producer's ongoing transaction
   * (Kafka's verification through AddPartitionsToTxn with verifyOnly, codes already converted
   * for Produce as AddPartitionsToTxnManager does): NONE when the id is Ongoing with this
   * producer id and epoch and `tp` was added; INVALID_PRODUCER_ID_MAPPING for an unknown id or
   * another producer id; INVALID_PRODUCER_EPOCH for another epoch; CONCURRENT_TRANSACTIONS while
   * the transaction completes; INVALID_TXN_STATE otherwise (Kafka 3.8+ says TRANSACTION_ABORTABLE
   * to clients that know it).
   */
  verifyTransactionalWrite(transactionalId: string, producerId: bigint, producerEpoch: number, tp: TopicPartitionRef): number {
    return this.verify(transactionalId, producerId, producerEpoch, (m) => containsPartition(m.partitions, tp));
  }

  /** The same check for TxnOffsetCommit: the group must have been added with AddOffsetsToTxn. */
  verifyTxnOffsetCommit(transactionalId: string, producerId: bigint, producerEpoch: number, groupId: string): number {
    return this.verify(transactionalId, producerId, producerEpoch, (m) => m.groups.includes(groupId));
  }

  /**
   * The verification a partition leader asks for before a producer's first transactional write
   * (PartitionManager's synchronous TransactionVerifier): verifyTransactionalWrite for an id
   * this broker coordinates; for an id coordinated elsewhere, whose state cannot be read
   * synchronously here, NONE — the write is not verified, as before KIP-890 — until the
   * verifier can await verifyTransactionalWriteAnywhere.
   */
  verifyWriteForPartition(transactionalId: string, producerId: bigint, producerEpoch: number, tp: TopicPartitionRef): number {
    if (this.active && !this.owns(transactionalId)) return ErrorCode.NONE;
    return this.verifyTransactionalWrite(transactionalId, producerId, producerEpoch, tp);
  }

  /** verifyTransactionalWrite from any broker: an id coordinated elsewhere is checked against its stored state. */
  verifyTransactionalWriteAnywhere(transactionalId: string, producerId: bigint, producerEpoch: number, tp: TopicPartitionRef): Promise<number> {
    return this.verifyAnywhere(transactionalId, producerId, producerEpoch, (m) => containsPartition(m.partitions, tp));
  }

  /** verifyTxnOffsetCommit from any broker (the group's coordinator need not be the transaction's). */
  verifyTxnOffsetCommitAnywhere(transactionalId: string, producerId: bigint, producerEpoch: number, groupId: string): Promise<number> {
    return this.verifyAnywhere(transactionalId, producerId, producerEpoch, (m) => m.groups.includes(groupId));
  }

  private async verifyAnywhere(transactionalId: string, producerId: bigint, producerEpoch: number, includes: (m: TxnMetadata) => boolean): Promise<number> {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (this.owns(transactionalId)) {
      await this.ready([transactionalId]);
      return this.verify(transactionalId, producerId, producerEpoch, includes);
    }
    let stored: StoredTxn | null;
    try {
      stored = await this.store.get(transactionalId);
    } catch (e) {
      this.logger.warn(`reading transactional id ${JSON.stringify(transactionalId)} to verify a write failed: ${(e as Error).message}`);
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    return checkVerified(stored?.metadata, producerId, producerEpoch, includes);
  }

  private verify(transactionalId: string, producerId: bigint, producerEpoch: number, includes: (m: TxnMetadata) => boolean): number {
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const unavailable = this.readError(transactionalId);
    if (unavailable !== null) return unavailable;
    return checkVerified(this.entries.get(transactionalId)?.metadata, producerId, producerEpoch, includes);
  }

  // ---- DescribeTransactions / ListTransactions -----------------------------------------------------


  /** DescribeTransactions (handleDescribeTransactions), one answer per id in order. */
  describeTransactions(ids: readonly string[]): DescribedTransaction[] {
    return ids.map((transactionalId) => {
      const none: DescribedTransaction = {
        errorCode: ErrorCode.NONE,
        transactionalId,
        transactionState: '',
        transactionTimeoutMs: 0,
        transactionStartTimeMs: -1n,
        producerId: NO_PRODUCER_ID,
        producerEpoch: NO_PRODUCER_EPOCH,
        topics: [],
      };
      if (!this.active) return { ...none, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
      if (transactionalId === '') return { ...none, errorCode: ErrorCode.INVALID_REQUEST };
      const unavailable = this.readError(transactionalId);
      if (unavailable !== null) return { ...none, errorCode: unavailable };
      const m = this.entries.get(transactionalId)?.metadata;
      if (m === undefined || m.state === 'Dead') return { ...none, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND };
      const c = this.completions.get(transactionalId);
      const partitions = c !== undefined && isPrepare(m.state) ? c.remaining : m.partitions;
      return {
        errorCode: ErrorCode.NONE,
        transactionalId,
        transactionState: m.state,
        transactionTimeoutMs: m.transactionTimeoutMs,
        transactionStartTimeMs: BigInt(m.txnStartTimestamp),
        producerId: m.producerId,
        producerEpoch: m.producerEpoch,
        topics: partitionsByTopic(partitions),
      };
    });
  }

  /**
   * ListTransactions (TransactionStateManager.listTransactionStates): filters by state names
   * (exact Kafka names; unknown ones are reported and match nothing), producer ids, and
   * KIP-994's duration: with durationFilterMs ≥ 0 a transaction is listed only when
   * now - txnStartTimestamp exceeds it. Like Kafka, this compares the start timestamp in every
   * state (an Empty id, start -1, always passes); combine it with a state filter for "running".
   */
  listTransactions(f: { states: readonly string[]; producerIds: readonly bigint[]; durationFilterMs: bigint }): ListTransactionsResult {
    if (!this.active) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, unknownStateFilters: [], transactionStates: [] };
    if (this.ownership !== null) {
      this.checkOwnership();
      // Kafka answers this while any of its partitions is loading; the handler awaits loadOwned() first.
      if (this.scannedVersion !== this.ownership.version) {
        void this.loadOwned().catch(() => undefined);
        return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, unknownStateFilters: [], transactionStates: [] };
      }
    }
    const states = new Set<TxnState>();
    const unknownStateFilters: string[] = [];
    for (const s of f.states) {
      if ((TXN_STATES as readonly string[]).includes(s)) states.add(s as TxnState);
      else unknownStateFilters.push(s);
    }
    const producerIds = new Set(f.producerIds);
    const now = BigInt(this.now());
    const transactionStates: ListTransactionsResult['transactionStates'] = [];
    for (const { metadata: m } of this.entries.values()) {
      if (m.state === 'Dead') continue;
      if (producerIds.size > 0 && !producerIds.has(m.producerId)) continue;
      if (f.states.length > 0 && !states.has(m.state)) continue;
      if (f.durationFilterMs >= 0n && now - BigInt(m.txnStartTimestamp) <= f.durationFilterMs) continue;
      transactionStates.push({ transactionalId: m.transactionalId, producerId: m.producerId, transactionState: m.state });
    }
    return { errorCode: ErrorCode.NONE, unknownStateFilters, transactionStates };
  }

  // ---- timers -------------------------------------------------------------------------------------

  /**
   * One pass of transaction.abort.timed.out.transaction.cleanup.interval.ms: every Ongoing
   * transaction older than its timeout is aborted with an epoch bump, fencing its producer
   * (TransactionCoordinator.abortTimedOutTransactions). Resolves once the aborts are decided
   * (written); their markers follow in the background.
   */
  abortTimedOutTransactions(): Promise<void> {
    this.abortRunning ??= this.runAbortTimedOut().finally(() => {
      this.abortRunning = null;
    });
    return this.abortRunning;
  }

  private async runAbortTimedOut(): Promise<void> {
    if (!this.active) return;
    this.checkOwnership();
    const now = this.now();
    const due = [...this.entries.values()].filter(({ metadata: m }) => m.state === 'Ongoing' && m.txnStartTimestamp + m.transactionTimeoutMs < now);
    await Promise.all(
      due.map(({ metadata: seen }) =>
        this.enqueue(seen.transactionalId, async () => {
          if (!this.owns(seen.transactionalId)) return;
          const current = this.entries.get(seen.transactionalId);
          // Ended, fenced or restarted meanwhile: nothing timed out any more.
          if (current === undefined || current.metadata.state !== 'Ongoing' || current.metadata.producerId !== seen.producerId || current.metadata.producerEpoch !== seen.producerEpoch || current.metadata.txnStartTimestamp !== seen.txnStartTimestamp) return;
          await this.fenceAndAbort(seen.transactionalId, current, `the transaction exceeded its timeout of ${seen.transactionTimeoutMs} ms`);
        }),
      ),
    );
  }

  /**
   * One pass of transaction.remove.expired.transaction.cleanup.interval.ms: ids in
   * Empty/CompleteCommit/CompleteAbort not used for transactional.id.expiration.ms are deleted
   * (conditionally on their version), as Kafka writes their tombstones.
   */
  removeExpiredTransactionalIds(): Promise<void> {
    this.expiryRunning ??= this.runExpiry().finally(() => {
      this.expiryRunning = null;
    });
    return this.expiryRunning;
  }

  private async runExpiry(): Promise<void> {
    if (!this.active) return;
    this.checkOwnership();
    const now = this.now();
    const expired = (m: TxnMetadata) => isExpirationAllowed(m.state) && m.txnLastUpdateTimestamp <= now - this.config.transactionalIdExpirationMs;
    const due = [...this.entries.values()].filter(({ metadata }) => expired(metadata));
    let removed = 0;
    await Promise.all(
      due.map(({ metadata: seen }) =>
        this.enqueue(seen.transactionalId, async () => {
          const current = this.entries.get(seen.transactionalId);
          if (!this.active || current === undefined || !expired(current.metadata) || !this.owns(seen.transactionalId)) return;
          try {
            await this.store.delete(seen.transactionalId, current.version);
          } catch (e) {
            if (isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'NOT_FOUND')) await this.reload(seen.transactionalId);
            else this.logger.warn(`expiring transactional id ${JSON.stringify(seen.transactionalId)} failed: ${(e as Error).message}`);
            return;
          }
          this.entries.delete(seen.transactionalId);
          this.bumped.delete(seen.transactionalId);
          removed++;
          this.logger.info(`expired transactional id ${JSON.stringify(seen.transactionalId)} (producer id ${current.metadata.producerId}, ${current.metadata.state}, idle since ${new Date(current.metadata.txnLastUpdateTimestamp).toISOString()})`);
        }),
      ),
    );
    if (removed > 0) this.logger.info(`removed ${removed} expired transactional id(s)`);
  }

  // ---- observation (tests, metrics) ---------------------------------------------------------------

  /** The durable state of a transactional id, or undefined. */
  transactionState(transactionalId: string): TxnMetadata | undefined {
    return this.entries.get(transactionalId)?.metadata;
  }

  /** Resolves once no operation or completion is in flight (completions resumed or started meanwhile included). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.chains.values(), ...[...this.completions.values()].map((c) => c.done)];
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  /** How many transactions are being completed (markers or Complete* write outstanding). */
  get completing(): number {
    return this.completions.size;
  }

  // ---- plumbing -----------------------------------------------------------------------------------

  /**
   * Writes `next` conditionally on the entry's version and applies it in memory once durable.
   * Another writer (VERSION_CONFLICT/KEY_EXISTS) → the item is reloaded, NOT_COORDINATOR;
   * a lost broker lease → NOT_COORDINATOR; the store unavailable → COORDINATOR_NOT_AVAILABLE
   * (Kafka's mapping of failed __transaction_state appends); anything else UNKNOWN_SERVER_ERROR.
   */
  private async persist(id: string, current: StoredTxn | undefined, next: TxnMetadata): Promise<PersistResult> {
    // The first write after loading the id raises its coordinator epoch (see the top of this file).
    const coordinatorEpoch = current !== undefined && this.bumped.has(id) ? current.coordinatorEpoch : Math.max((current?.coordinatorEpoch ?? -1) + 1, this.config.coordinatorEpoch);
    try {
      const version = await this.store.put(next, current?.version ?? 0, coordinatorEpoch);
      const entry: StoredTxn = { metadata: next, version, coordinatorEpoch };
      this.entries.set(id, entry);
      this.bumped.add(id);
      return { ok: true, entry };
    } catch (e) {
      if (isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS') || isStrataError(e, 'NOT_FOUND')) {
        this.logger.warn(`transactional id ${JSON.stringify(id)} was changed by another writer (${(e as Error).message}); reloading it`);
        await this.reload(id);
        return { ok: false, errorCode: ErrorCode.NOT_COORDINATOR };
      }
      if (isStrataError(e, 'BROKER_FENCED')) return { ok: false, errorCode: ErrorCode.NOT_COORDINATOR };
      if (isStrataError(e)) {
        this.logger.warn(`writing the state of transactional id ${JSON.stringify(id)} failed: ${(e as Error).message}`);
        return { ok: false, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
      }
      this.logger.error(`writing the state of transactional id ${JSON.stringify(id)} failed: ${(e as Error).message}`);
      return { ok: false, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR };
    }
  }

  /**
   * Re-reads one item into memory (after another writer changed it); a failed read keeps what
   * we had. With an ownership, a decision found for an id this broker owns is completed here
   * (its writer may be a coordinator that has since stopped).
   */
  private async reload(id: string): Promise<void> {
    try {
      const stored = await this.store.get(id);
      this.bumped.delete(id);
      if (stored === null || stored.metadata.state === 'Dead') {
        this.entries.delete(id);
        return;
      }
      this.entries.set(id, stored);
      if (this.ownership !== null && this.active && isPrepare(stored.metadata.state) && this.owns(id)) void this.startCompletion(stored);
    } catch (e) {
      this.logger.warn(`reloading transactional id ${JSON.stringify(id)} failed: ${(e as Error).message}`);
    }
  }

  private async generateProducerId(): Promise<bigint | null> {
    try {
      return await this.deps.producerIds.generate();
    } catch (e) {
      this.logger.warn(`allocating a producer id failed: ${(e as Error).message}`);
      return null;
    }
  }

  /** Runs `op` after the earlier operations on the same transactional id. */
  private enqueue<T>(id: string, op: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const result = prev.then(op);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return result;
  }

  /** `p`'s outcome, or CLOSED as soon as close() is called (p keeps running; its outcome is then ignored). */
  private untilClosed<T>(p: Promise<T>): Promise<T | typeof CLOSED> {
    if (!this.active) return Promise.resolve(CLOSED);
    return new Promise<T | typeof CLOSED>((resolve, reject) => {
      const wake = () => resolve(CLOSED);
      this.closeListeners.add(wake);
      p.then(
        (v) => {
          this.closeListeners.delete(wake);
          resolve(v);
        },
        (e: unknown) => {
          this.closeListeners.delete(wake);
          reject(e);
        },
      );
    });
  }

  /** A delay that close() cuts short. */
  private sleep(ms: number): Promise<void | typeof CLOSED> {
    if (!this.active) return Promise.resolve(CLOSED);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(CLOSED);
      };
      const timer = unref(
        setTimeout(() => {
          this.closeListeners.delete(wake);
          resolve();
        }, ms),
      );
      this.closeListeners.add(wake);
    });
  }

  /** markerRetryBackoffMs, doubling up to 5 s. */
  private backoff(): { next(): number; reset(): void } {
    let current = this.retryBackoffMs;
    return {
      next: () => {
        const d = current;
        current = Math.min(current * 2, MAX_RETRY_BACKOFF_MS);
        return d;
      },
      reset: () => {
        current = this.retryBackoffMs;
      },
    };
  }
}
