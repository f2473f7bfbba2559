import * as net from 'net';

/**
 * A Kafka-aware TCP proxy for fault injection: clients connect to the proxy, the proxy connects
 * to one broker (the target) and forwards whole Kafka frames, unchanged, both ways.
 *
 *   client ──frames──▶ proxy ──frames──▶ target broker
 *          ◀─────────        ◀─────────
 *
 * Start the proxy first, then the broker with `advertised.listeners=PLAINTEXT://127.0.0.1:<proxy.port>`
 * so that every connection a client opens (bootstrap and the broker's advertised address alike)
 * goes through it; then `setTarget(host, broker.port)`. Connections that arrive while no target
 * is set wait for one (bounded) and are closed if none comes.
 *
 * The proxy reads the framing (int32 big-endian size, then the payload): a request starts with
 * int16 api_key, int16 api_version, int32 correlation_id; a response with int32 correlation_id.
 * Per connection it remembers which api key each correlation id belongs to, so a fault can
 * target the response to, say, a Produce request.
 *
 * Faults:
 * - dropResponses: the matching response is not forwarded and both sides of that connection are
 *   closed at once, so the client sees its request fail although the broker processed it (a lost
 *   Produce response: what makes producers resend);
 * - cutAll: close every current connection;
 * - pause/resume: hold every byte in both directions (connections stay open, queues are bounded;
 *   past the bound the proxy stops reading, which is TCP back-pressure to the sender);
 * - holdClients/resume: the same, only for the connections whose client id (the request header's,
 *   from their first request) matches: a partition between the broker and some of its clients
 *   (a leader and its followers' replica fetchers) while the others still get through.
 *
 * With `raw`, it is a plain TCP proxy for any protocol (HTTP to a DynamoDB emulator): bytes are
 * forwarded as they arrive, no framing; pause, resume, cutAll and the target work as above.
 *
 * Frames are forwarded only once complete, which also bounds memory: a frame larger than
 * maxFrameBytes closes the connection. It logs nothing unless given `log`.
 */

export interface FaultProxyOptions {
  /** Address to listen on. Default 127.0.0.1 (the port is always ephemeral). */
  host?: string;
  /** Receives one line per notable event (connections, faults). Default: silent. */
  log?: (line: string) => void;
  /** A frame (size prefix excluded) larger than this closes its connection. Default 100 MiB. */
  maxFrameBytes?: number;
  /** Per connection and direction, stop reading from the sender once this much is queued. Default 16 MiB. */
  maxQueuedBytes?: number;
  /** How long a connection arriving without a target waits for setTarget before being closed. Default 10 s. */
  targetWaitMs?: number;
  /** Forward bytes as they arrive, without Kafka framing (any TCP protocol); dropResponses and holdClients are then refused. Default false. */
  raw?: boolean;
}

export interface DropResponsesOptions {
  /** The request's api key whose responses are dropped (0 = Produce, 1 = Fetch, …). */
  apiKey: number;
  /** Drop at most this many matching responses. Default 1, or unlimited when `probability` is given. */
  count?: number;
  /** Drop each matching response with this chance (0..1). Default 1. */
  probability?: number;
  /** Random source in [0, 1) for `probability`; see seededRng. Default Math.random. */
  rng?: () => number;
}

