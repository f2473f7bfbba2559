/**
 * A Jepsen-style checker for Kafka histories: what producers sent (and were told), how their
 * transactions ended, and every record consumers read. Pure functions, no I/O: an integration
 * test records a history during a fault run, reads everything back at the end, then asserts
 * `checkHistory(h, { readsComplete: true }).ok` with `formatReport` as the failure message.
 *
 * Records are identified by their value, so tests give every record a unique value. A value
 * produced more than once (an application-level retry, e.g. output re-produced after its
 * transaction aborted) is one record with several attempts: it may land once per attempt, and
 * read_committed readers may see it once per attempt whose transaction did not abort.
 *
 * Kinds of anomaly (each a count plus the first examples):
 * - lostWrites: an acked non-transactional record, or a record of a committed transaction, that
 *   no read saw (checked only with readsComplete);
 * - duplicates: a value at more positions (partition, offset) than it had attempts to land;
 * - inconsistentOffsets: one position read with different values (divergent logs);
 * - orderViolations: per producer and partition, acked values whose read offsets are not in
 *   send order (the order of `produced`). A later-sent value whose acknowledgement came first
 *   (`ackedAtMs`) is not one: the leader received it first, so the client sent it first
 *   (librdkafka without idempotence can, when a partition moves to a new leader, send a new
 *   record before the backlog it takes back from the old leader's queue); such pairs are
 *   counted in totals.clientReorders;
 * - ackedOffsetMismatch: an acked record whose reported offset was read holding another value;
 * - abortedReads: a read_committed read of a record whose transaction aborted;
 * - tornTransactions: a read_committed reader saw some of a committed transaction's records but
 *   missed others it read past (it saw a higher offset in their partition);
 * - uncommittedReads: a transaction of unknown outcome that read_committed readers saw, so it
 *   must be committed, but not whole: a reader read past a record of it without seeing it, or
 *   (readsComplete) a record of it was never read at all;
 * - unexpectedValues: a value read from a partition nobody produced it to.
 * An unacked record (`acked: false`) may or may not land: never an anomaly by itself, but it may
 * not land twice.
 */

export interface ProducedOp {
  producer: string;
  partition: number;
  value: string;
  /** The client reported success. */
  acked: boolean;
  /** The offset the client reported, when it did. */
  offset?: bigint;
  /** When the client reported the acknowledgement (ms, the producer's clock), when known. */
  ackedAtMs?: number;
  /** The transaction the record was produced in, if transactional. */
  txn?: string;
}

export type TxnOutcomeKind = 'committed' | 'aborted' | 'unknown';

export interface TxnOutcome {
  txn: string;
  /** unknown: the client crashed, or got an error mid-commit. A txn not listed counts as unknown. */
  outcome: TxnOutcomeKind;
}

export type Isolation = 'read_committed' | 'read_uncommitted';

export interface ReadOp {
  consumer: string;
  partition: number;
  offset: bigint;
  value: string;
  isolation: Isolation;
}

export interface History {
  /** In send order per producer and partition. */
  produced: readonly ProducedOp[];
  txns?: readonly TxnOutcome[];
  /** Every record each consumer saw, in the order it saw them (re-reads included). */
  reads: readonly ReadOp[];
}

export interface CheckOptions {
  /** The reads include a final full read of every partition, so a record nobody read is lost. */
  readsComplete?: boolean;
  /** Examples kept per kind of anomaly. Default 20. */
  maxExamples?: number;
}

export interface Position {
  partition: number;
  offset: bigint;
}

