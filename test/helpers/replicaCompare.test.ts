/**
 * replicaCompare: two broker data dirs with real PartitionLogs (left open, as on running
 * brokers) at `<dataDir>/logs/<topic>-<partition>`, one the leader, one copying its batches as a
 * follower does; then divergences below and at the high watermark.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partitionDirName } from '../../core/log/logManager';
import { PartitionLog } from '../../core/log/partitionLog';
import { batch, makeTmpDir, quiet, removeDir, smallConfig } from '../log/helpers';
import { compareReplicas, readReplicaBatches } from './replicaCompare';

const TOPIC = 'orders';
const PARTITION = 3;

let dataDirs: string[];
let leader: PartitionLog;
let follower: PartitionLog;

/** A PartitionLog where a broker with this data dir keeps the partition. */
function openAt(dataDir: string, segmentBytes: number): PartitionLog {
  const dir = path.join(dataDir, 'logs', partitionDirName(TOPIC, PARTITION));
  fs.mkdirSync(dir, { recursive: true });
  return PartitionLog.open(dir, smallConfig({ segmentBytes }), { logger: quiet });
}

/** The leader's batches from the follower's log end: one fetch, copied byte for byte. */
function replicate(): void {
  const r = leader.read(follower.logEndOffset, 1 << 30, { minOneBatch: true });
  follower.appendAsFollower(Buffer.concat(r.records));
}

beforeEach(() => {
  dataDirs = [makeTmpDir('strata-replica-a-'), makeTmpDir('strata-replica-b-')];
  // Different segment sizes: the replicas roll at different offsets, which must not matter.
  leader = openAt(dataDirs[0], 1024);
  follower = openAt(dataDirs[1], 1 << 20);
  for (const [i, label] of ['a', 'b', 'c', 'd', 'e', 'f'].entries()) {
    leader.append(batch({ count: 3, label, valueSize: 100 }), { leaderEpoch: i < 3 ? 0 : 2, origin: 'client' });
  }
  replicate();
});
afterEach(() => {
  leader.close();
  follower.close();
  for (const d of dataDirs) removeDir(d);
});

test('readReplicaBatches: every batch across segments, in offset order, with its header fields', () => {
  const segments = fs.readdirSync(path.join(dataDirs[0], 'logs', `${TOPIC}-${PARTITION}`)).filter((f) => f.endsWith('.log'));
  expect(segments.length).toBeGreaterThan(1);
  const s = readReplicaBatches(dataDirs[0], TOPIC, PARTITION);
  expect(s.dataDir).toBe(dataDirs[0]);
  expect(s.batches.map((b) => [b.baseOffset, b.lastOffset, b.partitionLeaderEpoch])).toEqual([
    [0n, 2n, 0],
    [3n, 5n, 0],
    [6n, 8n, 0],
    [9n, 11n, 2],
    [12n, 14n, 2],
    [15n, 17n, 2],
  ]);
  const fromLog = leader.read(0n, 1 << 30, { minOneBatch: true }).records;
  expect(Buffer.concat(s.batches.map((b) => b.bytes)).equals(Buffer.concat(fromLog))).toBe(true);
  expect(s.batches[0].crc).toBe(s.batches[0].bytes.readUInt32BE(17));
});

test('the same batches on both replicas: identical, however the segments are cut', () => {
  const r = compareReplicas(dataDirs, TOPIC, PARTITION, leader.logEndOffset);
  expect(r).toEqual({ identical: true, detail: expect.stringContaining('6 batches') });
  expect(r.detail).toContain('offsets 0..17');
});

test('a different batch below the high watermark: not identical, the replica and offset named', () => {
  leader.append(batch({ count: 2, label: 'leader' }), { leaderEpoch: 2, origin: 'client' });
  follower.append(batch({ count: 2, label: 'other' }), { leaderEpoch: 2, origin: 'client' });
  const r = compareReplicas(dataDirs, TOPIC, PARTITION, 20n);
  expect(r.identical).toBe(false);
  expect(r.detail).toContain(dataDirs[1]);
  expect(r.detail).toContain('at offset 18');
  expect(r.detail).toContain('crc');
});

