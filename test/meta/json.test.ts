import { decodeKvValue, encodeKvValue, type KvValue } from '../../core/meta/json';

describe('bigint-safe JSON for metadata values', () => {
  test('bigints are tagged, and $-keys are escaped so that no value can forge the tag', () => {
    expect(encodeKvValue({ o: 5n })).toBe('{"o":{"$bigint":"5"}}');
    expect(encodeKvValue({ $bigint: '5' })).toBe('{"$$bigint":"5"}');
    expect(decodeKvValue('{"$$bigint":"5"}')).toEqual({ $bigint: '5' });
    expect(decodeKvValue('{"$bigint":"-18446744073709551616"}')).toBe(-(2n ** 64n));
  });

  test('round trip keeps every kind of value', () => {
    const values: KvValue[] = [null, true, 0, -1.5, '', 'x', 0n, -(2n ** 63n), [], {}, [{ $: { $$: [1n] } }], { a: { b: { c: 'd' } } }];
    for (const v of values) expect(decodeKvValue(encodeKvValue(v))).toEqual(v);
  });

  test('values JSON.stringify would silently change are refused with the path', () => {
    expect(() => encodeKvValue({ a: [1, Infinity] } as KvValue)).toThrow('metadata value at $.a[1] is Infinity');
    expect(() => encodeKvValue({ f: (() => 1) as unknown as KvValue })).toThrow(/is a function/);
    expect(() => encodeKvValue(new Map() as unknown as KvValue)).toThrow(/Map/);
  });
});
