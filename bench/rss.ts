import * as fs from 'fs';

/**
 * Watches the broker process from outside through /proc, so measuring costs the broker nothing:
 * resident memory sampled every 100 ms (its peak per phase), and CPU time consumed (user + system),
 * which says whether the broker's single JavaScript thread was the bottleneck (≈ 1 core busy) or
 * was waiting on the client.
 */

/** Linux's USER_HZ; /proc/<pid>/stat reports CPU time in these ticks. It is 100 on every mainstream build. */
const CLOCK_TICKS_PER_SEC = 100;

export interface ProcessUsage {
  /** Highest VmRSS seen while sampling, in bytes. */
  peakRssBytes: number;
  /** VmRSS at the end of the window. */
  endRssBytes: number;
  /** CPU seconds (user + system) used during the window. */
  cpuSeconds: number;
  /** cpuSeconds ÷ wall seconds: 1.0 = one core fully busy. */
  cpuCores: number;
  samples: number;
}

/** VmRSS / VmHWM (the kernel's own peak-RSS record) from /proc/<pid>/status, in bytes. */
export function readMemory(pid: number): { rssBytes: number; hwmBytes: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null; // the process is gone
  }
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

/** utime + stime of the process, in seconds. */
export function readCpuSeconds(pid: number): number | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is parenthesised and may contain spaces: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / CLOCK_TICKS_PER_SEC : null;
}

/** Samples one process for the duration of a phase: `const s = new UsageSampler(pid); …; s.stop()`. */
export class UsageSampler {
  private peak = 0;
  private last = 0;
  private samples = 0;
  private result: ProcessUsage | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly cpuStart: number;
  private readonly started = process.hrtime.bigint();

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.cpuStart = readCpuSeconds(pid) ?? 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    // Never keep the benchmark alive just to sample.
    this.timer.unref();
  }

  private sample(): void {
    const m = readMemory(this.pid);
    if (!m) return;
    this.samples++;
    this.last = m.rssBytes;
    if (m.rssBytes > this.peak) this.peak = m.rssBytes;
  }

  /** End the window; later calls return the same figures. */
  stop(): ProcessUsage {
    if (this.result) return this.result;
    clearInterval(this.timer);
    this.sample();
    const wall = Number(process.hrtime.bigint() - this.started) / 1e9;
    const cpu = Math.max(0, (readCpuSeconds(this.pid) ?? this.cpuStart) - this.cpuStart);
    this.result = {
      peakRssBytes: this.peak,
      endRssBytes: this.last,
      cpuSeconds: cpu,
      cpuCores: wall > 0 ? cpu / wall : 0,
      samples: this.samples,
    };
    return this.result;
  }
}
