import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { MetadataCache } from '../cluster/metadataCache';
import { streamCounters, type ResponseBufferBudget } from '../broker/responseStream';
import type { GroupCoordinator } from '../group/coordinator';
import type { GroupState } from '../group/groupState';
import type { TierManager } from '../tier/tierManager';
import type { TransactionCoordinator } from '../txn/txnCoordinator';
import { TXN_STATES } from '../txn/transactionMetadata';
import { metricsUrl, type MetricsListener } from './metricsListener';
import { MetricsServer } from './metricsServer';
import { registerProcessMetrics } from './processMetrics';
import { MetricsRegistry, type SampleValue } from './registry';
import { RequestMetrics } from './requestMetrics';

/**
 * The broker's metrics (docs/operations.md, "Metrics", lists them): request metrics observed by
 * the dispatcher, and gauges computed at scrape time from the metadata cache (log end/start
 * offsets, sizes, segments), the tier manager (upload backlog and outage, uploads, read cache),
 * the group coordinator (groups by state, members), the Kafka listener (connections) and the
 * process. Names follow Prometheus' conventions with Kafka's meanings (the help text names the
 * Kafka metric where there is one).
 */
export interface BrokerMetricsSources {
  topics: MetadataCache;
  tier: TierManager;
  groups: GroupCoordinator;
  txn: TransactionCoordinator;
  /** Open Kafka connections. */
  connections: () => number;
  /** Free bytes on the disk holding log.dirs, as last checked (-1: unknown). */
  logDirFreeBytes?: () => number;
  /** The shared buffer of fetch responses streamed without sendfile (fetch.response.max.buffer.bytes). */
  responseBuffer?: ResponseBufferBudget;
  /** The authorizer's decision counts, when authorizer.class.name is set. */
  authorizer?: { readonly decisions: { readonly allowed: number; readonly denied: number } };
}

/** Groups the coordinator keeps; Dead groups are dropped, so they are not counted. */
const GROUP_STATES: readonly GroupState[] = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable'];

interface PartitionRow {
  labels: [string, string];
  endOffset: bigint;
  startOffset: bigint;
  sizeBytes: number;
  segments: number;
  lastStableOffsetLag: bigint;
  producers: number;
}

export class BrokerMetrics {
  readonly registry: MetricsRegistry;
  /** Given to the dispatcher. */
  readonly requests: RequestMetrics;
  private server: MetricsServer | null = null;

  constructor(
    sources: BrokerMetricsSources,
    private readonly logger: Logger,
  ) {
    this.registry = new MetricsRegistry({ onCollectError: (name, e) => logger.warn(`metric ${name} left out of a scrape: ${(e as Error).message}`) });
    this.requests = new RequestMetrics(this.registry, sources.topics);
    registerLogMetrics(this.registry, sources);
    registerTierMetrics(this.registry, sources.tier);
    registerGroupMetrics(this.registry, sources.groups);
    registerTransactionMetrics(this.registry, sources.txn);
    this.registry.collected({ name: 'strata_connections', help: 'Open Kafka client connections (Kafka: connection-count).', type: 'gauge', collect: (emit) => emit(sources.connections()) });
    const freeBytes = sources.logDirFreeBytes;
    if (freeBytes) {
      this.registry.collected({
        name: 'strata_log_dir_free_bytes',
        help: 'Free bytes on the disk holding log.dirs (what df shows as available), read when scraped; the broker warns below log.dir.free.space.warn.bytes.',
        type: 'gauge',
        collect: (emit) => {
          const v = freeBytes();
          if (v >= 0) emit(v);
        },
      });
    }
    registerFetchStreamMetrics(this.registry, sources.responseBuffer);
    const authorizer = sources.authorizer;
    this.registry.collected({
      name: 'strata_authorizer_decisions_total',
      help: 'Authorization checks of requests against the ACLs, by decision: allowed or denied (denials are also logged); no samples without authorizer.class.name. Checks that only shape an answer (authorized operations, Metadata listing every topic) are not counted.',
      type: 'counter',
      labelNames: ['decision'],
      collect: (emit) => {
        if (authorizer === undefined) return;
        emit(authorizer.decisions.allowed, ['allowed']);
        emit(authorizer.decisions.denied, ['denied']);
      },
    });
    registerProcessMetrics(this.registry);
  }

