import { StrataError } from '../common/errors';
import type { TimestampType } from './recordBatch';

/**
 * The topic configs one partition log obeys, as typed values (the registry in core/config turns
 * Kafka's names and strings into these). Kafka's "Long.MAX_VALUE means never" longs may arrive as
 * any number >= Number.MAX_SAFE_INTEGER, or as a bigint.
 */
export interface LogConfig {
  /** segment.bytes: the active segment is closed before it would grow past this. */
  segmentBytes: number;
  /** segment.ms: age (by record timestamps) at which a non-empty active segment is closed. */
  segmentMs: number;
  /** segment.index.bytes: a segment is closed when either index would grow past this. */
  segmentIndexBytes?: number;
  /** index.interval.bytes: log bytes between two offset-index entries. */
  indexIntervalBytes: number;
  /** flush.messages: fsync after this many records. */
  flushMessages: number | bigint;
  /** flush.ms: fsync when the oldest unflushed append is this old. */
  flushMs: number | bigint;
  /** max.message.bytes: the largest batch accepted (as sent, after compression). */
  maxMessageBytes: number;
  /** message.timestamp.type */
  messageTimestampType: TimestampType;
  /** retention.ms: -1 keeps segments forever (only enforced by deleteRetentionBreachedSegments). */
  retentionMs?: number | bigint;
  /** retention.bytes: -1 means no size limit (only enforced by deleteRetentionBreachedSegments). */
  retentionBytes?: number | bigint;
}

/** Kafka's defaults. */
export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1073741824,
  segmentMs: 604800000,
  segmentIndexBytes: 10485760,
  indexIntervalBytes: 4096,
  flushMessages: Number.MAX_SAFE_INTEGER,
  flushMs: Number.MAX_SAFE_INTEGER,
  maxMessageBytes: 1048588,
  messageTimestampType: 'CreateTime',
  retentionMs: 604800000,
  retentionBytes: -1,
});

/** Positions in segments and indexes are int32, so a segment can never exceed this. */
const MAX_SEGMENT_BYTES = 0x7fffffff;

/** The numbers the log works with: "never" is Infinity, optional values filled in. */
export interface EffectiveLogConfig {
  segmentBytes: number;
  segmentMs: number;
  segmentIndexBytes: number;
  indexIntervalBytes: number;
  flushMessages: number;
  flushMs: number;
  maxMessageBytes: number;
  messageTimestampType: TimestampType;
  retentionMs: number;
  retentionBytes: number;
}

/** A Kafka long as a number where anything at or beyond 2^53 (Long.MAX_VALUE included) is Infinity. */
function longValue(v: number | bigint): number {
  if (typeof v === 'bigint') return v >= BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  return v >= Number.MAX_SAFE_INTEGER ? Infinity : v;
}

function check(ok: boolean, name: string, value: unknown, rule: string): void {
  if (!ok) throw new StrataError('CONFIG_INVALID', `Invalid value ${String(value)} for configuration ${name}: ${rule}`);
}

/** Checks a LogConfig and resolves it to the numbers the log uses. Throws CONFIG_INVALID. */
export function effectiveLogConfig(c: LogConfig): EffectiveLogConfig {
  const segmentIndexBytes = c.segmentIndexBytes ?? DEFAULT_LOG_CONFIG.segmentIndexBytes!;
  const e: EffectiveLogConfig = {
    segmentBytes: c.segmentBytes,
    segmentMs: longValue(c.segmentMs),
    segmentIndexBytes,
    indexIntervalBytes: c.indexIntervalBytes,
    flushMessages: longValue(c.flushMessages),
    flushMs: longValue(c.flushMs),
    maxMessageBytes: c.maxMessageBytes,
    messageTimestampType: c.messageTimestampType,
    retentionMs: longValue(c.retentionMs ?? -1),
    retentionBytes: longValue(c.retentionBytes ?? -1),
  };
  check(Number.isInteger(e.segmentBytes) && e.segmentBytes >= 14 && e.segmentBytes <= MAX_SEGMENT_BYTES, 'segment.bytes', c.segmentBytes, `must be an integer in [14, ${MAX_SEGMENT_BYTES}]`);
  check(e.segmentMs >= 1, 'segment.ms', c.segmentMs, 'must be at least 1');
  check(Number.isInteger(segmentIndexBytes) && segmentIndexBytes >= 4, 'segment.index.bytes', segmentIndexBytes, 'must be an integer of at least 4');
  check(Number.isInteger(e.indexIntervalBytes) && e.indexIntervalBytes >= 0, 'index.interval.bytes', c.indexIntervalBytes, 'must be a non-negative integer');
  check(e.flushMessages >= 1, 'flush.messages', c.flushMessages, 'must be at least 1');
  check(e.flushMs >= 0, 'flush.ms', c.flushMs, 'must be at least 0');
  check(Number.isInteger(e.maxMessageBytes) && e.maxMessageBytes >= 0, 'max.message.bytes', c.maxMessageBytes, 'must be a non-negative integer');
  check(e.messageTimestampType === 'CreateTime' || e.messageTimestampType === 'LogAppendTime', 'message.timestamp.type', c.messageTimestampType, 'must be CreateTime or LogAppendTime');
  check(e.retentionMs >= -1, 'retention.ms', c.retentionMs, 'must be at least -1');
  return e;
}

