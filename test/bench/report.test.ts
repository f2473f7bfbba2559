import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PhaseResult } from '../../bench/kcatPhases';
import { BenchResults, evaluateTargets, formatReport, peakRss, ratiosFor, writeResultsJson } from '../../bench/report';

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
});
