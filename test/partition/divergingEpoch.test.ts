import { createLogger } from '../../core/common/logger';
import { resolveTopicConfig } from '../../core/config/topicConfig';
import { PartitionLog } from '../../core/log/partitionLog';
import { Partition } from '../../core/partition/partition';
import { batch, codeOf, makeTmpDir, quiet, removeDir, smallConfig } from '../log/helpers';

/**
 * Partition.divergingEpoch and endOffsetForEpoch: what a leader tells a follower whose log has
 * diverged (KIP-595, Kafka's Partition.readRecords), on a log written by epochs 0 and 2 and led
 * now at epoch 3, which has not written yet.
 */
let dir: string;
let log: PartitionLog;
let partition: Partition;

beforeEach(() => {
  dir = makeTmpDir('strata-diverging-');
  log = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 20 }), { logger: quiet });
  log.append(batch({ count: 5 }), { leaderEpoch: 0 }); // 0..4
  log.append(batch({ count: 5 }), { leaderEpoch: 2 }); // 5..9
  partition = new Partition('t', 'id', 0, log, resolveTopicConfig({}), 3, 1, createLogger('test', () => undefined));
});
afterEach(() => {
  log.close();
  removeDir(dir);
});

test('a leader epoch that has not written yet counts from the log end', () => {
  expect(partition.endOffsetForEpoch(0)).toEqual({ leaderEpoch: 0, endOffset: 5n });
  expect(partition.endOffsetForEpoch(1)).toEqual({ leaderEpoch: 0, endOffset: 5n });
  expect(partition.endOffsetForEpoch(2)).toEqual({ leaderEpoch: 2, endOffset: 10n });
  expect(partition.endOffsetForEpoch(3)).toEqual({ leaderEpoch: 3, endOffset: 10n });
  expect(partition.endOffsetForEpoch(4)).toEqual({ leaderEpoch: -1, endOffset: -1n });
});

test('followers whose logs agree get records; diverged ones where to truncate', () => {
  // No epoch named (consumers), or logs that agree up to the fetch offset.
  expect(partition.divergingEpoch(7n, -1)).toBeNull();
  expect(partition.divergingEpoch(5n, 0)).toBeNull();
  expect(partition.divergingEpoch(9n, 2)).toBeNull();
  expect(partition.divergingEpoch(10n, 2)).toBeNull();
  // The follower holds epoch 0 past where epoch 0 ended here (it took writes the leader never had).
  expect(partition.divergingEpoch(8n, 0)).toEqual({ epoch: 0, endOffset: 5n });
  // Epoch 1 never wrote here: the follower truncates to the end of epoch 0.
  expect(partition.divergingEpoch(6n, 1)).toEqual({ epoch: 0, endOffset: 5n });
  // Past this log's end in the current epoch.
  expect(partition.divergingEpoch(12n, 3)).toEqual({ epoch: 3, endOffset: 10n });
  // An epoch newer than the leader's cannot be placed.
  expect(codeOf(() => partition.divergingEpoch(3n, 9))).toBe('OFFSET_OUT_OF_RANGE');
});
