import fc from 'fast-check';
import { isStrataError } from '../../core/common/errors';
import { buildEndTxnMarker } from '../../core/log/controlRecords';
import {
  AbortedTxn,
  AppendBatch,
  AppendOrigin,
  CompletedTxn,
  NO_PRODUCER_EPOCH,
  PRODUCER_BATCHES_KEPT,
  ProducerStateManager,
  StagedAppend,
  appendBatchOf,
  inSequence,
  incrementSequence,
  lastSequenceOf,
} from '../../core/log/producerState';
import { validateRecords } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { fixCrc, makeTmpDir, removeDir } from './helpers';

const INT32_MAX = 2 ** 31 - 1;

interface DataSpec {
  pid: bigint;
  epoch?: number;
  seq: number;
  count?: number;
  txn?: boolean;
  ts?: bigint;
}
interface MarkerSpec {
  pid: bigint;
  epoch?: number;
  marker: 'COMMIT' | 'ABORT' | 'UNKNOWN' | null;
  coordinatorEpoch?: number;
}
type Spec = DataSpec | MarkerSpec | { plain: number };

/**
 * A partition in miniature: assigns offsets, stages, "writes", commits and completes transactions
 * in the order the log will, recording the aborted-index entries it would write.
 */
class Harness {
  next = 0n;
  aborted: AbortedTxn[] = [];
  logLines: string[] = [];
  clock = 1_000_000;
  readonly psm: ProducerStateManager;
  constructor(dir: string, expirationMs = 60_000) {
    this.psm = new ProducerStateManager(dir, { producerIdExpirationMs: expirationMs, now: () => this.clock, logger: (m) => this.logLines.push(m) });
  }

  batches(specs: Spec[]): AppendBatch[] {
    let offset = this.next;
    return specs.map((s) => {
      let b: AppendBatch;
      if ('plain' in s) {
        b = { producerId: -1n, producerEpoch: -1, baseSequence: -1, lastOffsetDelta: s.plain - 1, baseOffset: offset, maxTimestamp: 5n, isTransactional: false, isControl: false };
      } else if ('marker' in s) {
        b = {
          producerId: s.pid,
          producerEpoch: s.epoch ?? 0,
          baseSequence: -1,
          lastOffsetDelta: 0,
          baseOffset: offset,
          maxTimestamp: BigInt(this.clock),
          isTransactional: true,
          isControl: true,
          marker: s.marker === null ? null : { type: s.marker, coordinatorEpoch: s.coordinatorEpoch ?? 0 },
        };
      } else {
        b = {
          producerId: s.pid,
          producerEpoch: s.epoch ?? 0,
          baseSequence: s.seq,
          lastOffsetDelta: (s.count ?? 1) - 1,
          baseOffset: offset,
          maxTimestamp: s.ts ?? BigInt(this.clock),
          isTransactional: s.txn ?? false,
          isControl: false,
        };
      }
      offset += BigInt(b.lastOffsetDelta) + 1n;
      return b;
    });
  }

  /** The whole append path; returns the staged append, or throws what stage threw. */
  append(specs: Spec[], origin: AppendOrigin = 'client'): StagedAppend {
    const batches = this.batches(specs);
    const staged = this.psm.stage(batches, origin);
    this.next = staged.endOffset ?? this.next;
    this.psm.commit(staged);
    for (const c of staged.completedTxns) {
      if (c.isAborted) {
        this.aborted.push({ producerId: c.producerId, firstOffset: c.firstOffset, lastOffset: c.lastOffset, lastStableOffset: this.psm.lastStableOffsetOf(c) });
      }
      this.psm.completeTxn(c);
    }
    return staged;
  }

  /** The error code stage throws for `specs`, or 'ok'; never changes the state. */
  codeOf(specs: Spec[], origin: AppendOrigin = 'client'): string {
    try {
      this.psm.stage(this.batches(specs), origin);
      return 'ok';
    } catch (e) {
      return isStrataError(e) ? e.code : `non-strata: ${(e as Error).message}`;
    }
  }
}

let dir: string;
let h: Harness;
beforeEach(() => {
  dir = makeTmpDir('strata-pstate-');
  h = new Harness(dir);
});
afterEach(() => removeDir(dir));

describe('sequence arithmetic (DefaultRecordBatch)', () => {
  it.each([
    [0, 0, 0],
    [0, 4, 4],
    [INT32_MAX - 1, 1, INT32_MAX],
    [INT32_MAX, 1, 0],
    [INT32_MAX - 1, 3, 1],
    [INT32_MAX, 0, INT32_MAX],
  ])('incrementSequence(%d, %d) = %d', (seq, inc, want) => {
    expect(incrementSequence(seq, inc)).toBe(want);
  });

  it('lastSequenceOf keeps NO_SEQUENCE', () => {
    expect(lastSequenceOf(-1, 3)).toBe(-1);
    expect(lastSequenceOf(INT32_MAX - 1, 2)).toBe(0);
  });

  it.each([
    [0, 1, true],
    [5, 6, true],
    [5, 7, false],
    [5, 5, false],
    [INT32_MAX, 0, true],
    [INT32_MAX - 1, 0, false],
    [-1, 0, true],
  ])('inSequence(%d, %d) = %s', (last, next, want) => {
    expect(inSequence(last, next)).toBe(want);
  });
});

