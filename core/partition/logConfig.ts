import type { ResolvedTopicConfig } from '../config/topicConfig';
import type { LogConfig } from '../log/logConfig';

/** The partition log's view of a topic's resolved configs (Kafka names → log fields). */
export function logConfigFrom(c: ResolvedTopicConfig): LogConfig {
  const v = c.values;
  return {
    segmentBytes: v['segment.bytes'],
    segmentMs: v['segment.ms'],
    segmentIndexBytes: v['segment.index.bytes'],
    indexIntervalBytes: v['index.interval.bytes'],
    flushMessages: v['flush.messages'],
    flushMs: v['flush.ms'],
    maxMessageBytes: v['max.message.bytes'],
    messageTimestampType: v['message.timestamp.type'],
    retentionMs: v['retention.ms'],
    retentionBytes: v['retention.bytes'],
  };
}
