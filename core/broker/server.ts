import * as dns from 'node:dns';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { StrataError } from '../common/errors';
import { releaseChunks, type ResponseChunk } from '../common/fileRegion';
import type { Logger } from '../common/logger';
import { WarningThrottle } from '../common/warningThrottle';
import { readFdLimit } from '../common/fdLimit';
import { formatListener } from '../config/brokerConfig';
import { ANONYMOUS, type KafkaPrincipal, type SecurityProtocol } from '../security/principal';
import { ResponseBufferBudget, hasFileRegions, streamResponse, type StreamOptions } from './responseStream';

/**
 * What the server hands a frame to: returns the response frame's chunks (size prefix
 * included; fetched records may be file regions, sent from the file as the socket drains),
 * null when the request gets no response (Produce with acks=0), or a promise of either.
 * Throwing closes the connection (Kafka does the same for requests it cannot parse).
 */
export interface FrameHandler {
  handle(frame: Buffer, conn: ConnectionInfo): ResponseChunk[] | null | Promise<ResponseChunk[] | null>;
}

/** Kafka's connection limits (SocketServer's ConnectionQuotas); unset means no limit. */
export interface ListenerSettings {
  /** The listener's name in `listeners` (NAME://HOST:PORT). Default PLAINTEXT. */
  listenerName?: string;
  /** The listener's security protocol (listener.security.protocol.map). Default PLAINTEXT. */
  securityProtocol?: SecurityProtocol;
  /** max.connections: connections beyond it are closed as soon as they are accepted. */
  maxConnections?: number;
  /** max.connections.per.ip */
  maxConnectionsPerIp?: number;
  /** max.connections.per.ip.overrides: IP address or host name → its own limit. */
  maxConnectionsPerIpOverrides?: Record<string, number>;
}

export interface ConnectionInfo {
  readonly id: number;
  /** HOST:PORT of the peer, for messages. */
  readonly remote: string;
  /** The peer's IP address (IPv4-mapped IPv6 as IPv4), for ACL host filters and quotas. */
  readonly remoteIp: string;
  /** The listener's name in `listeners` (PLAINTEXT, INTERNAL, ...). */
  readonly listenerName: string;
  readonly securityProtocol: SecurityProtocol;
  /** Who the peer is: User:ANONYMOUS until (or without) authentication. */
  readonly principal: KafkaPrincipal;
  /**
   * Quota throttling (KIP-219): the answer being built goes out at once, then the connection
   * reads no further request for `ms` (Kafka mutes the channel for the throttle time). Calls
   * add up to the latest deadline.
   */
  throttle(ms: number): void;
}

/**
 * Authentication of one connection (SASL): it sees every frame first, answers the SASL requests
 * itself and passes the others on once the connection has authenticated.
 */
export interface ConnectionAuthenticator {
  /** Whether the connection has authenticated (then every request is served, Produce pipelined). */
  readonly authenticated: boolean;
  /** The largest frame accepted now (smaller before authentication). */
  maxFrameBytes(otherwise: number): number;
  /** A response, or 'pass' to hand the frame to the server's handler. Throwing closes the connection. */
  handle(frame: Buffer): ResponseChunk[] | 'pass' | Promise<ResponseChunk[] | 'pass'>;
}

/** What an authenticator may do to its connection. */
export interface AuthenticatingConnection {
  readonly remote: string;
  readonly listenerName: string;
  setPrincipal(p: KafkaPrincipal): void;
  /** Writes what was answered, reads nothing more, and closes the connection after `ms`. */
  closeAfter(ms: number): void;
}

/** TLS on a listener (SSL, SASL_SSL). */
export interface ServerTls {
  /** The listener's certificate, key and trust store (PEM). */
  options(): tls.SecureContextOptions;
  /** Calls `fn` when the files changed and options() gives new ones (new connections use them). */
  onReload(fn: () => void): void;
  /** ssl.client.auth */
  clientAuth: 'required' | 'requested' | 'none';
  /** The principal for a verified client certificate (ssl.principal.mapping.rules); throwing refuses the connection. */
  principalOf(der: Buffer): KafkaPrincipal;
  /** A handshake not done by then closes the connection; default 10 s. */
  handshakeTimeoutMs?: number;
}

