import { ANOMALY_KINDS, checkHistory, formatReport, type AnomalyKind, type CheckOptions, type History, type ProducedOp, type ReadOp, type TxnOutcome } from './history';

// ---- builders -------------------------------------------------------------------------------------

/** A produced record; acked unless said otherwise. */
function put(producer: string, partition: number, value: string, more: Partial<ProducedOp> = {}): ProducedOp {
  return { producer, partition, value, acked: true, ...more };
}

/** A read; read_uncommitted unless said otherwise. */
function got(consumer: string, partition: number, offset: number, value: string, isolation: ReadOp['isolation'] = 'read_uncommitted'): ReadOp {
  return { consumer, partition, offset: BigInt(offset), value, isolation };
}
const rc = (consumer: string, partition: number, offset: number, value: string): ReadOp => got(consumer, partition, offset, value, 'read_committed');

const txn = (id: string, outcome: TxnOutcome['outcome']): TxnOutcome => ({ txn: id, outcome });

function counts(h: History, opts?: CheckOptions): Partial<Record<AnomalyKind, number>> {
  const r = checkHistory(h, opts);
  return Object.fromEntries(ANOMALY_KINDS.filter((k) => r[k].count > 0).map((k) => [k, r[k].count]));
}

// ---- clean histories --------------------------------------------------------------------------------

describe('clean histories', () => {
  test('lost acks, unlanded unacked records and re-reads after a restart are ok', () => {
    const h: History = {
      produced: [
        put('A', 0, 'a0', { offset: 0n }),
        put('A', 0, 'a1', { offset: 1n }),
        put('A', 0, 'a2', { acked: false }), // its ack was lost, but it landed
        put('A', 0, 'a3', { offset: 3n }),
        put('A', 0, 'a4', { acked: false }), // never landed
        put('B', 1, 'b0'),
        put('B', 1, 'b1'),
      ],
      reads: [
        got('c1', 0, 0, 'a0'),
        got('c1', 0, 1, 'a1'),
        // c1 crashes and restarts from its committed offset 1: re-reads are fine.
        got('c1', 0, 1, 'a1'),
        got('c1', 0, 2, 'a2'),
        got('c1', 0, 3, 'a3'),
        got('c2', 1, 0, 'b0'),
        got('c2', 1, 1, 'b1'),
        got('final', 0, 0, 'a0'),
        got('final', 0, 1, 'a1'),
        got('final', 0, 2, 'a2'),
        got('final', 0, 3, 'a3'),
        got('final', 1, 0, 'b0'),
        got('final', 1, 1, 'b1'),
      ],
    };
    const r = checkHistory(h, { readsComplete: true });
    expect(counts(h, { readsComplete: true })).toEqual({});
    expect(r.ok).toBe(true);
    expect(r.totals).toMatchObject({ produced: 7, acked: 5, reads: 13, valuesRead: 6, readsComplete: true });
    expect(formatReport(r)).toBe('history: 7 produced (5 acked), txns 0 committed / 0 aborted / 0 unknown, 13 reads of 6 values (complete): ok');
  });

  test('transactions: committed seen whole, aborted hidden from read_committed, unknown all-or-nothing, reprocessed output', () => {
    const h: History = {
      produced: [
        put('T', 0, 't1', { txn: 'T1' }),
        put('T', 1, 't2', { txn: 'T1' }),
        put('T', 0, 'x1', { txn: 'X', acked: false }),
        put('T', 0, 'u1', { txn: 'U1' }), // unknown, in fact committed
        put('T', 0, 'u2', { txn: 'U1' }),
        put('T', 0, 'w1', { txn: 'U2' }), // unknown, in fact aborted
        // Output re-produced after its transaction aborted (consume-transform-produce).
        put('T', 1, 'out', { txn: 'A' }),
        put('T', 1, 'out', { txn: 'B' }),
        put('P', 0, 'plain'),
      ],
      txns: [txn('T1', 'committed'), txn('X', 'aborted'), txn('U1', 'unknown'), txn('A', 'aborted'), txn('B', 'committed')],
      reads: [
        // Partition 0: t1, marker, x1, marker, u1, u2, marker, w1, marker, plain.
        // Partition 1: t2, marker, out (A), marker, out (B), marker.
        got('ru', 0, 0, 't1'),
        got('ru', 0, 2, 'x1'),
        got('ru', 0, 4, 'u1'),
        got('ru', 0, 5, 'u2'),
        got('ru', 0, 7, 'w1'),
        got('ru', 0, 9, 'plain'),
        got('ru', 1, 0, 't2'),
        got('ru', 1, 2, 'out'),
        got('ru', 1, 4, 'out'),
        rc('rc', 0, 0, 't1'),
        rc('rc', 0, 4, 'u1'),
        rc('rc', 0, 5, 'u2'),
        rc('rc', 0, 9, 'plain'),
        rc('rc', 1, 0, 't2'),
        rc('rc', 1, 4, 'out'),
        // A second read_committed reader that stopped early: it did not read past anything.
        rc('early', 0, 0, 't1'),
      ],
    };
    const r = checkHistory(h, { readsComplete: true });
    expect(formatReport(r)).toMatch(/: ok$/);
    expect(r.totals.txns).toEqual({ committed: 2, aborted: 2, unknown: 2 });
  });

  test('without readsComplete, records nobody read are not lost', () => {
    const h: History = { produced: [put('A', 0, 'a0'), put('A', 0, 'a1', { txn: 'T' })], txns: [txn('T', 'committed')], reads: [] };
    expect(checkHistory(h).ok).toBe(true);
    expect(counts(h, { readsComplete: true })).toEqual({ lostWrites: 2 });
  });
});

