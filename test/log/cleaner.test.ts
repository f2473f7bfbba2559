import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCleanerCheckpoint } from '../../core/log/checkpointFiles';
import { LogCleaner } from '../../core/log/logCleaner';
import { PartitionLog } from '../../core/log/partitionLog';
import { DELETE_HORIZON_MASK, RECORD_BATCH_HEADER_SIZE } from '../../core/log/recordBatch';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { Entry, append, batchesOf, captureCleanerLogger, compactCfg, latestPerKey, recordsOf, roundInProcess } from './cleanerHelpers';
import { makeTmpDir, quiet, removeDir, smallConfig } from './helpers';

/**
 * LogCleaner end to end on real logs, with its worker thread: what a round keeps and removes,
 * when rounds run, and what happens when the log changes or is damaged under a round.
 */
const NOW = 1_700_000_000_000;

const { logger, lines } = captureCleanerLogger();
const cleaner = new LogCleaner({ logger });
afterAll(() => cleaner.close());

let root: string;
const logs: PartitionLog[] = [];
beforeEach(() => {
  root = makeTmpDir();
  lines.length = 0;
});
afterEach(() => {
  for (const l of logs.splice(0)) l.close();
  removeDir(root);
});

function open(name = 't-0', segmentBytes = 4096): PartitionLog {
  const log = PartitionLog.open(path.join(root, name), smallConfig({ segmentBytes }), { logger: quiet });
  logs.push(log);
  return log;
}

/** `batches` batches of 5 updates over keys k0..k{keys-1}, values naming their batch and slot. */
function updates(log: PartitionLog, batches: number, keys = 10, from = 0): void {
  for (let b = from; b < from + batches; b++) {
    append(log, Array.from({ length: 5 }, (_, i): Entry => [`k${(b * 7 + i * 3) % keys}`, `v${b}.${i}`.padEnd(40, '.')]));
  }
}

const activeBase = (log: PartitionLog): bigint => log.segments().at(-1)!.baseOffset;

test('keeps exactly the latest record per key below the active segment, at its original offset', async () => {
  const log = open();
  updates(log, 60);
  const before = recordsOf(log);
  const a = activeBase(log);
  expect(a).toBeGreaterThan(0n);
  const leo = log.logEndOffset;

  const r = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(r).toMatchObject({ outcome: 'cleaned', reason: 'dirty ratio', firstDirtyOffset: 0n, firstUncleanableOffset: a, endOffset: a });
  expect(r!.stats.recordsSuperseded).toBe(before.filter((x) => x[0] < a).length - latestPerKey(before.filter((x) => x[0] < a)).length);
  expect(recordsOf(log)).toEqual([...latestPerKey(before.filter((x) => x[0] < a)), ...before.filter((x) => x[0] >= a)]);
  expect([log.logStartOffset, log.logEndOffset, activeBase(log)]).toEqual([0n, leo, a]);
  expect(readCleanerCheckpoint(log.dir)).toEqual({ firstDirtyOffset: a, deleteHorizonMs: -1 });
  expect(lines.some((l) => l.startsWith(`cleaned ${log.dir} (dirty ratio`))).toBe(true);
  // Nothing dirty is left below the active segment.
  expect(await cleaner.cleanIfNeeded(log, compactCfg(), NOW)).toBeNull();
  expect(fs.readdirSync(log.dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f))).toEqual([]);
});

test('merges cleaned segments into groups no larger than segment.bytes, and the log appends on', async () => {
  const log = open();
  updates(log, 60);
  await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  const firstEnd = activeBase(log);
  expect(log.segments().filter((s) => s.baseOffset < firstEnd).length).toBeGreaterThan(1);
  updates(log, 60, 10, 60);
  const before = recordsOf(log);
  const a = activeBase(log);
  const r = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(r?.outcome).toBe('cleaned');
  const closed = log.segments().slice(0, -1);
  // The small segments the first round left (10 keys of ~70 bytes) now fit one group.
  expect(closed.filter((s) => s.baseOffset < firstEnd).length).toBe(1);
  for (const s of closed) expect(s.size).toBeLessThanOrEqual(4096);
  expect(recordsOf(log)).toEqual([...latestPerKey(before.filter((x) => x[0] < a)), ...before.filter((x) => x[0] >= a)]);
  const next = log.logEndOffset;
  expect(append(log, [['k1', 'later']])).toBe(next);
});

