import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PhaseResult } from '../../bench/kcatPhases';
import type { GroupConsumeResult } from '../../bench/groupConsume';
import type { RebalanceResult } from '../../bench/rebalance';
import { BenchResults, evaluateTargets, formatReport, GroupResults, peakRss, ratiosFor, writeResultsJson } from '../../bench/report';

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
});
