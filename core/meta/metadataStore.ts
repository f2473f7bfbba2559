import type { VersionedKv } from './versionedKv';

/**
 * The metadata store port: cluster identity, topics and their configs, partition state and
 * broker registrations. Every change is a conditional write on the record's `version`, so
 * two brokers (or a broker and an admin request) racing on the same record cannot both win;
 * the loser gets StrataError('VERSION_CONFLICT') and re-reads.
 *
 * Records are separate items with no multi-record transactions (DynamoDB's model). Where
 * one operation touches several records, the order makes every intermediate state safe:
 * - createTopic writes the partition states first (keyed by the new, unique topicId, so
 *   nothing can see them) and the topic record last; a crash in between leaves orphans no
 *   topic points at.
 * - deleteTopic removes the topic record first (the topic is gone from that instant) and
 *   then its partition states, best effort.
 * Readers therefore treat a missing partition state of an existing topic as "not yet
 * assigned", never as an error. Both write an intent record (`pending/<topicId>`) before
 * their first write and remove it after their last; collectOrphans finishes what a crash
 * interrupted (DynamoDB transactions would make this unnecessary; dynalite lacks them).
 *
 * Adapters: KvMetadataStore over a VersionedKv (EmbeddedKv now, DynamoDB later).
 */
export interface TopicRecord {
  name: string;
  /** Kafka uuid text: 22 chars of URL-safe base64 (16 bytes), never all-zero, never starting with '-'. */
  topicId: string;
  partitions: number;
  replicationFactor: number;
  /** Only the topic configs set explicitly on this topic; defaults are resolved at read time. */
  configs: Record<string, string>;
  /** ms since the epoch. */
  createdAt: number;
  version: number;
}

export interface PartitionStateRecord {
  topicId: string;
  partition: number;
  /** Node id of the leader, -1 for none. */
  leader: number;
  leaderEpoch: number;
  isr: number[];
  /** Every replica, the preferred leader first; during a reassignment the target replicas, then those being removed. */
  replicas: number[];
  /** During a reassignment (KIP-455): replicas joining, which count in the ISR once caught up. Absent otherwise. */
  addingReplicas?: number[];
  /** During a reassignment: replicas leaving once every adding one is in sync. Absent otherwise. */
  removingReplicas?: number[];
  logStartOffset: bigint;
  version: number;
}

/**
 * A broker's registration, which is also its lease (core/meta/brokerLease.ts): `epoch`
 * increases each time a process acquires it (Kafka's broker epoch).
 */
/** One listener of a broker as clients are told it (advertised.listeners). */
export interface BrokerEndpoint {
  /** The listener's name (PLAINTEXT, SASL_SSL, INTERNAL, ...). */
  listener: string;
  host: string;
  port: number;
  securityProtocol: string;
}

export interface BrokerRecord {
  nodeId: number;
  /** The inter-broker listener's advertised address: where other brokers reach this one. */
  host: string;
  port: number;
  /**
   * Every listener's advertised address; a client is told the ones of the listener it connected
   * to (Kafka's Metadata does the same). Absent on records written before brokers had several
   * listeners: host and port then serve every listener.
   */
  endpoints?: BrokerEndpoint[];
  rack: string | null;
  epoch: number;
  /** The process holding the lease (random per process); null once released, absent on records written without a lease. */
  incarnationId?: string | null;
  /**
   * ms since the epoch, by the holder's clock: when its lease runs out unless renewed (0 once
   * released). For people and messages: no other host decides anything by it (clocks differ).
   */
  leaseExpiresAt?: number;
  version: number;
}

export interface ClusterRecord {
  clusterId: string;
  version: number;
}

/** What createTopic needs; topicId and createdAt are generated when left out. */
export type NewTopic = Omit<TopicRecord, 'version' | 'topicId' | 'createdAt'> & { topicId?: string; createdAt?: number };

export type PartitionStateInit = Omit<PartitionStateRecord, 'version' | 'topicId'>;

export interface TopicChanges {
  /** New partition count; it can only grow (StrataError('PARTITIONS_INVALID') otherwise). */
  partitions?: number;
  /** Replaces the topic's explicit configs as a whole (AlterConfigs semantics). */
  configs?: Record<string, string>;
  /** States of the added partitions, written before the topic record (see the ordering above). */
  newPartitionStates?: PartitionStateInit[];
}

export interface OrphanReport {
  /** Intents old enough to act on. */
  pendingChanges: number;
  /** Topic ids whose orphaned partition states were deleted. */
  topicIds: string[];
}

export interface MetadataStore {
  /** The cluster id, created on first use (a Kafka uuid) and stable forever after. */
  getOrCreateClusterId(): Promise<string>;

  /**
   * Creates a topic if its name is free (StrataError('TOPIC_EXISTS') otherwise). When
   * `partitionStates` is given it must hold one state per partition, 0..partitions-1.
   */
  createTopic(t: NewTopic, partitionStates?: PartitionStateInit[]): Promise<TopicRecord>;
  getTopic(name: string): Promise<TopicRecord | null>;
  /** Sorted by name. */
  listTopics(): Promise<TopicRecord[]>;
  /** StrataError('TOPIC_NOT_FOUND') when absent, ('VERSION_CONFLICT') when the stored version differs. */
  updateTopic(name: string, expectedVersion: number, changes: TopicChanges): Promise<TopicRecord>;
  /** StrataError('TOPIC_NOT_FOUND') when absent, ('VERSION_CONFLICT') when a given version differs. */
  deleteTopic(name: string, expectedVersion?: number): Promise<void>;

  getPartitionState(topicId: string, partition: number): Promise<PartitionStateRecord | null>;
  /** Sorted by partition. */
  listPartitionStates(topicId: string): Promise<PartitionStateRecord[]>;
  /**
   * Writes a partition state if the stored version is `expectedVersion` (null or 0: must not
   * exist yet). Every failed condition is StrataError('VERSION_CONFLICT').
   */
  putPartitionState(state: Omit<PartitionStateRecord, 'version'>, expectedVersion: number | null): Promise<PartitionStateRecord>;

  /** Same conditional rules as putPartitionState. */
  putBroker(broker: Omit<BrokerRecord, 'version'>, expectedVersion: number | null): Promise<BrokerRecord>;
  getBroker(nodeId: number): Promise<BrokerRecord | null>;
  /** Sorted by node id. */
  listBrokers(): Promise<BrokerRecord[]>;
  /** Idempotent when no version is given; VERSION_CONFLICT / NOT_FOUND when one is. */
  deleteBroker(nodeId: number, expectedVersion?: number): Promise<void>;

  /**
   * Finishes multi-record changes a crash interrupted: for each intent older than `minAgeMs`
   * (default 60 s, so changes still in progress are left alone) whose topic id no topic
   * names, deletes that id's partition states, then the intent; stale intents of live topics
   * are dropped. Returns what it did.
   */
  collectOrphans(opts?: { minAgeMs?: number; now?: number }): Promise<OrphanReport>;

  /**
   * A private key space for a later feature (group offsets, producer ids, remote segment
   * records), with the same conditional-write rules; `name` is [a-z0-9._-]+.
   */
  namespace(name: string): VersionedKv;

  close(): Promise<void>;
}
