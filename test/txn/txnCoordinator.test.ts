/**
 * The transaction coordinator on a real embedded metadata store, with a marker writer and an
 * offsets completer of the test's own that record calls and fail or hang on demand. Time is
 * an injected clock; nothing waits for a fixed delay.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { createLogger } from '../../core/common/logger';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { VersionedKv } from '../../core/meta/versionedKv';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ProducerIdManager } from '../../core/txn/producerIdManager';
import { TransactionStateStore, txnKey } from '../../core/txn/transactionStateStore';
import type { TxnMetadata } from '../../core/txn/transactionMetadata';
import {
  TransactionCoordinator,
  type TopicPartitionRef,
  type TransactionCoordinatorConfig,
  type TxnMarkerWriter,
  type TxnOffsetsCompleter,
} from '../../core/txn/txnCoordinator';

// ---- test doubles -----------------------------------------------------------------------------------

interface MarkerCall {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  result: 'COMMIT' | 'ABORT';
  partitions: TopicPartitionRef[];
}

const tpKey = (tp: TopicPartitionRef) => `${tp.topic}-${tp.partition}`;

/** Records every call; answers NONE unless told otherwise per partition, or hangs while `hanging`. */
class FakeMarkers implements TxnMarkerWriter {
  readonly calls: MarkerCall[] = [];
  /** Codes to answer, per partition, one per call, before NONE. */
  private readonly script = new Map<string, number[]>();
  hanging = false;
  /** Calls from this index on hang (until release()). */
  hangFrom = Infinity;
  throwNext = 0;
  private parked: (() => void)[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  /** Resolves once `n` calls have been made. */
  waitForCalls(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  answer(tp: string, ...codes: number[]): void {
    this.script.set(tp, [...(this.script.get(tp) ?? []), ...codes]);
  }

  /** Lets hung calls resolve (with NONE for every partition). */
  release(): void {
    this.hanging = false;
    this.hangFrom = Infinity;
    for (const r of this.parked.splice(0)) r();
  }

  async writeMarkers(m: MarkerCall): Promise<{ partition: TopicPartitionRef; errorCode: number }[]> {
    this.calls.push({ ...m, partitions: [...m.partitions] });
    for (const w of this.waiters.filter((x) => this.calls.length >= x.n)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
    if (this.hanging || this.calls.length > this.hangFrom) await new Promise<void>((resolve) => this.parked.push(resolve));
    if (this.throwNext > 0) {
      this.throwNext--;
      throw new Error('connection reset');
    }
    return m.partitions.map((partition) => ({ partition, errorCode: this.script.get(tpKey(partition))?.shift() ?? ErrorCode.NONE }));
  }

  /** Partitions that received a marker call, as 'RESULT:topic-p@epoch'. */
  written(): string[] {
    return this.calls.flatMap((c) => c.partitions.map((tp) => `${c.result}:${tpKey(tp)}@${c.producerEpoch}`));
  }
}

class FakeOffsets implements TxnOffsetsCompleter {
  readonly calls: { producerId: bigint; groups: string[]; committed: boolean }[] = [];
  failNext = 0;
  async completeTransaction(producerId: bigint, groups: string[], committed: boolean): Promise<void> {
    this.calls.push({ producerId, groups, committed });
    if (this.failNext > 0) {
      this.failNext--;
      throw new StrataError('STORE_UNAVAILABLE', 'offsets store down');
    }
  }
}

interface FlakyKv extends VersionedKv {
  failWrites: boolean;
  /** Resolves at the next write refused while failWrites is set. */
  nextFailure(): Promise<void>;
}

/** A view of a store whose writes can be made to fail, as when DynamoDB is unreachable. */
function flaky(kv: VersionedKv): FlakyKv {
  let onFailure: (() => void)[] = [];
  const refuse = () => {
    for (const r of onFailure.splice(0)) r();
    return new StrataError('STORE_UNAVAILABLE', 'store unreachable');
  };
  const view: FlakyKv = {
    failWrites: false,
    nextFailure: () => new Promise((resolve) => onFailure.push(resolve)),
    get: (k) => kv.get(k),
    list: (p) => kv.list(p),
    put: async (k, v, e) => {
      if (view.failWrites) throw refuse();
      return kv.put(k, v, e);
    },
    delete: async (k, e) => {
      if (view.failWrites) throw refuse();
      return kv.delete(k, e);
    },
    close: async () => undefined,
  };
  return view;
}

// ---- harness ----------------------------------------------------------------------------------------

const BASE_CONFIG: TransactionCoordinatorConfig = {
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 7 * 24 * 3600_000,
  abortTimedOutTransactionsIntervalMs: 3600_000,
  removeExpiredTransactionalIdsIntervalMs: 3600_000,
  coordinatorEpoch: 7,
  markerRetryBackoffMs: 1,
  endTxnCompletionWaitMs: 2000,
};

interface Harness {
  dir: string;
  kv: EmbeddedKv;
  /** The 'transactions' namespace, with switchable write failures. */
  txnKv: FlakyKv;
  markers: FakeMarkers;
  offsets: FakeOffsets;
  clock: { now: number };
  lines: string[];
  /** Topics that exist, with their partition counts. */
  topics: Map<string, number>;
  c: TransactionCoordinator;
  /** A new coordinator on the same store (the old one closed first unless told not to): a restart. */
  restart(opts?: { config?: Partial<TransactionCoordinatorConfig>; markers?: FakeMarkers; closeOld?: boolean }): Promise<TransactionCoordinator>;
}

const open = new Set<{ close(): Promise<void> }>();
afterEach(async () => {
  jest.useRealTimers();
  for (const h of [...open]) await h.close();
  open.clear();
});

async function startHarness(config: Partial<TransactionCoordinatorConfig> = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-txn-'));
  const kv = await EmbeddedKv.open(dir);
  const meta = new KvMetadataStore(kv);
  const txnKv = flaky(meta.namespace('transactions'));
  const lines: string[] = [];
  const logger = createLogger('txn', (l) => lines.push(l));
  const topics = new Map<string, number>([
    ['t1', 3],
    ['t2', 2],
  ]);
  const clock = { now: 1_700_000_000_000 };
  const producerIds = new ProducerIdManager(meta.namespace('producer-ids'), { blockSize: 10 });
  const offsets = new FakeOffsets();
  const coordinators: TransactionCoordinator[] = [];
  const startOne = async (markers: FakeMarkers, c: Partial<TransactionCoordinatorConfig>) => {
    const co = await TransactionCoordinator.start(
      txnKv,
      {
        producerIds,
        markers,
        offsets,
        partitionExists: (tp) => tp.partition >= 0 && tp.partition < (topics.get(tp.topic) ?? 0),
        logger,
        now: () => clock.now,
      },
      { ...BASE_CONFIG, ...config, ...c },
    );
    coordinators.push(co);
    return co;
  };
  const markers = new FakeMarkers();
  const h: Harness = {
    dir,
    kv,
    txnKv,
    markers,
    offsets,
    clock,
    lines,
    topics,
    c: await startOne(markers, {}),
    async restart(opts = {}) {
      if (opts.closeOld !== false) await h.c.close();
      if (opts.markers) h.markers = opts.markers;
      h.c = await startOne(h.markers, opts.config ?? {});
      return h.c;
    },
  };
  open.add({
    close: async () => {
      for (const co of coordinators) await co.close();
      await kv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
  return h;
}

const tp = (topic: string, partition: number): TopicPartitionRef => ({ topic, partition });

/** A transactional producer at epoch 0 (InitProducerId for a new id). */
async function init(c: TransactionCoordinator, transactionalId: string, timeoutMs = 60_000) {
  const r = await c.initProducerId({ transactionalId, transactionTimeoutMs: timeoutMs, producerId: -1n, producerEpoch: -1 });
  expect(r.errorCode).toBe(ErrorCode.NONE);
  return { transactionalId, producerId: r.producerId, producerEpoch: r.producerEpoch };
}

async function add(c: TransactionCoordinator, p: { transactionalId: string; producerId: bigint; producerEpoch: number }, ...partitions: TopicPartitionRef[]) {
  return (await c.addPartitions({ ...p, partitions })).map((r) => r.errorCode);
}

/** Writes a transaction state item directly, as a previous coordinator (or another broker) left it. */
async function storeState(h: Harness, m: Partial<TxnMetadata> & { transactionalId: string }, expectedVersion = 0): Promise<number> {
  const full: TxnMetadata = {
    producerId: 500n,
    lastProducerId: 500n,
    producerEpoch: 3,
    lastProducerEpoch: -1,
    transactionTimeoutMs: 60_000,
    state: 'Empty',
    partitions: [],
    groups: [],
    txnStartTimestamp: -1,
    txnLastUpdateTimestamp: h.clock.now,
    ...m,
  };
  return new TransactionStateStore(h.txnKv).put(full, expectedVersion);
}

// ---- InitProducerId ---------------------------------------------------------------------------------

describe('InitProducerId', () => {
  test('without a transactional id: a new producer id at epoch 0 each time', async () => {
    const h = await startHarness();
    const a = await h.c.initProducerId({ transactionalId: null, transactionTimeoutMs: 0, producerId: -1n, producerEpoch: -1 });
    const b = await h.c.initProducerId({ transactionalId: null, transactionTimeoutMs: 0, producerId: 42n, producerEpoch: 3 });
    expect(a).toEqual({ errorCode: ErrorCode.NONE, producerId: 0n, producerEpoch: 0 });
    expect(b).toEqual({ errorCode: ErrorCode.NONE, producerId: 1n, producerEpoch: 0 });
  });

  test('an empty id, a half-given producer, and timeouts outside (0, max] are refused', async () => {
    const h = await startHarness();
    const call = (p: Partial<Parameters<TransactionCoordinator['initProducerId']>[0]>) =>
      h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1, ...p });
    expect((await call({ transactionalId: '' })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await call({ producerId: 5n })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await call({ producerEpoch: 2 })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect(await call({ transactionTimeoutMs: 0 })).toEqual({ errorCode: ErrorCode.INVALID_TRANSACTION_TIMEOUT, producerId: -1n, producerEpoch: -1 });
    expect((await call({ transactionTimeoutMs: -5 })).errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect((await call({ transactionTimeoutMs: 900_001 })).errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect((await call({ transactionTimeoutMs: 900_000 })).errorCode).toBe(ErrorCode.NONE);
  });

  test('a new id gets epoch 0 and one stored item; every later call bumps the epoch', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx-a', 30_000);
    expect(p.producerEpoch).toBe(0);
    const item = await h.txnKv.get(txnKey('tx-a'));
    expect(item).toEqual({
      key: 'tx-a',
      version: 1,
      value: {
        transactionalId: 'tx-a',
        producerId: p.producerId,
        lastProducerId: p.producerId,
        producerEpoch: 0,
        lastProducerEpoch: -1,
        transactionTimeoutMs: 30_000,
        state: 'Empty',
        topics: [],
        groups: [],
        txnStartTimestamp: -1,
        txnLastUpdateTimestamp: h.clock.now,
        // The first coordinator of the id writes the configured epoch (the floor).
        coordinatorEpoch: 7,
      },
    });
    const again = await h.c.initProducerId({ transactionalId: 'tx-a', transactionTimeoutMs: 45_000, producerId: -1n, producerEpoch: -1 });
    expect(again).toEqual({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: 1 });
    expect(h.c.transactionState('tx-a')).toMatchObject({ producerEpoch: 1, lastProducerEpoch: -1, transactionTimeoutMs: 45_000 });
    expect(h.lines.some((l) => l.includes('initialized transactional id "tx-a"') && l.includes('epoch 1'))).toBe(true);
  });

  test('KIP-360: the current epoch bumps, a retry of that bump gets the same answer, anything older is fenced', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    const call = (producerId: bigint, producerEpoch: number) => h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId, producerEpoch });
    expect(await call(p.producerId, 0)).toEqual({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: 1 });
    expect(h.c.transactionState('tx')).toMatchObject({ producerEpoch: 1, lastProducerEpoch: 0 });
    // The answer was lost; the producer asks again with the epoch it still has.
    expect(await call(p.producerId, 0)).toEqual({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: 1 });
    expect(await call(p.producerId, 1)).toEqual({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: 2 });
    // Epoch 0 is neither current (2) nor last (1).
    expect(await call(p.producerId, 0)).toEqual({ errorCode: ErrorCode.PRODUCER_FENCED, producerId: -1n, producerEpoch: -1 });
    expect((await call(p.producerId + 100n, 2)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    // A new instance (no producer) always bumps, and forgets the last epoch.
    expect(await call(-1n, -1)).toEqual({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: 3 });
    expect((await call(p.producerId, 2)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });

  test('an exhausted epoch rotates to a new producer id; the rotation can be retried with the old id', async () => {
    const h = await startHarness();
    await storeState(h, { transactionalId: 'old', producerId: 900n, lastProducerId: 900n, producerEpoch: 32766, state: 'CompleteCommit', txnStartTimestamp: 1 });
    await storeState(h, { transactionalId: 'kip360', producerId: 901n, lastProducerId: 901n, producerEpoch: 32766, state: 'CompleteAbort', txnStartTimestamp: 1 });
    await h.restart();
    const plain = await h.c.initProducerId({ transactionalId: 'old', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 });
    expect(plain.errorCode).toBe(ErrorCode.NONE);
    expect(plain.producerId).not.toBe(900n);
    expect(plain.producerEpoch).toBe(0);
    expect(h.c.transactionState('old')).toMatchObject({ lastProducerId: 900n, lastProducerEpoch: -1 });

    const rotated = await h.c.initProducerId({ transactionalId: 'kip360', transactionTimeoutMs: 1000, producerId: 901n, producerEpoch: 32766 });
    expect(rotated.errorCode).toBe(ErrorCode.NONE);
    expect(rotated.producerEpoch).toBe(0);
    expect(h.c.transactionState('kip360')).toMatchObject({ producerId: rotated.producerId, lastProducerId: 901n, lastProducerEpoch: 32766 });
    for (let i = 0; i < 2; i++) {
      // The retries of a lost answer name the old producer id with its exhausted epoch.
      const retry = await h.c.initProducerId({ transactionalId: 'kip360', transactionTimeoutMs: 1000, producerId: 901n, producerEpoch: 32766 });
      expect(retry).toEqual({ errorCode: ErrorCode.NONE, producerId: rotated.producerId, producerEpoch: 0 });
    }
    // The old id with an epoch that is not exhausted is an older incarnation.
    expect((await h.c.initProducerId({ transactionalId: 'kip360', transactionTimeoutMs: 1000, producerId: 901n, producerEpoch: 5 })).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });
});

// ---- AddPartitionsToTxn / AddOffsetsToTxn ------------------------------------------------------------

describe('adding to a transaction', () => {
  test('unknown ids and other producer ids are INVALID_PRODUCER_ID_MAPPING, other epochs PRODUCER_FENCED', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    expect(await add(h.c, { ...p, transactionalId: 'nobody' }, tp('t1', 0))).toEqual([ErrorCode.INVALID_PRODUCER_ID_MAPPING]);
    expect(await add(h.c, { ...p, producerId: p.producerId + 1n }, tp('t1', 0))).toEqual([ErrorCode.INVALID_PRODUCER_ID_MAPPING]);
    expect(await add(h.c, { ...p, producerEpoch: 1 }, tp('t1', 0))).toEqual([ErrorCode.PRODUCER_FENCED]);
    expect(await h.c.addOffsets({ ...p, transactionalId: 'nobody', groupId: 'g' })).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await h.c.addOffsets({ ...p, producerEpoch: 9, groupId: 'g' })).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await h.c.endTxn({ ...p, transactionalId: 'nobody', committed: true })).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await h.c.endTxn({ ...p, producerId: 12345n, committed: true })).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await h.c.endTxn({ ...p, producerEpoch: 1, committed: true })).toBe(ErrorCode.PRODUCER_FENCED);
    expect(h.c.transactionState('tx')?.state).toBe('Empty');
  });

  test('a partition that does not exist fails the request and adds nothing', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    const r = await h.c.addPartitions({ ...p, partitions: [tp('t1', 0), tp('nope', 0), tp('t2', 5)] });
    expect(r.map((x) => x.errorCode)).toEqual([ErrorCode.OPERATION_NOT_ATTEMPTED, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    expect(r[1].partition).toEqual(tp('nope', 0));
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'Empty', partitions: [] });
  });

  test('partitions and groups make the transaction Ongoing; its start is its first addition', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    const t0 = h.clock.now;
    expect(await add(h.c, p, tp('t2', 1), tp('t1', 0))).toEqual([0, 0]);
    h.clock.now += 500;
    expect(await h.c.addOffsets({ ...p, groupId: 'g1' })).toBe(ErrorCode.NONE);
    expect(await add(h.c, p, tp('t1', 2), tp('t1', 0))).toEqual([0, 0]);
    const m = h.c.transactionState('tx')!;
    expect(m).toMatchObject({ state: 'Ongoing', txnStartTimestamp: t0, txnLastUpdateTimestamp: t0 + 500, groups: ['g1'] });
    expect(m.partitions).toEqual([tp('t1', 0), tp('t1', 2), tp('t2', 1)]);
    const stored = (await h.txnKv.get('tx'))!;
    expect(stored.value).toMatchObject({ state: 'Ongoing', topics: [{ topic: 't1', partitions: [0, 2] }, { topic: 't2', partitions: [1] }], groups: ['g1'] });
    // Already part of it: answered without a write.
    expect(await add(h.c, p, tp('t1', 2))).toEqual([0]);
    expect(await h.c.addOffsets({ ...p, groupId: 'g1' })).toBe(0);
    expect((await h.txnKv.get('tx'))!.version).toBe(stored.version);
  });

  test('concurrent additions to one id are serialised, none lost', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    const results = await Promise.all([add(h.c, p, tp('t1', 0)), add(h.c, p, tp('t1', 1)), h.c.addOffsets({ ...p, groupId: 'g' }), add(h.c, p, tp('t2', 0))]);
    expect(results).toEqual([[0], [0], 0, [0]]);
    expect(h.c.transactionState('tx')!.partitions).toHaveLength(3);
    expect(h.c.transactionState('tx')!.groups).toEqual(['g']);
  });
});

// ---- EndTxn and markers -------------------------------------------------------------------------------

describe('ending a transaction', () => {
  test('commit: markers to every partition with the producer epoch, then the groups, then CompleteCommit', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0), tp('t2', 1));
    await h.c.addOffsets({ ...p, groupId: 'g' });
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    // EndTxn waited for the completion (endTxnCompletionWaitMs).
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'CompleteCommit', partitions: [], groups: [], producerEpoch: 0 });
    expect(h.markers.calls).toEqual([{ producerId: p.producerId, producerEpoch: 0, coordinatorEpoch: 7, result: 'COMMIT', partitions: [tp('t1', 0), tp('t2', 1)] }]);
    expect(h.offsets.calls).toEqual([{ producerId: p.producerId, groups: ['g'], committed: true }]);
    // Retries of the same end are answered NONE; the other result is INVALID_TXN_STATE.
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.INVALID_TXN_STATE);
    // The next transaction of the same producer starts afresh.
    h.clock.now += 10;
    await add(h.c, p, tp('t1', 1));
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'Ongoing', txnStartTimestamp: h.clock.now, partitions: [tp('t1', 1)] });
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.NONE);
    expect(h.c.transactionState('tx')!.state).toBe('CompleteAbort');
    expect(h.markers.written()).toEqual(['COMMIT:t1-0@0', 'COMMIT:t2-1@0', 'ABORT:t1-1@0']);
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.NONE);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.INVALID_TXN_STATE);
  });

  test('EndTxn on an Empty id is INVALID_TXN_STATE; a transaction with nothing in it completes without markers', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await add(h.c, p)).toEqual([]);
    expect(h.c.transactionState('tx')!.state).toBe('Ongoing');
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    expect(h.c.transactionState('tx')!.state).toBe('CompleteCommit');
    expect(h.markers.calls).toEqual([]);
    expect(h.offsets.calls).toEqual([]);
  });

  test('while the markers are outstanding: the decision is durable, and every request gets its Kafka answer', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    h.markers.hanging = true;
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    expect(h.c.transactionState('tx')!.state).toBe('PrepareCommit');
    expect((await h.txnKv.get('tx'))!.value).toMatchObject({ state: 'PrepareCommit' });
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await add(h.c, p, tp('t1', 1))).toEqual([ErrorCode.CONCURRENT_TRANSACTIONS]);
    expect(await h.c.addOffsets({ ...p, groupId: 'g' })).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect((await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(h.c.describeTransactions(['tx'])[0]).toMatchObject({ transactionState: 'PrepareCommit', topics: [{ topic: 't1', partitions: [0] }] });
    h.markers.release();
    await h.c.idle();
    expect(h.c.transactionState('tx')!.state).toBe('CompleteCommit');
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
  });

  test('an aborting transaction answers the same way, mirrored', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    h.markers.hanging = true;
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.NONE);
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.INVALID_TXN_STATE);
    h.markers.release();
    await h.c.idle();
    expect(h.c.transactionState('tx')!.state).toBe('CompleteAbort');
  });

  test('retriable marker errors are retried per partition; a deleted topic is skipped', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0), tp('t1', 1), tp('t2', 0));
    h.markers.answer('t1-0', ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.REQUEST_TIMED_OUT);
    h.markers.answer('t2-0', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    await h.c.idle();
    expect(h.markers.calls.map((c) => c.partitions.map(tpKey))).toEqual([['t1-0', 't1-1', 't2-0'], ['t1-0'], ['t1-0']]);
    expect(h.c.transactionState('tx')!.state).toBe('CompleteCommit');
    expect(h.lines.some((l) => l.includes('t2-0 no longer exists'))).toBe(true);

    // A topic deleted before the markers go out is not even asked.
    await add(h.c, p, tp('t1', 0), tp('t2', 1));
    h.topics.delete('t2');
    expect(await h.c.endTxn({ ...p, committed: false })).toBe(ErrorCode.NONE);
    expect(h.markers.calls[h.markers.calls.length - 1].partitions).toEqual([tp('t1', 0)]);
    expect(h.c.transactionState('tx')!.state).toBe('CompleteAbort');
  });

  test('a marker writer that throws, and an offsets completer that fails, are retried', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    await h.c.addOffsets({ ...p, groupId: 'g' });
    h.markers.throwNext = 2;
    h.offsets.failNext = 2;
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    await h.c.idle();
    expect(h.markers.calls).toHaveLength(3);
    expect(h.offsets.calls).toHaveLength(3);
    expect(h.c.transactionState('tx')!.state).toBe('CompleteCommit');
    // Repeated failures are logged once per interval, not once per attempt.
    expect(h.lines.filter((l) => l.includes('WARN') && l.includes('retrying')).length).toBeLessThanOrEqual(2);
  });

  test('INVALID_PRODUCER_EPOCH or TRANSACTION_COORDINATOR_FENCED while this coordinator still owns the transaction: that marker is skipped, the transaction completes', async () => {
    // Someone else wrote a newer epoch to the partition (a WriteTxnMarkers, a batch naming the
    // producer id): no retry gets past it, and staying in Prepare* would wedge the id for ever.
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0), tp('t1', 1));
    h.markers.answer('t1-1', ErrorCode.TRANSACTION_COORDINATOR_FENCED);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    await h.c.idle();
    expect(h.markers.calls).toHaveLength(1);
    expect(h.c.transactionState('tx')!.state).toBe('CompleteCommit');
    expect(h.lines.some((l) => l.includes('ERROR') && l.includes('TRANSACTION_COORDINATOR_FENCED') && l.includes('marker is skipped'))).toBe(true);
  });

  test('the same refusal after another coordinator wrote the transaction: this one is stale and abandons its markers', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    h.markers.hanging = true;
    h.markers.answer('t1-0', ErrorCode.INVALID_PRODUCER_EPOCH);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    await h.markers.waitForCalls(1);
    // Another coordinator (another broker, a later epoch) took the item over: init, add, prepare were versions 1-3.
    await storeState(h, { transactionalId: 'tx', producerId: p.producerId, producerEpoch: p.producerEpoch + 1, state: 'PrepareAbort', partitions: [tp('t1', 0)] }, 3);
    h.markers.release();
    await h.c.idle();
    expect(h.markers.calls).toHaveLength(1);
    expect(h.lines.some((l) => l.includes('ERROR') && l.includes('INVALID_PRODUCER_EPOCH') && l.includes('abandoning'))).toBe(true);
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'PrepareAbort', producerEpoch: p.producerEpoch + 1 });
  });
});