export interface LostWrite {
  producer: string;
  partition: number;
  value: string;
  txn?: string;
}
export interface Duplicate {
  value: string;
  positions: Position[];
  /** Attempts the value had (each may land once). */
  attempts: number;
  /** true when read_committed readers alone saw it at too many positions. */
  readCommitted: boolean;
}
export interface InconsistentOffset {
  partition: number;
  offset: bigint;
  values: Array<{ value: string; consumers: string[] }>;
}
export interface OrderViolation {
  producer: string;
  partition: number;
  /** Sent first, but read at the higher offset. */
  earlier: { value: string; offset: bigint };
  later: { value: string; offset: bigint };
}
export interface AckedOffsetMismatch {
  producer: string;
  partition: number;
  offset: bigint;
  expected: string;
  read: string[];
}
export interface AbortedRead {
  consumer: string;
  partition: number;
  offset: bigint;
  value: string;
  txn: string;
}
export interface TornTransaction {
  txn: string;
  consumer: string;
  seen: string[];
  missing: string[];
}
export interface UncommittedRead {
  txn: string;
  /** Values of it read by read_committed readers. */
  seen: string[];
  /** Values of it those readers should have seen too. */
  missing: string[];
  /** The readers that read past a missing record (empty when it was never read at all). */
  consumers: string[];
}
export interface UnexpectedValue {
  consumer: string;
  partition: number;
  offset: bigint;
  value: string;
}

export interface AnomalyList<T> {
  count: number;
  /** The first maxExamples, in history order. */
  examples: T[];
}

export interface CheckReport {
  ok: boolean;
  lostWrites: AnomalyList<LostWrite>;
  duplicates: AnomalyList<Duplicate>;
  inconsistentOffsets: AnomalyList<InconsistentOffset>;
  orderViolations: AnomalyList<OrderViolation>;
  ackedOffsetMismatch: AnomalyList<AckedOffsetMismatch>;
  abortedReads: AnomalyList<AbortedRead>;
  tornTransactions: AnomalyList<TornTransaction>;
  uncommittedReads: AnomalyList<UncommittedRead>;
  unexpectedValues: AnomalyList<UnexpectedValue>;
  /** What was checked, for the summary line. */
  totals: {
    produced: number;
    acked: number;
    txns: Record<TxnOutcomeKind, number>;
    reads: number;
    valuesRead: number;
    readsComplete: boolean;
    /** Later-sent values the leader received (and acknowledged) before earlier-sent ones of the same producer and partition. */
    clientReorders: number;
  };
}

export const ANOMALY_KINDS = [
  'lostWrites',
  'duplicates',
  'inconsistentOffsets',
  'orderViolations',
  'ackedOffsetMismatch',
  'abortedReads',
  'tornTransactions',
  'uncommittedReads',
  'unexpectedValues',
] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

const DEFAULT_MAX_EXAMPLES = 20;

class Collector<T> {
  readonly list: AnomalyList<T> = { count: 0, examples: [] };
  constructor(private readonly max: number) {}
  add(example: T): void {
    this.list.count++;
    if (this.list.examples.length < this.max) this.list.examples.push(example);
  }
}

const posKey = (partition: number, offset: bigint): string => `${partition}:${offset}`;
const valueKey = (partition: number, value: string): string => `${partition}\u0000${value}`;

/** Map helpers: get-or-create. */
function entry<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

