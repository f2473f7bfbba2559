/**
 * The compaction acceptance scenario against a real broker process: 1,000,000 records over 1,000
 * keys, with updates and tombstones, produced by kcat (librdkafka) into a compacted topic, and
 * cleaned by the broker's own log cleaner (scheduled from its housekeeping, on a worker thread).
 *
 *   offset 0 ……………………………… 999,000 ………… 1,000,000 ……………… 1,001,100 ……… +20
 *          | body: random keys,   | tail: one last  | filler: unique    | active-key ×20
 *          | ~5% tombstones       | write per key   | keys, rolls the   | (stays in the
 *          |                      | (50 tombstones) | tail's segment    |  active segment)
 *
 * Every record's value names its offset (`v<offset>-…`), so "offsets unchanged" is checked by
 * reading a value at its offset. One partition, one in-flight request: the log order is the input
 * order (a duplicate or a reorder would show as a wrong log end or a wrong value at an offset).
 *
 * Asserted through kcat reads: after cleaning exactly the last value of every live key remains at
 * its original offset; deleted keys show as tombstones until delete.retention.ms has passed and are
 * gone after a later pass; offsets strictly increase; the active segment is untouched. A probe
 * client produces and fetches throughout: every round trip succeeds, some while a round runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'compacted-1m';
const PROBE_TOPIC = 'probe';
const KEYS = 1_000;
const BODY = 999_000;
const TAIL = KEYS;
const RECORDS = BODY + TAIL;
const FILLER = 1_100;
const FILLER_VALUE_BYTES = 1_000;
const ACTIVE_WRITES = 20;
const SEGMENT_BYTES = 1 << 20;
/** Long enough that the tombstones are seen before it passes on a loaded machine, short enough to wait for. */
const DELETE_RETENTION_MS = 30_000;
const PAD = 'x'.repeat(24);

