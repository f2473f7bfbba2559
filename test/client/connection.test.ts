import * as net from 'node:net';
import { StrataError, isStrataError } from '../../core/common/errors';
import { KafkaConnection } from '../../core/client/connection';
import { ApiKey, API_MESSAGES } from '../../core/protocol/generated/index';
import { FakeBroker, FakeBrokerOptions } from './fakeBroker';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function broker(opts: FakeBrokerOptions = {}): Promise<FakeBroker> {
  const b = await FakeBroker.start(opts);
  open.push(b);
  return b;
}

async function connect(b: FakeBroker, extra: Partial<Parameters<typeof KafkaConnection.connect>[0]> = {}): Promise<KafkaConnection> {
  const c = await KafkaConnection.connect({ host: '127.0.0.1', port: b.port, ...extra });
  open.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<StrataError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StrataError);
  return e as StrataError;
}

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const metadataFor = (name: string) => ({ topics: [{ name, topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], allowAutoTopicCreation: false });

describe('KafkaConnection handshake', () => {
  it('sends ApiVersions v3 as strata-cli and picks min(broker max, our max) per API', async () => {
    let handshake: any;
    const b = await broker({
      versions: new Map([
        [ApiKey.ApiVersions, [0, 3]],
        [ApiKey.Metadata, [0, 5]],
        [ApiKey.Produce, [3, 99]],
      ]),
      hook: (h, req) => {
        if (h.apiKey === ApiKey.ApiVersions) handshake = { version: h.apiVersion, clientId: h.clientId, req };
        return undefined;
      },
    });
    const c = await connect(b, { clientId: 'my-client' });
    expect(handshake.version).toBe(3);
    expect(handshake.clientId).toBe('my-client');
    expect(handshake.req.clientSoftwareName).toBe('strata-cli');
    expect(c.version(ApiKey.Metadata)).toBe(5);
    expect(c.version(ApiKey.Produce)).toBe(API_MESSAGES.get(ApiKey.Produce)!.maxVersion);
    expect(c.supports(ApiKey.Fetch)).toBe(false);
    expect(c.apiVersions.get(ApiKey.Metadata)).toEqual({ minVersion: 0, maxVersion: 5 });
    const err = await rejection(c.send(ApiKey.Fetch, {}));
    expect(err.code).toBe('API_UNSUPPORTED');
    expect(err.message).toContain('supports no version of Fetch');
  });

  it('treats an API whose ranges do not overlap as unsupported', async () => {
    const b = await broker({ versions: new Map([[ApiKey.ApiVersions, [0, 3]], [ApiKey.Metadata, [40, 50]]]) });
    const c = await connect(b);
    expect(c.supports(ApiKey.Metadata)).toBe(false);
  });

  it('falls back to ApiVersions v0 when the broker answers UNSUPPORTED_VERSION', async () => {
    const b = await broker({ versions: new Map([[ApiKey.ApiVersions, [0, 2]], [ApiKey.Metadata, [0, 8]]]) });
    const c = await connect(b);
    expect(b.received.filter((h) => h.apiKey === ApiKey.ApiVersions).map((h) => h.apiVersion)).toEqual([3, 0]);
    expect(c.version(ApiKey.Metadata)).toBe(8);
  });

  it('explains a refused connection', async () => {
    const port = await freePort();
    const err = await rejection(KafkaConnection.connect({ host: '127.0.0.1', port }));
    expect(err.code).toBe('CONNECTION_FAILED');
    expect(err.message).toBe(`could not connect to 127.0.0.1:${port}: is the broker running? start it with \`npm start\``);
  });
});

describe('KafkaConnection requests', () => {
  it('pipelines: all requests are on the wire before the first answer, and each gets its own response', async () => {
    const N = 40;
    let b!: FakeBroker;
    b = await broker({
      writeChunkBytes: 3, // responses arrive in 3-byte pieces: exercises reassembly
      hook: async (h, req) => {
        if (h.apiKey !== ApiKey.Metadata) return undefined;
        if (req.topics[0].name === 't0') await b.waitForFrames(N + 1); // +1: the ApiVersions request
        return { response: { brokers: [], clusterId: null, controllerId: -1, topics: [{ errorCode: 0, name: req.topics[0].name, partitions: [] }] } };
      },
    });
    const c = await connect(b);
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => c.send(ApiKey.Metadata, metadataFor(`t${i}`))));
    expect(responses.map((r) => r.topics[0].name)).toEqual(Array.from({ length: N }, (_, i) => `t${i}`));
    expect(c.inFlight).toBe(0);
  });

  it('times out one request without disturbing the ones after it, dropping its late answer', async () => {
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    const b = await broker({
      hook: async (h, req) => {
        if (h.apiKey === ApiKey.Metadata && req.topics[0].name === 'slow') await slowGate;
        return undefined;
      },
    });
    b.createTopic('slow', 1);
    b.createTopic('fast', 2);
    const c = await connect(b);
    const slow = c.send(ApiKey.Metadata, metadataFor('slow'), { timeoutMs: 50 });
    const fast = c.send(ApiKey.Metadata, metadataFor('fast'));
    const err = await rejection(slow);
    expect(err.code).toBe('REQUEST_TIMED_OUT');
    expect(err.message).toMatch(/^Metadata request to 127\.0\.0\.1:\d+ got no response within 50 ms$/);
    releaseSlow(); // the late answer arrives now, then the fast one
    const res = await fast;
    expect(res.topics[0].name).toBe('fast');
    expect(res.topics[0].partitions).toHaveLength(2);
    expect((await c.send(ApiKey.Metadata, metadataFor('slow'))).topics[0].name).toBe('slow');
  });

  it('never waits for an acks=0 produce, and keeps correlation ids straight after it', async () => {
    const b = await broker();
    b.createTopic('t', 1);
    const c = await connect(b);
    const batch = (await import('../../core/client/records')).encodeRecordBatch([{ value: 'v' }], 'none');
    const produce = { acks: 0, timeoutMs: 1000, transactionalId: null, topicData: [{ name: 't', partitionData: [{ index: 0, records: batch }] }] };
    await expect(c.send(ApiKey.Produce, produce)).resolves.toBeUndefined();
    const res = await c.send(ApiKey.Metadata, metadataFor('t'));
    expect(res.topics[0].name).toBe('t');
    expect(b.topics.get('t')!.partitions[0].nextOffset).toBe(1n);
  });

  it('rejects in-flight requests when the broker closes the connection', async () => {
    const b = await broker({ hook: (h) => (h.apiKey === ApiKey.Metadata ? { close: true } : undefined) });
    const c = await connect(b);
    const closed = new Promise<StrataError>((r) => c.onClose(r));
    const err = await rejection(c.send(ApiKey.Metadata, metadataFor('x')));
    expect(err.code).toBe('CONNECTION_FAILED');
    expect(err.message).toContain(`connection to 127.0.0.1:${b.port} closed`);
    expect((await closed).code).toBe('CONNECTION_FAILED');
    expect(c.closed).toBe(true);
    expect((await rejection(c.send(ApiKey.Metadata, metadataFor('x')))).code).toBe('CONNECTION_FAILED');
  });

  it('close() rejects what is in flight with CLOSED', async () => {
    const b = await broker({ hook: (h) => (h.apiKey === ApiKey.Metadata ? { drop: true } : undefined) });
    const c = await connect(b);
    const pending = c.send(ApiKey.Metadata, metadataFor('x'));
    await b.waitForFrames(2);
    c.close();
    expect((await rejection(pending)).code).toBe('CLOSED');
  });

  it('fails one request whose body does not decode, and stays usable', async () => {
    const b = await broker({
      hook: (h, req) => {
        if (h.apiKey !== ApiKey.Metadata || req.topics[0].name !== 'bad') return undefined;
        const raw = Buffer.alloc(7);
        raw.writeInt32BE(h.correlationId, 0); // header ok, then a truncated body
        return { rawFrame: raw };
      },
    });
    b.createTopic('good', 1);
    const c = await connect(b);
    const err = await rejection(c.send(ApiKey.Metadata, metadataFor('bad')));
    expect(err.code).toBe('PROTOCOL_MALFORMED');
    expect(err.message).toContain('could not decode the Metadata');
    expect((await c.send(ApiKey.Metadata, metadataFor('good'))).topics[0].name).toBe('good');
  });

  it('closes the connection on an answer to a correlation id nobody asked for', async () => {
    const b = await broker({
      hook: (h) => {
        if (h.apiKey !== ApiKey.Metadata) return undefined;
        const raw = Buffer.alloc(4);
        raw.writeInt32BE(h.correlationId + 1000, 0);
        return { rawFrame: raw };
      },
    });
    const c = await connect(b);
    const err = await rejection(c.send(ApiKey.Metadata, metadataFor('x')));
    expect(err.code).toBe('PROTOCOL_MALFORMED');
    expect(err.message).toContain('which no request in flight has');
    expect(c.closed).toBe(true);
  });

  it('refuses a response frame larger than maxFrameBytes without allocating it', async () => {
    // A raw server that answers anything with a size prefix of 2 GiB - 1.
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 0])));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const port = (server.address() as net.AddressInfo).port;
    const err = await rejection(KafkaConnection.connect({ host: '127.0.0.1', port, maxFrameBytes: 1024 }));
    expect(isStrataError(err, 'PROTOCOL_MALFORMED')).toBe(true);
    expect(err.message).toBe('frame size 2147483647 is outside 0..1024');
  });

  it('times out a connect whose handshake never completes', async () => {
    const server = net.createServer((s) => s.on('error', () => undefined).resume()); // reads, never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push({
      close: () =>
        new Promise<void>((r) => {
          server.close(() => r());
        }),
    });
    const port = (server.address() as net.AddressInfo).port;
    const err = await rejection(KafkaConnection.connect({ host: '127.0.0.1', port, connectTimeoutMs: 100 }));
    expect(err.code).toBe('CONNECTION_FAILED');
    expect(err.message).toBe(`could not connect to 127.0.0.1:${port}: no answer to the ApiVersions handshake within 100 ms (is this a Kafka broker's port?)`);
  });
});
