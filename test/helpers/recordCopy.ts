import type { FetchedRecord, ProduceRecord } from '../../core/client/records';

/** What a copy of a record must keep: key, value, headers (order, names, bytes, nulls), timestamp; comparable with toEqual. */
export function recordView(r: FetchedRecord): unknown {
  return {
    key: r.key?.toString('hex') ?? null,
    value: r.value?.toString('hex') ?? null,
    headers: r.headers.map((h) => [h.key, h.value?.toString('hex') ?? null]),
    timestamp: r.timestamp.toString(),
  };
}

/**
 * A source of varied records for copy tests: keys (some null), values (some null, binary),
 * headers (binary, repeated names, null values; some records none), explicit old and
 * out-of-order timestamps. Each call continues the maker's own sequence.
 */
export function recordMaker(): (partition: number, n: number) => ProduceRecord[] {
  let seq = 0;
  return (partition, n) =>
    Array.from({ length: n }, () => {
      const i = seq++;
      return {
        key: i % 5 === 4 ? null : `key-${partition}-${i}`,
        value: i % 7 === 6 ? null : Buffer.from([i & 0xff, 0, 0xff, ...Buffer.from(`value ${i}`)]),
        headers: i % 3 === 2 ? [] : [{ key: 'seq', value: String(i) }, { key: 'bin', value: Buffer.from([0, 0x80, 0xff, i & 0xff]) }, { key: 'nil', value: null }, { key: 'seq', value: 'again' }],
        timestamp: Date.UTC(2021, 0, 1) + partition * 1_000_000 + (i % 4 === 1 ? -i : i) * 1000,
      };
    });
}
