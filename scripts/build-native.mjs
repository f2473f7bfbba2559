#!/usr/bin/env node
// npm's `install` script (also run by `npm ci`): builds native/sendfile, the zero-copy sendfile(2)
// addon, with node-gyp against the Node.js headers already on this machine. It never fails the
// install: without the addon, fetches use the buffered path (core/net/zeroCopy.ts returns null).
// By hand: `node scripts/build-native.mjs` (or `npm run install`). See native/README.md.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addonDir = path.join(root, 'native', 'sendfile');
const output = path.join(addonDir, 'build', 'Release', 'strata_sendfile.node');
const relOutput = path.relative(root, output);
const TIMEOUT_MS = 180_000;

function notBuilt(reason, log) {
  if (log) {
    const lines = log.trimEnd().split('\n');
    process.stderr.write(`${lines.slice(-20).join('\n')}\n`);
  }
  console.log(`strata: zero-copy sendfile addon not built (${reason}); fetches use the buffered path`);
  process.exit(0);
}

const isFile = (p) => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/** node-gyp's bin script, found the way npm finds it for lifecycle scripts; null if none. */
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && isFile(fromNpm)) return { script: fromNpm, via: 'npm_config_node_gyp' };
  const candidates = [];
  if (process.env.npm_execpath) {
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  // Run by hand (no npm environment): the npm installed beside this node (<prefix>/lib/node_modules/npm).
  const prefix = path.dirname(path.dirname(fs.realpathSync(process.execPath)));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (isFile(c)) return { script: c, via: 'npm' };
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'node-gyp');
    if (isFile(p)) return { script: fs.realpathSync(p), via: 'PATH' };
  }
  return null;
}

/** Whether `dir` holds Node's headers (include/node) for the running version, as --nodedir wants them. */
function headersMatch(dir) {
  const inc = path.join(dir, 'include', 'node');
  if (!isFile(path.join(inc, 'node_api.h')) || !isFile(path.join(inc, 'common.gypi'))) return false;
  try {
    const h = fs.readFileSync(path.join(inc, 'node_version.h'), 'utf8');
    const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => h.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))?.[1]);
    return `v${v.join('.')}` === process.version;
  } catch {
    return false;
  }
}

/**
 * Where node-gyp gets the headers, without ever downloading them (only the npm registry may be
 * reachable). npm passes its `nodedir` config as npm_config_nodedir, and node-gyp reads that itself;
 * node-gyp's header cache (~/.cache/node-gyp/<version>) also works as is. Otherwise look for the
 * headers that came with this Node (its install prefix; Debian-style /usr) and pass --nodedir.
 * Returns { args, env, note } or { error }.
 */
function headerOptions() {
  const env = { ...process.env };
  const fromNpm = env.npm_config_nodedir;
  if (fromNpm) {
    if (headersMatch(fromNpm)) return { args: [], env, note: `nodedir ${fromNpm} from npm config` };
    // node-gyp lets npm_config_* override its command line: drop the unusable one.
    delete env.npm_config_nodedir;
  }
  const version = process.version.slice(1);
  const devDir = env.npm_config_devdir || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-gyp');
  const cached = path.join(devDir, version);
  if (isFile(path.join(cached, 'installVersion')) && headersMatch(cached)) return { args: [], env, note: `headers in ${cached}` };
  const candidates = [
    process.config.variables?.node_prefix,
    path.dirname(path.dirname(fs.realpathSync(process.execPath))),
    '/usr',
    '/usr/local',
  ].filter(Boolean);
  for (const dir of [...new Set(candidates)]) {
    if (headersMatch(dir)) return { args: [`--nodedir=${dir}`], env, note: `headers in ${dir}/include/node` };
  }
  return {
    error: `no Node.js ${process.version} headers found locally${fromNpm ? ` (npm_config_nodedir=${fromNpm} has none)` : ''}; set npm_config_nodedir`,
  };
}

if (process.platform !== 'linux') {
  console.log(`strata: zero-copy sendfile addon skipped (${process.platform} is not Linux); fetches use the buffered path`);
  process.exit(0);
}

try {
  const gyp = findNodeGyp();
  if (!gyp) notBuilt('node-gyp not found: no npm_config_node_gyp, no npm beside node, none on PATH');
  const headers = headerOptions();
  if (headers.error) notBuilt(headers.error);

  const args = [gyp.script, 'rebuild', ...headers.args, '--loglevel=warn'];
  const runWith = gyp.script.endsWith('.js') ? process.execPath : gyp.script;
  const argv = runWith === process.execPath ? args : args.slice(1);
  if (process.env.STRATA_NATIVE_VERBOSE === '1') console.log(`strata: ${runWith} ${argv.join(' ')} (${headers.note})`);

  const started = Date.now();
  const run = spawnSync(runWith, argv, {
    cwd: addonDir,
    env: headers.env,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 16 << 20,
  });
  const log = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  if (run.error) notBuilt(`node-gyp did not run: ${run.error.code ?? run.error.message}`, log);
  if (run.signal) notBuilt(`node-gyp was killed by ${run.signal}`, log);
  if (run.status !== 0) {
    const why = log.match(/gyp ERR! stack Error: (.*)/)?.[1]?.trim();
    notBuilt(`node-gyp rebuild exited with ${run.status}${why ? `: ${why.slice(0, 160)}` : ''}`, log);
  }
  if (!isFile(output)) notBuilt(`node-gyp succeeded but ${relOutput} is missing`, log);

  // Load it once here, so a broken build is reported at install rather than as a silent fallback later.
  try {
    const addon = createRequire(import.meta.url)(output);
    if (typeof addon.sendfile !== 'function' || typeof addon.whenWritable !== 'function') {
      notBuilt(`${relOutput} does not export sendfile/whenWritable`);
    }
  } catch (e) {
    notBuilt(`${relOutput} does not load: ${e.message.split('\n')[0]}`);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`strata: zero-copy sendfile addon built (${relOutput}, ${secs} s, ${headers.note})`);
} catch (e) {
  notBuilt(`unexpected error: ${e?.message ?? e}`);
}
