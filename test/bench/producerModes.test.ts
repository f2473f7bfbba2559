import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startBenchBroker, type RunningBroker } from '../../bench/brokerProcess';
import type { PhaseResult } from '../../bench/kcatPhases';
import { lastJson, measureProducerModes, modeOrder, ModeRun, ProducerMode, summarize } from '../../bench/producerModes';
import { writeRecordFile } from '../../bench/records';
import { BROKER_MAIN, REPO_ROOT } from '../helpers/build';
import { PYTHON, pythonClientsAvailable } from '../helpers/python';

const run = (mode: ProducerMode, round: number, recordsPerSec: number, ok = true): ModeRun => ({
  mode,
  round,
  phase: { ok, recordsPerSec, mbPerSec: recordsPerSec / 1000, records: 1000, broker: { cpuSeconds: recordsPerSec / 1e5 }, client: { cpuSeconds: 0.002, cpuCores: 1 } } as PhaseResult,
  transactions: mode === 'transactional' ? 10 : 0,
  maxCommitSeconds: 0,
});

describe('producer modes: pure parts', () => {
  it('rotates the order each round, so over 3 rounds every mode runs once first, second and last', () => {
    expect(modeOrder(1)).toEqual(['plain', 'idempotent', 'transactional']);
    expect(modeOrder(2)).toEqual(['idempotent', 'transactional', 'plain']);
    expect(modeOrder(3)).toEqual(['transactional', 'plain', 'idempotent']);
    expect(modeOrder(4)).toEqual(modeOrder(1));
    for (let pos = 0; pos < 3; pos++) expect(new Set([1, 2, 3].map((r) => modeOrder(r)[pos])).size).toBe(3);
  });

  it('medians per mode over valid runs, ratios against plain', () => {
    const s = summarize([
      run('plain', 1, 100),
      run('plain', 2, 120),
      run('plain', 3, 80),
      run('idempotent', 1, 95),
      run('idempotent', 2, 1, false), // a failed run counts for nothing
      run('idempotent', 3, 91),
      run('transactional', 1, 60),
    ]);
    expect(s.modes.plain).toEqual({ recordsPerSec: 100, mbPerSec: 0.1, brokerMicrosPerRecord: 1, clientMicrosPerRecord: 2, runs: 3 });
    expect(s.modes.idempotent).toMatchObject({ recordsPerSec: 93, mbPerSec: 0.093, runs: 2 });
    expect(s.modes.idempotent!.brokerMicrosPerRecord).toBeCloseTo(0.93, 10);
    expect(s.idempotentRatio).toBeCloseTo(0.93, 10);
    expect(s.transactionalRatio).toBeCloseTo(0.6, 10);
    const none = summarize([run('idempotent', 1, 95), run('plain', 1, 50, false)]);
    expect(none.modes.plain).toBeNull();
    expect(none.idempotentRatio).toBeNull();
    expect(none.transactionalRatio).toBeNull();
  });

  it('takes the last JSON object the script printed', () => {
    expect(lastJson('start\n{"seconds": 1.5, "records": 3}\n')).toEqual({ seconds: 1.5, records: 3 });
    expect(lastJson('start\n{"a":1}\nnot json\n')).toEqual({ a: 1 });
    expect(lastJson('start\n[1]\n')).toBeNull();
    expect(lastJson('')).toBeNull();
  });
});

describe('producer modes against a real broker (librdkafka via python3)', () => {
  let dir: string;
  let broker: RunningBroker;
  const RECORDS = 3000;
  const SIZE = 100;

  beforeAll(async () => {
    await pythonClientsAvailable();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-modes-'));
    broker = await startBenchBroker(BROKER_MAIN, path.join(dir, 'data'), {});
    writeRecordFile(path.join(dir, 'records.txt'), RECORDS, SIZE);
  }, 60_000);

  afterAll(async () => {
    await broker?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const options = () => ({
    bootstrap: broker.bootstrap,
    brokerPid: broker.pid,
    python: PYTHON,
    script: path.join(REPO_ROOT, 'bench', 'producerModes.py'),
    file: path.join(dir, 'records.txt'),
    recordSize: SIZE,
    commitIntervalMs: 20,
    timeoutMs: 60_000,
  });

  test('every mode delivers every record, checked in the partition (markers included), and yields both ratios', async () => {
    const progress: string[] = [];
    const r = await measureProducerModes({ ...options(), records: RECORDS, rounds: 1, topicPrefix: 'modes', progress: (m) => progress.push(m) });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.client).toMatch(/^confluent-kafka [\d.]+, librdkafka [\d.]+$/);
    expect(r.runs.map((x) => x.mode)).toEqual(['plain', 'idempotent', 'transactional']);
    for (const x of r.runs) {
      expect(x.phase).toMatchObject({ ok: true, kind: 'produce', records: RECORDS, payloadBytes: RECORDS * SIZE, topic: `modes-${x.mode}-1` });
      expect(x.phase.seconds).toBeGreaterThan(0);
      expect(x.phase.client!.cpuSeconds).toBeGreaterThan(0);
    }
    const txn = r.runs.find((x) => x.mode === 'transactional')!;
    expect(txn.transactions).toBeGreaterThanOrEqual(1);
    expect(r.runs.filter((x) => x.mode !== 'transactional').map((x) => x.transactions)).toEqual([0, 0]);
    expect(r.idempotentRatio).toBeCloseTo(r.modes.idempotent!.recordsPerSec / r.modes.plain!.recordsPerSec, 10);
    expect(r.transactionalRatio).toBeCloseTo(r.modes.transactional!.recordsPerSec / r.modes.plain!.recordsPerSec, 10);
    expect(progress).toHaveLength(3);
  }, 120_000);

  test('a run that cannot deliver what was asked is an error, not a number', async () => {
    // The file holds 3000 records; asking for more fails before timing anything.
    const r = await measureProducerModes({ ...options(), records: RECORDS + 1, rounds: 1, topicPrefix: 'modes-short' });
    expect(r.ok).toBe(false);
    expect(r.idempotentRatio).toBeNull();
    expect(r.errors).toHaveLength(3);
    expect(r.errors[0]).toMatch(/^produce 100 B, plain, round 1: python3 exited with code 1: .*fewer than 3001 records/s);
    for (const x of r.runs) expect(x.phase.ok).toBe(false);
  }, 60_000);
});
