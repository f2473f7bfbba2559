import * as fs from 'fs';

/**
 * Whole-machine CPU use from /proc/stat, so each phase can say how much CPU went to processes
 * other than the broker and kcat. On a shared 2-core machine (other builds and test runs, the
 * hypervisor stealing time) that is the usual reason one run is slower than the last, and a
 * number disturbed that way must be recognisable as such.
 */

const TICKS_PER_SEC = 100; // USER_HZ, as in rss.ts

interface CpuTicks {
  busy: number;
  steal: number;
}

function readTicks(): CpuTicks | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n', 1)[0] ?? '';
  if (!line.startsWith('cpu ')) return null;
  // user nice system idle iowait irq softirq steal [guest guest_nice — already in user/nice]
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0);
  return { busy, steal: steal ?? 0 };
}

export interface MachineCpu {
  /** Cores' worth of CPU used by everything (1.00 = one core busy the whole time). */
  busyCores: number;
  /** Cores' worth taken by the hypervisor from this VM. */
  stealCores: number;
}

export class MachineCpuMeter {
  private readonly start = readTicks();
  private readonly startNs = process.hrtime.bigint();

  stop(): MachineCpu | null {
    const end = readTicks();
    if (!end || !this.start) return null;
    const seconds = Number(process.hrtime.bigint() - this.startNs) / 1e9;
    if (seconds <= 0) return null;
    return {
      busyCores: (end.busy - this.start.busy) / TICKS_PER_SEC / seconds,
      stealCores: (end.steal - this.start.steal) / TICKS_PER_SEC / seconds,
    };
  }
}
