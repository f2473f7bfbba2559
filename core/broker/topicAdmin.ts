import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { MetadataStore, PartitionStateInit, TopicRecord } from '../meta/metadataStore';
import {
  COLLISION_CHARS_WARNING,
  collidingTopic,
  collisionMessage,
  hasCollisionChars,
  isReservedTopicName,
  reservedTopicMessage,
  validateTopicName,
} from '../config/topicName';
import { normalizeTopicConfigs, resolveTopicConfig, type BrokerDynamicLayers, type ResolvedTopicConfig } from '../config/topicConfig';
import { checkTieredStorageRules } from '../config/tieredStorageRules';
import type { BrokerConfig } from '../config/brokerConfig';
import type { Partition } from '../partition/partition';
import type { PartitionManager } from '../partition/partitionManager';
import { LEADER_EPOCH } from './singleNode';
import { assignReplicas, checkManualAssignment, type PlacementBroker } from '../cluster/replicaPlacement';
import { randomUuid } from '../protocol/writer';
import type { MetadataCache, TopicState } from '../cluster/metadataCache';

export type { TopicState } from '../cluster/metadataCache';

/** Told about partitions opening, config changes and deletions (tiered storage listens). */
export interface TopicObserver {
  partitionsOpened(state: TopicState, fromPartition: number): Promise<void>;
  configChanged(state: TopicState): Promise<void>;
  topicDeleted(state: TopicState): Promise<void>;
}

/** What topic admin needs from the cluster: where replicas may go, and telling every broker of a change. */
export interface TopicAdminCluster {
  /** The live brokers new replicas are placed on. */
  liveBrokers(): PlacementBroker[];
  /** A topic's records changed in the store (created, grown, reconfigured, deleted): announce it and apply its partition states here. */
  topicChanged(state: TopicState | null): Promise<void>;
}

/** A topic whose creation failed after its record was stored, and whose record could not be deleted yet. */
interface UnfinishedRollback {
  readonly name: string;
  readonly topicId: string;
}

/**
 * Topic admin on this broker (Kafka's ZkAdminManager / ControllerApis for topics): creates,
 * deletes, grows and reconfigures topics in the metadata store and makes the metadata cache
 * serve the result, opening and dropping partitions through the partition manager. Changes are
 * serialised.
 *
 * A change a client is told failed must not appear later (after a restart, from the store).
 * New partitions are therefore opened locally first (a directory that cannot be made, a full
 * disk, no file descriptors: the error is answered and the store never hears of it), then
 * written to the store, then served. What fails after the store write (opening the tiered
 * view) is undone: the topic's record and partition states are deleted again before the error
 * is answered; if the store refuses that too, the topic stays hidden and the orphan collector
 * retries the deletion (`finishUnfinishedRemovals`) until it is done.
 */
export class TopicAdmin {
  /** Failed creates whose record is still in the store, by topic id. */
  private readonly rollbacks = new Map<string, UnfinishedRollback>();
  private adminChain: Promise<unknown> = Promise.resolve();
  private observer: TopicObserver | null = null;
  /** Dynamic broker configs (cluster-wide defaults, this broker's own) that topics inherit over the static ones. */
  private dynamic: BrokerDynamicLayers = {};

  constructor(
    private readonly store: MetadataStore,
    /** What requests read: this admin keeps it in step with the store. */
    readonly cache: MetadataCache,
    private readonly partitionManager: PartitionManager,
    private readonly brokerConfig: BrokerConfig,
    private readonly logger: Logger,
  ) {}

  private cluster: TopicAdminCluster | null = null;

  /** Set before load() in a broker: replicas are placed over the live brokers, changes announced. */
  setCluster(cluster: TopicAdminCluster): void {
    this.cluster = cluster;
  }

  /** Set before load(): it is told about every partition opened from then on. */
  setObserver(observer: TopicObserver): void {
    this.observer = observer;
  }

  /** Opens every topic the store knows (running log recovery) and removes stale directories. */
  async load(): Promise<void> {
    const topics = await this.store.listTopics();
    for (const t of topics) {
      const state = this.install(t);
      await this.observer?.partitionsOpened(state, 0);
    }
    this.partitionManager.logs.removeStaleDirs((topic, p) => p < (this.cache.get(topic)?.partitions.length ?? 0));
  }