export interface FaultProxyStats {
  /** Client connections accepted since start. */
  connections: number;
  /** Client connections open now. */
  openConnections: number;
  /** Request frames seen from clients, by api key. */
  requests: Record<number, number>;
  /** Responses withheld by dropResponses. */
  droppedResponses: number;
  /** Connections the proxy closed as a fault: by cutAll and by each dropped response. */
  cutConnections: number;
  /** Bytes of whole frames received and not yet forwarded (held by pause, a missing target, or back-pressure). */
  heldBytes: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  /** 'host:port' of the proxy, for clients' bootstrap servers. */
  readonly bootstrap: string;
  /** Where new connections go (open ones stay on their broker). Connections waiting for a target proceed. */
  setTarget(host: string, port: number): void;
  /** New connections wait for the next setTarget (e.g. while a broker restarts). */
  clearTarget(): void;
  /** Add a drop rule; rules accumulate until clearFaults. */
  dropResponses(opts: DropResponsesOptions): void;
  /** Remove every drop rule (pause is separate: see resume). */
  clearFaults(): void;
  /** Close every current connection, both sides. Resolves to how many were closed. */
  cutAll(): number;
  /** Stop forwarding bytes in both directions, on every connection, until resume. */
  pause(): void;
  /**
   * Stop forwarding bytes in both directions on the connections, open and new, whose client id
   * `match` accepts (null: the request header has none), until resume. Replaces an earlier
   * holdClients; a connection counts once its first request has arrived.
   */
  holdClients(match: (clientId: string | null) => boolean): void;
  /** Ends pause and holdClients: held bytes are forwarded. */
  resume(): void;
  stats(): FaultProxyStats;
  /** Close the listener and every connection; resolves once all sockets are closed. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const DEFAULT_MAX_FRAME = 100 * MiB;
const DEFAULT_MAX_QUEUED = 16 * MiB;
const DEFAULT_TARGET_WAIT_MS = 10_000;
/** Requests without a response (Produce with acks=0) must not grow the correlation map forever. */
const MAX_INFLIGHT_REMEMBERED = 10_000;

/** Re-exported: the fault proxy's users seed it for `probability`. */
export { seededRng } from './seededRng';

/**
 * Splits a byte stream into Kafka frames (size prefix included). Holds at most one partial frame:
 * chunks are kept as a list and joined once per frame, so a large frame costs one copy.
 */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Total bytes of the frame being collected (4 + size), or -1 while its size is unknown. */
  private need = -1;

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_FRAME) {}

  /** Bytes held that do not yet form a whole frame. */
  get buffered(): number {
    return this.length;
  }

  /** Adds a chunk; returns the frames it completed. Throws on a negative or oversized frame size. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    for (;;) {
      if (this.need < 0) {
        if (this.length < 4) break;
        if (this.chunks[0]!.length < 4) this.join();
        const size = this.chunks[0]!.readInt32BE(0);
        if (size < 0 || size > this.maxFrameBytes) {
          throw new Error(`frame size ${size} outside 0..${this.maxFrameBytes}`);
        }
        this.need = 4 + size;
      }
      if (this.length < this.need) break;
      if (this.chunks[0]!.length < this.need) this.join();
      const head = this.chunks[0]!;
      frames.push(head.length === this.need ? head : head.subarray(0, this.need));
      if (head.length === this.need) this.chunks.shift();
      else this.chunks[0] = head.subarray(this.need);
      this.length -= this.need;
      this.need = -1;
    }
    return frames;
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks, this.length)];
  }
}

interface DropRule {
  apiKey: number;
  remaining: number;
  probability: number;
  rng: () => number;
}

/** One direction of a connection: frames waiting to be written to `dest`. */
class Pipe {
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  /** The sender closed its side; end `dest` once the queue is written. */
  ended = false;
  readonly splitter: FrameSplitter;

  constructor(maxFrameBytes: number) {
    this.splitter = new FrameSplitter(maxFrameBytes);
  }
}

class Connection {
  upstream: net.Socket | null = null;
  /** Open until destroy(); a closed connection forwards nothing. */
  closed = false;
  waitTimer: NodeJS.Timeout | null = null;
  readonly toBroker: Pipe;
  readonly toClient: Pipe;
  /** correlation id → api key of requests awaiting their response (insertion-ordered). */
  readonly inflight = new Map<number, number>();
  /** The client id of the first request (null: none in its header); undefined until one arrived. */
  clientId: string | null | undefined = undefined;
  private clientClosed = false;
  private upstreamClosed = false;

