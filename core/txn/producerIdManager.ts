/**
 * Producer ids, unique across brokers and restarts, handed out from blocks the way Kafka's
 * controller allocates them to brokers (AllocateProducerIds, KIP-730): one metadata-store item
 * holds the start of the next unallocated block, and a broker takes a block of `blockSize` ids
 * with one conditional write on that item's version. Ids of a block that a broker did not use
 * before it stopped are never handed out again (as in Kafka), which is why blocks are small.
 *
 *   item `block` (in the namespace the caller passes, normally store.namespace('producer-ids')):
 *     { nextBlockStart: bigint }      absent = nothing allocated yet; ids start at 0
 *
 * A lost race (VERSION_CONFLICT / KEY_EXISTS: another broker took the block) re-reads and
 * tries again; at most one block fetch is in flight per manager, and concurrent callers wait
 * for it.
 */
import { StrataError, isStrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { VersionedKv } from '../meta/versionedKv';

export const PRODUCER_ID_BLOCK_KEY = 'block';
export const DEFAULT_PRODUCER_ID_BLOCK_SIZE = 1000;
/** Producer ids are int64 and never negative (-1 is RecordBatch.NO_PRODUCER_ID). */
const MAX_PRODUCER_ID = 2n ** 63n - 1n;
/** Lost races before giving up; each loss means another broker made progress. */
const MAX_ATTEMPTS = 100;

export interface ProducerIdManagerOptions {
  blockSize?: number;
  logger?: Logger;
}

export class ProducerIdManager {
  private next = 0n;
  /** Exclusive end of the current block; next === end means no ids left. */
  private end = 0n;
  private fetching: Promise<void> | null = null;
  private readonly blockSize: bigint;
  private readonly logger: Logger | undefined;

  constructor(private readonly kv: VersionedKv, opts: ProducerIdManagerOptions = {}) {
    const size = opts.blockSize ?? DEFAULT_PRODUCER_ID_BLOCK_SIZE;
    if (!Number.isSafeInteger(size) || size < 1) throw new TypeError(`producer id block size must be a positive integer, got ${size}`);
    this.blockSize = BigInt(size);
    this.logger = opts.logger;
  }

  /** A producer id no other call, broker or restart has had. Rejects with the store's error when a new block cannot be taken. */
  async generate(): Promise<bigint> {
    for (;;) {
      if (this.next < this.end) return this.next++;
      this.fetching ??= this.fetchBlock().finally(() => {
        this.fetching = null;
      });
      await this.fetching;
    }
  }

  private async fetchBlock(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.kv.get(PRODUCER_ID_BLOCK_KEY);
      const start = current === null ? 0n : parseNextBlockStart(current.value);
      if (start + this.blockSize - 1n > MAX_PRODUCER_ID) throw new Error(`producer ids are exhausted (next block would start at ${start})`);
      try {
        await this.kv.put(PRODUCER_ID_BLOCK_KEY, { nextBlockStart: start + this.blockSize }, current?.version ?? null);
      } catch (e) {
        if ((isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS')) && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
      this.next = start;
      this.end = start + this.blockSize;
      this.logger?.debug(`took producer id block [${start}, ${this.end})`);
      return;
    }
  }
}

function parseNextBlockStart(v: unknown): bigint {
  const start = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as { nextBlockStart?: unknown }).nextBlockStart : undefined;
  if (typeof start !== 'bigint' || start < 0n) throw new StrataError('STORAGE_IO', `the producer id block item holds ${JSON.stringify(String(start))}, not a block start`);
  return start;
}