  /**
   * Validates and creates a topic. Throws StrataError with the Kafka-mappable reason; when it
   * throws, the topic does not exist (nor will it after a restart), except when the store's
   * answer was lost and the store cannot be read either (then the removal is retried).
   */
  create(
    name: string,
    numPartitions: number,
    replicationFactor: number,
    configs: Record<string, string>,
    validateOnly = false,
    /** Replicas per partition given by hand (CreateTopics' assignments); else they are placed over the live brokers. */
    manualAssignment?: number[][],
  ): Promise<TopicState | null> {
    return this.serialised(async () => {
      validateTopicName(name);
      // CreateTopics answers INVALID_REQUEST before it gets here; auto-creation never asks.
      if (isReservedTopicName(name)) throw new StrataError('TOPIC_NAME_INVALID', reservedTopicMessage(name));
      if (this.cache.has(name)) throw new StrataError('TOPIC_EXISTS', `Topic '${name}' already exists.`);
      const colliding = collidingTopic(name, this.cache.names());
      if (colliding !== undefined) throw new StrataError('TOPIC_NAME_INVALID', collisionMessage(name, colliding));
      if (!Number.isInteger(numPartitions) || numPartitions < 1) {
        throw new StrataError('PARTITIONS_INVALID', `Number of partitions must be larger than 0 (got ${numPartitions}).`);
      }
      if (replicationFactor < 1) {
        throw new StrataError('REPLICATION_FACTOR_INVALID', `Replication factor must be larger than 0 (got ${replicationFactor}).`);
      }
      // Placed before anything is written: too few live brokers is answered with nothing stored.
      const assignment = manualAssignment ?? assignReplicas(this.placementBrokers(), numPartitions, replicationFactor);
      if (manualAssignment !== undefined) checkManualAssignment(manualAssignment, new Set(this.placementBrokers().map((b) => b.nodeId)));
      const normalized = normalizeTopicConfigs(configs);
      const config = this.resolve(normalized);
      checkTieredStorageRules(config);
      if (validateOnly) return null;
      await this.finishRollbackOf(name);

      const topicId = randomUuid();
      let opened: Partition[];
      try {
        opened = this.openPartitions(name, topicId, 0, numPartitions, config);
      } catch (e) {
        this.logger.warn(`creating topic ${name} failed, nothing was stored: ${(e as Error).message}`);
        throw e;
      }
      let record: TopicRecord;
      try {
        record = await this.store.createTopic(
          { name, topicId, partitions: numPartitions, replicationFactor, configs: normalized, createdAt: Date.now() },
          this.initialStates(0, assignment),
        );
      } catch (e) {
        const landed = await this.recordIfLanded(name, topicId, e);
        if (landed === null) {
          this.dropPartitions(opened);
          throw e;
        }
        record = landed;
      }
      const state = this.install(record, undefined, opened);
      try {
        await this.observer?.partitionsOpened(state, 0);
      } catch (e) {
        await this.undoCreate(state, e);
        throw asLocalFailure(e, `opening topic ${name}`);
      }
      await this.announce(state);
      this.logger.info(`created topic ${name} (${record.topicId}) with ${numPartitions} partition(s), replication factor ${replicationFactor}`);
      if (hasCollisionChars(name)) this.logger.warn(`topic ${name}: ${COLLISION_CHARS_WARNING}`);
      this.warnDeprecated(name, normalized);
      return state;
    });
  }

  delete(name: string): Promise<TopicState> {
    return this.serialised(async () => {
      const t = this.cache.get(name);
      if (!t) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
      await this.store.deleteTopic(name, t.record.version);
      this.cache.remove(t);
      // The topic is gone from the store: its local data goes whatever else fails (the orphan
      // collector removes tiered data of unknown topic ids, the log manager retries directories).
      try {
        await this.observer?.topicDeleted(t);
      } catch (e) {
        this.logger.warn(`deleted topic ${name} (${t.topicId}): closing its tiered view failed: ${(e as Error).message}`);
      }
      this.dropPartitions(t.partitions);
      await this.announce(null);
      this.logger.info(`deleted topic ${name} (${t.topicId})`);
      return t;
    });
  }

