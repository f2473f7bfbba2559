/**
 * Offset syncs and translation: exact for sources with gaps (compaction, transaction
 * markers), for positions before the first mirrored record, inside a run, in a gap, and after
 * the last mirrored record; and the sync record's encoding.
 */
import { decodeOffsetSync, encodeOffsetSync, lastMirroredSourceOffset, offsetRuns, translateOffset, type OffsetSync } from '../../core/mirror/offsetSyncs';

test('offsetRuns groups consecutive offsets', () => {
  expect(offsetRuns([3n, 4n, 5n, 9n, 10n, 12n])).toEqual([
    [3n, 5n],
    [9n, 10n],
    [12n, 12n],
  ]);
  expect(offsetRuns([])).toEqual([]);
  expect(() => offsetRuns([4n, 4n])).toThrow(/must rise/);
});

const sync = (runs: Array<[number, number]>, targetOffset: number): OffsetSync => ({
  topic: 'orders',
  partition: 0,
  sourceOffsets: runs.map(([a, b]) => [BigInt(a), BigInt(b)]),
  targetOffset: BigInt(targetOffset),
});

describe('translateOffset', () => {
  // Source 10..14, 17..19 (15, 16 compacted or markers) → target 40..47 in one batch; then source
  // 20..21 (mirrored after a commit marker on the target at 48) → target 49..50.
  const syncs = [sync([[10, 14], [17, 19]], 40), sync([[20, 21]], 49)];
  const t = (s: number): bigint | null => translateOffset(syncs, BigInt(s));

  test('inside a run: the same record on the target', () => {
    expect(t(10)).toBe(40n);
    expect(t(12)).toBe(42n);
    expect(t(14)).toBe(44n);
    expect(t(17)).toBe(45n);
    expect(t(19)).toBe(47n);
    expect(t(21)).toBe(50n);
  });

  test('in a gap: the next mirrored record (no repeat of 14, no skip of 17)', () => {
    expect(t(15)).toBe(45n);
    expect(t(16)).toBe(45n);
  });

  test('at a batch boundary: the next batch, past the target commit marker', () => {
    expect(t(20)).toBe(49n);
  });

  test('before the first mirrored record: the first mirrored record', () => {
    expect(t(0)).toBe(40n);
    expect(t(9)).toBe(40n);
  });

  test('after the last mirrored record: the position after it', () => {
    expect(t(22)).toBe(51n);
    expect(t(1000)).toBe(51n);
  });

  test('order of the syncs does not matter; no syncs gives null', () => {
    expect(translateOffset([...syncs].reverse(), 20n)).toBe(49n);
    expect(translateOffset([], 5n)).toBeNull();
  });

  test('exhaustively: every consumer position maps to the target position of the next record it would read', () => {
    // A source with random gaps, mirrored in random batches: replay what a consumer sees.
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const source: bigint[] = [];
    for (let o = 0n; source.length < 200; o++) if (rnd(4) !== 0) source.push(o);
    const list: OffsetSync[] = [];
    const targetOf = new Map<bigint, bigint>();
    let target = 100n;
    for (let i = 0; i < source.length; ) {
      const n = 1 + rnd(15);
      const batch = source.slice(i, i + n);
      list.push({ topic: 'orders', partition: 0, sourceOffsets: offsetRuns(batch), targetOffset: target });
      batch.forEach((o, k) => targetOf.set(o, target + BigInt(k)));
      target += BigInt(batch.length) + 1n; // the commit marker
      i += n;
    }
    const lastTarget = targetOf.get(source[source.length - 1])!;
    for (let s = 0n; s <= source[source.length - 1] + 3n; s++) {
      const next = source.find((o) => o >= s);
      const expected = next === undefined ? lastTarget + 1n : targetOf.get(next)!;
      expect([s, translateOffset(list, s)]).toEqual([s, expected]);
    }
  });
});

test('lastMirroredSourceOffset', () => {
  expect(lastMirroredSourceOffset([sync([[1, 2], [5, 9]], 0), sync([[3, 4]], 9)])).toBe(9n);
  expect(lastMirroredSourceOffset([])).toBeNull();
});

describe('the sync record', () => {
  test('key <topic>:<partition>, JSON value with offsets as strings; decodes back', () => {
    const s: OffsetSync = { topic: 'orders', partition: 3, sourceOffsets: [[10n, 14n], [2n ** 60n, 2n ** 60n + 1n]], targetOffset: 40n };
    const r = encodeOffsetSync(s);
    expect(r.key).toBe('orders:3');
    expect(JSON.parse(r.value as string)).toEqual({ topic: 'orders', partition: 3, sourceOffsets: [['10', '14'], ['1152921504606846976', '1152921504606846977']], targetOffset: '40' });
    expect(decodeOffsetSync(Buffer.from(r.value as string))).toEqual(s);
  });

  test('numbers are accepted too', () => {
    expect(decodeOffsetSync('{"topic":"t","partition":0,"sourceOffsets":[[1,2]],"targetOffset":5}')).toEqual({ topic: 't', partition: 0, sourceOffsets: [[1n, 2n]], targetOffset: 5n });
  });

  test.each([
    ['null', null],
    ['not JSON', 'x'],
    ['no runs', '{"topic":"t","partition":0,"sourceOffsets":[],"targetOffset":"1"}'],
    ['a run ending before it starts', '{"topic":"t","partition":0,"sourceOffsets":[["5","4"]],"targetOffset":"1"}'],
    ['runs not rising', '{"topic":"t","partition":0,"sourceOffsets":[["5","6"],["6","7"]],"targetOffset":"1"}'],
    ['a negative target', '{"topic":"t","partition":0,"sourceOffsets":[["5","6"]],"targetOffset":"-1"}'],
  ])('garbage is refused: %s', (_what, value) => {
    expect(() => decodeOffsetSync(value)).toThrow();
  });
});