describe('duplicates (the last 5 batches of a producer)', () => {
  const P = 7n;
  beforeEach(() => {
    // Six batches of two records: sequences 0-1, 2-3, …, 10-11 at offsets 0-1, 2-3, …
    for (let i = 0; i < 6; i++) h.append([{ pid: P, seq: i * 2, count: 2 }]);
  });

  it('keeps exactly the last five', () => {
    expect(h.psm.entry(P)!.batches.map((b) => b.firstSeq)).toEqual([2, 4, 6, 8, 10]);
    expect(PRODUCER_BATCHES_KEPT).toBe(5);
  });

  it.each([
    ['the newest batch', 10, 2, { firstSeq: 10, lastSeq: 11, firstOffset: 10n, lastOffset: 11n }],
    ['the oldest kept batch', 2, 2, { firstSeq: 2, lastSeq: 3, firstOffset: 2n, lastOffset: 3n }],
    ['a middle batch', 6, 2, { firstSeq: 6, lastSeq: 7, firstOffset: 6n, lastOffset: 7n }],
  ])('finds %s with its original offsets', (_what, seq, count, want) => {
    const b = h.batches([{ pid: P, seq, count }])[0];
    expect(h.psm.findDuplicate(b)).toMatchObject(want);
  });

  it.each([
    ['just outside the window', { pid: P, seq: 0, count: 2 }],
    ['same first sequence, other last sequence', { pid: P, seq: 6, count: 1 }],
    ['same sequences at another epoch', { pid: P, seq: 6, count: 2, epoch: 1 }],
    ['another producer', { pid: 8n, seq: 6, count: 2 }],
    ['no producer id', { pid: -1n, seq: 6, count: 2 }],
  ])('finds none for %s', (_what, spec) => {
    expect(h.psm.findDuplicate(h.batches([spec])[0])).toBeNull();
  });

  it('refuses a retry from outside the window as out of order (Kafka cannot tell it from a gap)', () => {
    expect(h.codeOf([{ pid: P, seq: 0, count: 2 }])).toBe('OUT_OF_ORDER_SEQUENCE');
  });
});