  addPartitions(name: string, count: number, validateOnly = false, manualAssignment?: number[][]): Promise<void> {
    return this.serialised(async () => {
      const t = this.cache.get(name);
      if (!t) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
      const current = t.partitions.length;
      if (count <= current) {
        throw new StrataError(
          'PARTITIONS_INVALID',
          count === current
            ? `Topic already has ${current} partitions.`
            : `Topic currently has ${current} partitions, which is higher than the requested ${count}.`,
        );
      }
      let assignment: number[][];
      if (manualAssignment !== undefined) {
        if (manualAssignment.length !== count - current) {
          throw new StrataError('REPLICA_ASSIGNMENT_INVALID', `Attempted to add ${count - current} additional partition(s), but only ${manualAssignment.length} assignment(s) were specified.`);
        }
        checkManualAssignment(manualAssignment, new Set(this.placementBrokers().map((b) => b.nodeId)), t.record.replicationFactor);
        assignment = manualAssignment;
      } else {
        assignment = assignReplicas(this.placementBrokers(), count - current, t.record.replicationFactor, { fromPartition: current });
      }
      if (validateOnly) return;
      // Opened first, as in create: a local failure is answered with nothing in the store.
      const opened = this.openPartitions(name, t.topicId, current, count, t.config);
      let record: TopicRecord;
      try {
        record = await this.store.updateTopic(name, t.record.version, { partitions: count, newPartitionStates: this.initialStates(current, assignment) });
      } catch (e) {
        const landed = await this.store.getTopic(name).catch(() => null);
        if (landed === null || landed.topicId !== t.topicId || landed.version === t.record.version || landed.partitions !== count) {
          this.dropPartitions(opened);
          throw e;
        }
        record = landed; // the write landed though its answer was lost
      }
      const state = this.install(record, t, opened);
      await this.observer?.partitionsOpened(state, current);
      await this.announce(state);
      this.logger.info(`topic ${name}: partitions ${current} -> ${count}`);
    });
  }

  /** Replaces the topic's explicitly set configs (AlterConfigs semantics). */
  setConfigs(name: string, configs: Record<string, string>, validateOnly = false): Promise<void> {
    return this.serialised(async () => {
      const t = this.cache.get(name);
      if (!t) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
      const normalized = normalizeTopicConfigs(configs);
      checkTieredStorageRules(this.resolve(normalized), t.config);
      if (validateOnly) return;
      const record = await this.store.updateTopic(name, t.record.version, { configs: normalized });
      this.warnDeprecated(name, normalized);
      const state = this.install(record, t);
      await this.observer?.configChanged(state);
      await this.announce(state);
    });
  }

  /**
   * Takes new dynamic broker configs (DynamicBrokerConfigs calls it at start and after every
   * change): every topic's config is resolved again, and topics whose resolved values changed
   * hand them to their partitions (and the tiered view) at once, as Kafka's DynamicLogConfig
   * does. Topics with their own value for a config are unaffected by its default. A topic that
   * cannot take the change is logged and keeps serving with what it had.
   */
  setBrokerDefaults(layers: BrokerDynamicLayers): Promise<void> {
    return this.serialised(async () => {
      this.dynamic = layers;
      for (const t of this.cache.list()) {
        try {
          const next = this.resolve(t.record.configs);
          if (JSON.stringify(next.entries) === JSON.stringify(t.config.entries)) continue;
          await this.observer?.configChanged(this.install(t.record, t));
        } catch (e) {
          this.logger.warn(`topic ${t.name}: applying changed broker defaults failed: ${(e as Error).message}`);
        }
      }
    });
  }

  /** Whether failed creates still have records in the store, or deleted partitions still have directories on disk. */
  get hasUnfinishedRemovals(): boolean {
    return this.rollbacks.size > 0 || this.partitionManager.logs.pendingDeletions > 0;
  }

  /**
   * Retries what could not be removed when it should have been (the orphan collector calls it
   * with backoff while there is any): records of failed creates, directories of deleted
   * partitions. Returns how many are still left; failures are logged.
   */
  finishUnfinishedRemovals(): Promise<number> {
    return this.serialised(async () => {
      for (const r of [...this.rollbacks.values()]) {
        try {
          await this.removeRecord(r);
          this.rollbacks.delete(r.topicId);
          this.logger.info(`deleted the record of topic ${r.name} (${r.topicId}), whose creation had failed`);
        } catch (e) {
          this.logger.warn(`deleting the record of topic ${r.name} (${r.topicId}), whose creation had failed, failed again (retried later): ${(e as Error).message}`);
        }
      }
      return this.rollbacks.size + (await this.partitionManager.logs.retryDeletions());
    });
  }

  /** Waits for admin changes in flight; the partition manager closes the logs. */
  async close(): Promise<void> {
    await this.adminChain.catch(() => undefined);
    this.cache.clear();
  }

