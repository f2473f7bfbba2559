/**
 * KafkaServer on loopback with a stand-in handler that echoes each frame: what happens to
 * connections the broker must not serve (over max.connections / max.connections.per.ip, HTTP
 * and TLS clients), what a listener that cannot bind says, and that these warnings are
 * rate-limited.
 */
import * as net from 'node:net';
import { createLogger } from '../../core/common/logger';
import { isStrataError } from '../../core/common/errors';
import { KafkaServer, listenErrorMessage, recognizeForeignProtocol, type FrameHandler, type ServerOptions } from '../../core/broker/server';
import { waitFor } from '../helpers/waitFor';

let lines: string[] = [];
const logger = createLogger('test', (l) => lines.push(l));
const servers: KafkaServer[] = [];
const sockets: net.Socket[] = [];

beforeEach(() => {
  lines = [];
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Answers each request frame with the same bytes, size prefix included. */
const echo: FrameHandler = {
  handle(frame) {
    const size = Buffer.alloc(4);
    size.writeInt32BE(frame.length);
    return [size, frame];
  },
};

async function start(opts: Partial<ServerOptions> = {}, handler: FrameHandler = echo): Promise<{ server: KafkaServer; port: number }> {
  const server = new KafkaServer({ host: '127.0.0.1', port: 0, maxRequestBytes: 1024 * 1024, idleTimeoutMs: 60_000, logger, ...opts }, handler);
  servers.push(server);
  const { port } = await server.listen();
  return { server, port };
}

interface Client {
  socket: net.Socket;
  closed: Promise<void>;
  received(): Buffer;
}

async function connect(port: number, localAddress = '127.0.0.1'): Promise<Client> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  sockets.push(socket);
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, closed, received: () => Buffer.concat(chunks) };
}

/** Sends one small frame and waits for the echo: the connection is being served. */
async function served(c: Client): Promise<boolean> {
  const frame = Buffer.from([0, 0, 0, 3, 1, 2, 3]);
  c.socket.write(frame);
  let closed = false;
  void c.closed.then(() => (closed = true));
  await waitFor(() => closed || c.received().length >= frame.length, { timeoutMs: 5000, message: 'an echo or a close' });
  return c.received().equals(frame);
}

const warnings = (): string[] => lines.filter((l) => l.includes(' WARN '));

describe('non-Kafka clients', () => {
  test('an HTTP request is named as such in one line (not "request size 1195725856 is outside ...") and closed', async () => {
    const { port } = await start();
    const c = await connect(port);
    c.socket.write('GET /metrics HTTP/1.1\r\nHost: broker\r\n\r\n');
    await c.closed;
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatch(
      new RegExp(
        `closing connection 127\\.0\\.0\\.1:\\d+: it sent an HTTP request \\("GET /metrics HTTP/1\\.1"\\): this is a Kafka listener \\(PLAINTEXT://127\\.0\\.0\\.1:${port}\\), which speaks only the Kafka protocol`,
      ),
    );
    expect(lines.join('\n')).not.toMatch(/request size/);
  });

  test('a TLS ClientHello is named as a TLS handshake on a PLAINTEXT listener', async () => {
    const { port } = await start({ listenerName: 'INTERNAL' });
    const c = await connect(port);
    // A TLS 1.2 record header (handshake, version 3.1, length 512) then a ClientHello's start.
    c.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    await c.closed;
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatch(
      /it started a TLS handshake: this listener \(INTERNAL:\/\/127\.0\.0\.1:\d+\) does not speak TLS; configure the client with this listener's security\.protocol, or point it at the broker's SSL or SASL_SSL listener/,
    );
  });

  test('other oversized frames keep the socket.request.max.bytes message; HTTP-looking bytes after a frame are not taken for HTTP', async () => {
    const { port } = await start();
    const c = await connect(port);
    expect(await served(c)).toBe(true);
    c.socket.write('GET / HTTP/1.1\r\n\r\n');
    await c.closed;
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatch(/request size 1195725856 is outside 0\.\.1048576 \(socket\.request\.max\.bytes\)/);
  });

  test('recognizeForeignProtocol: HTTP methods, HTTP/2 preface, TLS; not Kafka frames', () => {
    for (const m of ['GET ', 'POST', 'PUT ', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'PRI * HTTP/2.0']) {
      expect(recognizeForeignProtocol(Buffer.from(`${m} /x HTTP/1.1\r\n`))?.kind).toBe('http');
    }
    expect(recognizeForeignProtocol(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x10]))?.kind).toBe('tls');
    expect(recognizeForeignProtocol(Buffer.from([0x00, 0x00, 0x00, 0x20, 0x00, 0x12]))).toBeNull();
    expect(recognizeForeignProtocol(Buffer.from('GE'))).toBeNull();
  });

  test('a flood of them is one line per interval, with a count', async () => {
    const { port } = await start({ warnIntervalMs: 1500 });
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(port)));
    for (const c of clients) c.socket.write('POST /x HTTP/1.1\r\n\r\n');
    await Promise.all(clients.map((c) => c.closed));
    await waitFor(() => warnings().length === 2, { timeoutMs: 5000, message: 'the summary line' });
    expect(warnings()[0]).toMatch(/it sent an HTTP request \("POST \/x HTTP\/1\.1"\)/);
    expect(warnings()[1]).toMatch(/it sent an HTTP request .* \(19 times in the last \d+ s\)$/);
  });
});

