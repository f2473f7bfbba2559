/**
 * KIP-951: a Produce (v10+) or Fetch (v16+) answer that says NOT_LEADER_OR_FOLLOWER or
 * FENCED_LEADER_EPOCH also says who leads now (current_leader: id and epoch) and where that broker
 * listens (node_endpoints), so the client goes there without a Metadata round trip first.
 * Older versions do not carry the fields (the codecs leave them out).
 */
import { ErrorCode } from '../../protocol/errorCodes';
import type { Partition } from '../../partition/partition';
import type { BrokerContext } from './types';

const REDIRECTS: ReadonlySet<number> = new Set([ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH]);

export class LeaderHints {
  private readonly named = new Set<number>();

  constructor(
    private readonly broker: Pick<BrokerContext, 'nodeId' | 'topics' | 'advertisedOn' | 'rack'>,
    /** The listener the request came in on: leaders are named at their addresses on it. */
    private readonly listener: string,
  ) {}

  /** The leader to name beside `errorCode`, or undefined when the error is not a redirect or no live leader is known. */
  currentLeader(partition: Partition | null | undefined, errorCode: number): { leaderId: number; leaderEpoch: number } | undefined {
    if (!REDIRECTS.has(errorCode) || !partition) return undefined;
    const r = partition.record;
    if (r === null || r.leader < 0 || (r.leader !== this.broker.nodeId && !this.broker.topics.isLive(r.leader))) return undefined;
    this.named.add(r.leader);
    return { leaderId: r.leader, leaderEpoch: r.leaderEpoch };
  }

  /** The endpoints of every leader named so far. */
  nodeEndpoints(): { nodeId: number; host: string; port: number; rack: string | null }[] {
    if (this.named.size === 0) return [];
    const b = this.broker;
    return b.topics.endpoints(this.listener, { nodeId: b.nodeId, ...b.advertisedOn(this.listener), rack: b.rack }).filter((e) => this.named.has(e.nodeId));
  }
}