  /**
   * Partition states for new partitions from `from` on, one per replica list: the first replica
   * (the preferred one) leads at epoch 0 and every replica is in sync (all are empty).
   */
  private initialStates(from: number, assignment: readonly number[][]): PartitionStateInit[] {
    return assignment.map((replicas, i) => ({ partition: from + i, leader: replicas[0], leaderEpoch: LEADER_EPOCH, isr: [...replicas], replicas: [...replicas], logStartOffset: 0n }));
  }

  /** The brokers replicas may be placed on: the live ones, or this broker alone outside a cluster. */
  private placementBrokers(): PlacementBroker[] {
    const live = this.cluster?.liveBrokers() ?? [];
    return live.length > 0 ? live : [{ nodeId: this.brokerConfig.nodeId, rack: this.brokerConfig.brokerRack ?? null }];
  }

  /** Tells the cluster; a failure is logged (the periodic full reload brings other brokers up to date). */
  private async announce(state: TopicState | null): Promise<void> {
    try {
      await this.cluster?.topicChanged(state);
    } catch (e) {
      this.logger.warn(`announcing a change of ${state?.name ?? 'a deleted topic'} failed (other brokers see it within their full metadata reload): ${(e as Error).message}`);
    }
  }

  /**
   * Makes this broker serve what the store holds (another broker created, grew, reconfigured or
   * deleted topics): `read` lists the topic records inside the admin chain, so no local change
   * interleaves with the listing. Returns the topics whose partitions were opened or changed.
   */
  reconcile(read: () => Promise<TopicRecord[]>): Promise<void> {
    return this.serialised(async () => {
      const records = await read();
      const seen = new Set<string>();
      for (const record of records) {
        seen.add(record.name);
        const cur = this.cache.get(record.name);
        if (cur && cur.topicId === record.topicId && cur.record.version === record.version) continue;
        if (this.rollbacks.has(record.topicId)) continue;
        try {
          if (cur && cur.topicId !== record.topicId) this.forgetLocally(cur, 'deleted and created again elsewhere');
          const previous = cur && cur.topicId === record.topicId ? cur : undefined;
          const state = this.install(record, previous);
          if (previous === undefined) {
            await this.observer?.partitionsOpened(state, 0);
            this.logger.info(`topic ${record.name} (${record.topicId}) with ${record.partitions} partition(s), created elsewhere`);
          } else {
            if (record.partitions > previous.partitions.length) await this.observer?.partitionsOpened(state, previous.partitions.length);
            if (JSON.stringify(record.configs) !== JSON.stringify(previous.record.configs)) await this.observer?.configChanged(state);
          }
        } catch (e) {
          this.logger.warn(`topic ${record.name}: taking its change from the metadata store failed (retried at the next reload): ${(e as Error).message}`);
        }
      }
      for (const t of this.cache.list()) if (!seen.has(t.name)) this.forgetLocally(t, 'deleted elsewhere');
    });
  }

  /** A topic the store no longer has: stop serving it and remove its local data. */
  private forgetLocally(t: TopicState, why: string): void {
    this.cache.remove(t);
    this.observer?.topicDeleted(t).catch((e: unknown) => this.logger.warn(`topic ${t.name}: closing its tiered view failed: ${(e as Error).message}`));
    this.dropPartitions(t.partitions);
    this.logger.info(`topic ${t.name} (${t.topicId}) ${why}: its local data is removed`);
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.adminChain.then(fn, fn);
    this.adminChain = next.catch(() => undefined);
    return next;
  }

  /** Opens partitions [from, to) of a topic, all or none: on a failure the ones opened are dropped again. */
  private openPartitions(name: string, topicId: string, from: number, to: number, config: ResolvedTopicConfig): Partition[] {
    const opened: Partition[] = [];
    try {
      for (let p = from; p < to; p++) opened.push(this.partitionManager.open(name, topicId, p, config));
      return opened;
    } catch (e) {
      this.dropPartitions(opened);
      throw asLocalFailure(e, `opening partition ${name}-${from + opened.length}`);
    }
  }

  /** Stops serving partitions and removes their directories (failures are logged and retried by the log manager). */
  private dropPartitions(partitions: readonly Partition[]): void {
    for (const p of partitions) {
      try {
        this.partitionManager.drop(p);
      } catch (e) {
        this.logger.warn(`dropping ${p.label}: ${(e as Error).message}`);
      }
    }
  }

