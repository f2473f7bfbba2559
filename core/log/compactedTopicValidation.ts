import { ErrorCode } from '../protocol/errorCodes';
import { RecordView, readStoredBatch, recordsSection, walkRecords } from './batchFilter';
import type { BatchInfo } from './recordBatch';

/**
 * Produce-side rule for compacted topics (cleanup.policy includes compact): every record needs a
 * key, or Kafka answers INVALID_RECORD ("Compacted topic cannot accept message without key"):
 * the cleaner keeps the latest record *per key*, so a keyless record has no meaning there (and
 * the cleaner drops any it meets).
 *
 * Call after `validateRecords` succeeded, with its batches, for partitions of compacted topics:
 *   - uncompressed batches: their records are walked (framing was already checked), no copies;
 *   - gzip batches: inflated (node:zlib) with at most `maxDecompressedBytes` of output, then
 *     walked; one that inflates to more is refused with INVALID_RECORD rather than inflated
 *     without bound;
 *   - snappy, lz4, zstd batches: cannot be inflated here (no codec is installed), so they are
 *     accepted unchecked and counted in `unchecked`. No data can be lost by that: the cleaner
 *     keeps batches it cannot read whole;
 *   - control batches (transaction markers, which the coordinator writes) are not checked.
 */

export type CompactedTopicValidation =
  | { ok: true; /** Batches accepted without checking their keys (codec not available). */ unchecked: number }
  | {
      ok: false;
      errorCode: number;
      message: string;
      /**
       * The offending batch of `records`, and the record's index within it when one record is to
       * blame (ProduceResponse v8+ record_errors[].batch_index is that record index).
       */
      batch: number;
      recordIndex?: number;
    };

export interface CompactedTopicValidationOptions {
  /** Cap on one gzip batch's inflated records (default 64 MiB). */
  maxDecompressedBytes?: number;
}

const DEFAULT_MAX_DECOMPRESSED = 64 * 1024 * 1024;

export function validateRecordKeysForCompaction(
  records: Buffer,
  batches: readonly BatchInfo[],
  opts: CompactedTopicValidationOptions = {},
): CompactedTopicValidation {
  const max = opts.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED;
  let unchecked = 0;
  for (let i = 0; i < batches.length; i++) {
    const b = batches[i];
    if (b.isControl) continue;
    if (b.compression !== 'none' && b.compression !== 'gzip') {
      unchecked++;
      continue;
    }
    const bytes = records.subarray(b.position, b.position + b.size);
    let keyless = -1;
    try {
      const section = recordsSection(bytes, readStoredBatch(bytes), max);
      if (section === null) {
        return { ok: false, errorCode: ErrorCode.INVALID_RECORD, message: `batch ${i}: gzip records inflate to more than ${max} bytes`, batch: i };
      }
      let n = 0;
      walkRecords(section, b.recordCount, (r: RecordView) => {
        if (r.keyLength < 0) {
          keyless = n;
          return false;
        }
        n++;
        return true;
      });
    } catch (e) {
      return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: `batch ${i}: ${(e as Error).message}`, batch: i };
    }
    if (keyless >= 0) {
      return {
        ok: false,
        errorCode: ErrorCode.INVALID_RECORD,
        message: `batch ${i}, record ${keyless}: compacted topic cannot accept a record without a key`,
        batch: i,
        recordIndex: keyless,
      };
    }
  }
  return { ok: true, unchecked };
}
