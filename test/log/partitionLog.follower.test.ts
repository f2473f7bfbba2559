import * as fs from 'node:fs';
import * as path from 'node:path';
import { PartitionLog } from '../../core/log/partitionLog';
import { emptyBatch, readStoredBatch } from '../../core/log/batchFilter';
import { stampBatch } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { batch, codeOf, fixCrc, makeTmpDir, quiet, readAll, recordsOf, removeDir, smallConfig } from './helpers';

/** An idempotent batch of producer 7, epoch 0. */
const idempotent = (count: number, label: string, baseSequence: number): Buffer =>
  buildRecordBatch({ records: recordsOf({ count, label }), producerId: 7n, producerEpoch: 0, baseSequence });

/**
 * PartitionLog.appendAsFollower: a follower copies its leader's batches byte for byte (offsets,
 * timestamps and leader epochs as the leader stamped them), so replicas are identical files.
 */
let leaderDir: string;
let followerDir: string;
let leader: PartitionLog;
let follower: PartitionLog;

beforeEach(() => {
  leaderDir = makeTmpDir('strata-leader-');
  followerDir = makeTmpDir('strata-follower-');
  // Large enough segments that both logs roll at the same batches.
  leader = PartitionLog.open(leaderDir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
  follower = PartitionLog.open(followerDir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
});
afterEach(() => {
  leader.close();
  follower.close();
  removeDir(leaderDir);
  removeDir(followerDir);
});

/** The leader's bytes from `from` to its end, as a fetch would carry them. */
function fetchFrom(log: PartitionLog, from: bigint): Buffer {
  return Buffer.concat(log.read(from, 1 << 30, { minOneBatch: true }).records);
}

const segmentBytes = (dir: string): Buffer => Buffer.concat(fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => fs.readFileSync(path.join(dir, f))));

test('copied fetches make an identical log: bytes, offsets, leader epochs, producer state', () => {
  leader.append(batch({ count: 3, label: 'a' }), { leaderEpoch: 0, origin: 'client' });
  leader.append(idempotent(2, 'b', 0), { leaderEpoch: 0, origin: 'client' });
  follower.appendAsFollower(fetchFrom(leader, 0n));
  // A new leader epoch starts; the follower catches up in a second fetch.
  leader.append(idempotent(4, 'c', 2), { leaderEpoch: 3, origin: 'client' });
  leader.append(batch({ count: 1, label: 'd' }), { leaderEpoch: 3, origin: 'client' });
  const r = follower.appendAsFollower(fetchFrom(leader, follower.logEndOffset));
  expect(r).toMatchObject({ baseOffset: 5n, lastOffset: 9n, duplicate: false });

  expect(follower.logEndOffset).toBe(leader.logEndOffset);
  expect(segmentBytes(followerDir).equals(segmentBytes(leaderDir))).toBe(true);
  expect(readAll(follower)).toEqual(readAll(leader));
  expect(follower.leaderEpochs.entries).toEqual([
    { epoch: 0, startOffset: 0n },
    { epoch: 3, startOffset: 5n },
  ]);
  expect(follower.leaderEpochs.entries).toEqual(leader.leaderEpochs.entries);
  // The follower knows producer 7's sequence: as a new leader it would deduplicate its retries.
  const retry = idempotent(4, 'c', 2);
  expect(follower.append(retry, { leaderEpoch: 4, origin: 'client' })).toMatchObject({ duplicate: true, baseOffset: 5n, lastOffset: 8n });

  // Reopened, the follower keeps all of it.
  follower.close();
  follower = PartitionLog.open(followerDir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
  expect(follower.leaderEpochs.entries).toEqual(leader.leaderEpochs.entries);
  expect(readAll(follower)).toEqual(readAll(leader));
});

test('compacted batches are copied as they are: records with offset gaps inside a batch, and a batch emptied to its header', () => {
  // What the cleaner leaves: a batch of offsets 0..5 holding only 0, 2 and 5, then a batch of
  // 6..8 emptied to its header (Kafka's RETAIN_EMPTY, e.g. a producer's last batch).
  const gapped = buildRecordBatch({ records: [0, 2, 5].map((d) => ({ key: Buffer.from(`k${d}`), value: Buffer.from(`v${d}`), offsetDelta: d })) });
  stampBatch(gapped, 0, 0n, 0);
  const full = idempotent(3, 'e', 0);
  stampBatch(full, 0, 6n, 0);
  const emptied = emptyBatch(full, readStoredBatch(full));
  const r = follower.appendAsFollower(Buffer.concat([gapped, emptied]));
  expect(r).toMatchObject({ baseOffset: 0n, lastOffset: 8n });
  expect(follower.logEndOffset).toBe(9n);
  expect(readAll(follower).map(([o]) => o)).toEqual([0n, 2n, 5n]);
  // The emptied batch still carries producer 7's last sequence: a retry of it is a duplicate.
  expect(follower.append(idempotent(3, 'e', 0), { leaderEpoch: 1, origin: 'client' })).toMatchObject({ duplicate: true });
});

test('gaps a compacted leader leaves are kept; batches below the log end or out of order are refused whole', () => {
  const first = batch({ count: 2, label: 'x' });
  stampBatch(first, 0, 10n, 1);
  const second = batch({ count: 1, label: 'y' });
  stampBatch(second, 0, 20n, 1);
  follower.appendAsFollower(Buffer.concat([first, second]));
  expect(follower.logEndOffset).toBe(21n);
  expect(readAll(follower, 12n).map(([o]) => o)).toEqual([20n]);
  expect(follower.leaderEpochs.entries).toEqual([{ epoch: 1, startOffset: 10n }]);

  const below = batch({ count: 1 });
  stampBatch(below, 0, 20n, 1);
  expect(codeOf(() => follower.appendAsFollower(below))).toBe('UNEXPECTED_APPEND_OFFSET');
  const a = batch({ count: 2 });
  stampBatch(a, 0, 30n, 2);
  const b = batch({ count: 1 });
  stampBatch(b, 0, 31n, 2); // inside the previous batch
  const sizeBefore = segmentBytes(followerDir).length;
  expect(codeOf(() => follower.appendAsFollower(Buffer.concat([a, b])))).toBe('UNEXPECTED_APPEND_OFFSET');
  // Nothing of it was written, nor its epoch recorded.
  expect(segmentBytes(followerDir).length).toBe(sizeBefore);
  expect(follower.logEndOffset).toBe(21n);
  expect(follower.leaderEpochs.latestEpoch).toBe(1);
});

test('a corrupt copy is refused and nothing is written', () => {
  const bytes = batch({ count: 3 });
  stampBatch(bytes, 0, 0n, 0);
  bytes[bytes.length - 1] ^= 0xff;
  expect(codeOf(() => follower.appendAsFollower(bytes))).toBe('BATCH_CORRUPT');
  expect(follower.logEndOffset).toBe(0n);
  fixCrc(bytes);
  follower.appendAsFollower(bytes);
  expect(follower.logEndOffset).toBe(3n);
});

describe('a replicated log: the high watermark is set, not moved by appends', () => {
  test('reads stop at the high watermark its partition sets; it is bounded by the log start and end', () => {
    const dir = makeTmpDir('strata-replicated-');
    const open = (): PartitionLog => PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet, replicated: true });
    let log = open();
    try {
      let woken = 0;
      log.onAppend(() => woken++);
      log.append(batch({ count: 4, label: 'a' }), { leaderEpoch: 0 });
      log.append(batch({ count: 4, label: 'b' }), { leaderEpoch: 0 });
      expect(log.logEndOffset).toBe(8n);
      expect(log.highWatermark).toBe(0n);
      // What a consumer may read: up to the high watermark (Partition.read passes it as maxOffset).
      const visible = (): bigint => log.read(0n, 1 << 20, { minOneBatch: true, maxOffset: log.highWatermark }).nextOffset;
      expect(visible()).toBe(0n);
      expect(woken).toBe(2);

      // A leader's ISR caught up to 4: the first batch becomes readable.
      expect(log.maybeIncrementHighWatermark(4n)).toBe(true);
      expect(woken).toBe(3);
      expect(visible()).toBe(4n);
      expect(log.maybeIncrementHighWatermark(2n)).toBe(false); // never back for a leader
      expect(log.highWatermark).toBe(4n);
      // A follower takes its leader's, within its own log: never past its end.
      expect(log.updateHighWatermark(50n)).toBe(8n);
      expect(log.updateHighWatermark(6n)).toBe(6n);
      // Retention and DeleteRecords never go past it.
      expect(codeOf(() => log.deleteSegmentsBelow(7n))).toBe('OFFSET_OUT_OF_RANGE');
      log.close();

      // Reopened, it starts at the log start until the partition knows better.
      log = open();
      expect(log.highWatermark).toBe(0n);
      expect(log.logEndOffset).toBe(8n);
    } finally {
      log.close();
      removeDir(dir);
    }
  });
});
