/**
 * Idempotent producers and transactions across tiers (KIP-405's transaction index and producer
 * snapshot): each segment's .txnindex and the producer snapshot at its end are tiered with it;
 * read_committed's aborted-transaction lists come from the tiered indexes below the local log;
 * a partition on an empty data dir starts its producer state from the snapshot tiered with the
 * last segment, so it still deduplicates and an open transaction still holds the LSO.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildEndTxnMarker, type EndTxnMarkerType } from '../../core/log/controlRecords';
import type { PartitionLog } from '../../core/log/partitionLog';
import { producerSnapshotPath } from '../../core/log/producerSnapshot';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { txnIndexFileName } from '../../core/log/segmentFiles';
import { RemoteLogMetadata, type RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { allObjectKeys, newSegmentId, remoteObjectKey } from '../../core/tier/remoteSegmentKeys';
import { TierManager } from '../../core/tier/tierManager';
import type { TieredPartition } from '../../core/tier/tieredPartition';
import { recordsOf } from '../log/helpers';
import { TOPIC_ID, TierEnv, fill, listKeys, memoryLogger, tierConfig } from './tierHelpers';

let env: TierEnv;
let tier: TierManager | null = null;

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  await tier?.close();
  tier = null;
  await env.destroy();
});

const IDEMPOTENT = 1n;
const LONG_TXN = 2n;
const SHORT_TXN = 3n;
const OTHER_TXN = 4n;
const OPEN_TXN = 5n;

/** Writes producers' batches and coordinators' markers to logs, keeping each producer's sequence. */
class Producers {
  private readonly seqs = new Map<bigint, number>();

  /** The bytes of the producer's next batch (timestamps now: producer state expires by them). */
  next(pid: bigint, transactional: boolean, count = 3): Buffer {
    const seq = this.seqs.get(pid) ?? 0;
    this.seqs.set(pid, seq + count);
    const records = recordsOf({ count, label: `p${pid}-${seq}`, valueSize: 120, timestamp: BigInt(Date.now()) });
    return buildRecordBatch({ records, producerId: pid, producerEpoch: 0, baseSequence: seq, isTransactional: transactional });
  }

  data(logs: PartitionLog[], pid: bigint, transactional: boolean): bigint {
    const bytes = this.next(pid, transactional);
    let base = -1n;
    for (const log of logs) base = log.append(Buffer.from(bytes), { leaderEpoch: 0, origin: 'client' }).baseOffset;
    return base;
  }

  end(logs: PartitionLog[], pid: bigint, type: EndTxnMarkerType): void {
    const marker = buildEndTxnMarker({ producerId: pid, producerEpoch: 0, type, coordinatorEpoch: 0 });
    for (const log of logs) log.append(Buffer.from(marker), { leaderEpoch: 0, origin: 'coordinator' });
  }
}

/**
 * Short aborted and committed transactions in most segments, one long transaction spanning many
 * segments (aborted, so index entries carry LSOs below their markers), an idempotent producer
 * and plain batches throughout.
 */
function workload(p: Producers, logs: PartitionLog[], rounds = 24): void {
  for (let r = 0; r < rounds; r++) {
    p.data(logs, IDEMPOTENT, false);
    if (r >= 2 && r < 14) p.data(logs, LONG_TXN, true);
    if (r === 14) p.end(logs, LONG_TXN, 'ABORT');
    p.data(logs, SHORT_TXN, true);
    p.data(logs, SHORT_TXN, true);
    p.end(logs, SHORT_TXN, r % 3 === 0 ? 'ABORT' : 'COMMIT');
    if (r % 5 === 0) {
      p.data(logs, OTHER_TXN, true);
      p.end(logs, OTHER_TXN, r % 2 === 0 ? 'COMMIT' : 'ABORT');
    }
    for (const log of logs) fill(log, 1, { perBatch: 2 });
  }
}

async function openTiered(log: PartitionLog, logger = memoryLogger(), localRetentionBytes = 1): Promise<TieredPartition> {
  tier = new TierManager(env.objects, env.meta, { logger, uploadOnRollDelayMs: 0 });
  return tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes }) });
}

/** What a broker restart does to the stores: close them, open them again. */
async function restartStores(): Promise<void> {
  await tier?.close();
  tier = null;
  await env.closeStores();
  await env.openStores();
}

async function records(): Promise<RemoteSegment[]> {
  return new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(TOPIC_ID, 0);
}

/** Offsets to search between: every 7th, and the log's end. */
function grid(end: bigint): bigint[] {
  const out: bigint[] = [];
  for (let o = 0n; o < end; o += 7n) out.push(o);
  out.push(end);
  return out;
}

