import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createLogger } from '../../core/common/logger';
import { isStrataError } from '../../core/common/errors';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { DATABASE_FILE, openEmbeddedStore } from '../../core/meta/embeddedStore';
import { encodeFrame } from '../../core/meta/frames';
import { encodeKvValue, type KvValue } from '../../core/meta/json';
import { openMetadataStore } from '../../core/meta/url';
import type { VersionedKv } from '../../core/meta/versionedKv';
import { killAllWorkers, startNodeWorker } from './nodeWorker';
import { versionedKvContract } from './versionedKv.contract';

/**
 * The embedded store's directory: metadata.sqlite, the node.id locks, and the one-time
 * migration from the journal format (embeddedKv.ts), with crashes at every step.
 */
versionedKvContract('embedded store (openEmbeddedStore, holding a node.id lock)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-estore-c-'));
  return {
    open: () => openEmbeddedStore(dir, { nodeId: 1 }),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

let root: string;
let dir: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-estore-'));
  dir = path.join(root, 'meta');
});
afterEach(() => {
  killAllWorkers();
  fs.rmSync(root, { recursive: true, force: true });
});

type Dump = Record<string, [KvValue, number]>;

/** What a migrated directory holds (sorted). */
const MIGRATED_FILES = ['journal.migrated', DATABASE_FILE, 'snapshot.migrated'];

async function dump(kv: VersionedKv): Promise<Dump> {
  const out: Dump = {};
  for (const e of await kv.list('')) out[e.key] = [e.value, e.version];
  return out;
}

/** An old-format store with a snapshot and a journal, deletes and re-creations (versions not all 1). */
async function buildOldStore(at: string): Promise<Dump> {
  const kv = await EmbeddedKv.open(at, { compactAfterEntries: 6 });
  await kv.put('cluster', { clusterId: 'abc' }, null);
  await kv.put('topic/a', { n: 1 }, null);
  await kv.put('topic/a', { n: 2 }, 1);
  await kv.put('topic/a', { n: 3 }, 2);
  await kv.put('ns/producer-ids/block', { nextBlockStart: 2n ** 60n }, null);
  await kv.put('gone', 'x', null);
  await kv.delete('gone');
  await kv.put('again', 'first life', null);
  await kv.put('again', 'first life, v2', 1);
  await kv.delete('again', 2);
  await kv.put('again', 'second life', null); // version 1 again
  await kv.put('ns/producer-ids/block', { nextBlockStart: 2n ** 60n + 1000n }, 1);
  await kv.put('ünï/\u{1F600}', { $bigint: 'not one' }, null);
  const want = await dump(kv);
  await kv.close();
  expect(fs.existsSync(path.join(at, 'snapshot'))).toBe(true);
  expect(fs.statSync(path.join(at, 'journal')).size).toBeGreaterThan(0);
  return want;
}

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('meta', (l) => lines.push(l)), lines };
}

