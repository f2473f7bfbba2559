import { StrataError, isStrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { ApiKey } from '../protocol/generated/index';
import { ZERO_UUID } from '../protocol/reader';
import type { AlterConfigsRequest } from '../protocol/generated/AlterConfigsRequest';
import type { AlterConfigsResponse } from '../protocol/generated/AlterConfigsResponse';
import type { CreatePartitionsRequest } from '../protocol/generated/CreatePartitionsRequest';
import type { ElectLeadersRequest } from '../protocol/generated/ElectLeadersRequest';
import type { AlterPartitionReassignmentsRequest } from '../protocol/generated/AlterPartitionReassignmentsRequest';
import type { AlterPartitionReassignmentsResponse } from '../protocol/generated/AlterPartitionReassignmentsResponse';
import type { ListPartitionReassignmentsRequest } from '../protocol/generated/ListPartitionReassignmentsRequest';
import type { ListPartitionReassignmentsResponse } from '../protocol/generated/ListPartitionReassignmentsResponse';
import type { ElectLeadersResponse } from '../protocol/generated/ElectLeadersResponse';
import type { CreatePartitionsResponse } from '../protocol/generated/CreatePartitionsResponse';
import type { CreateTopicsRequest } from '../protocol/generated/CreateTopicsRequest';
import type { CreateTopicsResponse } from '../protocol/generated/CreateTopicsResponse';
import type { DeleteTopicsRequest } from '../protocol/generated/DeleteTopicsRequest';
import type { DeleteTopicsResponse } from '../protocol/generated/DeleteTopicsResponse';
import type { DescribeClusterRequest } from '../protocol/generated/DescribeClusterRequest';
import type { DescribeClusterResponse } from '../protocol/generated/DescribeClusterResponse';
import type { DescribeConfigsRequest } from '../protocol/generated/DescribeConfigsRequest';
import type { DescribeConfigsResponse } from '../protocol/generated/DescribeConfigsResponse';
import type { DeleteRecordsRequest } from '../protocol/generated/DeleteRecordsRequest';
import type { DeleteRecordsResponse } from '../protocol/generated/DeleteRecordsResponse';
import type { DeleteGroupsRequest } from '../protocol/generated/DeleteGroupsRequest';
import type { DeleteGroupsResponse } from '../protocol/generated/DeleteGroupsResponse';
import type { DescribeGroupsRequest } from '../protocol/generated/DescribeGroupsRequest';
import type { DescribeGroupsResponse } from '../protocol/generated/DescribeGroupsResponse';
import type { FindCoordinatorRequest } from '../protocol/generated/FindCoordinatorRequest';
import type { FindCoordinatorResponse } from '../protocol/generated/FindCoordinatorResponse';
import type { HeartbeatRequest } from '../protocol/generated/HeartbeatRequest';
import type { HeartbeatResponse } from '../protocol/generated/HeartbeatResponse';
import type { JoinGroupRequest } from '../protocol/generated/JoinGroupRequest';
import type { JoinGroupResponse } from '../protocol/generated/JoinGroupResponse';
import type { LeaveGroupRequest } from '../protocol/generated/LeaveGroupRequest';
import type { LeaveGroupResponse } from '../protocol/generated/LeaveGroupResponse';
import type { ListGroupsRequest } from '../protocol/generated/ListGroupsRequest';
import type { ListGroupsResponse } from '../protocol/generated/ListGroupsResponse';
import type { OffsetCommitRequest } from '../protocol/generated/OffsetCommitRequest';
import type { OffsetCommitResponse } from '../protocol/generated/OffsetCommitResponse';
import type { MirrorAppendRequest } from '../protocol/generated/MirrorAppendRequest';
import type { MirrorAppendResponse } from '../protocol/generated/MirrorAppendResponse';
import type { TxnOffsetCommitRequest } from '../protocol/generated/TxnOffsetCommitRequest';
import type { TxnOffsetCommitResponse } from '../protocol/generated/TxnOffsetCommitResponse';
import type { OffsetDeleteRequest } from '../protocol/generated/OffsetDeleteRequest';
import type { OffsetDeleteResponse } from '../protocol/generated/OffsetDeleteResponse';
import type { OffsetFetchRequest } from '../protocol/generated/OffsetFetchRequest';
import type { OffsetFetchResponse } from '../protocol/generated/OffsetFetchResponse';
import type { SyncGroupRequest } from '../protocol/generated/SyncGroupRequest';
import type { SyncGroupResponse } from '../protocol/generated/SyncGroupResponse';
import type { FetchRequest } from '../protocol/generated/FetchRequest';
import type { FetchResponse } from '../protocol/generated/FetchResponse';
import type { IncrementalAlterConfigsRequest } from '../protocol/generated/IncrementalAlterConfigsRequest';
import type { IncrementalAlterConfigsResponse } from '../protocol/generated/IncrementalAlterConfigsResponse';
import type { ListOffsetsRequest } from '../protocol/generated/ListOffsetsRequest';
import type { ListOffsetsResponse } from '../protocol/generated/ListOffsetsResponse';
import type { MetadataRequest } from '../protocol/generated/MetadataRequest';
import type { MetadataResponse } from '../protocol/generated/MetadataResponse';
import type { ProduceRequest } from '../protocol/generated/ProduceRequest';
import type { ProduceResponse } from '../protocol/generated/ProduceResponse';
import { KafkaConnection } from './connection';
import type { ConnectionSecurity } from './security';
import { KafkaResponseError, throwIfError } from './errors';
import { CompressionName, FetchedRecord, ProduceRecord, decodeFetchedRecords, encodeRecordBatch, toRecordInputs } from './records';
import { buildRecordBatch } from '../log/recordBatchBuilder';

/**
 * A small Kafka client on Strata's own codecs: metadata, produce, fetch, list offsets and the
 * admin calls the CLI needs. It is deliberately simple: one connection per broker, requests
 * for one partition at a time (pipelined by the connection), and a bounded retry with metadata
 * refresh when a partition moved or a topic is not visible yet.
 */

export interface StrataClientOptions {
  /** 'host:port' entries; the first that answers is used to discover the cluster. */
  bootstrapServers: string[];
  clientId?: string;
  /** Per-request timeout (fetch adds its maxWaitMs on top). Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** TCP connect plus ApiVersions handshake per broker. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Attempts after the first for retriable partition errors. Default 5. */
  retries?: number;
  /** First retry delay; doubles per attempt. Default 50 ms. */
  retryBackoffMs?: number;
  /**
   * TLS and/or SASL for every connection of this client, the bootstrap ones and those to each
   * broker (security.protocol, ssl.*, sasl.*: see securityConfig.ts). Default PLAINTEXT.
   */
  security?: ConnectionSecurity;
}

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface PartitionInfo {
  partition: number;
  /** -1 when no leader is known. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
  /** The partition's error in the metadata response (e.g. LEADER_NOT_AVAILABLE), NONE normally. */
  errorCode: number;
}

export interface TopicInfo {
  name: string;
  /** Kafka's base64 form; all-zero when the broker does not report ids. */
  topicId: string;
  isInternal: boolean;
  /** Sorted by partition index. */
  partitions: PartitionInfo[];
}

export interface ClusterInfo {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerInfo[];
}

/** -1 = all in-sync replicas, 1 = leader only, 0 = no response at all. */
export type Acks = -1 | 0 | 1;

export interface ProduceOptions {
  acks?: Acks;
  compression?: CompressionName;
  /** How long the broker may wait for acks=all. Default 30 000 ms. */
  timeoutMs?: number;
  /** The producer's transactional id, for transactional batches (TransactionalProducer sets it). */
  transactionalId?: string | null;
}

export interface ProduceResult {
  /** Offset of the first record; -1n for acks=0 (unknown). */
  baseOffset: bigint;
  /** Broker time when the topic uses LogAppendTime, else -1n. */
  logAppendTimeMs: bigint;
  logStartOffset: bigint;
}

export interface FetchOptions {
  /** Most bytes for this partition (the broker may exceed it to return one whole batch). Default 1 MiB. */
  maxBytes?: number;
  /** Long-poll: how long the broker may wait for minBytes. Default 500 ms. */
  maxWaitMs?: number;
  minBytes?: number;
  /** 0 = read_uncommitted (default), 1 = read_committed. */
  isolationLevel?: 0 | 1;
}

export interface FetchResult {
  /** Records at or after the requested offset, control records left out. */
  records: FetchedRecord[];
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  /** Where the next fetch should start: after the last complete batch returned, else the requested offset. */
  nextOffset: bigint;
}

/** One partition's outcome in `fetchPartitions`: a result or an error. */
export interface PartitionFetch {
  partition: number;
  /** The offset the fetch started at. */
  offset: bigint;
  result?: FetchResult;
  error?: Error;
}

export interface ListOffsetsResult {
  offset: bigint;
  timestamp: bigint;
  leaderEpoch: number;
}

export { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP } from '../protocol/listOffsetsTimestamps';

/** DeleteRecords' offset meaning "every record below the high watermark". */
export const HIGH_WATERMARK_OFFSET = -1n;

export interface RecordsToDelete {
  topic: string;
  partition: number;
  /** Records below this offset go; HIGH_WATERMARK_OFFSET (-1n) = all records below the high watermark. */
  offset: bigint;
}

/** One partition's outcome in `deleteRecords`. */
export interface DeletedRecords {
  topic: string;
  partition: number;
  /** The partition's log start offset after the call; -1n when it failed. */
  lowWatermark: bigint;
  /** null when the partition succeeded. */
  error: KafkaResponseError | null;
}

export interface NewTopic {
  name: string;
  /** Default -1: the broker's num.partitions. */
  numPartitions?: number;
  /** Default -1: the broker's default.replication.factor. */
  replicationFactor?: number;
  configs?: Record<string, string>;
}

export interface CreatedTopic {
  name: string;
  topicId: string;
  numPartitions: number;
  replicationFactor: number;
}

export interface AdminOptions {
  /** How long the broker may take. Default 30 000 ms. */
  timeoutMs?: number;
  validateOnly?: boolean;
}

/** Kafka's ConfigResource.Type codes. */
export const ConfigResourceType = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;
export type ConfigResourceTypeCode = (typeof ConfigResourceType)[keyof typeof ConfigResourceType];

export interface ConfigResource {
  type: ConfigResourceTypeCode;
  /** Topic name, or broker id as a string ('' for the cluster-wide broker default). */
  name: string;
}

/** Kafka's ConfigEntry.ConfigSource codes. */
export const ConfigSource = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  /** A ConfigSource code; -1 when the response version does not carry it. */
  source: number;
  isSensitive: boolean;
}

