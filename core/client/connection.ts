import * as net from 'node:net';
import * as tls from 'node:tls';
import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../protocol/generated/index';
import { readResponseHeader, responseHeaderVersion, writeRequestHeader } from '../protocol/headers';
import { Reader } from '../protocol/reader';
import { Writer } from '../protocol/writer';
import type { ApiVersionsRequest } from '../protocol/generated/ApiVersionsRequest';
import type { ApiVersionsResponse } from '../protocol/generated/ApiVersionsResponse';
import { FrameDecoder } from './frameDecoder';
import { reauthenticationDelayMs, saslAuthenticate } from './saslAuthenticator';
import { ConnectionSecurity, checkSecurity, isTlsError, tlsConnectOptions, tlsError, usesSasl, usesTls } from './security';

/**
 * One TCP (or TLS) connection to one broker, speaking Kafka's framing: every request and
 * response is an int32 size followed by that many bytes. Requests are pipelined: `send` writes
 * immediately and many requests may be in flight; Kafka answers them in request order on a
 * connection, and each response is matched to its request by correlation id.
 *
 * On connect we do the ApiVersions handshake and, for every API, settle on the highest version
 * both sides support, so callers never pick versions by hand. With a SASL security protocol the
 * connection then authenticates (saslAuthenticator.ts) before `connect` resolves.
 *
 * Re-authentication (KIP-368): when the broker gives the session a lifetime, the connection
 * authenticates again on the same socket at 85-95% of it. Meanwhile new requests are held (in
 * order), the ones in flight are answered, the SASL exchange runs alone, and the held requests
 * then go out in the order they were sent: callers never see it, and a producer's sequence
 * order is kept (a held request's timeout starts when it goes out). A failed
 * re-authentication closes the connection with its error.
 */

export interface ConnectionOptions {
  host: string;
  port: number;
  /** Sent in every request header; null is allowed by the protocol. Default 'strata-client'. */
  clientId?: string | null;
  /** Per-request timeout unless the request overrides it. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** TCP connect plus ApiVersions handshake. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /**
   * Largest response frame accepted. A larger size prefix means a corrupt stream or a hostile
   * peer, and closes the connection before anything is allocated. Default 128 MiB (well above
   * fetch.max.bytes' 50 MiB default).
   */
  maxFrameBytes?: number;
  /** ApiVersions v3+ client software name/version (KIP-511). */
  clientSoftwareName?: string;
  clientSoftwareVersion?: string;
  /** TLS and/or SASL (security.protocol and friends); default PLAINTEXT. */
  security?: ConnectionSecurity;
}

export interface SendOptions {
  /** Request version; default: the negotiated one. */
  version?: number;
  /** Overrides the connection's request timeout for this request. */
  timeoutMs?: number;
}

/** A broker's supported version range for one API, as reported by ApiVersions. */
export interface ApiVersionRange {
  minVersion: number;
  maxVersion: number;
}

interface Pending {
  apiKey: number;
  version: number;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
  /** Set when the request timed out: its late response is read and dropped. */
  timedOut: boolean;
}

/** A request sent while the connection re-authenticates: it goes out once that is done. */
interface Held {
  apiKey: number;
  request: unknown;
  opts: SendOptions;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_FRAME_BYTES = 128 * 1024 * 1024;
const API_VERSIONS_HANDSHAKE_VERSION = 3;

export class KafkaConnection {
  readonly host: string;
  readonly port: number;
  private readonly clientId: string | null;
  private readonly requestTimeoutMs: number;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  /** In flight, in send order (Map keeps insertion order). */
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private closedError: StrataError | null = null;
  private lastSocketError: Error | null = null;
  private readonly closeListeners: Array<(err: StrataError) => void> = [];
  private brokerVersions = new Map<number, ApiVersionRange>();
  private negotiated = new Map<number, number>();
  private readonly security: ConnectionSecurity | undefined;
  /** Whether any response frame arrived yet (a TLS record instead means a TLS listener). */
  private answered = false;
  /** Requests waiting for a re-authentication to finish; null when none runs. */
  private held: Held[] | null = null;
  private reauthTimer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];
  private authentications = 0;

