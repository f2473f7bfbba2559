/**
 * assignReplicas: Kafka's replica assignment (AdminUtils.assignReplicasToBrokers), checked against
 * the assignments Kafka's own tests expect, then as properties over random broker sets.
 */
import fc from 'fast-check';
import { assignReplicas, checkManualAssignment, rackAlternatedBrokers, type PlacementBroker } from '../../core/cluster/replicaPlacement';
import { errorOf } from '../helpers/errorOf';
import { seededRng } from '../helpers/seededRng';

const noRacks = (ids: number[]): PlacementBroker[] => ids.map((nodeId) => ({ nodeId, rack: null }));
const withRacks = (racks: Record<number, string>): PlacementBroker[] =>
  Object.entries(racks).map(([id, rack]) => ({ nodeId: Number(id), rack }));

/** How many times each broker appears in `pick(replicas)` over all partitions (0 for none). */
function countsBy(brokers: readonly PlacementBroker[], assignment: number[][], pick: (r: number[]) => number[]): Map<number, number> {
  const counts = new Map(brokers.map((b) => [b.nodeId, 0]));
  for (const replicas of assignment) for (const id of pick(replicas)) counts.set(id, counts.get(id)! + 1);
  return counts;
}
const spread = (counts: Map<number, number>): number => Math.max(...counts.values()) - Math.min(...counts.values());

describe('without racks', () => {
  test("Kafka's AdminTest.testReplicaAssignment: 5 brokers, 10 partitions, rf 3, start 0", () => {
    expect(assignReplicas(noRacks([0, 1, 2, 3, 4]), 10, 3, { startIndex: 0 })).toEqual([
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 0],
      [4, 0, 1],
      [0, 2, 3], // second round: followers shifted by one more
      [1, 3, 4],
      [2, 4, 0],
      [3, 0, 1],
      [4, 1, 2],
    ]);
  });

  test('brokers are taken in node id order whatever order they are given in', () => {
    const sorted = assignReplicas(noRacks([1, 5, 9]), 6, 2, { startIndex: 1 });
    expect(assignReplicas(noRacks([9, 1, 5]), 6, 2, { startIndex: 1 })).toEqual(sorted);
    expect(sorted[0][0]).toBe(5); // start index 1 of [1, 5, 9]
    expect(rackAlternatedBrokers(noRacks([9, 1, 5]))).toEqual([1, 5, 9]);
  });

  test('fromPartition continues the numbering: the same lists as a single call would give for those ids', () => {
    const brokers = noRacks([0, 1, 2, 3]);
    const all = assignReplicas(brokers, 12, 3, { startIndex: 1 });
    // Within one round (no shift increment crossed before the range) the lists coincide.
    expect(assignReplicas(brokers, 2, 3, { startIndex: 1, fromPartition: 1 })).toEqual(all.slice(1, 3));
    expect(assignReplicas(brokers, 4, 3, { startIndex: 1, fromPartition: 4 })[0][0]).toBe(all[4][0]);
  });

  test('rf = number of brokers: every partition on every broker, leaders round robin', () => {
    const a = assignReplicas(noRacks([0, 1, 2]), 6, 3, { startIndex: 2 });
    for (const r of a) expect([...r].sort()).toEqual([0, 1, 2]);
    expect(a.map((r) => r[0])).toEqual([2, 0, 1, 2, 0, 1]);
  });

  test('one broker, rf 1', () => {
    expect(assignReplicas(noRacks([7]), 3, 1)).toEqual([[7], [7], [7]]);
  });
});

