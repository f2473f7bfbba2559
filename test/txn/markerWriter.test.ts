/**
 * MarkerWriter: markers for partitions this broker leads are appended here; with a routing, the
 * others go to their leaders as WriteTxnMarkers requests, and every failure to reach one is a
 * retriable code for the coordinator.
 */
import { ErrorCode } from '../../core/protocol/errorCodes';
import { MarkerWriter, type MarkerRouting } from '../../core/txn/markerWriter';
import type { Partition } from '../../core/partition/partition';
import type { WriteTxnMarkersRequest } from '../../core/protocol/generated/WriteTxnMarkersRequest';
import type { WriteTxnMarkersResponse } from '../../core/protocol/generated/WriteTxnMarkersResponse';

/** A partition as the writer sees it: its role, its record's leader, and the markers appended. */
function partition(role: 'leader' | 'follower' | 'none', leader: number, appended: string[], name: string): Partition {
  return {
    role,
    record: { leader },
    appendEndTxnMarker: (m: { type: string; coordinatorEpoch: number }) => {
      appended.push(`${m.type}:${name}@${m.coordinatorEpoch}`);
      return { errorCode: role === 'leader' ? ErrorCode.NONE : ErrorCode.NOT_LEADER_OR_FOLLOWER };
    },
  } as unknown as Partition;
}

class FakeRouting implements MarkerRouting {
  readonly requests: { nodeId: number; request: WriteTxnMarkersRequest }[] = [];
  down = new Set<number>();
  async send(nodeId: number, request: WriteTxnMarkersRequest): Promise<WriteTxnMarkersResponse> {
    this.requests.push({ nodeId, request });
    if (this.down.has(nodeId)) throw new Error('connection refused');
    return {
      markers: request.markers.map((m) => ({
        producerId: m.producerId,
        topics: m.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: partitionIndex === 3 ? ErrorCode.INVALID_PRODUCER_EPOCH : ErrorCode.NONE })) })),
      })),
    };
  }
}

const markers = (partitions: { topic: string; partition: number }[]) => ({ producerId: 9n, producerEpoch: 2, coordinatorEpoch: 5, result: 'COMMIT' as const, partitions });

test('local leaders are appended here, the rest sent to their leaders grouped by broker, answers mapped back', async () => {
  const appended: string[] = [];
  const parts = new Map<string, Partition>([
    ['a-0', partition('leader', 1, appended, 'a-0')],
    ['a-1', partition('follower', 2, appended, 'a-1')],
    ['b-0', partition('none', 2, appended, 'b-0')],
    ['a-3', partition('follower', 3, appended, 'a-3')],
    ['a-4', partition('follower', -1, appended, 'a-4')],
  ]);
  const routing = new FakeRouting();
  const w = new MarkerWriter((t, p) => parts.get(`${t}-${p}`), routing);
  const tps = [
    { topic: 'a', partition: 0 },
    { topic: 'a', partition: 1 },
    { topic: 'b', partition: 0 },
    { topic: 'a', partition: 3 },
    { topic: 'a', partition: 4 },
    { topic: 'gone', partition: 0 },
  ];
  const r = await w.writeMarkers(markers(tps));
  expect(r.map((x) => x.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE, ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
  expect(r.map((x) => x.partition)).toEqual(tps);
  expect(appended).toEqual(['COMMIT:a-0@5']);
  expect(routing.requests.map((x) => x.nodeId).sort()).toEqual([2, 3]);
  expect(routing.requests.find((x) => x.nodeId === 2)!.request).toEqual({
    markers: [{ producerId: 9n, producerEpoch: 2, transactionResult: true, coordinatorEpoch: 5, topics: [{ name: 'a', partitionIndexes: [1] }, { name: 'b', partitionIndexes: [0] }] }],
  });

  // A leader that cannot be reached: retriable for the coordinator.
  routing.down.add(2);
  const again = await w.writeMarkers(markers([{ topic: 'a', partition: 1 }]));
  expect(again[0].errorCode).toBe(ErrorCode.REQUEST_TIMED_OUT);
});

test('without a routing (a single broker) everything is written locally, as the WriteTxnMarkers handler does', async () => {
  const appended: string[] = [];
  const w = new MarkerWriter((t, p) => (t === 'a' ? partition(p === 0 ? 'leader' : 'follower', 7, appended, `a-${p}`) : undefined));
  const r = await w.writeMarkers({ ...markers([{ topic: 'a', partition: 0 }, { topic: 'a', partition: 1 }, { topic: 'x', partition: 0 }]), result: 'ABORT' });
  expect(r.map((x) => x.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
  expect(appended).toEqual(['ABORT:a-0@5', 'ABORT:a-1@5']);
});
