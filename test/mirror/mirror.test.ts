/** core/mirror/mirror.ts's pure helpers; the Mirror itself runs against real brokers in test/integration/mirror.test.ts. */
import { chunkRecords, toProduceRecord } from '../../core/mirror/mirror';

test('chunkRecords splits by estimated size, keeps order, and puts a too-large record alone', () => {
  const rec = (offset: number, size: number) => ({ offset: BigInt(offset), timestamp: 0n, timestampType: 'CreateTime' as const, key: null, value: Buffer.alloc(size), headers: [] });
  const records = [rec(0, 100), rec(1, 100), rec(2, 100), rec(3, 1000), rec(4, 10)];
  const chunks = chunkRecords(records, 300);
  expect(chunks.map((c) => c.map((r) => Number(r.offset)))).toEqual([[0, 1], [2], [3], [4]]);
  expect(chunkRecords([], 300)).toEqual([]);
});

test('toProduceRecord keeps key, value, headers and timestamp', () => {
  const r = { offset: 9n, timestamp: 123n, timestampType: 'LogAppendTime' as const, key: Buffer.from('k'), value: null, headers: [{ key: 'h', value: null }] };
  expect(toProduceRecord(r)).toEqual({ key: Buffer.from('k'), value: null, headers: [{ key: 'h', value: null }], timestamp: 123n });
});