describe('stage: client sequence and epoch rules', () => {
  const P = 1n;
  // Every row names its origin: jest would take a missing fifth value's parameter for `done`.
  type Row = [string, Spec[], Spec[], string, AppendOrigin];
  const rows: Row[] = [
    ['the next sequence', [{ pid: P, seq: 0, count: 3 }], [{ pid: P, seq: 3 }], 'ok', 'client'],
    ['a gap', [{ pid: P, seq: 0, count: 3 }], [{ pid: P, seq: 4 }], 'OUT_OF_ORDER_SEQUENCE', 'client'],
    ['an overlap', [{ pid: P, seq: 0, count: 3 }], [{ pid: P, seq: 2 }], 'OUT_OF_ORDER_SEQUENCE', 'client'],
    ['going back to 0 at the same epoch', [{ pid: P, seq: 0, count: 3 }], [{ pid: P, seq: 0 }], 'OUT_OF_ORDER_SEQUENCE', 'client'],
    ['a new producer starting anywhere (KIP-360)', [], [{ pid: P, seq: 1234 }], 'ok', 'client'],
    ['a new producer whose second batch has a gap (state is new)', [], [{ pid: P, seq: 5 }, { pid: P, seq: 9 }], 'ok', 'client'],
    ['an epoch bump at sequence 0', [{ pid: P, seq: 0, count: 3 }], [{ pid: P, epoch: 1, seq: 0 }], 'ok', 'client'],
    ['an epoch bump at another sequence', [{ pid: P, seq: 0, count: 3 }], [{ pid: P, epoch: 1, seq: 3 }], 'OUT_OF_ORDER_SEQUENCE', 'client'],
    ['a stale epoch', [{ pid: P, epoch: 2, seq: 0 }], [{ pid: P, epoch: 1, seq: 1 }], 'INVALID_PRODUCER_EPOCH', 'client'],
    ['a stale epoch from the coordinator', [{ pid: P, epoch: 2, seq: 0 }], [{ pid: P, epoch: 1, seq: 1 }], 'INVALID_PRODUCER_EPOCH', 'coordinator'],
    ['a stale epoch by replication', [{ pid: P, epoch: 2, seq: 0 }], [{ pid: P, epoch: 1, seq: 77 }], 'ok', 'replication'],
    ['a gap from the coordinator (no sequence checks)', [{ pid: P, seq: 0 }], [{ pid: P, seq: 50 }], 'ok', 'coordinator'],
    ['a gap by replication', [{ pid: P, seq: 0 }], [{ pid: P, seq: 50 }], 'ok', 'replication'],
    ['a gap inside one append', [{ pid: P, seq: 0 }], [{ pid: P, seq: 1 }, { pid: P, seq: 3 }], 'OUT_OF_ORDER_SEQUENCE', 'client'],
    ['two batches in sequence inside one append', [{ pid: P, seq: 0 }], [{ pid: P, seq: 1, count: 2 }, { pid: P, seq: 3 }], 'ok', 'client'],
    ['an epoch bump then its next sequence in one append', [{ pid: P, seq: 0 }], [{ pid: P, epoch: 1, seq: 0 }, { pid: P, epoch: 1, seq: 1 }], 'ok', 'client'],
    ['an epoch bump then the old epoch in one append', [{ pid: P, seq: 0 }], [{ pid: P, epoch: 1, seq: 0 }, { pid: P, epoch: 0, seq: 1 }], 'INVALID_PRODUCER_EPOCH', 'client'],
    ['a wrap from INT32_MAX to 0', [{ pid: P, seq: INT32_MAX - 1, count: 2 }], [{ pid: P, seq: 0 }], 'ok', 'client'],
    ['a batch wrapping inside itself, then its next', [{ pid: P, seq: INT32_MAX - 1, count: 4 }], [{ pid: P, seq: 2 }], 'ok', 'client'],
    ['1 after INT32_MAX', [{ pid: P, seq: INT32_MAX - 1, count: 2 }], [{ pid: P, seq: 1 }], 'OUT_OF_ORDER_SEQUENCE', 'client'],
    ['a non-transactional batch during a transaction', [{ pid: P, seq: 0, txn: true }], [{ pid: P, seq: 1 }], 'INVALID_TXN_STATE', 'client'],
    ['a non-transactional batch during a transaction, by replication (logged: a log replays whatever it holds)', [{ pid: P, seq: 0, txn: true }], [{ pid: P, seq: 1 }], 'ok', 'replication'],
    ['a transactional batch after idempotent ones', [{ pid: P, seq: 0 }], [{ pid: P, seq: 1, txn: true }], 'ok', 'client'],
    ['another producer’s plain write during a transaction', [{ pid: P, seq: 0, txn: true }], [{ pid: 2n, seq: 0 }, { plain: 3 }], 'ok', 'client'],
  ];
  it.each(rows)('%s', (_what, before, attempt, want, origin) => {
    h.append(before);
    const snapshot = h.psm.activeProducers();
    expect(h.codeOf(attempt, origin)).toBe(want);
    expect(h.psm.activeProducers()).toEqual(snapshot); // stage never changes the state
  });

  it('an epoch bump clears the batches of the old epoch', () => {
    h.append([{ pid: P, seq: 0 }, { pid: P, seq: 1 }]);
    h.append([{ pid: P, epoch: 1, seq: 0, count: 2 }]);
    expect(h.psm.entry(P)).toMatchObject({ producerEpoch: 1, batches: [{ firstSeq: 0, lastSeq: 1, firstOffset: 2n, lastOffset: 3n }] });
  });

  it('replication takes a stale epoch as the producer’s (mirroring the leader), with a log line', () => {
    h.append([{ pid: P, epoch: 3, seq: 0 }]);
    h.append([{ pid: P, epoch: 2, seq: 9 }], 'replication');
    expect(h.psm.entry(P)).toMatchObject({ producerEpoch: 2, batches: [{ firstSeq: 9 }] });
    expect(h.logLines.join('\n')).toMatch(/epoch 2, below the current 3/);
  });

  it('an expired producer starts over at any sequence', () => {
    h.append([{ pid: P, seq: 0, ts: BigInt(h.clock) }]);
    expect(h.codeOf([{ pid: P, seq: 40 }])).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(h.psm.removeExpiredProducers(h.clock + 60_000)).toBe(1);
    expect(h.codeOf([{ pid: P, seq: 40 }])).toBe('ok');
  });

  it('after a marker bumped the epoch, the producer must start at sequence 0', () => {
    h.append([{ pid: P, seq: 0 }]);
    h.append([{ pid: P, epoch: 1, marker: 'ABORT' }], 'coordinator');
    expect(h.psm.entry(P)).toMatchObject({ producerEpoch: 1, batches: [] });
    expect(h.codeOf([{ pid: P, epoch: 1, seq: 3 }])).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(h.codeOf([{ pid: P, epoch: 1, seq: 0 }])).toBe('ok');
  });

  it('ignores batches without a producer id, which still move the end offset', () => {
    const staged = h.append([{ plain: 4 }, { plain: 2 }]);
    expect(staged.entries.size).toBe(0);
    expect(h.psm.size).toBe(0);
    expect(h.psm.endOffset).toBe(6n);
  });

  it('records the batch timestamp, or now for a batch without one', () => {
    h.append([{ pid: P, seq: 0, ts: 777n }]);
    expect(h.psm.entry(P)).toMatchObject({ lastTimestamp: 777n, batches: [{ timestamp: 777n }] });
    h.append([{ pid: P, seq: 1, ts: -1n }]);
    expect(h.psm.entry(P)!.lastTimestamp).toBe(BigInt(h.clock));
  });
});

describe('stage and commit', () => {
  it('a failed append changes nothing; a staged one only on commit', () => {
    h.append([{ pid: 1n, seq: 0 }]);
    const before = h.psm.activeProducers();
    expect(h.codeOf([{ pid: 1n, seq: 1 }, { pid: 2n, seq: 0 }, { pid: 1n, seq: 5 }])).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(h.psm.activeProducers()).toEqual(before);
    const staged = h.psm.stage(h.batches([{ pid: 1n, seq: 1 }, { pid: 2n, seq: 0, txn: true }]), 'client');
    expect(h.psm.activeProducers()).toEqual(before);
    expect(h.psm.ongoingTransactions()).toEqual([]);
    expect(staged.startedTxns).toEqual([{ producerId: 2n, firstOffset: 2n }]);
    h.psm.commit(staged);
    expect(h.psm.activeProducers().map((e) => e.producerId)).toEqual([1n, 2n]);
    expect(h.psm.ongoingTransactions()).toEqual([{ producerId: 2n, firstOffset: 2n }]);
    expect(h.psm.endOffset).toBe(3n);
  });

  it('commit refuses an append staged against an older state', () => {
    const a = h.psm.stage(h.batches([{ pid: 1n, seq: 0 }]), 'client');
    const b = h.psm.stage(h.batches([{ pid: 1n, seq: 0 }]), 'client');
    h.psm.commit(a);
    expect(() => h.psm.commit(b)).toThrow(/stage the append again/);
  });

  it('staged entries are copies: mutating the state afterwards does not change them', () => {
    const staged = h.append([{ pid: 1n, seq: 0 }]);
    h.append([{ pid: 1n, seq: 1 }]);
    expect(staged.entries.get(1n)!.batches).toHaveLength(1);
    const e = h.psm.entry(1n)!;
    e.batches.length = 0;
    expect(h.psm.entry(1n)!.batches).toHaveLength(2);
  });

  it('lists producers by id', () => {
    h.append([{ pid: 30n, seq: 0 }, { pid: 4n, seq: 0 }, { pid: 2n ** 40n, seq: 0 }, { pid: 17n, seq: 0 }]);
    expect(h.psm.activeProducers().map((e) => e.producerId)).toEqual([4n, 17n, 30n, 2n ** 40n]);
    expect(h.psm.size).toBe(4);
  });
});

