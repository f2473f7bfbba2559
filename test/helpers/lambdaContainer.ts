import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import type { MirrorResponse } from '../../functions/mirror/handler';
import { DIST_DIR } from './build';

/**
 * A stand-in for one AWS Lambda container running the mirror function: a child process that
 * requires dist/functions/mirror/handler.js once (the cold start, with the environment set
 * before the require), then runs each invocation sent over stdin one at a time and prints the
 * result as the Lambda runtime serializes it (plain JSON.stringify). Used by the mirror's
 * integration tests; `stopAllContainers` kills whatever a test left running.
 */
export const MIRROR_HANDLER = path.join(DIST_DIR, 'functions', 'mirror', 'handler.js');

const CONTAINER = `
const { handler } = require(process.argv[1]);
const rl = require('readline').createInterface({ input: process.stdin });
let busy = Promise.resolve();
rl.on('line', (line) => {
  busy = busy.then(async () => {
    const { id, event } = JSON.parse(line);
    const context = { awsRequestId: 'req-' + id, functionName: 'mirror', getRemainingTimeInMillis: () => 120000 };
    let out;
    try {
      out = { id, ok: true, result: await handler(event, context) };
    } catch (e) {
      out = { id, ok: false, name: e && e.name, code: e && e.code, error: String(e && e.message) };
    }
    process.stdout.write('@@INVOKE ' + JSON.stringify(out) + '\\n');
  });
});
rl.on('close', () => busy.then(() => process.exit(0)));
`;

export type PartitionResult = MirrorResponse['partitions'][number];
export type Invocation = { id: number; ok: true; result: { partitions: PartitionResult[] } } | { id: number; ok: false; name: string; code?: string; error: string };

/** Every process a test started (containers and others it registers), for afterAll. */
export const children = new Set<ChildProcess>();

/** The environment of a child: ours without any MIRROR_* variable, plus `env`. */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MIRROR_')));
  return { ...base, ...env };
}

export class LambdaContainer {
  readonly logs: Array<Record<string, unknown>> = [];
  /** Everything the container printed on stdout (log lines and results), to look for leaked secrets. */
  stdout = '';
  private stderr = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Invocation) => void>();
  private readonly exited: Promise<number | null>;

  constructor(private readonly child: ChildProcess) {
    children.add(child);
    this.exited = new Promise((resolve) => child.on('exit', (code) => (children.delete(child), resolve(code))));
    let pending = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      this.stdout += text;
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('@@INVOKE ')) {
          const r = JSON.parse(line.slice('@@INVOKE '.length)) as Invocation;
          this.waiting.get(r.id)?.(r);
          this.waiting.delete(r.id);
        } else if (line.startsWith('{')) {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => (this.stderr += t));
  }

  static start(env: Record<string, string>): LambdaContainer {
    return new LambdaContainer(spawn(process.execPath, ['-e', CONTAINER, MIRROR_HANDLER], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  invoke(event: unknown): Promise<Invocation> {
    const id = this.nextId++;
    return new Promise<Invocation>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`invocation ${id} got no answer in 30 s; stderr: ${this.stderr}`)), 30_000);
      this.waiting.set(id, (r) => (clearTimeout(timer), resolve(r)));
      this.exited.then((code) => reject(new Error(`the container exited (${code}) during invocation ${id}: ${this.stderr}`)));
      this.child.stdin!.write(JSON.stringify({ id, event }) + '\n');
    });
  }

  /** Invokes and expects success. */
  async ok(event: unknown): Promise<PartitionResult[]> {
    const r = await this.invoke(event);
    if (!r.ok) throw new Error(`invocation failed: ${r.name}: ${r.error}`);
    return r.result.partitions;
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Kills every process in `children` (afterAll). */
export function stopAllContainers(): void {
  for (const c of children) c.kill('SIGKILL');
}
