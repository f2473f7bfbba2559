/**
 * The parts of the Fetch handler that need no broker: the answer to a request failing as a
 * whole (Kafka's FetchRequest.getErrorResponse), topic grouping (FetchResponse.toMessage) and
 * the session bookkeeping of fetchSession.ts. Answers from a real broker are checked in
 * test/integration/fetchSessions.test.ts.
 */
import { createFetchHandler, groupByTopic } from '../../../core/broker/handlers/fetch';
import { FetchSessions, nextEpoch, requestedTargets } from '../../../core/broker/handlers/fetchSession';
import type { RequestContext } from '../../../core/broker/handlers/types';
import type { FetchRequest } from '../../../core/protocol/generated/FetchRequest';
import { ErrorCode } from '../../../core/protocol/errorCodes';

const req = (sessionId: number, sessionEpoch: number): FetchRequest => ({
  maxWaitMs: 0,
  minBytes: 0,
  sessionId,
  sessionEpoch,
  topics: [
    { topic: 'a', topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: [{ partition: 0, fetchOffset: 5n, partitionMaxBytes: 100 }] },
    { topic: 'b', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: [{ partition: 1, fetchOffset: 0n, partitionMaxBytes: 100 }, { partition: 0, fetchOffset: 0n, partitionMaxBytes: 100 }] },
  ],
  forgottenTopicsData: [],
});

const ctx = (version: number) => ({ version }) as unknown as RequestContext;

test('a request failing as a whole: every partition carries the error before v13; from v13 the top-level error alone; the session id echoed', () => {
  const h = createFetchHandler();
  const old = h.errorResponse(req(0, -1), ErrorCode.UNSUPPORTED_VERSION, ctx(3));
  expect(old.errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
  expect(old.responses.map((t) => [t.topic, t.partitions.map((p) => [p.partitionIndex, p.errorCode])])).toEqual([
    ['a', [[0, ErrorCode.UNSUPPORTED_VERSION]]],
    ['b', [[1, ErrorCode.UNSUPPORTED_VERSION], [0, ErrorCode.UNSUPPORTED_VERSION]]],
  ]);
  expect(h.errorResponse(req(42, 3), ErrorCode.KAFKA_STORAGE_ERROR, ctx(16))).toEqual({ throttleTimeMs: 0, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, sessionId: 42, responses: [] });
});

test('groupByTopic: consecutive partitions of a topic share an entry (by id from v13, by name before); order kept', () => {
  const answer = (partitionIndex: number) => ({ partitionIndex, errorCode: 0, highWatermark: 0n, records: null });
  const parts = [
    { topicName: 'a', topicId: 'id-a', answer: answer(0) },
    { topicName: 'a', topicId: 'id-a', answer: answer(1) },
    { topicName: 'b', topicId: 'id-b', answer: answer(0) },
    { topicName: 'a', topicId: 'id-a', answer: answer(2) },
  ];
  expect(groupByTopic(parts, true).map((t) => [t.topicId, t.partitions.map((p) => p.partitionIndex)])).toEqual([
    ['id-a', [0, 1]],
    ['id-b', [0]],
    ['id-a', [2]],
  ]);
  // Unknown topic ids answered with name '': grouped by id, not by the empty name.
  const unknown = [
    { topicName: '', topicId: 'x', answer: answer(0) },
    { topicName: '', topicId: 'y', answer: answer(0) },
  ];
  expect(groupByTopic(unknown, true)).toHaveLength(2);
  expect(groupByTopic(unknown, false)).toHaveLength(1);
});

test('session epochs and request partitions as Kafka counts them', () => {
  expect([nextEpoch(0), nextEpoch(1), nextEpoch(0x7fffffff), nextEpoch(-1)]).toEqual([1, 2, 1, -1]);
  const dup: FetchRequest = { ...req(0, -1), topics: [...req(0, -1).topics, { topic: 'a', partitions: [{ partition: 0, fetchOffset: 9n, partitionMaxBytes: 7 }] }] };
  // Named twice: fetched once, in its first place, with its last parameters.
  expect(requestedTargets(dup, 12).map((t) => [t.topicName, t.partition, t.fetchOffset, t.maxBytes])).toEqual([
    ['a', 0, 9n, 7],
    ['b', 1, 0n, 100],
    ['b', 0, 0n, 100],
  ]);
});

test('sessions: opened by epoch 0, one per connection, updated and ended by incremental requests', () => {
  const s = new FetchSessions();
  const conn = {};
  const full = s.newContext(conn, 16, req(0, 0));
  expect(full.kind).toBe('full');
  if (full.kind !== 'full') return;
  const id = s.open(
    conn,
    16,
    full.targets.map((target) => ({ target, answer: { errorCode: 0, highWatermark: 10n, logStartOffset: 0n, recordBytes: 0 } })),
  );
  expect(s.sessionOf(conn)).toMatchObject({ id, epoch: 1, usesTopicIds: true });
  expect(s.sessionOf({})).toBeUndefined();

  const inc = s.newContext(conn, 16, { ...req(id, 1), topics: [], forgottenTopicsData: [{ topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: [0] }] });
  expect(inc.kind).toBe('incremental');
  if (inc.kind !== 'incremental') return;
  expect(inc.targets.map((t) => [t.topicId, t.partition, t.fetchOffset])).toEqual([
    ['AAAAAAAAAAAAAAAAAAAAAQ', 0, 5n],
    ['AAAAAAAAAAAAAAAAAAAAAg', 1, 0n],
  ]);
  const keep = s.select(
    inc.session,
    inc.targets.map((target, i) => ({ target, answer: { errorCode: 0, highWatermark: 10n, logStartOffset: 0n, recordBytes: i === 0 ? 50 : 0 } })),
  );
  expect(keep).toEqual([true, false]);
  // The partition that returned records moved to the end of the fetch order.
  expect([...inc.session.partitions.values()].map((p) => p.partition)).toEqual([1, 0]);
  expect(s.newContext(conn, 16, req(id, 1))).toEqual({ kind: 'sessionError', errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH });
});