// ---- one anomaly at a time --------------------------------------------------------------------------

interface Case {
  name: string;
  history: History;
  opts?: CheckOptions;
  expected: Partial<Record<AnomalyKind, number>>;
  /** A fragment of the first example of the first expected kind. */
  example?: object;
}

const cases: Case[] = [
  {
    name: 'lostWrites: an acked record never read',
    history: { produced: [put('A', 0, 'a0'), put('A', 0, 'a1'), put('A', 0, 'a2', { acked: false })], reads: [got('c', 0, 0, 'a0')] },
    opts: { readsComplete: true },
    expected: { lostWrites: 1 },
    example: { producer: 'A', partition: 0, value: 'a1' },
  },
  {
    name: 'lostWrites: a record of a committed transaction never read (acked or not)',
    history: {
      produced: [put('T', 0, 't0', { txn: 'T1' }), put('T', 1, 't1', { txn: 'T1', acked: false }), put('T', 0, 'z', { txn: 'Z' })],
      txns: [txn('T1', 'committed'), txn('Z', 'aborted')],
      reads: [got('c', 0, 0, 't0')],
    },
    opts: { readsComplete: true },
    expected: { lostWrites: 1 },
    example: { value: 't1', txn: 'T1', partition: 1 },
  },
  {
    name: 'duplicates: an unacked record landed twice',
    history: { produced: [put('A', 0, 'a0', { acked: false }), put('A', 0, 'a1')], reads: [got('c', 0, 0, 'a0'), got('c', 0, 1, 'a0'), got('c', 0, 2, 'a1')] },
    expected: { duplicates: 1 },
    example: { value: 'a0', positions: [{ partition: 0, offset: 0n }, { partition: 0, offset: 1n }], attempts: 1, readCommitted: false },
  },
  {
    name: 'duplicates: read_committed sees reprocessed output twice',
    history: {
      produced: [put('T', 0, 'out', { txn: 'A' }), put('T', 0, 'out', { txn: 'B' })],
      txns: [txn('A', 'aborted'), txn('B', 'committed')],
      reads: [rc('c', 0, 0, 'out'), rc('c', 0, 2, 'out')],
    },
    expected: { duplicates: 1 },
    example: { value: 'out', attempts: 2, readCommitted: true },
  },
  {
    name: 'inconsistentOffsets: two readers see different values at one offset',
    history: { produced: [put('A', 0, 'x'), put('B', 0, 'y')], reads: [got('c1', 0, 0, 'x'), got('c2', 0, 0, 'y'), got('c2', 0, 1, 'x')] },
    // 'x' at offsets 0 and 1 is a duplicate as well.
    expected: { inconsistentOffsets: 1, duplicates: 1 },
    example: { partition: 0, offset: 0n, values: [{ value: 'x', consumers: ['c1'] }, { value: 'y', consumers: ['c2'] }] },
  },
  {
    name: 'orderViolations: acked values read out of send order',
    history: {
      produced: [put('A', 0, 'a0'), put('A', 0, 'a1'), put('A', 0, 'a2'), put('B', 0, 'b0'), put('A', 1, 'z0')],
      reads: [got('c', 0, 0, 'a1'), got('c', 0, 1, 'b0'), got('c', 0, 2, 'a0'), got('c', 0, 3, 'a2'), got('c', 1, 0, 'z0')],
    },
    expected: { orderViolations: 1 },
    example: { producer: 'A', partition: 0, earlier: { value: 'a0', offset: 2n }, later: { value: 'a1', offset: 0n } },
  },
  {
    name: 'ackedOffsetMismatch: the reported offset holds another value',
    history: { produced: [put('A', 0, 'a0', { offset: 0n }), put('A', 0, 'a1', { offset: 0n })], reads: [got('c', 0, 0, 'a0'), got('c', 0, 1, 'a1')] },
    expected: { ackedOffsetMismatch: 1 },
    example: { producer: 'A', offset: 0n, expected: 'a1', read: ['a0'] },
  },
  {
    name: 'abortedReads: read_committed reads an aborted record',
    history: {
      produced: [put('T', 0, 'x', { txn: 'X' }), put('P', 0, 'p')],
      txns: [txn('X', 'aborted')],
      reads: [got('ru', 0, 0, 'x'), rc('rc', 0, 0, 'x'), rc('rc', 0, 0, 'x'), rc('rc', 0, 2, 'p')],
    },
    expected: { abortedReads: 1 },
    example: { consumer: 'rc', value: 'x', txn: 'X', offset: 0n },
  },
  {
    name: 'tornTransactions: a reader reads past part of a committed transaction',
    history: {
      produced: [put('T', 0, 't0', { txn: 'T1' }), put('T', 0, 't1', { txn: 'T1' }), put('T', 1, 't2', { txn: 'T1', offset: 0n }), put('P', 0, 'p'), put('P', 1, 'q')],
      txns: [txn('T1', 'committed')],
      reads: [
        got('ru', 0, 0, 't0'),
        got('ru', 0, 1, 't1'),
        // torn: saw t0, skipped t1 in partition 0 and t2 (known from its acked offset) in partition 1.
        rc('torn', 0, 0, 't0'),
        rc('torn', 0, 3, 'p'),
        rc('torn', 1, 2, 'q'),
        // slow: saw t0 and stopped; it never read past t1 or t2.
        rc('slow', 0, 0, 't0'),
      ],
    },
    expected: { tornTransactions: 1 },
    example: { txn: 'T1', consumer: 'torn', seen: ['t0'], missing: ['t1', 't2'] },
  },
  {
    name: 'uncommittedReads: an unknown transaction read in part',
    history: {
      produced: [put('T', 0, 'u0', { txn: 'U' }), put('T', 0, 'u1', { txn: 'U' }), put('P', 0, 'p')],
      txns: [txn('U', 'unknown')],
      reads: [got('ru', 0, 0, 'u0'), got('ru', 0, 1, 'u1'), got('ru', 0, 3, 'p'), rc('rc', 0, 0, 'u0'), rc('rc', 0, 3, 'p')],
    },
    expected: { uncommittedReads: 1 },
    example: { txn: 'U', seen: ['u0'], missing: ['u1'], consumers: ['rc'] },
  },
  {
    name: 'uncommittedReads: an unknown transaction read in part, the rest never read (reads complete)',
    history: {
      // No outcome recorded at all counts as unknown.
      produced: [put('T', 0, 'u0', { txn: 'U' }), put('T', 1, 'u1', { txn: 'U' })],
      reads: [rc('rc', 0, 0, 'u0')],
    },
    opts: { readsComplete: true },
    expected: { uncommittedReads: 1 },
    example: { txn: 'U', seen: ['u0'], missing: ['u1'], consumers: [] },
  },
  {
    name: 'unexpectedValues: values nobody produced (to that partition)',
    history: { produced: [put('A', 0, 'a0')], reads: [got('c', 0, 0, 'a0'), got('c', 0, 1, 'ghost'), got('c', 0, 1, 'ghost'), got('c', 1, 0, 'a0')] },
    expected: { unexpectedValues: 2 },
    example: { consumer: 'c', partition: 0, offset: 1n, value: 'ghost' },
  },
];

