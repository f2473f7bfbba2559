/**
 * DescribeLogDirs (api key 35, KIP-113): what kafka-log-dirs.sh, Admin.describeLogDirs and disk
 * usage views read.
 *
 * Versions: v0 the original; v1 same layout (throttling happens after the answer); v2
 * flexible; v3 adds the top-level error code (CLUSTER_AUTHORIZATION_FAILED without DESCRIBE on
 * the cluster: Strata has no authorizer, so NONE); v4 adds each dir's total_bytes and
 * usable_bytes (KIP-827).
 *
 * As Kafka's ReplicaManager.describeLogDirs: one result per log directory (Strata has one,
 * log.dirs, answered as an absolute path) with its error (KAFKA_STORAGE_ERROR for an offline
 * dir, and no topics; Strata has no offline state yet, so a dir it cannot stat is the only
 * case), the volume's total and usable bytes (statfs of the dir; Kafka's
 * FileStore.getTotalSpace/getUsableSpace, i.e. blocks and blocks available to unprivileged
 * users), and per partition asked for (topics null = every partition) that has a log here:
 * its size (bytes of its local segments, as Kafka's UnifiedLog.size: tiered segments not
 * counted), its offset lag (for a current log, max(high watermark - log end offset, 0): 0 on a
 * leader, which a single broker always is) and is_future false (no AlterReplicaLogDirs).
 * Partitions asked for that do not exist are left out, not answered with an error, and a topic
 * with no partition left is left out too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeLogDirsRequest } from '../../protocol/generated/DescribeLogDirsRequest';
import type { DescribeLogDirsResponse, DescribeLogDirsResult, DescribeLogDirsTopic } from '../../protocol/generated/DescribeLogDirsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { Partition } from '../../partition/partition';
import type { ApiHandler, BrokerContext } from './types';

/** The volume's size and the bytes an unprivileged writer may still use; throws the fs error. */
export type VolumeStat = (dir: string) => { totalBytes: bigint; usableBytes: bigint };

export const statVolume: VolumeStat = (dir) => {
  const s = fs.statfsSync(dir, { bigint: true });
  return { totalBytes: s.blocks * s.bsize, usableBytes: s.bavail * s.bsize };
};

/** The partitions asked for, by topic, sorted; null topics = all. Unknown ones are left out. */
function partitionsAskedFor(req: DescribeLogDirsRequest, broker: BrokerContext): Map<string, Partition[]> {
  const out = new Map<string, Partition[]>();
  if (req.topics === null) {
    for (const t of broker.topics.list()) if (t.partitions.length > 0) out.set(t.name, [...t.partitions]);
    return out;
  }
  const asked = new Map<string, Set<number>>();
  for (const t of req.topics) {
    const set = asked.get(t.topic) ?? new Set<number>();
    for (const p of t.partitions) set.add(p);
    asked.set(t.topic, set);
  }
  for (const name of [...asked.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const state = broker.topics.get(name);
    if (!state) continue;
    const partitions = [...asked.get(name)!]
      .sort((a, b) => a - b)
      .flatMap((i) => (state.partitions[i] ? [state.partitions[i]] : []));
    if (partitions.length > 0) out.set(name, partitions);
  }
  return out;
}

export function createDescribeLogDirsHandler(stat: VolumeStat = statVolume): ApiHandler<DescribeLogDirsRequest, DescribeLogDirsResponse> {
  return {
    apiKey: ApiKey.DescribeLogDirs,
    minImplemented: 0,

    handle(req, ctx) {
      const logDir = path.resolve(ctx.broker.config.logDirs);
      let result: DescribeLogDirsResult;
      try {
        const { totalBytes, usableBytes } = stat(logDir);
        const topics: DescribeLogDirsTopic[] = [...partitionsAskedFor(req, ctx.broker)].map(([name, partitions]) => ({
          name,
          partitions: partitions.map((p) => {
            const lag = p.highWatermark - p.logEndOffset;
            return { partitionIndex: p.index, partitionSize: BigInt(p.log.size), offsetLag: lag > 0n ? lag : 0n, isFutureKey: false };
          }),
        }));
        result = { errorCode: ErrorCode.NONE, logDir, topics, totalBytes, usableBytes };
      } catch (e) {
        // Kafka answers a dir it cannot use KAFKA_STORAGE_ERROR, with no topics and no sizes.
        ctx.broker.logger.warn(`DescribeLogDirs: cannot describe log dir ${logDir}: ${(e as Error).message}`);
        result = { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, logDir, topics: [], totalBytes: -1n, usableBytes: -1n };
      }
      return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, results: [result] };
    },

    errorResponse(_req, errorCode) {
      return { throttleTimeMs: 0, errorCode, results: [] };
    },
  };
}

export const describeLogDirsHandler = createDescribeLogDirsHandler();
