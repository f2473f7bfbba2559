import { StrataClient, TopicPartitionRef } from '../../core/client/client';
import { GroupConsumer, GroupConsumerOptions } from '../../core/client/groupConsumer';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from '../../core/group/consumerProtocol';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import { FakeBroker, HookResult } from './fakeBroker';
import { waitFor } from '../helpers/waitFor';

/**
 * The membership protocol's corner cases against a scripted coordinator (a FakeBroker hook
 * over a real socket): answers the real coordinator gives only under failures — a heartbeat's
 * UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID — are produced on demand here, and
 * every group request is logged so the order of commits, joins and leaves can be checked.
 */

interface Logged {
  api: number;
  version: number;
  req: any;
}

/** Just enough of a group coordinator for one consumer plus scripted "other" members. */
class ScriptedCoordinator {
  readonly log: Logged[] = [];
  generation = 0;
  nextMemberId = 1;
  heartbeatAnswer: number = ErrorCode.NONE;
  /** Error codes for the next JoinGroup calls (consumed in order; then NONE). */
  joinAnswers: number[] = [];
  /** Members the coordinator pretends are in the group, with their subscriptions. */
  others: Array<{ memberId: string; topics: string[] }> = [];
  committed = new Map<string, bigint>();
  private assignments = new Map<string, Buffer>();

  constructor(private readonly port: () => number) {}

  requests(api: number): Logged[] {
    return this.log.filter((l) => l.api === api);
  }

  hook = (h: { apiKey: number; apiVersion: number }, req: any): HookResult => {
    const ok = ErrorCode.NONE;
    switch (h.apiKey) {
      case ApiKey.FindCoordinator:
        return { response: { throttleTimeMs: 0, errorCode: ok, errorMessage: null, nodeId: 0, host: '127.0.0.1', port: this.port(), coordinators: (req.coordinatorKeys ?? []).map((key: string) => ({ key, nodeId: 0, host: '127.0.0.1', port: this.port(), errorCode: ok, errorMessage: null })) } };
      case ApiKey.JoinGroup: {
        this.log.push({ api: h.apiKey, version: h.apiVersion, req });
        const base = { throttleTimeMs: 0, generationId: -1, protocolType: 'consumer', protocolName: null, leader: '', skipAssignment: false, members: [] };
        if (req.memberId === '') return { response: { ...base, errorCode: ErrorCode.MEMBER_ID_REQUIRED, memberId: `m-${this.nextMemberId++}` } };
        const scripted = this.joinAnswers.shift();
        if (scripted !== undefined && scripted !== ok) return { response: { ...base, errorCode: scripted, memberId: req.memberId } };
        this.generation++;
        const metadata = req.protocols[0].metadata as Buffer;
        const members = [
          { memberId: req.memberId, groupInstanceId: req.groupInstanceId ?? null, metadata },
          ...this.others.map((o) => ({ memberId: o.memberId, groupInstanceId: null, metadata: encodeSubscription(0, { topics: o.topics }) })),
        ];
        return { response: { ...base, errorCode: ok, generationId: this.generation, protocolName: req.protocols[0].name, leader: req.memberId, memberId: req.memberId, members } };
      }
      case ApiKey.SyncGroup:
        this.log.push({ api: h.apiKey, version: h.apiVersion, req });
        for (const a of req.assignments) this.assignments.set(a.memberId, Buffer.from(a.assignment));
        return { response: { throttleTimeMs: 0, errorCode: ok, protocolType: 'consumer', protocolName: req.protocolName, assignment: this.assignments.get(req.memberId) ?? Buffer.alloc(0) } };
      case ApiKey.Heartbeat:
        this.log.push({ api: h.apiKey, version: h.apiVersion, req });
        return { response: { throttleTimeMs: 0, errorCode: this.heartbeatAnswer } };
      case ApiKey.LeaveGroup:
        this.log.push({ api: h.apiKey, version: h.apiVersion, req });
        return { response: { throttleTimeMs: 0, errorCode: ok, members: (req.members ?? []).map((m: any) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, errorCode: ok })) } };
      case ApiKey.OffsetCommit:
        this.log.push({ api: h.apiKey, version: h.apiVersion, req });
        for (const t of req.topics) for (const p of t.partitions) this.committed.set(`${t.name}-${p.partitionIndex}`, p.committedOffset);
        return { response: { throttleTimeMs: 0, topics: req.topics.map((t: any) => ({ name: t.name, partitions: t.partitions.map((p: any) => ({ partitionIndex: p.partitionIndex, errorCode: ok })) })) } };
      case ApiKey.OffsetFetch: {
        this.log.push({ api: h.apiKey, version: h.apiVersion, req });
        const asked: Array<{ name: string; partitionIndexes: number[] }> = (h.apiVersion >= 8 ? req.groups[0].topics : req.topics) ?? [];
        const topics = asked.map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: this.committed.get(`${t.name}-${p}`) ?? -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ok })),
        }));
        return { response: { throttleTimeMs: 0, errorCode: ok, topics, groups: [{ groupId: h.apiVersion >= 8 ? req.groups[0].groupId : req.groupId, topics, errorCode: ok }] } };
      }
      default:
        return undefined;
    }
  };
}