describe('with racks', () => {
  test("rack-alternated list: Kafka's example", () => {
    const racks = { 0: 'rack1', 1: 'rack3', 2: 'rack3', 3: 'rack2', 4: 'rack2', 5: 'rack1' };
    expect(rackAlternatedBrokers(withRacks(racks))).toEqual([0, 3, 1, 5, 4, 2]);
    const { 5: _, ...without5 } = racks;
    expect(rackAlternatedBrokers(withRacks(without5))).toEqual([0, 3, 1, 4, 2]);
  });

  test("Kafka's AdminRackAwareTest assignment: 7 partitions, rf 3, start 0", () => {
    const brokers = withRacks({ 0: 'rack1', 1: 'rack3', 2: 'rack3', 3: 'rack2', 4: 'rack2', 5: 'rack1' });
    expect(assignReplicas(brokers, 7, 3, { startIndex: 0 })).toEqual([
      [0, 3, 1],
      [3, 1, 5],
      [1, 5, 4],
      [5, 4, 2],
      [4, 2, 0],
      [2, 0, 3],
      [0, 4, 2], // not [0, 3, 1] again: followers shifted in the second round
    ]);
  });

  test('3 racks × 2 brokers, rf 3: every partition spans the 3 racks, leaders and replicas even', () => {
    const racks: Record<number, string> = { 0: 'a', 1: 'b', 2: 'b', 3: 'c', 4: 'c', 5: 'a' };
    const brokers = withRacks(racks);
    for (let startIndex = 0; startIndex < 6; startIndex++) {
      for (const count of [6, 12, 30]) {
        const a = assignReplicas(brokers, count, 3, { startIndex });
        for (const r of a) expect(new Set(r.map((id) => racks[id])).size).toBe(3);
        expect(spread(countsBy(brokers, a, (r) => [r[0]]))).toBe(0);
        expect(spread(countsBy(brokers, a, (r) => r))).toBe(0);
      }
    }
  });

  test('rf above the number of racks still reaches every rack, replicas on distinct brokers', () => {
    const racks: Record<number, string> = { 1: 'x', 2: 'x', 3: 'x', 4: 'y', 5: 'y' };
    const a = assignReplicas(withRacks(racks), 10, 4, { startIndex: 3 });
    for (const r of a) {
      expect(new Set(r).size).toBe(4);
      expect(new Set(r.map((id) => racks[id]))).toEqual(new Set(['x', 'y']));
    }
  });

  test('racks sort by code unit, as Java strings do', () => {
    // 'B' (0x42) < 'a' (0x61); localeCompare would put 'a' first.
    expect(rackAlternatedBrokers(withRacks({ 1: 'a', 2: 'B' }))).toEqual([2, 1]);
  });
});

describe('errors (Kafka’s messages)', () => {
  test('rf larger than the brokers', () => {
    const e = errorOf(() => assignReplicas(noRacks([0, 1]), 3, 3));
    expect(e.code).toBe('REPLICATION_FACTOR_INVALID');
    expect(e.message).toBe('Replication factor: 3 larger than available brokers: 2.');
    expect(errorOf(() => assignReplicas([], 1, 1)).message).toBe('Replication factor: 1 larger than available brokers: 0.');
  });

  test('rf below 1', () => {
    for (const rf of [0, -1, 1.5]) {
      const e = errorOf(() => assignReplicas(noRacks([0, 1]), 3, rf));
      expect(e.code).toBe('REPLICATION_FACTOR_INVALID');
      expect(e.message).toBe('Replication factor must be larger than 0.');
    }
  });

  test('partition count below 1', () => {
    const e = errorOf(() => assignReplicas(noRacks([0, 1]), 0, 1));
    expect(e.code).toBe('PARTITIONS_INVALID');
    expect(e.message).toBe('Number of partitions must be larger than 0.');
  });

  test('some brokers with a rack and some without', () => {
    const brokers = [
      { nodeId: 0, rack: 'r1' },
      { nodeId: 1, rack: null },
    ];
    const e = errorOf(() => assignReplicas(brokers, 1, 1));
    expect(e.code).toBe('REPLICA_ASSIGNMENT_INVALID');
    expect(e.message).toBe('Not all brokers have rack information for replica rack aware assignment.');
    expect(errorOf(() => rackAlternatedBrokers(brokers)).message).toBe(e.message);
  });

  test('bad fromPartition or startIndex', () => {
    expect(errorOf(() => assignReplicas(noRacks([0]), 1, 1, { fromPartition: -1 })).code).toBe('PARTITIONS_INVALID');
    expect(errorOf(() => assignReplicas(noRacks([0]), 1, 1, { startIndex: 0.5 })).code).toBe('PARTITIONS_INVALID');
  });
});

describe('start index', () => {
  test('fixed: deterministic; the rng is not consulted', () => {
    const brokers = withRacks({ 0: 'a', 1: 'b', 2: 'c', 3: 'a', 4: 'b', 5: 'c' });
    const rng = jest.fn(() => 0.99);
    const a = assignReplicas(brokers, 20, 3, { startIndex: 4, rng });
    expect(assignReplicas(brokers, 20, 3, { startIndex: 4 })).toEqual(a);
    expect(rng).not.toHaveBeenCalled();
  });

  test('random by default: drawn from rng (start index, then shift)', () => {
    const brokers = noRacks([10, 20, 30, 40]);
    const draws = [0.5, 0.25]; // start index 2, shift 1
    const a = assignReplicas(brokers, 8, 2, { rng: () => draws.shift()! });
    // Leader at index 2; its follower 1 + (shift 1 + 0) mod 3 = 2 places after it: (2 + 2) mod 4 = index 0.
    expect(a[0]).toEqual([30, 10]);
    const seeded = (seed: number) => assignReplicas(brokers, 8, 2, { rng: seededRng(seed) });
    expect(seeded(42)).toEqual(seeded(42));
    // Leaders vary with the seed.
    const leaders = new Set(Array.from({ length: 20 }, (_, s) => seeded(s)[0][0]));
    expect(leaders.size).toBeGreaterThan(1);
  });

  test('rng returning 1 (out of contract) still picks a broker', () => {
    expect(assignReplicas(noRacks([0, 1, 2]), 1, 2, { rng: () => 1 })[0][0]).toBe(2);
  });
});

