import { StrataError, isStrataError, toKafkaErrorCode, type StrataErrorCode } from '../common/errors';
import type { Logger } from '../common/logger';
import { WarningThrottle } from '../common/warningThrottle';
import { LeaderReplicas } from './leaderReplicas';
import { releaseChunks, type ResponseChunk } from '../common/fileRegion';
import { TIMED_OUT, within } from '../common/timeout';
import type { ResolvedTopicConfig } from '../config/topicConfig';
import { validateRecordKeysForCompaction, type RecordError } from '../log/compactedTopicValidation';
import type { LogPolicy, MaintainedLog } from '../log/logManager';
import type { PartitionLog, ReadResult } from '../log/partitionLog';
import { ATTRIBUTES_OFFSET, PARTITION_LEADER_EPOCH_OFFSET, PRODUCER_EPOCH_OFFSET, PRODUCER_ID_OFFSET, RECORD_BATCH_HEADER_SIZE, TRANSACTIONAL_MASK, validateRecords, type ValidateOptions, type ValidationResult } from '../log/recordBatch';
import { buildEndTxnMarker, type EndTxnMarkerType } from '../log/controlRecords';
import type { AbortedRange } from '../log/txnIndex';
import { logConfigFrom } from './logConfig';
import { ErrorCode } from '../protocol/errorCodes';
import {
  EARLIEST_LOCAL_TIMESTAMP,
  EARLIEST_TIMESTAMP,
  LATEST_TIERED_TIMESTAMP,
  LATEST_TIMESTAMP,
  MAX_TIMESTAMP,
} from '../protocol/listOffsetsTimestamps';
import type { TieredPartition } from '../tier/tieredPartition';
import type { PartitionStateRecord } from '../meta/metadataStore';


const APPEND_WARN_INTERVAL_MS = 10_000;
/** Where an append comes from: a producer, or the transaction coordinator writing markers. */
export type AppendOrigin = 'client' | 'coordinator';

export interface AppendOptions {
  /** The produce request's acks (0, 1, -1). */
  acks: number;
  origin: AppendOrigin;
  /** The produce request's transactional id (v3+); required for transactional batches. */
  transactionalId?: string | null;
  /**
   * The transaction coordinator's answer for this write, asked before the append because the
   * coordinator is on another broker (see transactionToVerify); used instead of the local check.
   */
  verified?: number;
}

/** Kafka's isolation levels (Fetch v4+, ListOffsets v2+). */
export type IsolationLevel = 'read_uncommitted' | 'read_committed';

/**
 * The transaction coordinator's answer to "is this partition part of the producer's open
 * transaction" (KIP-890 part 1), asked before a producer's first transactional write to a
 * partition; an error code, NONE when it is.
 */
export type TransactionVerifier = (transactionalId: string, producerId: bigint, producerEpoch: number, tp: { topic: string; partition: number }) => number;

/** A partition's answer to one append, in ProduceResponse terms. */
export interface AppendOutcome {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: bigint;
  /** One past the last offset appended (what an acks=all producer waits for the high watermark to reach). */
  nextOffset: bigint;
  logAppendTime: bigint;
  logStartOffset: bigint;
  recordErrors: RecordError[];
}

export interface PartitionReadOptions {
  /** Return the first batch whole even beyond maxBytes (KIP-74). */
  minOneBatch: boolean;
  /** read_committed stops at the last stable offset and lists the aborted transactions read. Default read_uncommitted. */
  isolation?: IsolationLevel;
  /**
   * A follower's fetch (its broker id): it reads up to the log end, not the high watermark, and
   * its fetch offset tells the leader how far its log goes (the ISR and the high watermark follow).
   * A broker outside the partition's replicas gets NOT_LEADER_OR_FOLLOWER.
   */
  follower?: number;
}

export interface PartitionRead extends ReadResult<ResponseChunk> {
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  /** read_committed: the aborted transactions overlapping the records returned (clients drop their records). */
  abortedTransactions: AbortedRange[];
}

/** DescribeProducers' view of one producer of the partition. */
export interface ActiveProducer {
  producerId: bigint;
  producerEpoch: number;
  lastSequence: number;
  lastTimestamp: bigint;
  coordinatorEpoch: number;
  /** First offset of its open transaction, -1 when none. */
  currentTxnStartOffset: bigint;
}

/** The answer to a ListOffsets lookup: offset -1 / timestamp -1 when there is none. */
export interface OffsetAndTimestamp {
  offset: bigint;
  timestamp: bigint;
}

const NO_OFFSET: OffsetAndTimestamp = { offset: -1n, timestamp: -1n };

/** What this broker does for a partition: leads it, follows its leader, or holds no replica of it. */
export type ReplicaRole = 'leader' | 'follower' | 'none';

/** The partition's record in the metadata store (leader, epoch, replicas, ISR, version). */
export type PartitionState = PartitionStateRecord;

