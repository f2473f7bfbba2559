/**
 * The group coordinator: Kafka's classic consumer-group protocol (JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup) and committed offsets, for the groups this broker coordinates. Error
 * codes and edge cases follow Kafka's GroupCoordinator so that every client sees the answers
 * it was written against; the handlers in core/broker/handlers translate request versions to
 * and from the calls here.
 *
 * Which groups (Kafka: the leader of the group's __consumer_offsets partition): without an
 * ownership (a single broker, unit tests) every group, all loaded at start. With one
 * (core/cluster/coordinatorPlacement.ts; several brokers share the metadata store), only those
 * it says this broker owns at the moment, as Kafka's GroupCoordinator does:
 * - a request for a group owned elsewhere gets NOT_COORDINATOR, and the client looks the
 *   coordinator up again;
 * - a group is loaded from the store (its committed and pending transactional offsets) the
 *   first time it is needed after this broker gained it; meanwhile the synchronous calls answer
 *   COORDINATOR_LOAD_IN_PROGRESS (the handlers await ready() first, so clients rarely see it);
 * - a group this broker lost is unloaded: its parked JoinGroup/SyncGroup are answered
 *   NOT_COORDINATOR, its members forgotten (they rejoin at the new coordinator, which knows the
 *   group by its offsets only), its offsets dropped from memory;
 * - ListGroups and offset expiration first load every owned group (one scan of the store per
 *   change of the live brokers).
 * Two brokers may both believe they own a group while their views of the live brokers settle;
 * every offset write is conditional on the version this coordinator last saw, so neither
 * overwrites the other's newer commit (the loser answers NOT_COORDINATOR).
 *
 * Membership lives in memory only: after a restart a group is known through its committed
 * offsets (as an Empty group), and members rejoin when their heartbeats get UNKNOWN_MEMBER_ID.
 * Offsets go through OffsetStore to the metadata store before a commit is acknowledged.
 *
 * Transactional offsets (TxnOffsetCommit) stay pending in their own items (txnOffsets.ts) until
 * the transaction coordinator ends the transaction through completeTransaction: committed ones
 * then become committed offsets, aborted ones are dropped (Kafka's pendingTransactionalOffsetCommits
 * and its end-marker handling). The transaction coordinator may sit on another broker than the
 * group's: it then completes the group's pending offsets straight in the store (conditional
 * writes), and the group's coordinator re-reads a group that has pending offsets before it
 * answers OffsetFetch or writes an OffsetCommit. Meanwhile OffsetFetch with requireStable answers
 * UNSTABLE_OFFSET_COMMIT for their partitions, the group is kept (as Empty when it has no members),
 * their partitions' committed offsets do not expire, and DeleteGroups/OffsetDelete remove them
 * with the offsets (Kafka's new group coordinator writes one tombstone for both).
 *
 * JoinGroup and SyncGroup answers are parked as callbacks (the handlers' promises) until the
 * rebalance completes. Every timer is unref'ed and belongs to a group or member, and close()
 * clears them all and answers every parked request, so nothing outlives a broker's stop().
 *
 * Timers (Kafka's purgatories):
 * - a member's session (heartbeat) deadline: session.timeout.ms, or 5 minutes for a member still
 *   in its first JoinGroup; missing it removes the member and rebalances;
 * - a pending member id (MEMBER_ID_REQUIRED handed out): expires after session.timeout.ms;
 * - the join phase: the longest rebalance.timeout.ms of the members, after which members that
 *   did not rejoin are dropped; for an Empty group's first rebalance, the initial delay
 *   (group.initial.rebalance.delay.ms), extended while new members keep arriving;
 * - the sync phase: members that do not send SyncGroup within the rebalance timeout are
 *   removed and the group rebalances again.
 */
import type { Logger } from '../common/logger';
import { WarningThrottle } from '../common/warningThrottle';
import { StrataError, isStrataError, toKafkaErrorCode } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { EMPTY_BYTES } from '../protocol/reader';
import type { VersionedKv } from '../meta/versionedKv';
import { ClassicGroup } from './classicGroup';
import { CONSUMER_PROTOCOL_TYPE } from './consumerProtocol';
import type { GroupState } from './groupState';
import { MemberMetadata, joinError, syncError, type GroupProtocol, type JoinResult, type SyncResult } from './member';
import { OffsetStore, type CommittedOffset, type TopicPartitionRef } from './offsetStore';
import { TxnOffsetStore, type PendingTxnOffset } from './txnOffsets';
import type { TxnOffsetsCompleter } from '../txn/txnCoordinator';
import type { CoordinatorOwnership } from '../cluster/coordinatorPlacement';

export type { JoinResult, SyncResult, GroupProtocol } from './member';

export interface GroupCoordinatorConfig {
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  groupInitialRebalanceDelayMs: number;
  groupMaxSize: number;
  /** offset.metadata.max.bytes (compared with the string's length, as Kafka does). */
  offsetMetadataMaxBytes: number;
  offsetsRetentionMs: number;
  offsetsRetentionCheckIntervalMs: number;
  /** How long a member in its first JoinGroup may take; Kafka's fixed 5 minutes (tests shorten it). */
  newMemberJoinTimeoutMs?: number;
}

/** What the coordinator needs to know of a topic: its current id and partition count. */
export type TopicLookup = (topic: string) => { topicId: string; partitions: number } | undefined;

export interface GroupCoordinatorOptions {
  logger: Logger;
  topics: TopicLookup;
  /** Clock (ms); Date.now by default. */
  now?: () => number;
  /**
   * Where pending transactional offsets live (normally `store.namespace('txn-offsets')`).
   * Without it, TxnOffsetCommit answers COORDINATOR_NOT_AVAILABLE.
   */
  txnOffsets?: VersionedKv;
  /**
   * Which groups this broker coordinates (see the top of this file). Given here, nothing is
   * loaded at start; groups are loaded as they are needed. Without it (and until setOwnership),
   * every group.
   */
  ownership?: CoordinatorOwnership;
  /** How often a change of ownership is looked for when no request asks (default 100 ms). */
  ownershipCheckIntervalMs?: number;
}

export interface JoinGroupParams {
  groupId: string;
  /** '' for a member that has none yet. */
  memberId: string;
  groupInstanceId: string | null;
  /** JoinGroup v4+ for dynamic members: answer a new member with MEMBER_ID_REQUIRED first. */
  requireKnownMemberId: boolean;
  /** JoinGroup v9+: a rejoining static leader may be told to skip the assignment. */
  supportSkippingAssignment: boolean;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  protocolType: string;
  protocols: GroupProtocol[];
  reason: string | null;
}

