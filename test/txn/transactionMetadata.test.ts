/**
 * The pure transitions of transaction state, against Kafka's TransactionMetadata rules, and
 * the stored form (transactionStateStore.ts) round trip.
 */
import { decodeKvValue, encodeKvValue } from '../../core/meta/json';
import { ErrorCode } from '../../core/protocol/errorCodes';
import {
  alreadyInTransaction,
  endTxnRetryAnswer,
  isEpochExhausted,
  isExpirationAllowed,
  isValidExpectedProducer,
  needsProducerIdRotation,
  newTransaction,
  partitionsByTopic,
  prepareAbortOrCommit,
  prepareAddToTransaction,
  prepareComplete,
  prepareEpochFenceAbort,
  prepareIncrementProducerEpoch,
  prepareProducerIdRotation,
  unionPartitions,
  type TxnMetadata,
} from '../../core/txn/transactionMetadata';
import { decodeTxn, encodeTxn, txnKey } from '../../core/txn/transactionStateStore';

const T0 = 1_000_000;

function meta(m: Partial<TxnMetadata> = {}): TxnMetadata {
  return {
    transactionalId: 'tx',
    producerId: 10n,
    lastProducerId: 10n,
    producerEpoch: 4,
    lastProducerEpoch: -1,
    transactionTimeoutMs: 60_000,
    state: 'Empty',
    partitions: [],
    groups: [],
    txnStartTimestamp: -1,
    txnLastUpdateTimestamp: T0,
    ...m,
  };
}

function bump(m: TxnMetadata, expected: number | null) {
  const t = prepareIncrementProducerEpoch(m, 30_000, expected, T0 + 1);
  return t.ok ? t.next : t.errorCode;
}

describe('InitProducerId transitions (KIP-360)', () => {
  test('a new id starts at epoch -1 and its first bump gives epoch 0', () => {
    const fresh = newTransaction('tx', 3n, 5000, T0);
    expect(fresh).toMatchObject({ producerId: 3n, producerEpoch: -1, lastProducerEpoch: -1, state: 'Empty', txnStartTimestamp: -1 });
    expect(bump(fresh, null)).toMatchObject({ producerEpoch: 0, lastProducerEpoch: -1, transactionTimeoutMs: 30_000 });
    // A producer recovering from UNKNOWN_PRODUCER_ID names its old producer: any id is valid for a new id.
    expect(isValidExpectedProducer(fresh, { producerId: 99n, producerEpoch: 7 })).toBe(true);
    expect(bump(fresh, 7)).toMatchObject({ producerEpoch: 0, lastProducerEpoch: -1 });
  });

  test('no expected epoch: bump and forget the last epoch', () => {
    expect(bump(meta({ lastProducerEpoch: 3 }), null)).toMatchObject({ producerEpoch: 5, lastProducerEpoch: -1, state: 'Empty', partitions: [], txnLastUpdateTimestamp: T0 + 1 });
  });

  test('expected = current: bump, remembering it; expected = last: the retry answer; otherwise fenced', () => {
    const bumped = bump(meta(), 4) as TxnMetadata;
    expect(bumped).toMatchObject({ producerEpoch: 5, lastProducerEpoch: 4 });
    expect(bump(bumped, 4)).toMatchObject({ producerEpoch: 5, lastProducerEpoch: 4 });
    expect(bump(bumped, 3)).toBe(ErrorCode.PRODUCER_FENCED);
    expect(bump(bumped, 6)).toBe(ErrorCode.PRODUCER_FENCED);
  });

  test('which expected producers are valid', () => {
    const m = meta({ producerId: 20n, lastProducerId: 10n });
    expect(isValidExpectedProducer(m, { producerId: 20n, producerEpoch: 0 })).toBe(true);
    expect(isValidExpectedProducer(m, { producerId: 10n, producerEpoch: 32766 })).toBe(true);
    expect(isValidExpectedProducer(m, { producerId: 10n, producerEpoch: 32765 })).toBe(false);
    expect(isValidExpectedProducer(m, { producerId: 11n, producerEpoch: 32766 })).toBe(false);
  });

  test('epochs are exhausted at Short.MAX - 1; rotation then gives a new producer id at epoch 0', () => {
    expect(isEpochExhausted(32765)).toBe(false);
    expect(isEpochExhausted(32766)).toBe(true);
    const m = meta({ producerEpoch: 32766, state: 'CompleteCommit', txnStartTimestamp: 5 });
    expect(needsProducerIdRotation(m, null)).toBe(true);
    expect(needsProducerIdRotation(m, { producerId: 10n, producerEpoch: 32766 })).toBe(true);
    // A retry of the last bump does not rotate.
    expect(needsProducerIdRotation(m, { producerId: 10n, producerEpoch: 32765 })).toBe(false);
    expect(prepareProducerIdRotation(m, 77n, 1000, T0 + 2, true)).toMatchObject({ producerId: 77n, lastProducerId: 10n, producerEpoch: 0, lastProducerEpoch: 32766, state: 'Empty', txnStartTimestamp: -1 });
    expect(prepareProducerIdRotation(m, 77n, 1000, T0 + 2, false).lastProducerEpoch).toBe(-1);
    expect(() => prepareProducerIdRotation(meta({ state: 'Ongoing' }), 77n, 1000, T0, false)).toThrow();
  });

  test('an exhausted epoch is never bumped, but its retry and fenced answers remain', () => {
    const m = meta({ producerEpoch: 32766, lastProducerEpoch: 32765 });
    expect(bump(m, 32765)).toMatchObject({ producerEpoch: 32766 });
    expect(bump(m, 3)).toBe(ErrorCode.PRODUCER_FENCED);
    expect(() => bump(m, null)).toThrow(/exhausted/);
  });
});

