import * as fs from 'node:fs';
import * as path from 'node:path';
import { LEADER_EPOCH_CHECKPOINT_FILE, LeaderEpochCache, parseCheckpoint } from '../../core/log/leaderEpochCache';
import { PartitionLog } from '../../core/log/partitionLog';
import { batch, captureLogger, makeTmpDir, quiet, removeDir, smallConfig } from './helpers';

let dir: string;
beforeEach(() => {
  dir = makeTmpDir('strata-epochs-');
});
afterEach(() => removeDir(dir));

const checkpoint = (): string => fs.readFileSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), 'utf8');

describe('LeaderEpochCache', () => {
  function cacheOf(entries: Array<[number, bigint]>): LeaderEpochCache {
    const c = LeaderEpochCache.empty(dir);
    for (const [e, o] of entries) c.assign(e, o);
    return c;
  }

  test('endOffsetFor answers as Kafka: next epoch start, log end for the latest, floor for gaps, undefined beyond', () => {
    const c = cacheOf([
      [0, 0n],
      [3, 1200n],
      [4, 5000n],
    ]);
    expect(c.endOffsetFor(0, 7300n)).toEqual({ epoch: 0, endOffset: 1200n });
    expect(c.endOffsetFor(2, 7300n)).toEqual({ epoch: 0, endOffset: 1200n });
    expect(c.endOffsetFor(3, 7300n)).toEqual({ epoch: 3, endOffset: 5000n });
    expect(c.endOffsetFor(4, 7300n)).toEqual({ epoch: 4, endOffset: 7300n });
    expect(c.endOffsetFor(9, 7300n)).toEqual({ epoch: -1, endOffset: -1n });
    expect(c.endOffsetFor(-1, 7300n)).toEqual({ epoch: -1, endOffset: -1n });
    // Older than every entry: the requested epoch, ending where the first entry starts.
    const later = cacheOf([[5, 100n]]);
    expect(later.endOffsetFor(2, 300n)).toEqual({ epoch: 2, endOffset: 100n });
    expect(LeaderEpochCache.empty(dir).endOffsetFor(0, 10n)).toEqual({ epoch: -1, endOffset: -1n });
    expect(c.epochForOffset(0n)).toBe(0);
    expect(c.epochForOffset(1199n)).toBe(0);
    expect(c.epochForOffset(1200n)).toBe(3);
    expect(c.epochForOffset(99_999n)).toBe(4);
  });

  test('assign: the latest epoch again is a no-op; a contradicting assignment removes what it contradicts', () => {
    const { logger, lines } = captureLogger();
    const c = LeaderEpochCache.empty(dir, logger);
    expect(c.assign(1, 0n)).toBe(true);
    expect(c.assign(1, 50n)).toBe(false);
    expect(c.assign(2, 100n)).toBe(true);
    expect(c.assign(3, 200n)).toBe(true);
    // A leader of epoch 4 whose log ends at 150: epochs 2 (from 100) stays, 3 (from 200) goes.
    expect(c.assign(4, 150n)).toBe(true);
    expect(c.entries).toEqual([
      { epoch: 1, startOffset: 0n },
      { epoch: 2, startOffset: 100n },
      { epoch: 4, startOffset: 150n },
    ]);
    expect(lines.some((l) => /leader epoch 4 from offset 150 replaces \(3, 200\)/.test(l))).toBe(true);
    // An older epoch cannot be appended after a newer one: the newer entries go.
    c.assign(3, 400n);
    expect(c.entries.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(() => c.assign(-1, 0n)).toThrow(RangeError);
  });

  test('the checkpoint is Kafka\'s format, survives a reload, and truncation rewrites it', () => {
    const c = LeaderEpochCache.empty(dir);
    c.assign(0, 0n);
    c.assign(2, 40n);
    c.assign(5, 90n);
    expect(checkpoint()).toBe('0\n3\n0 0\n2 40\n5 90\n');
    expect(LeaderEpochCache.load(dir)!.entries).toEqual(c.entries);
    c.truncateFromEnd(90n);
    expect(checkpoint()).toBe('0\n2\n0 0\n2 40\n');
    c.truncateFromStart(50n);
    expect(c.entries).toEqual([{ epoch: 2, startOffset: 50n }]);
    expect(LeaderEpochCache.load(dir)!.entries).toEqual([{ epoch: 2, startOffset: 50n }]);
    c.truncateFromStart(10n); // below the first entry: nothing to do
    expect(c.entries).toEqual([{ epoch: 2, startOffset: 50n }]);
    c.clear();
    expect(checkpoint()).toBe('0\n0\n');
  });

  test('a missing or damaged checkpoint loads as null (rebuild), naming the damage', () => {
    expect(LeaderEpochCache.load(dir)).toBeNull();
    fs.writeFileSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), '0\n2\n0 0\n');
    const { logger, lines } = captureLogger();
    expect(LeaderEpochCache.load(dir, logger)).toBeNull();
    expect(lines[0]).toMatch(/is damaged \(2 entries expected, 1 found\): rebuilding/);
    expect(parseCheckpoint('1\n0\n')).toMatch(/unknown version/);
    expect(parseCheckpoint('0\n2\n3 10\n2 20\n')).toMatch(/not ascending/);
    expect(parseCheckpoint('0\n1\nx 1\n')).toMatch(/bad entry/);
    expect(parseCheckpoint('0\n1\n7 123\n')).toEqual([{ epoch: 7, startOffset: 123n }]);
  });
});