describe('migration from the journal format', () => {
  test('every entry keeps its version; the old files are kept aside, the LOCK removed; one log line; the next open does not migrate', async () => {
    const want = await buildOldStore(dir);
    expect(want['topic/a'][1]).toBe(3);
    const { logger, lines } = captureLogger();
    let kv = await openEmbeddedStore(dir, { logger });
    expect(await dump(kv)).toEqual(want);
    // Versions are what conditional writes name: a write on the old version goes through.
    expect(await kv.put('topic/a', { n: 4 }, 3)).toBe(4);
    await kv.close();

    expect(fs.readdirSync(dir).sort()).toEqual(MIGRATED_FILES);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`INFO  \\[meta\\] migrated the metadata store in ${dir} to metadata.sqlite: 5 entries with their versions \\(snapshot \\d+, journal \\d+\\); the old files are kept as journal.migrated, snapshot.migrated$`),
    );

    kv = await openEmbeddedStore(dir, { logger });
    expect(lines).toHaveLength(1);
    expect(await dump(kv)).toEqual({ ...want, 'topic/a': [{ n: 4 }, 4] });
    await kv.close();
  });

  test("through openMetadataStore('embedded:PATH') with the broker's logger", async () => {
    await buildOldStore(dir);
    const { logger, lines } = captureLogger();
    const store = await openMetadataStore(`embedded:${dir}`, { dataDir: '/nonexistent', logger });
    expect(await store.getOrCreateClusterId()).toBe('abc');
    await store.close();
    expect(lines.filter((l) => l.includes('migrated the metadata store'))).toHaveLength(1);
  });

  test('the format v1 fixture (the first version) migrates', async () => {
    fs.mkdirSync(dir);
    for (const f of ['snapshot', 'journal']) fs.copyFileSync(path.join(__dirname, 'fixtures', 'embedded-v1', f), path.join(dir, f));
    const kv = await openEmbeddedStore(dir);
    const got = await dump(kv);
    await kv.close();
    expect(Object.keys(got)).toEqual(['cluster', 'partition/AAAAAAAAAAAAAAAAAAAAAg/0000000000', 'topic/orders', 'weird']);
    expect(got['partition/AAAAAAAAAAAAAAAAAAAAAg/0000000000'][0]).toMatchObject({ leaderEpoch: 3, logStartOffset: 9007199254740993n });
    expect(got['topic/orders'][1]).toBe(2);
  });

  test('a store with a snapshot only, or a journal only, migrates; a torn journal tail is cut as before', async () => {
    const want = await buildOldStore(dir);
    fs.appendFileSync(path.join(dir, 'journal'), Buffer.from('torn'));
    const { logger, lines } = captureLogger();
    const kv = await openEmbeddedStore(dir, { logger });
    expect(await dump(kv)).toEqual(want);
    await kv.close();
    expect(lines[0]).toContain('4 bytes of torn journal tail cut');

    const only = path.join(root, 'journal-only');
    const old = await EmbeddedKv.open(only);
    await old.put('k', 1, null);
    await old.close();
    const migrated = await openEmbeddedStore(only);
    expect(await dump(migrated)).toEqual({ k: [1, 1] });
    await migrated.close();
  });

  test('a damaged old snapshot stops the open (nothing is migrated, the old files stay)', async () => {
    await buildOldStore(dir);
    const snap = path.join(dir, 'snapshot');
    const bytes = fs.readFileSync(snap);
    bytes[bytes.length - 20] ^= 1;
    fs.writeFileSync(snap, bytes);
    await expect(openEmbeddedStore(dir)).rejects.toMatchObject({ code: 'STORAGE_IO', message: expect.stringContaining('is damaged') });
    expect(fs.readdirSync(dir).sort()).toEqual(['journal', 'snapshot']);
  });

  test('crash before the new store is in place (a partial metadata.sqlite.migrating): the next open migrates again from the intact old store', async () => {
    const want = await buildOldStore(dir);
    fs.writeFileSync(path.join(dir, `${DATABASE_FILE}.migrating`), 'half a database');
    fs.writeFileSync(path.join(dir, `${DATABASE_FILE}.migrating-wal`), 'half a wal');
    const kv = await openEmbeddedStore(dir);
    expect(await dump(kv)).toEqual(want);
    await kv.close();
    expect(fs.readdirSync(dir).sort()).toEqual(MIGRATED_FILES);
  });

  test('crash after the new store is in place but before the old files were set aside: the new store is used, the renames finished', async () => {
    await buildOldStore(dir);
    const kv = await openEmbeddedStore(dir);
    await kv.put('written-after', 1, null);
    await kv.close();
    // As if the process died between the link (step 3) and the renames (step 4).
    fs.copyFileSync(path.join(dir, 'journal.migrated'), path.join(dir, 'journal'));
    fs.copyFileSync(path.join(dir, 'snapshot.migrated'), path.join(dir, 'snapshot'));
    fs.copyFileSync(path.join(dir, DATABASE_FILE), path.join(dir, `${DATABASE_FILE}.migrating`));
    const { logger, lines } = captureLogger();
    const again = await openEmbeddedStore(dir, { logger });
    expect(await again.get('written-after')).toMatchObject({ version: 1 }); // not migrated over again
    await again.close();
    const files = fs.readdirSync(dir).sort();
    expect(files).toHaveLength(5);
    expect(files).toEqual(['journal.migrated', expect.stringMatching(/^journal\.migrated\.\d+$/), DATABASE_FILE, 'snapshot.migrated', expect.stringMatching(/^snapshot\.migrated\.\d+$/)]);
    expect(lines).toEqual([expect.stringContaining(`finished an interrupted migration of the metadata store in ${dir}: kept the old files as journal.migrated.`)]);
  });

  test('a journal-format store written beside metadata.sqlite after the migration (an older Strata) is refused, not set aside', async () => {
    await buildOldStore(dir);
    await (await openEmbeddedStore(dir)).close();
    const older = await EmbeddedKv.open(dir); // what an older Strata would open there: an empty journal store
    await older.put('cluster', { clusterId: 'another' }, null);
    await older.close();
    await expect(openEmbeddedStore(dir)).rejects.toMatchObject({
      code: 'STORAGE_IO',
      message: expect.stringContaining(`metadata directory ${dir} holds metadata.sqlite and also a journal-format store (journal) written after the migration`),
    });
    expect(fs.readdirSync(dir).sort()).toEqual(['journal', ...MIGRATED_FILES].sort());
    fs.renameSync(path.join(dir, 'journal'), path.join(root, 'journal.aside'));
    const kv = await openEmbeddedStore(dir); // as the message says
    expect((await kv.get('cluster'))!.value).toEqual({ clusterId: 'abc' });
    await kv.close();
  });

  test('an older broker still running on the journal-format store (its LOCK held by a live process) refuses the open, naming it', async () => {
    await buildOldStore(dir);
    const holder = await idleProcess();
    try {
      fs.writeFileSync(path.join(dir, 'LOCK'), JSON.stringify({ pid: holder.pid, hostname: os.hostname(), since: 'then', token: 't' }));
      let err: unknown;
      try {
        await openEmbeddedStore(dir, { migrationWaitMs: 300 });
      } catch (e) {
        err = e;
      }
      expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toContain(`metadata directory ${dir} is in use by process ${holder.pid}`);
      expect(fs.existsSync(path.join(dir, DATABASE_FILE))).toBe(false);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // Its holder gone, the LOCK is stale: the migration goes ahead.
    const kv = await openEmbeddedStore(dir);
    expect((await kv.list('')).length).toBe(5);
    await kv.close();
  });

  test('two processes opening an old-format directory at once: one migrates, both see every entry', async () => {
    const want = await buildOldStore(dir);
    const script = `
      const { openEmbeddedStore } = require(DIST + '/core/meta/embeddedStore.js');
      const { createLogger } = require(DIST + '/core/common/logger.js');
      require('node:readline').createInterface({ input: process.stdin }).once('line', async () => {
        const kv = await openEmbeddedStore(ARGS[0], { logger: createLogger('meta') });
        console.log('entries ' + (await kv.list('')).length);
        await kv.close();
        process.exit(0);
      });
      console.log('ready');`;
    const workers = await Promise.all([0, 1].map(() => startNodeWorker(script, [dir])));
    await Promise.all(workers.map((w) => w.line(/^ready$/)));
    for (const w of workers) w.send('go');
    const outs = await Promise.all(workers.map((w) => w.exited()));
    for (const o of outs) {
      expect(o.code).toBe(0);
      expect(o.stdout).toContain('entries 5');
    }
    expect(outs.filter((o) => o.stdout.includes('migrated the metadata store'))).toHaveLength(1);
    const kv = await openEmbeddedStore(dir);
    expect(await dump(kv)).toEqual(want);
    await kv.close();
  }, 30_000);

  test('kill -9 at any point of a migration leaves the old store intact or the new one complete', async () => {
    // A large old store, written directly as a snapshot, so that the migration takes a while.
    const template = path.join(root, 'template');
    const want = writeLargeOldStore(template, 3_000);
    // The worker migrates; with a crash point it SIGKILLs itself at that file operation's call
    // (the nth whose arguments match), a real crash at a chosen step.
    const script = `
      const fsp = require('node:fs/promises');
      const [at, fn, pattern, nth] = ARGS;
      if (fn) {
        const real = fsp[fn];
        let seen = 0;
        fsp[fn] = function (...a) {
          if (new RegExp(pattern).test(a.map(String).join(' ')) && ++seen === Number(nth)) process.kill(process.pid, 'SIGKILL');
          return real.apply(this, a);
        };
      }
      const { openEmbeddedStore } = require(DIST + '/core/meta/embeddedStore.js');
      require('node:readline').createInterface({ input: process.stdin }).once('line', async () => {
        const t = performance.now();
        const kv = await openEmbeddedStore(at);
        await kv.close();
        console.log('migrated in ' + (performance.now() - t).toFixed(1));
        process.exit(0);
      });
      console.log('ready');`;
    type Crash = { at: [fn: string, pattern: string, nth: number] } | { afterMs: number } | null;
    const run = async (at: string, crash: Crash, what = ''): Promise<number> => {
      // A kill at a fraction of a measured run can come after this run already finished (a loaded
      // machine's timings vary): then it is tried again, on a fresh copy, earlier.
      for (let attempt = 0; ; attempt++) {
        fs.rmSync(at, { recursive: true, force: true });
        fs.cpSync(template, at, { recursive: true });
        const w = await startNodeWorker(script, [at, ...(crash && 'at' in crash ? crash.at.map(String) : [])]);
        await w.line(/^ready$/);
        w.send('go');
        if (crash === null) return Number((await w.line(/^migrated in /, 30_000)).split(' ').pop());
        if ('afterMs' in crash) {
          await new Promise((resolve) => setTimeout(resolve, crash.afterMs / 2 ** attempt));
          w.child.kill('SIGKILL');
        }
        const exit = await w.exited();
        if ('afterMs' in crash && exit.signal !== 'SIGKILL' && attempt < 5) continue;
        expect([what, exit.signal, exit.stdout]).toEqual([what, 'SIGKILL', 'ready\n']);
        return 0;
      }
    };
    const full = await run(path.join(root, 'full'), null);
    const crashes: [string, Crash, string][] = [
      ['at 20% of the time', { afterMs: full * 0.2 }, 'old'],
      ['at 60% of the time', { afterMs: full * 0.6 }, 'old'],
      ['just before the new store is linked into place', { at: ['link', `${DATABASE_FILE}$`, 1] }, 'old'],
      ['after the link, before the old files are renamed', { at: ['rename', 'journal ', 1] }, 'new'],
      ['between the two renames', { at: ['rename', 'snapshot ', 1] }, 'new'],
      ['before the temp name is removed', { at: ['rm', `${DATABASE_FILE}.migrating `, 2] }, 'new'],
      ['before the old LOCK is removed', { at: ['rm', '/LOCK ', 1] }, 'new'],
    ];
    for (const [i, [what, crash, expected]] of crashes.entries()) {
      const at = path.join(root, `crash-${i}`);
      await run(at, crash, what);
      const left = fs.readdirSync(at);
      // Before the link the old store is intact and there is no new one; after it the new one is complete.
      const state = left.includes(DATABASE_FILE) ? 'new' : 'old';
      if ('at' in crash!) expect([what, state]).toEqual([what, expected]);
      if (state === 'old') expect(left).toEqual(expect.arrayContaining(['snapshot', 'journal']));
      const kv = await openEmbeddedStore(at);
      try {
        const got = await kv.list('');
        expect(got.length).toBe(want.size);
        for (const e of got) expect([e.key, e.version]).toEqual([e.key, want.get(e.key)]);
      } finally {
        await kv.close();
      }
      expect([what, fs.readdirSync(at).sort()]).toEqual([what, MIGRATED_FILES]);
    }
  }, 60_000);
});