describe('connection limits', () => {
  test('max.connections: a connection beyond it is closed at once with a log line; a freed slot is usable again', async () => {
    const { server, port } = await start({ maxConnections: 2 });
    const a = await connect(port);
    const b = await connect(port);
    expect(await served(a)).toBe(true);
    expect(await served(b)).toBe(true);
    const c = await connect(port);
    await c.closed;
    expect(c.received().length).toBe(0);
    expect(warnings()).toEqual([
      expect.stringMatching(
        new RegExp(`refused a connection from 127\\.0\\.0\\.1 on PLAINTEXT://127\\.0\\.0\\.1:${port}: the broker already has 2 connections \\(max\\.connections=2\\)`),
      ),
    ]);
    a.socket.destroy();
    await waitFor(() => server.connectionCount === 1);
    expect(await served(await connect(port))).toBe(true);
  });

  test('max.connections.per.ip with overrides', async () => {
    const { port } = await start({ maxConnectionsPerIp: 1, maxConnectionsPerIpOverrides: { '127.0.0.2': 2 } });
    expect(await served(await connect(port, '127.0.0.1'))).toBe(true);
    const refused = await connect(port, '127.0.0.1');
    await refused.closed;
    expect(await served(await connect(port, '127.0.0.2'))).toBe(true);
    expect(await served(await connect(port, '127.0.0.2'))).toBe(true);
    const third = await connect(port, '127.0.0.2');
    await third.closed;
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatch(/refused a connection from 127\.0\.0\.1 on .*: that address already has the configured maximum of 1 connections \(max\.connections\.per\.ip=1\)/);
    // The second refusal (other address, same kind) is held back and counted.
  });

  test('override keys may be host names, resolved when the listener starts', async () => {
    const { port } = await start({ maxConnectionsPerIp: 0, maxConnectionsPerIpOverrides: { localhost: 1 } });
    expect(await served(await connect(port))).toBe(true);
    const refused = await connect(port);
    await refused.closed;
    expect(warnings()[0]).toMatch(/max\.connections\.per\.ip\.overrides for 127\.0\.0\.1=1/);
  });
});