export function checkHistory(h: History, opts: CheckOptions = {}): CheckReport {
  const max = opts.maxExamples ?? DEFAULT_MAX_EXAMPLES;
  const c = {
    lostWrites: new Collector<LostWrite>(max),
    duplicates: new Collector<Duplicate>(max),
    inconsistentOffsets: new Collector<InconsistentOffset>(max),
    orderViolations: new Collector<OrderViolation>(max),
    ackedOffsetMismatch: new Collector<AckedOffsetMismatch>(max),
    abortedReads: new Collector<AbortedRead>(max),
    tornTransactions: new Collector<TornTransaction>(max),
    uncommittedReads: new Collector<UncommittedRead>(max),
    unexpectedValues: new Collector<UnexpectedValue>(max),
  };

  // ---- index the history ----------------------------------------------------------------------
  const outcome = new Map<string, TxnOutcomeKind>();
  for (const t of h.txns ?? []) outcome.set(t.txn, t.outcome);
  const outcomeOf = (txn: string): TxnOutcomeKind => outcome.get(txn) ?? 'unknown';

  /** Attempts per (partition, value), in send order. */
  const attempts = new Map<string, ProducedOp[]>();
  const txnRecords = new Map<string, ProducedOp[]>();
  for (const op of h.produced) {
    entry(attempts, valueKey(op.partition, op.value), () => []).push(op);
    if (op.txn !== undefined) entry(txnRecords, op.txn, () => []).push(op);
    if (op.txn !== undefined && !outcome.has(op.txn)) outcome.set(op.txn, 'unknown');
  }

  /** Per position: value → consumers that read it there. */
  const atPosition = new Map<string, { partition: number; offset: bigint; values: Map<string, Set<string>> }>();
  /** Per (partition, value): positions read by anyone / by read_committed readers. */
  const positionsAll = new Map<string, Map<string, Position>>();
  const positionsRc = new Map<string, Map<string, Position>>();
  /** Per read_committed consumer: values seen per partition, and the highest offset seen per partition. */
  const rcSeen = new Map<string, Set<string>>();
  const rcMaxOffset = new Map<string, Map<number, bigint>>();
  const unexpectedSeen = new Set<string>();
  const abortedSeen = new Set<string>();

  for (const r of h.reads) {
    const pk = posKey(r.partition, r.offset);
    const vk = valueKey(r.partition, r.value);
    const at = entry(atPosition, pk, () => ({ partition: r.partition, offset: r.offset, values: new Map<string, Set<string>>() }));
    entry(at.values, r.value, () => new Set<string>()).add(r.consumer);

    const tries = attempts.get(vk);
    if (tries === undefined) {
      const key = `${pk}\u0000${r.value}`;
      if (!unexpectedSeen.has(key)) {
        unexpectedSeen.add(key);
        c.unexpectedValues.add({ consumer: r.consumer, partition: r.partition, offset: r.offset, value: r.value });
      }
      continue;
    }
    entry(positionsAll, vk, () => new Map()).set(pk, { partition: r.partition, offset: r.offset });
    if (r.isolation !== 'read_committed') continue;
    entry(positionsRc, vk, () => new Map()).set(pk, { partition: r.partition, offset: r.offset });
    entry(rcSeen, r.consumer, () => new Set()).add(vk);
    const maxes = entry(rcMaxOffset, r.consumer, () => new Map<number, bigint>());
    const prev = maxes.get(r.partition);
    if (prev === undefined || r.offset > prev) maxes.set(r.partition, r.offset);

    if (tries.every((a) => a.txn !== undefined && outcomeOf(a.txn) === 'aborted')) {
      const key = `${r.consumer}\u0000${pk}`;
      if (!abortedSeen.has(key)) {
        abortedSeen.add(key);
        c.abortedReads.add({ consumer: r.consumer, partition: r.partition, offset: r.offset, value: r.value, txn: tries[0]!.txn! });
      }
    }
  }
  // Every read of a value nobody produced (to that partition) was also counted at its position.

  // ---- inconsistent offsets -------------------------------------------------------------------
  for (const at of atPosition.values()) {
    if (at.values.size < 2) continue;
    c.inconsistentOffsets.add({
      partition: at.partition,
      offset: at.offset,
      values: [...at.values].map(([value, consumers]) => ({ value, consumers: [...consumers] })),
    });
  }

  // ---- duplicates -----------------------------------------------------------------------------
  for (const [vk, positions] of positionsAll) {
    const tries = attempts.get(vk)!;
    const rc = positionsRc.get(vk)?.size ?? 0;
    const notAborted = tries.filter((a) => a.txn === undefined || outcomeOf(a.txn) !== 'aborted').length;
    const tooMany = positions.size > tries.length;
    const tooManyRc = rc > Math.max(1, notAborted);
    if (!tooMany && !tooManyRc) continue;
    c.duplicates.add({
      value: tries[0]!.value,
      positions: sortPositions([...(tooMany ? positions : positionsRc.get(vk)!).values()]),
      attempts: tries.length,
      readCommitted: !tooMany,
    });
  }

  // ---- lost writes ----------------------------------------------------------------------------
  if (opts.readsComplete) {
    for (const [vk, tries] of attempts) {
      if (positionsAll.has(vk)) continue;
      const must = tries.find((a) => (a.txn === undefined ? a.acked : outcomeOf(a.txn) === 'committed'));
      if (must) c.lostWrites.add({ producer: must.producer, partition: must.partition, value: must.value, ...(must.txn !== undefined ? { txn: must.txn } : {}) });
    }
  }

  // ---- acked offsets --------------------------------------------------------------------------
  for (const op of h.produced) {
    if (!op.acked || op.offset === undefined) continue;
    const at = atPosition.get(posKey(op.partition, op.offset));
    if (!at) continue;
    const others = [...at.values.keys()].filter((v) => v !== op.value);
    if (others.length > 0) c.ackedOffsetMismatch.add({ producer: op.producer, partition: op.partition, offset: op.offset, expected: op.value, read: others });
  }

  // ---- order per producer and partition -------------------------------------------------------
  /** Where an attempt landed, as read: the first landing of a value with one attempt. */
  const landedAt = (op: ProducedOp): bigint | undefined => {
    const vk = valueKey(op.partition, op.value);
    const positions = positionsAll.get(vk);
    if (!positions) return undefined;
    if (attempts.get(vk)!.length === 1) {
      let min: bigint | undefined;
      for (const p of positions.values()) if (min === undefined || p.offset < min) min = p.offset;
      return min;
    }
    // Several attempts: only a reported offset that was read with this value says which one.
    return op.offset !== undefined && positions.has(posKey(op.partition, op.offset)) ? op.offset : undefined;
  };
  const highest = new Map<string, { value: string; offset: bigint; ackedAtMs?: number }>();
  let clientReorders = 0;
  for (const op of h.produced) {
    if (!op.acked) continue;
    const offset = landedAt(op);
    if (offset === undefined) continue;
    const key = `${op.producer}\u0000${op.partition}`;
    const top = highest.get(key);
    if (top === undefined || offset > top.offset) highest.set(key, { value: op.value, offset, ackedAtMs: op.ackedAtMs });
    else if (offset < top.offset) {
      if (op.ackedAtMs !== undefined && top.ackedAtMs !== undefined && op.ackedAtMs < top.ackedAtMs) clientReorders++;
      else c.orderViolations.add({ producer: op.producer, partition: op.partition, earlier: { value: top.value, offset: top.offset }, later: { value: op.value, offset } });
    }
  }

  // ---- transactions ---------------------------------------------------------------------------
  /** Offsets a transactional record is known to sit at (for judging whether a reader read past it). */
  const knownOffsets = (op: ProducedOp): bigint[] => {
    const vk = valueKey(op.partition, op.value);
    const single = attempts.get(vk)!.length === 1;
    const from = single ? positionsAll.get(vk) : positionsRc.get(vk);
    const offsets = [...(from?.values() ?? [])].map((p) => p.offset);
    if (op.offset !== undefined) offsets.push(op.offset);
    return offsets;
  };
  /** Per read_committed consumer: which of the records it saw, and which it read past without seeing. */
  const perReader = (records: ProducedOp[]): Array<{ consumer: string; seen: string[]; missing: string[] }> => {
    const out: Array<{ consumer: string; seen: string[]; missing: string[] }> = [];
    for (const [consumer, seenKeys] of rcSeen) {
      const maxes = rcMaxOffset.get(consumer)!;
      const seen: string[] = [];
      const missing: string[] = [];
      for (const op of records) {
        if (seenKeys.has(valueKey(op.partition, op.value))) {
          seen.push(op.value);
          continue;
        }
        const top = maxes.get(op.partition);
        if (top !== undefined && knownOffsets(op).some((o) => o < top)) missing.push(op.value);
      }
      out.push({ consumer, seen, missing });
    }
    return out;
  };

  for (const [txn, records] of txnRecords) {
    const kind = outcomeOf(txn);
    if (kind === 'committed') {
      for (const r of perReader(records)) {
        if (r.seen.length > 0 && r.missing.length > 0) c.tornTransactions.add({ txn, ...r });
      }
    } else if (kind === 'unknown') {
      const seen = records.filter((op) => positionsRc.has(valueKey(op.partition, op.value)));
      if (seen.length === 0) continue; // read by nobody as committed: nothing to hold it to
      const readers = perReader(records).filter((r) => r.missing.length > 0);
      const missing = new Set(readers.flatMap((r) => r.missing));
      if (opts.readsComplete) {
        for (const op of records) if (!positionsAll.has(valueKey(op.partition, op.value))) missing.add(op.value);
      }
      if (missing.size > 0) {
        c.uncommittedReads.add({ txn, seen: seen.map((op) => op.value), missing: [...missing], consumers: readers.map((r) => r.consumer) });
      }
    }
  }

  const lists = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, c[k].list])) as { [K in AnomalyKind]: CheckReport[K] };
  const txnCounts: Record<TxnOutcomeKind, number> = { committed: 0, aborted: 0, unknown: 0 };
  for (const kind of outcome.values()) txnCounts[kind]++;
  return {
    ok: ANOMALY_KINDS.every((k) => lists[k].count === 0),
    ...lists,
    totals: {
      produced: h.produced.length,
      acked: h.produced.filter((op) => op.acked).length,
      txns: txnCounts,
      reads: h.reads.length,
      valuesRead: positionsAll.size,
      readsComplete: opts.readsComplete === true,
      clientReorders,
    },
  };
}