// ---- fencing and timeouts -------------------------------------------------------------------------------

describe('fencing', () => {
  test('a second InitProducerId aborts the ongoing transaction with a bumped epoch; the old producer is fenced', async () => {
    const h = await startHarness();
    const old = await init(h.c, 'tx');
    await add(h.c, old, tp('t1', 0), tp('t2', 0));
    await h.c.addOffsets({ ...old, groupId: 'g' });
    const second = await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
    // The bumped epoch is never returned: the new instance retries.
    expect(second).toEqual({ errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1n, producerEpoch: -1 });
    await h.c.idle();
    expect(h.markers.written()).toEqual(['ABORT:t1-0@1', 'ABORT:t2-0@1']);
    expect(h.offsets.calls).toEqual([{ producerId: old.producerId, groups: ['g'], committed: false }]);
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1, lastProducerEpoch: -1 });
    expect(h.lines.some((l) => l.includes('fencing epoch 0 with 1'))).toBe(true);

    expect(await add(h.c, old, tp('t1', 1))).toEqual([ErrorCode.PRODUCER_FENCED]);
    expect(await h.c.endTxn({ ...old, committed: true })).toBe(ErrorCode.PRODUCER_FENCED);
    expect(h.c.verifyTransactionalWrite('tx', old.producerId, 0, tp('t1', 0))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    // A KIP-360 retry by the old producer names an epoch that is neither current nor last.
    expect((await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: old.producerId, producerEpoch: 0 })).errorCode).toBe(ErrorCode.PRODUCER_FENCED);

    const retry = await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
    expect(retry).toEqual({ errorCode: ErrorCode.NONE, producerId: old.producerId, producerEpoch: 2 });
  });

  test('while the fencing abort completes, retries get CONCURRENT_TRANSACTIONS; then the next epoch', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const old = await init(h.c, 'tx');
    await add(h.c, old, tp('t1', 0));
    h.markers.hanging = true;
    const first = await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
    expect(first.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'PrepareAbort', producerEpoch: 1 });
    expect((await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    h.markers.release();
    await h.c.idle();
    expect((await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 })).producerEpoch).toBe(2);
  });

  test('a transaction older than its timeout is aborted with an epoch bump, one info line each', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'slow', 1000);
    const q = await init(h.c, 'quick', 5000);
    await add(h.c, p, tp('t1', 0));
    await add(h.c, q, tp('t1', 1));
    h.clock.now += 1000;
    await h.c.abortTimedOutTransactions();
    expect(h.c.transactionState('slow')!.state).toBe('Ongoing');
    h.clock.now += 1;
    await h.c.abortTimedOutTransactions();
    await h.c.idle();
    expect(h.c.transactionState('slow')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
    expect(h.c.transactionState('quick')!.state).toBe('Ongoing');
    expect(h.markers.written()).toEqual(['ABORT:t1-0@1']);
    const lines = h.lines.filter((l) => l.includes('INFO') && l.includes('exceeded its timeout of 1000 ms'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"slow"');
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.PRODUCER_FENCED);
  });

  test('the abort timer runs every abortTimedOutTransactionsIntervalMs', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date'] });
    const h = await startHarness({ abortTimedOutTransactionsIntervalMs: 1000 });
    const p = await init(h.c, 'tx', 100);
    await add(h.c, p, tp('t1', 0));
    h.clock.now += 101;
    jest.advanceTimersByTime(999);
    await h.c.idle();
    expect(h.c.transactionState('tx')!.state).toBe('Ongoing');
    jest.advanceTimersByTime(1);
    await h.c.idle();
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
  });
});

