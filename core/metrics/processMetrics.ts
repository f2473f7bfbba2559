import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetricsRegistry } from './registry';

/**
 * The process metrics every Prometheus client library exports, under their standard names
 * (so existing dashboards and alerts apply), plus the broker's uptime and how late its event
 * loop runs (prom-client's nodejs_eventloop_lag_* names): every request, heartbeat and timer of
 * the broker waits for the loop, so a stall there (a long GC, a synchronous disk call) is a
 * stall of everything. The lag is measured continuously (perf_hooks.monitorEventLoopDelay, 10 ms
 * resolution) and reported for the time since the previous scrape.
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
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  // The three lag gauges share one read of the histogram per scrape; the histogram restarts then.
  const lagSnapshot = registry.snapshot(() => {
    const ns = (v: number) => (Number.isFinite(v) ? v / 1e9 : 0);
    // The monitor's samples include its own resolution: what is above it is lag.
    const minus = (v: number) => Math.max(0, ns(v) - 0.01);
    const out = lag.count === 0 ? { p50: 0, p99: 0, max: 0 } : { p50: minus(lag.percentile(50)), p99: minus(lag.percentile(99)), max: minus(lag.max) };
    lag.reset();
    return out;
  });
  for (const [name, pick, what] of [
    ['nodejs_eventloop_lag_p50_seconds', 'p50', 'median'],
    ['nodejs_eventloop_lag_p99_seconds', 'p99', '99th percentile'],
    ['nodejs_eventloop_lag_max_seconds', 'max', 'maximum'],
  ] as const) {
    registry.collected({
      name,
      help: `The event loop's lag since the previous scrape, ${what}, in seconds (how late a 10 ms timer ran).`,
      type: 'gauge',
      collect: (emit) => emit(lagSnapshot()[pick]),
    });
  }
  registry.collected({
    name: 'strata_uptime_seconds',
    help: 'Seconds since the broker process started.',
    type: 'gauge',
    collect: (emit) => emit(process.uptime()),
  });
}
