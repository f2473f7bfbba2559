import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteKv } from '../../core/meta/sqliteKv';
import { killAllWorkers, startNodeWorker, type NodeWorker } from './nodeWorker';

/**
 * Several processes on one metadata.sqlite (what brokers sharing `embedded:PATH` do): every
 * conditional write is atomic across processes, so concurrent read-modify-write loops lose no
 * update, and of processes racing to create one key exactly one wins — also when they race to
 * create the database file itself. Real processes (dist/), real files.
 */
let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sqlite-mp-'));
  file = path.join(dir, 'metadata.sqlite');
});
afterEach(() => {
  killAllWorkers();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits for "go" on stdin, then runs `body` with `kv` open on ARGS[0] and prints "done <json>". */
const WORKER = `
const { SqliteKv } = require(DIST + '/core/meta/sqliteKv.js');
const readline = require('node:readline');
const rl = readline.createInterface({ input: process.stdin });
console.log('ready');
rl.once('line', async () => {
  try {
    const kv = await SqliteKv.open(ARGS[0]);
    const result = await body(kv);
    await kv.close();
    console.log('done ' + JSON.stringify(result));
    rl.close();
  } catch (e) {
    console.log('failed ' + (e.code || '') + ' ' + e.message);
    process.exit(1);
  }
});
`;

const INCREMENT = `
async function body(kv) {
  let conflicts = 0;
  for (let i = 0; i < Number(ARGS[1]); i++) {
    for (;;) {
      const cur = await kv.get('counter');
      // Widens the window between read and write, so that the processes do contend.
      await new Promise((resolve) => setTimeout(resolve, 0));
      try {
        await kv.put('counter', (cur ? cur.value : 0) + 1, cur ? cur.version : null);
        break;
      } catch (e) {
        if (e.code !== 'VERSION_CONFLICT' && e.code !== 'KEY_EXISTS') throw e;
        conflicts++;
      }
    }
  }
  return { conflicts };
}
`;

const CREATE = `
async function body(kv) {
  try {
    await kv.put('winner', ARGS[1], null);
    return 'won';
  } catch (e) {
    if (e.code === 'KEY_EXISTS') return 'lost';
    throw e;
  }
}
`;

async function startAll(n: number, script: string, args: (i: number) => string[]): Promise<NodeWorker[]> {
  const workers = await Promise.all(Array.from({ length: n }, (_, i) => startNodeWorker(script + WORKER, args(i))));
  await Promise.all(workers.map((w) => w.line(/^ready$/)));
  for (const w of workers) w.send('go');
  return workers;
}

async function results(workers: NodeWorker[]): Promise<unknown[]> {
  return Promise.all(
    workers.map(async (w) => {
      const line = await w.line(/^(done|failed) /, 40_000);
      if (line.startsWith('failed')) throw new Error(`worker ${w.pid}: ${line}`);
      expect((await w.exited()).code).toBe(0);
      return JSON.parse(line.slice('done '.length)) as unknown;
    }),
  );
}

test('4 processes × 200 conditional increments of one key with retry on conflict: 800, at version 800 (no lost update)', async () => {
  await (await SqliteKv.open(file)).close(); // the file exists before they start: this test is about the writes
  const workers = await startAll(4, INCREMENT, () => [file, '200']);
  const out = (await results(workers)) as { conflicts: number }[];
  const kv = await SqliteKv.open(file);
  try {
    expect(await kv.get('counter')).toEqual({ key: 'counter', value: 800, version: 800 });
  } finally {
    await kv.close();
  }
  // They did contend (otherwise this test would show nothing).
  expect(out.reduce((n, r) => n + r.conflicts, 0)).toBeGreaterThan(50);
}, 60_000);

test('6 processes race to create the database and one key: exactly one wins, the others get KEY_EXISTS', async () => {
  const workers = await startAll(6, CREATE, (i) => [file, `w${i}`]);
  const out = (await results(workers)) as string[];
  expect(out.filter((r) => r === 'won')).toHaveLength(1);
  expect(out.filter((r) => r === 'lost')).toHaveLength(5);
  const kv = await SqliteKv.open(file);
  try {
    const winner = await kv.get('winner');
    expect(winner?.version).toBe(1);
    expect(winner?.value).toBe(`w${out.indexOf('won')}`);
  } finally {
    await kv.close();
  }
}, 60_000);
