import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PhaseResult } from '../../bench/kcatPhases';
import type { GroupConsumeResult } from '../../bench/groupConsume';
import { summarize, type ModeRun, type ProducerMode, type ProducerModesResult } from '../../bench/producerModes';
import type { RecoveryOpen, RecoveryResult } from '../../bench/recovery';
import { summarizeRecovery } from '../../bench/recovery';
import { RECOVERY_LOG_DEFAULTS } from '../../bench/recoveryLog';
import type { RebalanceResult } from '../../bench/rebalance';
import { allPhases, BenchResults, evaluateTargets, formatReport, GroupResults, peakRss, ratiosFor, s3Limit, writeResultsJson } from '../../bench/report';
import { compareProtocols, summarizeSecurity, type Protocol, type SecurityResult, type SecurityRun } from '../../bench/securityBench';
import type { TierRead, TieredReadsResult } from '../../bench/tieredReads';
import { compareSendPaths, summarizeConsumes, summarizeSlowConsumers, type SendPath, type ZeroCopyResult, type ZeroCopyRun } from '../../bench/zeroCopyReads';

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
  describe('producer modes', () => {
    function modes(rates: Partial<Record<ProducerMode, number[]>>, over: Partial<ProducerModesResult> = {}): ProducerModesResult {
      const runs: ModeRun[] = [];
      for (const mode of ['plain', 'idempotent', 'transactional'] as const) {
        (rates[mode] ?? []).forEach((rate, i) => {
          const p = { ...phase('produce', 1024, rate, 130 + i), name: `produce 1 KiB, ${mode}, round ${i + 1}`, records: 300_000, expectedRecords: 300_000 };
          p.seconds = 300_000 / rate;
          runs.push({ mode, round: i + 1, phase: p, transactions: mode === 'transactional' ? 12 + i : 0, maxCommitSeconds: mode === 'transactional' ? 0.04 : 0 });
        });
      }
      return {
        records: 300_000, recordSize: 1024, rounds: 3, commitIntervalMs: 100, client: 'confluent-kafka 1.7.0, librdkafka 2.0.2',
        runs, ...summarize(runs), ok: true, errors: [], ...over,
      };
    }
    const withModes = (m: ProducerModesResult): BenchResults => ({ ...results([]), producerModes: m });
    const modeTargets = (m: ProducerModesResult) => evaluateTargets(withModes(m)).slice(3);

    it('idempotent ÷ plain against 0.9 and transactional ÷ plain against 0.7, from the medians', () => {
      const t = modeTargets(modes({ plain: [200_000, 250_000, 210_000], idempotent: [200_000, 190_000, 205_000], transactional: [140_000, 150_000, 160_000] }));
      expect(t).toEqual([
        {
          name: 'idempotent ÷ plain produce (librdkafka enable.idempotence=true vs false), 1 KiB records, 1 partition, acks=all',
          target: '≥ 0.90',
          actual: '0.95 (idempotent 200,000 rec/s, plain 210,000 rec/s, medians)',
          pass: true,
        },
        {
          name: 'transactional produce, a commit every 100 ms ÷ plain produce (librdkafka), 1 KiB records, 1 partition, acks=all',
          target: '≥ 0.70',
          actual: '0.71 (transactional 150,000 rec/s, plain 210,000 rec/s, medians)',
          pass: true,
        },
      ]);
      const miss = modeTargets(modes({ plain: [200_000], idempotent: [170_000], transactional: [130_000] }));
      expect(miss.map((x) => x.pass)).toEqual([false, false]);
      expect(evaluateTargets(results([]))).toHaveLength(3); // older runs: no producer-mode targets
    });

    it('N/A with the first error when a mode has no valid run', () => {
      const m = modes({ plain: [200_000], idempotent: [190_000] }, { ok: false, errors: ['produce 1 KiB, transactional, round 1: python3 exited with code 1: Traceback\nmore'] });
      const t = modeTargets(m);
      expect(t.map((x) => x.pass)).toEqual([true, null]);
      expect(t[1]!.actual).toBe('not measured (produce 1 KiB, transactional, round 1: python3 exited with code 1: Traceback)');
    });

    it('prints every run with the client\'s CPU, the medians and the transactions; its phases count for the RSS peak', () => {
      const r = withModes(modes({ plain: [200_000, 250_000, 210_000], idempotent: [200_000, 190_000, 205_000], transactional: [140_000, 150_000, 160_000] }));
      const text = formatReport(r);
      expect(text).toContain('Producer modes: librdkafka (confluent-kafka 1.7.0, librdkafka 2.0.2) through python3, 300,000 × 1 KiB records per run');
      expect(text).toContain('commit_transaction after every 100 ms of producing');
      expect(text).toMatch(/phase +records +seconds +rec\/s +MB\/s +broker CPU +python CPU +other CPU/);
      expect(text).toMatch(/produce 1 KiB, idempotent, round 2 +300,000 +1\.58 +190,000 +194\.6 +0\.90 +0\.97/);
      expect(text).toContain(
        'median: plain 210,000 rec/s (215.0 MB/s), idempotent 200,000 rec/s (204.8 MB/s), transactional 150,000 rec/s (153.6 MB/s); ' +
          'idempotent ÷ plain 0.95, transactional ÷ plain 0.71',
      );
      // phase(): 1 CPU second over 300,000 records on the broker and in the client
      expect(text).toContain('CPU per record (medians): broker plain 3.33 µs, idempotent 3.33 µs, transactional 3.33 µs; python plain 3.33 µs, idempotent 3.33 µs');
      expect(text).toContain('transactional runs: 12, 13, 14 transactions committed (one marker each, all verified in the partition); longest commit_transaction 40 ms');
      expect(text).toMatch(/PASS +idempotent ÷ plain produce/);
      r.broker.peakRssBytes = null;
      expect(peakRss(r)).toBe(132e6);
    });

    it('marks a failed run', () => {
      const m = modes({ plain: [200_000], idempotent: [190_000], transactional: [150_000] });
      m.runs[2]!.phase = { ...m.runs[2]!.phase, ok: false, error: 'the last stable offset is 12, below the high watermark 300012: a transaction was left open' };
      expect(formatReport(withModes(m))).toMatch(/produce 1 KiB, transactional, round 1 +300,000 +- +- .*FAILED: the last stable offset is 12/);
    });
  });

  describe('recovery', () => {
    const MiB = 1024 * 1024;
    const open = (c: RecoveryOpen['case'], round: number, seconds: number, sameState = true): RecoveryOpen => ({
      case: c, round, seconds, sameState, genuineCrash: c === 'crash' && round === 1, producers: 12,
      replayedBatches: { clean: 0, crash: 3_700, noSnapshots: 61_800 }[c],
      readBytes: { clean: 200_000, crash: 61e6, noSnapshots: 900e6 }[c],
      snapshots: { clean: 15, crash: 14, noSnapshots: 0 }[c],
    });
    function recovery(opens: RecoveryOpen[], over: Partial<RecoveryResult> = {}): RecoveryResult {
      return {
        spec: { ...RECOVERY_LOG_DEFAULTS, targetBytes: 1e9, segmentBytes: 64 * MiB },
        rounds: 3,
        log: { bytes: 1_000_016_000, segments: 15, activeSegmentBytes: 60_491_000, batches: 60_000, markers: 1_800, aborted: 360, seconds: 12.3, producers: 12, ongoingTxns: 4 },
        opens,
        cases: summarizeRecovery(opens),
        ok: true,
        errors: [],
        ...over,
      };
    }
    const withRecovery = (rec: RecoveryResult): BenchResults => ({ ...results([]), recovery: rec });
    const rounds = (): RecoveryOpen[] =>
      [1, 2, 3].flatMap((round) => [open('crash', round, 0.05 * round), open('clean', round, 0.01 + round / 1000), open('noSnapshots', round, 1 + round / 10)]);

    it('prints the log, one row per case in the issue\'s order (clean, crash, none) and how much longer a full replay takes', () => {
      const text = formatReport(withRecovery(recovery(rounds())));
      expect(text).toContain('Recovery: PartitionLog.open of a 1000.0 MB partition log: 15 segments (segment.bytes 64 MiB, the active one 60.5 MB),');
      expect(text).toContain('60,000 batches of 16 × 1000 B from 8 idempotent and 4 transactional producers (1,800 markers, 360 aborts, 4 transactions left open), written in 12.3 s');
      expect(text).toContain('median of 3 opens per case');
      expect(text).toMatch(/clean shutdown \(snapshot at the log end\) +0\.012 +0\.011 +0\.013 +0 +0\.2 MB +12 +same as written\n/);
      expect(text).toMatch(/crash \(no marker; snapshot at the last roll\) +0\.100 +0\.050 +0\.150 +3,700 +61\.0 MB +12 +same as written\n/);
      expect(text).toMatch(/no snapshot files \(whole log replayed\) +1\.200 +1\.100 +1\.300 +61,800 +900\.0 MB +12 +same as written\n/);
      expect(text.indexOf('clean shutdown (snapshot')).toBeLessThan(text.indexOf('crash (no marker'));
      expect(text).toContain('without snapshots the open takes 100 × as long as after a clean shutdown');
      expect(evaluateTargets(withRecovery(recovery(rounds())))).toHaveLength(3); // reported, no target
    });

    it('shows a recovery that lost state, and a log that was never written', () => {
      const opens = rounds();
      opens[3] = open('crash', 2, 0.07, false);
      expect(formatReport(withRecovery(recovery(opens)))).toMatch(/crash \(no marker; snapshot at the last roll\) +0\.100 +0\.050 +0\.150 .* DIFFERS in 1 of 3\n/);
      const broken = recovery([], { log: null, ok: false, errors: ['recovery: the log writer exited with code 1 instead of crashing after its work: ENOSPC\nmore'] });
      expect(formatReport(withRecovery(broken))).toContain(
        'Recovery: PartitionLog.open of a 1000 MB partition log (not measured: recovery: the log writer exited with code 1 instead of crashing after its work: ENOSPC)',
      );
    });

    it('goes into the JSON with the producer modes and their targets', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-report-'));
      try {
        const file = path.join(dir, 'latest.json');
        const runs: ModeRun[] = (['plain', 'idempotent', 'transactional'] as const).map((mode) => ({
          mode, round: 1, phase: phase('produce', 1024, 100_000, 120), transactions: 0, maxCommitSeconds: 0,
        }));
        const m: ProducerModesResult = { records: 1, recordSize: 1024, rounds: 1, commitIntervalMs: 100, client: null, runs, ...summarize(runs), ok: true, errors: [] };
        writeResultsJson(file, { ...withRecovery(recovery(rounds())), producerModes: m });
        const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
        expect(doc.recovery.cases.noSnapshots.medianSeconds).toBeCloseTo(1.2);
        expect(doc.producerModes.idempotentRatio).toBe(1);
        expect(doc.targets).toHaveLength(5);
        expect(doc.targets[4]).toMatchObject({ pass: true, target: '≥ 0.70' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('zero-copy', () => {
    const MiB = 1024 * 1024;
    const slow = { connections: 50, maxBytes: 55 * MiB };
    /** A run whose reads went at `mbPerSec` using `cpuPerRead` broker CPU seconds each, 256 MB per read. */
    function zcRun(p: SendPath, recordSize: number, mbPerSec: number[], cpuPerRead: number, slowMbPerSec: number[] = [], slowPeakMb = 150): ZeroCopyRun {
      const records = 250_000;
      const consumes = mbPerSec.map((v, i) => ({
        ...phase('consume', recordSize, (v * 1e6) / recordSize, 110),
        name: `consume ${recordSize} B, ${p} #${i + 1}`,
        expectedRecords: records,
        payloadBytes: 256e6,
        broker: { ...usage(110), cpuSeconds: cpuPerRead },
      }));
      const rounds = slowMbPerSec.map((v, i) => ({
        phase: { ...phase('consume', recordSize, (v * 1e6) / recordSize, slowPeakMb), name: `consume ${recordSize} B, ${p}, 50 stalled fetches #${i + 1}` },
        stalled: Array.from({ length: 50 }, (_, j) => ({ clientPort: 40000 + j, clientRx: 128_053, brokerTx: 3_804_160, established: true })),
        stallMs: 600,
        stillStalled: 50,
        peakRssBytes: slowPeakMb * 1e6,
      }));
      const summary = summarizeConsumes(consumes);
      return {
        path: p, recordSize, records, topic: `bench-zero-copy-${recordSize}`,
        startLine: p === 'sendfile' ? 'fetch responses are sent with sendfile(2) (zero-copy)' : 'fetch responses are sent through a buffer (disabled by STRATA_ZERO_COPY=0)',
        produce: phase('produce', recordSize, 100_000, 200), warmup: null, consumes, summary,
        slow: rounds.length ? summarizeSlowConsumers(slow, rounds, summary) : null,
        brokerHwmBytes: 210e6, stopExitCode: 0,
      };
    }
    function zeroCopy(sendfileCpu: number, bufferedCpu: number, over: { slowSendfile?: number[]; slowBuffered?: number[]; slowPeakMb?: number } = {}): ZeroCopyResult {
      const workloads = [1024, 100].map((size) => {
        const sendfile = zcRun('sendfile', size, [600, 500, 550], sendfileCpu, size === 1024 ? (over.slowSendfile ?? [500, 520, 480]) : [], over.slowPeakMb);
        const buffered = zcRun('buffered', size, [400, 450, 500], bufferedCpu, size === 1024 ? (over.slowBuffered ?? [300, 310, 320]) : [], over.slowPeakMb);
        return { recordSize: size, records: 250_000, slowConsumers: size === 1024, sendfile, buffered, ...compareSendPaths(sendfile.summary, buffered.summary) };
      });
      return { rounds: 3, slowConsumers: slow, workloads, ok: true, errors: [] };
    }
    const withZeroCopy = (z: ZeroCopyResult, sections?: string[]): BenchResults => ({ ...results([]), zeroCopy: z, ...(sections ? { sections } : {}) });

    it('CPU per MB of sendfile ≤ 0.5 × buffered (1 KiB); slow consumers ≥ 0.8 × without and below 400 MB, per send path', () => {
      const t = evaluateTargets(withZeroCopy(zeroCopy(0.2, 0.5)));
      expect(t.slice(3).map((x) => [x.name, x.target, x.actual, x.pass])).toEqual([
        [
          'zero-copy: broker CPU per MB consumed, sendfile(2) ÷ buffered, 1 KiB records, 1 partition',
          '≤ 0.50',
          '0.40 (sendfile 0.78 ms, buffered 1.95 ms of CPU per MB)',
          true,
        ],
        ['slow consumers: kcat read with 50 stalled 55 MiB fetches held, sendfile, 1 KiB records ÷ without', '≥ 0.80', '0.91 (with 500.0 MB/s, without 550.0 MB/s, medians)', true],
        ['slow consumers: broker peak RSS with 50 stalled 55 MiB fetches held, sendfile, 1 KiB records', '< 400 MB', '150.0 MB', true],
        ['slow consumers: kcat read with 50 stalled 55 MiB fetches held, buffered, 1 KiB records ÷ without', '≥ 0.80', '0.69 (with 310.0 MB/s, without 450.0 MB/s, medians)', false],
        ['slow consumers: broker peak RSS with 50 stalled 55 MiB fetches held, buffered, 1 KiB records', '< 400 MB', '150.0 MB', true],
      ]);
      expect(evaluateTargets(withZeroCopy(zeroCopy(0.3, 0.5)))[3]!.pass).toBe(false); // 0.60 > 0.50
      expect(evaluateTargets(withZeroCopy(zeroCopy(0.25, 0.5)))[3]!.pass).toBe(true); // exactly half passes
      const heavy = evaluateTargets(withZeroCopy(zeroCopy(0.2, 0.5, { slowPeakMb: 400 })));
      expect(heavy.filter((x) => x.name.includes('peak RSS with')).map((x) => x.pass)).toEqual([false, false]); // 400 MB is not below 400 MB
    });

    it('N/A with the first error when a side has no valid measurement', () => {
      const z = zeroCopy(0.2, 0.5);
      const w = z.workloads[0]!;
      w.buffered = null;
      Object.assign(w, compareSendPaths(w.sendfile!.summary, null));
      z.errors.push('zero-copy 1 KiB, buffered: broker exited (code 1) before it was ready; output:\n…');
      const t = evaluateTargets(withZeroCopy(z));
      expect(t[3]).toMatchObject({ pass: null, actual: 'not measured (zero-copy 1 KiB, buffered: broker exited (code 1) before it was ready; output:)' });
      expect(t.slice(4).map((x) => x.pass)).toEqual([true, true, null, null]);
      // A run that did not get to any workload still lists the targets, as N/A.
      const none: ZeroCopyResult = { rounds: 3, slowConsumers: slow, workloads: [], ok: false, errors: ['zero-copy: kcat not found'] };
      expect(evaluateTargets(withZeroCopy(none)).slice(3).map((x) => x.pass)).toEqual([null, null, null, null, null]);
    });

    it('prints every read, the per-broker summary, the ratios and the slow consumers', () => {
      const text = formatReport(withZeroCopy(zeroCopy(0.2, 0.5)));
      expect(text).toContain('Zero-copy: fetch responses sent with sendfile(2) (the default) vs through a buffer (STRATA_ZERO_COPY=0');
      expect(text).toMatch(/consume 1024 B, sendfile #1 +250,000 +1\.71 +585,938 +600\.0 +0\.90 .* 110\.0 MB +0\.300 of loopback \(node\)/);
      expect(text).toMatch(/consume 1024 B, buffered, 50 stalled fetches #3 +1,000,000 /);
      expect(text).toMatch(/250,000 × 1 KiB +sendfile +550\.0 +537,109 +0\.78 ms +110\.0 MB +210\.0 MB +fetch responses are sent with sendfile\(2\) \(zero-copy\)/);
      expect(text).toMatch(/250,000 × 100 B +buffered +450\.0 +4,500,000 +1\.95 ms/);
      expect(text).toContain('sendfile ÷ buffered (MB/s medians; CPU per MB = broker CPU seconds ÷ MB over all reads): 1 KiB: MB/s 1.22, CPU per MB 0.40; 100 B: MB/s 1.22, CPU per MB 0.40');
      expect(text).toMatch(/250,000 × 1 KiB +sendfile +500\.0 +550\.0 +0\.91 +150\.0 MB +196\.6 MB +600 ms +50\/50, 50\/50, 50\/50/);
      expect(text).toMatch(/250,000 × 1 KiB +buffered +310\.0 +450\.0 +0\.69 /);
      expect(text).toMatch(/PASS +zero-copy: broker CPU per MB/);
      expect(text).toMatch(/MISS +slow consumers: kcat read with 50 stalled 55 MiB fetches held, buffered/);
    });

    it('its phases count for the disturbance warnings, not for the run-wide RSS peak (they have their own)', () => {
      const r = withZeroCopy(zeroCopy(0.2, 0.5, { slowPeakMb: 390 }));
      expect(allPhases(r)).toHaveLength(2 * 2 * 4 + 2 * 3); // per broker: produce + 3 reads; 1 KiB: + 3 slow reads
      expect(peakRss(r)).toBe(200e6); // the first broker's
    });

    it('--only zero-copy: no first-broker tables or targets, no limits table', () => {
      const r = withZeroCopy(zeroCopy(0.2, 0.5), ['zero-copy']);
      r.limits = {};
      const text = formatReport(r);
      expect(text).toContain('sections: only zero-copy (--only)');
      expect(text).toContain('Physical limits\n(not measured in this run: no ratios to limits)');
      expect(text).not.toContain('kcat ↔ Strata');
      expect(text).not.toMatch(/produce 100 B records|broker peak RSS during the run/);
      expect(evaluateTargets(r).map((x) => x.name.split(':')[0])).toEqual(['zero-copy', 'slow consumers', 'slow consumers', 'slow consumers', 'slow consumers']);
      expect(evaluateTargets({ ...r, sections: ['tiered'] }).map((x) => x.name)).toContain('broker peak RSS during the run');
    });

    it('goes into the JSON with its targets', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-report-'));
      try {
        const file = path.join(dir, 'latest.json');
        writeResultsJson(file, withZeroCopy(zeroCopy(0.2, 0.5), ['zero-copy']));
        const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
        expect(doc.sections).toEqual(['zero-copy']);
        expect(doc.zeroCopy.workloads[0].cpuPerMbRatio).toBeCloseTo(0.4, 10);
        expect(doc.zeroCopy.workloads[0].sendfile.slow.ratio).toBeCloseTo(500 / 550, 10);
        expect(doc.targets).toHaveLength(5);
        expect(doc.targets[0]).toMatchObject({ pass: true, target: '≤ 0.50' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('security', () => {
    /** Rounds whose produce and consume over each listener went at the given MB/s, 256 MB each, `cpu` broker CPU seconds each. */
    function security(mbPerSec: Record<Protocol, { produce: number[]; consume: number[] }>, cpu: Record<Protocol, { produce: number; consume: number }>): SecurityResult {
      const runs: SecurityRun[] = [];
      for (const p of ['PLAINTEXT', 'SASL_SSL'] as const) {
        for (const kind of ['produce', 'consume'] as const) {
          mbPerSec[p][kind].forEach((v, i) =>
            runs.push({
              protocol: p,
              round: i + 1,
              phase: {
                ...phase(kind, 1024, (v * 1e6) / 1024, 140),
                name: `${kind} 1 KiB, ${p} #${i + 1}`,
                expectedRecords: 250_000,
                payloadBytes: 256e6,
                seconds: 256 / v,
                broker: { ...usage(140), cpuSeconds: cpu[p][kind] },
                client: { cpuSeconds: 0.256, cpuCores: 0.9 },
              },
            }),
          );
        }
      }
      const summary = summarizeSecurity(runs);
      return {
        recordSize: 1024, records: 250_000, rounds: 3, mechanism: 'SCRAM-SHA-512',
        listeners: { PLAINTEXT: '127.0.0.1:1', SASL_SSL: '127.0.0.1:2' },
        sendPathLine: 'fetch responses are sent with sendfile(2) (zero-copy)',
        tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
        userReadyMs: 390, warmup: [], runs, summary, ...compareProtocols(summary),
        brokerHwmBytes: 150e6, stopExitCode: 0, ok: true, errors: [],
      };
    }
    const typical = (): SecurityResult =>
      security(
        { PLAINTEXT: { produce: [280, 300, 290], consume: [900, 850, 870] }, SASL_SSL: { produce: [180, 170, 175], consume: [380, 370, 400] } },
        { PLAINTEXT: { produce: 0.6, consume: 0.1 }, SASL_SSL: { produce: 1, consume: 0.4 } },
      );
    const withSecurity = (x: SecurityResult, sections?: string[]): BenchResults => ({ ...results([]), security: x, ...(sections ? { sections } : {}) });

    it('produce ≥ 0.6 and consume ≥ 0.5 × PLAINTEXT, from the medians; N/A with the first error when a side is missing', () => {
      const t = evaluateTargets(withSecurity(typical())).slice(3);
      expect(t.map((x) => [x.name, x.target, x.actual, x.pass])).toEqual([
        [
          'security: produce over SASL_SSL (SCRAM-SHA-512, TLS) ÷ over PLAINTEXT, kcat, 1 KiB records, 1 partition, one broker with both listeners',
          '≥ 0.60',
          '0.60 (SASL_SSL 175.0 MB/s, PLAINTEXT 290.0 MB/s, medians; broker CPU per MB 3.91 ms vs 2.34 ms)',
          true,
        ],
        [
          'security: consume over SASL_SSL (SCRAM-SHA-512, TLS) ÷ over PLAINTEXT, kcat, 1 KiB records, 1 partition, one broker with both listeners',
          '≥ 0.50',
          '0.44 (SASL_SSL 380.0 MB/s, PLAINTEXT 870.0 MB/s, medians; broker CPU per MB 1.56 ms vs 0.39 ms)',
          false,
        ],
      ]);
      const broken = typical();
      broken.runs = broken.runs.filter((x) => x.protocol === 'PLAINTEXT' || x.phase.kind === 'produce');
      broken.summary = summarizeSecurity(broken.runs);
      Object.assign(broken, compareProtocols(broken.summary));
      broken.errors.push('security: consume 1 KiB, SASL_SSL #1: kcat exited with code 1: SASL authentication error\nmore');
      expect(evaluateTargets(withSecurity(broken)).slice(3).map((x) => [x.pass, x.actual.slice(0, 20)])).toEqual([
        [true, '0.60 (SASL_SSL 175.0'],
        [null, 'not measured (securi'],
      ]);
      expect(evaluateTargets(withSecurity(broken))[4]!.actual).toBe('not measured (security: consume 1 KiB, SASL_SSL #1: kcat exited with code 1: SASL authentication error)');
    });

    it('prints every run, the summary per direction and listener, and the ratios', () => {
      const text = formatReport(withSecurity(typical(), ['security']));
      expect(text).toContain('Security: kcat over SASL_SSL (SCRAM-SHA-512, TLS TLSv1.3, TLS_AES_256_GCM_SHA384) vs PLAINTEXT, one broker with both listeners (PLAINTEXT 127.0.0.1:1, SASL_SSL 127.0.0.1:2)');
      expect(text).toContain('fetches over PLAINTEXT: fetch responses are sent with sendfile(2) (zero-copy); over TLS always read');
      expect(text).toMatch(/consume 1 KiB, SASL_SSL #3 +250,000 +0\.64 +390,625 +400\.0 +0\.90 /);
      expect(text).toMatch(/produce +PLAINTEXT +290\.0 +283,203 +2\.34 ms +1\.00 ms +140\.0 MB/);
      expect(text).toMatch(/consume +SASL_SSL +380\.0 +371,094 +1\.56 ms +1\.00 ms +140\.0 MB/);
      expect(text).toContain('SASL_SSL ÷ PLAINTEXT (MB/s medians; CPU per MB = broker CPU seconds ÷ MB over all runs): produce MB/s 0.60, CPU per MB 1.67; consume (TLS fetch vs the plaintext path) MB/s 0.44, CPU per MB 4.00');
      expect(text).toContain('SASL_SSL ÷ PLAINTEXT MB/s within each round (adjacent runs): produce 0.64, 0.57, 0.60; consume 0.42, 0.44, 0.46');
      expect(text).toContain('SCRAM user created → first metadata over SASL_SSL: 390 ms; broker VmHWM 150.0 MB');
      expect(text).toMatch(/MISS +security: consume over SASL_SSL/);
      // --only security: none of the first broker's tables or targets.
      expect(text).not.toContain('kcat ↔ Strata');
      expect(evaluateTargets(withSecurity(typical(), ['security'])).map((x) => x.name.split(':')[0])).toEqual(['security', 'security']);
    });

    it('a run that broke before any phase says so', () => {
      const x = typical();
      x.runs = [];
      x.summary = summarizeSecurity([]);
      Object.assign(x, compareProtocols(x.summary));
      x.errors.push('security: kcat could not fetch metadata over SASL_SSL with the new SCRAM user within 30000 ms: …');
      expect(formatReport(withSecurity(x, ['security']))).toContain('(not measured: security: kcat could not fetch metadata over SASL_SSL');
      expect(evaluateTargets(withSecurity(x, ['security'])).map((t) => t.pass)).toEqual([null, null]);
    });

    it('its phases count for the disturbance warnings, not for the run-wide RSS peak; it goes into the JSON', () => {
      const r = withSecurity(typical());
      expect(allPhases(r)).toHaveLength(12);
      expect(peakRss(r)).toBe(200e6); // the first broker's
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-report-'));
      try {
        const file = path.join(dir, 'latest.json');
        writeResultsJson(file, withSecurity(typical(), ['security']));
        const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
        expect(doc.security.consumeRatio).toBeCloseTo(380 / 870, 10);
        expect(doc.security.summary.SASL_SSL.produce.mbPerSec).toBe(175);
        expect(doc.targets.map((t: { pass: boolean }) => t.pass)).toEqual([true, false]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