/** What a partition needs from the cluster (core/cluster): whether it may lead now, and ISR writes. */
export interface PartitionClusterHooks {
  /** Whether this broker may act as a leader now: its liveness lease holds (core/cluster/leadershipGuard.ts). */
  mayLead(): boolean;
  /** Writes the partition's record with a new ISR, conditional on `from`'s version; resolves with the stored record. */
  writeIsr(from: PartitionState, isr: number[]): Promise<PartitionState>;
}

/** What validateRecords answers for records it accepts. */
type ValidRecords = Extract<ValidationResult, { ok: true }>;

function failed(errorCode: number, errorMessage: string | null = null, recordErrors: RecordError[] = []): AppendOutcome {
  return { errorCode, errorMessage, baseOffset: -1n, nextOffset: -1n, logAppendTime: -1n, logStartOffset: -1n, recordErrors };
}

/**
 * One partition of a topic on this broker (Kafka's Partition): its local log, its tiered view
 * when the topic has remote.storage.enable, its leader epoch and the topic's policies. Handlers
 * translate request versions and call it; every rule about what may be appended or read lives
 * here or below it.
 *
 *   logStartOffset ──── tiered (object store) ──── local log ──── highWatermark ─ logEndOffset
 *
 * The partition, not its log, moves the high watermark: to the lowest log end offset in the ISR
 * (leaderReplicas.ts), after each append and as followers report their fetches. On a single
 * broker this broker leads every partition (at epoch 0) and the ISR is itself, so the high
 * watermark follows the log end.
 */
export class Partition implements MaintainedLog {
  /** Set by the tier bridge for topics with remote.storage.enable=true, once opened. */
  tiered: TieredPartition | null = null;
  private _config: ResolvedTopicConfig;
  private _policy: LogPolicy;
  /** Refused appends are logged once per kind of failure per 10 s: a full disk refuses thousands a second. */
  private appendWarnings: WarningThrottle | null = null;
  /** This leader's followers and ISR; on a single broker the ISR is this broker alone. */
  private replicas: LeaderReplicas;
  private _role: ReplicaRole = 'leader';
  private _leaderEpoch: number;
  /** The record this broker last applied; null until one is (a partition opened on its own leads itself). */
  private _state: PartitionState | null = null;
  /** An ISR write in flight (one at a time). */
  private isrChange: Promise<void> | null = null;

  constructor(
    readonly topic: string,
    readonly topicId: string,
    readonly index: number,
    readonly log: PartitionLog,
    config: ResolvedTopicConfig,
    /** The leader epoch this partition starts at (stamped into every batch it appends) until a record says otherwise. */
    leaderEpoch: number,
    private readonly nodeId: number,
    private readonly logger: Logger,
    /** The transaction coordinator's verification, once it runs (null: transactional writes are refused as not yet verifiable). */
    private readonly verifier: () => TransactionVerifier | null = () => null,
    /** The cluster's hooks; null: a broker of its own, which always leads. */
    private readonly cluster: () => PartitionClusterHooks | null = () => null,
  ) {
    this._config = config;
    this._policy = policyOf(config);
    this._leaderEpoch = leaderEpoch;
    this.replicas = new LeaderReplicas(nodeId, [nodeId], [nodeId], Date.now());
    this.maybeIncrementHighWatermark();
  }

  /** This broker's leader epoch for the partition: the one it appends at as leader, or follows. */
  get leaderEpoch(): number {
    return this._leaderEpoch;
  }

  get role(): ReplicaRole {
    return this._role;
  }

  /** The record last applied, as stored; null before any. */
  get record(): PartitionState | null {
    return this._state;
  }

  /** The record last applied, with this leader's view of the ISR; null before any. */
  get state(): PartitionState | null {
    if (this._state === null || this._role !== 'leader') return this._state;
    const order = this._state.replicas;
    const rank = (id: number) => (order.includes(id) ? order.indexOf(id) : order.length + id);
    return { ...this._state, isr: this.replicas.isr.sort((a, b) => rank(a) - rank(b)) };
  }

  /**
   * Takes the partition's record from the metadata store (Kafka's makeLeader / makeFollower):
   * leader when it names this broker, follower when this broker is one of its replicas, none
   * otherwise. A new leader epoch starts a new leadership: followers' positions start unknown
   * (the high watermark moves on as they fetch) and the epoch is written to the leader-epoch
   * cache at the log end, as Kafka's new leader does. The same epoch again only updates the ISR
   * (a change written by someone else: the controller, a follower leaving on shutdown). Returns
   * the role before.
   */
  applyState(state: PartitionState): ReplicaRole {
    const before = this._role;
    const prev = this._state;
    if (prev !== null && state.version < prev.version && state.leaderEpoch <= prev.leaderEpoch) return before; // older than what we hold
    this._state = state;
    if (state.leader === this.nodeId) {
      if (before !== 'leader' || state.leaderEpoch !== this._leaderEpoch || prev === null) {
        this._role = 'leader';
        this._leaderEpoch = state.leaderEpoch;
        if (!this.log.isClosed && state.leaderEpoch > this.log.leaderEpochs.latestEpoch) this.log.leaderEpochs.assign(state.leaderEpoch, this.log.logEndOffset);
        this.replicas = new LeaderReplicas(this.nodeId, state.replicas, state.isr, Date.now());
        this.logger.info(`${this.label}: leader at epoch ${state.leaderEpoch} (replicas ${state.replicas.join(',')}, isr ${state.isr.join(',')}, log end ${this.log.logEndOffset}, high watermark ${this.log.highWatermark})`);
      } else {
        this.replicas.updateAssignment(state.replicas, state.isr, Date.now());
      }
      this.maybeIncrementHighWatermark();
    } else {
      this._role = state.replicas.includes(this.nodeId) ? 'follower' : 'none';
      this._leaderEpoch = state.leaderEpoch;
      this.replicas = new LeaderReplicas(this.nodeId, [this.nodeId], [this.nodeId], Date.now());
      if (before === 'leader' || prev?.leaderEpoch !== state.leaderEpoch) {
        this.logger.info(`${this.label}: ${this._role === 'follower' ? `following leader ${state.leader}` : 'no replica here'} at epoch ${state.leaderEpoch}`);
      }
    }
    return before;
  }

