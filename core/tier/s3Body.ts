import type { Readable } from 'node:stream';

/**
 * Byte plumbing for the S3 adapter, kept apart from the SDK calls: cutting a stream into
 * exact-size pieces (multipart parts) with bounded memory, and reading a response body whose
 * size the server announced without trusting the server to stop there.
 */

/** Reads exact-size pieces from a stream; holds at most one piece plus one chunk in memory. */
export class PieceReader {
  private readonly it: AsyncIterator<unknown>;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private ended = false;
  /** Bytes handed out so far. */
  total = 0;

  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes: exactly n unless the stream ends first (then fewer, possibly none). */
  async read(n: number): Promise<Buffer> {
    while (this.heldBytes < n && !this.ended) {
      const next = await this.it.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const v = next.value;
      const chunk = typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array);
      if (chunk.length === 0) continue;
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    }
    const all = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held, this.heldBytes);
    const piece = all.length <= n ? all : all.subarray(0, n);
    const rest = all.length <= n ? null : all.subarray(n);
    this.held = rest ? [rest] : [];
    this.heldBytes = rest ? rest.length : 0;
    this.total += piece.length;
    return piece;
  }

  /** Puts bytes back in front (they are read again by the next read). */
  unshift(buf: Buffer): void {
    if (buf.length === 0) return;
    this.held.unshift(buf);
    this.heldBytes += buf.length;
    this.total -= buf.length;
  }

  /** Stops reading early (a failed upload): releases the source stream. */
  async cancel(): Promise<void> {
    this.held = [];
    this.heldBytes = 0;
    await this.it.return?.().catch(() => undefined);
  }
}

/**
 * Collects a response body of `length` announced bytes, keeping those from `skip` on, at
 * most `take` of them (a server that ignored a Range header sends the whole object). More
 * bytes than announced, or fewer, is an error: the buffer is sized from what was asked for,
 * never from what the server sends.
 */
export async function readBody(body: Readable, length: number, skip: number, take: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(Math.max(0, Math.min(take, length - skip)));
  let seen = 0;
  let filled = 0;
  try {
    for await (const raw of body) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
      const from = seen;
      seen += chunk.length;
      if (seen > length) throw new Error(`the response body is longer than its announced ${length} bytes`);
      // The part of [from, seen) that falls inside [skip, skip + out.length).
      const lo = Math.max(from, skip);
      const hi = Math.min(seen, skip + out.length);
      if (hi > lo) {
        chunk.copy(out, filled, lo - from, hi - from);
        filled += hi - lo;
      }
    }
  } finally {
    body.destroy();
  }
  if (seen !== length) throw new Error(`the response body ended after ${seen} of its announced ${length} bytes`);
  return out;
}
