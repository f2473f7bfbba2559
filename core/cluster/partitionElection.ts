import type { PartitionStateRecord } from '../meta/metadataStore';

/** A new partition record to write (conditional on the one it came from) and why. */
export interface PartitionChange {
  next: Omit<PartitionStateRecord, 'version'>;
  reason: string;
}

export interface ElectionPolicy {
  /** unclean.leader.election.enable for the partition's topic. */
  unclean: boolean;
  /** Move leadership back to the preferred replica when it is alive and in sync (auto.leader.rebalance.enable, on its interval). */
  preferred: boolean;
}

/** No leader (Kafka's LeaderAndIsr.NoLeader). */
export const NO_LEADER = -1;

/**
 * The controller's decision for one partition given which brokers are alive (Kafka's
 * PartitionChangeBuilder), or null when nothing changes:
 * - dead brokers leave the ISR (never its last member: with every in-sync replica dead, the last
 *   one stays, so that it leads again when it returns and nothing it acknowledged is lost);
 * - a dead or missing leader is replaced by the first live ISR member in assignment order, with a
 *   new leader epoch; with none, by the first live replica when unclean election is allowed (the
 *   ISR becomes it alone), else the partition has no leader until an ISR member returns;
 * - with `preferred`, a live leader hands over to the preferred replica (the first assigned) when
 *   that one is alive and in sync.
 */
export function decidePartition(state: PartitionStateRecord, isLive: (nodeId: number) => boolean, policy: ElectionPolicy): PartitionChange | null {
  const liveIsr = inAssignmentOrder(state.isr.filter(isLive), state.replicas);
  const leaderLive = state.leader !== NO_LEADER && isLive(state.leader) && state.isr.includes(state.leader);
  const base = { topicId: state.topicId, partition: state.partition, replicas: state.replicas, logStartOffset: state.logStartOffset };
  if (leaderLive) {
    const preferred = state.replicas[0];
    if (policy.preferred && preferred !== undefined && preferred !== state.leader && liveIsr.includes(preferred)) {
      return { next: { ...base, leader: preferred, leaderEpoch: state.leaderEpoch + 1, isr: liveIsr }, reason: `preferred replica ${preferred} is back in sync` };
    }
    if (liveIsr.length < state.isr.length) {
      const dead = state.isr.filter((id) => !isLive(id));
      return { next: { ...base, leader: state.leader, leaderEpoch: state.leaderEpoch, isr: liveIsr }, reason: `broker(s) ${dead.join(',')} are not alive` };
    }
    return null;
  }
  if (liveIsr.length > 0) {
    const why = state.leader === NO_LEADER ? 'it had no leader' : `leader ${state.leader} is not alive`;
    return { next: { ...base, leader: liveIsr[0], leaderEpoch: state.leaderEpoch + 1, isr: liveIsr }, reason: why };
  }
  if (policy.unclean) {
    const candidate = state.replicas.find(isLive);
    if (candidate !== undefined) {
      return {
        next: { ...base, leader: candidate, leaderEpoch: state.leaderEpoch + 1, isr: [candidate] },
        reason: `unclean election: no in-sync replica of ${state.isr.join(',')} is alive (unclean.leader.election.enable)`,
      };
    }
  }
  if (state.leader === NO_LEADER) return null;
  // Every in-sync replica is gone: no leader, and the ISR keeps its last member(s).
  return { next: { ...base, leader: NO_LEADER, leaderEpoch: state.leaderEpoch + 1, isr: state.isr }, reason: `leader ${state.leader} and every in-sync replica are not alive` };
}

/**
 * This broker leaves a partition it is about to stop serving (controlled shutdown, or a start
 * whose log may be behind): as leader it hands over to the first live in-sync replica (new leader
 * epoch), as a follower it leaves the ISR; never as the last in-sync replica. Null when nothing
 * changes.
 */
