import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type StrataClient } from '../../core/client/client';
import type { FetchedRecord } from '../../core/client/records';

/** Every committed record of a partition from `from` (default: the log start), read_committed up to the last stable offset. */
export async function readCommitted(c: StrataClient, topic: string, partition: number, from?: bigint): Promise<FetchedRecord[]> {
  const end = (await c.listOffsets(topic, partition, LATEST_TIMESTAMP, { isolationLevel: 1 })).offset;
  let offset = from ?? (await c.listOffsets(topic, partition, EARLIEST_TIMESTAMP)).offset;
  const out: FetchedRecord[] = [];
  while (offset < end) {
    const r = await c.fetch(topic, partition, offset, { isolationLevel: 1, maxWaitMs: 0 });
    out.push(...r.records);
    if (r.nextOffset <= offset) break;
    offset = r.nextOffset;
  }
  return out;
}

/** What a copy of a record must keep: key, value, headers (order, names, bytes, nulls), timestamp; comparable with toEqual. */
export function recordView(r: FetchedRecord): unknown {
  return {
    key: r.key?.toString('hex') ?? null,
    value: r.value?.toString('hex') ?? null,
    headers: r.headers.map((h) => [h.key, h.value?.toString('hex') ?? null]),
    timestamp: r.timestamp.toString(),
  };
}