describe('transaction transitions', () => {
  test('adding partitions and groups: Ongoing, sorted unions, the start set once', () => {
    const first = prepareAddToTransaction(meta(), { partitions: [{ topic: 'b', partition: 1 }, { topic: 'a', partition: 2 }] }, T0 + 5);
    expect(first).toMatchObject({ state: 'Ongoing', txnStartTimestamp: T0 + 5, txnLastUpdateTimestamp: T0 + 5 });
    const second = prepareAddToTransaction(first, { partitions: [{ topic: 'a', partition: 2 }, { topic: 'a', partition: 0 }], groups: ['g2', 'g1'] }, T0 + 9);
    expect(second.partitions).toEqual([
      { topic: 'a', partition: 0 },
      { topic: 'a', partition: 2 },
      { topic: 'b', partition: 1 },
    ]);
    expect(second).toMatchObject({ groups: ['g1', 'g2'], txnStartTimestamp: T0 + 5, txnLastUpdateTimestamp: T0 + 9 });
    expect(alreadyInTransaction(second, { partitions: [{ topic: 'b', partition: 1 }], groups: ['g1'] })).toBe(true);
    expect(alreadyInTransaction(second, { groups: ['g3'] })).toBe(false);
    expect(alreadyInTransaction(meta(), {})).toBe(false);
    expect(() => prepareAddToTransaction(meta({ state: 'PrepareCommit' }), {}, T0)).toThrow();
  });

  test('end, completion, and the fence', () => {
    const ongoing = prepareAddToTransaction(meta(), { partitions: [{ topic: 'a', partition: 0 }], groups: ['g'] }, T0);
    const prepared = prepareAbortOrCommit(ongoing, true, T0 + 1);
    expect(prepared).toMatchObject({ state: 'PrepareCommit', producerEpoch: 4, partitions: ongoing.partitions, groups: ['g'] });
    expect(prepareComplete(prepared, T0 + 2)).toMatchObject({ state: 'CompleteCommit', producerEpoch: 4, partitions: [], groups: [], txnStartTimestamp: T0 });
    expect(prepareComplete(prepareAbortOrCommit(ongoing, false, T0), T0).state).toBe('CompleteAbort');
    expect(() => prepareAbortOrCommit(meta(), true, T0)).toThrow();
    expect(() => prepareComplete(ongoing, T0)).toThrow();

    const fenced = prepareEpochFenceAbort({ ...ongoing, lastProducerEpoch: 3 }, T0 + 3);
    expect(fenced).toMatchObject({ state: 'PrepareAbort', producerEpoch: 5, lastProducerEpoch: -1, partitions: ongoing.partitions });
    // A stored PrepareEpochFence already carries the bumped epoch; Short.MAX cannot be bumped.
    expect(prepareEpochFenceAbort({ ...ongoing, state: 'PrepareEpochFence' }, T0).producerEpoch).toBe(4);
    expect(prepareEpochFenceAbort({ ...ongoing, producerEpoch: 32767 }, T0).producerEpoch).toBe(32767);
    expect(() => prepareEpochFenceAbort(meta(), T0)).toThrow();
  });

  test("EndTxn's answers outside Ongoing", () => {
    expect(endTxnRetryAnswer('CompleteCommit', true)).toBe(ErrorCode.NONE);
    expect(endTxnRetryAnswer('CompleteCommit', false)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(endTxnRetryAnswer('CompleteAbort', false)).toBe(ErrorCode.NONE);
    expect(endTxnRetryAnswer('CompleteAbort', true)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(endTxnRetryAnswer('PrepareCommit', true)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(endTxnRetryAnswer('PrepareCommit', false)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(endTxnRetryAnswer('PrepareAbort', false)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(endTxnRetryAnswer('PrepareAbort', true)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(endTxnRetryAnswer('Empty', true)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(endTxnRetryAnswer('Dead', true)).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
    expect(endTxnRetryAnswer('PrepareEpochFence', false)).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
  });

  test('expiration is allowed in Empty and Complete* only', () => {
    expect(['Empty', 'CompleteCommit', 'CompleteAbort'].every((s) => isExpirationAllowed(s as TxnMetadata['state']))).toBe(true);
    expect(['Ongoing', 'PrepareCommit', 'PrepareAbort', 'Dead', 'PrepareEpochFence'].some((s) => isExpirationAllowed(s as TxnMetadata['state']))).toBe(false);
  });

  test('partition helpers', () => {
    const tps = unionPartitions([{ topic: 'b', partition: 0 }], [{ topic: 'a', partition: 3 }, { topic: 'a', partition: 1 }, { topic: 'b', partition: 0 }]);
    expect(partitionsByTopic(tps)).toEqual([
      { topic: 'a', partitions: [1, 3] },
      { topic: 'b', partitions: [0] },
    ]);
  });
});

describe('stored form', () => {
  test('round-trips through the bigint-safe JSON', () => {
    const m = meta({
      producerId: 2n ** 62n,
      state: 'PrepareCommit',
      partitions: [
        { topic: 'a', partition: 0 },
        { topic: 'a', partition: 5 },
        { topic: 'b', partition: 1 },
      ],
      groups: ['$weird', 'g'],
      txnStartTimestamp: T0,
    });
    const encoded = encodeTxn(m);
    expect(encoded).toMatchObject({ topics: [{ topic: 'a', partitions: [0, 5] }, { topic: 'b', partitions: [1] }] });
    expect(decodeTxn(decodeKvValue(encodeKvValue(encoded)))).toEqual(m);
  });

  test('anything else is not transaction state', () => {
    expect(decodeTxn(null)).toBeNull();
    expect(decodeTxn({ ...(encodeTxn(meta()) as object), state: 'Bogus' })).toBeNull();
    expect(decodeTxn({ ...(encodeTxn(meta()) as object), producerId: 5 })).toBeNull();
    expect(decodeTxn({ ...(encodeTxn(meta()) as object), topics: [{ topic: 'a', partitions: ['0'] }] })).toBeNull();
  });

  test('keys: percent-encoded ids, a hash for long ones', () => {
    expect(txnKey('my-app/tx 1')).toBe('my-app%2Ftx%201');
    expect(txnKey('é'.repeat(100))).toMatch(/^#[0-9a-f]{64}$/);
    expect(txnKey('e'.repeat(512))).toBe('e'.repeat(512));
    expect(txnKey('e'.repeat(513))).toMatch(/^#/);
  });
});
