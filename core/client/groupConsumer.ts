import { StrataError } from '../common/errors';
import { Logger } from '../common/logger';
import { ErrorCode } from '../protocol/errorCodes';
import { ASSIGNORS, PartitionAssignor } from './assignors';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, OffsetToCommit, PartitionFetch, StrataClient, TopicPartitionRef } from './client';
import type { ConnectionSecurity } from './security';
import { KafkaResponseError, isKafkaError } from './errors';
import { GroupAssignmentResult, GroupMembership } from './groupMembership';
import { FetchedRecord } from './records';

/**
 * A consumer-group member that reads records: Kafka's KafkaConsumer with subscribe() and the
 * classic (eager) rebalance protocol, in the poll style.
 *
 *   const consumer = new GroupConsumer({ bootstrapServers, groupId: 'g', topics: ['orders'] });
 *   for (;;) { for (const r of await consumer.poll()) handle(r); }   // and finally:
 *   await consumer.close();                                           // commit + LeaveGroup
 *
 * Each poll (1) auto-commits when auto.commit.interval.ms has passed, (2) rejoins when the
 * group rebalances — committing and revoking every partition first, as the eager protocol
 * requires — (3) gives newly assigned partitions a position: the group's committed offset,
 * else auto.offset.reset (earliest | latest | none → NoOffsetForPartition error), and (4)
 * fetches. Heartbeats run on their own timer in between (groupMembership.ts).
 *
 * Delivery is at-least-once: a position only moves past records poll returned, commits (auto,
 * on revoke, on close, commitSync) write positions, so a record is committed only once a later
 * poll (or close/commitSync) says the caller is done with it.
 *
 * The group's requests use a client of their own, i.e. their own connection: the broker
 * answers one request per connection at a time, and a heartbeat must not wait behind a fetch
 * long-poll, nor a fetch behind a JoinGroup the coordinator holds for a whole rebalance.
 */

export type AutoOffsetReset = 'earliest' | 'latest' | 'none';

export interface ConsumerRecord extends FetchedRecord {
  topic: string;
  partition: number;
}

export interface GroupConsumerOptions {
  bootstrapServers: string[];
  groupId: string;
  /** The subscription. */
  topics: string[];
  /** client.id; default 'strata-consumer'. */
  clientId?: string;
  /** Static membership (KIP-345): group.instance.id. */
  groupInstanceId?: string | null;
  /** session.timeout.ms; default 45 000. */
  sessionTimeoutMs?: number;
  /** max.poll.interval.ms, sent as the rebalance timeout; default 300 000. */
  rebalanceTimeoutMs?: number;
  /** heartbeat.interval.ms; default 3 000. */
  heartbeatIntervalMs?: number;
  /** auto.offset.reset; default 'latest'. */
  autoOffsetReset?: AutoOffsetReset;
  /** enable.auto.commit; default true. */
  enableAutoCommit?: boolean;
  /** auto.commit.interval.ms; default 5 000. */
  autoCommitIntervalMs?: number;
  /** partition.assignment.strategy, by protocol name, in preference order; default ['range', 'roundrobin']. */
  assignors?: string[];
  /** fetch.max.wait.ms: how long a poll's fetch may wait for data; default 500. */
  fetchMaxWaitMs?: number;
  /** fetch.min.bytes; default 1. */
  fetchMinBytes?: number;
  /** max.partition.fetch.bytes; default 1 MiB. */
  maxPartitionFetchBytes?: number;
  /** 0 = read_uncommitted (default), 1 = read_committed. */
  isolationLevel?: 0 | 1;
  /** max.poll.records; default 500. */
  maxPollRecords?: number;
  /** request.timeout.ms; default 30 000. */
  requestTimeoutMs?: number;
  /** retry.backoff.ms; default 100. */
  retryBackoffMs?: number;
  /** metadata.max.age.ms: how often the leader checks whether subscribed topics changed partition count; default 300 000. */
  metadataMaxAgeMs?: number;
  /** A client for metadata and fetches, shared with the caller (not closed by close()). Default: one of our own. */
  client?: StrataClient;
  /**
   * TLS and/or SASL for the consumer's connections (security.protocol, ssl.*, sasl.*). Default:
   * the shared `client`'s settings when one is given, else PLAINTEXT.
   */
  security?: ConnectionSecurity;
  /** Rebalance listener: partitions just assigned (positions not fetched yet). */
  onAssign?: (partitions: TopicPartitionRef[]) => void | Promise<void>;
  /** Rebalance listener: partitions about to be taken away (already committed when auto-commit is on). */
  onRevoke?: (partitions: TopicPartitionRef[]) => void | Promise<void>;
  /** Rebalance listener: partitions lost without a chance to commit (the group moved on without us). */
  onLost?: (partitions: TopicPartitionRef[]) => void | Promise<void>;
  logger?: Logger;
}

