import { MachineCpuMeter } from '../../bench/machineCpu';

describe('MachineCpuMeter', () => {
  it('sees at least the CPU this process burns', () => {
    const meter = new MachineCpuMeter();
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x++; // keep one core busy for 300 ms of wall time
    const cpu = meter.stop();
    expect(x).toBeGreaterThan(0);
    expect(cpu!.busyCores).toBeGreaterThan(0.5); // other load on a shared machine can only add
    expect(cpu!.busyCores).toBeLessThanOrEqual(2.5);
    expect(cpu!.stealCores).toBeGreaterThanOrEqual(0);
  });
});