jest.setTimeout(240_000);

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker({ overrides: { 'log.cleaner.backoff.ms': '200', 'num.partitions': '1' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

/** Deterministic pseudo-random numbers (an LCG), so a failure can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
}

const valueAt = (offset: number): string => `v${offset}-${PAD}`;

interface Workload {
  /** kcat -K, -Z input: `key,value` per line, `key,` for a tombstone. */
  body: string;
  tail: string;
  /** Per key, its last write: offset and value (null = tombstone). */
  last: Map<string, { offset: number; value: string | null }>;
  /** Per offset below RECORDS: the key's number and whether the record is a tombstone. */
  keyAt: Uint16Array;
  tombstoneAt: Uint8Array;
  bodyTombstones: number;
}

function workload(): Workload {
  const rand = lcg(20240601);
  const last = new Map<string, { offset: number; value: string | null }>();
  const lines: string[] = [];
  const keyAt = new Uint16Array(RECORDS);
  const tombstoneAt = new Uint8Array(RECORDS);
  let bodyTombstones = 0;
  for (let o = 0; o < BODY; o++) {
    keyAt[o] = rand() % KEYS;
    const key = `key-${keyAt[o]}`;
    const value = rand() % 20 === 0 ? null : valueAt(o);
    if (value === null) bodyTombstones++;
    tombstoneAt[o] = value === null ? 1 : 0;
    lines.push(`${key},${value ?? ''}`);
    last.set(key, { offset: o, value });
  }
  const body = lines.join('\n') + '\n';
  // The tail writes every key once more in a shuffled order; every 20th key is deleted by it.
  const order = Array.from({ length: KEYS }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rand() % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const tailLines = order.map((k, i) => {
    const o = BODY + i;
    const value = k % 20 === 7 ? null : valueAt(o);
    keyAt[o] = k;
    tombstoneAt[o] = value === null ? 1 : 0;
    last.set(`key-${k}`, { offset: o, value });
    return `key-${k},${value ?? ''}`;
  });
  return { body, tail: tailLines.join('\n') + '\n', last, keyAt, tombstoneAt, bodyTombstones };
}

/** kcat as the producer: one partition, one request in flight (order kept), empty value = NULL. */
async function kcatProduceText(input: string): Promise<number> {
  const args = ['-P', '-b', broker.bootstrap, '-t', TOPIC, '-p', '0', '-K', ',', '-Z'];
  for (const p of ['max.in.flight.requests.per.connection=1', 'batch.num.messages=2000', 'batch.size=131072', 'linger.ms=5', 'acks=1']) args.push('-X', p);
  const t0 = Date.now();
  const r = await kcat(args, { input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(describeRun(`kcat ${args.join(' ')}`, r));
  return Date.now() - t0;
}

interface Row {
  offset: bigint;
  key: string;
  /** null: a tombstone. */
  value: string | null;
}

/** The whole partition through kcat (librdkafka): offset, key, value length (-1 = NULL) and value. */
async function kcatReadAll(): Promise<Row[]> {
  const args = ['-C', '-b', broker.bootstrap, '-t', TOPIC, '-p', '0', '-o', 'beginning', '-e', '-q', '-f', '%o %k %S %s\n'];
  const r = await kcat(args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(describeRun(`kcat ${args.join(' ')}`, r));
  const text = r.stdout.toString('utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [offset, key, size, value] = l.split(' ');
      return { offset: BigInt(offset!), key: key!, value: size === '-1' ? null : (value ?? '') };
    });
}

/** One `cleaned …` line of the broker's log cleaner, for this topic's partition. */
interface Round {
  endMs: number;
  startMs: number;
  reason: string;
  firstDirty: bigint;
  endOffset: bigint;
  durationMs: number;
  readMiB: number;
  recordsRead: number;
  wroteMiB: number;
  recordsKept: number;
  superseded: number;
  tombstonesRemoved: number;
}

const ROUND_RE =
  /^(\S+) INFO\s+\[[^\]]*\] cleaned (\S+) \(([^,]+), dirty ratio [\d.]+\): dirty section \[(\d+), (\d+)\) in (\d+) ms; read ([\d.]+) MiB \/ (\d+) records, wrote ([\d.]+) MiB \/ (\d+) records .*?removed (\d+) superseded, (\d+) tombstones/;

function cleanedRounds(): Round[] {
  const rounds: Round[] = [];
  for (const line of broker.output().split('\n')) {
    const m = ROUND_RE.exec(line);
    if (!m || path.basename(m[2]!) !== `${TOPIC}-0`) continue;
    const endMs = Date.parse(m[1]!);
    const durationMs = Number(m[6]);
    rounds.push({
      endMs,
      startMs: endMs - durationMs,
      reason: m[3]!,
      firstDirty: BigInt(m[4]!),
      endOffset: BigInt(m[5]!),
      durationMs,
      readMiB: Number(m[7]),
      recordsRead: Number(m[8]),
      wroteMiB: Number(m[9]),
      recordsKept: Number(m[10]),
      superseded: Number(m[11]),
      tombstonesRemoved: Number(m[12]),
    });
  }
  return rounds;
}

function partitionDir(): string {
  return path.join(broker.dataDir, 'logs', `${TOPIC}-0`);
}

/** Base offsets of the partition's segments, oldest first (the last one is the active segment). */
function segmentBases(): bigint[] {
  return fs
    .readdirSync(partitionDir())
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => BigInt(f.slice(0, 20)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Bytes of the partition's segment files (a file the cleaner swaps away meanwhile counts 0). */
function logBytes(): number {
  let total = 0;
  for (const f of fs.readdirSync(partitionDir())) {
    if (f.endsWith('.log')) total += fs.statSync(path.join(partitionDir(), f), { throwIfNoEntry: false })?.size ?? 0;
  }
  return total;
}

/**
 * Until stopped: a produce-then-fetch round trip on another topic, then a fetch at a random offset
 * of the compacted topic whose records are checked against what was written at their offsets
 * (while the cleaner swaps segments, a read sees the old or the new segments, never a mix or a
 * wrong record). Every failure is kept.
 */
class Probe {
  readonly trips: Array<{ startMs: number; endMs: number; ms: number }> = [];
  readonly failures: string[] = [];
  compactedReads = 0;
  compactedRecordsChecked = 0;
  maxCompactedReadMs = 0;
  private highWatermark = 0n;
  private stopped = false;
  private readonly done: Promise<void>;
  private readonly rand = lcg(7);

  constructor(
    private readonly c: StrataClient,
    private readonly w: Workload,
  ) {
    this.done = this.loop();
  }

  private async readCompacted(n: number): Promise<void> {
    const below = this.highWatermark < BigInt(RECORDS) ? this.highWatermark : BigInt(RECORDS);
    const at = below > 0n ? BigInt(this.rand() % Number(below)) : 0n;
    const t0 = Date.now();
    const r = await this.c.fetch(TOPIC, 0, at, { maxWaitMs: 0, maxBytes: 64 * 1024 });
    this.maxCompactedReadMs = Math.max(this.maxCompactedReadMs, Date.now() - t0);
    this.highWatermark = r.highWatermark;
    this.compactedReads++;
    if (below > 0n && r.records.length === 0) this.failures.push(`read ${n}: nothing at ${at} below ${below}`);
    for (const x of r.records) {
      if (x.offset >= BigInt(RECORDS)) continue;
      const o = Number(x.offset);
      const want = { key: `key-${this.w.keyAt[o]}`, value: this.w.tombstoneAt[o] ? null : valueAt(o) };
      const got = { key: x.key?.toString() ?? null, value: x.value?.toString() ?? null };
      if (x.offset < at || got.key !== want.key || got.value !== want.value) {
        this.failures.push(`read ${n} at ${at}: offset ${o} held ${JSON.stringify(got)}, written ${JSON.stringify(want)}`);
      }
      this.compactedRecordsChecked++;
    }
  }

  private async loop(): Promise<void> {
    for (let n = 0; !this.stopped; n++) {
      const startMs = Date.now();
      try {
        const value = `probe-${n}`;
        const { baseOffset } = await this.c.produce(PROBE_TOPIC, 0, [{ key: 'p', value }], { acks: 1 });
        const r = await this.c.fetch(PROBE_TOPIC, 0, baseOffset, { maxWaitMs: 0, maxBytes: 64 * 1024 });
        const got = r.records.find((x) => x.offset === baseOffset)?.value?.toString();
        if (got !== value) this.failures.push(`probe ${n}: fetched ${JSON.stringify(got)} at ${baseOffset}, produced ${value}`);
      } catch (e) {
        this.failures.push(`probe ${n}: ${(e as Error).message}`);
      }
      const endMs = Date.now();
      this.trips.push({ startMs, endMs, ms: endMs - startMs });
      try {
        await this.readCompacted(n);
      } catch (e) {
        this.failures.push(`read ${n}: ${(e as Error).message}`);
      }
      // Pacing only (the probes are a load, not a synchronisation).
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

test('1M records over 1,000 keys through a real broker: the cleaner keeps exactly the last value per live key at its offset, drops deleted keys after delete.retention.ms, and kcat reads the result', async () => {
  await client.createTopics([
    {
      name: TOPIC,
      numPartitions: 1,
      replicationFactor: 1,
      configs: {
        'cleanup.policy': 'compact',
        'segment.bytes': String(SEGMENT_BYTES),
        'min.cleanable.dirty.ratio': '0.1',
        'min.compaction.lag.ms': '0',
        'delete.retention.ms': String(DELETE_RETENTION_MS),
      },
    },
    { name: PROBE_TOPIC, numPartitions: 1, replicationFactor: 1 },
  ]);
  const w = workload();
  const deleted = [...w.last.entries()].filter(([, l]) => l.value === null).map(([k]) => k);
  const live = [...w.last.entries()].filter(([, l]) => l.value !== null);
  expect(deleted).toHaveLength(50);
  expect(w.bodyTombstones).toBeGreaterThan(BODY / 25);

  const probe = new Probe(client, w);
  let phase = 'produce';
  try {
    // Produce: the body, then the tail (its start bounds every delete horizon the tail gets), then
    // filler with unique keys so that the tail's segment is closed (cleanable), then writes to one
    // key that stay in the active segment.
    const bodyStartMs = Date.now();
    const bodyMs = await kcatProduceText(w.body);
    const tailStartMs = Date.now();
    const tailMs = await kcatProduceText(w.tail);
    const filler = Array.from({ length: FILLER }, (_, i) => `fill-${i},${'f'.repeat(FILLER_VALUE_BYTES - 8)}${String(i).padStart(8, '0')}`);
    await kcatProduceText(filler.join('\n') + '\n');
    const activeStart = BigInt(RECORDS + FILLER);
    const activeBase = segmentBases().at(-1)!;
    await kcatProduceText(Array.from({ length: ACTIVE_WRITES }, (_, i) => `active-key,a${i}`).join('\n') + '\n');
    const end = activeStart + BigInt(ACTIVE_WRITES);
    // No record lost, none duplicated: the log order is the input order.
    expect((await client.listOffsets(TOPIC, 0, -1n)).offset).toBe(end);
    const producedBytes = logBytes();
    const segmentsAfterProduce = segmentBases().length;
    // The writes to active-key went into the segment that was active before them and still is.
    expect(activeBase).toBeLessThanOrEqual(activeStart);
    expect(segmentBases().at(-1)).toBe(activeBase);

    // Wait for a round whose dirty section reached past the tail.
    phase = 'first clean';
    await waitFor(() => cleanedRounds().some((r) => r.endOffset >= BigInt(RECORDS)), {
      timeoutMs: 120_000,
      intervalMs: 200,
      message: `no cleaning round covered offsets up to ${RECORDS}`,
    });
    const compactedAtMs = Date.now();
    const compactedBytes = logBytes();

    phase = 'read after the first clean';
    const rows = await kcatReadAll();
    const readDoneMs = Date.now();
    const roundsBefore = cleanedRounds();
    const bytesRounds = roundsBefore.filter((r) => r.endOffset >= BigInt(RECORDS));

    // Offsets strictly increase; every record's value is the one written at its offset.
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.offset > rows[i - 1]!.offset).toBe(true);
    const updates = rows.filter((r) => r.offset < BigInt(RECORDS));
    for (const r of updates) {
      const l = w.last.get(r.key);
      expect({ key: r.key, offset: Number(r.offset), value: r.value }).toEqual({ key: r.key, offset: l?.offset, value: l?.value });
    }
    // Exactly one record per live key: its last value at its original offset.
    const liveRows = updates.filter((r) => r.value !== null);
    expect(liveRows.length).toBe(live.length);
    expect(new Set(liveRows.map((r) => r.key)).size).toBe(live.length);
    // Deleted keys: at most their tombstone, at the tombstone's offset (checked above). Every
    // tail tombstone got its delete horizon from a round that started after the tail was
    // produced, so if this read finished before tailStart + delete.retention.ms, all must show.
    const tombstoneKeys = updates.filter((r) => r.value === null).map((r) => r.key);
    expect(new Set(tombstoneKeys).size).toBe(tombstoneKeys.length);
    expect(tombstoneKeys.every((k) => deleted.includes(k))).toBe(true);
    const tombstonesMustShow = readDoneMs < tailStartMs + DELETE_RETENTION_MS;
    if (tombstonesMustShow) expect(tombstoneKeys.sort()).toEqual([...deleted].sort());
    // Filler and the active segment: untouched, every record at its offset.
    const after = rows.filter((r) => r.offset >= BigInt(RECORDS));
    expect(after.map((r) => [r.offset, r.key, r.value])).toEqual([
      ...filler.map((l, i) => [BigInt(RECORDS + i), l.slice(0, l.indexOf(',')), l.slice(l.indexOf(',') + 1)]),
      ...Array.from({ length: ACTIVE_WRITES }, (_, i) => [activeStart + BigInt(i), 'active-key', `a${i}`]),
    ]);

    // Deleted keys disappear once delete.retention.ms has passed, in a later pass, with no new writes.
    phase = 'tombstone removal';
    await waitFor(async () => (await kcatReadAll()).every((r) => r.value !== null), {
      timeoutMs: DELETE_RETENTION_MS + 90_000,
      intervalMs: 500,
      message: 'the tombstones were never removed after delete.retention.ms',
    });
    const removedAtMs = Date.now();
    const finalRows = await kcatReadAll();
    expect(finalRows).toEqual(rows.filter((r) => r.value !== null));
    expect(finalRows.filter((r) => r.offset < BigInt(RECORDS)).length).toBe(live.length);
    expect((await client.listOffsets(TOPIC, 0, -1n)).offset).toBe(end);
    // No round removed a tombstone before its horizon could have passed: every horizon is at
    // least delete.retention.ms after the body's produce started (the round clock is the broker's,
    // on this machine).
    const rounds = cleanedRounds();
    const removing = rounds.filter((r) => r.tombstonesRemoved > 0);
    expect(removing.length).toBeGreaterThan(0);
    for (const r of removing) expect(r.startMs).toBeGreaterThanOrEqual(bodyStartMs + DELETE_RETENTION_MS);
    expect(rounds.reduce((n, r) => n + r.tombstonesRemoved, 0)).toBeGreaterThanOrEqual(deleted.length);
    const finalBytes = logBytes();

    // The broker stayed responsive while rounds ran: every probe round trip succeeded, and some
    // completed while the cleaner was working.
    phase = 'probe';
    await probe.stop();
    expect(probe.failures.slice(0, 20)).toEqual([]);
    expect(probe.compactedRecordsChecked).toBeGreaterThan(0);
    const duringRounds = probe.trips.filter((t) => rounds.some((r) => t.endMs > r.startMs && t.endMs < r.endMs));
    expect(duringRounds.length).toBeGreaterThan(0);
    const maxTrip = Math.max(...probe.trips.map((t) => t.ms));
    const maxTripDuring = Math.max(...duringRounds.map((t) => t.ms));

    const mb = (n: number): string => (n / 1e6).toFixed(1);
    process.stdout.write(
      `[compactionMillion] produced ${RECORDS} records (${w.bodyTombstones} body tombstones, ${deleted.length} deleted keys) with kcat: ` +
        `body ${bodyMs} ms, tail ${tailMs} ms; ${segmentsAfterProduce} segments, ${mb(producedBytes)} MB on disk after produce; ` +
        `${rounds.length} rounds (${rounds.map((r) => `${r.reason} [${r.firstDirty},${r.endOffset}) ${r.durationMs} ms read ${r.readMiB} MiB/${r.recordsRead} wrote ${r.wroteMiB} MiB/${r.recordsKept}`).join('; ')}); ` +
        `compacted ${compactedAtMs - tailStartMs} ms after the tail started (${bytesRounds.length} covering round(s)), ${mb(compactedBytes)} MB; ` +
        `tombstones ${tombstonesMustShow ? 'seen' : 'NOT checked (slow read)'} then removed ${removedAtMs - tailStartMs} ms after the tail started; ${mb(finalBytes)} MB final; ` +
        `probe: ${probe.trips.length} round trips, longest ${maxTrip} ms, ${duringRounds.length} during rounds (longest ${maxTripDuring} ms); ` +
        `${probe.compactedReads} reads of the compacted topic (${probe.compactedRecordsChecked} records checked, longest ${probe.maxCompactedReadMs} ms)\n`,
    );
  } catch (e) {
    (e as Error).message = `[phase: ${phase}] ${(e as Error).message}`;
    throw e;
  } finally {
    await probe.stop();
  }
});