  constructor(
    readonly id: number,
    readonly client: net.Socket,
    private readonly proxy: FaultProxyServer,
  ) {
    this.toBroker = new Pipe(proxy.maxFrameBytes);
    this.toClient = new Pipe(proxy.maxFrameBytes);
    client.setNoDelay(true);
    client.on('error', (e) => this.proxy.log(`#${id} client error: ${e.message}`));
    client.on('data', (chunk: Buffer) => this.receive(this.toBroker, chunk));
    client.on('end', () => {
      this.toBroker.ended = true;
      this.flush();
    });
    client.on('drain', () => this.flush());
    // The client is gone: nobody is left to read answers, so the broker side goes too.
    client.on('close', () => {
      this.clientClosed = true;
      this.destroy();
    });
  }

  /** Connect to the target (called once one is known). */
  connect(host: string, port: number): void {
    if (this.closed || this.upstream) return;
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    const up = net.connect({ host, port });
    this.upstream = up;
    up.setNoDelay(true);
    up.on('error', (e) => this.proxy.log(`#${this.id} broker ${host}:${port} error: ${e.message}`));
    up.on('connect', () => this.flush());
    up.on('data', (chunk: Buffer) => this.receive(this.toClient, chunk));
    up.on('drain', () => this.flush());
    // The broker closed (or could not be reached): the client gets what was already answered,
    // then end of stream.
    up.on('close', () => {
      this.upstreamClosed = true;
      this.toClient.ended = true;
      this.flush();
      this.forgetIfGone();
    });
  }

  private receive(pipe: Pipe, chunk: Buffer): void {
    if (this.closed) return;
    let frames: Buffer[];
    try {
      frames = this.proxy.raw ? [chunk] : pipe.splitter.push(chunk);
    } catch (e) {
      this.proxy.log(`#${this.id} ${pipe === this.toBroker ? 'client' : 'broker'}: ${(e as Error).message}; closing`);
      this.destroy();
      return;
    }
    for (const frame of frames) {
      if (pipe === this.toBroker && !this.proxy.raw) this.noteRequest(frame);
      pipe.queue.push(frame);
      pipe.queuedBytes += frame.length;
    }
    this.flush();
  }

  private noteRequest(frame: Buffer): void {
    if (frame.length < 12) return; // too short for a request header; forwarded all the same
    const apiKey = frame.readInt16BE(4);
    const correlationId = frame.readInt32BE(8);
    this.proxy.countRequest(apiKey);
    if (this.clientId === undefined) this.clientId = clientIdOf(frame);
    this.inflight.set(correlationId, apiKey);
    if (this.inflight.size > MAX_INFLIGHT_REMEMBERED) {
      this.inflight.delete(this.inflight.keys().next().value as number);
    }
  }

  /** Write what may be written, apply response faults, and stop reading senders whose frames can't leave. */
  flush(): void {
    if (this.closed) return;
    const up = this.upstream;
    if (!this.proxy.holds(this)) {
      if (up !== null && !up.connecting && !up.destroyed) this.drain(this.toBroker, up);
      if (!this.drain(this.toClient, this.client)) return; // a response was dropped: connection gone
    }
    const full = (pipe: Pipe, dest: net.Socket | null): boolean =>
      pipe.queuedBytes + pipe.splitter.buffered >= this.proxy.maxQueuedBytes ||
      (dest !== null && dest.writableLength >= this.proxy.maxQueuedBytes);
    setReading(this.client, !full(this.toBroker, up));
    if (up) setReading(up, !full(this.toClient, this.client));
  }