  /**
   * After createTopic failed: the record, if the write landed though its answer was an error
   * (a lost acknowledgement, a retried write), else null. When the store cannot even be read,
   * the outcome is unknown: the record is removed later if it is there.
   */
  private async recordIfLanded(name: string, topicId: string, error: unknown): Promise<TopicRecord | null> {
    try {
      const stored = await this.store.getTopic(name);
      return stored !== null && stored.topicId === topicId ? stored : null;
    } catch (e) {
      if (!isStrataError(error, 'TOPIC_EXISTS')) {
        this.rollbacks.set(topicId, { name, topicId });
        this.logger.warn(`creating topic ${name} (${topicId}) failed (${(error as Error).message}) and the store cannot be read (${(e as Error).message}): its record is deleted later if it was written`);
      }
      return null;
    }
  }

  /** A create failed after its record was stored: hide the topic, drop its partitions, delete the record (or retry later). */
  private async undoCreate(state: TopicState, cause: unknown): Promise<void> {
    this.cache.remove(state);
    try {
      await this.observer?.topicDeleted(state);
    } catch (e) {
      this.logger.warn(`closing the tiered view of ${state.name}: ${(e as Error).message}`);
    }
    this.dropPartitions(state.partitions);
    const what = `creating topic ${state.name} (${state.topicId}) failed after its record was stored: ${(cause as Error).message}`;
    const r: UnfinishedRollback = { name: state.name, topicId: state.topicId };
    try {
      await this.removeRecord(r);
      this.logger.warn(`${what}; the record was deleted again`);
    } catch (e) {
      this.rollbacks.set(r.topicId, r);
      this.logger.error(`${what}; deleting the record failed too (${(e as Error).message}): the topic stays hidden and the deletion is retried`);
    }
  }

  /** Before a create of `name`: an earlier failed create of that name must be gone from the store first. */
  private async finishRollbackOf(name: string): Promise<void> {
    for (const r of [...this.rollbacks.values()]) {
      if (r.name !== name) continue;
      try {
        await this.removeRecord(r);
        this.rollbacks.delete(r.topicId);
      } catch (e) {
        throw new StrataError('STORE_UNAVAILABLE', `Topic '${name}' cannot be created yet: the record of an earlier failed creation is still being deleted (${(e as Error).message}).`);
      }
    }
  }

  /** Deletes the store's record of `r` (and its partition states) if it is still that topic's. */
  private async removeRecord(r: UnfinishedRollback): Promise<void> {
    const stored = await this.store.getTopic(r.name);
    if (stored === null || stored.topicId !== r.topicId) return;
    try {
      await this.store.deleteTopic(r.name, stored.version);
    } catch (e) {
      if (!isStrataError(e, 'TOPIC_NOT_FOUND')) throw e;
    }
  }

  /** A topic's configs over the broker's: dynamic per-broker, dynamic cluster-wide, static, defaults. */
  private resolve(topicConfigs: Record<string, string>): ResolvedTopicConfig {
    return resolveTopicConfig(topicConfigs, this.brokerConfig, this.dynamic);
  }

  private warnDeprecated(name: string, configs: Record<string, string>): void {
    const v = configs['message.format.version'];
    if (v !== undefined) {
      this.logger.warn(`topic ${name}: message.format.version=${v} is deprecated and ignored (as in Kafka 3.x from inter.broker.protocol.version 3.0): batches are always stored in message format v2`);
    }
  }

  /**
   * Makes `record` the live state: partitions of `previous` get the new configs, `opened` ones
   * (opened by the caller) are taken as they are, and any others are opened here.
   */
  private install(record: TopicRecord, previous?: TopicState, opened: readonly Partition[] = []): TopicState {
    const config = this.resolve(record.configs);
    const partitions: Partition[] = [];
    const fresh = new Map(opened.map((p) => [p.index, p]));
    for (let p = 0; p < record.partitions; p++) {
      const existing = previous?.partitions[p];
      if (existing) {
        existing.updateConfig(config);
        partitions.push(existing);
      } else {
        partitions.push(fresh.get(p) ?? this.partitionManager.open(record.name, record.topicId, p, config));
      }
    }
    const state: TopicState = { name: record.name, topicId: record.topicId, record, config, partitions };
    this.cache.put(state);
    return state;
  }
}

/** An unexpected local failure (a Node error: ENOSPC, EMFILE, ENOTDIR, ...) as STORAGE_IO, Kafka's KAFKA_STORAGE_ERROR. */
function asLocalFailure(e: unknown, what: string): StrataError {
  if (e instanceof StrataError) return e;
  return new StrataError('STORAGE_IO', `${what} failed: ${(e as Error).message}`, { cause: e });
}
