import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PartitionLog } from '../../core/log/partitionLog';
import { measureRecovery, RecoveryOpen, summarizeRecovery } from '../../bench/recovery';
import { buildRecoveryLog, logConfigFor, producerStateOf, RECOVERY_LOG_DEFAULTS, RecoveryLogSpec, stateKey } from '../../bench/recoveryLog';
import { DIST_DIR } from '../helpers/build';

const MiB = 1024 * 1024;
const spec = (targetBytes: number, segmentBytes: number): RecoveryLogSpec => ({ ...RECOVERY_LOG_DEFAULTS, targetBytes, segmentBytes });

describe('recovery measurement', () => {
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-recovery-'));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  it('writes idempotent and transactional batches from every producer, leaving the last transactions open', () => {
    const dir = path.join(work, 'log');
    const s = { ...spec(3 * MiB, MiB), abortEvery: 2 };
    const { log, built } = buildRecoveryLog(dir, s);
    try {
      expect(built.bytes).toBeGreaterThanOrEqual(3 * MiB);
      expect(built.segments).toBeGreaterThanOrEqual(3);
      expect(built.activeSegmentBytes).toBe(log.segments().at(-1)!.size);
      const producers = built.state.producers;
      expect(producers.map((p) => p.producerId)).toEqual([1000n, 1001n, 1002n, 1003n, 1004n, 1005n, 1006n, 1007n, 2000n, 2001n, 2002n, 2003n]);
      for (const p of producers) expect(p.batches).toHaveLength(5);
      expect(producers.filter((p) => p.currentTxnFirstOffset !== null).map((p) => p.producerId)).toEqual([2000n, 2001n, 2002n, 2003n]);
      expect(built.state.ongoingTxns).toHaveLength(4);
      expect(BigInt(built.state.lastStableOffset)).toBeLessThan(log.logEndOffset);
      // Every 8th batch of a transactional producer ends its transaction; every 2nd transaction aborts here.
      expect(built.markers).toBeGreaterThan(0);
      expect(built.aborted).toBeGreaterThan(0);
      expect(built.aborted).toBeLessThanOrEqual(Math.ceil(built.markers / s.abortEvery));
      expect(log.logEndOffset).toBe(BigInt(built.batches * s.batchRecords + built.markers));
      // The key tells states apart.
      const other = { ...built.state, producers: built.state.producers.slice(1) };
      expect(stateKey(other)).not.toBe(built.stateKey);
    } finally {
      log.close();
    }
    // A clean close and open gives the same state back.
    const again = PartitionLog.open(dir, logConfigFor(s.segmentBytes), { logger: () => undefined });
    try {
      expect(stateKey(producerStateOf(again))).toBe(built.stateKey);
    } finally {
      again.close();
    }
  });

  it('opens a crashed log, a cleanly closed one and one without snapshots, each recovering the writer\'s state', async () => {
    const progress: string[] = [];
    // 2.5 segments: the active segment a crash replays holds about half a segment.
    const r = await measureRecovery({
      workDir: work,
      writer: path.join(DIST_DIR, 'bench', 'recoveryLog.js'),
      spec: spec(5 * MiB + MiB / 2, 2 * MiB),
      rounds: 2,
      timeoutMs: 60_000,
      progress: (m) => progress.push(m),
    });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    const l = r.log!;
    expect(l.segments).toBe(3);
    expect(l.producers).toBe(12);
    expect(l.ongoingTxns).toBe(4);
    expect(r.opens.map((o) => `${o.case} ${o.round}${o.genuineCrash ? ' genuine' : ''}`)).toEqual([
      'crash 1 genuine',
      'clean 1',
      'noSnapshots 1',
      'crash 2',
      'clean 2',
      'noSnapshots 2',
    ]);
    for (const o of r.opens) expect(o).toMatchObject({ sameState: true, producers: 12 });
    const all = l.batches + l.markers;
    const c = r.cases;
    // Clean: nothing replayed. Crash: the active segment's batches, from the snapshot at the last
    // roll (the recreated crash replays exactly what the real one did). None: every batch.
    expect(c.clean!.replayedBatches).toBe(0);
    expect(c.crash!.replayedBatches).toBeGreaterThan(0);
    expect(c.crash!.replayedBatches).toBeLessThan(all / 2);
    expect(new Set(r.opens.filter((o) => o.case === 'crash').map((o) => o.replayedBatches)).size).toBe(1);
    expect(c.noSnapshots!.replayedBatches).toBe(all);
    // Snapshots: one per roll in the crashed directory, one more at the log end after a clean close.
    expect(r.opens.filter((o) => o.case === 'crash').map((o) => o.snapshots)).toEqual([2, 2]);
    expect(r.opens.filter((o) => o.case === 'clean').map((o) => o.snapshots)).toEqual([3, 3]);
    expect(r.opens.filter((o) => o.case === 'noSnapshots').map((o) => o.snapshots)).toEqual([0, 0]);
    // The replay reads the log; a clean open reads hardly anything of it.
    expect(c.noSnapshots!.medianReadBytes!).toBeGreaterThan(l.bytes / 2);
    expect(c.clean!.medianReadBytes!).toBeLessThan(l.bytes / 10);
    expect(fs.readdirSync(work)).toEqual([]);
    expect(progress[0]).toMatch(/child process that then crashes/);
  }, 120_000);

  it('a writer that does not crash as planned is an error', async () => {
    const r = await measureRecovery({ workDir: work, writer: path.join(work, 'missing.js'), spec: spec(MiB, MiB), rounds: 1, timeoutMs: 10_000 });
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/missing\.js not found/);
    expect(r.cases).toEqual({ clean: null, crash: null, noSnapshots: null });
  });

  it('medians per case count only opens that recovered the right state', () => {
    const open = (c: RecoveryOpen['case'], seconds: number, sameState = true): RecoveryOpen => ({
      case: c, round: 1, seconds, readBytes: 10, replayedBatches: c === 'clean' ? 0 : 7, producers: 12, snapshots: 3, sameState, genuineCrash: false,
    });
    const s = summarizeRecovery([open('clean', 0.01), open('clean', 0.03), open('clean', 0.02), open('crash', 0.5), open('crash', 0.1, false)]);
    expect(s.clean).toEqual({ medianSeconds: 0.02, minSeconds: 0.01, maxSeconds: 0.03, replayedBatches: 0, medianReadBytes: 10, producers: 12, opens: 3 });
    expect(s.crash).toMatchObject({ medianSeconds: 0.5, opens: 1 });
    expect(s.noSnapshots).toBeNull();
  });
});
