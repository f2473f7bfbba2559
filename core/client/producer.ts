import { StrataError } from '../common/errors';
import { Acks, StrataClient } from './client';
import { murmur2Partition, StickyPartitioner } from './partitioner';
import { CompressionName, ProduceRecord } from './records';

/**
 * A batching producer for one topic, like the Java producer's accumulator but small:
 *
 * - keyed records go where the Java client puts them (murmur2), keyless ones stick to one
 *   partition until its batch is sent, then move on (KIP-480), unless a partition is given;
 * - records collect per partition until `batchBytes` is reached or `lingerMs` has passed
 *   since the batch's first record, then go out as one RecordBatch;
 * - `send` waits while `maxInFlight` produce requests are outstanding, so a fast source (stdin)
 *   is slowed to what the broker absorbs. Linger timers may send one more batch per partition
 *   meanwhile, so memory stays within about (partitions + maxInFlight) × batchBytes.
 *
 * The first failed batch fails the producer: later `send`/`flush` calls reject with it, so a
 * caller never silently loses records.
 */

export interface BatchingProducerOptions {
  topic: string;
  acks?: Acks;
  compression?: CompressionName;
  /** Wait this long for more records before sending a non-full batch. Default 5 ms. */
  lingerMs?: number;
  /** Send a partition's batch once its records reach this many bytes. Default 16 384. */
  batchBytes?: number;
  /** Produce requests outstanding at once. Default 5. */
  maxInFlight?: number;
  /** Broker-side wait for acks=all. Default 30 000 ms. */
  timeoutMs?: number;
  /** Ask the broker to create the topic if missing (it decides, per auto.create.topics.enable). Default true, as Kafka's producer. */
  allowAutoTopicCreation?: boolean;
}

export type ProducerRecord = ProduceRecord & { partition?: number };

interface PendingBatch {
  records: ProduceRecord[];
  bytes: number;
  timer: NodeJS.Timeout | undefined;
}

/** Record framing overhead beyond key, value and headers (varints, attributes, deltas): a rough upper bound. */
const RECORD_OVERHEAD = 21;

export class BatchingProducer {
  private readonly topic: string;
  private readonly acks: Acks;
  private readonly compression: CompressionName;
  private readonly lingerMs: number;
  private readonly batchBytes: number;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly allowAutoTopicCreation: boolean;
  private readonly sticky = new StickyPartitioner();
  private readonly batches = new Map<number, PendingBatch>();
  private readonly inFlight = new Set<Promise<void>>();
  private partitions = 0;
  private failure: Error | null = null;
  private acked = 0;
  private sent = 0;

  constructor(
    private readonly client: StrataClient,
    opts: BatchingProducerOptions,
  ) {
    this.topic = opts.topic;
    this.acks = opts.acks ?? -1;
    this.compression = opts.compression ?? 'none';
    this.lingerMs = opts.lingerMs ?? 5;
    this.batchBytes = opts.batchBytes ?? 16_384;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 5);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.allowAutoTopicCreation = opts.allowAutoTopicCreation ?? true;
  }

  /** Records the broker acknowledged (for acks=0: records written to the socket). */
  get ackedRecords(): number {
    return this.acked;
  }

  /** Records handed to `send` so far. */
  get sentRecords(): number {
    return this.sent;
  }

  /**
   * Queues one record. Resolves once it is queued (not acknowledged: use `flush`); waits first
   * while `maxInFlight` requests are outstanding.
   */
  async send(record: ProducerRecord): Promise<void> {
    this.throwIfFailed();
    if (this.partitions === 0) {
      this.partitions = await this.client.partitionCount(this.topic, { allowAutoTopicCreation: this.allowAutoTopicCreation });
    }
    const partition = this.partitionFor(record);
    let batch = this.batches.get(partition);
    if (!batch) {
      batch = { records: [], bytes: 0, timer: undefined };
      this.batches.set(partition, batch);
      const b = batch;
      b.timer = setTimeout(() => {
        b.timer = undefined;
        if (this.batches.get(partition) === b) this.dispatch(partition);
      }, this.lingerMs);
    }
    const { partition: _omit, ...rest } = record;
    batch.records.push(rest);
    batch.bytes += recordSize(rest);
    this.sent++;
    if (batch.bytes >= this.batchBytes) this.dispatch(partition);
    while (this.inFlight.size >= this.maxInFlight) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
  }

  /** Sends every queued record and waits until all are acknowledged; rejects with the first failure. */
  async flush(): Promise<void> {
    for (const partition of [...this.batches.keys()]) this.dispatch(partition);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.throwIfFailed();
  }

  /** Drops queued (unsent) records and stops linger timers. Does not close the client. */
  abort(): void {
    for (const b of this.batches.values()) if (b.timer) clearTimeout(b.timer);
    this.batches.clear();
  }

  private partitionFor(record: ProducerRecord): number {
    if (record.partition !== undefined) {
      if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= this.partitions) {
        throw new StrataError('PARTITIONS_INVALID', `topic '${this.topic}' has no partition ${record.partition} (it has ${this.partitions})`);
      }
      return record.partition;
    }
    const key = record.key;
    if (key !== undefined && key !== null) {
      return murmur2Partition(typeof key === 'string' ? Buffer.from(key) : key, this.partitions);
    }
    return this.sticky.partition(this.partitions);
  }

  private dispatch(partition: number): void {
    const batch = this.batches.get(partition);
    if (!batch) return;
    this.batches.delete(partition);
    if (batch.timer) clearTimeout(batch.timer);
    if (this.sticky.partition(this.partitions) === partition) this.sticky.nextBatch(this.partitions);
    const count = batch.records.length;
    const p: Promise<void> = this.client
      .produce(this.topic, partition, batch.records, { acks: this.acks, compression: this.compression, timeoutMs: this.timeoutMs })
      .then(
        () => {
          this.acked += count;
        },
        (err: Error) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}

function byteLength(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function recordSize(r: ProduceRecord): number {
  let n = RECORD_OVERHEAD + byteLength(r.key) + byteLength(r.value);
  for (const h of r.headers ?? []) n += 10 + Buffer.byteLength(h.key) + byteLength(h.value);
  return n;
}
