#!/usr/bin/env node
// `npm start`: builds dist/ only when a source changed since the last build (saying so, since
// tsc takes a while), then runs `strata broker` with the arguments given after `--`.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const main = path.join(root, 'dist', 'core', 'cli', 'main.js');
const SOURCE_DIRS = ['core', 'functions', 'bench', 'localstack'];
const SOURCE_FILES = ['tsconfig.json', 'package.json', 'package-lock.json'];

/** The newest modification time of the build's inputs. */
function newestSource() {
  let newest = 0;
  const visit = (p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p)) if (e !== 'node_modules') visit(path.join(p, e));
    } else if (p.endsWith('.ts') || SOURCE_FILES.includes(path.basename(p))) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) visit(path.join(root, d));
  for (const f of SOURCE_FILES) visit(path.join(root, f));
  return newest;
}

function builtAt() {
  try {
    return fs.statSync(main).mtimeMs;
  } catch {
    return -1;
  }
}

const built = builtAt();
if (built < newestSource()) {
  process.stderr.write(built < 0 ? 'building dist/ (first run; tsc takes about a minute)…\n' : 'building dist/ (sources changed since the last build)…\n');
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
  // tsc leaves an unchanged output file alone: touch main.js so the next start knows it is current.
  const now = new Date();
  fs.utimesSync(main, now, now);
}
// The broker's node flags (core/broker/nodeFlags.ts), from the build just checked.
const { BROKER_NODE_FLAGS } = await import(pathToFileURL(path.join(root, 'dist', 'core', 'broker', 'nodeFlags.js')).href);
const broker = spawn(process.execPath, [...BROKER_NODE_FLAGS, main, 'broker', ...process.argv.slice(2)], { stdio: 'inherit' });
// Signals sent to npm reach this process: pass them on, so the broker stops cleanly, then exit with it.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => broker.kill(sig));
broker.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
