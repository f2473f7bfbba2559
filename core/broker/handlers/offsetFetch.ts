/**
 * OffsetFetch (api key 9). v1 reads Kafka-stored offsets (v0 read ZooKeeper's; both are served
 * from the same store here); v2 null topics = every committed partition, and a top-level error
 * code; v3 throttle time; v4 same; v5 leader epoch; v6 flexible; v7 requireStable (KIP-447:
 * a partition with a pending transactional offset answers UNSTABLE_OFFSET_COMMIT, and a
 * read_committed consumer retries); v8 several groups per request (KIP-709), requireStable for
 * all of them; v9 member id and epoch of KIP-848 groups (ignored for classic groups).
 *
 * Answered from the coordinator's in-memory copy of the offsets: read from the store only when
 * this broker takes the group over, or when the group has pending transactional offsets
 * (another broker's transaction coordinator may have completed them).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { OffsetFetchRequest } from '../../protocol/generated/OffsetFetchRequest';
import type { OffsetFetchResponse, OffsetFetchResponseTopic } from '../../protocol/generated/OffsetFetchResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { FetchOffsetsResult } from '../../group/coordinator';
import type { ApiHandler } from './types';

type Requested = { name: string; partitionIndexes: number[] }[] | null;

function topicsOf(r: FetchOffsetsResult): OffsetFetchResponseTopic[] {
  return r.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partition,
      committedOffset: p.offset,
      committedLeaderEpoch: p.leaderEpoch,
      metadata: p.metadata,
      errorCode: p.errorCode,
    })),
  }));
}

/** Before v2 there is no top-level error: a group-level error goes on every requested partition. */
function partitionErrors(requested: Requested, errorCode: number): OffsetFetchResponseTopic[] {
  return (requested ?? []).map((t) => ({
    name: t.name,
    partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode })),
  }));
}

export const offsetFetchHandler: ApiHandler<OffsetFetchRequest, OffsetFetchResponse> = {
  apiKey: ApiKey.OffsetFetch,
  minImplemented: 0,

  async handle(req, ctx) {
    const groups = ctx.broker.groups;
    // Absent before v7 (the codec gives false).
    const requireStable = req.requireStable ?? false;
    // Loaded (and, with pending transactional offsets another broker may have completed, re-read) first.
    const ids = ctx.version >= 8 ? (req.groups ?? []).map((g) => g.groupId) : [req.groupId ?? ''];
    await Promise.all(ids.map((id) => groups.ready(id, { fresh: true })));
    const fetch = (groupId: string, topics: Requested) =>
      groups.fetchOffsets(groupId, topics === null ? null : topics.map((t) => ({ topic: t.name, partitions: t.partitionIndexes })), requireStable);
    if (ctx.version >= 8) {
      return {
        throttleTimeMs: 0,
        groups: (req.groups ?? []).map((g) => {
          const r = fetch(g.groupId, g.topics);
          return { groupId: g.groupId, topics: topicsOf(r), errorCode: r.errorCode };
        }),
      };
    }
    // v0 and v1 cannot ask for "all topics" (their array is not nullable).
    const requested: Requested = req.topics ?? (ctx.version < 2 ? [] : null);
    const r = fetch(req.groupId ?? '', requested);
    if (ctx.version < 2 && r.errorCode !== ErrorCode.NONE) return { throttleTimeMs: 0, topics: partitionErrors(requested, r.errorCode), errorCode: ErrorCode.NONE };
    return { throttleTimeMs: 0, topics: topicsOf(r), errorCode: r.errorCode };
  },

  errorResponse(req, errorCode, ctx) {
    if (ctx.version >= 8) return { throttleTimeMs: 0, groups: (req.groups ?? []).map((g) => ({ groupId: g.groupId, topics: [], errorCode })) };
    if (ctx.version < 2) return { throttleTimeMs: 0, topics: partitionErrors(req.topics ?? [], errorCode), errorCode: ErrorCode.NONE };
    return { throttleTimeMs: 0, topics: [], errorCode };
  },
};
