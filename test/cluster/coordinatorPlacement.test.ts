/**
 * coordinatorFor: rendezvous hashing of groups and transactional ids onto live brokers, and the
 * ownership and FindCoordinator answers built on it.
 */
import { createHash } from 'node:crypto';
import { coordinatorFor, coordinatorNodeIds, coordinatorOwnership, type CoordinatorKeyType } from '../../core/cluster/coordinatorPlacement';
import { MetadataCache } from '../../core/cluster/metadataCache';
import { findCoordinatorHandler } from '../../core/broker/handlers/findCoordinator';
import type { RequestContext } from '../../core/broker/handlers/types';
import type { BrokerRecord } from '../../core/meta/metadataStore';
import { ErrorCode } from '../../core/protocol/errorCodes';

const keys = (n: number, prefix = 'group-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function countsOf(ks: readonly string[], type: CoordinatorKeyType, ids: readonly number[]): Map<number, number> {
  const counts = new Map(ids.map((id) => [id, 0]));
  for (const k of ks) {
    const c = coordinatorFor(k, type, ids);
    counts.set(c, counts.get(c)! + 1);
  }
  return counts;
}

describe('coordinatorFor', () => {
  test('is the documented formula, so every broker (and any other tool) computes the same answer', () => {
    // An independent implementation of the rule in coordinatorPlacement.ts's header.
    const weight = (key: string, type: string, node: number) => createHash('sha1').update(`${type}\0${node}\0${key}`, 'utf8').digest().readUIntBE(0, 6);
    const byFormula = (key: string, type: string, ids: number[]) => [...ids].sort((a, b) => weight(key, type, b) - weight(key, type, a) || a - b)[0];
    for (const k of [...keys(200), '', 'ü/ß', 'x'.repeat(1000)]) {
      for (const type of ['group', 'transaction'] as const) {
        expect(coordinatorFor(k, type, [1, 2, 3])).toBe(byFormula(k, type, [1, 2, 3]));
        expect(coordinatorFor(k, type, [0, 4, 9, 17])).toBe(byFormula(k, type, [0, 4, 9, 17]));
      }
    }
    // Pinned answers: a change of the hash would move every group of a running cluster.
    expect(['my-group', 'orders-consumer', '', 'ü/ß'].map((k) => coordinatorFor(k, 'group', [1, 2, 3]))).toEqual([1, 1, 2, 2]);
    expect(['orders-consumer', 'ü/ß'].map((k) => coordinatorFor(k, 'transaction', [1, 2, 3]))).toEqual([2, 3]);
    expect(coordinatorFor('ü/ß', 'group', [0, 1, 2, 3, 4, 5, 6, 7])).toBe(6);
  });

  test('is deterministic and does not depend on the order of the live list', () => {
    for (const k of keys(100)) {
      const a = coordinatorFor(k, 'group', [1, 2, 3]);
      expect(coordinatorFor(k, 'group', [3, 1, 2])).toBe(a);
      expect(coordinatorFor(k, 'group', [2, 3, 1])).toBe(a);
      expect([1, 2, 3]).toContain(a);
    }
    expect(coordinatorFor('g', 'group', [])).toBe(-1);
    expect(coordinatorFor('g', 'group', [5])).toBe(5);
  });

  test('spreads 3000 keys roughly evenly over 3 brokers, groups and transactional ids independently', () => {
    for (const type of ['group', 'transaction'] as const) {
      const counts = countsOf(keys(3000), type, [1, 2, 3]);
      for (const n of counts.values()) {
        expect(n).toBeGreaterThan(850);
        expect(n).toBeLessThan(1150);
      }
    }
    const differ = keys(3000).filter((k) => coordinatorFor(k, 'group', [1, 2, 3]) !== coordinatorFor(k, 'transaction', [1, 2, 3])).length;
    expect(differ).toBeGreaterThan(1500); // about 2/3 if independent
  });

  test('losing a broker moves only its keys, spread over the others; a new broker takes keys only for itself', () => {
    const ks = keys(3000);
    const before = new Map(ks.map((k) => [k, coordinatorFor(k, 'group', [1, 2, 3])]));
    const moved: number[] = [];
    for (const k of ks) {
      const after = coordinatorFor(k, 'group', [1, 3]);
      if (before.get(k) === 2) moved.push(after);
      else expect(after).toBe(before.get(k));
    }
    expect(moved.length).toBeGreaterThan(850);
    // Broker 2's keys are shared out between 1 and 3, not all dumped on one.
    expect(moved.filter((id) => id === 1).length).toBeGreaterThan(moved.length * 0.35);
    expect(moved.filter((id) => id === 3).length).toBeGreaterThan(moved.length * 0.35);
    let taken = 0;
    for (const k of ks) {
      const after = coordinatorFor(k, 'group', [1, 2, 3, 4]);
      if (after === 4) taken++;
      else expect(after).toBe(before.get(k));
    }
    expect(taken).toBeGreaterThan(600);
    expect(taken).toBeLessThan(900);
  });
});

