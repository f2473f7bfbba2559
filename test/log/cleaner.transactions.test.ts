import * as fs from 'node:fs';
import * as path from 'node:path';
import { emptyBatch, readStoredBatch } from '../../core/log/batchFilter';
import { buildEndTxnMarker } from '../../core/log/controlRecords';
import { LogCleaner, cleanRoundInput, staleTransactionState } from '../../core/log/logCleaner';
import { planCleaning } from '../../core/log/cleaningPlan';
import { effectiveCompactionConfig } from '../../core/log/logConfig';
import { PartitionLog, PartitionLogOptions } from '../../core/log/partitionLog';
import { DELETE_HORIZON_MASK, RECORD_BATCH_HEADER_SIZE } from '../../core/log/recordBatch';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { runCleanRound } from '../../core/log/segmentCleaner';
import { Entry, append, batchesOf, captureCleanerLogger, compactCfg, latestPerKey, recordsOf, roundInProcess } from './cleanerHelpers';
import { makeTmpDir, quiet, removeDir, smallConfig } from './helpers';
import { kafkajsDecode } from './kafkajsInterop';
import { Rec, TS, TestProducer, batchHeaders, cleanerFiles, crash, producerEssentials, readCommitted } from './txnHelpers';
import { seededRng } from '../helpers/seededRng';

/**
 * Log compaction with transactions (Kafka's LogCleaner rules): aborted data goes, committed data
 * is compacted as any other, open transactions are not cleaned, markers go once their data is
 * gone and their delete horizon passed, the last batch of every producer with state stays (empty
 * if need be), and a read_committed consumer sees the same log before and after.
 */
const NOW = Number(TS) + 10_000;

const { logger } = captureCleanerLogger();
const cleaner = new LogCleaner({ logger });
afterAll(() => cleaner.close());

let root: string;
const logs: PartitionLog[] = [];
beforeEach(() => {
  root = makeTmpDir();
});
afterEach(() => {
  for (const l of logs.splice(0)) l.close();
  removeDir(root);
});

function open({ name = 't-0', segmentBytes = 1 << 20, ...opts }: PartitionLogOptions & { segmentBytes?: number; name?: string } = {}): PartitionLog {
  const log = PartitionLog.open(path.join(root, name), smallConfig({ segmentBytes }), { logger: quiet, now: () => NOW, ...opts });
  logs.push(log);
  return log;
}

/** Some new dirty data in a segment of its own, so the next round is due. */
function dirty(log: PartitionLog, tag: string): void {
  append(log, [['filler', tag]]);
  log.roll();
}

/** What a round that cleaned below `end` must leave of a read_committed view taken before it. */
const compacted = (before: Rec[], end: bigint): Rec[] => [...latestPerKey(before.filter((r) => r[0] < end)), ...before.filter((r) => r[0] >= end)];

const controlBatches = (log: PartitionLog): { base: bigint; records: number; horizon: boolean }[] =>
  batchesOf(log)
    .filter((b) => b.isControl)
    .map((b) => ({ base: b.baseOffset, records: b.records.length, horizon: (b.attributes & DELETE_HORIZON_MASK) !== 0 }));

test("an aborted transaction's records vanish; committed ones follow the latest-per-key rule", async () => {
  const log = open();
  const t = new TestProducer(log, 10n, true);
  append(log, [
    ['a', 'a1'],
    ['b', 'b1'],
  ]); // 0-1
  t.send([
    ['a', 'a-aborted'],
    ['c', 'c-aborted'],
  ]); // 2-3
  t.abort(); // 4
  t.send([
    ['b', 'b2'],
    ['d', 'd1'],
  ]); // 5-6
  t.commit(); // 7
  append(log, [['a', 'a2']]); // 8
  log.roll();
  append(log, [['z', 'active']]); // 9
  const before = readCommitted(log);
  expect(before.map((r) => r[2])).toEqual(['a1', 'b1', 'b2', 'd1', 'a2', 'active']);

  const r = (await roundInProcess(log, compactCfg(), NOW))!;
  expect(r.result.stats).toMatchObject({ abortedRecordsRemoved: 2, recordsSuperseded: 2, markersRemoved: 0 });
  expect(recordsOf(log)).toEqual([
    [5n, 'b', 'b2'],
    [6n, 'd', 'd1'],
    [8n, 'a', 'a2'],
    [9n, 'z', 'active'],
  ]);
  expect(readCommitted(log)).toEqual(compacted(before, 9n));
  // Both markers stay: this round still saw their transactions' data. So does the index entry.
  expect(controlBatches(log)).toEqual([
    { base: 4n, records: 1, horizon: false },
    { base: 7n, records: 1, horizon: false },
  ]);
  expect(log.collectAbortedTransactions(0n, log.logEndOffset)).toEqual([{ producerId: 10n, firstOffset: 2n, lastOffset: 4n }]);
});

