/**
 * ReplicaFetcher against a real broker process as the leader: a follower's logs become
 * byte-for-byte copies of the leader's segment files (offsets, leader epochs, producer state),
 * its high watermark follows the leader's, a divergent tail is truncated on the leader's
 * diverging_epoch, a fetch offset below the leader's log start starts the copy over there, and
 * partitions the leader does not have are parked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import { createLogger } from '../../core/common/logger';
import { PartitionLog } from '../../core/log/partitionLog';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { ReplicaFetcher, type FollowerPartition } from '../../core/replication/replicaFetcher';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';
import { batch, makeTmpDir, quiet, readAll, recordsOf, removeDir, smallConfig } from '../log/helpers';

let broker: BrokerProcess;
let client: StrataClient;
let topicId: string;
const lines: string[] = [];
const logger = createLogger('fetcher', (l) => lines.push(l));
const dirs: string[] = [];
const logs: PartitionLog[] = [];
const fetchers: ReplicaFetcher[] = [];

beforeAll(async () => {
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'fetcher-test' });
  await client.createTopics([{ name: 'rep', numPartitions: 3, replicationFactor: 1 }]);
  topicId = (await client.topicInfo('rep')).topicId;
});

afterAll(async () => {
  for (const f of fetchers) await f.stop();
  for (const l of logs) if (!l.isClosed) l.close();
  for (const d of dirs) removeDir(d);
  await client?.close();
  await stopAllBrokers();
});

function followerLog(): PartitionLog {
  const dir = makeTmpDir('strata-follower-');
  dirs.push(dir);
  const log = PartitionLog.open(dir, smallConfig({ segmentBytes: 1 << 30 }), { logger: quiet, replicated: true });
  logs.push(log);
  return log;
}

/**
 * The broker under test leads its partitions alone (replicas = itself), so a follower's fetch
 * from another broker id is refused (last test); the copies here fetch with replica id -1, as a
 * consumer, which on a single broker reads the same bytes (its high watermark is its log end).
 */
function fetcherFor(...partitions: FollowerPartition[]): ReplicaFetcher {
  return fetcherAs(-1, ...partitions);
}

function fetcherAs(replicaId: number, ...partitions: FollowerPartition[]): ReplicaFetcher {
  const f = new ReplicaFetcher({
    replicaId,
    brokerEpoch: 1n,
    connect: () => KafkaConnection.connect({ host: broker.host, port: broker.port, clientId: 'replica-2' }),
    logger,
    maxWaitMs: 50,
    backoffMs: 50,
  });
  for (const p of partitions) f.addPartition(p);
  fetchers.push(f);
  return f;
}

const leaderDir = (p: number): string => path.join(broker.dataDir, 'logs', `rep-${p}`);
const logBytes = (dir: string): Buffer => Buffer.concat(fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => fs.readFileSync(path.join(dir, f))));

async function catchUp(f: ReplicaFetcher, log: PartitionLog, end: bigint): Promise<void> {
  for (let i = 0; i < 100 && (log.logEndOffset < end || log.highWatermark < end); i++) await f.fetchOnce();
  expect(log.logEndOffset).toBe(end);
}

test('a follower copies the leader byte for byte and follows its high watermark', async () => {
  for (let i = 0; i < 20; i++) await client.produce('rep', 0, recordsOf({ count: 5, label: `b${i}` }).map((r) => ({ key: r.key, value: r.value })));
  const idempotent = buildRecordBatch({ records: recordsOf({ count: 3, label: 'idem' }), producerId: 4000n, producerEpoch: 0, baseSequence: 0 });
  await client.produce('rep', 0, idempotent);
  const log = followerLog();
  const f = fetcherFor({ topic: 'rep', topicId, partition: 0, log, leaderEpoch: 0 });
  await catchUp(f, log, 103n);
  expect(log.highWatermark).toBe(103n);
  expect(logBytes(log.dir).equals(logBytes(leaderDir(0)))).toBe(true);
  expect(log.leaderEpochs.entries).toEqual([{ epoch: 0, startOffset: 0n }]);
  expect(log.producerState.activeProducers().map((p) => p.producerId)).toEqual([4000n]);
});

