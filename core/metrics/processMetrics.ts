import type { MetricsRegistry } from './registry';

/**
 * The process metrics every Prometheus client library exports, under their standard names
 * (so existing dashboards and alerts apply), plus the broker's uptime.
 */
export function registerProcessMetrics(registry: MetricsRegistry): void {
  const startSeconds = Date.now() / 1000 - process.uptime();
  registry.collected({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    type: 'gauge',
    collect: (emit) => emit(process.memoryUsage.rss()),
  });
  registry.collected({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    type: 'counter',
    collect: (emit) => {
      const { user, system } = process.cpuUsage();
      emit((user + system) / 1e6);
    },
  });
  registry.collected({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    type: 'gauge',
    collect: (emit) => emit(Math.round(startSeconds * 1000) / 1000),
  });
  registry.collected({
    name: 'strata_uptime_seconds',
    help: 'Seconds since the broker process started.',
    type: 'gauge',
    collect: (emit) => emit(process.uptime()),
  });
}
