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
 *   connection (fetch.response.max.buffer.bytes); once it is spent, connections go on with
 *   chunks of FLOOR_CHUNK_BYTES (16 KiB), never waiting: a connection that stops reading holds
 *   its one chunk until it is closed, and waiting on it would let a few hundred stalled readers
 *   starve every other consumer. Memory: the budget plus 16 KiB per connection at most.
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
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i];
      if (socket.destroyed) throw new StrataError('CLOSED', 'the connection closed while a response was being sent');
      if (!isFileRegion(c)) {
        // Consecutive in-memory pieces (size, header, the framing between regions) go out in one writev.
        socket.cork();
        socket.write(c);
        while (i + 1 < chunks.length && !isFileRegion(chunks[i + 1])) socket.write(chunks[++i] as Buffer);
        socket.uncork();
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
  // One buffer for the region's chunks: each is read into it once the previous one's write has
  // completed (for TLS, once it was encrypted), so a long read makes no garbage per chunk.
  let scratch: Buffer | null = null;
  while (sent < r.length) {
    if (socket.destroyed) throw new StrataError('CLOSED', 'the connection closed while a response was being sent');
    const grant = opts.budget.take(Math.min(opts.chunkBytes, r.length - sent));
    let buf: Buffer;
    try {
      if (scratch === null || scratch.length < grant) scratch = Buffer.allocUnsafeSlow(grant);
      buf = readRegion(r, sent, grant, scratch.subarray(0, grant));
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

/** What a connection may always hold for a response being sent, whatever the budget says. */
export const FLOOR_CHUNK_BYTES = 16 * 1024;

/**
 * The bytes the connections together hold in memory for responses being streamed from files
 * (fetch.response.max.buffer.bytes). A take is never refused or delayed: it gets what it asks
 * while the budget lasts, then FLOOR_CHUNK_BYTES (counted as an overdraft), so progress never
 * depends on another connection draining. Each connection holds one chunk at a time, so the
 * total stays under the budget plus FLOOR_CHUNK_BYTES per connection.
 */
export class ResponseBufferBudget {
  private used = 0;

  constructor(private max: number) {}

  /** Bytes held now (may exceed the capacity by the floor chunks of an overdraft). */
  get inUse(): number {
    return this.used;
  }

  get capacity(): number {
    return this.max;
  }

  set capacity(n: number) {
    this.max = n;
  }

  /** Takes up to `want` bytes: all of it while the budget lasts, else at most FLOOR_CHUNK_BYTES. */
  take(want: number): number {
    const free = this.max - this.used;
    const n = Math.max(1, Math.min(want, Math.max(free, FLOOR_CHUNK_BYTES)));
    this.used += n;
    return n;
  }

  release(n: number): void {
    this.used -= n;
  }
}
