import type { Logger } from '../common/logger';
import type { ConnectionSecurity } from '../client/security';
import { KafkaConnection } from '../client/connection';
import type { Partition } from '../partition/partition';
import { ReplicaFetcher, type FollowerPartition } from './replicaFetcher';

/** Where a leader broker listens (from its registration). */
export interface LeaderEndpoint {
  host: string;
  port: number;
}

export interface ReplicaFetcherManagerOptions {
  /** This broker's node id: its fetches carry it as the replica id. */
  nodeId: number;
  /** This broker's registration epoch (ReplicaState). */
  brokerEpoch: () => bigint;
  /** The registration of a leader broker, or undefined when it is unknown. */
  endpointOf: (nodeId: number) => LeaderEndpoint | undefined;
  logger: Logger;
  maxWaitMs: number;
  maxBytes: number;
  partitionMaxBytes: number;
  backoffMs: number;
  /** How to reach the leader's inter-broker listener (TLS, SASL); default PLAINTEXT. */
  security?: ConnectionSecurity;
}

/**
 * The follower side of replication on one broker (Kafka's ReplicaFetcherManager): one
 * ReplicaFetcher per leader broker, holding the partitions this broker follows there. A
 * partition moves between fetchers as its leader changes; a fetcher left with nothing stops.
 */
export class ReplicaFetcherManager {
  private readonly fetchers = new Map<number, ReplicaFetcher>();
  /** Partition key → the leader it is followed at, and the epoch. */
  private readonly following = new Map<string, { leader: number; epoch: number }>();
  private closed = false;

  constructor(private readonly opts: ReplicaFetcherManagerOptions) {}

  /** Follows `p` at `leader` (its current leader epoch); a no-op when it already does at that epoch. */
  follow(p: Partition, leader: number): void {
    if (this.closed) return;
    const cur = this.following.get(p.key);
    if (cur && cur.leader === leader && cur.epoch === p.leaderEpoch) return;
    if (cur && cur.leader !== leader) this.unfollow(p);
    const entry: FollowerPartition = { topic: p.topic, topicId: p.topicId, partition: p.index, log: p.log, leaderEpoch: p.leaderEpoch };
    this.fetcherFor(leader).addPartition(entry);
    this.following.set(p.key, { leader, epoch: p.leaderEpoch });
  }

  /** Stops following `p` (it leads now, or holds no replica). */
  unfollow(p: Partition): void {
    const cur = this.following.get(p.key);
    if (!cur) return;
    this.following.delete(p.key);
    const f = this.fetchers.get(cur.leader);
    if (!f) return;
    f.removePartition({ topic: p.topic, partition: p.index });
    if (f.status().length === 0) {
      this.fetchers.delete(cur.leader);
      void f.stop();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.fetchers.values()];
    this.fetchers.clear();
    this.following.clear();
    await Promise.all(all.map((f) => f.stop()));
  }

  private fetcherFor(leader: number): ReplicaFetcher {
    let f = this.fetchers.get(leader);
    if (f) return f;
    const o = this.opts;
    f = new ReplicaFetcher({
      replicaId: o.nodeId,
      brokerEpoch: o.brokerEpoch(),
      connect: async () => {
        const ep = o.endpointOf(leader);
        if (!ep) throw new Error(`broker ${leader} is not registered`);
        return KafkaConnection.connect({ host: ep.host, port: ep.port, clientId: `strata-replica-fetcher-${o.nodeId}-${leader}`, connectTimeoutMs: 5000, security: o.security });
      },
      logger: o.logger.child(`fetcher-${leader}`),
      maxWaitMs: o.maxWaitMs,
      maxBytes: o.maxBytes,
      partitionMaxBytes: o.partitionMaxBytes,
      backoffMs: o.backoffMs,
    });
    this.fetchers.set(leader, f);
    f.start();
    return f;
  }
}
