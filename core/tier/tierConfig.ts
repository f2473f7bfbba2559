import type { ResolvedTopicConfig } from '../config/topicConfig';

/**
 * The topic configs tiering obeys (KIP-405 names), as numbers. Retention values are Kafka's:
 * -1 means "no limit"; for the local.* pair, -2 means "the same as retention.*".
 */
export interface TierTopicConfig {
  /** remote.storage.enable: closed segments are uploaded, and local copies dropped per local retention. */
  remoteStorageEnable: boolean;
  /** cleanup.policy includes "delete": retention.ms / retention.bytes apply across both tiers. */
  deleteRetention: boolean;
  /** retention.ms, over the whole log (by each segment's largest timestamp). */
  retentionMs: number;
  /** retention.bytes, over the whole log: tiered bytes plus local bytes not yet tiered. */
  retentionBytes: number;
  /** local.retention.ms: how long tiered segments are kept on local disk too. */
  localRetentionMs: number;
  /** local.retention.bytes: how large the local part may grow before tiered segments are dropped locally. */
  localRetentionBytes: number;
  /**
   * cleanup.policy includes "compact": with the log cleaner running, segments are uploaded once
   * it has cleaned them, and segments it rewrites after they were tiered are re-tiered.
   * Absent means false.
   */
  compact?: boolean;
}

export function tierConfigFrom(c: ResolvedTopicConfig): TierTopicConfig {
  const v = c.values;
  return {
    remoteStorageEnable: v['remote.storage.enable'],
    deleteRetention: v['cleanup.policy'].includes('delete'),
    compact: v['cleanup.policy'].includes('compact'),
    retentionMs: v['retention.ms'],
    retentionBytes: v['retention.bytes'],
    localRetentionMs: v['local.retention.ms'],
    localRetentionBytes: v['local.retention.bytes'],
  };
}

/** local.retention.ms with -2 resolved (to retention.ms). */
export function effectiveLocalRetentionMs(c: TierTopicConfig): number {
  return c.localRetentionMs === -2 ? c.retentionMs : c.localRetentionMs;
}

/** local.retention.bytes with -2 resolved (to retention.bytes). */
export function effectiveLocalRetentionBytes(c: TierTopicConfig): number {
  return c.localRetentionBytes === -2 ? c.retentionBytes : c.localRetentionBytes;
}