  private constructor(socket: net.Socket, opts: ConnectionOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.security = opts.security;
    this.clientId = opts.clientId === undefined ? 'strata-client' : opts.clientId;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.socket = socket;
    this.decoder = new FrameDecoder(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.lastSocketError = err;
    });
    socket.on('close', () => {
      const err = this.lastSocketError as NodeJS.ErrnoException | null;
      // TLS 1.3 reports a broker's refusal of our certificate as an alert after the handshake.
      if (usesTls(this.security) && isTlsError(err)) return this.fail(tlsError(this.address, err!));
      const why = err ? `: ${err.message}` : '';
      this.fail(new StrataError('CONNECTION_FAILED', `connection to ${this.address} closed${why}`));
    });
  }

  /**
   * Connects (TLS for SSL / SASL_SSL), negotiates API versions and, for SASL_PLAINTEXT /
   * SASL_SSL, authenticates. Rejects with a StrataError that says what to do:
   * CONNECTION_FAILED (unreachable, or not a Kafka port), SSL_HANDSHAKE_FAILED (certificate not
   * trusted, host name mismatch, client certificate refused, TLS on one side only),
   * SASL_AUTHENTICATION_FAILED (with the broker's message), UNSUPPORTED_SASL_MECHANISM,
   * CONFIG_INVALID (settings that cannot work).
   */
  static async connect(opts: ConnectionOptions): Promise<KafkaConnection> {
    if (opts.security) checkSecurity(opts.security);
    const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const address = `${opts.host}:${opts.port}`;
    const tlsOn = usesTls(opts.security);
    const started = Date.now();
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = tlsOn ? tls.connect(tlsConnectOptions(opts.host, opts.port, opts.security?.tls)) : net.connect({ host: opts.host, port: opts.port });
      let tcpUp = false;
      const timer = setTimeout(() => {
        s.destroy();
        const what = tcpUp ? `the TLS handshake did not finish within ${timeoutMs} ms (is this a TLS listener?)` : `no answer within ${timeoutMs} ms`;
        reject(new StrataError(tcpUp ? 'SSL_HANDSHAKE_FAILED' : 'CONNECTION_FAILED', `could not connect to ${address}: ${what}`));
      }, timeoutMs);
      s.once('connect', () => {
        tcpUp = true;
      });
      s.once(tlsOn ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        s.destroy();
        reject(tlsOn && tcpUp ? tlsError(address, err) : connectError(address, err));
      });
    });
    const conn = new KafkaConnection(socket, opts);
    try {
      await conn.handshake(opts, timeoutMs);
      if (usesSasl(opts.security)) await conn.authenticate(Math.max(timeoutMs - (Date.now() - started), 1));
    } catch (err) {
      // The connection's own failure (a TLS alert, a refusal) says more than the request's.
      const cause = conn.closedError ?? err;
      conn.close();
      if (cause instanceof StrataError && cause.code === 'REQUEST_TIMED_OUT') {
        const what = conn.brokerVersions.size === 0 ? `the ApiVersions handshake within ${timeoutMs} ms (is this a Kafka broker's port?)` : `SASL authentication within ${timeoutMs} ms`;
        throw new StrataError('CONNECTION_FAILED', `could not connect to ${address}: no answer to ${what}`, { cause });
      }
      if (cause instanceof StrataError && cause.code === 'CONNECTION_FAILED') {
        // A listener of another security protocol closes the connection: say which setting to check.
        if (conn.brokerVersions.size === 0 && !tlsOn) {
          throw new StrataError('CONNECTION_FAILED', `${cause.message} during the ApiVersions handshake (a TLS listener closes plaintext connections: check security.protocol)`, { cause });
        }
        if (conn.brokerVersions.size === 0 && tlsOn) {
          throw new StrataError('SSL_HANDSHAKE_FAILED', `${cause.message} right after the TLS handshake (does the broker require a client certificate it trusts? see ssl.keystore.location)`, { cause });
        }
        if (usesSasl(opts.security)) throw new StrataError('CONNECTION_FAILED', `${cause.message} during SASL authentication (is this a SASL listener? check security.protocol)`, { cause });
      }
      throw cause;
    }
    return conn;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** How many times this connection has authenticated with SASL (1 after connect; +1 per re-authentication). */
  get saslAuthentications(): number {
    return this.authentications;
  }

  /** The TLS socket's peer certificate, when the connection uses TLS. */
  get peerCertificate(): tls.PeerCertificate | null {
    return this.socket instanceof tls.TLSSocket ? this.socket.getPeerCertificate() : null;
  }

  /** Requests sent and not yet answered (nor timed out). */
  get inFlight(): number {
    let n = 0;
    for (const p of this.pending.values()) if (!p.timedOut) n++;
    return n;
  }

  /** The broker's advertised version ranges, by api key. */
  get apiVersions(): ReadonlyMap<number, ApiVersionRange> {
    return this.brokerVersions;
  }

  /** Whether both sides share a version of this API. */
  supports(apiKey: number): boolean {
    return this.negotiated.has(apiKey);
  }

  /** The version used for an API: min(broker max, our max), if that is within both ranges. */
  version(apiKey: number): number {
    const v = this.negotiated.get(apiKey);
    if (v === undefined) {
      const name = API_MESSAGES.get(apiKey)?.name ?? `api key ${apiKey}`;
      throw new StrataError('API_UNSUPPORTED', `the broker at ${this.address} supports no version of ${name} that this client speaks`);
    }
    return v;
  }

  /** Called once when the connection closes, with the reason. */
  onClose(listener: (err: StrataError) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  /**
   * Sends one request and resolves with its decoded response. A Produce request with acks=0
   * gets no response from the broker, so it resolves with `undefined` once written.
   */
  send<T = any>(apiKey: number, request: unknown, opts: SendOptions = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.held !== null) {
      return new Promise<T>((resolve, reject) => this.held!.push({ apiKey, request, opts, resolve: resolve as (v: unknown) => void, reject }));
    }
    return this.sendNow<T>(apiKey, request, opts);
  }

  private sendNow<T>(apiKey: number, request: unknown, opts: SendOptions): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const messages = API_MESSAGES.get(apiKey);
    if (!messages) return Promise.reject(new StrataError('API_UNSUPPORTED', `unknown api key ${apiKey}`));
    let version: number;
    try {
      version = opts.version ?? this.version(apiKey);
    } catch (err) {
      return Promise.reject(err);
    }
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) | 0 || 1;

    let frame: Buffer[];
    try {
      const w = new Writer();
      writeRequestHeader(w, { apiKey, apiVersion: version, correlationId, clientId: this.clientId });
      messages.writeRequest(w, version, request);
      frame = withSizePrefix(w);
    } catch (err) {
      return Promise.reject(err);
    }

    const expectsResponse = !(apiKey === ApiKey.Produce && (request as { acks?: number }).acks === 0);
    if (!expectsResponse) {
      return new Promise<T>((resolve, reject) => {
        this.write(frame, (err) => (err ? reject(this.closedError ?? wrapWriteError(this.address, err)) : resolve(undefined as T)));
      });
    }

    return new Promise<T>((resolve, reject) => {
      const p: Pending = { apiKey, version, resolve: resolve as (v: unknown) => void, reject, timer: undefined, timedOut: false };
      const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
      p.timer = setTimeout(() => {
        p.timedOut = true;
        p.timer = undefined;
        const name = messages.name;
        reject(new StrataError('REQUEST_TIMED_OUT', `${name} request to ${this.address} got no response within ${timeoutMs} ms`));
        this.maybeDrained();
      }, timeoutMs);
      this.pending.set(correlationId, p);
      this.write(frame, (err) => {
        if (err && this.pending.get(correlationId) === p) this.settle(correlationId, p, wrapWriteError(this.address, err));
      });
    });
  }

  /** Closes the connection; in-flight requests reject with StrataError('CLOSED'). Idempotent. */
  close(): void {
    if (this.closedError) return;
    clearTimeout(this.reauthTimer);
    this.fail(new StrataError('CLOSED', `connection to ${this.address} was closed by the client`));
    this.socket.destroy();
  }

  private write(frame: Buffer[], done: (err?: Error | null) => void): void {
    // cork/uncork turns the size prefix and the body chunks into one TCP segment train
    // instead of one small write per chunk.
    this.socket.cork();
    for (let i = 0; i < frame.length - 1; i++) this.socket.write(frame[i]);
    this.socket.write(frame[frame.length - 1], done);
    this.socket.uncork();
  }

  private async handshake(opts: ConnectionOptions, timeoutMs: number): Promise<void> {
    const request: ApiVersionsRequest = {
      clientSoftwareName: opts.clientSoftwareName ?? 'strata-cli',
      clientSoftwareVersion: opts.clientSoftwareVersion ?? '0.1.0',
    };
    let response = await this.send<ApiVersionsResponse>(ApiKey.ApiVersions, request, { version: API_VERSIONS_HANDSHAKE_VERSION, timeoutMs });
    if (response.errorCode === ErrorCode.UNSUPPORTED_VERSION) {
      // A broker older than our request answers with a v0 body (see decodeResponse); v0 is
      // understood by every broker, so ask again in it.
      response = await this.send<ApiVersionsResponse>(ApiKey.ApiVersions, {}, { version: 0, timeoutMs });
    }
    if (response.errorCode !== ErrorCode.NONE) {
      throw new StrataError('CONNECTION_FAILED', `the broker at ${this.address} rejected ApiVersions with error code ${response.errorCode}`);
    }
    const brokerVersions = new Map<number, ApiVersionRange>();
    const negotiated = new Map<number, number>();
    for (const k of response.apiKeys) {
      brokerVersions.set(k.apiKey, { minVersion: k.minVersion, maxVersion: k.maxVersion });
      const ours = API_MESSAGES.get(k.apiKey);
      if (!ours) continue;
      // A version Kafka marks as still in development is never chosen by a client.
      const ourMax = ours.latestVersionUnstable ? ours.maxVersion - 1 : ours.maxVersion;
      const high = Math.min(k.maxVersion, ourMax);
      if (high >= Math.max(k.minVersion, ours.minVersion)) negotiated.set(k.apiKey, high);
    }
    this.brokerVersions = brokerVersions;
    this.negotiated = negotiated;
  }

  private async authenticate(timeoutMs: number): Promise<void> {
    const sasl = this.security!.sasl!;
    const outcome = await saslAuthenticate(
      {
        address: this.address,
        versionOf: (apiKey) => this.negotiated.get(apiKey),
        request: (apiKey, request, version) => this.sendNow(apiKey, request, { version, timeoutMs }),
      },
      sasl,
    );
    this.authentications++;
    clearTimeout(this.reauthTimer);
    if (outcome.sessionLifetimeMs > 0 && !this.closedError) {
      this.reauthTimer = setTimeout(() => void this.reauthenticate(), reauthenticationDelayMs(outcome.sessionLifetimeMs));
      // An idle connection must not keep the process alive for its next re-authentication.
      this.reauthTimer.unref();
    }
  }

  /** KIP-368: hold new requests, let the ones in flight finish, authenticate again, release the held ones in order. */
  private async reauthenticate(): Promise<void> {
    if (this.closedError || this.held !== null) return;
    this.held = [];
    try {
      await this.drained();
      if (this.closedError) return;
      await this.authenticate(this.requestTimeoutMs);
    } catch (err) {
      const e = err instanceof StrataError ? err : new StrataError('SASL_AUTHENTICATION_FAILED', String(err));
      this.fail(this.closedError ?? new StrataError(e.code, `re-authentication: ${e.message}`, { cause: e }));
      this.socket.destroy();
    } finally {
      const held = this.held ?? [];
      this.held = null;
      // Synchronously and in order, so nothing sent meanwhile can overtake them.
      for (const h of held) this.sendNow(h.apiKey, h.request, h.opts).then(h.resolve, h.reject);
    }
  }

  /** Resolves once no request is in flight (timed-out ones do not count). */
  private drained(): Promise<void> {
    if (this.inFlight === 0 || this.closedError) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private onData(chunk: Buffer): void {
    if (!this.answered && chunk.length >= 2 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03 && !usesTls(this.security)) {
      // A TLS record (alert or handshake) where a Kafka response should be.
      this.fail(new StrataError('SSL_HANDSHAKE_FAILED', `the broker at ${this.address} answered with TLS: it is an SSL or SASL_SSL listener, set security.protocol to match`));
      this.socket.destroy();
      return;
    }
    this.answered = true;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err as StrataError);
      this.socket.destroy();
      return;
    }
    for (const frame of frames) this.onFrame(frame);
  }

  private onFrame(frame: Buffer): void {
    if (frame.length < 4) {
      this.fail(new StrataError('PROTOCOL_MALFORMED', `a response from ${this.address} is too short (${frame.length} bytes) for a header`));
      this.socket.destroy();
      return;
    }
    const correlationId = frame.readInt32BE(0);
    const p = this.pending.get(correlationId);
    if (!p) {
      this.fail(new StrataError('PROTOCOL_MALFORMED', `${this.address} answered correlation id ${correlationId}, which no request in flight has`));
      this.socket.destroy();
      return;
    }
    // Responses arrive in request order, so requests before this one that are still listed
    // can only be timed-out ones whose answers were dropped: forget them.
    for (const [id, earlier] of this.pending) {
      if (id === correlationId) break;
      if (earlier.timedOut) this.pending.delete(id);
    }
    if (p.timedOut) {
      this.pending.delete(correlationId);
      return;
    }
    let result: unknown;
    try {
      result = this.decodeResponse(frame, p);
    } catch (err) {
      const name = API_MESSAGES.get(p.apiKey)?.name ?? `api key ${p.apiKey}`;
      this.settle(correlationId, p, new StrataError('PROTOCOL_MALFORMED', `could not decode the ${name} v${p.version} response from ${this.address}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.settle(correlationId, p, null, result);
  }

  private decodeResponse(frame: Buffer, p: Pending): unknown {
    const messages = API_MESSAGES.get(p.apiKey)!;
    const r = new Reader(frame);
    readResponseHeader(r, responseHeaderVersion(p.apiKey, p.version));
    // A broker that does not support our ApiVersions version answers UNSUPPORTED_VERSION in a
    // v0 body (KIP-511), whatever version we asked in. The error code leads every version, so
    // peek at it to pick the layout.
    if (p.apiKey === ApiKey.ApiVersions && p.version > 0 && r.remaining >= 2 && frame.readInt16BE(r.offset) === ErrorCode.UNSUPPORTED_VERSION) {
      return messages.readResponse(r, 0);
    }
    return messages.readResponse(r, p.version);
  }

  private settle(correlationId: number, p: Pending, err: Error | null, value?: unknown): void {
    this.pending.delete(correlationId);
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
    this.maybeDrained();
  }

  private maybeDrained(): void {
    if (this.drainWaiters.length > 0 && this.inFlight === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  private fail(err: StrataError): void {
    if (this.closedError) return;
    this.closedError = err;
    clearTimeout(this.reauthTimer);
    for (const w of this.drainWaiters.splice(0)) w();
    for (const h of this.held?.splice(0) ?? []) h.reject(err);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      if (!p.timedOut) p.reject(err);
    }
    for (const l of this.closeListeners.splice(0)) l(err);
  }
}

/** The request as wire chunks: int32 size, then the header and body chunks (no copy of large records). */
function withSizePrefix(w: Writer): Buffer[] {
  const size = Buffer.allocUnsafe(4);
  size.writeInt32BE(w.length, 0);
  return [size, ...w.toChunks()];
}

function connectError(address: string, err: NodeJS.ErrnoException): StrataError {
  switch (err.code) {
    case 'ECONNREFUSED':
      return new StrataError('CONNECTION_FAILED', `could not connect to ${address}: is the broker running? start it with \`npm start\``, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StrataError('CONNECTION_FAILED', `could not connect to ${address}: unknown host`, { cause: err });
    default:
      return new StrataError('CONNECTION_FAILED', `could not connect to ${address}: ${err.message}`, { cause: err });
  }
}

function wrapWriteError(address: string, err: Error): StrataError {
  return new StrataError('CONNECTION_FAILED', `could not write to ${address}: ${err.message}`, { cause: err });
}