describe('transaction markers', () => {
  const P = 5n;

  it('complete the ongoing transaction from its first offset to the marker', () => {
    h.append([{ pid: P, seq: 0, txn: true, count: 2 }, { pid: P, seq: 2, txn: true }]);
    const staged = h.append([{ pid: P, marker: 'COMMIT', coordinatorEpoch: 3 }], 'coordinator');
    expect(staged.completedTxns).toEqual([{ producerId: P, firstOffset: 0n, lastOffset: 3n, isAborted: false }]);
    expect(h.psm.entry(P)).toMatchObject({ producerEpoch: 0, coordinatorEpoch: 3, currentTxnFirstOffset: null });
    expect(h.psm.entry(P)!.batches).toHaveLength(2); // same epoch: kept
    expect(h.aborted).toEqual([]);
  });

  it('complete nothing when the producer has no ongoing transaction (as Kafka: no CompletedTxn)', () => {
    h.append([{ pid: P, seq: 0 }]);
    const staged = h.append([{ pid: P, epoch: 2, marker: 'ABORT', coordinatorEpoch: 4 }], 'coordinator');
    expect(staged.completedTxns).toEqual([]);
    expect(h.psm.entry(P)).toMatchObject({ producerEpoch: 2, coordinatorEpoch: 4, batches: [] });
  });

  it('create the entry of a producer that never wrote here', () => {
    h.append([{ pid: P, epoch: 3, marker: 'ABORT', coordinatorEpoch: 1 }], 'coordinator');
    expect(h.psm.entry(P)).toMatchObject({ producerEpoch: 3, coordinatorEpoch: 1, batches: [], currentTxnFirstOffset: null });
  });

  type Row = [string, MarkerSpec, string, AppendOrigin];
  const rows: Row[] = [
    ['the same epoch and coordinator epoch', { pid: P, epoch: 2, marker: 'COMMIT', coordinatorEpoch: 3 }, 'ok', 'coordinator'],
    ['a higher epoch (the coordinator bumped it)', { pid: P, epoch: 3, marker: 'ABORT', coordinatorEpoch: 3 }, 'ok', 'coordinator'],
    ['a stale epoch', { pid: P, epoch: 1, marker: 'COMMIT', coordinatorEpoch: 3 }, 'INVALID_PRODUCER_EPOCH', 'coordinator'],
    ['a stale epoch by replication', { pid: P, epoch: 1, marker: 'COMMIT', coordinatorEpoch: 3 }, 'ok', 'replication'],
    ['an older coordinator epoch', { pid: P, epoch: 2, marker: 'COMMIT', coordinatorEpoch: 2 }, 'TRANSACTION_COORDINATOR_FENCED', 'coordinator'],
    ['an older coordinator epoch by replication', { pid: P, epoch: 2, marker: 'ABORT', coordinatorEpoch: 2 }, 'ok', 'replication'],
    ['a newer coordinator epoch', { pid: P, epoch: 2, marker: 'ABORT', coordinatorEpoch: 9 }, 'ok', 'coordinator'],
    ['an unknown control type, whatever its epochs', { pid: P, epoch: 0, marker: 'UNKNOWN', coordinatorEpoch: 0 }, 'ok', 'coordinator'],
    ['an empty control batch', { pid: P, epoch: 0, marker: null }, 'ok', 'coordinator'],
  ];
  it.each(rows)('accept or refuse %s', (_what, m, want, origin) => {
    h.append([{ pid: P, epoch: 2, seq: 0, txn: true }]);
    h.append([{ pid: P, epoch: 2, marker: 'COMMIT', coordinatorEpoch: 3 }], 'coordinator');
    h.append([{ pid: P, epoch: 2, seq: 1, txn: true }]);
    expect(h.codeOf([m], origin)).toBe(want);
  });

  it('of an unknown type or empty change nothing', () => {
    h.append([{ pid: P, seq: 0, txn: true }]);
    const before = h.psm.activeProducers();
    const staged = h.append([{ pid: P, epoch: 4, marker: 'UNKNOWN' }, { pid: P, epoch: 4, marker: null }, { pid: 6n, marker: null }], 'coordinator');
    expect(staged.completedTxns).toEqual([]);
    expect(h.psm.activeProducers()).toEqual(before);
    expect(h.psm.ongoingTransactions()).toEqual([{ producerId: P, firstOffset: 0n }]);
    expect(h.psm.endOffset).toBe(4n);
  });

  it('let the producer write non-transactionally again once the transaction is over', () => {
    h.append([{ pid: P, seq: 0, txn: true }]);
    expect(h.codeOf([{ pid: P, seq: 1 }])).toBe('INVALID_TXN_STATE');
    h.append([{ pid: P, marker: 'COMMIT' }], 'coordinator');
    expect(h.codeOf([{ pid: P, seq: 1 }])).toBe('ok');
  });

  it('start, end and start again inside one replicated append', () => {
    const staged = h.append([{ pid: P, seq: 0, txn: true }, { pid: P, marker: 'ABORT' }, { pid: P, seq: 1, txn: true }], 'replication');
    expect(staged.startedTxns).toEqual([
      { producerId: P, firstOffset: 0n },
      { producerId: P, firstOffset: 2n },
    ]);
    expect(staged.completedTxns).toEqual([{ producerId: P, firstOffset: 0n, lastOffset: 1n, isAborted: true }]);
    expect(h.psm.ongoingTransactions()).toEqual([{ producerId: P, firstOffset: 2n }]);
    expect(h.aborted).toEqual([{ producerId: P, firstOffset: 0n, lastOffset: 1n, lastStableOffset: 2n }]);
    expect(h.psm.entry(P)!.currentTxnFirstOffset).toBe(2n);
  });
});

