import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { StrataError, StrataErrorCode } from '../common/errors';
import { createLogger, type Logger } from '../common/logger';
import { CleanerCheckpoint, readCleanerCheckpoint, writeCleanerCheckpoint } from './checkpointFiles';
import { CleaningPlan, CleaningReason, planCleaning } from './cleaningPlan';
import type { FromCleanerWorker, ToCleanerWorker } from './cleanerWorker';
import { CompactionConfig, EffectiveCompactionConfig, effectiveCompactionConfig } from './logConfig';
import { OFFSET_MAP_BYTES_PER_SLOT } from './offsetMap';
import type { PartitionLog } from './partitionLog';
import type { AbortedTxn } from './producerState';
import { CleanRoundInput, CleanRoundResult, CleanerStats, ProducerLastBatch, emptyStats } from './segmentCleaner';
import { txnIndexFileName } from './segmentFiles';
import { TransactionIndex } from './txnIndex';

/**
 * Log compaction (cleanup.policy=compact, and compact,delete): keeps the latest record per key in
 * the closed segments of a log, drops tombstones delete.retention.ms after the cleaner first kept
 * them, and never touches the active segment or anything at or above the high watermark.
 *
 * Who does what:
 *   - this class (main thread): decides whether a log needs a round (cleaningPlan.ts), queues
 *     rounds one at a time, swaps each cleaned group into the live log (PartitionLog
 *     .replaceWithCleanedSegment, synchronous, a few file renames and an index load), keeps the
 *     per-log cleaner checkpoint, logs stats at info;
 *   - a worker thread (cleanerWorker.ts → segmentCleaner.ts): everything proportional to the data —
 *     reading segments, the offset map, decompressing and re-encoding batches, writing and
 *     fsyncing `.cleaned` files. Produce and fetch keep running on the main thread meanwhile.
 *
 * The broker calls `cleanIfNeeded` for each compacted partition from its housekeeping timer
 * (every log.cleaner.backoff.ms, and at the next tick after a round that cleaned, as Kafka's
 * cleaner backs off only when nothing was due); the call is cheap when nothing is due, and never
 * rejects: a failed round is logged and reported in the result. `close` before closing the logs.
 */

export type CleanerLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface LogCleanerOptions {
  /** log.cleaner.dedupe.buffer.size: memory for the offset map (Kafka's default 128 MiB). */
  dedupeBufferBytes?: number;
  /** log.cleaner.io.buffer.load.factor: share of the map filled before a round stops (0.9). */
  loadFactor?: number;
  /** Largest decompressed records section (any codec) the cleaner filters (64 MiB); larger batches stay whole. */
  maxDecompressedBytes?: number;
  logger?: CleanerLogger;
  /** Wall clock (ms) when cleanIfNeeded gets no nowMs; default Date.now. */
  now?: () => number;
}

export interface CleanResult {
  dir: string;
  /** 'aborted': the log changed under the round (truncation, retention, close) and a swap was refused. */
  outcome: 'cleaned' | 'aborted' | 'failed';
  reason: CleaningReason;
  firstDirtyOffset: bigint;
  firstUncleanableOffset: bigint;
  /** The new first dirty offset (the checkpoint), for 'cleaned'. */
  endOffset: bigint;
  dirtyRatio: number;
  groupsSwapped: number;
  /** Earliest delete horizon of a tombstone still kept, -1 when none. */
  deleteHorizonMs: number;
  durationMs: number;
  /** Longest main-thread swap of the round (the only main-thread work proportional to a group). */
  maxSwapMs: number;
  stats: CleanerStats;
  error?: { code: StrataErrorCode; message: string };
}

const DEFAULT_DEDUPE_BUFFER_BYTES = 128 * 1024 * 1024;
const DEFAULT_LOAD_FACTOR = 0.9;
const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

export class LogCleaner {
  private worker: Worker | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly queued = new Set<PartitionLog>();
  private readonly checkpoints = new WeakMap<PartitionLog, CleanerCheckpoint | null>();
  private readonly uncleanable = new WeakMap<PartitionLog, string>();
  private closed = false;
  private readonly logger: CleanerLogger;
  private readonly now: () => number;
  private readonly maxMapSlots: number;
  private readonly loadFactor: number;
  private readonly maxDecompressedBytes: number;

