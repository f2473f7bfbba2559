import * as fs from 'fs';
import * as path from 'path';
import { runProcess } from './proc';

/**
 * Integration tests run the compiled broker (dist/), so dist/ must match the sources. `ensureBuilt`
 * runs tsc when any source is newer than the last build, at most once per process, and serialises
 * concurrent builders (jest's globalSetup, two workers, a second jest run) with a lock directory.
 *
 * tsc emits JavaScript even when it reports type errors, so a failed type-check does not block
 * the tests; its output is kept and shown when a broker then fails to start.
 */

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const DIST_DIR = path.join(REPO_ROOT, 'dist');
export const BROKER_MAIN = path.join(DIST_DIR, 'core', 'cli', 'main.js');

/** mtime marks the start of our last build; content: that build's tsc output and main.js's mtime. */
const STAMP = path.join(DIST_DIR, '.strata-build-stamp');
const LOCK = path.join(DIST_DIR, '.strata-build-lock');
const SOURCE_DIRS = ['core', 'functions', 'bench', 'localstack'];
const BUILD_TIMEOUT_MS = 5 * 60_000;
const LOCK_WAIT_MS = 5 * 60_000;

export interface BuildStatus {
  /** false when tsc reported errors (dist/ may still be usable). */
  ok: boolean;
  /** whether this call ran tsc. */
  rebuilt: boolean;
  /** tsc's output from the build that produced the current dist/ ('' when clean). */
  log: string;
}

let once: Promise<BuildStatus> | undefined;

/** Build dist/ if stale. Memoised per process; set STRATA_SKIP_BUILD=1 to never build. */
export function ensureBuilt(): Promise<BuildStatus> {
  once ??= buildIfStale();
  return once;
}

interface Stamp {
  mainMtimeMs?: number;
  log?: string;
}

/** Our stamp, if it describes the dist/ that is there now (not one rebuilt since by `npm run build`). */
function currentStamp(): (Stamp & { startedMs: number }) | null {
  try {
    const stamp = JSON.parse(fs.readFileSync(STAMP, 'utf8')) as Stamp;
    if (stamp.mainMtimeMs !== mtimeOr0(BROKER_MAIN)) return null;
    return { ...stamp, startedMs: fs.statSync(STAMP).mtimeMs };
  } catch {
    return null;
  }
}

/** The log of the last build, if it had errors (for broker start-up failure messages). */
export function lastBuildLog(): string {
  return currentStamp()?.log ?? '';
}

/** Set by globalSetup for the jest workers it spawns: dist/ was settled once for this run. */
export const CHECKED_ENV = 'STRATA_DIST_CHECKED';

async function buildIfStale(): Promise<BuildStatus> {
  if (process.env.STRATA_SKIP_BUILD === '1') return { ok: true, rebuilt: false, log: '' };
  // Within one jest run, build once (globalSetup) rather than again whenever someone saves a
  // source file mid-run: rewriting dist/ under a broker that is starting up would be worse.
  if (process.env[CHECKED_ENV] === '1' || !isStale()) {
    const log = lastBuildLog();
    return { ok: log.trim() === '', rebuilt: false, log };
  }
  fs.mkdirSync(DIST_DIR, { recursive: true });
  await acquireLock();
  try {
    // Someone else may have built while we waited for the lock.
    if (!isStale()) {
      const log = lastBuildLog();
      return { ok: log.trim() === '', rebuilt: false, log };
    }
    const startedAt = new Date();
    const tsc = require.resolve('typescript/bin/tsc', { paths: [REPO_ROOT] });
    const r = await runProcess(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: REPO_ROOT,
      timeoutMs: BUILD_TIMEOUT_MS,
    });
    const log = r.stdout.toString('utf8') + r.stderr;
    if (r.timedOut) return { ok: false, rebuilt: true, log: `tsc timed out after ${BUILD_TIMEOUT_MS} ms\n${log}` };
    const stampLog = r.code === 0 ? '' : log || `tsc exited with code ${r.code}`;
    fs.writeFileSync(STAMP, JSON.stringify({ mainMtimeMs: mtimeOr0(BROKER_MAIN), log: stampLog }));
    // Back-date the stamp to when tsc started: a source saved during the build must count as newer.
    fs.utimesSync(STAMP, startedAt, startedAt);
    return { ok: r.code === 0, rebuilt: true, log };
  } finally {
    releaseLock();
  }
}

function isStale(): boolean {
  const main = mtimeOr0(BROKER_MAIN);
  if (main === 0) return true;
  // Our build counts from when tsc started (the stamp is back-dated); a plain `npm run build`
  // (as `npm test` runs before jest) leaves no stamp but rewrites every output, main.js included.
  const built = currentStamp()?.startedMs ?? main;
  const configs = ['tsconfig.json', 'package.json'].map((f) => path.join(REPO_ROOT, f));
  for (const f of configs) if (mtimeOr0(f) > built) return true;
  return SOURCE_DIRS.some((d) => newerTsExists(path.join(REPO_ROOT, d), built));
}

function mtimeOr0(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function newerTsExists(dir: string, than: number): boolean {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  // A deleted source only changes its directory's mtime; that must trigger a rebuild too
  // (otherwise dist/ keeps serving the removed module).
  if (mtimeOr0(dir) > than) return true;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && newerTsExists(p, than)) return true;
    } else if (e.name.endsWith('.ts') && mtimeOr0(p) > than) {
      return true;
    }
  }
  return false;
}

async function acquireLock(): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.mkdirSync(LOCK); // atomic: exactly one process succeeds
      fs.writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (lockHolderDead()) {
      fs.rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${LOCK}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A builder that crashed leaves its lock behind; its pid no longer existing frees it. */
function lockHolderDead(): boolean {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(LOCK, 'pid'), 'utf8'));
  } catch {
    // No pid yet: the holder is between mkdir and write — unless that was long ago and it died there.
    return Date.now() - mtimeOr0(LOCK) > 30_000;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function releaseLock(): void {
  fs.rmSync(LOCK, { recursive: true, force: true });
}
