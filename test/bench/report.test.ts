import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PhaseResult } from '../../bench/kcatPhases';
import type { GroupConsumeResult } from '../../bench/groupConsume';
import type { RebalanceResult } from '../../bench/rebalance';
import { BenchResults, evaluateTargets, formatReport, GroupResults, peakRss, ratiosFor, s3Limit, writeResultsJson } from '../../bench/report';
import type { TierRead, TieredReadsResult } from '../../bench/tieredReads';

const usage = (peakMb: number) => ({ peakRssBytes: peakMb * 1e6, endRssBytes: 0, cpuSeconds: 1, cpuCores: 0.9, samples: 10 });

function phase(kind: 'produce' | 'consume', size: number, recPerSec: number, peakMb: number, ok = true): PhaseResult {
  const records = 1_000_000;
  const seconds = records / recPerSec;
  return {
    name: `${kind} ${size} B`,
    kind,
    topic: 't',
    recordSize: size,
    expectedRecords: records,
    records: ok ? records : 10,
    payloadBytes: records * size,
    seconds,
    recordsPerSec: ok ? recPerSec : 0,
    mbPerSec: ok ? (recPerSec * size) / 1e6 : 0,
    broker: usage(peakMb),
    client: { cpuSeconds: 1, cpuCores: 0.97 },
    ioStall: 0.05,
    otherCpu: { otherCores: 0.1, stealCores: 0.02 },
    ok,
    error: ok ? undefined : 'consumed 10 records, expected exactly 1000000',
    command: ['kcat'],
  };
}

function results(phases: PhaseResult[], hwmMb: number | null = 200): BenchResults {
  const t = (name: string, mbPerSec: number) => ({ name, bytes: 1e9, seconds: 1e3 / mbPerSec, mbPerSec });
  return {
    startedAt: '2025-01-01T00:00:00.000Z',
    mode: 'quick',
    durationSeconds: 12,
    machine: { node: 'v20', cpus: 2, cpuModel: 'cpu', memoryBytes: 2 ** 34, kernel: '6' },
    kcatVersion: 'Version 1.7.1',
    broker: { overrides: {}, peakRssBytes: hwmMb === null ? null : hwmMb * 1e6, stopExitCode: 0 },
    limits: {
      diskPageCache: t('disk write (page cache)', 4000),
      diskFsync: t('disk write + fsync', 400),
      loopbackNode: t('loopback node', 2000),
    },
    phases,
    warmup: [],
    settle: [],
    warnings: [],
    errors: [],
  };
}