test('the same records under another leader epoch differ (the epoch is part of the bytes)', () => {
  leader.append(batch({ count: 2, label: 'x' }), { leaderEpoch: 2, origin: 'client' });
  follower.append(batch({ count: 2, label: 'x' }), { leaderEpoch: 3, origin: 'client' });
  const r = compareReplicas(dataDirs, TOPIC, PARTITION, 20n);
  expect(r.identical).toBe(false);
  expect(r.detail).toMatch(/at offset 18 .*leader epoch 3 vs 2/);
});

test('a batch missing on one replica below the high watermark', () => {
  leader.append(batch({ count: 2, label: 'late' }), { leaderEpoch: 2, origin: 'client' });
  const r = compareReplicas(dataDirs, TOPIC, PARTITION, 20n);
  expect(r.identical).toBe(false);
  expect(r.detail).toContain('at offset 18');
  expect(r.detail).toContain('missing');
  // The other way round: the extra batch is on the replica compared.
  expect(compareReplicas([dataDirs[1], dataDirs[0]], TOPIC, PARTITION, 20n).detail).toContain('extra batch 18..19');
});

test('differences at or above the high watermark do not count', () => {
  leader.append(batch({ count: 2, label: 'leader' }), { leaderEpoch: 2, origin: 'client' });
  follower.append(batch({ count: 2, label: 'other' }), { leaderEpoch: 2, origin: 'client' });
  leader.append(batch({ count: 1, label: 'only-leader' }), { leaderEpoch: 2, origin: 'client' });
  // HW 18: the differing batch 18..19 is at it; HW 19: it straddles the HW (lastOffset 19 ≥ 19).
  for (const hw of [18n, 19n]) {
    expect(compareReplicas(dataDirs, TOPIC, PARTITION, hw)).toEqual({ identical: true, detail: expect.stringContaining('6 batches') });
  }
});

test('a partial batch at a segment tail (an append in progress) is ignored', () => {
  const dir = path.join(dataDirs[1], 'logs', `${TOPIC}-${PARTITION}`);
  const last = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().at(-1)!;
  const whole = readReplicaBatches(dataDirs[1], TOPIC, PARTITION).batches;
  const next = batch({ count: 2, label: 'torn' });
  next.writeBigInt64BE(18n, 0);
  fs.appendFileSync(path.join(dir, last), next.subarray(0, next.length - 5));
  expect(readReplicaBatches(dataDirs[1], TOPIC, PARTITION).batches).toEqual(whole);
  expect(compareReplicas(dataDirs, TOPIC, PARTITION, 100n).identical).toBe(true);
});

test('a header cut short is ignored too', () => {
  const dir = path.join(dataDirs[1], 'logs', `${TOPIC}-${PARTITION}`);
  const last = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().at(-1)!;
  fs.appendFileSync(path.join(dir, last), batch({ count: 1 }).subarray(0, 20));
  expect(readReplicaBatches(dataDirs[1], TOPIC, PARTITION).batches).toHaveLength(6);
});

test('more than two replicas: each differing one is named', () => {
  const third = makeTmpDir('strata-replica-c-');
  try {
    const log = openAt(third, 1 << 20);
    try {
      log.appendAsFollower(Buffer.concat(leader.read(0n, 1 << 30, { minOneBatch: true }).records));
      expect(compareReplicas([...dataDirs, third], TOPIC, PARTITION, 18n).identical).toBe(true);
      log.append(batch({ count: 1, label: 'stray' }), { leaderEpoch: 2, origin: 'client' });
      leader.append(batch({ count: 1, label: 'good' }), { leaderEpoch: 2, origin: 'client' });
      replicate();
      const r = compareReplicas([...dataDirs, third], TOPIC, PARTITION, 19n);
      expect(r.identical).toBe(false);
      expect(r.detail).toContain(third);
      expect(r.detail).not.toContain(`${dataDirs[1]} differs`);
    } finally {
      log.close();
    }
  } finally {
    removeDir(third);
  }
});

test('a data dir without the partition is an error, not an empty replica', () => {
  expect(() => readReplicaBatches(dataDirs[0], 'no-such-topic', 0)).toThrow(/ENOENT/);
});
