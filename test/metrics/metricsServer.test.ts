import * as http from 'node:http';
import * as net from 'node:net';
import { createLogger } from '../../core/common/logger';
import { MetricsRegistry } from '../../core/metrics/registry';
import { MetricsServer } from '../../core/metrics/metricsServer';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, opts: { method?: string; path?: string; body?: string; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/metrics', agent: opts.agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Raw bytes in, everything the server sent until it closed the connection out. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (out += c));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('the server did not close the connection')));
    socket.write(text);
  });
}

describe('MetricsServer', () => {
  const registry = new MetricsRegistry();
  const counter = registry.counter({ name: 'strata_test_total', help: 'A test counter.', labelNames: ['topic'] });
  const logger = createLogger('metrics-test', () => undefined);
  let server: MetricsServer;
  let port: number;

  beforeAll(async () => {
    server = new MetricsServer({ host: '127.0.0.1', port: 0, registry, logger });
    port = (await server.listen()).port;
  });

  afterAll(async () => {
    await server.close();
  });

  test('GET /metrics: 200, text format 0.0.4, the registry as it is at scrape time', async () => {
    counter.labels('a').inc(3);
    const r = await request(port);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.body).toBe('# HELP strata_test_total A test counter.\n# TYPE strata_test_total counter\nstrata_test_total{topic="a"} 3\n');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    counter.labels('a').inc();
    expect((await request(port, { path: '/metrics?x=1' })).body).toContain('strata_test_total{topic="a"} 4');
  });

  test('HEAD /metrics: the headers without the body', async () => {
    const r = await request(port, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(Number(r.headers['content-length'])).toBeGreaterThan(0);
  });

  test('other paths are 404', async () => {
    for (const path of ['/', '/metric', '/metrics/', '/metricsx']) expect((await request(port, { path })).status).toBe(404);
  });

  test('other methods are 405 with Allow, and the connection closes without reading the body', async () => {
    const r = await request(port, { method: 'POST', body: 'x'.repeat(1000) });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET, HEAD');
    expect(r.headers.connection).toBe('close');
    // A request announcing a huge body: answered at once and closed, the body never read.
    const reply = await raw(port, 'PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\nabc');
    expect(reply).toMatch(/^HTTP\/1\.1 405 /);
    expect(reply).toMatch(/\r\nConnection: close\r\n/i);
  });

  test('keep-alive: several scrapes over one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    agent.on('free', (s: net.Socket) => sockets.add(s));
    try {
      for (let i = 0; i < 3; i++) expect((await request(port, { agent })).status).toBe(200);
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  test('oversized headers are refused (431) and the connection closed', async () => {
    const reply = await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431 /);
  });

  test('close() ends idle keep-alive connections too, and is idempotent', async () => {
    const s = new MetricsServer({ host: '127.0.0.1', port: 0, registry, logger });
    const p = (await s.listen()).port;
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await request(p, { agent })).status).toBe(200);
      await s.close(); // would hang on the idle socket if close() left it open
      await s.close();
      await expect(request(p)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      agent.destroy();
    }
  });
});