  /**
   * This broker leads the partition with these replicas and this ISR (from the partition's record;
   * the cluster's leader election sets them). Followers' positions start unknown: the high
   * watermark moves again as they fetch.
   */
  setReplicaAssignment(replicas: readonly number[], isr: readonly number[]): void {
    this.replicas = new LeaderReplicas(this.nodeId, replicas, isr, Date.now());
    this.maybeIncrementHighWatermark();
  }

  /** The in-sync replicas (this broker included), as this leader sees them. */
  get isr(): number[] {
    return this.replicas.isr;
  }

  /** In a cluster: serve nothing until the partition's record is applied. */
  awaitState(): void {
    if (this._state === null) this._role = 'none';
  }

  /** Whether this broker still leads at `leaderEpoch` (an acks=all append waits only while it does). */
  leads(leaderEpoch: number): boolean {
    return this._role === 'leader' && this._leaderEpoch === leaderEpoch;
  }

  /**
   * Whether this broker may append as the partition's leader now: it leads it, and its liveness
   * lease holds — unless it is the partition's only replica, which no one else can ever replace
   * (a broker of its own keeps leading through a full disk that stops its heartbeats).
   */
  get isLeader(): boolean {
    if (this._role !== 'leader') return false;
    const c = this.cluster();
    if (c === null || (this._state !== null && this._state.replicas.length <= 1)) return true;
    return c.mayLead();
  }

  /** A follower fetched from `fetchOffset`: its log holds everything below it (Kafka's updateFollowerFetchState). */
  private updateFollowerFetch(replicaId: number, fetchOffset: bigint): void {
    if (this.replicas.updateFollowerFetch(replicaId, fetchOffset, this.log.logEndOffset, Date.now()) === 'not-a-replica') {
      throw new StrataError('NOT_LEADER_OR_FOLLOWER', `${this.label}: broker ${replicaId} is not a replica of this partition (replicas ${this.replicas.replicas.join(',')})`);
    }
    this.maybeIncrementHighWatermark();
    this.maybeExpandIsr(replicaId);
  }

  /**
   * The follower that just fetched joins the ISR again once it has caught up (Kafka's
   * maybeExpandIsr, for that follower only: one whose fetches stopped — a dead broker the
   * controller just removed — must not be put back on its last known position). One conditional
   * write of the partition's record; the high watermark counts it once written.
   */
  private maybeExpandIsr(replicaId: number): void {
    if (this.isrChange !== null || this._role !== 'leader' || this._state === null) return;
    const epochStart = this.log.leaderEpochs.startOffsetOf(this._leaderEpoch) ?? this.log.logEndOffset;
    const isr = this.replicas.proposeExpand(this.log.highWatermark, epochStart, replicaId);
    if (isr !== null) this.changeIsr(isr, `${replicaId} caught up`);
  }

  /**
   * In-sync followers that have not caught up for replica.lag.time.max.ms leave the ISR (Kafka's
   * maybeShrinkIsr); the partition manager calls it periodically. The high watermark may then move.
   */
  maybeShrinkIsr(nowMs: number, replicaLagTimeMaxMs: number): void {
    if (this.isrChange !== null || this._role !== 'leader' || this._state === null || !this.isLeader) return;
    const isr = this.replicas.proposeShrink(nowMs, replicaLagTimeMaxMs);
    if (isr !== null) this.changeIsr(isr, `not caught up for ${replicaLagTimeMaxMs} ms (replica.lag.time.max.ms)`);
  }

