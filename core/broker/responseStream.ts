import type * as net from 'node:net';
import { StrataError } from '../common/errors';
import { isFileRegion, readRegion, releaseChunks, type FileRegion, type ResponseChunk } from '../common/fileRegion';
import { socketFd, type ZeroCopy } from '../net/zeroCopy';

/**
 * Sends a response whose records are regions of segment files, as the socket drains, so that a
 * fetch of 55 MiB costs the broker a small buffer, not 55 MiB of heap (Kafka's FileRecords
 * writeTo does the same from its network threads).
 *
 * Two ways to move a region:
 * - zero-copy: sendfile(2) from the file to the socket (the addon in native/sendfile), waiting
 *   for the socket to become writable whenever it would block: no byte enters user space;
 * - buffered (no addon, or the socket has no descriptor, e.g. TLS later): one chunk of at most
 *   `chunkBytes` at a time is read into memory and written, the next read waiting until the
 *   previous chunk has reached the kernel. Chunks come out of a budget shared by every
 *   connection (fetch.response.max.buffer.bytes), so many slow readers cannot add up to more
 *   than it; a connection waits for budget when it is spent.
 *
 * The connection sends one response at a time, so nothing else writes to the socket meanwhile.
 * A failure after the first byte (a file cut short under the response, the peer gone) leaves a
 * partial frame on the wire: the caller must close the connection.
 */
export interface StreamOptions {
  readonly zeroCopy: ZeroCopy | null;
  readonly budget: ResponseBufferBudget;
  /** The most bytes of a region a connection holds in memory at once on the buffered path. */
  readonly chunkBytes: number;
  /** Called while bytes move without Node seeing them (zero-copy), at most once a second: keeps the idle timer from firing. */
  readonly onProgress?: () => void;
}

/** What moved how, for the metrics (one broker per process). */
export interface StreamCounters {
  /** File bytes sent with sendfile. */
  zeroCopyBytes: number;
  /** File bytes read into memory and written. */
  bufferedBytes: number;
  /** Responses being streamed now (each a connection that waits for its socket to drain). */
  streaming: number;
}

export const streamCounters: StreamCounters = { zeroCopyBytes: 0, bufferedBytes: 0, streaming: 0 };

export function hasFileRegions(chunks: readonly ResponseChunk[]): boolean {
  for (const c of chunks) if (isFileRegion(c)) return true;
  return false;
}

/**
 * Writes `chunks` to `socket` in order; resolves once every byte has been handed to the kernel
 * (or Node's write queue, for the buffers after the last region). Every region is released,
 * whatever happens.
 */
export async function streamResponse(socket: net.Socket, chunks: readonly ResponseChunk[], opts: StreamOptions): Promise<void> {
  streamCounters.streaming++;
  try {
    const fd = opts.zeroCopy === null ? null : socketFd(socket);
    for (const c of chunks) {
      if (socket.destroyed) throw new StrataError('CLOSED', 'the connection closed while a response was being sent');
      if (!isFileRegion(c)) {
        socket.write(c);
        continue;
      }
      if (fd !== null && opts.zeroCopy !== null) await sendZeroCopy(socket, fd, c, opts.zeroCopy, opts);
      else await sendBuffered(socket, c, opts);
    }
  } finally {
    streamCounters.streaming--;
    releaseChunks(chunks);
  }
}

/** Resolves when Node's write queue is empty, i.e. every earlier write has reached the kernel. */
function flushed(socket: net.Socket): Promise<void> {
  if (socket.writableLength === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    // An empty write's callback runs after every write queued before it.
    socket.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}

async function sendZeroCopy(socket: net.Socket, fd: number, r: FileRegion, zc: ZeroCopy, opts: StreamOptions): Promise<void> {
  await flushed(socket);
  let sent = 0;
  let lastProgress = Date.now();
  while (sent < r.length) {
    // The descriptor is only ours while the socket is open: a closed socket's number may already
    // belong to another file.
    if (socket.destroyed || socketFd(socket) !== fd) throw new StrataError('CLOSED', 'the connection closed while a response was being sent');
    const n = zc.send(fd, r.fd, r.position + sent, r.length - sent);
    if (n > 0) {
      sent += n;
      streamCounters.zeroCopyBytes += n;
      if (opts.onProgress && Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        opts.onProgress();
      }
      continue;
    }
    if (n === 0) {
      throw new StrataError('STORAGE_IO', `${r.path} ends before the ${r.length} bytes promised at ${r.position} (the segment was cut short)`);
    }
    await writable(socket, fd, zc);
  }
}

/** Resolves when the socket can take more bytes; rejects when it closes first. */
function writable(socket: net.Socket, fd: number, zc: ZeroCopy): Promise<void> {
  return new Promise((resolve, reject) => {
    let cancel: (() => void) | null = null;
    const onClose = (): void => {
      cancel?.();
      reject(new StrataError('CLOSED', 'the connection closed while a response was being sent'));
    };
    socket.once('close', onClose);
    try {
      cancel = zc.whenWritable(fd, (err: Error | null) => {
        socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      });
    } catch (e) {
      socket.off('close', onClose);
      reject(e);
    }
  });
}

async function sendBuffered(socket: net.Socket, r: FileRegion, opts: StreamOptions): Promise<void> {
  let sent = 0;
  while (sent < r.length) {
    const n = Math.min(opts.chunkBytes, r.length - sent);
    const grant = await opts.budget.acquire(n);
    let buf: Buffer;
    try {
      if (socket.destroyed) throw new StrataError('CLOSED', 'the connection closed while a response was being sent');
      buf = readRegion(r, sent, grant);
    } catch (e) {
      opts.budget.release(grant);
      throw e;
    }
    sent += grant;
    streamCounters.bufferedBytes += grant;
    await new Promise<void>((resolve, reject) => {
      socket.write(buf, (err) => {
        opts.budget.release(grant);
        if (err) reject(err);
        else resolve();
      });
    });
  }
}

/**
 * The bytes every connection together may hold in memory for responses being streamed from
 * files (fetch.response.max.buffer.bytes). A request for more than is free waits, first come
 * first served; a request for more than the whole budget is granted the whole budget when it is
 * free, so a connection always makes progress.
 */
export class ResponseBufferBudget {
  private used = 0;
  private readonly waiters: { want: number; grant: (n: number) => void }[] = [];

  constructor(private max: number) {}

  get inUse(): number {
    return this.used;
  }

  get capacity(): number {
    return this.max;
  }

  /** Changes the budget (dynamic config): waiters that now fit are let through. */
  set capacity(n: number) {
    this.max = n;
    this.drain();
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves with the bytes granted: `want`, or the whole budget if `want` is larger. */
  acquire(want: number): Promise<number> {
    const n = Math.max(1, Math.min(want, this.max));
    if (this.waiters.length === 0 && this.used + n <= this.max) {
      this.used += n;
      return Promise.resolve(n);
    }
    return new Promise((resolve) => this.waiters.push({ want: n, grant: resolve }));
  }

  release(n: number): void {
    this.used -= n;
    this.drain();
  }

  private drain(): void {
    while (this.waiters.length > 0) {
      const w = this.waiters[0];
      const n = Math.max(1, Math.min(w.want, this.max));
      if (this.used + n > this.max && this.used > 0) return;
      this.waiters.shift();
      this.used += n;
      w.grant(n);
    }
  }
}
