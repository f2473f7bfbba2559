/**
 * The Lambda Kafka event parser: strict per record (a malformed record is a poison record
 * named by topic-partition-offset; its partition keeps the records before it), strict about
 * the envelope (thrown), and the builder the integration test uses round-trips through it.
 */
import { MirrorEventError } from '../../core/mirror/errors';
import { parseMirrorEvent, parsePartitionKey, toMirrorEvent } from '../../core/mirror/event';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function record(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    topic: 'orders',
    partition: 0,
    offset: 15,
    timestamp: 1545084650987,
    timestampType: 'CREATE_TIME',
    key: b64('k1'),
    value: b64('v1'),
    headers: [{ trace: [104, 105] }],
    ...over,
  };
}

function event(records: Record<string, unknown[]>): unknown {
  return { eventSource: 'SelfManagedKafka', bootstrapServers: 'b1:9092, b2:9092', records };
}

describe('parseMirrorEvent', () => {
  test('the AWS docs example: key, value, headers, timestamp and offset become typed', () => {
    const parsed = parseMirrorEvent(event({ 'orders-0': [record(), record({ offset: 16, timestampType: 'LOG_APPEND_TIME', headers: [] })] }));
    expect(parsed.sourceBootstrapServers).toEqual(['b1:9092', 'b2:9092']);
    expect(parsed.poison).toEqual([]);
    expect(parsed.batches).toHaveLength(1);
    const [b] = parsed.batches;
    expect(b).toMatchObject({ topic: 'orders', partition: 0 });
    expect(b.records[0]).toEqual({
      offset: 15n,
      timestamp: 1545084650987n,
      timestampType: 'CreateTime',
      key: Buffer.from('k1'),
      value: Buffer.from('v1'),
      headers: [{ key: 'trace', value: Buffer.from('hi') }],
    });
    expect(b.records[1]).toMatchObject({ offset: 16n, timestampType: 'LogAppendTime', headers: [] });
  });

  test('absent or null key and value are null; empty strings are empty bytes; null header values stay null', () => {
    const { batches } = parseMirrorEvent(
      event({
        'orders-0': [
          record({ key: undefined, value: undefined }),
          record({ offset: 16, key: null, value: null, headers: [{ h: null }] }),
          record({ offset: 17, key: '', value: '' }),
        ],
      }),
    );
    const [a, b, c] = batches[0].records;
    expect([a.key, a.value]).toEqual([null, null]);
    expect([b.key, b.value, b.headers]).toEqual([null, null, [{ key: 'h', value: null }]]);
    expect([c.key, c.value]).toEqual([Buffer.alloc(0), Buffer.alloc(0)]);
  });

  test('headers keep their order, repeated names and signed (Java) bytes', () => {
    const { batches } = parseMirrorEvent(event({ 'orders-0': [record({ headers: [{ a: [1] }, { b: [-1, 255, 0] }, { a: [2] }] })] }));
    expect(batches[0].records[0].headers).toEqual([
      { key: 'a', value: Buffer.from([1]) },
      { key: 'b', value: Buffer.from([255, 255, 0]) },
      { key: 'a', value: Buffer.from([2]) },
    ]);
  });

  test('topic names with dashes; several partitions; offsets as digit strings are exact past 2^53', () => {
    const big = '9007199254740993';
    const { batches } = parseMirrorEvent(
      event({
        'my-topic-1-12': [record({ topic: 'my-topic-1', partition: 12, offset: big })],
        'orders-3': [record({ partition: 3 })],
      }),
    );
    expect(batches.map((b) => [b.topic, b.partition])).toEqual([
      ['my-topic-1', 12],
      ['orders', 3],
    ]);
    expect(batches[0].records[0].offset).toBe(9007199254740993n);
  });

  test.each([
    ['bad base64 value', { value: 'not base64!' }, 'value is not valid base64'],
    ['a key that is not a string', { key: 42 }, 'key must be a base64 string or null'],
    ['a fractional offset', { offset: 1.5 }, 'offset must be an integer'],
    ['a negative offset', { offset: -3 }, 'offset -3 is out of range'],
    ['an offset past 2^53 as a number', { offset: 2 ** 60 }, 'exactly representable'],
    ['a missing offset', { offset: undefined }, 'offset must be an integer, got nothing'],
    ['an unknown timestampType', { timestampType: 'WALL_CLOCK' }, 'timestampType must be CREATE_TIME or LOG_APPEND_TIME'],
    ['headers not an array', { headers: { a: [1] } }, 'headers must be an array'],
    ['a header value that is not bytes', { headers: [{ a: [1, 300] }] }, "header 'a' must be an array of bytes"],
    ['a record of another partition', { partition: 1 }, "its partition 1 is not the key's 0"],
    ['a record of another topic', { topic: 'payments' }, "its topic 'payments' is not the key's 'orders'"],
  ])('poison: %s', (_what, over, reason) => {
    const parsed = parseMirrorEvent(event({ 'orders-0': [record({ offset: 14 }), record(over), record({ offset: 16 })], 'orders-1': [record({ partition: 1 })] }));
    // The partition keeps the record before the poison one, loses it and the rest; the other partition is whole.
    expect(parsed.batches.map((b) => [b.partition, b.records.map((r) => r.offset)])).toEqual([
      [0, [14n]],
      [1, [15n]],
    ]);
    expect(parsed.poison).toHaveLength(1);
    expect(parsed.poison[0]).toMatchObject({ topic: 'orders', partition: 0 });
    expect(parsed.poison[0].reason).toContain(reason);
  });

  test('poison names the offset as given; a first poisoned record leaves no batch for its partition', () => {
    const parsed = parseMirrorEvent(event({ 'orders-0': [record({ offset: 20, value: '@@' })] }));
    expect(parsed.batches).toEqual([]);
    expect(parsed.poison).toEqual([{ topic: 'orders', partition: 0, offset: '20', reason: 'value is not valid base64' }]);
  });

  test('offsets that do not rise within a partition are poison', () => {
    const parsed = parseMirrorEvent(event({ 'orders-0': [record({ offset: 5 }), record({ offset: 5 })] }));
    expect(parsed.batches[0].records.map((r) => r.offset)).toEqual([5n]);
    expect(parsed.poison[0].reason).toContain('does not follow the previous record');
  });

  test.each([
    ['not an object', 'hello', 'expected an object'],
    ['another event source', { eventSource: 'aws:sqs', records: {} }, 'eventSource must be'],
    ['records not an object', { eventSource: 'SelfManagedKafka', records: [] }, 'records must be an object'],
    ['a key without a partition', { eventSource: 'SelfManagedKafka', records: { orders: [] } }, 'is not "<topic>-<partition>"'],
    ['a partition list that is not an array', { eventSource: 'SelfManagedKafka', records: { 'orders-0': {} } }, 'must be an array'],
  ])('the envelope: %s throws', (_what, raw, message) => {
    expect(() => parseMirrorEvent(raw)).toThrow(MirrorEventError);
    expect(() => parseMirrorEvent(raw)).toThrow(message);
  });

  test('an MSK event (aws:kafka) is read the same way; empty partitions are left out', () => {
    const parsed = parseMirrorEvent({ eventSource: 'aws:kafka', eventSourceArn: 'arn:x', bootstrapServers: 'b:9092', records: { 'orders-0': [record()], 'orders-1': [] } });
    expect(parsed.batches).toHaveLength(1);
  });
});