  private changeIsr(isr: number[], why: string): void {
    const cluster = this.cluster();
    const from = this._state;
    if (cluster === null || from === null) return;
    const before = this.replicas.isr;
    const rank = (id: number) => (from.replicas.includes(id) ? from.replicas.indexOf(id) : from.replicas.length + id);
    this.isrChange = cluster
      .writeIsr(from, [...isr].sort((a, b) => rank(a) - rank(b)))
      .then(
        (written) => {
          // Leadership moved meanwhile: the write failed its condition, or a newer record came first.
          if (this._state !== from || this._role !== 'leader') return;
          this.logger.info(`${this.label}: ISR ${before.join(',')} -> ${isr.join(',')} (${why})`);
          this._state = written;
          this.replicas.setIsr(written.isr);
          this.maybeIncrementHighWatermark();
        },
        (e: unknown) => {
          // A version conflict: someone else changed the record; the next metadata pass brings it.
          if (!isStrataError(e, 'VERSION_CONFLICT')) this.logger.warn(`${this.label}: changing the ISR to ${isr.join(',')} failed: ${(e as Error).message}`);
        },
      )
      .finally(() => {
        this.isrChange = null;
      });
  }

  /**
   * Moves the high watermark up to the lowest log end in the ISR (Kafka's
   * maybeIncrementLeaderHW): after each append, and as followers catch up. Waiting acks=all
   * produces and fetches hear of it through the log's listeners.
   */
  private maybeIncrementHighWatermark(): void {
    if (this.log.isClosed) return;
    this.log.maybeIncrementHighWatermark(this.replicas.highWatermark(this.log.logEndOffset));
  }

  get label(): string {
    return `${this.topic}-${this.index}`;
  }

  /** Key of this partition in the delayed-operation purgatories. */
  get key(): string {
    return `${this.topicId}:${this.index}`;
  }

  get config(): ResolvedTopicConfig {
    return this._config;
  }

  get policy(): LogPolicy {
    return this._policy;
  }

  /** The topic's configs changed: the log takes the new settings from its next append. */
  updateConfig(config: ResolvedTopicConfig): void {
    this._config = config;
    this._policy = policyOf(config);
    this.log.updateConfig(logConfigFrom(config));
  }

  /** Where the log starts across both tiers (ListOffsets EARLIEST, Fetch/Produce logStartOffset). */
  get logStartOffset(): bigint {
    return this.tiered ? this.tiered.logStartOffset : this.log.logStartOffset;
  }

  get localLogStartOffset(): bigint {
    return this.log.logStartOffset;
  }

  get logEndOffset(): bigint {
    return this.log.logEndOffset;
  }

  get highWatermark(): bigint {
    return this.log.highWatermark;
  }

  /** read_committed consumers stop here: the first offset of the earliest open transaction, else the high watermark. */
  get lastStableOffset(): bigint {
    return this.log.lastStableOffset;
  }

  /** The producers with state in this partition (DescribeProducers), sorted by producer id. */
  activeProducers(): ActiveProducer[] {
    return this.log.producerState.activeProducers().map((e) => {
      const last = e.batches[e.batches.length - 1];
      return {
        producerId: e.producerId,
        producerEpoch: e.producerEpoch,
        lastSequence: last ? last.lastSeq : -1,
        lastTimestamp: e.lastTimestamp,
        coordinatorEpoch: e.coordinatorEpoch,
        currentTxnStartOffset: e.currentTxnFirstOffset ?? -1n,
      };
    });
  }

  /** Calls `listener` after every append (the partition manager completes waiting requests from it). */
  onAppend(listener: () => void): () => void {
    return this.log.onAppend(listener);
  }

  /**
   * A request's current_leader_epoch against ours: NONE when absent (-1) or equal;
   * FENCED_LEADER_EPOCH when older (the client's metadata is stale), UNKNOWN_LEADER_EPOCH when
   * newer (ours is).
   */
  checkLeaderEpoch(currentLeaderEpoch: number | undefined, requireLeader = true): number {
    if (currentLeaderEpoch !== undefined && currentLeaderEpoch >= 0 && currentLeaderEpoch !== this._leaderEpoch) {
      return currentLeaderEpoch < this._leaderEpoch ? ErrorCode.FENCED_LEADER_EPOCH : ErrorCode.UNKNOWN_LEADER_EPOCH;
    }
    // Kafka's Partition.getLocalLog: the epoch first, then whether this broker leads. Reads need
    // the role only: a leader whose lease lapsed serves at most its high watermark, which every
    // in-sync replica holds (appends check the lease too).
    if (requireLeader && this._role !== 'leader') return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    return ErrorCode.NONE;
  }

  /**
   * An acks=all append whose offsets the high watermark has reached: NONE, or
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR fell below min.insync.replicas meanwhile
   * (Kafka's checkEnoughReplicasReachOffset).
   */
  ackError(): number {
    return this.replicas.isr.length < this._config.values['min.insync.replicas'] ? ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND : ErrorCode.NONE;
  }

  /**
   * OffsetForLeaderEpoch (Kafka's lastOffsetForLeaderEpoch): where `leaderEpoch` ends in this
   * log, and the epoch that answers (the newest at or below it that wrote here); epoch -1 and
   * offset -1 when the log knows no such epoch (newer than all, or no epoch at all).
   */
  endOffsetForEpoch(leaderEpoch: number): { leaderEpoch: number; endOffset: bigint } {
    const r = this.log.leaderEpochs.endOffsetFor(leaderEpoch, this.log.logEndOffset, this._leaderEpoch);
    return { leaderEpoch: r.epoch, endOffset: r.endOffset };
  }

