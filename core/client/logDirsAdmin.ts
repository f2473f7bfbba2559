import { StrataError, isStrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { ApiKey } from '../protocol/generated/index';
import type { DescribeLogDirsRequest } from '../protocol/generated/DescribeLogDirsRequest';
import type { DescribeLogDirsResponse } from '../protocol/generated/DescribeLogDirsResponse';
import type { StrataClient } from './client';
import type { KafkaConnection } from './connection';
import { KafkaResponseError } from './errors';

/**
 * The operator's view of brokers' log directories, as Kafka's Admin.describeLogDirs offers it
 * to kafka-log-dirs.sh (KIP-113): DescribeLogDirs (35) to each broker asked, through a
 * StrataClient's connections, at the negotiated version (v4, Kafka 3.3+, adds each volume's
 * total and usable bytes).
 *
 * As the Java admin: one request per broker for every partition (topics null) unless a list is
 * given; a broker whose answer lists no directory failed as a whole, with the answer's error
 * code (v3+), or CLUSTER_AUTHORIZATION_FAILED before v3 (which had no top-level code); a
 * directory's own error (KAFKA_STORAGE_ERROR: offline) is part of its description.
 */

/** One partition's replica in a log directory (Kafka's ReplicaInfo). */
export interface ReplicaInfo {
  topic: string;
  partition: number;
  /** Bytes of the replica's local log segments. */
  size: bigint;
  /** How far the log end offset is behind the high watermark (current replica) or the current replica's (future one); 0 on a leader. */
  offsetLag: bigint;
  /** Whether it is a future replica being moved here by AlterReplicaLogDirs. */
  isFuture: boolean;
}

/** One log directory of a broker (Kafka's LogDirDescription). */
export interface LogDirDescription {
  /** The absolute path, as the broker reports it. */
  logDir: string;
  /** The directory's error (KAFKA_STORAGE_ERROR: offline), or null. */
  error: KafkaResponseError | null;
  /** Sorted by topic, then partition. */
  replicas: ReplicaInfo[];
  /** The volume's size in bytes; null when the broker does not say (before v4, or offline). */
  totalBytes: bigint | null;
  /** Bytes still usable on the volume; null when the broker does not say. */
  usableBytes: bigint | null;
}

/** A broker's log directories, or why they could not be described. */
export interface BrokerLogDirs {
  brokerId: number;
  logDirs: LogDirDescription[];
  error: StrataError | null;
}

export interface DescribeLogDirsOptions {
  /** Only these partitions (the broker leaves out those it does not hold); omitted or null: every partition. */
  topics?: { topic: string; partitions: number[] }[] | null;
}

export class LogDirsAdmin {
  /** Uses `client`'s connections and metadata; closing the client is the caller's business. */
  constructor(private readonly client: StrataClient) {}

  /** The ids of the brokers in the cluster, sorted (what describeLogDirs is usually asked about). */
  async brokerIds(): Promise<number[]> {
    const { cluster } = await this.client.metadata([]);
    return cluster.brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  }

  /**
   * Describes the log directories of each broker in `brokerIds`, asked in parallel, one result
   * per broker in the order asked. A broker that cannot be reached or refuses the request as a
   * whole has its `error` set; nothing else throws.
   */
  async describeLogDirs(brokerIds: number[], opts: DescribeLogDirsOptions = {}): Promise<BrokerLogDirs[]> {
    const request: DescribeLogDirsRequest = { topics: opts.topics ?? null };
    return Promise.all(
      [...new Set(brokerIds)].map(async (brokerId): Promise<BrokerLogDirs> => {
        try {
          const conn = await this.client.brokerConnection(brokerId);
          return { brokerId, logDirs: describeFrom(await send(conn, request), brokerId), error: null };
        } catch (err) {
          if (!isStrataError(err)) throw err;
          return { brokerId, logDirs: [], error: err };
        }
      }),
    );
  }
}

function send(conn: KafkaConnection, request: DescribeLogDirsRequest): Promise<DescribeLogDirsResponse> {
  return conn.send<DescribeLogDirsResponse>(ApiKey.DescribeLogDirs, request);
}

/** Kafka's KafkaAdminClient.logDirDescriptions, with its rule for an answer without directories. */
function describeFrom(res: DescribeLogDirsResponse, brokerId: number): LogDirDescription[] {
  if (res.results.length === 0) {
    const code = (res.errorCode ?? ErrorCode.NONE) === ErrorCode.NONE ? ErrorCode.CLUSTER_AUTHORIZATION_FAILED : res.errorCode!;
    throw new KafkaResponseError(code, { api: 'DescribeLogDirs', resource: `broker ${brokerId}` });
  }
  return res.results.map((r) => ({
    logDir: r.logDir,
    error: r.errorCode === ErrorCode.NONE ? null : new KafkaResponseError(r.errorCode, { api: 'DescribeLogDirs', resource: `log dir ${r.logDir} of broker ${brokerId}` }),
    replicas: r.topics
      .flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, size: p.partitionSize, offsetLag: p.offsetLag, isFuture: p.isFutureKey })))
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)),
    totalBytes: r.totalBytes === undefined || r.totalBytes < 0n ? null : r.totalBytes,
    usableBytes: r.usableBytes === undefined || r.usableBytes < 0n ? null : r.usableBytes,
  }));
}
