import * as path from 'node:path';
import { planCleaning, LogForPlanning } from '../../core/log/cleaningPlan';
import { effectiveCompactionConfig } from '../../core/log/logConfig';
import { PartitionLog, SegmentInfo } from '../../core/log/partitionLog';
import { append, compactCfg } from './cleanerHelpers';
import { makeTmpDir, quiet, removeDir, smallConfig } from './helpers';

const NOW = 1_700_000_000_000;
const cfg = (o: Parameters<typeof compactCfg>[0] = {}): ReturnType<typeof effectiveCompactionConfig> =>
  effectiveCompactionConfig(compactCfg({ minCleanableDirtyRatio: 0.5, ...o }));

describe('planCleaning', () => {
  let root: string;
  let log: PartitionLog;
  beforeEach(() => {
    root = makeTmpDir();
    log = PartitionLog.open(path.join(root, 't-0'), smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
  });
  afterEach(() => {
    log.close();
    removeDir(root);
  });

  /** `n` closed segments of 10 records each, records stamped `ts`. */
  function segments(n: number, ts = BigInt(NOW - 3_600_000)): void {
    for (let s = 0; s < n; s++) {
      append(log, Array.from({ length: 10 }, (_, i) => [`k${i}`, `v${s}`] as [string, string]), { timestamp: ts });
      log.roll();
    }
  }

  it('plans nothing for a log that is not compacted, or has no closed segment', () => {
    segments(2);
    expect(planCleaning(log, null, cfg({ cleanupPolicy: ['delete'] }), NOW)).toBeNull();
    const fresh = PartitionLog.open(path.join(root, 't-1'), smallConfig(), { logger: quiet });
    append(fresh, [['a', '1']]);
    expect(planCleaning(fresh, null, cfg(), NOW)).toBeNull();
    fresh.close();
  });

  it('treats a log never cleaned as all dirty, up to the active segment', () => {
    segments(3);
    const active = log.segments().at(-1)!;
    const p = planCleaning(log, null, cfg(), NOW)!;
    expect(p).toMatchObject({ firstDirtyOffset: 0n, firstUncleanableOffset: active.baseOffset, dirtyRatio: 1, reason: 'dirty ratio', checkpointReset: false });
    expect(p.segments.map((s) => [s.baseOffset, s.end])).toEqual([
      [0n, 10n],
      [10n, 20n],
      [20n, 30n],
    ]);
  });

  it('cleans when the dirty share exceeds min.cleanable.dirty.ratio, not before', () => {
    segments(3);
    // Everything below 20 is clean: 1 dirty segment of 3.
    expect(planCleaning(log, { firstDirtyOffset: 20n, deleteHorizonMs: -1 }, cfg({ minCleanableDirtyRatio: 0.4 }), NOW)).toBeNull();
    const p = planCleaning(log, { firstDirtyOffset: 20n, deleteHorizonMs: -1 }, cfg({ minCleanableDirtyRatio: 0.3 }), NOW)!;
    expect(p.firstDirtyOffset).toBe(20n);
    expect(p.dirtyRatio).toBeCloseTo(1 / 3, 5);
    expect(planCleaning(log, { firstDirtyOffset: 30n, deleteHorizonMs: -1 }, cfg({ minCleanableDirtyRatio: 0 }), NOW)).toBeNull();
  });

  it('does not clean segments younger than min.compaction.lag.ms', () => {
    segments(2, BigInt(NOW - 60_000));
    segments(2, BigInt(NOW - 1_000));
    const p = planCleaning(log, null, cfg({ minCompactionLagMs: 10_000 }), NOW)!;
    expect(p.firstUncleanableOffset).toBe(20n);
    expect(p.segments.map((s) => s.baseOffset)).toEqual([0n, 10n]);
    expect(planCleaning(log, null, cfg({ minCompactionLagMs: 120_000 }), NOW)).toBeNull();
  });

  it('cleans a dirty segment older than max.compaction.lag.ms whatever the ratio', () => {
    segments(3, BigInt(NOW - 60_000));
    const cp = { firstDirtyOffset: 20n, deleteHorizonMs: -1 };
    expect(planCleaning(log, cp, cfg({ minCleanableDirtyRatio: 0.9, maxCompactionLagMs: 120_000 }), NOW)).toBeNull();
    expect(planCleaning(log, cp, cfg({ minCleanableDirtyRatio: 0.9, maxCompactionLagMs: 30_000 }), NOW)?.reason).toBe('max.compaction.lag.ms');
  });

  it('cleans again once a kept tombstone reaches its delete horizon, with nothing dirty', () => {
    segments(2);
    const cp = { firstDirtyOffset: 20n, deleteHorizonMs: NOW + 5_000 };
    expect(planCleaning(log, cp, cfg(), NOW)).toBeNull();
    expect(planCleaning(log, cp, cfg(), NOW + 5_000)).toMatchObject({ reason: 'delete horizon', firstDirtyOffset: 20n, dirtyRatio: 0 });
  });

  it('resets a checkpoint outside the log to the log start', () => {
    segments(2);
    // Past the log end (the log was truncated, or the checkpoint belongs to an older log).
    expect(planCleaning(log, { firstDirtyOffset: 500n, deleteHorizonMs: -1 }, cfg(), NOW)).toMatchObject({ firstDirtyOffset: 0n, checkpointReset: true });
    // Below the log start (retention or DeleteRecords removed the segments).
    log.deleteSegmentsBelow(10n);
    expect(planCleaning(log, { firstDirtyOffset: 5n, deleteHorizonMs: -1 }, cfg(), NOW)).toMatchObject({ firstDirtyOffset: 10n, checkpointReset: true });
  });

  it('never plans past the high watermark: the segment holding it is not cleaned', () => {
    segments(3);
    const real = log.segments();
    const view: LogForPlanning = { segments: (): SegmentInfo[] => real, logStartOffset: 0n, logEndOffset: 30n, highWatermark: 15n };
    const p = planCleaning(view, null, cfg(), NOW)!;
    expect(p.firstUncleanableOffset).toBe(10n);
    expect(p.segments.map((s) => s.baseOffset)).toEqual([0n]);
  });
});
