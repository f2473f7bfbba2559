/** Remote segment records in a real embedded metadata store (the 'remote-segments' namespace). */
import { RemoteLogMetadata, decodeSegment, segmentObjects, type RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { remoteObjectKey, remoteSegmentKeys } from '../../core/tier/remoteSegmentKeys';
import { TOPIC_ID, TierEnv } from './tierHelpers';

let env: TierEnv;
let md: RemoteLogMetadata;

beforeEach(async () => {
  env = await TierEnv.create();
  md = new RemoteLogMetadata(env.meta.namespace('remote-segments'));
});

afterEach(async () => {
  await env.destroy();
});

function seg(partition: number, base: bigint, last: bigint, id = 'd'.repeat(32)): RemoteSegment {
  return {
    topicId: TOPIC_ID,
    partition,
    segmentId: id,
    baseOffset: base,
    lastOffset: last,
    sizeBytes: 1000,
    indexBytes: 16,
    timeIndexBytes: 24,
    maxTimestamp: 1_700_000_000_123n,
    leaderEpoch: 2,
    uploadedAt: 1_700_000_000_999,
    keys: remoteSegmentKeys('remote-log', TOPIC_ID, partition, base, 2, id),
  };
}

test('records round-trip with bigint offsets, sorted by base offset, per partition', async () => {
  const big = seg(0, 2n ** 62n, 2n ** 62n + 10n);
  await md.addSegment(seg(0, 100n, 199n));
  await md.addSegment(big);
  await md.addSegment(seg(0, 0n, 99n));
  await md.addSegment(seg(1, 0n, 5n));
  expect((await md.listSegments(TOPIC_ID, 0)).map((s) => s.baseOffset)).toEqual([0n, 100n, 2n ** 62n]);
  expect(await md.getSegment(TOPIC_ID, 0, 2n ** 62n)).toEqual(big);
  expect((await md.listTopicSegments(TOPIC_ID)).map((s) => [s.partition, s.baseOffset])).toEqual([[0, 0n], [0, 100n], [0, 2n ** 62n], [1, 0n]]);
  expect(await md.getSegment(TOPIC_ID, 0, 5n)).toBeNull();
});

test('the optional transaction index and producer snapshot round-trip; a record without them (written before them) still reads', async () => {
  const id = 'f'.repeat(32);
  const full: RemoteSegment = {
    ...seg(0, 100n, 199n, id),
    keys: {
      ...remoteSegmentKeys('remote-log', TOPIC_ID, 0, 100n, 2, id),
      txnIndex: remoteObjectKey('remote-log', TOPIC_ID, 0, 100n, 2, id, 'txnindex'),
      producerSnapshot: remoteObjectKey('remote-log', TOPIC_ID, 0, 100n, 2, id, 'snapshot'),
    },
    txnIndexBytes: 68,
    producerSnapshotBytes: 50,
    producerSnapshotOffset: 200n,
  };
  await md.addSegment(full);
  await md.addSegment(seg(0, 0n, 99n));
  const [old, withAll] = await md.listSegments(TOPIC_ID, 0);
  expect(withAll).toEqual(full);
  expect(old).toEqual(seg(0, 0n, 99n));
  expect(Object.keys(old.keys).sort()).toEqual(['index', 'log', 'timeIndex']);
  expect('txnIndexBytes' in old || 'producerSnapshotOffset' in old).toBe(false);
  // Deletes and cache invalidation go over every object a record names.
  expect(segmentObjects(withAll)).toEqual([
    { key: full.keys.log, size: 1000 },
    { key: full.keys.index, size: 16 },
    { key: full.keys.timeIndex, size: 24 },
    { key: full.keys.txnIndex, size: 68 },
    { key: full.keys.producerSnapshot, size: 50 },
  ]);
  expect(segmentObjects(old).map((o) => o.key)).toEqual([old.keys.log, old.keys.index, old.keys.timeIndex]);
});

test('an optional object without its size (or a size without its key) makes the record malformed', () => {
  // The stored form is the record itself (bigint-safe JSON), so a RemoteSegment stands for it.
  const kv = (s: RemoteSegment): never => s as never;
  const base = seg(0, 0n, 9n);
  const txnKey = remoteObjectKey('remote-log', TOPIC_ID, 0, 0n, 2, base.segmentId, 'txnindex');
  const snapKey = remoteObjectKey('remote-log', TOPIC_ID, 0, 0n, 2, base.segmentId, 'snapshot');
  expect(decodeSegment(kv({ ...base, keys: { ...base.keys, txnIndex: txnKey } }))).toBe('bad transaction index fields');
  expect(decodeSegment(kv({ ...base, txnIndexBytes: 34 }))).toBe('bad transaction index fields');
  expect(decodeSegment(kv({ ...base, keys: { ...base.keys, producerSnapshot: snapKey }, producerSnapshotBytes: 30 }))).toBe('bad producer snapshot fields');
  expect(decodeSegment(kv({ ...base, keys: { ...base.keys, producerSnapshot: snapKey }, producerSnapshotBytes: 30, producerSnapshotOffset: 0n }))).toBe('bad producer snapshot fields');
  expect(decodeSegment(kv({ ...base, keys: { ...base.keys, producerSnapshot: snapKey }, producerSnapshotBytes: 30, producerSnapshotOffset: 10n }))).toMatchObject({ producerSnapshotOffset: 10n });
});

test('a record is created once: a second one at the same base offset is KEY_EXISTS', async () => {
  await md.addSegment(seg(0, 0n, 9n));
  await expect(md.addSegment(seg(0, 0n, 9n, 'e'.repeat(32)))).rejects.toMatchObject({ code: 'KEY_EXISTS' });
  await md.removeSegment(seg(0, 0n, 9n));
  await md.removeSegment(seg(0, 0n, 9n)); // idempotent
  expect(await md.listSegments(TOPIC_ID, 0)).toEqual([]);
});

test('malformed records are reported and skipped', async () => {
  const kv = env.meta.namespace('remote-segments');
  await md.addSegment(seg(0, 0n, 9n));
  await kv.put(`segment/${TOPIC_ID}/0000000000/00000000000000000010`, { baseOffset: 'ten' }, null);
  const bad: string[] = [];
  const segs = await md.listSegments(TOPIC_ID, 0, (key, why) => bad.push(`${key}: ${why}`));
  expect(segs.map((s) => s.baseOffset)).toEqual([0n]);
  expect(bad).toEqual([`segment/${TOPIC_ID}/0000000000/00000000000000000010: bad identity fields`]);
});

test('the state record only ever grows, field by field', async () => {
  expect(await md.getState(TOPIC_ID, 0)).toBeNull();
  expect(await md.raiseState(TOPIC_ID, 0, { logStartOffset: 10n, endOffset: 100n })).toEqual({ logStartOffset: 10n, endOffset: 100n });
  expect(await md.raiseState(TOPIC_ID, 0, { logStartOffset: 5n, endOffset: 200n })).toEqual({ logStartOffset: 10n, endOffset: 200n });
  expect(await md.getState(TOPIC_ID, 0)).toMatchObject({ state: { logStartOffset: 10n, endOffset: 200n }, version: 2 });
  // Two writers racing: both raises land.
  await Promise.all([md.raiseState(TOPIC_ID, 0, { logStartOffset: 50n, endOffset: 0n }), md.raiseState(TOPIC_ID, 0, { logStartOffset: 0n, endOffset: 300n })]);
  expect((await md.getState(TOPIC_ID, 0))!.state).toEqual({ logStartOffset: 50n, endOffset: 300n });
  await md.removeTopicState(TOPIC_ID);
  expect(await md.getState(TOPIC_ID, 0)).toBeNull();
});