describe('transactional id expiration', () => {
  test('ids idle in Empty or Complete* longer than transactional.id.expiration.ms are deleted; ongoing ones stay', async () => {
    const h = await startHarness({ transactionalIdExpirationMs: 10_000 });
    const a = await init(h.c, 'idle');
    const b = await init(h.c, 'busy');
    await add(h.c, b, tp('t1', 0));
    const c = await init(h.c, 'done');
    await add(h.c, c, tp('t1', 1));
    await h.c.endTxn({ ...c, committed: true });
    h.clock.now += 9_999;
    await h.c.removeExpiredTransactionalIds();
    expect(h.c.transactionState('idle')).toBeDefined();
    h.clock.now += 1;
    await h.c.removeExpiredTransactionalIds();
    expect(h.c.transactionState('idle')).toBeUndefined();
    expect(h.c.transactionState('done')).toBeUndefined();
    expect(h.c.transactionState('busy')!.state).toBe('Ongoing');
    expect(await h.txnKv.get('idle')).toBeNull();
    expect(await h.txnKv.get('done')).toBeNull();
    expect(h.lines.some((l) => l.includes('expired transactional id "idle"'))).toBe(true);
    // The old producer is unknown now; a new InitProducerId starts over with a new producer id.
    expect(await add(h.c, a, tp('t1', 0))).toEqual([ErrorCode.INVALID_PRODUCER_ID_MAPPING]);
    const again = await init(h.c, 'idle');
    expect(again.producerId).not.toBe(a.producerId);
    expect(again.producerEpoch).toBe(0);
  });
});

