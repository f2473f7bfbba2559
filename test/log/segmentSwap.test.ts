import * as fs from 'node:fs';
import * as path from 'node:path';
import { PartitionLog } from '../../core/log/partitionLog';
import { recoverCleanerFiles, swapSteps } from '../../core/log/segmentSwap';
import { segmentPath } from '../../core/log/segmentFiles';
import { append, compactCfg, latestPerKey, recordsOf, roundInProcess } from './cleanerHelpers';
import { captureLogger, makeTmpDir, quiet, removeDir, smallConfig } from './helpers';

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
