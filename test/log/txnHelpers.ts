import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildEndTxnMarker, EndTxnMarkerType } from '../../core/log/controlRecords';
import type { PartitionLog } from '../../core/log/partitionLog';
import type { ProducerEntry } from '../../core/log/producerState';
import { CompressionName } from '../../core/log/recordBatch';
import { buildRecordBatch, Compressor } from '../../core/log/recordBatchBuilder';
import { DecodedBatch, Decompressor, decodeRecordBatches } from '../../core/log/recordDecoder';
import type { Entry } from './cleanerHelpers';

/**
 * Transactional logs for the cleaner tests: producers that append through PartitionLog.append as
 * a client would (origin 'client', sequences and epochs checked) and end their transactions
 * with real markers (origin 'coordinator'), and a read_committed reader that filters aborted
 * transactions the way Kafka's consumer does.
 */

export const TS = 1_700_000_000_000n;

export interface SendOptions {
  compression?: CompressionName;
  compressors?: Partial<Record<CompressionName, Compressor>>;
}

/** One idempotent (or, with `transactional`, transactional) producer writing to one log. */
export class TestProducer {
  private seq = 0;

  constructor(
    private readonly log: PartitionLog,
    readonly producerId: bigint,
    readonly transactional: boolean,
    readonly epoch = 0,
    private readonly timestamp = TS,
  ) {}

  /** Appends one batch of `entries` (a transactional one starts or continues the transaction); returns its base offset. */
  send(entries: readonly Entry[], opts: SendOptions = {}): bigint {
    const batch = buildRecordBatch({
      records: entries.map(([k, v], i) => ({
        key: k === null ? null : Buffer.from(k),
        value: v === null ? null : Buffer.from(v),
        timestamp: this.timestamp + BigInt(i),
      })),
      producerId: this.producerId,
      producerEpoch: this.epoch,
      baseSequence: this.seq,
      isTransactional: this.transactional,
      compression: opts.compression,
      compressors: opts.compressors,
    });
    const r = this.log.append(batch, { leaderEpoch: 0, origin: 'client' });
    this.seq += entries.length;
    return r.baseOffset;
  }

  /** Retries the batch `entries` as sent with sequence `seq` (what a producer does after a lost response). */
  resend(entries: readonly Entry[], seq: number): { baseOffset: bigint; duplicate: boolean } {
    const batch = buildRecordBatch({
      records: entries.map(([k, v], i) => ({ key: k === null ? null : Buffer.from(k), value: v === null ? null : Buffer.from(v), timestamp: this.timestamp + BigInt(i) })),
      producerId: this.producerId,
      producerEpoch: this.epoch,
      baseSequence: seq,
      isTransactional: this.transactional,
    });
    const r = this.log.append(batch, { leaderEpoch: 0, origin: 'client' });
    return { baseOffset: r.baseOffset, duplicate: r.duplicate };
  }

  commit(): bigint {
    return this.end('COMMIT');
  }

  abort(): bigint {
    return this.end('ABORT');
  }

  private end(type: EndTxnMarkerType): bigint {
    const marker = buildEndTxnMarker({ producerId: this.producerId, producerEpoch: this.epoch, type, coordinatorEpoch: 3, timestamp: this.timestamp });
    return this.log.append(marker, { leaderEpoch: 0, origin: 'coordinator' }).baseOffset;
  }
}

export type Rec = [bigint, string | null, string | null];

function decodeAll(log: PartitionLog, maxOffset: bigint, decompressors?: Partial<Record<CompressionName, Decompressor>>): DecodedBatch[] {
  const r = log.read(log.logStartOffset, 1 << 30, { minOneBatch: true, maxOffset });
  return decodeRecordBatches(Buffer.concat(r.records), { decompressors });
}

function isAbortMarker(b: DecodedBatch): boolean {
  const key = b.records[0]?.key;
  return b.isControl && key !== null && key !== undefined && key.length >= 4 && key.readInt16BE(2) === 0;
}

/**
 * What a read_committed consumer reading the whole log gets (Kafka's CompletedFetch): records
 * below the last stable offset, without the transactional batches of producers inside an aborted
 * transaction that collectAbortedTransactions reports, and without control batches.
 */
export function readCommitted(log: PartitionLog, decompressors?: Partial<Record<CompressionName, Decompressor>>): Rec[] {
  const lso = log.lastStableOffset;
  const aborted = log.collectAbortedTransactions(log.logStartOffset, lso).sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
  const inAborted = new Set<bigint>();
  let next = 0;
  const out: Rec[] = [];
  for (const b of decodeAll(log, lso, decompressors)) {
    while (next < aborted.length && aborted[next].firstOffset <= b.lastOffset) inAborted.add(aborted[next++].producerId);
    if (isAbortMarker(b)) inAborted.delete(b.producerId);
    if (b.isControl || (b.isTransactional && inAborted.has(b.producerId))) continue;
    for (const r of b.records) out.push([r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null]);
  }
  return out;
}

/** Every batch of the log with its header fields of interest (control batches and empty ones too). */
export function batchHeaders(log: PartitionLog): { base: bigint; last: bigint; pid: bigint; seq: number; txn: boolean; control: boolean; records: number }[] {
  return decodeAll(log, log.logEndOffset).map((b) => ({
    base: b.baseOffset,
    last: b.lastOffset,
    pid: b.producerId,
    seq: b.baseSequence,
    txn: b.isTransactional,
    control: b.isControl,
    records: b.records.length,
  }));
}

/**
 * What a producer's state must keep across a rebuild from a cleaned log: everything but the
 * history of its earlier batches (the cleaner keeps only its last batch, as Kafka does).
 */
export function producerEssentials(e: ProducerEntry): unknown {
  return { ...e, batches: e.batches.slice(-1) };
}

/** Closes the log as a crash would leave it: no clean-shutdown marker, and (with `dropSnapshots`) no producer snapshot. */
export function crash(log: PartitionLog, dropSnapshots = false): void {
  log.close();
  fs.rmSync(path.join(log.dir, 'clean-shutdown'), { force: true });
  if (dropSnapshots) for (const f of fs.readdirSync(log.dir)) if (f.endsWith('.snapshot')) fs.rmSync(path.join(log.dir, f));
}

/** Files of an interrupted cleaner swap, transaction indexes included. */
export const cleanerFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f));
