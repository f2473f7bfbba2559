import { StrataError } from '../common/errors';
import { UsageError } from './args';

/**
 * Turns one input line of `strata console-producer` into a record, with the `--property`
 * settings of Kafka's console producer (its LineMessageReader), so that scripts written for
 * kafka-console-producer.sh keep working:
 *
 *   parse.headers=true, parse.key=true:  h1:v1,h2:v2<TAB>key<TAB>value
 *
 * - parse.key (false), key.separator ('\t')
 * - parse.headers (false), headers.delimiter ('\t', ends the header list),
 *   headers.separator (',', between headers; a literal string here, where Kafka compiles it
 *   as a regex), headers.key.separator (':')
 * - ignore.error (false): a missing separator makes the key (or headers) absent instead of
 *   failing
 * - null.marker (unset): a key, value or header value equal to it becomes null
 *
 * Work is on bytes: separators are matched as UTF-8 byte strings, so keys and values pass
 * through unchanged whatever their encoding.
 */

export interface LineParserConfig {
  parseKey: boolean;
  keySeparator: Buffer;
  parseHeaders: boolean;
  headersDelimiter: Buffer;
  headersSeparator: Buffer;
  headersKeySeparator: Buffer;
  ignoreError: boolean;
  nullMarker: Buffer | null;
}

export interface ParsedRecordLine {
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<{ key: string; value: Buffer | null }>;
}

/** The reader properties this parser understands (others are rejected, with a hint). */
export const LINE_PARSER_PROPERTIES = [
  'parse.key',
  'key.separator',
  'parse.headers',
  'headers.delimiter',
  'headers.separator',
  'headers.key.separator',
  'ignore.error',
  'null.marker',
] as const;

function isTrue(v: string | undefined): boolean {
  return v !== undefined && v.trim().toLowerCase() === 'true';
}

/** Builds the config from `--property k=v` pairs; conflicting separators are usage errors. */
export function lineParserConfig(props: ReadonlyMap<string, string>): LineParserConfig {
  const get = (k: string, dflt: string): string => props.get(k) ?? dflt;
  const keySeparator = get('key.separator', '\t');
  const headersDelimiter = get('headers.delimiter', '\t');
  const headersSeparator = get('headers.separator', ',');
  const headersKeySeparator = get('headers.key.separator', ':');
  const nullMarker = props.get('null.marker');
  for (const [name, v] of [
    ['key.separator', keySeparator],
    ['headers.delimiter', headersDelimiter],
    ['headers.separator', headersSeparator],
    ['headers.key.separator', headersKeySeparator],
  ] as const) {
    if (v.length === 0) throw new UsageError(`--property ${name} must not be empty`);
  }
  const distinct: Array<[string, string, string, string]> = [
    ['headers.delimiter', headersDelimiter, 'headers.separator', headersSeparator],
    ['headers.delimiter', headersDelimiter, 'headers.key.separator', headersKeySeparator],
    ['headers.separator', headersSeparator, 'headers.key.separator', headersKeySeparator],
  ];
  if (nullMarker !== undefined) {
    distinct.push(
      ['null.marker', nullMarker, 'key.separator', keySeparator],
      ['null.marker', nullMarker, 'headers.separator', headersSeparator],
      ['null.marker', nullMarker, 'headers.delimiter', headersDelimiter],
      ['null.marker', nullMarker, 'headers.key.separator', headersKeySeparator],
    );
  }
  for (const [a, av, b, bv] of distinct) {
    if (av === bv) throw new UsageError(`--property ${a} and ${b} may not be equal`);
  }
  return {
    parseKey: isTrue(props.get('parse.key')),
    keySeparator: Buffer.from(keySeparator),
    parseHeaders: isTrue(props.get('parse.headers')),
    headersDelimiter: Buffer.from(headersDelimiter),
    headersSeparator: Buffer.from(headersSeparator),
    headersKeySeparator: Buffer.from(headersKeySeparator),
    ignoreError: isTrue(props.get('ignore.error')),
    nullMarker: nullMarker === undefined ? null : Buffer.from(nullMarker),
  };
}

/** Parses one line (without its newline). `lineNumber` (1-based) is for error messages. */
export function parseRecordLine(line: Buffer, lineNumber: number, cfg: LineParserConfig): ParsedRecordLine {
  let rest = 0;
  let headers: ParsedRecordLine['headers'] = [];
  if (cfg.parseHeaders) {
    const end = line.indexOf(cfg.headersDelimiter);
    if (end < 0) {
      if (!cfg.ignoreError) throw missing('headers delimiter', line, lineNumber);
    } else {
      const raw = line.subarray(0, end);
      if (!isNull(raw, cfg)) headers = parseHeaders(raw, lineNumber, cfg);
      rest = end + cfg.headersDelimiter.length;
    }
  }
  let key: Buffer | null = null;
  if (cfg.parseKey) {
    const end = line.indexOf(cfg.keySeparator, rest);
    if (end < 0) {
      if (!cfg.ignoreError) throw missing('key separator', line, lineNumber);
    } else {
      key = nullable(line.subarray(rest, end), cfg);
      rest = end + cfg.keySeparator.length;
    }
  }
  return { key, value: nullable(line.subarray(rest), cfg), headers };
}

function parseHeaders(raw: Buffer, lineNumber: number, cfg: LineParserConfig): ParsedRecordLine['headers'] {
  const out: ParsedRecordLine['headers'] = [];
  let start = 0;
  for (;;) {
    const sep = raw.indexOf(cfg.headersSeparator, start);
    const pair = raw.subarray(start, sep < 0 ? raw.length : sep);
    const kv = pair.indexOf(cfg.headersKeySeparator);
    if (kv < 0) {
      if (!cfg.ignoreError) {
        throw new StrataError('INPUT_INVALID', `No header key separator found in pair '${pair.toString()}' on line number ${lineNumber}`);
      }
      out.push({ key: pair.toString(), value: null });
    } else {
      const key = pair.subarray(0, kv);
      if (isNull(key, cfg)) {
        throw new StrataError('INPUT_INVALID', `Header keys should not be equal to the null marker '${cfg.nullMarker!.toString()}' as they can't be null`);
      }
      out.push({ key: key.toString(), value: nullable(pair.subarray(kv + cfg.headersKeySeparator.length), cfg) });
    }
    if (sep < 0) break;
    start = sep + cfg.headersSeparator.length;
  }
  return out;
}

function isNull(b: Buffer, cfg: LineParserConfig): boolean {
  return cfg.nullMarker !== null && b.equals(cfg.nullMarker);
}

function nullable(b: Buffer, cfg: LineParserConfig): Buffer | null {
  return isNull(b, cfg) ? null : b;
}

function missing(what: string, line: Buffer, lineNumber: number): StrataError {
  // Kafka's wording, so existing scripts that grep for it keep working.
  return new StrataError('INPUT_INVALID', `No ${what} found on line number ${lineNumber}: '${line.toString()}'`);
}
