/**
 * Done-means 3: thousands of malformed frames and batches thrown at a running broker process.
 * Each gets an honest answer (an error response, or the connection closed), never a crash or
 * a hang; nothing is appended; a client on another connection keeps working throughout.
 */
import * as net from 'node:net';
import fc from 'fast-check';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { StrataClient } from '../../core/client/client';
import { Writer } from '../../core/protocol/writer';
import { Reader } from '../../core/protocol/reader';
import { writeRequestHeader, readResponseHeader, encodeFrame } from '../../core/protocol/headers';
import { writeProduceRequest } from '../../core/protocol/generated/ProduceRequest';
import { readProduceResponse } from '../../core/protocol/generated/ProduceResponse';
import { ApiKey } from '../../core/protocol/generated/index';
import { buildRecordBatch } from '../../core/log/recordBatchBuilder';

const TOPIC = 'fuzz';
const RUNS = Number(process.env.STRATA_FUZZ_RUNS ?? 1500);

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'fuzz-bystander' });
  await client.createTopics([{ name: TOPIC, numPartitions: 1, replicationFactor: 1 }]);
  await client.produce(TOPIC, 0, [{ key: null, value: Buffer.from('seed') }], { acks: 1 });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

type Outcome = { kind: 'closed'; frames: Buffer[] } | { kind: 'response'; frames: Buffer[] };

/**
 * Sends raw bytes on a fresh connection, half-closes, and resolves with what came back: the
 * response frames, and whether the broker closed the connection. A bounded wait: a broker that
 * neither answers nor closes within the limit fails the test (a hang).
 */
function exchange(bytes: Buffer, expectFrames: number, timeoutMs = 5000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(broker.port, broker.host);
    let buf = Buffer.alloc(0);
    const frames: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`broker neither answered nor closed within ${timeoutMs} ms for input ${bytes.subarray(0, 64).toString('hex')}`));
    }, timeoutMs);
    const done = (kind: Outcome['kind']) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ kind, frames });
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        frames.push(buf.subarray(4, 4 + buf.readInt32BE(0)));
        buf = buf.subarray(4 + buf.readInt32BE(0));
      }
      if (frames.length >= expectFrames) done('response');
    });
    sock.on('close', () => done('closed'));
    sock.on('error', () => undefined);
    sock.on('connect', () => {
      sock.write(bytes);
      sock.end(); // a truncated request can never complete: the broker must close, not wait forever
    });
  });
}

async function logEnd(): Promise<bigint> {
  return (await client.listOffsets(TOPIC, 0, -1n)).offset;
}

async function bystanderWorks(): Promise<void> {
  const r = await client.fetch(TOPIC, 0, 0n, { maxWaitMs: 0 });
  expect(r.records[0]?.value?.toString()).toBe('seed');
}

function frame(body: Buffer): Buffer {
  return Buffer.concat(encodeFrame([body]));
}

function produceRequest(records: Buffer, version = 9, acks = 1): Buffer {
  const w = new Writer();
  writeRequestHeader(w, { apiKey: ApiKey.Produce, apiVersion: version, correlationId: 7, clientId: 'fuzz' });
  writeProduceRequest(w, version, { transactionalId: null, acks, timeoutMs: 1000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] });
  return Buffer.concat(encodeFrame(w.toChunks()));
}

test('random bytes: an answer or a closed connection, never a crash or a hang', async () => {
  const before = await logEnd();
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 300 }), async (bytes) => {
      await exchange(Buffer.from(bytes), 1);
    }),
    { numRuns: RUNS },
  );
  expect(await logEnd()).toBe(before);
  await bystanderWorks();
}, 120_000);

test('size prefixes that lie (negative, beyond socket.request.max.bytes, longer than the data) close the connection', async () => {
  const before = await logEnd();
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.integer({ min: -2147483648, max: -1 }), fc.integer({ min: 100 * 1024 * 1024 + 1, max: 2147483647 }), fc.integer({ min: 1, max: 1 << 20 })), fc.uint8Array({ maxLength: 64 }), async (size, body) => {
      const head = Buffer.alloc(4);
      head.writeInt32BE(size, 0);
      const out = await exchange(Buffer.concat([head, Buffer.from(body)]), 1);
      if (size < 0 || size > 100 * 1024 * 1024 || size > body.length) expect(out.kind).toBe('closed');
    }),
    { numRuns: RUNS },
  );
  expect(await logEnd()).toBe(before);
  await bystanderWorks();
}, 120_000);

test('well-framed requests with random api keys, versions and bodies', async () => {
  const before = await logEnd();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: -2, max: 80 }), fc.integer({ min: -1, max: 20 }), fc.uint8Array({ maxLength: 200 }), async (apiKey, apiVersion, body) => {
      const head = Buffer.alloc(8);
      head.writeInt16BE(apiKey, 0);
      head.writeInt16BE(apiVersion, 2);
      head.writeInt32BE(99, 4);
      const out = await exchange(frame(Buffer.concat([head, Buffer.from(body)])), 1);
      for (const f of out.frames) expect(f.readInt32BE(0)).toBe(99); // any answer is to this request
    }),
    { numRuns: RUNS },
  );
  expect(await logEnd()).toBe(before);
  await bystanderWorks();
}, 120_000);

test('produce requests with corrupted record batches get an error code and append nothing', async () => {
  const valid = buildRecordBatch({ records: Array.from({ length: 5 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: Buffer.from(`value-${i}`) })) });
  const before = await logEnd();
  await fc.assert(
    fc.asyncProperty(
      // Bytes from the batch length on: the length itself, the magic, the CRC and everything it covers.
      fc.integer({ min: 8, max: valid.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      fc.boolean(),
      async (pos, xor, truncate) => {
        if (pos >= 12 && pos < 16) pos = 16; // partitionLeaderEpoch is not covered by the CRC: skip it
        const bad = Buffer.from(valid);
        bad[pos] ^= xor;
        const records = truncate ? bad.subarray(0, Math.max(1, pos)) : bad;
        const out = await exchange(produceRequest(records), 1);
        expect(out.kind).toBe('response');
        const r = new Reader(out.frames[0]);
        readResponseHeader(r, 1);
        const res = readProduceResponse(r, 9);
        const code = res.responses[0].partitionResponses[0].errorCode;
        expect(code).not.toBe(0);
      },
    ),
    { numRuns: RUNS },
  );
  expect(await logEnd()).toBe(before);
  await bystanderWorks();
}, 120_000);

test('the broker is still alive and serving after the onslaught', async () => {
  expect(broker.exitStatus()).toBeNull();
  const r = await client.produce(TOPIC, 0, [{ key: null, value: Buffer.from('still here') }], { acks: 1 });
  expect(r.baseOffset).toBe(await logEnd() - 1n);
});
