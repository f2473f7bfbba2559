/**
 * Two group coordinators — two brokers — over one shared metadata store, each serving the groups
 * its ownership gives it: what moves with a group when its coordinator changes (committed and
 * pending offsets, read from the store), what does not (members, who rejoin), and the
 * conditional writes that keep two coordinators of one group from overwriting each other.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../core/common/logger';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { prefixedKv } from '../../core/meta/versionedKv';
import { GroupCoordinator, type OffsetCommitParams, type TopicLookup } from '../../core/group/coordinator';
import type { CoordinatorOwnership } from '../../core/cluster/coordinatorPlacement';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { TEST_CONFIG, joinNew, joinParams, isSettled } from './helpers';

/** Which broker owns which group, as the cluster's placement would say; moving a group bumps the version. */
class Placement {
  version = 0;
  private readonly moved = new Map<string, string>();
  constructor(private readonly defaultOwner: string) {}

  ownerOf(key: string): string {
    return this.moved.get(key) ?? this.defaultOwner;
  }

  move(key: string, to: string): void {
    this.moved.set(key, to);
    this.version++;
  }

  of(node: string): CoordinatorOwnership {
    const placement = this;
    return {
      owns: (key) => placement.ownerOf(key) === node,
      get version() {
        return placement.version;
      },
    };
  }
}

/** An ownership that claims every group: two of them are two brokers that both believe they coordinate. */
const everything: CoordinatorOwnership = { owns: () => true, version: 0 };

let dir: string;
let kv: EmbeddedKv;
const lines: string[] = [];
const coordinators: GroupCoordinator[] = [];
const topics = new Map<string, { topicId: string; partitions: number }>([['t1', { topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 3 }]]);
const lookup: TopicLookup = (name) => topics.get(name);

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-group-handover-'));
  kv = await EmbeddedKv.open(dir);
});

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.close();
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A broker's group coordinator on the shared store. */
async function broker(name: string, ownership: CoordinatorOwnership): Promise<GroupCoordinator> {
  const c = await GroupCoordinator.start(prefixedKv(kv, 'offsets/'), TEST_CONFIG, {
    logger: createLogger(`groups-${name}`, (l) => lines.push(l)),
    topics: lookup,
    txnOffsets: prefixedKv(kv, 'txn-offsets/'),
    ownership,
  });
  coordinators.push(c);
  return c;
}

function commit(c: GroupCoordinator, offset: bigint, p: Partial<OffsetCommitParams> = {}): Promise<number[]> {
  return c.commitOffsets({
    groupId: 'g',
    memberId: '',
    groupInstanceId: null,
    generationId: -1,
    retentionTimeMs: -1n,
    offsets: [{ topic: 't1', partition: 0, offset, leaderEpoch: -1, metadata: null, commitTimestamp: -1n }],
    ...p,
  });
}

/** The committed offset of t1-0 in 'g', after loading the group as a handler would. */
async function fetched(c: GroupCoordinator, requireStable = false): Promise<{ errorCode: number; offset?: bigint; partitionError?: number }> {
  await c.ready('g', { fresh: true });
  const r = c.fetchOffsets('g', [{ topic: 't1', partitions: [0] }], requireStable);
  const p = r.topics[0]?.partitions[0];
  return r.errorCode !== ErrorCode.NONE ? { errorCode: r.errorCode } : { errorCode: r.errorCode, offset: p.offset, partitionError: p.errorCode };
}

