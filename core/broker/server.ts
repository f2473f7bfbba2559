import * as net from 'node:net';
import type { Logger } from '../common/logger';

/**
 * What the server hands a frame to: returns the response frame's chunks (size prefix
 * included), null when the request gets no response (Produce with acks=0), or a promise of
 * either. Throwing closes the connection (Kafka does the same for requests it cannot parse).
 */
export interface FrameHandler {
  handle(frame: Buffer, conn: ConnectionInfo): Buffer[] | null | Promise<Buffer[] | null>;
}

export interface ConnectionInfo {
  readonly id: number;
  readonly remote: string;
}

export interface ServerOptions {
  host: string;
  port: number;
  /** socket.request.max.bytes: larger (or negative) size prefixes close the connection. */
  maxRequestBytes: number;
  /** connections.max.idle.ms */
  idleTimeoutMs: number;
  logger: Logger;
}

/** Above this many queued response bytes, stop reading requests until the socket drains. */
const WRITE_HIGH_WATER = 32 * 1024 * 1024;

/**
 * The Kafka TCP listener: int32 size-prefixed frames in, responses out in request order.
 *
 * Requests of one connection are handled one at a time, as Kafka does by muting a channel
 * until its response is sent: a pipelining client still gets ordered responses, and
 * side effects (appends) happen in request order. Frames that are already buffered are
 * handled synchronously in one pass and their responses written under one cork.
 */
export class KafkaServer {
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private nextId = 1;

  constructor(private readonly opts: ServerOptions, private readonly handler: FrameHandler) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', onError);
        const addr = this.server.address() as net.AddressInfo;
        resolve({ host: this.opts.host, port: addr.port });
      });
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    await closed;
  }

  private accept(socket: net.Socket): void {
    const conn = new Connection(this.nextId++, socket, this.opts, this.handler);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
  }
}

class Connection implements ConnectionInfo {
  readonly remote: string;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private busy = false;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly opts: ServerOptions,
    private readonly handler: FrameHandler,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
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
    });
    socket.on('drain', () => {
      if (!this.busy && !this.closed) socket.resume();
    });
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
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
    if (size < 0 || size > this.opts.maxRequestBytes) {
      this.opts.logger.warn(
        `closing connection ${this.remote}: request size ${size} is outside 0..${this.opts.maxRequestBytes} (socket.request.max.bytes)`,
      );
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
    return frame;
  }

  private async process(): Promise<void> {
    this.busy = true;
    let corked = false;
    try {
      for (;;) {
        if (this.closed) return;
        const frame = this.nextFrame();
        if (frame === null) return;
        let out = this.handler.handle(frame, this);
        if (out instanceof Promise) {
          // Mute the connection while an asynchronous request (a long-poll, a metadata
          // write) is pending: responses must go out in request order.
          if (corked) {
            this.socket.uncork();
            corked = false;
          }
          this.socket.pause();
          out = await out;
          if (this.closed) return;
        }
        if (out !== null) {
          if (!corked) {
            this.socket.cork();
            corked = true;
          }
          for (const c of out) this.socket.write(c);
        }
      }
    } catch (e) {
      this.opts.logger.warn(`closing connection ${this.remote}: ${(e as Error).message}`);
      this.destroy();
    } finally {
      if (corked && !this.closed) this.socket.uncork();
      this.busy = false;
      if (!this.closed) {
        if (this.socket.writableLength > WRITE_HIGH_WATER) this.socket.pause();
        else this.socket.resume();
      }
    }
  }
}
