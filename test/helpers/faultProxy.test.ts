/**
 * The fault proxy on real sockets: a Kafka-framed echo server of our own as the broker (every
 * request frame is answered by a frame carrying its correlation id, the server's name and the
 * request frame's exact bytes), then a real Strata broker with kafkajs through the proxy.
 */
import * as net from 'net';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { FrameSplitter, seededRng, startFaultProxy, type FaultProxy } from './faultProxy';
import { startBroker, stopAllBrokers } from './broker';
import { kcatAvailable, kcatConsumeRecords } from './kcat';
import { waitFor } from './waitFor';

const PRODUCE = 0;
const METADATA = 3;

// ---- a Kafka-framed echo server -------------------------------------------------------------------

interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** Every request frame received (size prefix included), in arrival order. */
  readonly received: Buffer[];
  /** Sockets open on the server side now. */
  openSockets(): number;
  /** While holding, responses queue until release(). */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

/** Response frame: int32 size, int32 correlation id, int16 name length, name, the request frame. */
function echoResponse(name: string, request: Buffer): Buffer {
  const tag = Buffer.from(name);
  const body = Buffer.alloc(4 + 2 + tag.length);
  body.writeInt32BE(request.readInt32BE(8), 0);
  body.writeInt16BE(tag.length, 4);
  tag.copy(body, 6);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length + request.length);
  return Buffer.concat([size, body, request]);
}

function parseResponse(frame: Buffer): { correlationId: number; server: string; request: Buffer } {
  const n = frame.readInt16BE(8);
  return { correlationId: frame.readInt32BE(4), server: frame.subarray(10, 10 + n).toString(), request: frame.subarray(10 + n) };
}

async function startEchoServer(name: string): Promise<EchoServer> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  let holding = false;
  const held: Array<[net.Socket, Buffer]> = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const splitter = new FrameSplitter();
    socket.on('data', (chunk: Buffer) => {
      // All the responses to one chunk go out in one write: several frames in one chunk.
      const out: Buffer[] = [];
      for (const frame of splitter.push(chunk)) {
        received.push(Buffer.from(frame));
        out.push(echoResponse(name, frame));
      }
      if (out.length === 0) return;
      if (holding) held.push([socket, Buffer.concat(out)]);
      else socket.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as net.AddressInfo).port,
    received,
    openSockets: () => sockets.size,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const [s, bytes] of held.splice(0)) if (!s.destroyed) s.write(bytes);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- a raw Kafka-framed client ---------------------------------------------------------------------

let nextCorrelationId = 1;

/** A request frame: api key, version 0, a fresh correlation id, then `body`. */
function request(apiKey: number, body: Buffer | string = ''): Buffer {
  const payload = Buffer.from(body);
  const frame = Buffer.alloc(4 + 8 + payload.length);
  frame.writeInt32BE(8 + payload.length, 0);
  frame.writeInt16BE(apiKey, 4);
  frame.writeInt16BE(0, 6);
  frame.writeInt32BE(nextCorrelationId++, 8);
  payload.copy(frame, 12);
  return frame;
}

interface RawClient {
  readonly socket: net.Socket;
  /** Response frames received so far. */
  readonly responses: Buffer[];
  /** Every byte received, in order. */
  bytes(): Buffer;
  closed(): boolean;
  whenClosed: Promise<void>;
}

async function connectRaw(port: number): Promise<RawClient> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const responses: Buffer[] = [];
  const chunks: Buffer[] = [];
  const splitter = new FrameSplitter();
  let isClosed = false;
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    responses.push(...splitter.push(chunk));
  });
  const whenClosed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  clients.add(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, responses, bytes: () => Buffer.concat(chunks), closed: () => isClosed, whenClosed };
}

/** Send frames and wait for as many responses as were sent. */
async function roundTrip(c: RawClient, ...frames: Buffer[]): Promise<Buffer[]> {
  const before = c.responses.length;
  c.socket.write(Buffer.concat(frames));
  await waitFor(() => c.responses.length >= before + frames.length, { timeoutMs: 5000, message: `${frames.length} response(s)` });
  return c.responses.slice(before);
}

const clients = new Set<net.Socket>();
const proxies: FaultProxy[] = [];
const servers: EchoServer[] = [];