  constructor(opts: LogCleanerOptions = {}) {
    this.logger = opts.logger ?? createLogger('log-cleaner');
    this.now = opts.now ?? Date.now;
    const dedupe = opts.dedupeBufferBytes ?? DEFAULT_DEDUPE_BUFFER_BYTES;
    this.loadFactor = opts.loadFactor ?? DEFAULT_LOAD_FACTOR;
    this.maxDecompressedBytes = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
    if (!(this.loadFactor > 0 && this.loadFactor < 1)) {
      throw new StrataError('CONFIG_INVALID', `log.cleaner.io.buffer.load.factor must be between 0 and 1 (exclusive), got ${this.loadFactor}`);
    }
    this.maxMapSlots = Math.floor(dedupe / OFFSET_MAP_BYTES_PER_SLOT);
    if (this.maxMapSlots * this.loadFactor < 1) {
      throw new StrataError('CONFIG_INVALID', `log.cleaner.dedupe.buffer.size ${dedupe} is too small to hold one key`);
    }
  }

  /** What a round would do now, or null when the log needs none. Cheap: no I/O but the checkpoint file, once. */
  plan(log: PartitionLog, config: CompactionConfig, nowMs: number = this.now()): CleaningPlan | null {
    if (this.closed || log.isClosed || this.uncleanable.has(log)) return null;
    return planCleaning(log, this.checkpoint(log), effectiveCompactionConfig(config), nowMs);
  }

  /**
   * Where the dirty section of `log` starts: every offset below it has been through a cleaning
   * round (the checkpoint; the log start before the first round). Null when this cleaner will
   * not clean `log` any more (uncleanable). Tiered storage uploads a compacted log's segments
   * only below this offset, so the object store gets compacted data. Cheap: the checkpoint is
   * read from disk once per log, then kept in memory.
   */
  cleanedUpTo(log: PartitionLog): bigint | null {
    if (this.uncleanable.has(log)) return null;
    const start = log.logStartOffset;
    const first = this.checkpoint(log)?.firstDirtyOffset;
    // As planCleaning: a checkpoint outside the log (truncation, retention) counts as none.
    return first === undefined || first < start || first > log.logEndOffset ? start : first;
  }

  /** Why the log is no longer cleaned (a corrupt batch, as Kafka's uncleanable partitions), or null. */
  uncleanableReason(log: PartitionLog): string | null {
    return this.uncleanable.get(log) ?? null;
  }

  /**
   * Runs a round on `log` if one is due (see cleaningPlan.ts), after any rounds already queued;
   * resolves null when none is due, when this log is already queued, or after close. Never
   * rejects. `nowMs` (default: the clock when the round starts) is the time delete horizons are
   * set from and compared with.
   */
  cleanIfNeeded(log: PartitionLog, config: CompactionConfig, nowMs?: number): Promise<CleanResult | null> {
    if (this.queued.has(log)) return Promise.resolve(null);
    try {
      if (this.plan(log, config, nowMs) === null) return Promise.resolve(null);
    } catch (e) {
      this.logger.warn(`not cleaning ${log.dir}: ${(e as Error).message}`);
      return Promise.resolve(null);
    }
    this.queued.add(log);
    const run = this.queue.then(() => this.round(log, config, nowMs ?? this.now())).finally(() => this.queued.delete(log));
    this.queue = run.catch(() => undefined);
    return run.catch((e: unknown) => {
      this.logger.error(`cleaning ${log.dir} failed unexpectedly: ${(e as Error)?.message ?? e}`);
      return null;
    });
  }