  /**
   * A fetch that names the epoch of the last batch it holds (Fetch v12+ last_fetched_epoch, sent
   * by followers) and whose log has diverged from this one gets where that epoch ends here, to
   * truncate to, instead of records (KIP-595's divergingEpoch; Kafka's Partition.readRecords).
   * Null when the logs agree up to `fetchOffset` or no epoch was named. OFFSET_OUT_OF_RANGE when
   * the epoch's end cannot be determined or `fetchOffset` is below the log start.
   */
  divergingEpoch(fetchOffset: bigint, lastFetchedEpoch: number | undefined): { epoch: number; endOffset: bigint } | null {
    if (lastFetchedEpoch === undefined || lastFetchedEpoch < 0) return null;
    const r = this.endOffsetForEpoch(lastFetchedEpoch);
    if (r.endOffset < 0n) throw new StrataError('OFFSET_OUT_OF_RANGE', `${this.label}: could not determine the end offset of the last fetched epoch ${lastFetchedEpoch}`);
    if (fetchOffset < this.logStartOffset) throw new StrataError('OFFSET_OUT_OF_RANGE', `${this.label}: offset ${fetchOffset} is below the log start ${this.logStartOffset}`);
    if (r.leaderEpoch < lastFetchedEpoch || r.endOffset < fetchOffset) return { epoch: r.leaderEpoch, endOffset: r.endOffset };
    return null;
  }

  /**
   * Appends one produce request's records for this partition (Kafka's appendRecordsToLeader):
   * checks min.insync.replicas for acks=all, validates the batches (invariant 2: all or
   * nothing), applies cleanup.policy's key rule, then appends. Never throws.
   */
  appendRecordsAsLeader(records: Buffer | null, opts: AppendOptions): AppendOutcome {
    const v = this._config.values;
    const refused = this.notLeader() ?? this.isrTooSmall(opts.acks);
    if (refused !== null) return refused;
    if (!records || records.length === 0) return failed(ErrorCode.CORRUPT_MESSAGE, 'Produce request has no record batch');
    const validated = this.validatedForAppend(records, { allowControlBatches: opts.origin === 'coordinator' });
    if (!('ok' in validated)) return validated;
    if (opts.origin === 'client' && v['mirror.source.cluster'] !== '') {
      return failed(
        ErrorCode.INVALID_REQUEST,
        `${this.label} is a read-only mirror of cluster '${v['mirror.source.cluster']}' (mirror.source.cluster): only the mirror appends to it; delete that config to promote the topic`,
      );
    }
    if (opts.origin === 'client') {
      const refused = this.checkTransactionalWrite(validated.batches, opts.transactionalId ?? null, opts.verified);
      if (refused !== null) return refused;
    }
    try {
      const r = this.log.append(records, { leaderEpoch: this._leaderEpoch, validated, origin: opts.origin });
      this.maybeIncrementHighWatermark();
      return {
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        baseOffset: r.baseOffset,
        nextOffset: r.lastOffset + 1n,
        logAppendTime: r.logAppendTime,
        // Tiered topics: the start across both tiers (the local copy may start later).
        logStartOffset: this.logStartOffset,
        recordErrors: [],
      };
    } catch (e) {
      // A producer's sequence or epoch being refused is the client's business; log the rest.
      if (!(isStrataError(e) && PRODUCER_STATE_ERRORS.has(e.code))) {
        this.appendWarnings ??= new WarningThrottle(this.logger, APPEND_WARN_INTERVAL_MS);
        this.appendWarnings.warn(isStrataError(e) ? e.code : 'other', `append to ${this.label} failed: ${(e as Error).message}`);
      }
      return failed(toKafkaErrorCode(e), (e as Error).message);
    }
  }