export interface ServerOptions extends ListenerSettings {
  host: string;
  port: number;
  /** socket.request.max.bytes: larger (or negative) size prefixes close the connection. */
  maxRequestBytes: number;
  /** connections.max.idle.ms */
  idleTimeoutMs: number;
  logger: Logger;
  /** A repeated warning (refused connections, non-Kafka clients, EMFILE) is logged at most once per this; default 10 s. */
  warnIntervalMs?: number;
  /** How responses holding file regions are streamed (zero-copy or buffered, and the shared buffer budget); default buffered, 64 MiB. */
  stream?: Omit<StreamOptions, 'onProgress'>;
  /** TLS for SSL and SASL_SSL listeners; its connections never use zero-copy (the bytes must be encrypted). */
  tls?: ServerTls;
  /** SASL for SASL_PLAINTEXT and SASL_SSL listeners: an authenticator per connection. */
  authenticator?: (conn: AuthenticatingConnection) => ConnectionAuthenticator;
}

const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Produce's api key: its appends happen before its handler first waits (see Connection.process). */
const PRODUCE_API_KEY = 0;
/** Produce requests of one connection whose answers may be outstanding at once (the Java producer's default in-flight limit). */
const MAX_PIPELINED_PRODUCES = 5;

/** Above this many queued response bytes, stop reading requests until the socket drains. */
const WRITE_HIGH_WATER = 32 * 1024 * 1024;
const DEFAULT_WARN_INTERVAL_MS = 10_000;
/**
 * How often the listener checks that a file descriptor can still be opened. libuv swallows
 * EMFILE on accept (it accepts and closes the waiting connections with a reserve descriptor,
 * and tells nobody), so without this probe clients are dropped without a log line.
 */
const FD_PROBE_INTERVAL_MS = 1000;
const NO_LIMIT = 2147483647;

/**
 * The Kafka TCP listener: int32 size-prefixed frames in, responses out in request order.
 *
 * Requests of one connection are handled one at a time, as Kafka does by muting a channel
 * until its response is sent: a pipelining client still gets ordered responses, and
 * side effects (appends) happen in request order. One exception: Produce requests, whose appends
 * are done when their handler first waits (for acks=all, on the high watermark), may follow each
 * other while earlier ones wait, up to 5 outstanding, so a producer's acks=all requests share one
 * replication round trip instead of queueing for one each; their answers still go out in request
 * order, and any other request is handled only once every Produce before it is answered.
 * Frames that are already buffered are handled synchronously in one pass and their responses
 * written under one cork.
 *
 * Connections above max.connections or max.connections.per.ip are closed as soon as they are
 * accepted (Kafka closes per-IP excess the same way; for max.connections it stops accepting
 * until a slot frees, which Node cannot do). Running out of file descriptors (EMFILE/ENFILE,
 * which libuv hides on accept: a probe finds it) is logged with what to raise, and the broker
 * carries on. Those warnings, and
 * those about non-Kafka clients (HTTP, TLS), are rate-limited so that a flood does not flood
 * the log.
 */
export class KafkaServer {
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  /** Every accepted TCP connection: served ones, and TLS ones still in their handshake. */
  private readonly sockets = new Set<net.Socket>();
  /** Open connections by remote IP address (IPv4-mapped IPv6 addresses as IPv4). */
  private readonly perIp = new Map<string, number>();
  private readonly settings: Required<ListenerSettings>;
  /** Per-IP limits by IP address, host names of the overrides resolved by listen(). */
  private overrides = new Map<string, number>();
  private readonly warnings: WarningThrottle;
  /** listeners' NAME://HOST:PORT as bound, for messages. */
  private label: string;
  /** The soft RLIMIT_NOFILE read at listen(), for the EMFILE message; null where unknown. */
  private fdLimit: number | null = null;
  private fdProbe: NodeJS.Timeout | null = null;
  private nextId = 1;
  /** The options connections get (zero-copy off on TLS listeners). */
  private readonly streamOpts: ServerOptions;

