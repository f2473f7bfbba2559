import { runProcess, describeRun, RunResult } from './proc';

/**
 * kcat (librdkafka) as a black-box Kafka client for integration tests. Every call has a hard
 * time limit so a broker that never answers fails the test with kcat's stderr instead of hanging.
 * kcat missing is a test failure, never a skip: the suite would otherwise go green having tested
 * nothing.
 */

export const KCAT_INSTALL_HINT = 'kcat is required by the integration tests: install it with `apt-get install -y kcat`';

/** `KCAT` overrides the binary (e.g. a locally built kcat). */
const KCAT_BIN = process.env.KCAT ?? 'kcat';

export interface KcatOptions {
  input?: string | Buffer;
  /** kcat is SIGKILLed after this long. Default 30 s. */
  timeoutMs?: number;
  maxOutputBytes?: number;
}

export type KcatResult = RunResult;

export function kcat(args: string[], opts: KcatOptions = {}): Promise<KcatResult> {
  return runProcess(KCAT_BIN, args, { ...opts, missingHint: KCAT_INSTALL_HINT });
}

/** Resolves to kcat's version line; rejects (failing the test) with the install hint when absent. */
export async function kcatAvailable(): Promise<string> {
  const r = await kcat(['-V'], { timeoutMs: 10_000 });
  const text = r.stdout.toString('utf8') + r.stderr;
  const line = text.split('\n').find((l) => /^Version /.test(l));
  if (r.code !== 0 || !line) throw new Error(`${describeRun('kcat -V', r)}\n${KCAT_INSTALL_HINT}`);
  return line.trim();
}

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface KcatProduceOptions {
  /** Split each line into key and value at the first occurrence of this string (kcat -K). */
  keyDelimiter?: string;
  /** Target partition; default lets librdkafka's partitioner choose. */
  partition?: number;
  compression?: Compression;
  /** Headers added to every record (kcat -H name=value). */
  headers?: Record<string, string>;
  /** Extra librdkafka properties, passed as -X key=value (e.g. { acks: '1', 'linger.ms': '5' }). */
  props?: Record<string, string>;
  timeoutMs?: number;
}

/** librdkafka properties as -X arguments. */
function propArgs(props: Record<string, string> | undefined): string[] {
  return Object.entries(props ?? {}).flatMap(([k, v]) => ['-X', `${k}=${v}`]);
}

/**
 * Produce one record per line. Rejects unless kcat exits 0, which kcat only does when every
 * record got a successful delivery report (a failed delivery makes it exit 1).
 */
export async function kcatProduce(
  bootstrap: string,
  topic: string,
  lines: readonly string[],
  opts: KcatProduceOptions = {},
): Promise<KcatResult> {
  for (const line of lines) {
    // kcat splits its input on '\n': a line containing one would silently become two records.
    if (line.includes('\n')) throw new Error(`kcatProduce: a line contains '\\n': ${JSON.stringify(line)}`);
    // kcat skips empty input lines entirely, so they can't be produced this way.
    if (line.length === 0) throw new Error('kcatProduce: kcat drops empty lines; produce non-empty values');
  }
  const args = ['-P', '-b', bootstrap, '-t', topic];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  if (opts.keyDelimiter !== undefined) args.push('-K', opts.keyDelimiter);
  if (opts.compression !== undefined) args.push('-X', `compression.codec=${opts.compression}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  args.push(...propArgs(opts.props));
  const input = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  const r = await kcat(args, { input, timeoutMs: opts.timeoutMs });
  if (r.code !== 0) throw new Error(describeRun(`kcat ${args.join(' ')}`, r));
  return r;
}

export interface KcatConsumeOptions {
  /** Stop after this many records (kcat -c); kcat also stops at the end of the partition(s). */
  count?: number;
  /** kcat -f output format; default '%s\n' (one value per line). */
  format?: string;
  partition?: number;
  /** 'beginning' (default), 'end', an absolute offset, or any other kcat -o expression. */
  offset?: 'beginning' | 'end' | number | bigint | string;
  props?: Record<string, string>;
  timeoutMs?: number;
}

export interface KcatConsumeResult extends KcatResult {
  /** stdout split on '\n', without the empty string after the final newline. */
  lines: string[];
}

function consumeArgs(bootstrap: string, topic: string, opts: KcatConsumeOptions): string[] {
  // -e: exit once the end of every assigned partition is reached, so the call is bounded by the
  // data present rather than by a timeout.
  const args = ['-C', '-b', bootstrap, '-t', topic, '-e', '-o', String(opts.offset ?? 'beginning')];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  if (opts.count !== undefined) args.push('-c', String(opts.count));
  args.push(...propArgs(opts.props));
  return args;
}

/** Read from `offset` up to the end of the partition(s); rejects unless kcat exits 0. */
export async function kcatConsume(
  bootstrap: string,
  topic: string,
  opts: KcatConsumeOptions = {},
): Promise<KcatConsumeResult> {
  const args = [...consumeArgs(bootstrap, topic, opts), '-f', opts.format ?? '%s\n'];
  const r = await kcat(args, { timeoutMs: opts.timeoutMs });
  if (r.code !== 0) throw new Error(describeRun(`kcat ${args.join(' ')}`, r));
  const text = r.stdout.toString('utf8');
  const lines = text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
  return { ...r, lines };
}

/** One record as kcat's -J envelope describes it. */
export interface KcatRecord {
  topic: string;
  partition: number;
  /** bigint: offsets are 64-bit and JSON numbers lose precision past 2^53. */
  offset: bigint;
  timestampType: 'create' | 'logappend' | 'unknown' | null;
  timestamp: bigint | null;
  key: string | null;
  value: string | null;
  /** Header name/value pairs in record order (names may repeat); null value = null header. */
  headers: Array<[string, string | null]>;
}

/** Like kcatConsume, but returns parsed records (kcat -J): keys, values, offsets, headers, timestamps. */
export async function kcatConsumeRecords(
  bootstrap: string,
  topic: string,
  opts: Omit<KcatConsumeOptions, 'format'> = {},
): Promise<KcatRecord[]> {
  const args = [...consumeArgs(bootstrap, topic, opts), '-J'];
  const r = await kcat(args, { timeoutMs: opts.timeoutMs });
  if (r.code !== 0) throw new Error(describeRun(`kcat ${args.join(' ')}`, r));
  return parseKcatJson(r.stdout.toString('utf8'));
}

/** Parse kcat -J output (one JSON object per line). Exported for the helpers' own tests. */
export function parseKcatJson(text: string): KcatRecord[] {
  const records: KcatRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const j = JSON.parse(line) as {
      topic: string;
      partition: number;
      tstype?: 'create' | 'logappend' | 'unknown';
      key: string | null;
      payload: string | null;
      headers?: Array<string | null>;
    };
    // Re-read the 64-bit integers from the text: JSON.parse would round them to doubles.
    const offset = /"offset":(-?\d+)/.exec(line);
    const ts = /"ts":(-?\d+)/.exec(line);
    if (!offset) throw new Error(`kcat -J line without an offset: ${line}`);
    const headers: Array<[string, string | null]> = [];
    const h = j.headers ?? [];
    for (let i = 0; i + 1 < h.length; i += 2) headers.push([String(h[i]), h[i + 1] ?? null]);
    records.push({
      topic: j.topic,
      partition: j.partition,
      offset: BigInt(offset[1]!),
      timestampType: j.tstype ?? null,
      timestamp: ts ? BigInt(ts[1]!) : null,
      key: j.key,
      value: j.payload,
      headers,
    });
  }
  return records;
}
