import { StrataError } from '../common/errors';

/**
 * Where the replicas of new partitions go: Kafka's assignment (AdminUtils.assignReplicasToBrokers,
 * the default before KRaft's StripedReplicaPlacer), rack aware when every broker has a rack.
 *
 * Goals, as Kafka states them: spread replicas (and preferred leaders) evenly over the brokers;
 * spread the other replicas of the partitions a broker leads over the other brokers; and, when
 * racks are known, put each partition's replicas on distinct racks as far as possible.
 *
 * Without racks: the first replica (preferred leader) of each partition goes round robin over
 * the brokers sorted by node id, from a random start; the others follow it at a shift that
 * grows by one every full round, so that the sets of later rounds differ from the first's.
 * Five brokers, ten partitions, rf 3, start 0 and shift 0:
 *
 *   broker-0  broker-1  broker-2  broker-3  broker-4
 *   p0        p1        p2        p3        p4        (1st replica)
 *   p5        p6        p7        p8        p9        (1st replica)
 *   p4        p0        p1        p2        p3        (2nd replica)
 *   p8        p9        p5        p6        p7        (2nd replica)
 *   p3        p4        p0        p1        p2        (3rd replica)
 *   p7        p8        p9        p5        p6        (3rd replica)
 *
 * With racks: the same round robin over the rack-alternated list (`rackAlternatedBrokers`), and
 * a follower candidate is skipped while its rack already holds a replica and some rack holds
 * none (or it is a broker already chosen), so rf ≤ number of racks puts every replica on its own
 * rack, and rf ≥ number of racks reaches every rack.
 *
 * Racks are all or nothing, as in Kafka's AdminUtils: some brokers with a rack and some without
 * is refused rather than guessed at.
 */
export interface PlacementBroker {
  nodeId: number;
  rack: string | null;
}

export interface AssignReplicasOptions {
  /** Id of the first partition placed (partitions added to a topic continue its numbering). Default 0. */
  fromPartition?: number;
  /**
   * Fixes both the first leader's position in the (sorted or rack-alternated) broker list and
   * the initial follower shift, as Kafka's fixedStartIndex does; tests pass it. Kafka's
   * CreatePartitions passes the position of the broker leading partition 0. Default: random.
   */
  startIndex?: number;
  /** Random source in [0, 1) for the start index and shift when `startIndex` is not given. Default Math.random. */
  rng?: () => number;
}

/**
 * Replica lists for partitions [fromPartition, fromPartition + count), first replica = preferred
 * leader. Node ids must be distinct.
 */
export function assignReplicas(
  brokers: readonly PlacementBroker[],
  count: number,
  replicationFactor: number,
  opts: AssignReplicasOptions = {},
): number[][] {
  if (!Number.isInteger(count) || count <= 0) {
    throw new StrataError('PARTITIONS_INVALID', 'Number of partitions must be larger than 0.');
  }
  if (!Number.isInteger(replicationFactor) || replicationFactor <= 0) {
    throw new StrataError('REPLICATION_FACTOR_INVALID', 'Replication factor must be larger than 0.');
  }
  if (replicationFactor > brokers.length) {
    throw new StrataError(
      'REPLICATION_FACTOR_INVALID',
      `Replication factor: ${replicationFactor} larger than available brokers: ${brokers.length}.`,
    );
  }
  const fromPartition = opts.fromPartition ?? 0;
  if (!Number.isInteger(fromPartition) || fromPartition < 0) {
    throw new StrataError('PARTITIONS_INVALID', `First partition id must be a non-negative integer (got ${fromPartition}).`);
  }
  if (opts.startIndex !== undefined && (!Number.isInteger(opts.startIndex) || opts.startIndex < 0)) {
    throw new StrataError('PARTITIONS_INVALID', `Start index must be a non-negative integer (got ${opts.startIndex}).`);
  }

  const rackOf = racksByBroker(brokers);
  const list = rackAlternatedBrokers(brokers);
  const n = list.length;
  const rng = opts.rng ?? Math.random;
  const draw = (): number => opts.startIndex ?? Math.min(n - 1, Math.floor(rng() * n));
  const startIndex = draw();
  let shift = draw();
  const numRacks = rackOf === null ? 0 : new Set(rackOf.values()).size;

  const out: number[][] = [];
  for (let partition = fromPartition; partition < fromPartition + count; partition++) {
    if (partition > 0 && partition % n === 0) shift++;
    const first = (partition + startIndex) % n;
    const leader = list[first];
    const replicas = [leader];
    if (rackOf === null) {
      for (let j = 0; j < replicationFactor - 1; j++) replicas.push(list[followerIndex(first, shift, j, n)]);
    } else {
      const racksWithReplicas = new Set([rackOf.get(leader)!]);
      const brokersWithReplicas = new Set([leader]);
      // Terminates: k runs through every position but the leader's within n - 1 steps, and while
      // fewer than rf ≤ n brokers are chosen some unchosen broker passes both tests.
      let k = 0;
      while (replicas.length < replicationFactor) {
        const broker = list[followerIndex(first, shift * numRacks, k++, n)];
        const rack = rackOf.get(broker)!;
        const rackOk = !racksWithReplicas.has(rack) || racksWithReplicas.size === numRacks;
        const brokerOk = !brokersWithReplicas.has(broker) || brokersWithReplicas.size === n;
        if (rackOk && brokerOk) {
          replicas.push(broker);
          racksWithReplicas.add(rack);
          brokersWithReplicas.add(broker);
        }
      }
    }
    out.push(replicas);
  }
  return out;
}

