import type { Logger } from '../common/logger';
import type { MetadataStore } from '../meta/metadataStore';
import type { TierManager } from '../tier/tierManager';
import type { TopicAdmin } from './topicAdmin';

/** How often the broker looks for what interrupted changes left behind. */
export const ORPHAN_COLLECTION_INTERVAL_MS = 5 * 60_000;

/** First and longest wait between retries of removals that failed (the wait doubles in between). */
export const REMOVAL_RETRY_MIN_MS = 1_000;
export const REMOVAL_RETRY_MAX_MS = 5 * 60_000;

/**
 * Cleans up after crashes in the middle of multi-record changes, which the metadata store
 * cannot make atomic (no DynamoDB transactions; dynalite lacks them):
 * - partition states of topics whose creation or deletion was interrupted
 *   (MetadataStore.collectOrphans, driven by the intent records those changes write);
 * - tiered data of topics that no longer exist (TierManager.deleteUnknownTopics): a topic
 *   deleted while its tiered data was being removed. A topic id counts as existing if this
 *   broker's registry or the metadata store names it.
 * Runs at the first housekeeping tick and then every ORPHAN_COLLECTION_INTERVAL_MS, one run
 * at a time; a failure is logged and retried at the next interval.
 *
 * It also finishes removals this process could not make when it should have
 * (TopicAdmin.finishUnfinishedRemovals): the store record of a topic whose creation failed
 * after the record was written (the client was told it failed, so it must not appear later),
 * and directories of deleted partitions. Those are retried from REMOVAL_RETRY_MIN_MS on,
 * doubling up to REMOVAL_RETRY_MAX_MS, until done.
 */
export class OrphanCollector {
  private nextRun = 0;
  private current: Promise<void> | null = null;
  private nextRemovalRetry = 0;
  private removalBackoffMs = REMOVAL_RETRY_MIN_MS;
  private removals: Promise<void> | null = null;

  constructor(
    private readonly store: MetadataStore,
    private readonly tier: TierManager,
    private readonly topics: TopicAdmin,
    private readonly logger: Logger,
    private readonly intervalMs = ORPHAN_COLLECTION_INTERVAL_MS,
  ) {}

  /** Starts a run if one is due and none is running; retries unfinished removals when due. */
  maybeRun(now: number): void {
    this.maybeFinishRemovals(now);
    if (this.current || now < this.nextRun) return;
    this.nextRun = now + this.intervalMs;
    this.current = this.run().finally(() => {
      this.current = null;
    });
  }

  /** Resolves once no run is in progress (the broker waits for it before closing its stores). */
  async idle(): Promise<void> {
    await Promise.all([this.current, this.removals]);
  }

  private maybeFinishRemovals(now: number): void {
    if (this.removals) return;
    if (!this.topics.hasUnfinishedRemovals) {
      this.removalBackoffMs = REMOVAL_RETRY_MIN_MS;
      return;
    }
    if (now < this.nextRemovalRetry) return;
    this.removals = this.topics
      .finishUnfinishedRemovals()
      .then(
        (left) => {
          if (left === 0) return;
          this.nextRemovalRetry = Date.now() + this.removalBackoffMs;
          this.removalBackoffMs = Math.min(this.removalBackoffMs * 2, REMOVAL_RETRY_MAX_MS);
        },
        (e: unknown) => this.logger.warn(`finishing failed removals failed: ${(e as Error).message}`),
      )
      .finally(() => {
        this.removals = null;
      });
  }

  private async run(): Promise<void> {
    try {
      const report = await this.store.collectOrphans();
      for (const id of report.topicIds) this.logger.info(`deleted the partition states of topic id ${id}, left by an interrupted topic create or delete`);
    } catch (e) {
      this.logger.warn(`collecting orphaned partition states failed (retried in ${this.intervalMs} ms): ${(e as Error).message}`);
    }
    try {
      // Live: a topic of this broker's registry, or else one the store names (created through
      // another broker on the same store, or not loaded here): its tiered data is not ours to drop.
      // The store is read after the tiered ids are listed, so a topic created meanwhile counts.
      let stored: Promise<Set<string>> | null = null;
      const gone = await this.tier.deleteUnknownTopics(async (id) => {
        if (this.topics.cache.getById(id) !== undefined) return true;
        stored ??= this.store.listTopics().then((ts) => new Set(ts.map((t) => t.topicId)));
        return (await stored).has(id);
      });
      if (gone.length > 0) this.logger.info(`deleted the tiered data of ${gone.length} topic id(s) no topic names: ${gone.join(', ')}`);
    } catch (e) {
      this.logger.warn(`collecting tiered data of deleted topics failed (retried in ${this.intervalMs} ms): ${(e as Error).message}`);
    }
  }
}