  constructor(private readonly opts: ServerOptions, private readonly handler: FrameHandler) {
    this.settings = {
      listenerName: opts.listenerName ?? 'PLAINTEXT',
      securityProtocol: opts.securityProtocol ?? 'PLAINTEXT',
      maxConnections: opts.maxConnections ?? NO_LIMIT,
      maxConnectionsPerIp: opts.maxConnectionsPerIp ?? NO_LIMIT,
      maxConnectionsPerIpOverrides: opts.maxConnectionsPerIpOverrides ?? {},
    };
    this.label = formatListener(this.settings.listenerName, { host: opts.host, port: opts.port });
    // TLS connections cannot use sendfile: their bytes must go through the encryption.
    this.streamOpts = opts.tls !== undefined && opts.stream !== undefined ? { ...opts, stream: { ...opts.stream, zeroCopy: null } } : opts;
    this.warnings = new WarningThrottle(opts.logger, opts.warnIntervalMs ?? DEFAULT_WARN_INTERVAL_MS);
    const t = opts.tls;
    if (t === undefined) {
      this.server = net.createServer({ noDelay: true }, (socket) => {
        if (this.accept(socket)) this.serve(socket, ANONYMOUS);
      });
    } else {
      const handshakeTimeout = t.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
      const server = tls.createServer(
        { ...t.options(), requestCert: t.clientAuth !== 'none', rejectUnauthorized: t.clientAuth === 'required', handshakeTimeout },
        (socket) => this.secured(socket, t),
      );
      // The TLS server wraps each connection first; this sees the TCP socket and may refuse it.
      server.on('connection', (socket: net.Socket) => {
        socket.setNoDelay(true);
        this.accept(socket);
      });
      server.on('tlsClientError', (e: NodeJS.ErrnoException, socket: tls.TLSSocket) => this.onTlsError(e, socket, handshakeTimeout));
      t.onReload(() => server.setSecureContext(t.options()));
      this.server = server;
    }
  }