  /** Write a pipe's queue to dest. Returns false when a dropped response closed the connection. */
  private drain(pipe: Pipe, dest: net.Socket): boolean {
    while (pipe.queue.length > 0) {
      const frame = pipe.queue.shift()!;
      pipe.queuedBytes -= frame.length;
      if (pipe === this.toClient && frame.length >= 8) {
        const correlationId = frame.readInt32BE(4);
        const apiKey = this.inflight.get(correlationId);
        this.inflight.delete(correlationId);
        if (apiKey !== undefined && this.proxy.shouldDrop(apiKey)) {
          this.proxy.log(`#${this.id} dropped the response to api key ${apiKey} (correlation id ${correlationId}); closing the connection`);
          this.proxy.noteCut();
          // Responses written before this one still reach the client; nothing after it does.
          this.destroy({ flushClient: true });
          return false;
        }
      }
      if (!dest.destroyed && !dest.writableEnded) dest.write(frame);
    }
    if (pipe.ended && !dest.destroyed && !dest.writableEnded) dest.end();
    return true;
  }

  /**
   * Close both sides now. flushClient: bytes already handed to the client socket are sent before
   * it closes (the socket is ended, then destroyed once its buffer is out).
   */
  destroy(opts: { flushClient?: boolean } = {}): void {
    if (!this.closed) {
      this.closed = true;
      if (this.waitTimer) clearTimeout(this.waitTimer);
      this.waitTimer = null;
      for (const pipe of [this.toBroker, this.toClient]) {
        pipe.queue.length = 0;
        pipe.queuedBytes = 0;
      }
      this.inflight.clear();
    }
    this.upstream?.destroy();
    const c = this.client;
    if (opts.flushClient && !c.destroyed && c.writableLength > 0 && !c.writableEnded) {
      c.pause();
      c.end(() => c.destroy());
    } else {
      c.destroy();
    }
    this.forgetIfGone();
  }

  private forgetIfGone(): void {
    if (this.clientClosed && (this.upstream === null || this.upstreamClosed)) this.proxy.forget(this);
  }

  /** Resolves once both sockets have closed. */
  whenClosed(): Promise<void> {
    const closed = (s: net.Socket | null): Promise<void> =>
      s === null || s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve()));
    return Promise.all([closed(this.client), closed(this.upstream)]).then(() => undefined);
  }
}

/**
 * The client id in a request frame's header (size prefix included): a nullable int16-length
 * string after api key, version and correlation id in every header version but v0 (only
 * ControlledShutdown v0 uses that; it then reads as some string or null, harmlessly).
 */
function clientIdOf(frame: Buffer): string | null {
  if (frame.length < 14) return null;
  const n = frame.readInt16BE(12);
  if (n < 0 || 14 + n > frame.length) return null;
  return frame.toString('utf8', 14, 14 + n);
}

function setReading(s: net.Socket, on: boolean): void {
  if (s.destroyed) return;
  if (on && s.isPaused()) s.resume();
  else if (!on && !s.isPaused()) s.pause();
}

class FaultProxyServer implements FaultProxy {
  host = '';
  port = 0;
  paused = false;
  readonly raw: boolean;
  private holdMatch: ((clientId: string | null) => boolean) | null = null;
  readonly maxFrameBytes: number;
  readonly maxQueuedBytes: number;
  private readonly targetWaitMs: number;
  private readonly server: net.Server;
  private readonly live = new Set<Connection>();
  private target: { host: string; port: number } | null = null;
  private rules: DropRule[] = [];
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private readonly counters = { connections: 0, requests: {} as Record<number, number>, droppedResponses: 0, cutConnections: 0 };

