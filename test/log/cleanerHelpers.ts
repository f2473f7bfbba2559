import { CompactionConfig, effectiveCompactionConfig } from '../../core/log/logConfig';
import { CleanerLogger, cleanRoundInput } from '../../core/log/logCleaner';
import { planCleaning, CleaningPlan } from '../../core/log/cleaningPlan';
import { readCleanerCheckpoint } from '../../core/log/checkpointFiles';
import type { PartitionLog } from '../../core/log/partitionLog';
import { CompressionName, TimestampType } from '../../core/log/recordBatch';
import { buildRecordBatch, Compressor } from '../../core/log/recordBatchBuilder';
import { DecodedBatch, Decompressor, decodeRecordBatches } from '../../core/log/recordDecoder';
import { CleanGroup, CleanRoundResult, runCleanRound } from '../../core/log/segmentCleaner';

/** Shared fixtures for the log cleaner tests. */

/** [key, value]; null key = keyless record, null value = tombstone. */
export type Entry = [string | null, string | null];

export interface KeyedBatchOptions {
  compression?: CompressionName;
  compressors?: Partial<Record<CompressionName, Compressor>>;
  timestamp?: bigint;
  timestampType?: TimestampType;
  isControl?: boolean;
}

export function keyedBatch(entries: readonly Entry[], opts: KeyedBatchOptions = {}): Buffer {
  const ts = opts.timestamp ?? 1_700_000_000_000n;
  return buildRecordBatch({
    records: entries.map(([k, v], i) => ({
      key: k === null ? null : Buffer.from(k),
      value: v === null ? null : Buffer.from(v),
      headers: i % 3 === 0 ? [{ key: 'h', value: Buffer.from(`h${i}`) }] : [],
      timestamp: ts + BigInt(i),
    })),
    compression: opts.compression,
    compressors: opts.compressors,
    timestampType: opts.timestampType,
    isControl: opts.isControl,
    // A control batch is a transaction marker: Kafka writes them with the producer's id and epoch.
    ...(opts.isControl ? { isTransactional: true, producerId: 1n, producerEpoch: 0 } : {}),
  });
}

/** Appends one batch of `entries`; returns its base offset. */
export function append(log: PartitionLog, entries: readonly Entry[], opts: KeyedBatchOptions = {}): bigint {
  return log.append(keyedBatch(entries, opts), { leaderEpoch: 0 }).baseOffset;
}

/** Every batch of the log, decoded (control batches too). */
export function batchesOf(
  log: PartitionLog,
  from: bigint = log.logStartOffset,
  decompressors?: Partial<Record<CompressionName, Decompressor>>,
): DecodedBatch[] {
  const r = log.read(from, 1 << 30, { minOneBatch: true });
  return decodeRecordBatches(Buffer.concat(r.records), { decompressors });
}

/** [offset, key, value] of every record from `from`. */
export function recordsOf(log: PartitionLog, from?: bigint): [bigint, string | null, string | null][] {
  return batchesOf(log, from).flatMap((b) =>
    b.isControl ? [] : b.records.map((r): [bigint, string | null, string | null] => [r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null]),
  );
}

/** What compaction of `records` must leave: the last record per key, in offset order (keyless dropped, tombstones kept). */
export function latestPerKey(records: readonly [bigint, string | null, string | null][]): [bigint, string | null, string | null][] {
  const last = new Map<string, [bigint, string | null, string | null]>();
  for (const r of records) if (r[1] !== null) last.set(r[1], r);
  return [...last.values()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

export function compactCfg(overrides: Partial<CompactionConfig> = {}): CompactionConfig {
  return { cleanupPolicy: ['compact'], minCleanableDirtyRatio: 0, ...overrides };
}

/**
 * One cleaning round on the main thread (no worker): the same code the worker runs, with each
 * group swapped by `swap` (default: the log's own swap). Null when no round is due.
 */
export async function roundInProcess(
  log: PartitionLog,
  cfg: CompactionConfig,
  nowMs: number,
  swap: (g: CleanGroup) => Promise<boolean> = async (g) => log.replaceWithCleanedSegment(g.ids),
  maxDecompressedBytes = 1 << 26,
): Promise<{ plan: CleaningPlan; result: CleanRoundResult } | null> {
  const eff = effectiveCompactionConfig(cfg);
  const plan = planCleaning(log, readCleanerCheckpoint(log.dir), eff, nowMs);
  if (plan === null) return null;
  const input = cleanRoundInput(log, plan, eff, nowMs, { maxMapSlots: 1 << 20, mapLoadFactor: 0.9, maxDecompressedBytes });
  return { plan, result: await runCleanRound(input, swap) };
}

export function captureCleanerLogger(): { logger: CleanerLogger; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => {
    lines.push(m);
  };
  return { logger: { info: push, warn: push, error: push }, lines };
}