async function proxyTo(server: EchoServer | null, opts: Parameters<typeof startFaultProxy>[0] = {}): Promise<FaultProxy> {
  const proxy = await startFaultProxy(opts);
  proxies.push(proxy);
  if (server) proxy.setTarget('127.0.0.1', server.port);
  return proxy;
}

async function echo(name = 'echo'): Promise<EchoServer> {
  const s = await startEchoServer(name);
  servers.push(s);
  return s;
}

afterEach(async () => {
  for (const s of clients) s.destroy();
  clients.clear();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

// ---- tests ------------------------------------------------------------------------------------------

describe('FrameSplitter', () => {
  it('yields whole frames however the bytes are chunked', () => {
    const frames = [request(METADATA, 'a'), request(PRODUCE, 'x'.repeat(300)), request(1), request(PRODUCE, 'tail')];
    const stream = Buffer.concat(frames);
    for (const chunkSize of [1, 2, 3, 5, 13, 64, stream.length]) {
      const s = new FrameSplitter();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += chunkSize) out.push(...s.push(stream.subarray(i, i + chunkSize)));
      expect(out).toEqual(frames);
      expect(s.buffered).toBe(0);
    }
  });

  it('rejects negative and oversized frame sizes', () => {
    expect(() => new FrameSplitter(100).push(Buffer.from([0, 0, 0, 101]))).toThrow(/frame size 101/);
    expect(() => new FrameSplitter().push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/frame size -1/);
  });
});

describe('seededRng', () => {
  it('repeats its sequence for a seed and stays within [0, 1)', () => {
    const a = seededRng(42);
    const b = seededRng(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
  });
});

describe('forwarding', () => {
  it('passes frames unchanged both ways: several in one chunk, and split across chunks', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    const c = await connectRaw(proxy.port);

    // Three frames in one write; the three responses come back in one write too.
    const three = [request(METADATA, 'one'), request(PRODUCE, 'two'), request(18)];
    const r1 = await roundTrip(c, ...three);
    expect(server.received).toEqual(three);
    expect(r1.map(parseResponse)).toEqual(three.map((f) => ({ correlationId: f.readInt32BE(8), server: 'echo', request: f })));

    // A 3 MiB frame (many TCP reads each way), written in pieces that split the size prefix
    // and the header, and followed in the last piece by the start of the next frame.
    const big = request(PRODUCE, Buffer.alloc(3 * 1024 * 1024, 7));
    const next = request(METADATA, 'after');
    const pieces = [big.subarray(0, 2), big.subarray(2, 7), big.subarray(7, 100_000), big.subarray(100_000), next.subarray(0, 3), next.subarray(3)];
    for (const piece of pieces) {
      c.socket.write(piece);
      // Give each piece its own trip through the proxy (chunking only: nothing is asserted on time).
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitFor(() => c.responses.length === 5, { timeoutMs: 10_000, message: 'the responses to the big frame and the next' });
    expect(server.received[3]!.equals(big)).toBe(true);
    expect(server.received[4]!.equals(next)).toBe(true);
    expect(parseResponse(c.responses[3]!).request.equals(big)).toBe(true);
    // Byte for byte, the client got exactly what the server sent.
    expect(c.bytes().equals(Buffer.concat([...three, big, next].map((f) => echoResponse('echo', f))))).toBe(true);

    expect(proxy.stats()).toMatchObject({ connections: 1, openConnections: 1, requests: { [METADATA]: 2, [PRODUCE]: 2, 18: 1 }, droppedResponses: 0, cutConnections: 0, heldBytes: 0 });
  });

  it('waits for a target, and closes connections that get none in time', async () => {
    const server = await echo();
    const proxy = await proxyTo(null, { targetWaitMs: 30_000 });
    const c = await connectRaw(proxy.port);
    const frame = request(METADATA, 'early');
    c.socket.write(frame);
    await waitFor(() => proxy.stats().heldBytes === frame.length, { message: 'the request held for want of a target' });
    proxy.setTarget('127.0.0.1', server.port);
    await waitFor(() => c.responses.length === 1);
    expect(server.received).toEqual([frame]);

    const impatient = await proxyTo(null, { targetWaitMs: 100 });
    const d = await connectRaw(impatient.port);
    await d.whenClosed;
    expect(impatient.stats().openConnections).toBe(0);
  });

  it('setTarget sends new connections to the new target; open ones stay', async () => {
    const a = await echo('A');
    const b = await echo('B');
    const proxy = await proxyTo(a);
    const first = await connectRaw(proxy.port);
    expect(parseResponse((await roundTrip(first, request(METADATA)))[0]!).server).toBe('A');
    proxy.setTarget('127.0.0.1', b.port);
    const second = await connectRaw(proxy.port);
    expect(parseResponse((await roundTrip(second, request(METADATA)))[0]!).server).toBe('B');
    expect(parseResponse((await roundTrip(first, request(METADATA)))[0]!).server).toBe('A');

    // No target: new connections wait until there is one again.
    proxy.clearTarget();
    const third = await connectRaw(proxy.port);
    third.socket.write(request(METADATA));
    await waitFor(() => proxy.stats().heldBytes > 0);
    proxy.setTarget('127.0.0.1', a.port);
    await waitFor(() => third.responses.length === 1);
    expect(parseResponse(third.responses[0]!).server).toBe('A');
  });

  it('a broker that closes, or cannot be reached, closes the client connection', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    const c = await connectRaw(proxy.port);
    await roundTrip(c, request(METADATA));
    await server.close(); // destroys its sockets
    await c.whenClosed;

    // Nothing listens on the target any more: connections are refused, then closed.
    const d = await connectRaw(proxy.port);
    d.socket.write(request(METADATA));
    await d.whenClosed;
    expect(d.responses).toHaveLength(0);
    await waitFor(() => proxy.stats().openConnections === 0);
  });

  it('closes a connection whose frame is larger than maxFrameBytes', async () => {
    const server = await echo();
    const proxy = await proxyTo(server, { maxFrameBytes: 1024 });
    const c = await connectRaw(proxy.port);
    await roundTrip(c, request(METADATA, 'x'.repeat(1000)));
    c.socket.write(request(PRODUCE, 'x'.repeat(2000)).subarray(0, 100));
    await c.whenClosed;
    expect(server.received).toHaveLength(1);
    await waitFor(() => server.openSockets() === 0, { message: 'the broker side closed too' });
  });
});

describe('faults', () => {
  it('dropResponses drops exactly the produce response, closes that connection, and later connections work', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    proxy.dropResponses({ apiKey: PRODUCE, count: 1 });
    const c = await connectRaw(proxy.port);
    const first = request(METADATA);
    expect(await roundTrip(c, first)).toHaveLength(1);

    // A metadata request and a produce request in one write: the server answers both in one
    // write; the client gets the metadata response, then the connection closes.
    const meta = request(METADATA, 'before');
    const produce = request(PRODUCE, 'record');
    c.socket.write(Buffer.concat([meta, produce]));
    await c.whenClosed;
    // The broker did process the produce request: only its answer was lost.
    expect(server.received.slice(1)).toEqual([meta, produce]);
    expect(c.responses.map((r) => parseResponse(r).correlationId)).toEqual([first.readInt32BE(8), meta.readInt32BE(8)]);
    await waitFor(() => server.openSockets() === 0, { message: 'the broker side of the dropped connection closed' });
    expect(proxy.stats()).toMatchObject({ droppedResponses: 1, cutConnections: 1, openConnections: 0, requests: { [PRODUCE]: 1, [METADATA]: 2 } });

    // count: 1 is spent: the next produce response passes.
    const d = await connectRaw(proxy.port);
    const again = request(PRODUCE, 'record');
    expect(parseResponse((await roundTrip(d, again))[0]!).request).toEqual(again);
    expect(proxy.stats().droppedResponses).toBe(1);
  });

  it('dropResponses with a probability follows its rng until clearFaults', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    const draws = [0.9, 0.2, 0.1];
    proxy.dropResponses({ apiKey: PRODUCE, probability: 0.5, rng: () => draws.shift() ?? 0 });
    const c = await connectRaw(proxy.port);
    expect(await roundTrip(c, request(PRODUCE))).toHaveLength(1); // draw 0.9: kept
    c.socket.write(request(PRODUCE)); // draw 0.2: dropped
    await c.whenClosed;
    proxy.clearFaults();
    const d = await connectRaw(proxy.port);
    expect(await roundTrip(d, request(PRODUCE), request(PRODUCE))).toHaveLength(2);
    expect(draws).toEqual([0.1]);
    expect(proxy.stats().droppedResponses).toBe(1);
  });

  it('pause holds bytes in both directions; resume releases them', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    const c = await connectRaw(proxy.port);
    await roundTrip(c, request(METADATA));

    // Client → broker held.
    proxy.pause();
    const held = request(PRODUCE, 'held');
    c.socket.write(held);
    await waitFor(() => proxy.stats().heldBytes === held.length, { message: 'the proxy to hold the request' });
    expect(server.received).toHaveLength(1);
    proxy.resume();
    await waitFor(() => c.responses.length === 2);
    expect(server.received[1]).toEqual(held);

    // Broker → client held: the server has answered, the client hears nothing until resume.
    server.hold();
    const second = request(METADATA, 'second');
    c.socket.write(second);
    await waitFor(() => server.received.length === 3);
    proxy.pause();
    server.release();
    const response = echoResponse('echo', second);
    await waitFor(() => proxy.stats().heldBytes === response.length, { message: 'the proxy to hold the response' });
    expect(c.responses).toHaveLength(2);
    expect(c.closed()).toBe(false);
    proxy.resume();
    await waitFor(() => c.responses.length === 3);
    expect(c.responses[2]).toEqual(response);
    expect(proxy.stats().heldBytes).toBe(0);
  });

  it('cutAll closes every connection, both sides; new ones work', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    const cs = await Promise.all([connectRaw(proxy.port), connectRaw(proxy.port), connectRaw(proxy.port)]);
    for (const c of cs) await roundTrip(c, request(METADATA));
    expect(server.openSockets()).toBe(3);
    expect(proxy.cutAll()).toBe(3);
    await Promise.all(cs.map((c) => c.whenClosed));
    await waitFor(() => server.openSockets() === 0);
    expect(proxy.stats()).toMatchObject({ connections: 3, openConnections: 0, cutConnections: 3 });
    const d = await connectRaw(proxy.port);
    expect(await roundTrip(d, request(METADATA))).toHaveLength(1);
  });

  it('close closes the listener and every connection, waiting or forwarding', async () => {
    const server = await echo();
    const proxy = await proxyTo(server);
    const waiting = await proxyTo(null);
    const c = await connectRaw(proxy.port);
    await roundTrip(c, request(METADATA));
    proxy.pause();
    c.socket.write(request(PRODUCE));
    const w = await connectRaw(waiting.port);
    await Promise.all([proxy.close(), waiting.close()]);
    await Promise.all([c.whenClosed, w.whenClosed]);
    await waitFor(() => server.openSockets() === 0);
    expect(proxy.stats().openConnections).toBe(0);
    await expect(connectRaw(proxy.port)).rejects.toThrow(/ECONNREFUSED/);
    // Idempotent.
    await proxy.close();
  });
});

