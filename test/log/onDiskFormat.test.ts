import * as fs from 'node:fs';
import * as path from 'node:path';
import { OffsetIndex } from '../../core/log/offsetIndex';
import { PartitionLog } from '../../core/log/partitionLog';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { TimeIndex } from '../../core/log/timeIndex';
import { batch, captureLogger, makeTmpDir, removeDir, smallConfig } from './helpers';

/**
 * Reads a partition directory written once by test/fixtures/log/generate.ts and committed
 * (test/fixtures/log/v1). If a change to the segment or index format breaks reading data that an
 * earlier Strata wrote, this fails. Never regenerate v1; add a v2 next to it instead.
 */
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'log', 'v1', 'topic-0');
const T0 = 1_700_000_000_000n;

const v = (i: number, r: number): string => `value-${i}-${r}`.padEnd(20 + i * 3, '~');
const h = (i: number): [string, string | null][] => [['batch', String(i)], ['nil', null]];

/** [offset, key, value, timestamp, headers] of every record in the fixture. */
const RECORDS: [bigint, string | null, string | null, bigint, [string, string | null][]][] = [
  [0n, 'key-0-0', v(0, 0), T0, h(0)],
  [1n, 'key-1-0', v(1, 0), T0 + 1000n, h(1)],
  [2n, null, v(1, 1), T0 + 1001n, []],
  [3n, 'key-2-0', v(2, 0), T0 + 2000n, h(2)],
  [4n, null, v(2, 1), T0 + 2001n, []],
  [5n, 'key-2-2', v(2, 2), T0 + 2002n, []],
  [6n, 'key-3-0', v(3, 0), T0 + 3000n, h(3)],
  [7n, 'key-4-0', v(4, 0), T0, h(4)],
  [8n, null, v(4, 1), T0, []],
  [9n, 'key-5-0', null, T0 + 5000n, h(5)],
  [10n, null, v(5, 1), T0 + 5001n, []],
  [11n, 'key-5-2', v(5, 2), T0 + 5002n, []],
  [12n, 'key-6-0', v(6, 0), T0 + 6000n, h(6)],
  [13n, 'key-7-0', v(7, 0), T0 + 7000n, h(7)],
  [14n, null, v(7, 1), T0 + 7001n, []],
  [15n, 'key-8-0', v(8, 0), T0 + 8000n, h(8)],
  [16n, null, v(8, 1), T0 + 8001n, []],
  [17n, 'key-8-2', v(8, 2), T0 + 8002n, []],
  [18n, 'key-9-0', v(9, 0), T0 + 9000n, h(9)],
  [19n, 'key-10-0', v(10, 0), T0 + 10000n, h(10)],
  [20n, null, v(10, 1), T0 + 10001n, []],
  [21n, 'key-11-0', v(11, 0), T0 + 11000n, h(11)],
  [22n, null, v(11, 1), T0 + 11001n, []],
  [23n, 'key-11-2', v(11, 2), T0 + 11002n, []],
];

/** [baseOffset, lastOffset, leaderEpoch, compression, producerId, producerEpoch, baseSequence, transactional] */
const BATCHES = [
  [0n, 0n, 0, 'none', -1n, -1, -1, false],
  [1n, 2n, 0, 'none', -1n, -1, -1, false],
  [3n, 5n, 0, 'none', -1n, -1, -1, false],
  [6n, 6n, 0, 'gzip', -1n, -1, -1, false],
  [7n, 8n, 0, 'none', -1n, -1, -1, false],
  [9n, 11n, 0, 'none', -1n, -1, -1, false],
  [12n, 12n, 1, 'none', -1n, -1, -1, false],
  [13n, 14n, 1, 'gzip', -1n, -1, -1, false],
  [15n, 17n, 1, 'none', 4242n, 3, 0, false],
  [18n, 18n, 1, 'none', 4242n, 3, 3, false],
  [19n, 20n, 1, 'none', 4242n, 3, 6, true],
  [21n, 23n, 1, 'gzip', 4242n, 3, 9, false],
];