let broker: FakeBroker;
let coordinator: ScriptedCoordinator;
let producer: StrataClient;
const consumers: GroupConsumer[] = [];

beforeEach(async () => {
  coordinator = new ScriptedCoordinator(() => broker.port);
  broker = await FakeBroker.start({ hook: coordinator.hook });
  broker.createTopic('t', 3);
  producer = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  for (let p = 0; p < 3; p++) await producer.produce('t', p, [{ value: `r${p}-0` }, { value: `r${p}-1` }]);
});

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close()));
  await producer.close();
  await broker.close();
});

function consumer(opts: Partial<GroupConsumerOptions> = {}): GroupConsumer {
  const c = new GroupConsumer({ bootstrapServers: [broker.bootstrap], groupId: 'g', topics: ['t'], autoOffsetReset: 'earliest', heartbeatIntervalMs: 50, sessionTimeoutMs: 10_000, ...opts });
  consumers.push(c);
  return c;
}

async function pollUntil(c: GroupConsumer, done: () => boolean, message: string): Promise<number> {
  let n = 0;
  await waitFor(
    async () => {
      n += (await c.poll({ maxWaitMs: 50 })).length;
      return done();
    },
    { intervalMs: 0, message },
  );
  return n;
}

const tps = (list: TopicPartitionRef[]): string[] => list.map((tp) => `${tp.topic}-${tp.partition}`);

/** Polls until poll throws (bounded), and returns what it threw. */
async function pollError(c: GroupConsumer, timeoutMs = 10_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await c.poll({ maxWaitMs: 50 });
    } catch (err) {
      return err;
    }
  }
  throw new Error(`poll did not fail within ${timeoutMs} ms`);
}