export type AlterConfigOp = { name: string; op: 'set'; value: string } | { name: string; op: 'delete' } | { name: string; op: 'append' | 'subtract'; value: string };

const OP_CODES = { set: 0, delete: 1, append: 2, subtract: 3 } as const;

/** An IncrementalAlterConfigs request for one resource (sent by the client, or by configsAdmin to the broker a BROKER resource names). */
export function incrementalAlterConfigsRequest(resource: ConfigResource, ops: readonly AlterConfigOp[], validateOnly: boolean): IncrementalAlterConfigsRequest {
  return {
    resources: [
      {
        resourceType: resource.type,
        resourceName: resource.name,
        configs: ops.map((o) => ({ name: o.name, configOperation: OP_CODES[o.op], value: o.op === 'delete' ? null : o.value })),
      },
    ],
    validateOnly,
  };
}

/** Partition errors after which fresh metadata may point at the right leader. */
const REFRESH_METADATA = new Set<number>([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.UNKNOWN_TOPIC_ID,
  ErrorCode.NOT_CONTROLLER,
]);

/**
 * Errors worth retrying for produce: all guarantee the batch was NOT appended, so a retry
 * cannot duplicate it (unlike a timeout or a dropped connection, which are not retried).
 */
const PRODUCE_RETRIABLE = new Set<number>([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
]);

/** Errors worth retrying for reads (fetch, list offsets, metadata): a retry is harmless. */
const READ_RETRIABLE = new Set<number>([...REFRESH_METADATA, ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.REQUEST_TIMED_OUT, ErrorCode.OFFSET_NOT_AVAILABLE, ErrorCode.KAFKA_STORAGE_ERROR]);

export interface MetadataSnapshot {
  cluster: ClusterInfo;
  topics: Map<string, TopicInfo>;
  /** Per-topic error codes from the last response (e.g. UNKNOWN_TOPIC_OR_PARTITION). */
  topicErrors: Map<string, number>;
}

// ---------------------------------------------------------------- consumer group types

/** Kafka's CoordinatorType codes for FindCoordinator. */
export const CoordinatorType = { GROUP: 0, TRANSACTION: 1 } as const;

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

export interface GroupListing {
  groupId: string;
  /** 'consumer' for consumer groups, '' for groups that only ever committed offsets. */
  protocolType: string;
  /** Kafka's state name (Stable, Empty...); null when the broker's ListGroups predates v4. */
  state: string | null;
}

export interface GroupMemberDescription {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  /** As the broker saw the connection, e.g. '/127.0.0.1'. */
  clientHost: string;
  /** The member's metadata for the selected protocol (a ConsumerProtocolSubscription for consumers). */
  metadata: Buffer;
  /** The member's assignment from the leader (a ConsumerProtocolAssignment for consumers); empty while rebalancing. */
  assignment: Buffer;
}

export interface GroupDescription {
  groupId: string;
  /** Empty, PreparingRebalance, CompletingRebalance, Stable, or Dead (no such group). */
  state: string;
  protocolType: string;
  /** The protocol the group settled on (the assignor, for consumer groups); '' when none. */
  protocol: string;
  members: GroupMemberDescription[];
  coordinator: BrokerInfo;
}

export interface CommittedOffset extends TopicPartitionRef {
  offset: bigint;
  leaderEpoch: number;
  metadata: string | null;
}

export interface OffsetToCommit extends TopicPartitionRef {
  offset: bigint;
  leaderEpoch?: number;
  metadata?: string | null;
}

/**
 * Whose commit it is. Omitted: an admin ("simple") commit with generation -1 and no member id,
 * which Kafka's coordinator accepts only while the group has no members.
 */
export interface GroupMemberIdentity {
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
}

export interface PartitionError extends TopicPartitionRef {
  /** null when the partition succeeded. */
  error: KafkaResponseError | null;
}

export interface JoinGroupOptions {
  groupId: string;
  /** '' for a new member. */
  memberId: string;
  groupInstanceId?: string | null;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  /** In preference order. */
  protocols: Array<{ name: string; metadata: Buffer }>;
  reason?: string | null;
}

/**
 * A JoinGroup answer. The membership calls return the error code instead of throwing: for a
 * member, MEMBER_ID_REQUIRED or REBALANCE_IN_PROGRESS are instructions, not failures. Only
 * "ask another broker" codes (NOT_COORDINATOR...) are handled inside, by finding the
 * coordinator again.
 */
export interface JoinGroupResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  /** KIP-814: a static leader that rejoined without change must not assign again. */
  skipAssignment: boolean;
  memberId: string;
  /** Every member's metadata; only the leader gets them. */
  members: Array<{ memberId: string; groupInstanceId: string | null; metadata: Buffer }>;
}

export interface SyncGroupOptions {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
  protocolType: string | null;
  protocolName: string | null;
  /** Only the leader sends assignments. */
  assignments: Array<{ memberId: string; assignment: Buffer }>;
}

export interface SyncGroupResult {
  errorCode: number;
  assignment: Buffer;
}

