import { isStrataError } from '../common/errors';
import type { ConnectionSecurity } from '../client/security';
import { listenerEndpoint } from './metadataCache';
import type { Logger } from '../common/logger';
import type { BrokerLease } from '../meta/brokerLease';
import type { BrokerRecord, MetadataStore, PartitionStateRecord } from '../meta/metadataStore';
import type { Partition, PartitionClusterHooks } from '../partition/partition';
import type { PartitionManager } from '../partition/partitionManager';
import { ReplicaFetcherManager } from '../replication/replicaFetcherManager';
import { MetadataPush } from './metadataPush';
import type { TopicAdmin, TopicAdminCluster } from '../broker/topicAdmin';
import { BrokerLiveness } from './brokerLiveness';
import { CLUSTER_NAMESPACE, ClusterChanges } from './clusterChanges';
import { ControllerElection } from './controllerElection';
import { LeadershipGuard } from './leadershipGuard';
import type { MetadataCache, TopicState } from './metadataCache';
import { decidePartition, electRequested, isReassigning, leavePartition, startReassignment, type ElectionType, type PartitionChange } from './partitionElection';
import { checkManualAssignment } from './replicaPlacement';
import type { PlacementBroker } from './replicaPlacement';

/** One partition's answer to ElectLeaders: error null when it was elected. Kafka's error names. */
export interface ElectionResult {
  topic: string;
  partition: number;
  error: 'UNKNOWN_TOPIC_OR_PARTITION' | 'ELECTION_NOT_NEEDED' | 'PREFERRED_LEADER_NOT_AVAILABLE' | 'ELIGIBLE_LEADERS_NOT_AVAILABLE' | 'UNKNOWN_SERVER_ERROR' | null;
  message: string | null;
}

/** One partition's answer to AlterPartitionReassignments: error null when accepted. Kafka's error names. */
export interface ReassignmentResult {
  topic: string;
  partition: number;
  error: 'UNKNOWN_TOPIC_OR_PARTITION' | 'INVALID_REPLICA_ASSIGNMENT' | 'NO_REASSIGNMENT_IN_PROGRESS' | 'REQUEST_TIMED_OUT' | 'UNKNOWN_SERVER_ERROR' | null;
  message: string | null;
}

export interface BrokerClusterOptions {
  nodeId: number;
  /** broker.heartbeat.interval.ms: how often the store is polled. */
  heartbeatIntervalMs: number;
  /** broker.liveness.timeout.ms */
  livenessTimeoutMs: number;
  autoLeaderRebalanceEnable: boolean;
  leaderImbalanceCheckIntervalMs: number;
  replicaFetch: { maxWaitMs: number; maxBytes: number; partitionMaxBytes: number; backoffMs: number };
  /** How often everything is read again even without a change announced (default 30 s). */
  fullReloadIntervalMs?: number;
  /** How to reach other brokers' inter-broker listener (replication, metadata pushes); default PLAINTEXT. */
  interBrokerSecurity?: ConnectionSecurity;
  /** inter.broker.listener.name: the listener of other brokers this one connects to (as Kafka, each broker picks by its own setting). */
  interBrokerListenerName?: string;
  logger: Logger;
}

/**
 * This broker's part in the cluster (Kafka's BrokerLifecycleManager, MetadataPublisher,
 * ReplicaManager.applyDelta and, while it holds the controller role, the QuorumController), with
 * the metadata store as the only coordination service:
 *
 * - every heartbeat interval it reads the registrations (who is alive: brokerLiveness.ts) and the
 *   change marker (clusterChanges.ts); when the marker moved, or every 30 s, it reads the topics
 *   and partition records again and applies them (and at once when another broker pushes a
 *   change: metadataPush.ts): topics appear and go (TopicAdmin.reconcile),
 *   each partition becomes leader, follower or nothing (Partition.applyState), followers fetch
 *   from their leader (ReplicaFetcherManager);
 * - one broker at a time holds the controller role (controllerElection.ts) and, on each pass,
 *   elects leaders for partitions whose leader is gone, drops dead brokers from ISRs and, every
 *   leader.imbalance.check.interval.seconds, gives leadership back to preferred replicas
 *   (partitionElection.ts) — each change one conditional write on the partition's record;
 * - a leader may act only within its liveness lease (leadershipGuard.ts);
 * - it starts by leaving the ISRs it is in (its log may be behind after a crash or an empty data
 *   dir; it rejoins once caught up) and stops by handing its leaderships over (controlled
 *   shutdown), so that neither waits out a timeout.
 *
 * Cost on DynamoDB per broker and hour, at the default 250 ms interval: 14,400 Query calls for
 * the registrations and 14,400 GetItem calls for the marker (strongly consistent: 1 read unit
 * each for small items, ≈ 28,800 RRU ≈ $0.007 at on-demand prices), plus the heartbeat itself
 * (14,400 writes ≈ $0.018); partition records are read only when something changed.
 */
