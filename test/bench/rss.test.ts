import { spawn } from 'child_process';
import { readCpuSeconds, readMemory, UsageSampler } from '../../bench/rss';

describe('process usage from /proc', () => {
  it('reads this process', () => {
    const m = readMemory(process.pid);
    expect(m!.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(m!.hwmBytes).toBeGreaterThanOrEqual(m!.rssBytes);
    expect(readCpuSeconds(process.pid)).toBeGreaterThan(0);
  });

  it('returns null for a process that is gone', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    expect(readMemory(pid)).toBeNull();
    expect(readCpuSeconds(pid)).toBeNull();
  });

  it('samples peak RSS and CPU of a busy process', async () => {
    // The child touches 150 MB and spins for 300 ms of its own clock, then reports and idles.
    const script = `
      const b = Buffer.alloc(150e6, 1);
      const until = Date.now() + 300; let x = 0; while (Date.now() < until) x++;
      console.log('done', b.length + (x & 0));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const sampler = new UsageSampler(child.pid!, 20);
      await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('done') && resolve()));
      const usage = sampler.stop();
      expect(usage.peakRssBytes).toBeGreaterThan(150e6);
      expect(usage.cpuSeconds).toBeGreaterThanOrEqual(0.2);
      expect(usage.cpuCores).toBeGreaterThan(0);
      expect(usage.samples).toBeGreaterThanOrEqual(1);
      expect(sampler.stop()).toBe(usage); // later calls return the same figures
    } finally {
      child.kill('SIGKILL');
    }
  });
});
