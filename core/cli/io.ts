import type { Readable, Writable } from 'node:stream';
import { ParsedArgs, UsageError, parseKeyValue } from './args';

/**
 * What a command reads and writes. Commands take this instead of touching `process` so tests
 * can run them in-process with in-memory streams and check the exact output.
 */
export interface CliIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export function processIO(): CliIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/**
 * Writes and waits while the destination's buffer is full, so a fast producer of output
 * (a consumer printing records) never buffers without bound behind a slow reader.
 */
export function writeOut(stream: Writable, data: string | Buffer): Promise<void> | void {
  if (stream.write(data)) return;
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      stream.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      stream.off('drain', onDrain);
      reject(err);
    };
    stream.once('drain', onDrain);
    stream.once('error', onError);
  });
}

/** `--bootstrap-server h1:9092,h2:9092` → ['h1:9092', 'h2:9092']; required. */
export function bootstrapServers(args: ParsedArgs): string[] {
  const raw = args.required('bootstrap-server', 'e.g. --bootstrap-server 127.0.0.1:9092');
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError('--bootstrap-server needs at least one host:port', args.spec);
  return list;
}

/**
 * Collects `--<flag> k=v` values into a map, rejecting keys not in `allowed` (with the list, so
 * a typo in a property name is caught instead of silently ignored). Later values win.
 */
export function keyValues(args: ParsedArgs, flag: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of args.list(flag)) {
    const [k, v] = parseKeyValue(raw, `--${flag}`, args.spec);
    if (!allowed.includes(k)) {
      throw new UsageError(`--${flag} ${k} is not supported; supported: ${allowed.join(', ')}`, args.spec);
    }
    out.set(k, v);
  }
  return out;
}

/** Kafka's boolean property parsing: 'true' in any case (trimmed) is true, anything else false. */
export function isTrueProperty(v: string | undefined): boolean {
  return v !== undefined && v.trim().toLowerCase() === 'true';
}
