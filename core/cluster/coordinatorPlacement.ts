/**
 * Which broker coordinates a consumer group or a transactional id: Kafka hashes the key onto a
 * partition of __consumer_offsets / __transaction_state and the partition's leader coordinates
 * it; Strata has no such topics, so the key is placed directly on a live broker by rendezvous
 * (highest-random-weight) hashing:
 *
 *   weight(node) = first 48 bits of sha1("<keyType>\0<nodeId>\0<key>")
 *   coordinator  = the live node with the highest weight (the lower node id on a tie)
 *
 * Every broker computes the same answer from the same live set, with no shared state; when a
 * broker leaves, only the keys it coordinated move (each to its own runner-up), and when one
 * joins it takes only the keys it now wins. Group and transaction placements are independent
 * (the key type is hashed too), as Kafka's two topics are.
 *
 * The live set is this broker's view of the broker registrations (MetadataCache.liveBrokers(),
 * refreshed every heartbeat). Views differ for a moment while a broker joins or fails; the
 * coordinators' conditional writes to the metadata store keep two brokers that both believe
 * they coordinate a key from overwriting each other (core/group, core/txn).
 */
import { createHash } from 'node:crypto';

export type CoordinatorKeyType = 'group' | 'transaction';

/** The 48-bit weight of `nodeId` for the key (a safe integer). */
function weight(key: string, keyType: CoordinatorKeyType, nodeId: number): number {
  return createHash('sha1').update(`${keyType}\0${nodeId}\0${key}`, 'utf8').digest().readUIntBE(0, 6);
}

/** The node among `liveNodeIds` that coordinates `key`, or -1 when the list is empty. */
export function coordinatorFor(key: string, keyType: CoordinatorKeyType, liveNodeIds: readonly number[]): number {
  let best = -1;
  let bestWeight = -1;
  for (const nodeId of liveNodeIds) {
    const w = weight(key, keyType, nodeId);
    if (w > bestWeight || (w === bestWeight && nodeId < best)) {
      best = nodeId;
      bestWeight = w;
    }
  }
  return best;
}

/** What placement reads of the cluster: MetadataCache's live brokers. */
export interface LiveBrokersView {
  liveBrokers(): readonly { nodeId: number }[];
}

/**
 * The node ids coordinators are placed on, as this broker sees them: the live brokers, or this
 * broker alone while it knows of none (a single broker, or before the first heartbeat filled the
 * cache).
 */
export function coordinatorNodeIds(view: LiveBrokersView, selfNodeId: number): number[] {
  const live = view.liveBrokers();
  return live.length === 0 ? [selfNodeId] : live.map((b) => b.nodeId);
}

/**
 * Which keys a coordinator serves at the moment (GroupCoordinator and TransactionCoordinator
 * take one; without it they serve every key, as a single broker does).
 */
export interface CoordinatorOwnership {
  /** Whether this broker coordinates `key` now. */
  owns(key: string): boolean;
  /**
   * Changes whenever owns() may answer differently for some key (the live set changed). The
   * coordinators poll it to give up the keys they lost and to take over the ones they gained.
   */
  readonly version: number;
}

/**
 * Ownership as this broker's view of the live brokers gives it (coordinatorFor over
 * coordinatorNodeIds). A broker missing from a non-empty live set owns nothing: the others
 * have taken its keys.
 */
export function coordinatorOwnership(view: LiveBrokersView, selfNodeId: number, keyType: CoordinatorKeyType): CoordinatorOwnership {
  let seen: readonly { nodeId: number }[] | null = null;
  let ids: number[] = [selfNodeId];
  let signature = String(selfNodeId);
  let version = 0;
  const refresh = (): void => {
    const live = view.liveBrokers();
    // MetadataCache replaces its array when it takes a new view: the same array is the same view.
    if (live === seen) return;
    seen = live;
    const next = live.length === 0 ? [selfNodeId] : live.map((b) => b.nodeId);
    const sig = next.join(',');
    if (sig === signature) return;
    signature = sig;
    ids = next;
    version++;
  };
  return {
    owns(key) {
      refresh();
      return coordinatorFor(key, keyType, ids) === selfNodeId;
    },
    get version() {
      refresh();
      return version;
    },
  };
}