describe('a listener that cannot bind', () => {
  test('EADDRINUSE names the listener and address, the other process, and --listeners', async () => {
    const { port } = await start();
    const clash = new KafkaServer({ host: '127.0.0.1', port, maxRequestBytes: 1024, idleTimeoutMs: 1000, logger }, echo);
    const e = await clash.listen().then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(isStrataError(e, 'CONFIG_INVALID')).toBe(true);
    expect(e!.message).toBe(
      `Cannot listen on PLAINTEXT://127.0.0.1:${port} (listener PLAINTEXT): the address is already in use (EADDRINUSE): another process holds port ${port} ` +
        `(another broker? \`ss -ltnp 'sport = :${port}'\` names it). Stop it, or pick another port with --listeners PLAINTEXT://127.0.0.1:PORT ` +
        '(listeners= in a properties file; port 0 picks a free one).',
    );
  });

  test('EADDRNOTAVAIL: the host is not an address of this machine', async () => {
    const s = new KafkaServer({ host: '192.0.2.1', port: 0, maxRequestBytes: 1024, idleTimeoutMs: 1000, logger }, echo);
    await expect(s.listen()).rejects.toThrow(/Cannot listen on PLAINTEXT:\/\/192\.0\.2\.1:0 \(listener PLAINTEXT\): 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\)/);
  });

  test('EACCES: a privileged port, and what to do', () => {
    const e = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), { code: 'EACCES' });
    expect(listenErrorMessage(e, 'PLAINTEXT', '', 80)).toBe(
      'Cannot listen on PLAINTEXT://:80 (listener PLAINTEXT): permission denied (EACCES): ports below 1024 are privileged. ' +
        'Use a port of 1024 or above: pick another port with --listeners PLAINTEXT://:PORT (listeners= in a properties file; port 0 picks a free one); ' +
        'or let the broker bind it (AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit, or setcap cap_net_bind_service=+ep on the node binary).',
    );
    expect(listenErrorMessage(Object.assign(new Error('x'), { code: 'EADDRINUSE' }), 'EXTERNAL', '::1', 9094)).toMatch(
      /^Cannot listen on EXTERNAL:\/\/\[::1\]:9094 \(listener EXTERNAL\).*--listeners EXTERNAL:\/\/\[::1\]:PORT/,
    );
  });
});

describe('request order', () => {
  /**
   * A stand-in handler: frames are [int16 api key][int8 tag]. Produce frames (api key 0) answer
   * when the test releases them; others answer at once. Records the order handlers ran in.
   */
  function gated(): { handler: FrameHandler; handled: number[]; release(tag: number): void; open(): number[] } {
    const handled: number[] = [];
    const gates = new Map<number, () => void>();
    const handler: FrameHandler = {
      handle(frame) {
        const api = frame.readInt16BE(0);
        const tag = frame[2];
        handled.push(tag);
        const answer = [Buffer.from([0, 0, 0, 1]), Buffer.from([tag])];
        if (api !== 0) return answer;
        return new Promise((resolve) => gates.set(tag, () => resolve(answer)));
      },
    };
    return { handler, handled, release: (tag) => gates.get(tag)!(), open: () => [...gates.keys()] };
  }
  const frame = (api: number, tag: number) => Buffer.from([0, 0, 0, 3, 0, api, tag]);
  const answers = (c: Client) => [...c.received()].filter((_, i) => i % 5 === 4);

  test('Produce requests of one connection are handled while earlier ones wait; answers go out in request order', async () => {
    const g = gated();
    const { port } = await start({}, g.handler);
    const c = await connect(port);
    c.socket.write(Buffer.concat([frame(0, 1), frame(0, 2), frame(0, 3)]));
    // All three appended (handled) while none has answered.
    await waitFor(() => g.handled.length === 3, { timeoutMs: 5000, message: `three produces handled (${g.handled.join(',')})` });
    expect(g.handled).toEqual([1, 2, 3]);
    g.release(3);
    g.release(2);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(c.received().length).toBe(0); // 2 and 3 are ready, 1 is not: nothing may go out yet
    g.release(1);
    await waitFor(() => c.received().length === 15, { timeoutMs: 5000, message: 'three answers' });
    expect(answers(c)).toEqual([1, 2, 3]);
  });

  test('any other request waits until every Produce before it is answered; at most 5 Produce answers are outstanding', async () => {
    const g = gated();
    const { port } = await start({}, g.handler);
    const c = await connect(port);
    c.socket.write(Buffer.concat([frame(0, 1), frame(3, 2)]));
    await waitFor(() => g.handled.length === 1, { timeoutMs: 5000, message: 'the produce handled' });
    await new Promise<void>((resolve) => setTimeout(resolve, 50)); // the metadata request must not overtake it
    expect(g.handled).toEqual([1]);
    g.release(1);
    await waitFor(() => c.received().length === 10, { timeoutMs: 5000, message: 'both answers' });
    expect(answers(c)).toEqual([1, 2]);

    c.socket.write(Buffer.concat([10, 11, 12, 13, 14, 15, 16].map((t) => frame(0, t))));
    await waitFor(() => g.handled.length === 7, { timeoutMs: 5000, message: 'five produces handled' });
    await new Promise<void>((resolve) => setTimeout(resolve, 50));
    expect(g.handled.slice(2)).toEqual([10, 11, 12, 13, 14]); // the sixth waits for a slot
    g.release(10);
    await waitFor(() => g.handled.length === 8, { timeoutMs: 5000, message: 'the sixth produce handled once a slot freed' });
    for (const t of [11, 12, 13, 14, 15]) g.release(t);
    await waitFor(() => g.handled.length === 9, { timeoutMs: 5000, message: 'the seventh produce handled' });
    g.release(16);
    await waitFor(() => c.received().length === 10 + 35, { timeoutMs: 5000, message: 'seven answers' });
    expect(answers(c)).toEqual([1, 2, 10, 11, 12, 13, 14, 15, 16]);
  });
});

