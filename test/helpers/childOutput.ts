import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import { PYTHON } from './python';

const SETPRIV = '/usr/bin/setpriv';

/**
 * A Python client script as a process of its own (unbuffered output, no bytecode files), SIGKILLed
 * with the jest worker through setpriv's parent-death signal where setpriv exists.
 */
export function spawnPython(script: string, args: readonly string[]): ChildProcess {
  return spawnClient(PYTHON, [script, ...args], { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' });
}

/** A Node client script (plain JavaScript) as a process of its own, as spawnPython. */
export function spawnNode(script: string, args: readonly string[]): ChildProcess {
  return spawnClient(process.execPath, [script, ...args], {});
}

function spawnClient(program: string, args: readonly string[], env: Record<string, string>): ChildProcess {
  const [cmd, argv] = fs.existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', program, ...args]] : [program, [...args]];
  return spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The end of a child's stderr, with notes of the test's own, for failure messages. */
export interface StderrTail {
  text(): string;
  note(text: string): void;
}

/**
 * Follows a child process's output: `onLine` for each complete stdout line as it arrives, and
 * the last `stderrCap` characters of stderr kept for failure messages.
 */
export function followOutput(child: ChildProcess, onLine: (line: string) => void, stderrCap: number): StderrTail {
  let errText = '';
  let pending = '';
  child.on('error', (e) => (errText += `\n[spawn error] ${e.message}\n`));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    errText += text;
    if (errText.length > stderrCap) errText = errText.slice(-stderrCap);
  });
  return { text: () => errText, note: (text) => (errText += text) };
}
