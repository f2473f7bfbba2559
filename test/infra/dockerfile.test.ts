import { BROKER_NODE_FLAGS } from '../../core/broker/nodeFlags';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtinModules } from 'node:module';
import { CLIENT_PORT, INTERNAL_PORT, METRICS_PORT } from '../../infra/lib/constructs/brokerCluster';
import { makeCerts } from '../helpers/certs';
import { REPO_ROOT, renderValue, resourcesOf, synthStrata } from './synth';

/**
 * The broker image, without a Docker engine: the Dockerfile's structure (multi-stage, non-root,
 * the `strata broker` entry, a runtime stage of production files only), .dockerignore against
 * what the build copies, and the entry itself run from a copy of exactly the files the runtime
 * stage copies, configured as the ECS task definition configures it.
 */

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  let stage = -1;
  return logical.map((l) => {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l)!;
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage++;
    return { op, args: m[2].trim(), stage };
  });
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const lastStage = Math.max(...dockerfile.map((i) => i.stage));
const runtime = dockerfile.filter((i) => i.stage === lastStage);
const build = dockerfile.filter((i) => i.stage >= 0 && i.stage < lastStage);

/** COPY --from=build <src> <dst> of the runtime stage, as [src, dst]. */
const runtimeCopies = runtime
  .filter((i) => i.op === 'COPY')
  .map((i) => {
    const parts = i.args.split(/\s+/);
    expect(parts[0]).toBe('--from=build');
    return [parts[1].replace(/^\/app\//, ''), parts[2]] as const;
  });

describe('Dockerfile', () => {
  test('multi-stage: a build stage with the toolchain, a runtime stage on the same base', () => {
    const froms = dockerfile.filter((i) => i.op === 'FROM').map((i) => i.args);
    expect(froms).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    expect(dockerfile.find((i) => i.op === 'ARG')?.args).toMatch(/^NODE_IMAGE=node:22-/);
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(runs).toContain('npm ci');
    expect(runs).toContain('npx tsc -p tsconfig.json');
    expect(runs).toContain('npm prune --omit=dev');
  });

  test('runs as a non-root user', () => {
    const users = runtime.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/^(root|0)(:|$)/);
    // USER comes after everything that needs root.
    expect(runtime.slice(runtime.findIndex((i) => i.op === 'USER')).some((i) => i.op === 'RUN' || i.op === 'COPY')).toBe(false);
  });

  test('the entry is `node <the broker\'s node flags> dist/core/cli/main.js broker`, exec form (SIGTERM reaches the broker)', () => {
    expect(runtime.filter((i) => i.op === 'ENTRYPOINT').map((i) => JSON.parse(i.args))).toEqual([['node', ...BROKER_NODE_FLAGS, 'dist/core/cli/main.js', 'broker']]);
    expect(runtime.filter((i) => i.op === 'CMD')).toEqual([]);
    expect(runtime.find((i) => i.op === 'ENV')?.args).toBe('STRATA_LOG_DIRS=/var/lib/strata');
    expect(runtime.find((i) => i.op === 'EXPOSE')?.args.split(/\s+/)).toEqual([String(CLIENT_PORT), String(INTERNAL_PORT), String(METRICS_PORT)]);
  });

  test('the runtime stage copies only the compiled broker, production node_modules, package.json and the sendfile addon', () => {
    expect(runtimeCopies).toEqual([
      ['package.json', './'],
      ['node_modules/', 'node_modules/'],
      ['dist/core/', 'dist/core/'],
      ['native/sendfile/build/Release/', 'native/sendfile/build/Release/'],
    ]);
  });

  test('what the build stage copies from the context is what .dockerignore admits, and nothing else is admitted', () => {
    const fromContext = build
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    const ignore = fs
      .readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const admitted = ignore.slice(1).map((l) => {
      expect(l.startsWith('!')).toBe(true);
      return l.slice(1);
    });
    expect(fromContext.sort()).toEqual(admitted.sort());
    for (const p of admitted) expect(fs.existsSync(path.join(REPO_ROOT, p))).toBe(true);
  });

  test('the compiled broker needs only production dependencies (package.json "dependencies") and Node built-ins', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const required = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.js')) {
          for (const m of fs.readFileSync(p, 'utf8').matchAll(/require\("([^"./][^"]*)"\)/g)) required.add(m[1]);
        }
      }
    };
    walk(path.join(REPO_ROOT, 'dist', 'core'));
    const packages = [...required].map((r) => (r.startsWith('@') ? r.split('/').slice(0, 2).join('/') : r.split('/')[0]));
    const external = [...new Set(packages)].filter((p) => !p.startsWith('node:') && !builtinModules.includes(p));
    expect(external.length).toBeGreaterThan(3);
    for (const p of external) expect(Object.keys(pkg.dependencies)).toContain(p);
  });

  test('the entry, from a copy of exactly the runtime files, starts with the task definition\'s configuration and stops cleanly on SIGTERM', async () => {
    const image = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-image-'));
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-image-data-'));
    try {
      // The runtime stage's files (node_modules linked: the dependency check above covers its contents).
      for (const [src] of runtimeCopies) {
        const from = path.join(REPO_ROOT, src);
        const to = path.join(image, src);
        if (src === 'node_modules/') fs.symlinkSync(from, to.replace(/\/$/, ''), 'dir');
        else if (fs.existsSync(from)) fs.cpSync(from, to, { recursive: true });
        else fs.mkdirSync(to, { recursive: true }); // an addon that did not build: the Dockerfile makes the directory too
      }
      expect(fs.existsSync(path.join(image, 'dist', 'core', 'cli', 'main.js'))).toBe(true);

      const help = execFileSync(process.execPath, ['dist/core/cli/main.js', 'broker', '--help'], { cwd: image, encoding: 'utf8', timeout: 30_000 });
      expect(help).toContain('Usage: strata broker');

      // Broker 1's environment from the task definition; the stores and ports made local.
      const { stacks, template } = synthStrata({ settings: { mirrorRegion: undefined } });
      const task = Object.values(resourcesOf(template(stacks.primary.brokers), 'AWS::ECS::TaskDefinition'))[1];
      const c = (task.Properties.ContainerDefinitions as Array<{ Environment: Array<{ Name: string; Value: unknown }> }>)[0];
      const taskEnv = Object.fromEntries(c.Environment.map((e) => [e.Name, renderValue(e.Value)]));
      const certs = makeCerts(path.join(data, 'certs'), { serverNames: ['localhost', '127.0.0.1'] });
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        ...taskEnv,
        STRATA_SSL_KEYSTORE_KEY: fs.readFileSync(certs.server.key, 'utf8'),
        STRATA_SSL_KEYSTORE_CERTIFICATE_CHAIN: fs.readFileSync(certs.server.cert, 'utf8'),
        STRATA_SSL_TRUSTSTORE_CERTIFICATES: fs.readFileSync(certs.ca.cert, 'utf8'),
        STRATA_METADATA: `embedded:${path.join(data, 'meta')}`,
        STRATA_OBJECT_STORE: `file://${path.join(data, 'tier')}`,
        STRATA_LOG_DIRS: path.join(data, 'broker'),
        STRATA_LISTENERS: 'CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0',
        STRATA_METRICS_LISTENER: 'http://127.0.0.1:0',
      };
      delete env.STRATA_ADVERTISED_LISTENERS; // the bound ephemeral ports
      const exit = await runUntilListening(image, env);
      expect(exit.listening).toMatch(/^listening on CLIENT:\/\/127\.0\.0\.1:\d+, INTERNAL:\/\/127\.0\.0\.1:\d+ \(node\.id=1, .*inter-broker listener INTERNAL,/);
      expect(exit.output).toMatch(/metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/);
      expect(exit.code).toBe(0);
    } finally {
      fs.rmSync(image, { recursive: true, force: true });
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});

/** Starts `node dist/core/cli/main.js broker` in `cwd`, waits for its metrics line, sends SIGTERM, and collects the exit. */
function runUntilListening(cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; listening: string; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BROKER_NODE_FLAGS, 'dist/core/cli/main.js', 'broker'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let listening = '';
    let termed = false;
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no metrics line within 30 s; output:\n${output}`));
    }, 30_000);
    const onData = (b: Buffer): void => {
      output += b.toString();
      listening ||= /listening on [^\n]*/.exec(output)?.[0] ?? '';
      if (!termed && /metrics on http/.test(output)) {
        termed = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(deadline);
      if (!termed) reject(new Error(`the broker exited (${code}) before it was up; output:\n${output}`));
      else resolve({ code, listening, output });
    });
  });
}
