import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type StrataClient } from './client';
import type { FetchedRecord } from './records';

/**
 * Every committed record of a partition from `from` (default: the log start) up to its last
 * stable offset as it stood when the read began (read_committed: never a record of an aborted or
 * open transaction). Stops early if a fetch makes no progress below that offset.
 */
export async function readCommitted(client: StrataClient, topic: string, partition: number, opts: { from?: bigint; maxBytes?: number } = {}): Promise<FetchedRecord[]> {
  const end = (await client.listOffsets(topic, partition, LATEST_TIMESTAMP, { isolationLevel: 1 })).offset;
  let offset = opts.from ?? (await client.listOffsets(topic, partition, EARLIEST_TIMESTAMP)).offset;
  const out: FetchedRecord[] = [];
  while (offset < end) {
    const r = await client.fetch(topic, partition, offset, { isolationLevel: 1, maxWaitMs: 0, maxBytes: opts.maxBytes });
    out.push(...r.records);
    if (r.nextOffset <= offset) break;
    offset = r.nextOffset;
  }
  return out;
}