test('tombstones stay delete.retention.ms after the first clean, then go without new writes', async () => {
  const log = open();
  append(log, [
    ['a', 'a1'],
    ['b', 'b1'],
    ['c', 'c1'],
  ]);
  append(log, [
    ['b', null],
    ['a', 'a2'],
  ]);
  log.roll();
  const cfg = compactCfg({ deleteRetentionMs: 1_000 });

  const first = await cleaner.cleanIfNeeded(log, cfg, NOW);
  expect(first).toMatchObject({ outcome: 'cleaned', deleteHorizonMs: NOW + 1_000 });
  expect(recordsOf(log)).toEqual([
    [2n, 'c', 'c1'],
    [3n, 'b', null],
    [4n, 'a', 'a2'],
  ]);
  const withTombstone = batchesOf(log).find((b) => b.records.some((r) => r.value === null))!;
  expect(withTombstone.attributes & DELETE_HORIZON_MASK).toBe(DELETE_HORIZON_MASK);
  expect(withTombstone.baseTimestamp).toBe(BigInt(NOW + 1_000));
  // Record timestamps survive the new base timestamp.
  expect(withTombstone.records.map((r) => r.timestamp)).toEqual([1_700_000_000_000n, 1_700_000_000_001n]);

  expect(await cleaner.cleanIfNeeded(log, cfg, NOW + 999)).toBeNull();
  const second = await cleaner.cleanIfNeeded(log, cfg, NOW + 1_000);
  expect(second).toMatchObject({ outcome: 'cleaned', reason: 'delete horizon', deleteHorizonMs: -1 });
  expect(second!.stats.tombstonesRemoved).toBe(1);
  expect(recordsOf(log)).toEqual([
    [2n, 'c', 'c1'],
    [4n, 'a', 'a2'],
  ]);
  expect(log.logEndOffset).toBe(5n);
});

test('batches of every codec are filtered and keep their codec; control batches stay whole', async () => {
  const log = open('t-0', 64 * 1024);
  append(log, [
    ['a', 'a1'],
    ['b', 'b1'],
  ], { compression: 'gzip' });
  append(log, [
    ['a', 'a2-snappy'],
    ['z', 'z1'],
  ], { compression: 'snappy' });
  append(log, [
    ['z', 'z2-lz4'],
    ['y', 'y1'],
  ], { compression: 'lz4' });
  append(log, [['marker', 'commit']], { isControl: true });
  append(log, [
    ['y', 'y2-zstd'],
    ['x', 'x1'],
  ], { compression: 'zstd' });
  append(log, [
    ['b', 'b2'],
    ['a', 'a3'],
  ], { compression: 'gzip' });
  log.roll();
  const r = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(r?.stats).toMatchObject({ batchesKeptWhole: 0, recordsSuperseded: 5 });
  const batches = batchesOf(log);
  expect(batches.map((b) => [b.compression, b.isControl, b.records.map((x) => `${x.offset}:${x.key}=${x.value}`)])).toEqual([
    // a1 and b1 were superseded: their gzip batch is gone; each other batch keeps what is latest, in its codec.
    ['lz4', false, ['4:z=z2-lz4']],
    ['none', true, ['6:marker=commit']],
    ['zstd', false, ['7:y=y2-zstd', '8:x=x1']],
    ['gzip', false, ['9:b=b2', '10:a=a3']],
  ]);
});

test('a batch that inflates past maxDecompressedBytes is kept whole; its keys do not enter the map', async () => {
  const log = open('t-0', 64 * 1024);
  const big = 'v'.repeat(5000);
  append(log, [
    ['a', 'a1'],
    ['z', 'z1'],
  ], { compression: 'lz4' });
  append(log, [
    ['a', `a2-${big}`],
    ['z', `z2-${big}`],
  ], { compression: 'zstd' });
  append(log, [['a', 'a3']], { compression: 'snappy' });
  log.roll();
  const r = (await roundInProcess(log, compactCfg(), NOW, undefined, 4096))!;
  expect(r.result.stats.batchesKeptWhole).toBe(1);
  expect(batchesOf(log).map((b) => [b.compression, b.records.map((x) => `${x.offset}:${x.key}=${x.value!.toString().slice(0, 6)}`)])).toEqual([
    // z1 stays: the only later z is in the unreadable batch, which never shadows anything.
    ['lz4', ['1:z=z1']],
    ['zstd', ['2:a=a2-vvv', '3:z=z2-vvv']],
    ['snappy', ['4:a=a3']],
  ]);
});

