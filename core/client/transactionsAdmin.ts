import { StrataError, isStrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { ApiKey } from '../protocol/generated/index';
import type { DescribeProducersRequest } from '../protocol/generated/DescribeProducersRequest';
import type { DescribeProducersResponse } from '../protocol/generated/DescribeProducersResponse';
import type { DescribeTransactionsRequest } from '../protocol/generated/DescribeTransactionsRequest';
import type { DescribeTransactionsResponse } from '../protocol/generated/DescribeTransactionsResponse';
import type { FindCoordinatorRequest } from '../protocol/generated/FindCoordinatorRequest';
import type { FindCoordinatorResponse } from '../protocol/generated/FindCoordinatorResponse';
import type { ListTransactionsRequest } from '../protocol/generated/ListTransactionsRequest';
import type { ListTransactionsResponse } from '../protocol/generated/ListTransactionsResponse';
import type { WriteTxnMarkersRequest } from '../protocol/generated/WriteTxnMarkersRequest';
import type { WriteTxnMarkersResponse } from '../protocol/generated/WriteTxnMarkersResponse';
import { CoordinatorType, StrataClient, type MetadataSnapshot, type TopicPartitionRef } from './client';
import type { KafkaConnection } from './connection';
import { KafkaResponseError } from './errors';

/**
 * The operator's view of transactions, as Kafka's Admin offers it to kafka-transactions.sh
 * (KIP-664): list and describe transactions at their coordinators, describe the producers a
 * partition's leader tracks, abort a transaction left open on a partition (a hanging one) and
 * find those. It routes its requests itself through a StrataClient's connections:
 *
 *   listTransactions      ListTransactions (66) to every broker, answers merged
 *   describeTransactions  FindCoordinator (10, key type 1; v4+ batches keys), then
 *                         DescribeTransactions (65) to each coordinator for its ids
 *   describeProducers     DescribeProducers (61) to each partition's leader (or one broker)
 *   abortTransaction      WriteTxnMarkers (27) with one ABORT marker, to the partition's leader
 *
 * Versions are the negotiated ones (a Kafka 3.9 broker: FindCoordinator 0-6, DescribeProducers
 * 0, DescribeTransactions 0, ListTransactions 0-1, WriteTxnMarkers 0-1). Answers meaning "ask
 * again" (the coordinator moved or is loading, the leader moved) are retried a bounded number
 * of times with doubling backoff, after finding the coordinator or the leader again.
 */

/** The requests sent here, request → response, so that the compiler checks every call. */
interface TxnApis {
  [ApiKey.FindCoordinator]: { request: FindCoordinatorRequest; response: FindCoordinatorResponse };
  [ApiKey.ListTransactions]: { request: ListTransactionsRequest; response: ListTransactionsResponse };
  [ApiKey.DescribeTransactions]: { request: DescribeTransactionsRequest; response: DescribeTransactionsResponse };
  [ApiKey.DescribeProducers]: { request: DescribeProducersRequest; response: DescribeProducersResponse };
  [ApiKey.WriteTxnMarkers]: { request: WriteTxnMarkersRequest; response: WriteTxnMarkersResponse };
}

/** Sends one request at the negotiated version; `build` gets that version, since layouts differ. */
function send<K extends keyof TxnApis>(conn: KafkaConnection, apiKey: K, build: (version: number) => TxnApis[K]['request']): Promise<TxnApis[K]['response']> {
  let request: TxnApis[K]['request'];
  try {
    request = build(conn.version(apiKey));
  } catch (err) {
    return Promise.reject(err);
  }
  return conn.send<TxnApis[K]['response']>(apiKey, request);
}

export interface TransactionsAdminOptions {
  /** Attempts after the first for answers that mean "ask again". Default 5. */
  retries?: number;
  /** First retry delay; doubles per attempt. Default 50 ms. */
  retryBackoffMs?: number;
}

export interface ListTransactionsOptions {
  /** Kafka's state names (Ongoing, PrepareCommit, ...); empty or omitted: every state. */
  states?: string[];
  /** Only these producer ids; empty or omitted: every producer. */
  producerIds?: bigint[];
  /** Only transactions running longer than this (KIP-994, ListTransactions v1, Kafka 3.8+); omitted or negative: all. */
  durationFilterMs?: number | bigint;
}

export interface TransactionListing {
  transactionalId: string;
  producerId: bigint;
  /** Kafka's state name: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, PrepareEpochFence... */
  state: string;
  /** The broker that listed it: the transactional id's coordinator. */
  coordinatorId: number;
}

export interface TransactionDescription {
  transactionalId: string;
  coordinatorId: number;
  state: string;
  producerId: bigint;
  producerEpoch: number;
  transactionTimeoutMs: number;
  /** When the current transaction started; null when none is open. */
  transactionStartTimeMs: bigint | null;
  /** The partitions in the open transaction (while completing: those still without a marker), sorted. */
  topicPartitions: TopicPartitionRef[];
}

/** One transactional id's outcome in `describeTransactions`: a description or an error (e.g. TRANSACTIONAL_ID_NOT_FOUND). */
export interface TransactionDescriptionResult {
  transactionalId: string;
  description: TransactionDescription | null;
  error: KafkaResponseError | null;
}

/** A producer a partition leader keeps state for (DescribeProducers); -1 marks an absent value, as on the wire. */
export interface ProducerState {
  producerId: bigint;
  producerEpoch: number;
  lastSequence: number;
  lastTimestamp: bigint;
  /** The epoch of the coordinator that wrote this producer's last marker; -1 when none has. */
  coordinatorEpoch: number;
  /** First offset of the producer's open transaction on the partition; -1n when none is open. */
  currentTxnStartOffset: bigint;
}

/** One partition's outcome in `describeProducers`: its producers or an error. */
export interface PartitionProducers extends TopicPartitionRef {
  activeProducers: ProducerState[];
  error: KafkaResponseError | null;
}

export interface DescribeProducersOptions {
  /** Ask this broker (a replica) instead of each partition's leader. */
  brokerId?: number;
}

/** Kafka's AbortTransactionSpec: which producer's open transaction to end on which partition. */
export interface AbortTransactionSpec extends TopicPartitionRef {
  producerId: bigint;
  producerEpoch: number;
  /** The coordinator epoch the marker claims; the leader refuses one older than it has seen (TRANSACTION_COORDINATOR_FENCED). */
  coordinatorEpoch: number;
}

export interface FindHangingOptions {
  /** Search the partitions this broker is a replica of (asking that broker). */
  brokerId?: number;
  /** Search this topic's partitions (or, with `partition`, one of them). */
  topic?: string;
  partition?: number;
  /** A transaction open longer than this cannot be within any producer's timeout. Default 15 minutes (transaction.max.timeout.ms). */
  maxTransactionTimeoutMs?: number;
  /** The current time; default Date.now(). */
  nowMs?: number;
}

/** An open transaction on a partition that no coordinator will complete. */
export interface HangingTransaction extends TopicPartitionRef, ProducerState {}

export const DEFAULT_MAX_TRANSACTION_TIMEOUT_MS = 15 * 60_000;

/** Partitions per DescribeProducers request, as kafka-transactions.sh batches them. */
const MAX_PARTITIONS_PER_REQUEST = 500;

/** Answers that mean "find the coordinator again, then retry". */
const COORDINATOR_MOVED = new Set<number>([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE]);
const COORDINATOR_RETRIABLE = new Set<number>([...COORDINATOR_MOVED, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);

/** Partition answers after which fresh metadata may name the right leader. */
const LEADER_MOVED = new Set<number>([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.BROKER_NOT_AVAILABLE,
]);

export class TransactionsAdmin {
  private readonly retries: number;
  private readonly retryBackoffMs: number;

  /** Uses `client`'s connections and metadata; closing the client is the caller's business. */
  constructor(
    private readonly client: StrataClient,
    opts: TransactionsAdminOptions = {},
  ) {
    this.retries = opts.retries ?? 5;
    this.retryBackoffMs = opts.retryBackoffMs ?? 50;
  }

  // ---------------------------------------------------------------- ListTransactions

  /**
   * Every transactional id every broker coordinates (each lists its own), filtered as asked,
   * sorted by coordinator then id. A broker still loading its transaction state is asked
   * again (bounded); any other refusal throws.
   */
  async listTransactions(opts: ListTransactionsOptions = {}): Promise<TransactionListing[]> {
    const durationFilter = opts.durationFilterMs === undefined ? -1n : BigInt(opts.durationFilterMs);
    const { cluster } = await this.client.metadata([]);
    const out: TransactionListing[] = [];
    await Promise.all(
      cluster.brokers.map((b) =>
        this.retry(new Set([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]), async () => {
          const conn = await this.client.brokerConnection(b.nodeId);
          const res = await send(conn, ApiKey.ListTransactions, (version) => {
            if (durationFilter >= 0n && version < 1) {
              throw new StrataError('API_UNSUPPORTED', `filtering transactions by duration needs ListTransactions v1 (Kafka 3.8+); the broker at ${conn.address} speaks v${version}`);
            }
            return { stateFilters: opts.states ?? [], producerIdFilters: opts.producerIds ?? [], durationFilter };
          });
          if (res.errorCode !== ErrorCode.NONE) throw new KafkaResponseError(res.errorCode, { api: 'ListTransactions', resource: `broker ${b.nodeId}` });
          for (const t of res.transactionStates) out.push({ transactionalId: t.transactionalId, producerId: t.producerId, state: t.transactionState, coordinatorId: b.nodeId });
        }),
      ),
    );
    return out.sort((a, b) => a.coordinatorId - b.coordinatorId || compareStrings(a.transactionalId, b.transactionalId));
  }

  // ---------------------------------------------------------------- DescribeTransactions

  /**
   * Describes transactional ids at their coordinators, one result per id in the order asked.
   * An id's refusal (TRANSACTIONAL_ID_NOT_FOUND, an authorization failure...) is its `error`;
   * ids whose coordinator moved or is loading are routed again (bounded). Only failures of a
   * whole request after the retries (no broker reachable, no answer in time) throw.
   */
  async describeTransactions(transactionalIds: string[]): Promise<TransactionDescriptionResult[]> {
    const results = new Map<string, TransactionDescriptionResult>();
    const fail = (id: string, code: number, api: string, errorMessage: string | null = null): void => {
      results.set(id, { transactionalId: id, description: null, error: new KafkaResponseError(code, { api, resource: `transactional id '${id}'`, errorMessage }) });
    };
    let pending = [...new Set(transactionalIds)];
    for (let attempt = 0; pending.length > 0; attempt++) {
      const last = attempt >= this.retries;
      const again: string[] = [];
      const retryOrFail = (id: string, code: number, api: string, errorMessage: string | null = null): void => {
        if (!last && COORDINATOR_RETRIABLE.has(code)) again.push(id);
        else fail(id, code, api, errorMessage);
      };

      const byCoordinator = new Map<number, string[]>();
      let coordinators: Map<string, { nodeId: number; errorCode: number; errorMessage: string | null }>;
      try {
        coordinators = await this.findTransactionCoordinators(pending);
      } catch (err) {
        if (last || !isStrataError(err, 'CONNECTION_FAILED')) throw err;
        await this.backoff(attempt);
        continue;
      }
      for (const id of pending) {
        const c = coordinators.get(id);
        if (!c) throw missingInResponse('FindCoordinator', `transactional id '${id}'`);
        if (c.errorCode !== ErrorCode.NONE) retryOrFail(id, c.errorCode, 'FindCoordinator', c.errorMessage);
        else byCoordinator.set(c.nodeId, [...(byCoordinator.get(c.nodeId) ?? []), id]);
      }

      await Promise.all(
        [...byCoordinator].map(async ([nodeId, ids]) => {
          let res: DescribeTransactionsResponse;
          try {
            const conn = await this.client.brokerConnection(nodeId);
            res = await send(conn, ApiKey.DescribeTransactions, () => ({ transactionalIds: ids }));
          } catch (err) {
            if (!last && isStrataError(err, 'CONNECTION_FAILED')) {
              again.push(...ids);
              return;
            }
            throw err;
          }
          for (const id of ids) {
            const s = res.transactionStates.find((x) => x.transactionalId === id);
            if (!s) throw missingInResponse('DescribeTransactions', `transactional id '${id}'`);
            if (s.errorCode !== ErrorCode.NONE) {
              retryOrFail(id, s.errorCode, 'DescribeTransactions');
              continue;
            }
            const topicPartitions = s.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition }))).sort(compareTopicPartitions);
            results.set(id, {
              transactionalId: id,
              error: null,
              description: {
                transactionalId: id,
                coordinatorId: nodeId,
                state: s.transactionState,
                producerId: s.producerId,
                producerEpoch: s.producerEpoch,
                transactionTimeoutMs: s.transactionTimeoutMs,
                transactionStartTimeMs: s.transactionStartTimeMs < 0n ? null : s.transactionStartTimeMs,
                topicPartitions,
              },
            });
          }
        }),
      );
      if (again.length > 0) await this.backoff(attempt);
      pending = again;
    }
    return transactionalIds.map((id) => results.get(id)!);
  }

  /**
   * Each id's coordinator by FindCoordinator with key type TRANSACTION: one request for all
   * ids from v4 (KIP-699), one per id before. v0 has no key type, so it cannot ask.
   */
  private async findTransactionCoordinators(ids: string[]): Promise<Map<string, { nodeId: number; errorCode: number; errorMessage: string | null }>> {
    const conn = await this.client.brokerConnection();
    const version = conn.version(ApiKey.FindCoordinator);
    if (version < 1) throw new StrataError('API_UNSUPPORTED', `finding transaction coordinators needs FindCoordinator v1; the broker at ${conn.address} speaks v0`);
    const out = new Map<string, { nodeId: number; errorCode: number; errorMessage: string | null }>();
    if (version >= 4) {
      const res = await send(conn, ApiKey.FindCoordinator, () => ({ keyType: CoordinatorType.TRANSACTION, coordinatorKeys: ids }));
      for (const c of res.coordinators ?? []) out.set(c.key, { nodeId: c.nodeId, errorCode: c.errorCode, errorMessage: c.errorMessage });
      return out;
    }
    await Promise.all(
      ids.map(async (key) => {
        const res = await send(conn, ApiKey.FindCoordinator, () => ({ key, keyType: CoordinatorType.TRANSACTION }));
        out.set(key, { nodeId: res.nodeId ?? -1, errorCode: res.errorCode ?? ErrorCode.NONE, errorMessage: res.errorMessage ?? null });
      }),
    );
    return out;
  }

  // ---------------------------------------------------------------- DescribeProducers

  /** The producers each of a topic's `partitions` has state for, at its leader (or `brokerId`), sorted by partition. */
  async describeProducers(topic: string, partitions: number[], opts: DescribeProducersOptions = {}): Promise<PartitionProducers[]> {
    return this.describeProducersOf(
      partitions.map((partition) => ({ topic, partition })),
      opts,
    );
  }

  /**
   * DescribeProducers for partitions of any topics: one request per broker (at most 500
   * partitions each), sent in parallel. A partition's refusal is its `error`, not a throw;
   * partitions whose leader moved are routed again (bounded) unless `brokerId` pins the broker.
   */
  async describeProducersOf(targets: TopicPartitionRef[], opts: DescribeProducersOptions = {}): Promise<PartitionProducers[]> {
    const done: PartitionProducers[] = [];
    const fail = (t: TopicPartitionRef, code: number, errorMessage: string | null = null): void => {
      done.push({ ...t, activeProducers: [], error: new KafkaResponseError(code, { api: 'DescribeProducers', resource: `${t.topic}-${t.partition}`, errorMessage }) });
    };
    const seen = new Set<string>();
    let pending = targets.filter((t) => {
      const key = `${t.partition}:${t.topic}`;
      return seen.has(key) ? false : (seen.add(key), true);
    });
    for (let attempt = 0; pending.length > 0; attempt++) {
      const last = attempt >= this.retries;
      const again: TopicPartitionRef[] = [];
      const retryOrFail = (t: TopicPartitionRef, code: number, errorMessage: string | null = null): void => {
        // A pinned broker is the user's choice: another attempt would ask the same broker.
        if (!last && opts.brokerId === undefined && LEADER_MOVED.has(code)) again.push(t);
        else fail(t, code, errorMessage);
      };

      const md = await this.metadataWithRetry([...new Set(pending.map((t) => t.topic))], attempt);
      if (!md) continue;
      const byBroker = new Map<number, TopicPartitionRef[]>();
      for (const t of pending) {
        const info = md.topics.get(t.topic);
        const topicError = md.topicErrors.get(t.topic);
        if (!info) {
          if (topicError === undefined || topicError === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) fail(t, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${t.topic}' does not exist`);
          else retryOrFail(t, topicError);
          continue;
        }
        const p = info.partitions.find((x) => x.partition === t.partition);
        if (!p) {
          fail(t, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${t.topic}' has ${info.partitions.length} partition(s), 0 to ${info.partitions.length - 1}`);
          continue;
        }
        const node = opts.brokerId ?? p.leader;
        if (opts.brokerId === undefined && (p.leader < 0 || !md.cluster.brokers.some((b) => b.nodeId === p.leader))) {
          retryOrFail(t, p.errorCode !== ErrorCode.NONE ? p.errorCode : ErrorCode.LEADER_NOT_AVAILABLE);
          continue;
        }
        byBroker.set(node, [...(byBroker.get(node) ?? []), t]);
      }

      const requests = [...byBroker].flatMap(([node, list]) => chunks(list, MAX_PARTITIONS_PER_REQUEST).map((chunk) => [node, chunk] as const));
      await Promise.all(
        requests.map(async ([node, list]) => {
          let res: DescribeProducersResponse;
          try {
            const conn = await this.client.brokerConnection(node);
            res = await send(conn, ApiKey.DescribeProducers, () => ({
              topics: [...new Set(list.map((t) => t.topic))].map((name) => ({ name, partitionIndexes: list.filter((t) => t.topic === name).map((t) => t.partition) })),
            }));
          } catch (err) {
            if (!last && isStrataError(err, 'CONNECTION_FAILED')) {
              again.push(...list);
              return;
            }
            throw err;
          }
          for (const t of list) {
            const r = res.topics.find((x) => x.name === t.topic)?.partitions.find((x) => x.partitionIndex === t.partition);
            if (!r) throw missingInResponse('DescribeProducers', `${t.topic}-${t.partition}`);
            if (r.errorCode !== ErrorCode.NONE) {
              retryOrFail(t, r.errorCode, r.errorMessage ?? null);
              continue;
            }
            done.push({
              ...t,
              error: null,
              activeProducers: r.activeProducers.map((s) => ({
                producerId: s.producerId,
                producerEpoch: s.producerEpoch,
                lastSequence: s.lastSequence ?? -1,
                lastTimestamp: s.lastTimestamp ?? -1n,
                coordinatorEpoch: s.coordinatorEpoch,
                currentTxnStartOffset: s.currentTxnStartOffset ?? -1n,
              })),
            });
          }
        }),
      );
      if (again.length > 0) await this.backoff(attempt);
      pending = again;
    }
    return done.sort(compareTopicPartitions);
  }

  // ---------------------------------------------------------------- WriteTxnMarkers

  /**
   * Ends a producer's open transaction on one partition by writing an ABORT marker there, as
   * Kafka's Admin.abortTransaction does: a WriteTxnMarkers request to the partition's leader,
   * as if from the coordinator of `coordinatorEpoch`. Resolves once the leader wrote it; a
   * moved leader is found again (bounded); refusals (INVALID_PRODUCER_EPOCH,
   * TRANSACTION_COORDINATOR_FENCED, CLUSTER_AUTHORIZATION_FAILED...) throw KafkaResponseError.
   */
  async abortTransaction(spec: AbortTransactionSpec): Promise<void> {
    const resource = `${spec.topic}-${spec.partition}`;
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.retries;
      const info = await this.client.topicInfo(spec.topic, { refresh: attempt > 0 });
      const p = info.partitions.find((x) => x.partition === spec.partition);
      if (!p) {
        throw new KafkaResponseError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, { api: 'Metadata', resource, errorMessage: `topic '${spec.topic}' has ${info.partitions.length} partition(s), 0 to ${info.partitions.length - 1}` });
      }
      let code: number;
      if (p.leader < 0) {
        code = p.errorCode !== ErrorCode.NONE ? p.errorCode : ErrorCode.LEADER_NOT_AVAILABLE;
      } else {
        const conn = await this.client.brokerConnection(p.leader);
        const res = await send(conn, ApiKey.WriteTxnMarkers, () => ({
          markers: [
            {
              producerId: spec.producerId,
              producerEpoch: spec.producerEpoch,
              transactionResult: false, // ABORT
              topics: [{ name: spec.topic, partitionIndexes: [spec.partition] }],
              coordinatorEpoch: spec.coordinatorEpoch,
            },
          ],
        }));
        const marker = res.markers.length === 1 && res.markers[0].producerId === spec.producerId ? res.markers[0] : undefined;
        const topic = marker?.topics.length === 1 && marker.topics[0].name === spec.topic ? marker.topics[0] : undefined;
        const r = topic?.partitions.length === 1 && topic.partitions[0].partitionIndex === spec.partition ? topic.partitions[0] : undefined;
        if (!r) throw new StrataError('PROTOCOL_MALFORMED', `the WriteTxnMarkers response from ${conn.address} does not have exactly one entry, for producer ${spec.producerId} on ${resource}`);
        code = r.errorCode;
      }
      if (code === ErrorCode.NONE) return;
      if (last || !LEADER_MOVED.has(code)) throw new KafkaResponseError(code, { api: 'WriteTxnMarkers', resource });
      await this.backoff(attempt);
    }
  }

  // ---------------------------------------------------------------- find hanging

  /**
   * kafka-transactions.sh's --find-hanging: transactions open on a partition that no
   * coordinator will ever complete. Candidates are producers with an open transaction on a
   * searched partition (DescribeProducers) whose last write is older than the longest
   * transaction timeout; a candidate hangs when ListTransactions knows no transactional id for
   * its producer id, when that id's coordinator does not know it (TRANSACTIONAL_ID_NOT_FOUND),
   * or when the coordinator's transaction does not include the partition (it would have
   * written the marker already). Sorted by partition, then producer id. Any failure throws.
   */
  async findHangingTransactions(opts: FindHangingOptions): Promise<HangingTransaction[]> {
    const { brokerId, topic, partition } = opts;
    if (brokerId === undefined && topic === undefined) throw new StrataError('CONFIG_INVALID', 'findHangingTransactions needs a brokerId or a topic to limit the search');
    if (partition !== undefined && topic === undefined) throw new StrataError('CONFIG_INVALID', 'findHangingTransactions: a partition needs its topic');
    const maxMs = BigInt(opts.maxTransactionTimeoutMs ?? DEFAULT_MAX_TRANSACTION_TIMEOUT_MS);

    let targets: TopicPartitionRef[];
    if (topic !== undefined && partition !== undefined) {
      targets = [{ topic, partition }];
    } else {
      // Every topic, internal ones too (KAFKA-13288: transactions write to __consumer_offsets).
      const topics = await this.client.describeTopics(topic === undefined ? undefined : [topic]);
      targets = topics.flatMap((t) => t.partitions.filter((p) => brokerId === undefined || p.replicas.includes(brokerId)).map((p) => ({ topic: t.name, partition: p.partition })));
    }
    if (targets.length === 0) return [];

    const described = await this.describeProducersOf(targets, { brokerId });
    const failed = described.find((d) => d.error);
    if (failed?.error) throw failed.error;
    const now = BigInt(opts.nowMs ?? Date.now());
    const candidates: HangingTransaction[] = described.flatMap((d) =>
      d.activeProducers.filter((s) => s.currentTxnStartOffset >= 0n && now - s.lastTimestamp > maxMs).map((s) => ({ topic: d.topic, partition: d.partition, ...s })),
    );
    if (candidates.length === 0) return [];

    const producerIds = [...new Set(candidates.map((c) => c.producerId))];
    const transactionalIdOf = new Map<bigint, string>();
    for (const l of await this.listTransactions({ producerIds })) {
      if (producerIds.includes(l.producerId)) transactionalIdOf.set(l.producerId, l.transactionalId);
    }
    const descriptions = new Map<string, TransactionDescription | null>();
    for (const r of await this.describeTransactions([...new Set(transactionalIdOf.values())])) {
      if (r.error && r.error.errorCode !== ErrorCode.TRANSACTIONAL_ID_NOT_FOUND) throw r.error;
      descriptions.set(r.transactionalId, r.description);
    }
    return candidates
      .filter((c) => {
        const id = transactionalIdOf.get(c.producerId);
        const d = id === undefined ? null : (descriptions.get(id) ?? null);
        return d === null || !d.topicPartitions.some((tp) => tp.topic === c.topic && tp.partition === c.partition);
      })
      .sort((a, b) => compareTopicPartitions(a, b) || (a.producerId < b.producerId ? -1 : a.producerId > b.producerId ? 1 : 0));
  }

  // ---------------------------------------------------------------- internals

  /** Runs `attempt`, again (bounded, with backoff) on a KafkaResponseError in `retriable` or a lost connection. */
  private async retry<T>(retriable: ReadonlySet<number>, attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        const again = err instanceof KafkaResponseError ? retriable.has(err.errorCode) : isStrataError(err, 'CONNECTION_FAILED');
        if (!again || i >= this.retries) throw err;
        await this.backoff(i);
      }
    }
  }

  /** Fresh metadata for `topics`; undefined (after a backoff) when the connection dropped and attempts remain. */
  private async metadataWithRetry(topics: string[], attempt: number): Promise<MetadataSnapshot | undefined> {
    try {
      return await this.client.metadata(topics);
    } catch (err) {
      if (attempt >= this.retries || !isStrataError(err, 'CONNECTION_FAILED')) throw err;
      await this.backoff(attempt);
      return undefined;
    }
  }

  private backoff(attempt: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.retryBackoffMs * 2 ** attempt));
  }
}

function missingInResponse(api: string, resource: string): StrataError {
  return new StrataError('PROTOCOL_MALFORMED', `the ${api} response has no entry for ${resource}`);
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareTopicPartitions(a: TopicPartitionRef, b: TopicPartitionRef): number {
  return compareStrings(a.topic, b.topic) || a.partition - b.partition;
}
