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
