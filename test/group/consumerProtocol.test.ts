import { AssignerProtocol } from 'kafkajs';
import {
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  subscribedTopics,
} from '../../core/group/consumerProtocol';
import { ProtocolDecodeError } from '../../core/protocol/reader';

describe('ConsumerProtocolSubscription', () => {
  test('round-trips every version; fields a version lacks read as their defaults', () => {
    const full = { topics: ['a', 'b'], userData: Buffer.from('ud'), ownedPartitions: [{ topic: 'a', partitions: [0, 2] }], generationId: 7, rackId: 'az-1' };
    const expected = [
      { topics: ['a', 'b'], userData: Buffer.from('ud'), ownedPartitions: [], generationId: -1, rackId: null },
      { topics: ['a', 'b'], userData: Buffer.from('ud'), ownedPartitions: full.ownedPartitions, generationId: -1, rackId: null },
      { topics: ['a', 'b'], userData: Buffer.from('ud'), ownedPartitions: full.ownedPartitions, generationId: 7, rackId: null },
      full,
    ];
    for (let v = 0; v <= 3; v++) {
      const bytes = encodeSubscription(v, full);
      expect(bytes.readInt16BE(0)).toBe(v);
      expect(decodeSubscription(bytes)).toEqual({ version: v, subscription: expected[v] });
    }
  });

  test('a newer version is read with the newest layout known, ignoring what follows', () => {
    const v3 = encodeSubscription(3, { topics: ['t'], userData: null, ownedPartitions: [], generationId: 4, rackId: null });
    const v5 = Buffer.concat([v3, Buffer.from([1, 2, 3, 4])]);
    v5.writeInt16BE(5, 0);
    expect(decodeSubscription(v5)).toEqual({ version: 3, subscription: { topics: ['t'], userData: null, ownedPartitions: [], generationId: 4, rackId: null } });
  });

  test('reads what kafkajs 2.2.4 writes', () => {
    const bytes = AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['orders', 'payments'], userData: Buffer.from('x') });
    expect(decodeSubscription(bytes).subscription).toMatchObject({ topics: ['orders', 'payments'], userData: Buffer.from('x') });
    expect(subscribedTopics(bytes)).toEqual(['orders', 'payments']);
  });

  test('subscribedTopics reads the version-0 prefix only, so later fields a client left out do not matter', () => {
    const v0body = encodeSubscription(0, { topics: ['t1', 't2'], userData: null });
    const claimsV1 = Buffer.from(v0body);
    claimsV1.writeInt16BE(1, 0); // says v1 but has no owned partitions
    expect(() => decodeSubscription(claimsV1)).toThrow(ProtocolDecodeError);
    expect(subscribedTopics(claimsV1)).toEqual(['t1', 't2']);
  });

  test('malformed bytes are a ProtocolDecodeError', () => {
    expect(() => subscribedTopics(Buffer.alloc(0))).toThrow(ProtocolDecodeError);
    expect(() => subscribedTopics(Buffer.from([0xff, 0xff, 0, 0, 0, 1]))).toThrow(ProtocolDecodeError); // version -1
    expect(() => subscribedTopics(Buffer.from([0, 0, 0x7f, 0xff, 0xff, 0xff]))).toThrow(ProtocolDecodeError); // 2^31-1 topics
  });
});

describe('ConsumerProtocolAssignment', () => {
  test('round-trips every version', () => {
    const a = { assignedPartitions: [{ topic: 'x', partitions: [3, 1] }], userData: null };
    for (let v = 0; v <= 3; v++) expect(decodeAssignment(encodeAssignment(v, a))).toEqual({ version: v, assignment: a });
  });

  test('reads what kafkajs 2.2.4 writes', () => {
    const bytes = AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { a: [0, 2], bb: [1] }, userData: Buffer.alloc(0) });
    expect(decodeAssignment(bytes).assignment).toEqual({
      assignedPartitions: [
        { topic: 'a', partitions: [0, 2] },
        { topic: 'bb', partitions: [1] },
      ],
      userData: Buffer.alloc(0),
    });
  });
});
