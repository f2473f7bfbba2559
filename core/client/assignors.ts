/**
 * The consumer protocol's partition assignors, run by the group leader (a client, in the
 * classic protocol the broker never assigns): given every member's subscription and the
 * partition counts of the subscribed topics, decide who reads what. Same names and the same
 * results as Kafka's Java RangeAssignor and RoundRobinAssignor, so a mixed group (Strata,
 * Java, librdkafka members) agrees whichever member leads.
 *
 * Both are deterministic: members are ordered as Kafka orders them — static members (with a
 * group.instance.id) first, by instance id, then dynamic members by member id — so a static
 * member that restarts keeps its partitions.
 */

export interface AssignorMember {
  memberId: string;
  groupInstanceId: string | null;
  /** The topics the member subscribed to. */
  topics: readonly string[];
}

/** memberId → topic → partitions (ascending). Every member is present, possibly with nothing. */
export type GroupAssignment = Map<string, Map<string, number[]>>;

export interface PartitionAssignor {
  /** The protocol name offered in JoinGroup, as Kafka spells it. */
  readonly name: string;
  /**
   * `partitionsPerTopic` holds the topics that exist; subscribed topics missing from it are
   * left unassigned (a consumer may subscribe before a topic is created).
   */
  assign(members: readonly AssignorMember[], partitionsPerTopic: ReadonlyMap<string, number>): GroupAssignment;
}

/** Kafka's member order: static members first (by group.instance.id), then by member id. */
export function compareMembers(a: AssignorMember, b: AssignorMember): number {
  if (a.groupInstanceId !== null && b.groupInstanceId !== null) return compareStrings(a.groupInstanceId, b.groupInstanceId);
  if (a.groupInstanceId !== null) return -1;
  if (b.groupInstanceId !== null) return 1;
  return compareStrings(a.memberId, b.memberId);
}

/** Code-unit order, as Java's String.compareTo (not locale order). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function emptyAssignment(members: readonly AssignorMember[]): GroupAssignment {
  return new Map(members.map((m) => [m.memberId, new Map<string, number[]>()]));
}

function give(out: GroupAssignment, memberId: string, topic: string, partition: number): void {
  const topics = out.get(memberId)!;
  const list = topics.get(topic);
  if (list) list.push(partition);
  else topics.set(topic, [partition]);
}

/**
 * 'range': per topic, the topic's subscribers in member order each take a contiguous range;
 * the first (partitions % subscribers) members take one extra. With several topics of equal
 * size the same members get the extras on every topic — Kafka's known skew, kept for parity.
 */
export const rangeAssignor: PartitionAssignor = {
  name: 'range',
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members);
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort(compareStrings);
    for (const topic of topics) {
      const count = partitionsPerTopic.get(topic);
      if (count === undefined || count <= 0) continue;
      const subscribers = members.filter((m) => m.topics.includes(topic)).sort(compareMembers);
      const each = Math.floor(count / subscribers.length);
      const extra = count % subscribers.length;
      subscribers.forEach((m, i) => {
        const start = each * i + Math.min(i, extra);
        const length = each + (i < extra ? 1 : 0);
        for (let p = start; p < start + length; p++) give(out, m.memberId, topic, p);
      });
    }
    return out;
  },
};

/**
 * 'roundrobin': all partitions of all subscribed topics (topics by name, partitions ascending)
 * dealt out one at a time to the members in order, skipping members not subscribed to the
 * partition's topic. Balanced to within one partition when all members subscribe alike.
 */
export const roundRobinAssignor: PartitionAssignor = {
  name: 'roundrobin',
  assign(members, partitionsPerTopic) {
    const out = emptyAssignment(members);
    const ordered = [...members].sort(compareMembers);
    if (ordered.length === 0) return out;
    const topics = [...new Set(members.flatMap((m) => m.topics))].filter((t) => (partitionsPerTopic.get(t) ?? 0) > 0).sort(compareStrings);
    let next = 0; // the member after the one that got the last partition
    for (const topic of topics) {
      const count = partitionsPerTopic.get(topic)!;
      for (let p = 0; p < count; p++) {
        // Someone subscribes to every topic listed, so this ends within one lap.
        while (!ordered[next % ordered.length].topics.includes(topic)) next++;
        give(out, ordered[next % ordered.length].memberId, topic, p);
        next = (next % ordered.length) + 1;
      }
    }
    return out;
  },
};

export const ASSIGNORS: ReadonlyMap<string, PartitionAssignor> = new Map([
  [rangeAssignor.name, rangeAssignor],
  [roundRobinAssignor.name, roundRobinAssignor],
]);
