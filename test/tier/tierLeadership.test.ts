/**
 * Tiering follows leadership: two copies of one partition (two brokers' replicas, sharing the
 * metadata and object stores) where only the leader uploads. A copy that takes leadership over
 * reads the tiered state first: it continues from the previous leader's tiered end (nothing
 * uploaded twice, no overlapping records), tags its objects with its own leader epoch, and a
 * copy that no longer leads stops uploading, even on roll. Followers drop their local copies of
 * tiered segments by local retention, as the leader does.
 */
import { RemoteLogMetadata } from '../../core/tier/remoteLogMetadata';
import { TierManager } from '../../core/tier/tierManager';
import { TOPIC_ID, TierEnv, fill, memoryLogger, tierConfig } from './tierHelpers';

let env: TierEnv;
const managers: TierManager[] = [];

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.close();
  await env.destroy();
});

test('a new leader continues tiering from where the previous one stopped, at its own epoch; the old one stops', async () => {
  let leader: 'a' | 'b' = 'a';
  const epochs = { a: 0, b: 0 };
  const logA = env.openLog('a/t-0');
  const logB = env.openLog('b/t-0');
  const loggerB = memoryLogger();
  const tierA = new TierManager(env.objects, env.meta, { logger: memoryLogger() });
  const tierB = new TierManager(env.objects, env.meta, { logger: loggerB, followerRefreshMs: 0 });
  managers.push(tierA, tierB);
  const open = async (tier: TierManager, log: typeof logA, name: 'a' | 'b') => {
    const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }), leaderEpoch: 0 });
    tp.leadsAt = () => (leader === name ? epochs[name] : null);
    return tp;
  };
  const tpA = await open(tierA, logA, 'a');
  const tpB = await open(tierB, logB, 'b');
  // Both copies hold the same batches (as a follower's copy does).
  const grow = (batches: number) => {
    fill(logA, batches);
    fill(logB, batches);
  };
  const records = () => new RemoteLogMetadata(env.meta.namespace('remote-segments')).listSegments(TOPIC_ID, 0);

  grow(40);
  await tierA.runOnce();
  await tierB.runOnce();
  const byA = await records();
  expect(byA.length).toBeGreaterThan(1);
  const endA = tpA.remoteEndOffset;
  // The follower uploads nothing; it reads what the leader tiered and drops its own local copies
  // of those segments by local retention, as the leader did.
  const localStart = (log: typeof logA) => log.segments()[0].baseOffset;
  expect(localStart(logA)).toBeGreaterThan(0n);
  await tpB.settled();
  expect(await records()).toEqual(byA);
  expect(tpB.remoteEndOffset).toBe(endA);
  expect(localStart(logB)).toBe(localStart(logA));

  // Leadership moves to b at epoch 1; both copies grow.
  leader = 'b';
  epochs.b = 1;
  grow(40);
  await tierA.runOnce(); // no longer the leader: uploads nothing
  expect(await records()).toEqual(byA);
  for (let i = 0; i < 3; i++) {
    await tierB.runOnce();
    await tpB.settled();
  }
  const all = await records();
  expect(all.length).toBeGreaterThan(byA.length);
  const added = all.slice(byA.length);
  expect(added[0].baseOffset).toBe(endA);
  for (const r of added) expect(r.leaderEpoch).toBe(1);
  for (let i = 1; i < all.length; i++) expect(all[i].baseOffset).toBe(all[i - 1].lastOffset + 1n);
  expect(tpB.leaderEpoch).toBe(1);
  expect(loggerB.lines.join('\n')).toMatch(/tiering as leader at epoch 1: \d+ tiered segment\(s\), tiered end \d+/);
});
