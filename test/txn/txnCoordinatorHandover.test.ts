/**
 * Two transaction coordinators — two brokers — over one shared metadata store, each serving the
 * transactional ids its ownership gives it: a transaction decided by one is completed by the
 * other when the id moves, with a higher coordinator epoch on its markers; requests for ids
 * owned elsewhere get NOT_COORDINATOR.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../core/common/logger';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import type { CoordinatorOwnership } from '../../core/cluster/coordinatorPlacement';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ProducerIdManager } from '../../core/txn/producerIdManager';
import { txnKey } from '../../core/txn/transactionStateStore';
import { TransactionCoordinator, type TopicPartitionRef, type TransactionCoordinatorConfig, type TxnMarkerWriter, type TxnOffsetsCompleter } from '../../core/txn/txnCoordinator';

interface MarkerCall {
  producerId: bigint;
  producerEpoch: number;
  coordinatorEpoch: number;
  result: 'COMMIT' | 'ABORT';
  partitions: TopicPartitionRef[];
}

/** Records marker calls; hangs them while `hanging` (until release()). */
class Markers implements TxnMarkerWriter {
  readonly calls: MarkerCall[] = [];
  hanging = false;
  private parked: (() => void)[] = [];

  release(): void {
    this.hanging = false;
    for (const r of this.parked.splice(0)) r();
  }

  async writeMarkers(m: MarkerCall): Promise<{ partition: TopicPartitionRef; errorCode: number }[]> {
    this.calls.push({ ...m, partitions: [...m.partitions] });
    if (this.hanging) await new Promise<void>((resolve) => this.parked.push(resolve));
    return m.partitions.map((partition) => ({ partition, errorCode: ErrorCode.NONE }));
  }

  /** 'RESULT:topic-p@producerEpoch/coordinatorEpoch' per partition. */
  written(): string[] {
    return this.calls.flatMap((c) => c.partitions.map((tp) => `${c.result}:${tp.topic}-${tp.partition}@${c.producerEpoch}/${c.coordinatorEpoch}`));
  }
}

class Offsets implements TxnOffsetsCompleter {
  readonly calls: { producerId: bigint; groups: string[]; committed: boolean }[] = [];
  async completeTransaction(producerId: bigint, groups: string[], committed: boolean): Promise<void> {
    this.calls.push({ producerId, groups, committed });
  }
}

/** Which broker owns which id; moving one bumps the version. */
class Placement {
  version = 0;
  private readonly moved = new Map<string, string>();
  constructor(private readonly defaultOwner: string) {}

  move(key: string, to: string): void {
    this.moved.set(key, to);
    this.version++;
  }

  of(node: string): CoordinatorOwnership {
    const placement = this;
    return {
      owns: (key) => (placement.moved.get(key) ?? placement.defaultOwner) === node,
      get version() {
        return placement.version;
      },
    };
  }
}

const CONFIG: TransactionCoordinatorConfig = {
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 7 * 24 * 3600_000,
  abortTimedOutTransactionsIntervalMs: 3600_000,
  removeExpiredTransactionalIdsIntervalMs: 3600_000,
  coordinatorEpoch: 0,
  markerRetryBackoffMs: 1,
  endTxnCompletionWaitMs: 0,
};

let dir: string;
let kv: EmbeddedKv;
let meta: KvMetadataStore;
const clock = { now: 1_700_000_000_000 };
const lines: string[] = [];
const coordinators: TransactionCoordinator[] = [];
const offsets = new Offsets();

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-txn-handover-'));
  kv = await EmbeddedKv.open(dir);
  meta = new KvMetadataStore(kv);
  offsets.calls.length = 0;
});

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.close();
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A broker's transaction coordinator on the shared store; `floor` is its configured (lease) epoch. */
async function broker(name: string, ownership: CoordinatorOwnership, markers: Markers, floor: number): Promise<TransactionCoordinator> {
  const c = await TransactionCoordinator.start(
    meta.namespace('transactions'),
    {
      producerIds: new ProducerIdManager(meta.namespace('producer-ids'), { blockSize: 10 }),
      markers,
      offsets,
      partitionExists: (tp) => tp.topic === 't1' && tp.partition >= 0 && tp.partition < 3,
      logger: createLogger(`txn-${name}`, (l) => lines.push(l)),
      now: () => clock.now,
      ownership,
    },
    { ...CONFIG, coordinatorEpoch: floor },
  );
  coordinators.push(c);
  return c;
}

