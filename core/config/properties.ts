import { StrataError } from '../common/errors';

/**
 * A reader for Java .properties files, so a Kafka server.properties works unchanged: '#' and
 * '!' comments, `key=value`, `key: value` and `key value`, backslash line continuations, and
 * the \t \n \r \f \uXXXX escapes. Later duplicates win, as in java.util.Properties.
 */
export interface PropertyLine {
  key: string;
  value: string;
  /** 1-based line where the entry starts, for error messages. */
  line: number;
}

export function parseProperties(text: string): PropertyLine[] {
  const physical = text.split(/\r\n|\r|\n/);
  const out: PropertyLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    const start = i;
    let logical = stripLeadingWhitespace(physical[i]);
    if (logical === '' || logical[0] === '#' || logical[0] === '!') continue;
    // A line ending in an odd number of backslashes continues on the next line, whose
    // leading whitespace is dropped.
    while (endsWithOddBackslashes(logical) && i + 1 < physical.length) {
      i++;
      logical = logical.slice(0, -1) + stripLeadingWhitespace(physical[i]);
    }
    if (endsWithOddBackslashes(logical)) logical = logical.slice(0, -1);
    const { key, value } = splitKeyValue(logical, start + 1);
    out.push({ key, value, line: start + 1 });
  }
  return out;
}

/** The parsed file as a record (later duplicates win). */
export function propertiesToRecord(lines: PropertyLine[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of lines) out[key] = value;
  return out;
}

function stripLeadingWhitespace(s: string): string {
  return s.replace(/^[ \t\f]+/, '');
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

function splitKeyValue(s: string, line: number): { key: string; value: string } {
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '=' || c === ':' || c === ' ' || c === '\t' || c === '\f') break;
    i++;
  }
  const rawKey = s.slice(0, i);
  while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\f')) i++;
  if (i < s.length && (s[i] === '=' || s[i] === ':')) i++;
  while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\f')) i++;
  return { key: unescape(rawKey, line), value: unescape(s.slice(i), line) };
}

const SIMPLE_ESCAPES: Record<string, string> = { t: '\t', n: '\n', r: '\r', f: '\f' };

function unescape(s: string, line: number): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\' || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const next = s[++i];
    if (next === 'u') {
      const hex = s.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new StrataError('CONFIG_INVALID', `Malformed \\uxxxx escape in properties file at line ${line}`);
      }
      out += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else {
      out += SIMPLE_ESCAPES[next] ?? next;
    }
  }
  return out;
}