export interface PollOptions {
  /** How long to wait for records (a rebalance in progress may take longer); default fetch.max.wait.ms. */
  maxWaitMs?: number;
  /** At most this many records; default max.poll.records. */
  maxRecords?: number;
  /** Ends the wait early: the poll then returns what it has (usually nothing). */
  signal?: AbortSignal;
}

interface Position {
  topic: string;
  partition: number;
  offset: bigint;
}

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export class GroupConsumer {
  readonly groupId: string;
  private readonly topics: string[];
  private readonly client: StrataClient;
  private readonly ownsClient: boolean;
  private readonly groupClient: StrataClient;
  private readonly membership: GroupMembership;
  private readonly opts: GroupConsumerOptions;
  private readonly autoOffsetReset: AutoOffsetReset;
  private readonly autoCommit: boolean;
  private readonly autoCommitIntervalMs: number;
  private readonly fetchMaxWaitMs: number;
  private readonly maxPollRecords: number;
  private readonly retryBackoffMs: number;
  private readonly metadataMaxAgeMs: number;
  private assigned: TopicPartitionRef[] = [];
  private readonly positions = new Map<string, Position>();
  /** What we last committed per partition, so auto-commit only writes what moved. */
  private readonly lastCommitted = new Map<string, bigint>();
  /** The leader's partition counts at assignment; a change means a rebalance is due. */
  private assignedCounts: Map<string, number> | null = null;
  private nextAutoCommitAt = 0;
  private nextMetadataCheckAt = 0;
  /** Rotates which partition's records come first when maxRecords cuts a poll short. */
  private rotation = 0;
  /**
   * The join round in flight, until a poll applies its result: a poll that stops waiting
   * leaves it running, and the next poll waits on the same round (never a second JoinGroup).
   */
  private pendingJoin: Promise<GroupAssignmentResult> | null = null;
  private polling = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Wakes a poll that is waiting (no assignment, backoff) when the group needs attention or we close. */
  private wake: (() => void) | null = null;

  constructor(opts: GroupConsumerOptions) {
    if (!opts.groupId) throw new StrataError('CONFIG_INVALID', 'a group consumer needs a group id (group.id)');
    if (opts.topics.length === 0) throw new StrataError('CONFIG_INVALID', 'a group consumer needs at least one topic to subscribe to');
    const assignorNames = opts.assignors ?? ['range', 'roundrobin'];
    const assignors: PartitionAssignor[] = assignorNames.map((name) => {
      const a = ASSIGNORS.get(name);
      if (!a) throw new StrataError('CONFIG_INVALID', `unknown partition.assignment.strategy '${name}'; supported: ${[...ASSIGNORS.keys()].join(', ')}`);
      return a;
    });
    if (assignors.length === 0) throw new StrataError('CONFIG_INVALID', 'partition.assignment.strategy must name at least one assignor');
    const sessionTimeoutMs = opts.sessionTimeoutMs ?? 45_000;
    const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 3_000;
    if (heartbeatIntervalMs >= sessionTimeoutMs) {
      throw new StrataError('CONFIG_INVALID', `heartbeat.interval.ms (${heartbeatIntervalMs}) must be lower than session.timeout.ms (${sessionTimeoutMs})`);
    }
    this.opts = opts;
    this.groupId = opts.groupId;
    this.topics = [...new Set(opts.topics)].sort();
    this.autoOffsetReset = opts.autoOffsetReset ?? 'latest';
    this.autoCommit = opts.enableAutoCommit ?? true;
    this.autoCommitIntervalMs = opts.autoCommitIntervalMs ?? 5_000;
    this.fetchMaxWaitMs = opts.fetchMaxWaitMs ?? 500;
    this.maxPollRecords = opts.maxPollRecords ?? 500;
    this.retryBackoffMs = opts.retryBackoffMs ?? 100;
    this.metadataMaxAgeMs = opts.metadataMaxAgeMs ?? 300_000;
    const clientId = opts.clientId ?? 'strata-consumer';
    const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.ownsClient = opts.client === undefined;
    const security = opts.security ?? opts.client?.securitySettings;
    this.client = opts.client ?? new StrataClient({ bootstrapServers: opts.bootstrapServers, clientId, requestTimeoutMs, security });
    this.groupClient = new StrataClient({ bootstrapServers: opts.bootstrapServers, clientId, requestTimeoutMs, retryBackoffMs: this.retryBackoffMs, security });
    this.membership = new GroupMembership({
      client: this.groupClient,
      groupId: opts.groupId,
      groupInstanceId: opts.groupInstanceId ?? null,
      sessionTimeoutMs,
      rebalanceTimeoutMs: opts.rebalanceTimeoutMs ?? 300_000,
      heartbeatIntervalMs,
      retryBackoffMs: this.retryBackoffMs,
      assignors,
      partitionCounts: (topics) => this.partitionCounts(topics),
      onRejoinNeeded: () => this.wake?.(),
      logger: opts.logger,
    });
  }

  /** Our member id in the group ('' before the first join). */
  get memberId(): string {
    return this.membership.memberId;
  }

  get generationId(): number {
    return this.membership.generationId;
  }

  /** The partitions assigned to us in the current generation. */
  assignment(): TopicPartitionRef[] {
    return this.assigned.map((tp) => ({ ...tp }));
  }

  /** The offset of the next record poll returns for a partition, once known. */
  position(topic: string, partition: number): bigint | undefined {
    return this.positions.get(key(topic, partition))?.offset;
  }

  /**
   * Returns the next records of our partitions, waiting up to `maxWaitMs` for some. Joins
   * the group first when needed (the first call, after a rebalance). Throws for what the
   * caller must know about: NoOffsetForPartition (auto.offset.reset=none), fatal group errors
   * (FENCED_INSTANCE_ID, INVALID_SESSION_TIMEOUT...), a closed consumer. Transient failures
   * (broker restarting, coordinator moving) only make a poll come back empty.
   */
  async poll(opts: PollOptions = {}): Promise<ConsumerRecord[]> {
    if (this.closed) throw new StrataError('CLOSED', 'the consumer is closed');
    if (this.polling) throw new Error('GroupConsumer.poll is already running: call it from one loop, one call at a time');
    this.polling = true;
    try {
      return await this.pollOnce(opts);
    } finally {
      this.polling = false;
    }
  }

  /**
   * Commits offsets now and waits for the answer: the given ones, else every position
   * (the offsets after the records poll returned). Throws COMMIT_FAILED when the group
   * rebalanced meanwhile (the partitions may be someone else's by now).
   */
  async commitSync(offsets?: OffsetToCommit[]): Promise<void> {
    if (this.closed) throw new StrataError('CLOSED', 'the consumer is closed');
    await this.commit(offsets ?? this.currentPositions(false));
  }

  /** The group's committed offsets for the given partitions (default: ours). */
  async committed(partitions?: TopicPartitionRef[]): Promise<Array<TopicPartitionRef & { offset: bigint }>> {
    const list = await this.groupClient.offsetFetch(this.groupId, partitions ?? this.assignment(), { requireStable: this.opts.isolationLevel === 1 });
    return list.map((c) => ({ topic: c.topic, partition: c.partition, offset: c.offset }));
  }

  /**
   * Leaves the group cleanly: commits positions (auto-commit on), tells the rebalance listener
   * the partitions are revoked, sends LeaveGroup so the group rebalances now rather than after
   * the session timeout, and closes the connections. Never throws; idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  // ---------------------------------------------------------------- poll steps

  private async pollOnce(opts: PollOptions): Promise<ConsumerRecord[]> {
    const maxWaitMs = Math.max(0, opts.maxWaitMs ?? this.fetchMaxWaitMs);
    const maxRecords = Math.max(1, opts.maxRecords ?? this.maxPollRecords);
    const deadline = Date.now() + maxWaitMs;
    const signal = opts.signal;
    const fatal = this.membership.fatalError;
    if (fatal) throw fatal;

    await this.maybeAutoCommit();
    this.maybeCheckMetadata();
    if (this.membership.needsJoin || this.pendingJoin !== null) {
      let joined: boolean;
      try {
        joined = await this.rebalance(deadline, signal);
      } catch (err) {
        if (!isTransient(err)) throw err;
        this.opts.logger?.warn(`group '${this.groupId}': joining failed, will retry: ${(err as Error).message}`);
        await this.idle(Math.min(this.retryBackoffMs, deadline - Date.now()), signal);
        return [];
      }
      if (!joined || this.closed) return [];
    }
    try {
      await this.initPositions();
    } catch (err) {
      if (!isTransient(err)) throw err;
      this.opts.logger?.warn(`group '${this.groupId}': could not fetch committed offsets, will retry: ${(err as Error).message}`);
      await this.idle(Math.min(this.retryBackoffMs, deadline - Date.now()), signal);
      return [];
    }
    if (this.positions.size === 0) {
      // Nothing assigned (more members than partitions): wait, but wake for a rebalance.
      await this.idle(deadline - Date.now(), signal);
      return [];
    }
    return this.fetchRecords(Math.max(0, deadline - Date.now()), maxRecords, signal);
  }

  /**
   * Revokes what we hold (committing it first if the generation is still ours), then joins.
   * Returns false when the join is still running at the deadline (it continues in the
   * background; the next poll picks it up) or the wait was aborted.
   */
  private async rebalance(deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (this.pendingJoin === null) {
      this.pendingJoin = this.startJoin();
      // Awaited below or by a later poll; never an unhandled rejection meanwhile.
      this.pendingJoin.catch(() => undefined);
    }
    let result;
    try {
      result = await raceWait(this.pendingJoin, deadline - Date.now(), signal, (wake) => (this.wake = wake));
    } catch (err) {
      this.pendingJoin = null;
      throw err;
    } finally {
      this.wake = null;
    }
    if (result === undefined) return false;
    this.pendingJoin = null;
    this.assigned = result.partitions;
    this.assignedCounts = result.partitionCounts;
    this.nextAutoCommitAt = Date.now() + this.autoCommitIntervalMs;
    this.nextMetadataCheckAt = Date.now() + this.metadataMaxAgeMs;
    await this.opts.onAssign?.(this.assignment());
    return true;
  }

  /** Revokes (or loses) what we hold, then starts the join round; its result is applied by a poll. */
  private async startJoin(): Promise<GroupAssignmentResult> {
    if (this.assigned.length > 0) {
      const revoked = this.assignment();
      if (this.membership.hasValidGeneration) {
        if (this.autoCommit) await this.commit(this.currentPositions(true)).catch((err: unknown) => this.warnCommit(err, 'before the rebalance'));
        await this.opts.onRevoke?.(revoked);
      } else {
        await this.opts.onLost?.(revoked);
      }
      this.assigned = [];
      this.assignedCounts = null;
      this.positions.clear();
      this.lastCommitted.clear();
    }
    return this.membership.join(this.topics);
  }

  /** Positions for assigned partitions that have none: the committed offset, else auto.offset.reset. */
  private async initPositions(): Promise<void> {
    const missing = this.assigned.filter((tp) => !this.positions.has(key(tp.topic, tp.partition)));
    if (missing.length === 0) return;
    const committed = await this.groupClient.offsetFetch(this.groupId, missing, { requireStable: this.opts.isolationLevel === 1 });
    const found = new Map(committed.map((c) => [key(c.topic, c.partition), c.offset]));
    const reset: TopicPartitionRef[] = [];
    for (const tp of missing) {
      const offset = found.get(key(tp.topic, tp.partition));
      if (offset === undefined) reset.push(tp);
      else {
        this.positions.set(key(tp.topic, tp.partition), { ...tp, offset });
        this.lastCommitted.set(key(tp.topic, tp.partition), offset);
      }
    }
    if (this.opts.logger?.debugEnabled) {
      this.opts.logger.debug(`group '${this.groupId}': resuming at committed offsets ${committed.map((c) => `${c.topic}-${c.partition}@${c.offset}`).join(', ') || '(none)'}`);
    }
    await this.resetPositions(reset, 'no committed offset');
  }

  /** Applies auto.offset.reset to partitions without a usable position. */
  private async resetPositions(partitions: TopicPartitionRef[], why: string): Promise<void> {
    if (partitions.length === 0) return;
    if (this.autoOffsetReset === 'none') {
      // Kafka's NoOffsetForPartitionException wording, so the fix is searchable.
      throw new StrataError(
        'NO_OFFSET_FOR_PARTITION',
        `Undefined offset with no reset policy for partitions: [${partitions.map((tp) => `${tp.topic}-${tp.partition}`).join(', ')}] (${why}; auto.offset.reset=none)`,
      );
    }
    const timestamp = this.autoOffsetReset === 'earliest' ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP;
    const offsets = await Promise.all(partitions.map((tp) => this.client.listOffsets(tp.topic, tp.partition, timestamp)));
    partitions.forEach((tp, i) => {
      // Only if still ours: a rebalance may have happened while we asked.
      if (this.assigned.some((a) => a.topic === tp.topic && a.partition === tp.partition)) {
        this.positions.set(key(tp.topic, tp.partition), { ...tp, offset: offsets[i].offset });
      }
    });
  }

  private async fetchRecords(waitMs: number, maxRecords: number, signal: AbortSignal | undefined): Promise<ConsumerRecord[]> {
    const byTopic = new Map<string, Position[]>();
    for (const p of this.positions.values()) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), { ...p }]);
    let results: Array<{ topic: string; fetches: PartitionFetch[] }>;
    try {
      results = await Promise.all(
        [...byTopic].map(async ([topic, list]) => ({
          topic,
          fetches: await this.client.fetchPartitions(
            topic,
            list.map((p) => ({ partition: p.partition, offset: p.offset })),
            { maxWaitMs: waitMs, minBytes: this.opts.fetchMinBytes ?? 1, maxBytes: this.opts.maxPartitionFetchBytes ?? 1024 * 1024, isolationLevel: this.opts.isolationLevel ?? 0 },
          ),
        })),
      );
    } catch (err) {
      if (!isTransient(err)) throw err;
      // A broker restarting or a leader moving: the client reconnects on the next poll.
      this.opts.logger?.debug(`group '${this.groupId}': fetch failed, will retry: ${(err as Error).message}`);
      await this.idle(Math.min(this.retryBackoffMs, waitMs), signal);
      return [];
    }

    const flat = results.flatMap((r) => r.fetches.map((f) => ({ topic: r.topic, f })));
    const outOfRange: TopicPartitionRef[] = [];
    const out: ConsumerRecord[] = [];
    // Start with a different partition each poll, so a small maxRecords cannot starve the last ones.
    const start = flat.length > 0 ? this.rotation++ % flat.length : 0;
    for (let i = 0; i < flat.length; i++) {
      const { topic, f } = flat[(start + i) % flat.length];
      const k = key(topic, f.partition);
      const pos = this.positions.get(k);
      // A rebalance or reset while the fetch ran makes its answer stale for this partition.
      if (!pos || pos.offset !== f.offset) continue;
      if (f.error) {
        if (isKafkaError(f.error, ErrorCode.OFFSET_OUT_OF_RANGE)) outOfRange.push({ topic, partition: f.partition });
        else if (!(f.error instanceof KafkaResponseError && f.error.retriable)) throw f.error;
        continue;
      }
      const res = f.result!;
      let taken = 0;
      for (const record of res.records) {
        if (out.length >= maxRecords) break;
        out.push({ ...record, topic, partition: f.partition });
        pos.offset = record.offset + 1n;
        taken++;
      }
      // Everything returned was handed out: continue after the last batch (skips control records).
      if (taken === res.records.length && res.nextOffset > pos.offset) pos.offset = res.nextOffset;
    }
    if (outOfRange.length > 0) {
      for (const tp of outOfRange) this.positions.delete(key(tp.topic, tp.partition));
      await this.resetPositions(outOfRange, 'the fetch offset is out of range');
    }
    return out;
  }

  // ---------------------------------------------------------------- commits

  private currentPositions(onlyChanged: boolean): OffsetToCommit[] {
    const out: OffsetToCommit[] = [];
    for (const [k, p] of this.positions) {
      if (onlyChanged && this.lastCommitted.get(k) === p.offset) continue;
      out.push({ topic: p.topic, partition: p.partition, offset: p.offset });
    }
    return out;
  }

  private async maybeAutoCommit(): Promise<void> {
    if (!this.autoCommit || Date.now() < this.nextAutoCommitAt || this.membership.identity === null) return;
    this.nextAutoCommitAt = Date.now() + this.autoCommitIntervalMs;
    await this.commit(this.currentPositions(true)).catch((err: unknown) => this.warnCommit(err, 'automatically'));
  }

  /**
   * Commits as the current generation's member. Refusals that mean the group moved on are
   * turned into COMMIT_FAILED and set up the rejoin (or reset) they call for.
   */
  private async commit(offsets: OffsetToCommit[]): Promise<void> {
    if (offsets.length === 0) return;
    const identity = this.membership.identity;
    if (identity === null) {
      throw new StrataError('COMMIT_FAILED', `cannot commit offsets for group '${this.groupId}': the consumer is not part of an active generation (it is rebalancing); poll, then commit again`);
    }
    try {
      await this.groupClient.offsetCommit(this.groupId, offsets, identity);
    } catch (err) {
      if (isKafkaError(err, ErrorCode.REBALANCE_IN_PROGRESS)) {
        this.membership.requestRejoin('a commit answered REBALANCE_IN_PROGRESS');
        throw new StrataError('COMMIT_FAILED', `offset commit for group '${this.groupId}' refused: the group is rebalancing; the partitions are revoked and re-assigned at the next poll`, { cause: err });
      }
      if (isKafkaError(err, ErrorCode.ILLEGAL_GENERATION) || isKafkaError(err, ErrorCode.UNKNOWN_MEMBER_ID)) {
        this.membership.resetGeneration(isKafkaError(err, ErrorCode.UNKNOWN_MEMBER_ID), `a commit answered ${(err as KafkaResponseError).errorName}`);
        // Kafka's CommitFailedException text: the usual cause and the usual fix.
        throw new StrataError(
          'COMMIT_FAILED',
          `Commit cannot be completed since the group '${this.groupId}' has already rebalanced and assigned the partitions to another member. ` +
            'This means that the time between subsequent calls to poll() was longer than max.poll.interval.ms, or the member missed heartbeats for session.timeout.ms.',
          { cause: err },
        );
      }
      throw err;
    }
    for (const o of offsets) this.lastCommitted.set(key(o.topic, o.partition), o.offset);
  }

  private warnCommit(err: unknown, when: string): void {
    this.opts.logger?.warn(`group '${this.groupId}': committing offsets ${when} failed: ${(err as Error).message}`);
  }

  // ---------------------------------------------------------------- metadata

  private async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    if (topics.length === 0) return counts;
    const md = await this.client.metadata(topics);
    for (const [name, info] of md.topics) counts.set(name, info.partitions.length);
    return counts;
  }

  /**
   * The leader re-checks partition counts now and then (metadata.max.age.ms) and asks for a
   * rebalance when a subscribed topic appeared or grew, as Kafka's leader does; the check
   * runs in the background so polls never wait on it.
   */
  private maybeCheckMetadata(): void {
    const counts = this.assignedCounts;
    if (counts === null || Date.now() < this.nextMetadataCheckAt || this.membership.identity === null) return;
    this.nextMetadataCheckAt = Date.now() + this.metadataMaxAgeMs;
    const generation = this.membership.generationId;
    this.partitionCounts(this.topics).then(
      (now) => {
        if (this.closed || generation !== this.membership.generationId || this.assignedCounts !== counts) return;
        const changed = this.topics.some((t) => (now.get(t) ?? 0) !== (counts.get(t) ?? 0));
        if (changed) this.membership.requestRejoin('the partition count of a subscribed topic changed');
      },
      (err: unknown) => this.opts.logger?.debug(`group '${this.groupId}': metadata check failed: ${(err as Error).message}`),
    );
  }

  // ---------------------------------------------------------------- waiting and closing

  /** Waits up to `ms`, ending early on abort, close, or when the group needs a rejoin. */
  private async idle(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (ms <= 0) return;
    await raceWait(new Promise<never>(() => undefined), ms, signal, (wake) => (this.wake = wake));
    this.wake = null;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const joinInFlight = this.membership.isJoining;
    this.pendingJoin = null;
    try {
      if (this.assigned.length > 0 && this.membership.identity !== null) {
        if (this.autoCommit) await this.commit(this.currentPositions(true)).catch((err: unknown) => this.warnCommit(err, 'on close'));
        await Promise.resolve(this.opts.onRevoke?.(this.assignment())).catch((err: unknown) =>
          this.opts.logger?.warn(`group '${this.groupId}': the revoke listener failed on close: ${(err as Error).message}`),
        );
      }
    } finally {
      this.membership.stopHeartbeats();
      // A JoinGroup the coordinator is holding blocks its connection: drop that connection
      // (failing the join) and leave through the other client.
      if (joinInFlight) await this.groupClient.close();
      await this.membership.leave(joinInFlight ? this.client : this.groupClient, 'the consumer is being closed');
      this.membership.close();
      this.assigned = [];
      this.positions.clear();
      await this.groupClient.close();
      if (this.ownsClient) await this.client.close();
    }
  }
}

/**
 * Failures a later poll may get past: the connection dropped or timed out, or the broker
 * answered a retriable code (the client already retried a few times).
 */
function isTransient(err: unknown): boolean {
  if (err instanceof KafkaResponseError) return err.retriable;
  return err instanceof StrataError && (err.code === 'CONNECTION_FAILED' || err.code === 'REQUEST_TIMED_OUT' || err.code === 'GROUP_JOIN_FAILED');
}

/**
 * Resolves with `p`'s value, or undefined once `ms` passed, `signal` aborted or the wake
 * function handed to `setWake` was called — whichever comes first. `p` keeps running.
 */
function raceWait<T>(p: Promise<T>, ms: number, signal: AbortSignal | undefined, setWake: (wake: () => void) => void): Promise<T | undefined> {
  if (signal?.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => finish(() => resolve(undefined));
    const timer = setTimeout(onAbort, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
    setWake(onAbort);
    p.then(
      (v) => finish(() => resolve(v)),
      (err: unknown) => finish(() => reject(err)),
    );
  });
}
