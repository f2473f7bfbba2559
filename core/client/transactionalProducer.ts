/**
 * A transactional producer (Kafka's TransactionManager, reduced to what a copier needs): one
 * transactional id, one transaction at a time, records sent as whole batches, offsets committed
 * inside the transaction. The mirror (core/mirror) uses it so that a batch of records and the
 * mirror's own progress become visible together or not at all.
 *
 *   initTransactions()      FindCoordinator(TRANSACTION) + InitProducerId: a new epoch fences
 *                           every older producer of the id; the coordinator completes or aborts
 *                           the transaction it left open before answering
 *   beginTransaction()      local only
 *   send(t, p, records)     AddPartitionsToTxn on a partition's first write, then Produce
 *                           (acks=all, producer id/epoch, a sequence per partition)
 *   sendOffsetsToTransaction  AddOffsetsToTxn + TxnOffsetCommit at the group's coordinator
 *   commit/abortTransaction EndTxn
 *
 * Any failure inside a transaction leaves it to be aborted: abortTransaction(), or the next
 * initTransactions() of the same id (which is what a retried Lambda invocation does).
 * Simplifications against Kafka's client: no batching or linger (send waits for its answer), no
 * epoch bump on abortable errors (KIP-360), one request in flight.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ApiKey } from '../protocol/generated/index';
import { ErrorCode } from '../protocol/errorCodes';
import type { InitProducerIdResponse } from '../protocol/generated/InitProducerIdResponse';
import type { AddPartitionsToTxnResponse } from '../protocol/generated/AddPartitionsToTxnResponse';
import type { AddOffsetsToTxnResponse } from '../protocol/generated/AddOffsetsToTxnResponse';
import type { EndTxnResponse } from '../protocol/generated/EndTxnResponse';
import { buildRecordBatch } from '../log/recordBatchBuilder';
import { StrataError } from '../common/errors';
import { CoordinatorType, type StrataClient } from './client';
import { KafkaResponseError } from './errors';
import { toRecordInputs, type ProduceRecord } from './records';

export interface TransactionalProducerOptions {
  transactionalId: string;
  /** transaction.timeout.ms: the coordinator aborts a transaction left open longer. Default 60 000. */
  transactionTimeoutMs?: number;
  /** Attempts for coordinator answers that say "try again" (CONCURRENT_TRANSACTIONS, coordinator moving). Default 20. */
  retries?: number;
  retryBackoffMs?: number;
}

type State = 'uninitialized' | 'ready' | 'in-transaction' | 'failed';

const COORDINATOR_MOVED = new Set<number>([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE]);
const TRY_AGAIN = new Set<number>([...COORDINATOR_MOVED, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.CONCURRENT_TRANSACTIONS]);

export class TransactionalProducer {
  readonly transactionalId: string;
  private readonly transactionTimeoutMs: number;
  private readonly retries: number;
  private readonly retryBackoffMs: number;
  private producerId = -1n;
  private producerEpoch = -1;
  private state: State = 'uninitialized';
  /** Next sequence per "topic\0partition" for the current producer epoch. */
  private readonly sequences = new Map<string, number>();
  /** Partitions added to the open transaction. */
  private readonly added = new Set<string>();
  private offsetsAdded = new Set<string>();
  private coordinator: number | null = null;

  constructor(
    private readonly client: StrataClient,
    opts: TransactionalProducerOptions,
  ) {
    if (!opts.transactionalId) throw new StrataError('CONFIG_INVALID', 'a transactional producer needs a transactional.id');
    this.transactionalId = opts.transactionalId;
    this.transactionTimeoutMs = opts.transactionTimeoutMs ?? 60_000;
    this.retries = opts.retries ?? 20;
    this.retryBackoffMs = opts.retryBackoffMs ?? 50;
  }

  /** The producer id and epoch InitProducerId gave (-1 before). */
  get identity(): { producerId: bigint; producerEpoch: number } {
    return { producerId: this.producerId, producerEpoch: this.producerEpoch };
  }

  /** Gets a producer id and a new epoch for the transactional id, fencing older producers of it. */
  async initTransactions(): Promise<void> {
    const res = await this.toCoordinator<InitProducerIdResponse>('InitProducerId', ApiKey.InitProducerId, () => ({
      transactionalId: this.transactionalId,
      transactionTimeoutMs: this.transactionTimeoutMs,
      producerId: -1n,
      producerEpoch: -1,
    }), (r) => r.errorCode);
    this.producerId = res.producerId ?? -1n;
    this.producerEpoch = res.producerEpoch;
    this.sequences.clear();
    this.resetTransaction();
    this.state = 'ready';
  }

  beginTransaction(): void {
    if (this.state !== 'ready') throw this.stateError('begin a transaction');
    this.resetTransaction();
    this.state = 'in-transaction';
  }

