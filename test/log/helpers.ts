import { isStrataError } from '../../core/common/errors';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_LOG_CONFIG, LogConfig } from '../../core/log/logConfig';
import { CompressionName } from '../../core/log/recordBatch';
import { buildRecordBatch, RecordInput } from '../../core/log/recordBatchBuilder';

/** Shared fixtures for the core/log tests: temp dirs, small configs, batches with known contents. */

export function makeTmpDir(prefix = 'strata-log-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Small segments and a dense index so a few KB of data exercise rolls and index lookups. */
export function smallConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...DEFAULT_LOG_CONFIG, segmentBytes: 4096, indexIntervalBytes: 256, ...overrides };
}

export interface BatchSpec {
  /** Number of records (default 1). */
  count?: number;
  /** Label put in each value: `${label}-${i}`. */
  label?: string;
  /** Timestamp of the first record; record i gets ts + i. */
  timestamp?: bigint;
  /** Pad values to at least this many bytes. */
  valueSize?: number;
  compression?: CompressionName;
  producerId?: bigint;
  baseSequence?: number;
}

export function recordsOf(spec: BatchSpec = {}): RecordInput[] {
  const count = spec.count ?? 1;
  const ts = spec.timestamp ?? 1_700_000_000_000n;
  const label = spec.label ?? 'r';
  const out: RecordInput[] = [];
  for (let i = 0; i < count; i++) {
    const v = `${label}-${i}`;
    out.push({
      key: Buffer.from(`k${i}`),
      value: Buffer.from(spec.valueSize ? v.padEnd(spec.valueSize, '.') : v),
      headers: i % 2 === 0 ? [{ key: 'h', value: Buffer.from(String(i)) }] : [],
      timestamp: ts + BigInt(i),
    });
  }
  return out;
}

export function batch(spec: BatchSpec = {}): Buffer {
  return buildRecordBatch({
    records: recordsOf(spec),
    compression: spec.compression,
    producerId: spec.producerId,
    baseSequence: spec.baseSequence,
  });
}

/** A logger that records lines instead of printing them. */
export function captureLogger(): { logger: (m: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { logger: (m) => lines.push(m), lines };
}

export const quiet = (): void => undefined;

/** Recomputes the CRC of the batch at `position` after a test edited CRC-covered bytes. */
export function fixCrc(buf: Buffer, position = 0): Buffer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { crc32c } = require('../../core/log/crc32c') as typeof import('../../core/log/crc32c');
  const end = position + 12 + buf.readInt32BE(position + 8);
  buf.writeUInt32BE(crc32c(buf.subarray(position + 21, end)), position + 17);
  return buf;
}

/** Everything readable from `from`, decoded: [offset, value] pairs. */
export function readAll(
  log: import('../../core/log/partitionLog').PartitionLog,
  from: bigint = log.logStartOffset,
): [bigint, string | null][] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { decodeRecordBatches } = require('../../core/log/recordDecoder') as typeof import('../../core/log/recordDecoder');
  const r = log.read(from, 1 << 30, { minOneBatch: true });
  return decodeRecordBatches(Buffer.concat(r.records)).flatMap((b) => b.records.map((x): [bigint, string | null] => [x.offset, x.value?.toString() ?? null]));
}

/** The StrataError code `fn` throws (a message for anything else), or undefined when it does not throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isStrataError(e) ? e.code : `non-strata: ${(e as Error).message}`;
  }
  return undefined;
}
