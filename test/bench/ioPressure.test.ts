import { IoStallMeter, ioStallMicros, waitForIoQuiet } from '../../bench/ioPressure';

describe('I/O pressure', () => {
  const hasPsi = ioStallMicros() !== null;

  it('reads a cumulative stall counter (where the kernel has PSI)', () => {
    const v = ioStallMicros();
    if (hasPsi) expect(v).toBeGreaterThanOrEqual(0);
    else expect(v).toBeNull();
  });

  it('reports a stall share between 0 and 1', async () => {
    const m = new IoStallMeter();
    await new Promise((r) => setTimeout(r, 20));
    const share = m.stop();
    if (hasPsi) {
      expect(share).toBeGreaterThanOrEqual(0);
      expect(share).toBeLessThanOrEqual(1);
    } else {
      expect(share).toBeNull();
    }
  });

  it('returns at once when the threshold is met and gives up at the deadline otherwise', async () => {
    await expect(waitForIoQuiet({ windowMs: 20, maxStall: 1 })).resolves.toMatchObject({ quiet: true });
    if (!hasPsi) return;
    const started = Date.now();
    const r = await waitForIoQuiet({ windowMs: 20, maxStall: -1, timeoutMs: 100 });
    expect(r.quiet).toBe(false);
    expect(r.waitedMs).toBeGreaterThanOrEqual(100);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
