import { PassThrough, Readable } from 'node:stream';
import { main } from '../../core/cli/main';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `strata <argv>` in-process with in-memory stdin/stdout/stderr. */
export async function runCli(argv: string[], stdin: string | Buffer | Readable = '', signal?: AbortSignal): Promise<CliResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const input = stdin instanceof Readable ? stdin : Readable.from(stdin.length ? [Buffer.from(stdin)] : []);
  const code = await main(argv, { stdin: input, stdout, stderr, signal });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}