describe('throttling (quotas)', () => {
  test('a throttled connection answers the request at once, then reads nothing more until the throttle time has passed', async () => {
    const handledAt: number[] = [];
    const seen: { listenerName: string; securityProtocol: string; principal: string; remoteIp: string }[] = [];
    const handler: FrameHandler = {
      handle(frame, conn) {
        handledAt.push(Date.now());
        seen.push({ listenerName: conn.listenerName, securityProtocol: conn.securityProtocol, principal: `${conn.principal.principalType}:${conn.principal.name}`, remoteIp: conn.remoteIp });
        if (frame[0] === 1) conn.throttle(300);
        const size = Buffer.alloc(4);
        size.writeInt32BE(frame.length);
        return [size, frame];
      },
    };
    const { port } = await start({ listenerName: 'INTERNAL' }, handler);
    const c = await connect(port);
    const sentAt = Date.now();
    // The first request asks for a throttle; the second is already on the wire behind it.
    c.socket.write(Buffer.from([0, 0, 0, 1, 1, 0, 0, 0, 1, 2]));
    await waitFor(() => c.received().length >= 5, { timeoutMs: 5000, message: 'the first answer' });
    expect(handledAt).toHaveLength(1);
    await waitFor(() => c.received().length === 10, { timeoutMs: 5000, message: 'the second answer' });
    expect(handledAt[1] - sentAt).toBeGreaterThanOrEqual(290);
    expect(seen[0]).toEqual({ listenerName: 'INTERNAL', securityProtocol: 'PLAINTEXT', principal: 'User:ANONYMOUS', remoteIp: '127.0.0.1' });
  });

  test('a connection closed while throttled is let go', async () => {
    const handler: FrameHandler = {
      handle(_frame, conn) {
        conn.throttle(60_000);
        return [Buffer.from([0, 0, 0, 1]), Buffer.from([9])];
      },
    };
    const { server, port } = await start({}, handler);
    const c = await connect(port);
    c.socket.write(Buffer.from([0, 0, 0, 1, 1, 0, 0, 0, 1, 2]));
    await waitFor(() => c.received().length >= 5, { timeoutMs: 5000, message: 'the first answer' });
    c.socket.destroy();
    await waitFor(() => server.connectionCount === 0, { timeoutMs: 5000, message: 'the connection gone' });
  });
});