// ---- verification, describe, list -------------------------------------------------------------------

describe('verification (KIP-890 part 1)', () => {
  test('a write is verified only for the ongoing transaction of this producer id and epoch, for an added partition', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    const v = (tpr: TopicPartitionRef, producerId = p.producerId, epoch = p.producerEpoch, id = 'tx') => h.c.verifyTransactionalWrite(id, producerId, epoch, tpr);
    expect(v(tp('t1', 0), p.producerId, 0, 'nobody')).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(v(tp('t1', 0))).toBe(ErrorCode.INVALID_TXN_STATE);
    await add(h.c, p, tp('t1', 0));
    await h.c.addOffsets({ ...p, groupId: 'g' });
    expect(v(tp('t1', 0))).toBe(ErrorCode.NONE);
    expect(v(tp('t1', 1))).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(v(tp('t1', 0), p.producerId + 1n)).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(v(tp('t1', 0), p.producerId, 3)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect(h.c.verifyTxnOffsetCommit('tx', p.producerId, 0, 'g')).toBe(ErrorCode.NONE);
    expect(h.c.verifyTxnOffsetCommit('tx', p.producerId, 0, 'other')).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(h.c.verifyTxnOffsetCommit('tx', p.producerId, 1, 'g')).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    h.markers.hanging = true;
    await h.c.endTxn({ ...p, committed: true });
    expect(v(tp('t1', 0))).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    h.markers.release();
    await h.c.idle();
    expect(v(tp('t1', 0))).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(h.c.verifyTxnOffsetCommit('tx', p.producerId, 0, 'g')).toBe(ErrorCode.INVALID_TXN_STATE);
  });
});