test('each segment is tiered with its .txnindex (when it has one) and the producer snapshot at its end, byte for byte', async () => {
  const log = env.openLog();
  workload(new Producers(), [log]);
  log.roll();
  const closed = log.segments().filter((s) => s.closed);
  await openTiered(log, memoryLogger(), -2);
  await tier!.runOnce();
  const recs = await records();
  expect(recs.map((r) => r.baseOffset)).toEqual(closed.map((s) => s.baseOffset));
  let withIndex = 0;
  for (const [i, r] of recs.entries()) {
    const s = closed[i];
    const txnFile = path.join(log.dir, txnIndexFileName(s.baseOffset));
    const local = fs.existsSync(txnFile) ? fs.readFileSync(txnFile) : Buffer.alloc(0);
    if (local.length > 0) {
      withIndex++;
      expect(r.keys.txnIndex).toBe(remoteObjectKey('remote-log', TOPIC_ID, 0, s.baseOffset, 0, r.segmentId, 'txnindex'));
      expect(r.txnIndexBytes).toBe(local.length);
      expect(await env.files.get(r.keys.txnIndex!)).toEqual(local);
    } else {
      expect(r.keys.txnIndex).toBeUndefined();
      expect(r.txnIndexBytes).toBeUndefined();
    }
    // The snapshot the next segment's roll took: the producer state after this segment.
    const next = i + 1 < closed.length ? closed[i + 1].baseOffset : log.logEndOffset;
    expect(r.producerSnapshotOffset).toBe(next);
    expect(r.keys.producerSnapshot).toBe(remoteObjectKey('remote-log', TOPIC_ID, 0, s.baseOffset, 0, r.segmentId, 'snapshot'));
    expect(await env.files.get(r.keys.producerSnapshot!)).toEqual(fs.readFileSync(producerSnapshotPath(log.dir, next)));
  }
  expect(withIndex).toBeGreaterThan(1);
  expect(withIndex).toBeLessThan(recs.length); // most segments hold no ABORT marker
  expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual(recs.flatMap((r) => allObjectKeys(r.keys)).sort());
});

test('read_committed across tiers: the tiered indexes list what the local ones did, also on an empty data dir, and the local part follows', async () => {
  const p = new Producers();
  const log = env.openLog('data1/t-0');
  const reference = env.openLog('reference/t-0'); // the same log, never tiered
  workload(p, [log, reference]);
  log.roll();
  const end = log.logEndOffset;
  expect(reference.logEndOffset).toBe(end);
  const tp = await openTiered(log);
  await tier!.runOnce();
  expect(tp.remoteEndOffset).toBe(end);
  // Every segment but the last is only in the object store now; the last is in both tiers.
  expect(log.logStartOffset).toBe(tp.remoteSegments.at(-1)!.baseOffset);
  expect(tp.remoteSegments.length).toBeGreaterThan(5);
  expect(reference.collectAbortedTransactions(0n, end).length).toBeGreaterThan(8);

  const check = async (t: TieredPartition, upTo: bigint): Promise<void> => {
    const offsets = grid(upTo);
    for (const from of offsets) {
      for (const to of offsets) if (to > from) expect([from, to, await t.collectAbortedTransactions(from, to)]).toEqual([from, to, reference.collectAbortedTransactions(from, to)]);
    }
    // As a read_committed consumer's fetches ask: the range each read returned.
    let offset = 0n;
    while (offset < upTo) {
      const r = await t.read(offset, 1500, { minOneBatch: true, maxOffset: upTo });
      expect(await t.collectAbortedTransactions(r.firstOffset, r.nextOffset)).toEqual(reference.collectAbortedTransactions(r.firstOffset, r.nextOffset));
      offset = r.nextOffset;
    }
  };
  env.objects.gets.length = 0;
  await check(tp, end);
  expect(env.objects.gets.some((k) => k.endsWith('.txnindex'))).toBe(true);

  // A broker on an empty data dir, same stores; then more transactions, locally this time.
  await restartStores();
  const fresh = env.openLog('data2/t-0');
  const tp2 = await openTiered(fresh, memoryLogger(), -2);
  expect(fresh.logStartOffset).toBe(end);
  workload(p, [fresh, reference], 6);
  expect(fresh.logEndOffset).toBe(reference.logEndOffset);
  await check(tp2, fresh.logEndOffset);
});