const tp = (partition: number): TopicPartitionRef => ({ topic: 't1', partition });

async function init(c: TransactionCoordinator, transactionalId: string, timeoutMs = 60_000) {
  const r = await c.initProducerId({ transactionalId, transactionTimeoutMs: timeoutMs, producerId: -1n, producerEpoch: -1 });
  expect(r.errorCode).toBe(ErrorCode.NONE);
  return { transactionalId, producerId: r.producerId, producerEpoch: r.producerEpoch };
}

const storedEpoch = async (id: string) => ((await meta.namespace('transactions').get(txnKey(id)))?.value as { coordinatorEpoch: number }).coordinatorEpoch;

test('a PrepareCommit left by A is completed by B, whose markers carry a higher coordinator epoch; A stands down', async () => {
  const placement = new Placement('A');
  const markersA = new Markers();
  const markersB = new Markers();
  // A's lease epoch is the higher one: per-id epochs do not depend on which broker started last.
  const a = await broker('A', placement.of('A'), markersA, 7);
  const b = await broker('B', placement.of('B'), markersB, 3);
  const p = await init(a, 'tx');
  expect((await a.addPartitions({ ...p, partitions: [tp(0), tp(2)] })).map((r) => r.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
  expect(await a.addOffsets({ ...p, groupId: 'g' })).toBe(ErrorCode.NONE);
  markersA.hanging = true;
  expect(await a.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);
  expect(markersA.written()).toEqual(['COMMIT:t1-0@0/7', 'COMMIT:t1-2@0/7']);
  expect(await storedEpoch('tx')).toBe(7);

  // B is not the coordinator of 'tx'.
  expect(await b.endTxn({ ...p, committed: true })).toBe(ErrorCode.NOT_COORDINATOR);
  expect((await b.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1n, producerEpoch: -1 })).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect(b.describeTransactions(['tx'])[0].errorCode).toBe(ErrorCode.NOT_COORDINATOR);

  // A fails (its markers hang for ever); the id moves to B, which takes it over and completes it.
  placement.move('tx', 'B');
  b.checkOwnership(); // what B's timer does within ownershipCheckIntervalMs
  await b.loadOwned();
  await b.idle();
  expect(markersB.written()).toEqual(['COMMIT:t1-0@0/8', 'COMMIT:t1-2@0/8']);
  expect(offsets.calls).toEqual([{ producerId: p.producerId, groups: ['g'], committed: true }]);
  expect(b.transactionState('tx')).toMatchObject({ state: 'CompleteCommit', producerId: p.producerId, producerEpoch: 0, partitions: [], groups: [] });
  expect(await storedEpoch('tx')).toBe(8);
  expect(lines.some((l) => l.includes('taking over the commit of transactional id "tx"'))).toBe(true);
  // The producer, sent to B by FindCoordinator, retries its EndTxn: the commit is done.
  expect(await b.endTxn({ ...p, committed: true })).toBe(ErrorCode.NONE);

  // A learns it lost the id: its completion is abandoned, it writes nothing more, answers NOT_COORDINATOR.
  a.checkOwnership();
  expect(a.transactionState('tx')).toBeUndefined();
  markersA.release();
  await a.idle();
  expect(markersA.calls).toHaveLength(1);
  expect((await meta.namespace('transactions').get(txnKey('tx')))?.value).toMatchObject({ state: 'CompleteCommit', coordinatorEpoch: 8 });
  expect(await a.endTxn({ ...p, committed: true })).toBe(ErrorCode.NOT_COORDINATOR);
});

test('an Ongoing transaction taken over is aborted by the new coordinator once past its timeout', async () => {
  const placement = new Placement('A');
  const markersB = new Markers();
  const a = await broker('A', placement.of('A'), new Markers(), 5);
  const b = await broker('B', placement.of('B'), markersB, 5);
  const p = await init(a, 'slow', 10_000);
  expect((await a.addPartitions({ ...p, partitions: [tp(1)] }))[0].errorCode).toBe(ErrorCode.NONE);
  placement.move('slow', 'B');
  await b.loadOwned();
  expect(b.transactionState('slow')).toMatchObject({ state: 'Ongoing' });
  await b.abortTimedOutTransactions();
  expect(markersB.calls).toEqual([]); // not timed out yet
  clock.now += 10_001;
  await b.abortTimedOutTransactions();
  await b.idle();
  // Fenced with the next producer epoch; the coordinator epoch is above A's 5.
  expect(markersB.written()).toEqual(['ABORT:t1-1@1/6']);
  expect(b.transactionState('slow')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
  // A, which still thinks it owns nothing else, does not abort it too.
  await a.abortTimedOutTransactions();
  expect(await a.addPartitions({ ...p, partitions: [tp(1)] })).toEqual([{ partition: tp(1), errorCode: ErrorCode.NOT_COORDINATOR }]);
});

test('an id that moves away and back gets a higher epoch from each new coordinator; a stale copy cannot write', async () => {
  const placement = new Placement('A');
  const markersA = new Markers();
  const markersB = new Markers();
  const a = await broker('A', placement.of('A'), markersA, 2);
  const b = await broker('B', placement.of('B'), markersB, 2);
  const p0 = await init(a, 'pp');
  expect(await storedEpoch('pp')).toBe(2);
  placement.move('pp', 'B');
  const p1 = await init(b, 'pp'); // the producer restarts against B: B loads the id on this request
  expect(p1).toMatchObject({ producerId: p0.producerId, producerEpoch: 1 });
  expect(await storedEpoch('pp')).toBe(3);
  placement.move('pp', 'A');
  // A never looked while B had the id (its timer did not run in between), so it still holds 'pp'
  // at producer epoch 0: its conditional write loses to B's, it re-reads the id and answers
  // NOT_COORDINATOR; the client's retry meets the current state.
  expect((await a.addPartitions({ ...p0, partitions: [tp(0)] }))[0].errorCode).toBe(ErrorCode.NOT_COORDINATOR);
  expect((await a.addPartitions({ ...p0, partitions: [tp(0)] }))[0].errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  expect((await a.addPartitions({ ...p1, partitions: [tp(0)] }))[0].errorCode).toBe(ErrorCode.NONE);
  expect(await storedEpoch('pp')).toBe(4);
  expect(await a.endTxn({ ...p1, committed: false })).toBe(ErrorCode.NONE);
  await a.idle();
  expect(markersA.written()).toEqual(['ABORT:t1-0@1/4']);
});

test('verification of ids coordinated elsewhere', async () => {
  const placement = new Placement('A');
  const a = await broker('A', placement.of('A'), new Markers(), 1);
  const b = await broker('B', placement.of('B'), new Markers(), 1);
  const p = await init(a, 'v');
  await a.addPartitions({ ...p, partitions: [tp(0)] });
  await a.addOffsets({ ...p, groupId: 'g' });
  expect(a.verifyTransactionalWrite('v', p.producerId, 0, tp(0))).toBe(ErrorCode.NONE);
  // As a coordinator B does not know the id (AddPartitionsToTxn verify_only is sent to the coordinator).
  expect(b.verifyTransactionalWrite('v', p.producerId, 0, tp(0))).toBe(ErrorCode.NOT_COORDINATOR);
  // A partition leader's synchronous check cannot read another broker's state: not verified.
  expect(b.verifyWriteForPartition('v', p.producerId, 0, tp(1))).toBe(ErrorCode.NONE);
  expect(a.verifyWriteForPartition('v', p.producerId, 0, tp(1))).toBe(ErrorCode.INVALID_TXN_STATE);
  // From any broker, the stored state answers.
  expect(await b.verifyTransactionalWriteAnywhere('v', p.producerId, 0, tp(0))).toBe(ErrorCode.NONE);
  expect(await b.verifyTransactionalWriteAnywhere('v', p.producerId, 0, tp(1))).toBe(ErrorCode.INVALID_TXN_STATE);
  expect(await b.verifyTransactionalWriteAnywhere('v', p.producerId, 1, tp(0))).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  expect(await b.verifyTxnOffsetCommitAnywhere('v', p.producerId, 0, 'g')).toBe(ErrorCode.NONE);
  expect(await b.verifyTxnOffsetCommitAnywhere('nope', 1n, 0, 'g')).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
  expect(await a.verifyTxnOffsetCommitAnywhere('v', p.producerId, 0, 'other')).toBe(ErrorCode.INVALID_TXN_STATE);
  // ListTransactions: each broker lists the ids it coordinates.
  await b.loadOwned();
  expect(b.listTransactions({ states: [], producerIds: [], durationFilterMs: -1n })).toMatchObject({ errorCode: ErrorCode.NONE, transactionStates: [] });
  expect(a.listTransactions({ states: [], producerIds: [], durationFilterMs: -1n }).transactionStates).toEqual([{ transactionalId: 'v', producerId: p.producerId, transactionState: 'Ongoing' }]);
});
