import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { encodeFrame } from '../../core/meta/frames';
import type { KvValue } from '../../core/meta/json';
import { expectCode } from './versionedKv.contract';

/**
 * What only the embedded adapter has: a journal that must survive torn writes, compaction
 * into a snapshot, and a directory lock.
 */
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ekv-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const journal = (): string => path.join(dir, 'journal');
const snapshot = (): string => path.join(dir, 'snapshot');

async function dump(kv: EmbeddedKv): Promise<Record<string, [KvValue, number]>> {
  const out: Record<string, [KvValue, number]> = {};
  for (const e of await kv.list('')) out[e.key] = [e.value, e.version];
  return out;
}

describe('torn journal recovery', () => {
  test('garbage appended to the journal is cut off and earlier entries are intact', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1n, null);
    await kv.put('b', { x: 'y' }, null);
    await kv.put('a', 2n, 1);
    await kv.close();
    const clean = fs.statSync(journal()).size;
    fs.appendFileSync(journal(), Buffer.from('this is not a frame at all, just garbage bytes'));

    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncatedBytes).toBe(46);
    expect(kv.recovery.journalEntries).toBe(3);
    expect(await dump(kv)).toEqual({ a: [2n, 2], b: [{ x: 'y' }, 1] });
    expect(fs.statSync(journal()).size).toBe(clean);
    // New writes land after the cut and survive another reopen.
    await kv.put('c', 3, null);
    await kv.close();
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncatedBytes).toBe(0);
    expect(await dump(kv)).toEqual({ a: [2n, 2], b: [{ x: 'y' }, 1], c: [3, 1] });
    await kv.close();
  });

  test('a half-written last frame is dropped', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('keep', 'me', null);
    await kv.close();
    const frame = encodeFrame(Buffer.from('{"s":2,"o":"put","k":"lost","n":1,"v":"x"}'));
    fs.appendFileSync(journal(), frame.subarray(0, frame.length - 5));
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncateReason).toBe('frame runs past the end of the file');
    expect(await dump(kv)).toEqual({ keep: ['me', 1] });
    await kv.close();
  });

  test('a frame with a bad CRC ends replay there', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('one', 1, null);
    await kv.put('two', 2, null);
    await kv.close();
    const bytes = fs.readFileSync(journal());
    bytes[bytes.length - 3] ^= 0xff; // inside the last frame's payload
    fs.writeFileSync(journal(), bytes);
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncateReason).toBe('frame CRC mismatch');
    expect(await dump(kv)).toEqual({ one: [1, 1] });
    await kv.close();
  });

  test('a huge length field is rejected without allocating it', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('one', 1, null);
    await kv.close();
    const header = Buffer.alloc(8);
    header.writeUInt32BE(0xfffffff0, 0);
    fs.appendFileSync(journal(), header);
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncateReason).toMatch(/exceeds/);
    expect(await dump(kv)).toEqual({ one: [1, 1] });
    await kv.close();
  });

  test('cut at every byte, the journal reopens as some prefix of the acknowledged writes', async () => {
    // Record the state after each write, then truncate a copy of the journal at every
    // possible length: each must reopen to exactly one of those states, in order.
    const kv = await EmbeddedKv.open(dir);
    const states: Record<string, [KvValue, number]>[] = [{}];
    await kv.put('a', 1, null);
    states.push(await dump(kv));
    await kv.put('b', { big: 2n ** 64n }, null);
    states.push(await dump(kv));
    await kv.put('a', [1, 2], 1);
    states.push(await dump(kv));
    await kv.delete('b');
    states.push(await dump(kv));
    await kv.put('c', 'ç', null);
    states.push(await dump(kv));
    await kv.close();
    const full = fs.readFileSync(journal());
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ekv-cut-'));
    try {
      let lastIndex = 0;
      for (let cut = 0; cut <= full.length; cut++) {
        fs.writeFileSync(path.join(work, 'journal'), full.subarray(0, cut));
        const r = await EmbeddedKv.open(work);
        const got = await dump(r);
        await r.close();
        const index = states.findIndex((s) => JSON.stringify(s, big) === JSON.stringify(got, big));
        expect(index).toBeGreaterThanOrEqual(lastIndex); // never goes back, never invents
        lastIndex = index;
      }
      expect(lastIndex).toBe(states.length - 1);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

/**
 * Faults injected into the journal's file handle, the way a full disk produces them: a write
 * that stops short and then fails with ENOSPC, a failing fsync, a failing truncate.
 */
function injectFaults(kv: EmbeddedKv): { writes: ('short' | 'enospc')[]; syncs: number; truncates: number } {
  const faults = { writes: [] as ('short' | 'enospc')[], syncs: 0, truncates: 0 };
  const fh = (kv as unknown as { journal: import('node:fs/promises').FileHandle }).journal;
  const enospc = (call: string): Error => Object.assign(new Error(`ENOSPC: no space left on device, ${call}`), { code: 'ENOSPC' });
  const write = fh.write.bind(fh) as (b: Buffer, o: number, l: number) => Promise<{ bytesWritten: number; buffer: Buffer }>;
  const datasync = fh.datasync.bind(fh);
  const truncate = fh.truncate.bind(fh);
  Object.assign(fh, {
    write: (b: Buffer, o: number, l: number) => {
      const f = faults.writes.shift();
      if (f === 'enospc') return Promise.reject(enospc('write'));
      return write(b, o, f === 'short' ? Math.max(1, l >> 1) : l);
    },
    datasync: () => (faults.syncs > 0 && faults.syncs-- > 0 ? Promise.reject(enospc('fdatasync')) : datasync()),
    truncate: (n: number) => (faults.truncates > 0 && faults.truncates-- > 0 ? Promise.reject(new Error('EIO: i/o error, ftruncate')) : truncate(n)),
  });
  return faults;
}

describe('a write that fails (full disk) changes nothing and does not stop the store', () => {
  test('a short write then ENOSPC: refused with STORAGE_IO, the journal cut back, reads go on, the next write succeeds', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1, null);
    await kv.put('b', 'x', null);
    const before = fs.statSync(journal()).size;
    const faults = injectFaults(kv);
    faults.writes.push('short', 'enospc');
    await expectCode(kv.put('a', 2, 1), 'STORAGE_IO');
    await expect(kv.put('c', 3, null)).resolves.toBe(1);
    expect(faults.writes).toEqual([]);
    // The failed write left nothing in memory: version 1 of 'a' is still the current one.
    expect(await kv.get('a')).toEqual({ key: 'a', value: 1, version: 1 });
    faults.writes.push('enospc');
    await expectCode(kv.delete('b'), 'STORAGE_IO');
    expect(await kv.get('b')).toEqual({ key: 'b', value: 'x', version: 1 });
    await expect(kv.put('a', 4, 1)).resolves.toBe(2);
    await kv.delete('b');
    expect(fs.statSync(journal()).size).toBeGreaterThan(before);
    const expected = await dump(kv);
    await kv.close();
    // Every frame is whole: replay reads all of them, and cuts nothing.
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncatedBytes).toBe(0);
    expect(await dump(kv)).toEqual(expected);
    expect(expected).toEqual({ a: [4, 2], c: [3, 1] });
    await kv.close();
  });

  test('a whole frame whose fsync fails is cut back too, so a restart does not apply a write that was refused', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1, null);
    const size = fs.statSync(journal()).size;
    injectFaults(kv).syncs = 1;
    await expectCode(kv.put('a', 2, 1), 'STORAGE_IO');
    expect(fs.statSync(journal()).size).toBe(size);
    await kv.close();
    kv = await EmbeddedKv.open(dir);
    expect(await kv.get('a')).toEqual({ key: 'a', value: 1, version: 1 });
    await kv.close();
  });

  test('when the cut-back fails too, the next write retries it first, and fails while it cannot', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1, null);
    const faults = injectFaults(kv);
    faults.writes.push('short', 'enospc');
    faults.truncates = 2; // the cut-back after the failure, and the retry before the next write
    await expectCode(kv.put('b', 1, null), 'STORAGE_IO');
    expect(fs.statSync(journal()).size).toBeGreaterThan(0);
    await expect(kv.put('c', 1, null)).rejects.toThrow(/partial frame of an earlier failed write/);
    expect(await kv.list('')).toHaveLength(1);
    await kv.put('d', 1, null); // the cut-back works now
    await kv.close();
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.truncatedBytes).toBe(0);
    expect(Object.keys(await dump(kv))).toEqual(['a', 'd']);
    await kv.close();
  });

  test('a compaction that fails on a full disk removes its partial snapshot.tmp and keeps the journal', async () => {
    const kv = await EmbeddedKv.open(dir, { compactAfterEntries: 3 });
    const realOpen = fs.promises.open;
    const spy = jest.spyOn(fs.promises, 'open').mockImplementation(async (file, flags, mode) => {
      const fh = await realOpen(file, flags, mode);
      if (String(file).endsWith('snapshot.tmp')) {
        Object.assign(fh, { write: () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })) });
      }
      return fh;
    });
    try {
      for (const k of ['a', 'b', 'c']) await kv.put(k, 1, null);
    } finally {
      spy.mockRestore();
    }
    expect(kv.lastCompactionError?.message).toMatch(/ENOSPC/);
    expect(fs.existsSync(path.join(dir, 'snapshot.tmp'))).toBe(false);
    await kv.put('d', 1, null); // compacts now
    expect(kv.lastCompactionError).toBeNull();
    expect(Object.keys(await dump(kv))).toEqual(['a', 'b', 'c', 'd']);
    await kv.close();
  });
});