  /**
   * Binds the listener. A failure is a StrataError naming the listener and address and what to
   * do (EADDRINUSE: another process holds it; EACCES: a privileged port; ...), as Kafka's
   * "Socket server failed to bind to HOST:PORT" does, with the fix added.
   */
  async listen(): Promise<{ host: string; port: number }> {
    this.overrides = await resolveOverrides(this.settings.maxConnectionsPerIpOverrides, this.opts.logger);
    this.fdLimit = readFdLimit();
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(new StrataError('CONFIG_INVALID', listenErrorMessage(e, this.settings.listenerName, this.opts.host, this.opts.port), { cause: e }));
      };
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        // From now on errors come from accept(2): log them; never let one take the broker down.
        this.server.on('error', (e: NodeJS.ErrnoException) => this.onAcceptError(e));
        this.fdProbe = setInterval(() => this.probeFds(), FD_PROBE_INTERVAL_MS);
        this.fdProbe.unref();
        const addr = this.server.address() as net.AddressInfo;
        this.label = formatListener(this.settings.listenerName, { host: this.opts.host, port: addr.port });
        resolve({ host: this.opts.host, port: addr.port });
      });
    });
  }

  /** Served connections and TLS handshakes under way. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    if (this.fdProbe !== null) clearInterval(this.fdProbe);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    for (const s of this.sockets) s.destroy();
    await closed;
    this.warnings.close();
  }

  /** Counts an accepted TCP connection against the limits; false (and closed) when it is over one. */
  private accept(socket: net.Socket): boolean {
    const ip = normalizeIp(socket.remoteAddress);
    if (ip === null) {
      // Reset by the client before we got to it.
      socket.destroy();
      return false;
    }
    const { maxConnections, maxConnectionsPerIp } = this.settings;
    if (this.sockets.size >= maxConnections) {
      socket.destroy();
      this.warnings.warn(
        'max.connections',
        `refused a connection from ${ip} on ${this.label}: the broker already has ${this.connections.size} connections (max.connections=${maxConnections}). ` +
          'Raise max.connections, or find the client that opens so many.',
      );
      return false;
    }
    const count = this.perIp.get(ip) ?? 0;
    const max = this.overrides.get(ip) ?? maxConnectionsPerIp;
    if (count >= max) {
      socket.destroy();
      const which = this.overrides.has(ip) ? `max.connections.per.ip.overrides for ${ip}` : 'max.connections.per.ip';
      this.warnings.warn(
        'max.connections.per.ip',
        `refused a connection from ${ip} on ${this.label}: that address already has the configured maximum of ${max} connections (${which}=${max}).`,
      );
      return false;
    }
    this.perIp.set(ip, count + 1);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    });
    return true;
  }

  /**
   * A TLS connection whose handshake is done (the TLS server verified a client certificate
   * against the trust store; with ssl.client.auth=required it refused a client without one):
   * with requested, an untrusted certificate is refused here; a certificate gives the principal.
   */
  private secured(socket: tls.TLSSocket, t: ServerTls): void {
    const who = `${socket.remoteAddress}:${socket.remotePort}`;
    const cert = socket.getPeerX509Certificate();
    let principal = ANONYMOUS;
    if (cert !== undefined) {
      if (!socket.authorized) {
        this.warnings.warn('tls-client-cert', `closing connection ${who} on ${this.label}: its client certificate is not trusted (${String(socket.authorizationError)})`);
        socket.destroy();
        return;
      }
      try {
        principal = t.principalOf(cert.raw);
      } catch (e) {
        this.warnings.warn('tls-principal', `closing connection ${who} on ${this.label}: ${(e as Error).message}`);
        socket.destroy();
        return;
      }
    }
    this.serve(socket, principal);
  }

  /** A TLS handshake that failed or timed out: one rate-limited line naming the likely cause. */
  private onTlsError(e: NodeJS.ErrnoException, socket: tls.TLSSocket, timeoutMs: number): void {
    const who = `${socket.remoteAddress}:${socket.remotePort}`;
    if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
      // The client (or the connection limits, refusing it) went away mid-handshake: nothing to say.
    } else if (e.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
      this.warnings.warn('tls-timeout', `closing connection ${who} on ${this.label}: no TLS handshake within ${timeoutMs} ms`);
    } else {
      const plaintext = /wrong version number|http request|unknown protocol|packet length too long/i.test(e.message);
      this.warnings.warn(
        plaintext ? 'tls-plaintext' : 'tls-handshake',
        `closing connection ${who} on ${this.label}: TLS handshake failed: ${(e as { reason?: string }).reason ?? e.message.split('\n')[0]}` +
          (plaintext ? ' (the client does not speak TLS: configure it with security.protocol=SSL or SASL_SSL)' : ''),
      );
    }
    socket.destroy();
  }

  /** Serves a connection on `socket` (the TLS socket on TLS listeners). */
  private serve(socket: net.Socket, principal: KafkaPrincipal): void {
    const ip = normalizeIp(socket.remoteAddress) ?? '';
    const conn = new Connection(this.nextId++, socket, ip, principal, this.streamOpts, this.handler, {
      label: () => this.label,
      warnings: this.warnings,
      listenerName: this.settings.listenerName,
      securityProtocol: this.settings.securityProtocol,
    });
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }

  /** Opens and closes /dev/null: EMFILE/ENFILE here means new connections are being dropped. */
  private probeFds(): void {
    try {
      fs.closeSync(fs.openSync('/dev/null', 'r'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE') this.onAcceptError(e as NodeJS.ErrnoException);
    }
  }

  private onAcceptError(e: NodeJS.ErrnoException): void {
    const clients = this.connections.size;
    if (e.code === 'EMFILE') {
      const limit = this.fdLimit === null ? 'all the file descriptors' : `all ${this.fdLimit} file descriptors`;
      this.warnings.warn(
        'EMFILE',
        `out of file descriptors (EMFILE): ${limit} this process may open (ulimit -n) are in use, ${clients} by client connections; ` +
          `new connections to ${this.label} are dropped and files cannot be opened. ` +
          'Raise the limit: `ulimit -n 65536` in the shell that starts the broker, LimitNOFILE=65536 in its systemd unit, ' +
          '--ulimit nofile=65536:65536 for docker run; or set max.connections well below it.',
      );
    } else if (e.code === 'ENFILE') {
      this.warnings.warn(
        'ENFILE',
        `out of file descriptors (ENFILE): the system-wide table of open files is full (this process holds ${clients} client connections); ` +
          `new connections to ${this.label} are dropped. Raise fs.file-max (sysctl -w fs.file-max=N), or find the process holding so many files.`,
      );
    } else {
      this.warnings.warn('accept', `accepting a connection on ${this.label} failed: ${e.message}`);
    }
  }
}

/**
 * The message for a listener that cannot be bound: which listener and address, why, and what
 * to do about it.
 */
export function listenErrorMessage(e: NodeJS.ErrnoException, listenerName: string, host: string, port: number): string {
  const where = `Cannot listen on ${formatListener(listenerName, { host, port })} (listener ${listenerName})`;
  const elsewhere = `pick another port with --listeners ${formatListener(listenerName, { host, port: 0 }).replace(/:0$/, ':PORT')} (listeners= in a properties file; port 0 picks a free one)`;
  switch (e.code) {
    case 'EADDRINUSE':
      return `${where}: the address is already in use (EADDRINUSE): another process holds port ${port} (another broker? \`ss -ltnp 'sport = :${port}'\` names it). Stop it, or ${elsewhere}.`;
    case 'EACCES':
      return (
        `${where}: permission denied (EACCES): ports below 1024 are privileged. Use a port of 1024 or above: ${elsewhere}; ` +
        'or let the broker bind it (AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit, or setcap cap_net_bind_service=+ep on the node binary).'
      );
    case 'EADDRNOTAVAIL':
      return `${where}: ${host} is not an address of this machine (EADDRNOTAVAIL). Use one of its addresses, or an empty host (${formatListener(listenerName, { host: '', port })}) for every interface.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${where}: the host name ${host} does not resolve (${e.code}). Use an address of this machine, or an empty host for every interface.`;
    default:
      return `${where}: ${e.message}`;
  }
}

/** '::ffff:1.2.3.4' → '1.2.3.4'; other IPv6 addresses in their compressed lower-case form. */
function normalizeIp(address: string | undefined): string | null {
  if (address === undefined || address === '') return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (net.isIPv6(address)) {
    try {
      return new URL(`http://[${address}]/`).hostname.slice(1, -1);
    } catch {
      return address.toLowerCase();
    }
  }
  return address;
}

/** The per-IP overrides by IP address: IP keys as they are, host names resolved (a host that does not resolve is skipped, with a warning). */
async function resolveOverrides(overrides: Record<string, number>, logger: Logger): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [host, limit] of Object.entries(overrides)) {
    if (net.isIP(host) !== 0) {
      out.set(normalizeIp(host)!, limit);
      continue;
    }
    try {
      for (const a of await dns.promises.lookup(host, { all: true })) out.set(normalizeIp(a.address)!, limit);
    } catch (e) {
      logger.warn(`max.connections.per.ip.overrides: host ${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); its override is not applied.`);
    }
  }
  return out;
}

