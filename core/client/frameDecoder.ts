import { StrataError } from '../common/errors';

/**
 * Reassembles size-prefixed Kafka frames (int32 big-endian length, then that many bytes) from
 * the arbitrary chunks a TCP socket delivers. Chunks are kept as a list and only joined once a
 * whole frame is there, so a large response arriving in many small reads costs one copy, and a
 * frame that sits inside one chunk costs none.
 *
 * The length is untrusted: anything negative or above `maxFrameBytes` is rejected before a
 * single byte is buffered for it, so a corrupt or hostile peer cannot make us allocate.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the frame being collected, once its 4-byte prefix has arrived; -1 before. */
  private frameSize = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes held that do not yet form a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feeds one chunk; returns the frames (without their size prefix) it completed, in order. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.frameSize < 0) {
        if (this.buffered < 4) break;
        const size = this.take(4).readInt32BE(0);
        if (size < 0 || size > this.maxFrameBytes) {
          throw new StrataError('PROTOCOL_MALFORMED', `frame size ${size} is outside 0..${this.maxFrameBytes}`);
        }
        this.frameSize = size;
      }
      if (this.buffered < this.frameSize) break;
      frames.push(this.take(this.frameSize));
      this.frameSize = -1;
    }
    return frames;
  }

  /** Removes and returns the next n buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      // Fast path: the bytes lie within the first chunk; hand out a view, no copy.
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(used);
    }
    this.buffered -= n;
    return out;
  }
}
