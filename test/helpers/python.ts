import { runProcess, describeRun, RunResult } from './proc';

/**
 * Python Kafka clients (confluent_kafka = librdkafka, kafka-python = an independent pure-Python
 * implementation) as second and third opinions on protocol behaviour. Scripts take their input as
 * JSON on stdin and/or argv and print their result as JSON on stdout; diagnostics go to stderr.
 *
 * Always the system interpreter (/usr/bin/python3): that is where Debian's python3-confluent-kafka
 * and python3-kafka packages install, whatever python3 a developer's PATH resolves to.
 */

export const PYTHON = process.env.STRATA_PYTHON ?? '/usr/bin/python3';
export const PYTHON_INSTALL_HINT =
  'the Python Kafka clients are required by the integration tests: install them with ' +
  '`apt-get install -y python3 python3-confluent-kafka python3-kafka`';

/** Inline source (run with `python3 -c`) or a script file. */
export type PythonScript = { code: string } | { file: string };

export interface PythonOptions {
  args?: string[];
  /** Buffer/string go to stdin as-is; anything else is JSON-encoded. */
  input?: unknown;
  /** The interpreter is SIGKILLed after this long. Default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export type PythonResult = RunResult;

export function runPython(script: PythonScript, opts: PythonOptions = {}): Promise<PythonResult> {
  const head = 'code' in script ? ['-c', script.code] : [script.file];
  let input: string | Buffer | undefined;
  if (opts.input === undefined) input = undefined;
  else if (typeof opts.input === 'string' || Buffer.isBuffer(opts.input)) input = opts.input;
  else input = JSON.stringify(opts.input, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return runProcess(PYTHON, [...head, ...(opts.args ?? [])], {
    input,
    timeoutMs: opts.timeoutMs,
    // Unbuffered so a killed script still shows how far it got; no .pyc litter in the tree.
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
    missingHint: PYTHON_INSTALL_HINT,
  });
}

/**
 * Run a script and parse its stdout as JSON (the whole of it, or else its last non-empty line,
 * so a library that prints chatter first doesn't break the contract). Rejects unless the script
 * exits 0 and prints valid JSON.
 */
export async function runPythonJson<T = unknown>(script: PythonScript, opts: PythonOptions = {}): Promise<T> {
  const r = await runPython(script, opts);
  const what = 'code' in script ? 'python3 -c <inline script>' : `python3 ${script.file}`;
  if (r.code !== 0) throw new Error(describeRun(what, r));
  const text = r.stdout.toString('utf8').trim();
  try {
    return JSON.parse(text) as T;
  } catch {
    const last = text.split('\n').filter((l) => l.trim() !== '').pop();
    if (last !== undefined) {
      try {
        return JSON.parse(last) as T;
      } catch {
        // fall through to the error below
      }
    }
    throw new Error(`${what} did not print JSON on stdout\n${describeRun(what, r)}`);
  }
}

/**
 * Resolves to the versions of the two client libraries; rejects with the install hint when the
 * interpreter or either module is missing (a test failure, never a silent skip).
 */
export async function pythonClientsAvailable(): Promise<{ confluentKafka: string; kafkaPython: string }> {
  const code = [
    'import json, confluent_kafka, kafka',
    'print(json.dumps({"confluentKafka": confluent_kafka.version()[0], "kafkaPython": kafka.__version__}))',
  ].join('\n');
  try {
    return await runPythonJson({ code }, { timeoutMs: 20_000 });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${PYTHON_INSTALL_HINT}`, { cause: e });
  }
}
