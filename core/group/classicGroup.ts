/**
 * The membership state of one classic group: members (dynamic and static), pending members
 * (given an id by MEMBER_ID_REQUIRED, not yet rejoined), the generation, the leader, the chosen
 * protocol, and the parked JoinGroup/SyncGroup answers. The rules that move it between states
 * live in coordinator.ts; this class keeps its bookkeeping consistent.
 */
import { randomUUID } from 'node:crypto';
import { canTransition, type GroupState } from './groupState';
import { CONSUMER_PROTOCOL_TYPE, subscribedTopics } from './consumerProtocol';
import { ErrorCode } from '../protocol/errorCodes';
import { joinError, syncError, type GroupProtocol, type JoinResult, type MemberMetadata, type SyncResult } from './member';

/** The delayed completion of a PreparingRebalance phase (Kafka's DelayedJoin / InitialDelayedJoin). */
export interface PendingJoin {
  timer: NodeJS.Timeout;
  /**
   * The first rebalance of an Empty group waits group.initial.rebalance.delay.ms and extends
   * itself while new members keep arriving, instead of completing as soon as everyone known
   * has joined (there is nobody to wait for yet).
   */
  initial: boolean;
  delayMs: number;
  remainingMs: number;
}

export class ClassicGroup {
  state: GroupState = 'Empty';
  /** When the group entered its current state (ms); for an Empty group, since when it has been empty. */
  stateTimestamp: number;
  protocolType: string | null = null;
  protocolName: string | null = null;
  generationId = 0;
  leaderId: string | null = null;
  /** Insertion order = join order, which also decides a new leader. */
  readonly members = new Map<string, MemberMetadata>();
  /** group.instance.id → member id of its current incarnation. */
  private readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED, each with its expiry timer. */
  readonly pendingMembers = new Map<string, NodeJS.Timeout>();
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSyncMembers = new Set<string>();
  /**
   * Counters kept up to date as members come, go and rejoin, so the checks made on every
   * JoinGroup (has everyone joined? which protocols does everyone support?) do not rescan the
   * members: a rebalance of n members stays O(n), not O(n²).
   */
  private awaitingJoinCount = 0;
  /** Protocol name → how many members support it. */
  private readonly protocolSupport = new Map<string, number>();
  /** Topics the consumer group's members subscribe to; null when unknown (not a consumer group, or unparseable metadata). */
  subscribedTopics: ReadonlySet<string> | null = null;
  /** A member joined during the initial delayed join, so the delay may be extended. */
  newMemberAdded = false;
  pendingJoin: PendingJoin | null = null;
  /** Removes members that joined but never synced (Kafka's DelayedSync). */
  syncTimer: NodeJS.Timeout | null = null;

  constructor(readonly groupId: string, now: number) {
    this.stateTimestamp = now;
  }