/** Answers that mean "the coordinator is elsewhere or not ready": find it again and retry. */
const COORDINATOR_RETRIABLE = new Set<number>([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);
/** A TxnOffsetCommit may also meet the transaction's previous commit still completing. */
const TXN_OFFSET_COMMIT_RETRIABLE = new Set<number>([...COORDINATOR_RETRIABLE, ErrorCode.CONCURRENT_TRANSACTIONS]);

export class StrataClient {
  private readonly bootstrap: Array<{ host: string; port: number }>;
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly retries: number;
  private readonly retryBackoffMs: number;
  private readonly security: ConnectionSecurity | undefined;
  private readonly connections = new Map<string, Promise<KafkaConnection>>();
  private brokers = new Map<number, BrokerInfo>();
  private controllerId = -1;
  private clusterId: string | null = null;
  private readonly topics = new Map<string, TopicInfo>();
  private closed = false;
  /** Coordinator per group id, found by FindCoordinator; dropped when it stops answering for the group. */
  private readonly coordinators = new Map<string, BrokerInfo>();

  constructor(opts: StrataClientOptions) {
    if (!opts.bootstrapServers.length) throw new StrataError('CONFIG_INVALID', 'bootstrapServers must list at least one host:port');
    this.bootstrap = opts.bootstrapServers.map(parseHostPort);
    this.clientId = opts.clientId ?? 'strata-client';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.retries = opts.retries ?? 5;
    this.retryBackoffMs = opts.retryBackoffMs ?? 50;
    this.security = opts.security;
  }

  /** The security settings every connection of this client uses (for companions such as a group consumer's second client). */
  get securitySettings(): ConnectionSecurity | undefined {
    return this.security;
  }

  // ---------------------------------------------------------------- metadata

  /**
   * Fetches metadata for the given topics (all topics when omitted) and caches leaders.
   * Topics the broker reports with an error are left out of `topics` and listed in `topicErrors`.
   */
  async metadata(topics?: string[] | null, opts: { allowAutoTopicCreation?: boolean } = {}): Promise<MetadataSnapshot> {
    const conn = await this.anyConnection();
    const version = conn.version(ApiKey.Metadata);
    const all = topics === undefined || topics === null;
    const request: MetadataRequest = {
      // v0 has no null; an empty list means "all" there.
      topics: all ? (version === 0 ? [] : null) : topics.map((name) => ({ name, topicId: ZERO_UUID })),
      allowAutoTopicCreation: opts.allowAutoTopicCreation ?? false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    };
    const res = await conn.send<MetadataResponse>(ApiKey.Metadata, request);
    const brokers = new Map<number, BrokerInfo>();
    for (const b of res.brokers) brokers.set(b.nodeId, { nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack ?? null });
    this.brokers = brokers;
    this.controllerId = res.controllerId ?? -1;
    this.clusterId = res.clusterId ?? null;
    const out = new Map<string, TopicInfo>();
    const topicErrors = new Map<string, number>();
    for (const t of res.topics) {
      const name: string = t.name ?? '';
      if (t.errorCode !== ErrorCode.NONE) {
        topicErrors.set(name, t.errorCode);
        this.topics.delete(name);
        continue;
      }
      const info: TopicInfo = {
        name,
        topicId: t.topicId ?? ZERO_UUID,
        isInternal: t.isInternal ?? false,
        partitions: t.partitions
          .map((p) => ({
            partition: p.partitionIndex,
            leader: p.leaderId,
            leaderEpoch: p.leaderEpoch ?? -1,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            offlineReplicas: p.offlineReplicas ?? [],
            errorCode: p.errorCode,
          }))
          .sort((a, b) => a.partition - b.partition),
      };
      out.set(name, info);
      this.topics.set(name, info);
    }
    if (all) {
      // A full listing also tells us which cached topics are gone.
      for (const name of [...this.topics.keys()]) if (!out.has(name)) this.topics.delete(name);
    }
    return { cluster: this.clusterInfo(), topics: out, topicErrors };
  }

  /** Names of all topics, sorted; internal topics (e.g. __consumer_offsets) only when asked. */
  async listTopics(opts: { includeInternal?: boolean } = {}): Promise<string[]> {
    const md = await this.metadata(null);
    return [...md.topics.values()]
      .filter((t) => opts.includeInternal || !t.isInternal)
      .map((t) => t.name)
      .sort();
  }

  /**
   * Describes topics (all when omitted), sorted by name. A named topic that does not exist
   * throws KafkaResponseError(UNKNOWN_TOPIC_OR_PARTITION).
   */
  async describeTopics(names?: string[]): Promise<TopicInfo[]> {
    const md = await this.metadata(names ?? null);
    for (const [name, code] of md.topicErrors) throwIfError(code, { api: 'Metadata', resource: `topic '${name}'` });
    return [...md.topics.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Cluster id, controller and brokers (DescribeCluster when the broker has it, else Metadata). */
  async describeCluster(): Promise<ClusterInfo> {
    const conn = await this.anyConnection();
    if (!conn.supports(ApiKey.DescribeCluster)) {
      await this.metadata([]);
      return this.clusterInfo();
    }
    const describeRequest: DescribeClusterRequest = { includeClusterAuthorizedOperations: false, endpointType: 1 };
    const res = await conn.send<DescribeClusterResponse>(ApiKey.DescribeCluster, describeRequest);
    throwIfError(res.errorCode, { api: 'DescribeCluster', errorMessage: res.errorMessage });
    return {
      clusterId: res.clusterId,
      controllerId: res.controllerId ?? -1,
      brokers: res.brokers.map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack ?? null })).sort((a, b) => a.nodeId - b.nodeId),
    };
  }

  /** Partition count of a topic, from cached metadata when present. */
  async partitionCount(topic: string, opts: { allowAutoTopicCreation?: boolean } = {}): Promise<number> {
    return (await this.topicInfo(topic, opts)).partitions.length;
  }

  /**
   * A topic's metadata, fetched if not cached. Waits (bounded) while the broker reports
   * LEADER_NOT_AVAILABLE, which is what a just-created or auto-created topic looks like.
   */
  async topicInfo(topic: string, opts: { allowAutoTopicCreation?: boolean; refresh?: boolean } = {}): Promise<TopicInfo> {
    const cached = this.topics.get(topic);
    if (cached && !opts.refresh) return cached;
    return this.retry(READ_RETRIABLE, () => this.lookupTopic(topic, opts), true);
  }

  /** One metadata lookup for a topic (cache first), no retry: callers that retry use this. */
  private async lookupTopic(topic: string, opts: { allowAutoTopicCreation?: boolean; refresh?: boolean } = {}): Promise<TopicInfo> {
    const cached = this.topics.get(topic);
    if (cached && !opts.refresh) return cached;
    const md = await this.metadata([topic], opts);
    const code = md.topicErrors.get(topic);
    if (code !== undefined) throw new KafkaResponseError(code, { api: 'Metadata', resource: `topic '${topic}'` });
    const info = md.topics.get(topic);
    if (!info) throw new KafkaResponseError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, { api: 'Metadata', resource: `topic '${topic}'` });
    return info;
  }

  // ---------------------------------------------------------------- produce / fetch / offsets

  /**
   * Appends records (or one pre-built RecordBatch) to a partition. Resolves when the broker
   * acknowledged per `acks` (default -1, all in-sync replicas); for acks=0, once written.
   */
  async produce(topic: string, partition: number, records: ProduceRecord[] | Buffer, opts: ProduceOptions = {}): Promise<ProduceResult> {
    const acks = opts.acks ?? -1;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const batch = Buffer.isBuffer(records) ? records : encodeRecordBatch(records, opts.compression ?? 'none');
    const resource = `${topic}-${partition}`;
    return this.retry(PRODUCE_RETRIABLE, async () => {
      const conn = await this.leaderConnection(topic, partition, true);
      const request: ProduceRequest = {
        transactionalId: opts.transactionalId ?? null,
        acks,
        timeoutMs,
        topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }],
      };
      const res = await conn.send<ProduceResponse>(ApiKey.Produce, request, { timeoutMs: this.requestTimeoutMs + timeoutMs });
      if (acks === 0) return { baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n };
      const p = res.responses.find((t) => t.name === topic)?.partitionResponses.find((x) => x.index === partition);
      if (!p) throw missingInResponse('Produce', resource);
      if (p.errorCode !== ErrorCode.NONE) {
        const recordError = p.recordErrors?.find((e) => e.batchIndexErrorMessage)?.batchIndexErrorMessage;
        this.onPartitionError(topic, p.errorCode);
        const recordErrors = (p.recordErrors ?? []).map((e) => ({ batchIndex: e.batchIndex, message: e.batchIndexErrorMessage ?? null }));
        throw new KafkaResponseError(p.errorCode, { api: 'Produce', resource, errorMessage: p.errorMessage ?? recordError ?? null, recordErrors });
      }
      return { baseOffset: p.baseOffset, logAppendTimeMs: p.logAppendTimeMs ?? -1n, logStartOffset: p.logStartOffset ?? -1n };
    });
  }

  /**
   * Appends records to a read-only mirror topic at exactly their given offsets (MirrorAppend,
   * Strata's own API; the topic's mirror.source.cluster names the source). Offsets must rise;
   * gaps are kept. Records below the target's log end are already there and are skipped, so
   * repeating a call (after a lost connection, or a retried mirror batch) adds nothing; for the
   * same reason every failure that may have appended is safe to retry, and is. Resolves with the
   * target's log end offset after the call and how many records this call appended.
   */
  async appendMirrored(
    topic: string,
    partition: number,
    records: ReadonlyArray<ProduceRecord & { offset: bigint }>,
    opts: { sourceCluster?: string; acks?: -1 | 1; timeoutMs?: number } = {},
  ): Promise<{ logEndOffset: bigint; appended: number }> {
    if (records.length === 0) throw new StrataError('BATCH_INVALID', 'appendMirrored needs at least one record');
    for (let i = 1; i < records.length; i++) {
      if (records[i].offset <= records[i - 1].offset) throw new StrataError('BATCH_INVALID', `mirrored offsets must rise: ${records[i].offset} follows ${records[i - 1].offset}`);
    }
    const acks = opts.acks ?? -1;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const resource = `${topic}-${partition}`;
    let pending = records;
    // Each straddle refusal moves past at least one record, so this ends.
    for (;;) {
      const base = pending[0].offset;
      const inputs = toRecordInputs(pending).map((r, i) => ({ ...r, offsetDelta: Number(pending[i].offset - base) }));
      const batch = buildRecordBatch({ records: inputs, baseOffset: base });
      const p = await this.retry(
        PRODUCE_RETRIABLE,
        async () => {
          const conn = await this.leaderConnection(topic, partition, false);
          const request: MirrorAppendRequest = { sourceCluster: opts.sourceCluster ?? '', acks, timeoutMs, topics: [{ name: topic, partitions: [{ index: partition, records: batch }] }] };
          const res = await conn.send<MirrorAppendResponse>(ApiKey.MirrorAppend, request, { timeoutMs: this.requestTimeoutMs + timeoutMs });
          const r = res.topics.find((t) => t.name === topic)?.partitions.find((x) => x.index === partition);
          if (!r) throw missingInResponse('MirrorAppend', resource);
          if (r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.OFFSET_OUT_OF_RANGE) {
            this.onPartitionError(topic, r.errorCode);
            throw new KafkaResponseError(r.errorCode, { api: 'MirrorAppend', resource, errorMessage: r.errorMessage ?? null });
          }
          return r;
        },
        true,
      );
      const firstAppended = p.baseOffset ?? -1n;
      const logEndOffset = p.logEndOffset ?? -1n;
      if (p.errorCode === ErrorCode.NONE) {
        return { logEndOffset, appended: firstAppended < 0n ? 0 : pending.filter((r) => r.offset >= firstAppended).length };
      }
      const rest = pending.filter((r) => r.offset >= logEndOffset);
      if (rest.length === 0 || rest.length === pending.length) {
        if (rest.length === 0) return { logEndOffset, appended: 0 };
        throw new KafkaResponseError(p.errorCode, { api: 'MirrorAppend', resource, errorMessage: p.errorMessage ?? null });
      }
      pending = rest;
    }
  }

  /** Reads records of one partition starting at `offset`, retrying (bounded) when the partition moved. */
  async fetch(topic: string, partition: number, offset: bigint, opts: FetchOptions = {}): Promise<FetchResult> {
    return this.retry(
      READ_RETRIABLE,
      async () => {
        const [r] = await this.fetchPartitions(topic, [{ partition, offset }], opts);
        if (r.error) throw r.error;
        return r.result!;
      },
      true,
    );
  }

  /**
   * Reads several partitions of a topic at once: one Fetch per leader broker (sent in
   * parallel), so a long poll waits once for all of them rather than once per partition.
   * Per-partition failures are returned, not thrown (metadata is refreshed for the next call);
   * only failures of a whole request (connection, timeout) throw.
   */
  async fetchPartitions(topic: string, positions: Array<{ partition: number; offset: bigint }>, opts: FetchOptions = {}): Promise<PartitionFetch[]> {
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const maxWaitMs = opts.maxWaitMs ?? 500;
    const info = await this.lookupTopic(topic);
    const out: PartitionFetch[] = positions.map((p) => ({ partition: p.partition, offset: p.offset }));
    const byLeader = new Map<number, number[]>(); // leader → indexes into positions
    positions.forEach((pos, i) => {
      const p = info.partitions.find((x) => x.partition === pos.partition);
      const leader = p && p.leader >= 0 && this.brokers.has(p.leader) ? p.leader : -1;
      if (leader < 0) {
        const code = !p ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : p.errorCode !== ErrorCode.NONE ? p.errorCode : ErrorCode.LEADER_NOT_AVAILABLE;
        out[i].error = new KafkaResponseError(code, { api: 'Fetch', resource: `${topic}-${pos.partition}` });
        this.topics.delete(topic);
        return;
      }
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), i]);
    });

    await Promise.all(
      [...byLeader].map(async ([leader, indexes]) => {
        const b = this.brokers.get(leader)!;
        const conn = await this.connectionTo(b.host, b.port);
        let version = conn.version(ApiKey.Fetch);
        // v13+ names topics by id only; without an id from metadata, stay on v12.
        if (version >= 13 && info.topicId === ZERO_UUID) version = 12;
        const request: FetchRequest = {
          clusterId: null,
          replicaId: -1,
          maxWaitMs,
          minBytes: opts.minBytes ?? 1,
          maxBytes: Math.min(maxBytes * indexes.length, 50 * 1024 * 1024),
          isolationLevel: opts.isolationLevel ?? 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [
            {
              topic,
              topicId: info.topicId,
              partitions: indexes.map((i) => ({
                partition: positions[i].partition,
                currentLeaderEpoch: -1,
                fetchOffset: positions[i].offset,
                lastFetchedEpoch: -1,
                logStartOffset: -1n,
                partitionMaxBytes: maxBytes,
              })),
            },
          ],
          forgottenTopicsData: [],
          rackId: '',
        };
        const res = await conn.send<FetchResponse>(ApiKey.Fetch, request, { version, timeoutMs: this.requestTimeoutMs + maxWaitMs });
        throwIfError(res.errorCode ?? ErrorCode.NONE, { api: 'Fetch', resource: `topic '${topic}'` });
        // A topic may appear more than once (Kafka lists the partitions it knows first, the rest after).
        const topicResponses = res.responses.filter((t) => (version >= 13 ? t.topicId === info.topicId : t.topic === topic));
        for (const i of indexes) {
          const { partition, offset } = positions[i];
          const resource = `${topic}-${partition}`;
          const p = topicResponses.flatMap((t) => t.partitions).find((x) => x.partitionIndex === partition);
          if (!p) {
            out[i].error = missingInResponse('Fetch', resource);
          } else if (p.errorCode !== ErrorCode.NONE) {
            this.onPartitionError(topic, p.errorCode);
            out[i].error = new KafkaResponseError(p.errorCode, { api: 'Fetch', resource });
          } else {
            try {
              const aborted = (opts.isolationLevel ?? 0) === 1 ? (p.abortedTransactions ?? []) : null;
              const decoded = decodeFetchedRecords(p.records ?? null, offset, aborted);
              out[i].result = {
                records: decoded.records,
                highWatermark: p.highWatermark,
                lastStableOffset: p.lastStableOffset ?? -1n,
                logStartOffset: p.logStartOffset ?? -1n,
                nextOffset: decoded.nextOffset,
              };
            } catch (err) {
              out[i].error = err as Error;
            }
          }
        }
      }),
    );
    return out;
  }

  /** The offset for a timestamp: LATEST_TIMESTAMP (-1n), EARLIEST_TIMESTAMP (-2n) or a time in ms; read_committed with isolationLevel 1. */
  async listOffsets(topic: string, partition: number, timestamp: bigint, opts: { isolationLevel?: 0 | 1 } = {}): Promise<ListOffsetsResult> {
    const resource = `${topic}-${partition}`;
    return this.retry(READ_RETRIABLE, async () => {
      const conn = await this.leaderConnection(topic, partition, false);
      const version = conn.version(ApiKey.ListOffsets);
      const request: ListOffsetsRequest = {
        replicaId: -1,
        // read_committed (1): LATEST is the last stable offset.
        isolationLevel: opts.isolationLevel ?? 0,
        topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] }],
        timeoutMs: this.requestTimeoutMs,
      };
      const res = await conn.send<ListOffsetsResponse>(ApiKey.ListOffsets, request);
      const p = res.topics.find((t) => t.name === topic)?.partitions.find((x) => x.partitionIndex === partition);
      if (!p) throw missingInResponse('ListOffsets', resource);
      if (p.errorCode !== ErrorCode.NONE) {
        this.onPartitionError(topic, p.errorCode);
        throw new KafkaResponseError(p.errorCode, { api: 'ListOffsets', resource });
      }
      const offset = version === 0 ? (p.oldStyleOffsets?.[0] ?? -1n) : (p.offset ?? -1n);
      return { offset, timestamp: p.timestamp ?? -1n, leaderEpoch: p.leaderEpoch ?? -1 };
    }, true);
  }

  /**
   * DeleteRecords (KIP-107): moves each partition's log start offset up to its `offset`, so
   * every record below it is gone for all readers. One fresh Metadata request per attempt
   * routes the partitions to their leaders; each leader gets one request (in parallel).
   * Results come per partition, sorted: a refusal (OFFSET_OUT_OF_RANGE, POLICY_VIOLATION, an
   * unknown topic or partition, REQUEST_TIMED_OUT...) is that partition's `error`, not a throw.
   * Partitions whose leader moved are routed again (bounded, with backoff), as are lost
   * connections: moving a start offset twice is harmless. Only failures of a whole request
   * after the retries (no broker reachable, no answer in time) throw.
   */
  async deleteRecords(targets: RecordsToDelete[], opts: { timeoutMs?: number } = {}): Promise<DeletedRecords[]> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const seen = new Set<string>();
    for (const t of targets) {
      const key = `${t.partition}:${t.topic}`;
      if (seen.has(key)) throw new StrataError('CONFIG_INVALID', `deleteRecords: partition ${t.topic}-${t.partition} is listed more than once`);
      seen.add(key);
    }
    const done: DeletedRecords[] = [];
    const fail = (t: RecordsToDelete, code: number, errorMessage: string | null = null): void => {
      done.push({ topic: t.topic, partition: t.partition, lowWatermark: -1n, error: new KafkaResponseError(code, { api: 'DeleteRecords', resource: `${t.topic}-${t.partition}`, errorMessage }) });
    };
    let pending = targets;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const last = attempt >= this.retries;
      const again: RecordsToDelete[] = [];
      /** A partition error: routed again while attempts remain and fresh metadata may help, else final. */
      const retryOrFail = (t: RecordsToDelete, code: number, errorMessage: string | null = null): void => {
        if (!last && REFRESH_METADATA.has(code)) again.push(t);
        else fail(t, code, errorMessage);
      };

      const topics = [...new Set(pending.map((t) => t.topic))];
      let md: MetadataSnapshot;
      try {
        md = await this.metadata(topics);
      } catch (err) {
        if (!last && isStrataError(err, 'CONNECTION_FAILED')) {
          this.invalidateAll();
          await delay(this.retryBackoffMs * 2 ** attempt);
          continue;
        }
        throw err;
      }
      const byLeader = new Map<number, RecordsToDelete[]>();
      for (const t of pending) {
        const topicError = md.topicErrors.get(t.topic);
        const info = md.topics.get(t.topic);
        if (topicError === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION || (topicError === undefined && !info)) {
          // Missing from fresh metadata: the topic does not exist (Kafka's admin client does not retry this either).
          fail(t, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${t.topic}' does not exist`);
          continue;
        }
        if (topicError !== undefined || !info) {
          retryOrFail(t, topicError ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          continue;
        }
        const p = info.partitions.find((x) => x.partition === t.partition);
        if (!p) {
          fail(t, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${t.topic}' has ${info.partitions.length} partition(s), 0 to ${info.partitions.length - 1}`);
          continue;
        }
        if (p.leader < 0 || !this.brokers.has(p.leader)) {
          retryOrFail(t, p.errorCode !== ErrorCode.NONE ? p.errorCode : ErrorCode.LEADER_NOT_AVAILABLE);
          continue;
        }
        byLeader.set(p.leader, [...(byLeader.get(p.leader) ?? []), t]);
      }

      await Promise.all(
        [...byLeader].map(async ([leader, list]) => {
          const b = this.brokers.get(leader)!;
          const request: DeleteRecordsRequest = {
            topics: [...new Set(list.map((t) => t.topic))].map((name) => ({
              name,
              partitions: list.filter((t) => t.topic === name).map((t) => ({ partitionIndex: t.partition, offset: t.offset })),
            })),
            timeoutMs,
          };
          let res: DeleteRecordsResponse;
          try {
            const conn = await this.connectionTo(b.host, b.port);
            res = await conn.send<DeleteRecordsResponse>(ApiKey.DeleteRecords, request, { timeoutMs: this.requestTimeoutMs + timeoutMs });
          } catch (err) {
            if (!last && isStrataError(err, 'CONNECTION_FAILED')) {
              again.push(...list);
              return;
            }
            throw err;
          }
          for (const t of list) {
            const r = res.topics.find((x) => x.name === t.topic)?.partitions.find((x) => x.partitionIndex === t.partition);
            if (!r) throw missingInResponse('DeleteRecords', `${t.topic}-${t.partition}`);
            if (r.errorCode === ErrorCode.NONE) done.push({ topic: t.topic, partition: t.partition, lowWatermark: r.lowWatermark, error: null });
            else retryOrFail(t, r.errorCode);
          }
        }),
      );
      if (again.length > 0) {
        for (const t of again) this.topics.delete(t.topic);
        await delay(this.retryBackoffMs * 2 ** attempt);
      }
      pending = again;
    }
    return done.sort(compareTopicPartitions);
  }

  // ---------------------------------------------------------------- admin

  /** Creates topics; throws KafkaResponseError for the first topic the broker refused. */
  async createTopics(topics: NewTopic[], opts: AdminOptions = {}): Promise<CreatedTopic[]> {
    const request: CreateTopicsRequest = {
      topics: topics.map((t) => ({
        name: t.name,
        numPartitions: t.numPartitions ?? -1,
        replicationFactor: t.replicationFactor ?? -1,
        assignments: [],
        configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
      timeoutMs: opts.timeoutMs ?? 30_000,
      validateOnly: opts.validateOnly ?? false,
    };
    const res = await this.adminRequest<CreateTopicsResponse>(ApiKey.CreateTopics, request, opts.timeoutMs);
    const out: CreatedTopic[] = [];
    for (const r of res.topics) {
      throwIfError(r.errorCode, { api: 'CreateTopics', resource: `topic '${r.name}'`, errorMessage: r.errorMessage });
      out.push({ name: r.name, topicId: r.topicId ?? ZERO_UUID, numPartitions: r.numPartitions ?? -1, replicationFactor: r.replicationFactor ?? -1 });
      this.topics.delete(r.name);
    }
    return out;
  }

  /** Deletes topics by name; throws KafkaResponseError for the first topic the broker refused. */
  async deleteTopics(names: string[], opts: AdminOptions = {}): Promise<void> {
    const request: DeleteTopicsRequest = {
      topics: names.map((name) => ({ name, topicId: ZERO_UUID })),
      topicNames: names,
      timeoutMs: opts.timeoutMs ?? 30_000,
    };
    const res = await this.adminRequest<DeleteTopicsResponse>(ApiKey.DeleteTopics, request, opts.timeoutMs);
    for (const r of res.responses) {
      throwIfError(r.errorCode, { api: 'DeleteTopics', resource: `topic '${r.name ?? r.topicId}'`, errorMessage: r.errorMessage });
    }
    for (const n of names) this.topics.delete(n);
  }

  /** Grows topics to `count` partitions in total; throws for the first topic refused. */
  async createPartitions(requests: Array<{ topic: string; count: number }>, opts: AdminOptions = {}): Promise<void> {
    const request: CreatePartitionsRequest = {
      topics: requests.map((r) => ({ name: r.topic, count: r.count, assignments: null })),
      timeoutMs: opts.timeoutMs ?? 30_000,
      validateOnly: opts.validateOnly ?? false,
    };
    const res = await this.adminRequest<CreatePartitionsResponse>(ApiKey.CreatePartitions, request, opts.timeoutMs);
    for (const r of res.results) throwIfError(r.errorCode, { api: 'CreatePartitions', resource: `topic '${r.name}'`, errorMessage: r.errorMessage });
    for (const r of requests) this.topics.delete(r.topic);
  }

  /**
   * ElectLeaders (KIP-460): a preferred or unclean leader election for the given partitions (null:
   * all of them; the answer then leaves out those needing none). One result per partition, with
   * the broker's error code (NONE when it was elected).
   */
  async electLeaders(type: 'preferred' | 'unclean', partitions: TopicPartitionRef[] | null, opts: AdminOptions = {}): Promise<Array<TopicPartitionRef & { errorCode: number; errorMessage: string | null }>> {
    const byTopic = new Map<string, number[]>();
    for (const p of partitions ?? []) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    const request: ElectLeadersRequest = {
      electionType: type === 'preferred' ? 0 : 1,
      topicPartitions: partitions === null ? null : [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })),
      timeoutMs: opts.timeoutMs ?? 30_000,
    };
    const res = await this.adminRequest<ElectLeadersResponse>(ApiKey.ElectLeaders, request, opts.timeoutMs);
    throwIfError(res.errorCode ?? ErrorCode.NONE, { api: 'ElectLeaders' });
    for (const p of partitions ?? []) this.topics.delete(p.topic);
    return res.replicaElectionResults.flatMap((t) => t.partitionResult.map((r) => ({ topic: t.topic, partition: r.partitionId, errorCode: r.errorCode, errorMessage: r.errorMessage })));
  }

  /**
   * AlterPartitionReassignments (KIP-455): moves each partition to `replicas`, or cancels its move
   * in progress with null. One result per partition with the broker's error code.
   */
  async alterPartitionReassignments(
    targets: Array<TopicPartitionRef & { replicas: number[] | null }>,
    opts: AdminOptions = {},
  ): Promise<Array<TopicPartitionRef & { errorCode: number; errorMessage: string | null }>> {
    const byTopic = new Map<string, Array<{ partitionIndex: number; replicas: number[] | null }>>();
    for (const t of targets) byTopic.set(t.topic, [...(byTopic.get(t.topic) ?? []), { partitionIndex: t.partition, replicas: t.replicas }]);
    const request: AlterPartitionReassignmentsRequest = { timeoutMs: opts.timeoutMs ?? 30_000, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) };
    const res = await this.adminRequest<AlterPartitionReassignmentsResponse>(ApiKey.AlterPartitionReassignments, request, opts.timeoutMs);
    throwIfError(res.errorCode, { api: 'AlterPartitionReassignments', errorMessage: res.errorMessage });
    for (const t of targets) this.topics.delete(t.topic);
    return res.responses.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, errorCode: p.errorCode, errorMessage: p.errorMessage })));
  }

  /** ListPartitionReassignments: the moves in progress (all, or among `partitions`). */
  async listPartitionReassignments(partitions: TopicPartitionRef[] | null = null): Promise<Array<TopicPartitionRef & { replicas: number[]; adding: number[]; removing: number[] }>> {
    const byTopic = new Map<string, number[]>();
    for (const p of partitions ?? []) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    const request: ListPartitionReassignmentsRequest = { timeoutMs: 30_000, topics: partitions === null ? null : [...byTopic].map(([name, partitionIndexes]) => ({ name, partitionIndexes })) };
    const res = await this.adminRequest<ListPartitionReassignmentsResponse>(ApiKey.ListPartitionReassignments, request);
    throwIfError(res.errorCode, { api: 'ListPartitionReassignments', errorMessage: res.errorMessage });
    return res.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas, adding: p.addingReplicas, removing: p.removingReplicas })));
  }

  /** A resource's configs (all, or only `keys`). */
  async describeConfigs(resource: ConfigResource, keys?: string[]): Promise<ConfigEntry[]> {
    const request: DescribeConfigsRequest = {
      resources: [{ resourceType: resource.type, resourceName: resource.name, configurationKeys: keys ?? null }],
      includeSynonyms: false,
      includeDocumentation: false,
    };
    const conn = await this.anyConnection();
    const res = await conn.send<DescribeConfigsResponse>(ApiKey.DescribeConfigs, request);
    const r = res.results[0];
    if (!r) throw missingInResponse('DescribeConfigs', describeResource(resource));
    throwIfError(r.errorCode, { api: 'DescribeConfigs', resource: describeResource(resource), errorMessage: r.errorMessage });
    return r.configs.map((c) => ({
      name: c.name,
      value: c.value,
      readOnly: c.readOnly,
      source: c.configSource ?? -1,
      isDefault: c.configSource !== undefined && c.configSource !== -1 ? c.configSource === ConfigSource.DEFAULT_CONFIG : !!c.isDefault,
      isSensitive: c.isSensitive,
    }));
  }

  /** Legacy AlterConfigs: REPLACES the resource's whole set of dynamic configs with `configs`. */
  async alterConfigs(resource: ConfigResource, configs: Record<string, string>, opts: AdminOptions = {}): Promise<void> {
    const request: AlterConfigsRequest = {
      resources: [{ resourceType: resource.type, resourceName: resource.name, configs: Object.entries(configs).map(([name, value]) => ({ name, value })) }],
      validateOnly: opts.validateOnly ?? false,
    };
    const res = await this.adminRequest<AlterConfigsResponse>(ApiKey.AlterConfigs, request, opts.timeoutMs);
    for (const r of res.responses) throwIfError(r.errorCode, { api: 'AlterConfigs', resource: describeResource(resource), errorMessage: r.errorMessage });
  }

  /** IncrementalAlterConfigs: sets, deletes, appends to or subtracts from single keys. */
  async incrementalAlterConfigs(resource: ConfigResource, ops: AlterConfigOp[], opts: AdminOptions = {}): Promise<void> {
    const request = incrementalAlterConfigsRequest(resource, ops, opts.validateOnly ?? false);
    const res = await this.adminRequest<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, request, opts.timeoutMs);
    for (const r of res.responses) throwIfError(r.errorCode, { api: 'IncrementalAlterConfigs', resource: describeResource(resource), errorMessage: r.errorMessage });
  }

  // ---------------------------------------------------------------- consumer groups

  /**
   * The broker coordinating a group (or, with keyType TRANSACTION, a transactional id). Group
   * coordinators are cached until one stops answering for its group. Waits (bounded) while the
   * broker answers COORDINATOR_NOT_AVAILABLE, as it does while it loads.
   */
  async findCoordinator(key: string, keyType: number = CoordinatorType.GROUP): Promise<BrokerInfo> {
    const resource = `${keyType === CoordinatorType.GROUP ? 'group' : 'transactional id'} '${key}'`;
    return this.retry(
      COORDINATOR_RETRIABLE,
      async () => {
        const conn = await this.anyConnection();
        const version = conn.version(ApiKey.FindCoordinator);
        const request: FindCoordinatorRequest = { key, keyType, coordinatorKeys: [key] };
        const res = await conn.send<FindCoordinatorResponse>(ApiKey.FindCoordinator, request);
        // v4 (KIP-699) answers per key in a list; earlier versions in top-level fields.
        const c =
          version >= 4
            ? res.coordinators?.find((x) => x.key === key)
            : { nodeId: res.nodeId ?? -1, host: res.host ?? '', port: res.port ?? -1, errorCode: res.errorCode ?? ErrorCode.NONE, errorMessage: res.errorMessage ?? null };
        if (!c) throw missingInResponse('FindCoordinator', resource);
        throwIfError(c.errorCode, { api: 'FindCoordinator', resource, errorMessage: c.errorMessage });
        const info: BrokerInfo = { nodeId: c.nodeId, host: c.host, port: c.port, rack: this.brokers.get(c.nodeId)?.rack ?? null };
        if (keyType === CoordinatorType.GROUP) this.coordinators.set(key, info);
        return info;
      },
      true,
    );
  }

  /** JoinGroup (held by the coordinator until the rebalance completes, up to the rebalance timeout). */
  async joinGroup(o: JoinGroupOptions): Promise<JoinGroupResult> {
    const res = await this.groupRequest<JoinGroupResponse>(
      o.groupId,
      ApiKey.JoinGroup,
      'JoinGroup',
      (version): JoinGroupRequest => {
        if (o.groupInstanceId && version < 5) throw new StrataError('API_UNSUPPORTED', `static membership (group.instance.id) needs JoinGroup v5; the broker speaks v${version}`);
        return {
          groupId: o.groupId,
          sessionTimeoutMs: o.sessionTimeoutMs,
          rebalanceTimeoutMs: o.rebalanceTimeoutMs,
          memberId: o.memberId,
          groupInstanceId: o.groupInstanceId ?? null,
          protocolType: o.protocolType,
          protocols: o.protocols,
          reason: o.reason ?? null,
        };
      },
      (r) => [r.errorCode],
      // As Kafka's consumer: the answer may take the whole rebalance timeout, plus a margin.
      { timeoutMs: Math.max(this.requestTimeoutMs, o.rebalanceTimeoutMs + 5_000) },
    );
    return {
      errorCode: res.errorCode,
      generationId: res.generationId ?? -1,
      protocolType: res.protocolType ?? null,
      protocolName: res.protocolName,
      leader: res.leader,
      skipAssignment: res.skipAssignment ?? false,
      memberId: res.memberId,
      members: res.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, metadata: m.metadata })),
    };
  }

  /** SyncGroup: the leader hands in the assignment; every member gets its own share back. */
  async syncGroup(o: SyncGroupOptions): Promise<SyncGroupResult> {
    const res = await this.groupRequest<SyncGroupResponse>(
      o.groupId,
      ApiKey.SyncGroup,
      'SyncGroup',
      (): SyncGroupRequest => ({
        groupId: o.groupId,
        generationId: o.generationId,
        memberId: o.memberId,
        groupInstanceId: o.groupInstanceId ?? null,
        protocolType: o.protocolType,
        protocolName: o.protocolName,
        assignments: o.assignments,
      }),
      (r) => [r.errorCode],
    );
    return { errorCode: res.errorCode, assignment: res.assignment };
  }

  /** Heartbeat; resolves to the error code (NONE, REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION...). */
  async heartbeat(o: { groupId: string; generationId: number; memberId: string; groupInstanceId?: string | null }): Promise<number> {
    const res = await this.groupRequest<HeartbeatResponse>(
      o.groupId,
      ApiKey.Heartbeat,
      'Heartbeat',
      (): HeartbeatRequest => ({ groupId: o.groupId, generationId: o.generationId, memberId: o.memberId, groupInstanceId: o.groupInstanceId ?? null }),
      (r) => [r.errorCode],
    );
    return res.errorCode;
  }

  /**
   * LeaveGroup for one or more members (v3+ batches them; before v3 only one member, by
   * member id). Resolves to the request's error code and each member's.
   */
  async leaveGroup(
    groupId: string,
    members: Array<{ memberId: string; groupInstanceId?: string | null; reason?: string | null }>,
  ): Promise<{ errorCode: number; members: Array<{ memberId: string; groupInstanceId: string | null; errorCode: number }> }> {
    const res = await this.groupRequest<LeaveGroupResponse>(
      groupId,
      ApiKey.LeaveGroup,
      'LeaveGroup',
      (version): LeaveGroupRequest => {
        if (version < 3 && (members.length !== 1 || members[0].groupInstanceId)) {
          throw new StrataError('API_UNSUPPORTED', `leaving with several members or by group.instance.id needs LeaveGroup v3; the broker speaks v${version}`);
        }
        return {
          groupId,
          memberId: members[0]?.memberId ?? '',
          members: members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId ?? null, reason: m.reason ?? null })),
        };
      },
      (r) => [r.errorCode],
    );
    return {
      errorCode: res.errorCode,
      members: (res.members ?? []).map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: m.errorCode })),
    };
  }

  /**
   * Every group on every broker (each broker lists the groups it coordinates), sorted by id.
   * `states` filters by Kafka's state names (needs ListGroups v4).
   */
  async listGroups(opts: { states?: string[] } = {}): Promise<GroupListing[]> {
    await this.metadata([]);
    const brokers = [...this.brokers.values()];
    const byId = new Map<string, GroupListing>();
    await Promise.all(
      brokers.map((b) =>
        this.retry(
          new Set([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE]),
          async () => {
            const conn = await this.connectionTo(b.host, b.port);
            const version = conn.version(ApiKey.ListGroups);
            if (opts.states?.length && version < 4) {
              throw new StrataError('API_UNSUPPORTED', `filtering groups by state needs ListGroups v4; the broker at ${conn.address} speaks v${version}`);
            }
            const request: ListGroupsRequest = { statesFilter: opts.states ?? [], typesFilter: [] };
            const res = await conn.send<ListGroupsResponse>(ApiKey.ListGroups, request);
            throwIfError(res.errorCode, { api: 'ListGroups', resource: `broker ${b.nodeId}` });
            for (const g of res.groups) byId.set(g.groupId, { groupId: g.groupId, protocolType: g.protocolType, state: version >= 4 ? (g.groupState ?? null) : null });
          },
          true,
        ),
      ),
    );
    return [...byId.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  }

  /**
   * Describes groups, in the order asked. A group the coordinator does not know is reported
   * as Kafka's classic coordinator does: state Dead, no members.
   */
  async describeGroups(groupIds: string[]): Promise<GroupDescription[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const res = await this.groupRequest<DescribeGroupsResponse>(
          groupId,
          ApiKey.DescribeGroups,
          'DescribeGroups',
          (): DescribeGroupsRequest => ({ groups: [groupId], includeAuthorizedOperations: false }),
          (r) => r.groups.map((g) => g.errorCode),
        );
        const coordinator = this.coordinators.get(groupId) ?? { nodeId: -1, host: '', port: -1, rack: null };
        const g = res.groups.find((x) => x.groupId === groupId);
        if (!g) throw missingInResponse('DescribeGroups', `group '${groupId}'`);
        if (g.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return { groupId, state: 'Dead', protocolType: '', protocol: '', members: [], coordinator };
        throwIfError(g.errorCode, { api: 'DescribeGroups', resource: `group '${groupId}'` });
        return {
          groupId,
          state: g.groupState,
          protocolType: g.protocolType,
          protocol: g.protocolData,
          coordinator,
          members: g.members.map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId ?? null,
            clientId: m.clientId,
            clientHost: m.clientHost,
            metadata: m.memberMetadata,
            assignment: m.memberAssignment,
          })),
        };
      }),
    );
  }

  /** Deletes groups (Kafka refuses non-empty ones with NON_EMPTY_GROUP); one result per group, in order. */
  async deleteGroups(groupIds: string[]): Promise<Array<{ groupId: string; error: KafkaResponseError | null }>> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        const res = await this.groupRequest<DeleteGroupsResponse>(
          groupId,
          ApiKey.DeleteGroups,
          'DeleteGroups',
          (): DeleteGroupsRequest => ({ groupsNames: [groupId] }),
          (r) => r.results.map((x) => x.errorCode),
        );
        const r = res.results.find((x) => x.groupId === groupId);
        if (!r) throw missingInResponse('DeleteGroups', `group '${groupId}'`);
        return { groupId, error: r.errorCode === ErrorCode.NONE ? null : new KafkaResponseError(r.errorCode, { api: 'DeleteGroups', resource: `group '${groupId}'` }) };
      }),
    );
  }

  /**
   * A group's committed offsets, for the given partitions or (null) all of them, sorted by
   * topic and partition. Partitions without a committed offset are left out, as is everything
   * of a group the coordinator does not know. `requireStable` (read_committed consumers) makes
   * the broker hold back offsets of open transactions; the call waits them out (bounded).
   */
  async offsetFetch(groupId: string, partitions: TopicPartitionRef[] | null, opts: { requireStable?: boolean } = {}): Promise<CommittedOffset[]> {
    const res = await this.groupRequest<OffsetFetchResponse>(
      groupId,
      ApiKey.OffsetFetch,
      'OffsetFetch',
      (version): OffsetFetchRequest => {
        if (partitions === null && version < 2) throw new StrataError('API_UNSUPPORTED', `fetching all of a group's offsets needs OffsetFetch v2; the broker speaks v${version}`);
        const topics = partitions === null ? null : [...byTopic(partitions)].map(([name, ps]) => ({ name, partitionIndexes: ps }));
        const requireStable = opts.requireStable ?? false;
        // v8 (KIP-709) asks for several groups at once; we ask for one.
        return version >= 8 ? { groups: [{ groupId, memberId: null, memberEpoch: -1, topics }], requireStable } : { groupId, topics, requireStable };
      },
      (r) => {
        const { errorCode, topics } = offsetFetchBody(r, groupId);
        // Before v2 a coordinator error comes back in every partition.
        return [errorCode, ...topics.flatMap((t) => t.partitions.map((p) => p.errorCode))];
      },
      { retriable: new Set([...COORDINATOR_RETRIABLE, ErrorCode.UNSTABLE_OFFSET_COMMIT]) },
    );
    const { errorCode, topics } = offsetFetchBody(res, groupId);
    if (errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return [];
    throwIfError(errorCode, { api: 'OffsetFetch', resource: `group '${groupId}'` });
    const out: CommittedOffset[] = [];
    for (const t of topics) {
      for (const p of t.partitions) {
        throwIfError(p.errorCode, { api: 'OffsetFetch', resource: `${t.name}-${p.partitionIndex}` });
        if (p.committedOffset < 0n) continue;
        out.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch ?? -1, metadata: p.metadata });
      }
    }
    return out.sort(compareTopicPartitions);
  }

  /**
   * Commits offsets for a group: as a member (its generation) or, without `member`, as an
   * admin commit, which the coordinator accepts only while the group has no members. Throws
   * the first partition's error (e.g. ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS).
   */
  async offsetCommit(groupId: string, offsets: OffsetToCommit[], member?: GroupMemberIdentity): Promise<void> {
    if (offsets.length === 0) return;
    const grouped = new Map<string, OffsetToCommit[]>();
    for (const o of offsets) grouped.set(o.topic, [...(grouped.get(o.topic) ?? []), o]);
    const res = await this.groupRequest<OffsetCommitResponse>(
      groupId,
      ApiKey.OffsetCommit,
      'OffsetCommit',
      (): OffsetCommitRequest => ({
        groupId,
        generationIdOrMemberEpoch: member?.generationId ?? -1,
        memberId: member?.memberId ?? '',
        groupInstanceId: member?.groupInstanceId ?? null,
        retentionTimeMs: -1n, // the broker's offsets.retention.minutes
        topics: [...grouped].map(([name, list]) => ({
          name,
          partitions: list.map((o) => ({
            partitionIndex: o.partition,
            committedOffset: o.offset,
            committedLeaderEpoch: o.leaderEpoch ?? -1,
            commitTimestamp: -1n,
            committedMetadata: o.metadata ?? '',
          })),
        })),
      }),
      (r) => r.topics.flatMap((t) => t.partitions.map((p) => p.errorCode)),
    );
    for (const t of res.topics) {
      for (const p of t.partitions) throwIfError(p.errorCode, { api: 'OffsetCommit', resource: `${t.name}-${p.partitionIndex}` });
    }
  }

  /**
   * Commits a group's offsets inside a producer's transaction (TxnOffsetCommit, at the group's
   * coordinator): they take effect when the transaction commits. The caller has added the group
   * to the transaction (AddOffsetsToTxn). Throws the first partition's error.
   */
  async txnOffsetCommit(groupId: string, txn: { transactionalId: string; producerId: bigint; producerEpoch: number }, offsets: OffsetToCommit[]): Promise<void> {
    if (offsets.length === 0) return;
    const grouped = new Map<string, OffsetToCommit[]>();
    for (const o of offsets) grouped.set(o.topic, [...(grouped.get(o.topic) ?? []), o]);
    const res = await this.groupRequest<TxnOffsetCommitResponse>(
      groupId,
      ApiKey.TxnOffsetCommit,
      'TxnOffsetCommit',
      (): TxnOffsetCommitRequest => ({
        transactionalId: txn.transactionalId,
        groupId,
        producerId: txn.producerId,
        producerEpoch: txn.producerEpoch,
        generationId: -1,
        memberId: '',
        groupInstanceId: null,
        topics: [...grouped].map(([name, list]) => ({
          name,
          partitions: list.map((o) => ({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: o.leaderEpoch ?? -1, committedMetadata: o.metadata ?? '' })),
        })),
      }),
      (r) => r.topics.flatMap((t) => t.partitions.map((p) => p.errorCode)),
      { retriable: TXN_OFFSET_COMMIT_RETRIABLE },
    );
    for (const t of res.topics) {
      for (const p of t.partitions) throwIfError(p.errorCode, { api: 'TxnOffsetCommit', resource: `${t.name}-${p.partitionIndex}` });
    }
  }

  /**
   * Deletes a group's committed offsets (OffsetDelete, KIP-496). A request-level refusal
   * (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP...) throws; partition-level ones (e.g.
   * GROUP_SUBSCRIBED_TO_TOPIC) are returned per partition, sorted.
   */
  async offsetDelete(groupId: string, partitions: TopicPartitionRef[]): Promise<PartitionError[]> {
    const res = await this.groupRequest<OffsetDeleteResponse>(
      groupId,
      ApiKey.OffsetDelete,
      'OffsetDelete',
      (): OffsetDeleteRequest => ({ groupId, topics: [...byTopic(partitions)].map(([name, ps]) => ({ name, partitions: ps.map((partitionIndex) => ({ partitionIndex })) })) }),
      (r) => [r.errorCode],
    );
    throwIfError(res.errorCode, { api: 'OffsetDelete', resource: `group '${groupId}'` });
    const out: PartitionError[] = [];
    for (const t of res.topics) {
      for (const p of t.partitions) {
        out.push({
          topic: t.name,
          partition: p.partitionIndex,
          error: p.errorCode === ErrorCode.NONE ? null : new KafkaResponseError(p.errorCode, { api: 'OffsetDelete', resource: `${t.name}-${p.partitionIndex}` }),
        });
      }
    }
    return out.sort(compareTopicPartitions);
  }

  /**
   * Sends a request to a group's coordinator (found and cached on first use). When the answer
   * carries one of `retriable` (by default: the coordinator moved, is unavailable or still
   * loading), the coordinator is looked up again and the request repeated, bounded like every
   * retry here. `build` gets the negotiated version, since layouts differ between versions.
   */
  private async groupRequest<T>(
    groupId: string,
    apiKey: number,
    api: string,
    build: (version: number) => unknown,
    codes: (res: T) => number[],
    opts: { timeoutMs?: number; retriable?: ReadonlySet<number> } = {},
  ): Promise<T> {
    const retriable = opts.retriable ?? COORDINATOR_RETRIABLE;
    return this.retry(
      retriable,
      async () => {
        const coordinator = this.coordinators.get(groupId) ?? (await this.findCoordinator(groupId));
        let res: T;
        try {
          const conn = await this.connectionTo(coordinator.host, coordinator.port);
          res = await conn.send<T>(apiKey, build(conn.version(apiKey)), { timeoutMs: opts.timeoutMs });
        } catch (err) {
          this.coordinators.delete(groupId);
          throw err;
        }
        const code = codes(res).find((c) => retriable.has(c));
        if (code !== undefined) {
          if (code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_NOT_AVAILABLE) this.coordinators.delete(groupId);
          throw new KafkaResponseError(code, { api, resource: `group '${groupId}'` });
        }
        return res;
      },
      true,
    );
  }

  /**
   * For admin modules beside this file that route their own requests (transactionsAdmin.ts):
   * the connection to broker `nodeId` as metadata names it (metadata is fetched again once
   * when the id is unknown), or to any broker when `nodeId` is omitted. The client keeps
   * owning the connection: close() closes it.
   */
  async brokerConnection(nodeId?: number): Promise<KafkaConnection> {
    if (nodeId === undefined) return this.anyConnection();
    if (!this.brokers.has(nodeId)) await this.metadata([]);
    const b = this.brokers.get(nodeId);
    if (!b) throw new StrataError('NOT_FOUND', `broker ${nodeId} is not in the cluster (brokers: ${[...this.brokers.keys()].sort((x, y) => x - y).join(', ') || 'none'})`);
    return this.connectionTo(b.host, b.port);
  }

  /** Closes every connection; in-flight requests fail with StrataError('CLOSED'). */
  async close(): Promise<void> {
    this.closed = true;
    const conns = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(conns.map((p) => p.then((c) => c.close(), () => undefined)));
  }

  // ---------------------------------------------------------------- internals

  private clusterInfo(): ClusterInfo {
    return { clusterId: this.clusterId, controllerId: this.controllerId, brokers: [...this.brokers.values()].sort((a, b) => a.nodeId - b.nodeId) };
  }

  /**
   * Runs `attempt`, retrying KafkaResponseErrors whose code is in `retriable` with doubling
   * backoff. Reads also retry a lost connection (`reconnect`): repeating them is harmless,
   * whereas a produce whose connection dropped may have been appended already.
   */
  private async retry<T>(retriable: ReadonlySet<number>, attempt: () => Promise<T>, reconnect = false): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        const lostConnection = err instanceof StrataError && err.code === 'CONNECTION_FAILED';
        // A broker that cannot be reached may no longer lead what the cache says: look again next time.
        if (lostConnection) this.invalidateAll();
        const again = err instanceof KafkaResponseError ? retriable.has(err.errorCode) : reconnect && lostConnection;
        if (!again || i >= this.retries || this.closed) throw err;
        if (!(err instanceof KafkaResponseError) || REFRESH_METADATA.has(err.errorCode)) this.invalidateAll();
        await delay(this.retryBackoffMs * 2 ** i);
      }
    }
  }

  private onPartitionError(topic: string, code: number): void {
    if (REFRESH_METADATA.has(code)) this.topics.delete(topic);
  }

  private invalidateAll(): void {
    this.topics.clear();
  }

  /** Admin requests go to the controller when known (any broker forwards in KRaft-style clusters). */
  private async adminRequest<T>(apiKey: number, request: unknown, timeoutMs?: number): Promise<T> {
    return this.retry(new Set([ErrorCode.NOT_CONTROLLER]), async () => {
      let conn: KafkaConnection | undefined;
      const controller = this.brokers.get(this.controllerId);
      if (controller) {
        try {
          conn = await this.connectionTo(controller.host, controller.port);
        } catch {
          conn = undefined;
        }
      }
      conn ??= await this.anyConnection();
      const res = await conn.send<T>(apiKey, request, { timeoutMs: this.requestTimeoutMs + (timeoutMs ?? 30_000) });
      // A NOT_CONTROLLER anywhere means "ask again elsewhere": refresh who the controller is.
      const lists = res as { topics?: Array<{ errorCode: number }>; responses?: Array<{ errorCode: number }>; results?: Array<{ errorCode: number }> };
      const items = lists.topics ?? lists.responses ?? lists.results ?? [];
      if (items.some((x) => x.errorCode === ErrorCode.NOT_CONTROLLER)) {
        await this.metadata([]);
        throw new KafkaResponseError(ErrorCode.NOT_CONTROLLER, { api: 'admin request' });
      }
      return res;
    });
  }

  /** The connection to a partition's leader, refreshing metadata when the leader is unknown. */
  private async leaderConnection(topic: string, partition: number, allowAutoTopicCreation: boolean): Promise<KafkaConnection> {
    const info = await this.lookupTopic(topic, { allowAutoTopicCreation });
    const p = info.partitions.find((x) => x.partition === partition);
    const resource = `${topic}-${partition}`;
    if (!p) {
      this.topics.delete(topic);
      throw new KafkaResponseError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, { api: 'Metadata', resource, errorMessage: `topic '${topic}' has ${info.partitions.length} partition(s)` });
    }
    const leader = this.brokers.get(p.leader);
    if (p.leader < 0 || !leader) {
      this.topics.delete(topic);
      throw new KafkaResponseError(p.errorCode !== ErrorCode.NONE ? p.errorCode : ErrorCode.LEADER_NOT_AVAILABLE, { api: 'Metadata', resource });
    }
    return this.connectionTo(leader.host, leader.port);
  }

  /** Any live connection, else the first bootstrap server (then known broker) that answers. */
  private async anyConnection(): Promise<KafkaConnection> {
    if (this.closed) throw new StrataError('CLOSED', 'the client is closed');
    for (const p of this.connections.values()) {
      const c = await p.catch(() => undefined);
      if (c && !c.closed) return c;
    }
    let firstError: unknown;
    const candidates = [...this.bootstrap, ...[...this.brokers.values()].map((b) => ({ host: b.host, port: b.port }))];
    for (const { host, port } of candidates) {
      try {
        return await this.connectionTo(host, port);
      } catch (err) {
        firstError ??= err;
      }
    }
    throw firstError;
  }

  private connectionTo(host: string, port: number): Promise<KafkaConnection> {
    if (this.closed) return Promise.reject(new StrataError('CLOSED', 'the client is closed'));
    const key = `${host}:${port}`;
    const existing = this.connections.get(key);
    if (existing) return existing;
    const p = KafkaConnection.connect({
      host,
      port,
      clientId: this.clientId,
      requestTimeoutMs: this.requestTimeoutMs,
      connectTimeoutMs: this.connectTimeoutMs,
      security: this.security,
    });
    this.connections.set(key, p);
    p.then(
      (conn) => {
        conn.onClose(() => {
          if (this.connections.get(key) === p) this.connections.delete(key);
        });
        if (this.closed) conn.close();
      },
      () => {
        if (this.connections.get(key) === p) this.connections.delete(key);
      },
    );
    return p;
  }
}

