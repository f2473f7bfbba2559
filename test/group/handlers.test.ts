/**
 * The group APIs' handlers on an in-process broker, over real sockets with the project's own
 * client connection: what changes per request version (the state machine itself is covered
 * by coordinator.test.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Broker } from '../../core/broker/broker';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { createLogger } from '../../core/common/logger';
import { KafkaConnection } from '../../core/client/connection';
import { ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { waitFor } from '../helpers/waitFor';
import { subscription } from './helpers';

let dataDir: string;
let broker: Broker;
let conn: KafkaConnection;
const lines: string[] = [];
const conns: KafkaConnection[] = [];

async function startBroker(): Promise<Broker> {
  const config = loadBrokerConfig({
    flags: { 'log.dirs': dataDir, listeners: 'PLAINTEXT://127.0.0.1:0', 'group.initial.rebalance.delay.ms': '0', 'group.min.session.timeout.ms': '100' },
  });
  return Broker.start(config, createLogger('broker', (l) => lines.push(l)));
}

async function connect(clientId = 'handlers-test'): Promise<KafkaConnection> {
  const c = await KafkaConnection.connect({ host: broker.endpoint.host, port: broker.endpoint.port, clientId });
  conns.push(c);
  return c;
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-group-handlers-'));
  broker = await startBroker();
  await broker.context.topicAdmin.create('t1', 3, 1, {});
  await broker.context.topicAdmin.create('t2', 1, 1, {});
  conn = await connect();
});

afterAll(async () => {
  for (const c of conns) c.close();
  await broker?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const protocols = [{ name: 'range', metadata: subscription('t1') }];

function join(c: KafkaConnection, version: number, req: Record<string, unknown>) {
  return c.send(ApiKey.JoinGroup, { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', protocolType: 'consumer', protocols, ...req }, { version });
}

/** A member of its own group: join (with the v4+ handshake), sync as leader. */
async function soloMember(groupId: string, version = 5) {
  let j = await join(conn, version, { groupId });
  if (j.errorCode === ErrorCode.MEMBER_ID_REQUIRED) j = await join(conn, version, { groupId, memberId: j.memberId });
  expect(j.errorCode).toBe(ErrorCode.NONE);
  const s = await conn.send(ApiKey.SyncGroup, { groupId, generationId: j.generationId, memberId: j.memberId, protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: j.memberId, assignment: Buffer.from('x') }] }, { version: 5 });
  expect(s.errorCode).toBe(ErrorCode.NONE);
  return { memberId: j.memberId as string, generationId: j.generationId as number };
}

test('ApiVersions advertises every group API from version 0 to the schema\'s newest', () => {
  const v = (k: number) => conn.apiVersions.get(k);
  expect(v(ApiKey.JoinGroup)).toEqual({ minVersion: 0, maxVersion: 9 });
  expect(v(ApiKey.SyncGroup)).toEqual({ minVersion: 0, maxVersion: 5 });
  expect(v(ApiKey.Heartbeat)).toEqual({ minVersion: 0, maxVersion: 4 });
  expect(v(ApiKey.LeaveGroup)).toEqual({ minVersion: 0, maxVersion: 5 });
  expect(v(ApiKey.OffsetCommit)).toEqual({ minVersion: 0, maxVersion: 9 });
  expect(v(ApiKey.OffsetFetch)).toEqual({ minVersion: 0, maxVersion: 9 });
  expect(v(ApiKey.DescribeGroups)).toEqual({ minVersion: 0, maxVersion: 5 });
  expect(v(ApiKey.ListGroups)).toEqual({ minVersion: 0, maxVersion: 5 });
  expect(v(ApiKey.DeleteGroups)).toEqual({ minVersion: 0, maxVersion: 2 });
  expect(v(ApiKey.OffsetDelete)).toEqual({ minVersion: 0, maxVersion: 0 });
});