function big(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

describe('compaction', () => {
  test('compaction keeps every entry and version, and the journal stays short', async () => {
    let kv = await EmbeddedKv.open(dir, { compactAfterEntries: 5 });
    const model = new Map<string, [KvValue, number]>();
    for (let i = 0; i < 40; i++) {
      const key = `k${i % 7}`;
      const cur = model.get(key);
      if (i % 11 === 10 && cur) {
        await kv.delete(key, cur[1]);
        model.delete(key);
      } else {
        const version = await kv.put(key, { i, offset: BigInt(i) << 40n }, cur ? cur[1] : null);
        model.set(key, [{ i, offset: BigInt(i) << 40n }, version]);
      }
    }
    expect(fs.existsSync(snapshot())).toBe(true);
    expect(kv.lastCompactionError).toBeNull();
    expect(await dump(kv)).toEqual(Object.fromEntries(model));
    await kv.close();
    kv = await EmbeddedKv.open(dir, { compactAfterEntries: 5 });
    expect(kv.recovery.journalEntries).toBeLessThan(5);
    expect(kv.recovery.snapshotEntries).toBeGreaterThan(0);
    expect(await dump(kv)).toEqual(Object.fromEntries(model));
    await kv.close();
  });

  test('the byte threshold triggers compaction too', async () => {
    const kv = await EmbeddedKv.open(dir, { compactAfterBytes: 2000 });
    for (let i = 0; i < 20; i++) await kv.put(`key${i}`, 'x'.repeat(200), null);
    expect(fs.statSync(journal()).size).toBeLessThan(2000);
    expect(fs.existsSync(snapshot())).toBe(true);
    await kv.close();
  });

  test('a crash between snapshot rename and journal truncation replays nothing twice', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1, null);
    await kv.put('a', 2, 1);
    await kv.put('b', 1, null);
    await kv.delete('b');
    const before = fs.readFileSync(journal());
    await kv.compact();
    expect(fs.statSync(journal()).size).toBe(0);
    await kv.close();
    fs.writeFileSync(journal(), before); // as if truncation never happened
    kv = await EmbeddedKv.open(dir);
    expect(kv.recovery.journalEntries).toBe(0);
    expect(await dump(kv)).toEqual({ a: [2, 2] });
    // Appends continue after the stale frames with the next sequence number.
    await kv.put('c', 1, null);
    await kv.close();
    kv = await EmbeddedKv.open(dir);
    expect(await dump(kv)).toEqual({ a: [2, 2], c: [1, 1] });
    await kv.close();
  });

  test('a damaged snapshot stops the open instead of losing metadata, and releases the lock', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1, null);
    await kv.put('b', 2, null);
    await kv.compact();
    await kv.close();
    const bytes = fs.readFileSync(snapshot());
    bytes[bytes.length - 20] ^= 0x01;
    fs.writeFileSync(snapshot(), bytes);
    await expectCode(EmbeddedKv.open(dir), 'STORAGE_IO');
    fs.writeFileSync(snapshot(), bytes.subarray(0, 30)); // truncated snapshot: also refused
    await expectCode(EmbeddedKv.open(dir), 'STORAGE_IO');
    fs.rmSync(snapshot());
    kv = await EmbeddedKv.open(dir); // the failed opens left no lock behind
    await kv.close();
  });

  test('a leftover snapshot.tmp from a crashed compaction is ignored and removed', async () => {
    let kv = await EmbeddedKv.open(dir);
    await kv.put('a', 1, null);
    await kv.close();
    fs.writeFileSync(path.join(dir, 'snapshot.tmp'), 'half a snapshot');
    kv = await EmbeddedKv.open(dir);
    expect(await dump(kv)).toEqual({ a: [1, 1] });
    expect(fs.existsSync(path.join(dir, 'snapshot.tmp'))).toBe(false);
    await kv.close();
  });
});