/** Parses 'host:port' (IPv6 as '[::1]:9092'); the port defaults to 9092. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  const port = m?.[2] === undefined ? 9092 : Number(m[2]);
  if (!m || !m[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new StrataError('CONFIG_INVALID', `'${s}' is not a valid host:port`);
  }
  return { host: m[1], port };
}

function missingInResponse(api: string, resource: string): StrataError {
  return new StrataError('PROTOCOL_MALFORMED', `the ${api} response has no entry for ${resource}`);
}

function describeResource(r: ConfigResource): string {
  return r.type === ConfigResourceType.TOPIC ? `topic '${r.name}'` : r.type === ConfigResourceType.BROKER ? `broker '${r.name}'` : `resource ${r.type}:'${r.name}'`;
}

/** Partitions grouped by topic, in first-seen topic order. */
function byTopic(partitions: TopicPartitionRef[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    const list = out.get(topic);
    if (list) list.push(partition);
    else out.set(topic, [partition]);
  }
  return out;
}

function compareTopicPartitions(a: TopicPartitionRef, b: TopicPartitionRef): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}

/** OffsetFetch's answer for one group, whichever layout the version used (v8+ nests it per group). */
function offsetFetchBody(
  r: OffsetFetchResponse,
  groupId: string,
): { errorCode: number; topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; committedOffset: bigint; committedLeaderEpoch?: number; metadata: string | null; errorCode: number }> }> } {
  const g = r.groups?.find((x) => x.groupId === groupId);
  if (g) return { errorCode: g.errorCode ?? ErrorCode.NONE, topics: g.topics };
  return { errorCode: r.errorCode ?? ErrorCode.NONE, topics: r.topics ?? [] };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