describe('JoinGroup versions', () => {
  test('v0: no MEMBER_ID_REQUIRED, the session timeout doubles as the rebalance timeout, no protocol is ""', async () => {
    const joinedAt = Date.now();
    const j = await join(conn, 0, { groupId: 'v0', sessionTimeoutMs: 200 });
    expect(j).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1, protocolName: 'range' });
    expect(j.leader).toBe(j.memberId);
    expect(j.memberId).toMatch(/^handlers-test-/);
    const bad = await join(conn, 0, { groupId: 'v0', sessionTimeoutMs: 1 });
    expect(bad).toMatchObject({ errorCode: ErrorCode.INVALID_SESSION_TIMEOUT, protocolName: '', generationId: -1 });
    // The member never syncs: the sync deadline is its rebalance timeout, here the session timeout.
    const t0 = Date.now();
    for (;;) {
      const hb = await conn.send(ApiKey.Heartbeat, { groupId: 'v0', generationId: 1, memberId: j.memberId }, { version: 0 });
      if (hb.errorCode !== ErrorCode.NONE) break;
      if (Date.now() - t0 > 10_000) throw new Error('the member was never removed');
    }
    // Counted from the join, when the member's deadline started (the second join may take a while on a loaded machine).
    expect(Date.now() - joinedAt).toBeGreaterThanOrEqual(180);
  });

  test('v4+: MEMBER_ID_REQUIRED first; v7+: protocol type in the answer and a null protocol name on errors', async () => {
    const first = await join(conn, 7, { groupId: 'v7' });
    expect(first).toMatchObject({ errorCode: ErrorCode.MEMBER_ID_REQUIRED, protocolName: null, protocolType: null });
    const j = await join(conn, 7, { groupId: 'v7', memberId: first.memberId });
    expect(j).toMatchObject({ errorCode: ErrorCode.NONE, protocolType: 'consumer', protocolName: 'range', memberId: first.memberId });
    expect(j.members).toEqual([{ memberId: first.memberId, groupInstanceId: null, metadata: subscription('t1') }]);
  });

  test('v5+: group.instance.id; the returning static leader is told to skip the assignment from v9', async () => {
    const a = await join(conn, 9, { groupId: 'static', groupInstanceId: 'i-1' });
    expect(a.errorCode).toBe(ErrorCode.NONE);
    await conn.send(ApiKey.SyncGroup, { groupId: 'static', generationId: 1, memberId: a.memberId, groupInstanceId: 'i-1', protocolType: 'consumer', protocolName: 'range', assignments: [] }, { version: 5 });
    const again = await join(conn, 9, { groupId: 'static', groupInstanceId: 'i-1' });
    expect(again).toMatchObject({ errorCode: ErrorCode.NONE, skipAssignment: true, generationId: 1 });
    expect(again.leader).toBe(again.memberId);
    const fenced = await conn.send(ApiKey.Heartbeat, { groupId: 'static', generationId: 1, memberId: a.memberId, groupInstanceId: 'i-1' }, { version: 4 });
    expect(fenced.errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
  });

  test('members carry the client id of their JoinGroup and Kafka\'s host format', async () => {
    const other = await connect('other-client');
    let j = await join(other, 5, { groupId: 'described' });
    j = await join(other, 5, { groupId: 'described', memberId: j.memberId });
    await other.send(ApiKey.SyncGroup, { groupId: 'described', generationId: j.generationId, memberId: j.memberId, assignments: [{ memberId: j.memberId, assignment: Buffer.from('asg') }] }, { version: 3 });
    const d = await conn.send(ApiKey.DescribeGroups, { groups: ['described', 'nope'], includeAuthorizedOperations: false }, { version: 4 });
    expect(d.groups[0]).toMatchObject({ errorCode: 0, groupId: 'described', groupState: 'Stable', protocolType: 'consumer', protocolData: 'range' });
    expect(d.groups[0].members).toEqual([
      { memberId: j.memberId, groupInstanceId: null, clientId: 'other-client', clientHost: '/127.0.0.1', memberMetadata: subscription('t1'), memberAssignment: Buffer.from('asg') },
    ]);
    expect(d.groups[1]).toMatchObject({ errorCode: 0, groupId: 'nope', groupState: 'Dead', members: [] });
  });
});