describe('bench report', () => {
  it('compares produce with the disk and consume with the loopback', () => {
    const r = results([]);
    expect(ratiosFor(phase('produce', 100, 1_000_000, 100), r.limits)).toEqual({
      'disk (page cache)': 100 / 4000,
      'disk (fsync)': 100 / 400,
    });
    // No python loopback measured: no ratio invented for it.
    expect(ratiosFor(phase('consume', 100, 2_000_000, 100), r.limits)).toEqual({ 'loopback (node)': 200 / 2000 });
    expect(ratiosFor(phase('consume', 100, 2_000_000, 100, false), r.limits)).toEqual({});
  });

  it('PASS and MISS against the targets, N/A when not measured', () => {
    const pass = evaluateTargets(results([phase('produce', 100, 1_200_000, 120), phase('consume', 100, 2_500_000, 150)]));
    expect(pass.map((t) => t.pass)).toEqual([true, true, true]);

    const miss = evaluateTargets(results([phase('produce', 100, 900_000, 120), phase('consume', 100, 1_000_000, 350)], 350));
    expect(miss.map((t) => t.pass)).toEqual([false, false, false]);

    const broken = evaluateTargets(results([phase('produce', 100, 1_200_000, 120), phase('consume', 100, 2_500_000, 150, false)]));
    expect(broken[1]).toMatchObject({ pass: null, actual: expect.stringContaining('consumed 10 records') });
  });

  it('peak RSS is the larger of the kernel high-water mark and the samples', () => {
    expect(peakRss(results([phase('produce', 100, 1, 250)], 200))).toBe(250e6);
    expect(peakRss(results([phase('produce', 100, 1, 250)], 280))).toBe(280e6);
    expect(peakRss(results([], null))).toBeNull();
  });

  it('prints the table, the verdicts and the errors', () => {
    const r = results([phase('produce', 100, 1_200_000, 120), phase('consume', 100, 1_000_000, 150, false)]);
    r.errors.push('consume 100 B: consumed 10 records, expected exactly 1000000');
    const text = formatReport(r);
    expect(text).toContain('1,200,000');
    expect(text).toMatch(/produce 100 B .* 0\.90 +0\.97 +0\.12 +5% +120\.0 MB/);
    expect(text).toContain('0.030 of disk (page cache), 0.300 of disk (fsync)');
    expect(text).toMatch(/PASS +produce 100 B records/);
    expect(text).toContain('disk write + fsync       1000.0 MB');
    expect(text).toMatch(/N\/A +consume 100 B records/);
    expect(text).toContain('FAILED: consumed 10 records');
    expect(text).toContain('ERRORS (the run is not trustworthy)');
  });

  it('writes JSON with ratios and targets', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-report-'));
    try {
      const file = path.join(dir, 'results', 'latest.json');
      writeResultsJson(file, results([phase('produce', 100, 1_200_000, 120)]));
      const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
      expect(doc.phases[0].ratios['disk (fsync)']).toBeCloseTo(0.3);
      expect(doc.targets).toHaveLength(3);
      expect(doc.brokerPeakRssBytes).toBe(200e6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('consumer groups', () => {
    function rebalance(members: number, leaveMs: number[], ok = true): RebalanceResult {
      const sorted = [...leaveMs].sort((a, b) => a - b);
      const med = ok && sorted.length ? sorted[sorted.length >> 1]! : null;
      return {
        name: `rebalance, ${members} members`,
        members,
        partitions: 50,
        heartbeatIntervalMs: 100,
        fetchMaxWaitMs: 100,
        samples: ok ? leaveMs.map((ms, i) => ({ leaveToStableMs: ms, rejoinMs: ms - 2, generation: 2 * i + 2 })) : [],
        medianMs: med,
        medianBeyondClientMs: med === null ? null : med - 100,
        formSeconds: ok ? 0.4 : null,
        ok,
        error: ok ? undefined : 'forming a group of 50: not within 30000 ms (3 of 50 members not yet assigned)\nkafkajs said …',
      };
    }
    function consume(plainRate: number, groupRate: number): GroupConsumeResult {
      const p = { ...phase('consume', 100, plainRate, 140), name: 'consume 100 B, plain (kcat -C), round 1' };
      const g = { ...phase('consume', 100, groupRate, 160), name: 'consume 100 B, group (kcat -G), round 1' };
      return {
        topic: 'bench-100b', records: 1_000_000, recordSize: 100, plain: [p], group: [g], joins: [{ groupId: 'bench-consume-1', joinMs: 2 }],
        plainRecordsPerSec: plainRate, groupRecordsPerSec: groupRate, ratio: groupRate / plainRate,
        plainBrokerMicrosPerRecord: 1, groupBrokerMicrosPerRecord: 1, ok: true, errors: [],
      };
    }
    const withGroups = (groups: GroupResults): BenchResults => ({ ...results([phase('produce', 100, 1_200_000, 120)]), groups });

    it('no group targets for results that have no group measurements (older runs)', () => {
      expect(evaluateTargets(results([]))).toHaveLength(3);
    });

    it('rebalance: PASS within 500 ms beyond the heartbeat interval, MISS beyond, N/A when broken', () => {
      const t = evaluateTargets(withGroups({ rebalance: [rebalance(2, [10, 120, 15]), rebalance(10, [650, 700, 590]), rebalance(50, [], false)], consume: null }));
      const rb = t.filter((x) => x.name.startsWith('rebalance'));
      expect(rb.map((x) => x.pass)).toEqual([true, false, null]);
      expect(rb[0]!.actual).toBe('-85 ms beyond (leave → Stable 15 ms, median of 3)');
      expect(rb[1]!.target).toBe("≤ 500 ms beyond the client's heartbeat interval (100 ms)");
      expect(rb[2]!.actual).toBe('not measured (forming a group of 50: not within 30000 ms (3 of 50 members not yet assigned))');
      expect(t.find((x) => x.name.startsWith('consume through a group'))).toMatchObject({ pass: null, actual: 'not measured (did not run)' });
    });

    it('group consume: ratio of the medians against 0.9', () => {
      const pass = evaluateTargets(withGroups({ rebalance: [], consume: consume(1_000_000, 950_000) }));
      expect(pass.find((x) => x.name.startsWith('consume through a group'))).toMatchObject({
        pass: true,
        actual: '0.95 (group 950,000 rec/s, plain 1,000,000 rec/s)',
      });
      expect(pass.find((x) => x.name.startsWith('rebalance'))).toMatchObject({ pass: null });
      const miss = evaluateTargets(withGroups({ rebalance: [], consume: consume(1_000_000, 700_000) }));
      expect(miss.find((x) => x.name.startsWith('consume through a group'))!.pass).toBe(false);
      const broken = consume(1_000_000, 700_000);
      Object.assign(broken, { ok: false, ratio: null, errors: ['consume 100 B, group (kcat -G), round 1: consumed 3 records, expected exactly 1000000'] });
      const na = evaluateTargets(withGroups({ rebalance: [], consume: broken }));
      expect(na.find((x) => x.name.startsWith('consume through a group'))).toMatchObject({ pass: null, actual: expect.stringContaining('consumed 3 records') });
    });

    it('prints both group sections, and the group phases count for the RSS peak', () => {
      const r = withGroups({ rebalance: [rebalance(2, [10, 120, 15]), rebalance(50, [], false)], consume: consume(1_000_000, 800_000) });
      const text = formatReport(r);
      expect(text).toContain('heartbeatInterval 100 ms, fetch max wait 100 ms, 50 partitions');
      expect(text).toMatch(/\n +2 +3 +15 +-85 +13 +10 +120 +0\.40 s\n/);
      expect(text).toContain('FAILED: forming a group of 50');
      expect(text).toMatch(/consume 100 B, group \(kcat -G\), round 1 +1,000,000 +1\.25 +800,000/);
      expect(text).toContain('median rec/s: plain 1,000,000, group 800,000, group ÷ plain 0.80');
      expect(text).toContain('group join (coordinator: first JoinGroup → Stable): 2 ms median');
      expect(text).toMatch(/MISS +consume through a group ÷ plain consume, 100 B records, 1 partition: ≥ 0\.90 — measured 0\.80/);
      expect(peakRss(r)).toBe(200e6); // the kernel's high-water mark (200) is above every sample
      r.broker.peakRssBytes = null;
      expect(peakRss(r)).toBe(160e6); // the group phase's sample is the highest
    });
  });

  describe('tiered reads', () => {
    const MiB = 1024 * 1024;
    const read = (name: string, mbPerSec: number, ok = true): TierRead => {
      const p = { ...phase('consume', 1024, (mbPerSec * 1e6) / 1024, 180, ok), name };
      return { phase: p, s3rver: usage(90), dynamo: usage(40), brokerReadBytes: 260e6 };
    };
    const get = (inFlight: number, mbPerSec: number) => ({
      name: `S3 emulator ranged GET, 4 MiB, ${inFlight} in flight`, bytes: 258e6, seconds: 258 / mbPerSec, mbPerSec,
      objects: 32, gets: 64, chunkBytes: 4 * MiB, inFlight, s3rver: usage(90),
    });
    function tier(hot: number[], cold: number[], over: Partial<TieredReadsResult> = {}): TieredReadsResult {
      const hotReads = hot.map((v, i) => read(`hot read #${i + 1}`, v));
      const coldReads = cold.map((v, i) => read(`cold read #${i + 1}`, v));
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? null;
      const h = med(hot);
      const c = med(cold);
      return {
        records: 250_000, recordSize: 1024, segmentBytes: 8 * MiB,
        cache: { chunkBytes: 4 * MiB, maxBytes: 64 * MiB, readAheadChunks: 2, maxPrefetches: 4 },
        produce: [], warmup: [], tiering: { seconds: 1.5, segments: 32, bytes: 258e6, localBytes: 51 },
        hot: hotReads, cold: coldReads, gets: [get(1, 150), get(4, 300)],
        hotMbPerSec: h, coldMbPerSec: c, ratio: h && c !== null ? c / h : null,
        brokerPeakRssBytes: 310e6, brokerStopExitCode: 0, ok: true, errors: [], warnings: [],
        ...over,
      };
    }
    const withTier = (t: TieredReadsResult): BenchResults => ({ ...results([]), tier: t });

    it('cold ÷ hot against 0.5, with the share of the emulator\'s best GET rate; N/A when broken', () => {
      const miss = evaluateTargets(withTier(tier([900, 1000, 1100], [240, 200, 250])));
      expect(miss[miss.length - 1]).toMatchObject({
        name: 'cold read (S3 emulator, through the read cache) ÷ hot read (local segments), 1 KiB records, 1 partition',
        target: '≥ 0.50',
        actual: '0.24 (cold 240.0 MB/s, hot 1000.0 MB/s; cold = 0.80 of the S3 emulator\'s ranged-GET rate)',
        pass: false,
      });
      expect(evaluateTargets(withTier(tier([400], [250]))).pop()!.pass).toBe(true);
      const broken = tier([1000], [], { ok: false, errors: ['tiered reads: emulator did not print \'# ready\'\nmore'] });
      expect(evaluateTargets(withTier(broken)).pop()).toMatchObject({ pass: null, actual: "not measured (tiered reads: emulator did not print '# ready')" });
      expect(s3Limit(tier([1], [1], { gets: [] }))).toBeNull();
      expect(evaluateTargets(results([]))).toHaveLength(3); // older runs: no tier target
    });

    it('prints the hot and cold rounds interleaved, the emulator limits, and counts the second broker for the RSS peak', () => {
      const r = withTier(tier([1000, 900], [200, 220]));
      const text = formatReport(r);
      expect(text).toContain('32 tiered segments (258.0 MB in S3), all tiered and none left local 1.5 s after the produce ended');
      expect(text).toMatch(/hot read #1 +1,000,000 +1\.02 +1000\.0 +0\.90 +0\.90 +0\.97 +0\.12 +260\.0 MB +180\.0 MB\ncold read #1 +1,000,000 +5\.12 +200\.0 /);
      expect(text).toMatch(/cold read #1[^\n]*\nhot read #2[^\n]*\ncold read #2/);
      expect(text).toContain('4 MiB chunks, read-ahead 2 chunks, 64 MiB');
      expect(text).toContain('S3 emulator limit: ranged GETs of the tiered objects, 4 MiB each, 4 in flight (AWS SDK, bodies counted, broker idle): 300.0 MB/s');
      expect(text).toContain('median MB/s: hot 1000.0, cold 220.0, cold ÷ hot 0.22, cold ÷ S3 emulator limit 0.73');
      expect(text).toMatch(/S3 emulator ranged GET, 4 MiB, 1 in flight +258\.0 MB +1\.72 +150/); // in the physical limits
      expect(text).toMatch(/MISS +cold read/);
      expect(text).not.toContain('FAILED');
      expect(peakRss(r)).toBe(310e6); // the tiered-read broker's high-water mark
    });

    it('marks a failed read', () => {
      const t = tier([1000], [200]);
      t.cold.push(read('cold read #2', 0, false));
      expect(formatReport(withTier(t))).toMatch(/cold read #2 +1,000,000 +- +- .*FAILED: consumed 10 records/);
    });
  });
});
