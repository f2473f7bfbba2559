import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { readControlRecord } from './controlRecords';
import {
  ProducerSnapshotState,
  UnreplicatedTxn,
  decodeProducerSnapshot,
  encodeProducerSnapshot,
  listProducerSnapshots,
  producerSnapshotPath,
  writeProducerSnapshotFile,
} from './producerSnapshot';
import type { BatchInfo } from './recordBatch';

/**
 * Producer state of one partition: Kafka's ProducerStateManager (+ ProducerAppendInfo,
 * ProducerStateEntry), for idempotent producers and transactions (classic protocol, TV0/TV1).
 *
 * Per producer id it keeps the epoch, the last coordinator epoch, the metadata of the last 5
 * batches (duplicate detection: a producer has at most 5 requests in flight) and the first offset
 * of its ongoing transaction. Per partition it keeps the transactions that are ongoing and those
 * completed but whose marker is not yet below the high watermark; the smallest first offset among
 * them is the first unstable offset, which bounds the last stable offset (LSO).
 *
 * An append goes through three steps, so that a failed write changes nothing:
 *
 *   findDuplicate(b)           client retries: answer with the original offsets, append nothing
 *   staged = stage(batches)    validate against the state; throws, or returns the new entries
 *   …write the bytes…
 *   commit(staged)             apply; then for each staged.completedTxns c (in order):
 *                                lso = lastStableOffsetOf(c); if aborted, txnIndex.append(c + lso);
 *                                completeTxn(c)
 *
 * Snapshots (producerSnapshot.ts) are taken at segment rolls and on close; on open or truncation
 * the log loads the newest one at or below the target and replays the batches after it with
 * origin 'replication'.
 */

export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
/** Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN (max.in.flight.requests.per.connection <= 5). */
export const PRODUCER_BATCHES_KEPT = 5;
/** producer.id.expiration.ms default (one day). */
export const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000;
const INT32_MAX = 0x7fffffff;

export interface ProducerBatch {
  firstSeq: number;
  lastSeq: number;
  firstOffset: bigint;
  lastOffset: bigint;
  timestamp: bigint;
}

export interface ProducerEntry {
  producerId: bigint;
  producerEpoch: number;
  /** Epoch of the coordinator that wrote this producer's last marker; -1 none. */
  coordinatorEpoch: number;
  /** Oldest first, at most PRODUCER_BATCHES_KEPT, all of the current epoch. */
  batches: ProducerBatch[];
  lastTimestamp: bigint;
  currentTxnFirstOffset: bigint | null;
}

/** One batch of an append as the state manager sees it (the caller has validated the bytes and knows its offsets). */
export interface AppendBatch {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
  baseOffset: bigint;
  maxTimestamp: bigint;
  isTransactional: boolean;
  isControl: boolean;
  /** Control batches: their record (readControlRecord); null for an empty control batch. */
  marker?: { type: 'COMMIT' | 'ABORT' | 'UNKNOWN'; coordinatorEpoch: number } | null;
}

/**
 * Who is appending, which decides how much is checked (Kafka's AppendOrigin): 'client' gets every
 * check; 'coordinator' (markers, transactional offset commits) no sequence checks; 'replication'
 * and recovery replays no checks that could refuse what a leader already accepted.
 */
export type AppendOrigin = 'client' | 'coordinator' | 'replication';

export interface CompletedTxn {
  producerId: bigint;
  firstOffset: bigint;
  /** The marker's offset. */
  lastOffset: bigint;
  isAborted: boolean;
}

/** An entry of the aborted-transaction index (txnIndex.ts), as Kafka's AbortedTxn. */
export interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint;
  lastStableOffset: bigint;
}

export interface TxnStart {
  producerId: bigint;
  firstOffset: bigint;
}

/** The outcome of validating one append; applied by `commit`. */
export interface StagedAppend {
  /** The entries the append changes, after it (copies). */
  readonly entries: ReadonlyMap<bigint, ProducerEntry>;
  /** Transactions the append starts, in offset order. */
  readonly startedTxns: readonly TxnStart[];
  /** Transactions the append's markers complete, in offset order. */
  readonly completedTxns: readonly CompletedTxn[];
  /** One past the append's last offset (all batches, with or without producer id); null for no batch. */
  readonly endOffset: bigint | null;
  /** The state version it was validated against: commit refuses a stale one. */
  readonly stagedAt: number;
}