  /** Binds the endpoint; resolves to the URL to scrape. */
  async listen(listener: MetricsListener): Promise<string> {
    const server = new MetricsServer({ host: listener.host, port: listener.port, registry: this.registry, logger: this.logger });
    let bound: { host: string; port: number };
    try {
      bound = await server.listen();
    } catch (e) {
      throw new StrataError('CONFIG_INVALID', `Cannot serve metrics on ${metricsUrl(listener.host, listener.port)} (metrics.listener): ${(e as Error).message}`, { cause: e });
    }
    this.server = server;
    return metricsUrl(bound.host, bound.port);
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = null;
  }
}

function registerLogMetrics(registry: MetricsRegistry, { topics }: BrokerMetricsSources): void {
  const partitions = registry.snapshot((): PartitionRow[] => {
    const rows: PartitionRow[] = [];
    for (const t of topics.list()) {
      for (const partition of t.partitions) {
        const log = partition.log;
        if (log.isClosed) continue;
        rows.push({
          labels: [t.name, String(partition.index)],
          endOffset: log.logEndOffset,
          // Tiered topics: the log starts where the object store's copy does (as ListOffsets EARLIEST says).
          startOffset: partition.logStartOffset,
          sizeBytes: log.size,
          segments: log.segments().length,
          lastStableOffsetLag: log.highWatermark - log.lastStableOffset,
          producers: log.producerState.size,
        });
      }
    }
    return rows;
  });
  const perPartition = (name: string, help: string, pick: (r: PartitionRow) => SampleValue): void =>
    registry.collected({
      name,
      help,
      type: 'gauge',
      labelNames: ['topic', 'partition'],
      collect: (emit) => {
        for (const r of partitions()) emit(pick(r), r.labels);
      },
    });
  perPartition('strata_log_end_offset', 'Offset the next record appended gets (Kafka: LogEndOffset).', (r) => r.endOffset);
  perPartition('strata_log_start_offset', 'First offset readable, across both tiers for tiered topics (Kafka: LogStartOffset).', (r) => r.startOffset);
  perPartition('strata_log_size_bytes', 'Bytes of the partition\'s local segments (Kafka: Size).', (r) => r.sizeBytes);
  perPartition('strata_log_segments', 'Local segments of the partition, the active one included (Kafka: NumLogSegments).', (r) => r.segments);
  perPartition('strata_log_last_stable_offset_lag', 'High watermark minus last stable offset: records read_committed consumers wait for, held back by open transactions (Kafka: LastStableOffsetLag).', (r) => r.lastStableOffsetLag);
  perPartition('strata_log_producers', 'Producer ids with idempotence or transaction state in the partition (Kafka: ProducerIdCount).', (r) => r.producers);
}

function registerFetchStreamMetrics(registry: MetricsRegistry, buffer: ResponseBufferBudget | undefined): void {
  registry.collected({
    name: 'strata_fetch_file_bytes_total',
    help: 'Record bytes sent from segment files in fetch responses, by path: zero_copy (sendfile) or buffered (read into memory, then written).',
    type: 'counter',
    labelNames: ['path'],
    collect: (emit) => {
      emit(streamCounters.zeroCopyBytes, ['zero_copy']);
      emit(streamCounters.bufferedBytes, ['buffered']);
    },
  });
  registry.collected({
    name: 'strata_fetch_responses_streaming',
    help: 'Fetch responses being sent now, each waiting for its connection\'s socket to drain (slow readers show here).',
    type: 'gauge',
    collect: (emit) => emit(streamCounters.streaming),
  });
  if (buffer) {
    registry.collected({
      name: 'strata_fetch_response_buffer_bytes',
      help: 'Bytes held by fetch responses streamed without sendfile, against fetch.response.max.buffer.bytes (past it, 16 KiB chunks per connection).',
      type: 'gauge',
      collect: (emit) => emit(buffer.inUse),
    });
  }
}