/** What a connection shares with its server: the listener's label, name and protocol, and the warning throttle. */
interface ConnectionContext {
  label(): string;
  readonly warnings: WarningThrottle;
  readonly listenerName: string;
  readonly securityProtocol: SecurityProtocol;
}

class Connection implements ConnectionInfo, AuthenticatingConnection {
  readonly remote: string;
  readonly remoteIp: string;
  readonly listenerName: string;
  readonly securityProtocol: SecurityProtocol;
  principal: KafkaPrincipal;
  /** SASL, on SASL listeners: sees every frame first. */
  private readonly auth: ConnectionAuthenticator | null;
  /** Set by closeAfter: when the connection is closed (nothing more is read meanwhile). */
  private closeAt: number | null = null;
  private closeScheduled = false;
  /** Until when (Date.now() ms) no request is read: quota throttling (see throttle). */
  private mutedUntil = 0;
  private muteTimer: NodeJS.Timeout | null = null;
  private unmute: (() => void) | null = null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private busy = false;
  private closed = false;
  /** Produce answers not yet written, in request order (see process). */
  private pipelined: Promise<ResponseChunk[] | null>[] = [];
  /** Resolves when `pipelined` has been written out (null while it is empty). */
  private pipelineDrained: Promise<void> | null = null;
  /** Whether a whole frame has been read: only a connection's first bytes are checked for HTTP or TLS. */
  private sawFrame = false;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    remoteIp: string,
    principal: KafkaPrincipal,
    private readonly opts: ServerOptions,
    private readonly handler: FrameHandler,
    private readonly ctx: ConnectionContext,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.remoteIp = remoteIp;
    this.principal = principal;
    this.listenerName = ctx.listenerName;
    this.securityProtocol = ctx.securityProtocol;
    this.auth = opts.authenticator?.(this) ?? null;
    socket.setTimeout(opts.idleTimeoutMs, () => {
      opts.logger.debug(`closing idle connection ${this.remote}`);
      this.destroy();
    });
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => opts.logger.debug(`connection ${this.remote}: ${e.message}`));
    socket.on('close', () => {
      this.closed = true;
      this.chunks = [];
      this.buffered = 0;
      this.endMute();
    });
    socket.on('drain', () => {
      if (!this.busy && !this.closed) socket.resume();
    });
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  setPrincipal(p: KafkaPrincipal): void {
    this.principal = p;
  }

  closeAfter(ms: number): void {
    this.closeAt ??= Date.now() + ms;
  }

  /** Ends the connection at closeAt, once what was answered is written (once, however often asked). */
  private closeLater(): void {
    this.socket.pause();
    if (this.closeScheduled) return;
    this.closeScheduled = true;
    const timer = setTimeout(() => {
      this.socket.end();
      // A peer that does not read its answer is not waited for long.
      setTimeout(() => this.destroy(), 1000).unref();
    }, Math.max(0, this.closeAt! - Date.now()));
    this.socket.once('close', () => clearTimeout(timer));
  }

  /** The frame to the authenticator first (SASL listeners), then to the handler. */
  private dispatch(frame: Buffer): ResponseChunk[] | null | Promise<ResponseChunk[] | null> {
    if (this.auth === null) return this.handler.handle(frame, this);
    const a = this.auth.handle(frame);
    if (a === 'pass') return this.handler.handle(frame, this);
    if (a instanceof Promise) return a.then((x) => (x === 'pass' ? this.handler.handle(frame, this) : x));
    return a;
  }

  throttle(ms: number): void {
    if (!(ms > 0)) return;
    this.mutedUntil = Math.max(this.mutedUntil, Date.now() + ms);
  }

  /** Waits out a throttle (the socket paused meanwhile); ends early when the connection closes. */
  private waitMute(): Promise<void> {
    return new Promise((resolve) => {
      this.unmute = resolve;
      this.muteTimer = setTimeout(() => this.endMute(), Math.max(0, this.mutedUntil - Date.now()));
    });
  }

  private endMute(): void {
    if (this.muteTimer !== null) clearTimeout(this.muteTimer);
    this.muteTimer = null;
    const resolve = this.unmute;
    this.unmute = null;
    resolve?.();
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    if (!this.busy) void this.process();
  }

  /** Peeks the int32 size prefix; null until 4 bytes are buffered. */
  private peekSize(): number | null {
    if (this.buffered < 4) return null;
    const first = this.chunks[0];
    if (first.length >= 4) return first.readInt32BE(0);
    const head = Buffer.concat(this.chunks, Math.min(this.buffered, 8));
    return head.readInt32BE(0);
  }

  /** Removes and returns the next whole frame (without its size prefix), or null. */
  private nextFrame(): Buffer | null {
    const size = this.peekSize();
    if (size === null) return null;
    const max = this.auth === null ? this.opts.maxRequestBytes : this.auth.maxFrameBytes(this.opts.maxRequestBytes);
    if (size < 0 || size > max) {
      const foreign = this.sawFrame ? null : recognizeForeignProtocol(Buffer.concat(this.chunks, Math.min(this.buffered, 512)));
      if (foreign !== null) {
        this.ctx.warnings.warn(foreign.kind, `closing connection ${this.remote}: ${foreign.what}: ${foreign.advice(this.ctx.label())}`);
      } else {
        this.opts.logger.warn(
          `closing connection ${this.remote}: request size ${size} is outside 0..${max} ` +
            (max < this.opts.maxRequestBytes ? '(sasl.server.max.receive.size: the connection has not authenticated)' : '(socket.request.max.bytes)'),
        );
      }
      this.destroy();
      return null;
    }
    const total = size + 4;
    if (this.buffered < total) return null;
    let frame: Buffer;
    const first = this.chunks[0];
    if (first.length >= total) {
      frame = first.subarray(4, total);
      if (first.length === total) this.chunks.shift();
      else this.chunks[0] = first.subarray(total);
    } else {
      const all = Buffer.concat(this.chunks, this.buffered);
      frame = all.subarray(4, total);
      this.chunks = all.length > total ? [all.subarray(total)] : [];
    }
    this.buffered -= total;
    this.sawFrame = true;
    return frame;
  }

  private async process(): Promise<void> {
    this.busy = true;
    let corked = false;
    try {
      for (;;) {
        if (this.closed) return;
        if (this.closeAt !== null) {
          if (corked) {
            this.socket.uncork();
            corked = false;
          }
          this.closeLater();
          return;
        }
        if (this.mutedUntil > Date.now() && this.buffered > 0) {
          // Throttled by a quota: requests already sent wait (Kafka mutes the channel).
          if (corked) {
            this.socket.uncork();
            corked = false;
          }
          this.socket.pause();
          await this.waitMute();
          continue;
        }
        const frame = this.nextFrame();
        if (frame === null) return;
        // (A frame before authentication may be a bare SASL token, not a request.)
        const produce = frame.length >= 2 && frame.readInt16BE(0) === PRODUCE_API_KEY && (this.auth === null || this.auth.authenticated);
        // Only Produce answers may be outstanding behind each other; anything else is handled
        // once they are all written, as if the connection had been muted all along.
        if (this.pipelineDrained !== null && (!produce || this.pipelined.length >= MAX_PIPELINED_PRODUCES)) {
          if (corked) {
            this.socket.uncork();
            corked = false;
          }
          this.socket.pause();
          while (this.pipelineDrained !== null && (!produce || this.pipelined.length >= MAX_PIPELINED_PRODUCES)) {
            // Anything else waits for every answer; a Produce for a free slot (the oldest answer).
            await (produce ? this.pipelined[0].then(noop, noop) : this.pipelineDrained);
          }
          if (this.closed) return;
        }
        let out = this.dispatch(frame);
        if (produce && (out instanceof Promise || this.pipelineDrained !== null)) {
          // A Produce has appended by the time its handler first waits (acks=all waits for the
          // high watermark): the next Produce of this connection may append right behind it, in
          // request order, while this one waits. Kafka mutes the channel instead, so each
          // acks=all request waits out the previous one's replication; answers still go out in
          // request order.
          this.pipeline(Promise.resolve(out));
          continue;
        }
        if (out instanceof Promise) {
          // Mute the connection while an asynchronous request (a long-poll, a metadata
          // write) is pending: responses must go out in request order.
          if (corked) {
            this.socket.uncork();
            corked = false;
          }
          this.socket.pause();
          out = await out;
          if (this.closed) {
            releaseChunks(out);
            return;
          }
        }
        if (out !== null && hasFileRegions(out)) {
          // Streamed from the files as the socket drains; the connection stays muted until the
          // whole response is out (as Kafka mutes a channel until its response is sent).
          if (corked) {
            this.socket.uncork();
            corked = false;
          }
          this.socket.pause();
          const stream = this.opts.stream ?? defaultStreamOptions();
          await streamResponse(this.socket, out, { ...stream, onProgress: () => this.socket.setTimeout(this.opts.idleTimeoutMs) });
          continue;
        }
        if (out !== null) {
          if (!corked) {
            this.socket.cork();
            corked = true;
          }
          for (const c of out as Buffer[]) this.socket.write(c);
        }
      }
    } catch (e) {
      this.opts.logger.warn(`closing connection ${this.remote}: ${(e as Error).message}`);
      this.destroy();
    } finally {
      if (corked && !this.closed) this.socket.uncork();
      this.busy = false;
      if (!this.closed && this.closeAt === null) {
        if (this.socket.writableLength > WRITE_HIGH_WATER || this.pipelined.length >= MAX_PIPELINED_PRODUCES) this.socket.pause();
        else this.socket.resume();
      }
    }
  }

  /** Queues a Produce answer; answers are written in the order queued, each once it is ready. */
  private pipeline(out: Promise<ResponseChunk[] | null>): void {
    this.pipelined.push(out);
    if (this.pipelineDrained === null) this.pipelineDrained = this.writePipelined();
  }

  private async writePipelined(): Promise<void> {
    try {
      while (this.pipelined.length > 0) {
        const chunks = await this.pipelined[0];
        this.pipelined.shift();
        if (this.closed) {
          releaseChunks(chunks);
          continue;
        }
        if (chunks !== null) {
          // One writev for the answer's pieces (size, header, body), not a syscall each.
          this.socket.cork();
          for (const c of chunks as Buffer[]) this.socket.write(c);
          this.socket.uncork();
        }
        // A slot freed: reading may go on (process() pauses while the pipeline is full).
        if (!this.busy && this.pipelined.length < MAX_PIPELINED_PRODUCES && this.socket.writableLength <= WRITE_HIGH_WATER) this.socket.resume();
      }
    } catch (e) {
      this.opts.logger.warn(`closing connection ${this.remote}: ${(e as Error).message}`);
      this.destroy();
      for (const p of this.pipelined.splice(0)) void p.then(releaseChunks, () => undefined);
    } finally {
      this.pipelineDrained = null;
    }
  }
}