test('a committed value is never shadowed by an aborted one with the same key', async () => {
  const log = open();
  const t = new TestProducer(log, 11n, true);
  t.send([['k', 'committed']]); // 0
  t.commit(); // 1
  append(log, [['j', 'plain']]); // 2
  t.send([
    ['k', 'aborted'],
    ['j', 'aborted'],
    ['x', 'aborted-only'],
  ]); // 3-5
  t.abort(); // 6
  append(log, [['y', 'after']]); // 7
  log.roll();
  append(log, [['z', 'active']]); // 8
  const before = readCommitted(log);

  await roundInProcess(log, compactCfg(), NOW);
  expect(recordsOf(log)).toEqual([
    [0n, 'k', 'committed'],
    [2n, 'j', 'plain'],
    [7n, 'y', 'after'],
    [8n, 'z', 'active'],
  ]);
  expect(readCommitted(log)).toEqual(compacted(before, 8n));
  // The aborted batch was producer 11's last: it stays as a header (its sequence survives).
  expect(batchHeaders(log).filter((b) => b.pid === 11n && !b.control)).toEqual([
    { base: 0n, last: 0n, pid: 11n, seq: 0, txn: true, control: false, records: 1 },
    { base: 3n, last: 5n, pid: 11n, seq: 1, txn: true, control: false, records: 0 },
  ]);
});

test('an open transaction is not cleaned: the dirty section ends before its first offset', async () => {
  const log = open();
  const t = new TestProducer(log, 12n, true);
  append(log, [
    ['a', 'a1'],
    ['b', 'b1'],
  ]); // 0-1
  log.roll();
  t.send([['o', 'open']]); // 2
  append(log, [['a', 'a2']]); // 3
  log.roll();
  append(log, [
    ['b', 'b2'],
    ['a', 'a3'],
  ]); // 4-5
  log.roll();
  append(log, [['z', 'active']]); // 6
  expect(log.lastStableOffset).toBe(2n);
  const before = recordsOf(log);

  const plan = cleaner.plan(log, compactCfg(), NOW)!;
  expect(plan.firstUncleanableOffset).toBe(2n);
  const first = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(first).toMatchObject({ outcome: 'cleaned', firstUncleanableOffset: 2n, endOffset: 2n });
  // Below 2 every record was the latest of the section cleaned; nothing at or past 2 was read.
  expect(recordsOf(log)).toEqual(before);

  t.commit(); // 7
  log.roll();
  append(log, [['z', 'active2']]); // 8
  const second = await cleaner.cleanIfNeeded(log, compactCfg(), NOW);
  expect(second).toMatchObject({ outcome: 'cleaned', firstDirtyOffset: 2n, firstUncleanableOffset: 8n });
  expect(recordsOf(log)).toEqual([
    [2n, 'o', 'open'],
    [4n, 'b', 'b2'],
    [5n, 'a', 'a3'],
    [6n, 'z', 'active'],
    [8n, 'z', 'active2'],
  ]);
});

