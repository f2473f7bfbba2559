import * as fs from 'node:fs';
import * as path from 'node:path';
import { isStrataError, StrataError } from '../../core/common/errors';
import { PartitionLog } from '../../core/log/partitionLog';
import { validateRecords } from '../../core/log/recordBatch';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { batch, fixCrc, makeTmpDir, quiet, readAll, removeDir, smallConfig } from './helpers';

function thrown(fn: () => unknown): StrataError {
  try {
    fn();
  } catch (e) {
    if (e instanceof StrataError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('PartitionLog', () => {
  let dir: string;
  const logs: PartitionLog[] = [];
  function open(config = smallConfig(), opts: Parameters<typeof PartitionLog.open>[2] = {}): PartitionLog {
    const log = PartitionLog.open(dir, config, { logger: quiet, ...opts });
    logs.push(log);
    return log;
  }
  beforeEach(() => {
    dir = path.join(makeTmpDir(), 'topic-0');
  });
  afterEach(() => {
    for (const l of logs.splice(0)) l.close();
    removeDir(path.dirname(dir));
  });

  /** Appends `n` batches of `count` records labelled by batch number; returns the batches' offset ranges. */
  function fill(log: PartitionLog, n: number, count = 3, valueSize = 40): [bigint, bigint][] {
    const out: [bigint, bigint][] = [];
    for (let i = 0; i < n; i++) {
      const r = log.append(batch({ count: 1 + ((i * 7) % count), label: `b${i}`, valueSize, timestamp: 1_000_000n + BigInt(i) * 10n }), { leaderEpoch: 1 });
      out.push([r.baseOffset, r.lastOffset]);
    }
    return out;
  }

  it('starts empty in a new directory', () => {
    const log = open();
    expect(fs.readdirSync(dir)).toEqual(['00000000000000000000.index', '00000000000000000000.log', '00000000000000000000.timeindex']);
    expect([log.logStartOffset, log.logEndOffset, log.highWatermark]).toEqual([0n, 0n, 0n]);
    expect(log.read(0n, 1000, { minOneBatch: true })).toEqual({ records: [], bytes: 0, firstOffset: 0n, nextOffset: 0n });
    expect(log.offsetForTimestamp(0n)).toBeNull();
    expect(log.maxTimestampOffset()).toBeNull();
  });

  it('assigns offsets and stamps batches', () => {
    const log = open();
    const a = log.append(batch({ count: 3, label: 'a' }), { leaderEpoch: 4 });
    expect(a).toEqual({ baseOffset: 0n, lastOffset: 2n, logAppendTime: -1n, logStartOffset: 0n, duplicate: false });
    const two = Buffer.concat([batch({ count: 2, label: 'b' }), batch({ count: 1, label: 'c' })]);
    const b = log.append(two, { leaderEpoch: 5 });
    expect([b.baseOffset, b.lastOffset]).toEqual([3n, 5n]);
    expect([log.logEndOffset, log.highWatermark]).toEqual([6n, 6n]);
    const batches = decodeRecordBatches(Buffer.concat(log.read(0n, 1 << 20, { minOneBatch: true }).records));
    expect(batches.map((x) => [x.baseOffset, x.partitionLeaderEpoch, x.records.length])).toEqual([
      [0n, 4, 3],
      [3n, 5, 2],
      [5n, 5, 1],
    ]);
    expect(readAll(log).map(([o, v]) => `${o}:${v}`)).toEqual(['0:a-0', '1:a-1', '2:a-2', '3:b-0', '4:b-1', '5:c-0']);
  });

  it('stores the bytes as received, apart from the stamped fields', () => {
    const log = open();
    const b = batch({ count: 2 });
    const original = Buffer.from(b);
    log.append(b, { leaderEpoch: 9 });
    const stored = fs.readFileSync(path.join(dir, '00000000000000000000.log'));
    expect(stored.subarray(16)).toEqual(original.subarray(16));
    expect(stored.subarray(8, 12)).toEqual(original.subarray(8, 12));
  });

  it('trusts a validation result passed in', () => {
    const log = open();
    const b = batch({ count: 2 });
    const validated = validateRecords(b, { maxMessageBytes: 1 << 20 });
    expect(log.append(b, { leaderEpoch: 0, validated }).lastOffset).toBe(1n);
    const other = batch({ count: 5 });
    expect(thrown(() => log.append(other, { leaderEpoch: 0, validated })).code).toBe('BATCH_INVALID');
    expect(log.logEndOffset).toBe(2n);
  });

  it('round-trips across segment rolls', () => {
    const log = open();
    const ranges = fill(log, 80);
    const segs = log.segments();
    expect(segs.length).toBeGreaterThan(3);
    segs.forEach((s, i) => {
      expect(s.size).toBeLessThanOrEqual(4096);
      expect(s.closed).toBe(i < segs.length - 1);
      if (i > 0) expect(s.baseOffset).toBe(segs[i - 1].nextOffset);
    });
    const all = readAll(log);
    expect(all.map(([o]) => o)).toEqual([...Array(Number(log.logEndOffset)).keys()].map(BigInt));
    // Every offset reads back as the batch holding it, from whichever segment it lives in.
    for (const [base, last] of ranges) {
      for (let o = base; o <= last; o++) {
        const r = log.read(o, 1, { minOneBatch: true });
        expect(r.firstOffset).toBe(base);
        expect(r.nextOffset).toBe(last + 1n);
        const [d] = decodeRecordBatches(r.records[0]);
        expect([d.baseOffset, d.lastOffset]).toEqual([base, last]);
      }
    }
  });

  it('reads across segments in one call, one chunk per segment', () => {
    const log = open();
    fill(log, 80);
    const segs = log.segments();
    const r = log.read(segs[0].baseOffset, 1 << 20, { minOneBatch: false });
    expect(r.records.length).toBe(segs.length);
    expect(r.bytes).toBe(segs.reduce((n, s) => n + s.size, 0));
    expect(r.nextOffset).toBe(log.logEndOffset);
  });

  it('never returns a partial batch and honours maxBytes', () => {
    const log = open();
    fill(log, 60, 5);
    const total = log.size;
    for (let maxBytes = 0; maxBytes < total + 200; maxBytes += 97) {
      for (const start of [0n, 7n, 50n]) {
        const r = log.read(start, maxBytes, { minOneBatch: false });
        expect(r.bytes).toBeLessThanOrEqual(maxBytes);
        expect(r.bytes).toBe(r.records.reduce((n, c) => n + c.length, 0));
        const joined = Buffer.concat(r.records);
        const decoded = decodeRecordBatches(joined);
        expect(decoded.reduce((n, d) => n + d.size, 0)).toBe(joined.length);
        for (let k = 1; k < decoded.length; k++) expect(decoded[k].baseOffset).toBe(decoded[k - 1].lastOffset + 1n);
        if (decoded.length > 0) {
          expect(decoded[0].baseOffset).toBeLessThanOrEqual(start);
          expect(decoded[0].lastOffset).toBeGreaterThanOrEqual(start);
          expect(r.nextOffset).toBe(decoded[decoded.length - 1].lastOffset + 1n);
        }
      }
    }
  });

  it('stops at a batch that does not fit rather than skipping to the next segment', () => {
    const log = open(smallConfig({ segmentBytes: 2000 }));
    log.append(batch({ count: 1 }), { leaderEpoch: 0 }); // 0, small
    log.append(batch({ count: 4, valueSize: 300 }), { leaderEpoch: 0 }); // 1-4, large
    log.roll();
    log.append(batch({ count: 1 }), { leaderEpoch: 0 }); // 5, small, next segment
    const small = log.read(0n, 1, { minOneBatch: true }).bytes;
    const r = log.read(0n, small + 200, { minOneBatch: false });
    expect(decodeRecordBatches(Buffer.concat(r.records)).map((d) => d.baseOffset)).toEqual([0n]);
    expect(r.nextOffset).toBe(1n);
  });

  it('returns a first batch larger than maxBytes whole only with minOneBatch', () => {
    const log = open();
    log.append(batch({ count: 1, valueSize: 50 }), { leaderEpoch: 0 });
    const big = batch({ count: 4, valueSize: 500 });
    log.append(big, { leaderEpoch: 0 });
    expect(log.read(1n, 100, { minOneBatch: false }).records).toEqual([]);
    const r = log.read(1n, 100, { minOneBatch: true });
    expect(r.bytes).toBe(big.length);
    expect(decodeRecordBatches(r.records[0])[0].records.length).toBe(4);
    // Only the first batch may exceed maxBytes.
    const s = log.read(0n, 150, { minOneBatch: true });
    expect(decodeRecordBatches(Buffer.concat(s.records)).length).toBe(1);
  });

  it('returns the whole batch when fetchOffset is inside it', () => {
    const log = open();
    log.append(batch({ count: 5 }), { leaderEpoch: 0 });
    const r = log.read(3n, 1 << 20, { minOneBatch: true });
    expect(r.firstOffset).toBe(0n);
    expect(decodeRecordBatches(r.records[0])[0].records.length).toBe(5);
  });

  it('stops before maxOffset (the high watermark)', () => {
    const log = open();
    fill(log, 20, 3);
    const r = log.read(0n, 1 << 20, { minOneBatch: true, maxOffset: 10n });
    const decoded = decodeRecordBatches(Buffer.concat(r.records));
    expect(decoded.length).toBeGreaterThan(0);
    for (const d of decoded) expect(d.lastOffset).toBeLessThan(10n);
    expect(log.read(log.logEndOffset - 1n, 1000, { minOneBatch: true, maxOffset: log.logEndOffset - 1n }).bytes).toBe(0);
  });

  it('rejects offsets outside [logStartOffset, logEndOffset]', () => {
    const log = open();
    fill(log, 3);
    const leo = log.logEndOffset;
    expect(thrown(() => log.read(leo + 1n, 100, { minOneBatch: true })).code).toBe('OFFSET_OUT_OF_RANGE');
    expect(thrown(() => log.read(-1n, 100, { minOneBatch: true })).code).toBe('OFFSET_OUT_OF_RANGE');
    expect(log.read(leo, 100, { minOneBatch: true }).records).toEqual([]);
  });

  it('finds offsets by timestamp like ListOffsets', () => {
    const log = open();
    // Timestamps jump around, so "first record with timestamp >= t" is not "first batch after t".
    const times = [500n, 100n, 900n, 300n, 900n, 1500n, 700n, 2000n, 1200n];
    const expected: [bigint, bigint][] = []; // (offset, timestamp) of every record
    for (let round = 0; round < 12; round++) {
      for (const t of times) {
        const ts = t + BigInt(round) * 3000n;
        const r = log.append(batch({ count: 3, timestamp: ts, valueSize: 30 }), { leaderEpoch: 0 });
        for (let i = 0; i < 3; i++) expected.push([r.baseOffset + BigInt(i), ts + BigInt(i)]);
      }
    }
    expect(log.segments().length).toBeGreaterThan(2);
    const brute = (t: bigint) => expected.find(([, ts]) => ts >= t) ?? null;
    for (let t = 0n; t < 40_000n; t += 37n) {
      const got = log.offsetForTimestamp(t);
      const want = brute(t);
      expect(got && [got.offset, got.timestamp]).toEqual(want);
    }
    const max = expected.reduce((a, b) => (b[1] > a[1] ? b : a));
    expect(log.maxTimestampOffset()).toEqual({ offset: max[0], timestamp: max[1] });
  });

  it('answers timestamp lookups in compressed batches with the batch base offset', () => {
    const log = open();
    log.append(batch({ count: 4, timestamp: 100n }), { leaderEpoch: 0 });
    log.append(batch({ count: 4, timestamp: 200n, compression: 'gzip' }), { leaderEpoch: 0 });
    expect(log.offsetForTimestamp(102n)).toEqual({ offset: 2n, timestamp: 102n });
    expect(log.offsetForTimestamp(202n)).toEqual({ offset: 4n, timestamp: 203n });
    expect(log.offsetForTimestamp(204n)).toBeNull();
  });

  it('keeps every record and offset across a restart', () => {
    let log = open();
    fill(log, 50);
    const before = readAll(log);
    const bytesBefore = Buffer.concat(log.read(0n, 1 << 20, { minOneBatch: true }).records);
    const leo = log.logEndOffset;
    log.close();
    expect(fs.existsSync(path.join(dir, 'clean-shutdown'))).toBe(true);
    log = open();
    expect(fs.existsSync(path.join(dir, 'clean-shutdown'))).toBe(false);
    expect(log.logEndOffset).toBe(leo);
    expect(readAll(log)).toEqual(before);
    expect(Buffer.concat(log.read(0n, 1 << 20, { minOneBatch: true }).records)).toEqual(bytesBefore);
    expect(log.append(batch(), { leaderEpoch: 2 }).baseOffset).toBe(leo);
  });

  it('stamps LogAppendTime', () => {
    let now = 5_000_000;
    const log = open(smallConfig({ messageTimestampType: 'LogAppendTime' }), { now: () => now });
    const r = log.append(batch({ count: 2, timestamp: 1n }), { leaderEpoch: 0 });
    expect(r.logAppendTime).toBe(5_000_000n);
    now += 10;
    log.append(batch({ count: 2, timestamp: 1n }), { leaderEpoch: 0 });
    const decoded = decodeRecordBatches(Buffer.concat(log.read(0n, 1 << 20, { minOneBatch: true }).records));
    expect(decoded.map((d) => d.timestampType)).toEqual(['LogAppendTime', 'LogAppendTime']);
    expect(decoded.flatMap((d) => d.records.map((x) => x.timestamp))).toEqual([5_000_000n, 5_000_000n, 5_000_010n, 5_000_010n]);
    expect(log.offsetForTimestamp(5_000_001n)).toEqual({ offset: 2n, timestamp: 5_000_010n });
  });

  it('rolls by segment.ms, counting from the first batch timestamp', () => {
    const log = open(smallConfig({ segmentBytes: 1 << 20, segmentMs: 1000 }));
    log.append(batch({ timestamp: 10_000n }), { leaderEpoch: 0 });
    log.append(batch({ timestamp: 10_900n }), { leaderEpoch: 0 });
    expect(log.segments().length).toBe(1);
    log.append(batch({ timestamp: 11_001n }), { leaderEpoch: 0 });
    expect(log.segments().map((s) => s.baseOffset)).toEqual([0n, 2n]);
    // Housekeeping rolls an idle segment too.
    log.maybeFlushOrRoll(11_500);
    expect(log.segments().length).toBe(2);
    log.maybeFlushOrRoll(12_002);
    expect(log.segments().map((s) => s.baseOffset)).toEqual([0n, 2n, 3n]);
    log.maybeFlushOrRoll(20_000); // an empty active segment is never rolled
    expect(log.segments().length).toBe(3);
  });

  it('rolls when the index would outgrow segment.index.bytes', () => {
    const log = open(smallConfig({ segmentBytes: 1 << 20, indexIntervalBytes: 0, segmentIndexBytes: 40 }));
    fill(log, 20, 1);
    for (const s of log.segments()) expect(s.nextOffset - s.baseOffset).toBeLessThanOrEqual(6n);
  });

  describe('refuses bad batches, appending nothing', () => {
    const cases: [string, () => Buffer, string][] = [
      ['bad CRC', () => {
        const b = batch({ count: 2 });
        b[b.length - 2] ^= 1;
        return b;
      }, 'BATCH_CORRUPT'],
      ['bad magic', () => {
        const b = batch();
        b.writeInt8(1, 16);
        return b;
      }, 'BATCH_FORMAT_UNSUPPORTED'],
      ['truncated', () => batch({ count: 3 }).subarray(0, 70), 'BATCH_CORRUPT'],
      ['huge batchLength', () => {
        const b = batch();
        b.writeInt32BE(0x7fffffff, 8);
        return b;
      }, 'BATCH_CORRUPT'],
      ['negative batchLength', () => {
        const b = batch();
        b.writeInt32BE(-20, 8);
        return b;
      }, 'BATCH_CORRUPT'],
      ['record count mismatch', () => {
        const b = batch({ count: 2 });
        b.writeInt32BE(3, 57);
        b.writeInt32BE(2, 23);
        return fixCrc(b);
      }, 'BATCH_INVALID'],
      ['bad offset deltas', () => {
        const b = batch({ count: 2 });
        const r1 = 61 + 1 + b[61] / 2;
        b[r1 + 3] = 0; // offsetDelta 0 for the second record
        return fixCrc(b);
      }, 'BATCH_INVALID'],
      ['oversize', () => batch({ count: 8, valueSize: 200 }), 'BATCH_TOO_LARGE'],
      ['a good batch followed by a bad one', () => {
        const bad = batch();
        bad[bad.length - 1] ^= 1;
        return Buffer.concat([batch({ count: 2 }), bad]);
      }, 'BATCH_CORRUPT'],
    ];
    it.each(cases)('%s', (_name, make, code) => {
      const log = open(smallConfig({ maxMessageBytes: 1500 }));
      fill(log, 3);
      const leo = log.logEndOffset;
      const logFile = path.join(dir, '00000000000000000000.log');
      const size = fs.statSync(logFile).size;
      expect(thrown(() => log.append(make(), { leaderEpoch: 0 })).code).toBe(code);
      expect(log.logEndOffset).toBe(leo);
      expect(fs.statSync(logFile).size).toBe(size);
      expect(log.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(leo);
    });

    it('more bytes than a segment holds', () => {
      const log = open(smallConfig({ segmentBytes: 1000, maxMessageBytes: 1 << 20 }));
      expect(thrown(() => log.append(batch({ count: 10, valueSize: 200 }), { leaderEpoch: 0 })).code).toBe('BATCH_TOO_LARGE');
      expect(log.logEndOffset).toBe(0n);
    });
  });

  it('tells listeners about appends', () => {
    const log = open();
    let calls = 0;
    const off = log.onAppend(() => calls++);
    log.onAppend(() => {
      throw new Error('a broken listener does not break appends');
    });
    log.append(batch(), { leaderEpoch: 0 });
    log.append(batch(), { leaderEpoch: 0 });
    off();
    log.append(batch(), { leaderEpoch: 0 });
    expect(calls).toBe(2);
  });

  it('flushes by flush.messages and flush.ms', () => {
    let now = 1000;
    const log = open(smallConfig({ flushMessages: 5, flushMs: 100 }), { now: () => now });
    const flush = jest.spyOn(log, 'flush');
    log.append(batch({ count: 3 }), { leaderEpoch: 0 });
    expect(flush).not.toHaveBeenCalled();
    log.append(batch({ count: 2 }), { leaderEpoch: 0 });
    expect(flush).toHaveBeenCalledTimes(1);
    log.append(batch({ count: 1 }), { leaderEpoch: 0 });
    expect(flush).toHaveBeenCalledTimes(1);
    now += 100;
    log.maybeFlushOrRoll(now);
    expect(flush).toHaveBeenCalledTimes(2);
    log.maybeFlushOrRoll(now + 1000); // nothing unflushed
    expect(flush).toHaveBeenCalledTimes(2);
  });

  describe('truncateTo', () => {
    it('removes whole batches from the end, across segments', () => {
      const log = open();
      const ranges = fill(log, 60);
      const target = ranges[25];
      const mid = target[0] + (target[1] > target[0] ? 1n : 0n); // inside the batch when it has 2+ records
      expect(log.truncateTo(mid)).toBe(target[0]);
      expect(log.logEndOffset).toBe(target[0]);
      expect(log.highWatermark).toBe(target[0]);
      expect(readAll(log).map(([o]) => o)).toEqual([...Array(Number(target[0])).keys()].map(BigInt));
      expect(log.segments().every((s) => s.baseOffset <= target[0])).toBe(true);
      expect(log.segments().at(-1)!.closed).toBe(false);
      // Appends continue at the new end, and a restart agrees.
      log.append(batch({ label: 'after' }), { leaderEpoch: 3 });
      const snapshot = readAll(log);
      log.close();
      expect(readAll(open())).toEqual(snapshot);
    });

    it('is a no-op at or past the end and restarts the log below its first segment', () => {
      const log = open();
      fill(log, 5);
      const leo = log.logEndOffset;
      expect(log.truncateTo(leo + 5n)).toBe(leo);
      log.deleteSegmentsBelow(leo);
      expect(log.logStartOffset).toBe(leo);
      log.truncateTo(1n);
      expect([log.logStartOffset, log.logEndOffset]).toEqual([1n, 1n]);
      expect(log.segments().map((s) => s.baseOffset)).toEqual([1n]);
      expect(log.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(1n);
    });
  });

  describe('deleteSegmentsBelow', () => {
    it('moves the log start and deletes whole segments below it, durably', () => {
      let log = open();
      fill(log, 60);
      const segs = log.segments();
      const cut = segs[2].baseOffset + 1n;
      expect(log.deleteSegmentsBelow(cut)).toBe(2);
      expect(log.logStartOffset).toBe(cut);
      expect(log.segments()[0].baseOffset).toBe(segs[2].baseOffset);
      expect(fs.existsSync(segs[0].path)).toBe(false);
      expect(thrown(() => log.read(cut - 1n, 100, { minOneBatch: true })).code).toBe('OFFSET_OUT_OF_RANGE');
      expect(log.read(cut, 100, { minOneBatch: true }).bytes).toBeGreaterThan(0);
      expect(log.offsetForTimestamp(0n)!.offset).toBe(cut);
      expect(log.deleteSegmentsBelow(cut - 1n)).toBe(0); // never moves back
      log.close();
      log = open();
      expect(log.logStartOffset).toBe(cut);
    });

    it('refuses to pass the high watermark, and rolls when everything goes', () => {
      const log = open();
      fill(log, 5);
      const leo = log.logEndOffset;
      expect(thrown(() => log.deleteSegmentsBelow(leo + 1n)).code).toBe('OFFSET_OUT_OF_RANGE');
      expect(log.deleteSegmentsBelow(leo)).toBe(1);
      expect(log.segments().map((s) => [s.baseOffset, s.size])).toEqual([[leo, 0]]);
      expect(log.read(leo, 100, { minOneBatch: true }).records).toEqual([]);
      expect(log.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(leo);
    });
  });

  it('deletes the oldest segments past retention.bytes', () => {
    const log = open(smallConfig({ retentionBytes: 6000 }));
    fill(log, 120);
    const before = log.segments();
    expect(log.size).toBeGreaterThan(12_000);
    const deleted = log.deleteRetentionBreachedSegments(0);
    expect(deleted).toBeGreaterThan(0);
    // Kafka's rule: drop the oldest segments while what remains is still at least retention.bytes.
    expect(log.size).toBeGreaterThanOrEqual(6000);
    expect(log.size - log.segments()[0].size).toBeLessThan(6000);
    expect(log.logStartOffset).toBe(before[deleted].baseOffset);
  });

  it('deletes closed segments past retention.ms by their largest timestamp', () => {
    const log = open(smallConfig({ retentionMs: 1000 }));
    fill(log, 80);
    const segs = log.segments();
    expect(segs.length).toBeGreaterThan(3);
    expect(log.deleteRetentionBreachedSegments(Number(segs[1].maxTimestamp) + 1000)).toBe(1);
    expect(log.deleteRetentionBreachedSegments(Number(segs[1].maxTimestamp) + 1001)).toBe(1);
    expect(log.logStartOffset).toBe(segs[2].baseOffset);
    // Never the active segment, however old.
    expect(log.deleteRetentionBreachedSegments(Number.MAX_SAFE_INTEGER)).toBe(segs.length - 3);
    expect(log.segments().length).toBe(1);
    expect(readAll(log).length).toBeGreaterThan(0);
  });

  it('applies config changes to later appends', () => {
    const log = open(smallConfig({ segmentBytes: 1 << 20 }));
    fill(log, 10);
    expect(log.segments().length).toBe(1);
    log.updateConfig(smallConfig({ segmentBytes: 1000 }));
    fill(log, 10);
    expect(log.segments().length).toBeGreaterThan(1);
    expect(() => log.updateConfig(smallConfig({ segmentBytes: 5 }))).toThrow(StrataError);
  });

  it('leaves files it does not own alone and removes stray indexes', () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'partition.metadata'), 'version: 0\n');
    fs.writeFileSync(path.join(dir, '00000000000000000500.index'), Buffer.alloc(8));
    const { logger, lines } = { lines: [] as string[], logger: (m: string) => lines.push(m) };
    open(smallConfig(), { logger });
    expect(fs.readdirSync(dir).sort()).toEqual([
      '00000000000000000000.index',
      '00000000000000000000.log',
      '00000000000000000000.timeindex',
      'partition.metadata',
    ]);
    expect(lines.join('\n')).toMatch(/00000000000000000500.index/);
  });

  it('throws CLOSED after close, and delete removes the directory', () => {
    const log = open();
    fill(log, 2);
    log.close();
    log.close();
    expect(thrown(() => log.append(batch(), { leaderEpoch: 0 })).code).toBe('CLOSED');
    expect(thrown(() => log.read(0n, 10, { minOneBatch: true })).code).toBe('CLOSED');
    const other = open();
    other.delete();
    expect(fs.existsSync(dir)).toBe(false);
    expect(isStrataError(thrown(() => other.read(0n, 1, { minOneBatch: true })), 'CLOSED')).toBe(true);
  });

  it('continues from the persisted log start in an otherwise empty directory', () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'log-start-offset'), '1234\n');
    const log = open();
    expect([log.logStartOffset, log.logEndOffset]).toEqual([1234n, 1234n]);
    expect(log.append(buildRecordBatch({ records: [{ key: null, value: Buffer.from('x') }] }), { leaderEpoch: 0 }).baseOffset).toBe(1234n);
    expect(fs.existsSync(path.join(dir, '00000000000000001234.log'))).toBe(true);
  });
});
