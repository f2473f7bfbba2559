import { ErrorCode } from '../protocol/errorCodes';
import { RecordView, readStoredBatch, recordsSection, walkRecords } from './batchFilter';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, codecFor } from './codecs';
import type { BatchInfo } from './recordBatch';

/**
 * Produce-side rule for compacted topics (cleanup.policy includes compact): every record needs a
 * key, or Kafka answers INVALID_RECORD ("Compacted topic cannot accept message without key"):
 * the cleaner keeps the latest record *per key*, so a keyless record has no meaning there (and
 * the cleaner drops any it meets).
 *
 * Call after `validateRecords` succeeded, with its batches, for partitions of compacted topics:
 *   - uncompressed batches: their records are walked (framing was already checked), no copies;
 *   - compressed batches (gzip, snappy, lz4, zstd: codecs.ts): inflated with at most
 *     `maxDecompressedBytes` of output, then walked; one that inflates to more is refused with
 *     INVALID_RECORD rather than inflated without bound, one whose data is damaged with
 *     CORRUPT_MESSAGE;
 *   - a codec whose library is not available in this process: its batches are accepted
 *     unchecked and counted in `unchecked`. No data can be lost by that: the cleaner keeps
 *     batches it cannot read whole;
 *   - control batches (transaction markers, which the coordinator writes) are not checked.
 */

/** One refused record (ProduceResponse v8+ record_errors, KIP-467). */
export interface RecordError {
  /** The record's index within its batch (Kafka's batch_index). */
  batchIndex: number;
  message: string;
}

export type CompactedTopicValidation =
  | { ok: true; /** Batches accepted without checking their keys (codec not available). */ unchecked: number }
  | {
      ok: false;
      errorCode: number;
      message: string;
      /** The first offending batch of `records`. */
      batch: number;
      /**
       * Every keyless record, by its index within its batch, so a client fails exactly those
       * (Kafka's RecordValidationException); empty when the batch as a whole is at fault.
       */
      recordErrors: RecordError[];
    };

export interface CompactedTopicValidationOptions {
  /** Cap on one compressed batch's inflated records (default 64 MiB). */
  maxDecompressedBytes?: number;
}

export function validateRecordKeysForCompaction(
  records: Buffer,
  batches: readonly BatchInfo[],
  opts: CompactedTopicValidationOptions = {},
): CompactedTopicValidation {
  const max = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  let unchecked = 0;
  let firstBatch = -1;
  const recordErrors: RecordError[] = [];
  for (let i = 0; i < batches.length; i++) {
    const b = batches[i];
    if (b.isControl) continue;
    if (b.compression !== 'none' && codecFor(b.compression) === null) {
      unchecked++;
      continue;
    }
    const bytes = records.subarray(b.position, b.position + b.size);
    try {
      const section = recordsSection(bytes, readStoredBatch(bytes), max);
      if (section === null) {
        return { ok: false, errorCode: ErrorCode.INVALID_RECORD, message: `batch ${i}: ${b.compression} records inflate to more than ${max} bytes`, batch: i, recordErrors: [] };
      }
      let n = 0;
      walkRecords(section, b.recordCount, (r: RecordView) => {
        if (r.keyLength < 0) {
          if (firstBatch < 0) firstBatch = i;
          recordErrors.push({ batchIndex: n, message: KEYLESS_MESSAGE });
        }
        n++;
      });
    } catch (e) {
      return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: `batch ${i}: ${(e as Error).message}`, batch: i, recordErrors: [] };
    }
  }
  if (recordErrors.length > 0) {
    // Kafka's LogValidator wording: the count, then at most the first three record errors.
    const shown = recordErrors.slice(0, 3).map((r) => `record ${r.batchIndex}: ${r.message}`);
    return {
      ok: false,
      errorCode: ErrorCode.INVALID_RECORD,
      message: `One or more records have been rejected due to ${recordErrors.length} record errors in total, and only showing the first three errors at most: [${shown.join(', ')}]`,
      batch: firstBatch,
      recordErrors,
    };
  }
  return { ok: true, unchecked };
}

const KEYLESS_MESSAGE = 'Compacted topic cannot accept message without key.';