  /** Stops the worker (a round in progress is abandoned; its `.cleaned` files go on the next open) and waits for queued calls to settle. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
    await this.queue;
  }

  private checkpoint(log: PartitionLog): CleanerCheckpoint | null {
    if (!this.checkpoints.has(log)) this.checkpoints.set(log, readCleanerCheckpoint(log.dir));
    return this.checkpoints.get(log) ?? null;
  }

  private async round(log: PartitionLog, config: CompactionConfig, nowMs: number): Promise<CleanResult | null> {
    if (this.closed || log.isClosed) return null;
    const cfg: EffectiveCompactionConfig = effectiveCompactionConfig(config);
    // Re-planned: the log may have changed while this call waited for the queue.
    const plan = this.plan(log, config, nowMs);
    if (plan === null) return null;
    const input = cleanRoundInput(log, plan, cfg, nowMs, {
      maxMapSlots: this.maxMapSlots,
      mapLoadFactor: this.loadFactor,
      maxDecompressedBytes: this.maxDecompressedBytes,
    });
    const started = performance.now();
    const swaps = { max: 0, count: 0 };
    const base: Omit<CleanResult, 'outcome' | 'endOffset' | 'groupsSwapped' | 'deleteHorizonMs' | 'durationMs' | 'stats'> = {
      dir: log.dir,
      reason: plan.reason,
      firstDirtyOffset: plan.firstDirtyOffset,
      firstUncleanableOffset: plan.firstUncleanableOffset,
      dirtyRatio: plan.dirtyRatio,
      maxSwapMs: 0,
    };
    let r: CleanRoundResult;
    try {
      r = await this.runOnWorker(log, input, swaps);
    } catch (e) {
      const err = e instanceof StrataError ? e : new StrataError('STORAGE_IO', (e as Error)?.message ?? String(e));
      // A round that did not run to its end: nothing cleaned, the dirty section unchanged.
      const unfinished = (outcome: 'aborted' | 'failed'): CleanResult => ({
        ...base,
        outcome,
        endOffset: plan.firstDirtyOffset,
        groupsSwapped: swaps.count,
        deleteHorizonMs: -1,
        durationMs: performance.now() - started,
        maxSwapMs: swaps.max,
        stats: emptyStats(),
      });
      if (err.code === 'NOT_FOUND') {
        // A segment the round planned to read was deleted meanwhile (retention, DeleteRecords,
        // topic deletion): the log changed under the round, as when a swap is refused.
        this.logger.info(`cleaning ${log.dir} aborted: ${err.message}`);
        return unfinished('aborted');
      }
      if (err.code === 'BATCH_CORRUPT') {
        this.uncleanable.set(log, err.message);
        this.logger.error(`${log.dir} is uncleanable from now on: ${err.message}`);
      } else if (!this.closed) {
        this.logger.warn(`cleaning ${log.dir} failed: ${err.message}`);
      }
      return { ...unfinished('failed'), error: { code: err.code, message: err.message } };
    }
    const previous = this.checkpoint(log);
    // An aborted round moves no dirty offset (as in Kafka), but tombstones it already stamped
    // with a horizon must still get a round when it passes.
    const next: CleanerCheckpoint = r.aborted
      ? { firstDirtyOffset: plan.firstDirtyOffset, deleteHorizonMs: earliest(previous?.deleteHorizonMs ?? -1, r.deleteHorizonMs) }
      : { firstDirtyOffset: r.endOffset, deleteHorizonMs: r.deleteHorizonMs };
    if (!log.isClosed) {
      try {
        writeCleanerCheckpoint(log.dir, next);
        this.checkpoints.set(log, next);
      } catch (e) {
        this.logger.warn(`${log.dir}: ${(e as Error).message}`);
      }
    }
    const result: CleanResult = {
      ...base,
      outcome: r.aborted ? 'aborted' : 'cleaned',
      endOffset: r.endOffset,
      groupsSwapped: r.groupsSwapped,
      deleteHorizonMs: next.deleteHorizonMs,
      durationMs: performance.now() - started,
      maxSwapMs: swaps.max,
      stats: r.stats,
    };
    this.logger.info(describe(result));
    return result;
  }

  private runOnWorker(log: PartitionLog, input: CleanRoundInput, swaps: { max: number; count: number }): Promise<CleanRoundResult> {
    const w = this.ensureWorker();
    return new Promise<CleanRoundResult>((resolve, reject) => {
      const onMessage = (m: FromCleanerWorker): void => {
        if (m.type === 'swap') {
          const ok = !this.closed && this.swap(log, input, m.group.ids, m.group.baseOffset, swaps);
          w.postMessage({ type: 'swapped', ok } satisfies ToCleanerWorker);
        } else if (m.type === 'done') {
          done();
          resolve(m.result);
        } else {
          done();
          reject(new StrataError(m.code as StrataErrorCode, m.message));
        }
      };
      const onError = (e: Error): void => {
        done();
        if (this.worker === w) this.worker = null;
        reject(new StrataError('STORAGE_IO', `cleaner worker failed: ${e.message}`, { cause: e }));
      };
      const onExit = (code: number): void => {
        done();
        if (this.worker === w) this.worker = null;
        reject(new StrataError('STORAGE_IO', `cleaner worker exited (code ${code})${this.closed ? ': the cleaner was closed' : ''}`));
      };
      const done = (): void => {
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        w.unref();
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      // Referenced only while a round runs: an idle cleaner never keeps the process alive.
      w.ref();
      w.postMessage({ type: 'clean', input } satisfies ToCleanerWorker);
    });
  }

  /** One group's swap on the main thread; false refuses it (the worker then stops the round). */
  private swap(log: PartitionLog, input: CleanRoundInput, ids: number[], baseOffset: bigint, swaps: { max: number; count: number }): boolean {
    const t0 = performance.now();
    try {
      const stale = staleTransactionState(log, input);
      if (stale !== null) {
        this.logger.info(`not swapping cleaned segment ${baseOffset} into ${log.dir}: ${stale}`);
        return false;
      }
      // A refused swap's .cleaned files are removed by the worker (runCleanRound).
      const ok = log.replaceWithCleanedSegment(ids);
      if (ok) swaps.count++;
      return ok;
    } catch (e) {
      // The directory may be half swapped; the next open completes or undoes it. Until then the
      // log keeps serving its old segments, and this cleaner leaves it alone.
      this.uncleanable.set(log, (e as Error).message);
      this.logger.error(`swapping cleaned segment ${baseOffset} into ${log.dir} failed; not cleaning it again until it is reopened: ${(e as Error).message}`);
      return false;
    } finally {
      const ms = performance.now() - t0;
      if (ms > swaps.max) swaps.max = ms;
    }
  }

