import * as fs from 'node:fs';
import * as path from 'node:path';
import { TimeIndex } from '../../core/log/timeIndex';
import { makeTmpDir, removeDir } from './helpers';

describe('TimeIndex', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = makeTmpDir();
    file = path.join(dir, '00000000000000000000.timeindex');
  });
  afterEach(() => removeDir(dir));

  it('appends only when the timestamp grows and looks up the largest entry at or below a time', () => {
    const { index } = TimeIndex.open(file, 0);
    expect(index.lookup(100n)).toBe(-1);
    expect(index.maybeAppend(1000n, 0)).toBe(true);
    expect(index.maybeAppend(1000n, 5)).toBe(false); // not larger
    expect(index.maybeAppend(900n, 6)).toBe(false);
    expect(index.maybeAppend(2000n, 10)).toBe(true);
    expect(index.maybeAppend(5000n, 30)).toBe(true);
    expect([999n, 1000n, 1999n, 2000n, 4999n, 9999n].map((t) => index.lookup(t))).toEqual([-1, 0, 0, 10, 10, 30]);
    expect(index.lastEntry()).toEqual({ timestamp: 5000n, relativeOffset: 30 });
    index.close();
  });

  it('stores 12-byte big-endian entries and reloads them', () => {
    const { index } = TimeIndex.open(file, 0);
    index.maybeAppend(1_700_000_000_000n, 4);
    index.maybeAppend(1_700_000_000_500n, 9);
    index.close();
    const bytes = fs.readFileSync(file);
    expect(bytes.length).toBe(24);
    expect([bytes.readBigInt64BE(12), bytes.readInt32BE(20)]).toEqual([1_700_000_000_500n, 9]);
    const again = TimeIndex.open(file, 1000);
    expect(again.problem).toBeNull();
    expect(again.index.lookup(1_700_000_000_499n)).toBe(4);
    again.index.close();
  });

  it('truncates entries whose batch was cut', () => {
    const { index } = TimeIndex.open(file, 0);
    index.maybeAppend(10n, 1);
    index.maybeAppend(20n, 5);
    index.maybeAppend(30n, 9);
    index.truncateToOffset(5);
    expect(index.lastEntry()).toEqual({ timestamp: 10n, relativeOffset: 1 });
    expect(fs.statSync(file).size).toBe(12);
    index.close();
  });

  it('reports damaged files', () => {
    const entry = (t: bigint, r: number): Buffer => {
      const b = Buffer.alloc(12);
      b.writeBigInt64BE(t, 0);
      b.writeInt32BE(r, 8);
      return b;
    };
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(7), /multiple of 12/],
      [Buffer.concat([entry(10n, 1), entry(10n, 2)]), /not increasing/],
      [Buffer.concat([entry(10n, 2), entry(20n, 1)]), /not increasing/],
      [entry(10n, -3), /negative/],
    ];
    for (const [bytes, why] of cases) {
      fs.writeFileSync(file, bytes);
      const { index, problem } = TimeIndex.open(file, 1_000_000);
      expect(problem).toMatch(why);
      expect(index.entries).toBe(0);
      index.close();
    }
  });
});
