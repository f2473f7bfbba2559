/**
 * MirrorAppend (api key 10000, Strata's own; schema in core/protocol/schemas/).
 *
 * The offset-preserving mirror (core/mirror) appends a source cluster's records to a read-only
 * mirror topic at the offsets they have in the source, so that consumers can move between the
 * regions with the same offsets. Each partition's batches go to Partition.appendMirrored: the
 * topic's mirror.source.cluster must name the request's source cluster; batches already below
 * the log end are skipped (a retried mirror batch adds nothing); a batch straddling the log end
 * is refused with OFFSET_OUT_OF_RANGE and LogEndOffset says where to resend from. acks=-1 then
 * waits for the high watermark as Produce does, duplicates included (their first append's
 * acknowledgement may be what was lost). Authorization: WRITE on each topic, as Produce.
 * Not counted against producer_byte_rate quotas.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { MirrorAppendRequest } from '../../protocol/generated/MirrorAppendRequest';
import type { MirrorAppendResponse, MirrorAppendPartitionResponse } from '../../protocol/generated/MirrorAppendResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import type { Partition } from '../../partition/partition';
import type { ApiHandler } from './types';

function partitionError(index: number, errorCode: number, errorMessage: string | null = null): MirrorAppendPartitionResponse {
  return { index, errorCode, errorMessage, baseOffset: -1n, logEndOffset: -1n, logStartOffset: -1n };
}

export const mirrorAppendHandler: ApiHandler<MirrorAppendRequest, MirrorAppendResponse> = {
  apiKey: ApiKey.MirrorAppend,
  minImplemented: 0,

  async handle(req, ctx) {
    const { topics, partitions } = ctx.broker;
    const acks = req.acks;
    const appended: { partition: Partition; nextOffset: bigint; leaderEpoch: number; response: MirrorAppendPartitionResponse }[] = [];
    const responses = req.topics.map((t) => {
      const topic = topics.get(t.name);
      return {
        name: t.name,
        partitions: t.partitions.map((pd): MirrorAppendPartitionResponse => {
          if (acks !== 1 && acks !== -1) return partitionError(pd.index, ErrorCode.INVALID_REQUIRED_ACKS, 'MirrorAppend takes acks 1 or -1');
          const partition = topic?.partitions[pd.index];
          if (!partition) return partitionError(pd.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
          const o = partition.appendMirrored(pd.records, { acks, sourceCluster: req.sourceCluster });
          const response: MirrorAppendPartitionResponse = {
            index: pd.index,
            errorCode: o.errorCode,
            errorMessage: o.errorMessage,
            baseOffset: o.errorCode === ErrorCode.NONE ? o.baseOffset : -1n,
            logEndOffset: o.errorCode === ErrorCode.NONE || o.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE ? partition.logEndOffset : -1n,
            logStartOffset: o.logStartOffset,
          };
          if (o.errorCode === ErrorCode.NONE) appended.push({ partition, nextOffset: o.nextOffset, leaderEpoch: partition.leaderEpoch, response });
          return response;
        }),
      };
    });
    if (acks === -1 && appended.length > 0) {
      const codes = await partitions.awaitAcks(appended, req.timeoutMs);
      appended.forEach((a, i) => {
        if (codes[i] !== ErrorCode.NONE) Object.assign(a.response, partitionError(a.response.index, codes[i]));
      });
    }
    return { throttleTimeMs: 0, topics: responses };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => partitionError(p.index, errorCode)) })) };
  },
};
