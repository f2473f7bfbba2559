import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { PhaseResult } from '../../bench/kcatPhases';
import { writeRecordFile } from '../../bench/records';
import {
  compareSendPaths,
  measureZeroCopy,
  SEND_PATH_ENV,
  sendPathOf,
  SLOW_CONSUMER_MIN_TOPIC_BYTES,
  SlowConsumerRound,
  summarizeConsumes,
  summarizeSlowConsumers,
} from '../../bench/zeroCopyReads';
import { BROKER_MAIN } from '../helpers/build';

const MiB = 1024 * 1024;

function read(mbPerSec: number, cpuSeconds: number, peakMb: number, ok = true, payloadBytes = 100e6): PhaseResult {
  return {
    ok,
    mbPerSec: ok ? mbPerSec : 0,
    recordsPerSec: ok ? (mbPerSec * 1e6) / 1000 : 0,
    payloadBytes,
    broker: { peakRssBytes: peakMb * 1e6, endRssBytes: 0, cpuSeconds, cpuCores: 0.5, samples: 5 },
  } as PhaseResult;
}

function slowRound(mbPerSec: number, peakMb: number, stillStalled = 50, ok = true): SlowConsumerRound {
  return {
    phase: read(mbPerSec, 0.1, peakMb, ok),
    stalled: Array.from({ length: 50 }, (_, i) => ({ clientPort: 40000 + i, clientRx: 128_000, brokerTx: 3_800_000 + peakMb, established: true })),
    stallMs: 300,
    stillStalled,
    peakRssBytes: peakMb * 1e6,
  };
}

describe('zero-copy section: pure parts', () => {
  it('reads the send path from the broker\'s start line (the last one, if it restarted)', () => {
    const sendfile = '2026-01-01T00:00:00.000Z INFO  [broker] fetch responses are sent with sendfile(2) (zero-copy)';
    const buffered =
      '2026-01-01T00:00:01.000Z INFO  [broker] fetch responses are sent through a buffer (disabled by STRATA_ZERO_COPY=0); at most fetch.response.max.buffer.bytes=67108864 in memory';
    expect(sendPathOf(`x\n${sendfile}\ny\n`)).toEqual({ path: 'sendfile', line: 'fetch responses are sent with sendfile(2) (zero-copy)' });
    expect(sendPathOf(`${sendfile}\n${buffered}\n`)).toEqual({
      path: 'buffered',
      line: 'fetch responses are sent through a buffer (disabled by STRATA_ZERO_COPY=0); at most fetch.response.max.buffer.bytes=67108864 in memory',
    });
    // An addon that did not build is the buffered path too, whatever was asked for.
    expect(sendPathOf('INFO fetch responses are sent through a buffer (addon not built: … is missing)')?.path).toBe('buffered');
    expect(sendPathOf('listening on PLAINTEXT://127.0.0.1:1')).toBeNull();
  });

  it('sets STRATA_ZERO_COPY both ways, so an inherited 0 cannot turn the sendfile broker into a buffered one', () => {
    expect(SEND_PATH_ENV).toEqual({ sendfile: { STRATA_ZERO_COPY: '1' }, buffered: { STRATA_ZERO_COPY: '0' } });
  });

  it('summarizes the valid reads: median rates, CPU per MB over all of them, the highest RSS', () => {
    const s = summarizeConsumes([read(300, 0.3, 100), read(500, 0.2, 120), read(400, 0.1, 110), read(1, 9, 999, false)]);
    expect(s).toEqual({ mbPerSec: 400, recordsPerSec: 400_000, brokerCpuSecondsPerMb: 0.6 / 300, peakRssBytes: 120e6, runs: 3 });
    // Summing, not a median of per-round ratios: a short round's 10 ms CPU tick weighs by its size.
    expect(summarizeConsumes([read(100, 0.01, 1, true, 10e6), read(100, 1, 1, true, 1000e6)])!.brokerCpuSecondsPerMb).toBeCloseTo(1.01 / 1010, 12);
    expect(summarizeConsumes([read(1, 1, 1, false)])).toBeNull();
    expect(summarizeConsumes([])).toBeNull();
  });

  it('compares sendfile with buffered: throughput and CPU per MB ratios, null when a side is missing', () => {
    const sendfile = summarizeConsumes([read(600, 0.5, 100)]);
    const buffered = summarizeConsumes([read(400, 2, 100)]);
    expect(compareSendPaths(sendfile, buffered)).toEqual({ throughputRatio: 1.5, cpuPerMbRatio: 0.25 });
    expect(compareSendPaths(null, buffered)).toEqual({ throughputRatio: null, cpuPerMbRatio: null });
    expect(compareSendPaths(sendfile, null)).toEqual({ throughputRatio: null, cpuPerMbRatio: null });
    // A broker that used no measurable CPU gives no ratio rather than Infinity.
    expect(compareSendPaths(sendfile, summarizeConsumes([read(400, 0, 100)])).cpuPerMbRatio).toBeNull();
  });

  it('slow consumers: with ÷ without from medians, only rounds whose fetches stayed stalled count; peak RSS over all rounds', () => {
    const without = summarizeConsumes([read(500, 0.2, 100)]);
    const spec = { connections: 50, maxBytes: 55 * MiB };
    const s = summarizeSlowConsumers(spec, [slowRound(400, 150), slowRound(450, 170), slowRound(100, 300, 49), slowRound(0, 10, 50, false)], without);
    expect(s.mbPerSec).toBe(425);
    expect(s.ratio).toBeCloseTo(0.85, 10);
    expect(s.peakRssBytes).toBe(300e6);
    expect(s.kernelQueuedBytes).toBe(50 * (128_000 + 3_800_000) + 50 * 160); // median of the rounds' totals
    expect(s.connections).toBe(50);
    const none = summarizeSlowConsumers(spec, [slowRound(100, 300, 10)], without);
    expect(none.mbPerSec).toBeNull();
    expect(none.ratio).toBeNull();
    expect(summarizeSlowConsumers(spec, [slowRound(400, 150)], null).ratio).toBeNull();
    expect(summarizeSlowConsumers(spec, [], without)).toMatchObject({ peakRssBytes: null, kernelQueuedBytes: null, ratio: null });
  });

  it('a stalled 55 MiB response needs a topic of at least 60 MiB', () => {
    expect(SLOW_CONSUMER_MIN_TOPIC_BYTES).toBe(60 * MiB);
  });
});