/**
 * The broker ids taking turns by rack: racks in name order, each rack's brokers in node id
 * order, one from each rack in turn while it has any left (Kafka's getRackAlternatedBrokerList).
 * Racks rack1: 0, 5; rack2: 3, 4; rack3: 1, 2 give 0, 3, 1, 5, 4, 2. Without racks: the ids sorted.
 */
export function rackAlternatedBrokers(brokers: readonly PlacementBroker[]): number[] {
  const rackOf = racksByBroker(brokers);
  const ids = brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  if (rackOf === null) return ids;
  const byRack = new Map<string, number[]>();
  for (const id of ids) {
    const rack = rackOf.get(id)!;
    const members = byRack.get(rack);
    if (members === undefined) byRack.set(rack, [id]);
    else members.push(id);
  }
  // Code-unit order, as Java's String.compareTo (not localeCompare).
  const racks = [...byRack.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: number[] = [];
  for (let round = 0; out.length < ids.length; round++) {
    for (const rack of racks) {
      const members = byRack.get(rack)!;
      if (round < members.length) out.push(members[round]);
    }
  }
  return out;
}

/** Node id → rack when every broker has one; null when none has; an error when only some have. */
function racksByBroker(brokers: readonly PlacementBroker[]): Map<number, string> | null {
  const withRack = brokers.filter((b) => b.rack !== null);
  if (withRack.length === 0) return null;
  if (withRack.length < brokers.length) {
    // Kafka answers this with an AdminOperationException (INVALID_REPLICA_ASSIGNMENT to clients).
    throw new StrataError('REPLICA_ASSIGNMENT_INVALID', 'Not all brokers have rack information for replica rack aware assignment.');
  }
  return new Map(withRack.map((b) => [b.nodeId, b.rack!]));
}

/**
 * Position of follower `j` of the partition led from position `first`: 1 + (shift + j) mod (n − 1)
 * places after it, never the leader's own position (Kafka's replicaIndex).
 */
function followerIndex(first: number, shift: number, j: number, n: number): number {
  return (first + 1 + ((shift + j) % (n - 1))) % n;
}

/**
 * A replica assignment given by hand (CreateTopics' assignments, CreatePartitions'), checked as
 * Kafka's controller checks it: every partition has replicas, no broker twice, every broker
 * registered and alive, every partition the same count (`replicationFactor` when the topic has
 * one already). Throws StrataError('REPLICA_ASSIGNMENT_INVALID') with Kafka's messages.
 */
export function checkManualAssignment(assignment: readonly (readonly number[])[], liveNodeIds: ReadonlySet<number>, replicationFactor?: number): void {
  let expected = replicationFactor;
  for (const replicas of assignment) {
    if (replicas.length === 0) throw new StrataError('REPLICA_ASSIGNMENT_INVALID', 'The manual partition assignment includes an empty replica list.');
    const seen = new Set<number>();
    for (const id of replicas) {
      if (seen.has(id)) throw new StrataError('REPLICA_ASSIGNMENT_INVALID', `The manual partition assignment includes the broker ${id} more than once.`);
      seen.add(id);
      if (!liveNodeIds.has(id)) throw new StrataError('REPLICA_ASSIGNMENT_INVALID', `The manual partition assignment includes broker ${id}, but no such broker is registered.`);
    }
    if (expected !== undefined && replicas.length !== expected) {
      throw new StrataError(
        'REPLICA_ASSIGNMENT_INVALID',
        `The manual partition assignment includes a partition with ${replicas.length} replica(s), but this is not consistent with previous partitions, which have ${expected} replica(s).`,
      );
    }
    expected = replicas.length;
  }
}
