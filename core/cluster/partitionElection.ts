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
 *   that one is alive and in sync;
 * - a reassignment whose adding replicas are all in sync completes (completeReassignment).
 */
export function decidePartition(state: PartitionStateRecord, isLive: (nodeId: number) => boolean, policy: ElectionPolicy): PartitionChange | null {
  const finished = completeReassignment(state, isLive);
  if (finished !== null) return finished;
  const liveIsr = inAssignmentOrder(state.isr.filter(isLive), state.replicas);
  const leaderLive = state.leader !== NO_LEADER && isLive(state.leader) && state.isr.includes(state.leader);
  const base = baseOf(state);
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
  const base = baseOf(state);
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
  const base = baseOf(state);
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

/** The record's fields a change keeps as they are (a reassignment in progress included). */
function baseOf(state: PartitionStateRecord): Pick<PartitionStateRecord, 'topicId' | 'partition' | 'replicas' | 'logStartOffset' | 'addingReplicas' | 'removingReplicas'> {
  const base: Pick<PartitionStateRecord, 'topicId' | 'partition' | 'replicas' | 'logStartOffset' | 'addingReplicas' | 'removingReplicas'> = {
    topicId: state.topicId,
    partition: state.partition,
    replicas: state.replicas,
    logStartOffset: state.logStartOffset,
  };
  if (state.addingReplicas?.length) base.addingReplicas = state.addingReplicas;
  if (state.removingReplicas?.length) base.removingReplicas = state.removingReplicas;
  return base;
}

/** Whether a reassignment is in progress (KIP-455). */
export function isReassigning(state: PartitionStateRecord): boolean {
  return (state.addingReplicas?.length ?? 0) > 0 || (state.removingReplicas?.length ?? 0) > 0;
}

/**
 * The replicas a partition ends up with once its reassignment completes (the target), or the ones
 * it had before (what a cancellation restores).
 */
export function reassignmentTarget(state: PartitionStateRecord): number[] {
  const removing = new Set(state.removingReplicas ?? []);
  return state.replicas.filter((id) => !removing.has(id));
}

function originalReplicas(state: PartitionStateRecord): number[] {
  const adding = new Set(state.addingReplicas ?? []);
  return state.replicas.filter((id) => !adding.has(id));
}

/**
 * The record with `replicas` as its assignment and no reassignment: the ISR keeps only those
 * replicas, and a leader outside them hands over to the first live in-sync one (new epoch).
 * Null when no replica of `replicas` is in sync (the move waits, or cannot be undone yet).
 */
function settle(state: PartitionStateRecord, replicas: number[], isLive: (nodeId: number) => boolean, reason: string): PartitionChange | null {
  const isr = inAssignmentOrder(state.isr.filter((id) => replicas.includes(id)), replicas);
  if (isr.length === 0) return null;
  const keepsLeader = replicas.includes(state.leader) && isr.includes(state.leader) && isLive(state.leader);
  const leader = keepsLeader ? state.leader : (isr.find(isLive) ?? NO_LEADER);
  const next = { topicId: state.topicId, partition: state.partition, replicas, logStartOffset: state.logStartOffset, isr, leader, leaderEpoch: keepsLeader ? state.leaderEpoch : state.leaderEpoch + 1 };
  return { next, reason };
}

/** A reassignment whose adding replicas are all in sync (or that only removes) completes. */
export function completeReassignment(state: PartitionStateRecord, isLive: (nodeId: number) => boolean): PartitionChange | null {
  if (!isReassigning(state)) return null;
  const adding = state.addingReplicas ?? [];
  if (!adding.every((id) => state.isr.includes(id))) return null;
  return settle(state, reassignmentTarget(state), isLive, `reassignment to ${reassignmentTarget(state).join(',')} complete: the new replicas are in sync`);
}

/**
 * AlterPartitionReassignments for one partition (KIP-455, Kafka's ReplicationControlManager):
 * `target` null cancels a reassignment in progress (back to the replicas it had; error
 * NO_REASSIGNMENT_IN_PROGRESS when there is none); a target equal to the current replicas is done
 * at once; otherwise the replicas become the target followed by those leaving, the new ones start
 * as followers out of the ISR and the controller completes the move once they are all in sync
 * (completeReassignment). `target` is checked by the caller (checkManualAssignment).
 */
export function startReassignment(state: PartitionStateRecord, target: readonly number[] | null, isLive: (nodeId: number) => boolean): PartitionChange | { error: 'NO_REASSIGNMENT_IN_PROGRESS'; message: string } | null {
  if (target === null) {
    if (!isReassigning(state)) return { error: 'NO_REASSIGNMENT_IN_PROGRESS', message: `no reassignment of partition ${state.partition} is in progress` };
    return settle(state, originalReplicas(state), isLive, 'reassignment cancelled');
  }
  const current = isReassigning(state) ? originalReplicas(state) : state.replicas;
  const adding = target.filter((id) => !current.includes(id));
  const removing = current.filter((id) => !target.includes(id));
  if (adding.length === 0) {
    // Only removals or a new order: nothing to copy.
    const r = settle(state, [...target], isLive, `reassigned to ${target.join(',')}`);
    if (r !== null && r.next.replicas.join(',') === state.replicas.join(',') && !isReassigning(state) && r.next.isr.join(',') === state.isr.join(',')) return null;
    return r;
  }
  const next: Omit<PartitionStateRecord, 'version'> = {
    topicId: state.topicId,
    partition: state.partition,
    leader: state.leader,
    leaderEpoch: state.leaderEpoch,
    isr: state.isr.filter((id) => current.includes(id)),
    replicas: [...target, ...removing],
    addingReplicas: adding,
    logStartOffset: state.logStartOffset,
  };
  if (removing.length > 0) next.removingReplicas = removing;
  return { next, reason: `reassigning to ${target.join(',')} (adding ${adding.join(',')}${removing.length > 0 ? `, removing ${removing.join(',')}` : ''})` };
}