export class BrokerCluster {
  readonly guard: LeadershipGuard;
  private readonly liveness: BrokerLiveness;
  private readonly changes: ClusterChanges;
  private readonly election: ControllerElection;
  readonly fetchers: ReplicaFetcherManager;
  private readonly push: MetadataPush;
  private lastChangesVersion = -1;
  private lastFullReloadAt = -Infinity;
  private lastRebalanceAt: number;
  private timer: NodeJS.Timeout | null = null;
  /** The controller's extra pass when a live broker's lease runs out before the next tick. */
  private expiryTimer: NodeJS.Timeout | null = null;
  private passing: Promise<void> | null = null;
  /** A pass was asked for (refreshNow) while one ran: another starts when it ends. */
  private passAgain = false;
  private stopped = false;
  private controllerId = -1;

  constructor(
    private readonly store: MetadataStore,
    private readonly lease: BrokerLease,
    private readonly cache: MetadataCache,
    private readonly topicAdmin: TopicAdmin,
    private readonly partitions: PartitionManager,
    private readonly opts: BrokerClusterOptions,
  ) {
    this.guard = new LeadershipGuard(lease, opts.livenessTimeoutMs, opts.logger);
    this.liveness = new BrokerLiveness(opts.livenessTimeoutMs);
    this.changes = new ClusterChanges(store.namespace(CLUSTER_NAMESPACE));
    this.lastRebalanceAt = performance.now();
    this.election = new ControllerElection(store.namespace(CLUSTER_NAMESPACE), {
      nodeId: opts.nodeId,
      sessionTimeoutMs: opts.livenessTimeoutMs,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      logger: opts.logger.child('controller'),
    });
    this.fetchers = new ReplicaFetcherManager({
      nodeId: opts.nodeId,
      brokerEpoch: () => BigInt(lease.epoch),
      endpointOf: (id) => this.interBrokerRecord(this.liveness.record(id)),
      logger: opts.logger.child('replication'),
      ...opts.replicaFetch,
      security: opts.interBrokerSecurity,
    });
    this.push = new MetadataPush({ nodeId: opts.nodeId, logger: opts.logger.child('push'), security: opts.interBrokerSecurity });
  }

  /**
   * A broker's registration with host and port of its inter-broker listener (the one named by this
   * broker's inter.broker.listener.name, so that a rolling change of that setting works while
   * brokers disagree); undefined when it has no such listener.
   */
  private interBrokerRecord(r: BrokerRecord | undefined): BrokerRecord | undefined {
    const name = this.opts.interBrokerListenerName;
    if (r === undefined || name === undefined) return r;
    const e = listenerEndpoint(r, name);
    return e === undefined ? undefined : { ...r, host: e.host, port: e.port };
  }

  /** What partitions need from the cluster. */
  partitionHooks(): PartitionClusterHooks {
    return {
      mayLead: () => this.guard.mayLead(),
      writeIsr: async (from, isr) => {
        const { version, ...rest } = from;
        const written = await this.store.putPartitionState({ ...rest, isr }, version);
        await this.announce();
        return written;
      },
    };
  }

  /** What topic admin needs from the cluster. */
  topicAdminHooks(): TopicAdminCluster {
    return {
      liveBrokers: (): PlacementBroker[] => this.cache.liveBrokers().map((b) => ({ nodeId: b.nodeId, rack: b.rack })),
      topicChanged: async (state: TopicState | null) => {
        await this.announce();
        if (state !== null) await this.applyTopicStates(state);
      },
    };
  }

