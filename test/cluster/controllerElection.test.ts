/**
 * ControllerElection on a real SqliteKv, with a simulated clock shared by the brokers (monotonic
 * clocks advance at one rate; their offsets never matter): one controller at a time, a silent
 * controller replaced after a session timeout with the next epoch, a resigned one at once, and —
 * checked at every step of a randomized schedule of ticks and pauses — never two controllers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ControllerElection, CONTROLLER_KEY, type ControllerRecord } from '../../core/cluster/controllerElection';
import type { LeaseClock } from '../../core/meta/brokerLease';
import { SqliteKv } from '../../core/meta/sqliteKv';
import { seededRng } from '../helpers/seededRng';

const T = 9000;
const H = 2000;

class World {
  t = 0;
}

function clockOf(world: World, offsetMs: number): LeaseClock {
  return {
    now: () => 1_750_000_000_000 + world.t,
    monotonic: () => world.t + offsetMs,
    sleep: async () => undefined,
  };
}

let dir: string;
let kv: SqliteKv;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-controller-'));
  kv = await SqliteKv.open(path.join(dir, 'metadata.sqlite'));
});
afterEach(async () => {
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function broker(world: World, nodeId: number, events: string[], offsetMs = nodeId * 1_000_000): ControllerElection {
  return new ControllerElection(kv, {
    nodeId,
    sessionTimeoutMs: T,
    heartbeatIntervalMs: H,
    clock: clockOf(world, offsetMs),
    incarnationId: `incarnation-${nodeId}`,
    onElected: (epoch) => events.push(`${nodeId} elected ${epoch}`),
    onResigned: (why) => events.push(`${nodeId} resigned: ${why}`),
  });
}

const stored = async (): Promise<ControllerRecord> => (await kv.get(CONTROLLER_KEY))!.value as ControllerRecord;

test('the first broker to look becomes the controller; a renewing controller is never replaced', async () => {
  const world = new World();
  const events: string[] = [];
  const a = broker(world, 1, events);
  const b = broker(world, 2, events);
  await a.tick();
  expect(a.isController).toBe(true);
  expect(a.epoch).toBe(1);
  for (let i = 0; i < 20; i++) {
    world.t += H;
    await a.tick();
    await b.tick();
    expect(b.isController).toBe(false);
  }
  expect(events).toEqual(['1 elected 1']);
  expect(await stored()).toMatchObject({ nodeId: 1, epoch: 1, incarnationId: 'incarnation-1' });
});

test('a silent controller is replaced after a session timeout, with the next epoch; waking, it has already resigned', async () => {
  const world = new World();
  const events: string[] = [];
  const a = broker(world, 1, events);
  const b = broker(world, 2, events);
  await a.tick();
  // a is paused from here (no ticks); b watches.
  let tookOverAt = -1;
  for (let i = 0; i < 10 && tookOverAt < 0; i++) {
    await b.tick();
    if (b.isController) tookOverAt = world.t;
    else world.t += H;
  }
  expect(tookOverAt).toBeGreaterThanOrEqual(T);
  expect(b.epoch).toBe(2);
  // By then a's own clock says its lease is over: it never acts as the controller again.
  expect(a.isController).toBe(false);
  await a.tick();
  expect(a.isController).toBe(false);
  expect(events).toEqual(['1 elected 1', '2 elected 2', expect.stringMatching(/^1 resigned: its lease ran out/)]);
  expect(await stored()).toMatchObject({ nodeId: 2, epoch: 2 });
});

test('a controller that stops resigns in the store: a standby takes over at its next look', async () => {
  const world = new World();
  const events: string[] = [];
  const a = broker(world, 1, events);
  const b = broker(world, 2, events);
  await a.tick();
  await b.tick();
  await a.stop();
  expect(a.isController).toBe(false);
  await b.tick();
  expect(b.epoch).toBe(2);
  expect(events).toEqual(['1 elected 1', '1 resigned: it stopped', '2 elected 2']);
});

test('a controller whose record another broker took resigns at its next renewal', async () => {
  const world = new World();
  const events: string[] = [];
  const a = broker(world, 1, events);
  await a.tick();
  const cur = (await kv.get(CONTROLLER_KEY))!;
  await kv.put(CONTROLLER_KEY, { nodeId: 3, epoch: 2, incarnationId: 'someone', leaseExpiresAt: 0 }, cur.version);
  world.t += H;
  await a.tick();
  expect(a.isController).toBe(false);
  expect(events).toEqual(['1 elected 1', '1 resigned: node 3 holds it now (epoch 2)']);
});

test('randomized ticks and pauses of three brokers: never two controllers, epochs only grow', async () => {
  const world = new World();
  const events: string[] = [];
  const brokers = [broker(world, 1, events), broker(world, 2, events), broker(world, 3, events)];
  const pausedUntil = [0, 0, 0];
  const random = seededRng(12345);
  let lastEpoch = 0;
  let changes = 0;
  for (let step = 0; step < 600; step++) {
    world.t += Math.floor(random() * H);
    const i = Math.floor(random() * 3);
    if (pausedUntil[i] <= world.t && random() < 0.03) pausedUntil[i] = world.t + Math.floor(random() * 3 * T);
    if (pausedUntil[i] <= world.t) await brokers[i].tick();
    const controllers = brokers.filter((b) => b.isController);
    expect(controllers.length).toBeLessThanOrEqual(1);
    const epoch = controllers[0]?.epoch ?? lastEpoch;
    expect(epoch).toBeGreaterThanOrEqual(lastEpoch);
    if (epoch > lastEpoch) changes++;
    lastEpoch = epoch;
  }
  // The schedule did exercise takeovers.
  expect(changes).toBeGreaterThan(3);
});
