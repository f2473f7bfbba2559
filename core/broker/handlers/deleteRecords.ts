/**
 * DeleteRecords (api key 21).
 *
 * v1 is v0 (only the throttling moved after the response); v2 flexible.
 *
 * Moves each partition's log start offset up to the requested offset (-1: the high
 * watermark). Records below it are gone for every reader: ListOffsets earliest answers it,
 * fetches below it get OFFSET_OUT_OF_RANGE, and segments wholly below it are deleted. The
 * answer's low_watermark is the new log start. Per partition, as Kafka answers:
 *
 *   unknown topic or partition              UNKNOWN_TOPIC_OR_PARTITION
 *   cleanup.policy without `delete`         POLICY_VIOLATION
 *   offset past the high watermark, < -1    OFFSET_OUT_OF_RANGE
 *   offset at or below the current start    NONE, nothing moves, the current start answered
 *
 * Partition.deleteRecordsBefore does the work. Local partitions: PartitionLog.deleteSegmentsBelow
 * (synchronous; the start survives a restart in the partition's log-start-offset checkpoint).
 * Tiered partitions
 * (remote.storage.enable): TieredPartition.advanceLogStartOffset writes the start to the
 * partition's state record in the metadata store first (so it holds even for a broker with an
 * empty disk), then drops the local data below it; the tiered segments wholly below it go at
 * the tier manager's next pass (record first, objects after). That write queues behind the
 * partition's in-flight upload, so the wait is bounded by the request's timeout_ms: a
 * partition not done by then answers REQUEST_TIMED_OUT (and the move still completes, as in
 * Kafka when a replica is slow to follow).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DeleteRecordsRequest, DeleteRecordsPartition } from '../../protocol/generated/DeleteRecordsRequest';
import type { DeleteRecordsResponse, DeleteRecordsPartitionResult } from '../../protocol/generated/DeleteRecordsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { TopicState } from '../../cluster/metadataCache';
import type { ApiHandler } from './types';

/** The wait for a tiered partition when the request names no positive timeout_ms. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** Kafka's INVALID_LOW_WATERMARK: the low_watermark of a partition that failed. */
function result(partitionIndex: number, errorCode: number, lowWatermark = -1n): DeleteRecordsPartitionResult {
  return { partitionIndex, errorCode, lowWatermark };
}

async function deletePartition(topic: TopicState | undefined, p: DeleteRecordsPartition, timeoutMs: number): Promise<DeleteRecordsPartitionResult> {
  const partition = topic?.partitions[p.partitionIndex];
  if (!partition) return result(p.partitionIndex, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  const r = await partition.deleteRecordsBefore(p.offset, timeoutMs);
  return result(p.partitionIndex, r.errorCode, r.lowWatermark);
}

export const deleteRecordsHandler: ApiHandler<DeleteRecordsRequest, DeleteRecordsResponse> = {
  apiKey: ApiKey.DeleteRecords,
  minImplemented: 0,

  async handle(req, ctx) {
    const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_TIMEOUT_MS;
    const topics = await Promise.all(
      req.topics.map(async (t) => {
        const topic = ctx.broker.topics.get(t.name);
        const partitions = await Promise.all(t.partitions.map((p) => deletePartition(topic, p, timeoutMs)));
        return { name: t.name, partitions };
      }),
    );
    return { throttleTimeMs: 0, topics };
  },

  errorResponse(req, errorCode) {
    return {
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => result(p.partitionIndex, errorCode)) })),
    };
  },
};
