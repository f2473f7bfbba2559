import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { MetadataStore, PartitionStateInit, TopicRecord } from '../meta/metadataStore';
import { validateTopicName } from '../config/topicName';
import { normalizeTopicConfigs, resolveTopicConfig, type ResolvedTopicConfig } from '../config/topicConfig';
import { checkTieredStorageRules } from '../config/tieredStorageRules';
import type { BrokerConfig } from '../config/brokerConfig';
import type { Partition } from '../partition/partition';
import type { PartitionManager } from '../partition/partitionManager';
import { LEADER_EPOCH } from './singleNode';
import { randomUuid } from '../protocol/writer';

export interface TopicState {
  readonly name: string;
  readonly topicId: string;
  readonly record: TopicRecord;
  readonly config: ResolvedTopicConfig;
  readonly partitions: readonly Partition[];
}

/** Told about partitions opening, config changes and deletions (tiered storage listens). */
export interface TopicObserver {
  partitionsOpened(state: TopicState, fromPartition: number): Promise<void>;
  configChanged(state: TopicState): Promise<void>;
  topicDeleted(state: TopicState): Promise<void>;
}

/**
 * The broker's view of its topics: the metadata store's records plus their partitions, which
 * the partition manager opens. Reads are synchronous (the produce and fetch paths never wait on
 * the store); admin changes are serialised and go to the store first, then to local state.
 */
export class TopicRegistry {
  private readonly byNameMap = new Map<string, TopicState>();
  private readonly byIdMap = new Map<string, TopicState>();
  private adminChain: Promise<unknown> = Promise.resolve();
  private observer: TopicObserver | null = null;

  constructor(
    private readonly store: MetadataStore,
    private readonly partitionManager: PartitionManager,
    private readonly brokerConfig: BrokerConfig,
    private readonly logger: Logger,
  ) {}

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
    this.partitionManager.logs.removeStaleDirs((topic, p) => p < (this.byNameMap.get(topic)?.partitions.length ?? 0));
  }

  get(name: string): TopicState | undefined {
    return this.byNameMap.get(name);
  }

  getById(topicId: string): TopicState | undefined {
    return this.byIdMap.get(topicId);
  }

  list(): TopicState[] {
    return [...this.byNameMap.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  partition(topic: string, index: number): Partition | undefined {
    return this.byNameMap.get(topic)?.partitions[index];
  }

  /** Validates and creates a topic. Throws StrataError with the Kafka-mappable reason. */
  create(name: string, numPartitions: number, replicationFactor: number, configs: Record<string, string>, validateOnly = false): Promise<TopicState | null> {
    return this.serialised(async () => {
      validateTopicName(name);
      if (this.byNameMap.has(name)) throw new StrataError('TOPIC_EXISTS', `Topic '${name}' already exists.`);
      if (!Number.isInteger(numPartitions) || numPartitions < 1) {
        throw new StrataError('PARTITIONS_INVALID', `Number of partitions must be larger than 0 (got ${numPartitions}).`);
      }
      if (replicationFactor < 1) {
        throw new StrataError('REPLICATION_FACTOR_INVALID', `Replication factor must be larger than 0 (got ${replicationFactor}).`);
      }
      if (replicationFactor > 1) {
        throw new StrataError('REPLICATION_FACTOR_INVALID', `Replication factor: ${replicationFactor} larger than available brokers: 1.`);
      }
      const normalized = normalizeTopicConfigs(configs);
      checkTieredStorageRules(resolveTopicConfig(normalized, this.brokerConfig));
      if (validateOnly) return null;
      const record = await this.store.createTopic({
        name,
        topicId: randomUuid(),
        partitions: numPartitions,
        replicationFactor,
        configs: normalized,
        createdAt: Date.now(),
      }, this.initialStates(0, numPartitions));
      this.logger.info(`created topic ${name} (${record.topicId}) with ${numPartitions} partition(s)`);
      const state = this.install(record);
      await this.observer?.partitionsOpened(state, 0);
      return state;
    });
  }

  delete(name: string): Promise<TopicState> {
    return this.serialised(async () => {
      const t = this.byNameMap.get(name);
      if (!t) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
      await this.store.deleteTopic(name, t.record.version);
      this.byNameMap.delete(name);
      this.byIdMap.delete(t.topicId);
      await this.observer?.topicDeleted(t);
      for (const p of t.partitions) this.partitionManager.drop(p);
      this.logger.info(`deleted topic ${name} (${t.topicId})`);
      return t;
    });
  }

  addPartitions(name: string, count: number, validateOnly = false): Promise<void> {
    return this.serialised(async () => {
      const t = this.byNameMap.get(name);
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
      if (validateOnly) return;
      const record = await this.store.updateTopic(name, t.record.version, { partitions: count, newPartitionStates: this.initialStates(current, count) });
      const state = this.install(record, t);
      await this.observer?.partitionsOpened(state, current);
      this.logger.info(`topic ${name}: partitions ${current} -> ${count}`);
    });
  }

  /** Replaces the topic's explicitly set configs (AlterConfigs semantics). */
  setConfigs(name: string, configs: Record<string, string>, validateOnly = false): Promise<void> {
    return this.serialised(async () => {
      const t = this.byNameMap.get(name);
      if (!t) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${name}' does not exist.`);
      const normalized = normalizeTopicConfigs(configs);
      checkTieredStorageRules(resolveTopicConfig(normalized, this.brokerConfig), t.config);
      if (validateOnly) return;
      const record = await this.store.updateTopic(name, t.record.version, { configs: normalized });
      await this.observer?.configChanged(this.install(record, t));
    });
  }

  /** Waits for admin changes in flight; the partition manager closes the logs. */
  async close(): Promise<void> {
    await this.adminChain.catch(() => undefined);
    this.byNameMap.clear();
    this.byIdMap.clear();
  }

  /** Partition states for new partitions [from, to): this broker leads them at epoch 0. */
  private initialStates(from: number, to: number): PartitionStateInit[] {
    const me = this.brokerConfig.nodeId;
    const out: PartitionStateInit[] = [];
    for (let p = from; p < to; p++) out.push({ partition: p, leader: me, leaderEpoch: LEADER_EPOCH, isr: [me], replicas: [me], logStartOffset: 0n });
    return out;
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.adminChain.then(fn, fn);
    this.adminChain = next.catch(() => undefined);
    return next;
  }

  /** Makes `record` the live state: opens missing partitions, applies configs to open ones. */
  private install(record: TopicRecord, previous?: TopicState): TopicState {
    const config = resolveTopicConfig(record.configs, this.brokerConfig);
    const partitions: Partition[] = [];
    for (let p = 0; p < record.partitions; p++) {
      const existing = previous?.partitions[p];
      if (existing) {
        existing.updateConfig(config);
        partitions.push(existing);
      } else {
        partitions.push(this.partitionManager.open(record.name, record.topicId, p, config));
      }
    }
    const state: TopicState = { name: record.name, topicId: record.topicId, record, config, partitions };
    this.byNameMap.set(record.name, state);
    this.byIdMap.set(record.topicId, state);
    return state;
  }
}
