/**
 * The controller's decisions (core/cluster/partitionElection.ts), as pure functions of a
 * partition's record and which brokers are alive.
 */
import type { PartitionStateRecord } from '../../core/meta/metadataStore';
import { completeReassignment, decidePartition, electRequested, leavePartition, startReassignment } from '../../core/cluster/partitionElection';

const rec = (r: Partial<PartitionStateRecord>): PartitionStateRecord => ({
  topicId: 't',
  partition: 0,
  leader: 0,
  leaderEpoch: 5,
  replicas: [0, 1, 2],
  isr: [0, 1, 2],
  logStartOffset: 0n,
  version: 9,
  ...r,
});
const alive = (...ids: number[]) => (id: number) => ids.includes(id);
const clean = { unclean: false, preferred: false };

describe('decidePartition', () => {
  test('nothing to do while the leader and the ISR are alive', () => {
    expect(decidePartition(rec({}), alive(0, 1, 2), clean)).toBeNull();
  });

  test('a dead leader is replaced by the first live ISR member in assignment order, with a new epoch; the dead leave the ISR', () => {
    const c = decidePartition(rec({ replicas: [0, 2, 1] }), alive(1, 2), clean)!;
    expect(c.next).toMatchObject({ leader: 2, leaderEpoch: 6, isr: [2, 1], replicas: [0, 2, 1] });
  });

  test('a dead follower leaves the ISR, the leader and epoch stay', () => {
    expect(decidePartition(rec({}), alive(0, 1), clean)!.next).toMatchObject({ leader: 0, leaderEpoch: 5, isr: [0, 1] });
  });

  test('with no live ISR member there is no leader and the ISR keeps its last members; unclean election takes a live replica', () => {
    const s = rec({ isr: [0] });
    expect(decidePartition(s, alive(1, 2), clean)!.next).toMatchObject({ leader: -1, leaderEpoch: 6, isr: [0] });
    expect(decidePartition(rec({ leader: -1, leaderEpoch: 6, isr: [0] }), alive(1, 2), clean)).toBeNull();
    expect(decidePartition(s, alive(1, 2), { unclean: true, preferred: false })!.next).toMatchObject({ leader: 1, leaderEpoch: 6, isr: [1] });
    // The last in-sync replica returns: it leads again.
    expect(decidePartition(rec({ leader: -1, leaderEpoch: 6, isr: [0] }), alive(0, 1), clean)!.next).toMatchObject({ leader: 0, leaderEpoch: 7, isr: [0] });
  });

  test('the preferred replica gets leadership back once alive and in sync, only on a rebalance pass', () => {
    const s = rec({ leader: 1 });
    expect(decidePartition(s, alive(0, 1, 2), clean)).toBeNull();
    expect(decidePartition(s, alive(0, 1, 2), { unclean: false, preferred: true })!.next).toMatchObject({ leader: 0, leaderEpoch: 6 });
    expect(decidePartition(rec({ leader: 1, isr: [1, 2] }), alive(0, 1, 2), { unclean: false, preferred: true })).toBeNull();
  });
});

describe('leavePartition (controlled shutdown, start)', () => {
  test('a leader hands over to a live in-sync replica; a follower leaves the ISR; the last one stays', () => {
    expect(leavePartition(rec({}), 0, alive(1, 2))!.next).toMatchObject({ leader: 1, leaderEpoch: 6, isr: [1, 2] });
    expect(leavePartition(rec({}), 2, alive(0, 1))!.next).toMatchObject({ leader: 0, leaderEpoch: 5, isr: [0, 1] });
    expect(leavePartition(rec({ isr: [0] }), 0, alive(1, 2))).toBeNull();
    expect(leavePartition(rec({}), 0, alive())).toBeNull();
  });
});

describe('electRequested (ElectLeaders)', () => {
  test('preferred', () => {
    expect(electRequested(rec({}), alive(0, 1, 2), 'preferred')).toMatchObject({ error: 'ELECTION_NOT_NEEDED' });
    expect(electRequested(rec({ leader: 1 }), alive(0, 1, 2), 'preferred')).toMatchObject({ change: { next: { leader: 0, leaderEpoch: 6 } } });
    expect(electRequested(rec({ leader: 1, isr: [1, 2] }), alive(0, 1, 2), 'preferred')).toMatchObject({ error: 'PREFERRED_LEADER_NOT_AVAILABLE' });
  });

  test('unclean', () => {
    expect(electRequested(rec({}), alive(0, 1, 2), 'unclean')).toMatchObject({ error: 'ELECTION_NOT_NEEDED' });
    expect(electRequested(rec({ leader: -1, isr: [0] }), alive(2), 'unclean')).toMatchObject({ change: { next: { leader: 2, isr: [2] } } });
    expect(electRequested(rec({ leader: -1, isr: [0] }), alive(), 'unclean')).toMatchObject({ error: 'ELIGIBLE_LEADERS_NOT_AVAILABLE' });
  });
});

describe('reassignment', () => {
  test('adding replicas join as followers; the move completes once they are in sync, and a leader outside the target hands over', () => {
    const s = rec({ replicas: [0, 1], isr: [0, 1] });
    const started = startReassignment(s, [2, 1], alive(0, 1, 2));
    expect(started).toMatchObject({ next: { replicas: [2, 1, 0], addingReplicas: [2], removingReplicas: [0], isr: [0, 1], leader: 0, leaderEpoch: 5 } });
    const moving = { ...(started as { next: Omit<PartitionStateRecord, 'version'> }).next, version: 10 };
    expect(completeReassignment(moving, alive(0, 1, 2))).toBeNull();
    const done = completeReassignment({ ...moving, isr: [0, 1, 2] }, alive(0, 1, 2))!;
    expect(done.next).toEqual({ topicId: 't', partition: 0, replicas: [2, 1], isr: [2, 1], leader: 2, leaderEpoch: 6, logStartOffset: 0n });
    // The controller completes it on its pass.
    expect(decidePartition({ ...moving, isr: [0, 1, 2] }, alive(0, 1, 2), clean)!.next).toEqual(done.next);
  });

  test('a cancel restores the replicas it had; nothing to cancel is an error; only removing completes at once', () => {
    const moving = rec({ replicas: [2, 1, 0], addingReplicas: [2], removingReplicas: [0], isr: [0, 1, 2] });
    expect(startReassignment(moving, null, alive(0, 1, 2))).toMatchObject({ next: { replicas: [1, 0], isr: [1, 0], leader: 0, leaderEpoch: 5 } });
    expect(startReassignment(rec({}), null, alive(0, 1, 2))).toMatchObject({ error: 'NO_REASSIGNMENT_IN_PROGRESS' });
    expect(startReassignment(rec({}), [1, 2], alive(0, 1, 2))).toMatchObject({ next: { replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 6 } });
  });
});
