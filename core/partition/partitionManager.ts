import type { Logger } from '../common/logger';
import type { ResolvedTopicConfig } from '../config/topicConfig';
import type { LogManager } from '../log/logManager';
import { ErrorCode } from '../protocol/errorCodes';
import { DelayedOperationPurgatory } from './delayedOperation';
import { logConfigFrom } from './logConfig';
import { Partition, type PartitionClusterHooks, type PartitionState, type ReplicaRole, type TransactionVerifier } from './partition';

export interface PartitionManagerOptions {
  nodeId: number;
  /** The leader epoch a partition starts at until its record is applied (0 on a broker of its own). */
  leaderEpoch: number;
  logger: Logger;
  /** replica.lag.time.max.ms: ISR followers that lag longer are dropped (default 30 s). */
  replicaLagTimeMaxMs?: number;
}

/**
 * The partitions this broker holds (Kafka's ReplicaManager): opens and drops them through the
 * log manager, and keeps the requests waiting on them. Every append wakes the requests watching
 * that partition — a long-polling Fetch (data arrived), an acks=all Produce (the high watermark
 * moved; on a single broker it moves with the append itself).
 */
export class PartitionManager {
  private readonly parts = new Map<string, Partition>();
  private readonly unsubscribe = new Map<Partition, () => void>();
  /** Per partition key: how many times it progressed (an append, a high-watermark move, a new role). */
  private readonly progress = new Map<string, number>();
  /** Long-polling fetches: complete when any of their partitions has new data, or at max_wait_ms. */
  readonly fetchWaits = new DelayedOperationPurgatory('fetch');
  /** acks=all produces: complete when every partition's high watermark passed the append, or at timeout_ms. */
  readonly produceWaits = new DelayedOperationPurgatory('produce');
  /** The transaction coordinator's check of a producer's first transactional write to a partition. */
  private verifier: TransactionVerifier | null = null;
  /** Set when this broker is part of a cluster: partitions then do nothing until their record is applied. */
  private cluster: PartitionClusterHooks | null = null;

  constructor(
    readonly logs: LogManager,
    private readonly opts: PartitionManagerOptions,
  ) {}

  /** Opens (recovering) a partition's log and starts serving it. */
  open(topic: string, topicId: string, index: number, config: ResolvedTopicConfig): Partition {
    // The partition, not the log, moves the high watermark (as the ISR's lowest log end).
    const log = this.logs.openLog(topic, topicId, index, logConfigFrom(config), { replicated: true });
    const p = new Partition(topic, topicId, index, log, config, this.opts.leaderEpoch, this.opts.nodeId, this.opts.logger, () => this.verifier, () => this.cluster);
    if (this.cluster !== null) p.awaitState();
    this.parts.set(p.key, p);
    this.unsubscribe.set(p, p.onAppend(() => this.progressed(p)));
    return p;
  }

  /**
   * Applies the partition's record from the metadata store (Partition.applyState) and wakes the
   * requests waiting on it: acks=all produces end when leadership moved. Returns the role before.
   */
  applyState(p: Partition, state: PartitionState): ReplicaRole {
    const before = p.applyState(state);
    const applied = p.record;
    if (p.role === 'none' && applied !== null && !applied.replicas.includes(this.opts.nodeId)) this.removeReplicaData(p);
    this.progressed(p);
    return before;
  }

  /**
   * A partition this broker holds no replica of (a reassignment moved it away: Kafka's StopReplica
   * with deletion) keeps no records here: its local log is emptied, down to one empty segment at
   * offset 0 (a broker that never held a replica has just that). Should the broker become a
   * replica again it starts over from the leader, as a replica on an empty disk does.
   */
  private removeReplicaData(p: Partition): void {
    const log = p.log;
    if (log.isClosed || log.logStartOffset === log.logEndOffset) return; // holds no records
    this.opts.logger.info(`${p.label}: no replica here: removing its local log (offsets ${log.logStartOffset}..${log.logEndOffset}, ${log.size} bytes)`);
    log.truncateFullyAndStartAt(0n);
  }

  /** Joins a cluster (before any partition opens): roles come from the partitions' records from then on. */
  setClusterHooks(hooks: PartitionClusterHooks): void {
    this.cluster = hooks;
  }

  /** Set once the transaction coordinator runs; until then transactional writes are refused as retriable. */
  setTransactionVerifier(verifier: TransactionVerifier): void {
    this.verifier = verifier;
  }