  constructor(private readonly opts: FaultProxyOptions) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED;
    this.targetWaitMs = opts.targetWaitMs ?? DEFAULT_TARGET_WAIT_MS;
    this.raw = opts.raw === true;
    this.server = net.createServer((socket) => this.accept(socket));
  }

  get bootstrap(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  listen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, this.opts.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        const a = this.server.address() as net.AddressInfo;
        this.host = a.address;
        this.port = a.port;
        resolve();
      });
    });
  }

  log(line: string): void {
    this.opts.log?.(`[faultProxy :${this.port}] ${line}`);
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextId++, socket, this);
    this.live.add(conn);
    this.counters.connections++;
    if (this.target) {
      conn.connect(this.target.host, this.target.port);
      return;
    }
    this.log(`#${conn.id} waits for a target`);
    conn.waitTimer = setTimeout(() => {
      this.log(`#${conn.id} no target within ${this.targetWaitMs} ms; closing`);
      conn.destroy();
    }, this.targetWaitMs);
    conn.waitTimer.unref();
  }

  forget(conn: Connection): void {
    this.live.delete(conn);
  }

  countRequest(apiKey: number): void {
    this.counters.requests[apiKey] = (this.counters.requests[apiKey] ?? 0) + 1;
  }

  noteCut(): void {
    this.counters.cutConnections++;
  }

  shouldDrop(apiKey: number): boolean {
    for (const rule of this.rules) {
      if (rule.apiKey !== apiKey || rule.remaining <= 0) continue;
      if (rule.probability < 1 && !(rule.rng() < rule.probability)) continue;
      rule.remaining--;
      this.counters.droppedResponses++;
      return true;
    }
    return false;
  }

  setTarget(host: string, port: number): void {
    this.target = { host, port };
    this.log(`target ${host}:${port}`);
    for (const conn of this.live) if (conn.upstream === null && !conn.closed) conn.connect(host, port);
  }

  clearTarget(): void {
    this.target = null;
  }

  dropResponses(opts: DropResponsesOptions): void {
    if (this.raw) throw new Error('dropResponses needs Kafka framing: this proxy is raw');
    const probability = opts.probability ?? 1;
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`probability must be within 0..1, got ${probability}`);
    const count = opts.count ?? (opts.probability === undefined ? 1 : Infinity);
    if (!(count >= 0)) throw new RangeError(`count must be >= 0, got ${count}`);
    this.rules.push({ apiKey: opts.apiKey, remaining: count, probability, rng: opts.rng ?? Math.random });
  }

  clearFaults(): void {
    this.rules = [];
  }

  cutAll(): number {
    let n = 0;
    for (const conn of [...this.live]) {
      if (conn.closed) continue;
      conn.destroy();
      n++;
    }
    this.counters.cutConnections += n;
    if (n > 0) this.log(`cut ${n} connection(s)`);
    return n;
  }

  pause(): void {
    this.paused = true;
  }

  holdClients(match: (clientId: string | null) => boolean): void {
    if (this.raw) throw new Error('holdClients needs Kafka framing: this proxy is raw');
    this.holdMatch = match;
    this.log('holding matching clients');
  }

  /** Whether `conn`'s bytes are held now (pause, or holdClients matching it). */
  holds(conn: Connection): boolean {
    return this.paused || (this.holdMatch !== null && conn.clientId !== undefined && this.holdMatch(conn.clientId));
  }

  resume(): void {
    this.paused = false;
    this.holdMatch = null;
    for (const conn of [...this.live]) conn.flush();
  }

  stats(): FaultProxyStats {
    return {
      connections: this.counters.connections,
      openConnections: [...this.live].filter((c) => !c.closed).length,
      requests: { ...this.counters.requests },
      droppedResponses: this.counters.droppedResponses,
      cutConnections: this.counters.cutConnections,
      heldBytes: [...this.live].reduce((n, c) => n + c.toBroker.queuedBytes + c.toClient.queuedBytes, 0),
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rules = [];
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const conns = [...this.live];
      for (const conn of conns) conn.destroy();
      await Promise.all(conns.map((c) => c.whenClosed()));
      await serverClosed;
      this.live.clear();
    })();
    return this.closing;
  }
}

/** Listen on an ephemeral port; forward nowhere until setTarget. */
export async function startFaultProxy(opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const proxy = new FaultProxyServer(opts);
  await proxy.listen();
  return proxy;
}