test('keyless records are removed; a batch emptied at the end of the round is kept empty to keep its last offset', async () => {
  const log = open();
  append(log, [[null, 'x']]);
  append(log, [
    ['a', '1'],
    ['b', '2'],
  ]);
  append(log, [
    [null, 'y'],
    [null, 'z'],
  ]);
  log.roll();
  append(log, [['c', 'active']]);
  const r = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(r?.stats.keylessRemoved).toBe(3);
  const batches = batchesOf(log);
  expect(batches.map((b) => [b.baseOffset, b.lastOffset, b.records.length])).toEqual([
    [1n, 2n, 2],
    [3n, 4n, 0],
    [5n, 5n, 1],
  ]);
  // A consumer reading from a removed offset continues at the next record.
  const read = log.read(0n, 1 << 20, { minOneBatch: true });
  expect(read.firstOffset).toBe(1n);
  expect(decodeRecordBatches(Buffer.concat(log.read(3n, 1 << 20, { minOneBatch: true }).records)).map((b) => b.records.length)).toEqual([0, 1]);
  expect(log.read(3n, 1 << 20, { minOneBatch: true }).records[0].length).toBeGreaterThanOrEqual(RECORD_BATCH_HEADER_SIZE);
});

test('bytes read before a swap stay valid after it', async () => {
  const log = open();
  updates(log, 30);
  const held = log.read(0n, 1 << 20, { minOneBatch: true });
  const decodedBefore = decodeRecordBatches(Buffer.concat(held.records));
  await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(decodeRecordBatches(Buffer.concat(held.records))).toEqual(decodedBefore);
});

test('runs for compact and compact,delete, not for delete, nor below min.cleanable.dirty.ratio', async () => {
  const log = open();
  updates(log, 30, 150);
  expect(cleaner.plan(log, { cleanupPolicy: ['delete'] }, NOW)).toBeNull();
  expect(await cleaner.cleanIfNeeded(log, { cleanupPolicy: ['delete'] }, NOW)).toBeNull();
  // An invalid config is reported, not thrown at the broker's timer.
  expect(await cleaner.cleanIfNeeded(log, compactCfg({ minCleanableDirtyRatio: 2 }), NOW)).toBeNull();
  expect(lines.some((l) => /not cleaning .*min\.cleanable\.dirty\.ratio/.test(l))).toBe(true);
  expect((await cleaner.cleanIfNeeded(log, compactCfg({ cleanupPolicy: ['compact', 'delete'] }), NOW))?.outcome).toBe('cleaned');
  updates(log, 12, 150, 30);
  // Some new dirty data against a larger clean section: below the 0.5 default, above 0.1.
  const plan = cleaner.plan(log, compactCfg({ minCleanableDirtyRatio: 0.1 }), NOW);
  expect(plan?.dirtyRatio).toBeGreaterThan(0.1);
  expect(plan?.dirtyRatio).toBeLessThan(0.5);
  expect(await cleaner.cleanIfNeeded(log, { cleanupPolicy: ['compact'] }, NOW)).toBeNull();
});

test('its checkpoint survives a reopen: nothing to do until new data arrives', async () => {
  const log = open();
  updates(log, 40);
  await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  log.close();
  const again = open();
  expect(await cleaner.cleanIfNeeded(again, compactCfg(), NOW)).toBeNull();
  const checkpoint = readCleanerCheckpoint(again.dir)!.firstDirtyOffset;
  expect(checkpoint).toBeGreaterThan(0n);
  updates(again, 40, 10, 40);
  expect((await cleaner.cleanIfNeeded(again, compactCfg(), NOW))?.firstDirtyOffset).toBe(checkpoint);
});

test('a round whose segments are deleted under it is aborted, and the log is left intact', async () => {
  const log = open();
  updates(log, 60);
  const before = recordsOf(log);
  const second = log.segments()[1].baseOffset;
  const round = cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  // Microtasks only: the round plans and posts its work to the worker within these, and no
  // worker message (a macrotask) can be handled before the deletion below.
  for (let i = 0; i < 50; i++) await Promise.resolve();
  log.deleteSegmentsBelow(second);
  const r = await round;
  expect(r?.outcome).toBe('aborted');
  expect(r?.groupsSwapped).toBe(0);
  expect(recordsOf(log)).toEqual(before.filter((x) => x[0] >= second));
  expect(fs.readdirSync(log.dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f))).toEqual([]);
  // The worker may have opened the deleted segment first (its reads then still work and the
  // swap is refused) or not (it finds the file gone): either way no dirty offset moved.
  expect(readCleanerCheckpoint(log.dir)?.firstDirtyOffset ?? 0n).toBe(0n);
});

