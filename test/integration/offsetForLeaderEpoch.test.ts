/**
 * OffsetForLeaderEpoch (api key 23) against a real broker process, every version of the schema
 * (0-4): where an epoch ends (the log end for the current one), an unknown newer epoch, fencing by
 * current_leader_epoch, unknown partitions, and the leader-epoch checkpoint across a restart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { OffsetForLeaderEpochResponse } from '../../core/protocol/generated/OffsetForLeaderEpochResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'epochs-test' });
  await client.createTopics([{ name: 'epochs', numPartitions: 2, replicationFactor: 1 }]);
  await client.produce('epochs', 0, Array.from({ length: 30 }, (_, i) => ({ value: `v${i}` })));
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

async function ask(version: number, partitions: Array<{ partition: number; leaderEpoch: number; currentLeaderEpoch?: number }>, topic = 'epochs') {
  const conn = await client.brokerConnection();
  const res = await conn.send<OffsetForLeaderEpochResponse>(
    ApiKey.OffsetForLeaderEpoch,
    { replicaId: -1, topics: [{ topic, partitions: partitions.map((p) => ({ currentLeaderEpoch: -1, ...p })) }] },
    { version },
  );
  expect(res.topics.map((t) => t.topic)).toEqual([topic]);
  return res.topics[0].partitions;
}

test.each([0, 1, 2, 3, 4])('v%i: the current epoch ends at the log end; an epoch never seen answers -1', async (version) => {
  const [p0, p1, unknown] = await ask(version, [
    { partition: 0, leaderEpoch: 0 },
    { partition: 1, leaderEpoch: 0 },
    { partition: 0, leaderEpoch: 5 },
  ]);
  expect(p0).toMatchObject({ partition: 0, errorCode: ErrorCode.NONE, endOffset: 30n });
  // An empty partition has no epoch yet: nothing was appended.
  expect(p1).toMatchObject({ partition: 1, errorCode: ErrorCode.NONE, endOffset: -1n });
  expect(unknown).toMatchObject({ partition: 0, errorCode: ErrorCode.NONE, endOffset: -1n });
  // leader_epoch is in the answer from v1 (v0 decodes it as the default, -1).
  expect(p0.leaderEpoch).toBe(version >= 1 ? 0 : -1);
});

test('current_leader_epoch fences (v2+), unknown topics and partitions are named', async () => {
  const [newer] = await ask(2, [{ partition: 0, leaderEpoch: 0, currentLeaderEpoch: 3 }]);
  expect(newer.errorCode).toBe(ErrorCode.UNKNOWN_LEADER_EPOCH);
  const [same] = await ask(3, [{ partition: 0, leaderEpoch: 0, currentLeaderEpoch: 0 }]);
  expect(same).toMatchObject({ errorCode: ErrorCode.NONE, leaderEpoch: 0, endOffset: 30n });
  const [missingPartition] = await ask(4, [{ partition: 9, leaderEpoch: 0 }]);
  expect(missingPartition.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const [missingTopic] = await ask(4, [{ partition: 0, leaderEpoch: 0 }], 'no-such-topic');
  expect(missingTopic.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
});

test('the leader-epoch checkpoint is on disk and survives a restart', async () => {
  const file = path.join(broker.dataDir, 'logs', 'epochs-0', 'leader-epoch-checkpoint');
  expect(fs.readFileSync(file, 'utf8')).toBe('0\n1\n0 0\n');
  await client.close();
  broker = await broker.restart();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'epochs-test' });
  await client.produce('epochs', 0, [{ value: 'after restart' }]);
  const [p0] = await ask(4, [{ partition: 0, leaderEpoch: 0 }]);
  expect(p0).toMatchObject({ errorCode: ErrorCode.NONE, leaderEpoch: 0, endOffset: 31n });
});