describe('zero-copy section against real brokers', () => {
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-zero-copy-'));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  it('reads the same records from a sendfile and a buffered broker, in turn, with and without stalled fetches', async () => {
    // Just over the slow-consumer minimum: 62,000 × 1 KiB.
    const records = 62_000;
    const file = path.join(work, 'records.txt');
    writeRecordFile(file, records, 1024);
    const before: string[] = [];
    const r = await measureZeroCopy({
      workDir: work,
      brokerMain: BROKER_MAIN,
      overrides: {},
      workloads: [{ size: 1024, count: records, slowConsumers: true, file }],
      rounds: 1,
      slowConsumers: { connections: 5, maxBytes: 55 * MiB },
      timeoutMs: () => 60_000,
      beforeBroker: async (what) => void before.push(what),
    });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(before).toEqual(['before the zero-copy 1 KiB, sendfile broker', 'before the zero-copy 1 KiB, buffered broker']);
    const [w] = r.workloads;
    for (const p of ['sendfile', 'buffered'] as const) {
      const run = w![p]!;
      expect(run.path).toBe(p);
      expect(run.startLine).toMatch(p === 'sendfile' ? /with sendfile\(2\)/ : /through a buffer \(disabled by STRATA_ZERO_COPY=0\)/);
      expect(run.produce!.ok).toBe(true);
      expect(run.consumes.map((c) => c.records)).toEqual([records]);
      expect(run.summary!.runs).toBe(1);
      expect(run.slow!.rounds).toHaveLength(1);
      const slow = run.slow!.rounds[0]!;
      expect(slow.phase.records).toBe(records);
      expect(slow.stillStalled).toBe(5);
      expect(slow.stalled.every((c) => c.established && c.clientRx + c.brokerTx > 0)).toBe(true);
      expect(run.slow!.ratio).toBeCloseTo(slow.phase.mbPerSec / run.summary!.mbPerSec, 9);
      expect(run.slow!.peakRssBytes).toBeGreaterThan(0);
      expect(run.stopExitCode).toBe(0);
    }
    expect(w!.throughputRatio).toBeCloseTo(w!.sendfile!.summary!.mbPerSec / w!.buffered!.summary!.mbPerSec, 9);
    expect(w!.cpuPerMbRatio).not.toBeNull();
    // One data dir per broker, nothing else left behind.
    expect(fs.readdirSync(work).sort()).toEqual(['data-zero-copy-1024-buffered', 'data-zero-copy-1024-sendfile', 'records.txt']);
  }, 120_000);

  it('reports a broker that cannot start as an error, for each send path', async () => {
    const r = await measureZeroCopy({
      workDir: work,
      brokerMain: path.join(work, 'missing.js'),
      overrides: {},
      workloads: [{ size: 100, count: 10, slowConsumers: false, file: path.join(work, 'none.txt') }],
      rounds: 1,
      slowConsumers: { connections: 50, maxBytes: 55 * MiB },
      timeoutMs: () => 10_000,
    });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([
      expect.stringMatching(/^zero-copy 100 B, sendfile: .*missing\.js not found/),
      expect.stringMatching(/^zero-copy 100 B, buffered: .*missing\.js not found/),
    ]);
    expect(r.workloads[0]!.throughputRatio).toBeNull();
    expect(r.workloads[0]!.sendfile!.stopExitCode).toBeUndefined();
  });
});
