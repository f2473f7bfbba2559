import type { Logger } from '../common/logger';
import { TierManager } from '../tier/tierManager';
import { tierConfigFrom } from '../tier/tierConfig';
import type { CompactionProgress } from '../tier/tieredPartition';
import type { TopicObserver, TopicState } from './topicRegistry';

/**
 * Connects the topic registry to tiered storage: partitions of topics with
 * remote.storage.enable=true are opened in the TierManager (which, for an empty local log,
 * moves its start to the tiered end so offsets continue), config changes are passed on, and
 * a deleted topic's tiered data is removed (records first, then objects).
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
      if (this.tier.partition(t.topicId, p)) continue;
      const tp = await this.tier.openPartition({ topicId: t.topicId, topicName: t.name, partition: p, log: t.partitions[p], config });
      // Synchronously after the open resolves: no timer (upload) runs in between.
      tp.compaction = this.compaction;
    }
  }

  async configChanged(t: TopicState): Promise<void> {
    const config = tierConfigFrom(t.config);
    for (let p = 0; p < t.partitions.length; p++) {
      if (this.tier.partition(t.topicId, p)) this.tier.updateConfig(t.topicId, p, config);
    }
    // Enabling remote storage on an existing topic opens its partitions now.
    await this.partitionsOpened(t, 0);
  }

  async topicDeleted(t: TopicState): Promise<void> {
    for (let p = 0; p < t.partitions.length; p++) await this.tier.closePartition(t.topicId, p);
    this.tier.deleteTopicData(t.topicId).catch((e) => this.logger.warn(`deleting tiered data of ${t.name} (${t.topicId}): ${(e as Error).message}`));
  }
}
