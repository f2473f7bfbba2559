/**
 * Uploads of closed segments, visibility through the metadata record (invariant 6), local
 * retention after upload, and reads that start in the object store and cross into the local log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import type { RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { RemoteLogMetadata } from '../../core/tier/remoteLogMetadata';
import { allObjectKeys, parseRemoteObjectKey, remoteObjectKey, remoteSegmentKeys } from '../../core/tier/remoteSegmentKeys';
import { producerSnapshotPath } from '../../core/log/producerSnapshot';
import { TierManager } from '../../core/tier/tierManager';
import { waitFor } from '../helpers/waitFor';
import { TOPIC_ID, TierEnv, decode, fakeClock, fill, listKeys, memoryLogger, tierConfig } from './tierHelpers';

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

function manager(opts: ConstructorParameters<typeof TierManager>[2] = {}): TierManager {
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), ...opts });
  return tier;
}

test('closed segments below the high watermark are uploaded with their indexes; the active one is not', async () => {
  const log = env.openLog();
  fill(log, 40);
  const t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  const closed = log.segments().filter((s) => s.closed);
  expect(closed.length).toBeGreaterThanOrEqual(3);
  expect(t.backlog()).toEqual({ segments: closed.length, bytes: closed.reduce((n, s) => n + s.size, 0) });

  await t.runOnce();

  expect(t.backlog()).toEqual({ segments: 0, bytes: 0 });
  const records = await new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(TOPIC_ID, 0);
  expect(records.map((r) => [r.baseOffset, r.lastOffset, r.sizeBytes])).toEqual(closed.map((s) => [s.baseOffset, s.lastOffset, s.size]));
  expect(tp.remoteSegments).toEqual(records);
  expect(tp.lastTieredOffset).toBe(closed[closed.length - 1].lastOffset);
  const active = log.segments()[log.segments().length - 1];
  expect(tp.remoteEndOffset).toBe(active.baseOffset);

  for (const [r, s] of records.map((r, i) => [r, closed[i]] as const)) {
    // The keys carry topic id, partition, 20-digit base offset, epoch and a unique id.
    // With the producer snapshot the next segment's roll took (no producers: an empty state, still
    // its own object); no .txnindex, since these segments hold no ABORT marker.
    expect(r.keys).toEqual({
      ...remoteSegmentKeys('remote-log', TOPIC_ID, 0, s.baseOffset, 0, r.segmentId),
      producerSnapshot: remoteObjectKey('remote-log', TOPIC_ID, 0, s.baseOffset, 0, r.segmentId, 'snapshot'),
    });
    expect(r.producerSnapshotOffset).toBe(s.nextOffset);
    expect(r.txnIndexBytes).toBeUndefined();
    expect(parseRemoteObjectKey('remote-log', r.keys.log)).toMatchObject({ baseOffset: s.baseOffset, leaderEpoch: 0, ext: 'log' });
    expect(r.maxTimestamp).toBe(s.maxTimestamp);
    expect(r.uploadedAt).toBeGreaterThan(0);
    // Byte-identical copies of the three files.
    expect(await env.files.get(r.keys.log)).toEqual(fs.readFileSync(s.path));
    expect(await env.files.get(r.keys.index)).toEqual(fs.readFileSync(s.path.replace(/\.log$/, '.index')));
    expect(await env.files.get(r.keys.timeIndex)).toEqual(fs.readFileSync(s.path.replace(/\.log$/, '.timeindex')));
    expect(await env.files.get(r.keys.producerSnapshot!)).toEqual(fs.readFileSync(producerSnapshotPath(log.dir, s.nextOffset)));
  }
  // Four objects per segment, nothing else.
  expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual(records.flatMap((r) => allObjectKeys(r.keys)).sort());
  expect(records.every((r) => allObjectKeys(r.keys).length === 4)).toBe(true);
  // No local retention configured: every local segment is still there.
  expect(log.logStartOffset).toBe(0n);
  expect(tp.localLogStartOffset).toBe(0n);
});

test('a segment becomes visible only when its record commits; failed attempts leave no objects and retry under a new id', async () => {
  const log = env.openLog();
  fill(log, 12);
  const kv = env.meta.namespace('remote-segments');
  let failCommits = 1;
  const metadata = new RemoteLogMetadata(kv);
  const realAdd = metadata.addSegment.bind(metadata);
  const seenIds: string[] = [];
  metadata.addSegment = async (seg: RemoteSegment) => {
    seenIds.push(seg.segmentId);
    // Objects are all in place before the record is written.
    expect(await env.files.head(seg.keys.log)).toEqual({ size: seg.sizeBytes });
    expect(await env.files.head(seg.keys.index)).not.toBeNull();
    if (failCommits-- > 0) throw new StrataError('VERSION_CONFLICT', 'injected commit failure');
    return realAdd(seg);
  };
  const logger = memoryLogger();
  const clock = fakeClock();
  tier = new TierManager(env.objects, metadata, { logger, now: clock.now });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });

  await tier.runOnce();
  // The failed commit: nothing visible, its three objects deleted again.
  expect(tp.remoteSegments.length).toBe(0);
  expect(await listKeys(env.files, 'remote-log/')).toEqual([]);
  expect(logger.lines.some((l) => l.includes('segment upload failed (attempt 1)') && l.includes('injected commit failure'))).toBe(true);

  await tier.runOnce();
  expect(tp.remoteSegments.length).toBe(0); // still backing off
  clock.advance(500);
  await tier.runOnce();
  expect(tp.remoteSegments.length).toBeGreaterThan(0);
  expect(seenIds[1]).not.toBe(seenIds[0]); // a retry never reuses an object key
  const keys = await listKeys(env.files, 'remote-log/');
  expect(keys.every((k) => !k.includes(seenIds[0]))).toBe(true);
});

test('a lost commit answer is read back: the committed objects are kept', async () => {
  const log = env.openLog();
  fill(log, 8);
  const metadata = new RemoteLogMetadata(env.meta.namespace('remote-segments'));
  const realAdd = metadata.addSegment.bind(metadata);
  metadata.addSegment = async (seg: RemoteSegment) => {
    await realAdd(seg);
    throw new StrataError('STORE_UNAVAILABLE', 'injected: the write landed but its answer was lost');
  };
  tier = new TierManager(env.objects, metadata, { logger: memoryLogger() });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await tier.runOnce();
  expect(tp.remoteSegments.length).toBeGreaterThan(0);
  for (const s of tp.remoteSegments) expect(await env.files.head(s.keys.log)).toEqual({ size: s.sizeBytes });
});

test('local copies go once tiered and local.retention.bytes allows; the log start stays at the tiered start', async () => {
  const log = env.openLog();
  fill(log, 60);
  const segBytes = log.segments()[0].size;
  const t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 2 * segBytes }) });
  const end = log.logEndOffset;
  await t.runOnce();

  expect(log.size).toBeLessThanOrEqual(3 * segBytes + 4096);
  expect(log.logStartOffset).toBeGreaterThan(0n);
  expect(tp.localLogStartOffset).toBe(log.logStartOffset);
  expect(tp.logStartOffset).toBe(0n);
  expect(tp.isRemoteOffset(0n)).toBe(true);
  expect(tp.isRemoteOffset(log.logStartOffset)).toBe(false);
  // Local files below the local start are really gone.
  const names = fs.readdirSync(log.dir).filter((n) => n.endsWith('.log'));
  expect(names.length).toBe(log.segments().length);

  // A consumer from 0 with small fetches sees every record once, in order, across the tiers.
  const seen: bigint[] = [];
  let values: string[] = [];
  let offset = 0n;
  while (offset < end) {
    const r = await tp.read(offset, 1500, { minOneBatch: true, maxOffset: log.highWatermark });
    expect(r.bytes).toBeGreaterThan(0);
    const recs = decode(r.records);
    for (const [o, v] of recs) if (o >= offset) {
      seen.push(o);
      values.push(v);
    }
    offset = r.nextOffset;
  }
  expect(seen).toEqual(Array.from({ length: Number(end) }, (_, i) => BigInt(i)));
  // Values name their batch's base offset: v<base>-<i>, so order is checkable too.
  values = values.map((v) => v.replace(/\.+$/, ''));
  expect(values[0]).toBe('v0-0');
  expect(values[7]).toBe('v5-2');
});

test('a remote read continues into the local log within one budget', async () => {
  const log = env.openLog();
  fill(log, 30);
  const t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  await t.runOnce();
  const localStart = log.logStartOffset;
  expect(localStart).toBeGreaterThan(0n);
  const r = await tp.read(0n, 1 << 20, { minOneBatch: true });
  const offsets = decode(r.records).map(([o]) => o);
  expect(offsets[0]).toBe(0n);
  expect(offsets[offsets.length - 1]).toBe(log.logEndOffset - 1n);
  expect(r.nextOffset).toBe(log.logEndOffset);
});

test('remote reads match local reads byte for byte, with maxBytes, minOneBatch and maxOffset', async () => {
  const log = env.openLog();
  fill(log, 30);
  const t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await t.runOnce();
  const reader = (t as unknown as { ctx: { reader: import('../../core/tier/remoteReader').RemoteSegmentReader } }).ctx.reader;
  const seg = tp.remoteSegments[1];
  for (const offset of [seg.baseOffset, seg.baseOffset + 3n, seg.baseOffset + 7n, seg.lastOffset]) {
    for (const maxBytes of [1, 700, 1400, 100_000]) {
      for (const minOneBatch of [false, true]) {
        const local = log.read(offset, maxBytes, { minOneBatch, maxOffset: seg.lastOffset + 1n });
        const remote = await reader.read(seg, offset, maxBytes, { minOneBatch, maxOffset: seg.lastOffset + 1n });
        expect(Buffer.concat(remote.records)).toEqual(Buffer.concat(local.records));
        expect([remote.bytes, remote.nextOffset]).toEqual([local.bytes, local.nextOffset]);
        if (local.bytes > 0) expect(remote.firstOffset).toBe(local.firstOffset);
      }
    }
  }
  // maxOffset inside the segment stops before the batch reaching it.
  const r = await reader.read(seg, seg.baseOffset, 100_000, { minOneBatch: true, maxOffset: seg.baseOffset + 6n });
  expect(r.stop).toBe('limit');
  expect(r.nextOffset).toBe(seg.baseOffset + 5n);
});

test('offsets outside the log fail with OFFSET_OUT_OF_RANGE; list offsets answer across tiers', async () => {
  const log = env.openLog();
  const t0 = 1_700_000_000_000n;
  for (let i = 0; i < 30; i++) fill(log, 1, { timestamp: t0 + BigInt(i) * 1000n });
  const t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  await t.runOnce();
  expect(log.logStartOffset).toBeGreaterThan(0n);
  await expect(tp.read(log.logEndOffset + 1n, 1000, { minOneBatch: true })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
  // Timestamps: batch i has records at t0 + i*1000 + 0..4.
  expect(await tp.offsetForTimestamp(t0 + 2003n)).toEqual({ offset: 13n, timestamp: t0 + 2003n });
  expect(await tp.offsetForTimestamp(t0)).toEqual({ offset: 0n, timestamp: t0 });
  expect(await tp.offsetForTimestamp(t0 + 29_004n)).toEqual({ offset: 149n, timestamp: t0 + 29_004n });
  expect(await tp.offsetForTimestamp(t0 + 99_000n)).toBeNull();
  expect(await tp.maxTimestampOffset()).toEqual({ offset: 149n, timestamp: t0 + 29_004n });
  expect(tp.lastTieredOffset).toBe(log.logStartOffset - 1n);
});

test('at most uploadConcurrency uploads run at once, one per partition', async () => {
  const logs = [0, 1, 2, 3].map((p) => env.openLog(`data/t-${p}`));
  for (const l of logs) fill(l, 30);
  let release: (() => void) | null = null;
  const gate = new Promise<void>((r) => (release = r));
  let parked = 0;
  env.objects.beforePut = async (key) => {
    if (!key.endsWith('.log')) return;
    parked++;
    await gate;
  };
  const t = manager({ uploadConcurrency: 2 });
  const tps = await Promise.all(logs.map((log, p) => t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: p, log, config: tierConfig() })));
  const idle = t.runOnce();
  await waitFor(() => parked === 2, { message: 'two uploads parked at the gate' });
  expect(t.stats().uploadsInFlight).toBe(2);
  release!();
  env.objects.beforePut = null;
  await idle;
  expect(env.objects.maxLogPutsInFlight).toBeLessThanOrEqual(2);
  for (const [p, tp] of tps.entries()) expect(tp.remoteEndOffset).toBe(logs[p].segments()[logs[p].segments().length - 1].baseOffset);
  expect(t.stats().uploadedSegments).toBe(tps.reduce((n, tp) => n + tp.remoteSegments.length, 0));
});

test('opening a partition deletes orphan objects no record names, and keeps the named ones', async () => {
  const log = env.openLog();
  fill(log, 12);
  let t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  await t.runOnce();
  const named = await listKeys(env.files, 'remote-log/');
  const orphan = remoteSegmentKeys('remote-log', TOPIC_ID, 0, 999n, 0, 'f'.repeat(32));
  await env.files.put(orphan.log, Buffer.from('half an upload'));
  await env.files.put(orphan.index, Buffer.alloc(0));
  await env.files.put('remote-log/unrelated-file', Buffer.from('not ours to judge'));
  await t.close();
  const logger = memoryLogger();
  t = tier = new TierManager(env.objects, env.meta, { logger });
  const again = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  expect(again.remoteSegments).toEqual(tp.remoteSegments);
  expect((await listKeys(env.files, 'remote-log/')).sort()).toEqual([...named, 'remote-log/unrelated-file'].sort());
  expect(logger.lines.some((l) => l.includes('deleted 2 orphan object(s)'))).toBe(true);
});

test('the uploaded .log is streamed from an open descriptor: deleting the local file mid-upload loses nothing', async () => {
  const log = env.openLog();
  fill(log, 12);
  const first = log.segments()[0];
  env.objects.beforePut = (key) => {
    // The log drops its files while the upload is between its index and .log puts.
    if (key.endsWith('.timeindex')) fs.rmSync(first.path, { force: true });
  };
  const t = manager();
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  const expected = fs.readFileSync(first.path);
  await t.runOnce();
  expect(await env.files.get(tp.remoteSegments[0].keys.log)).toEqual(expected);
  expect(path.basename(first.path)).toBe('00000000000000000000.log');
});

test('a rolled segment is uploaded soon after the append that rolled it, without waiting for a tick', async () => {
  const log = env.openLog();
  const t = manager({ uploadOnRollDelayMs: 10 });
  const tp = await t.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  fill(log, 12); // rolls at least once
  expect(log.segments().filter((s) => s.closed).length).toBeGreaterThan(0);
  await waitFor(() => t.backlog().segments === 0 && tp.remoteSegments.length > 0, { message: 'the rolled segments uploaded' });
  expect(tp.remoteEndOffset).toBe(log.segments()[log.segments().length - 1].baseOffset);
});

/**
 * A remote read that an upload overtakes: while the reader waits on the object store for the
 * tiered segments it knows, the next segment is uploaded and its local copy dropped by local
 * retention. The reader must not take the offsets past what it knew for a hole (it skipped them
 * to the new local start): what it returns is contiguous, and the next read gets the rest.
 */
