/**
 * KafkaServer with TLS on loopback, a stand-in handler reporting each connection's principal:
 * client certificates (required, requested, mapped to principals by ssl.principal.mapping.rules),
 * a client certificate from another CA refused, and the certificate reloaded when its files
 * change. Certificates are made with openssl (test/helpers/certs.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createLogger } from '../../core/common/logger';
import { KafkaServer, type FrameHandler } from '../../core/broker/server';
import { listenerSecurity } from '../../core/broker/listenerSecurity';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { waitFor } from '../helpers/waitFor';

let dir: string;
let certs: TestCerts;
let lines: string[] = [];
const logger = createLogger('test', (l) => lines.push(l));
const cleanup: (() => unknown)[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tls-'));
  certs = makeCerts(path.join(dir, 'a'), { clients: ['alice'] });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  lines = [];
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Answers every frame with the connection's principal name. */
const whoami: FrameHandler = {
  handle(_frame, conn) {
    const body = Buffer.from(`${conn.principal.principalType}:${conn.principal.name}`);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);
    return [size, body];
  },
};

async function start(overrides: Record<string, string>): Promise<number> {
  const config = loadBrokerConfig({
    flags: { listeners: 'SSL://127.0.0.1:0', 'ssl.keystore.location': certs.server.pem, 'ssl.truststore.location': certs.ca.cert, ...overrides },
  });
  const parts = listenerSecurity(config.listeners[0], undefined, logger);
  const server = new KafkaServer({ host: '127.0.0.1', port: 0, maxRequestBytes: 1 << 20, idleTimeoutMs: 60_000, logger, listenerName: 'SSL', securityProtocol: 'SSL', ...parts }, whoami);
  cleanup.push(() => server.close(), () => parts.close());
  return (await server.listen()).port;
}

/** Connects with TLS (optionally a client certificate), asks once, and resolves with the principal; rejects when the broker refuses. */
function ask(port: number, client?: { cert: string; key: string }, ca = certs.ca.cert): Promise<{ principal: string; peerCertSubject: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: fs.readFileSync(ca),
      ...(client ? { cert: fs.readFileSync(client.cert), key: fs.readFileSync(client.key) } : {}),
    });
    let buf = Buffer.alloc(0);
    s.on('secureConnect', () => s.write(Buffer.from([0, 0, 0, 1, 0])));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        const peerCertSubject = s.getPeerCertificate().subject.CN as string;
        s.destroy();
        resolve({ principal: buf.subarray(4).toString(), peerCertSubject });
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed without an answer: ${lines.join(' / ')}`)));
  });
}

test('ssl.client.auth=required: no certificate, no connection; a certificate gives the mapped principal', async () => {
  const port = await start({ 'ssl.client.auth': 'required', 'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+)$/$1/L,DEFAULT' });
  await expect(ask(port)).rejects.toThrow();
  expect(await ask(port, certs.clients.alice)).toMatchObject({ principal: 'User:alice' });
});

test('requested: without a certificate the client is User:ANONYMOUS; DEFAULT keeps the whole name', async () => {
  const port = await start({ 'ssl.client.auth': 'requested' });
  expect(await ask(port)).toMatchObject({ principal: 'User:ANONYMOUS' });
  expect(await ask(port, certs.clients.alice)).toMatchObject({ principal: 'User:CN=alice' });
});

test('a client certificate from a CA the broker does not trust is refused, with a log line', async () => {
  const other = makeCerts(path.join(dir, 'other'), { clients: ['mallory'], caName: 'Other CA' });
  const port = await start({ 'ssl.client.auth': 'requested' });
  await expect(ask(port, other.clients.mallory)).rejects.toThrow();
  await waitFor(() => lines.some((l) => /its client certificate is not trusted|TLS handshake failed/.test(l)), { timeoutMs: 5000, message: 'the refusal logged' });
});

test('the certificate is reloaded when its file changes; new connections get the new one', async () => {
  const keystore = path.join(dir, 'reload.pem');
  fs.copyFileSync(certs.server.pem, keystore);
  const port = await start({ 'ssl.keystore.location': keystore });
  expect((await ask(port)).peerCertSubject).toBe('strata-broker');
  // A certificate for another name, from the same CA.
  const renewed = makeCerts(path.join(dir, 'renewed'), { serverNames: ['127.0.0.1'], caName: 'Strata Test CA' });
  // (Same CA name, but a new CA key: trust the renewed CA for the second connection.)
  fs.copyFileSync(renewed.server.pem, keystore);
  await waitFor(() => lines.some((l) => l.includes('reloaded its TLS certificate')), { timeoutMs: 10_000, message: 'the reload' });
  const after = await ask(port, undefined, renewed.ca.cert);
  expect(after.peerCertSubject).toBe('strata-broker');
  // The old CA no longer verifies the served certificate: it is the new one.
  await expect(ask(port)).rejects.toThrow();
});