describe('SyncGroup, Heartbeat and LeaveGroup versions', () => {
  test('SyncGroup v5 needs the protocol type and name (INCONSISTENT_GROUP_PROTOCOL), and returns them', async () => {
    let j = await join(conn, 5, { groupId: 's5' });
    j = await join(conn, 5, { groupId: 's5', memberId: j.memberId });
    const base = { groupId: 's5', generationId: j.generationId, memberId: j.memberId, assignments: [{ memberId: j.memberId, assignment: Buffer.from('a') }] };
    expect((await conn.send(ApiKey.SyncGroup, base, { version: 5 })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await conn.send(ApiKey.SyncGroup, { ...base, protocolType: 'consumer', protocolName: 'roundrobin' }, { version: 5 })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const ok = await conn.send(ApiKey.SyncGroup, { ...base, protocolType: 'consumer', protocolName: 'range' }, { version: 5 });
    expect(ok).toMatchObject({ errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: Buffer.from('a') });
    for (const version of [0, 1, 2, 3, 4]) {
      expect((await conn.send(ApiKey.Heartbeat, { groupId: 's5', generationId: j.generationId, memberId: j.memberId }, { version })).errorCode).toBe(ErrorCode.NONE);
    }
  });

  test('LeaveGroup before v3 answers with one top-level error; v3+ per member', async () => {
    const a = await soloMember('leave');
    const unknown = await conn.send(ApiKey.LeaveGroup, { groupId: 'leave', memberId: 'nobody' }, { version: 1 });
    expect(unknown).toMatchObject({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID });
    const batch = await conn.send(ApiKey.LeaveGroup, { groupId: 'leave', members: [{ memberId: 'nobody', groupInstanceId: null }, { memberId: a.memberId, groupInstanceId: null, reason: 'done' }] }, { version: 5 });
    expect(batch).toMatchObject({
      errorCode: 0,
      members: [
        { memberId: 'nobody', groupInstanceId: null, errorCode: ErrorCode.UNKNOWN_MEMBER_ID },
        { memberId: a.memberId, groupInstanceId: null, errorCode: ErrorCode.NONE },
      ],
    });
    const list = await conn.send(ApiKey.ListGroups, { statesFilter: ['Empty'] }, { version: 4 });
    expect(list.groups.map((g: { groupId: string }) => g.groupId)).toContain('leave');
  });
});

describe('offsets', () => {
  test('OffsetCommit v0-v9 and OffsetFetch v1-v9 each see the committed offsets', async () => {
    const topics = (o: bigint) => [{ name: 't1', partitions: [{ partitionIndex: 0, committedOffset: o, committedLeaderEpoch: 4, commitTimestamp: -1n, committedMetadata: `m${o}` }] }];
    for (let version = 0; version <= 9; version++) {
      const r = await conn.send(ApiKey.OffsetCommit, { groupId: 'commits', generationIdOrMemberEpoch: -1, memberId: '', retentionTimeMs: -1n, topics: topics(BigInt(version)) }, { version });
      expect(r.topics).toEqual([{ name: 't1', partitions: [{ partitionIndex: 0, errorCode: 0 }] }]);
      for (const fetchVersion of [1, 5, 7]) {
        const f = await conn.send(ApiKey.OffsetFetch, { groupId: 'commits', topics: [{ name: 't1', partitionIndexes: [0] }], requireStable: true }, { version: fetchVersion });
        expect(f.topics[0].partitions[0]).toMatchObject({ partitionIndex: 0, committedOffset: BigInt(version), metadata: `m${version}`, errorCode: 0 });
        // The leader epoch is carried from OffsetCommit v6 and returned from OffsetFetch v5.
        if (fetchVersion >= 5) expect(f.topics[0].partitions[0].committedLeaderEpoch).toBe(version >= 6 ? 4 : -1);
      }
    }
  });

  test('OffsetFetch: null topics = every committed partition (v2+), several groups (v8+), group errors per version', async () => {
    const commit = (groupId: string, partition: number, o: bigint) =>
      conn.send(ApiKey.OffsetCommit, { groupId, generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 't1', partitions: [{ partitionIndex: partition, committedOffset: o, committedMetadata: null }] }] }, { version: 8 });
    await commit('fa', 1, 11n);
    await commit('fa', 2, 12n);
    await commit('fb', 0, 20n);
    const all = await conn.send(ApiKey.OffsetFetch, { groupId: 'fa', topics: null }, { version: 2 });
    expect(all.errorCode).toBe(0);
    expect(all.topics).toEqual([{ name: 't1', partitions: [
      { partitionIndex: 1, committedOffset: 11n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
      { partitionIndex: 2, committedOffset: 12n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
    ] }]);
    const multi = await conn.send(ApiKey.OffsetFetch, { groups: [{ groupId: 'fa', topics: [{ name: 't1', partitionIndexes: [0, 1] }] }, { groupId: 'fb', topics: null }] }, { version: 8 });
    expect(multi.groups).toEqual([
      { groupId: 'fa', errorCode: 0, topics: [{ name: 't1', partitions: [
        { partitionIndex: 0, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
        { partitionIndex: 1, committedOffset: 11n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
      ] }] },
      { groupId: 'fb', errorCode: 0, topics: [{ name: 't1', partitions: [{ partitionIndex: 0, committedOffset: 20n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 }] }] },
    ]);
  });

  test('OffsetCommit errors come per partition; a member commit checks the generation', async () => {
    const a = await soloMember('member-commits');
    const r = await conn.send(ApiKey.OffsetCommit, {
      groupId: 'member-commits', generationIdOrMemberEpoch: a.generationId, memberId: a.memberId,
      topics: [
        { name: 't1', partitions: [{ partitionIndex: 0, committedOffset: 5n, committedMetadata: 'x'.repeat(4097) }, { partitionIndex: 1, committedOffset: 5n, committedMetadata: null }, { partitionIndex: 7, committedOffset: 5n, committedMetadata: null }] },
        { name: 'no-such-topic', partitions: [{ partitionIndex: 0, committedOffset: 5n, committedMetadata: null }] },
      ],
    }, { version: 7 });
    expect(r.topics).toEqual([
      { name: 't1', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE }, { partitionIndex: 1, errorCode: 0 }, { partitionIndex: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
      { name: 'no-such-topic', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
    ]);
    const stale = await conn.send(ApiKey.OffsetCommit, { groupId: 'member-commits', generationIdOrMemberEpoch: a.generationId + 1, memberId: a.memberId, topics: [{ name: 't1', partitions: [{ partitionIndex: 1, committedOffset: 6n, committedMetadata: null }] }] }, { version: 7 });
    expect(stale.topics[0].partitions[0].errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
  });

  test('OffsetDelete and DeleteGroups', async () => {
    const a = await soloMember('deletable'); // subscribed to t1
    await conn.send(ApiKey.OffsetCommit, { groupId: 'deletable', generationIdOrMemberEpoch: a.generationId, memberId: a.memberId, topics: [{ name: 't1', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: null }] }, { name: 't2', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: null }] }] }, { version: 8 });
    const od = await conn.send(ApiKey.OffsetDelete, { groupId: 'deletable', topics: [{ name: 't1', partitions: [{ partitionIndex: 0 }] }, { name: 't2', partitions: [{ partitionIndex: 0 }] }] }, { version: 0 });
    expect(od).toMatchObject({ errorCode: 0, topics: [
      { name: 't1', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }] },
      { name: 't2', partitions: [{ partitionIndex: 0, errorCode: 0 }] },
    ] });
    expect(await conn.send(ApiKey.OffsetDelete, { groupId: 'no-group', topics: [{ name: 't1', partitions: [{ partitionIndex: 0 }] }] }, { version: 0 })).toMatchObject({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND, topics: [] });
    const busy = await conn.send(ApiKey.DeleteGroups, { groupsNames: ['deletable', 'no-group'] }, { version: 2 });
    expect(busy.results).toEqual([{ groupId: 'deletable', errorCode: ErrorCode.NON_EMPTY_GROUP }, { groupId: 'no-group', errorCode: ErrorCode.GROUP_ID_NOT_FOUND }]);
    await conn.send(ApiKey.LeaveGroup, { groupId: 'deletable', memberId: a.memberId }, { version: 0 });
    const done = await conn.send(ApiKey.DeleteGroups, { groupsNames: ['deletable'] }, { version: 0 });
    expect(done.results).toEqual([{ groupId: 'deletable', errorCode: 0 }]);
    const f = await conn.send(ApiKey.OffsetFetch, { groupId: 'deletable', topics: null }, { version: 6 });
    expect(f.topics).toEqual([]);
  });
});

test('ListGroups: state filter (v4+), type filter (v5+), states reported from v4', async () => {
  await soloMember('listed');
  const v0 = await conn.send(ApiKey.ListGroups, {}, { version: 0 });
  expect(v0.groups).toContainEqual({ groupId: 'listed', protocolType: 'consumer', groupState: '', groupType: '' });
  const stable = await conn.send(ApiKey.ListGroups, { statesFilter: ['stable'] }, { version: 4 });
  expect(stable.groups.every((g: { groupState: string }) => g.groupState === 'Stable')).toBe(true);
  expect(stable.groups.map((g: { groupId: string }) => g.groupId)).toContain('listed');
  expect((await conn.send(ApiKey.ListGroups, { statesFilter: [], typesFilter: ['consumer'] }, { version: 5 })).groups).toEqual([]);
  const classic = await conn.send(ApiKey.ListGroups, { statesFilter: [], typesFilter: ['Classic'] }, { version: 5 });
  expect(classic.groups).toContainEqual({ groupId: 'listed', protocolType: 'consumer', groupState: 'Stable', groupType: 'classic' });
});

test('a broker restart keeps committed offsets and knows their groups; a parked JoinGroup is answered NOT_COORDINATOR at shutdown', async () => {
  await conn.send(ApiKey.OffsetCommit, { groupId: 'durable', generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 't2', partitions: [{ partitionIndex: 0, committedOffset: 99n, committedLeaderEpoch: 1, committedMetadata: 'kept' }] }] }, { version: 8 });
  const a = await soloMember('parked');
  const other = await connect();
  const j = await join(other, 5, { groupId: 'parked' });
  const parked = join(other, 5, { groupId: 'parked', memberId: j.memberId }); // waits for the leader to rejoin
  await waitFor(() => broker.context.groups.describeGroup('parked').members.length === 2, { message: 'the second member parked' });
  await broker.stop();
  expect(await parked).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
  expect(a.memberId).toBeTruthy();

  broker = await startBroker();
  conn = await connect();
  const f = await conn.send(ApiKey.OffsetFetch, { groupId: 'durable', topics: [{ name: 't2', partitionIndexes: [0] }] }, { version: 6 });
  expect(f.topics[0].partitions[0]).toMatchObject({ committedOffset: 99n, committedLeaderEpoch: 1, metadata: 'kept' });
  const d = await conn.send(ApiKey.DescribeGroups, { groups: ['durable', 'parked'] }, { version: 5 });
  expect(d.groups.map((g: { groupState: string }) => g.groupState)).toEqual(['Empty', 'Dead']);
  // The old member learns it is unknown and joins again.
  const hb = await conn.send(ApiKey.Heartbeat, { groupId: 'parked', generationId: a.generationId, memberId: a.memberId }, { version: 4 });
  expect(hb.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
});