  is(state: GroupState): boolean {
    return this.state === state;
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  get(memberId: string): MemberMetadata | undefined {
    return this.members.get(memberId);
  }

  get size(): number {
    return this.members.size;
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  isPendingMember(memberId: string): boolean {
    return this.pendingMembers.has(memberId);
  }

  currentStaticMemberId(groupInstanceId: string): string | undefined {
    return this.staticMembers.get(groupInstanceId);
  }

  get staticMemberCount(): number {
    return this.staticMembers.size;
  }

  get numAwaitingJoin(): number {
    return this.awaitingJoinCount;
  }

  /** Every known member has rejoined and no member id handed out is still expected. */
  get hasAllMembersJoined(): boolean {
    return this.numAwaitingJoin === this.members.size && this.pendingMembers.size === 0;
  }

  /** The longest rebalance timeout of any member: how long a rebalance waits for stragglers. */
  get rebalanceTimeoutMs(): number {
    let t = 0;
    for (const m of this.members.values()) t = Math.max(t, m.rebalanceTimeoutMs);
    return t;
  }

  /** Changes state; returns the state left. Throws on a transition the state machine forbids. */
  transitionTo(to: GroupState, now: number): GroupState {
    const from = this.state;
    if (!canTransition(from, to)) throw new Error(`group ${this.groupId}: invalid transition ${from} → ${to}`);
    this.state = to;
    this.stateTimestamp = now;
    return from;
  }

  /** PreparingRebalance can be entered now (from Empty, CompletingRebalance or Stable). */
  get canRebalance(): boolean {
    return canTransition(this.state, 'PreparingRebalance');
  }

  /** Kafka's member id: `${group.instance.id or client.id}-${uuid}`. */
  generateMemberId(clientId: string, groupInstanceId: string | null): string {
    return `${groupInstanceId ?? clientId}-${randomUUID()}`;
  }

  add(member: MemberMetadata, awaitingJoin: ((r: JoinResult) => void) | null): void {
    if (member.groupInstanceId !== null) {
      if (this.staticMembers.has(member.groupInstanceId)) {
        throw new Error(`static member ${member.groupInstanceId} is already a member of group ${this.groupId}`);
      }
      this.staticMembers.set(member.groupInstanceId, member.memberId);
    }
    if (this.members.size === 0) this.protocolType = member.protocolType;
    if (this.leaderId === null) this.leaderId = member.memberId;
    this.members.set(member.memberId, member);
    this.countProtocols(member.protocols, 1);
    this.setAwaitingJoin(member, awaitingJoin);
    this.removePending(member.memberId);
  }

  /** Forgets a member (its parked answers must have been given already) and stops its timer. */
  remove(memberId: string): void {
    const member = this.members.get(memberId);
    if (member !== undefined) {
      this.members.delete(memberId);
      member.clearHeartbeat();
      this.countProtocols(member.protocols, -1);
      this.setAwaitingJoin(member, null);
      if (member.groupInstanceId !== null) this.staticMembers.delete(member.groupInstanceId);
    }
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null;
    this.removePending(memberId);
    this.pendingSyncMembers.delete(memberId);
  }

  addPending(memberId: string, timer: NodeJS.Timeout): void {
    this.pendingMembers.set(memberId, timer);
  }

  removePending(memberId: string): void {
    const t = this.pendingMembers.get(memberId);
    if (t !== undefined) {
      clearTimeout(t);
      this.pendingMembers.delete(memberId);
    }
  }

  /**
   * Keeps the leader if it rejoined, else picks any member that did. False when no member
   * rejoined (or there is no leader because the group is empty).
   */
  maybeElectNewJoinedLeader(): boolean {
    if (this.leaderId === null) return false;
    const leader = this.members.get(this.leaderId);
    if (leader?.isAwaitingJoin) return true;
    for (const m of this.members.values()) {
      if (m.isAwaitingJoin) {
        this.leaderId = m.memberId;
        return true;
      }
    }
    return false;
  }

  /**
   * A static member came back with a new member id: the old incarnation's parked answers are
   * fenced, and the member keeps everything else (assignment, leadership) under the new id.
   */
  replaceStaticMember(groupInstanceId: string, oldMemberId: string, newMemberId: string): MemberMetadata {
    const member = this.members.get(oldMemberId);
    if (member === undefined) throw new Error(`cannot replace unknown member ${oldMemberId} of group ${this.groupId}`);
    this.members.delete(oldMemberId);
    this.maybeInvokeJoin(member, joinError(oldMemberId, ErrorCode.FENCED_INSTANCE_ID));
    this.maybeInvokeSync(member, syncError(ErrorCode.FENCED_INSTANCE_ID));
    if (this.pendingSyncMembers.delete(oldMemberId)) this.pendingSyncMembers.add(newMemberId);
    member.memberId = newMemberId;
    this.members.set(newMemberId, member);
    if (this.leaderId === oldMemberId) this.leaderId = newMemberId;
    this.staticMembers.set(groupInstanceId, newMemberId);
    return member;
  }

  updateMember(member: MemberMetadata, protocols: GroupProtocol[], rebalanceTimeoutMs: number, sessionTimeoutMs: number, awaitingJoin: ((r: JoinResult) => void) | null): void {
    this.countProtocols(member.protocols, -1);
    member.protocols = protocols;
    this.countProtocols(protocols, 1);
    member.rebalanceTimeoutMs = rebalanceTimeoutMs;
    member.sessionTimeoutMs = sessionTimeoutMs;
    this.setAwaitingJoin(member, awaitingJoin);
  }

  /** Answers the member's parked JoinGroup, if any. */
  maybeInvokeJoin(member: MemberMetadata, result: JoinResult): boolean {
    const cb = member.awaitingJoin;
    if (cb === null) return false;
    this.setAwaitingJoin(member, null);
    cb(result);
    return true;
  }

  /** The only place a member's parked JoinGroup changes, so the count stays right. */
  private setAwaitingJoin(member: MemberMetadata, cb: ((r: JoinResult) => void) | null): void {
    if (member.isAwaitingJoin) this.awaitingJoinCount--;
    member.awaitingJoin = cb;
    if (cb !== null) this.awaitingJoinCount++;
  }

  private countProtocols(protocols: readonly GroupProtocol[], delta: 1 | -1): void {
    // A name listed twice by one member still counts once for it.
    for (const name of new Set(protocols.map((p) => p.name))) {
      const n = (this.protocolSupport.get(name) ?? 0) + delta;
      if (n === 0) this.protocolSupport.delete(name);
      else this.protocolSupport.set(name, n);
    }
  }

  /** Answers the member's parked SyncGroup, if any. */
  maybeInvokeSync(member: MemberMetadata, result: SyncResult): boolean {
    const cb = member.awaitingSync;
    if (cb === null) return false;
    member.awaitingSync = null;
    cb(result);
    return true;
  }

  /** Protocols every member supports. */
  private candidateProtocols(): Set<string> {
    const all = new Set<string>();
    for (const [name, n] of this.protocolSupport) if (n === this.members.size) all.add(name);
    return all;
  }

  /**
   * The group's protocol: each member votes for its most preferred protocol among those every
   * member supports, and the most votes win (ties go to the protocol voted for first, in join
   * order, so the choice is deterministic).
   */
  selectProtocol(): string {
    const candidates = this.candidateProtocols();
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const v = m.vote(candidates);
      votes.set(v, (votes.get(v) ?? 0) + 1);
    }
    let best = '';
    let most = -1;
    for (const [name, n] of votes) {
      if (n > most) {
        best = name;
        most = n;
      }
    }
    return best;
  }

  /**
   * Whether a member with these protocols may join: an Empty group takes any non-empty
   * protocol type with at least one protocol; otherwise the type must match and at least one
   * of the protocols must be supported by every current member.
   */
  supportsProtocols(protocolType: string, protocols: readonly GroupProtocol[]): boolean {
    if (this.is('Empty')) return protocolType !== '' && protocols.length > 0;
    if (this.protocolType !== protocolType) return false;
    return protocols.some((p) => this.protocolSupport.get(p.name) === this.members.size);
  }

  /** Starts the next generation (the caller moves the group to CompletingRebalance, or Empty without members). */
  initNextGeneration(): void {
    this.generationId++;
    this.protocolName = this.members.size > 0 ? this.selectProtocol() : null;
    this.subscribedTopics = this.computeSubscribedTopics();
    this.pendingSyncMembers.clear();
  }

  /**
   * The union of the members' subscriptions when this is a consumer group with a chosen
   * protocol; an empty consumer group subscribes to nothing; null when it cannot be known.
   */
  computeSubscribedTopics(): ReadonlySet<string> | null {
    if (this.protocolType !== CONSUMER_PROTOCOL_TYPE) return null;
    if (this.members.size === 0) return new Set();
    if (this.protocolName === null) return null;
    const topics = new Set<string>();
    try {
      for (const m of this.members.values()) for (const t of subscribedTopics(m.metadata(this.protocolName))) topics.add(t);
    } catch {
      return null;
    }
    return topics;
  }

  /** True when the topic may be in use: subscribed, or unknown (then assume it is, to be safe). */
  isSubscribedToTopic(topic: string): boolean {
    return this.subscribedTopics === null || this.subscribedTopics.has(topic);
  }

  /** The members' metadata for the chosen protocol, as JoinGroup gives it to the leader. */
  currentMemberMetadata(): JoinResult['members'] {
    const protocol = this.protocolName ?? '';
    return [...this.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata(protocol) }));
  }
}
