import { ErrorCode } from '../protocol/errorCodes';
import { EARLIEST_TIMESTAMP, type StrataClient } from '../client/client';
import { isKafkaError } from '../client/errors';
import type { Mirror, MirrorSummary } from './mirror';
import type { PartitionBatch } from './event';

/**
 * `strata mirror` without Lambda: a long-running loop that fetches the source topics
 * (read_committed) and hands each round's records to the same Mirror.mirrorBatches the Lambda
 * handler uses.
 *
 * Each partition starts where the mirror left off — its own state on the target (normal mode:
 * the state group; offset-preserving: the target's log end) —, else at the source group's
 * committed offset (so `consumer-groups --reset-offsets` on the source can seed a first
 * start), else at the source's earliest offset. After each round the source group is
 * committed too, for lag monitoring; the target state stays the authority.
 *
 * Any failure is reported and the loop starts again from the target state after a backoff
 * (1 s doubling to 30 s): what was committed is skipped, as for a retried Lambda batch. The
 * abort signal stops the loop after the round in progress.
 */

export interface MirrorLoopOptions {
  mirror: Mirror;
  source: StrataClient;
  topics: readonly string[];
  /** Source consumer group the loop commits its progress to. */
  group: string;
  signal: AbortSignal;
  /** Long-poll wait per fetch. Default 500 ms. */
  maxWaitMs?: number;
  /** Bytes per partition per fetch. Default 1 MiB. */
  maxBytes?: number;
  /** Progress lines. */
  onBatch?: (summary: MirrorSummary) => void;
  onError?: (err: Error, retryInMs: number) => void;
  onWarning?: (message: string) => void;
  /** How often partition counts are looked at again. Default 30 s. */
  refreshMs?: number;
}

export async function runMirrorLoop(o: MirrorLoopOptions): Promise<{ mirrored: number }> {
  let mirrored = 0;
  let positions = new Map<string, Map<number, bigint>>();
  let refreshedAt = 0;
  let backoff = 1_000;
  const refreshMs = o.refreshMs ?? 30_000;
  while (!o.signal.aborted) {
    try {
      if (positions.size === 0 || Date.now() - refreshedAt > refreshMs) {
        positions = await startPositions(o, positions);
        refreshedAt = Date.now();
      }
      const batches: PartitionBatch[] = [];
      const next = new Map<string, Map<number, bigint>>();
      await Promise.all(
        [...positions].map(async ([topic, parts]) => {
          const results = await o.source.fetchPartitions(topic, [...parts].map(([partition, offset]) => ({ partition, offset })), {
            isolationLevel: 1,
            maxWaitMs: o.maxWaitMs ?? 500,
            maxBytes: o.maxBytes ?? 1024 * 1024,
          });
          const moved = new Map<number, bigint>();
          for (const r of results) {
            if (r.error) {
              if (isKafkaError(r.error, ErrorCode.OFFSET_OUT_OF_RANGE)) {
                const start = (await o.source.listOffsets(topic, r.partition, EARLIEST_TIMESTAMP)).offset;
                o.onWarning?.(`${topic}-${r.partition}: offset ${r.offset} is no longer on the source (retention); records up to ${start - 1n} were not mirrored, going on from ${start}`);
                moved.set(r.partition, start);
                continue;
              }
              throw r.error;
            }
            const res = r.result!;
            if (res.records.length > 0) batches.push({ topic, partition: r.partition, records: res.records });
            if (res.nextOffset !== r.offset) moved.set(r.partition, res.nextOffset);
          }
          if (moved.size > 0) next.set(topic, moved);
        }),
      );
      if (batches.length > 0) {
        const summary = await o.mirror.mirrorBatches(batches);
        mirrored += summary.partitions.reduce((n, p) => n + p.recordsOut, 0);
        o.onBatch?.(summary);
      }
      const commits: Array<{ topic: string; partition: number; offset: bigint }> = [];
      for (const [topic, moved] of next) {
        for (const [partition, offset] of moved) {
          positions.get(topic)!.set(partition, offset);
          commits.push({ topic, partition, offset });
        }
      }
      if (commits.length > 0) {
        await o.source.offsetCommit(o.group, commits).catch((err: Error) => o.onWarning?.(`could not commit source group '${o.group}': ${err.message}`));
      }
      backoff = 1_000;
    } catch (err) {
      positions = new Map();
      o.onError?.(err as Error, backoff);
      await sleep(backoff, o.signal);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
  return { mirrored };
}

/** Every partition of every topic, where mirroring resumes (kept for partitions already known). */
async function startPositions(o: MirrorLoopOptions, known: Map<string, Map<number, bigint>>): Promise<Map<string, Map<number, bigint>>> {
  const out = new Map<string, Map<number, bigint>>();
  for (const topic of o.topics) {
    const count = (await o.source.topicInfo(topic, { refresh: true })).partitions.length;
    const parts = new Map<number, bigint>();
    const missing: number[] = [];
    for (let p = 0; p < count; p++) {
      const k = known.get(topic)?.get(p);
      if (k !== undefined) parts.set(p, k);
      else missing.push(p);
    }
    if (missing.length > 0) {
      const committed = new Map((await o.source.offsetFetch(o.group, missing.map((partition) => ({ topic, partition })))).map((c) => [c.partition, c.offset]));
      for (const p of missing) {
        const resume = (await o.mirror.resumeOffset(topic, p)) ?? committed.get(p) ?? (await o.source.listOffsets(topic, p, EARLIEST_TIMESTAMP)).offset;
        parts.set(p, resume);
      }
    }
    out.set(topic, parts);
  }
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
