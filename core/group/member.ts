/**
 * One member of a classic group: identity, timeouts, the protocols it supports (in its order of
 * preference, each with its opaque metadata), its current assignment, and the JoinGroup or
 * SyncGroup response it is waiting for, if any.
 */
import { EMPTY_BYTES } from '../protocol/reader';

/** A protocol a member supports, e.g. { name: 'range', metadata: <ConsumerProtocolSubscription> }. */
export interface GroupProtocol {
  name: string;
  metadata: Buffer;
}

/** What a parked JoinGroup is answered with. */
export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  /** Every member's metadata for the chosen protocol: for the leader only, empty for the others. */
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

/** What a parked SyncGroup is answered with. */
export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export function joinError(memberId: string, errorCode: number): JoinResult {
  return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', skipAssignment: false, memberId, members: [] };
}

export function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: EMPTY_BYTES };
}

export class MemberMetadata {
  assignment: Buffer = EMPTY_BYTES;
  /** Set while a JoinGroup of this member is parked until the rebalance completes. */
  awaitingJoin: ((r: JoinResult) => void) | null = null;
  /** Set while a SyncGroup of this member is parked until the leader's assignment arrives. */
  awaitingSync: ((r: SyncResult) => void) | null = null;
  /**
   * A member added by this rebalance, not yet part of a generation. Its heartbeat deadline is
   * the long new-member join timeout instead of the session timeout, so a client that gave up
   * on its JoinGroup (its socket is muted while parked, so we cannot see it leave) does not
   * hold the rebalance forever, nor vanish from it too early.
   */
  isNew = false;
  /** The member's session deadline (cleared while the member needs no heartbeats). */
  heartbeatTimer: NodeJS.Timeout | null = null;

  constructor(
    public memberId: string,
    readonly groupInstanceId: string | null,
    readonly clientId: string,
    readonly clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    readonly protocolType: string,
    public protocols: GroupProtocol[],
  ) {}

  get isStatic(): boolean {
    return this.groupInstanceId !== null;
  }

  get isAwaitingJoin(): boolean {
    return this.awaitingJoin !== null;
  }

  get isAwaitingSync(): boolean {
    return this.awaitingSync !== null;
  }

  /** The metadata the member sent for `protocol` (empty when it does not support it). */
  metadata(protocol: string): Buffer {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? EMPTY_BYTES;
  }

  /** Same protocols, in the same order, with byte-identical metadata. */
  matches(protocols: readonly GroupProtocol[]): boolean {
    if (protocols.length !== this.protocols.length) return false;
    return protocols.every((p, i) => p.name === this.protocols[i].name && p.metadata.equals(this.protocols[i].metadata));
  }

  /** The member's most preferred protocol among `candidates` (every member supports at least one). */
  vote(candidates: ReadonlySet<string>): string {
    const p = this.protocols.find((x) => candidates.has(x.name));
    if (p === undefined) throw new Error(`member ${this.memberId} supports none of the candidate protocols`);
    return p.name;
  }

  clearHeartbeat(): void {
    if (this.heartbeatTimer !== null) {
      clearTimeout(this.heartbeatTimer);
      this.heartbeatTimer = null;
    }
  }
}
