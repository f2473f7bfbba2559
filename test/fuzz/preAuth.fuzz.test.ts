/**
 * Pre-authentication traffic against a broker with SASL_PLAINTEXT and SASL_SSL listeners:
 * garbage and oversized frames, random SASL tokens, SCRAM exchanges with a wrong nonce or
 * proof, TLS handshakes that never finish, and 2,000 unauthenticated connections at once.
 * Each is answered with an authentication error or closed; the broker does not crash, its
 * memory stays bounded, and an authenticated client keeps producing and consuming throughout.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { makeCerts } from '../helpers/certs';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { waitFor } from '../helpers/waitFor';
import { runCli } from '../cli/runCli';
import { Writer } from '../../core/protocol/writer';
import { Reader } from '../../core/protocol/reader';
import { readResponseHeader, responseHeaderVersion, writeRequestHeader } from '../../core/protocol/headers';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ScramClient } from '../../core/security/scram';

const RUNS = Number(process.env.STRATA_FUZZ_RUNS ?? 150);

let broker: BrokerProcess;
let dir: string;
let saslPort: number;
let tlsPort: number;

beforeAll(async () => {
  await kcatAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-preauth-'));
  const certs = makeCerts(path.join(dir, 'certs'));
  broker = await startBroker({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0',
    overrides: { 'sasl.enabled.mechanisms': 'SCRAM-SHA-512,PLAIN', 'ssl.keystore.location': certs.server.pem, 'connection.failed.authentication.delay.ms': '10' },
  });
  saslPort = broker.listenerPort('SASL_PLAINTEXT');
  tlsPort = broker.listenerPort('SASL_SSL');
  expect(await runCli(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', 'alice', '--add-config', 'SCRAM-SHA-512=[password=alice-secret]'])).toMatchObject({ code: 0 });
}, 60_000);

afterAll(async () => {
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function request(apiKey: number, version: number, body: unknown, correlationId = 1): Buffer {
  const w = new Writer();
  writeRequestHeader(w, { apiKey, apiVersion: version, correlationId, clientId: 'fuzz' });
  API_MESSAGES.get(apiKey)!.writeRequest(w, version, body);
  const payload = w.toBuffer();
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return Buffer.concat([size, payload]);
}

/** A connection that collects response frames and notices the close. */
class Peer {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  closed = false;
  private readonly opened: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.opened = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.on('data', (d) => (this.buf = Buffer.concat([this.buf, d])));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  async send(bytes: Buffer): Promise<void> {
    await this.opened;
    if (!this.closed) this.socket.write(bytes);
  }

  /** The next response frame's body for `apiKey`/`version`, or null once the connection is closed. */
  async response(apiKey: number, version: number): Promise<any | null> {
    await waitFor(() => this.closed || (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readInt32BE(0)), { timeoutMs: 10_000, message: 'a response or a close' });
    if (this.buf.length < 4 || this.buf.length < 4 + this.buf.readInt32BE(0)) return null;
    const size = this.buf.readInt32BE(0);
    const r = new Reader(this.buf.subarray(4, 4 + size));
    this.buf = this.buf.subarray(4 + size);
    readResponseHeader(r, responseHeaderVersion(apiKey, version));
    return API_MESSAGES.get(apiKey)!.readResponse(r, version);
  }

  async awaitClose(): Promise<void> {
    await waitFor(() => this.closed, { timeoutMs: 10_000, message: 'the broker closing the connection' });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

async function handshake(p: Peer, mechanism = 'SCRAM-SHA-512'): Promise<number> {
  await p.send(request(ApiKey.SaslHandshake, 1, { mechanism }));
  return (await p.response(ApiKey.SaslHandshake, 1)).errorCode;
}

/** An authenticated client doing real work on another connection: a produce then a consume. */
async function bystanderWorks(tag: string): Promise<void> {
  const sec = ['-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=alice', '-X', 'sasl.password=alice-secret'];
  const p = await kcat(['-b', `127.0.0.1:${saslPort}`, ...sec, '-P', '-t', 'bystander'], { input: `${tag}\n`, timeoutMs: 30_000 });
  if (p.code !== 0) throw new Error(describeRun('kcat -P', p));
  const c = await kcat(['-b', `127.0.0.1:${saslPort}`, ...sec, '-C', '-t', 'bystander', '-o', '-1', '-c', '1'], { timeoutMs: 30_000 });
  if (c.code !== 0) throw new Error(describeRun('kcat -C', c));
  expect(c.stdout.toString().trim()).toBe(tag);
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

test('random SASL tokens after a SCRAM handshake: never authenticated, always SASL_AUTHENTICATION_FAILED or closed', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 3 }), async (tokens) => {
      const p = new Peer(saslPort);
      try {
        expect(await handshake(p)).toBe(ErrorCode.NONE);
        for (const t of tokens) {
          await p.send(request(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(t) }));
          const res = await p.response(ApiKey.SaslAuthenticate, 2);
          if (res === null) return;
          if (res.errorCode !== ErrorCode.NONE) {
            expect(res.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
            await p.awaitClose();
            return;
          }
          // A syntactically valid client-first may get a server-first; nothing may complete.
          expect(res.authBytes.toString()).toMatch(/^r=/);
        }
        // Never authenticated: a Metadata request closes the connection.
        await p.send(request(ApiKey.Metadata, 1, { topics: null }));
        await p.awaitClose();
      } finally {
        p.destroy();
      }
    }),
    { numRuns: RUNS },
  );
  await bystanderWorks('after-random-tokens');
});

