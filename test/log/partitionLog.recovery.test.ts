import * as fs from 'node:fs';
import * as path from 'node:path';
import { PartitionLog } from '../../core/log/partitionLog';
import { stampBatch } from '../../core/log/recordBatch';
import { batch, captureLogger, makeTmpDir, quiet, readAll, removeDir, smallConfig } from './helpers';

/**
 * Crash recovery. A crash is simulated by closing the log and removing the clean-shutdown marker
 * (so the next open treats the directory as a crashed one), then damaging files.
 */
describe('PartitionLog recovery', () => {
  let dir: string;
  const logs: PartitionLog[] = [];
  function open(logger: (m: string) => void = quiet): PartitionLog {
    const log = PartitionLog.open(dir, smallConfig(), { logger });
    logs.push(log);
    return log;
  }
  beforeEach(() => {
    dir = path.join(makeTmpDir(), 'topic-0');
  });
  afterEach(() => {
    for (const l of logs.splice(0)) l.close();
    removeDir(path.dirname(dir));
  });

  function fill(log: PartitionLog, n: number): void {
    for (let i = 0; i < n; i++) {
      log.append(batch({ count: 1 + (i % 4), label: `b${i}`, valueSize: 30, timestamp: 5_000n + BigInt(i) * 7n }), { leaderEpoch: 1 });
    }
  }

  function crash(log: PartitionLog): void {
    log.close();
    fs.rmSync(path.join(dir, 'clean-shutdown'), { force: true });
  }

  function files(ext: string): string[] {
    return fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort().map((f) => path.join(dir, f));
  }

  const activeLog = (): string => files('.log').at(-1)!;

  /** Lookups that depend on the indexes: every offset, and timestamps across the range. */
  function lookups(log: PartitionLog): string {
    const out: string[] = [];
    for (let o = log.logStartOffset; o < log.logEndOffset; o++) {
      const r = log.read(o, 1, { minOneBatch: true });
      out.push(`${o}@${r.firstOffset}-${r.nextOffset}`);
    }
    for (let t = 4_990n; t < 5_000n + 7n * 80n; t += 3n) out.push(`t${t}=${log.offsetForTimestamp(t)?.offset}`);
    return out.join(' ');
  }

  it('truncates a garbage tail to the last whole batch and keeps serving and appending', () => {
    const log = open();
    fill(log, 40);
    const before = readAll(log);
    const leo = log.logEndOffset;
    crash(log);
    const size = fs.statSync(activeLog()).size;
    fs.appendFileSync(activeLog(), Buffer.alloc(333, 0x5a));
    const { logger, lines } = captureLogger();
    const again = open(logger);
    expect(lines.join('\n')).toMatch(new RegExp(`truncating .* from ${size + 333} to ${size} bytes`));
    expect(fs.statSync(activeLog()).size).toBe(size);
    expect(again.logEndOffset).toBe(leo);
    expect(readAll(again)).toEqual(before);
    expect(again.append(batch({ label: 'next' }), { leaderEpoch: 2 }).baseOffset).toBe(leo);
    expect(readAll(again).at(-1)).toEqual([leo, 'next-0']);
  });

  it('truncates a torn half batch', () => {
    const log = open();
    fill(log, 10);
    const leo = log.logEndOffset;
    const before = readAll(log);
    crash(log);
    const torn = batch({ count: 4, valueSize: 100 });
    stampBatch(torn, 0, leo, 1);
    fs.appendFileSync(activeLog(), torn.subarray(0, Math.floor(torn.length / 2)));
    const { logger, lines } = captureLogger();
    const again = open(logger);
    expect(lines.join('\n')).toMatch(/truncating/);
    expect(again.logEndOffset).toBe(leo);
    expect(readAll(again)).toEqual(before);
  });

  it('cuts at a batch whose records were overwritten, dropping everything after it', () => {
    const log = open();
    fill(log, 30);
    const segs = log.segments();
    const active = segs[segs.length - 1];
    // Corrupt the middle of the active segment: header intact, CRC fails.
    const r = log.read(active.baseOffset, 1, { minOneBatch: true });
    const firstSize = r.bytes;
    const victim = log.read(r.nextOffset, 1, { minOneBatch: true });
    crash(log);
    const fd = fs.openSync(activeLog(), 'r+');
    fs.writeSync(fd, Buffer.from('garbage!'), 0, 8, firstSize + victim.bytes - 10);
    fs.closeSync(fd);
    const again = open();
    expect(again.logEndOffset).toBe(victim.firstOffset);
    expect(fs.statSync(activeLog()).size).toBe(firstSize);
    expect(readAll(again).at(-1)![0]).toBe(victim.firstOffset - 1n);
  });

  it('checks the tail with CRCs even after a clean shutdown', () => {
    const log = open();
    fill(log, 30);
    const leo = log.logEndOffset;
    const last = log.read(leo - 1n, 1, { minOneBatch: true });
    log.close();
    expect(fs.existsSync(path.join(dir, 'clean-shutdown'))).toBe(true);
    const bytes = fs.readFileSync(activeLog());
    bytes[bytes.length - 3] ^= 0x10;
    fs.writeFileSync(activeLog(), bytes);
    const again = open();
    expect(again.logEndOffset).toBe(last.firstOffset);
  });

  it('rebuilds deleted index files, byte for byte, with the same lookups', () => {
    const log = open();
    fill(log, 80);
    expect(log.segments().length).toBeGreaterThan(3);
    const expected = lookups(log);
    const indexBytes = [...files('.index'), ...files('.timeindex')].map((f) => [f, fs.readFileSync(f)] as const);
    expect(indexBytes.some(([, b]) => b.length > 0)).toBe(true);
    log.close();
    for (const [f] of indexBytes) fs.rmSync(f);
    const again = open();
    expect(lookups(again)).toBe(expected);
    for (const [f, b] of indexBytes) expect([f, fs.readFileSync(f)]).toEqual([f, b]);
  });

  it('rebuilds garbage index files', () => {
    const log = open();
    fill(log, 80);
    const expected = lookups(log);
    const indexBytes = [...files('.index'), ...files('.timeindex')].map((f) => [f, fs.readFileSync(f)] as const);
    log.close();
    const damage: ((b: Buffer) => Buffer)[] = [
      (b) => Buffer.concat([b, Buffer.from([1, 2, 3])]), // not a multiple of the entry size
      (b) => Buffer.alloc(b.length + 24, 0xff), // entries that do not increase
      (b) => {
        // Well-formed but pointing past the log.
        const x = Buffer.alloc(b.length + 24);
        b.copy(x);
        for (let p = b.length; p + 12 <= x.length; p += 12) x.writeInt32BE(0x7ffffff0 - (x.length - p), p + 4);
        return x;
      },
    ];
    indexBytes.forEach(([f, b], i) => fs.writeFileSync(f, damage[i % damage.length](b)));
    const { logger, lines } = captureLogger();
    const again = open(logger);
    expect(lookups(again)).toBe(expected);
    for (const [f, b] of indexBytes) expect([f, fs.readFileSync(f)]).toEqual([f, b]);
    expect(lines.length).toBeGreaterThan(0);
  });

  it('rebuilds an index whose last entry points into the middle of a batch', () => {
    const log = open();
    fill(log, 80);
    const expected = lookups(log);
    log.close();
    const idx = files('.index')[0];
    const b = fs.readFileSync(idx);
    expect(b.length).toBeGreaterThanOrEqual(16);
    b.writeInt32BE(b.readInt32BE(b.length - 4) + 5, b.length - 4);
    fs.writeFileSync(idx, b);
    const again = open();
    expect(lookups(again)).toBe(expected);
  });

  it('cuts a closed segment with a torn tail at its last whole batch', () => {
    const log = open();
    fill(log, 80);
    const segs = log.segments();
    log.close();
    const closedLog = segs[1].path;
    const size = fs.statSync(closedLog).size;
    fs.truncateSync(closedLog, size - 20);
    const { logger, lines } = captureLogger();
    const again = open(logger);
    expect(lines.join('\n')).toMatch(/truncating/);
    const after = again.segments();
    expect(after[1].nextOffset).toBeLessThan(segs[1].nextOffset);
    // Reads skip the lost offsets and carry on in the next segment.
    const all = readAll(again).map(([o]) => o);
    expect(all).toContain(segs[2].baseOffset);
    expect(again.read(after[1].nextOffset, 1, { minOneBatch: true }).firstOffset).toBe(segs[2].baseOffset);
    expect(again.logEndOffset).toBe(segs.at(-1)!.nextOffset);
  });

  it('recovers an active segment that is entirely garbage to an empty segment at its base', () => {
    const log = open();
    fill(log, 80);
    const segs = log.segments();
    const base = segs.at(-1)!.baseOffset;
    crash(log);
    fs.writeFileSync(activeLog(), Buffer.alloc(500, 0x01));
    const again = open();
    expect(again.logEndOffset).toBe(base);
    expect(again.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(base);
  });

  it('treats a lone empty segment as the start of the log', () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '00000000000000000100.log'), Buffer.alloc(0));
    const log = open();
    expect([log.logStartOffset, log.logEndOffset]).toEqual([100n, 100n]);
    expect(log.append(batch(), { leaderEpoch: 0 }).baseOffset).toBe(100n);
  });

  it('survives repeated crash/recover cycles with appends in between', () => {
    let log = open();
    const expected: [bigint, string | null][] = [];
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 8; i++) {
        const r = log.append(batch({ count: 2, label: `r${round}b${i}` }), { leaderEpoch: round });
        expected.push([r.baseOffset, `r${round}b${i}-0`], [r.baseOffset + 1n, `r${round}b${i}-1`]);
      }
      crash(log);
      fs.appendFileSync(activeLog(), Buffer.alloc(round * 13 + 1, round));
      log = open();
      expect(readAll(log)).toEqual(expected);
    }
  });
});
