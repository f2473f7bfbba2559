import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startBenchBroker, type RunningBroker } from '../../bench/brokerProcess';
import { TransitionLog } from '../../bench/groupTransitions';
import { createGroupTopic, measureRebalance, REBALANCE_SETTINGS } from '../../bench/rebalance';
import { median } from '../../bench/units';
import { BROKER_MAIN } from '../helpers/build';

/**
 * The rebalance measurement against a real broker process with real kafkajs members (in this
 * jest worker), timed from the coordinator's own log lines.
 */

let dir: string;
let broker: RunningBroker;
let log: TransitionLog;
const TOPIC = 'rb-six';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-rebalance-'));
  broker = await startBenchBroker(BROKER_MAIN, dir, { 'group.initial.rebalance.delay.ms': '0' });
  log = new TransitionLog(broker);
  await createGroupTopic(broker.bootstrap, TOPIC, 6);
}, 60_000);

afterAll(async () => {
  log?.close();
  await broker?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}, 30_000);

const groupEmpty = (groupId: string) =>
  log.waitFor(groupId, 0, (t) => t.to === 'Empty', { timeoutMs: 20_000, what: `${groupId} empty after the measurement` });

test('times each clean leave from the coordinator\'s log: Stable again with one member fewer, well before any session timeout', async () => {
  const r = await measureRebalance({ bootstrap: broker.bootstrap, log, topic: TOPIC, partitions: 6, members: 3, repeats: 2, groupId: 'rb-3' });
  expect(r.error).toBeUndefined();
  expect(r).toMatchObject({ ok: true, members: 3, partitions: 6, heartbeatIntervalMs: REBALANCE_SETTINGS.heartbeatIntervalMs });
  expect(r.samples).toHaveLength(2);
  for (const s of r.samples) {
    expect(s.rejoinMs).toBeGreaterThanOrEqual(0);
    expect(s.leaveToStableMs).toBeGreaterThanOrEqual(s.rejoinMs);
    // A clean leave must not wait for the leaving member's session to expire.
    expect(s.leaveToStableMs).toBeLessThan(REBALANCE_SETTINGS.sessionTimeoutMs);
  }
  expect(r.samples[1]!.generation).toBeGreaterThan(r.samples[0]!.generation);
  expect(r.medianMs).toBe(median(r.samples.map((s) => s.leaveToStableMs)));
  expect(r.medianBeyondClientMs).toBe(r.medianMs! - REBALANCE_SETTINGS.heartbeatIntervalMs);
  expect(r.formSeconds).toBeGreaterThan(0);

  // The coordinator saw exactly that: each timed generation was Stable with 2 members.
  const stable = log.since('rb-3', 0).filter((t) => t.to === 'Stable');
  for (const s of r.samples) expect(stable.find((t) => t.generation === s.generation)?.members).toBe(2);
  // Every member was disconnected at the end (LeaveGroup): the group is Empty.
  await groupEmpty('rb-3');
}, 60_000);

test('a group that never settles as expected fails the measurement (no number) and still disconnects every member', async () => {
  // 7 partitions expected, the topic has 6: the members' assignments can never cover them.
  const r = await measureRebalance({
    bootstrap: broker.bootstrap, log, topic: TOPIC, partitions: 7, members: 2, repeats: 1, groupId: 'rb-never', stepTimeoutMs: 2000,
  });
  expect(r.ok).toBe(false);
  expect(r.error).toMatch(/^forming a group of 2: members' assignments: not within 2000 ms \(latest assignments cover 6 partitions 6 times, expected 7 once\)/);
  expect(r).toMatchObject({ samples: [], medianMs: null, medianBeyondClientMs: null, formSeconds: null });
  await groupEmpty('rb-never');
}, 60_000);