test('a SCRAM exchange with a wrong nonce or a wrong proof fails', async () => {
  for (const tamper of ['nonce', 'proof'] as const) {
    const p = new Peer(saslPort);
    expect(await handshake(p)).toBe(ErrorCode.NONE);
    const client = new ScramClient('SCRAM-SHA-512', 'alice', 'alice-secret');
    await p.send(request(ApiKey.SaslAuthenticate, 2, { authBytes: client.first() }));
    const first = await p.response(ApiKey.SaslAuthenticate, 2);
    let final = client.final(first.authBytes).toString();
    final = tamper === 'nonce' ? final.replace(/,r=([^,]+)/, ',r=$1x') : final.replace(/p=(.)/, (_, c: string) => `p=${c === 'A' ? 'B' : 'A'}`);
    await p.send(request(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(final) }));
    const res = await p.response(ApiKey.SaslAuthenticate, 2);
    expect(res).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512' });
    await p.awaitClose();
    p.destroy();
  }
});

test('garbage, truncated and oversized frames before authentication close the connection', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
      const p = new Peer(saslPort);
      try {
        await p.send(Buffer.from(bytes));
        p.socket.end();
        await p.awaitClose();
      } finally {
        p.destroy();
      }
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
  // A size prefix above sasl.server.max.receive.size (512 KiB) is refused before its body arrives.
  const p = new Peer(saslPort);
  const size = Buffer.alloc(4);
  size.writeInt32BE(600 * 1024);
  await p.send(size);
  await p.awaitClose();
  expect(broker.output()).toMatch(/request size 614400 is outside 0\.\.524288 \(sasl\.server\.max\.receive\.size: the connection has not authenticated\)/);
  p.destroy();
});

test('2,000 unauthenticated connections and 100 stalled TLS handshakes: bounded memory, and an authenticated client unaffected', async () => {
  const before = rssBytes(broker.pid);
  const idle: net.Socket[] = [];
  const stalled: net.Socket[] = [];
  try {
    for (let i = 0; i < 2000; i++) {
      const tls = i % 20 === 0;
      const s = net.connect({ host: '127.0.0.1', port: tls ? tlsPort : saslPort });
      s.on('error', () => undefined);
      // Some start a TLS handshake and stop; some send half a frame; most send nothing.
      if (tls) s.once('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01, 0x00])));
      else if (i % 3 === 0) s.once('connect', () => s.write(Buffer.from([0, 0, 0, 100, 0, 17])));
      (tls ? stalled : idle).push(s);
    }
    await waitFor(() => [...idle, ...stalled].filter((s) => s.readyState === 'open').length >= 1900, { timeoutMs: 30_000, message: '2,000 connections open' });
    await bystanderWorks('during-the-flood');
    const during = rssBytes(broker.pid);
    // Each idle connection costs a socket and a few KiB: far below this bound.
    expect(during - before).toBeLessThan(150 * 1024 * 1024);
    for (const s of idle) s.destroy();
    // The stalled TLS handshakes are ended by the broker on its own (10 s handshake timeout).
    await waitFor(() => stalled.every((s) => s.destroyed || s.readyState === 'closed'), { timeoutMs: 20_000, message: 'the broker closing stalled TLS handshakes' });
    expect(broker.output()).toMatch(/no TLS handshake within 10000 ms/);
  } finally {
    for (const s of [...idle, ...stalled]) s.destroy();
  }
  expect(broker.exitStatus()).toBeNull();
  await bystanderWorks('after-the-flood');
}, 90_000);