describe('DescribeTransactions and ListTransactions', () => {
  test('describe reports Kafka fields, TRANSACTIONAL_ID_NOT_FOUND for unknown ids', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx', 30_000);
    const start = h.clock.now;
    await add(h.c, p, tp('t2', 1), tp('t1', 0), tp('t1', 2));
    await h.c.addOffsets({ ...p, groupId: 'g' });
    const [found, missing, empty] = h.c.describeTransactions(['tx', 'nope', '']);
    expect(found).toEqual({
      errorCode: ErrorCode.NONE,
      transactionalId: 'tx',
      transactionState: 'Ongoing',
      transactionTimeoutMs: 30_000,
      transactionStartTimeMs: BigInt(start),
      producerId: p.producerId,
      producerEpoch: 0,
      topics: [
        { topic: 't1', partitions: [0, 2] },
        { topic: 't2', partitions: [1] },
      ],
    });
    expect(missing).toMatchObject({ errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, transactionalId: 'nope' });
    expect(empty.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  test('while completing, describe shows only the partitions still without a marker', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0), tp('t1', 1));
    h.markers.answer('t1-1', ErrorCode.NOT_LEADER_OR_FOLLOWER);
    // The first call answers (t1-0 done, t1-1 to retry); the retry hangs.
    h.markers.hangFrom = 1;
    await h.c.endTxn({ ...p, committed: true });
    await h.markers.waitForCalls(2);
    expect(h.c.describeTransactions(['tx'])[0]).toMatchObject({ transactionState: 'PrepareCommit', topics: [{ topic: 't1', partitions: [1] }] });
    h.markers.release();
    await h.c.idle();
  });

  test('list filters by state, producer id and duration (KIP-994), and reports unknown states', async () => {
    const h = await startHarness();
    const a = await init(h.c, 'a');
    const b = await init(h.c, 'b');
    await init(h.c, 'c');
    await add(h.c, a, tp('t1', 0));
    h.clock.now += 1000;
    await add(h.c, b, tp('t1', 1));
    h.clock.now += 500;
    const list = (f: Partial<Parameters<TransactionCoordinator['listTransactions']>[0]>) =>
      h.c.listTransactions({ states: [], producerIds: [], durationFilterMs: -1n, ...f }).transactionStates.map((t) => t.transactionalId).sort();
    expect(list({})).toEqual(['a', 'b', 'c']);
    expect(list({ states: ['Ongoing'] })).toEqual(['a', 'b']);
    expect(list({ producerIds: [b.producerId] })).toEqual(['b']);
    // a runs for 1500 ms, b for 500 ms.
    expect(list({ states: ['Ongoing'], durationFilterMs: 500n })).toEqual(['a']);
    expect(list({ states: ['Ongoing'], durationFilterMs: 1499n })).toEqual(['a']);
    expect(list({ states: ['Ongoing'], durationFilterMs: 1500n })).toEqual([]);
    const r = h.c.listTransactions({ states: ['Ongoing', 'Bogus'], producerIds: [], durationFilterMs: -1n });
    expect(r.errorCode).toBe(ErrorCode.NONE);
    expect(r.unknownStateFilters).toEqual(['Bogus']);
    expect(r.transactionStates.find((t) => t.transactionalId === 'a')).toEqual({ transactionalId: 'a', producerId: a.producerId, transactionState: 'Ongoing' });
    expect(list({ states: ['Bogus'] })).toEqual([]);
  });
});

