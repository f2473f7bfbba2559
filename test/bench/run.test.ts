import { READ_CACHE_DEFAULTS } from '../../core/tier/readCache';
import { parseArgs, phaseTimeoutMs, PLANS, tieringTimeoutMs } from '../../bench/run';

describe('bench command line', () => {
  it('parses --quick, --keep and repeated --override', () => {
    expect(parseArgs(['--quick', '--override', 'a=1', '--override=b.c=x=y', '--keep'])).toEqual({
      quick: true,
      keep: true,
      overrides: { a: '1', 'b.c': 'x=y' },
    });
    expect(parseArgs([])).toEqual({ quick: false, keep: false, overrides: {} });
  });

  it('reports usage mistakes as text', () => {
    expect(parseArgs(['--fast'])).toBe('unknown argument --fast');
    expect(parseArgs(['--override', 'novalue'])).toMatch(/expects key=value/);
    expect(parseArgs(['--override'])).toMatch(/expects key=value, got nothing/);
    expect(parseArgs(['--help'])).toBe('');
  });

  it('sizes the full run as specified and the quick run smaller', () => {
    expect(PLANS.full.workloads).toEqual([
      { size: 100, count: 2_000_000 },
      { size: 1024, count: 500_000 },
    ]);
    for (const [i, w] of PLANS.quick.workloads.entries()) expect(w.count).toBeLessThan(PLANS.full.workloads[i]!.count);
    // A phase that can't manage 50,000 rec/s is cut off, so a broken broker can't stall the run.
    expect(phaseTimeoutMs(2_000_000)).toBe(60_000);
  });

  it('measures rebalances for 2, 10 and 50 members on a topic with a partition for each, in both modes', () => {
    for (const plan of [PLANS.full, PLANS.quick]) {
      expect(plan.groups.memberCounts).toEqual([2, 10, 50]);
      expect(plan.groups.partitions).toBeGreaterThanOrEqual(50);
      expect(plan.groups.leaves).toBeGreaterThanOrEqual(3); // a median of at least 3
      expect(plan.groups.consumeRounds).toBeGreaterThanOrEqual(1);
    }
    expect(PLANS.quick.groups.leaves).toBeLessThanOrEqual(PLANS.full.groups.leaves);
  });

  it('sizes the tiered reads so that every cold read misses the broker\'s read cache, with segments above a kcat batch', () => {
    for (const plan of [PLANS.full, PLANS.quick]) {
      const bytes = plan.tier.records * plan.tier.recordSize;
      expect(bytes).toBeGreaterThanOrEqual(1.5 * READ_CACHE_DEFAULTS.maxBytes);
      expect(plan.tier.segmentBytes).toBeGreaterThan(1024 * 1024);
      expect(bytes / plan.tier.segmentBytes).toBeGreaterThanOrEqual(8); // "small segment.bytes": many tiered segments
      expect(plan.tier.rounds).toBeGreaterThanOrEqual(2);
    }
    expect(PLANS.quick.tier.records).toBeLessThan(PLANS.full.tier.records);
    // Uploading 256 MB may take 30 s + 26 s.
    expect(tieringTimeoutMs(256_000_000)).toBe(56_000);
  });
});