// ---- ownership and FindCoordinator from the broker's view of the cluster --------------------------------

const record = (nodeId: number): BrokerRecord => ({ nodeId, host: `broker-${nodeId}.internal`, port: 9090 + nodeId, rack: null, epoch: 1, version: 1 });

describe('coordinatorOwnership', () => {
  test('alone (no live broker known) this broker owns every key; then what coordinatorFor gives it', () => {
    const cache = new MetadataCache();
    const own = coordinatorOwnership(cache, 2, 'group');
    expect(coordinatorNodeIds(cache, 2)).toEqual([2]);
    expect(keys(50).every((k) => own.owns(k))).toBe(true);
    const v0 = own.version;
    cache.setBrokers([record(3), record(1), record(2)], 1);
    expect(coordinatorNodeIds(cache, 2)).toEqual([1, 2, 3]);
    expect(own.version).toBe(v0 + 1);
    for (const k of keys(200)) expect(own.owns(k)).toBe(coordinatorFor(k, 'group', [1, 2, 3]) === 2);
    // A new view with the same brokers is not a change of ownership.
    cache.setBrokers([record(1), record(2), record(3)], 1);
    expect(own.version).toBe(v0 + 1);
    cache.setBrokers([record(1), record(3)], 1);
    expect(own.version).toBe(v0 + 2);
    // Not live in a view of others: it owns nothing, they have taken its keys.
    expect(keys(200).some((k) => own.owns(k))).toBe(false);
  });
});

describe('FindCoordinator', () => {
  function ctx(cache: MetadataCache, version: number): RequestContext {
    return {
      version,
      conn: { listenerName: 'PLAINTEXT' },
      broker: { nodeId: 2, advertisedOn: () => ({ host: '127.0.0.1', port: 19092 }), topics: cache },
    } as unknown as RequestContext;
  }
  const find = (cache: MetadataCache, version: number, req: object) => findCoordinatorHandler.handle(req as never, ctx(cache, version)) as Record<string, any>;

  test('answers the broker placement picks, at its registered address; this broker at its advertised one', () => {
    const cache = new MetadataCache();
    expect(find(cache, 3, { key: 'g', keyType: 0 })).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 2, host: '127.0.0.1', port: 19092 });
    cache.setBrokers([record(1), record(2), record(3)], 1);
    const ks = keys(30);
    const r = find(cache, 4, { keyType: 1, coordinatorKeys: ks });
    expect(r.coordinators).toHaveLength(30);
    r.coordinators.forEach((c: Record<string, unknown>, i: number) => {
      const expected = coordinatorFor(ks[i], 'transaction', [1, 2, 3]);
      expect(c).toMatchObject({ key: ks[i], errorCode: ErrorCode.NONE, nodeId: expected });
      if (expected === 2) expect(c).toMatchObject({ host: '127.0.0.1', port: 19092 });
      else expect(c).toMatchObject({ host: `broker-${expected}.internal`, port: 9090 + expected });
    });
    const g = ks.find((k) => coordinatorFor(k, 'group', [1, 2, 3]) === 3)!;
    expect(find(cache, 1, { key: g, keyType: 0 })).toMatchObject({ errorCode: ErrorCode.NONE, nodeId: 3, host: 'broker-3.internal', port: 9093 });
    expect(find(cache, 3, { key: '', keyType: 0 }).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
  });
});
