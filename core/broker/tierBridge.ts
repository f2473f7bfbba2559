import type { Logger } from '../common/logger';
import { TierManager } from '../tier/tierManager';
import { tierConfigFrom } from '../tier/tierConfig';
import type { CompactionProgress } from '../tier/tieredPartition';
import type { TopicState } from '../cluster/metadataCache';
import type { TopicObserver } from './topicAdmin';

/**
 * Connects topic admin to tiered storage: partitions of topics with
 * remote.storage.enable=true are opened in the TierManager (which, for an empty local log,
 * moves its start to the tiered end so offsets continue) and get their tiered view
 * (Partition.tiered), config changes are passed on, and a deleted topic's tiered data is
 * removed (records first, then objects).
 *
 * `compaction` is the broker's log cleaner (null with log.cleaner.enable=false): compacted
 * topics then upload only segments it has cleaned, and re-tier the ones it rewrites.
 */
export class TierBridge implements TopicObserver {
  constructor(
    readonly tier: TierManager,
    private readonly logger: Logger,
    private readonly compaction: CompactionProgress | null = null,
  ) {}

  async partitionsOpened(t: TopicState, from: number): Promise<void> {
    const config = tierConfigFrom(t.config);
    if (!config.remoteStorageEnable) return;
    for (let p = from; p < t.partitions.length; p++) {
      const partition = t.partitions[p];
      if (partition.tiered) continue;
      const tp = await this.tier.openPartition({ topicId: t.topicId, topicName: t.name, partition: p, log: partition.log, config, leaderEpoch: partition.leaderEpoch });
      // Synchronously after the open resolves: no timer (upload) runs in between.
      tp.compaction = this.compaction;
      tp.leadsAt = () => (partition.role === 'leader' ? partition.leaderEpoch : null);
      partition.tiered = tp;
    }
  }

  async configChanged(t: TopicState): Promise<void> {
    const config = tierConfigFrom(t.config);
    for (const partition of t.partitions) {
      if (partition.tiered) this.tier.updateConfig(t.topicId, partition.index, config);
    }
    // Enabling remote storage on an existing topic opens its partitions now.
    await this.partitionsOpened(t, 0);
  }

  async topicDeleted(t: TopicState): Promise<void> {
    for (const partition of t.partitions) {
      await this.tier.closePartition(t.topicId, partition.index);
      partition.tiered = null;
    }
    this.tier.deleteTopicData(t.topicId).catch((e) => this.logger.warn(`deleting tiered data of ${t.name} (${t.topicId}): ${(e as Error).message}`));
  }
}
