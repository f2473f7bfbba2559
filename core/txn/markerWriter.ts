import { ErrorCode } from '../protocol/errorCodes';
import type { ConnectionSecurity } from '../client/security';
import { ApiKey } from '../protocol/generated/index';
import type { WriteTxnMarkersRequest } from '../protocol/generated/WriteTxnMarkersRequest';
import type { WriteTxnMarkersResponse } from '../protocol/generated/WriteTxnMarkersResponse';
import { KafkaConnection } from '../client/connection';
import type { Partition } from '../partition/partition';
import type { TopicPartitionRef, TxnMarkerWriter } from './txnCoordinator';

export interface TxnMarkers {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  result: 'COMMIT' | 'ABORT';
  partitions: TopicPartitionRef[];
}

/** How markers for partitions led by other brokers reach them: a WriteTxnMarkers request to the leader. */
export interface MarkerRouting {
  /** Sends the request to broker `nodeId`; rejects when the broker cannot be reached. */
  send(nodeId: number, request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse>;
  /** Releases connections (the broker's stop). */
  close?(): void;
}

/**
 * Writes end-transaction markers to partition logs: the WriteTxnMarkers path (Kafka's
 * ReplicaManager.appendRecords with origin COORDINATOR). The transaction coordinator writes its
 * markers through it, and so does the WriteTxnMarkers handler (an operator aborting a hanging
 * transaction, or another broker's coordinator), so both meet the same checks in the
 * partition's producer state. Partitions this broker does not have answer
 * UNKNOWN_TOPIC_OR_PARTITION.
 *
 * With a MarkerRouting (a cluster), the coordinator's markers for partitions this broker does
 * not lead go to their leader (the partition's record) as WriteTxnMarkers requests, as Kafka's
 * TransactionMarkerChannelManager sends them; a partition without a known leader, or a leader
 * that cannot be reached, answers NOT_LEADER_OR_FOLLOWER / REQUEST_TIMED_OUT, which the
 * coordinator retries (the leader is looked up again each time). The WriteTxnMarkers handler
 * always writes locally (writeLocal): a request that reached a broker no longer leading gets
 * NOT_LEADER_OR_FOLLOWER, and the sender retries.
 */
export class MarkerWriter implements TxnMarkerWriter {
  constructor(
    private readonly partitionOf: (topic: string, partition: number) => Partition | undefined,
    private readonly routing: MarkerRouting | null = null,
    /**
     * Waits until appended markers are replicated to the ISR, one error code per marker
     * (PartitionManager.awaitAcks): a marker only the leader holds could be lost with it, leaving
     * the transaction open in that partition while the coordinator believes it complete. Null:
     * a marker counts once appended (unit tests).
     */
    private readonly replication: ((appended: { partition: Partition; nextOffset: bigint; leaderEpoch: number }[]) => Promise<number[]>) | null = null,
  ) {}

  async writeMarkers(m: TxnMarkers): Promise<{ partition: TopicPartitionRef; errorCode: number }[]> {
    if (this.routing === null) return await this.writeLocal(m);
    const codes = new Map<TopicPartitionRef, number>();
    const local: TopicPartitionRef[] = [];
    const remote = new Map<number, TopicPartitionRef[]>();
    for (const tp of m.partitions) {
      const p = this.partitionOf(tp.topic, tp.partition);
      if (p === undefined || p.role === 'leader') {
        local.push(tp); // unknown ones get UNKNOWN_TOPIC_OR_PARTITION there
        continue;
      }
      const leader = p.record?.leader ?? -1;
      if (leader < 0) {
        codes.set(tp, ErrorCode.NOT_LEADER_OR_FOLLOWER);
        continue;
      }
      let list = remote.get(leader);
      if (list === undefined) remote.set(leader, (list = []));
      list.push(tp);
    }
    for (const r of await this.writeLocal({ ...m, partitions: local })) codes.set(r.partition, r.errorCode);
    await Promise.all([...remote].map(([leader, tps]) => this.writeRemote(leader, m, tps, codes)));
    return m.partitions.map((partition) => ({ partition, errorCode: codes.get(partition) ?? ErrorCode.UNKNOWN_SERVER_ERROR }));
  }

  /** Closes the routing's connections (after the transaction coordinator has closed). */
  close(): void {
    this.routing?.close?.();
  }