  private ensureWorker(): Worker {
    if (this.worker === null) {
      const w = startCleanerWorker();
      w.unref();
      // A crash is reported to the round in progress (onError/onExit); an idle worker that
      // dies is simply started again by the next round.
      w.on('error', () => undefined);
      w.on('exit', () => {
        if (this.worker === w) this.worker = null;
      });
      this.worker = w;
    }
    return this.worker;
  }
}

/**
 * The worker's input for a round of `plan` on `log` (exported for tests that run rounds in-process).
 * Gathers on the main thread, as the round starts, what the worker needs of the log's
 * transactions: the aborted transactions with data in the round's segments (from the segments'
 * transaction indexes), the last batch of every producer with state, and the first unstable offset.
 */
export function cleanRoundInput(
  log: PartitionLog,
  plan: CleaningPlan,
  cfg: EffectiveCompactionConfig,
  nowMs: number,
  limits: Pick<CleanRoundInput, 'maxMapSlots' | 'mapLoadFactor' | 'maxDecompressedBytes'>,
): CleanRoundInput {
  const lc = log.effectiveConfig;
  return {
    dir: log.dir,
    segments: plan.segments,
    firstDirtyOffset: plan.firstDirtyOffset,
    firstUncleanableOffset: plan.firstUncleanableOffset,
    nowMs,
    deleteRetentionMs: cfg.deleteRetentionMs,
    segmentBytes: lc.segmentBytes,
    maxIndexBytes: lc.segmentIndexBytes,
    indexIntervalBytes: lc.indexIntervalBytes,
    ...limits,
    abortedTxns: abortedTxnsOfRound(log, plan),
    activeProducers: lastBatchesOfProducers(log),
    firstUnstableOffset: log.producerState.firstUnstableOffset(),
  };
}

/**
 * Every aborted transaction with data in the round's segments, wherever its marker is
 * (PartitionLog.collectAbortedTransactions over [log start, firstUncleanable)), with the
 * lastStableOffset of its index entry when that entry is in one of the round's segments (the
 * only ones a cleaned index may keep; read from their `.txnindex` files, which no append
 * changes once a segment is closed).
 */
function abortedTxnsOfRound(log: PartitionLog, plan: CleaningPlan): AbortedTxn[] {
  if (plan.segments.length === 0) return [];
  const ranges = log.collectAbortedTransactions(log.logStartOffset, plan.firstUncleanableOffset);
  if (ranges.length === 0) return [];
  const byMarker = new Map<bigint, AbortedTxn>();
  for (const s of plan.segments) {
    const index = TransactionIndex.open(path.join(log.dir, txnIndexFileName(s.baseOffset)), { logger: () => undefined });
    try {
      for (const t of index.entries()) byMarker.set(t.lastOffset, t);
    } finally {
      index.close();
    }
  }
  return ranges.map((r) => {
    const entry = byMarker.get(r.lastOffset);
    if (entry !== undefined) return entry;
    if (r.lastOffset < plan.firstUncleanableOffset) {
      // Never guess a lastStableOffset a cleaned index would keep: a too high one would end
      // read_committed searches early. (The files hold what the in-memory indexes hold.)
      throw new StrataError('STORAGE_IO', `${log.dir}: no transaction index entry for the aborted transaction of producer ${r.producerId} ended at ${r.lastOffset}`);
    }
    // Its marker is past the round: the entry stays where it is and its LSO is not used here.
    return { ...r, lastStableOffset: r.lastOffset + 1n };
  });
}