  /**
   * Appends a mirror's batches at the offsets they carry, which are the source cluster's
   * (MirrorAppend; the topic's mirror.source.cluster must name `sourceCluster`). The leader
   * appends them as a follower appends its leader's: byte for byte, gaps kept, stamped only with
   * this leader's epoch; followers then copy them as usual. Batches wholly below the log end are
   * already here (a retried mirror batch) and skipped; a batch straddling the log end is refused
   * with OFFSET_OUT_OF_RANGE, and the outcome's nextOffset is the log end the mirror must resend
   * from. With nothing new the outcome is NONE with baseOffset -1, nextOffset the end of the
   * batches sent (what acks=all waits for: a retry may follow an append whose acknowledgement was
   * lost).
   */
  appendMirrored(records: Buffer | null, opts: { acks: number; sourceCluster: string }): AppendOutcome {
    const mirrorOf = this._config.values['mirror.source.cluster'];
    const notLeader = this.notLeader();
    if (notLeader !== null) return notLeader;
    if (mirrorOf === '' || mirrorOf !== opts.sourceCluster) {
      const is = mirrorOf === '' ? 'is not a mirror topic' : `mirrors cluster '${mirrorOf}'`;
      return failed(ErrorCode.INVALID_REQUEST, `${this.label} ${is} (mirror.source.cluster), not of '${opts.sourceCluster}'`);
    }
    const isr = this.isrTooSmall(opts.acks);
    if (isr !== null) return isr;
    if (!records || records.length === 0) return failed(ErrorCode.CORRUPT_MESSAGE, 'MirrorAppend request has no record batch');
    const validated = this.validatedForAppend(records, { allowControlBatches: false, offsetGaps: true });
    if (!('ok' in validated)) return validated;
    const end = this.logEndOffset;
    let first = -1;
    let sentEnd = end;
    for (let i = 0; i < validated.batches.length; i++) {
      const b = validated.batches[i];
      const base = records.readBigInt64BE(b.position);
      const next = base + BigInt(b.lastOffsetDelta) + 1n;
      sentEnd = next;
      if (next <= end) continue;
      if (base < end) {
        const out = failed(ErrorCode.OFFSET_OUT_OF_RANGE, `batch [${base}, ${next - 1n}] straddles the log end ${end} of ${this.label}: resend from ${end}`);
        return { ...out, nextOffset: end, logStartOffset: this.logStartOffset };
      }
      if (first < 0) first = i;
    }
    if (first < 0) {
      return { errorCode: ErrorCode.NONE, errorMessage: null, baseOffset: -1n, nextOffset: sentEnd, logAppendTime: -1n, logStartOffset: this.logStartOffset, recordErrors: [] };
    }
    const fresh = records.subarray(validated.batches[first].position);
    for (const b of validated.batches.slice(first)) fresh.writeInt32BE(this._leaderEpoch, b.position - validated.batches[first].position + PARTITION_LEADER_EPOCH_OFFSET);
    try {
      const r = this.log.appendAsFollower(fresh);
      this.maybeIncrementHighWatermark();
      return { errorCode: ErrorCode.NONE, errorMessage: null, baseOffset: r.baseOffset, nextOffset: r.lastOffset + 1n, logAppendTime: -1n, logStartOffset: this.logStartOffset, recordErrors: [] };
    } catch (e) {
      this.appendWarnings ??= new WarningThrottle(this.logger, APPEND_WARN_INTERVAL_MS);
      this.appendWarnings.warn(isStrataError(e) ? e.code : 'other', `mirror append to ${this.label} failed: ${(e as Error).message}`);
      return failed(toKafkaErrorCode(e), (e as Error).message);
    }
  }

  /** NOT_LEADER_OR_FOLLOWER, naming the leader this broker knows of, unless it leads the partition. */
  private notLeader(): AppendOutcome | null {
    if (this.isLeader) return null;
    return failed(ErrorCode.NOT_LEADER_OR_FOLLOWER, `This broker (${this.nodeId}) is not the leader of ${this.label}${this._state ? ` (leader ${this._state.leader}, epoch ${this._state.leaderEpoch})` : ''}`);
  }

  /** acks=all with fewer in-sync replicas than min.insync.replicas: NOT_ENOUGH_REPLICAS before anything is appended. */
  private isrTooSmall(acks: number): AppendOutcome | null {
    const min = this._config.values['min.insync.replicas'];
    if (acks !== -1 || this.replicas.isr.length >= min) return null;
    return failed(ErrorCode.NOT_ENOUGH_REPLICAS, `The size of the current ISR [${this.replicas.isr.join(', ')}] is insufficient to satisfy the min.isr requirement of ${min} for partition ${this.label}`);
  }

  /**
   * A request's records validated as a whole (invariant 2: all or nothing) against
   * max.message.bytes, with cleanup.policy's key rule applied; or the refusal.
   */
  private validatedForAppend(records: Buffer, opts: Omit<ValidateOptions, 'maxMessageBytes'>): ValidRecords | AppendOutcome {
    const validated = validateRecords(records, { ...opts, maxMessageBytes: Number(this._config.values['max.message.bytes']) });
    if (!validated.ok) return failed(validated.errorCode, validated.message);
    if (this._policy.compacts) {
      // Kafka refuses keyless records on compacted topics, naming each (KIP-467).
      const keys = validateRecordKeysForCompaction(records, validated.batches);
      if (!keys.ok) return failed(keys.errorCode, keys.message, keys.recordErrors);
    }
    return validated;
  }

  /**
   * Transactional batches from a producer (Kafka's KafkaApis + ReplicaManager checks): the
   * request must name its transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka
   * answers a request it cannot authorize), and a producer's first transactional write to this
   * partition is verified with the transaction coordinator (KIP-890 part 1): the partition must
   * have been added to its open transaction. Retriable coordinator answers become
   * NOT_ENOUGH_REPLICAS, as Kafka's ReplicaManager converts them for producers.
   */
  private checkTransactionalWrite(batches: readonly { isTransactional: boolean; producerId: bigint; producerEpoch: number }[], transactionalId: string | null, verified: number | undefined): AppendOutcome | null {
    const txnBatch = batches.find((b) => b.isTransactional);
    if (txnBatch === undefined) return null;
    if (transactionalId === null) {
      return failed(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'Transactional records need the transactional id in the produce request');
    }
    if (this.inOpenTransaction(txnBatch.producerId, txnBatch.producerEpoch)) return null;
    const verify = this.verifier();
    const code =
      verified !== undefined ? verified : verify === null ? ErrorCode.COORDINATOR_NOT_AVAILABLE : verify(transactionalId, txnBatch.producerId, txnBatch.producerEpoch, { topic: this.topic, partition: this.index });
    if (code === ErrorCode.NONE) return null;
    const retriable: number[] = [ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS];
    if (retriable.includes(code)) return failed(ErrorCode.NOT_ENOUGH_REPLICAS, `transaction of producer ${txnBatch.producerId} could not be verified (${code}); retry`);
    return failed(code, `partition ${this.label} is not part of the open transaction of producer ${txnBatch.producerId} (transactional id ${JSON.stringify(transactionalId)})`);
  }