describe('directory lock', () => {
  test('a second open of the same directory fails clearly until the first closes', async () => {
    const kv = await EmbeddedKv.open(dir);
    let err: unknown;
    try {
      await EmbeddedKv.open(dir);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(`process ${process.pid}`);
    expect((err as Error).message).toContain(path.join(dir, 'LOCK'));
    await kv.close();
    const again = await EmbeddedKv.open(dir);
    await again.close();
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });

  test('a lock held by another live process is respected; once that process is dead it is stale', async () => {
    const child = await startIdleProcess();
    try {
      writeLock(child.pid!);
      let err: unknown;
      try {
        await EmbeddedKv.open(dir);
      } catch (e) {
        err = e;
      }
      expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toContain(`process ${child.pid}`);
    } finally {
      await stopProcess(child);
    }
    const kv = await EmbeddedKv.open(dir);
    await kv.put('after', 'takeover', null);
    await kv.close();
  });

  test('an unreadable lock file is treated as stale', async () => {
    fs.writeFileSync(path.join(dir, 'LOCK'), '');
    const kv = await EmbeddedKv.open(dir);
    await kv.close();
  });

  test('a lock from another host is respected', async () => {
    fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid: 1, hostname: `not-${os.hostname()}`, since: 'then', token: 't' }));
    await expect(EmbeddedKv.open(dir)).rejects.toThrow(/on host not-/);
  });
});