describe('each anomaly is reported', () => {
  test.each(cases)('$name', ({ history, opts, expected, example }) => {
    const r = checkHistory(history, opts);
    expect(counts(history, opts)).toEqual(expected);
    expect(r.ok).toBe(false);
    const first = Object.keys(expected)[0] as AnomalyKind;
    if (example) expect(r[first].examples[0]).toMatchObject(example);
    // The summary names every kind found with its count, and shows an example line for it.
    const text = formatReport(r);
    for (const [kind, n] of Object.entries(expected)) expect(text).toContain(`${kind} ${n}`);
    expect(text.split('\n').length).toBeGreaterThan(Object.keys(expected).length * 2);
  });
});

describe('reporting', () => {
  test('examples are capped, counts are not', () => {
    const produced = Array.from({ length: 30 }, (_, i) => put('A', 0, `v${i}`));
    const r = checkHistory({ produced, reads: [] }, { readsComplete: true });
    expect(r.lostWrites.count).toBe(30);
    expect(r.lostWrites.examples).toHaveLength(20);
    expect(r.lostWrites.examples[0]).toEqual({ producer: 'A', partition: 0, value: 'v0' });
    expect(checkHistory({ produced, reads: [] }, { readsComplete: true, maxExamples: 3 }).lostWrites.examples).toHaveLength(3);
  });

  test('formatReport: a headline with counts, then a few examples per kind', () => {
    const produced = [put('A', 0, 'a0'), ...Array.from({ length: 8 }, (_, i) => put('A', 0, `lost${i}`))];
    const reads = [got('c', 0, 0, 'a0'), got('c', 0, 1, 'a0')];
    const text = formatReport(checkHistory({ produced, reads }, { readsComplete: true }));
    expect(text.split('\n')).toEqual([
      'history: 9 produced (9 acked), txns 0 committed / 0 aborted / 0 unknown, 2 reads of 1 values (complete): lostWrites 8, duplicates 1',
      'lostWrites (8):',
      '  "lost0" (producer A, p0) was never read',
      '  "lost1" (producer A, p0) was never read',
      '  "lost2" (producer A, p0) was never read',
      '  "lost3" (producer A, p0) was never read',
      '  "lost4" (producer A, p0) was never read',
      '  … 3 more',
      'duplicates (1):',
      '  "a0" at p0@0, p0@1 (1 attempt(s))',
    ]);
  });
});

describe('order and acknowledgement times', () => {
  const reads = [got('c', 0, 0, 'a1'), got('c', 0, 1, 'a0')];
  test('a later-sent value acknowledged first was sent first by the client: counted, not an anomaly', () => {
    const r = checkHistory({ produced: [put('A', 0, 'a0', { ackedAtMs: 20 }), put('A', 0, 'a1', { ackedAtMs: 10 })], reads }, { readsComplete: true });
    expect(r.ok).toBe(true);
    expect(r.totals.clientReorders).toBe(1);
    expect(formatReport(r)).toMatch(/1 sent out of order by the client: ok$/);
  });
  test('acknowledged in send order but stored the other way round is a violation', () => {
    const r = checkHistory({ produced: [put('A', 0, 'a0', { ackedAtMs: 10 }), put('A', 0, 'a1', { ackedAtMs: 20 })], reads }, { readsComplete: true });
    expect(r.orderViolations.count).toBe(1);
    expect(r.totals.clientReorders).toBe(0);
  });
});
