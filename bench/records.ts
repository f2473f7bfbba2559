import * as crypto from 'crypto';
import * as fs from 'fs';
import { MiB } from './units';

/**
 * Input files for `kcat -P -l`: `count` records of exactly `size` bytes, one per line. Generated
 * before the timed phases (the time to make them is not part of any measurement) and read by kcat
 * from the page cache.
 *
 * Values are printable, contain no '\n' (kcat's delimiter), and differ from record to record
 * (a sliding window over a random pool) so nothing downstream can shortcut identical payloads.
 */
export function writeRecordFile(file: string, count: number, size: number): number {
  if (size < 1) throw new Error('record size must be at least 1 byte');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const poolSize = 64 * 1024 + size;
  const random = crypto.randomBytes(poolSize);
  const pool = Buffer.alloc(poolSize);
  for (let i = 0; i < poolSize; i++) pool[i] = alphabet.charCodeAt(random[i]! & 63);

  const line = size + 1;
  const perBatch = Math.max(1, Math.floor(MiB / line));
  const batch = Buffer.alloc(perBatch * line);
  const fd = fs.openSync(file, 'w');
  try {
    let written = 0;
    while (written < count) {
      const n = Math.min(perBatch, count - written);
      for (let i = 0; i < n; i++) {
        const at = i * line;
        // Stride by a prime so consecutive records start at unrelated pool positions.
        const from = ((written + i) * 7919) % (poolSize - size);
        pool.copy(batch, at, from, from + size);
        batch[at + size] = 0x0a;
      }
      const bytes = n * line;
      let off = 0;
      while (off < bytes) off += fs.writeSync(fd, batch, off, bytes - off);
      written += n;
    }
    // Pay the writeback now: hundreds of MB of dirty pages flushing during the timed phases would
    // compete with the broker's own writes and disturb what we measure.
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return count * line;
}
