/**
 * A remote read that an upload overtakes: while a reader waits on the object store for the
 * tiered segments it knows, the next segment is uploaded and its local copy dropped by local
 * retention. The reader must not take the offsets past what it knew for a hole (it skipped them
 * to the new local start): what it returns is contiguous, and the next read gets the rest.
 */
import { TierManager } from '../../core/tier/tierManager';
import { TOPIC_ID, TierEnv, decode, fill, memoryLogger, tierConfig } from './tierHelpers';

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

test('offsets tiered while a remote read waited are read, not skipped', async () => {
  const log = env.openLog('data/t-0');
  tier = new TierManager(env.objects, env.meta, { logger: memoryLogger(), uploadOnRollDelayMs: 0 });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig({ localRetentionBytes: 1 }) });
  fill(log, 40);
  await tier.runOnce();
  const tieredEnd = tp.remoteEndOffset;
  expect(tieredEnd).toBeGreaterThan(0n);
  fill(log, 40); // more closed segments, not tiered yet
  const end = log.logEndOffset;

  env.objects.getDelayMs = 100;
  const reading = tp.read(0n, 64 * 1024 * 1024, { minOneBatch: true });
  await tier.runOnce(); // uploads and drops local copies while the reader waits
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
