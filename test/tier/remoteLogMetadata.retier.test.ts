/**
 * What re-tiering (compacted topics) needs from the remote segment records, on a real embedded
 * metadata store: a conditional replace of a committed record, a conditional remove, the rule
 * that tells a reader which records an interrupted re-tier left superseded, and the state
 * record's compacted log start.
 */
import { RemoteLogMetadata, liveSegments, type RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { remoteSegmentKeys } from '../../core/tier/remoteSegmentKeys';
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

function seg(base: bigint, last: bigint, idChar: string, partition = 0): RemoteSegment {
  const id = idChar.repeat(32);
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
    leaderEpoch: 0,
    uploadedAt: 1_700_000_000_999,
    keys: remoteSegmentKeys('remote-log', TOPIC_ID, partition, base, 0, id),
  };
}

test('replaceSegment swaps a committed record for another at the same base offset, only if it is still the one expected', async () => {
  const a = seg(0n, 99n, 'a');
  const b = seg(0n, 199n, 'b');
  await md.addSegment(a);
  await md.replaceSegment(a, b);
  expect(await md.getSegment(TOPIC_ID, 0, 0n)).toEqual(b);
  // `a` is no longer there: replacing it again is a conflict, and nothing changes.
  await expect(md.replaceSegment(a, seg(0n, 99n, 'c'))).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
  expect(await md.getSegment(TOPIC_ID, 0, 0n)).toEqual(b);
  // Nor can a record that is gone be replaced.
  await md.removeSegment(b);
  await expect(md.replaceSegment(b, seg(0n, 99n, 'c'))).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
  expect(await md.getSegment(TOPIC_ID, 0, 0n)).toBeNull();
  // Another base offset is a programming error.
  await expect(md.replaceSegment(a, seg(100n, 199n, 'c'))).rejects.toThrow(TypeError);
});

test('removeSegmentIfCurrent removes a record only while it is that segment', async () => {
  const a = seg(100n, 199n, 'a');
  const b = seg(100n, 199n, 'b');
  await md.addSegment(a);
  await md.replaceSegment(a, b);
  expect(await md.removeSegmentIfCurrent(a)).toBe(false);
  expect(await md.getSegment(TOPIC_ID, 0, 100n)).toEqual(b);
  expect(await md.removeSegmentIfCurrent(b)).toBe(true);
  expect(await md.getSegment(TOPIC_ID, 0, 100n)).toBeNull();
  expect(await md.removeSegmentIfCurrent(b)).toBe(false);
});

test('liveSegments: a record starting inside the range of the one before it is superseded (an interrupted re-tier)', () => {
  // The re-tier of [0, 299] committed its record at 0; the records at 100 and 200 were not removed yet.
  const records = [seg(0n, 299n, 'f'), seg(100n, 199n, 'b'), seg(200n, 299n, 'c'), seg(300n, 399n, 'd'), seg(0n, 9n, 'e', 1)];
  const { live, superseded } = liveSegments(records);
  expect(live.map((s) => [s.partition, s.baseOffset])).toEqual([[0, 0n], [0, 300n], [1, 0n]]);
  expect(superseded.map((s) => s.baseOffset)).toEqual([100n, 200n]);
  // Contiguous records and records with gaps between them are all live.
  expect(liveSegments([seg(0n, 99n, 'a'), seg(100n, 149n, 'b'), seg(200n, 299n, 'c')]).superseded).toEqual([]);
});

test('the state keeps the lowest compacted log start, while log start and end only grow', async () => {
  await md.raiseState(TOPIC_ID, 0, { logStartOffset: 0n, endOffset: 500n });
  expect((await md.getState(TOPIC_ID, 0))!.state).toEqual({ logStartOffset: 0n, endOffset: 500n });
  await md.raiseState(TOPIC_ID, 0, { logStartOffset: 0n, endOffset: 400n, compactedStartOffset: 50n });
  expect((await md.getState(TOPIC_ID, 0))!.state).toEqual({ logStartOffset: 0n, endOffset: 500n, compactedStartOffset: 50n });
  await md.raiseState(TOPIC_ID, 0, { logStartOffset: 10n, endOffset: 600n, compactedStartOffset: 80n });
  expect((await md.getState(TOPIC_ID, 0))!.state).toEqual({ logStartOffset: 10n, endOffset: 600n, compactedStartOffset: 50n });
  // A raise without it keeps it.
  await md.raiseState(TOPIC_ID, 0, { logStartOffset: 20n, endOffset: 600n });
  expect((await md.getState(TOPIC_ID, 0))!.state).toEqual({ logStartOffset: 20n, endOffset: 600n, compactedStartOffset: 50n });
});