test('parsePartitionKey splits at the last dash', () => {
  expect(parsePartitionKey('a-b-c-7')).toEqual({ topic: 'a-b-c', partition: 7 });
  expect(() => parsePartitionKey('-7')).toThrow(MirrorEventError);
  expect(() => parsePartitionKey('orders-07')).toThrow(MirrorEventError);
});

test('toMirrorEvent builds what parseMirrorEvent reads back', () => {
  const records = [
    { offset: 3n, timestamp: 1000n, timestampType: 'CreateTime' as const, key: Buffer.from('k'), value: null, headers: [{ key: 'h', value: Buffer.from([0, 200]) }, { key: 'n', value: null }] },
    { offset: 7n, timestamp: 2000n, timestampType: 'LogAppendTime' as const, key: null, value: Buffer.from('v'), headers: [] },
  ];
  const ev = toMirrorEvent('b:9092', [{ topic: 'orders', partition: 2, records }]);
  expect(ev.records['orders-2'][0]).toEqual({ topic: 'orders', partition: 2, offset: 3, timestamp: 1000, timestampType: 'CREATE_TIME', key: 'aw==', headers: [{ h: [0, 200] }, { n: null }] });
  const parsed = parseMirrorEvent(JSON.parse(JSON.stringify(ev)));
  expect(parsed.poison).toEqual([]);
  expect(parsed.batches[0].records).toEqual(records);
});
