import * as fs from 'node:fs';
import * as path from 'node:path';
import { PartitionLog } from '../../core/log/partitionLog';
import { recoverCleanerFiles, swapSteps } from '../../core/log/segmentSwap';
import { segmentPath } from '../../core/log/segmentFiles';
import { append, compactCfg, latestPerKey, recordsOf, roundInProcess } from './cleanerHelpers';
import { captureLogger, makeTmpDir, quiet, removeDir, smallConfig } from './helpers';
import { TS, TestProducer, cleanerFiles as cleanerAndTxnFiles, crash as crashLog, readCommitted } from './txnHelpers';

/**
 * Crash safety of the cleaner's swap. The cleaned segment is produced by the real round code; the
 * swap is then cut short after each of its steps in turn and the process "crashes" (the log is
 * closed without its clean-shutdown marker, nothing else runs), and the directory is reopened.
 * Every crash point must leave exactly the old segments or exactly the new one.
 */
const NOW = 1_700_000_000_000;
const OLD_BASES = [0n, 12n, 24n];

describe('cleaner swap: crash at every step', () => {
  let root: string;
  beforeEach(() => {
    root = makeTmpDir();
  });
  afterEach(() => removeDir(root));

  /** Three closed segments of keyed updates (one cleaning group) and a few records in the active one. */
  function build(dir: string): PartitionLog {
    const log = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
    for (let s = 0; s < 3; s++) {
      for (let b = 0; b < 3; b++) append(log, Array.from({ length: 4 }, (_, i) => [`k${(s * 7 + b * 3 + i) % 5}`, `v${s}.${b}.${i}`] as [string, string]));
      log.roll();
    }
    append(log, [
      ['k1', 'active-1'],
      ['k9', 'active-9'],
    ]);
    return log;
  }

  function crash(log: PartitionLog): void {
    log.close();
    fs.rmSync(path.join(log.dir, 'clean-shutdown'), { force: true });
  }

  const cleanerFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f));

  const steps = swapSteps('/nowhere', OLD_BASES, 0n);
  const commit = steps.findIndex((s) => /\.log\.cleaned → .*\.log\.swap$/.test(s.name)) + 1;

  it('has its commit point after the old segments are renamed and the directory synced', () => {
    expect(commit).toBeGreaterThan(OLD_BASES.length * 3 + 1);
    expect(steps.slice(0, OLD_BASES.length * 3).every((s) => s.name.endsWith('.deleted'))).toBe(true);
  });

  it.each(steps.map((s, i) => [i + 1, s.name]))('crash after step %i (%s)', async (done) => {
    const dir = path.join(root, 't-0');
    const log = build(dir);
    const before = recordsOf(log);
    expect(log.segments().map((s) => s.baseOffset)).toEqual([...OLD_BASES, 36n]);
    const expectedAfter = [...latestPerKey(before.filter((r) => r[0] < 36n)), ...before.filter((r) => r[0] >= 36n)];

    const crashed = new Error('crash');
    await expect(
      roundInProcess(log, compactCfg(), NOW, async (g) => {
        expect(g.baseOffsets).toEqual(OLD_BASES);
        for (const s of swapSteps(log.dir, g.baseOffsets, g.baseOffset).slice(0, done)) s.run();
        throw crashed;
      }),
    ).rejects.toBe(crashed);
    crash(log);

    const { logger, lines } = captureLogger();
    const reopened = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger });
    try {
      expect(recordsOf(reopened)).toEqual(done < commit ? before : expectedAfter);
      expect(cleanerFiles(dir)).toEqual([]);
      expect(reopened.segments().map((s) => s.baseOffset)).toEqual(done < commit ? [...OLD_BASES, 36n] : [0n, 36n]);
      // Cleaner files are left from the first step until the last rename: recovery says what it did.
      expect(lines.some((l) => /cleaner swap/.test(l))).toBe(done > 0 && done < steps.length - 1);
      // The log works on: appends continue at the same end, reads see them.
      expect(append(reopened, [['k2', 'after']])).toBe(38n);
      expect(recordsOf(reopened, 38n)).toEqual([[38n, 'k2', 'after']]);
    } finally {
      reopened.close();
    }
  });

  it('removes a .cleaned leftover (a clean interrupted while writing) and keeps the old data', async () => {
    const dir = path.join(root, 't-0');
    const log = build(dir);
    const before = recordsOf(log);
    await expect(roundInProcess(log, compactCfg(), NOW, async () => Promise.reject(new Error('crash')))).rejects.toThrow('crash');
    expect(fs.existsSync(segmentPath(dir, 0n, '.log', '.cleaned'))).toBe(true);
    crash(log);
    const reopened = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
    expect(recordsOf(reopened)).toEqual(before);
    expect(cleanerFiles(dir)).toEqual([]);
    reopened.close();
  });

  it('recoverCleanerFiles leaves a directory without cleaner files alone', () => {
    const dir = path.join(root, 'plain');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'partition.metadata'), 'x');
    expect(recoverCleanerFiles(dir, fs.readdirSync(dir), quiet)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(['partition.metadata']);
  });
});

