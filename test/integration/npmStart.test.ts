/**
 * `npm start` (scripts/start.mjs): with dist/ current (jest's globalSetup just built it) the
 * broker starts without rebuilding, and a signal to the script stops the broker with it.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/build';
import { waitFor } from '../helpers/waitFor';

test('starts the broker without rebuilding a current dist/, and passes a SIGTERM on to it', async () => {
  // globalSetup built dist/; mark it newer than any source edited since (another editor's save).
  const now = new Date();
  fs.utimesSync(path.join(REPO_ROOT, 'dist', 'core', 'cli', 'main.js'), now, now);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-npm-start-'));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts', 'start.mjs'), '--data-dir', dataDir, '--listeners', 'PLAINTEXT://127.0.0.1:0'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => /listening on PLAINTEXT:\/\/127\.0\.0\.1:\d+/.test(out), { timeoutMs: 30_000, message: `no listening line:\n${out}` });
    expect(out).not.toMatch(/building dist/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/stopped/);
  } finally {
    // On a failure path: SIGTERM first, so the script stops the broker it started, then SIGKILL.
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      child.kill('SIGKILL');
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 60_000);
