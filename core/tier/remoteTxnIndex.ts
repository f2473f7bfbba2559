import { StrataError } from '../common/errors';
import type { AbortedTxn } from '../log/producerState';
import { ABORTED_TXN_SIZE, decodeAbortedTxns, searchAbortedTxns, type AbortedRange } from '../log/txnIndex';
import type { ReadCache } from './readCache';
import type { RemoteSegment } from './remoteLogMetadata';

/**
 * The aborted-transaction index of a tiered segment: the bytes of its local `.txnindex`
 * (core/log/txnIndex.ts: 34-byte entries, Kafka's AbortedTxn), uploaded with it and read back
 * whole through the read cache for read_committed fetches below the local log.
 *
 *   remote  |seg 0 ·····|seg 1 ···A7|seg 2 ·····|seg 3 ··A9·|   local |seg 3|seg 4 ···|
 *                        .txnindex  (none)       .txnindex
 *   a search for [from, to) starts at the segment holding `from` and goes on, segment by
 *   segment, until an entry's lastStableOffset reaches `to` (no later marker can belong to a
 *   transaction overlapping the range); segments without an index hold no abort and are skipped
 *   (Kafka's RemoteLogManager.collectAbortedTransactions).
 */

/**
 * Decodes an uploaded transaction index. Throws STORAGE_IO for anything TransactionIndex.open
 * would refuse (a size not a whole number of entries: the object is written whole, so there is
 * no torn tail to forgive).
 */
export function decodeTxnIndex(buf: Buffer, what: string): AbortedTxn[] {
  if (buf.length % ABORTED_TXN_SIZE !== 0) throw damaged(what, `${buf.length} bytes is not a whole number of ${ABORTED_TXN_SIZE}-byte entries`);
  return decodeAbortedTxns(buf, `remote ${what}`);
}

/** Kafka's TxnIndexSearchResult over one tiered segment's entries. */
export interface RemoteTxnSearch {
  aborted: AbortedRange[];
  /** An entry's lastStableOffset reached the upper bound: later segments need not be searched. */
  complete: boolean;
}

/**
 * Reads `seg`'s transaction index (nothing when it has none) and returns the aborted
 * transactions overlapping [from, to) whose marker lies in the segment (the index of a segment
 * the cleaner merged may list its neighbours' entries too: those belong to their own segment's
 * search), as TransactionIndex.collectAbortedTxns does locally. May throw STORE_UNAVAILABLE
 * (time-bounded by the cache), NOT_FOUND (the segment was deleted or replaced under the reader)
 * or STORAGE_IO (a damaged object).
 */
export async function searchRemoteTxnIndex(cache: ReadCache, seg: RemoteSegment, from: bigint, to: bigint): Promise<RemoteTxnSearch> {
  const key = seg.keys.txnIndex;
  const size = seg.txnIndexBytes ?? 0;
  if (key === undefined || size === 0) return { aborted: [], complete: false };
  const entries = decodeTxnIndex(await cache.readBytes(key, size, 0, size), key);
  return searchAbortedTxns(
    entries.filter((t) => t.lastOffset >= seg.baseOffset && t.lastOffset <= seg.lastOffset),
    from,
    to,
  );
}

function damaged(what: string, why: string): StrataError {
  return new StrataError('STORAGE_IO', `remote transaction index ${what} is damaged: ${why}`);
}
