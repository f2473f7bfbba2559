import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { MetadataStore, PartitionStateInit, TopicRecord } from '../meta/metadataStore';
import { PartitionLog } from '../log/partitionLog';
import { validateTopicName } from '../config/topicName';
import { normalizeTopicConfigs, resolveTopicConfig, type ResolvedTopicConfig } from '../config/topicConfig';
import { checkTieredStorageRules } from '../config/tieredStorageRules';
import type { BrokerConfig } from '../config/brokerConfig';
import { logConfigFrom } from './logConfig';
import { LEADER_EPOCH } from './singleNode';
import { randomUuid } from '../protocol/writer';

export interface TopicState {
  readonly name: string;
  readonly topicId: string;
  readonly record: TopicRecord;
  readonly config: ResolvedTopicConfig;
  readonly partitions: readonly PartitionLog[];
}

/** Told about partitions opening, config changes and deletions (tiered storage listens). */
export interface TopicObserver {
  partitionsOpened(state: TopicState, fromPartition: number): Promise<void>;
  configChanged(state: TopicState): Promise<void>;
  topicDeleted(state: TopicState): Promise<void>;
}

/** Kafka's partition directory name: `<topic>-<partition>`. */
export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** Written into each partition directory, so a directory left by a deleted topic of the same name is recognised. */
const PARTITION_METADATA = 'partition.metadata';

/**
 * The broker's view of its topics: the metadata store's records plus the open partition
 * logs. Reads are synchronous (the produce and fetch paths never wait on the store);
 * admin changes are serialised and go to the store first, then to local state.
 */
export class TopicRegistry {
  private readonly byNameMap = new Map<string, TopicState>();
  private readonly byIdMap = new Map<string, TopicState>();
  private adminChain: Promise<unknown> = Promise.resolve();
  private observer: TopicObserver | null = null;

  constructor(
    private readonly store: MetadataStore,
    private readonly logsDir: string,
    private readonly brokerConfig: BrokerConfig,
    private readonly logger: Logger,
  ) {}

  /** Set before load(): it is told about every partition opened from then on. */
  setObserver(observer: TopicObserver): void {
    this.observer = observer;
  }

  /** Opens every topic the store knows (running log recovery) and removes stale directories. */
  async load(): Promise<void> {
    fs.mkdirSync(this.logsDir, { recursive: true });
    const topics = await this.store.listTopics();
    for (const t of topics) {
      const state = this.install(t);
      await this.observer?.partitionsOpened(state, 0);
    }
    this.removeStaleDirs();
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

  partition(topic: string, index: number): PartitionLog | undefined {
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
      for (let p = 0; p < t.partitions.length; p++) this.dropPartitionDir(t.partitions[p], name, p, t.topicId);
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

  async close(): Promise<void> {
    await this.adminChain.catch(() => undefined);
    for (const t of this.byNameMap.values()) for (const log of t.partitions) await log.close();
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

  /** Makes `record` the live state: opens missing partition logs, applies configs to open ones. */
  private install(record: TopicRecord, previous?: TopicState): TopicState {
    const config = resolveTopicConfig(record.configs, this.brokerConfig);
    const logConfig = logConfigFrom(config);
    const partitions: PartitionLog[] = [];
    for (let p = 0; p < record.partitions; p++) {
      const existing = previous?.partitions[p];
      if (existing) {
        existing.updateConfig(logConfig);
        partitions.push(existing);
      } else {
        partitions.push(this.openPartition(record, p, logConfig));
      }
    }
    const state: TopicState = { name: record.name, topicId: record.topicId, record, config, partitions };
    this.byNameMap.set(record.name, state);
    this.byIdMap.set(record.topicId, state);
    return state;
  }

  private openPartition(record: TopicRecord, p: number, logConfig: ReturnType<typeof logConfigFrom>): PartitionLog {
    const dir = path.join(this.logsDir, partitionDirName(record.name, p));
    const marker = path.join(dir, PARTITION_METADATA);
    const owner = readPartitionMetadata(marker);
    if (owner !== null && owner !== record.topicId) {
      // A directory left by an earlier topic of the same name: it is not this topic's data.
      this.logger.warn(`removing ${dir}: it belongs to topic id ${owner}, not ${record.topicId}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const log = PartitionLog.open(dir, logConfig, { logger: (m: string) => this.logger.info(`${record.name}-${p}: ${m}`) });
    if (owner !== record.topicId) fs.writeFileSync(marker, `version: 0\ntopic_id: ${record.topicId}\n`);
    return log;
  }

  private dropPartitionDir(log: PartitionLog, name: string, p: number, topicId: string): void {
    const dir = path.join(this.logsDir, partitionDirName(name, p));
    void log.close();
    // Rename first so a topic re-created under the same name never sees the old files.
    const doomed = `${dir}.${topicId}-delete`;
    try {
      fs.renameSync(dir, doomed);
    } catch {
      return;
    }
    fs.rm(doomed, { recursive: true, force: true }, () => undefined);
  }

  private removeStaleDirs(): void {
    for (const entry of fs.readdirSync(this.logsDir)) {
      const full = path.join(this.logsDir, entry);
      if (entry.endsWith('-delete')) {
        fs.rmSync(full, { recursive: true, force: true });
        continue;
      }
      const m = /^(.+)-(\d+)$/.exec(entry);
      const t = m ? this.byNameMap.get(m[1]) : undefined;
      if (!t || Number(m![2]) >= t.partitions.length) {
        this.logger.warn(`ignoring ${full}: no such topic partition in the metadata store`);
      }
    }
  }
}

function readPartitionMetadata(file: string): string | null {
  try {
    const m = /topic_id:\s*(\S+)/.exec(fs.readFileSync(file, 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}
