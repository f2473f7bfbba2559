import { checkObjectKey, compareUtf8 } from '../../core/tier/objectStore';
import {
  allObjectKeys,
  newSegmentId,
  parseRemoteObjectKey,
  partitionObjectPrefix,
  remoteObjectKey,
  remoteSegmentKeys,
  segmentRecordKey,
  segmentRecordPrefix,
  stateRecordKey,
} from '../../core/tier/remoteSegmentKeys';

const TOPIC = 'Zm9vYmFyLWJhei1xdXV4LQ';

test('object keys carry topic id, partition, 20-digit base offset, epoch and a unique id', () => {
  const id = newSegmentId();
  expect(id).toMatch(/^[0-9a-f]{32}$/);
  expect(newSegmentId()).not.toBe(id);
  const keys = remoteSegmentKeys('remote-log', TOPIC, 7, 1234n, 3, id);
  expect(keys.log).toBe(`remote-log/${TOPIC}/7/00000000000000001234-3-${id}.log`);
  expect(keys.index).toBe(`remote-log/${TOPIC}/7/00000000000000001234-3-${id}.index`);
  expect(keys.timeIndex).toBe(`remote-log/${TOPIC}/7/00000000000000001234-3-${id}.timeindex`);
  for (const k of Object.values(keys)) expect(() => checkObjectKey(k)).not.toThrow();
  expect(parseRemoteObjectKey('remote-log', keys.timeIndex)).toEqual({ topicId: TOPIC, partition: 7, baseOffset: 1234n, leaderEpoch: 3, segmentId: id, ext: 'timeindex' });
  expect(partitionObjectPrefix('remote-log', TOPIC, 7)).toBe(`remote-log/${TOPIC}/7/`);
  // Nested prefixes work too (an S3 prefix is separate, inside the adapter).
  expect(parseRemoteObjectKey('a/b', remoteSegmentKeys('a/b', TOPIC, 0, 0n, 0, id).log)).toMatchObject({ baseOffset: 0n });
});

test('the optional objects (aborted-transaction index, producer snapshot) share the segment\'s stem and parse back', () => {
  const id = newSegmentId();
  const keys = remoteSegmentKeys('remote-log', TOPIC, 7, 1234n, 3, id);
  const txnIndex = remoteObjectKey('remote-log', TOPIC, 7, 1234n, 3, id, 'txnindex');
  const snapshot = remoteObjectKey('remote-log', TOPIC, 7, 1234n, 3, id, 'snapshot');
  expect(txnIndex).toBe(`remote-log/${TOPIC}/7/00000000000000001234-3-${id}.txnindex`);
  expect(snapshot).toBe(`remote-log/${TOPIC}/7/00000000000000001234-3-${id}.snapshot`);
  expect(remoteObjectKey('remote-log', TOPIC, 7, 1234n, 3, id, 'log')).toBe(keys.log);
  expect(parseRemoteObjectKey('remote-log', txnIndex)).toEqual({ topicId: TOPIC, partition: 7, baseOffset: 1234n, leaderEpoch: 3, segmentId: id, ext: 'txnindex' });
  expect(parseRemoteObjectKey('remote-log', snapshot)).toMatchObject({ segmentId: id, ext: 'snapshot' });
  expect(() => remoteObjectKey('remote-log', TOPIC, 7, 1234n, 3, id, 'txt' as never)).toThrow(TypeError);
  expect(allObjectKeys(keys)).toEqual([keys.log, keys.index, keys.timeIndex]);
  expect(allObjectKeys({ ...keys, txnIndex, producerSnapshot: snapshot })).toEqual([keys.log, keys.index, keys.timeIndex, txnIndex, snapshot]);
});

test('listing order is offset order', () => {
  const id = 'a'.repeat(32);
  const keys = [9n, 10n, 100n, 2n ** 40n].map((o) => remoteSegmentKeys('p', TOPIC, 0, o, 0, id).log);
  expect([...keys].sort(compareUtf8)).toEqual(keys);
  const recs = [9n, 10n, 100n].map((o) => segmentRecordKey(TOPIC, 0, o));
  expect([...recs].sort(compareUtf8)).toEqual(recs);
});

test('anything not written by remoteSegmentKeys does not parse', () => {
  const id = 'b'.repeat(32);
  const good = remoteSegmentKeys('p', TOPIC, 0, 5n, 0, id).log;
  expect(parseRemoteObjectKey('p', good)).not.toBeNull();
  for (const bad of [
    good.replace('.log', '.txt'),
    good.replace('p/', 'q/'),
    `p/${TOPIC}/00/00000000000000000005-0-${id}.log`,
    `p/${TOPIC}/0/5-0-${id}.log`,
    `p/${TOPIC}/0/00000000000000000005-01-${id}.log`,
    `p/${TOPIC}/0/00000000000000000005-0-${id.slice(1)}.log`,
    `p/${TOPIC}/0/99999999999999999999-0-${id}.log`,
    `p/${TOPIC}/0/x/00000000000000000005-0-${id}.log`,
    'p/unrelated',
  ]) {
    expect(parseRemoteObjectKey('p', bad)).toBeNull();
  }
});

test('invalid inputs are refused', () => {
  const id = 'c'.repeat(32);
  expect(() => remoteSegmentKeys('p', TOPIC, -1, 0n, 0, id)).toThrow(RangeError);
  expect(() => remoteSegmentKeys('p', TOPIC, 0, -1n, 0, id)).toThrow(RangeError);
  expect(() => remoteSegmentKeys('p', TOPIC, 0, 0n, -1, id)).toThrow(RangeError);
  expect(() => remoteSegmentKeys('p', TOPIC, 0, 0n, 0, 'nothex')).toThrow(TypeError);
  expect(() => remoteSegmentKeys('p', 'a/b', 0, 0n, 0, id)).toThrow(TypeError);
  expect(() => remoteSegmentKeys('/abs', TOPIC, 0, 0n, 0, id)).toThrow(TypeError);
  expect(() => remoteSegmentKeys('a//b', TOPIC, 0, 0n, 0, id)).toThrow(TypeError);
});

test('metadata keys', () => {
  expect(segmentRecordKey(TOPIC, 3, 42n)).toBe(`segment/${TOPIC}/0000000003/00000000000000000042`);
  expect(segmentRecordKey(TOPIC, 3, 42n).startsWith(segmentRecordPrefix(TOPIC, 3))).toBe(true);
  expect(segmentRecordKey(TOPIC, 3, 42n).startsWith(segmentRecordPrefix(TOPIC))).toBe(true);
  expect(segmentRecordKey(TOPIC, 30, 42n).startsWith(segmentRecordPrefix(TOPIC, 3))).toBe(false);
  expect(stateRecordKey(TOPIC, 3)).toBe(`state/${TOPIC}/0000000003`);
});