function sortPositions(ps: Position[]): Position[] {
  return ps.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

const at = (p: Position): string => `p${p.partition}@${p.offset}`;
const q = (v: string): string => JSON.stringify(v);
const list = (vs: string[], n = 5): string => vs.slice(0, n).map(q).join(', ') + (vs.length > n ? `, … (${vs.length})` : '');

/** One line per example, by kind. */
const describe: { [K in AnomalyKind]: (e: CheckReport[K]['examples'][number]) => string } = {
  lostWrites: (e) => `${q(e.value)} (producer ${e.producer}, p${e.partition}${e.txn !== undefined ? `, txn ${e.txn}` : ''}) was never read`,
  duplicates: (e) => `${q(e.value)} at ${e.positions.map(at).join(', ')} (${e.attempts} attempt(s)${e.readCommitted ? ', read_committed' : ''})`,
  inconsistentOffsets: (e) => `${at(e)} read as ${e.values.map((v) => `${q(v.value)} by ${v.consumers.join('/')}`).join(' and ')}`,
  orderViolations: (e) =>
    `producer ${e.producer} p${e.partition}: ${q(e.earlier.value)} sent before ${q(e.later.value)} but read at ${e.earlier.offset} > ${e.later.offset}`,
  ackedOffsetMismatch: (e) => `producer ${e.producer} was acked ${q(e.expected)} at p${e.partition}@${e.offset}, which read as ${list(e.read)}`,
  abortedReads: (e) => `${e.consumer} read ${q(e.value)} at p${e.partition}@${e.offset} of aborted txn ${e.txn}`,
  tornTransactions: (e) => `${e.consumer} saw ${list(e.seen)} of txn ${e.txn} but read past ${list(e.missing)}`,
  uncommittedReads: (e) =>
    `txn ${e.txn} (outcome unknown) read as committed (${list(e.seen)}) but ${list(e.missing)} ${e.consumers.length > 0 ? `read past by ${e.consumers.join('/')}` : 'never read'}`,
  unexpectedValues: (e) => `${e.consumer} read ${q(e.value)} at p${e.partition}@${e.offset}, which nobody produced there`,
};

/** A compact summary for test failure messages: totals, counts per anomaly, then examples. */
export function formatReport(r: CheckReport, opts: { examplesPerKind?: number } = {}): string {
  const per = opts.examplesPerKind ?? 5;
  const t = r.totals;
  const head =
    `history: ${t.produced} produced (${t.acked} acked), txns ${t.txns.committed} committed / ${t.txns.aborted} aborted / ${t.txns.unknown} unknown, ` +
    `${t.reads} reads of ${t.valuesRead} values${t.readsComplete ? ' (complete)' : ''}` +
    (t.clientReorders > 0 ? `, ${t.clientReorders} sent out of order by the client` : '');
  const bad = ANOMALY_KINDS.filter((k) => r[k].count > 0);
  if (bad.length === 0) return `${head}: ok`;
  const lines = [`${head}: ${bad.map((k) => `${k} ${r[k].count}`).join(', ')}`];
  for (const k of bad) {
    lines.push(`${k} (${r[k].count}):`);
    const examples = r[k].examples as Array<CheckReport[typeof k]['examples'][number]>;
    for (const e of examples.slice(0, per)) lines.push(`  ${(describe[k] as (x: typeof e) => string)(e)}`);
    if (r[k].count > Math.min(per, examples.length)) lines.push(`  … ${r[k].count - Math.min(per, examples.length)} more`);
  }
  return lines.join('\n');
}
