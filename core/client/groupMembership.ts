import { StrataError } from '../common/errors';
import { Logger } from '../common/logger';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription, CONSUMER_PROTOCOL_TYPE } from '../group/consumerProtocol';
import { ErrorCode, errorName } from '../protocol/errorCodes';
import { PartitionAssignor } from './assignors';
import { GroupMemberIdentity, StrataClient, TopicPartitionRef } from './client';
import { KafkaResponseError } from './errors';

/**
 * One member of a classic (pre-KIP-848) consumer group: the JoinGroup / SyncGroup /
 * Heartbeat / LeaveGroup side of Kafka's consumer, without the fetching.
 *
 * - Join: JoinGroup with our subscription under every assignor we offer; a new member first
 *   gets MEMBER_ID_REQUIRED with its id (v4+, KIP-394) and joins again with it. The member
 *   the coordinator names leader decodes everyone's subscription, runs the assignor the
 *   coordinator chose and hands the result in with its SyncGroup; every member gets its
 *   share back from SyncGroup.
 * - Heartbeat: on a timer while the generation is stable. REBALANCE_IN_PROGRESS asks for a
 *   rejoin (the consumer commits and revokes first, then joins); ILLEGAL_GENERATION and
 *   UNKNOWN_MEMBER_ID mean the coordinator no longer counts us in: the generation (and for
 *   UNKNOWN_MEMBER_ID the member id) is reset, the partitions count as lost (no commit) and
 *   we join afresh.
 * - Leave: dynamic members send LeaveGroup so the others rebalance at once instead of after
 *   the session timeout; static members (group.instance.id) do not, as in Kafka, so a restart
 *   within the session timeout keeps their partitions without a rebalance.
 *
 * Protocol encodings: subscriptions go out as ConsumerProtocolSubscription v1 (owned
 * partitions, which cooperative assignors of other members read), assignments as
 * ConsumerProtocolAssignment v1; any version 0-3 (and later, read as 3) is decoded.
 *
 * All waiting is bounded or cancellable: one heartbeat timer, cleared on every state change
 * and on close.
 */

export interface GroupMembershipOptions {
  /** The client that talks to the coordinator; the consumer gives the group its own (see groupConsumer.ts). */
  client: StrataClient;
  groupId: string;
  groupInstanceId?: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs: number;
  retryBackoffMs: number;
  /** In preference order; the coordinator picks the first one every member offers. */
  assignors: readonly PartitionAssignor[];
  /** Partition counts of existing topics among `topics` (the leader needs them to assign). */
  partitionCounts(topics: string[]): Promise<Map<string, number>>;
  /** Called when a rejoin becomes necessary (a heartbeat answered REBALANCE_IN_PROGRESS...), to wake a waiting poll. */
  onRejoinNeeded?: () => void;
  logger?: Logger;
}

export interface GroupAssignmentResult {
  generationId: number;
  memberId: string;
  /** Whether this member led the rebalance (and so assigned partitions). */
  leader: boolean;
  /** The assignor the group settled on. */
  protocol: string;
  /** Ours, sorted by topic then partition. */
  partitions: TopicPartitionRef[];
  /** For the leader: the partition counts the assignment was computed from. */
  partitionCounts: Map<string, number> | null;
}

/** Error codes on JoinGroup/SyncGroup that just mean "join again". */
const REJOIN_CODES = new Set<number>([ErrorCode.MEMBER_ID_REQUIRED, ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION, ErrorCode.REBALANCE_IN_PROGRESS]);

/** A JoinGroup/SyncGroup round that keeps bouncing is not retried forever within one join(). */
const MAX_JOIN_ROUNDS = 20;

export class GroupMembership {
  readonly groupId: string;
  private readonly opts: GroupMembershipOptions;
  private memberIdValue = '';
  private generationIdValue = -1;
  /** Why the next poll must (re)join; null while the generation is stable. */
  private rejoinReason: string | null = 'the consumer has not joined yet';
  private stable = false;
  private joining: Promise<GroupAssignmentResult> | null = null;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastHeartbeatOkAt = 0;
  private fatal: Error | null = null;
  private closed = false;
  /** The backoff pause between join rounds, if one is running: close() ends it at once. */
  private pauseTimer: { timer: NodeJS.Timeout; resolve: () => void } | null = null;

  constructor(opts: GroupMembershipOptions) {
    this.opts = opts;
    this.groupId = opts.groupId;
  }

  get memberId(): string {
    return this.memberIdValue;
  }

