import fc from 'fast-check';
import { Reader, ProtocolDecodeError } from '../../core/protocol/reader';
import { Writer } from '../../core/protocol/writer';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { readProduceRequest, writeProduceRequest } from '../../core/protocol/generated/ProduceRequest';
import type { ProduceRequest } from '../../core/protocol/generated/ProduceRequest';
import { readFetchResponse, writeFetchResponse } from '../../core/protocol/generated/FetchResponse';
import type { FetchResponse } from '../../core/protocol/generated/FetchResponse';
import { readApiVersionsResponse, writeApiVersionsResponse } from '../../core/protocol/generated/ApiVersionsResponse';
import { readConsumerGroupHeartbeatResponse, writeConsumerGroupHeartbeatResponse } from '../../core/protocol/generated/ConsumerGroupHeartbeatResponse';
import { readMetadataRequest } from '../../core/protocol/generated/MetadataRequest';
import type { RecordsInput } from '../../core/protocol/writer';
import { canon, expectedRead, inRange, loadMessages, structArb, versionsOf } from './schemaModel';
import type { MessageSpec } from './schemaModel';

const messages = loadMessages();

function codecs(m: MessageSpec) {
  const api = API_MESSAGES.get(m.apiKey)!;
  return m.type === 'request'
    ? { read: api.readRequest, write: api.writeRequest }
    : { read: api.readResponse, write: api.writeResponse };
}

function encode(write: (w: Writer, v: number, m: unknown) => void, version: number, value: unknown): Buffer {
  const w = new Writer(64);
  write(w, version, value);
  return w.toBuffer();
}

describe('generated index', () => {
  it('has a request and a response codec for every api key in the schemas', () => {
    const keys = new Set(messages.map((m) => m.apiKey));
    expect([...API_MESSAGES.keys()].sort((a, b) => a - b)).toEqual([...keys].sort((a, b) => a - b));
    for (const m of messages) {
      const api = API_MESSAGES.get(m.apiKey)!;
      expect(api.name).toBe(m.name.replace(/(Request|Response)$/, ''));
      expect([api.minVersion, api.maxVersion]).toEqual([m.valid.lo, m.valid.hi]);
      expect(api.flexibleMin).toBe(m.flexible ? m.flexible.lo : Infinity);
    }
  });

  it('names api keys as Kafka does', () => {
    expect(ApiKey.Produce).toBe(0);
    expect(ApiKey.Fetch).toBe(1);
    expect(ApiKey.Metadata).toBe(3);
    expect(ApiKey.ApiVersions).toBe(18);
    expect(ApiKey.DescribeTopicPartitions).toBe(75);
    expect(API_MESSAGES.get(ApiKey.ApiVersions)!.flexibleMin).toBe(3);
  });
});

describe('round trip of random messages, every message, every version', () => {
  // One property per message covering all its versions keeps the test count readable while
  // still exercising each (message, version) pair several times.
  it.each(messages.map((m) => [m.name, m] as const))('%s', (_name, m) => {
    const { read, write } = codecs(m);
    for (const version of versionsOf(m)) {
      fc.assert(
        fc.property(structArb(m.fields, version), (value) => {
          const bytes = encode(write, version, value);
          const r = new Reader(bytes);
          const decoded = read(r, version);
          expect(r.remaining).toBe(0);
          expect(canon(decoded)).toEqual(canon(expectedRead(m.fields, version, value)));
          // what was read writes back to the same bytes
          expect(encode(write, version, decoded).equals(bytes)).toBe(true);
        }),
        { numRuns: 6, seed: 0x5eed + version },
      );
    }
  });
});

describe('unknown tagged fields', () => {
  it.each(messages.filter((m) => m.flexible !== null && m.fields.every((f) => f.tagged === null)).map((m) => [m.name, m] as const))(
    '%s skips them in every flexible version',
    (_name, m) => {
      const { read, write } = codecs(m);
      for (const version of versionsOf(m).filter((v) => inRange(m.flexible, v))) {
        fc.assert(
          fc.property(structArb(m.fields, version), (value) => {
            const bytes = encode(write, version, value);
            // The top-level tagged section is the last byte (count 0) when the message declares
            // no top-level tagged fields: replace it by two fields with unknown tags.
            expect(bytes[bytes.length - 1]).toBe(0);
            const extra = Buffer.from([2, 90, 2, 0xab, 0xcd, 0x81, 0x01, 0]);
            const patched = Buffer.concat([bytes.subarray(0, bytes.length - 1), extra]);
            const r = new Reader(patched);
            const decoded = read(r, version);
            expect(r.remaining).toBe(0);
            expect(canon(decoded)).toEqual(canon(expectedRead(m.fields, version, value)));
          }),
          { numRuns: 2, seed: 7 },
        );
      }
    },
  );
});