  /**
   * The first pass, before the listener opens: every record applied, this broker out of the ISRs
   * it cannot vouch for; then polling starts.
   */
  async start(): Promise<void> {
    await this.pass(true);
    await this.leaveAll('starting: its log may be behind what it acknowledged before', (p) => p.replicas.length > 1);
    this.election.start();
    this.timer = setInterval(() => this.tick(), this.opts.heartbeatIntervalMs);
    this.timer.unref();
  }

  /**
   * Controlled shutdown: hands every leadership over to a live in-sync replica and leaves every
   * ISR, so producers and consumers move on at once (they get NOT_LEADER_OR_FOLLOWER, a retriable
   * error) instead of waiting for the liveness timeout. Then stops polling and fetching.
   */
  async shutdown(): Promise<void> {
    this.stopTimers();
    this.stopped = true;
    await this.passing;
    try {
      await this.leaveAll('shutting down', () => true);
    } catch (e) {
      this.opts.logger.warn(`controlled shutdown: handing over partitions failed (the controller moves them after broker.liveness.timeout.ms): ${(e as Error).message}`);
    }
    await this.push.idle(); // the brokers taking over hear of it now, not at their next poll
    this.push.close();
    await this.election.stop();
    await this.fetchers.close();
  }

  /** Stops without handing anything over (the broker was fenced, or never started). */
  async close(): Promise<void> {
    this.stopTimers();
    this.stopped = true;
    await this.passing;
    this.push.close();
    await this.election.stop();
    await this.fetchers.close();
  }