test('an empty data dir starts the producer state from the last tiered snapshot: a retried batch is a duplicate, an open transaction keeps the LSO', async () => {
  const p = new Producers();
  const log = env.openLog('data1/t-0');
  workload(p, [log]);
  const openFirst = p.data([log], OPEN_TXN, true); // stays open across the restart
  const retried = p.next(IDEMPOTENT, false);
  const original = log.append(Buffer.from(retried), { leaderEpoch: 0, origin: 'client' });
  fill(log, 3);
  log.roll();
  const producersBefore = log.producerState.activeProducers();
  expect(log.lastStableOffset).toBe(openFirst);
  expect(log.highWatermark).toBeGreaterThan(openFirst);
  const tp = await openTiered(log);
  await tier!.runOnce();
  expect(tp.remoteEndOffset).toBe(log.logEndOffset);
  const end = log.logEndOffset;

  await restartStores();
  const logger = memoryLogger();
  const fresh = env.openLog('data2/t-0');
  await openTiered(fresh, logger);
  expect(fresh.logEndOffset).toBe(end);
  expect(fresh.producerState.activeProducers()).toEqual(producersBefore);
  expect(fresh.lastStableOffset).toBe(openFirst); // read_committed still stops at the open transaction
  expect(logger.lines).toContainEqual(expect.stringContaining('producer state restored from the snapshot tiered with segment'));
  expect(logger.lines).toContainEqual(expect.stringContaining('1 open transaction(s)'));

  // The producer retries its last batch (its answer was lost): the original offsets, nothing appended.
  const again = fresh.append(Buffer.from(retried), { leaderEpoch: 0, origin: 'client' });
  expect(again).toMatchObject({ duplicate: true, baseOffset: original.baseOffset, lastOffset: original.lastOffset });
  expect(fresh.logEndOffset).toBe(end);
  // Its next batch continues the sequence; an out-of-sequence one is refused, as before the restart.
  expect(fresh.append(p.next(IDEMPOTENT, false), { leaderEpoch: 0, origin: 'client' }).baseOffset).toBe(end);
  const gap = buildRecordBatch({ records: recordsOf({ count: 1, timestamp: BigInt(Date.now()) }), producerId: IDEMPOTENT, producerEpoch: 0, baseSequence: 10_000 });
  expect(() => fresh.append(gap, { leaderEpoch: 0, origin: 'client' })).toThrow(expect.objectContaining({ code: 'OUT_OF_ORDER_SEQUENCE' }));
  // The open transaction ends: the LSO moves up to the high watermark.
  p.end([fresh], OPEN_TXN, 'COMMIT');
  expect(fresh.lastStableOffset).toBe(fresh.highWatermark);

  // The restored state is on local disk now: a restart of this broker keeps it without the store.
  await restartStores();
  fresh.close();
  const reopened = env.openLog('data2/t-0');
  await openTiered(reopened);
  expect(reopened.producerState.entry(IDEMPOTENT)?.batches.at(-1)?.lastSeq).toBe(fresh.producerState.entry(IDEMPOTENT)?.batches.at(-1)?.lastSeq);
});

test('a stale data dir is replaced and its producer state comes from the object store too', async () => {
  const p = new Producers();
  const log = env.openLog('data1/t-0');
  workload(p, [log], 4);
  log.roll();
  fs.cpSync(log.dir, path.join(env.root, 'stale/t-0'), { recursive: true }); // an old copy of the disk
  workload(p, [log], 10); // the long transaction of the first rounds is still open
  p.data([log], OPEN_TXN, true);
  log.roll();
  const producersBefore = log.producerState.activeProducers();
  const lso = log.lastStableOffset;
  expect(lso).toBeLessThan(log.highWatermark);
  await openTiered(log);
  await tier!.runOnce();
  const end = log.logEndOffset;

  await restartStores();
  const stale = env.openLog('stale/t-0');
  expect(stale.logEndOffset).toBeLessThan(end);
  await openTiered(stale);
  expect(stale.logEndOffset).toBe(end);
  expect(stale.producerState.activeProducers()).toEqual(producersBefore);
  expect(stale.lastStableOffset).toBe(lso);
});