function registerTransactionMetrics(registry: MetricsRegistry, txn: TransactionCoordinator): void {
  registry.collected({
    name: 'strata_transactions',
    help: 'Transactional ids this broker coordinates, by the state of their transaction.',
    type: 'gauge',
    labelNames: ['state'],
    collect: (emit) => {
      const count = new Map<string, number>(TXN_STATES.filter((st) => st !== 'Dead' && st !== 'PrepareEpochFence').map((st) => [st, 0]));
      for (const t of txn.listTransactions({ states: [], producerIds: [], durationFilterMs: -1n }).transactionStates) count.set(t.transactionState, (count.get(t.transactionState) ?? 0) + 1);
      for (const [state, n] of count) emit(n, [state]);
    },
  });
}

function registerTierMetrics(registry: MetricsRegistry, tier: TierManager): void {
  const stats = registry.snapshot(() => tier.stats());
  const one = (name: string, type: 'counter' | 'gauge', help: string, pick: () => SampleValue): void =>
    registry.collected({ name, help, type, collect: (emit) => emit(pick()) });
  one('strata_tier_partitions', 'gauge', 'Partitions of topics with remote.storage.enable=true.', () => stats().partitions);
  one('strata_tier_upload_backlog_segments', 'gauge', 'Closed segments below the high watermark not yet in the object store (kept locally until uploaded).', () => stats().backlog.segments);
  one('strata_tier_upload_backlog_bytes', 'gauge', 'Bytes of those segments.', () => stats().backlog.bytes);
  one('strata_tier_uploads_in_flight', 'gauge', 'Segment uploads running.', () => stats().uploadsInFlight);
  one('strata_tier_failing_partitions', 'gauge', 'Partitions whose last upload failed (retrying with backoff).', () => stats().failingPartitions);
  one('strata_tier_upload_outage', 'gauge', '1 from the first failed upload until the upload backlog has drained again (while the broker logs "upload backlog:" lines), else 0.', () => (stats().outage ? 1 : 0));
  one('strata_tier_upload_outage_seconds', 'gauge', 'How long uploads have failed in the current outage (frozen once they succeed again, while the backlog drains); 0 without an outage.', () => {
    const o = stats().outage;
    return o ? Math.max(0, ((o.resumedAt ?? Date.now()) - o.since) / 1000) : 0;
  });
  one('strata_tier_uploaded_segments_total', 'counter', 'Segments uploaded since the broker started, by open tiered partitions.', () => stats().uploadedSegments);
  one('strata_tier_uploaded_bytes_total', 'counter', 'Segment bytes uploaded since the broker started, by open tiered partitions.', () => stats().uploadedBytes);
  one('strata_tier_read_cache_hits_total', 'counter', 'Remote reads served from the read cache.', () => stats().cache.hits);
  one('strata_tier_read_cache_misses_total', 'counter', 'Remote reads that had to fetch a chunk from the object store.', () => stats().cache.misses);
  one('strata_tier_read_cache_evictions_total', 'counter', 'Chunks evicted from the read cache.', () => stats().cache.evictions);
  one('strata_tier_read_cache_failures_total', 'counter', 'Chunk fetches from the object store that failed or timed out.', () => stats().cache.failures);
  one('strata_tier_read_cache_bytes', 'gauge', 'Bytes held by the read cache.', () => stats().cache.bytes);
  one('strata_tier_read_cache_max_bytes', 'gauge', 'The read cache\'s bound.', () => stats().cache.maxBytes);
}

function registerGroupMetrics(registry: MetricsRegistry, groups: GroupCoordinator): void {
  const sizes = registry.snapshot(() => groups.groupSizes());
  registry.collected({
    name: 'strata_groups',
    help: 'Consumer groups by state (Kafka: NumGroups, NumGroupsStable, ...).',
    type: 'gauge',
    labelNames: ['state'],
    collect: (emit) => {
      const count = new Map<GroupState, number>(GROUP_STATES.map((s) => [s, 0]));
      for (const g of sizes()) count.set(g.state, (count.get(g.state) ?? 0) + 1);
      for (const [state, n] of count) emit(n, [state]);
    },
  });
  registry.collected({
    name: 'strata_group_members',
    help: 'Members of all consumer groups.',
    type: 'gauge',
    collect: (emit) => emit(sizes().reduce((n, g) => n + g.members, 0)),
  });
}
