import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { PhaseResult } from '../../bench/kcatPhases';
import { writeRecordFile } from '../../bench/records';
import {
  clientProps,
  compareProtocols,
  measureSecurity,
  roundOrder,
  roundRatios,
  securityOverrides,
  SECURITY_LISTENERS,
  summarizeRuns,
  summarizeSecurity,
  type SecurityRun,
} from '../../bench/securityBench';
import { BROKER_MAIN } from '../helpers/build';

function run(kind: 'produce' | 'consume', mbPerSec: number, cpuSeconds: number, ok = true, clientCpu: number | null = 0.5): PhaseResult {
  return {
    kind,
    ok,
    mbPerSec: ok ? mbPerSec : 0,
    recordsPerSec: ok ? (mbPerSec * 1e6) / 1024 : 0,
    payloadBytes: 100e6,
    broker: { peakRssBytes: 120e6 + mbPerSec, endRssBytes: 0, cpuSeconds, cpuCores: 0.5, samples: 5 },
    client: clientCpu === null ? null : { cpuSeconds: clientCpu, cpuCores: 0.5 },
  } as PhaseResult;
}

describe('security section: pure parts', () => {
  const certs = { caCert: '/tmp/ca.crt', serverPem: '/tmp/server.pem' };
  const user = { name: 'bench', password: 'pw' };

  it('one broker with a PLAINTEXT and a SASL_SSL listener, SCRAM-SHA-512 and the certificates, by Kafka\'s config names', () => {
    expect(SECURITY_LISTENERS).toBe('PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0');
    expect(securityOverrides(certs)).toEqual({
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
      'ssl.keystore.location': '/tmp/server.pem',
      'ssl.truststore.location': '/tmp/ca.crt',
    });
  });

  it('the same client settings on both listeners, plus librdkafka\'s SASL_SSL ones on that listener', () => {
    expect(clientProps('PLAINTEXT', certs, user)).toEqual({});
    expect(clientProps('SASL_SSL', certs, user)).toEqual({
      'security.protocol': 'SASL_SSL',
      'sasl.mechanisms': 'SCRAM-SHA-512',
      'sasl.username': 'bench',
      'sasl.password': 'pw',
      'ssl.ca.location': '/tmp/ca.crt',
    });
  });

  it('alternates which listener goes first (ABBA)', () => {
    expect([1, 2, 3, 4].map(roundOrder)).toEqual([
      ['PLAINTEXT', 'SASL_SSL'],
      ['SASL_SSL', 'PLAINTEXT'],
      ['PLAINTEXT', 'SASL_SSL'],
      ['SASL_SSL', 'PLAINTEXT'],
    ]);
  });

  it('summarizes the valid runs: median rates, broker and client CPU per MB over all of them', () => {
    const s = summarizeRuns([run('produce', 300, 0.3), run('produce', 100, 0.1), run('produce', 200, 0.2), run('produce', 1, 9, false)]);
    expect(s).toMatchObject({ mbPerSec: 200, recordsPerSec: 200e6 / 1024, peakRssBytes: 120e6 + 300, runs: 3 });
    // Sums over the valid runs (0.6 s, 1.5 s of CPU for 300 MB), not a median of per-run ratios.
    expect(s!.brokerCpuSecondsPerMb).toBeCloseTo(0.6 / 300, 12);
    expect(s!.clientCpuSecondsPerMb).toBeCloseTo(1.5 / 300, 12);
    expect(summarizeRuns([run('produce', 100, 0.1, true, null)])!.clientCpuSecondsPerMb).toBeNull();
    expect(summarizeRuns([run('consume', 1, 1, false)])).toBeNull();
  });

  it('SASL_SSL ÷ PLAINTEXT per direction, by rate and by broker CPU per MB; null where a side is missing', () => {
    const runs: SecurityRun[] = [
      { protocol: 'PLAINTEXT', round: 1, phase: run('produce', 300, 0.2) },
      { protocol: 'SASL_SSL', round: 1, phase: run('produce', 200, 0.3) },
      { protocol: 'PLAINTEXT', round: 1, phase: run('consume', 800, 0.05) },
      { protocol: 'SASL_SSL', round: 1, phase: run('consume', 400, 0.2) },
    ];
    const s = summarizeSecurity(runs);
    expect(s.PLAINTEXT.consume!.mbPerSec).toBe(800);
    expect(s.SASL_SSL.produce!.mbPerSec).toBe(200);
    const r = compareProtocols(s);
    expect(r.produceRatio).toBeCloseTo(2 / 3, 10);
    expect(r.consumeRatio).toBe(0.5);
    expect(r.produceCpuPerMbRatio).toBeCloseTo(1.5, 10);
    expect(r.consumeCpuPerMbRatio).toBeCloseTo(4, 10);
    expect(roundRatios(runs, 'produce')).toEqual([2 / 3]);
    const round2: SecurityRun[] = [
      { protocol: 'SASL_SSL', round: 2, phase: run('produce', 150, 0.3) },
      { protocol: 'PLAINTEXT', round: 2, phase: run('produce', 300, 0.2) },
      { protocol: 'SASL_SSL', round: 2, phase: run('consume', 400, 0.2, false) },
      { protocol: 'PLAINTEXT', round: 2, phase: run('consume', 800, 0.05) },
    ];
    expect(roundRatios([...runs, ...round2], 'produce')).toEqual([2 / 3, 0.5]);
    expect(roundRatios([...runs, ...round2], 'consume')).toEqual([0.5, null]); // round 2's TLS read failed
    const noTlsConsume = compareProtocols(summarizeSecurity(runs.slice(0, 3)));
    expect(noTlsConsume).toMatchObject({ consumeRatio: null, consumeCpuPerMbRatio: null });
    expect(noTlsConsume.produceRatio).toBeCloseTo(2 / 3, 10);
  });
});