function noop(): void {}

let defaultStream: Omit<StreamOptions, 'onProgress'> | null = null;

/** Buffered streaming within 64 MiB, for servers built without stream options (tests). */
function defaultStreamOptions(): Omit<StreamOptions, 'onProgress'> {
  defaultStream ??= { zeroCopy: null, budget: new ResponseBufferBudget(64 * 1024 * 1024), chunkBytes: 256 * 1024 };
  return defaultStream;
}

const HTTP_METHODS = ['GET ', 'POST', 'PUT ', 'HEAD', 'DELE', 'OPTI', 'PATC', 'CONN', 'TRAC', 'PRI '];

/**
 * Recognises the first bytes of an HTTP request or a TLS ClientHello, whose int32 "size" is
 * far above any request size (the bytes 'GET ' read as 1195725856). Kafka only says "Invalid
 * receive (size = …)"; naming the protocol tells the operator what was pointed at the port.
 */
export function recognizeForeignProtocol(head: Buffer): { kind: 'http' | 'tls'; what: string; advice: (listener: string) => string } | null {
  if (head.length < 4) return null;
  const start = head.toString('latin1', 0, 4);
  if (HTTP_METHODS.includes(start)) {
    const text = head.toString('latin1');
    const end = text.search(/[\r\n]/);
    const line = (end < 0 ? text : text.slice(0, end)).replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
    return {
      kind: 'http',
      what: `it sent an HTTP request ("${line}")`,
      advice: (listener) =>
        `this is a Kafka listener (${listener}), which speaks only the Kafka protocol; point a Kafka client at it (bootstrap.servers), ` +
        'and HTTP clients at the metrics endpoint (metrics.listener) instead',
    };
  }
  // A TLS record: content type 22 (handshake), protocol version 3.x.
  if (head[0] === 0x16 && head[1] === 0x03 && head[2] <= 0x04) {
    return {
      kind: 'tls',
      what: 'it started a TLS handshake',
      advice: (listener) =>
        `this listener (${listener}) does not speak TLS; configure the client with this listener's security.protocol, or point it at the broker's SSL or SASL_SSL listener`,
    };
  }
  return null;
}