test('offsets tiered while a remote read waited are read, not skipped', async () => {
  const log = env.openLog('data/t-0');
  const mgr = manager({ uploadOnRollDelayMs: 0 });
  const tp = await mgr.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  fill(log, 40);
  await mgr.runOnce();
  const tieredEnd = tp.remoteEndOffset;
  expect(tieredEnd).toBeGreaterThan(0n);
  fill(log, 40); // more closed segments, not tiered yet
  const end = log.logEndOffset;

  env.objects.getDelayMs = 100;
  const reading = tp.read(0n, 64 * 1024 * 1024, { minOneBatch: true });
  await mgr.runOnce(); // uploads and drops local copies while the reader waits
  expect(tp.remoteEndOffset).toBeGreaterThan(tieredEnd);
  const offsets = decode((await reading).records).map(([o]) => o);
  env.objects.getDelayMs = 0;

  expect(offsets[0]).toBe(0n);
  for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1] + 1n);
  // The next read continues where this one stopped, through to the end.
  let next = offsets[offsets.length - 1] + 1n;
  while (next < end) {
    const more = decode((await tp.read(next, 64 * 1024 * 1024, { minOneBatch: true })).records).map(([o]) => o);
    expect(more[0]).toBe(next);
    next = more[more.length - 1] + 1n;
  }
  expect(next).toBe(end);
});
