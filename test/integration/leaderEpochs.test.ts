/**
 * Leader epochs against a real broker process: OffsetForLeaderEpoch (api key 23) in every version
 * of the schema (0-4) — where an epoch ends (the log end for the current one), an unknown newer
 * epoch, fencing by current_leader_epoch, unknown partitions — Fetch v12+'s diverging epoch for a
 * fetcher that names its last fetched epoch, and the leader-epoch checkpoint across a restart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { OffsetForLeaderEpochResponse } from '../../core/protocol/generated/OffsetForLeaderEpochResponse';
import type { FetchResponse } from '../../core/protocol/generated/FetchResponse';
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
  // An empty partition: the leader's epoch counts from the log end, 0 (Kafka assigns it at takeover).
  expect(p1).toMatchObject({ partition: 1, errorCode: ErrorCode.NONE, endOffset: 0n });
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

async function fetchAt(fetchOffset: bigint, lastFetchedEpoch: number) {
  const conn = await client.brokerConnection();
  const res = await conn.send<FetchResponse>(
    ApiKey.Fetch,
    {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic: 'epochs', partitions: [{ partition: 0, currentLeaderEpoch: 0, fetchOffset, lastFetchedEpoch, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [],
      rackId: '',
    },
    { version: 12 },
  );
  return res.responses[0].partitions[0];
}

test('Fetch v12: a fetcher past this log in its last epoch gets diverging_epoch, not records', async () => {
  const agreeing = await fetchAt(20n, 0);
  expect(agreeing.errorCode).toBe(ErrorCode.NONE);
  expect(agreeing.divergingEpoch).toEqual({ epoch: -1, endOffset: -1n }); // absent: the default
  expect(agreeing.records?.length ?? 0).toBeGreaterThan(0);
  const diverged = await fetchAt(45n, 0);
  expect(diverged.errorCode).toBe(ErrorCode.NONE);
  expect(diverged.divergingEpoch).toEqual({ epoch: 0, endOffset: 30n });
  expect(diverged.records?.length ?? 0).toBe(0);
  // An epoch newer than the leader's cannot be placed in its log.
  expect((await fetchAt(10n, 7)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
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