// ---- durability and failures ----------------------------------------------------------------------------

describe('crash recovery', () => {
  test('a coordinator closed while markers hang leaves the decision; the next one writes the markers and completes', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0), tp('t2', 1));
    await h.c.addOffsets({ ...p, groupId: 'g' });
    const stale = h.markers;
    stale.hanging = true;
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    expect(stale.calls).toHaveLength(1);
    // close() does not wait for the hung marker write.
    const fresh = new FakeMarkers();
    const c2 = await h.restart({ markers: fresh });
    await c2.idle();
    expect(fresh.written()).toEqual(['COMMIT:t1-0@0', 'COMMIT:t2-1@0']);
    // The restarted coordinator wrote the decision again with the next epoch before its markers,
    // so that a partition refuses any late marker of the one before it.
    expect(fresh.calls[0].coordinatorEpoch).toBe(8);
    expect(stale.calls[0].coordinatorEpoch).toBe(7);
    expect(h.offsets.calls).toEqual([{ producerId: p.producerId, groups: ['g'], committed: true }]);
    expect(c2.transactionState('tx')).toMatchObject({ state: 'CompleteCommit', partitions: [], groups: [] });
    expect(h.lines.some((l) => l.includes('resuming the commit of transactional id "tx"'))).toBe(true);
    // The old coordinator's hung call finishing later changes nothing.
    stale.release();
    await c2.idle();
    expect((await h.txnKv.get('tx'))!.value).toMatchObject({ state: 'CompleteCommit' });
    expect(await c2.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
  });

  test('a fence decided before a crash is finished by the next coordinator with the bumped epoch', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    h.markers.hanging = true;
    await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 });
    const fresh = new FakeMarkers();
    const c2 = await h.restart({ markers: fresh });
    await c2.idle();
    expect(fresh.written()).toEqual(['ABORT:t1-0@1']);
    expect(c2.transactionState('tx')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
  });

  test('a stored PrepareEpochFence becomes an abort with its (already bumped) epoch', async () => {
    const h = await startHarness();
    await storeState(h, { transactionalId: 'f', producerId: 77n, producerEpoch: 4, state: 'PrepareEpochFence', partitions: [tp('t1', 2)], groups: ['g'], txnStartTimestamp: 5 });
    const c2 = await h.restart();
    await c2.idle();
    expect(h.markers.written()).toEqual(['ABORT:t1-2@4']);
    expect(h.offsets.calls).toEqual([{ producerId: 77n, groups: ['g'], committed: false }]);
    expect(c2.transactionState('f')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 4, lastProducerEpoch: -1 });
  });

  test('state survives a restart exactly as written', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    await h.c.addOffsets({ ...p, groupId: 'g' });
    const before = h.c.transactionState('tx');
    const c2 = await h.restart();
    expect(c2.transactionState('tx')).toEqual(before);
    expect(await add(c2, p, tp('t1', 1))).toEqual([0]);
  });
});