describe('last stable offset', () => {
  const A = 1n;
  const B = 2n;

  it('follows interleaved transactions of two producers', () => {
    //  offset  0   1   2   3   4   5   6
    //  A       d       d   A(bort)
    //  B           d               C(ommit)
    //  plain                   p
    h.append([{ pid: A, seq: 0, txn: true }]);
    h.append([{ pid: B, seq: 0, txn: true }]);
    expect(h.psm.firstUnstableOffset()).toBe(0n);
    h.append([{ pid: A, seq: 1, txn: true }]);
    expect(h.psm.ongoingTransactions()).toEqual([
      { producerId: A, firstOffset: 0n },
      { producerId: B, firstOffset: 1n },
    ]);
    const abortA = h.append([{ pid: A, marker: 'ABORT' }], 'coordinator');
    expect(abortA.completedTxns).toEqual([{ producerId: A, firstOffset: 0n, lastOffset: 3n, isAborted: true }]);
    // B is still open: the LSO written with A's abort is B's first offset.
    expect(h.aborted).toEqual([{ producerId: A, firstOffset: 0n, lastOffset: 3n, lastStableOffset: 1n }]);
    // A's marker is not below the high watermark yet: A still bounds the unstable offset.
    expect(h.psm.firstUnstableOffset()).toBe(0n);
    expect(h.psm.unreplicatedTransactions()).toEqual([{ producerId: A, firstOffset: 0n, lastOffset: 3n }]);
    h.psm.onHighWatermarkUpdated(3n);
    expect(h.psm.firstUnstableOffset()).toBe(0n);
    h.psm.onHighWatermarkUpdated(4n);
    expect(h.psm.firstUnstableOffset()).toBe(1n);
    h.append([{ plain: 1 }]);
    const commitB = h.append([{ pid: B, marker: 'COMMIT' }], 'coordinator');
    expect(h.psm.lastStableOffsetOf(commitB.completedTxns[0])).toBe(6n); // no other open: marker + 1
    expect(h.psm.firstUnstableOffset()).toBe(1n);
    h.psm.onHighWatermarkUpdated(7n);
    expect(h.psm.firstUnstableOffset()).toBeNull();
    expect(h.psm.ongoingTransactions()).toEqual([]);
  });

  it('ignores the producer’s own transaction and takes the earliest other one', () => {
    h.append([{ pid: A, seq: 0, txn: true }, { pid: 3n, seq: 0, txn: true }, { pid: B, seq: 0, txn: true }]);
    const c: CompletedTxn = { producerId: A, firstOffset: 0n, lastOffset: 9n, isAborted: true };
    expect(h.psm.lastStableOffsetOf(c)).toBe(1n);
    expect(h.psm.lastStableOffsetOf({ ...c, producerId: 3n, firstOffset: 1n })).toBe(0n);
  });

  it('two markers in one append: the first completed sees the second still open', () => {
    h.append([{ pid: A, seq: 0, txn: true }, { pid: B, seq: 0, txn: true }]);
    h.append([{ pid: A, marker: 'ABORT' }, { pid: B, marker: 'ABORT' }], 'replication');
    expect(h.aborted).toEqual([
      { producerId: A, firstOffset: 0n, lastOffset: 2n, lastStableOffset: 1n },
      { producerId: B, firstOffset: 1n, lastOffset: 3n, lastStableOffset: 4n },
    ]);
  });

  it('completeTxn refuses a transaction that was not started', () => {
    h.append([{ pid: A, seq: 0, txn: true }]);
    expect(() => h.psm.completeTxn({ producerId: A, firstOffset: 5n, lastOffset: 6n, isAborted: false })).toThrow(/not started/);
    expect(() => h.psm.completeTxn({ producerId: B, firstOffset: 0n, lastOffset: 6n, isAborted: false })).toThrow(/not started/);
  });

  it('a log start past a completed marker forgets it', () => {
    h.append([{ pid: A, seq: 0, txn: true }]);
    h.append([{ pid: A, marker: 'COMMIT' }], 'coordinator');
    expect(h.psm.firstUnstableOffset()).toBe(0n);
    h.psm.onLogStartOffsetIncremented(2n);
    expect(h.psm.firstUnstableOffset()).toBeNull();
    h.psm.onLogStartOffsetIncremented(10n);
    expect(h.psm.endOffset).toBe(10n);
  });
});