describe('properties over random broker sets', () => {
  /** Distinct node ids, each with a rack from a small pool or all without racks. */
  const brokerSets = fc
    .record({
      ids: fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 12 }),
      racked: fc.boolean(),
      rackSeeds: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 12, maxLength: 12 }),
    })
    .map(({ ids, racked, rackSeeds }): PlacementBroker[] =>
      ids.map((nodeId, i) => ({ nodeId, rack: racked ? `rack-${rackSeeds[i]}` : null })),
    );
  const cases = brokerSets.chain((brokers) =>
    fc.record({
      brokers: fc.constant(brokers),
      rf: fc.integer({ min: 1, max: brokers.length }),
      rounds: fc.integer({ min: 1, max: 4 }),
      extra: fc.integer({ min: 0, max: brokers.length - 1 }),
      startIndex: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
      fromPartition: fc.integer({ min: 0, max: 30 }),
      seed: fc.integer(),
    }),
  );

  test('rf distinct known brokers per partition; leaders and replicas spread; racks covered as far as possible', () => {
    fc.assert(
      fc.property(cases, ({ brokers, rf, rounds, extra, startIndex, fromPartition, seed }) => {
        const n = brokers.length;
        const count = rounds * n + extra;
        const a = assignReplicas(brokers, count, rf, { startIndex, fromPartition, rng: seededRng(seed) });
        const known = new Set(brokers.map((b) => b.nodeId));
        const rackOf = new Map(brokers.map((b) => [b.nodeId, b.rack]));
        const numRacks = new Set(brokers.map((b) => b.rack)).size;
        expect(a).toHaveLength(count);
        for (const r of a) {
          expect(r).toHaveLength(rf);
          expect(new Set(r).size).toBe(rf);
          for (const id of r) expect(known.has(id)).toBe(true);
          if (brokers[0].rack !== null) {
            expect(new Set(r.map((id) => rackOf.get(id))).size).toBe(Math.min(rf, numRacks));
          }
        }
        // Leaders: round robin, so counts differ by at most 1 (0 when count is a multiple of n).
        const leaders = countsBy(brokers, a, (r) => [r[0]]);
        expect(spread(leaders)).toBeLessThanOrEqual(extra === 0 ? 0 : 1);
        // Whole rounds (aligned, so the follower shift is constant within each) without racks:
        // every broker holds rounds × rf replicas.
        if (extra === 0 && fromPartition % n === 0 && brokers[0].rack === null) expect(spread(countsBy(brokers, a, (r) => r))).toBe(0);
        // A fixed start index decides everything.
        if (startIndex !== undefined) expect(assignReplicas(brokers, count, rf, { startIndex, fromPartition })).toEqual(a);
      }),
      { numRuns: 200 },
    );
  });

  test('followers shifted: past the first round, the replica sets are not the first round repeated', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 10 }),
        fc.integer({ min: 0, max: 9 }),
        (n, startIndex) => {
          const a = assignReplicas(noRacks(Array.from({ length: n }, (_, i) => i)), 2 * n, 2, { startIndex });
          for (let p = 0; p < n; p++) {
            expect(a[p + n][0]).toBe(a[p][0]);
            expect(a[p + n][1]).not.toBe(a[p][1]);
          }
        },
      ),
    );
  });
});

describe('checkManualAssignment', () => {
  const live = new Set([0, 1, 2]);
  const message = (assignment: number[][], rf?: number) => {
    const e = errorOf(() => checkManualAssignment(assignment, live, rf));
    expect(e.code).toBe('REPLICA_ASSIGNMENT_INVALID');
    return e.message;
  };

  test('takes distinct live brokers, the same count per partition', () => {
    expect(() => checkManualAssignment([[2, 0], [1, 2]], live)).not.toThrow();
    expect(() => checkManualAssignment([[0, 1]], live, 2)).not.toThrow();
  });

  test("refuses what Kafka refuses, with Kafka's messages", () => {
    expect(message([[0, 0]])).toBe('The manual partition assignment includes the broker 0 more than once.');
    expect(message([[0, 7]])).toBe('The manual partition assignment includes broker 7, but no such broker is registered.');
    expect(message([[0, 1], [2]])).toBe('The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s).');
    expect(message([[0]], 3)).toBe('The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 3 replica(s).');
    expect(message([[]])).toBe('The manual partition assignment includes an empty replica list.');
  });
});
