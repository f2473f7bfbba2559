import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { validateRecords, stampBatch, BatchInfo } from '../../core/log/recordBatch';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { Segment } from '../../core/log/segment';
import { batch, makeTmpDir, quiet, removeDir } from './helpers';

// Switches to make the next fs.writeSync (or the one after `writesBeforeFailure` more) fail after
// writing part of its bytes (ENOSPC midway), and the next ftruncateSync fail (EIO).
const mockFs = { failNextWrite: false, writesBeforeFailure: -1, failNextFtruncate: false };
jest.mock('node:fs', () => {
  const real = jest.requireActual('node:fs');
  return {
    ...real,
    writeSync: (fd: number, buf: Buffer, off: number, len: number, pos: number) => {
      if (mockFs.writesBeforeFailure === 0) {
        mockFs.writesBeforeFailure = -1;
        mockFs.failNextWrite = true;
      } else if (mockFs.writesBeforeFailure > 0) {
        mockFs.writesBeforeFailure--;
      }
      if (mockFs.failNextWrite) {
        mockFs.failNextWrite = false;
        real.writeSync(fd, buf, off, Math.floor(len / 2), pos);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return real.writeSync(fd, buf, off, len, pos);
    },
    ftruncateSync: (fd: number, len: number) => {
      if (mockFs.failNextFtruncate) {
        mockFs.failNextFtruncate = false;
        throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
      }
      return real.ftruncateSync(fd, len);
    },
  };
});

describe('Segment', () => {
  let dir: string;
  let seg: Segment;
  const opts = { indexIntervalBytes: 100, logger: quiet, nowMs: 0 };
  beforeEach(() => {
    dir = makeTmpDir();
    seg = Segment.create(dir, 10n, opts);
  });
  afterEach(() => {
    seg.close();
    removeDir(dir);
  });

  /** Validates, stamps and appends `b` at the segment's end; returns its batch info. */
  function append(s: Segment, b: Buffer): BatchInfo[] {
    const v = validateRecords(b, { maxMessageBytes: 1 << 20 });
    if (!v.ok) throw new Error(v.message);
    let off = s.nextOffset;
    for (const info of v.batches) {
      stampBatch(b, info.position, off, 0);
      off += BigInt(info.lastOffsetDelta) + 1n;
    }
    s.append(b, v.batches, s.nextOffset);
    return v.batches;
  }

  it('appends, locates and reads whole batches', () => {
    append(seg, batch({ count: 5, timestamp: 100n })); // 10-14
    append(seg, batch({ count: 5, timestamp: 200n })); // 15-19
    append(seg, batch({ count: 5, timestamp: 300n })); // 20-24
    expect([seg.nextOffset, seg.lastOffset, seg.maxTimestamp, seg.offsetOfMaxTimestamp, seg.firstBatchTimestamp]).toEqual([25n, 24n, 304n, 20n, 104n]);
    expect(seg.findBatch(9n)!.baseOffset).toBe(10n);
    expect(seg.findBatch(17n)!.baseOffset).toBe(15n);
    expect(seg.findBatch(24n)!.lastOffset).toBe(24n);
    expect(seg.findBatch(25n)).toBeNull();
    const second = seg.findBatch(15n)!;
    const r = seg.readFrom(second.position, 1 << 20, 1000n, false);
    expect([r.firstOffset, r.nextOffset, r.stop]).toEqual([15n, 25n, 'end']);
    expect(decodeRecordBatches(r.bytes!).map((d) => d.baseOffset)).toEqual([15n, 20n]);
  });

  it('says why a read stopped', () => {
    const sizes = [batch({ count: 5 }), batch({ count: 5 }), batch({ count: 5 })].map((b) => (append(seg, b), b.length));
    expect(seg.readFrom(0, sizes[0] + sizes[1], 1000n, false).stop).toBe('budget');
    expect(seg.readFrom(0, 1 << 20, 20n, false)).toMatchObject({ stop: 'limit', nextOffset: 20n });
    expect(seg.readFrom(0, 10, 1000n, false)).toMatchObject({ bytes: null, stop: 'budget' });
    expect(seg.readFrom(0, 10, 1000n, true)).toMatchObject({ firstOffset: 10n, nextOffset: 15n, stop: 'budget' });
    expect(seg.readFrom(seg.size, 1000, 1000n, true)).toMatchObject({ bytes: null, stop: 'end' });
  });

  it('finds the exact record for a timestamp inside an uncompressed batch', () => {
    append(seg, batch({ count: 5, timestamp: 100n })); // 10-14 at 100..104
    append(seg, batch({ count: 5, timestamp: 50n })); // 15-19 at 50..54
    expect(seg.findByTimestamp(52n, 0n)).toEqual({ offset: 10n, timestamp: 100n });
    expect(seg.findByTimestamp(103n, 0n)).toEqual({ offset: 13n, timestamp: 103n });
    expect(seg.findByTimestamp(103n, 14n)).toEqual({ offset: 14n, timestamp: 104n });
    expect(seg.findByTimestamp(52n, 15n)).toEqual({ offset: 17n, timestamp: 52n });
    expect(seg.findByTimestamp(105n, 0n)).toBeNull();
  });

  it('truncates whole batches, as drawn in its comment', () => {
    for (let i = 0; i < 3; i++) append(seg, batch({ count: 5 }));
    expect(seg.truncateTo(20n)).toBe(20n);
    expect(seg.truncateTo(17n)).toBe(15n);
    expect(seg.findBatch(14n)!.lastOffset).toBe(14n);
    append(seg, batch({ count: 2 }));
    expect(seg.nextOffset).toBe(17n);
    expect(seg.truncateTo(10n)).toBe(10n);
    expect(seg.size).toBe(0);
  });

  it('keeps nothing of an append whose write fails midway', () => {
    append(seg, batch({ count: 3 }));
    const size = seg.size;
    const next = seg.nextOffset;
    const big = batch({ count: 20, valueSize: 50 });
    mockFs.failNextWrite = true;
    let err: unknown;
    try {
      append(seg, big);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StrataError);
    expect((err as StrataError).code).toBe('STORAGE_IO');
    expect([seg.size, seg.nextOffset]).toEqual([size, next]);
    expect(fs.statSync(path.join(dir, '00000000000000000010.log')).size).toBe(size);
    append(seg, batch({ count: 1 }));
    expect(seg.nextOffset).toBe(next + 1n);
    expect(decodeRecordBatches(seg.read(0, seg.size)).map((d) => d.baseOffset)).toEqual([10n, 13n]);
  });

  /** What an append must leave as it was when it fails: sizes in memory and on disk, entries of both indexes. */
  function shape(s: Segment): unknown {
    const file = (ext: string): number => fs.statSync(path.join(dir, `00000000000000000010${ext}`)).size;
    return { size: s.size, next: s.nextOffset, max: s.maxTimestamp, at: s.offsetOfMaxTimestamp, oi: s.offsetIndexBytes, ti: s.timeIndexBytes, files: ['.log', '.index', '.timeindex'].map(file) };
  }

  it('keeps nothing of an append whose index write fails midway, not even a partial entry or a time-index entry naming an earlier batch', () => {
    // A (ts 1000) gets no index entry; B (ts 500) does, and its time-index entry names A (the max so far).
    append(seg, batch({ count: 3, timestamp: 1000n, valueSize: 40 }));
    const before = shape(seg);
    // [B, C] in one append: log write, B's two index entries, then C's offset-index entry fails midway.
    const two = Buffer.concat([batch({ count: 3, timestamp: 500n, valueSize: 40 }), batch({ count: 3, timestamp: 600n, valueSize: 40 })]);
    mockFs.writesBeforeFailure = 3;
    expect(() => append(seg, two)).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }));
    expect(shape(seg)).toEqual(before);
    // The first index write of an append failing midway leaves no partial entry either.
    mockFs.writesBeforeFailure = 1;
    expect(() => append(seg, batch({ count: 3, timestamp: 500n, valueSize: 40 }))).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }));
    expect(shape(seg)).toEqual(before);
    // Appends go on, and the indexes are exactly what a rebuild from the log produces.
    append(seg, two);
    const after = shape(seg);
    seg.close();
    seg = Segment.open(dir, 10n, 'tail', opts);
    expect(shape(seg)).toEqual(after);
    seg.close();
    seg = Segment.open(dir, 10n, 'full', opts);
    expect(shape(seg)).toEqual(after);
  });

  it('takes no more appends when a failed append cannot be undone; reads go on, and recovery cuts the rest', () => {
    append(seg, batch({ count: 3 }));
    const size = seg.size;
    mockFs.failNextWrite = true;
    mockFs.failNextFtruncate = true;
    expect(() => append(seg, batch({ count: 20, valueSize: 50 }))).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }));
    expect(seg.writeBlocked).toMatch(/EIO/);
    expect(() => append(seg, batch({ count: 1 }))).toThrow(/takes no appends: a failed append could not be undone/);
    expect(decodeRecordBatches(seg.readFrom(0, 1 << 20, 1000n, false).bytes!).map((d) => d.baseOffset)).toEqual([10n]);
    expect(fs.statSync(seg.logPath).size).toBeGreaterThan(size); // the partial write is still there
    seg.close();
    seg = Segment.open(dir, 10n, 'full', opts);
    expect([seg.size, seg.nextOffset, seg.writeBlocked]).toEqual([size, 13n, null]);
  });

  it('refuses to create over an existing non-empty segment', () => {
    append(seg, batch());
    expect(() => Segment.create(dir, 10n, opts)).toThrow(StrataError);
  });

  it('reopens with the same state it had', () => {
    for (let i = 0; i < 20; i++) append(seg, batch({ count: 3, timestamp: BigInt(1000 - i * 10) }));
    const state = [seg.size, seg.nextOffset, seg.maxTimestamp, seg.offsetOfMaxTimestamp, seg.firstBatchTimestamp];
    seg.close();
    for (const mode of ['full', 'tail', 'trust'] as const) {
      seg = Segment.open(dir, 10n, mode, opts);
      expect([seg.size, seg.nextOffset, seg.maxTimestamp, seg.offsetOfMaxTimestamp, seg.firstBatchTimestamp]).toEqual(state);
      seg.close();
    }
    seg = Segment.open(dir, 10n, 'full', opts);
  });
});