test('a swap is refused when its segments changed after the worker wrote the cleaned one', async () => {
  const log = open();
  updates(log, 60);
  const before = recordsOf(log);
  const second = log.segments()[1].baseOffset;
  // In-process round (the worker's code) so the change lands exactly between write and swap.
  const done = await roundInProcess(log, compactCfg(), NOW, async (g) => {
    expect(fs.existsSync(path.join(log.dir, `${g.baseOffset.toString().padStart(20, '0')}.log.cleaned`))).toBe(true);
    log.deleteSegmentsBelow(second);
    return log.replaceWithCleanedSegment(g.ids);
  });
  expect(done?.result).toMatchObject({ aborted: true, groupsSwapped: 0 });
  expect(recordsOf(log)).toEqual(before.filter((x) => x[0] >= second));
  expect(fs.readdirSync(log.dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f))).toEqual([]);
  // The active segment is never swapped out either.
  expect(log.replaceWithCleanedSegment([log.segments().at(-1)!.id])).toBe(false);
});

test('an offset map smaller than the dirty section cleans it over several rounds, each keeping every latest record', async () => {
  const small = new LogCleaner({ logger, dedupeBufferBytes: 24 * 40 }); // 40 slots, 36 keys a round
  try {
    const log = open();
    for (let b = 0; b < 40; b++) append(log, Array.from({ length: 5 }, (_, i): Entry => [`k${(b * 5 + i) % 100}`, `v${b}.${i}`]));
    log.roll();
    const before = recordsOf(log);
    const ends: bigint[] = [];
    for (let round = 0; round < 10; round++) {
      const r = await small.cleanIfNeeded(log, compactCfg(), NOW);
      if (r === null) break;
      expect(r.outcome).toBe('cleaned');
      expect(r.stats.mapEntries).toBeLessThanOrEqual(36);
      ends.push(r.endOffset);
      // Whatever has been cleaned so far, the latest record of every key is still there.
      const now = recordsOf(log);
      for (const latest of latestPerKey(before)) expect(now).toContainEqual(latest);
    }
    expect(ends.length).toBeGreaterThan(2);
    expect(ends.at(-1)).toBe(200n);
    expect(recordsOf(log)).toEqual(latestPerKey(before));
  } finally {
    await small.close();
  }
});

test('truncating into the gap a cleaned segment leaves after its last batch keeps the log end at that offset', async () => {
  const log = open();
  append(log, [['big0', 'b'.repeat(3000)]]);
  append(log, [
    ['z', '1'],
    ['y', '1'],
  ]);
  log.roll();
  append(log, [['big1', 'b'.repeat(3000)]]);
  append(log, [
    ['z', '2'],
    ['y', '2'],
  ]);
  log.roll();
  await roundInProcess(log, compactCfg(), NOW);
  // The first segment now ends at offset 1, the second starts at 3.
  expect(log.segments().map((s) => [s.baseOffset, s.nextOffset])).toEqual([
    [0n, 1n],
    [3n, 6n],
    [6n, 6n],
  ]);
  expect(log.truncateTo(2n)).toBe(2n);
  expect(append(log, [['w', 'after']])).toBe(2n);
  expect(recordsOf(log)).toEqual([
    [0n, 'big0', 'b'.repeat(3000)],
    [2n, 'w', 'after'],
  ]);
});

test('a corrupt batch fails the round with BATCH_CORRUPT, changes nothing and marks the log uncleanable', async () => {
  const log = open();
  updates(log, 30);
  const first = log.segments()[0];
  const fd = fs.openSync(first.path, 'r+');
  fs.writeSync(fd, Buffer.from('#'), 0, 1, 100); // inside the first batch's records
  fs.closeSync(fd);
  const before = fs.readFileSync(first.path);
  const r = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(r).toMatchObject({ outcome: 'failed', error: { code: 'BATCH_CORRUPT' } });
  expect(cleaner.uncleanableReason(log)).toMatch(/CRC/);
  expect(lines.some((l) => /uncleanable/.test(l))).toBe(true);
  expect(fs.readFileSync(first.path)).toEqual(before);
  expect(fs.readdirSync(log.dir).filter((f) => /\.(cleaned|swap|deleted)$/.test(f))).toEqual([]);
  expect(await cleaner.cleanIfNeeded(log, compactCfg(), NOW)).toBeNull();
});
