/**
 * The classic group state machine, driven through the coordinator's API by fake members with
 * short timeouts, on a real embedded metadata store. Expected answers follow Kafka's
 * GroupCoordinator.
 */
import { ErrorCode } from '../../core/protocol/errorCodes';
import { TRANSITION_LOG_RE, type GroupCoordinator, type JoinResult, type SyncGroupParams } from '../../core/group/coordinator';
import { waitFor } from '../helpers/waitFor';
import { closeAllHarnesses, isSettled, joinNew, joinParams, startHarness, subscription, type Harness } from './helpers';

afterEach(async () => {
  await closeAllHarnesses();
});

function sync(c: GroupCoordinator, groupId: string, memberId: string, generationId: number, assignments: SyncGroupParams['assignments'] = [], extra: Partial<SyncGroupParams> = {}) {
  return c.syncGroup({ groupId, generationId, memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: null, assignments, ...extra });
}

function hb(c: GroupCoordinator, groupId: string, memberId: string, generationId: number, groupInstanceId: string | null = null): number {
  return c.heartbeat({ groupId, memberId, generationId, groupInstanceId });
}

/** Transitions logged for a group, as [from, to, generation, members]. */
function transitions(h: Harness, groupId: string): [string, string, number, number][] {
  return h.lines
    .map((l) => TRANSITION_LOG_RE.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && JSON.parse(m[1]) === groupId)
    .map((m) => [m[2], m[3], Number(m[4]), Number(m[5])]);
}

/** One dynamic member that joins and syncs alone: the group ends Stable in generation 1. */
async function stableSingle(c: GroupCoordinator, groupId: string, p: Parameters<typeof joinNew>[2] = {}): Promise<string> {
  const { memberId, joined } = await joinNew(c, groupId, p);
  const j = await joined;
  expect(j.errorCode).toBe(ErrorCode.NONE);
  const s = await sync(c, groupId, memberId, j.generationId, [{ memberId, assignment: Buffer.from(`a:${memberId}`) }], { protocolType: p.protocolType ?? 'consumer' });
  expect(s.errorCode).toBe(ErrorCode.NONE);
  return memberId;
}

/**
 * Leader `leader` (already Stable) and new members: the new ones join (dynamic ones through the
 * MEMBER_ID_REQUIRED handshake, static ones directly), the leader rejoins, everyone syncs.
 */
async function grow(c: GroupCoordinator, groupId: string, leader: string, newcomers: Parameters<typeof joinNew>[2][], leaderParams: Parameters<typeof joinNew>[2] = {}) {
  const joins: Promise<JoinResult>[] = [];
  for (const p of newcomers) {
    if (p?.groupInstanceId) joins.push(c.joinGroup(joinParams(groupId, { requireKnownMemberId: false, ...p })));
    else joins.push((await joinNew(c, groupId, p)).joined);
  }
  const leaderJoin = await c.joinGroup(joinParams(groupId, { ...leaderParams, memberId: leader }));
  const results = await Promise.all(joins);
  const gen = leaderJoin.generationId;
  const ids = [leader, ...results.map((r) => r.memberId)];
  const syncs = results.map((r, i) => sync(c, groupId, r.memberId, gen, [], { groupInstanceId: newcomers[i]?.groupInstanceId ?? null }));
  const leaderSync = await sync(c, groupId, leader, gen, ids.map((id) => ({ memberId: id, assignment: Buffer.from(`a:${id}`) })), { groupInstanceId: leaderParams.groupInstanceId ?? null });
  expect(leaderSync.errorCode).toBe(ErrorCode.NONE);
  for (const s of await Promise.all(syncs)) expect(s.errorCode).toBe(ErrorCode.NONE);
  return { generation: gen, ids, leaderJoin, results };
}