export function leavePartition(state: PartitionStateRecord, nodeId: number, isLive: (nodeId: number) => boolean): PartitionChange | null {
  if (!state.isr.includes(nodeId) || state.isr.length < 2) return null;
  const others = inAssignmentOrder(state.isr.filter((id) => id !== nodeId), state.replicas);
  const base = { topicId: state.topicId, partition: state.partition, replicas: state.replicas, logStartOffset: state.logStartOffset };
  if (state.leader === nodeId) {
    const next = others.find(isLive);
    if (next === undefined) return null;
    return { next: { ...base, leader: next, leaderEpoch: state.leaderEpoch + 1, isr: others }, reason: `leader ${nodeId} hands over to ${next}` };
  }
  return { next: { ...base, leader: state.leader, leaderEpoch: state.leaderEpoch, isr: others }, reason: `follower ${nodeId} leaves the ISR` };
}

/** `ids` ordered as in the assignment, ids not assigned last. */
function inAssignmentOrder(ids: readonly number[], replicas: readonly number[]): number[] {
  const pos = (id: number) => {
    const i = replicas.indexOf(id);
    return i < 0 ? replicas.length + id : i;
  };
  return [...ids].sort((a, b) => pos(a) - pos(b));
}

/** ElectLeaders' two kinds (Kafka's ElectionType): the preferred replica, or any live replica when no in-sync one is. */
export type ElectionType = 'preferred' | 'unclean';

/** An election an operator asked for: the change to write, or why there is none (Kafka's error names). */
export type RequestedElection =
  | { change: PartitionChange }
  | { error: 'ELECTION_NOT_NEEDED' | 'PREFERRED_LEADER_NOT_AVAILABLE' | 'ELIGIBLE_LEADERS_NOT_AVAILABLE'; message: string };

/**
 * ElectLeaders for one partition (Kafka's ReplicationControlManager.electLeader): preferred moves
 * leadership to the first assigned replica when it is alive and in sync; unclean elects only when
 * the leader is gone and no in-sync replica is alive, taking the first live replica (which may
 * lack acknowledged records: the operator's explicit choice).
 */
export function electRequested(state: PartitionStateRecord, isLive: (nodeId: number) => boolean, type: ElectionType): RequestedElection {
  const base = { topicId: state.topicId, partition: state.partition, replicas: state.replicas, logStartOffset: state.logStartOffset };
  const leaderLive = state.leader !== NO_LEADER && isLive(state.leader);
  if (type === 'preferred') {
    const preferred = state.replicas[0];
    if (state.leader === preferred && leaderLive) return { error: 'ELECTION_NOT_NEEDED', message: `${preferred} is already the leader` };
    if (preferred === undefined || !isLive(preferred) || !state.isr.includes(preferred)) {
      return { error: 'PREFERRED_LEADER_NOT_AVAILABLE', message: `the preferred replica ${preferred} is not alive and in sync (isr ${state.isr.join(',')})` };
    }
    const isr = inAssignmentOrder(state.isr.filter(isLive), state.replicas);
    return { change: { next: { ...base, leader: preferred, leaderEpoch: state.leaderEpoch + 1, isr }, reason: 'preferred leader election requested' } };
  }
  if (leaderLive) return { error: 'ELECTION_NOT_NEEDED', message: `leader ${state.leader} is alive` };
  const liveIsr = inAssignmentOrder(state.isr.filter(isLive), state.replicas);
  if (liveIsr.length > 0) return { change: { next: { ...base, leader: liveIsr[0], leaderEpoch: state.leaderEpoch + 1, isr: liveIsr }, reason: 'election requested: an in-sync replica is alive' } };
  const candidate = state.replicas.find(isLive);
  if (candidate === undefined) return { error: 'ELIGIBLE_LEADERS_NOT_AVAILABLE', message: `no replica of ${state.replicas.join(',')} is alive` };
  return { change: { next: { ...base, leader: candidate, leaderEpoch: state.leaderEpoch + 1, isr: [candidate] }, reason: 'unclean leader election requested' } };
}