describe('expiry (producer.id.expiration.ms)', () => {
  it('removes producers idle for at least the expiration, never one in a transaction', () => {
    h.append([{ pid: 1n, seq: 0, ts: 1000n }, { pid: 2n, seq: 0, ts: 1000n, txn: true }, { pid: 3n, seq: 0, ts: 5000n }]);
    expect(h.psm.removeExpiredProducers(1000 + 60_000 - 1)).toBe(0);
    expect(h.psm.removeExpiredProducers(1000 + 60_000)).toBe(1);
    expect(h.psm.activeProducers().map((e) => e.producerId)).toEqual([2n, 3n]);
    expect(h.psm.removeExpiredProducers(10_000_000)).toBe(1);
    expect(h.psm.activeProducers().map((e) => e.producerId)).toEqual([2n]);
    expect(h.psm.ongoingTransactions()).toEqual([{ producerId: 2n, firstOffset: 1n }]);
  });
});

describe('appendBatchOf', () => {
  it('reads validated bytes, including the marker of a control batch', () => {
    const data = buildRecordBatch({ records: [{ key: null, value: Buffer.from('a') }, { key: null, value: Buffer.from('b') }], producerId: 9n, producerEpoch: 1, baseSequence: 4, isTransactional: true, now: 50n });
    const marker = buildEndTxnMarker({ producerId: 9n, producerEpoch: 1, type: 'ABORT', coordinatorEpoch: 6, timestamp: 60n });
    // validateRecords refuses baseSequence -1 with a producer id (see controlRecords.test.ts); only
    // the header fields matter here.
    const patched = fixCrc(Buffer.from(marker));
    patched.writeInt32BE(0, 53);
    fixCrc(patched);
    const records = Buffer.concat([data, patched]);
    const v = validateRecords(records, { maxMessageBytes: 1 << 20, allowControlBatches: true });
    if (!v.ok) throw new Error(v.message);
    const [d, m] = [appendBatchOf(v.batches[0], records, 100n), appendBatchOf(v.batches[1], records, 102n)];
    expect(d).toEqual({ producerId: 9n, producerEpoch: 1, baseSequence: 4, lastOffsetDelta: 1, baseOffset: 100n, maxTimestamp: 50n, isTransactional: true, isControl: false, marker: undefined });
    expect(m).toMatchObject({ isControl: true, baseOffset: 102n, marker: { type: 'ABORT', coordinatorEpoch: 6 } });
    const staged = h.psm.stage([d, m], 'replication');
    expect(staged.completedTxns).toEqual([{ producerId: 9n, firstOffset: 100n, lastOffset: 102n, isAborted: true }]);
  });
});

describe('reset and truncation', () => {
  it('reset empties the state at an end offset; truncateFullyAndStartAt too', () => {
    h.append([{ pid: 1n, seq: 0, txn: true }]);
    h.psm.reset(40n);
    expect(h.psm.size).toBe(0);
    expect(h.psm.ongoingTransactions()).toEqual([]);
    expect(h.psm.firstUnstableOffset()).toBeNull();
    expect(h.psm.endOffset).toBe(40n);
    expect(h.psm.entry(1n)).toBeNull();
    h.psm.truncateFullyAndStartAt(77n);
    expect(h.psm.endOffset).toBe(77n);
    expect(NO_PRODUCER_EPOCH).toBe(-1);
  });
});

/**
 * A reference model written from the rules, not from the implementation: it keeps each producer's
 * whole history at its epoch (the implementation keeps 5), recomputes sequences with modular
 * arithmetic, and applies an append to a copy that is dropped on the first refused batch.
 */
interface ModelBatch {
  fs: number;
  ls: number;
  fo: bigint;
  lo: bigint;
  ts: bigint;
}
interface ModelEntry {
  epoch: number;
  coord: number;
  hist: ModelBatch[];
  lastTs: bigint;
  txn: bigint | null;
}
class Model {
  entries = new Map<bigint, ModelEntry>();
  ongoing: { pid: bigint; first: bigint }[] = [];
  unrepl: { pid: bigint; first: bigint; last: bigint }[] = [];
  aborted: AbortedTxn[] = [];
  end = 0n;
  constructor(
    readonly now: () => number,
    readonly expirationMs: number,
  ) {}

  duplicate(b: AppendBatch): ModelBatch | null {
    const e = this.entries.get(b.producerId);
    if (b.producerId < 0n || !e || e.epoch !== b.producerEpoch) return null;
    const ls = (b.baseSequence + b.lastOffsetDelta) % 2 ** 31;
    return e.hist.slice(-5).find((k) => k.fs === b.baseSequence && k.ls === ls) ?? null;
  }