  /**
   * The producer whose transactional write `records` would be its first to this partition in its
   * transaction (the first batch's header: transactional, and no transaction of that producer
   * and epoch open here), i.e. the write checkTransactionalWrite verifies with the coordinator;
   * null for anything else (malformed records are left to the append's validation).
   */
  transactionToVerify(records: Buffer | null): { producerId: bigint; producerEpoch: number } | null {
    if (records === null || records.length < RECORD_BATCH_HEADER_SIZE) return null;
    if ((records.readInt16BE(ATTRIBUTES_OFFSET) & TRANSACTIONAL_MASK) === 0) return null;
    const producerId = records.readBigInt64BE(PRODUCER_ID_OFFSET);
    const producerEpoch = records.readInt16BE(PRODUCER_EPOCH_OFFSET);
    return this.inOpenTransaction(producerId, producerEpoch) ? null : { producerId, producerEpoch };
  }

  /** Whether the producer has a transaction open here at this epoch (its later writes need no verification). */
  private inOpenTransaction(producerId: bigint, producerEpoch: number): boolean {
    const entry = this.log.producerState.entry(producerId);
    return entry !== null && entry.currentTxnFirstOffset !== null && entry.producerEpoch === producerEpoch;
  }

  /**
   * Appends the end-transaction marker of a producer's transaction (WriteTxnMarkers; the
   * coordinator, or an operator aborting a hanging transaction). The producer state refuses a
   * marker with an older producer epoch (INVALID_PRODUCER_EPOCH) or coordinator epoch
   * (TRANSACTION_COORDINATOR_FENCED).
   */
  appendEndTxnMarker(m: { producerId: bigint; producerEpoch: number; coordinatorEpoch: number; type: EndTxnMarkerType }): AppendOutcome {
    if (m.producerId < 0n || m.producerEpoch < 0 || m.producerEpoch > 32767) {
      return failed(ErrorCode.INVALID_RECORD, `a transaction marker needs a producer id and epoch, got ${m.producerId} / ${m.producerEpoch}`);
    }
    const marker = buildEndTxnMarker({ producerId: m.producerId, producerEpoch: m.producerEpoch, coordinatorEpoch: m.coordinatorEpoch, type: m.type, timestamp: BigInt(Date.now()) });
    return this.appendRecordsAsLeader(marker, { acks: -1, origin: 'coordinator' });
  }

  /**
   * Whole batches from `fetchOffset` up to the high watermark, across both tiers: local ones as
   * regions of the segment files (sent from the files as the socket drains; the caller owns them
   * and must release them, see fileRegion.ts), tiered ones through the read cache. Throws
   * StrataError (OFFSET_OUT_OF_RANGE, STORE_UNAVAILABLE, STORAGE_IO), holding nothing.
   */
  async read(fetchOffset: bigint, maxBytes: number, opts: PartitionReadOptions): Promise<PartitionRead> {
    const fromFollower = opts.follower !== undefined && opts.follower >= 0;
    if (fromFollower) this.updateFollowerFetch(opts.follower!, fetchOffset);
    const highWatermark = this.highWatermark;
    const lastStableOffset = this.lastStableOffset;
    const committed = !fromFollower && opts.isolation === 'read_committed';
    const maxOffset = fromFollower ? this.log.logEndOffset : committed ? lastStableOffset : highWatermark;
    const readOpts = { minOneBatch: opts.minOneBatch, maxOffset };
    const r = this.tiered ? await this.tiered.readRegions(fetchOffset, maxBytes, readOpts) : this.log.readRegions(fetchOffset, maxBytes, readOpts);
    try {
      const abortedTransactions = committed && r.bytes > 0 ? await this.collectAbortedTransactions(r.firstOffset, r.nextOffset) : [];
      return { ...r, highWatermark, lastStableOffset, logStartOffset: this.logStartOffset, abortedTransactions };
    } catch (e) {
      releaseChunks(r.records);
      throw e;
    }
  }

  /**
   * Aborted transactions overlapping [from, to), across both tiers: a tiered partition searches
   * the transaction indexes tiered with its segments below the local log (through the read
   * cache; may throw STORE_UNAVAILABLE), then the local ones.
   */
  private async collectAbortedTransactions(from: bigint, to: bigint): Promise<AbortedRange[]> {
    return this.tiered ? this.tiered.collectAbortedTransactions(from, to) : this.log.collectAbortedTransactions(from, to);
  }