  get(topicId: string, index: number): Partition | undefined {
    return this.parts.get(`${topicId}:${index}`);
  }

  all(): IterableIterator<Partition> {
    return this.parts.values();
  }

  /** A deleted topic's partition: stops serving it, closes its log and removes its directory. */
  drop(p: Partition): void {
    this.forget(p);
    this.logs.dropLog(p.log, p.topic, p.index, p.topicId);
  }

  /** One housekeeping pass over every open partition (flush, roll, retention, cleaner). */
  maintain(now: number = Date.now()): void {
    this.logs.maintain(this.parts.values(), now);
    const lag = this.opts.replicaLagTimeMaxMs ?? 30_000;
    for (const p of this.parts.values()) if (p.role === 'leader') p.maybeShrinkIsr(now, lag);
  }

  /**
   * Resolves when one of `partitions` has new data (an append), or after `timeoutMs`: the
   * long-poll of a Fetch that found less than min_bytes. Resolves true when it timed out.
   */
  awaitData(partitions: readonly Partition[], timeoutMs: number, since: ReadonlyMap<string, number>): Promise<boolean> {
    return new Promise((resolve) => {
      const keys = [...new Set(partitions.map((p) => p.key))];
      // Complete when a watched partition progressed after `since` was taken (before the read that
      // found too little): an append that landed between that read and this wait is not missed.
      const moved = () => keys.some((k) => (this.progress.get(k) ?? 0) !== (since.get(k) ?? 0));
      this.fetchWaits.tryCompleteElseWatch({ tryComplete: moved, onComplete: resolve }, keys, timeoutMs);
    });
  }

  /** Each partition's progress count (appends and high-watermark moves so far), for awaitData's `since`. */
  progressMarks(partitions: readonly Partition[]): Map<string, number> {
    return new Map(partitions.map((p) => [p.key, this.progress.get(p.key) ?? 0]));
  }

  /**
   * acks=all: resolves when every partition's high watermark has reached the offset after its
   * append, or after `timeoutMs` (then false: the produce answers REQUEST_TIMED_OUT for the
   * partitions still short).
   */
  awaitHighWatermarks(appended: readonly { partition: Partition; nextOffset: bigint; leaderEpoch: number }[], timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      // A partition whose leadership moved is done waiting too (its answer is NOT_LEADER_OR_FOLLOWER).
      const reached = () => appended.every((a) => a.partition.highWatermark >= a.nextOffset || !a.partition.leads(a.leaderEpoch));
      const keys = [...new Set(appended.map((a) => a.partition.key))];
      this.produceWaits.tryCompleteElseWatch({ tryComplete: reached, onComplete: () => resolve(reached()) }, keys, timeoutMs);
    });
  }

  /**
   * acks=all's answer for each append once it waited (awaitHighWatermarks): NONE when replicated to
   * the ISR; NOT_LEADER_OR_FOLLOWER when leadership moved meanwhile (what this leader appended may
   * be truncated, so it is never acknowledged); REQUEST_TIMED_OUT when not replicated in time;
   * NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR fell below min.insync.replicas.
   */
  async awaitAcks(appended: readonly { partition: Partition; nextOffset: bigint; leaderEpoch: number }[], timeoutMs: number): Promise<number[]> {
    if (appended.length > 0) await this.awaitHighWatermarks(appended, timeoutMs);
    return appended.map((a) =>
      !a.partition.leads(a.leaderEpoch) ? ErrorCode.NOT_LEADER_OR_FOLLOWER : a.partition.highWatermark < a.nextOffset ? ErrorCode.REQUEST_TIMED_OUT : a.partition.ackError(),
    );
  }

  /** Answers every waiting request and closes every log. */
  close(): void {
    this.fetchWaits.close();
    this.produceWaits.close();
    for (const p of [...this.parts.values()]) {
      this.forget(p);
      try {
        p.log.close();
      } catch (e) {
        this.opts.logger.warn(`closing ${p.label}: ${(e as Error).message}`);
      }
    }
  }

  private forget(p: Partition): void {
    this.progress.delete(p.key);
    this.unsubscribe.get(p)?.();
    this.unsubscribe.delete(p);
    this.parts.delete(p.key);
  }

  private progressed(p: Partition): void {
    this.progress.set(p.key, (this.progress.get(p.key) ?? 0) + 1);
    this.fetchWaits.checkAndComplete(p.key);
    this.produceWaits.checkAndComplete(p.key);
  }
}