  /**
   * Appends one marker to each partition this broker leads and waits for them to be replicated
   * (see `replication`); one error code per partition, in order.
   */
  async writeLocal(m: TxnMarkers): Promise<{ partition: TopicPartitionRef; errorCode: number }[]> {
    const appended: { partition: Partition; nextOffset: bigint; leaderEpoch: number; i: number }[] = [];
    const results = m.partitions.map((tp, i) => {
      const p = this.partitionOf(tp.topic, tp.partition);
      if (p === undefined) return { partition: tp, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
      const outcome = p.appendEndTxnMarker({ producerId: m.producerId, producerEpoch: m.producerEpoch, coordinatorEpoch: m.coordinatorEpoch, type: m.result });
      if (outcome.errorCode === ErrorCode.NONE) appended.push({ partition: p, nextOffset: outcome.nextOffset, leaderEpoch: p.leaderEpoch, i });
      return { partition: tp, errorCode: outcome.errorCode };
    });
    if (this.replication !== null && appended.length > 0) {
      const codes = await this.replication(appended);
      appended.forEach((a, k) => (results[a.i].errorCode = codes[k]));
    }
    return results;
  }

  private async writeRemote(leader: number, m: TxnMarkers, tps: TopicPartitionRef[], codes: Map<TopicPartitionRef, number>): Promise<void> {
    const topics: { name: string; partitionIndexes: number[] }[] = [];
    for (const tp of tps) {
      const t = topics.find((x) => x.name === tp.topic);
      if (t === undefined) topics.push({ name: tp.topic, partitionIndexes: [tp.partition] });
      else t.partitionIndexes.push(tp.partition);
    }
    let response: WriteTxnMarkersResponse;
    try {
      response = await this.routing!.send(leader, {
        markers: [{ producerId: m.producerId, producerEpoch: m.producerEpoch, transactionResult: m.result === 'COMMIT', topics, coordinatorEpoch: m.coordinatorEpoch }],
      });
    } catch {
      for (const tp of tps) codes.set(tp, ErrorCode.REQUEST_TIMED_OUT);
      return;
    }
    const answer = response.markers.find((x) => x.producerId === m.producerId);
    for (const tp of tps) {
      const code = answer?.topics.find((t) => t.name === tp.topic)?.partitions.find((p) => p.partitionIndex === tp.partition)?.errorCode;
      codes.set(tp, code ?? ErrorCode.UNKNOWN_SERVER_ERROR);
    }
  }
}

/** Where a broker listens (its registration). */
export interface BrokerEndpoint {
  host: string;
  port: number;
}

/**
 * MarkerRouting over one connection per broker (opened on first use, dropped when it fails and
 * opened again by the next request).
 */
export class MarkerChannels implements MarkerRouting {
  private readonly conns = new Map<number, Promise<KafkaConnection>>();
  private closed = false;

  constructor(
    private readonly opts: {
      /** The registration of a live broker, or undefined (MetadataCache.broker). */
      endpointOf: (nodeId: number) => BrokerEndpoint | undefined;
      clientId: string;
      requestTimeoutMs?: number;
      /** How to reach the other brokers' inter-broker listener (TLS, SASL); default PLAINTEXT. */
      security?: ConnectionSecurity;
    },
  ) {}

  async send(nodeId: number, request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
    if (this.closed) throw new Error('marker channels are closed');
    const pending = this.connection(nodeId);
    try {
      const conn = await pending;
      return await conn.send<WriteTxnMarkersResponse>(ApiKey.WriteTxnMarkers, request);
    } catch (e) {
      if (this.conns.get(nodeId) === pending) this.conns.delete(nodeId);
      void pending.then((c) => c.close()).catch(() => undefined);
      throw e;
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) void c.then((conn) => conn.close()).catch(() => undefined);
    this.conns.clear();
  }

  private connection(nodeId: number): Promise<KafkaConnection> {
    const existing = this.conns.get(nodeId);
    if (existing !== undefined) return existing;
    const ep = this.opts.endpointOf(nodeId);
    if (ep === undefined) return Promise.reject(new Error(`broker ${nodeId} is not live`));
    const c = KafkaConnection.connect({ host: ep.host, port: ep.port, clientId: this.opts.clientId, connectTimeoutMs: 5000, requestTimeoutMs: this.opts.requestTimeoutMs ?? 10_000, security: this.opts.security });
    this.conns.set(nodeId, c);
    c.then(
      (conn) => {
        if (this.closed) conn.close();
      },
      () => {
        if (this.conns.get(nodeId) === c) this.conns.delete(nodeId);
      },
    );
    return c;
  }
}