test('a divergent tail is truncated on the leader\'s diverging epoch, then the copy goes on', async () => {
  await client.produce('rep', 1, recordsOf({ count: 10, label: 'leader' }).map((r) => ({ value: r.value })));
  const log = followerLog();
  const f = fetcherFor({ topic: 'rep', topicId, partition: 1, log, leaderEpoch: 0 });
  await catchUp(f, log, 10n);
  // Writes the leader never had (as if this replica had led in epoch 0 for a moment).
  log.append(batch({ count: 7, label: 'stray' }), { leaderEpoch: 0 });
  expect(log.logEndOffset).toBe(17n);
  await f.fetchOnce();
  expect(log.logEndOffset).toBe(10n);
  expect(lines.some((l) => /rep-1: truncating to 10: the log diverged from the leader's \(epoch 0 ends at 10 there\)/.test(l))).toBe(true);
  await client.produce('rep', 1, recordsOf({ count: 4, label: 'more' }).map((r) => ({ value: r.value })));
  await catchUp(f, log, 14n);
  expect(logBytes(log.dir).equals(logBytes(leaderDir(1)))).toBe(true);
  expect(readAll(log).every(([, v]) => !v?.startsWith('stray'))).toBe(true);
});

test('below the leader\'s log start the copy starts over there; unknown partitions are parked', async () => {
  await client.produce('rep', 2, recordsOf({ count: 30, label: 'old' }).map((r) => ({ value: r.value })));
  await client.deleteRecords([{ topic: 'rep', partition: 2, offset: 30n }]);
  await client.produce('rep', 2, recordsOf({ count: 5, label: 'new' }).map((r) => ({ value: r.value })));
  const log = followerLog();
  const missing = followerLog();
  const f = fetcherFor({ topic: 'rep', topicId, partition: 2, log, leaderEpoch: 0 }, { topic: 'rep', topicId, partition: 9, log: missing, leaderEpoch: 0 });
  await catchUp(f, log, 35n);
  expect(log.logStartOffset).toBe(30n);
  expect(readAll(log).map(([o]) => o)).toEqual([30n, 31n, 32n, 33n, 34n]);
  expect(f.status().find((s) => s.partition === 9)).toMatchObject({ state: 'parked', reason: 'the leader answered UNKNOWN_TOPIC_OR_PARTITION' });
});

test('running, it keeps up with the leader until stopped', async () => {
  const log = followerLog();
  const f = fetcherFor({ topic: 'rep', topicId, partition: 0, log, leaderEpoch: 0 });
  f.start();
  await client.produce('rep', 0, recordsOf({ count: 7, label: 'live' }).map((r) => ({ value: r.value })));
  await waitFor(() => log.logEndOffset === 110n && log.highWatermark === 110n, { timeoutMs: 10_000, message: 'the follower at the leader\'s end' });
  await f.stop();
  expect(logBytes(log.dir).equals(logBytes(leaderDir(0)))).toBe(true);
});

test('a broker that is not one of the partition\'s replicas is refused as Kafka refuses it, and parked', async () => {
  const log = followerLog();
  const f = fetcherAs(2, { topic: 'rep', topicId, partition: 0, log, leaderEpoch: 0 });
  await f.fetchOnce();
  expect(log.logEndOffset).toBe(0n);
  expect(f.status()).toEqual([{ topic: 'rep', partition: 0, state: 'parked', reason: 'the leader answered NOT_LEADER_OR_FOLLOWER' }]);
});

test('a partition added while a long poll is out is fetched at once, not when the poll ends', async () => {
  // Partition 1 has nothing new: the running fetcher's poll for it waits out its whole max wait.
  const idle = followerLog();
  idle.truncateFullyAndStartAt((await client.listOffsets('rep', 1, -1n)).offset);
  const f = new ReplicaFetcher({
    replicaId: -1,
    brokerEpoch: 1n,
    connect: () => KafkaConnection.connect({ host: broker.host, port: broker.port, clientId: 'replica-2' }),
    logger,
    maxWaitMs: 120_000,
    backoffMs: 120_000,
  });
  fetchers.push(f);
  f.addPartition({ topic: 'rep', topicId, partition: 1, log: idle, leaderEpoch: 0 });
  f.start();
  await waitFor(() => f.polling, { timeoutMs: 10_000, message: 'a fetch out for partition 1' });
  await client.produce('rep', 0, recordsOf({ count: 5, label: 'added' }).map((r) => ({ value: r.value })));
  const log = followerLog();
  const end = (await client.listOffsets('rep', 0, -1n)).offset;
  f.addPartition({ topic: 'rep', topicId, partition: 0, log, leaderEpoch: 0 });
  // Without cutting the poll short, partition 0 would wait two minutes; a failed fetch would back off as long.
  await waitFor(() => log.logEndOffset === end, { timeoutMs: 20_000, message: `the added partition copied to ${end} (at ${log.logEndOffset})` });
  await f.stop();
  expect(logBytes(log.dir).equals(logBytes(leaderDir(0)))).toBe(true);
});