describe('on-disk format v1 fixture', () => {
  let tmp: string;
  let dir: string;
  beforeEach(() => {
    tmp = makeTmpDir();
    dir = path.join(tmp, 'topic-0');
    fs.cpSync(FIXTURE, dir, { recursive: true }); // opening repairs files: never touch the committed ones
  });
  afterEach(() => removeDir(tmp));

  it('has the files an older Strata wrote', () => {
    expect(fs.readdirSync(FIXTURE).sort()).toEqual([
      '00000000000000000000.index',
      '00000000000000000000.log',
      '00000000000000000000.timeindex',
      '00000000000000000013.index',
      '00000000000000000013.log',
      '00000000000000000013.timeindex',
    ]);
  });

  it('reads the committed index files as the entries they were written with', () => {
    const entries = (base: string, size: number) => {
      const oi = OffsetIndex.open(path.join(dir, `${base}.index`), size);
      const ti = TimeIndex.open(path.join(dir, `${base}.timeindex`), size);
      expect([oi.problem, ti.problem]).toEqual([null, null]);
      const out = {
        offsets: Array.from({ length: oi.index.entries }, (_, i) => oi.index.entry(i)),
        times: Array.from({ length: ti.index.entries }, (_, i) => ti.index.entry(i)),
      };
      oi.index.close();
      ti.index.close();
      return out;
    };
    const o = (relativeOffset: number, position: number) => ({ relativeOffset, position });
    const t = (timestamp: bigint, relativeOffset: number) => ({ timestamp, relativeOffset });
    expect(entries('00000000000000000000', 1018)).toEqual({
      offsets: [o(3, 249), o(6, 436), o(9, 712), o(12, 891)],
      times: [t(T0 + 2002n, 3), t(T0 + 3000n, 6), t(T0 + 5002n, 9), t(T0 + 6000n, 12)],
    });
    expect(entries('00000000000000000013', 851)).toEqual({
      offsets: [o(2, 129), o(5, 371), o(6, 507), o(8, 705)],
      times: [t(T0 + 8002n, 2), t(T0 + 9000n, 5), t(T0 + 10001n, 6), t(T0 + 11002n, 8)],
    });
  });

  it('opens, recovers nothing, and serves every record as written', () => {
    const { logger, lines } = captureLogger();
    const log = PartitionLog.open(dir, smallConfig(), { logger });
    try {
      expect(lines.join('\n')).not.toMatch(/truncating/);
      expect([log.logStartOffset, log.logEndOffset, log.highWatermark]).toEqual([0n, 24n, 24n]);
      expect(log.segments().map((s) => [s.baseOffset, s.nextOffset, s.size, s.maxTimestamp])).toEqual([
        [0n, 13n, 1018, T0 + 6000n],
        [13n, 24n, 851, T0 + 11002n],
      ]);
      const decoded = decodeRecordBatches(Buffer.concat(log.read(0n, 1 << 20, { minOneBatch: true }).records));
      expect(
        decoded.map((b) => [b.baseOffset, b.lastOffset, b.partitionLeaderEpoch, b.compression, b.producerId, b.producerEpoch, b.baseSequence, b.isTransactional]),
      ).toEqual(BATCHES);
      expect(
        decoded.flatMap((b) =>
          b.records.map((r) => [
            r.offset,
            r.key?.toString() ?? null,
            r.value?.toString() ?? null,
            r.timestamp,
            r.headers.map((x) => [x.key, x.value?.toString() ?? null]),
          ]),
        ),
      ).toEqual(RECORDS);
      // Index-driven lookups on the old files.
      for (const [base, last] of BATCHES as [bigint, bigint][]) {
        for (let o = base; o <= last; o++) expect(log.read(o, 1, { minOneBatch: true }).firstOffset).toBe(base);
      }
      expect(log.offsetForTimestamp(T0)).toEqual({ offset: 0n, timestamp: T0 });
      expect(log.offsetForTimestamp(T0 + 1n)).toEqual({ offset: 1n, timestamp: T0 + 1000n });
      expect(log.offsetForTimestamp(T0 + 3001n)).toEqual({ offset: 9n, timestamp: T0 + 5000n });
      expect(log.offsetForTimestamp(T0 + 7000n)).toEqual({ offset: 13n, timestamp: T0 + 7001n }); // gzip: batch base, max timestamp
      expect(log.offsetForTimestamp(T0 + 11002n)).toEqual({ offset: 21n, timestamp: T0 + 11002n });
      expect(log.offsetForTimestamp(T0 + 11003n)).toBeNull();
      expect(log.maxTimestampOffset()).toEqual({ offset: 21n, timestamp: T0 + 11002n });
      // And it keeps going.
      expect(log.append(batch(), { leaderEpoch: 2 }).baseOffset).toBe(24n);
    } finally {
      log.close();
    }
  });

  it('leaves the old data bytes untouched and rebuilds identical indexes', () => {
    for (const f of fs.readdirSync(dir)) if (!f.endsWith('.log')) fs.rmSync(path.join(dir, f));
    PartitionLog.open(dir, smallConfig({ indexIntervalBytes: 128 }), { logger: () => undefined }).close();
    for (const f of fs.readdirSync(FIXTURE)) {
      expect([f, fs.readFileSync(path.join(dir, f))]).toEqual([f, fs.readFileSync(path.join(FIXTURE, f))]);
    }
  });
});
