import { StrataError } from '../common/errors';
import { CompressionName } from '../log/recordBatch';
import { buildRecordBatch, RecordInput } from '../log/recordBatchBuilder';
import { decodeRecordBatches } from '../log/recordDecoder';

/**
 * The client's view of records: what callers hand to `produce` (strings welcome) and what
 * `fetch` returns. Encoding and decoding are core/log's, with every Kafka codec (gzip, snappy,
 * lz4, zstd: core/log/codecs.ts; inflates bounded to 64 MiB a batch); this module only adapts
 * shapes and applies the consumer-side rules (skip control batches, skip records before the
 * fetch offset, compute where the next fetch starts).
 */

export type { CompressionName };

export interface ProduceRecord {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Array<{ key: string; value: Buffer | string | null }>;
  /** Milliseconds since the epoch; default now. */
  timestamp?: bigint | number;
}

export interface FetchedRecord {
  offset: bigint;
  timestamp: bigint;
  timestampType: 'CreateTime' | 'LogAppendTime';
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<{ key: string; value: Buffer | null }>;
}

function toBytes(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v) : v;
}

/**
 * Encodes records as one RecordBatch v2 (baseOffset 0: the broker assigns offsets), compressed
 * as a Kafka client would (snappy xerial-framed and lz4 in 64 KiB frame blocks, as the Java
 * client writes them). COMPRESSION_UNSUPPORTED when the codec's library did not load here.
 */
export function encodeRecordBatch(records: ProduceRecord[], compression: CompressionName): Buffer {
  if (records.length === 0) throw new StrataError('BATCH_INVALID', 'produce needs at least one record');
  return buildRecordBatch({ records: toRecordInputs(records), compression });
}

/** Records as the batch builder takes them: keys, values and header values as bytes, timestamps as bigint. */
export function toRecordInputs(records: readonly ProduceRecord[]): RecordInput[] {
  return records.map((r) => ({
    key: toBytes(r.key),
    value: toBytes(r.value),
    headers: (r.headers ?? []).map((h) => ({ key: h.key, value: toBytes(h.value) })),
    timestamp: r.timestamp === undefined ? undefined : BigInt(r.timestamp),
  }));
}

export interface DecodedFetch {
  records: FetchedRecord[];
  nextOffset: bigint;
}

/** An aborted transaction a read_committed fetch response lists: its producer and first offset. */
export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

/**
 * Turns a fetch response's `records` bytes into records at or after `fetchOffset`.
 *
 * - A fetch may start inside a batch (the broker returns whole batches), so records before
 *   `fetchOffset` are dropped.
 * - Control batches (transaction markers) carry no user data and are skipped, but still move
 *   `nextOffset` forward, as does a batch whose records were all compacted away.
 * - read_committed (`aborted` given: the response's aborted_transactions): transactional batches
 *   of an aborted transaction are dropped, as Kafka's consumer does — a producer counts as
 *   aborting from the first offset of its aborted transaction until its ABORT marker.
 * - A trailing partial batch is ignored; if there is nothing BUT a partial batch, the batch is
 *   larger than the fetch size and fetching again would loop forever, so that is an error.
 */
export function decodeFetchedRecords(buf: Buffer | null, fetchOffset: bigint, aborted: readonly AbortedTransaction[] | null = null): DecodedFetch {
  if (buf === null || buf.length === 0) return { records: [], nextOffset: fetchOffset };
  const batches = decodeRecordBatches(buf);
  if (batches.length === 0) {
    throw new StrataError('BATCH_TOO_LARGE', `the record batch at offset ${fetchOffset} is larger than the fetch size (${buf.length} bytes); fetch with a larger maxBytes`);
  }
  const records: FetchedRecord[] = [];
  let nextOffset = fetchOffset;
  // Kafka's Fetcher: aborted transactions by first offset, and the producers inside one now.
  const pending = aborted === null ? [] : [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const aborting = new Set<bigint>();
  for (const b of batches) {
    if (b.lastOffset + 1n > nextOffset) nextOffset = b.lastOffset + 1n;
    if (aborted !== null && b.producerId >= 0n) {
      while (pending.length > 0 && pending[0].firstOffset <= b.lastOffset) aborting.add(pending.shift()!.producerId);
      if (b.isControl) {
        if (isAbortMarker(b.records[0]?.key ?? null)) aborting.delete(b.producerId);
        continue;
      }
      if (b.isTransactional && aborting.has(b.producerId)) continue;
    }
    if (b.isControl) continue;
    for (const r of b.records) {
      if (r.offset < fetchOffset) continue;
      records.push({ offset: r.offset, timestamp: r.timestamp, timestampType: b.timestampType, key: r.key, value: r.value, headers: r.headers });
    }
  }
  return { records, nextOffset };
}

/** A control record's key: int16 version, int16 type (0 ABORT, 1 COMMIT). */
function isAbortMarker(key: Buffer | null): boolean {
  return key !== null && key.length >= 4 && key.readInt16BE(2) === 0;
}