export interface ProducerStateOptions {
  /** producer.id.expiration.ms; default one day. */
  producerIdExpirationMs?: number;
  /** Wall clock (ms): batches without a timestamp, snapshot load expiry. Default Date.now. */
  now?: () => number;
  /** Default console.warn. */
  logger?: (msg: string) => void;
}

/** DefaultRecordBatch.incrementSequence: sequences wrap from INT32_MAX to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

/** DefaultRecordBatch.lastSequence: the sequence of a batch's last record. */
export function lastSequenceOf(baseSequence: number, lastOffsetDelta: number): number {
  return baseSequence === NO_SEQUENCE ? NO_SEQUENCE : incrementSequence(baseSequence, lastOffsetDelta);
}

/** ProducerAppendInfo.inSequence: `next` directly follows `last`, wrapping after INT32_MAX. */
export function inSequence(last: number, next: number): boolean {
  return next === last + 1 || (next === 0 && last === INT32_MAX);
}

/**
 * The AppendBatch of a validated batch (`info` from validateRecords over `records`) at its
 * assigned base offset; reads the marker of control batches. `maxTimestamp` defaults to the
 * header's (pass the stored one when the log rewrote it, e.g. LogAppendTime).
 */
export function appendBatchOf(info: BatchInfo, records: Buffer, baseOffset: bigint, maxTimestamp = info.maxTimestamp): AppendBatch {
  return {
    producerId: info.producerId,
    producerEpoch: info.producerEpoch,
    baseSequence: info.baseSequence,
    lastOffsetDelta: info.lastOffsetDelta,
    baseOffset,
    maxTimestamp,
    isTransactional: info.isTransactional,
    isControl: info.isControl,
    marker: info.isControl && info.producerId >= 0n ? readControlRecord(records.subarray(info.position, info.position + info.size)) : undefined,
  };
}

interface TxnMeta {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint | null;
}

function copyEntry(e: ProducerEntry): ProducerEntry {
  return { ...e, batches: e.batches.map((b) => ({ ...b })) };
}

function emptyEntry(producerId: bigint): ProducerEntry {
  return {
    producerId,
    producerEpoch: NO_PRODUCER_EPOCH,
    coordinatorEpoch: -1,
    batches: [],
    lastTimestamp: -1n,
    currentTxnFirstOffset: null,
  };
}

const byBigint = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

export class ProducerStateManager {
  private producers = new Map<bigint, ProducerEntry>();
  /** Ongoing transactions by first offset (Kafka's ongoingTxns). */
  private readonly ongoing = new Map<bigint, TxnMeta>();
  /** Completed transactions whose marker is at or above the high watermark (Kafka's unreplicatedTxns). */
  private readonly unreplicated = new Map<bigint, TxnMeta>();
  private _endOffset = 0n;
  private version = 0;
  /** Offsets of the snapshot files in `dir`, ascending. */
  private snapshots: bigint[];
  private readonly expirationMs: bigint;
  private readonly now: () => number;
  private readonly logger: (msg: string) => void;

  constructor(
    readonly dir: string,
    opts: ProducerStateOptions = {},
  ) {
    this.expirationMs = BigInt(opts.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS);
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger ?? ((m: string) => console.warn(`[strata producer state ${dir}] ${m}`));
    this.snapshots = listProducerSnapshots(dir);
  }

  /** The log offset the state reflects: one past the last batch applied (Kafka's mapEndOffset). */
  get endOffset(): bigint {
    return this._endOffset;
  }

  /** Number of producer ids with state. */
  get size(): number {
    return this.producers.size;
  }

  entry(producerId: bigint): ProducerEntry | null {
    const e = this.producers.get(producerId);
    return e === undefined ? null : copyEntry(e);
  }

  /** Copies of every entry, sorted by producer id. */
  activeProducers(): ProducerEntry[] {
    return [...this.producers.values()].sort((a, b) => byBigint(a.producerId, b.producerId)).map(copyEntry);
  }