test('offsets committed through A are served by B once the group moves to B, and back again', async () => {
  const placement = new Placement('A');
  const a = await broker('A', placement.of('A'));
  const b = await broker('B', placement.of('B'));
  expect(await commit(a, 42n)).toEqual([ErrorCode.NONE]);
  expect(await fetched(a)).toEqual({ errorCode: ErrorCode.NONE, offset: 42n, partitionError: ErrorCode.NONE });

  // B is not the group's coordinator: every request is NOT_COORDINATOR (clients look it up again).
  expect(await fetched(b)).toEqual({ errorCode: ErrorCode.NOT_COORDINATOR });
  expect(await commit(b, 1n)).toEqual([ErrorCode.NOT_COORDINATOR]);
  expect((await b.joinGroup(joinParams('g'))).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(b.heartbeat({ groupId: 'g', memberId: 'm', groupInstanceId: null, generationId: 1 })).toBe(ErrorCode.NOT_COORDINATOR);
  expect(b.describeGroup('g').errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(await b.deleteGroups(['g'])).toEqual([{ groupId: 'g', errorCode: ErrorCode.NOT_COORDINATOR }]);

  placement.move('g', 'B');
  expect(await fetched(a)).toEqual({ errorCode: ErrorCode.NOT_COORDINATOR });
  // Not loaded yet: the synchronous calls say so (and start the load) until a handler's ready() has run.
  expect(b.fetchOffsets('g', null).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
  expect(await fetched(b)).toEqual({ errorCode: ErrorCode.NONE, offset: 42n, partitionError: ErrorCode.NONE });
  expect(b.describeGroup('g')).toMatchObject({ errorCode: ErrorCode.NONE, groupState: 'Empty' });
  expect(await commit(b, 43n)).toEqual([ErrorCode.NONE]);

  // Back to A, whose memory still held 42: it was dropped when A lost the group, and A reads 43.
  placement.move('g', 'A');
  expect(await fetched(b)).toEqual({ errorCode: ErrorCode.NOT_COORDINATOR });
  expect(await fetched(a)).toEqual({ errorCode: ErrorCode.NONE, offset: 43n, partitionError: ErrorCode.NONE });
  expect(await commit(a, 44n)).toEqual([ErrorCode.NONE]);
  expect((await kv.get('offsets/g/t1/0'))?.value).toMatchObject({ offset: 44n });
});

test('members of a group that moved are told NOT_COORDINATOR, parked joins included, and rejoin at the new coordinator', async () => {
  const placement = new Placement('A');
  const a = await broker('A', placement.of('A'));
  const b = await broker('B', placement.of('B'));
  const m1 = await joinNew(a, 'g');
  const j1 = await m1.joined;
  expect(j1.errorCode).toBe(ErrorCode.NONE);
  expect((await a.syncGroup({ groupId: 'g', generationId: j1.generationId, memberId: m1.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: null, assignments: [] })).errorCode).toBe(ErrorCode.NONE);
  expect(await commit(a, 7n, { memberId: m1.memberId, generationId: j1.generationId })).toEqual([ErrorCode.NONE]);
  // A second member's JoinGroup parks until m1 rejoins.
  const m2 = await joinNew(a, 'g');
  expect(await isSettled(m2.joined)).toBe(false);

  placement.move('g', 'B');
  a.checkOwnership(); // what A's timer does within ownershipCheckIntervalMs
  expect((await m2.joined).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(a.groupState('g')).toBeUndefined();
  expect(a.heartbeat({ groupId: 'g', memberId: m1.memberId, groupInstanceId: null, generationId: j1.generationId })).toBe(ErrorCode.NOT_COORDINATOR);
  expect(lines.some((l) => l.includes('group "g"') && l.includes('→ Dead') && l.includes('another broker coordinates the group now'))).toBe(true);

  // At B the group is known by its offsets only: the member rejoins there.
  await b.ready('g');
  expect(b.heartbeat({ groupId: 'g', memberId: m1.memberId, groupInstanceId: null, generationId: j1.generationId })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  const again = await joinNew(b, 'g');
  const j = await again.joined;
  expect(j.errorCode).toBe(ErrorCode.NONE);
  expect(b.groupState('g')).toBe('CompletingRebalance');
  expect(await fetched(b)).toMatchObject({ offset: 7n });
});

test('two coordinators that both believe they own the group: neither overwrites the other, the loser answers NOT_COORDINATOR', async () => {
  const a = await broker('A', everything);
  const b = await broker('B', everything);
  expect(await commit(a, 1n)).toEqual([ErrorCode.NONE]);
  expect(await commit(b, 2n)).toEqual([ErrorCode.NONE]); // B loaded the group after A's commit
  // A's write is conditional on the version it last saw: B's newer commit stays.
  expect(await commit(a, 3n)).toEqual([ErrorCode.NOT_COORDINATOR]);
  expect((await kv.get('offsets/g/t1/0'))?.value).toMatchObject({ offset: 2n });
  // A re-read the item; the client's retry writes on top of it.
  expect(await fetched(a)).toMatchObject({ offset: 2n });
  expect(await commit(a, 3n)).toEqual([ErrorCode.NONE]);
  expect(await commit(b, 4n)).toEqual([ErrorCode.NOT_COORDINATOR]);
  expect((await kv.get('offsets/g/t1/0'))?.value).toMatchObject({ offset: 3n });
});

test("a transaction completed by another broker's transaction coordinator reaches the group's coordinator", async () => {
  const placement = new Placement('B');
  const a = await broker('A', placement.of('A'));
  const b = await broker('B', placement.of('B'));
  const txnCommit = (c: GroupCoordinator, producerId: bigint, offset: bigint) =>
    c.commitTransactionalOffsets({ groupId: 'g', producerId, producerEpoch: 0, generationId: -1, memberId: '', groupInstanceId: null, offsets: [{ topic: 't1', partition: 0, offset, leaderEpoch: -1, metadata: 'tx' }] });
  expect(await commit(b, 5n)).toEqual([ErrorCode.NONE]);
  expect(await txnCommit(b, 900n, 10n)).toEqual([ErrorCode.NONE]);
  expect(await fetched(b, true)).toMatchObject({ offset: -1n, partitionError: ErrorCode.UNSTABLE_OFFSET_COMMIT });

  // The transaction's coordinator is on A, which does not coordinate 'g': it completes in the store.
  await a.completeTransaction(900n, ['g'], true);
  expect(await kv.list('txn-offsets/')).toEqual([]);
  expect((await kv.get('offsets/g/t1/0'))?.value).toMatchObject({ offset: 10n, metadata: 'tx' });
  // B re-reads the group (it had pending offsets) before answering from memory.
  expect(await fetched(b, true)).toEqual({ errorCode: ErrorCode.NONE, offset: 10n, partitionError: ErrorCode.NONE });
  expect(await commit(b, 11n)).toEqual([ErrorCode.NONE]);

  // An abort the same way drops the pending offsets and leaves the committed one.
  expect(await txnCommit(b, 901n, 20n)).toEqual([ErrorCode.NONE]);
  await a.completeTransaction(901n, ['g'], false);
  expect(await fetched(b, true)).toEqual({ errorCode: ErrorCode.NONE, offset: 11n, partitionError: ErrorCode.NONE });
  expect(a.groupState('g')).toBeUndefined();
});

test('ListGroups lists the groups this broker coordinates, including those nobody asked for since it took them over', async () => {
  const placement = new Placement('A');
  const a = await broker('A', placement.of('A'));
  const b = await broker('B', placement.of('B'));
  for (const g of ['g1', 'g2', 'g3', 'g4']) expect(await commit(a, 1n, { groupId: g })).toEqual([ErrorCode.NONE]);
  placement.move('g2', 'B');
  placement.move('g4', 'B');
  expect(b.listGroups([]).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
  await b.loadOwned();
  const names = (c: GroupCoordinator) => c.listGroups([]).groups.map((g) => g.groupId).sort();
  expect(b.listGroups([]).errorCode).toBe(ErrorCode.NONE);
  expect(names(b)).toEqual(['g2', 'g4']);
  await a.loadOwned();
  expect(names(a)).toEqual(['g1', 'g3']);
});
