import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { DIST_DIR, ensureBuilt } from '../helpers/build';

/**
 * A separate node process running `script` (CommonJS, with `DIST` bound to the compiled tree's
 * path, so it can require dist/core/...), for tests of what several processes do to one store.
 * Its stdout lines are collected; `send` writes a line to its stdin.
 */
export interface NodeWorker {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the first stdout line matching `re` (rejects if the process exits first). */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  /** Resolves with the exit code (null after a signal) and everything printed. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

const live = new Set<ChildProcess>();

export async function startNodeWorker(script: string, args: string[] = []): Promise<NodeWorker> {
  await ensureBuilt();
  const prelude = `const DIST = ${JSON.stringify(DIST_DIR)}; const ARGS = ${JSON.stringify(args)};\n`;
  const child = spawn(process.execPath, ['-e', prelude + script], { stdio: ['pipe', 'pipe', 'pipe'], cwd: path.dirname(DIST_DIR) });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
      for (const w of waiters.splice(0)) w();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    pid: child.pid!,
    child,
    line: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${re} from worker ${child.pid} within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`)), timeoutMs);
        const check = (): void => {
          const found = stdout.split('\n').find((l) => re.test(l));
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`worker ${child.pid} exited (${child.exitCode ?? child.signalCode}) before printing ${re}; stdout: ${stdout}; stderr: ${stderr}`));
          } else {
            waiters.push(check);
          }
        };
        check();
      }),
    send: (line) => {
      child.stdin!.write(line + '\n');
    },
    exited: async () => ({ ...(await exit), stdout, stderr }),
  };
}

/** SIGKILLs every worker still running (call from afterEach/afterAll). */
export function killAllWorkers(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}