describe('node.id locks', () => {
  test('a second open with the same node.id is refused with BROKER_ALREADY_REGISTERED naming the holder; other node.ids share the store', async () => {
    const one = await openEmbeddedStore(dir, { nodeId: 1 });
    const two = await openEmbeddedStore(dir, { nodeId: 2 });
    let err: unknown;
    try {
      await openEmbeddedStore(dir, { nodeId: 1 });
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'BROKER_ALREADY_REGISTERED')).toBe(true);
    expect((err as Error).message).toContain(`Broker node.id 1 is already running on the embedded metadata store ${dir}: process ${process.pid} has held node.id 1 since`);
    expect((err as Error).message).toContain(`(lock file ${path.join(dir, 'node-1.lock')})`);
    expect((err as Error).message).toContain('Each broker needs its own node.id');
    await one.put('shared', 1, null);
    expect(await two.get('shared')).toMatchObject({ value: 1, version: 1 });
    await one.close();
    expect(fs.existsSync(path.join(dir, 'node-1.lock'))).toBe(false);
    const again = await openEmbeddedStore(dir, { nodeId: 1 });
    await again.close();
    await two.close();
  });

  test("a dead process's node.id lock is stale and taken over", async () => {
    fs.mkdirSync(dir);
    const gone = await idleProcess();
    gone.kill('SIGKILL');
    await new Promise((resolve) => gone.once('exit', resolve));
    fs.writeFileSync(path.join(dir, 'node-3.lock'), JSON.stringify({ pid: gone.pid, hostname: os.hostname(), since: 'then', token: 't' }));
    const kv = await openEmbeddedStore(dir, { nodeId: 3 });
    await kv.close();
  });
});

