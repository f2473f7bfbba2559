/**
 * KIP-368 on a SASL_PLAINTEXT listener with connections.max.reauth.ms: the broker tells a v1+
 * client its session lifetime; a client that re-authenticates on the same connection keeps
 * being served past the first session's end; one that does not is cut off at its next request;
 * re-authenticating as another user is refused. Also SaslHandshake v0 (bare SASL tokens).
 * Requests are written by hand so each step is visible.
 */
import * as net from 'node:net';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';
import { runCli } from '../cli/runCli';
import { Writer } from '../../core/protocol/writer';
import { Reader } from '../../core/protocol/reader';
import { readResponseHeader, responseHeaderVersion, writeRequestHeader } from '../../core/protocol/headers';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ScramClient } from '../../core/security/scram';

const LIFETIME_MS = 2500;
let broker: BrokerProcess;
let port: number;

beforeAll(async () => {
  broker = await startBroker({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
    overrides: { 'sasl.enabled.mechanisms': 'SCRAM-SHA-256', 'connections.max.reauth.ms': String(LIFETIME_MS) },
  });
  port = broker.listenerPort('SASL_PLAINTEXT');
  for (const user of ['alice', 'bob']) {
    const r = await runCli(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', user, '--add-config', `SCRAM-SHA-256=[password=${user}-secret]`]);
    expect(r).toMatchObject({ code: 0 });
  }
}, 60_000);

afterAll(async () => {
  await stopAllBrokers();
});

class Conn {
  private readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  closed = false;
  private correlation = 0;
  private readonly open: Promise<void>;

  constructor() {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.open = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.on('data', (d) => (this.buf = Buffer.concat([this.buf, d])));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }

  private async frame(): Promise<Buffer | null> {
    await waitFor(() => this.closed || (this.buf.length >= 4 && this.buf.length >= 4 + this.buf.readInt32BE(0)), { timeoutMs: 10_000, message: 'an answer or a close' });
    if (this.buf.length < 4 || this.buf.length < 4 + this.buf.readInt32BE(0)) return null;
    const n = this.buf.readInt32BE(0);
    const f = this.buf.subarray(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    return f;
  }

  /** Sends a request; resolves with the response body, or null when the broker closed the connection instead. */
  async call(apiKey: number, version: number, body: unknown): Promise<any | null> {
    await this.open;
    const w = new Writer();
    writeRequestHeader(w, { apiKey, apiVersion: version, correlationId: ++this.correlation, clientId: 'reauth-test' });
    API_MESSAGES.get(apiKey)!.writeRequest(w, version, body);
    await this.raw(w.toBuffer());
    const f = await this.frame();
    if (f === null) return null;
    const r = new Reader(f);
    readResponseHeader(r, responseHeaderVersion(apiKey, version));
    return API_MESSAGES.get(apiKey)!.readResponse(r, version);
  }

  /** Writes one size-prefixed frame; `token` reads the bare answer frame of a v0 exchange. */
  async raw(payload: Buffer): Promise<void> {
    await this.open;
    const size = Buffer.alloc(4);
    size.writeInt32BE(payload.length);
    this.socket.write(Buffer.concat([size, payload]));
  }

  async token(payload: Buffer): Promise<Buffer | null> {
    await this.raw(payload);
    return this.frame();
  }

  async authenticate(user: string, password: string): Promise<any> {
    const hs = await this.call(ApiKey.SaslHandshake, 1, { mechanism: 'SCRAM-SHA-256' });
    expect(hs.errorCode).toBe(ErrorCode.NONE);
    const scram = new ScramClient('SCRAM-SHA-256', user, password);
    const first = await this.call(ApiKey.SaslAuthenticate, 2, { authBytes: scram.first() });
    if (first === null || first.errorCode !== ErrorCode.NONE) return first;
    const last = await this.call(ApiKey.SaslAuthenticate, 2, { authBytes: scram.final(first.authBytes) });
    if (last !== null && last.errorCode === ErrorCode.NONE) scram.verify(last.authBytes);
    return last;
  }

  metadata(): Promise<any | null> {
    return this.call(ApiKey.Metadata, 1, { topics: null });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('the session lifetime is told; re-authenticating keeps the connection, not doing so closes it at the next request', async () => {
  const a = new Conn();
  const b = new Conn();
  try {
    for (const c of [a, b]) {
      const done = await c.authenticate('alice', 'alice-secret');
      expect(done).toMatchObject({ errorCode: ErrorCode.NONE, sessionLifetimeMs: BigInt(LIFETIME_MS) });
      expect(await c.metadata()).not.toBeNull();
    }
    const started = Date.now();
    // a re-authenticates within the lifetime (as clients do at 85-95% of it); b does not.
    await sleep(LIFETIME_MS * 0.6);
    expect(await a.authenticate('alice', 'alice-secret')).toMatchObject({ errorCode: ErrorCode.NONE, sessionLifetimeMs: BigInt(LIFETIME_MS) });
    await sleep(Math.max(0, LIFETIME_MS + 200 - (Date.now() - started)));
    expect(await a.metadata()).not.toBeNull();
    expect(await b.metadata()).toBeNull();
    expect(b.closed).toBe(true);
    expect(broker.output()).toMatch(/closing connection .*the SASL session of alice expired \(connections\.max\.reauth\.ms=2500\) and the client did not re-authenticate/);
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('re-authenticating as another user is refused and closes the connection', async () => {
  const c = new Conn();
  try {
    expect(await c.authenticate('alice', 'alice-secret')).toMatchObject({ errorCode: ErrorCode.NONE });
    const again = await c.authenticate('bob', 'bob-secret');
    expect(again).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
    await waitFor(() => c.closed, { timeoutMs: 5000, message: 'the connection closed' });
  } finally {
    c.destroy();
  }
});

test('SaslHandshake v0: the SCRAM messages travel as bare frames, then requests are served', async () => {
  const c = new Conn();
  try {
    expect(await c.call(ApiKey.SaslHandshake, 0, { mechanism: 'SCRAM-SHA-256' })).toEqual({ errorCode: ErrorCode.NONE, mechanisms: ['SCRAM-SHA-256'] });
    const scram = new ScramClient('SCRAM-SHA-256', 'bob', 'bob-secret');
    const serverFirst = await c.token(scram.first());
    const serverFinal = await c.token(scram.final(serverFirst!));
    scram.verify(serverFinal!);
    expect((await c.metadata()).brokers.length).toBe(1);
  } finally {
    c.destroy();
  }
});