  /** Sorted by first offset. */
  ongoingTransactions(): TxnStart[] {
    return [...this.ongoing.values()]
      .sort((a, b) => byBigint(a.firstOffset, b.firstOffset))
      .map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset }));
  }

  /** Completed transactions whose marker is not yet below the high watermark, sorted by first offset. */
  unreplicatedTransactions(): UnreplicatedTxn[] {
    return [...this.unreplicated.values()]
      .sort((a, b) => byBigint(a.firstOffset, b.firstOffset))
      .map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset, lastOffset: t.lastOffset as bigint }));
  }

  /**
   * ProducerStateEntry.findDuplicateBatch: the kept batch `b` repeats (same epoch, same first and
   * last sequence), or null. Checked against the committed state only, before staging, and for
   * origin 'client' only (Kafka's UnifiedLog.analyzeAndValidateProducerState): the produce is
   * answered with the original batch's offsets and nothing is appended.
   */
  findDuplicate(b: AppendBatch): ProducerBatch | null {
    if (b.producerId < 0n) return null;
    const e = this.producers.get(b.producerId);
    if (e === undefined || e.producerEpoch !== b.producerEpoch) return null;
    const lastSeq = lastSequenceOf(b.baseSequence, b.lastOffsetDelta);
    const dup = e.batches.find((k) => k.firstSeq === b.baseSequence && k.lastSeq === lastSeq);
    return dup === undefined ? null : { ...dup };
  }

  /**
   * Validates the batches of one append, in order, against the state and the append's earlier
   * batches (Kafka's ProducerAppendInfo), changing nothing. Throws StrataError:
   *   INVALID_PRODUCER_EPOCH          data or marker epoch below the producer's (not for 'replication')
   *   OUT_OF_ORDER_SEQUENCE           'client' only: a gap, or a new epoch not starting at 0
   *   INVALID_TXN_STATE               a non-transactional batch during the producer's transaction
   *   TRANSACTION_COORDINATOR_FENCED  a marker from an older coordinator epoch (not for 'replication')
   * Batches without a producer id only move the end offset.
   */
  stage(batches: readonly AppendBatch[], origin: AppendOrigin): StagedAppend {
    const entries = new Map<bigint, ProducerEntry>();
    const startedTxns: TxnStart[] = [];
    const completedTxns: CompletedTxn[] = [];
    let endOffset: bigint | null = null;
    for (const b of batches) {
      endOffset = b.baseOffset + BigInt(b.lastOffsetDelta) + 1n;
      if (b.producerId < 0n) continue;
      const current = this.producers.get(b.producerId);
      if (b.isControl) {
        // An empty control batch (the cleaner removed the marker) and types other than
        // COMMIT/ABORT carry no transaction outcome: nothing to apply.
        if (b.marker === undefined || b.marker === null || b.marker.type === 'UNKNOWN') continue;
        const e = entries.get(b.producerId) ?? (current ? copyEntry(current) : emptyEntry(b.producerId));
        this.checkEpoch(e, b, origin, 'marker');
        // ProducerAppendInfo.checkCoordinatorEpoch: a marker from a coordinator older than the
        // last one that wrote a marker for this producer is a zombie's.
        if (b.marker.coordinatorEpoch < e.coordinatorEpoch) {
          const msg = `marker of producer ${b.producerId} at offset ${b.baseOffset} has coordinator epoch ${b.marker.coordinatorEpoch}, below ${e.coordinatorEpoch}`;
          if (origin !== 'replication') throw new StrataError('TRANSACTION_COORDINATOR_FENCED', msg);
          this.logger(msg);
        }
        // Only a transaction with data completes (Kafka emits no CompletedTxn for an empty one:
        // it changes neither the LSO nor the aborted index).
        if (e.currentTxnFirstOffset !== null) {
          completedTxns.push({
            producerId: b.producerId,
            firstOffset: e.currentTxnFirstOffset,
            lastOffset: b.baseOffset,
            isAborted: b.marker.type === 'ABORT',
          });
        }
        // ProducerStateEntry.update(epoch, coordinatorEpoch, timestamp): a new epoch drops the
        // kept batches; the transaction is over.
        this.setEpoch(e, b.producerEpoch);
        e.coordinatorEpoch = b.marker.coordinatorEpoch;
        e.currentTxnFirstOffset = null;
        e.lastTimestamp = this.timestampOf(b);
        entries.set(b.producerId, e);
        continue;
      }
      const e = entries.get(b.producerId) ?? (current ? copyEntry(current) : emptyEntry(b.producerId));
      this.checkEpoch(e, b, origin, 'batch');
      if (origin === 'client') this.checkSequence(e, current, b);
      const ts = this.timestampOf(b);
      const lastOffset = b.baseOffset + BigInt(b.lastOffsetDelta);
      this.setEpoch(e, b.producerEpoch);
      e.batches.push({
        firstSeq: b.baseSequence,
        lastSeq: lastSequenceOf(b.baseSequence, b.lastOffsetDelta),
        firstOffset: b.baseOffset,
        lastOffset,
        timestamp: ts,
      });
      if (e.batches.length > PRODUCER_BATCHES_KEPT) e.batches.shift();
      e.lastTimestamp = ts;
      if (e.currentTxnFirstOffset !== null && !b.isTransactional) {
        const msg = `producer ${b.producerId} wrote a non-transactional batch at offset ${b.baseOffset} during its transaction (started at ${e.currentTxnFirstOffset})`;
        // A log holds what its leader accepted: replaying it never fails (the transaction stays open).
        if (origin !== 'replication') throw new StrataError('INVALID_TXN_STATE', msg);
        this.logger(msg);
      }
      if (e.currentTxnFirstOffset === null && b.isTransactional) {
        e.currentTxnFirstOffset = b.baseOffset;
        startedTxns.push({ producerId: b.producerId, firstOffset: b.baseOffset });
      }
      entries.set(b.producerId, e);
    }
    return { entries, startedTxns, completedTxns, endOffset, stagedAt: this.version };
  }

  /**
   * Applies a staged append once its bytes are written (ProducerStateManager.update +
   * updateMapEndOffset). Its completed transactions stay ongoing until `completeTxn`.
   */
  commit(staged: StagedAppend): void {
    if (staged.stagedAt !== this.version) {
      throw new Error('producer state changed between stage and commit: stage the append again');
    }
    for (const [pid, e] of staged.entries) this.producers.set(pid, copyEntry(e));
    for (const t of staged.startedTxns) this.ongoing.set(t.firstOffset, { ...t, lastOffset: null });
    if (staged.endOffset !== null) this._endOffset = staged.endOffset;
    this.version++;
  }

  /**
   * The last stable offset to record with a completed transaction in the aborted index: the first
   * offset of the earliest ongoing transaction of another producer, else one past the marker
   * (ProducerStateManager.lastStableOffset). Call after commit, before completeTxn.
   */
  lastStableOffsetOf(c: CompletedTxn): bigint {
    let first: bigint | null = null;
    for (const t of this.ongoing.values()) {
      if (t.producerId !== c.producerId && (first === null || t.firstOffset < first)) first = t.firstOffset;
    }
    return first ?? c.lastOffset + 1n;
  }

  /**
   * Moves a transaction from ongoing to completed-but-unreplicated: it keeps bounding the first
   * unstable offset until the high watermark passes its marker. Throws if it was not started.
   */
  completeTxn(c: CompletedTxn): void {
    const t = this.ongoing.get(c.firstOffset);
    if (t === undefined || t.producerId !== c.producerId) {
      throw new Error(`transaction of producer ${c.producerId} at offset ${c.firstOffset} was not started`);
    }
    this.ongoing.delete(c.firstOffset);
    this.unreplicated.set(c.firstOffset, { ...t, lastOffset: c.lastOffset });
  }

  /** Forgets completed transactions whose marker is below the high watermark. */
  onHighWatermarkUpdated(highWatermark: bigint): void {
    this.forgetCompletedBelow(highWatermark);
  }

  /**
   * The log start moved (retention, DeleteRecords): completed transactions below it are
   * forgotten and the end offset is at least the new start (onLogStartOffsetIncremented).
   */
  onLogStartOffsetIncremented(logStartOffset: bigint): void {
    this.forgetCompletedBelow(logStartOffset);
    if (this._endOffset < logStartOffset) this._endOffset = logStartOffset;
  }

  /** Smallest first offset of an ongoing or unreplicated transaction, or null: the LSO is min(this, HW). */
  firstUnstableOffset(): bigint | null {
    let first: bigint | null = null;
    for (const k of this.ongoing.keys()) if (first === null || k < first) first = k;
    for (const k of this.unreplicated.keys()) if (first === null || k < first) first = k;
    return first;
  }

  /** Sets the end offset after appends that were not staged here (Kafka's updateMapEndOffset). */
  setEndOffset(offset: bigint): void {
    this._endOffset = offset;
  }

  /**
   * Removes producers idle for producer.id.expiration.ms with no ongoing transaction
   * (ProducerStateManager.isProducerExpired); returns how many.
   */
  removeExpiredProducers(nowMs: number): number {
    let removed = 0;
    for (const [pid, e] of this.producers) {
      if (this.isExpired(e, BigInt(nowMs))) {
        this.producers.delete(pid);
        removed++;
      }
    }
    if (removed > 0) this.version++;
    return removed;
  }

  /** Empties the in-memory state (snapshot files stay) and sets the end offset. */
  reset(endOffset = 0n): void {
    this.producers.clear();
    this.ongoing.clear();
    this.unreplicated.clear();
    this._endOffset = endOffset;
    this.version++;
  }

  /** Empty state starting at `offset`; every snapshot file is removed (the log was emptied). */
  truncateFullyAndStartAt(offset: bigint): void {
    this.reset(offset);
    for (const s of this.snapshots) this.removeSnapshotFile(s);
    this.snapshots = [];
  }

  /** Newest snapshot offset (at or below `atOrBelow` when given), or null. */
  latestSnapshotOffset(atOrBelow?: bigint): bigint | null {
    for (let i = this.snapshots.length - 1; i >= 0; i--) {
      if (atOrBelow === undefined || this.snapshots[i] <= atOrBelow) return this.snapshots[i];
    }
    return null;
  }

  /** Offsets of the snapshot files, ascending. */
  snapshotOffsets(): bigint[] {
    return [...this.snapshots];
  }

  /** Deletes snapshots past `offset` (the log was truncated to it). */
  deleteSnapshotsAbove(offset: bigint): void {
    this.deleteSnapshotsWhere((s) => s > offset);
  }

  /**
   * Keeps the newest snapshot at or below `offset` and deletes the older ones (the log start
   * moved to `offset`: replay never needs to start before it).
   */
  deleteSnapshotsBelow(offset: bigint): void {
    const keep = this.latestSnapshotOffset(offset);
    if (keep !== null) this.deleteSnapshotsWhere((s) => s < keep);
  }

  /**
   * Writes the state as `<endOffset>.snapshot` unless that file exists; returns its path, or null
   * when skipped.
   */
  takeSnapshot(): string | null {
    const offset = this._endOffset;
    if (this.snapshots.includes(offset) || fs.existsSync(producerSnapshotPath(this.dir, offset))) return null;
    const file = writeProducerSnapshotFile(this.dir, offset, encodeProducerSnapshot(this.snapshotState()));
    this.addSnapshotOffset(offset);
    return file;
  }

  /** The state as a snapshot holds it (sorted by producer id, then first offset). */
  snapshotState(): ProducerSnapshotState {
    return { endOffset: this._endOffset, producers: this.activeProducers(), unreplicatedTxns: this.unreplicatedTransactions() };
  }

  /**
   * Writes a snapshot received from elsewhere (e.g. the object store) as the one at `offset`,
   * after checking it decodes and is for that offset (else STORAGE_IO). Does not load it.
   */
  installSnapshot(buf: Buffer, offset: bigint): string {
    const state = decodeProducerSnapshot(buf);
    if (state.endOffset !== offset) {
      throw new StrataError('STORAGE_IO', `producer snapshot for offset ${state.endOffset} installed as ${offset}`);
    }
    const file = writeProducerSnapshotFile(this.dir, offset, buf);
    this.addSnapshotOffset(offset);
    return file;
  }

  /**
   * Replaces the in-memory state with the newest readable snapshot at or below `atOrBelow` and
   * returns its offset. An unreadable snapshot is deleted (with a log line) and the next older one
   * tried (Kafka's loadFromSnapshot). Producers already expired are not loaded. With no snapshot
   * the state is emptied at `emptyEndOffset` (the log start, from which the log is replayed) and
   * null is returned.
   */
  loadSnapshot(atOrBelow: bigint, emptyEndOffset = 0n): bigint | null {
    for (;;) {
      const offset = this.latestSnapshotOffset(atOrBelow);
      if (offset === null) {
        this.reset(emptyEndOffset);
        return null;
      }
      const file = producerSnapshotPath(this.dir, offset);
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new StrataError('STORAGE_IO', `read ${file}: ${(e as Error).message}`, { cause: e });
        }
        this.snapshots = this.snapshots.filter((s) => s !== offset);
        continue;
      }
      let state: ProducerSnapshotState;
      try {
        state = decodeProducerSnapshot(bytes);
        if (state.endOffset !== offset) throw new StrataError('STORAGE_IO', `holds the state at offset ${state.endOffset}`);
      } catch (e) {
        this.logger(`deleting unreadable producer snapshot ${file}: ${(e as Error).message}`);
        this.removeSnapshotFile(offset);
        this.snapshots = this.snapshots.filter((s) => s !== offset);
        continue;
      }
      this.install(state);
      return offset;
    }
  }

  private install(state: ProducerSnapshotState): void {
    this.reset(state.endOffset);
    const now = BigInt(this.now());
    for (const e of state.producers) {
      if (this.isExpired(e, now)) continue;
      this.producers.set(e.producerId, copyEntry(e));
      if (e.currentTxnFirstOffset !== null) {
        this.ongoing.set(e.currentTxnFirstOffset, { producerId: e.producerId, firstOffset: e.currentTxnFirstOffset, lastOffset: null });
      }
    }
    for (const t of state.unreplicatedTxns) this.unreplicated.set(t.firstOffset, { ...t });
  }

  /**
   * ProducerAppendInfo.checkProducerEpoch (TV0/TV1: an epoch equal to the producer's is valid for
   * markers too). Replication mirrors the leader, which already decided: logged, not refused.
   */
  private checkEpoch(e: ProducerEntry, b: AppendBatch, origin: AppendOrigin, what: string): void {
    if (b.producerEpoch >= e.producerEpoch) return;
    const msg = `${what} of producer ${b.producerId} at offset ${b.baseOffset} has epoch ${b.producerEpoch}, below the current ${e.producerEpoch}`;
    if (origin !== 'replication') throw new StrataError('INVALID_PRODUCER_EPOCH', msg);
    this.logger(msg);
  }

  /**
   * ProducerAppendInfo.checkSequence for client appends. `e` is the entry as staged so far,
   * `current` the committed one (undefined when the producer has no state).
   *   new epoch: the batch must start at sequence 0, unless the producer never had an epoch;
   *   same epoch: the batch must follow the last sequence, unless the producer had no state
   *     before this append (new, or expired: Kafka >= 2.5 accepts any sequence, KIP-360).
   */
  private checkSequence(e: ProducerEntry, current: ProducerEntry | undefined, b: AppendBatch): void {
    if (b.producerEpoch !== e.producerEpoch) {
      if (b.baseSequence !== 0 && e.producerEpoch !== NO_PRODUCER_EPOCH) {
        throw new StrataError(
          'OUT_OF_ORDER_SEQUENCE',
          `producer ${b.producerId} at offset ${b.baseOffset}: new epoch ${b.producerEpoch} (current ${e.producerEpoch}) must start at sequence 0, got ${b.baseSequence}`,
        );
      }
      return;
    }
    const lastSeq = e.batches.length > 0 ? e.batches[e.batches.length - 1].lastSeq : NO_SEQUENCE;
    const hadNoState = current === undefined || current.producerEpoch === NO_PRODUCER_EPOCH;
    if (!hadNoState && !inSequence(lastSeq, b.baseSequence)) {
      throw new StrataError(
        'OUT_OF_ORDER_SEQUENCE',
        `producer ${b.producerId} at offset ${b.baseOffset}: sequence ${b.baseSequence} does not follow ${lastSeq} (epoch ${b.producerEpoch})`,
      );
    }
  }

  /** ProducerStateEntry.maybeUpdateProducerEpoch: the kept batches belong to the old epoch. */
  private setEpoch(e: ProducerEntry, epoch: number): void {
    if (e.producerEpoch !== epoch) {
      e.batches = [];
      e.producerEpoch = epoch;
    }
  }

  /** Kafka records the batch's max timestamp; a batch without one (-1) counts as now. */
  private timestampOf(b: AppendBatch): bigint {
    return b.maxTimestamp >= 0n ? b.maxTimestamp : BigInt(this.now());
  }

  private isExpired(e: ProducerEntry, nowMs: bigint): boolean {
    return e.currentTxnFirstOffset === null && nowMs - e.lastTimestamp >= this.expirationMs;
  }

  private forgetCompletedBelow(offset: bigint): void {
    for (const [k, t] of this.unreplicated) if ((t.lastOffset as bigint) < offset) this.unreplicated.delete(k);
  }

  private addSnapshotOffset(offset: bigint): void {
    if (!this.snapshots.includes(offset)) this.snapshots = [...this.snapshots, offset].sort(byBigint);
  }

  private deleteSnapshotsWhere(pred: (offset: bigint) => boolean): void {
    const keep: bigint[] = [];
    for (const s of this.snapshots) {
      if (pred(s)) this.removeSnapshotFile(s);
      else keep.push(s);
    }
    this.snapshots = keep;
  }

  private removeSnapshotFile(offset: bigint): void {
    const file = producerSnapshotPath(this.dir, offset);
    try {
      fs.rmSync(file, { force: true });
    } catch (e) {
      throw new StrataError('STORAGE_IO', `delete ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
}
