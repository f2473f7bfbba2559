import { READ_CACHE_DEFAULTS } from '../../core/tier/readCache';
import { parseArgs, phaseTimeoutMs, PLANS, recoveryWriteTimeoutMs, SECTIONS, tieringTimeoutMs, zeroCopyTimeoutMs } from '../../bench/run';
import { SLOW_CONSUMER_MIN_TOPIC_BYTES } from '../../bench/zeroCopyReads';

describe('bench command line', () => {
  it('parses --quick, --keep and repeated --override', () => {
    expect(parseArgs(['--quick', '--override', 'a=1', '--override=b.c=x=y', '--keep'])).toEqual({
      quick: true,
      keep: true,
      overrides: { a: '1', 'b.c': 'x=y' },
      only: null,
    });
    expect(parseArgs([])).toEqual({ quick: false, keep: false, overrides: {}, only: null });
  });

  it('--only picks sections (repeatable, either spelling), kept in run order', () => {
    expect(parseArgs(['--only', 'zero-copy'])).toMatchObject({ only: ['zero-copy'] });
    expect(parseArgs(['--only=limits', '--quick', '--only', 'broker', '--only', 'limits'])).toMatchObject({ quick: true, only: ['broker', 'limits'] });
    expect(SECTIONS).toEqual(['broker', 'zero-copy', 'security', 'tiered', 'recovery', 'cluster', 'limits']);
    expect(parseArgs(['--only', 'limits', '--only', 'security'])).toMatchObject({ only: ['security', 'limits'] });
    expect(parseArgs(['--only', 'zerocopy'])).toBe('--only expects one of broker, zero-copy, security, tiered, recovery, cluster, limits, got zerocopy');
    expect(parseArgs(['--only'])).toMatch(/got nothing$/);
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
  it('produces the same records in every mode, 3 rotated rounds (each mode once in each position), commits every 100 ms', () => {
    for (const plan of [PLANS.full, PLANS.quick]) {
      const m = plan.producerModes;
      expect(m.recordSize).toBe(1024); // KIP-98 measured transactions with 1 KB records
      expect(m.commitIntervalMs).toBe(100);
      expect(m.rounds % 3).toBe(0);
      // A run lasts at least one commit interval even at 1,000,000 rec/s.
      expect(m.records).toBeGreaterThanOrEqual(100_000);
    }
    expect(PLANS.quick.producerModes.records).toBeLessThan(PLANS.full.producerModes.records);
  });

  it('recovers a 1 GB log (quick: a quarter), of many segments, whose active segment is most of one', () => {
    expect(PLANS.full.recovery.logBytes).toBe(1e9);
    expect(PLANS.quick.recovery.logBytes).toBeLessThan(PLANS.full.recovery.logBytes);
    for (const plan of [PLANS.full, PLANS.quick]) {
      const { logBytes, segmentBytes, rounds } = plan.recovery;
      expect(logBytes / segmentBytes).toBeGreaterThanOrEqual(3);
      // What a crash replays is the active segment: not a sliver of one.
      expect(logBytes % segmentBytes).toBeGreaterThanOrEqual(segmentBytes / 2);
      expect(rounds).toBeGreaterThanOrEqual(3); // a median of at least 3
    }
    expect(PLANS.full.recovery.logBytes / PLANS.full.recovery.segmentBytes).toBeGreaterThanOrEqual(10);
    expect(recoveryWriteTimeoutMs(1e9)).toBe(130_000);
  });

  it('zero-copy: ~1 GB of 1 KiB records (quick: less) with the slow consumers, then 100 B records; 50 stalled 55 MiB fetches', () => {
    const full = PLANS.full.zeroCopy;
    expect(full.workloads.map((w) => w.size)).toEqual([1024, 100]);
    expect(full.workloads[0]!.count * 1024).toBeGreaterThanOrEqual(1e9);
    expect(full.workloads[0]!.count * 1024).toBeLessThan(1.1e9);
    for (const plan of [PLANS.full, PLANS.quick]) {
      const z = plan.zeroCopy;
      expect(z.slowConsumers).toEqual({ connections: 50, maxBytes: 55 * 1024 * 1024 });
      expect(z.rounds).toBeGreaterThanOrEqual(3); // a median of at least 3
      const slow = z.workloads.filter((w) => w.slowConsumers);
      expect(slow.map((w) => w.size)).toEqual([1024]);
      for (const w of slow) expect(w.count * w.size).toBeGreaterThanOrEqual(SLOW_CONSUMER_MIN_TOPIC_BYTES);
    }
    for (const [i, w] of PLANS.quick.zeroCopy.workloads.entries()) expect(w.count).toBeLessThan(full.workloads[i]!.count);
    // 1M × 1 KiB may take 40 s + 52 s: a phase slower than ~11 MB/s counts as broken.
    expect(zeroCopyTimeoutMs(1_000_000, 1024)).toBe(92_000);
  });

  it('security: the same 1 KiB records over each listener, ABBA rounds (a median of 3), quick smaller but not a blip', () => {
    for (const plan of [PLANS.full, PLANS.quick]) {
      const s = plan.security;
      expect(s.recordSize).toBe(1024); // what the targets are about
      expect(s.rounds).toBeGreaterThanOrEqual(3);
      // A read over PLAINTEXT (~1 GB/s here) must last well beyond kcat's start and the TLS + SCRAM set-up.
      expect(s.records * s.recordSize).toBeGreaterThanOrEqual(250e6);
      expect(s.warmupRecords).toBeGreaterThan(0);
      expect(s.warmupRecords).toBeLessThanOrEqual(s.records / 10);
    }
    expect(PLANS.quick.security.records).toBeLessThan(PLANS.full.security.records);
    // Bounded disk: every round writes a topic per listener.
    expect(2 * PLANS.full.security.rounds * PLANS.full.security.records * PLANS.full.security.recordSize).toBeLessThanOrEqual(4e9);
  });
});
