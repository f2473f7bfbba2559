import * as fs from 'node:fs';
import * as path from 'node:path';
import { OffsetIndex } from '../../core/log/offsetIndex';
import { makeTmpDir, removeDir } from './helpers';

describe('OffsetIndex', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = makeTmpDir();
    file = path.join(dir, '00000000000000000000.index');
  });
  afterEach(() => removeDir(dir));

  it('looks up the largest entry at or below a relative offset', () => {
    const { index, problem } = OffsetIndex.open(file, 0);
    expect(problem).toBeNull();
    expect(index.lookup(5)).toBe(0); // no entries: the segment start
    index.append(10, 500);
    index.append(20, 1000);
    index.append(35, 2000);
    expect([0, 9, 10, 11, 19, 20, 34, 35, 1_000_000].map((o) => index.lookup(o))).toEqual([0, 0, 500, 500, 500, 1000, 1000, 2000, 2000]);
    expect(index.lastEntry()).toEqual({ relativeOffset: 35, position: 2000 });
    index.close();
  });

  it('stores 8-byte big-endian entries and reloads them', () => {
    const { index } = OffsetIndex.open(file, 0);
    for (let i = 1; i <= 100; i++) index.append(i * 3, i * 100);
    index.close();
    const bytes = fs.readFileSync(file);
    expect(bytes.length).toBe(800);
    expect([bytes.readInt32BE(0), bytes.readInt32BE(4)]).toEqual([3, 100]);
    const again = OffsetIndex.open(file, 100_000);
    expect(again.problem).toBeNull();
    expect(again.index.entries).toBe(100);
    expect(again.index.lookup(151)).toBe(5000);
    again.index.close();
  });

  it('refuses entries that do not increase', () => {
    const { index } = OffsetIndex.open(file, 0);
    index.append(10, 100);
    expect(() => index.append(10, 200)).toThrow(RangeError);
    expect(() => index.append(11, 100)).toThrow(RangeError);
    index.close();
  });

  it('truncates at a log position', () => {
    const { index } = OffsetIndex.open(file, 0);
    index.append(1, 100);
    index.append(2, 200);
    index.append(3, 300);
    index.truncateToPosition(200);
    expect(index.entries).toBe(1);
    expect(fs.statSync(file).size).toBe(8);
    index.append(5, 250);
    expect(index.lookup(4)).toBe(100);
    index.close();
  });

  it('reports damaged files and loads them empty', () => {
    const write = (buf: Buffer): void => fs.writeFileSync(file, buf);
    const entries = (pairs: [number, number][]): Buffer => {
      const b = Buffer.alloc(pairs.length * 8);
      pairs.forEach(([r, p], i) => {
        b.writeInt32BE(r, i * 8);
        b.writeInt32BE(p, i * 8 + 4);
      });
      return b;
    };
    const cases: [Buffer, number, RegExp][] = [
      [Buffer.alloc(12), 10_000, /multiple of 8/],
      [entries([[5, 100], [4, 200]]), 10_000, /not increasing/],
      [entries([[5, 100], [6, 100]]), 10_000, /not increasing/],
      [entries([[5, 100], [6, 9000]]), 5000, /outside the log/],
      [entries([[-1, 0]]), 5000, /outside the log/],
      [Buffer.alloc(8 * 1000), 610, /larger than the log/],
    ];
    for (const [bytes, logSize, why] of cases) {
      write(bytes);
      const { index, problem } = OffsetIndex.open(file, logSize);
      expect(problem).toMatch(why);
      expect(index.entries).toBe(0);
      index.close();
    }
  });

  it('rebuilds in memory and writes the file once', () => {
    fs.writeFileSync(file, Buffer.alloc(13, 7));
    const { index, problem } = OffsetIndex.open(file, 10_000);
    expect(problem).not.toBeNull();
    index.beginRebuild();
    index.append(1, 10);
    index.append(2, 20);
    expect(fs.statSync(file).size).toBe(13); // nothing written yet
    index.finishRebuild();
    expect(fs.statSync(file).size).toBe(16);
    index.close();
    const again = OffsetIndex.open(file, 10_000);
    expect(again.problem).toBeNull();
    expect(again.index.lookup(2)).toBe(20);
    again.index.close();
  });
});