test('markers stay until their data is gone and their delete horizon passed, then go', async () => {
  const log = open({ producerIdExpirationMs: 1_000 });
  const cfg = compactCfg({ deleteRetentionMs: 1_000 });
  const ab = new TestProducer(log, 20n, true);
  const co = new TestProducer(log, 21n, true);
  append(log, [['p', 'p1']]); // 0
  ab.send([['x', 'x-aborted']]); // 1
  co.send([['y', 'y-committed']]); // 2
  ab.abort(); // 3
  co.commit(); // 4
  append(log, [
    ['y', 'y2'],
    ['q', 'q1'],
  ]); // 5-6
  log.roll();
  // Both producers are idle past producer.id.expiration.ms: their last batches need not stay.
  expect(log.removeExpiredProducers(NOW)).toBe(2);
  const view = readCommitted(log);

  const r1 = await cleaner.cleanIfNeeded(log, cfg, NOW);
  expect(r1?.stats).toMatchObject({ abortedRecordsRemoved: 1, recordsSuperseded: 1, markersRemoved: 0 });
  expect(r1?.deleteHorizonMs).toBe(-1);
  // The round saw both transactions' data: their markers stay as they were, with the index entry.
  expect(controlBatches(log)).toEqual([
    { base: 3n, records: 1, horizon: false },
    { base: 4n, records: 1, horizon: false },
  ]);
  expect(log.collectAbortedTransactions(0n, log.logEndOffset)).toEqual([{ producerId: 20n, firstOffset: 1n, lastOffset: 3n }]);
  expect(readCommitted(log)).toEqual(compacted(view, 7n));

  dirty(log, 'f1');
  const r2 = await cleaner.cleanIfNeeded(log, cfg, NOW);
  // No data left: the markers get their delete horizon, and the aborted one loses its index entry.
  expect(r2).toMatchObject({ outcome: 'cleaned', deleteHorizonMs: NOW + 1_000 });
  expect(controlBatches(log)).toEqual([
    { base: 3n, records: 1, horizon: true },
    { base: 4n, records: 1, horizon: true },
  ]);
  expect(log.collectAbortedTransactions(0n, log.logEndOffset)).toEqual([]);

  expect(await cleaner.cleanIfNeeded(log, cfg, NOW + 999)).toBeNull();
  const r3 = await cleaner.cleanIfNeeded(log, cfg, NOW + 1_000);
  expect(r3).toMatchObject({ outcome: 'cleaned', reason: 'delete horizon', deleteHorizonMs: -1 });
  expect(r3?.stats.markersRemoved).toBe(2);
  expect(controlBatches(log)).toEqual([]);
  expect(readCommitted(log)).toEqual([
    [0n, 'p', 'p1'],
    [5n, 'y', 'y2'],
    [6n, 'q', 'q1'],
    [7n, 'filler', 'f1'],
  ]);
});

test('the last batch of every producer with state survives as an empty batch, and the log reopens with the same producer state', async () => {
  const dir = path.join(root, 'p-0');
  const log = open({ name: 'p-0' });
  const idem = new TestProducer(log, 30n, false);
  const committer = new TestProducer(log, 31n, true, 2);
  const aborter = new TestProducer(log, 32n, true);
  idem.send([['a', 'i0']]); // 0
  idem.send([['b', 'i1']]); // 1
  idem.send([
    ['a', 'i2'],
    ['c', 'i3'],
  ]); // 2-3
  committer.send([['d', 'c0']]); // 4
  committer.commit(); // 5
  aborter.send([['e', 'ab0']]); // 6
  aborter.abort(); // 7
  append(log, [
    ['a', 'x'],
    ['b', 'x'],
    ['c', 'x'],
    ['d', 'x'],
    ['e', 'x'],
  ]); // 8-12
  log.roll();
  append(log, [['z', 'active']]); // 13
  const producers = log.producerState.activeProducers();
  const view = readCommitted(log);
  const aborted = log.collectAbortedTransactions(0n, log.logEndOffset);

  await roundInProcess(log, compactCfg(), NOW);
  expect(batchHeaders(log)).toEqual([
    { base: 2n, last: 3n, pid: 30n, seq: 2, txn: false, control: false, records: 0 },
    { base: 4n, last: 4n, pid: 31n, seq: 0, txn: true, control: false, records: 0 },
    { base: 5n, last: 5n, pid: 31n, seq: -1, txn: true, control: true, records: 1 },
    { base: 6n, last: 6n, pid: 32n, seq: 0, txn: true, control: false, records: 0 },
    { base: 7n, last: 7n, pid: 32n, seq: -1, txn: true, control: true, records: 1 },
    { base: 8n, last: 12n, pid: -1n, seq: -1, txn: false, control: false, records: 5 },
    { base: 13n, last: 13n, pid: -1n, seq: -1, txn: false, control: false, records: 1 },
  ]);
  // An empty batch is a bare header that Kafka clients decode (kafkajs here; librdkafka and the
  // Java client skip to its last offset + 1, KAFKA-5443).
  const empty = log.read(2n, 1 << 20, { minOneBatch: true }).records[0].subarray(0, RECORD_BATCH_HEADER_SIZE);
  expect(decodeRecordBatches(empty)[0]).toMatchObject({ baseOffset: 2n, lastOffset: 3n, producerId: 30n, baseSequence: 2, compression: 'none', records: [] });
  expect(await kafkajsDecode(empty)).toMatchObject({ firstOffset: '2', lastOffsetDelta: 1, records: [] });
  expect(readCommitted(log)).toEqual(compacted(view, 13n));
  expect(log.collectAbortedTransactions(0n, log.logEndOffset)).toEqual(aborted);

  // A clean reopen loads the snapshot taken on close: the very same state.
  log.close();
  const reopened = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet, now: () => NOW });
  logs.push(reopened);
  expect(reopened.producerState.activeProducers()).toEqual(producers);
  // Without any snapshot the state is rebuilt from the cleaned log alone: each producer keeps its
  // epoch, last sequence, last offset, coordinator epoch and timestamps (only the history of its
  // earlier batches is gone, as in Kafka).
  crash(reopened, true);
  const rebuilt = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet, now: () => NOW });
  logs.push(rebuilt);
  expect(rebuilt.producerState.snapshotOffsets()).toEqual([]);
  expect(rebuilt.producerState.activeProducers().map(producerEssentials)).toEqual(producers.map(producerEssentials));
  expect(rebuilt.lastStableOffset).toBe(rebuilt.logEndOffset);
  expect(rebuilt.collectAbortedTransactions(0n, rebuilt.logEndOffset)).toEqual(aborted);
  expect(readCommitted(rebuilt)).toEqual(compacted(view, 13n));
  // And so the producers carry on: a retry of the last batch is recognised, the next one follows it.
  const idemAgain = new TestProducer(rebuilt, 30n, false);
  expect(
    idemAgain.resend(
      [
        ['a', 'i2'],
        ['c', 'i3'],
      ],
      2,
    ),
  ).toEqual({ baseOffset: 2n, duplicate: true });
  expect(idemAgain.resend([['f', 'next']], 4)).toEqual({ baseOffset: 14n, duplicate: false });
  expect(() => idemAgain.resend([['g', 'gap']], 9)).toThrow(/sequence 9 does not follow 4/);
});