  /** Applies an append whole, or returns the code of the first refused batch. */
  apply(batches: AppendBatch[], origin: AppendOrigin): string | null {
    const work = new Map<bigint, ModelEntry>();
    const started: { pid: bigint; first: bigint }[] = [];
    const completed: { pid: bigint; first: bigint; last: bigint; aborted: boolean }[] = [];
    let end = this.end;
    for (const b of batches) {
      end = b.baseOffset + BigInt(b.lastOffsetDelta) + 1n;
      if (b.producerId < 0n) continue;
      const pre = this.entries.get(b.producerId);
      const base = work.get(b.producerId) ?? pre ?? { epoch: -1, coord: -1, hist: [], lastTs: -1n, txn: null };
      const cur: ModelEntry = { ...base, hist: [...base.hist] };
      const ts = b.maxTimestamp < 0n ? BigInt(this.now()) : b.maxTimestamp;
      if (b.isControl) {
        if (!b.marker || b.marker.type === 'UNKNOWN') continue;
        if (origin !== 'replication' && b.producerEpoch < cur.epoch) return 'INVALID_PRODUCER_EPOCH';
        if (origin !== 'replication' && b.marker.coordinatorEpoch < cur.coord) return 'TRANSACTION_COORDINATOR_FENCED';
        if (cur.txn !== null) completed.push({ pid: b.producerId, first: cur.txn, last: b.baseOffset, aborted: b.marker.type === 'ABORT' });
        if (cur.epoch !== b.producerEpoch) cur.hist = [];
        work.set(b.producerId, { ...cur, epoch: b.producerEpoch, coord: b.marker.coordinatorEpoch, txn: null, lastTs: ts });
        continue;
      }
      if (origin !== 'replication' && b.producerEpoch < cur.epoch) return 'INVALID_PRODUCER_EPOCH';
      if (origin === 'client') {
        if (b.producerEpoch !== cur.epoch) {
          if (b.baseSequence !== 0 && cur.epoch !== -1) return 'OUT_OF_ORDER_SEQUENCE';
        } else {
          const last = cur.hist.length > 0 ? cur.hist[cur.hist.length - 1].ls : -1;
          const fresh = pre === undefined || pre.epoch === -1;
          if (!fresh && b.baseSequence !== (last + 1) % 2 ** 31) return 'OUT_OF_ORDER_SEQUENCE';
        }
      }
      if (b.producerEpoch !== cur.epoch) cur.hist = [];
      cur.epoch = b.producerEpoch;
      cur.hist.push({ fs: b.baseSequence, ls: (b.baseSequence + b.lastOffsetDelta) % 2 ** 31, fo: b.baseOffset, lo: b.baseOffset + BigInt(b.lastOffsetDelta), ts });
      cur.lastTs = ts;
      if (cur.txn !== null && !b.isTransactional && origin !== 'replication') return 'INVALID_TXN_STATE';
      if (cur.txn === null && b.isTransactional) {
        cur.txn = b.baseOffset;
        started.push({ pid: b.producerId, first: b.baseOffset });
      }
      work.set(b.producerId, cur);
    }
    for (const [pid, e] of work) this.entries.set(pid, e);
    this.ongoing.push(...started);
    this.end = end;
    for (const c of completed) {
      const others = this.ongoing.filter((t) => t.pid !== c.pid).map((t) => t.first);
      const lso = others.length > 0 ? others.reduce((a, b) => (b < a ? b : a)) : c.last + 1n;
      if (c.aborted) this.aborted.push({ producerId: c.pid, firstOffset: c.first, lastOffset: c.last, lastStableOffset: lso });
      this.ongoing = this.ongoing.filter((t) => t.first !== c.first);
      this.unrepl.push({ pid: c.pid, first: c.first, last: c.last });
    }
    return null;
  }

  hw(offset: bigint): void {
    this.unrepl = this.unrepl.filter((t) => t.last >= offset);
  }

  expire(nowMs: number): number {
    let n = 0;
    for (const [pid, e] of this.entries) {
      if (e.txn === null && BigInt(nowMs) - e.lastTs >= BigInt(this.expirationMs)) {
        this.entries.delete(pid);
        n++;
      }
    }
    return n;
  }

  producers(): unknown[] {
    return [...this.entries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([pid, e]) => ({
        producerId: pid,
        producerEpoch: e.epoch,
        coordinatorEpoch: e.coord,
        batches: e.hist.slice(-5).map((k) => ({ firstSeq: k.fs, lastSeq: k.ls, firstOffset: k.fo, lastOffset: k.lo, timestamp: k.ts })),
        lastTimestamp: e.lastTs,
        currentTxnFirstOffset: e.txn,
      }));
  }

  firstUnstable(): bigint | null {
    const all = [...this.ongoing.map((t) => t.first), ...this.unrepl.map((t) => t.first)];
    return all.length === 0 ? null : all.reduce((a, b) => (b < a ? b : a));
  }
}

