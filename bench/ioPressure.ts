import * as fs from 'fs';

/**
 * Linux pressure-stall information for I/O (/proc/pressure/io): the cumulative time, in µs, during
 * which some task was stalled waiting for I/O. On this machine the root filesystem is ext4 with
 * online `discard`, so deleting or rewriting gigabytes (the previous run's cleanup, a build, the
 * disk test) keeps the disk busy for seconds afterwards and halves the produce numbers measured
 * meanwhile. The benchmark therefore waits for I/O to go quiet before timing anything, and
 * records the stall share of every phase so a disturbed measurement is visible as such.
 */

const PSI_IO = '/proc/pressure/io';

/** Cumulative 'some' stall time in µs, or null where PSI is unavailable. */
export function ioStallMicros(): number | null {
  let text: string;
  try {
    text = fs.readFileSync(PSI_IO, 'utf8');
  } catch {
    return null;
  }
  const m = /^some .*total=(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** Measures the share of wall time some task was stalled on I/O, between start and stop. */
export class IoStallMeter {
  private readonly startUs = ioStallMicros();
  private readonly startNs = process.hrtime.bigint();

  /** Fraction 0..1 of the window with an I/O stall, or null without PSI. */
  stop(): number | null {
    const end = ioStallMicros();
    if (end === null || this.startUs === null) return null;
    const wallUs = Number(process.hrtime.bigint() - this.startNs) / 1000;
    return wallUs > 0 ? Math.min(1, (end - this.startUs) / wallUs) : 0;
  }
}

export interface QuietResult {
  quiet: boolean;
  waitedMs: number;
  /** Stall share of the last window looked at. */
  lastStall: number | null;
}

/**
 * Wait (bounded) until a whole window passes with I/O stalls below `maxStall` of the time.
 * Without PSI there is nothing to wait for.
 */
export async function waitForIoQuiet(opts: { windowMs?: number; maxStall?: number; timeoutMs?: number } = {}): Promise<QuietResult> {
  const windowMs = opts.windowMs ?? 500;
  const maxStall = opts.maxStall ?? 0.02;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const started = Date.now();
  if (ioStallMicros() === null) return { quiet: true, waitedMs: 0, lastStall: null };
  for (;;) {
    const meter = new IoStallMeter();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const stall = meter.stop();
    const waitedMs = Date.now() - started;
    if (stall === null || stall <= maxStall) return { quiet: true, waitedMs, lastStall: stall };
    if (waitedMs >= timeoutMs) return { quiet: false, waitedMs, lastStall: stall };
  }
}
