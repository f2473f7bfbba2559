import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC-32C (Castagnoli), the checksum RecordBatch v2 uses. `@node-rs/crc32` computes it with
 * SIMD/SSE4.2 instructions; on large produce batches it is the dominant cost of an append, so
 * everything here is a thin pass-through.
 *
 * `initial` continues a running checksum: crc32c(b, crc32c(a)) === crc32c(concat(a, b)). Recovery
 * uses that to check batches far larger than its read buffer without allocating them whole.
 */
export function crc32c(buf: Uint8Array, initial?: number): number {
  return nativeCrc32c(buf, initial) >>> 0;
}
