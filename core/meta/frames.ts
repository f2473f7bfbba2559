import type { FileHandle } from 'node:fs/promises';
import { crc32c } from '@node-rs/crc32';

/**
 * The embedded store's on-disk framing, used by both the journal and the snapshot:
 *
 *   ┌────────────┬────────────┬──────────────────────┐
 *   │ length u32 │ crc32c u32 │ payload (length B)   │   big-endian; CRC32C of the payload
 *   └────────────┴────────────┴──────────────────────┘
 *
 * A reader walks frames from the start and stops at the first one that is short, too long
 * or fails its CRC: everything before it is intact, everything from it on is a torn write
 * (or damage) and is cut off. Recovery is that one loop, not a list of special cases.
 */
export const FRAME_HEADER_BYTES = 8;

/**
 * Larger than any value the store accepts (MAX_VALUE_BYTES plus the key and framing), so a
 * length above it can only be garbage; it also bounds what one frame can make us allocate.
 */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;

export function encodeFrame(payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32c(payload) >>> 0, 4);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

export interface FrameScan {
  /** Bytes from the start of the file covered by intact frames. */
  validBytes: number;
  /** Bytes after them (a torn or damaged tail); 0 for a clean file. */
  tailBytes: number;
  /** Why the scan stopped early, when tailBytes > 0. */
  stopReason?: string;
}

const READ_CHUNK = 256 * 1024;

/**
 * Reads the frames of an open file in order, calling `onFrame` with each intact payload.
 * `onFrame` may return false to declare the frame unusable (e.g. undecodable JSON despite a
 * good CRC), which ends the scan there as if the frame were torn. Memory stays bounded by
 * one read chunk plus one frame, whatever the file size.
 */
export async function scanFrames(fh: FileHandle, onFrame: (payload: Buffer) => boolean): Promise<FrameScan> {
  const { size } = await fh.stat();
  let buf = Buffer.alloc(0);
  let bufStart = 0; // file position of buf[0]
  let pos = 0; // file position of the next frame

  // Makes buf hold at least `n` bytes starting at file position `pos`, or as many as the file has.
  const fill = async (n: number): Promise<number> => {
    const have = bufStart + buf.length - pos;
    if (have >= n) return have;
    const want = Math.min(Math.max(n, READ_CHUNK), size - pos);
    const next = Buffer.allocUnsafe(want);
    buf.copy(next, 0, pos - bufStart);
    let filled = have;
    while (filled < want) {
      const { bytesRead } = await fh.read(next, filled, want - filled, pos + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    buf = next.subarray(0, filled);
    bufStart = pos;
    return filled;
  };

  const stop = (reason: string): FrameScan => ({ validBytes: pos, tailBytes: size - pos, stopReason: reason });
  while (pos < size) {
    if ((await fill(FRAME_HEADER_BYTES)) < FRAME_HEADER_BYTES) return stop('short frame header');
    const at = pos - bufStart;
    const length = buf.readUInt32BE(at);
    const crc = buf.readUInt32BE(at + 4);
    // Check the length against what the file actually holds before reading that much.
    if (length > MAX_FRAME_PAYLOAD) return stop(`frame length ${length} exceeds ${MAX_FRAME_PAYLOAD}`);
    if (length > size - pos - FRAME_HEADER_BYTES) return stop('frame runs past the end of the file');
    await fill(FRAME_HEADER_BYTES + length);
    const start = pos - bufStart + FRAME_HEADER_BYTES;
    const payload = buf.subarray(start, start + length);
    if ((crc32c(payload) >>> 0) !== crc) return stop('frame CRC mismatch');
    if (!onFrame(payload)) return stop('frame content rejected');
    pos += FRAME_HEADER_BYTES + length;
  }
  return { validBytes: pos, tailBytes: 0 };
}