export interface SyncGroupParams {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  /** v5+; null when the request version has none. */
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface LeaveGroupResult {
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

export interface OffsetCommitParams {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  /** -1 for a commit from outside group management ("simple" consumer, admin). */
  generationId: number;
  /** OffsetCommit v2-4 retention_time_ms; -1n for the broker's retention. */
  retentionTimeMs: bigint;
  offsets: OffsetToStore[];
}

/** One partition's offset in an OffsetCommit or TxnOffsetCommit. */
export interface OffsetToStore {
  topic: string;
  partition: number;
  offset: bigint;
  /** -1 when the request version has none. */
  leaderEpoch: number;
  metadata: string | null;
  /** OffsetCommit v1 commit_timestamp; -1n for now (and when the request version has none). */
  commitTimestamp: bigint;
}

export interface TxnOffsetCommitParams {
  groupId: string;
  producerId: bigint;
  producerEpoch: number;
  /** KIP-447 (TxnOffsetCommit v3+): the member's generation, -1 when not sent. */
  generationId: number;
  /** '' when not sent. */
  memberId: string;
  groupInstanceId: string | null;
  offsets: {
    topic: string;
    partition: number;
    offset: bigint;
    leaderEpoch: number;
    metadata: string | null;
  }[];
  /**
   * KIP-890 verification: the transaction coordinator's answer to "is this group part of the
   * producer's ongoing transaction" (TransactionCoordinator.verifyTxnOffsetCommitAnywhere).
   * Asked before the write, and again after it: a transaction that ended (a timeout abort, a
   * fence) while the offsets were being written must not leave them pending for ever, so they
   * are removed again and the request answered with the code.
   */
  verify?: () => number | Promise<number>;
}

export interface FetchedOffset {
  partition: number;
  offset: bigint;
  leaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface FetchOffsetsResult {
  errorCode: number;
  topics: { name: string; partitions: FetchedOffset[] }[];
}

export interface GroupMemberDescription {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  memberMetadata: Buffer;
  memberAssignment: Buffer;
}

export interface GroupDescription {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  protocolData: string;
  members: GroupMemberDescription[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  groupState: GroupState;
}

/** The one-line format of every state transition (operators and the rebalance benchmark read it). */
export function formatTransition(groupId: string, from: GroupState, to: GroupState, generationId: number, members: number): string {
  return `group ${JSON.stringify(groupId)} ${from} → ${to} generation ${generationId} members ${members}`;
}

/** Parses a line written by formatTransition (anywhere in a log line). */
export const TRANSITION_LOG_RE = /group ("(?:[^"\\]|\\.)*") (\w+) → (\w+) generation (-?\d+) members (\d+)/;

const NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000;
const DEFAULT_OWNERSHIP_CHECK_INTERVAL_MS = 100;

/** Answers a callback at most once: a parked request may be answered from several paths. */
function once<T>(fn: (v: T) => void): (v: T) => void {
  let done = false;
  return (v) => {
    if (done) return;
    done = true;
    fn(v);
  };
}

function unref(t: NodeJS.Timeout): NodeJS.Timeout {
  t.unref();
  return t;
}

export class GroupCoordinator implements TxnOffsetsCompleter {
  private readonly groups = new Map<string, ClassicGroup>();
  private active = true;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryRunning: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly logger: Logger;
  /** Failed offset writes, logged at most once per 10 s (a full disk refuses every commit). */
  private readonly commitWarnings: WarningThrottle;
  private readonly topics: TopicLookup;
  private readonly newMemberJoinTimeoutMs: number;
  /** Null: every group is this coordinator's, and all of them are loaded. */
  private ownership: CoordinatorOwnership | null = null;
  /** The ownership version last acted on (groups lost since were unloaded). */
  private ownershipVersion = -1;
  private ownershipTimer: NodeJS.Timeout | null = null;
  private readonly ownershipCheckIntervalMs: number;
  /** With an ownership: the groups whose offsets are in memory, current since this broker took them. */
  private readonly loaded = new Set<string>();
  private readonly loading = new Map<string, Promise<void>>();
  /** The ownership version for which every owned group in the store was loaded (loadOwned). */
  private scannedVersion = -1;
  private scanning: Promise<void> | null = null;

  private constructor(
    private readonly config: GroupCoordinatorConfig,
    private readonly offsets: OffsetStore,
    private readonly txnOffsets: TxnOffsetStore | null,
    opts: GroupCoordinatorOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.logger = opts.logger;
    this.commitWarnings = new WarningThrottle(opts.logger, 10_000);
    this.topics = opts.topics;
    this.newMemberJoinTimeoutMs = config.newMemberJoinTimeoutMs ?? NEW_MEMBER_JOIN_TIMEOUT_MS;
    this.ownershipCheckIntervalMs = opts.ownershipCheckIntervalMs ?? DEFAULT_OWNERSHIP_CHECK_INTERVAL_MS;
  }

  /**
   * Loads committed offsets from `kv` (the metadata store's 'offsets' namespace) and pending
   * transactional offsets from `opts.txnOffsets`; each group that has either is known as an
   * Empty group. With `opts.ownership`, nothing is loaded yet (groups load as they are needed).
   * Starts the offset expiration task.
   */
  static async start(kv: VersionedKv, config: GroupCoordinatorConfig, opts: GroupCoordinatorOptions): Promise<GroupCoordinator> {
    const loadAll = opts.ownership === undefined;
    const offsets = await OffsetStore.open(kv, opts.logger, { loadAll });
    const txnOffsets = opts.txnOffsets ? await TxnOffsetStore.open(opts.txnOffsets, opts.logger, { loadAll }) : null;
    const c = new GroupCoordinator(config, offsets, txnOffsets, opts);
    const now = c.now();
    // Retention of a loaded group counts from now: when it became empty was not recorded,
    // and starting late only keeps offsets longer, never shorter, than Kafka would.
    for (const id of [...offsets.groups(), ...(txnOffsets?.groups() ?? [])]) if (!c.groups.has(id)) c.groups.set(id, new ClassicGroup(id, now));
    // setInterval treats anything above 2^31-1 ms as 1 ms; a longer interval means "rarely".
    c.expiryTimer = unref(setInterval(() => void c.expireOffsets(), Math.min(config.offsetsRetentionCheckIntervalMs, 2 ** 31 - 1)));
    if (opts.ownership !== undefined) c.setOwnership(opts.ownership);
    return c;
  }

  // ---- ownership (which groups this broker coordinates) ---------------------------------------------

  /**
   * From now on serve only the groups `ownership` says this broker owns. Called on a coordinator
   * that served every group until now, what it holds stays loaded where it is still owned; the
   * rest is unloaded at once.
   */
  setOwnership(ownership: CoordinatorOwnership): void {
    if (!this.active) return;
    if (this.ownership === null) {
      for (const id of [...this.groups.keys(), ...this.offsets.groups(), ...(this.txnOffsets?.groups() ?? [])]) this.loaded.add(id);
    }
    this.ownership = ownership;
    this.ownershipVersion = -1;
    this.scannedVersion = -1;
    this.checkOwnership();
    if (this.ownershipTimer === null) this.ownershipTimer = unref(setInterval(() => this.checkOwnership(), Math.max(1, this.ownershipCheckIntervalMs)));
  }

  /**
   * Unloads the groups this broker no longer owns, once per change of the ownership's version.
   * Runs on a timer and before every request, so a group lost and regained between two requests
   * is still unloaded (and then re-read from the store), as long as each view lasted a check.
   */
  checkOwnership(): void {
    const o = this.ownership;
    if (o === null || !this.active) return;
    const version = o.version;
    if (version === this.ownershipVersion) return;
    this.ownershipVersion = version;
    const lost = [...this.loaded].filter((id) => !o.owns(id));
    for (const id of lost) this.unload(id);
    if (lost.length > 0) this.logger.info(`gave up ${lost.length} group(s) now coordinated by other brokers`);
  }

  /** Whether this coordinator serves the group now (owned, and loaded). */
  private isServing(groupId: string): boolean {
    return this.ownership === null || (this.loaded.has(groupId) && this.ownership.owns(groupId));
  }

  /** Whether ready() has work to do for the group: it is owned but not loaded, or (`fresh`) has pending transactional offsets to re-read. */
  private needsLoad(groupId: string, fresh = false): boolean {
    const o = this.ownership;
    if (o === null || !this.active) return false;
    this.checkOwnership();
    if (!o.owns(groupId)) return false;
    return !this.loaded.has(groupId) || (fresh && this.txnOffsets !== null && this.txnOffsets.hasGroup(groupId));
  }

  /**
   * Loads the group from the store if this broker owns it and has not loaded it since it took it
   * over; with `fresh`, also re-reads a loaded group that has pending transactional offsets
   * (another broker's transaction coordinator may have completed them). Handlers await this
   * before the synchronous calls (heartbeat, leaveGroup, fetchOffsets, describeGroup). Never
   * rejects: a failed load leaves the group unloaded, and the call answers COORDINATOR_LOAD_IN_PROGRESS.
   */
  async ready(groupId: string, opts: { fresh?: boolean } = {}): Promise<void> {
    if (!this.needsLoad(groupId, opts.fresh)) return;
    try {
      await this.load(groupId);
    } catch (e) {
      this.logger.warn(`group ${JSON.stringify(groupId)}: loading it from the metadata store failed: ${(e as Error).message}`);
    }
  }

  /** Reads the group's offsets from the store into memory (one load per group at a time). */
  private load(groupId: string): Promise<void> {
    const running = this.loading.get(groupId);
    if (running !== undefined) return running;
    const p = (async () => {
      const [offsets, pending] = await Promise.all([this.offsets.readGroup(groupId), this.txnOffsets?.readGroup(groupId) ?? Promise.resolve([])]);
      const o = this.ownership;
      if (!this.active || o === null || !o.owns(groupId)) return;
      const first = !this.loaded.has(groupId);
      this.offsets.install(groupId, offsets);
      this.txnOffsets?.install(groupId, pending);
      this.loaded.add(groupId);
      if (this.hasAnyOffsets(groupId) && !this.groups.has(groupId)) this.groups.set(groupId, new ClassicGroup(groupId, this.now()));
      const g = this.groups.get(groupId);
      if (g !== undefined) this.dropIfUnused(g);
      this.logger.debug(`group ${JSON.stringify(groupId)}: ${first ? 'loaded' : 're-read'} ${offsets.length} committed and ${pending.length} pending transactional offset(s)`);
    })().finally(() => {
      if (this.loading.get(groupId) === p) this.loading.delete(groupId);
    });
    this.loading.set(groupId, p);
    return p;
  }

  /**
   * Loads every owned group of the store that is not loaded yet (one scan of the store per
   * ownership version): what ListGroups and offset expiration need to see all of this broker's
   * groups, including those nobody asked for since it took them over. Rejects when the store
   * cannot be read.
   */
  loadOwned(): Promise<void> {
    const o = this.ownership;
    if (o === null || !this.active) return Promise.resolve();
    this.checkOwnership();
    if (this.scannedVersion === o.version) return Promise.resolve();
    this.scanning ??= this.scanOwned(o).finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private async scanOwned(o: CoordinatorOwnership): Promise<void> {
    const version = o.version;
    const [offsets, pending] = await Promise.all([this.offsets.readAll(), this.txnOffsets?.readAll() ?? Promise.resolve(new Map<string, never[]>())]);
    let n = 0;
    for (const id of new Set([...offsets.keys(), ...pending.keys()])) {
      if (!this.active) return;
      if (this.loaded.has(id) || this.loading.has(id) || !o.owns(id)) continue;
      this.offsets.install(id, offsets.get(id) ?? []);
      this.txnOffsets?.install(id, pending.get(id) ?? []);
      this.loaded.add(id);
      if (!this.groups.has(id)) this.groups.set(id, new ClassicGroup(id, this.now()));
      n++;
    }
    if (n > 0) this.logger.info(`took over ${n} group(s) from the metadata store`);
    // Ownership that moved during the scan is looked at again by the next call.
    this.scannedVersion = version;
  }

  /**
   * Forgets a group another broker coordinates now (Kafka's onGroupUnloaded): parked JoinGroup
   * and SyncGroup are answered NOT_COORDINATOR, timers cleared, members and offsets dropped from
   * memory. The store keeps the offsets for the new coordinator.
   */
  private unload(groupId: string): void {
    this.loaded.delete(groupId);
    const group = this.groups.get(groupId);
    if (group !== undefined) {
      for (const m of group.members.values()) {
        m.clearHeartbeat();
        group.maybeInvokeJoin(m, joinError(m.memberId, ErrorCode.NOT_COORDINATOR));
        group.maybeInvokeSync(m, syncError(ErrorCode.NOT_COORDINATOR));
      }
      this.markDead(group, 'another broker coordinates the group now');
    }
    this.offsets.forget(groupId);
    this.txnOffsets?.forget(groupId);
  }

  /** NOT_COORDINATOR for a group owned elsewhere; COORDINATOR_LOAD_IN_PROGRESS (and a load started) for one owned but not loaded. */
  private ownerError(groupId: string): number | null {
    const o = this.ownership;
    if (o === null) return null;
    this.checkOwnership();
    if (!o.owns(groupId)) return ErrorCode.NOT_COORDINATOR;
    if (this.loaded.has(groupId)) return null;
    this.load(groupId).catch((e: Error) => this.logger.warn(`group ${JSON.stringify(groupId)}: loading it from the metadata store failed: ${e.message}`));
    return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  }

  /**
   * Stops the coordinator: every parked JoinGroup/SyncGroup is answered NOT_COORDINATOR (as
   * when Kafka unloads a group; clients look the coordinator up again), every timer is
   * cleared, and pending offset writes are awaited. Later requests get COORDINATOR_NOT_AVAILABLE.
   */
  async close(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    if (this.ownershipTimer) clearInterval(this.ownershipTimer);
    for (const group of this.groups.values()) {
      this.clearGroupTimers(group);
      for (const m of group.members.values()) {
        m.clearHeartbeat();
        group.maybeInvokeJoin(m, joinError(m.memberId, ErrorCode.NOT_COORDINATOR));
        group.maybeInvokeSync(m, syncError(ErrorCode.NOT_COORDINATOR));
      }
    }
    await this.expiryRunning;
    await this.offsets.flush();
    await this.txnOffsets?.flush();
    this.commitWarnings.close();
  }

  // ---- membership ---------------------------------------------------------------------------

  joinGroup(p: JoinGroupParams): Promise<JoinResult> {
    const run = () => new Promise<JoinResult>((resolve) => this.handleJoin(p, once(resolve)));
    return this.needsLoad(p.groupId) ? this.ready(p.groupId).then(run) : run();
  }

  private handleJoin(p: JoinGroupParams, respond: (r: JoinResult) => void): void {
    const invalid = this.validateGroupStatus(p.groupId, false);
    if (invalid !== null) return respond(joinError(p.memberId, invalid));
    if (p.sessionTimeoutMs < this.config.groupMinSessionTimeoutMs || p.sessionTimeoutMs > this.config.groupMaxSessionTimeoutMs) {
      return respond(joinError(p.memberId, ErrorCode.INVALID_SESSION_TIMEOUT));
    }
    const isUnknownMember = p.memberId === '';
    let group = this.groups.get(p.groupId);
    const fresh = group === undefined;
    if (group === undefined) {
      // Only a member without an id creates a group; one that names a member of a group we do
      // not know must start over.
      if (!isUnknownMember) return respond(joinError(p.memberId, ErrorCode.UNKNOWN_MEMBER_ID));
      group = new ClassicGroup(p.groupId, this.now());
    }
    if (!this.acceptJoiningMember(group, p.memberId)) {
      this.removeSilently(group, p.memberId);
      respond(joinError('', ErrorCode.GROUP_MAX_SIZE_REACHED));
    } else if (isUnknownMember) {
      this.doNewMemberJoin(group, p, respond);
    } else {
      this.doCurrentMemberJoin(group, p, respond);
    }
    if (group.is('PreparingRebalance')) this.tryCompleteJoin(group);
    // A join that was refused leaves no group behind (clients cannot fill memory with them).
    if (fresh && (group.size > 0 || group.pendingMembers.size > 0)) this.groups.set(p.groupId, group);
  }

  /** group.max.size: existing members that are rejoining always fit; new ones while there is room. */
  private acceptJoiningMember(group: ClassicGroup, memberId: string): boolean {
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return true;
      case 'PreparingRebalance':
        // Counting rejoined members rather than all members lets a lowered limit shed the
        // members that are last to rejoin.
        return group.get(memberId)?.isAwaitingJoin === true || group.numAwaitingJoin < this.config.groupMaxSize;
      case 'CompletingRebalance':
      case 'Stable':
        return group.has(memberId) || group.size < this.config.groupMaxSize;
    }
  }

  private doNewMemberJoin(group: ClassicGroup, p: JoinGroupParams, respond: (r: JoinResult) => void): void {
    if (group.is('Dead')) return respond(joinError('', ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!group.supportsProtocols(p.protocolType, p.protocols)) return respond(joinError('', ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    const newMemberId = group.generateMemberId(p.clientId, p.groupInstanceId);
    if (p.groupInstanceId !== null) {
      const oldMemberId = group.currentStaticMemberId(p.groupInstanceId);
      if (oldMemberId !== undefined) {
        this.logger.info(`group ${JSON.stringify(group.groupId)}: static member ${p.groupInstanceId} rejoins with a new member id ${newMemberId}, replacing ${oldMemberId}`);
        this.updateStaticMemberAndRebalance(group, oldMemberId, newMemberId, p, respond);
      } else {
        this.addMemberAndRebalance(group, newMemberId, p, respond);
      }
    } else if (p.requireKnownMemberId) {
      // KIP-394: the member must come back with this id before it counts, so a client that
      // retries JoinGroup after a timeout does not leave a trail of phantom members.
      group.addPending(newMemberId, unref(setTimeout(() => this.onExpirePendingMember(group, newMemberId), p.sessionTimeoutMs)));
      respond(joinError(newMemberId, ErrorCode.MEMBER_ID_REQUIRED));
    } else {
      this.addMemberAndRebalance(group, newMemberId, p, respond);
    }
  }

  private doCurrentMemberJoin(group: ClassicGroup, p: JoinGroupParams, respond: (r: JoinResult) => void): void {
    if (group.is('Dead')) return respond(joinError(p.memberId, ErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!group.supportsProtocols(p.protocolType, p.protocols)) return respond(joinError(p.memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    if (group.isPendingMember(p.memberId)) {
      // Ids are only handed out pending to dynamic members (Kafka treats this as a bug).
      if (p.groupInstanceId !== null) return respond(joinError(p.memberId, ErrorCode.UNKNOWN_SERVER_ERROR));
      return this.addMemberAndRebalance(group, p.memberId, p, respond);
    }
    const error = this.validateCurrentMember(group, p.memberId, p.groupInstanceId);
    if (error !== null) return respond(joinError(p.memberId, error));
    const member = group.get(p.memberId)!;
    switch (group.state) {
      case 'PreparingRebalance':
        return this.updateMemberAndRebalance(group, member, p, respond, 'member rejoins during PreparingRebalance');
      case 'CompletingRebalance':
        // Same metadata: the member probably lost its JoinGroup response; answer it again.
        if (member.matches(p.protocols)) return respond(this.currentGenerationResult(group, member.memberId, group.isLeader(member.memberId)));
        return this.updateMemberAndRebalance(group, member, p, respond, 'member changed its metadata during CompletingRebalance');
      case 'Stable':
        // A leader's JoinGroup always rebalances: it is how a consumer asks for a new
        // assignment when something outside the metadata (e.g. a topic's partitions) changed.
        if (group.isLeader(member.memberId)) return this.updateMemberAndRebalance(group, member, p, respond, 'the leader rejoins');
        if (!member.matches(p.protocols)) return this.updateMemberAndRebalance(group, member, p, respond, 'member changed its metadata');
        return respond(this.currentGenerationResult(group, member.memberId, false));
      case 'Empty':
      case 'Dead':
        return respond(joinError(p.memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    }
  }

  private currentGenerationResult(group: ClassicGroup, memberId: string, withMembers: boolean): JoinResult {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      skipAssignment: false,
      memberId,
      members: withMembers ? group.currentMemberMetadata() : [],
    };
  }

  private addMemberAndRebalance(group: ClassicGroup, memberId: string, p: JoinGroupParams, respond: (r: JoinResult) => void): void {
    const member = new MemberMetadata(memberId, p.groupInstanceId, p.clientId, p.clientHost, p.rebalanceTimeoutMs, p.sessionTimeoutMs, p.protocolType, p.protocols);
    member.isNew = true;
    // Only the first generation's initial delay is extended by new arrivals.
    if (group.is('PreparingRebalance') && group.generationId === 0) group.newMemberAdded = true;
    group.add(member, respond);
    this.scheduleHeartbeat(group, member, this.newMemberJoinTimeoutMs);
    this.maybePrepareRebalance(group, `adding member ${memberId}${p.reason ? ` (${p.reason})` : ''}`);
  }

  private updateMemberAndRebalance(group: ClassicGroup, member: MemberMetadata, p: JoinGroupParams, respond: (r: JoinResult) => void, reason: string): void {
    // A second JoinGroup from the same member (a retry on another connection) replaces the
    // first; the first is told to rejoin rather than left hanging.
    group.maybeInvokeJoin(member, joinError(member.memberId, ErrorCode.REBALANCE_IN_PROGRESS));
    group.updateMember(member, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, respond);
    this.maybePrepareRebalance(group, `${reason}: ${member.memberId}${p.reason ? ` (${p.reason})` : ''}`);
  }

  /**
   * KIP-345: a static member restarted (new member id, same group.instance.id). It takes the
   * old member's place; a Stable group keeps its assignment unless the group's protocol would
   * change, so a rolling restart of static members causes no rebalance.
   */
  private updateStaticMemberAndRebalance(group: ClassicGroup, oldMemberId: string, newMemberId: string, p: JoinGroupParams, respond: (r: JoinResult) => void): void {
    const currentLeader = group.leaderId ?? '';
    const member = group.replaceStaticMember(p.groupInstanceId!, oldMemberId, newMemberId);
    group.updateMember(member, p.protocols, p.rebalanceTimeoutMs, p.sessionTimeoutMs, respond);
    this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
    switch (group.state) {
      case 'Stable':
        if (group.selectProtocol() !== group.protocolName) {
          this.maybePrepareRebalance(group, `static member ${p.groupInstanceId} rejoined with protocols that change the group's protocol`);
        } else if (p.supportSkippingAssignment) {
          // KIP-814 (v9+): a returning leader learns it leads, but must not run the assignor
          // (the Stable group would not distribute a new assignment).
          const isLeader = group.isLeader(newMemberId);
          group.maybeInvokeJoin(member, { ...this.currentGenerationResult(group, newMemberId, isLeader), skipAssignment: isLeader });
        } else {
          // Before v9: name the old leader id, which matches no one, so that nobody runs the
          // assignor for a generation that will not change.
          group.maybeInvokeJoin(member, { ...this.currentGenerationResult(group, newMemberId, false), leader: currentLeader });
        }
        return;
      case 'CompletingRebalance':
        // The leader may already be assigning with the old member id: start over.
        return this.prepareRebalance(group, `static member ${p.groupInstanceId} rejoined during CompletingRebalance`);
      case 'PreparingRebalance':
        return; // it is now one of the members awaiting the join
      case 'Empty':
      case 'Dead':
        throw new Error(`group ${group.groupId}: a static member cannot exist in state ${group.state}`);
    }
  }

  syncGroup(p: SyncGroupParams): Promise<SyncResult> {
    const run = () => new Promise<SyncResult>((resolve) => this.handleSync(p, once(resolve)));
    return this.needsLoad(p.groupId) ? this.ready(p.groupId).then(run) : run();
  }

  private handleSync(p: SyncGroupParams, respond: (r: SyncResult) => void): void {
    const invalid = this.validateGroupStatus(p.groupId, false);
    if (invalid !== null) return respond(syncError(invalid));
    const group = this.groups.get(p.groupId);
    if (group === undefined) return respond(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    if (group.is('Dead')) return respond(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    const error =
      this.validateCurrentMember(group, p.memberId, p.groupInstanceId) ??
      (p.generationId !== group.generationId ? ErrorCode.ILLEGAL_GENERATION : null) ??
      ((p.protocolType !== null && p.protocolType !== group.protocolType) || (p.protocolName !== null && p.protocolName !== group.protocolName)
        ? ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        : null);
    if (error !== null) return respond(syncError(error));
    const member = group.get(p.memberId)!;
    switch (group.state) {
      case 'Empty':
        return respond(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
      case 'PreparingRebalance':
        return respond(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
      case 'CompletingRebalance': {
        group.maybeInvokeSync(member, syncError(ErrorCode.REBALANCE_IN_PROGRESS)); // a duplicate SyncGroup replaces the first
        member.awaitingSync = respond;
        this.removePendingSyncMember(group, member.memberId);
        if (group.isLeader(member.memberId)) {
          // Followers wait for this: the leader's assignment completes the rebalance. Members
          // the leader left out get an empty assignment.
          const assignments = new Map<string, Buffer>();
          for (const a of p.assignments) assignments.set(a.memberId, a.assignment);
          this.logger.info(`group ${JSON.stringify(group.groupId)}: assignment received from leader ${member.memberId} for generation ${group.generationId} (${group.size} members, ${group.staticMemberCount} static)`);
          for (const m of group.members.values()) m.assignment = assignments.get(m.memberId) ?? EMPTY_BYTES;
          this.propagateAssignment(group, ErrorCode.NONE);
          this.transition(group, 'Stable');
        }
        return;
      }
      case 'Stable':
        this.removePendingSyncMember(group, member.memberId);
        respond({ errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment });
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return;
      case 'Dead':
        return respond(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
    }
  }

  heartbeat(p: { groupId: string; memberId: string; groupInstanceId: string | null; generationId: number }): number {
    const invalid = this.validateGroupStatus(p.groupId, false);
    if (invalid !== null) return invalid;
    const group = this.groups.get(p.groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (group.is('Dead')) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const error = this.validateCurrentMember(group, p.memberId, p.groupInstanceId) ?? (p.generationId !== group.generationId ? ErrorCode.ILLEGAL_GENERATION : null);
    if (error !== null) return error;
    const member = group.get(p.memberId)!;
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case 'CompletingRebalance':
      case 'Stable':
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return ErrorCode.NONE;
      case 'PreparingRebalance':
        // The answer that tells a member to rejoin.
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        return ErrorCode.REBALANCE_IN_PROGRESS;
    }
  }

  /** LeaveGroup: each member by member id, or (member id '') by group.instance.id. */
  leaveGroup(groupId: string, leaving: { memberId: string; groupInstanceId: string | null; reason: string | null }[]): LeaveGroupResult {
    const invalid = this.validateGroupStatus(groupId, false);
    if (invalid !== null) return { errorCode: invalid, members: [] };
    const group = this.groups.get(groupId);
    const answer = (m: { memberId: string; groupInstanceId: string | null }, errorCode: number) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode });
    if (group === undefined) return { errorCode: ErrorCode.NONE, members: leaving.map((m) => answer(m, ErrorCode.UNKNOWN_MEMBER_ID)) };
    if (group.is('Dead')) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    const members = leaving.map((l) => {
      const why = `left the group${l.reason ? ` (${l.reason})` : ''}`;
      if (l.memberId === '') {
        // Administrative removal of a static member by its instance id.
        const current = l.groupInstanceId !== null ? group.currentStaticMemberId(l.groupInstanceId) : undefined;
        if (current === undefined) return answer(l, ErrorCode.UNKNOWN_MEMBER_ID);
        this.removeMemberAndUpdateGroup(group, group.get(current)!, why);
        return answer(l, ErrorCode.NONE);
      }
      if (group.isPendingMember(l.memberId)) {
        this.removePendingMemberAndUpdateGroup(group, l.memberId);
        return answer(l, ErrorCode.NONE);
      }
      const error = this.validateCurrentMember(group, l.memberId, l.groupInstanceId);
      if (error !== null) return answer(l, error);
      this.removeMemberAndUpdateGroup(group, group.get(l.memberId)!, why);
      return answer(l, ErrorCode.NONE);
    });
    return { errorCode: ErrorCode.NONE, members };
  }

  // ---- the rebalance state machine -----------------------------------------------------------

  private transition(group: ClassicGroup, to: GroupState, reason?: string): void {
    const from = group.transitionTo(to, this.now());
    this.logger.info(formatTransition(group.groupId, from, to, group.generationId, group.size) + (reason ? ` (${reason})` : ''));
  }

  private maybePrepareRebalance(group: ClassicGroup, reason: string): void {
    if (group.canRebalance) this.prepareRebalance(group, reason);
  }

  private prepareRebalance(group: ClassicGroup, reason: string): void {
    // Members waiting for an assignment will not get one for this generation: make them rejoin.
    if (group.is('CompletingRebalance')) {
      for (const m of group.members.values()) m.assignment = EMPTY_BYTES;
      this.propagateAssignment(group, ErrorCode.REBALANCE_IN_PROGRESS);
    }
    this.clearSyncExpiration(group);
    const initial = group.is('Empty');
    this.transition(group, 'PreparingRebalance', reason);
    if (initial) {
      const delay = this.config.groupInitialRebalanceDelayMs;
      this.watchJoin(group, true, delay, Math.max(group.rebalanceTimeoutMs - delay, 0));
    } else if (group.hasAllMembersJoined) {
      this.completeJoin(group);
    } else {
      this.watchJoin(group, false, group.rebalanceTimeoutMs, 0);
    }
  }

  private watchJoin(group: ClassicGroup, initial: boolean, delayMs: number, remainingMs: number): void {
    if (group.pendingJoin) clearTimeout(group.pendingJoin.timer);
    const timer = unref(setTimeout(() => this.onJoinTimeout(group), delayMs));
    group.pendingJoin = { timer, initial, delayMs, remainingMs };
  }

  private onJoinTimeout(group: ClassicGroup): void {
    const pending = group.pendingJoin;
    if (!this.active || pending === null) return;
    group.pendingJoin = null;
    if (pending.initial && group.newMemberAdded && pending.remainingMs !== 0) {
      // Members are still arriving: wait another delay, within the rebalance timeout.
      group.newMemberAdded = false;
      const delay = Math.min(this.config.groupInitialRebalanceDelayMs, pending.remainingMs);
      this.watchJoin(group, true, delay, Math.max(pending.remainingMs - pending.delayMs, 0));
      return;
    }
    this.completeJoin(group);
  }

  /** Completes the join phase early once every member has rejoined (not during an initial delay). */
  private tryCompleteJoin(group: ClassicGroup): void {
    const pending = group.pendingJoin;
    if (pending === null || pending.initial || !group.hasAllMembersJoined) return;
    clearTimeout(pending.timer);
    group.pendingJoin = null;
    this.completeJoin(group);
  }

  private completeJoin(group: ClassicGroup): void {
    // Dynamic members that did not rejoin in time are gone; static members keep their place
    // (they may be restarting, which is the point of static membership).
    const notRejoined = [...group.members.values()].filter((m) => !m.isAwaitingJoin && !m.isStatic);
    if (notRejoined.length > 0) {
      this.logger.info(`group ${JSON.stringify(group.groupId)}: removing members that did not rejoin: ${notRejoined.map((m) => m.memberId).join(', ')}`);
      for (const m of notRejoined) this.removeSilently(group, m.memberId);
    }
    if (group.is('Dead')) return;
    if (!group.maybeElectNewJoinedLeader() && group.size > 0) {
      // Only static members are left and none rejoined: wait for them, or for their sessions to end.
      this.logger.warn(`group ${JSON.stringify(group.groupId)}: could not complete the rebalance because no member rejoined`);
      this.watchJoin(group, false, group.rebalanceTimeoutMs, 0);
      return;
    }
    group.initNextGeneration();
    if (group.size === 0) {
      this.transition(group, 'Empty');
      return;
    }
    this.transition(group, 'CompletingRebalance');
    for (const m of group.members.values()) {
      group.maybeInvokeJoin(m, this.currentGenerationResult(group, m.memberId, group.isLeader(m.memberId)));
      this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
      m.isNew = false;
      group.pendingSyncMembers.add(m.memberId);
    }
    const generation = group.generationId;
    group.syncTimer = unref(setTimeout(() => this.onSyncTimeout(group, generation), group.rebalanceTimeoutMs));
  }

  /** Members that joined but never sent SyncGroup are removed, and the group rebalances without them. */
  private onSyncTimeout(group: ClassicGroup, generation: number): void {
    group.syncTimer = null;
    if (!this.active || generation !== group.generationId) return;
    if (!(group.is('CompletingRebalance') || group.is('Stable')) || group.pendingSyncMembers.size === 0) return;
    const missing = [...group.pendingSyncMembers];
    for (const id of missing) this.removeSilently(group, id);
    this.prepareRebalance(group, `members did not send SyncGroup in time: ${missing.join(', ')}`);
  }

  private removePendingSyncMember(group: ClassicGroup, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    if (group.pendingSyncMembers.size === 0) this.clearSyncExpiration(group);
  }

  private clearSyncExpiration(group: ClassicGroup): void {
    group.pendingSyncMembers.clear();
    if (group.syncTimer) {
      clearTimeout(group.syncTimer);
      group.syncTimer = null;
    }
  }

  /** Answers every parked SyncGroup (with its assignment, or the error) and restarts those members' sessions. */
  private propagateAssignment(group: ClassicGroup, errorCode: number): void {
    const ok = errorCode === ErrorCode.NONE;
    for (const m of group.members.values()) {
      const answered = group.maybeInvokeSync(m, {
        errorCode,
        protocolType: ok ? group.protocolType : null,
        protocolName: ok ? group.protocolName : null,
        assignment: m.assignment,
      });
      // While it waited the member needed no heartbeats; its session starts over now.
      if (answered) this.scheduleHeartbeat(group, m, m.sessionTimeoutMs);
    }
  }

  // ---- sessions and removals ---------------------------------------------------------------

  private scheduleHeartbeat(group: ClassicGroup, member: MemberMetadata, timeoutMs: number): void {
    member.clearHeartbeat();
    member.heartbeatTimer = unref(setTimeout(() => this.onHeartbeatTimeout(group, member), timeoutMs));
  }

  private onHeartbeatTimeout(group: ClassicGroup, member: MemberMetadata): void {
    member.heartbeatTimer = null;
    if (!this.active || group.is('Dead') || group.get(member.memberId) !== member) return;
    // A member parked in JoinGroup or SyncGroup cannot heartbeat (its connection waits for the
    // answer), so it does not expire, unless it is new and has waited for the whole join timeout.
    if (!member.isNew && (member.isAwaitingJoin || member.isAwaitingSync)) return;
    this.logger.info(`group ${JSON.stringify(group.groupId)}: member ${member.memberId} failed (no heartbeat within ${member.isNew ? this.newMemberJoinTimeoutMs : member.sessionTimeoutMs} ms), removing it`);
    this.removeMemberAndUpdateGroup(group, member, `member ${member.memberId} session expired`);
  }

  private onExpirePendingMember(group: ClassicGroup, memberId: string): void {
    if (!this.active || !group.isPendingMember(memberId)) return;
    this.logger.info(`group ${JSON.stringify(group.groupId)}: pending member ${memberId} did not rejoin within its session timeout, forgetting it`);
    this.removePendingMemberAndUpdateGroup(group, memberId);
    this.dropIfUnused(group);
  }

  private removeMemberAndUpdateGroup(group: ClassicGroup, member: MemberMetadata, reason: string): void {
    // A member parked in JoinGroup must be answered before it is forgotten; UNKNOWN_MEMBER_ID
    // makes a client that is still alive join again.
    group.maybeInvokeJoin(member, joinError('', ErrorCode.UNKNOWN_MEMBER_ID));
    group.maybeInvokeSync(member, syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    group.remove(member.memberId);
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        return this.maybePrepareRebalance(group, reason);
      case 'PreparingRebalance':
        return this.tryCompleteJoin(group);
      case 'Empty':
      case 'Dead':
        return;
    }
  }

  private removePendingMemberAndUpdateGroup(group: ClassicGroup, memberId: string): void {
    group.remove(memberId);
    if (group.is('PreparingRebalance')) this.tryCompleteJoin(group);
  }

  /** Removes a member without rebalancing (the caller decides what happens next). */
  private removeSilently(group: ClassicGroup, memberId: string): void {
    const m = group.get(memberId);
    if (m !== undefined) {
      group.maybeInvokeJoin(m, joinError('', ErrorCode.UNKNOWN_MEMBER_ID));
      group.maybeInvokeSync(m, syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    }
    group.remove(memberId);
  }

  private clearGroupTimers(group: ClassicGroup): void {
    if (group.pendingJoin) clearTimeout(group.pendingJoin.timer);
    group.pendingJoin = null;
    this.clearSyncExpiration(group);
    for (const id of [...group.pendingMembers.keys()]) group.removePending(id);
  }

  /** A group nobody is in and nothing refers to (no offsets, no pending transactional offsets) is forgotten. */
  private dropIfUnused(group: ClassicGroup): void {
    if (group.is('Empty') && group.size === 0 && group.pendingMembers.size === 0 && !this.hasAnyOffsets(group.groupId)) {
      this.markDead(group);
    }
  }

  private hasAnyOffsets(groupId: string): boolean {
    return this.offsets.hasOffsets(groupId) || (this.txnOffsets !== null && this.txnOffsets.hasGroup(groupId));
  }

  private markDead(group: ClassicGroup, reason = 'no members and no offsets'): void {
    this.clearGroupTimers(group);
    this.transition(group, 'Dead', reason);
    if (this.groups.get(group.groupId) === group) this.groups.delete(group.groupId);
  }

  /**
   * Who may act for a member: a request naming a group.instance.id must name that instance's
   * current member id (else FENCED_INSTANCE_ID: an older incarnation is still running), and
   * the member id must belong to the group.
   */
  private validateCurrentMember(group: ClassicGroup, memberId: string, groupInstanceId: string | null): number | null {
    if (groupInstanceId !== null) {
      const current = group.currentStaticMemberId(groupInstanceId);
      if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (current !== memberId) {
        this.logger.info(`group ${JSON.stringify(group.groupId)}: member ${memberId} of static instance ${groupInstanceId} is fenced by ${current}`);
        return ErrorCode.FENCED_INSTANCE_ID;
      }
    }
    return group.has(memberId) ? null : ErrorCode.UNKNOWN_MEMBER_ID;
  }

  /**
   * The group id is valid for the API (offset and admin APIs accept '' for compatibility; the
   * membership APIs need a name), the coordinator is running, and it coordinates the group
   * (Kafka's validateGroupStatus: COORDINATOR_LOAD_IN_PROGRESS, then NOT_COORDINATOR).
   */
  private validateGroupStatus(groupId: string, allowEmpty: boolean): number | null {
    if (!allowEmpty && groupId === '') return ErrorCode.INVALID_GROUP_ID;
    if (!this.active) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    return this.ownerError(groupId);
  }

  // ---- offsets -------------------------------------------------------------------------------

  /**
   * Commits offsets; resolves with one error code per entry of `p.offsets`, in order, once the
   * accepted ones are in the metadata store.
   */
  async commitOffsets(p: OffsetCommitParams): Promise<number[]> {
    const { codes, valid, fail } = this.offsetCodes(p.offsets);
    if (valid.length === 0) return codes;
    if (this.needsLoad(p.groupId, true)) await this.ready(p.groupId, { fresh: true });
    const invalid = this.validateGroupStatus(p.groupId, true);
    if (invalid !== null) return fail(invalid);
    let group = this.groups.get(p.groupId);
    if (group === undefined) {
      // Only a commit from outside group management may create a group; a member's commit for
      // a group we do not know comes from an older generation.
      if (p.generationId >= 0) return fail(ErrorCode.ILLEGAL_GENERATION);
      group = new ClassicGroup(p.groupId, this.now());
      this.groups.set(p.groupId, group);
    }
    const error = this.validateOffsetCommit(group, p);
    if (error !== null) return fail(error);
    switch (group.state) {
      case 'Empty':
        break;
      case 'Stable':
      case 'PreparingRebalance': {
        // A commit counts as a sign of life. During PreparingRebalance the commit of the
        // previous generation is still accepted; the member learns of the rebalance from its
        // next heartbeat.
        const member = group.get(p.memberId)!;
        this.scheduleHeartbeat(group, member, member.sessionTimeoutMs);
        break;
      }
      case 'CompletingRebalance':
        // The member has its new generation but not its assignment yet.
        return fail(ErrorCode.REBALANCE_IN_PROGRESS);
      case 'Dead':
        return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }

    const now = this.now();
    const expireTimestamp = p.retentionTimeMs === -1n ? null : now + Number(p.retentionTimeMs);
    const entries: { topic: string; partition: number; value: CommittedOffset }[] = [];
    const entryIndex = this.withinMetadataLimit(valid, p.offsets, codes);
    for (const i of entryIndex) {
      const o = p.offsets[i];
      const metadata = o.metadata ?? '';
      entries.push({
        topic: o.topic,
        partition: o.partition,
        value: {
          offset: o.offset,
          leaderEpoch: o.leaderEpoch,
          metadata,
          commitTimestamp: o.commitTimestamp === -1n ? now : Number(o.commitTimestamp),
          expireTimestamp,
          topicId: this.topics(o.topic)!.topicId,
        },
      });
    }
    const results = await this.offsets.commit(p.groupId, entries);
    // Every group with offsets is a known group, even if an expiration pass dropped the
    // still offset-less group while this commit was being written.
    this.keepGroupWithOffsets(p.groupId);
    results.forEach((err, k) => {
      if (err === null) return;
      if (isStrataError(err, 'VERSION_CONFLICT')) {
        // Another broker's coordinator wrote the item: the client finds the coordinator again and retries.
        codes[entryIndex[k]] = ErrorCode.NOT_COORDINATOR;
        return;
      }
      this.commitWarnings.warn('store', `group ${JSON.stringify(p.groupId)}: storing the offset of ${entries[k].topic}-${entries[k].partition} failed: ${err.message}`);
      codes[entryIndex[k]] = toKafkaErrorCode(new StrataError('COORDINATOR_UNAVAILABLE', err.message, { cause: err }));
    });
    return codes;
  }

  /**
   * The start of an offset commit's answer: one code per offset, UNKNOWN_TOPIC_OR_PARTITION for
   * partitions that do not exist; `valid` indexes the others, and `fail` gives a code to them
   * (or to the given indexes) and returns the codes.
   */
  private offsetCodes(offsets: readonly TopicPartitionRef[]): { codes: number[]; valid: number[]; fail: (code: number, indexes?: readonly number[]) => number[] } {
    const codes: number[] = new Array<number>(offsets.length).fill(ErrorCode.NONE);
    const valid: number[] = [];
    offsets.forEach((o, i) => {
      const t = this.topics(o.topic);
      if (t === undefined || o.partition < 0 || o.partition >= t.partitions) codes[i] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else valid.push(i);
    });
    const fail = (code: number, indexes: readonly number[] = valid): number[] => {
      for (const i of indexes) codes[i] = code;
      return codes;
    };
    return { codes, valid, fail };
  }

  /** The `valid` indexes whose metadata fits offset.metadata.max.bytes; the others get OFFSET_METADATA_TOO_LARGE. */
  private withinMetadataLimit(valid: readonly number[], offsets: readonly { metadata: string | null }[], codes: number[]): number[] {
    return valid.filter((i) => {
      if ((offsets[i].metadata ?? '').length <= this.config.offsetMetadataMaxBytes) return true;
      codes[i] = ErrorCode.OFFSET_METADATA_TOO_LARGE;
      return false;
    });
  }

  /**
   * Who may commit for the group: a member of the current generation, or — with generation -1 —
   * anyone while the group is Empty (an admin client, a consumer assigning partitions itself).
   * Once the group has members, an OffsetCommit from outside it is refused (UNKNOWN_MEMBER_ID);
   * a TxnOffsetCommit without member fields (before v3, KIP-447) is let through
   * (`membersOnly` false), as Kafka's group coordinator does.
   */
  private validateOffsetCommit(group: ClassicGroup, p: { generationId: number; memberId: string; groupInstanceId: string | null }, membersOnly = true): number | null {
    if (group.is('Dead')) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (p.generationId < 0 && group.is('Empty')) return null;
    if (p.generationId >= 0 || p.memberId !== '' || p.groupInstanceId !== null) {
      return this.validateCurrentMember(group, p.memberId, p.groupInstanceId) ?? (p.generationId !== group.generationId ? ErrorCode.ILLEGAL_GENERATION : null);
    }
    return membersOnly ? ErrorCode.UNKNOWN_MEMBER_ID : null;
  }


  // ---- transactional offsets -----------------------------------------------------------------

  /**
   * TxnOffsetCommit: stores the offsets as pending for the producer's transaction; resolves
   * with one error code per entry of `p.offsets`, in order, once the accepted ones are in the
   * metadata store. Validation is Kafka's for transactional commits (GroupCoordinator
   * handleTxnCommitOffsets / ClassicGroup.validateOffsetCommit with isTransactional):
   * - unknown topic or partition → UNKNOWN_TOPIC_OR_PARTITION (KafkaApis);
   * - '' as group id → INVALID_GROUP_ID;
   * - an unknown group: generation -1 creates it (a producer outside group management), a
   *   generation ≥ 0 is ILLEGAL_GENERATION (the new group coordinator's answer);
   * - member id, group.instance.id and generation (KIP-447, v3+) are checked when any is sent;
   *   unlike OffsetCommit, neither a non-empty group nor a rebalance in progress refuses
   *   a commit without them (older versions carry none);
   * - metadata longer than offset.metadata.max.bytes → OFFSET_METADATA_TOO_LARGE.
   */
  async commitTransactionalOffsets(p: TxnOffsetCommitParams): Promise<number[]> {
    const { codes, valid, fail } = this.offsetCodes(p.offsets);
    if (valid.length === 0) return codes;
    if (this.needsLoad(p.groupId)) await this.ready(p.groupId);
    const invalid = this.validateGroupStatus(p.groupId, false);
    if (invalid !== null) return fail(invalid);
    const txnOffsets = this.txnOffsets;
    if (txnOffsets === null) {
      this.logger.warn(`group ${JSON.stringify(p.groupId)}: TxnOffsetCommit refused, the coordinator has no store for pending transactional offsets`);
      return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    let group = this.groups.get(p.groupId);
    if (group === undefined) {
      if (p.generationId >= 0) return fail(ErrorCode.ILLEGAL_GENERATION);
      group = new ClassicGroup(p.groupId, this.now());
      this.groups.set(p.groupId, group);
    }
    const refuse = (code: number) => {
      this.dropIfUnused(group!);
      return fail(code);
    };
    const error = this.validateOffsetCommit(group, p, false);
    if (error !== null) return refuse(error);
    const verified = p.verify === undefined ? ErrorCode.NONE : await p.verify();
    if (verified !== ErrorCode.NONE) return refuse(verified);
    // The group may have been unloaded while the transaction coordinator answered.
    const again = this.validateGroupStatus(p.groupId, false);
    if (again !== null) return fail(again);

    const now = this.now();
    const entryIndex = this.withinMetadataLimit(valid, p.offsets, codes);
    const entries: PendingTxnOffset[] = entryIndex.map((i) => {
      const o = p.offsets[i];
      return { topic: o.topic, partition: o.partition, producerEpoch: p.producerEpoch, offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata ?? '', commitTimestamp: now, topicId: this.topics(o.topic)!.topicId };
    });
    const results = await txnOffsets.put(p.groupId, p.producerId, entries);
    const written: number[] = [];
    results.forEach((err, k) => {
      if (err === null) return written.push(k);
      this.logger.warn(`group ${JSON.stringify(p.groupId)}: storing the transactional offset of ${entries[k].topic}-${entries[k].partition} for producer id ${p.producerId} failed: ${err.message}`);
      codes[entryIndex[k]] = toKafkaErrorCode(new StrataError('COORDINATOR_UNAVAILABLE', err.message, { cause: err }));
    });
    if (written.length > 0 && p.verify !== undefined) {
      // The transaction may have ended while we wrote: its completion could have run before
      // these items existed, and nothing would ever remove them.
      const after = await p.verify();
      if (after !== ErrorCode.NONE) {
        const tps = written.map((k) => ({ topic: entries[k].topic, partition: entries[k].partition }));
        await txnOffsets.remove(p.groupId, p.producerId, tps).catch((e: Error) =>
          this.logger.warn(`group ${JSON.stringify(p.groupId)}: removing transactional offsets of producer id ${p.producerId}, whose transaction ended meanwhile, failed: ${e.message}`),
        );
        fail(after, written.map((k) => entryIndex[k]));
      }
    }
    this.keepGroupWithOffsets(p.groupId);
    const g = this.groups.get(p.groupId);
    if (g !== undefined) this.dropIfUnused(g);
    return codes;
  }

  /**
   * The end of a producer's transaction, for the groups it added with AddOffsetsToTxn (what
   * Kafka does when the end marker reaches __consumer_offsets). Committed: each pending offset
   * is written through the offset store — a normal committed offset from then on — unless a
   * regular commit of the same partition came after the TxnOffsetCommit (Kafka keeps the later
   * record; here the later commit timestamp, ties going to the transaction) or its topic was
   * deleted; then the pending items are deleted. Aborted: they are deleted. Idempotent: a second
   * run (after a crash between the two steps) finds nothing pending, or re-applies the same
   * value. Rejects when a write failed; the transaction coordinator retries.
   */
  async completeTransaction(producerId: bigint, groups: string[], committed: boolean): Promise<void> {
    if (!this.active) throw new StrataError('COORDINATOR_UNAVAILABLE', 'the group coordinator is closed');
    const txnOffsets = this.txnOffsets;
    if (txnOffsets === null) return;
    for (const groupId of new Set(groups)) {
      if (this.ownership !== null) {
        await this.ready(groupId);
        if (!this.isServing(groupId)) {
          await this.completeInStore(txnOffsets, groupId, producerId, committed);
          continue;
        }
        // A previous coordinator of the group may have written pending offsets after this one
        // loaded it (while their views of the live brokers differed): complete those too.
        txnOffsets.installProducer(groupId, producerId, await txnOffsets.readGroup(groupId, producerId));
      }
      const pending = txnOffsets.pending(groupId, producerId);
      if (pending.length === 0) continue;
      let applied = 0;
      if (committed) {
        const apply = pending.filter((e) => {
          if (this.topics(e.topic)?.topicId !== e.topicId) return false;
          const current = this.offsets.get(groupId, e.topic, e.partition);
          return current === undefined || current.topicId !== e.topicId || current.commitTimestamp <= e.commitTimestamp;
        });
        const results = await this.offsets.commit(
          groupId,
          apply.map((e) => ({
            topic: e.topic,
            partition: e.partition,
            value: { offset: e.offset, leaderEpoch: e.leaderEpoch, metadata: e.metadata, commitTimestamp: e.commitTimestamp, expireTimestamp: null, topicId: e.topicId },
          })),
        );
        this.keepGroupWithOffsets(groupId);
        const failed = results.find((r) => r !== null);
        if (failed) throw new StrataError('COORDINATOR_UNAVAILABLE', `group ${JSON.stringify(groupId)}: committing the transactional offsets of producer id ${producerId} failed: ${failed.message}`, { cause: failed });
        applied = apply.length;
      }
      await txnOffsets.remove(groupId, producerId);
      this.logger.debug(
        `group ${JSON.stringify(groupId)}: transaction of producer id ${producerId} ${committed ? `committed ${applied} of ${pending.length}` : `aborted ${pending.length}`} pending offset(s)`,
      );
      const g = this.groups.get(groupId);
      if (g !== undefined) this.dropIfUnused(g);
    }
  }

  /**
   * completeTransaction for a group another broker coordinates: the producer's pending offsets
   * are read from the store, applied to the committed offset items with read-check-conditional
   * writes (the same rule as the cached path: a later regular commit or a re-created topic
   * wins), then deleted conditionally on the versions read. The group's coordinator re-reads
   * the group before it next answers from its pending offsets.
   */
  private async completeInStore(txnOffsets: TxnOffsetStore, groupId: string, producerId: bigint, committed: boolean): Promise<void> {
    const items = await txnOffsets.readGroup(groupId, producerId);
    if (items.length === 0) return;
    let applied = 0;
    try {
      if (committed) {
        const results = await Promise.all(
          items.map(({ value: e }) => {
            if (this.topics(e.topic)?.topicId !== e.topicId) return Promise.resolve(false);
            const value: CommittedOffset = { offset: e.offset, leaderEpoch: e.leaderEpoch, metadata: e.metadata, commitTimestamp: e.commitTimestamp, expireTimestamp: null, topicId: e.topicId };
            return this.offsets.applyInStore(groupId, e.topic, e.partition, value, (current) => current === undefined || current.topicId !== e.topicId || current.commitTimestamp <= e.commitTimestamp);
          }),
        );
        applied = results.filter(Boolean).length;
      }
      await txnOffsets.deleteStored(groupId, items);
    } catch (e) {
      throw new StrataError('COORDINATOR_UNAVAILABLE', `group ${JSON.stringify(groupId)}: completing the transactional offsets of producer id ${producerId} in the store failed: ${(e as Error).message}`, { cause: e });
    }
    this.logger.debug(
      `group ${JSON.stringify(groupId)} (coordinated elsewhere): transaction of producer id ${producerId} ${committed ? `committed ${applied} of ${items.length}` : `aborted ${items.length}`} pending offset(s)`,
    );
  }

  /** A group with offsets is a known group (unless another broker coordinates it now). */
  private keepGroupWithOffsets(groupId: string): void {
    if (this.hasAnyOffsets(groupId) && !this.groups.has(groupId) && this.isServing(groupId)) this.groups.set(groupId, new ClassicGroup(groupId, this.now()));
  }

  /**
   * Committed offsets of the group: of the requested partitions (-1 and '' where none), or of
   * every partition when `partitions` is null. Served from memory. With `requireStable`
   * (OffsetFetch v7+, KIP-447: read_committed consumers) a partition with a pending
   * transactional offset answers UNSTABLE_OFFSET_COMMIT, and the consumer retries.
   */
  fetchOffsets(groupId: string, partitions: { topic: string; partitions: number[] }[] | null, requireStable = false): FetchOffsetsResult {
    const invalid = this.validateGroupStatus(groupId, true);
    if (invalid !== null) return { errorCode: invalid, topics: [] };
    const none = (partition: number, errorCode: number = ErrorCode.NONE): FetchedOffset => ({ partition, offset: -1n, leaderEpoch: -1, metadata: '', errorCode });
    const found = (partition: number, v: CommittedOffset): FetchedOffset => ({ partition, offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, errorCode: ErrorCode.NONE });
    const unstable = (topic: string, partition: number) => requireStable && this.txnOffsets !== null && this.txnOffsets.hasPending(groupId, topic, partition);
    if (partitions !== null) {
      return {
        errorCode: ErrorCode.NONE,
        topics: partitions.map((t) => ({
          name: t.topic,
          partitions: t.partitions.map((p) => {
            if (unstable(t.topic, p)) return none(p, ErrorCode.UNSTABLE_OFFSET_COMMIT);
            const v = this.liveOffset(groupId, t.topic, p);
            return v === undefined ? none(p) : found(p, v);
          }),
        })),
      };
    }
    const byTopic = new Map<string, FetchedOffset[]>();
    for (const { topic, partition } of this.offsets.all(groupId)) {
      const v = this.liveOffset(groupId, topic, partition);
      if (v === undefined) continue;
      let list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, (list = []));
      list.push(unstable(topic, partition) ? none(partition, ErrorCode.UNSTABLE_OFFSET_COMMIT) : found(partition, v));
    }
    return { errorCode: ErrorCode.NONE, topics: [...byTopic].map(([name, ps]) => ({ name, partitions: ps })) };
  }

  /** The committed offset, unless it belongs to a topic that was deleted (and perhaps re-created) since. */
  private liveOffset(groupId: string, topic: string, partition: number): CommittedOffset | undefined {
    const v = this.offsets.get(groupId, topic, partition);
    return v !== undefined && this.topics(topic)?.topicId === v.topicId ? v : undefined;
  }

  /**
   * OffsetDelete: removes committed offsets of an Empty group, or of topics no member of a
   * consumer group subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Resolves with a
   * group-level error code and, when it is NONE, one code per requested partition.
   */
  async deleteOffsets(groupId: string, partitions: TopicPartitionRef[]): Promise<{ errorCode: number; results: number[] }> {
    if (this.needsLoad(groupId, true)) await this.ready(groupId, { fresh: true });
    const invalid = this.validateGroupStatus(groupId, false);
    if (invalid !== null) return { errorCode: invalid, results: [] };
    const group = this.groups.get(groupId);
    if (group === undefined || group.is('Dead')) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, results: [] };
    const results = partitions.map((tp): number => {
      const t = this.topics(tp.topic);
      return t === undefined || tp.partition < 0 || tp.partition >= t.partitions ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.NONE;
    });
    if (!group.is('Empty')) {
      if (group.protocolType !== CONSUMER_PROTOCOL_TYPE) return { errorCode: ErrorCode.NON_EMPTY_GROUP, results: [] };
      partitions.forEach((tp, i) => {
        if (results[i] === ErrorCode.NONE && group.isSubscribedToTopic(tp.topic)) results[i] = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
      });
    }
    const eligible = partitions.filter((_, i) => results[i] === ErrorCode.NONE);
    if (eligible.length > 0) {
      try {
        // Kafka's tombstone for the partition also drops the pending transactional offsets.
        if (this.txnOffsets !== null) await this.txnOffsets.removeAll(groupId, eligible);
        const n = await this.offsets.delete(groupId, eligible);
        this.logger.info(`group ${JSON.stringify(groupId)}: deleted ${n} offset(s) of ${eligible.map((tp) => `${tp.topic}-${tp.partition}`).join(', ')}`);
      } catch (e) {
        this.logger.warn(`group ${JSON.stringify(groupId)}: deleting offsets failed: ${(e as Error).message}`);
        return { errorCode: toKafkaErrorCode(new StrataError('COORDINATOR_UNAVAILABLE', (e as Error).message, { cause: e })), results: [] };
      }
      this.dropIfUnused(group);
    }
    return { errorCode: ErrorCode.NONE, results };
  }

  // ---- groups as a whole ---------------------------------------------------------------------

  /** DescribeGroups for one group; an unknown group is reported as Dead, as Kafka does before v6. */
  describeGroup(groupId: string): GroupDescription {
    const base = { groupId, protocolType: '', protocolData: '', members: [] };
    const invalid = this.validateGroupStatus(groupId, true);
    if (invalid !== null) return { ...base, errorCode: invalid, groupState: '' };
    const group = this.groups.get(groupId);
    if (group === undefined) return { ...base, errorCode: ErrorCode.NONE, groupState: 'Dead' };
    // Metadata and assignments are only meaningful once the generation's assignment is settled.
    const stable = group.is('Stable');
    const protocol = group.protocolName ?? '';
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      groupState: group.state,
      protocolType: group.protocolType ?? '',
      protocolData: stable ? protocol : '',
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: stable ? m.metadata(protocol) : EMPTY_BYTES,
        memberAssignment: stable ? m.assignment : EMPTY_BYTES,
      })),
    };
  }

  /**
   * ListGroups; `states` filters by state name, case-insensitively (empty: all). With an
   * ownership, the groups this broker coordinates, and COORDINATOR_LOAD_IN_PROGRESS (with what
   * is loaded) until loadOwned() has read them all since the live brokers last changed; the
   * handler awaits loadOwned() first.
   */
  listGroups(states: readonly string[]): { errorCode: number; groups: ListedGroup[] } {
    if (!this.active) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, groups: [] };
    let errorCode: number = ErrorCode.NONE;
    if (this.ownership !== null) {
      this.checkOwnership();
      if (this.scannedVersion !== this.ownership.version) {
        errorCode = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
        this.loadOwned().catch((e: Error) => this.logger.warn(`loading the groups this broker coordinates failed: ${e.message}`));
      }
    }
    const wanted = new Set(states.map((s) => s.toLowerCase()));
    const groups: ListedGroup[] = [];
    for (const g of this.groups.values()) {
      if (wanted.size > 0 && !wanted.has(g.state.toLowerCase())) continue;
      groups.push({ groupId: g.groupId, protocolType: g.protocolType ?? '', groupState: g.state });
    }
    return { errorCode, groups };
  }

  /** DeleteGroups: an Empty group and its offsets are removed; a group with members is NON_EMPTY_GROUP. */
  async deleteGroups(groupIds: readonly string[]): Promise<{ groupId: string; errorCode: number }[]> {
    const ids = [...new Set(groupIds)];
    return Promise.all(
      ids.map(async (groupId) => {
        if (this.needsLoad(groupId, true)) await this.ready(groupId, { fresh: true });
        const invalid = this.validateGroupStatus(groupId, true);
        if (invalid !== null) return { groupId, errorCode: invalid };
        const group = this.groups.get(groupId);
        if (group === undefined) return { groupId, errorCode: ErrorCode.GROUP_ID_NOT_FOUND };
        if (!group.is('Empty')) return { groupId, errorCode: ErrorCode.NON_EMPTY_GROUP };
        this.markDead(group, 'deleted');
        try {
          // Pending transactional offsets go with the group (Kafka's new coordinator writes
          // tombstones for them too); their transaction's end then finds nothing to complete.
          const pending = this.txnOffsets !== null ? await this.txnOffsets.removeAll(groupId, null) : 0;
          const n = await this.offsets.delete(groupId, this.offsets.all(groupId));
          this.logger.info(`group ${JSON.stringify(groupId)} deleted with ${n} offset(s)${pending > 0 ? ` and ${pending} pending transactional offset(s)` : ''}`);
          return { groupId, errorCode: ErrorCode.NONE };
        } catch (e) {
          this.logger.warn(`group ${JSON.stringify(groupId)}: deleting its offsets failed: ${(e as Error).message}`);
          // The offsets still there still belong to a group.
          this.keepGroupWithOffsets(groupId);
          return { groupId, errorCode: toKafkaErrorCode(new StrataError('COORDINATOR_UNAVAILABLE', (e as Error).message, { cause: e })) };
        }
      }),
    );
  }

  // ---- offset expiration ----------------------------------------------------------------------

  /**
   * One pass of offset expiration (KIP-211), run every offsets.retention.check.interval.ms:
   * - an Empty group's offsets expire once the group has been empty for offsets.retention.minutes
   *   (an offset committed after that counts from its commit);
   * - a Stable consumer group's offsets of topics no member subscribes to expire that long after
   *   their commit;
   * - offsets committed with an explicit retention (OffsetCommit v2-4) expire at that time;
   * - offsets of deleted topics go at once.
   * An Empty group left without offsets is then forgotten.
   */
  expireOffsets(): Promise<void> {
    this.expiryRunning ??= this.runExpiry().finally(() => {
      this.expiryRunning = null;
    });
    return this.expiryRunning;
  }

  private async runExpiry(): Promise<void> {
    try {
      await this.loadOwned();
    } catch (e) {
      this.logger.warn(`loading the groups this broker coordinates failed (expiring the loaded ones only): ${(e as Error).message}`);
    }
    const now = this.now();
    const retention = this.config.offsetsRetentionMs;
    let removed = 0;
    for (const group of [...this.groups.values()]) {
      if (!this.active) return;
      this.checkOwnership();
      if (this.groups.get(group.groupId) !== group) continue;
      const expired: TopicPartitionRef[] = [];
      for (const { topic, partition, value } of this.offsets.all(group.groupId)) {
        const dropped = this.topics(topic)?.topicId !== value.topicId;
        let base: number | null = null;
        if (group.is('Empty')) base = Math.max(group.stateTimestamp, value.commitTimestamp);
        else if (group.is('Stable') && group.protocolType === CONSUMER_PROTOCOL_TYPE && group.subscribedTopics !== null && !group.subscribedTopics.has(topic)) base = value.commitTimestamp;
        const due = base !== null && (value.expireTimestamp !== null ? now >= value.expireTimestamp : now - base >= retention);
        // Kafka does not expire an offset while a transactional offset for it is pending.
        const pending = this.txnOffsets !== null && this.txnOffsets.hasPending(group.groupId, topic, partition);
        if (dropped || (due && !pending)) expired.push({ topic, partition });
      }
      if (expired.length > 0) {
        try {
          removed += await this.offsets.delete(group.groupId, expired);
        } catch (e) {
          this.logger.warn(`group ${JSON.stringify(group.groupId)}: removing expired offsets failed: ${(e as Error).message}`);
        }
      }
      if (this.groups.get(group.groupId) === group) this.dropIfUnused(group);
    }
    if (removed > 0) this.logger.info(`removed ${removed} expired offset(s)`);
  }

  // ---- observation (tests, CLI) ------------------------------------------------------------------

  /** The group's state, or undefined when the coordinator does not know it. */
  groupState(groupId: string): GroupState | undefined {
    return this.groups.get(groupId)?.state;
  }

  /** The group's generation, or undefined. */
  generationOf(groupId: string): number | undefined {
    return this.groups.get(groupId)?.generationId;
  }

  /** Every group's state and member count (for metrics). */
  groupSizes(): { state: GroupState; members: number }[] {
    return [...this.groups.values()].map((g) => ({ state: g.state, members: g.size }));
  }
}