/** Writes an old-format store of `n` entries (snapshot + a short journal); returns key → version. */
function writeLargeOldStore(at: string, n: number): Map<string, number> {
  fs.mkdirSync(at, { recursive: true });
  const want = new Map<string, number>();
  const frames: Buffer[] = [encodeFrame(Buffer.from(`{"t":"snapshot","f":1,"s":${n},"c":${n}}`))];
  const keys = Array.from({ length: n }, (_, i) => `ns/offsets/group-${i % 100}/topic-${i}/0`).sort();
  keys.forEach((k, i) => {
    const version = (i % 5) + 1;
    want.set(k, version);
    frames.push(encodeFrame(Buffer.from(`{"k":${JSON.stringify(k)},"n":${version},"v":${encodeKvValue({ offset: BigInt(i), metadata: 'm'.repeat(40) })}}`)));
  });
  frames.push(encodeFrame(Buffer.from(`{"t":"end","c":${n}}`)));
  fs.writeFileSync(path.join(at, 'snapshot'), Buffer.concat(frames));
  // A journal on top: an update and a delete after the snapshot.
  const k0 = keys[0];
  const journal = [
    encodeFrame(Buffer.from(`{"s":${n + 1},"o":"put","k":${JSON.stringify(k0)},"n":${want.get(k0)! + 1},"v":"updated"}`)),
    encodeFrame(Buffer.from(`{"s":${n + 2},"o":"del","k":${JSON.stringify(keys[1])}}`)),
  ];
  want.set(k0, want.get(k0)! + 1);
  want.delete(keys[1]);
  fs.writeFileSync(path.join(at, 'journal'), Buffer.concat(journal));
  return want;
}

function idleProcess(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
    child.once('spawn', () => resolve(child));
    child.once('error', reject);
  });
}