  private stopTimers(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  /**
   * Runs a pass now rather than at the next tick (another broker pushed a change:
   * metadataPush.ts); one asked for during a pass runs when that one ends.
   */
  refreshNow(): void {
    if (this.stopped) return;
    if (this.passing !== null) this.passAgain = true;
    else this.tick();
  }

  /**
   * ElectLeaders: one conditional write per partition that needs it, from any broker (Kafka sends
   * it to the controller; here the record's version condition is what serialises writers). Topics
   * and partitions that do not exist answer UNKNOWN_TOPIC_OR_PARTITION; `targets` null means every
   * partition, and then those needing no election are left out (as Kafka answers).
   */
  async electLeaders(type: ElectionType, targets: readonly { topic: string; partition: number }[] | null): Promise<ElectionResult[]> {
    const now = performance.now();
    const isLive = (id: number) => this.liveness.isLive(id, now);
    const all = targets === null;
    const list = all ? this.cache.list().flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.index }))) : targets;
    const out: ElectionResult[] = [];
    let wrote = false;
    for (const { topic, partition } of list) {
      const p = this.cache.partition(topic, partition);
      let s = p?.record ?? null;
      if (p === undefined || s === null) {
        out.push({ topic, partition, error: 'UNKNOWN_TOPIC_OR_PARTITION', message: `${topic}-${partition} does not exist` });
        continue;
      }
      try {
        // A record changed meanwhile (the controller, an ISR change) is read again and decided anew.
        for (let attempt = 0; ; attempt++) {
          const r = electRequested(s, isLive, type);
          if ('error' in r) {
            if (!(all && r.error === 'ELECTION_NOT_NEEDED')) out.push({ topic, partition, error: r.error, message: r.message });
            break;
          }
          if (await this.write(p, s, r.change, 'ElectLeaders')) {
            wrote = true;
            out.push({ topic, partition, error: null, message: null });
            break;
          }
          const fresh = await this.store.getPartitionState(p.topicId, p.index);
          if (fresh === null || attempt >= 3) throw new Error(`${p.label}: its record keeps changing`);
          this.apply(p, fresh);
          s = fresh;
        }
      } catch (e) {
        out.push({ topic, partition, error: 'UNKNOWN_SERVER_ERROR', message: (e as Error).message });
      }
    }
    if (wrote) await this.announce();
    return out;
  }

  /**
   * AlterPartitionReassignments: for each partition, the target replicas (checked as a manual
   * assignment: live brokers, none twice) or null to cancel; one conditional write each. The
   * controller completes a move once its new replicas are in sync.
   */
  async alterReassignments(targets: readonly { topic: string; partition: number; replicas: number[] | null }[]): Promise<ReassignmentResult[]> {
    const now = performance.now();
    const isLive = (id: number) => this.liveness.isLive(id, now);
    const live = new Set(this.liveness.live(now).map((b) => b.nodeId));
    const out: ReassignmentResult[] = [];
    let wrote = false;
    for (const t of targets) {
      const result = (error: ReassignmentResult['error'], message: string | null = null) => out.push({ topic: t.topic, partition: t.partition, error, message });
      const p = this.cache.partition(t.topic, t.partition);
      const s = p?.record ?? null;
      if (p === undefined || s === null) {
        result('UNKNOWN_TOPIC_OR_PARTITION', `${t.topic}-${t.partition} does not exist`);
        continue;
      }
      try {
        if (t.replicas !== null) checkManualAssignment([t.replicas], live);
        const change = startReassignment(s, t.replicas, isLive);
        if (change === null) {
          result(null);
        } else if ('error' in change) {
          result(change.error, change.message);
        } else if (await this.write(p, s, change, 'AlterPartitionReassignments')) {
          wrote = true;
          result(null);
        } else {
          result('REQUEST_TIMED_OUT', 'the partition changed meanwhile; try again');
        }
      } catch (e) {
        result(isStrataError(e, 'REPLICA_ASSIGNMENT_INVALID') ? 'INVALID_REPLICA_ASSIGNMENT' : 'UNKNOWN_SERVER_ERROR', (e as Error).message);
      }
    }
    if (wrote) await this.announce();
    return out;
  }

  /** ListPartitionReassignments: the partitions being reassigned (all, or among `targets`). */
  listReassignments(targets: readonly { topic: string; partition: number }[] | null): Array<{ topic: string; partition: number; replicas: number[]; adding: number[]; removing: number[] }> {
    const parts = targets === null ? this.cache.list().flatMap((t) => [...t.partitions]) : targets.flatMap((t) => this.cache.partition(t.topic, t.partition) ?? []);
    return parts
      .filter((p) => p.record !== null && isReassigning(p.record))
      .map((p) => ({ topic: p.topic, partition: p.index, replicas: [...p.record!.replicas], adding: [...(p.record!.addingReplicas ?? [])], removing: [...(p.record!.removingReplicas ?? [])] }));
  }

  get isController(): boolean {
    return this.election.isController;
  }

  private tick(): void {
    if (this.stopped || this.passing !== null) return;
    this.passAgain = false;
    this.passing = this.pass(false)
      .catch((e: unknown) => {
        if (!this.stopped) this.opts.logger.warn(`reading the cluster metadata failed (retried): ${(e as Error).message}`);
      })
      .finally(() => {
        this.passing = null;
        if (this.passAgain) this.tick();
        else this.scheduleExpiryPass();
      });
  }

  /**
   * The controller looks again the moment a live broker's lease would run out (if its
   * registration does not move meanwhile) when that comes before the next tick: a dead leader's
   * partitions are then re-elected at its expiry, not up to a heartbeat interval after it. Costs a
   * read only while a broker's heartbeats are late.
   */
  private scheduleExpiryPass(): void {
    if (this.expiryTimer !== null || this.stopped || !this.election.isController) return;
    const now = performance.now();
    const expiry = this.liveness.nextExpiry(now, this.opts.nodeId);
    if (expiry === null || expiry - now >= this.opts.heartbeatIntervalMs) return;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      this.tick();
    }, Math.max(0, expiry - now) + 1);
    this.expiryTimer.unref();
  }

  /** One poll: registrations, the change marker, records when they changed, then controller duties. */
  private async pass(full: boolean): Promise<void> {
    const brokers = await this.store.listBrokers();
    const readAt = performance.now();
    this.liveness.observe(brokers, readAt);
    this.controllerId = this.election.holderId ?? -1;
    this.cache.setBrokers(this.liveListening(), this.controllerId);
    const suspended = this.guard.isSuspended;
    const leaseHeld = this.guard.leaseHolds();
    const version = await this.changes.version();
    const now = performance.now();
    if (full || suspended || version !== this.lastChangesVersion || now - this.lastFullReloadAt >= (this.opts.fullReloadIntervalMs ?? 30_000)) {
      await this.reload();
      this.lastChangesVersion = version;
      this.lastFullReloadAt = now;
      if (suspended && leaseHeld) this.guard.resume();
    }
    if (!this.stopped && this.election.isController) await this.control();
  }

  /** Reads every topic and partition record and applies them. */
  private async reload(): Promise<void> {
    await this.topicAdmin.reconcile(() => this.store.listTopics());
    for (const t of this.cache.list()) await this.applyTopicStates(t);
  }

  private async applyTopicStates(t: TopicState): Promise<void> {
    const states = await this.store.listPartitionStates(t.topicId);
    for (const s of states) {
      const p = t.partitions[s.partition];
      if (p !== undefined) this.apply(p, s);
    }
  }

  /** Makes `p` what its record says, and its fetching follow. */
  private apply(p: Partition, s: PartitionStateRecord): void {
    if (this.stopped && s.leader === this.opts.nodeId) return;
    this.partitions.applyState(p, s);
    if (p.role === 'follower' && s.leader >= 0) this.fetchers.follow(p, s.leader);
    else this.fetchers.unfollow(p);
  }

  /** The controller's pass over every partition (see decidePartition). */
  private async control(): Promise<void> {
    const now = performance.now();
    // The controller counts itself live: it holds the controller lease, renewed within
    // broker.liveness.timeout.ms through the same store as its registration (a controller whose
    // writes fail loses the role within that time and stops deciding). Judging itself from a
    // registration read taken before its own heartbeats resumed would leave its partitions
    // leaderless for nothing (a broker alone on a disk that was full, once space returns).
    const isLive = (id: number) => id === this.opts.nodeId || this.liveness.isLive(id, now);
    const rebalance = this.opts.autoLeaderRebalanceEnable && now - this.lastRebalanceAt >= this.opts.leaderImbalanceCheckIntervalMs;
    if (rebalance) this.lastRebalanceAt = now;
    let wrote = false;
    for (const t of this.cache.list()) {
      const unclean = t.config.values['unclean.leader.election.enable'];
      for (const p of t.partitions) {
        const s = p.record;
        if (s === null) continue;
        const change = decidePartition(s, isLive, { unclean, preferred: rebalance });
        if (change === null) continue;
        if (!this.election.isController) return;
        if (await this.write(p, s, change, 'controller')) wrote = true;
      }
    }
    if (wrote) await this.announce();
  }

  /** This broker leaves the partitions `which` selects (see leavePartition). */
  private async leaveAll(why: string, which: (s: PartitionStateRecord) => boolean): Promise<void> {
    const now = performance.now();
    const isLive = (id: number) => id !== this.opts.nodeId && this.liveness.isLive(id, now);
    let wrote = false;
    for (const t of this.cache.list()) {
      for (const p of t.partitions) {
        const s = p.record;
        if (s === null || !which(s)) continue;
        const change = leavePartition(s, this.opts.nodeId, isLive);
        if (change !== null && (await this.write(p, s, change, why))) wrote = true;
      }
    }
    if (wrote) await this.announce();
  }

  /** One conditional write of a partition's record; false when it lost to another writer. */
  private async write(p: Partition, from: PartitionStateRecord, change: PartitionChange, who: string): Promise<boolean> {
    try {
      const written = await this.store.putPartitionState(change.next, from.version);
      this.opts.logger.info(
        `${p.label}: leader ${from.leader} -> ${written.leader}, epoch ${from.leaderEpoch} -> ${written.leaderEpoch}, isr ${from.isr.join(',')} -> ${written.isr.join(',')} (${who}: ${change.reason})`,
      );
      this.apply(p, written);
      return true;
    } catch (e) {
      if (isStrataError(e, 'VERSION_CONFLICT')) return false;
      throw e;
    }
  }

  /** Tells every broker that records changed: the marker they poll, then a push to each live one. */
  private async announce(): Promise<void> {
    await this.changes.bump();
    this.push.notify(
      this.liveListening().flatMap((b) => this.interBrokerRecord(b) ?? []),
      this.controllerId,
      this.election.epoch ?? -1,
    );
  }

  /**
   * The live brokers others can reach: a broker registers before its listener is bound (port 0
   * with an ephemeral listener port) and writes its address once it is, so until then clients
   * are not told of it and nothing is pushed to it. This broker counts itself.
   */
  private liveListening(): BrokerRecord[] {
    return this.liveness.live(performance.now()).filter((b) => b.port !== 0 || b.nodeId === this.opts.nodeId);
  }
}
