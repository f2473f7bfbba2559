/** Tiered aborted-transaction indexes: decoding the uploaded bytes, and one segment's search. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TransactionIndex, ABORTED_TXN_SIZE } from '../../core/log/txnIndex';
import { ReadCache } from '../../core/tier/readCache';
import type { RemoteSegment } from '../../core/tier/remoteLogMetadata';
import { remoteObjectKey, remoteSegmentKeys } from '../../core/tier/remoteSegmentKeys';
import { decodeTxnIndex, searchRemoteTxnIndex } from '../../core/tier/remoteTxnIndex';
import { TOPIC_ID, TierEnv } from './tierHelpers';

let env: TierEnv;

beforeEach(async () => {
  env = await TierEnv.create();
});

afterEach(async () => {
  await env.destroy();
});

const ENTRIES = [
  { producerId: 7n, firstOffset: 40n, lastOffset: 46n, lastStableOffset: 41n },
  { producerId: 9n, firstOffset: 41n, lastOffset: 48n, lastStableOffset: 49n },
  { producerId: 3n, firstOffset: 60n, lastOffset: 70n, lastStableOffset: 71n },
];

/** The bytes the log writes for ENTRIES (a real TransactionIndex file). */
function indexBytes(): Buffer {
  const file = path.join(env.root, '00000000000000000040.txnindex');
  const idx = TransactionIndex.open(file, { logger: () => undefined });
  for (const t of ENTRIES) idx.append(t);
  idx.close();
  return fs.readFileSync(file);
}

test('decodes what the log writes; refuses a partial entry, an unknown version, or entries out of order', () => {
  const bytes = indexBytes();
  expect(bytes.length).toBe(3 * ABORTED_TXN_SIZE);
  expect(decodeTxnIndex(bytes, 'k')).toEqual(ENTRIES);
  expect(decodeTxnIndex(Buffer.alloc(0), 'k')).toEqual([]);
  expect(() => decodeTxnIndex(bytes.subarray(0, 40), 'k')).toThrow(/not a whole number/);
  const badVersion = Buffer.from(bytes);
  badVersion.writeInt16BE(1, ABORTED_TXN_SIZE);
  expect(() => decodeTxnIndex(badVersion, 'k')).toThrow(/version 1/);
  const swapped = Buffer.concat([bytes.subarray(ABORTED_TXN_SIZE, 2 * ABORTED_TXN_SIZE), bytes.subarray(0, ABORTED_TXN_SIZE)]);
  expect(() => decodeTxnIndex(swapped, 'k')).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }));
});

test('a segment\'s search reads its index through the cache and answers as the local index does', async () => {
  const bytes = indexBytes();
  const id = 'a'.repeat(32);
  const txnKey = remoteObjectKey('remote-log', TOPIC_ID, 0, 40n, 0, id, 'txnindex');
  await env.files.put(txnKey, bytes);
  const seg: RemoteSegment = {
    topicId: TOPIC_ID,
    partition: 0,
    segmentId: id,
    baseOffset: 40n,
    lastOffset: 79n,
    sizeBytes: 1000,
    indexBytes: 0,
    timeIndexBytes: 0,
    maxTimestamp: -1n,
    leaderEpoch: 0,
    uploadedAt: 0,
    keys: { ...remoteSegmentKeys('remote-log', TOPIC_ID, 0, 40n, 0, id), txnIndex: txnKey },
    txnIndexBytes: bytes.length,
  };
  const cache = new ReadCache(env.objects, { chunkBytes: 1024, maxBytes: 4096 });
  const local = TransactionIndex.open(path.join(env.root, '00000000000000000040.txnindex'), { logger: () => undefined });
  try {
    for (const [from, to] of [[0n, 41n], [40n, 47n], [47n, 49n], [49n, 60n], [49n, 80n], [71n, 100n], [0n, 1000n]] as const) {
      expect(await searchRemoteTxnIndex(cache, seg, from, to)).toEqual(local.collectAbortedTxns(from, to));
    }
  } finally {
    local.close();
  }
  expect(env.objects.gets.filter((k) => k === txnKey)).toHaveLength(1); // then served from the cache
  // A merged neighbour's entries (a crash in the middle of a cleaner swap) belong to their own segment's search.
  expect((await searchRemoteTxnIndex(cache, { ...seg, lastOffset: 59n }, 0n, 1000n)).aborted.map((t) => t.producerId)).toEqual([7n, 9n]);
  // No index: no abort in the segment, and nothing read.
  const none = { ...seg, keys: remoteSegmentKeys('remote-log', TOPIC_ID, 0, 40n, 0, id), txnIndexBytes: undefined };
  expect(await searchRemoteTxnIndex(cache, none, 0n, 1000n)).toEqual({ aborted: [], complete: false });
});
