/**
 * The states of a classic consumer group, by Kafka's names (DescribeGroups and ListGroups
 * report them as these strings), and which state each may be entered from.
 *
 *            join (first member)             all expected members joined / rebalance timeout
 *   Empty ──────────────────────► Preparing ───────────────────────────────► Completing
 *     ▲                           Rebalance ◄────── member joins/leaves/fails ── Rebalance
 *     │  rebalance completes with    ▲   ▲                                       │ leader's
 *     └──── no members ──────────────┘   └───── member joins/leaves/fails ─── Stable ◄┘ SyncGroup
 *
 * Dead: the group was deleted (DeleteGroups, or it was Empty with no offsets left); it is
 * dropped from the coordinator and a later request for the same id starts a new group.
 */
export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export const GROUP_STATES: readonly GroupState[] = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'];

const VALID_PREVIOUS: Record<GroupState, ReadonlySet<GroupState>> = {
  Empty: new Set(['PreparingRebalance']),
  PreparingRebalance: new Set(['Stable', 'CompletingRebalance', 'Empty']),
  CompletingRebalance: new Set(['PreparingRebalance']),
  Stable: new Set(['CompletingRebalance']),
  Dead: new Set(['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead']),
};

export function canTransition(from: GroupState, to: GroupState): boolean {
  return VALID_PREVIOUS[to].has(from);
}