describe('stage/commit against a reference model (property)', () => {
  type SeqChoice = { next: true } | { retry: number } | { fixed: number };
  interface GenBatch {
    pid: bigint;
    kind: 'data' | 'marker' | 'plain';
    /** 'current': the producer's epoch in the model (0 when it has none), so runs at one epoch get long. */
    epoch: number | 'current';
    seq: SeqChoice;
    count: number;
    txn: boolean;
    ts: bigint;
    marker: 'COMMIT' | 'ABORT' | 'UNKNOWN' | null;
    coord: number;
  }
  type Op = { append: GenBatch[]; origin: AppendOrigin } | { hw: number } | { expire: number };

  const genBatch: fc.Arbitrary<GenBatch> = fc.record({
    pid: fc.constantFrom(0n, 1n, 2n),
    kind: fc.constantFrom<GenBatch['kind']>('data', 'data', 'data', 'marker', 'plain'),
    epoch: fc.oneof(
      { weight: 6, arbitrary: fc.constant<'current'>('current') },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 2 }) },
      { weight: 1, arbitrary: fc.constant(-1) },
    ),
    seq: fc.oneof(
      { weight: 6, arbitrary: fc.constant<SeqChoice>({ next: true }) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 6 }).map<SeqChoice>((i) => ({ retry: i })) },
      { weight: 2, arbitrary: fc.constantFrom<SeqChoice>({ fixed: 0 }, { fixed: 3 }, { fixed: INT32_MAX - 1 }, { fixed: INT32_MAX }) },
    ),
    count: fc.integer({ min: 1, max: 3 }),
    txn: fc.boolean(),
    ts: fc.constantFrom(-1n, 100n, 5_000n, 200_000n),
    marker: fc.constantFrom<GenBatch['marker']>('COMMIT', 'ABORT', 'ABORT', 'UNKNOWN', null),
    coord: fc.integer({ min: 0, max: 2 }),
  });
  const genOp: fc.Arbitrary<Op> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ append: fc.array(genBatch, { minLength: 1, maxLength: 3 }), origin: fc.constantFrom<AppendOrigin>('client', 'client', 'coordinator', 'replication') }) },
    { weight: 1, arbitrary: fc.record({ hw: fc.integer({ min: 0, max: 100 }) }) },
    { weight: 1, arbitrary: fc.record({ expire: fc.integer({ min: 0, max: 300_000 }) }) },
  );

  it('agrees on every refusal, duplicate, entry, transaction, aborted entry and unstable offset', () => {
    fc.assert(
      fc.property(fc.array(genOp, { minLength: 1, maxLength: 40 }), (ops) => {
        const pdir = makeTmpDir('strata-pstate-prop-');
        try {
          let clock = 10_000;
          const psm = new ProducerStateManager(pdir, { producerIdExpirationMs: 50_000, now: () => clock, logger: () => undefined });
          const model = new Model(() => clock, 50_000);
          const aborted: AbortedTxn[] = [];
          for (const op of ops) {
            if ('hw' in op) {
              const hw = (model.end * BigInt(op.hw)) / 100n;
              psm.onHighWatermarkUpdated(hw);
              model.hw(hw);
            } else if ('expire' in op) {
              clock += op.expire;
              expect(psm.removeExpiredProducers(clock)).toBe(model.expire(clock));
            } else {
              let offset = model.end;
              const next = new Map<bigint, number>();
              const batches = op.append.map((g): AppendBatch => {
                const base = offset;
                const gEpoch = g.epoch === 'current' ? (model.entries.get(g.pid)?.epoch ?? 0) : g.epoch;
                const count = g.kind === 'data' || g.kind === 'plain' ? g.count : 1;
                offset += BigInt(count);
                if (g.kind === 'plain') {
                  return { producerId: -1n, producerEpoch: -1, baseSequence: -1, lastOffsetDelta: count - 1, baseOffset: base, maxTimestamp: g.ts, isTransactional: false, isControl: false };
                }
                if (g.kind === 'marker') {
                  return {
                    producerId: g.pid,
                    producerEpoch: gEpoch,
                    baseSequence: -1,
                    lastOffsetDelta: 0,
                    baseOffset: base,
                    maxTimestamp: g.ts,
                    isTransactional: true,
                    isControl: true,
                    marker: g.marker === null ? null : { type: g.marker, coordinatorEpoch: g.coord },
                  };
                }
                const entry = model.entries.get(g.pid);
                let seq: number;
                let epoch = gEpoch;
                let lastOffsetDelta = count - 1;
                if ('next' in g.seq) {
                  const last = next.get(g.pid) ?? (entry && entry.hist.length > 0 ? entry.hist[entry.hist.length - 1].ls : -1);
                  seq = (last + 1) % 2 ** 31;
                } else if ('retry' in g.seq && entry && entry.hist.length > 0) {
                  const kept = entry.hist.slice(-5);
                  const k = kept[g.seq.retry % kept.length];
                  seq = k.fs;
                  epoch = entry.epoch;
                  lastOffsetDelta = Number(k.lo - k.fo);
                  offset = base + BigInt(lastOffsetDelta) + 1n;
                } else {
                  seq = 'fixed' in g.seq ? g.seq.fixed : 0;
                }
                next.set(g.pid, (seq + lastOffsetDelta) % 2 ** 31);
                return { producerId: g.pid, producerEpoch: epoch, baseSequence: seq, lastOffsetDelta, baseOffset: base, maxTimestamp: g.ts, isTransactional: g.txn, isControl: false };
              });
              if (op.origin === 'client') {
                const dups = batches.map((b) => psm.findDuplicate(b));
                const modelDups = batches.map((b) => model.duplicate(b));
                expect(dups.map((d) => (d ? [d.firstSeq, d.lastSeq, d.firstOffset, d.lastOffset] : null))).toEqual(
                  modelDups.map((d) => (d ? [d.fs, d.ls, d.fo, d.lo] : null)),
                );
                if (dups.some((d) => d !== null)) continue; // answered with the original offsets
              }
              let code: string | null = null;
              let staged: StagedAppend | null = null;
              try {
                staged = psm.stage(batches, op.origin);
              } catch (e) {
                code = isStrataError(e) ? e.code : String(e);
              }
              expect(code).toBe(model.apply(batches, op.origin));
              if (staged !== null) {
                psm.commit(staged);
                for (const c of staged.completedTxns) {
                  if (c.isAborted) aborted.push({ producerId: c.producerId, firstOffset: c.firstOffset, lastOffset: c.lastOffset, lastStableOffset: psm.lastStableOffsetOf(c) });
                  psm.completeTxn(c);
                }
              }
            }
            expect(psm.activeProducers()).toEqual(model.producers());
            expect(psm.ongoingTransactions()).toEqual(
              [...model.ongoing].sort((a, b) => (a.first < b.first ? -1 : 1)).map((t) => ({ producerId: t.pid, firstOffset: t.first })),
            );
            expect(psm.firstUnstableOffset()).toBe(model.firstUnstable());
            expect(psm.endOffset).toBe(model.end);
            expect(aborted).toEqual(model.aborted);
          }
        } finally {
          removeDir(pdir);
        }
      }),
      { numRuns: 300 },
    );
  });
});