describe('security section against the real broker', () => {
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-security-'));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  it('creates the SCRAM user, produces and consumes over both listeners in ABBA order, verified, and stops the broker', async () => {
    const file = path.join(work, 'records.txt');
    const warmupFile = path.join(work, 'warmup.txt');
    writeRecordFile(file, 3000, 1024);
    writeRecordFile(warmupFile, 300, 1024);
    const before: string[] = [];
    const r = await measureSecurity({
      workDir: work,
      brokerMain: BROKER_MAIN,
      overrides: { 'group.initial.rebalance.delay.ms': '0' },
      file,
      records: 3000,
      recordSize: 1024,
      warmupFile,
      warmupRecords: 300,
      rounds: 2,
      timeoutMs: () => 30_000,
      beforeBroker: async (what) => void before.push(what),
    });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(before).toEqual(['before the security broker']);
    expect(Object.keys(r.listeners!)).toEqual(['PLAINTEXT', 'SASL_SSL']);
    expect(r.tls!.version).toMatch(/^TLSv1\.[23]$/);
    expect(r.sendPathLine).toMatch(/^fetch responses are sent /);
    expect(r.warmup.map((p) => p.name)).toEqual([
      'warm-up produce 1 KiB, PLAINTEXT', 'warm-up consume 1 KiB, PLAINTEXT', 'warm-up produce 1 KiB, SASL_SSL', 'warm-up consume 1 KiB, SASL_SSL',
    ]);
    expect(r.runs.map((x) => x.phase.name)).toEqual([
      'produce 1 KiB, PLAINTEXT #1', 'produce 1 KiB, SASL_SSL #1', 'consume 1 KiB, PLAINTEXT #1', 'consume 1 KiB, SASL_SSL #1',
      'produce 1 KiB, SASL_SSL #2', 'produce 1 KiB, PLAINTEXT #2', 'consume 1 KiB, SASL_SSL #2', 'consume 1 KiB, PLAINTEXT #2',
    ]);
    for (const x of r.runs) {
      expect(x.phase).toMatchObject({ ok: true, records: 3000 });
      const command = x.phase.command.join(' ');
      expect(command).toContain(`-b ${r.listeners![x.protocol]}`);
      if (x.protocol === 'SASL_SSL') expect(command).toContain('-X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=bench -X sasl.password=*** -X ssl.ca.location=');
      else expect(command).not.toContain('security.protocol');
    }
    // Every read is of the first topic produced, over either listener.
    expect(new Set(r.runs.filter((x) => x.phase.kind === 'consume').map((x) => x.phase.topic))).toEqual(new Set(['bench-security-plaintext-1']));
    expect(r.produceRatio).toBeCloseTo(r.summary.SASL_SSL.produce!.mbPerSec / r.summary.PLAINTEXT.produce!.mbPerSec, 9);
    expect(r.consumeRatio).toBeCloseTo(r.summary.SASL_SSL.consume!.mbPerSec / r.summary.PLAINTEXT.consume!.mbPerSec, 9);
    expect(r.stopExitCode).toBe(0);
    expect(fs.readdirSync(work).sort()).toEqual(['data-security', 'records.txt', 'security-certs', 'warmup.txt']);
  }, 120_000);

  it('reports a broker that cannot start as an error', async () => {
    const r = await measureSecurity({
      workDir: work,
      brokerMain: path.join(work, 'missing.js'),
      overrides: {},
      file: path.join(work, 'none.txt'),
      records: 10,
      recordSize: 1024,
      warmupFile: path.join(work, 'none.txt'),
      warmupRecords: 1,
      rounds: 1,
      timeoutMs: () => 10_000,
    });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([expect.stringMatching(/^security: .*missing\.js not found/)]);
    expect(r.produceRatio).toBeNull();
    expect(r.stopExitCode).toBeUndefined();
  });
});
