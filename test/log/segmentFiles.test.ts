import * as path from 'node:path';
import { parseSegmentFileName, segmentFileName, segmentPath } from '../../core/log/segmentFiles';
import { isStrataError } from '../../core/common/errors';

describe('segment file names', () => {
  it('zero-pads base offsets to 20 digits so names sort like offsets', () => {
    expect(segmentFileName(0n, '.log')).toBe('00000000000000000000.log');
    expect(segmentFileName(1234n, '.index')).toBe('00000000000000001234.index');
    expect(segmentFileName(9223372036854775807n, '.timeindex')).toBe('09223372036854775807.timeindex');
    const names = [5n, 100n, 42n, 7n].map((o) => segmentFileName(o, '.log')).sort();
    expect(names.map((n) => parseSegmentFileName(n)!.baseOffset)).toEqual([5n, 7n, 42n, 100n]);
  });

  it('parses exactly what it builds', () => {
    for (const base of [0n, 1n, 99999n, 2n ** 40n, 2n ** 63n - 1n]) {
      for (const ext of ['.log', '.index', '.timeindex'] as const) {
        expect(parseSegmentFileName(segmentFileName(base, ext))).toEqual({ baseOffset: base, ext });
      }
    }
  });

  it('rejects anything else', () => {
    for (const name of [
      '0000000000000000000.log', // 19 digits
      '000000000000000000000.log', // 21 digits
      '00000000000000000000.LOG',
      '00000000000000000000.log.tmp',
      '00000000000000000000.deleted',
      '0000000000000000000a.log',
      '-0000000000000000001.log',
      ' 00000000000000000000.log',
      '99999999999999999999.log', // beyond Long.MAX_VALUE
      'partition.metadata',
      'log-start-offset',
      '',
    ]) {
      expect(parseSegmentFileName(name)).toBeNull();
    }
  });

  it('refuses to build a name for a negative or oversized offset', () => {
    for (const bad of [-1n, 2n ** 63n]) {
      let err: unknown;
      try {
        segmentFileName(bad, '.log');
      } catch (e) {
        err = e;
      }
      expect(isStrataError(err)).toBe(true);
    }
  });

  it('joins the name onto the partition directory', () => {
    expect(segmentPath('/data/t-0', 3n, '.log')).toBe(path.join('/data/t-0', '00000000000000000003.log'));
  });
});