describe('PartitionLog leader epochs', () => {
  const open = (): PartitionLog => PartitionLog.open(dir, smallConfig(), { logger: quiet });

  test('appends record their epoch; truncation, reopening and a lost checkpoint keep the cache true to the log', () => {
    let log = open();
    log.append(batch({ count: 3 }), { leaderEpoch: 0 });
    log.append(batch({ count: 2 }), { leaderEpoch: 0 });
    log.append(batch({ count: 4 }), { leaderEpoch: 3 });
    log.append(batch({ count: 1 }), { leaderEpoch: 7 });
    const expected = [
      { epoch: 0, startOffset: 0n },
      { epoch: 3, startOffset: 5n },
      { epoch: 7, startOffset: 9n },
    ];
    expect(log.leaderEpochs.entries).toEqual(expected);
    expect(log.leaderEpochs.endOffsetFor(3, log.logEndOffset)).toEqual({ epoch: 3, endOffset: 9n });
    log.close();

    log = open();
    expect(log.leaderEpochs.entries).toEqual(expected);
    // Truncating to the end of epoch 3 drops epoch 7's entry.
    log.truncateTo(9n);
    expect(log.leaderEpochs.entries).toEqual(expected.slice(0, 2));
    log.close();

    // A log from before checkpoints: rebuilt from the batches' partitionLeaderEpoch.
    fs.rmSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE));
    log = open();
    expect(log.leaderEpochs.entries).toEqual(expected.slice(0, 2));
    expect(fs.existsSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE))).toBe(true);
    log.close();
  });

  test('an entry checkpointed for a batch a crash lost is dropped on open', () => {
    const log = open();
    log.append(batch({ count: 3 }), { leaderEpoch: 1 });
    log.close();
    // As if epoch 2 was checkpointed and the process died before its batch reached the log.
    fs.writeFileSync(path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE), '0\n2\n1 0\n2 3\n');
    const reopened = open();
    expect(reopened.leaderEpochs.entries).toEqual([{ epoch: 1, startOffset: 0n }]);
    expect(reopened.leaderEpochs.endOffsetFor(2, reopened.logEndOffset)).toEqual({ epoch: -1, endOffset: -1n });
    reopened.close();
  });

  test('an emptied log forgets its epochs', () => {
    const log = open();
    log.append(batch({ count: 3 }), { leaderEpoch: 1 });
    log.truncateFullyAndStartAt(100n);
    expect(log.leaderEpochs.entries).toEqual([]);
    log.append(batch({ count: 1 }), { leaderEpoch: 2 });
    expect(log.leaderEpochs.entries).toEqual([{ epoch: 2, startOffset: 100n }]);
    log.close();
  });
});