describe('group membership protocol', () => {
  it('does the MEMBER_ID_REQUIRED handshake, then leads: assigns with range and syncs', async () => {
    coordinator.others = [{ memberId: 'a-other', topics: ['t'] }];
    const c = consumer();
    await pollUntil(c, () => c.assignment().length > 0, 'assigned');
    const joins = coordinator.requests(ApiKey.JoinGroup);
    expect(joins.map((j) => j.req.memberId)).toEqual(['', 'm-1']);
    expect(joins[1].version).toBeGreaterThanOrEqual(4);
    expect(joins[1].req).toMatchObject({ groupId: 'g', protocolType: 'consumer', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 300_000 });
    expect(joins[1].req.protocols.map((p: any) => p.name)).toEqual(['range', 'roundrobin']);
    const sub = decodeSubscription(joins[1].req.protocols[0].metadata);
    expect(sub).toMatchObject({ version: 1, subscription: { topics: ['t'], ownedPartitions: [] } });

    // As leader it assigned both members: 'a-other' sorts first and takes 0-1, we take 2.
    const sync = coordinator.requests(ApiKey.SyncGroup)[0].req;
    const handedOut = Object.fromEntries(sync.assignments.map((a: any) => [a.memberId, decodeAssignment(a.assignment).assignment.assignedPartitions]));
    expect(handedOut).toEqual({ 'a-other': [{ topic: 't', partitions: [0, 1] }], 'm-1': [{ topic: 't', partitions: [2] }] });
    expect(decodeAssignment(sync.assignments[0].assignment).version).toBe(1);
    expect(tps(c.assignment())).toEqual(['t-2']);
    expect(c.generationId).toBe(1);
  });

  it('on REBALANCE_IN_PROGRESS commits with the old generation, revokes, then rejoins with its member id', async () => {
    const revoked: string[][] = [];
    const c = consumer({ onRevoke: (p) => void revoked.push(tps(p)) });
    const read = await pollUntil(c, () => c.position('t', 0) === 2n && c.position('t', 2) === 2n && c.position('t', 1) === 2n, 'read everything');
    expect(read).toBe(6);
    coordinator.heartbeatAnswer = ErrorCode.REBALANCE_IN_PROGRESS;
    await pollUntil(c, () => coordinator.requests(ApiKey.JoinGroup).length === 3, 'a rejoin');
    coordinator.heartbeatAnswer = ErrorCode.NONE;
    await pollUntil(c, () => c.generationId === 2, 'generation 2');

    const order = coordinator.log.map((l) => l.api).filter((a) => a !== ApiKey.Heartbeat && a !== ApiKey.OffsetFetch);
    expect(order).toEqual([ApiKey.JoinGroup, ApiKey.JoinGroup, ApiKey.SyncGroup, ApiKey.OffsetCommit, ApiKey.JoinGroup, ApiKey.SyncGroup]);
    const commit = coordinator.requests(ApiKey.OffsetCommit)[0].req;
    expect(commit).toMatchObject({ groupId: 'g', generationIdOrMemberEpoch: 1, memberId: 'm-1' });
    expect([...coordinator.committed]).toEqual([['t-0', 2n], ['t-1', 2n], ['t-2', 2n]]);
    expect(coordinator.requests(ApiKey.JoinGroup)[2].req.memberId).toBe('m-1');
    expect(revoked).toEqual([['t-0', 't-1', 't-2']]);
    // The new generation resumes from the commit: nothing is read twice.
    expect(await c.poll({ maxWaitMs: 50 })).toEqual([]);
  });

  it.each([
    ['UNKNOWN_MEMBER_ID', ErrorCode.UNKNOWN_MEMBER_ID, ['', 'm-2']],
    ['ILLEGAL_GENERATION', ErrorCode.ILLEGAL_GENERATION, ['m-1']],
  ])('on %s from a heartbeat the partitions are lost: no commit, and it joins again', async (_name, code, rejoinIds) => {
    const lost: string[][] = [];
    const revoked: string[][] = [];
    const c = consumer({ onLost: (p) => void lost.push(tps(p)), onRevoke: (p) => void revoked.push(tps(p)) });
    await pollUntil(c, () => c.position('t', 1) === 2n, 'read');
    coordinator.heartbeatAnswer = code;
    await pollUntil(c, () => coordinator.requests(ApiKey.SyncGroup).length === 2, 'a new generation');
    coordinator.heartbeatAnswer = ErrorCode.NONE;
    expect(coordinator.requests(ApiKey.OffsetCommit)).toEqual([]);
    expect(coordinator.requests(ApiKey.JoinGroup).slice(2).map((j) => j.req.memberId)).toEqual(rejoinIds);
    expect(lost).toEqual([['t-0', 't-1', 't-2']]);
    expect(revoked).toEqual([]);
  });

  it('FENCED_INSTANCE_ID is fatal: poll throws it', async () => {
    const c = consumer({ groupInstanceId: 'instance-1' });
    await pollUntil(c, () => c.assignment().length === 3, 'assigned');
    expect(coordinator.requests(ApiKey.JoinGroup)[0].req.groupInstanceId).toBe('instance-1');
    coordinator.heartbeatAnswer = ErrorCode.FENCED_INSTANCE_ID;
    expect(await pollError(c)).toMatchObject({ errorCode: ErrorCode.FENCED_INSTANCE_ID });
    // It stays failed: the member cannot recover by rejoining.
    expect(await pollError(c)).toMatchObject({ errorCode: ErrorCode.FENCED_INSTANCE_ID });
  });

  it('a JoinGroup refusal that no rejoin fixes (INCONSISTENT_GROUP_PROTOCOL) is thrown by poll', async () => {
    coordinator.joinAnswers = [ErrorCode.INCONSISTENT_GROUP_PROTOCOL];
    const c = consumer();
    expect(await pollError(c)).toMatchObject({ errorCode: ErrorCode.INCONSISTENT_GROUP_PROTOCOL });
  });

  it('close() commits what poll returned, then sends LeaveGroup; a static member does not leave', async () => {
    const c = consumer({ autoCommitIntervalMs: 60_000 });
    // maxRecords: positions move only past records handed out.
    await waitFor(async () => (await c.poll({ maxWaitMs: 50, maxRecords: 1 })).length === 1, { message: 'one record' });
    await c.close();
    const order = coordinator.log.map((l) => l.api).filter((a) => a === ApiKey.OffsetCommit || a === ApiKey.LeaveGroup);
    expect(order).toEqual([ApiKey.OffsetCommit, ApiKey.LeaveGroup]);
    expect([...coordinator.committed.values()].sort()).toEqual([0n, 0n, 1n]);
    expect(coordinator.requests(ApiKey.LeaveGroup)[0].req.members).toEqual([{ memberId: 'm-1', groupInstanceId: null, reason: 'the consumer is being closed' }]);
    await expect(c.poll()).rejects.toMatchObject({ code: 'CLOSED' });

    const statik = consumer({ groupInstanceId: 'i-1' });
    await pollUntil(statik, () => statik.assignment().length === 3, 'assigned');
    await statik.close();
    expect(coordinator.requests(ApiKey.LeaveGroup)).toHaveLength(1);
  });

  it('leaves no timer behind after close', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const c = consumer();
    await pollUntil(c, () => coordinator.requests(ApiKey.Heartbeat).length >= 3, 'heartbeats');
    await c.close();
    expect(timers()).toBeLessThanOrEqual(before);
    const beats = coordinator.requests(ApiKey.Heartbeat).length;
    // Another consumer's whole join (several heartbeat intervals of 50 ms) sees no heartbeat from the closed one.
    const other = consumer({ groupId: 'g2' });
    await pollUntil(other, () => other.assignment().length === 3, 'assigned');
    expect(coordinator.requests(ApiKey.Heartbeat).filter((h) => h.req.groupId === 'g').length).toBe(beats);
  });

  it('empty assignment bytes (nothing for us) mean no partitions, and the consumer waits without fetching', async () => {
    coordinator.others = [{ memberId: 'a', topics: ['t'] }, { memberId: 'b', topics: ['t'] }, { memberId: 'c', topics: ['t'] }];
    const c = consumer();
    await pollUntil(c, () => coordinator.requests(ApiKey.SyncGroup).length === 1, 'synced');
    const fetchesBefore = broker.received.filter((h) => h.apiKey === ApiKey.Fetch).length;
    expect(await c.poll({ maxWaitMs: 100 })).toEqual([]);
    expect(c.assignment()).toEqual([]);
    expect(broker.received.filter((h) => h.apiKey === ApiKey.Fetch).length).toBe(fetchesBefore);
    // And an explicit zero-partition assignment from another leader decodes the same.
    expect(decodeAssignment(encodeAssignment(0, { assignedPartitions: [] })).assignment.assignedPartitions).toEqual([]);
  });
});