  /**
   * ListOffsets: the special timestamps (-1 latest = the high watermark, -2 earliest, -3 max
   * timestamp, -4 earliest local, -5 latest tiered) and lookups by timestamp, across both tiers.
   */
  async fetchOffsetForTimestamp(target: bigint, isolation: IsolationLevel = 'read_uncommitted'): Promise<OffsetAndTimestamp> {
    const tiered = this.tiered;
    const log = this.log;
    // read_committed answers never reach past the last stable offset (Kafka's lastFetchableOffset).
    const maxOffset = isolation === 'read_committed' ? this.lastStableOffset : this.highWatermark;
    switch (target) {
      case LATEST_TIMESTAMP:
        return { offset: maxOffset, timestamp: -1n };
      case EARLIEST_TIMESTAMP:
        return { offset: this.logStartOffset, timestamp: -1n };
      case EARLIEST_LOCAL_TIMESTAMP:
        return { offset: log.logStartOffset, timestamp: -1n };
      case LATEST_TIERED_TIMESTAMP:
        // -1 when nothing has been tiered, as Kafka answers.
        return { offset: tiered ? tiered.lastTieredOffset : -1n, timestamp: -1n };
      case MAX_TIMESTAMP: {
        const m = (tiered ? await tiered.maxTimestampOffset() : log.maxTimestampOffset()) ?? NO_OFFSET;
        return m.offset < maxOffset ? m : NO_OFFSET;
      }
      default:
        return (tiered ? await tiered.offsetForTimestamp(target, { maxOffset }) : log.offsetForTimestamp(target, { maxOffset })) ?? NO_OFFSET;
    }
  }

  /**
   * DeleteRecords: moves the log start offset up to `target` (-1: the high watermark). Local
   * logs move at once; tiered ones store the new start in the metadata store first, which may
   * take until `timeoutMs` (REQUEST_TIMED_OUT then; the move still completes). Per Kafka:
   * POLICY_VIOLATION without cleanup.policy delete, OFFSET_OUT_OF_RANGE past the high watermark.
   */
  async deleteRecordsBefore(target: bigint, timeoutMs: number): Promise<{ errorCode: number; lowWatermark: bigint }> {
    const fail = (errorCode: number) => ({ errorCode, lowWatermark: -1n });
    if (!this.isLeader) return fail(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    if (!this._policy.deletes) return fail(ErrorCode.POLICY_VIOLATION);
    const hw = this.highWatermark;
    const offset = target === -1n ? hw : target;
    if (offset < 0n || offset > hw) return fail(ErrorCode.OFFSET_OUT_OF_RANGE);
    const before = this.logStartOffset;
    const moved = (start: bigint) => {
      if (start > before) this.logger.info(`${this.label}: log start offset ${before} → ${start} (DeleteRecords to ${offset})`);
    };
    try {
      if (!this.tiered) {
        this.log.deleteSegmentsBelow(offset);
        moved(this.log.logStartOffset);
        return { errorCode: ErrorCode.NONE, lowWatermark: this.log.logStartOffset };
      }
      const advance = this.tiered.advanceLogStartOffset(offset);
      const start = await within(advance, timeoutMs);
      if (start === TIMED_OUT) {
        advance.then(moved, (e: unknown) => this.logger.warn(`${this.label}: DeleteRecords to ${offset} failed after its request timed out: ${(e as Error).message}`));
        return fail(ErrorCode.REQUEST_TIMED_OUT);
      }
      moved(start);
      return { errorCode: ErrorCode.NONE, lowWatermark: start };
    } catch (e) {
      if (!isStrataError(e, 'OFFSET_OUT_OF_RANGE')) this.logger.warn(`${this.label}: DeleteRecords to ${offset} failed: ${(e as Error).message}`);
      return fail(toKafkaErrorCode(e));
    }
  }
}

/** Refusals of a producer's batch by the producer state: the client's to handle, not worth a warning. */
const PRODUCER_STATE_ERRORS: ReadonlySet<StrataErrorCode> = new Set<StrataErrorCode>([
  'OUT_OF_ORDER_SEQUENCE',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_TXN_STATE',
  'TRANSACTION_COORDINATOR_FENCED',
  'UNKNOWN_PRODUCER_ID',
  'BATCH_INVALID',
]);

function policyOf(config: ResolvedTopicConfig): LogPolicy {
  const v = config.values;
  const cleanupPolicy = v['cleanup.policy'];
  return {
    deletes: cleanupPolicy.includes('delete'),
    compacts: cleanupPolicy.includes('compact'),
    remoteStorage: v['remote.storage.enable'],
    compaction: {
      cleanupPolicy,
      deleteRetentionMs: v['delete.retention.ms'],
      minCleanableDirtyRatio: v['min.cleanable.dirty.ratio'],
      minCompactionLagMs: v['min.compaction.lag.ms'],
      maxCompactionLagMs: v['max.compaction.lag.ms'],
    },
  };
}