describe('cleaner swap with aborted-transaction indexes: crash at every step', () => {
  let root: string;
  beforeEach(() => {
    root = makeTmpDir();
  });
  afterEach(() => removeDir(root));

  const NOW_TXN = Number(TS) + 10_000;
  const config = smallConfig({ segmentBytes: 1 << 20 });
  const openLog = (dir: string, logger: (m: string) => void = quiet): PartitionLog =>
    PartitionLog.open(dir, config, { logger, now: () => NOW_TXN, producerIdExpirationMs: 1_000 });
  const txnIndexes = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.txnindex')).sort();

  /**
   * A first (uncrashed) round leaves segment 0 with the markers of two aborted transactions whose
   * data it removed (and their index entries); then two segments with a third aborted
   * transaction follow. The round under test merges the three: the first two markers lose their
   * entries (no data left), the third keeps its entry, now in 0's index.
   *
   *   before:  0.txnindex [pid 6, pid 7]   A.txnindex [pid 8]   B (none)   active
   *   after:   0.txnindex [pid 8]                                          active
   */
  async function build(dir: string): Promise<PartitionLog> {
    const log = openLog(dir);
    const p6 = new TestProducer(log, 6n, true);
    const p7 = new TestProducer(log, 7n, true);
    const p8 = new TestProducer(log, 8n, true);
    p6.send([['t', 'aborted-6']]);
    append(log, [['k1', 'v1']]);
    p6.abort();
    log.roll();
    p7.send([['u', 'aborted-7']]);
    append(log, [['k2', 'v2']]);
    log.roll();
    p7.abort();
    append(log, [['k1', 'v1b']]);
    log.roll();
    append(log, [['k3', 'v3']]);
    log.removeExpiredProducers(NOW_TXN);
    const first = await roundInProcess(log, compactCfg(), NOW_TXN);
    expect(first?.result.groupsSwapped).toBe(1);
    // Now: [0 (cleaned), active]; the third transaction goes into the active segment.
    p8.send([['w', 'aborted-8']]);
    append(log, [['k2', 'v2b']]);
    p8.abort();
    log.roll();
    append(log, [['k4', 'v4']]);
    log.roll();
    append(log, [['k1', 'active']]);
    log.removeExpiredProducers(NOW_TXN);
    return log;
  }

  const steps = swapSteps('/nowhere', [0n, 1n, 2n], 0n);
  const commit = steps.findIndex((s) => /\.log\.cleaned → .*\.log\.swap$/.test(s.name)) + 1;

  it('renames every old .txnindex away before the commit, and the new one in before its .log', () => {
    const names = steps.map((s) => s.name);
    const lastTxnAway = Math.max(...names.map((n, i) => (/\.txnindex → .*\.txnindex\.deleted$/.test(n) ? i : -1)));
    expect(lastTxnAway).toBeGreaterThanOrEqual(0);
    expect(lastTxnAway).toBeLessThan(commit - 1);
    const newIn = names.findIndex((n) => /\.txnindex\.swap → \d+\.txnindex$/.test(n));
    expect(newIn).toBeGreaterThan(commit);
    expect(newIn).toBeLessThan(names.findIndex((n) => /\.log\.swap → \d+\.log$/.test(n)));
  });

  it.each(steps.map((s, i) => [i + 1, s.name]))('crash after step %i (%s)', async (done) => {
    const dir = path.join(root, 't-0');
    const log = await build(dir);
    const before = recordsOf(log);
    const bases = log.segments().map((s) => s.baseOffset);
    expect(bases).toHaveLength(4);
    const active = bases[3];
    const cleanable = before.filter((r) => r[0] < active && !r[2]?.startsWith('aborted'));
    const expectedAfter = [...latestPerKey(cleanable), ...before.filter((r) => r[0] >= active)];
    const committedView = readCommitted(log);
    const abortedBefore = log.collectAbortedTransactions(0n, log.logEndOffset);
    expect(abortedBefore.map((t) => t.producerId)).toEqual([6n, 7n, 8n]);
    expect(txnIndexes(dir)).toEqual([`${'0'.padStart(20, '0')}.txnindex`, `${bases[1].toString().padStart(20, '0')}.txnindex`]);

    const crashed = new Error('crash');
    await expect(
      roundInProcess(log, compactCfg(), NOW_TXN, async (g) => {
        expect(g.baseOffsets).toEqual(bases.slice(0, 3));
        expect(fs.existsSync(path.join(dir, `${'0'.padStart(20, '0')}.txnindex.cleaned`))).toBe(true);
        for (const s of swapSteps(log.dir, g.baseOffsets, g.baseOffset).slice(0, done)) s.run();
        throw crashed;
      }),
    ).rejects.toBe(crashed);
    crashLog(log);

    const { logger, lines } = captureLogger();
    const reopened = openLog(dir, logger);
    try {
      const committed = done >= commit;
      expect(recordsOf(reopened)).toEqual(committed ? expectedAfter : before);
      expect(readCommitted(reopened)).toEqual(committed ? [...latestPerKey(committedView.filter((r) => r[0] < active)), ...committedView.filter((r) => r[0] >= active)] : committedView);
      expect(cleanerAndTxnFiles(dir)).toEqual([]);
      expect(reopened.segments().map((s) => s.baseOffset)).toEqual(committed ? [0n, active] : bases);
      expect(reopened.collectAbortedTransactions(0n, reopened.logEndOffset)).toEqual(committed ? abortedBefore.slice(2) : abortedBefore);
      expect(txnIndexes(dir)).toHaveLength(committed ? 1 : 2);
      expect(lines.some((l) => /cleaner swap/.test(l))).toBe(done > 0 && done < steps.length - 1);
      expect(append(reopened, [['k2', 'after']])).toBe(reopened.logEndOffset - 1n);
    } finally {
      reopened.close();
    }
  });
});
