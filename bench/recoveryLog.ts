import * as crypto from 'crypto';
import * as fs from 'fs';
import { buildEndTxnMarker } from '../core/log/controlRecords';
import { DEFAULT_LOG_CONFIG, LogConfig } from '../core/log/logConfig';
import { PartitionLog } from '../core/log/partitionLog';
import type { ProducerEntry, TxnStart } from '../core/log/producerState';
import { buildRecordBatch, RecordInput } from '../core/log/recordBatchBuilder';

/**
 * The partition log the recovery measurement (recovery.ts) opens: written with core/log's
 * PartitionLog directly, as the broker's produce path would append it, by a separate process that
 * then dies by SIGKILL without closing the log — a crash. All of PartitionLog's writes are
 * synchronous, so the directory then holds exactly what a broker killed at that moment leaves:
 * every batch, the producer snapshots taken at each segment roll, no snapshot at the log end and
 * no clean-shutdown marker.
 *
 *   node dist/bench/recoveryLog.js DIR SPEC_JSON STATE_FILE
 *
 * Batches rotate over the producers: `idempotentProducers` idempotent ones (epoch 0) and
 * `transactionalProducers` transactional ones (epoch 1), each with its own sequence; every
 * `batchesPerTxn` batches of a transactional producer end with a marker (origin 'coordinator',
 * every `abortEvery`-th an ABORT, the others COMMIT). Appending stops once the log holds
 * `targetBytes` and each transactional producer is inside a transaction, left open as a crash
 * would leave it. Kafka's default batch.size is 16 KiB: `batchRecords` × `valueBytes` is about that.
 *
 * Before dying the process writes STATE_FILE (JSON): the producer state it built, which every
 * recovery must reproduce, and the log's shape.
 */

export interface RecoveryLogSpec {
  targetBytes: number;
  segmentBytes: number;
  batchRecords: number;
  valueBytes: number;
  idempotentProducers: number;
  transactionalProducers: number;
  batchesPerTxn: number;
  abortEvery: number;
}

export const RECOVERY_LOG_DEFAULTS: Omit<RecoveryLogSpec, 'targetBytes' | 'segmentBytes'> = {
  batchRecords: 16,
  valueBytes: 1000,
  idempotentProducers: 8,
  transactionalProducers: 4,
  batchesPerTxn: 8,
  abortEvery: 5,
};

/** What a log's producer state is, in a form JSON keeps and `===` compares (bigints as strings). */
export interface ProducerStateView {
  logEndOffset: string;
  lastStableOffset: string;
  producers: ProducerEntry[];
  ongoingTxns: TxnStart[];
}

export interface BuiltLog {
  state: ProducerStateView;
  /** Serialized `state`, as stateKey() gives it. */
  stateKey: string;
  bytes: number;
  segments: number;
  /** Size of the last (active) segment: what a crash recovery checks and replays. */
  activeSegmentBytes: number;
  batches: number;
  markers: number;
  aborted: number;
  seconds: number;
}

export function logConfigFor(segmentBytes: number): LogConfig {
  return { ...DEFAULT_LOG_CONFIG, segmentBytes };
}

export function producerStateOf(log: PartitionLog): ProducerStateView {
  return {
    logEndOffset: String(log.logEndOffset),
    lastStableOffset: String(log.lastStableOffset),
    producers: log.producerState.activeProducers(),
    ongoingTxns: log.producerState.ongoingTransactions(),
  };
}

/** One canonical string per state: equal strings ⇔ equal states. */
export function stateKey(s: ProducerStateView): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** Appends batches to the (new) log in `dir` until it holds spec.targetBytes; does not close it. */
export function buildRecoveryLog(dir: string, spec: RecoveryLogSpec, now: () => number = Date.now): { log: PartitionLog; built: BuiltLog } {
  const started = process.hrtime.bigint();
  const log = PartitionLog.open(dir, logConfigFor(spec.segmentBytes), { logger: () => undefined, now });
  if (log.logEndOffset !== 0n) throw new Error(`${dir} already holds a log (ending at ${log.logEndOffset})`);
  const pool = crypto.randomBytes(spec.valueBytes * 4);
  const producers = [
    ...Array.from({ length: spec.idempotentProducers }, (_, i) => ({ id: 1000n + BigInt(i), epoch: 0, txn: false, seq: 0, inTxn: 0, txns: 0 })),
    ...Array.from({ length: spec.transactionalProducers }, (_, i) => ({ id: 2000n + BigInt(i), epoch: 1, txn: true, seq: 0, inTxn: 0, txns: 0 })),
  ];
  if (producers.length === 0) throw new Error('a recovery log needs at least one producer');
  let batches = 0;
  let markers = 0;
  let aborted = 0;
  // Past the target until every transactional producer is inside a transaction again.
  const txnClosed = (): boolean => producers.some((p) => p.txn && p.inTxn === 0);
  for (let k = 0; log.size < spec.targetBytes || txnClosed(); k++) {
    const p = producers[k % producers.length]!;
    const ts = BigInt(now());
    const records: RecordInput[] = [];
    for (let r = 0; r < spec.batchRecords; r++) {
      const from = ((batches * spec.batchRecords + r) * 7919) % (pool.length - spec.valueBytes);
      records.push({ key: null, value: pool.subarray(from, from + spec.valueBytes) });
    }
    const batch = buildRecordBatch({ records, now: ts, producerId: p.id, producerEpoch: p.epoch, baseSequence: p.seq, isTransactional: p.txn });
    log.append(batch, { leaderEpoch: 0, origin: 'client' });
    batches++;
    p.seq += spec.batchRecords;
    if (p.txn && ++p.inTxn === spec.batchesPerTxn) {
      p.inTxn = 0;
      const type = ++p.txns % spec.abortEvery === 0 ? 'ABORT' : 'COMMIT';
      log.append(buildEndTxnMarker({ producerId: p.id, producerEpoch: p.epoch, type, coordinatorEpoch: 0, timestamp: ts }), { leaderEpoch: 0, origin: 'coordinator' });
      markers++;
      if (type === 'ABORT') aborted++;
    }
  }
  const segs = log.segments();
  const state = producerStateOf(log);
  return {
    log,
    built: {
      state,
      stateKey: stateKey(state),
      bytes: log.size,
      segments: segs.length,
      activeSegmentBytes: segs[segs.length - 1]!.size,
      batches,
      markers,
      aborted,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    },
  };
}

if (require.main === module) {
  const [dir, specJson, stateFile] = process.argv.slice(2);
  if (dir === undefined || specJson === undefined || stateFile === undefined) {
    process.stderr.write('usage: node recoveryLog.js DIR SPEC_JSON STATE_FILE\n');
    process.exit(2);
  }
  const { built } = buildRecoveryLog(dir, JSON.parse(specJson) as RecoveryLogSpec);
  fs.writeFileSync(stateFile, JSON.stringify(built, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
  // The crash: no close(), no snapshot at the log end, no clean-shutdown marker; the kernel
  // closes the files (every write already reached the page cache).
  process.kill(process.pid, 'SIGKILL');
}