describe('reader robustness: every request and response decoder, every version', () => {
  function expectDecodeOrProtocolError(read: (r: Reader, v: number) => unknown, version: number, bytes: Uint8Array): void {
    try {
      read(new Reader(Buffer.from(bytes)), version);
    } catch (e) {
      if (!(e instanceof ProtocolDecodeError)) throw e;
    }
  }

  it.each(messages.map((m) => [m.name, m] as const))('%s: random bytes, truncations and mutations', (_name, m) => {
    const { read, write } = codecs(m);
    for (const version of versionsOf(m)) {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => expectDecodeOrProtocolError(read, version, bytes)),
        { numRuns: 8, seed: version },
      );
      fc.assert(
        fc.property(structArb(m.fields, version), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (value, cut, at, xor) => {
          const bytes = encode(write, version, value);
          if (bytes.length === 0) return; // a message with no fields in this version
          // Every byte a writer produces is needed by the reader, so any truncation must fail.
          const truncated = bytes.subarray(0, cut % bytes.length);
          expect(() => read(new Reader(truncated), version)).toThrow(ProtocolDecodeError);
          const mutated = Buffer.from(bytes);
          mutated[at % mutated.length] ^= xor;
          expectDecodeOrProtocolError(read, version, mutated);
        }),
        { numRuns: 4, seed: version + 1 },
      );
    }
  });

  it('rejects a huge array count before allocating anything', () => {
    // MetadataRequest v1: topics is a nullable int32-counted array; claim 2^31-1 with 10 bytes left
    const b = Buffer.alloc(14);
    b.writeInt32BE(0x7fffffff, 0);
    expect(() => readMetadataRequest(new Reader(b), 1)).toThrow(/cannot fit/);
    // v12 is flexible: uvarint count+1 of 2^32-1
    const c = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0]);
    expect(() => readMetadataRequest(new Reader(c), 12)).toThrow(/cannot fit/);
  });

  it('rejects versions outside the schema', () => {
    expect(() => readProduceRequest(new Reader(Buffer.alloc(64)), 12)).toThrow(ProtocolDecodeError);
    expect(() => readProduceRequest(new Reader(Buffer.alloc(64)), -1)).toThrow(ProtocolDecodeError);
  });
});