test('on-disk format v1 fixture still opens (snapshot + journal written by the first version)', async () => {
  const fixture = path.join(__dirname, 'fixtures', 'embedded-v1');
  for (const f of ['snapshot', 'journal']) fs.copyFileSync(path.join(fixture, f), path.join(dir, f));
  const kv = await EmbeddedKv.open(dir);
  expect(kv.recovery).toEqual({ snapshotEntries: 3, journalEntries: 3, truncatedBytes: 0 });
  expect(await dump(kv)).toEqual({
    cluster: [{ clusterId: 'q1Sh-9_ZRcS5rEM0XLCXzQ' }, 1],
    'partition/AAAAAAAAAAAAAAAAAAAAAg/0000000000': [
      { topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partition: 0, leader: 0, leaderEpoch: 3, isr: [0], replicas: [0], logStartOffset: 9007199254740993n },
      2,
    ],
    'topic/orders': [
      { name: 'orders', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 1, replicationFactor: 1, configs: { 'retention.ms': '86400000' }, createdAt: 1700000000000 },
      2,
    ],
    weird: [{ $bigint: 'not a tag', n: -5n }, 1],
  });
  await kv.close();
});

function writeLock(pid: number): void {
  fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid, hostname: os.hostname(), since: 'test', token: 'x' }));
}

function startIdleProcess(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
    child.once('spawn', () => resolve(child));
    child.once('error', reject);
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
