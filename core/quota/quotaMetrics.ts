import type { MetricsRegistry } from '../metrics/registry';
import type { QuotaManager, QuotaSensorStats } from './quotaManager';

/**
 * The client quota metrics, per quota type (produce, fetch, request) and per rate kept (the
 * user and client_id labels are '' where the rate is not kept per user or per client id, as
 * Kafka's quota metric tags are), computed when scraped. Kafka's: byte-rate / request-time
 * (strata_quota_rate), throttle-time (strata_quota_throttle_time_seconds_total, a counter here
 * rather than Kafka's avg/max, from which both follow).
 */
export function registerQuotaMetrics(registry: MetricsRegistry, quotas: QuotaManager): void {
  const stats = registry.snapshot(() => quotas.stats());
  const labels = (s: QuotaSensorStats): string[] => [s.type, s.user, s.clientId];
  const labelNames = ['type', 'user', 'client_id'];
  registry.collected({
    name: 'strata_quota_rate',
    help: 'A client quota\'s measured rate over the quota window: bytes per second for produce and fetch, percent of one second per second for request (Kafka: byte-rate, request-time).',
    type: 'gauge',
    labelNames,
    collect: (emit) => {
      for (const s of stats()) emit(s.rate, labels(s));
    },
  });
  registry.collected({
    name: 'strata_quota_limit',
    help: 'The quota a rate is held to (producer_byte_rate, consumer_byte_rate, request_percentage); absent where none applies.',
    type: 'gauge',
    labelNames,
    collect: (emit) => {
      for (const s of stats()) if (s.bound !== null) emit(s.bound, labels(s));
    },
  });
  registry.collected({
    name: 'strata_quota_throttle_time_seconds_total',
    help: 'Throttle time given to clients over their quota: throttle_time_ms in the answers and the time their connections were muted (Kafka: throttle-time).',
    type: 'counter',
    labelNames,
    collect: (emit) => {
      for (const s of stats()) emit(s.throttleMsTotal / 1000, labels(s));
    },
  });
  registry.collected({
    name: 'strata_quota_throttled_responses_total',
    help: 'Answers that carried a throttle time because the client was over its quota.',
    type: 'counter',
    labelNames,
    collect: (emit) => {
      for (const s of stats()) emit(s.throttles, labels(s));
    },
  });
}