test('an aborted batch goes whatever its codec; a committed one is compacted in its own codec', async () => {
  const log = open({ producerIdExpirationMs: 1_000 });
  const ab = new TestProducer(log, 40n, true);
  const co = new TestProducer(log, 41n, true);
  ab.send([['s', 'aborted-snappy']], { compression: 'snappy' }); // 0
  ab.abort(); // 1
  co.send(
    [
      ['s', 'committed-zstd'],
      ['t', 'committed-zstd'],
    ],
    { compression: 'zstd' },
  ); // 2, 3
  co.commit(); // 4
  ab.send([['g', 'aborted-lz4']], { compression: 'lz4' }); // 5 (a new transaction)
  ab.abort(); // 6
  append(log, [['s', 'plain']]); // 7
  log.roll();
  expect(log.removeExpiredProducers(NOW)).toBe(2);
  const r = (await roundInProcess(log, compactCfg(), NOW))!;
  expect(r.result.stats).toMatchObject({ abortedRecordsRemoved: 2, batchesKeptWhole: 0, recordsSuperseded: 1 });
  const batches = batchesOf(log);
  expect(batches.filter((b) => !b.isControl).map((b) => [b.compression, b.isTransactional, b.records.map((x) => `${x.offset}:${x.key}=${x.value}`)])).toEqual([
    ['zstd', true, ['3:t=committed-zstd']],
    ['none', false, ['7:s=plain']],
  ]);
});

test("a producer's last marker stays whole after its horizon, so a rebuild keeps its epoch; it goes once the producer expires", async () => {
  const dir = path.join(root, 'e-0');
  const log = open({ name: 'e-0', producerIdExpirationMs: 60_000 });
  const cfg = compactCfg({ deleteRetentionMs: 1_000 });
  const p = new TestProducer(log, 60n, true, 0);
  p.send([['m', 'aborted']]); // 0
  // The coordinator aborts with a bumped epoch (a timed-out transaction): the producer's last
  // write is now that marker, whose epoch must survive (Kafka's isBatchLastRecordOfProducer).
  log.append(buildEndTxnMarker({ producerId: 60n, producerEpoch: 1, type: 'ABORT', coordinatorEpoch: 3, timestamp: TS }), { leaderEpoch: 0, origin: 'coordinator' }); // 1
  append(log, [['n', '1']]); // 2
  log.roll();
  const state = log.producerState.entry(60n);
  expect(state).toMatchObject({ producerEpoch: 1, coordinatorEpoch: 3, batches: [] });

  await cleaner.cleanIfNeeded(log, cfg, NOW); // the data goes, the marker stays
  dirty(log, 'f1');
  await cleaner.cleanIfNeeded(log, cfg, NOW); // no data left: its delete horizon starts
  expect(controlBatches(log)).toEqual([{ base: 1n, records: 1, horizon: true }]);
  dirty(log, 'f2');
  const past = await cleaner.cleanIfNeeded(log, cfg, NOW + 1_000);
  expect(past).toMatchObject({ outcome: 'cleaned', deleteHorizonMs: -1 });
  // Past its horizon, but its producer still needs it: kept whole (Kafka would keep an empty header).
  expect(controlBatches(log)).toEqual([{ base: 1n, records: 1, horizon: true }]);

  crash(log, true);
  const rebuilt = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet, now: () => NOW, producerIdExpirationMs: 60_000 });
  logs.push(rebuilt);
  expect(rebuilt.producerState.entry(60n)).toEqual(state);
  expect(rebuilt.removeExpiredProducers(NOW + 120_000)).toBe(1);
  dirty(rebuilt, 'f3');
  const gone = await cleaner.cleanIfNeeded(rebuilt, cfg, NOW + 3_000);
  expect(gone?.stats.markersRemoved).toBe(1);
  expect(controlBatches(rebuilt)).toEqual([]);
  expect(recordsOf(rebuilt).map((r) => r[2])).toEqual(['1', 'f3']);
});

