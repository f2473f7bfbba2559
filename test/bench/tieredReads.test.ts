import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeRecordFile } from '../../bench/records';
import { dirBytes, measureTieredReads, readCharsOf } from '../../bench/tieredReads';
import { BROKER_MAIN, REPO_ROOT } from '../helpers/build';

const KiB = 1024;

describe('tiered reads phase', () => {
  let work: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-tier-'));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  it('reads of this process show in rchar; dirBytes sums a directory\'s files', () => {
    const before = readCharsOf(process.pid)!;
    fs.writeFileSync(path.join(work, 'a'), Buffer.alloc(5000));
    fs.writeFileSync(path.join(work, 'b'), Buffer.alloc(123));
    fs.mkdirSync(path.join(work, 'sub'));
    fs.readFileSync(path.join(work, 'a'));
    expect(readCharsOf(process.pid)! - before).toBeGreaterThanOrEqual(5000);
    expect(readCharsOf(-1)).toBeNull();
    expect(dirBytes(work)).toBe(5123);
    expect(dirBytes(path.join(work, 'missing'))).toBe(0);
  });

  it('tiers a topic to s3rver, then reads it cold and its local twin hot, both verified, and measures s3rver', async () => {
    const file = path.join(work, 'records.txt');
    const records = 8000;
    writeRecordFile(file, records, KiB);
    const progress: string[] = [];
    const r = await measureTieredReads({
      root: REPO_ROOT,
      workDir: work,
      brokerMain: BROKER_MAIN,
      overrides: {},
      file,
      records,
      recordSize: KiB,
      // Above kcat's largest batch (~1 MB): a batch larger than segment.bytes is refused.
      segmentBytes: 2 * 1024 * KiB,
      rounds: 1,
      timeoutMs: 60_000,
      tieringTimeoutMs: 60_000,
      progress: (m) => progress.push(m),
    });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    // ~8 MB in 2 MiB segments, all in S3 (the active one too), nothing but an empty segment local.
    expect(r.tiering!.segments).toBeGreaterThanOrEqual(4);
    expect(r.tiering!.bytes).toBeGreaterThan(records * KiB);
    expect(r.tiering!.localBytes).toBeLessThan(KiB);
    expect(r.warmup).toEqual([]); // 8 MB is far below the read cache: a warm-up would make the cold read warm
    expect(r.hot.map((x) => x.phase.records)).toEqual([records]);
    expect(r.cold.map((x) => x.phase.records)).toEqual([records]);
    // Cold really came from S3: the broker read at least every tiered byte from its sockets.
    expect(r.cold[0]!.brokerReadBytes).toBeGreaterThanOrEqual(r.tiering!.bytes);
    expect(r.cold[0]!.s3rver.cpuSeconds).toBeGreaterThan(0);
    expect(r.gets.map((g) => [g.inFlight, g.bytes, g.objects])).toEqual([
      [1, r.tiering!.bytes, r.tiering!.segments],
      [r.cache.maxPrefetches, r.tiering!.bytes, r.tiering!.segments],
    ]);
    expect(r.ratio).toBeCloseTo(r.coldMbPerSec! / r.hotMbPerSec!, 9);
    expect(r.brokerStopExitCode).toBe(0);
    expect(progress.some((m) => m.includes('cold read 1/1'))).toBe(true);
    // Everything it started is gone: nothing but the record file and the broker's data dir is left.
    expect(fs.readdirSync(work).sort()).toEqual(['data-tiered', 'records.txt']);
  }, 120_000);

  it('reports a broker that cannot start as an error, and stops the emulators', async () => {
    const r = await measureTieredReads({
      root: REPO_ROOT,
      workDir: work,
      brokerMain: path.join(work, 'missing.js'),
      overrides: {},
      file: path.join(work, 'none.txt'),
      records: 10,
      recordSize: KiB,
      segmentBytes: 512 * KiB,
      rounds: 1,
      timeoutMs: 10_000,
      tieringTimeoutMs: 10_000,
    });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([expect.stringMatching(/^tiered reads: .*missing\.js not found: run `npm run build` first/)]);
    expect(r.ratio).toBeNull();
    expect(fs.readdirSync(work).filter((n) => n.startsWith('s3rver-'))).toEqual([]);
  }, 60_000);
});