/** cleanup.policy values (a topic may have both: compact,delete). */
export type CleanupPolicy = 'compact' | 'delete';

/**
 * The topic configs the log cleaner obeys (core/log/logCleaner.ts), by their Kafka names. Longs
 * follow LogConfig's rule: anything >= Number.MAX_SAFE_INTEGER (Long.MAX_VALUE) means never.
 */
export interface CompactionConfig {
  /** cleanup.policy: the cleaner works only on logs whose policy includes 'compact'. */
  cleanupPolicy: readonly CleanupPolicy[];
  /** delete.retention.ms: how long a tombstone stays after the cleaner first kept it (default 1 day). */
  deleteRetentionMs?: number | bigint;
  /** min.cleanable.dirty.ratio: dirty share of the log that triggers a clean (default 0.5). */
  minCleanableDirtyRatio?: number;
  /** min.compaction.lag.ms: a segment whose newest record is younger than this is not cleaned (default 0). */
  minCompactionLagMs?: number | bigint;
  /** max.compaction.lag.ms: a dirty segment older than this is cleaned whatever the ratio (default never). */
  maxCompactionLagMs?: number | bigint;
}

export const DEFAULT_COMPACTION_CONFIG: Readonly<Required<CompactionConfig>> = Object.freeze({
  cleanupPolicy: Object.freeze(['delete'] as CleanupPolicy[]),
  deleteRetentionMs: 86400000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  maxCompactionLagMs: Number.MAX_SAFE_INTEGER,
});

export interface EffectiveCompactionConfig {
  compact: boolean;
  deleteRetentionMs: number;
  minCleanableDirtyRatio: number;
  minCompactionLagMs: number;
  /** Infinity when never. */
  maxCompactionLagMs: number;
}

/** Checks a CompactionConfig and resolves it to numbers. Throws CONFIG_INVALID. */
export function effectiveCompactionConfig(c: CompactionConfig): EffectiveCompactionConfig {
  const d = DEFAULT_COMPACTION_CONFIG;
  const e: EffectiveCompactionConfig = {
    compact: c.cleanupPolicy.includes('compact'),
    deleteRetentionMs: longValue(c.deleteRetentionMs ?? d.deleteRetentionMs),
    minCleanableDirtyRatio: c.minCleanableDirtyRatio ?? d.minCleanableDirtyRatio,
    minCompactionLagMs: longValue(c.minCompactionLagMs ?? d.minCompactionLagMs),
    maxCompactionLagMs: longValue(c.maxCompactionLagMs ?? d.maxCompactionLagMs),
  };
  for (const p of c.cleanupPolicy) check(p === 'compact' || p === 'delete', 'cleanup.policy', c.cleanupPolicy.join(','), 'must be a list of compact and delete');
  check(e.deleteRetentionMs >= 0, 'delete.retention.ms', c.deleteRetentionMs, 'must be at least 0');
  check(e.minCleanableDirtyRatio >= 0 && e.minCleanableDirtyRatio <= 1, 'min.cleanable.dirty.ratio', c.minCleanableDirtyRatio, 'must be between 0 and 1');
  check(e.minCompactionLagMs >= 0, 'min.compaction.lag.ms', c.minCompactionLagMs, 'must be at least 0');
  check(e.maxCompactionLagMs >= 1, 'max.compaction.lag.ms', c.maxCompactionLagMs, 'must be at least 1');
  return e;
}