test('an empty control batch (as a Kafka cleaner leaves a marker) is read, and dropped when nothing needs it', async () => {
  const dir = path.join(root, 'x-0');
  const log = open({ name: 'x-0' });
  append(log, [['a', '1']]); // 0
  // A transaction without data: its marker completes nothing, but it is in the log.
  log.append(buildEndTxnMarker({ producerId: 71n, producerEpoch: 0, type: 'COMMIT', coordinatorEpoch: 1, timestamp: TS }), { leaderEpoch: 0, origin: 'coordinator' }); // 1
  append(log, [['a', '2']]); // 2
  append(log, [['b', '1']]); // 3
  log.roll();
  append(log, [['z', 'active']]); // 4
  const file = log.segments()[0].path;
  log.close();
  // Empty the marker in place (header only, same offsets, fresh CRC) and let the log rebuild its
  // indexes and producer state from the batches.
  const bytes = fs.readFileSync(file);
  const at = 12 + bytes.readInt32BE(8);
  const marker = bytes.subarray(at, at + 12 + bytes.readInt32BE(at + 8));
  const empty = emptyBatch(marker, readStoredBatch(marker));
  fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, at), empty, bytes.subarray(at + marker.length)]));
  for (const f of fs.readdirSync(dir)) if (/\.(index|timeindex|snapshot)$/.test(f) || f === 'clean-shutdown') fs.rmSync(path.join(dir, f));
  const reopened = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet, now: () => NOW });
  logs.push(reopened);
  expect(batchHeaders(reopened).filter((b) => b.control)).toEqual([{ base: 1n, last: 1n, pid: 71n, seq: -1, txn: true, control: true, records: 0 }]);

  const r = await cleaner.cleanIfNeeded(reopened, compactCfg(), NOW);
  expect(r?.outcome).toBe('cleaned');
  expect(batchHeaders(reopened).filter((b) => b.control)).toEqual([]);
  expect(recordsOf(reopened)).toEqual([
    [2n, 'a', '2'],
    [3n, 'b', '1'],
    [4n, 'z', 'active'],
  ]);
});

test('a swap is refused when a truncation reopens a transaction the round took as aborted', async () => {
  const log = open();
  const t = new TestProducer(log, 50n, true);
  append(log, [['a', '1']]); // 0
  t.send([['k', 'maybe']]); // 1
  append(log, [['b', '1']]); // 2
  log.roll();
  const marker = t.abort(); // 3, in the active segment
  append(log, [['c', '1']]); // 4
  const eff = effectiveCompactionConfig(compactCfg());
  const plan = planCleaning(log, null, eff, NOW)!;
  const input = cleanRoundInput(log, plan, eff, NOW, { maxMapSlots: 1 << 10, mapLoadFactor: 0.9, maxDecompressedBytes: 1 << 20 });
  expect(input).toMatchObject({ firstUncleanableOffset: 3n, firstUnstableOffset: null });
  expect(input.abortedTxns).toEqual([{ producerId: 50n, firstOffset: 1n, lastOffset: 3n, lastStableOffset: 4n }]);
  expect(input.activeProducers).toEqual([{ producerId: 50n, producerEpoch: 0, lastDataOffset: 1n }]);
  expect(staleTransactionState(log, input)).toBeNull();

  const result = await runCleanRound(input, async () => {
    log.truncateTo(marker); // a follower's truncation: the ABORT marker is gone, the transaction open again
    expect(staleTransactionState(log, input)).toMatch(/open from offset 1/);
    return false; // what LogCleaner's swap answers then
  });
  expect(result.aborted).toBe(true);
  expect(recordsOf(log)).toEqual([
    [0n, 'a', '1'],
    [1n, 'k', 'maybe'],
    [2n, 'b', '1'],
  ]);
  expect(cleanerFiles(log.dir)).toEqual([]);
});