describe('a real broker through the proxy', () => {
  afterAll(async () => {
    await stopAllBrokers();
  }, 60_000);

  it('kafkajs produces via the advertised proxy address, and retries a produce whose response was lost', async () => {
    await kcatAvailable();
    const lines: string[] = [];
    const proxy = await proxyTo(null, { log: (l) => lines.push(l) });
    const broker = await startBroker({ overrides: { 'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxy.port}` } });
    proxy.setTarget('127.0.0.1', broker.port);

    const kafka = new Kafka({ clientId: 'fault-proxy-test', brokers: [proxy.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'via-proxy', numPartitions: 1 }] });
      await producer.connect();
      await producer.send({ topic: 'via-proxy', acks: -1, messages: [{ value: 'first' }] });
      // Produce went to the advertised address, i.e. through the proxy.
      expect(proxy.stats().requests[PRODUCE]).toBe(1);
      expect((await kcatConsumeRecords(proxy.bootstrap, 'via-proxy')).map((r) => r.value)).toEqual(['first']);

      proxy.dropResponses({ apiKey: PRODUCE, count: 1 });
      await producer.send({ topic: 'via-proxy', acks: -1, messages: [{ value: 'second' }] });
      const stats = proxy.stats();
      expect(stats.droppedResponses).toBe(1);
      expect(stats.requests[PRODUCE]).toBeGreaterThanOrEqual(3); // first, the lost one, the retry
      const values = (await kcatConsumeRecords(proxy.bootstrap, 'via-proxy')).map((r) => r.value);
      // Without idempotence the retry may well have written 'second' twice.
      expect(values[0]).toBe('first');
      expect(values.slice(1).length).toBeGreaterThanOrEqual(1);
      expect(values.slice(1).every((v) => v === 'second')).toBe(true);
      expect(lines.some((l) => /dropped the response to api key 0/.test(l))).toBe(true);
    } finally {
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  });
});