describe('specific encodings', () => {
  it('ProduceRequest records are zero-copy on read and by reference on write', () => {
    const big = Buffer.alloc(10_000, 7);
    const msg: ProduceRequest<RecordsInput> = {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30_000,
      topicData: [{ name: 't', partitionData: [{ index: 0, records: [big, Buffer.from([1, 2, 3])] }] }],
    };
    for (const version of [3, 9, 11]) {
      const w = new Writer();
      writeProduceRequest(w, version, msg);
      const chunks = w.toChunks();
      expect(chunks.some((c) => c === big)).toBe(true);
      const bytes = Buffer.concat(chunks);
      const got = readProduceRequest(new Reader(bytes), version);
      const records = got.topicData[0].partitionData[0].records!;
      expect(records.length).toBe(10_003);
      expect(records.buffer).toBe(bytes.buffer); // a view of the input, not a copy
      expect(records.subarray(10_000)).toEqual(Buffer.from([1, 2, 3]));
    }
  });

  it('ProduceRequest v9 with null transactional id matches hand-computed bytes', () => {
    const w = new Writer();
    writeProduceRequest(w, 9, { acks: 1, timeoutMs: 1000, topicData: [{ name: 'ab', partitionData: [{ index: 2, records: null }] }] });
    expect(w.toBuffer().toString('hex')).toBe(
      [
        '00', // transactionalId: compact null
        '0001', // acks
        '000003e8', // timeoutMs
        '02', // 1 topic
        '03', '6162', // name 'ab'
        '02', // 1 partition
        '00000002', // index
        '00', // records: compact null
        '00', // partition tagged fields
        '00', // topic tagged fields
        '00', // top-level tagged fields
      ].join(''),
    );
  });

  it('FetchResponse writes tagged fields only when not default, in tag order', () => {
    const base = { partitionIndex: 0, errorCode: 0, highWatermark: 5n, records: null };
    const msg: FetchResponse<RecordsInput> = {
      responses: [
        {
          topicId: 'AAAAAAAAAAAAAAAAAAAAAQ',
          partitions: [
            base,
            { ...base, currentLeader: { leaderId: 3, leaderEpoch: 7 }, divergingEpoch: { epoch: -1, endOffset: -1n } },
          ],
        },
      ],
      nodeEndpoints: [{ nodeId: 3, host: 'h', port: 9092, rack: null }],
    };
    const w = new Writer();
    writeFetchResponse(w, 16, msg);
    const bytes = w.toBuffer();
    const got = readFetchResponse(new Reader(bytes), 16);
    const [p0, p1] = got.responses[0].partitions;
    expect(p0.currentLeader).toEqual({ leaderId: -1, leaderEpoch: -1 });
    expect(p1.currentLeader).toEqual({ leaderId: 3, leaderEpoch: 7 });
    expect(p1.divergingEpoch).toEqual({ epoch: -1, endOffset: -1n });
    expect(got.nodeEndpoints).toEqual([{ nodeId: 3, host: 'h', port: 9092, rack: null }]);
    // top-level section: 1 field, tag 0, then its size and the compact array
    const tail = Buffer.from([1, 0]);
    expect(bytes.indexOf(tail, bytes.length - 16)).toBeGreaterThan(0);
    // partition 0 has an empty tagged section; partition 1 exactly one field (tag 1)
    // (divergingEpoch equals its default, so it is not written)
    const w2 = new Writer();
    writeFetchResponse(w2, 16, { ...msg, responses: [{ ...msg.responses[0], partitions: [msg.responses[0].partitions[1]] }], nodeEndpoints: [] });
    const b2 = w2.toBuffer();
    // ... records null (00), then the partition's tagged section: count 1, tag 1, size 9 (two int32 + empty tags)
    expect(b2.includes(Buffer.from([0x00, 0x01, 0x01, 0x09, 0, 0, 0, 3, 0, 0, 0, 7, 0]))).toBe(true);
  });

  it('ApiVersionsResponse v3 carries features as tagged fields', () => {
    const w = new Writer();
    writeApiVersionsResponse(w, 3, {
      errorCode: 0,
      apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
      throttleTimeMs: 0,
      finalizedFeaturesEpoch: 12n,
    });
    const bytes = w.toBuffer();
    // errorCode, 1 api key (compact 2), [18, 0, 4, tags 0], throttle 0, tagged: 1 field, tag 1, size 8, int64 12
    expect(bytes.toString('hex')).toBe('0000' + '02' + '0012' + '0000' + '0004' + '00' + '00000000' + '01' + '01' + '08' + '000000000000000c');
    const got = readApiVersionsResponse(new Reader(bytes), 3);
    expect(got.finalizedFeaturesEpoch).toBe(12n);
    expect(got.supportedFeatures).toEqual([]);
    expect(got.zkMigrationReady).toBe(false);
  });

  it('nullable structs carry an int8 presence marker', () => {
    const base = { throttleTimeMs: 0, errorCode: 0, memberEpoch: 1, heartbeatIntervalMs: 5000 };
    const w = new Writer();
    writeConsumerGroupHeartbeatResponse(w, 0, { ...base, assignment: null });
    const nul = w.toBuffer();
    expect(nul.subarray(nul.length - 2)).toEqual(Buffer.from([0xff, 0])); // marker -1, tags
    expect(readConsumerGroupHeartbeatResponse(new Reader(nul), 0).assignment).toBeNull();
    const w2 = new Writer();
    writeConsumerGroupHeartbeatResponse(w2, 0, { ...base, assignment: { topicPartitions: [] } });
    const some = w2.toBuffer();
    expect(some.subarray(some.length - 4)).toEqual(Buffer.from([1, 1, 0, 0])); // marker 1, empty array, struct tags, tags
    expect(readConsumerGroupHeartbeatResponse(new Reader(some), 0).assignment).toEqual({ topicPartitions: [] });
  });

  it('refuses null where the version does not allow it, and unknown versions', () => {
    const w = new Writer();
    // MetadataRequest topics is nullable from v1 only
    const write = API_MESSAGES.get(ApiKey.Metadata)!.writeRequest;
    expect(() => write(w, 0, { topics: null })).toThrow(/not nullable in version 0/);
    expect(() => write(new Writer(), 1, { topics: null })).not.toThrow();
    expect(() => write(new Writer(), 13, { topics: [] })).toThrow(/not supported/);
  });
});