test.each([1, 2, 3])('a read_committed consumer sees the same log before and after each round (seed %i)', async (seed) => {
  const dir = path.join(root, `r-${seed}`);
  const log = open({ name: `r-${seed}`, segmentBytes: 1500, producerIdExpirationMs: 5_000 });
  const cfg = compactCfg({ deleteRetentionMs: 1_000 });
  const random = seededRng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const txns = [100n, 101n, 102n, 103n].map((pid) => ({ p: new TestProducer(log, pid, true), open: false, id: 0 }));
  const idem = [200n, 201n].map((pid) => new TestProducer(log, pid, false));
  const abortedValues = new Set<string>();
  let n = 0;
  const records = (tag: string): Entry[] => Array.from({ length: 1 + Math.floor(random() * 3) }, () => [pick(keys), `${tag}.${n++}`]);
  const write = (steps: number): void => {
    for (let i = 0; i < steps; i++) {
      const r = random();
      if (r < 0.25) append(log, records('plain'));
      else if (r < 0.4) pick(idem).send(records('idem'));
      else if (r < 0.75) {
        const t = pick(txns);
        t.open = true;
        t.p.send(records(`txn${t.p.producerId}-${t.id}`), random() < 0.3 ? { compression: 'gzip' } : {});
      } else if (r < 0.93) {
        const t = pick(txns.filter((x) => x.open).concat(txns[0]));
        if (!t.open) continue;
        if (random() < 0.4) {
          for (const v of recordsOf(log).map((x) => x[2] ?? '')) if (v.startsWith(`txn${t.p.producerId}-${t.id}.`)) abortedValues.add(v);
          t.p.abort();
        } else {
          t.p.commit();
        }
        t.open = false;
        t.id++;
      } else {
        log.roll();
      }
    }
  };

  let clock = NOW;
  let cleaned = 0;
  for (let round = 0; round < 5; round++) {
    write(60);
    if (round === 4) {
      // Producers go idle: their last batches no longer need to stay.
      for (const t of txns) if (t.open) t.p.commit();
      log.removeExpiredProducers(clock + 10_000);
    }
    log.roll();
    append(log, [['active', `a${round}`]]);
    const before = readCommitted(log);
    const r = await cleaner.cleanIfNeeded(log, cfg, clock);
    clock += 2_000;
    if (r === null) {
      // Nothing due (a transaction open since the first dirty segment): nothing changed.
      expect(readCommitted(log)).toEqual(before);
      continue;
    }
    cleaned++;
    expect(r.outcome).toBe('cleaned');
    // Never past an open transaction; below the round's end, exactly the latest committed value of each key.
    expect(r.firstUncleanableOffset).toBeLessThanOrEqual(log.lastStableOffset);
    expect(readCommitted(log)).toEqual(compacted(before, r.endOffset));
    // What the round read holds no aborted data any more (read_uncommitted consumers see none of it).
    for (const rec of recordsOf(log)) if (rec[0] < r.endOffset) expect(abortedValues.has(rec[2] ?? '')).toBe(false);
  }
  expect(cleaned).toBeGreaterThanOrEqual(3);
  // A later round after the horizons passed removes every marker whose data is gone.
  dirty(log, 'last');
  const final = await cleaner.cleanIfNeeded(log, cfg, clock + 5_000);
  expect(final?.outcome).toBe('cleaned');
  const view = readCommitted(log);
  // The cleaned log rebuilds the same transactions: same last stable offset, same committed view.
  const lso = log.lastStableOffset;
  crash(log, true);
  const rebuilt = PartitionLog.open(dir, smallConfig({ segmentBytes: 1500 }), { logger: quiet, now: () => NOW });
  logs.push(rebuilt);
  expect(rebuilt.lastStableOffset).toBe(lso);
  expect(readCommitted(rebuilt)).toEqual(view);
  expect(cleanerFiles(dir)).toEqual([]);
});