describe('joining and syncing', () => {
  test('a single member walks Empty → PreparingRebalance → CompletingRebalance → Stable', async () => {
    const h = await startHarness();
    const c = h.coordinator;
    const { memberId, joined } = await joinNew(c, 'g');
    expect(memberId).toMatch(/^client-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const j = await joined;
    expect(j).toEqual<JoinResult>({
      errorCode: ErrorCode.NONE,
      generationId: 1,
      protocolType: 'consumer',
      protocolName: 'range',
      leader: memberId,
      skipAssignment: false,
      memberId,
      members: [{ memberId, groupInstanceId: null, metadata: subscription('t1') }],
    });
    expect(c.groupState('g')).toBe('CompletingRebalance');
    const s = await sync(c, 'g', memberId, 1, [{ memberId, assignment: Buffer.from('mine') }], { protocolName: 'range' });
    expect(s).toEqual({ errorCode: ErrorCode.NONE, protocolType: 'consumer', protocolName: 'range', assignment: Buffer.from('mine') });
    expect(c.groupState('g')).toBe('Stable');
    expect(hb(c, 'g', memberId, 1)).toBe(ErrorCode.NONE);
    expect(transitions(h, 'g')).toEqual([
      ['Empty', 'PreparingRebalance', 0, 1],
      ['PreparingRebalance', 'CompletingRebalance', 1, 1],
      ['CompletingRebalance', 'Stable', 1, 1],
    ]);
  });

  test('followers wait for the leader\'s SyncGroup; heartbeats tell members to rejoin; generations are checked', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g');
    const b = await joinNew(c, 'g');
    // B's arrival starts a rebalance; A, still in generation 1, learns it from its heartbeat.
    expect(c.groupState('g')).toBe('PreparingRebalance');
    expect(hb(c, 'g', a, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect(await isSettled(b.joined)).toBe(false);
    const ja = await c.joinGroup(joinParams('g', { memberId: a }));
    const jb = await b.joined;
    expect(ja).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 2, leader: a, memberId: a });
    expect(ja.members.map((m) => m.memberId)).toEqual([a, b.memberId]);
    expect(jb).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 2, leader: a, memberId: b.memberId, members: [] });

    const followerSync = sync(c, 'g', b.memberId, 2);
    expect(await isSettled(followerSync)).toBe(false);
    expect(hb(c, 'g', b.memberId, 2)).toBe(ErrorCode.NONE); // CompletingRebalance: heartbeats are fine
    expect(await c.commitOffsets({ groupId: 'g', memberId: b.memberId, groupInstanceId: null, generationId: 2, retentionTimeMs: -1n, offsets: [{ topic: 't1', partition: 0, offset: 1n, leaderEpoch: -1, metadata: null, commitTimestamp: -1n }] })).toEqual([
      ErrorCode.REBALANCE_IN_PROGRESS,
    ]);
    const leaderSync = await sync(c, 'g', a, 2, [
      { memberId: a, assignment: Buffer.from('A') },
      { memberId: b.memberId, assignment: Buffer.from('B') },
    ]);
    expect(leaderSync.assignment).toEqual(Buffer.from('A'));
    expect((await followerSync).assignment).toEqual(Buffer.from('B'));
    expect(c.groupState('g')).toBe('Stable');

    expect(hb(c, 'g', a, 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(hb(c, 'g', 'nobody', 2)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(hb(c, 'unknown-group', a, 2)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect((await sync(c, 'g', a, 1)).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect((await sync(c, 'g', a, 2, [], { protocolName: 'roundrobin' })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    // A follower syncing again in a Stable group gets its assignment back at once.
    expect((await sync(c, 'g', b.memberId, 2)).assignment).toEqual(Buffer.from('B'));
  });

  test('a member the leader left out gets an empty assignment', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g');
    const b = await joinNew(c, 'g');
    const ja = await c.joinGroup(joinParams('g', { memberId: a }));
    await b.joined;
    const followerSync = sync(c, 'g', b.memberId, ja.generationId);
    await sync(c, 'g', a, ja.generationId, [{ memberId: a, assignment: Buffer.from('all') }]);
    expect(await followerSync).toMatchObject({ errorCode: ErrorCode.NONE, assignment: Buffer.alloc(0) });
  });

  test('repeated join/sync rounds (incremental cooperative rebalancing) keep member ids and advance the generation', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g');
    let { generation, ids } = await grow(c, 'g', a, [{}]);
    expect(generation).toBe(2);
    // Second round, as a cooperative client does after revoking: everyone rejoins with its
    // new owned partitions (changed metadata), the leader first.
    for (let round = 0; round < 2; round++) {
      const leaderJoin = c.joinGroup(joinParams('g', { memberId: ids[0], protocols: [{ name: 'range', metadata: subscription('t1', `owned-${round}`) }] }));
      expect(await isSettled(leaderJoin)).toBe(false);
      const other = await c.joinGroup(joinParams('g', { memberId: ids[1], protocols: [{ name: 'range', metadata: subscription('t1', `other-${round}`) }] }));
      const lj = await leaderJoin;
      expect(lj.generationId).toBe(generation + 1);
      expect(other.generationId).toBe(generation + 1);
      expect(lj.members.map((m) => m.metadata)).toEqual([subscription('t1', `owned-${round}`), subscription('t1', `other-${round}`)]);
      expect([lj.memberId, other.memberId]).toEqual(ids);
      generation = lj.generationId;
      const fs = sync(c, 'g', ids[1], generation, [], { protocolName: 'range' });
      await sync(c, 'g', ids[0], generation, ids.map((id) => ({ memberId: id, assignment: Buffer.from(`${round}:${id}`) })), { protocolName: 'range' });
      expect((await fs).assignment.toString()).toBe(`${round}:${ids[1]}`);
      // The old generation's members are fenced off by generation, not by id.
      expect(hb(c, 'g', ids[1], generation - 1)).toBe(ErrorCode.ILLEGAL_GENERATION);
      expect(hb(c, 'g', ids[1], generation)).toBe(ErrorCode.NONE);
    }
  });

  test('a follower rejoining a Stable group with unchanged metadata gets the current generation without a rebalance', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g');
    const { ids, generation } = await grow(c, 'g', a, [{}]);
    const again = await c.joinGroup(joinParams('g', { memberId: ids[1] }));
    expect(again).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation, leader: a, members: [] });
    expect(c.groupState('g')).toBe('Stable');
  });

  test('the protocol is the one every member supports, chosen by votes in each member\'s order of preference', async () => {
    const c = (await startHarness()).coordinator;
    const p = (...names: string[]) => ({ protocols: names.map((name) => ({ name, metadata: subscription('t1') })) });
    const a = await stableSingle(c, 'g', p('roundrobin', 'range', 'sticky'));
    const { leaderJoin } = await grow(c, 'g', a, [p('range', 'roundrobin'), p('roundrobin', 'range')], p('roundrobin', 'range', 'sticky'));
    expect(leaderJoin.protocolName).toBe('roundrobin'); // 2 votes to 1; sticky is not supported by all
    // Nothing in common with the group, or another protocol type: refused.
    expect((await c.joinGroup(joinParams('g', p('sticky')))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await c.joinGroup(joinParams('g', { ...p('range'), protocolType: 'connect' }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    // An Empty group takes any protocol type, but not an empty one or no protocols at all.
    expect((await c.joinGroup(joinParams('other', { protocolType: '' }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await c.joinGroup(joinParams('other', { protocols: [] }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect(c.groupState('other')).toBeUndefined(); // refused joins leave no group behind
  });

  test('a member that rejoins during CompletingRebalance with the same metadata gets its answer again', async () => {
    const c = (await startHarness()).coordinator;
    const { memberId, joined } = await joinNew(c, 'g');
    const first = await joined;
    const again = await c.joinGroup(joinParams('g', { memberId }));
    expect(again).toEqual(first);
    expect(c.groupState('g')).toBe('CompletingRebalance');
  });
});

describe('member ids and validation', () => {
  test('MEMBER_ID_REQUIRED: a new member is pending until it rejoins with its id, and a pending member that never does expires', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g');
    const t0 = Date.now();
    const pending = await c.joinGroup(joinParams('g', { sessionTimeoutMs: 100 }));
    expect(pending).toMatchObject({ errorCode: ErrorCode.MEMBER_ID_REQUIRED, generationId: -1, members: [] });
    expect(pending.memberId).toMatch(/^client-/);
    expect(c.groupState('g')).toBe('Stable'); // a pending member does not start a rebalance
    // The leader rejoins; the rebalance waits for the pending member until its session expires.
    const ja = await c.joinGroup(joinParams('g', { memberId: a }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(ja.members.map((m) => m.memberId)).toEqual([a]);
    // Its id is forgotten.
    expect((await c.joinGroup(joinParams('g', { memberId: pending.memberId }))).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('before v4 (requireKnownMemberId false) a new member joins at once', async () => {
    const c = (await startHarness()).coordinator;
    const j = await c.joinGroup(joinParams('g', { requireKnownMemberId: false }));
    expect(j).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 1 });
    expect(j.leader).toBe(j.memberId);
  });

  test('session timeouts outside group.min/max.session.timeout.ms, empty group ids, unknown members', async () => {
    const c = (await startHarness({ groupMinSessionTimeoutMs: 6000, groupMaxSessionTimeoutMs: 30_000 })).coordinator;
    expect((await c.joinGroup(joinParams('g', { sessionTimeoutMs: 5999 }))).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await c.joinGroup(joinParams('g', { sessionTimeoutMs: 30_001 }))).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await c.joinGroup(joinParams('', {}))).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect(hb(c, '', 'm', 1)).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await sync(c, '', 'm', 1)).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect(c.leaveGroup('', [{ memberId: 'm', groupInstanceId: null, reason: null }]).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    // A member id for a group nobody knows: start over.
    expect((await c.joinGroup(joinParams('g', { memberId: 'ghost', sessionTimeoutMs: 6000 }))).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect((await sync(c, 'g', 'ghost', 1)).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('group.max.size: GROUP_MAX_SIZE_REACHED for a member beyond it', async () => {
    const c = (await startHarness({ groupMaxSize: 2 })).coordinator;
    const a = await stableSingle(c, 'g');
    await grow(c, 'g', a, [{}]);
    const third = await c.joinGroup(joinParams('g'));
    expect(third).toMatchObject({ errorCode: ErrorCode.GROUP_MAX_SIZE_REACHED, memberId: '' });
    expect(c.groupState('g')).toBe('Stable');
  });
});

describe('failures and timeouts', () => {
  test('a member that stops heartbeating is removed after its session timeout and the group rebalances', async () => {
    const h = await startHarness();
    const c = h.coordinator;
    const a = await stableSingle(c, 'g');
    const { ids, generation } = await grow(c, 'g', a, [{ sessionTimeoutMs: 150 }]);
    // A keeps its 10 s session; B goes silent.
    await waitFor(() => hb(c, 'g', a, generation) === ErrorCode.REBALANCE_IN_PROGRESS, { timeoutMs: 10_000, message: 'B expired' });
    expect(h.lines.some((l) => l.includes(`member ${ids[1]} failed`))).toBe(true);
    const ja = await c.joinGroup(joinParams('g', { memberId: a }));
    expect(ja.generationId).toBe(generation + 1);
    expect(ja.members.map((m) => m.memberId)).toEqual([a]);
    expect(hb(c, 'g', ids[1], generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('members that do not rejoin within the rebalance timeout are removed; the rest form the next generation', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g', { rebalanceTimeoutMs: 200 });
    const { ids, generation } = await grow(c, 'g', a, [{ rebalanceTimeoutMs: 200 }], { rebalanceTimeoutMs: 200 });
    const t0 = Date.now();
    const ja = await c.joinGroup(joinParams('g', { memberId: a, rebalanceTimeoutMs: 200 })); // the leader rejoins, B does not
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(ja).toMatchObject({ errorCode: ErrorCode.NONE, generationId: generation + 1, leader: a });
    expect(ja.members.map((m) => m.memberId)).toEqual([a]);
    expect(hb(c, 'g', ids[1], generation)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('a member parked in JoinGroup does not expire while it waits, even past its session timeout', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g', { sessionTimeoutMs: 200 });
    // Keep A alive while B settles in.
    const keepAlive = setInterval(() => hb(c, 'g', a, c.generationOf('g')!), 20);
    let b: Awaited<ReturnType<typeof grow>>;
    try {
      b = await grow(c, 'g', a, [{}], { sessionTimeoutMs: 200 });
    } finally {
      clearInterval(keepAlive);
    }
    // A (the leader) rejoins and is parked; B takes its time (several of A's sessions).
    const ja = c.joinGroup(joinParams('g', { memberId: a, sessionTimeoutMs: 200 }));
    await new Promise((r) => setTimeout(r, 700)); // the passage of time is what is tested here
    const jb = await c.joinGroup(joinParams('g', { memberId: b.ids[1] }));
    expect((await ja).members.map((m) => m.memberId)).toEqual(b.ids);
    expect(jb.generationId).toBe(b.generation + 1);
  });

  test('members that never send SyncGroup are removed after the rebalance timeout, and the group rebalances again', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g', { rebalanceTimeoutMs: 200 });
    const b = await joinNew(c, 'g', { rebalanceTimeoutMs: 200 });
    const ja = await c.joinGroup(joinParams('g', { memberId: a, rebalanceTimeoutMs: 200 }));
    await b.joined;
    await sync(c, 'g', a, ja.generationId, [{ memberId: a, assignment: Buffer.from('A') }]);
    expect(c.groupState('g')).toBe('Stable');
    // B never syncs.
    await waitFor(() => c.groupState('g') === 'PreparingRebalance', { timeoutMs: 10_000, message: 'rebalance after the sync timeout' });
    expect(hb(c, 'g', b.memberId, ja.generationId)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('group.initial.rebalance.delay.ms: the first rebalance waits, and keeps waiting while members arrive', async () => {
    const h = await startHarness({ groupInitialRebalanceDelayMs: 300 });
    const c = h.coordinator;
    const t0 = Date.now();
    const a = c.joinGroup(joinParams('g', { requireKnownMemberId: false }));
    const b = c.joinGroup(joinParams('g', { requireKnownMemberId: false }));
    const [ja, jb] = await Promise.all([a, b]);
    // B arrived during the first delay, so the join waited a second one.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(590);
    expect(ja.generationId).toBe(1);
    expect(jb.generationId).toBe(1);
    expect(ja.members).toHaveLength(2);
    expect(transitions(h, 'g')[0]).toEqual(['Empty', 'PreparingRebalance', 0, 1]);
    expect(transitions(h, 'g')[1]).toEqual(['PreparingRebalance', 'CompletingRebalance', 1, 2]);
  });
});

describe('static membership (group.instance.id)', () => {
  const st = (id: string, extra: Parameters<typeof joinNew>[2] = {}) => joinParams('g', { groupInstanceId: id, requireKnownMemberId: false, ...extra });

  async function stableStatic(c: GroupCoordinator, extra: Parameters<typeof joinNew>[2] = {}) {
    const ja = await c.joinGroup(st('i-a', extra));
    await sync(c, 'g', ja.memberId, 1, [{ memberId: ja.memberId, assignment: Buffer.from('A') }]);
    const jbP = c.joinGroup(st('i-b', extra));
    const ja2 = await c.joinGroup(st('i-a', { ...extra, memberId: ja.memberId }));
    const jb = await jbP;
    const fs = sync(c, 'g', jb.memberId, 2, [], { groupInstanceId: 'i-b' });
    await sync(c, 'g', ja.memberId, 2, [{ memberId: ja.memberId, assignment: Buffer.from('A') }, { memberId: jb.memberId, assignment: Buffer.from('B') }], { groupInstanceId: 'i-a' });
    await fs;
    expect(ja2.generationId).toBe(2);
    return { a: ja.memberId, b: jb.memberId };
  }

  test('a restarted static member takes its old place without a rebalance; the old incarnation is fenced', async () => {
    const h = await startHarness();
    const c = h.coordinator;
    const { a, b } = await stableStatic(c);
    expect(a).toMatch(/^i-a-/);
    const before = transitions(h, 'g').length;
    const back = await c.joinGroup(st('i-b'));
    expect(back).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 2, protocolName: 'range', members: [], skipAssignment: false });
    expect(back.memberId).not.toBe(b);
    expect(back.memberId).toMatch(/^i-b-/);
    expect(c.groupState('g')).toBe('Stable');
    expect(transitions(h, 'g')).toHaveLength(before);
    // The new incarnation continues with the old one's assignment...
    expect((await sync(c, 'g', back.memberId, 2, [], { groupInstanceId: 'i-b' })).assignment).toEqual(Buffer.from('B'));
    expect(hb(c, 'g', back.memberId, 2, 'i-b')).toBe(ErrorCode.NONE);
    // ...and the old one, should it still be running, is told to stop.
    expect(hb(c, 'g', b, 2, 'i-b')).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect((await sync(c, 'g', b, 2, [], { groupInstanceId: 'i-b' })).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect((await c.joinGroup(st('i-b', { memberId: b }))).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    const commit = await c.commitOffsets({ groupId: 'g', memberId: b, groupInstanceId: 'i-b', generationId: 2, retentionTimeMs: -1n, offsets: [{ topic: 't1', partition: 0, offset: 5n, leaderEpoch: -1, metadata: null, commitTimestamp: -1n }] });
    expect(commit).toEqual([ErrorCode.FENCED_INSTANCE_ID]);
    // An instance id the group does not know.
    expect(hb(c, 'g', a, 2, 'i-zzz')).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  test('before JoinGroup v9 a returning static leader is not told it leads; from v9 it is, with skipAssignment', async () => {
    const c = (await startHarness()).coordinator;
    const { a } = await stableStatic(c);
    const old = await c.joinGroup(st('i-a'));
    expect(old.leader).toBe(a); // the replaced id: nobody runs the assignor
    expect(old.members).toEqual([]);
    const v9 = await c.joinGroup(st('i-a', { supportSkippingAssignment: true }));
    expect(v9).toMatchObject({ errorCode: ErrorCode.NONE, leader: v9.memberId, skipAssignment: true, generationId: 2 });
    expect(v9.members).toHaveLength(2);
    expect(c.groupState('g')).toBe('Stable');
  });

  test('a static member that comes back with protocols that change the group\'s protocol causes a rebalance', async () => {
    const c = (await startHarness()).coordinator;
    const first = await c.joinGroup(st('i-a'));
    await sync(c, 'g', first.memberId, 1, [], { groupInstanceId: 'i-a' });
    const protocols = [
      { name: 'roundrobin', metadata: subscription('t1') },
      { name: 'range', metadata: subscription('t1') },
    ];
    const back = await c.joinGroup(st('i-a', { protocols }));
    expect(back).toMatchObject({ errorCode: ErrorCode.NONE, generationId: 2, protocolName: 'roundrobin' });
  });

  test('a static member that misses a rebalance keeps its place until its session expires', async () => {
    const c = (await startHarness()).coordinator;
    const { a, b } = await stableStatic(c, { rebalanceTimeoutMs: 150 });
    // i-a rejoins (leader: rebalance); i-b, restarting, does not rejoin within the rebalance timeout.
    const ja = await c.joinGroup(st('i-a', { memberId: a, rebalanceTimeoutMs: 150 }));
    expect(ja.members.map((m) => m.memberId).sort()).toEqual([a, b].sort());
  });
});

describe('LeaveGroup', () => {
  test('a batch of members by member id or by group.instance.id, each with its own answer', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g');
    const { ids } = await grow(c, 'g', a, [{}, { groupInstanceId: 'i-s', requireKnownMemberId: false }]);
    const pending = await c.joinGroup(joinParams('g'));
    const r = c.leaveGroup('g', [
      { memberId: ids[1], groupInstanceId: null, reason: 'bye' },
      { memberId: '', groupInstanceId: 'i-s', reason: null },
      { memberId: 'unknown', groupInstanceId: null, reason: null },
      { memberId: a, groupInstanceId: 'not-its-instance', reason: null },
      { memberId: pending.memberId, groupInstanceId: null, reason: null },
    ]);
    expect(r.errorCode).toBe(ErrorCode.NONE);
    expect(r.members.map((m) => m.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.NONE]);
    expect(r.members[1]).toEqual({ memberId: '', groupInstanceId: 'i-s', errorCode: ErrorCode.NONE });
    expect(c.groupState('g')).toBe('PreparingRebalance');
    const ja = await c.joinGroup(joinParams('g', { memberId: a }));
    expect(ja.members.map((m) => m.memberId)).toEqual([a]);
    expect(c.leaveGroup('nope', [{ memberId: 'x', groupInstanceId: null, reason: null }])).toEqual({
      errorCode: ErrorCode.NONE,
      members: [{ memberId: 'x', groupInstanceId: null, errorCode: ErrorCode.UNKNOWN_MEMBER_ID }],
    });
  });

  test('the last member leaving empties the group at once; a member parked in JoinGroup that leaves gets UNKNOWN_MEMBER_ID', async () => {
    const h = await startHarness();
    const c = h.coordinator;
    const a = await stableSingle(c, 'g');
    const b = await joinNew(c, 'g');
    expect(c.leaveGroup('g', [{ memberId: b.memberId, groupInstanceId: null, reason: null }]).members[0].errorCode).toBe(ErrorCode.NONE);
    expect(await b.joined).toMatchObject({ errorCode: ErrorCode.UNKNOWN_MEMBER_ID, memberId: '' });
    c.leaveGroup('g', [{ memberId: a, groupInstanceId: null, reason: null }]);
    expect(c.groupState('g')).toBe('Empty');
    expect(c.generationOf('g')).toBe(2);
    expect(transitions(h, 'g').slice(-1)[0]).toEqual(['PreparingRebalance', 'Empty', 2, 0]);
  });
});

function commit(c: GroupCoordinator, groupId: string, offsets: { topic: string; partition: number; offset: bigint; metadata?: string | null; leaderEpoch?: number }[], member: { memberId?: string; generationId?: number; groupInstanceId?: string | null; retentionTimeMs?: bigint } = {}) {
  return c.commitOffsets({
    groupId,
    memberId: member.memberId ?? '',
    groupInstanceId: member.groupInstanceId ?? null,
    generationId: member.generationId ?? -1,
    retentionTimeMs: member.retentionTimeMs ?? -1n,
    offsets: offsets.map((o) => ({ leaderEpoch: -1, metadata: null, commitTimestamp: -1n, ...o })),
  });
}

describe('offsets', () => {
  test('a commit from outside group management creates an Empty group; offsets survive a restart and fetch answers from memory', async () => {
    const h = await startHarness();
    const codes = await commit(h.coordinator, 'simple', [
      { topic: 't1', partition: 0, offset: 2n ** 40n, metadata: 'meta', leaderEpoch: 3 },
      { topic: 't1', partition: 2, offset: 7n },
      { topic: 't2', partition: 1, offset: 0n },
    ]);
    expect(codes).toEqual([0, 0, 0]);
    expect(h.coordinator.groupState('simple')).toBe('Empty');
    const c = await h.restart();
    expect(c.groupState('simple')).toBe('Empty');
    expect(c.listGroups([]).groups).toEqual([{ groupId: 'simple', protocolType: '', groupState: 'Empty' }]);
    expect(c.fetchOffsets('simple', [{ topic: 't1', partitions: [0, 1, 2] }])).toEqual({
      errorCode: 0,
      topics: [
        {
          name: 't1',
          partitions: [
            { partition: 0, offset: 2n ** 40n, leaderEpoch: 3, metadata: 'meta', errorCode: 0 },
            { partition: 1, offset: -1n, leaderEpoch: -1, metadata: '', errorCode: 0 },
            { partition: 2, offset: 7n, leaderEpoch: -1, metadata: '', errorCode: 0 },
          ],
        },
      ],
    });
    const all = c.fetchOffsets('simple', null);
    expect(all.topics.map((t) => [t.name, t.partitions.map((p) => [p.partition, p.offset])])).toEqual([
      ['t1', [[0, 2n ** 40n], [2, 7n]]],
      ['t2', [[1, 0n]]],
    ]);
    expect(c.fetchOffsets('nobody', null)).toEqual({ errorCode: 0, topics: [] });
  });

  test('commit validation: unknown topics and partitions, metadata size, generations, members', async () => {
    const c = (await startHarness({ offsetMetadataMaxBytes: 10 })).coordinator;
    expect(await commit(c, 'g', [{ topic: 'nope', partition: 0, offset: 1n }, { topic: 't1', partition: 3, offset: 1n }, { topic: 't1', partition: 0, offset: 1n, metadata: 'x'.repeat(11) }, { topic: 't1', partition: 1, offset: 1n, metadata: 'x'.repeat(10) }])).toEqual([
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
      ErrorCode.OFFSET_METADATA_TOO_LARGE,
      ErrorCode.NONE,
    ]);
    // A member's commit for a group the coordinator does not know comes from an old generation.
    expect(await commit(c, 'unknown', [{ topic: 't1', partition: 0, offset: 1n }], { memberId: 'm', generationId: 3 })).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(c.groupState('unknown')).toBeUndefined();
    const a = await stableSingle(c, 'live');
    expect(await commit(c, 'live', [{ topic: 't1', partition: 0, offset: 1n }], { memberId: a, generationId: 1 })).toEqual([ErrorCode.NONE]);
    expect(await commit(c, 'live', [{ topic: 't1', partition: 0, offset: 1n }], { memberId: a, generationId: 0 })).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(await commit(c, 'live', [{ topic: 't1', partition: 0, offset: 1n }], { memberId: 'stranger', generationId: 1 })).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    // Once a group has members, only they may commit.
    expect(await commit(c, 'live', [{ topic: 't1', partition: 0, offset: 1n }])).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    // During PreparingRebalance the previous generation may still commit.
    await joinNew(c, 'live');
    expect(c.groupState('live')).toBe('PreparingRebalance');
    expect(await commit(c, 'live', [{ topic: 't1', partition: 0, offset: 9n }], { memberId: a, generationId: 1 })).toEqual([ErrorCode.NONE]);
    expect(c.fetchOffsets('live', [{ topic: 't1', partitions: [0] }]).topics[0].partitions[0].offset).toBe(9n);
  });

  test('offsets of a deleted topic do not apply to a re-created topic of the same name', async () => {
    const h = await startHarness();
    await commit(h.coordinator, 'g', [{ topic: 't1', partition: 0, offset: 5n }]);
    h.topics.set('t1', { topicId: 'AAAAAAAAAAAAAAAAAAAAAw', partitions: 3 });
    expect(h.coordinator.fetchOffsets('g', [{ topic: 't1', partitions: [0] }]).topics[0].partitions[0].offset).toBe(-1n);
    expect(h.coordinator.fetchOffsets('g', null).topics).toEqual([]);
    // The expiration pass removes them, and the group with them.
    await h.coordinator.expireOffsets();
    expect(h.coordinator.groupState('g')).toBeUndefined();
  });

  test('writes to the store happen before the commit is acknowledged, in order per partition', async () => {
    const h = await startHarness();
    const writes = [1n, 2n, 3n, 4n, 5n].map((o) => commit(h.coordinator, 'g', [{ topic: 't1', partition: 0, offset: o }]));
    expect((await Promise.all(writes)).flat()).toEqual([0, 0, 0, 0, 0]);
    const items = await h.kv.list('');
    expect(items).toHaveLength(1);
    expect(items[0].key).toBe('g/t1/0');
    expect((items[0].value as { offset: bigint }).offset).toBe(5n);
    expect(items[0].version).toBe(5);
  });
});

describe('DeleteGroups, OffsetDelete, ListGroups, DescribeGroups', () => {
  test('DeleteGroups removes an Empty group with its offsets; NON_EMPTY_GROUP with members; GROUP_ID_NOT_FOUND', async () => {
    const h = await startHarness();
    const c = h.coordinator;
    await commit(c, 'empty', [{ topic: 't1', partition: 0, offset: 1n }, { topic: 't2', partition: 0, offset: 1n }]);
    await stableSingle(c, 'busy');
    expect(await c.deleteGroups(['empty', 'busy', 'missing', 'empty'])).toEqual([
      { groupId: 'empty', errorCode: ErrorCode.NONE },
      { groupId: 'busy', errorCode: ErrorCode.NON_EMPTY_GROUP },
      { groupId: 'missing', errorCode: ErrorCode.GROUP_ID_NOT_FOUND },
    ]);
    expect(c.groupState('empty')).toBeUndefined();
    expect(c.fetchOffsets('empty', null).topics).toEqual([]);
    expect(await h.kv.list('')).toEqual([]);
    expect(transitions(h, 'empty')).toEqual([['Empty', 'Dead', 0, 0]]);
  });

  test('OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC for topics a live consumer subscribes to', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'g'); // subscribes to t1
    await commit(c, 'g', [{ topic: 't1', partition: 0, offset: 1n }, { topic: 't2', partition: 0, offset: 1n }], { memberId: a, generationId: 1 });
    expect(await c.deleteOffsets('g', [{ topic: 't1', partition: 0 }, { topic: 't2', partition: 0 }, { topic: 'nope', partition: 0 }])).toEqual({
      errorCode: ErrorCode.NONE,
      results: [ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    });
    expect(c.fetchOffsets('g', null).topics.map((t) => t.name)).toEqual(['t1']);
    expect(await c.deleteOffsets('missing', [{ topic: 't1', partition: 0 }])).toEqual({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND, results: [] });
    // Once the group is Empty anything goes; the group goes with its last offset.
    c.leaveGroup('g', [{ memberId: a, groupInstanceId: null, reason: null }]);
    expect((await c.deleteOffsets('g', [{ topic: 't1', partition: 0 }])).results).toEqual([ErrorCode.NONE]);
    expect(c.groupState('g')).toBeUndefined();
    // A group with members of another protocol type cannot be inspected: NON_EMPTY_GROUP.
    await stableSingle(c, 'connect', { protocolType: 'connect' });
    expect((await c.deleteOffsets('connect', [{ topic: 't1', partition: 0 }])).errorCode).toBe(ErrorCode.NON_EMPTY_GROUP);
  });

  test('ListGroups filters by state, case-insensitively; DescribeGroups shows Stable groups in full', async () => {
    const c = (await startHarness()).coordinator;
    const a = await stableSingle(c, 'stable', { clientId: 'cid' });
    await commit(c, 'empty', [{ topic: 't1', partition: 0, offset: 1n }]);
    await stableSingle(c, 'preparing');
    await joinNew(c, 'preparing'); // waits for the first member to rejoin
    const ids = (states: string[]) => c.listGroups(states).groups.map((g) => g.groupId).sort();
    expect(ids([])).toEqual(['empty', 'preparing', 'stable']);
    expect(ids(['stable', 'EMPTY'])).toEqual(['empty', 'stable']);
    expect(ids(['Dead'])).toEqual([]);

    expect(c.describeGroup('stable')).toEqual({
      errorCode: 0,
      groupId: 'stable',
      groupState: 'Stable',
      protocolType: 'consumer',
      protocolData: 'range',
      members: [{ memberId: a, groupInstanceId: null, clientId: 'cid', clientHost: '/127.0.0.1', memberMetadata: subscription('t1'), memberAssignment: Buffer.from(`a:${a}`) }],
    });
    const preparing = c.describeGroup('preparing');
    expect(preparing).toMatchObject({ groupState: 'PreparingRebalance', protocolType: 'consumer', protocolData: '' });
    expect(preparing.members).toHaveLength(2);
    expect(preparing.members[0]).toMatchObject({ memberMetadata: Buffer.alloc(0), memberAssignment: Buffer.alloc(0) });
    expect(c.describeGroup('missing')).toEqual({ errorCode: 0, groupId: 'missing', groupState: 'Dead', protocolType: '', protocolData: '', members: [] });
  });
});

describe('offset expiration (offsets.retention.minutes, KIP-211)', () => {
  const HOUR = 3600_000;

  test('a standalone group\'s offsets expire by commit time; an explicit retention (v2-4) by its own deadline', async () => {
    const h = await startHarness({ offsetsRetentionMs: 10 * HOUR });
    const c = h.coordinator;
    await commit(c, 'old', [{ topic: 't1', partition: 0, offset: 1n }]);
    await commit(c, 'short', [{ topic: 't1', partition: 0, offset: 1n }], { retentionTimeMs: 1000n });
    h.clockSkewMs.value = 2000;
    await c.expireOffsets();
    expect(c.groupState('short')).toBeUndefined();
    expect(c.groupState('old')).toBe('Empty');
    h.clockSkewMs.value = 10 * HOUR;
    await c.expireOffsets();
    expect(c.groupState('old')).toBeUndefined();
    expect(await h.kv.list('')).toEqual([]);
    expect(h.lines.some((l) => /removed 1 expired offset/.test(l))).toBe(true);
  });

  test('a consumer group\'s offsets expire only once it has been Empty for the retention period', async () => {
    const h = await startHarness({ offsetsRetentionMs: 10 * HOUR });
    const c = h.coordinator;
    const a = await stableSingle(c, 'g'); // subscribed to t1
    await commit(c, 'g', [{ topic: 't1', partition: 0, offset: 1n }, { topic: 't2', partition: 0, offset: 1n }], { memberId: a, generationId: 1 });
    // Stable: the unsubscribed topic's offset expires by its commit time, the subscribed one never.
    h.clockSkewMs.value = 10 * HOUR;
    await c.expireOffsets();
    expect(c.fetchOffsets('g', null).topics.map((t) => t.name)).toEqual(['t1']);
    // The member leaves 10 hours after the commit; retention counts from then.
    c.leaveGroup('g', [{ memberId: a, groupInstanceId: null, reason: null }]);
    expect(c.groupState('g')).toBe('Empty');
    h.clockSkewMs.value = 19 * HOUR;
    await c.expireOffsets();
    expect(c.groupState('g')).toBe('Empty');
    h.clockSkewMs.value = 20 * HOUR + 60_000;
    await c.expireOffsets();
    expect(c.groupState('g')).toBeUndefined();
  });

  test('after a restart, retention counts from the restart (when the group became empty is not stored)', async () => {
    const h = await startHarness({ offsetsRetentionMs: 10 * HOUR });
    await commit(h.coordinator, 'g', [{ topic: 't1', partition: 0, offset: 1n }]);
    h.clockSkewMs.value = 5 * HOUR;
    const c = await h.restart();
    h.clockSkewMs.value = 12 * HOUR;
    await c.expireOffsets();
    expect(c.groupState('g')).toBe('Empty');
    h.clockSkewMs.value = 15 * HOUR + 60_000;
    await c.expireOffsets();
    expect(c.groupState('g')).toBeUndefined();
  });
});

describe('close()', () => {
  test('answers parked requests with NOT_COORDINATOR, refuses new ones, and leaves no timer behind', async () => {
    const created = new Map<NodeJS.Timeout, { fired: boolean; cleared: boolean }>();
    const realSetTimeout = global.setTimeout;
    const realSetInterval = global.setInterval;
    const realClearTimeout = global.clearTimeout;
    const realClearInterval = global.clearInterval;
    const track = (real: typeof setTimeout) =>
      ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
        const rec = { fired: false, cleared: false };
        const t = real((...a: unknown[]) => {
          rec.fired = real === realSetTimeout;
          fn(...a);
        }, ms, ...args);
        created.set(t, rec);
        return t;
      }) as unknown as typeof setTimeout;
    const untrack = (real: typeof clearTimeout) =>
      ((t: NodeJS.Timeout | undefined) => {
        const rec = t && created.get(t);
        if (rec) rec.cleared = true;
        real(t);
      }) as typeof clearTimeout;
    global.setTimeout = track(realSetTimeout);
    global.setInterval = track(realSetInterval as unknown as typeof setTimeout) as unknown as typeof setInterval;
    global.clearTimeout = untrack(realClearTimeout);
    global.clearInterval = untrack(realClearInterval as unknown as typeof clearTimeout) as unknown as typeof clearInterval;
    let h: Harness;
    try {
      h = await startHarness();
      const c = h.coordinator;
      const a = await stableSingle(c, 'stable');
      const b = await joinNew(c, 'stable'); // parked in JoinGroup, a rebalance timer running
      await c.joinGroup(joinParams('pending-only')); // a pending member id with its timer
      const s = await stableSingle(c, 'syncing');
      const t = await joinNew(c, 'syncing');
      const rejoin = await c.joinGroup(joinParams('syncing', { memberId: s }));
      await t.joined;
      const parkedSync = sync(c, 'syncing', t.memberId, rejoin.generationId); // waits for the leader
      await c.close();
      expect(await b.joined).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
      expect(await parkedSync).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
      expect(hb(c, 'stable', a, 1)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      expect((await c.joinGroup(joinParams('x'))).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      expect(c.listGroups([]).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    } finally {
      global.setTimeout = realSetTimeout;
      global.setInterval = realSetInterval;
      global.clearTimeout = realClearTimeout;
      global.clearInterval = realClearInterval;
    }
    const live = [...created.values()].filter((r) => !r.fired && !r.cleared);
    expect(live).toEqual([]);
    expect(created.size).toBeGreaterThan(3);
  });
});