/** Kafka's UnifiedLog.lastRecordsOfActiveProducers. */
function lastBatchesOfProducers(log: PartitionLog): ProducerLastBatch[] {
  return log.producerState.activeProducers().map((e) => ({
    producerId: e.producerId,
    producerEpoch: e.producerEpoch,
    lastDataOffset: e.batches.length > 0 ? e.batches[e.batches.length - 1].lastOffset : null,
  }));
}

/**
 * Why a round's output no longer fits the log's transactions (the segment ids checked by
 * PartitionLog.replaceWithCleanedSegment cannot see a truncation inside the active segment, which
 * rebuilds the producer state), or null when it still does:
 *   - a transaction is open again from below the round's end (its marker was truncated away):
 *     the round dropped its data as aborted or its marker as finished;
 *   - a producer's last data batch is now below the round's end and is not the one the round
 *     kept for it (its later batches were truncated away): the round may have dropped it.
 */
export function staleTransactionState(log: PartitionLog, input: CleanRoundInput): string | null {
  const end = input.firstUncleanableOffset;
  const unstable = log.producerState.firstUnstableOffset();
  if (unstable !== null && unstable < end) return `a transaction is open from offset ${unstable}, below the round's end ${end}`;
  const kept = new Map(input.activeProducers.map((p) => [p.producerId, p.lastDataOffset]));
  for (const p of lastBatchesOfProducers(log)) {
    if (p.lastDataOffset !== null && p.lastDataOffset < end && kept.get(p.producerId) !== p.lastDataOffset) {
      return `producer ${p.producerId}'s last batch (offset ${p.lastDataOffset}) changed during the round`;
    }
  }
  return null;
}

function earliest(a: number, b: number): number {
  if (a < 0) return b;
  if (b < 0) return a;
  return Math.min(a, b);
}

function describe(r: CleanResult): string {
  const s = r.stats;
  const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);
  const smaller = s.bytesRead > 0 ? (100 * (1 - s.bytesWritten / s.bytesRead)).toFixed(1) : '0.0';
  return (
    `${r.outcome} ${r.dir} (${r.reason}, dirty ratio ${r.dirtyRatio.toFixed(2)}): dirty section [${r.firstDirtyOffset}, ${r.endOffset}) ` +
    `in ${r.durationMs.toFixed(0)} ms; read ${mib(s.bytesRead)} MiB / ${s.recordsRead} records, wrote ${mib(s.bytesWritten)} MiB / ${s.recordsKept} records ` +
    `(${smaller}% smaller); removed ${s.recordsSuperseded} superseded, ${s.tombstonesRemoved} tombstones, ${s.keylessRemoved} keyless, ` +
    `${s.abortedRecordsRemoved} aborted, ${s.markersRemoved} markers; ` +
    `${s.batchesKeptWhole} batches kept whole; map ${s.mapEntries}/${s.mapSlots} slots from ${mib(s.mapBytesRead)} MiB; ` +
    `${r.groupsSwapped} of ${s.groups} groups swapped (longest swap ${r.maxSwapMs.toFixed(1)} ms)`
  );
}

/**
 * Compiled (dist/*.js): the worker runs cleanerWorker.js next to this file. From TypeScript
 * sources (jest with ts-jest runs core/*.ts in-process; a worker cannot use jest's transformer),
 * the worker loads the `typescript` package and compiles each core module as it is required.
 */
const TS_WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ts = require('node:module').createRequire(workerData.entry)('typescript');
require.extensions['.ts'] = (module, filename) => {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(out.outputText, filename);
};
require(workerData.entry);
`;

function startCleanerWorker(): Worker {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `cleanerWorker${ext}`);
  if (ext === '.ts') return new Worker(TS_WORKER_BOOTSTRAP, { eval: true, workerData: { entry } });
  return new Worker(entry);
}
