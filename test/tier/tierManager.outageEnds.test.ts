/**
 * An upload outage ends when nothing is left failing: a partition whose failed uploads have
 * nothing left to retry (DeleteRecords removed the segments it could not upload) stops counting
 * as failing once its backoff passes, so `stats().outage` and the failing-partition count return
 * to normal and the drain is logged, rather than reporting an outage forever.
 */
import { TierManager } from '../../core/tier/tierManager';
import { TOPIC_ID, TierEnv, fakeClock, fill, memoryLogger, tierConfig } from './tierHelpers';

let env: TierEnv;
let tier: TierManager | null = null;

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  env.objects.releaseHung();
  await tier?.close();
  tier = null;
  await env.destroy();
});

test('a failing partition whose backlog DeleteRecords removed is no longer failing once its retry is due', async () => {
  const clock = fakeClock();
  const logger = memoryLogger();
  const log = env.openLog();
  fill(log, 20);
  tier = new TierManager(env.objects, env.meta, { logger, now: clock.now, retryBackoffMs: 500, retryBackoffMaxMs: 4000, uploadOnRollDelayMs: 0 });
  const tp = await tier.openPartition({ topicId: TOPIC_ID, topicName: 't', partition: 0, log, config: tierConfig() });
  env.objects.mode = 'fail';
  await tier.runOnce();
  expect(tier.stats().failingPartitions).toBe(1);
  expect(tier.stats().outage).not.toBeNull();

  // Records deleted up to the high watermark: no closed segment is left to upload.
  await tp.advanceLogStartOffset(log.highWatermark);
  expect(tp.nextUploadCandidate()).toBeNull();
  expect(tier.backlog()).toEqual({ segments: 0, bytes: 0 });

  // The store is back; once the retry is due there is nothing to retry, and nothing is failing.
  env.objects.mode = 'ok';
  clock.advance(500);
  await tier.runOnce();
  expect(tier.stats().failingPartitions).toBe(0);
  expect(tier.stats().outage).toBeNull();
  expect(logger.lines).toContainEqual(expect.stringContaining('upload backlog drained'));
});