  /** Appends records to a partition inside the open transaction; resolves with the offset of the first. */
  async send(topic: string, partition: number, records: ProduceRecord[]): Promise<{ baseOffset: bigint }> {
    if (this.state !== 'in-transaction') throw this.stateError('send');
    if (records.length === 0) throw new StrataError('BATCH_INVALID', 'send needs at least one record');
    return this.failOnError(async () => {
      const key = `${topic}\0${partition}`;
      if (!this.added.has(key)) {
        await this.addPartition(topic, partition);
        this.added.add(key);
      }
      const sequence = this.sequences.get(key) ?? 0;
      const batch = buildRecordBatch({
        records: toRecordInputs(records),
        producerId: this.producerId,
        producerEpoch: this.producerEpoch,
        baseSequence: sequence,
        isTransactional: true,
      });
      // A retried Produce carries the same sequence, so the leader answers a duplicate with the first append's offset.
      const r = await this.client.produce(topic, partition, batch, { acks: -1, transactionalId: this.transactionalId });
      this.sequences.set(key, (sequence + records.length) % 2 ** 31);
      return { baseOffset: r.baseOffset };
    });
  }

  /** Commits a group's offsets as part of the transaction (they become visible with its commit). */
  async sendOffsetsToTransaction(groupId: string, offsets: Array<{ topic: string; partition: number; offset: bigint; metadata?: string | null }>): Promise<void> {
    if (this.state !== 'in-transaction') throw this.stateError('send offsets');
    if (offsets.length === 0) return;
    await this.failOnError(async () => {
      if (!this.offsetsAdded.has(groupId)) {
        await this.toCoordinator<AddOffsetsToTxnResponse>('AddOffsetsToTxn', ApiKey.AddOffsetsToTxn, () => ({
          transactionalId: this.transactionalId,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          groupId,
        }), (r) => r.errorCode);
        this.offsetsAdded.add(groupId);
      }
      await this.client.txnOffsetCommit(groupId, { transactionalId: this.transactionalId, producerId: this.producerId, producerEpoch: this.producerEpoch }, offsets);
    });
  }

  async commitTransaction(): Promise<void> {
    await this.endTransaction(true);
  }

  /** Aborts the open transaction (from 'failed' too: what a failed send leaves). */
  async abortTransaction(): Promise<void> {
    await this.endTransaction(false);
  }

  private async endTransaction(commit: boolean): Promise<void> {
    const what = commit ? 'commit' : 'abort';
    if (this.state !== 'in-transaction' && !(this.state === 'failed' && !commit)) throw this.stateError(what);
    // Nothing reached the coordinator: there is nothing to end there.
    if (this.added.size > 0 || this.offsetsAdded.size > 0) {
      try {
        await this.toCoordinator<EndTxnResponse>('EndTxn', ApiKey.EndTxn, () => ({
          transactionalId: this.transactionalId,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          committed: commit,
        }), (r) => r.errorCode);
      } catch (e) {
        this.state = 'failed';
        throw e;
      }
    }
    this.resetTransaction();
    this.state = 'ready';
  }

  private async addPartition(topic: string, partition: number): Promise<void> {
    await this.toCoordinator<AddPartitionsToTxnResponse>(
      'AddPartitionsToTxn',
      ApiKey.AddPartitionsToTxn,
      () => ({
        v3AndBelowTransactionalId: this.transactionalId,
        v3AndBelowProducerId: this.producerId,
        v3AndBelowProducerEpoch: this.producerEpoch,
        v3AndBelowTopics: [{ name: topic, partitions: [partition] }],
      }),
      (r) => r.resultsByTopicV3AndBelow?.find((t) => t.name === topic)?.resultsByPartition.find((p) => p.partitionIndex === partition)?.partitionErrorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR,
      // Clients speak the v3-and-below shape; v4+ is the brokers' batched verification form.
      3,
    );
  }

  /**
   * Sends a request to the transactional id's coordinator, finding it first, and retries
   * (bounded, with backoff) answers that say to try again; any other error code throws.
   */
  private async toCoordinator<T>(api: string, apiKey: number, build: () => unknown, errorOf: (res: T) => number, maxVersion?: number): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let code: number;
      let res: T;
      try {
        this.coordinator ??= (await this.client.findCoordinator(this.transactionalId, CoordinatorType.TRANSACTION)).nodeId;
        const conn = await this.client.brokerConnection(this.coordinator);
        const version = maxVersion === undefined ? undefined : Math.min(maxVersion, conn.version(apiKey));
        res = await conn.send<T>(apiKey, build(), { version });
        code = errorOf(res);
      } catch (e) {
        // A lost connection: the coordinator may have moved. Requests here are safe to repeat.
        if (!(e instanceof StrataError && e.code === 'CONNECTION_FAILED') || attempt >= this.retries) throw e;
        this.coordinator = null;
        await delay(this.backoff(attempt));
        continue;
      }
      if (code === ErrorCode.NONE) return res;
      if (COORDINATOR_MOVED.has(code)) this.coordinator = null;
      if (!TRY_AGAIN.has(code) || attempt >= this.retries) {
        throw new KafkaResponseError(code, { api, resource: `transactional id '${this.transactionalId}'` });
      }
      await delay(this.backoff(attempt));
    }
  }

  private backoff(attempt: number): number {
    return Math.min(this.retryBackoffMs * 2 ** attempt, 1_000);
  }

  private async failOnError<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  private resetTransaction(): void {
    this.added.clear();
    this.offsetsAdded = new Set();
  }

  private stateError(action: string): StrataError {
    const hint = this.state === 'uninitialized' ? ': call initTransactions() first' : this.state === 'failed' ? ': the transaction failed, abort it' : '';
    return new StrataError('INVALID_TXN_STATE', `cannot ${action} in state ${this.state}${hint} (transactional id '${this.transactionalId}')`);
  }
}
