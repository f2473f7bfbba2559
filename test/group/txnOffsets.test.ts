/**
 * Transactional offset commits on the group side: TxnOffsetCommit validation (Kafka's rules for
 * transactional commits), offsets pending until the transaction ends, OffsetFetch's
 * requireStable, the group lifecycle while offsets are pending, and the end-to-end path with
 * the transaction coordinator across a crash. Real embedded store, injected clock.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { createLogger } from '../../core/common/logger';
import { GroupCoordinator, type TxnOffsetCommitParams } from '../../core/group/coordinator';
import { txnOffsetKey } from '../../core/group/txnOffsets';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { VersionedKv } from '../../core/meta/versionedKv';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ProducerIdManager } from '../../core/txn/producerIdManager';
import { TransactionCoordinator, type TopicPartitionRef, type TxnMarkerWriter } from '../../core/txn/txnCoordinator';
import { TEST_CONFIG, joinNew } from './helpers';

interface FlakyKv extends VersionedKv {
  failPuts: boolean;
  failDeletes: boolean;
}

function flaky(kv: VersionedKv): FlakyKv {
  const view: FlakyKv = {
    failPuts: false,
    failDeletes: false,
    get: (k) => kv.get(k),
    list: (p) => kv.list(p),
    put: async (k, v, e) => {
      if (view.failPuts) throw new StrataError('STORE_UNAVAILABLE', 'store unreachable');
      return kv.put(k, v, e);
    },
    delete: async (k, e) => {
      if (view.failDeletes) throw new StrataError('STORE_UNAVAILABLE', 'store unreachable');
      return kv.delete(k, e);
    },
    close: async () => undefined,
  };
  return view;
}

interface Harness {
  kv: EmbeddedKv;
  meta: KvMetadataStore;
  offsetsKv: VersionedKv;
  txnKv: FlakyKv;
  topics: Map<string, { topicId: string; partitions: number }>;
  clock: { now: number };
  lines: string[];
  groups: GroupCoordinator;
  restart(): Promise<GroupCoordinator>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startHarness(opts: { withTxnStore?: boolean } = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-txnoff-'));
  const kv = await EmbeddedKv.open(dir);
  const meta = new KvMetadataStore(kv);
  const offsetsKv = meta.namespace('offsets');
  const txnKv = flaky(meta.namespace('txn-offsets'));
  const topics = new Map([
    ['t1', { topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 3 }],
    ['t2', { topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 2 }],
  ]);
  const clock = { now: 1_700_000_000_000 };
  const lines: string[] = [];
  const logger = createLogger('groups', (l) => lines.push(l));
  const started: GroupCoordinator[] = [];
  const open = async () => {
    const g = await GroupCoordinator.start(offsetsKv, TEST_CONFIG, {
      logger,
      topics: (name) => topics.get(name),
      now: () => clock.now,
      txnOffsets: opts.withTxnStore === false ? undefined : txnKv,
    });
    started.push(g);
    return g;
  };
  const h: Harness = {
    kv,
    meta,
    offsetsKv,
    txnKv,
    topics,
    clock,
    lines,
    groups: await open(),
    async restart() {
      await h.groups.close();
      h.groups = await open();
      return h.groups;
    },
  };
  cleanups.push(async () => {
    for (const g of started) await g.close();
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return h;
}

const PID = 42n;

function txnCommit(g: GroupCoordinator, p: Partial<TxnOffsetCommitParams> & { offsets?: TxnOffsetCommitParams['offsets'] } = {}) {
  return g.commitTransactionalOffsets({
    groupId: 'g',
    producerId: PID,
    producerEpoch: 0,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    offsets: [{ topic: 't1', partition: 0, offset: 10n, leaderEpoch: 2, metadata: 'txn' }],
    ...p,
  });
}

function commit(g: GroupCoordinator, topic: string, partition: number, offset: bigint, groupId = 'g') {
  return g.commitOffsets({ groupId, memberId: '', groupInstanceId: null, generationId: -1, retentionTimeMs: -1n, offsets: [{ topic, partition, offset, leaderEpoch: -1, metadata: null, commitTimestamp: -1n }] });
}

function fetchOne(g: GroupCoordinator, topic: string, partition: number, requireStable = false, groupId = 'g') {
  return g.fetchOffsets(groupId, [{ topic, partitions: [partition] }], requireStable).topics[0].partitions[0];
}

async function pendingKeys(h: Harness): Promise<string[]> {
  return (await h.txnKv.list('')).map((e) => e.key);
}

describe('TxnOffsetCommit validation', () => {
  test('unknown topics and partitions, an empty group id, metadata too large', async () => {
    const h = await startHarness();
    const codes = await txnCommit(h.groups, {
      offsets: [
        { topic: 't1', partition: 0, offset: 1n, leaderEpoch: -1, metadata: null },
        { topic: 'nope', partition: 0, offset: 1n, leaderEpoch: -1, metadata: null },
        { topic: 't2', partition: 2, offset: 1n, leaderEpoch: -1, metadata: null },
        { topic: 't2', partition: 1, offset: 1n, leaderEpoch: -1, metadata: 'x'.repeat(TEST_CONFIG.offsetMetadataMaxBytes + 1) },
      ],
    });
    expect(codes).toEqual([ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.OFFSET_METADATA_TOO_LARGE]);
    expect(await pendingKeys(h)).toEqual([txnOffsetKey('g', PID, 't1', 0)]);
    expect(await txnCommit(h.groups, { groupId: '' })).toEqual([ErrorCode.INVALID_GROUP_ID]);
  });

  test('an unknown group: generation -1 creates it (Empty), a generation is ILLEGAL_GENERATION', async () => {
    const h = await startHarness();
    expect(await txnCommit(h.groups, { groupId: 'member-group', generationId: 3, memberId: 'm' })).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(h.groups.groupState('member-group')).toBeUndefined();
    expect(await txnCommit(h.groups)).toEqual([ErrorCode.NONE]);
    expect(h.groups.groupState('g')).toBe('Empty');
  });

  test('KIP-447 member checks; no membership needed without member fields; no rebalance check', async () => {
    const h = await startHarness();
    const { memberId, joined } = await joinNew(h.groups, 'g');
    const j = await joined;
    expect(h.groups.groupState('g')).toBe('CompletingRebalance');
    // OffsetCommit would answer REBALANCE_IN_PROGRESS here; transactional commits are not held back.
    expect(await txnCommit(h.groups, { memberId, generationId: j.generationId })).toEqual([ErrorCode.NONE]);
    await h.groups.syncGroup({ groupId: 'g', generationId: j.generationId, memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: null, assignments: [] });
    expect(h.groups.groupState('g')).toBe('Stable');
    expect(await txnCommit(h.groups, { memberId, generationId: j.generationId })).toEqual([ErrorCode.NONE]);
    expect(await txnCommit(h.groups, { memberId, generationId: j.generationId + 1 })).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(await txnCommit(h.groups, { memberId: 'stranger', generationId: j.generationId })).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    expect(await txnCommit(h.groups, { memberId: '', generationId: j.generationId })).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    // Older TxnOffsetCommit versions carry no member: accepted even though the group has members.
    expect(await txnCommit(h.groups, { memberId: '', generationId: -1 })).toEqual([ErrorCode.NONE]);
  });

  test('a static member of an older incarnation is FENCED_INSTANCE_ID', async () => {
    const h = await startHarness();
    const j = await h.groups.joinGroup({
      groupId: 'g',
      memberId: '',
      groupInstanceId: 'instance-1',
      requireKnownMemberId: false,
      supportSkippingAssignment: false,
      clientId: 'c',
      clientHost: '/127.0.0.1',
      rebalanceTimeoutMs: 5000,
      sessionTimeoutMs: 10_000,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
      reason: null,
    });
    expect(j.errorCode).toBe(ErrorCode.NONE);
    expect(await txnCommit(h.groups, { memberId: 'old-incarnation', groupInstanceId: 'instance-1', generationId: j.generationId })).toEqual([ErrorCode.FENCED_INSTANCE_ID]);
    expect(await txnCommit(h.groups, { memberId: j.memberId, groupInstanceId: 'instance-1', generationId: j.generationId })).toEqual([ErrorCode.NONE]);
  });

  test('a store failure answers COORDINATOR_NOT_AVAILABLE and leaves nothing pending', async () => {
    const h = await startHarness();
    h.txnKv.failPuts = true;
    expect(await txnCommit(h.groups)).toEqual([ErrorCode.COORDINATOR_NOT_AVAILABLE]);
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.NONE);
    expect(h.groups.groupState('g')).toBeUndefined();
  });

  test('without a store for pending offsets, TxnOffsetCommit is COORDINATOR_NOT_AVAILABLE', async () => {
    const h = await startHarness({ withTxnStore: false });
    expect(await txnCommit(h.groups)).toEqual([ErrorCode.COORDINATOR_NOT_AVAILABLE]);
  });

  test('KIP-890 verification before the write, and again after it', async () => {
    const h = await startHarness();
    expect(await txnCommit(h.groups, { verify: () => ErrorCode.INVALID_TXN_STATE })).toEqual([ErrorCode.INVALID_TXN_STATE]);
    expect(await pendingKeys(h)).toEqual([]);
    expect(h.groups.groupState('g')).toBeUndefined();
    // The transaction ended (a timeout abort) while the offsets were being written.
    const answers = [ErrorCode.NONE, ErrorCode.INVALID_PRODUCER_EPOCH];
    expect(await txnCommit(h.groups, { verify: () => answers.shift()! })).toEqual([ErrorCode.INVALID_PRODUCER_EPOCH]);
    expect(await pendingKeys(h)).toEqual([]);
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.NONE);
    expect(h.groups.groupState('g')).toBeUndefined();
  });
});

describe('pending until the transaction ends', () => {
  test('invisible to OffsetFetch, UNSTABLE_OFFSET_COMMIT with requireStable, committed by the commit', async () => {
    const h = await startHarness();
    expect(await commit(h.groups, 't1', 0, 5n)).toEqual([ErrorCode.NONE]);
    expect(await txnCommit(h.groups)).toEqual([ErrorCode.NONE]);
    expect(fetchOne(h.groups, 't1', 0)).toMatchObject({ offset: 5n, errorCode: ErrorCode.NONE });
    expect(fetchOne(h.groups, 't1', 0, true)).toEqual({ partition: 0, offset: -1n, leaderEpoch: -1, metadata: '', errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT });
    expect(fetchOne(h.groups, 't1', 1, true)).toMatchObject({ offset: -1n, errorCode: ErrorCode.NONE });
    expect(h.groups.fetchOffsets('g', null, true).topics).toEqual([{ name: 't1', partitions: [{ partition: 0, offset: -1n, leaderEpoch: -1, metadata: '', errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT }] }]);

    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0, true)).toEqual({ partition: 0, offset: 10n, leaderEpoch: 2, metadata: 'txn', errorCode: ErrorCode.NONE });
    expect(await pendingKeys(h)).toEqual([]);
    const item = await h.offsetsKv.get('g/t1/0');
    expect(item!.value).toMatchObject({ offset: 10n, leaderEpoch: 2, metadata: 'txn', commitTimestamp: h.clock.now });
    // Idempotent: a second end finds nothing pending and writes nothing.
    await h.groups.completeTransaction(PID, ['g'], true);
    expect((await h.offsetsKv.get('g/t1/0'))!.version).toBe(item!.version);
  });

  test('the abort drops them', async () => {
    const h = await startHarness();
    await commit(h.groups, 't1', 0, 5n);
    await txnCommit(h.groups, { offsets: [{ topic: 't1', partition: 0, offset: 10n, leaderEpoch: -1, metadata: null }, { topic: 't2', partition: 1, offset: 3n, leaderEpoch: -1, metadata: null }] });
    await h.groups.completeTransaction(PID, ['g'], false);
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: 5n, errorCode: ErrorCode.NONE });
    expect(fetchOne(h.groups, 't2', 1, true)).toMatchObject({ offset: -1n, errorCode: ErrorCode.NONE });
    expect(await pendingKeys(h)).toEqual([]);
  });

  test('only the producer and the groups named are completed', async () => {
    const h = await startHarness();
    await txnCommit(h.groups);
    await txnCommit(h.groups, { producerId: 7n, offsets: [{ topic: 't1', partition: 1, offset: 70n, leaderEpoch: -1, metadata: null }] });
    await txnCommit(h.groups, { groupId: 'other' });
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0, true).offset).toBe(10n);
    expect(fetchOne(h.groups, 't1', 1, true).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    expect(fetchOne(h.groups, 't1', 0, true, 'other').errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
  });

  test('a regular commit made after the TxnOffsetCommit wins, as the later record does in Kafka', async () => {
    const h = await startHarness();
    await txnCommit(h.groups);
    h.clock.now += 100;
    await commit(h.groups, 't1', 0, 7n);
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: 7n, errorCode: ErrorCode.NONE });
    // One made before it does not.
    await commit(h.groups, 't1', 1, 1n);
    h.clock.now += 100;
    await txnCommit(h.groups, { offsets: [{ topic: 't1', partition: 1, offset: 11n, leaderEpoch: -1, metadata: null }] });
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 1, true).offset).toBe(11n);
  });

  test('an offset of a topic deleted (and re-created) meanwhile is not applied', async () => {
    const h = await startHarness();
    await txnCommit(h.groups);
    h.topics.set('t1', { topicId: 'AAAAAAAAAAAAAAAAAAAAAw', partitions: 3 });
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: -1n, errorCode: ErrorCode.NONE });
    expect(await pendingKeys(h)).toEqual([]);
  });

  test('a failed write rejects (the transaction coordinator retries); a crash between applying and cleaning up is harmless', async () => {
    const h = await startHarness();
    await txnCommit(h.groups);
    h.txnKv.failDeletes = true;
    await expect(h.groups.completeTransaction(PID, ['g'], true)).rejects.toThrow();
    // Applied, but still pending.
    expect(fetchOne(h.groups, 't1', 0).offset).toBe(10n);
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    // The consumer moves on meanwhile.
    h.clock.now += 50;
    await commit(h.groups, 't1', 0, 12n);
    h.txnKv.failDeletes = false;
    await h.restart();
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: 12n, errorCode: ErrorCode.NONE });
    expect(await pendingKeys(h)).toEqual([]);
  });

  test('completing on a closed coordinator rejects', async () => {
    const h = await startHarness();
    await h.groups.close();
    await expect(h.groups.completeTransaction(PID, ['g'], true)).rejects.toMatchObject({ code: 'COORDINATOR_UNAVAILABLE' });
  });
});

describe('group lifecycle with pending offsets', () => {
  test('a group known only by pending offsets survives expiration and restarts', async () => {
    const h = await startHarness();
    await txnCommit(h.groups);
    h.clock.now += TEST_CONFIG.offsetsRetentionMs * 2;
    await h.groups.expireOffsets();
    expect(h.groups.groupState('g')).toBe('Empty');
    await h.restart();
    expect(h.groups.groupState('g')).toBe('Empty');
    expect(h.groups.listGroups([]).groups.map((g) => g.groupId)).toEqual(['g']);
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    await h.groups.completeTransaction(PID, ['g'], false);
    expect(h.groups.groupState('g')).toBeUndefined();
  });

  test("a committed offset does not expire while a transactional offset for it is pending", async () => {
    const h = await startHarness();
    await commit(h.groups, 't1', 0, 5n);
    await commit(h.groups, 't1', 1, 6n);
    await txnCommit(h.groups);
    h.clock.now += TEST_CONFIG.offsetsRetentionMs + 1;
    await h.groups.expireOffsets();
    expect(fetchOne(h.groups, 't1', 0).offset).toBe(5n);
    expect(fetchOne(h.groups, 't1', 1).offset).toBe(-1n);
    await h.groups.completeTransaction(PID, ['g'], false);
    await h.groups.expireOffsets();
    expect(fetchOne(h.groups, 't1', 0).offset).toBe(-1n);
    expect(h.groups.groupState('g')).toBeUndefined();
  });

  test('DeleteGroups removes the pending offsets with the group; the later commit finds nothing', async () => {
    const h = await startHarness();
    await commit(h.groups, 't1', 1, 5n);
    await txnCommit(h.groups);
    expect(await h.groups.deleteGroups(['g'])).toEqual([{ groupId: 'g', errorCode: ErrorCode.NONE }]);
    expect(await pendingKeys(h)).toEqual([]);
    expect(h.groups.groupState('g')).toBeUndefined();
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: -1n, errorCode: ErrorCode.NONE });
    expect(h.groups.groupState('g')).toBeUndefined();
  });

  test('OffsetDelete removes the pending offsets of the partitions it deletes', async () => {
    const h = await startHarness();
    await txnCommit(h.groups, { offsets: [{ topic: 't1', partition: 0, offset: 10n, leaderEpoch: -1, metadata: null }, { topic: 't1', partition: 1, offset: 11n, leaderEpoch: -1, metadata: null }] });
    expect(await h.groups.deleteOffsets('g', [{ topic: 't1', partition: 0 }])).toEqual({ errorCode: ErrorCode.NONE, results: [ErrorCode.NONE] });
    expect(await pendingKeys(h)).toEqual([txnOffsetKey('g', PID, 't1', 1)]);
    await h.groups.completeTransaction(PID, ['g'], true);
    expect(fetchOne(h.groups, 't1', 0).offset).toBe(-1n);
    expect(fetchOne(h.groups, 't1', 1).offset).toBe(11n);
  });
});

// ---- end to end with the transaction coordinator ------------------------------------------------------------

class Markers implements TxnMarkerWriter {
  calls = 0;
  hanging = false;
  async writeMarkers(m: { partitions: TopicPartitionRef[] }) {
    this.calls++;
    if (this.hanging) await new Promise<never>(() => undefined);
    return m.partitions.map((partition) => ({ partition, errorCode: ErrorCode.NONE }));
  }
}

describe('with the transaction coordinator', () => {
  test('a commit decided before a crash is applied exactly once by the restarted coordinators', async () => {
    const h = await startHarness();
    const producerIds = new ProducerIdManager(h.meta.namespace('producer-ids'));
    const txnStore = h.meta.namespace('transactions');
    const logger = createLogger('txn', (l) => h.lines.push(l));
    const started: TransactionCoordinator[] = [];
    const startTxn = async (markers: Markers) => {
      const c = await TransactionCoordinator.start(
        txnStore,
        {
          producerIds,
          markers,
          // Always the current group coordinator (it is restarted below).
          offsets: { completeTransaction: (pid, groups, committed) => h.groups.completeTransaction(pid, groups, committed) },
          partitionExists: (tp) => (h.topics.get(tp.topic)?.partitions ?? 0) > tp.partition,
          logger,
          now: () => h.clock.now,
        },
        { transactionMaxTimeoutMs: 900_000, transactionalIdExpirationMs: 3600_000, abortTimedOutTransactionsIntervalMs: 3600_000, removeExpiredTransactionalIdsIntervalMs: 3600_000, coordinatorEpoch: 0, markerRetryBackoffMs: 1, endTxnCompletionWaitMs: 0 },
      );
      started.push(c);
      return c;
    };
    cleanups.push(async () => {
      for (const c of started) await c.close();
    });

    const hung = new Markers();
    hung.hanging = true;
    let txc = await startTxn(hung);
    const init = await txc.initProducerId({ transactionalId: 'app', transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
    const p = { transactionalId: 'app', producerId: init.producerId, producerEpoch: init.producerEpoch };
    expect((await txc.addPartitions({ ...p, partitions: [{ topic: 't2', partition: 0 }] }))[0].errorCode).toBe(ErrorCode.NONE);
    // TxnOffsetCommit before AddOffsetsToTxn is refused by verification.
    const verify = () => txc.verifyTxnOffsetCommit('app', p.producerId, p.producerEpoch, 'g');
    expect(await txnCommit(h.groups, { producerId: p.producerId, verify })).toEqual([ErrorCode.INVALID_TXN_STATE]);
    expect(await txc.addOffsets({ ...p, groupId: 'g' })).toBe(ErrorCode.NONE);
    expect(await txnCommit(h.groups, { producerId: p.producerId, verify })).toEqual([ErrorCode.NONE]);
    expect(await txc.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    expect(txc.transactionState('app')!.state).toBe('PrepareCommit');
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);

    // Both coordinators stop with the markers outstanding.
    await txc.close();
    await h.restart();
    expect(fetchOne(h.groups, 't1', 0, true).errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    const working = new Markers();
    txc = await startTxn(working);
    await txc.idle();
    expect(working.calls).toBe(1);
    expect(txc.transactionState('app')!.state).toBe('CompleteCommit');
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: 10n, errorCode: ErrorCode.NONE });
    expect((await h.offsetsKv.get('g/t1/0'))!.version).toBe(1);
    expect(await pendingKeys(h)).toEqual([]);

    // Nothing is left to resume: another restart applies nothing again.
    await txc.close();
    txc = await startTxn(new Markers());
    await txc.idle();
    expect((await h.offsetsKv.get('g/t1/0'))!.version).toBe(1);
  });

  test('a timeout abort drops the pending offsets', async () => {
    const h = await startHarness();
    const c = await TransactionCoordinator.start(
      h.meta.namespace('transactions'),
      {
        producerIds: new ProducerIdManager(h.meta.namespace('producer-ids')),
        markers: new Markers(),
        offsets: h.groups,
        partitionExists: () => true,
        logger: createLogger('txn', (l) => h.lines.push(l)),
        now: () => h.clock.now,
      },
      { transactionMaxTimeoutMs: 900_000, transactionalIdExpirationMs: 3600_000, abortTimedOutTransactionsIntervalMs: 3600_000, removeExpiredTransactionalIdsIntervalMs: 3600_000, coordinatorEpoch: 0 },
    );
    cleanups.push(() => c.close());
    const init = await c.initProducerId({ transactionalId: 'app', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 });
    const p = { transactionalId: 'app', producerId: init.producerId, producerEpoch: init.producerEpoch };
    await c.addOffsets({ ...p, groupId: 'g' });
    expect(await txnCommit(h.groups, { producerId: p.producerId, verify: () => c.verifyTxnOffsetCommit('app', p.producerId, p.producerEpoch, 'g') })).toEqual([ErrorCode.NONE]);
    h.clock.now += 1001;
    await c.abortTimedOutTransactions();
    await c.idle();
    expect(c.transactionState('app')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
    expect(await pendingKeys(h)).toEqual([]);
    expect(fetchOne(h.groups, 't1', 0, true)).toMatchObject({ offset: -1n, errorCode: ErrorCode.NONE });
  });
});
