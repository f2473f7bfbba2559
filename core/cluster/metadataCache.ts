import type { ResolvedTopicConfig } from '../config/topicConfig';
import type { BrokerRecord, TopicRecord } from '../meta/metadataStore';
import type { Partition } from '../partition/partition';

/** A topic as this broker serves it: its record in the metadata store, its resolved configs, its partitions. */
export interface TopicState {
  readonly name: string;
  readonly topicId: string;
  readonly record: TopicRecord;
  readonly config: ResolvedTopicConfig;
  readonly partitions: readonly Partition[];
}

/**
 * What requests read about the cluster's metadata (Kafka's MetadataCache): the topics this
 * broker knows, by name and by id, with their partitions. Reads are synchronous, so the produce
 * and fetch paths never wait on the metadata store; topic admin (broker/topicAdmin.ts) changes
 * it after the store has taken a change.
 */
export class MetadataCache {
  private readonly byName = new Map<string, TopicState>();
  private readonly byId = new Map<string, TopicState>();
  private live: readonly BrokerRecord[] = [];
  private _controllerId = -1;

  /**
   * The live brokers' registrations (sorted by node id), as this broker last judged them
   * (core/cluster/brokerLiveness.ts); updated every heartbeat interval.
   */
  liveBrokers(): readonly BrokerRecord[] {
    return this.live;
  }

  /**
   * The brokers to tell clients of (Metadata, DescribeCluster), at their addresses on
   * `listener` (the one the client connected to): the live ones, always with this broker's own
   * (before the first poll, the only one known). A broker without that listener is left out, as
   * Kafka leaves it out.
   */
  endpoints(listener: string, self: { nodeId: number; host: string; port: number; rack: string | null }): { nodeId: number; host: string; port: number; rack: string | null }[] {
    const out: { nodeId: number; host: string; port: number; rack: string | null }[] = [];
    for (const b of this.live) {
      if (b.nodeId === self.nodeId) continue;
      const e = listenerEndpoint(b, listener);
      if (e !== undefined) out.push({ nodeId: b.nodeId, host: e.host, port: e.port, rack: b.rack });
    }
    out.push(self);
    return out.sort((a, b) => a.nodeId - b.nodeId);
  }

  /** A live broker's registration. */
  broker(nodeId: number): BrokerRecord | undefined {
    return this.live.find((b) => b.nodeId === nodeId);
  }

  isLive(nodeId: number): boolean {
    return this.live.some((b) => b.nodeId === nodeId);
  }

  /** The controller's node id as last seen, -1 when unknown. */
  get controllerId(): number {
    return this._controllerId;
  }

  setBrokers(live: readonly BrokerRecord[], controllerId: number): void {
    this.live = [...live].sort((a, b) => a.nodeId - b.nodeId);
    this._controllerId = controllerId;
  }

  get(name: string): TopicState | undefined {
    return this.byName.get(name);
  }

  getById(topicId: string): TopicState | undefined {
    return this.byId.get(topicId);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Every topic name (for name collision checks). */
  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  /** Sorted by name. */
  list(): TopicState[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  partition(topic: string, index: number): Partition | undefined {
    return this.byName.get(topic)?.partitions[index];
  }

  /** Makes `state` the topic's live state (replacing an earlier one of that name). */
  put(state: TopicState): void {
    this.byName.set(state.name, state);
    this.byId.set(state.topicId, state);
  }

  /** Forgets a topic. */
  remove(state: TopicState): void {
    if (this.byName.get(state.name) === state) this.byName.delete(state.name);
    if (this.byId.get(state.topicId) === state) this.byId.delete(state.topicId);
  }

  clear(): void {
    this.byName.clear();
    this.byId.clear();
  }
}

/**
 * A broker's address on `listener`; undefined when it has no such listener. A record written
 * before brokers had several listeners names one address, used for every listener.
 */
export function listenerEndpoint(b: BrokerRecord, listener: string): { host: string; port: number } | undefined {
  if (b.endpoints === undefined) return { host: b.host, port: b.port };
  const e = b.endpoints.find((x) => x.listener === listener);
  return e === undefined ? undefined : { host: e.host, port: e.port };
}
