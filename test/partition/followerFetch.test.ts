import { createLogger } from '../../core/common/logger';
import { resolveTopicConfig } from '../../core/config/topicConfig';
import { PartitionLog } from '../../core/log/partitionLog';
import { Partition } from '../../core/partition/partition';
import { batch, makeTmpDir, quiet, removeDir, smallConfig } from '../log/helpers';

/**
 * A leader's side of replication in Partition: followers' fetches read up to the log end, their
 * fetch offsets move the high watermark to the ISR's lowest log end, waiting listeners (the
 * acks=all purgatory) hear of it, and a broker outside the assignment is refused.
 */
let dir: string;
let log: PartitionLog;
let partition: Partition;

beforeEach(() => {
  dir = makeTmpDir('strata-follower-fetch-');
  log = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet, replicated: true });
  partition = new Partition('t', 'id', 0, log, resolveTopicConfig({}), 0, 1, createLogger('test', () => undefined));
});
afterEach(() => {
  log.close();
  removeDir(dir);
});

const append = (count: number): void => {
  const r = partition.appendRecordsAsLeader(batch({ count }), { acks: -1, origin: 'client', transactionalId: null });
  expect(r.errorCode).toBe(0);
};

test('alone in its ISR, the leader\'s high watermark follows its log end', () => {
  append(5);
  expect(partition.highWatermark).toBe(5n);
  expect(partition.isr).toEqual([1]);
});

test('with followers, the high watermark waits for the ISR; their fetches read to the log end and move it', async () => {
  partition.setReplicaAssignment([1, 2, 3], [1, 2, 3]);
  append(5);
  append(5);
  expect(partition.logEndOffset).toBe(10n);
  expect(partition.highWatermark).toBe(0n);
  // A consumer sees nothing yet.
  expect((await partition.read(0n, 1 << 20, { minOneBatch: true })).bytes).toBe(0);
  let woken = 0;
  partition.onAppend(() => woken++);
  // Follower 2 reads everything (to the log end), then reports having it by fetching from 10.
  const copy = await partition.read(0n, 1 << 20, { minOneBatch: true, follower: 2 });
  expect(copy.nextOffset).toBe(10n);
  await partition.read(10n, 1 << 20, { minOneBatch: true, follower: 2 });
  expect(partition.highWatermark).toBe(0n); // 3 has not fetched
  await partition.read(5n, 1 << 20, { minOneBatch: true, follower: 3 });
  expect(partition.highWatermark).toBe(5n);
  expect(woken).toBe(1);
  await partition.read(10n, 1 << 20, { minOneBatch: true, follower: 3 });
  expect(partition.highWatermark).toBe(10n);
  expect((await partition.read(0n, 1 << 20, { minOneBatch: true })).nextOffset).toBe(10n);
  // Not a replica of this partition: Kafka's NOT_LEADER_OR_FOLLOWER.
  await expect(partition.read(0n, 1 << 20, { minOneBatch: true, follower: 7 })).rejects.toMatchObject({ code: 'NOT_LEADER_OR_FOLLOWER' });
});