describe('store failures and other writers', () => {
  test('a failed write answers COORDINATOR_NOT_AVAILABLE and leaves memory as it was', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    const before = h.c.transactionState('tx');
    h.txnKv.failWrites = true;
    expect(await add(h.c, p, tp('t1', 1))).toEqual([ErrorCode.COORDINATOR_NOT_AVAILABLE]);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    // A fence that could not be written bumped nothing.
    expect((await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect((await h.c.initProducerId({ transactionalId: 'new-id', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(h.c.transactionState('tx')).toEqual(before);
    expect(h.c.transactionState('new-id')).toBeUndefined();
    expect(h.markers.calls).toEqual([]);
    h.txnKv.failWrites = false;
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
    expect(h.c.transactionState('tx')).toMatchObject({ state: 'CompleteCommit', producerEpoch: 0 });
  });

  test('the Complete write is retried until the store is back', async () => {
    const h = await startHarness({ endTxnCompletionWaitMs: 0 });
    const p = await init(h.c, 'tx');
    await add(h.c, p, tp('t1', 0));
    h.markers.hanging = true;
    await h.c.endTxn({ ...p, committed: true });
    h.txnKv.failWrites = true;
    const refused = h.txnKv.nextFailure();
    h.markers.release();
    await refused;
    expect(h.c.transactionState('tx')!.state).toBe('PrepareCommit');
    h.txnKv.failWrites = false;
    await h.c.idle();
    expect(h.c.transactionState('tx')!.state).toBe('CompleteCommit');
  });

  test('another writer: the item is reloaded and the request answered NOT_COORDINATOR', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    // Another broker bumped the epoch behind this coordinator's back.
    await storeState(h, { transactionalId: 'tx', producerId: p.producerId, producerEpoch: 5, state: 'Empty' }, 1);
    expect(await add(h.c, p, tp('t1', 0))).toEqual([ErrorCode.NOT_COORDINATOR]);
    expect(h.c.transactionState('tx')).toMatchObject({ producerEpoch: 5 });
    expect(await add(h.c, p, tp('t1', 0))).toEqual([ErrorCode.PRODUCER_FENCED]);
    // And the other way round: an id created elsewhere first.
    await storeState(h, { transactionalId: 'race', producerId: 321n, producerEpoch: 0 });
    expect((await h.c.initProducerId({ transactionalId: 'race', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect((await h.c.initProducerId({ transactionalId: 'race', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).producerId).toBe(321n);
  });

  test('after close every call answers COORDINATOR_NOT_AVAILABLE', async () => {
    const h = await startHarness();
    const p = await init(h.c, 'tx');
    await h.c.close();
    expect((await h.c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect((await h.c.initProducerId({ transactionalId: null, transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(await add(h.c, p, tp('t1', 0))).toEqual([ErrorCode.COORDINATOR_NOT_AVAILABLE]);
    expect(await h.c.addOffsets({ ...p, groupId: 'g' })).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(await h.c.endTxn({ ...p, committed: true })).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(h.c.verifyTransactionalWrite('tx', p.producerId, 0, tp('t1', 0))).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(h.c.describeTransactions(['tx'])[0].errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(h.c.listTransactions({ states: [], producerIds: [], durationFilterMs: -1n }).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  });

  test('long transactional ids get a hashed key and keep working', async () => {
    const h = await startHarness();
    const id = 'x/'.repeat(400);
    const p = await init(h.c, id);
    await add(h.c, p, tp('t1', 0));
    expect(txnKey(id)).toMatch(/^#[0-9a-f]{64}$/);
    expect((await h.txnKv.get(txnKey(id)))!.value).toMatchObject({ transactionalId: id, state: 'Ongoing' });
    const c2 = await h.restart();
    expect(c2.transactionState(id)!.state).toBe('Ongoing');
    expect(txnKey('a/b c')).toBe('a%2Fb%20c');
  });
});
