import { KafkaConnection } from '../client/connection';
import type { ConnectionSecurity } from '../client/security';
import type { Logger } from '../common/logger';
import type { BrokerRecord } from '../meta/metadataStore';
import { ApiKey } from '../protocol/generated/index';
import type { UpdateMetadataRequest } from '../protocol/generated/UpdateMetadataRequest';
import type { UpdateMetadataResponse } from '../protocol/generated/UpdateMetadataResponse';

/** A peer: its connection (opened on first push), the address it was opened to, one push at a time. */
interface Peer {
  conn: KafkaConnection | null;
  endpoint: string;
  busy: boolean;
  /** Pushes were asked for while one was in flight: one more goes when it returns. */
  again: boolean;
}

export interface MetadataPushOptions {
  nodeId: number;
  logger: Logger;
  /** Connect plus answer, per push (default 2000 ms): a broker that does not answer in time learns by polling. */
  timeoutMs?: number;
  /** How to reach the other brokers' inter-broker listener (TLS, SASL); default PLAINTEXT. */
  security?: ConnectionSecurity;
}

/**
 * The push half of how brokers learn of cluster changes (the poll half: BrokerCluster's pass every
 * heartbeat interval). Whoever changes cluster metadata writes its records, bumps the change
 * marker (clusterChanges.ts), then sends UpdateMetadata to every other live broker; a broker that
 * gets one runs its pass at once instead of at its next tick. The request is only a nudge: the
 * receiver reads the store as on any pass, so a push that is lost, late or forged costs at most an
 * early read and never gives a wrong view. It brings a failover's new leader and its followers to
 * their roles within a round trip of the controller's write, where polling alone takes up to a
 * heartbeat interval more; on DynamoDB it costs one extra poll (2 strongly consistent reads) per
 * broker per announced change, nothing while nothing changes.
 *
 * One connection per peer, one push in flight per peer; pushes asked for meanwhile fold into one
 * sent when it returns (a pass reads everything written before it).
 */
export class MetadataPush {
  private readonly peers = new Map<number, Peer>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly opts: MetadataPushOptions) {}

  /** Nudges every broker of `brokers` but this one; never waits and never throws. */
  notify(brokers: readonly BrokerRecord[], controllerId: number, controllerEpoch: number): void {
    if (this.closed) return;
    for (const b of brokers) {
      if (b.nodeId === this.opts.nodeId) continue;
      const endpoint = `${b.host}:${b.port}`;
      let peer = this.peers.get(b.nodeId);
      if (peer === undefined || peer.endpoint !== endpoint) {
        peer?.conn?.close();
        peer = { conn: null, endpoint, busy: false, again: false };
        this.peers.set(b.nodeId, peer);
      }
      if (peer.busy) {
        peer.again = true;
        continue;
      }
      const sent = this.send(b, peer, controllerId, controllerEpoch);
      this.inFlight.add(sent);
      void sent.finally(() => this.inFlight.delete(sent));
    }
  }

  /** Resolves once every push sent so far has been answered or has failed. */
  async idle(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) p.conn?.close();
    this.peers.clear();
  }

  private async send(b: BrokerRecord, peer: Peer, controllerId: number, controllerEpoch: number): Promise<void> {
    peer.busy = true;
    const timeoutMs = this.opts.timeoutMs ?? 2000;
    try {
      do {
        peer.again = false;
        if (peer.conn === null || peer.conn.closed) {
          peer.conn = await KafkaConnection.connect({ host: b.host, port: b.port, clientId: `strata-controller-${this.opts.nodeId}`, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, security: this.opts.security });
        }
        if (this.closed || !peer.conn.supports(ApiKey.UpdateMetadata)) break; // a broker of a version without it polls
        const req: UpdateMetadataRequest = { controllerId, controllerEpoch, brokerEpoch: -1n, topicStates: [], liveBrokers: [] };
        await peer.conn.send<UpdateMetadataResponse>(ApiKey.UpdateMetadata, req);
      } while (peer.again && !this.closed);
    } catch (e) {
      this.opts.logger.debug(`pushing a metadata change to broker ${b.nodeId} (${peer.endpoint}) failed; it learns at its next poll: ${(e as Error).message}`);
      peer.conn?.close();
      peer.conn = null;
    } finally {
      peer.busy = false;
      if (this.closed) peer.conn?.close();
    }
  }
}