  get generationId(): number {
    return this.generationIdValue;
  }

  /** Whether a (re)join is due: not joined yet, or the group moved on. */
  get needsJoin(): boolean {
    return this.rejoinReason !== null;
  }

  /** Whether a JoinGroup/SyncGroup round is in flight. */
  get isJoining(): boolean {
    return this.joining !== null;
  }

  /**
   * Our identity for commits while we hold a generation — also while the group prepares a
   * rebalance, when Kafka still accepts the old generation's commits (that is how partitions
   * are committed before they are revoked). Null when the generation was lost or never had.
   */
  get identity(): GroupMemberIdentity | null {
    if (!this.hasValidGeneration) return null;
    return { generationId: this.generationIdValue, memberId: this.memberIdValue, groupInstanceId: this.opts.groupInstanceId ?? null };
  }

  /** Whether we hold a generation the coordinator should still accept. */
  get hasValidGeneration(): boolean {
    return this.generationIdValue >= 0 && this.memberIdValue !== '';
  }

  /** A failure the member cannot recover from (e.g. FENCED_INSTANCE_ID); thrown by the consumer's next poll. */
  get fatalError(): Error | null {
    return this.fatal;
  }

  /** Ask for a rejoin at the next poll (keeps member id and generation: the coordinator expects us back). */
  requestRejoin(reason: string): void {
    if (this.closed) return;
    this.stopHeartbeats();
    this.stable = false;
    if (this.rejoinReason === null) {
      this.rejoinReason = reason;
      this.opts.logger?.info(`group '${this.groupId}' member ${this.memberIdValue}: rejoining: ${reason}`);
    }
    this.opts.onRejoinNeeded?.();
  }

  /**
   * The coordinator no longer knows our generation (or our member id): forget it and join
   * afresh. The partitions we held count as lost, not revoked — they must not be committed.
   */
  resetGeneration(resetMemberId: boolean, reason: string): void {
    this.generationIdValue = -1;
    if (resetMemberId) this.memberIdValue = '';
    this.requestRejoin(reason);
  }

  /**
   * Joins (or rejoins) the group and returns our assignment. Concurrent calls share the round
   * in flight, so a poll that gave up waiting and a later poll never send two JoinGroups.
   * Transport failures are thrown (the caller retries on its next poll); protocol answers
   * that only mean "join again" are handled here.
   */
  join(topics: readonly string[]): Promise<GroupAssignmentResult> {
    if (this.closed) return Promise.reject(new StrataError('CLOSED', 'the consumer is closed'));
    if (this.joining) return this.joining;
    this.stopHeartbeats();
    this.stable = false;
    const p = this.joinRounds(topics).finally(() => {
      if (this.joining === p) this.joining = null;
    });
    // A round may finish after the poll that started it stopped waiting: its failure is then
    // reported by the next join() attempt, not as an unhandled rejection.
    p.catch(() => undefined);
    this.joining = p;
    return p;
  }

