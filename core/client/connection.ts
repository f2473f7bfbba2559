import * as net from 'node:net';
import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../protocol/generated/index';
import { readResponseHeader, responseHeaderVersion, writeRequestHeader } from '../protocol/headers';
import { Reader } from '../protocol/reader';
import { Writer } from '../protocol/writer';
import type { ApiVersionsRequest } from '../protocol/generated/ApiVersionsRequest';
import type { ApiVersionsResponse } from '../protocol/generated/ApiVersionsResponse';
import { FrameDecoder } from './frameDecoder';

/**
 * One TCP connection to one broker, speaking Kafka's framing: every request and response is an
 * int32 size followed by that many bytes. Requests are pipelined: `send` writes immediately and
 * many requests may be in flight; Kafka answers them in request order on a connection, and each
 * response is matched to its request by correlation id.
 *
 * On connect we do the ApiVersions handshake and, for every API, settle on the highest version
 * both sides support, so callers never pick versions by hand.
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

  private constructor(socket: net.Socket, opts: ConnectionOptions) {
    this.host = opts.host;
    this.port = opts.port;
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
      const why = this.lastSocketError ? `: ${this.lastSocketError.message}` : '';
      this.fail(new StrataError('CONNECTION_FAILED', `connection to ${this.address} closed${why}`));
    });
  }

  /** Connects, then negotiates API versions. Rejects with a StrataError('CONNECTION_FAILED') that says what to do. */
  static async connect(opts: ConnectionOptions): Promise<KafkaConnection> {
    const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const address = `${opts.host}:${opts.port}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new StrataError('CONNECTION_FAILED', `could not connect to ${address}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        s.destroy();
        reject(connectError(address, err));
      });
    });
    const conn = new KafkaConnection(socket, opts);
    try {
      await conn.handshake(opts, timeoutMs);
    } catch (err) {
      conn.close();
      if (err instanceof StrataError && err.code === 'REQUEST_TIMED_OUT') {
        throw new StrataError('CONNECTION_FAILED', `could not connect to ${address}: no answer to the ApiVersions handshake within ${timeoutMs} ms (is this a Kafka broker's port?)`, { cause: err });
      }
      throw err;
    }
    return conn;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get closed(): boolean {
    return this.closedError !== null;
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

  private onData(chunk: Buffer): void {
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
  }

  private fail(err: StrataError): void {
    if (this.closedError) return;
    this.closedError = err;
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