test('records tiered before snapshots were: one line, and the producer state starts empty', async () => {
  const log = env.openLog('data1/t-0');
  workload(new Producers(), [log], 8);
  log.roll();
  await openTiered(log);
  await tier!.runOnce();
  const end = log.logEndOffset;
  // Rewrite the last record as an older broker wrote it: no snapshot, no transaction index.
  const md = new RemoteLogMetadata(env.meta.namespace('remote-segments'));
  const last = (await md.listSegments(TOPIC_ID, 0)).at(-1)!;
  const { producerSnapshotBytes: _b, producerSnapshotOffset: _o, txnIndexBytes: _t, ...old } = last;
  await md.replaceSegment(last, { ...old, keys: { log: last.keys.log, index: last.keys.index, timeIndex: last.keys.timeIndex } });

  await restartStores();
  const logger = memoryLogger();
  const fresh = env.openLog('data2/t-0');
  await openTiered(fresh, logger);
  expect(fresh.logEndOffset).toBe(end);
  expect(fresh.producerState.size).toBe(0);
  expect(fresh.lastStableOffset).toBe(end);
  expect(logger.lines.filter((l) => l.includes('producer snapshot'))).toEqual([
    expect.stringContaining(`tiered segment ${last.baseOffset} has no producer snapshot (tiered before snapshots were); producer state starts empty at ${end}`),
  ]);
});

test('a snapshot that cannot be read fails the open (no appends without it); the next open restores it', async () => {
  const p = new Producers();
  const log = env.openLog('data1/t-0');
  workload(p, [log], 8); // leaves the long transaction open
  const lso = log.lastStableOffset;
  expect(lso).toBeLessThan(log.highWatermark);
  log.roll();
  await openTiered(log);
  await tier!.runOnce();
  const end = log.logEndOffset;

  await restartStores();
  const fresh = env.openLog('data2/t-0');
  env.objects.mode = 'fail';
  env.objects.failPuts = false;
  env.objects.failDeletes = false;
  await expect(openTiered(fresh)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('producer snapshot') });
  expect(fresh.logEndOffset).toBe(end); // started at the tiered end, without producer state yet

  env.objects.mode = 'ok';
  await tier!.close();
  await openTiered(fresh);
  expect(fresh.lastStableOffset).toBe(lso);
  expect(fresh.producerState.entry(IDEMPOTENT)).not.toBeNull();
});

test('DeleteRecords past the tiered end: the last snapshot is moved up to the new start (no records lie between)', async () => {
  const p = new Producers();
  const log = env.openLog('data1/t-0');
  workload(p, [log], 8);
  log.roll();
  const tp = await openTiered(log, memoryLogger(), -2);
  await tier!.runOnce();
  const tieredEnd = tp.remoteEndOffset;
  fill(log, 2); // only local
  const start = log.highWatermark;
  await tp.advanceLogStartOffset(start);
  const producersBefore = log.producerState.activeProducers();

  await restartStores();
  const logger = memoryLogger();
  const fresh = env.openLog('data2/t-0');
  await openTiered(fresh, logger);
  expect(fresh.logEndOffset).toBe(start);
  expect(logger.lines).toContainEqual(expect.stringContaining(`is at offset ${tieredEnd}, the tiered end is ${start}: moved there`));
  expect(fresh.producerState.endOffset).toBe(start);
  expect(fresh.producerState.activeProducers()).toEqual(producersBefore);
});

test('retention, topic deletion and the orphan sweep remove the .txnindex and .snapshot objects with their segments', async () => {
  const log = env.openLog();
  workload(new Producers(), [log]);
  log.roll();
  const tp = await openTiered(log);
  await tier!.runOnce();
  const before = tp.remoteSegments;
  expect(before.filter((s) => s.keys.txnIndex !== undefined).length).toBeGreaterThan(1);

  // Retention by size: the oldest segments go with every object they had.
  const keep = before.slice(-3);
  const bytes = keep.reduce((n, s) => n + s.sizeBytes, 0); // nothing is untiered: the active segment is empty
  tier!.updateConfig(TOPIC_ID, 0, tierConfig({ localRetentionBytes: 1, retentionBytes: bytes }));
  await tier!.runOnce();
  expect(tp.remoteSegments.map((s) => s.segmentId)).toEqual(keep.map((s) => s.segmentId));
  const gone = before.slice(0, -3);
  expect(gone.some((s) => s.keys.txnIndex !== undefined)).toBe(true);
  expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual(keep.flatMap((s) => allObjectKeys(s.keys)).sort());

  // Orphans: the optional objects of an upload whose record never committed.
  const orphanId = newSegmentId();
  const orphans = (['txnindex', 'snapshot'] as const).map((ext) => remoteObjectKey('remote-log', TOPIC_ID, 0, 5000n, 0, orphanId, ext));
  for (const k of orphans) await env.files.put(k, Buffer.from('x'));
  await tier!.close();
  await openTiered(log);
  expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual(keep.flatMap((s) => allObjectKeys(s.keys)).sort());

  // Topic deletion: records, then every object.
  await tier!.deleteTopicData(TOPIC_ID);
  expect(await listKeys(env.files, 'remote-log/')).toEqual([]);
  expect(await records()).toEqual([]);
});