  /** Stops heartbeating (before a rejoin, or on close). */
  stopHeartbeats(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /**
   * Leaves the group (dynamic members only; see the module note), through `via` — the
   * consumer passes another client when a JoinGroup still occupies the coordinator
   * connection. Never throws: a failed leave only means the others rebalance after our
   * session timeout instead of now.
   */
  async leave(via: StrataClient, reason: string): Promise<void> {
    this.stopHeartbeats();
    this.stable = false;
    const memberId = this.memberIdValue;
    this.generationIdValue = -1;
    if (!memberId || this.opts.groupInstanceId) return;
    try {
      const res = await via.leaveGroup(this.groupId, [{ memberId, reason }]);
      const code = res.members.find((m) => m.memberId === memberId)?.errorCode ?? res.errorCode;
      if (code !== ErrorCode.NONE && code !== ErrorCode.UNKNOWN_MEMBER_ID) {
        this.opts.logger?.warn(`group '${this.groupId}': LeaveGroup for ${memberId} answered ${errorName(code)}`);
      }
    } catch (err) {
      this.opts.logger?.warn(`group '${this.groupId}': LeaveGroup for ${memberId} failed: ${(err as Error).message}`);
    }
    this.memberIdValue = '';
  }

  /** Stops the timers for good. Idempotent. */
  close(): void {
    this.closed = true;
    this.stable = false;
    this.stopHeartbeats();
    if (this.pauseTimer) {
      clearTimeout(this.pauseTimer.timer);
      this.pauseTimer.resolve();
      this.pauseTimer = null;
    }
  }

  // ---------------------------------------------------------------- join / sync

  private async joinRounds(topics: readonly string[]): Promise<GroupAssignmentResult> {
    const o = this.opts;
    const metadata = encodeSubscription(1, { topics: [...topics], userData: null, ownedPartitions: [] });
    for (let round = 0; ; round++) {
      if (this.closed) throw new StrataError('CLOSED', 'the consumer is closed');
      if (round >= MAX_JOIN_ROUNDS) {
        throw new StrataError('GROUP_JOIN_FAILED', `could not join group '${this.groupId}': the coordinator kept asking to rejoin (${round} rounds)`);
      }
      if (round > 0) await this.pause(this.backoff(round));
      const join = await o.client.joinGroup({
        groupId: this.groupId,
        memberId: this.memberIdValue,
        groupInstanceId: o.groupInstanceId ?? null,
        sessionTimeoutMs: o.sessionTimeoutMs,
        rebalanceTimeoutMs: o.rebalanceTimeoutMs,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocols: o.assignors.map((a) => ({ name: a.name, metadata })),
        reason: this.rejoinReason,
      });
      if (this.closed) throw new StrataError('CLOSED', 'the consumer is closed');
      if (join.errorCode !== ErrorCode.NONE) {
        this.onJoinError('JoinGroup', join.errorCode, join.memberId);
        continue;
      }
      this.memberIdValue = join.memberId;
      this.generationIdValue = join.generationId;
      const isLeader = join.leader === join.memberId;
      let assignments: Array<{ memberId: string; assignment: Buffer }> = [];
      let counts: Map<string, number> | null = null;
      if (isLeader && !join.skipAssignment) {
        const computed = await this.assign(join.protocolName, join.members);
        assignments = computed.assignments;
        counts = computed.counts;
      }
      const sync = await o.client.syncGroup({
        groupId: this.groupId,
        generationId: join.generationId,
        memberId: join.memberId,
        groupInstanceId: o.groupInstanceId ?? null,
        protocolType: CONSUMER_PROTOCOL_TYPE,
        protocolName: join.protocolName,
        assignments,
      });
      if (this.closed) throw new StrataError('CLOSED', 'the consumer is closed');
      if (sync.errorCode !== ErrorCode.NONE) {
        this.onJoinError('SyncGroup', sync.errorCode, join.memberId);
        continue;
      }
      const partitions = decodeOurAssignment(sync.assignment);
      this.stable = true;
      this.rejoinReason = null;
      this.lastHeartbeatOkAt = Date.now();
      this.scheduleHeartbeat(o.heartbeatIntervalMs);
      o.logger?.info(
        `group '${this.groupId}' generation ${join.generationId}: member ${join.memberId}${isLeader ? ' (leader)' : ''} assigned ${partitions.length} partition(s) by '${join.protocolName}'`,
      );
      return { generationId: join.generationId, memberId: join.memberId, leader: isLeader, protocol: join.protocolName ?? '', partitions, partitionCounts: counts };
    }
  }

  /** Applies a JoinGroup/SyncGroup error: either adjusts our identity for the next round or throws. */
  private onJoinError(api: string, code: number, memberIdInResponse: string): void {
    if (!REJOIN_CODES.has(code)) throw new KafkaResponseError(code, { api, resource: `group '${this.groupId}'` });
    switch (code) {
      case ErrorCode.MEMBER_ID_REQUIRED:
        // KIP-394: the coordinator made up our id and waits for us to join with it.
        this.memberIdValue = memberIdInResponse;
        break;
      case ErrorCode.UNKNOWN_MEMBER_ID:
        this.memberIdValue = '';
        this.generationIdValue = -1;
        break;
      case ErrorCode.ILLEGAL_GENERATION:
        this.generationIdValue = -1;
        break;
      default:
        // REBALANCE_IN_PROGRESS on SyncGroup: another member joined meanwhile; join the new round.
        break;
    }
    this.rejoinReason = `${api} answered ${errorName(code)}`;
  }

  /** The leader's job: decode every member's subscription and run the chosen assignor. */
  private async assign(
    protocol: string | null,
    members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Buffer }>,
  ): Promise<{ assignments: Array<{ memberId: string; assignment: Buffer }>; counts: Map<string, number> }> {
    const assignor = this.opts.assignors.find((a) => a.name === protocol);
    if (!assignor) throw new StrataError('PROTOCOL_MALFORMED', `the coordinator chose assignor '${protocol}', which this consumer did not offer`);
    const subscribed = members.map((m) => {
      let topics: string[];
      try {
        topics = decodeSubscription(m.metadata).subscription.topics;
      } catch (err) {
        throw new StrataError('PROTOCOL_MALFORMED', `member ${m.memberId} of group '${this.groupId}' sent a subscription that cannot be decoded: ${(err as Error).message}`, { cause: err });
      }
      return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics };
    });
    const allTopics = [...new Set(subscribed.flatMap((m) => m.topics))].sort();
    const counts = await this.opts.partitionCounts(allTopics);
    const result = assignor.assign(subscribed, counts);
    const assignments = [...result].map(([memberId, byTopic]) => ({
      memberId,
      assignment: encodeAssignment(1, { assignedPartitions: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })), userData: null }),
    }));
    return { assignments, counts };
  }

  // ---------------------------------------------------------------- heartbeats

  private scheduleHeartbeat(delayMs: number): void {
    this.stopHeartbeats();
    if (this.closed || !this.stable) return;
    this.heartbeatTimer = setTimeout(() => void this.beat(), Math.max(0, delayMs));
    // Timers never keep a process alive on their own; the consumer's close() clears them anyway.
    this.heartbeatTimer.unref();
  }

  private async beat(): Promise<void> {
    this.heartbeatTimer = undefined;
    if (this.closed || !this.stable) return;
    const generationId = this.generationIdValue;
    const memberId = this.memberIdValue;
    const sentAt = Date.now();
    let code: number;
    try {
      code = await this.opts.client.heartbeat({ groupId: this.groupId, generationId, memberId, groupInstanceId: this.opts.groupInstanceId ?? null });
    } catch (err) {
      if (this.closed || !this.stable || generationId !== this.generationIdValue) return;
      // The coordinator is unreachable (restarting, moving): keep trying until our session
      // would have expired there, then assume the worst and rejoin.
      if (Date.now() - this.lastHeartbeatOkAt > this.opts.sessionTimeoutMs) {
        this.requestRejoin(`no heartbeat was answered within session.timeout.ms (${(err as Error).message})`);
      } else {
        this.scheduleHeartbeat(this.opts.retryBackoffMs);
      }
      return;
    }
    // An answer for a generation we already left behind says nothing about the current one.
    if (this.closed || !this.stable || generationId !== this.generationIdValue || memberId !== this.memberIdValue) return;
    switch (code) {
      case ErrorCode.NONE:
        this.lastHeartbeatOkAt = Date.now();
        this.scheduleHeartbeat(this.opts.heartbeatIntervalMs - (Date.now() - sentAt));
        return;
      case ErrorCode.REBALANCE_IN_PROGRESS:
        this.requestRejoin('the group is rebalancing');
        return;
      case ErrorCode.ILLEGAL_GENERATION:
        this.resetGeneration(false, `generation ${generationId} is no longer the group's (ILLEGAL_GENERATION)`);
        return;
      case ErrorCode.UNKNOWN_MEMBER_ID:
        this.resetGeneration(true, `the coordinator no longer knows member ${memberId} (UNKNOWN_MEMBER_ID)`);
        return;
      default:
        // FENCED_INSTANCE_ID (another consumer took our group.instance.id), authorization...:
        // nothing a rejoin would fix.
        this.fatal = new KafkaResponseError(code, { api: 'Heartbeat', resource: `group '${this.groupId}'` });
        this.stable = false;
        this.opts.logger?.error(`group '${this.groupId}' member ${memberId}: ${this.fatal.message}`);
        this.opts.onRejoinNeeded?.();
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pauseTimer = null;
        resolve();
      }, ms);
      this.pauseTimer = { timer, resolve };
    });
  }

  private backoff(round: number): number {
    return Math.min(this.opts.retryBackoffMs * 2 ** Math.min(round - 1, 6), 2_000);
  }
}

/** Our partitions from SyncGroup's bytes; an empty buffer (nothing assigned, as some leaders send) is no partitions. */
export function decodeOurAssignment(bytes: Buffer): TopicPartitionRef[] {
  if (bytes.length === 0) return [];
  let assigned;
  try {
    assigned = decodeAssignment(bytes).assignment.assignedPartitions;
  } catch (err) {
    throw new StrataError('PROTOCOL_MALFORMED', `the group's assignment cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
  const out: TopicPartitionRef[] = [];
  const seen = new Set<string>();
  for (const t of assigned) {
    for (const partition of t.partitions) {
      const key = `${t.topic}\u0000${partition}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ topic: t.topic, partition });
    }
  }
  return out.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}
