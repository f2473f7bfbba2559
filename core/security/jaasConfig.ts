import { StrataError } from '../common/errors';

/**
 * Kafka's sasl.jaas.config value, parsed as Kafka's JaasConfig parses it (a
 * java.io.StreamTokenizer with these rules), so a value that works in a Java client's
 * properties works here and one that fails there fails here too, with Kafka's message:
 *
 *   <loginModuleClass> <controlFlag> (<optionName>=<optionValue>)*;
 *
 * - Characters 0..32 are whitespace (line ends included).
 * - '/' starts a comment to the end of the line; '//' and '/* ... *\/' comments too.
 * - '"' and '\'' quote a value up to the same quote (or the end of the line); inside, a
 *   backslash escapes: \a \b \f \n \r \t \v, up to three octal digits, or the character itself.
 * - ';' and '=' are tokens of their own; every other character from 33 up (except 129..159)
 *   belongs to an unquoted word. So a value with '=', ';', '/', quotes or spaces must be quoted.
 * - The control flag is required, requisite, sufficient or optional, in any case.
 *
 * Kafka takes exactly one login module from sasl.jaas.config (parseJaasEntry checks that).
 * Clients read their sasl.jaas.config with it, and brokers their listener.name.*.sasl.jaas.config.
 */

export type ControlFlag = 'required' | 'requisite' | 'sufficient' | 'optional';

export interface JaasEntry {
  loginModule: string;
  controlFlag: ControlFlag;
  /** Option values as written (unquoted, escapes resolved). */
  options: Map<string, string>;
}

type Token = { kind: 'word' | 'quoted'; value: string } | { kind: 'char'; char: string } | { kind: 'eof' };

class Tokenizer {
  private i = 0;
  constructor(private readonly s: string) {}

  next(): Token {
    const s = this.s;
    for (;;) {
      if (this.i >= s.length) return { kind: 'eof' };
      const c = s.charCodeAt(this.i);
      if (c <= 32) {
        this.i++;
        continue;
      }
      if (s[this.i] === '/') {
        if (s[this.i + 1] === '*') {
          const end = s.indexOf('*/', this.i + 2);
          this.i = end < 0 ? s.length : end + 2;
        } else {
          // '//' or a lone '/' (a comment character): to the end of the line.
          while (this.i < s.length && s[this.i] !== '\n' && s[this.i] !== '\r') this.i++;
        }
        continue;
      }
      if (s[this.i] === '"' || s[this.i] === "'") return this.quoted(s[this.i]);
      if (isWordChar(c)) {
        const start = this.i;
        while (this.i < s.length && isWordChar(s.charCodeAt(this.i))) this.i++;
        return { kind: 'word', value: s.slice(start, this.i) };
      }
      this.i++;
      return { kind: 'char', char: s[this.i - 1] };
    }
  }

  private quoted(quote: string): Token {
    const s = this.s;
    this.i++;
    let out = '';
    while (this.i < s.length) {
      const ch = s[this.i];
      if (ch === quote) {
        this.i++;
        break;
      }
      if (ch === '\n' || ch === '\r') break; // an unterminated quote ends at the line's end, as StreamTokenizer's
      this.i++;
      if (ch !== '\\' || this.i >= s.length) {
        out += ch;
        continue;
      }
      const e = s[this.i++];
      const simple = ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
      } else if (e >= '0' && e <= '7') {
        let n = e.charCodeAt(0) - 48;
        const max = e <= '3' ? 2 : 1;
        for (let k = 0; k < max && this.i < s.length && s[this.i] >= '0' && s[this.i] <= '7'; k++) n = n * 8 + (s.charCodeAt(this.i++) - 48);
        out += String.fromCharCode(n);
      } else {
        out += e;
      }
    }
    return { kind: 'quoted', value: out };
  }
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

function isWordChar(c: number): boolean {
  if (c <= 32) return false;
  if (c === 0x3b /* ; */ || c === 0x3d /* = */ || c === 0x2f /* / */ || c === 0x22 /* " */ || c === 0x27 /* ' */) return false;
  return c <= 128 || c >= 160;
}

const valueOf = (t: Token): string | null => (t.kind === 'word' || t.kind === 'quoted' ? t.value : null);

/** Every login module entry of a JAAS config value. Throws CONFIG_INVALID with Kafka's message, prefixed by `what`. */
export function parseJaasConfig(text: string, what = 'sasl.jaas.config'): JaasEntry[] {
  const invalid = (message: string): never => {
    throw new StrataError('CONFIG_INVALID', `${what}: ${message}`);
  };
  const tokens = new Tokenizer(text);
  const entries: JaasEntry[] = [];
  for (let t = tokens.next(); t.kind !== 'eof'; t = tokens.next()) entries.push(parseEntry(t, tokens, invalid));
  if (entries.length === 0) invalid('Login module not specified in JAAS config');
  return entries;
}

/** The one login module entry a sasl.jaas.config value must hold, as Kafka's JaasContext requires. */
export function parseJaasEntry(text: string, what = 'sasl.jaas.config'): JaasEntry {
  const entries = parseJaasConfig(text, what);
  if (entries.length !== 1) throw new StrataError('CONFIG_INVALID', `${what}: JAAS config property contains ${entries.length} login modules, should be 1 module`);
  return entries[0];
}

function parseEntry(first: Token, tokens: Tokenizer, invalid: (message: string) => never): JaasEntry {
  const loginModule = valueOf(first);
  if (loginModule === null) invalid(`expected a login module class name, found '${first.kind === 'char' ? first.char : ''}'`);
  const flagToken = tokens.next();
  if (flagToken.kind === 'eof') invalid('Login module control flag not specified in JAAS config');
  const flag = valueOf(flagToken);
  if (flag === null) invalid('Login module control flag is not available in the JAAS config');
  const controlFlag = flag.toLowerCase();
  if (controlFlag !== 'required' && controlFlag !== 'requisite' && controlFlag !== 'sufficient' && controlFlag !== 'optional') {
    invalid(`Invalid login module control flag '${flag}' in JAAS config`);
  }
  const options = new Map<string, string>();
  let t = tokens.next();
  for (; t.kind !== 'eof' && !(t.kind === 'char' && t.char === ';'); t = tokens.next()) {
    const key = valueOf(t);
    const eq = tokens.next();
    const v = eq.kind === 'char' && eq.char === '=' ? tokens.next() : null;
    const value = v === null ? null : valueOf(v);
    if (key === null || value === null) {
      // Kafka's message, plus the usual cause.
      invalid(`Value not specified for key '${key ?? (t.kind === 'char' ? t.char : '')}' in JAAS config (a value containing '=', ';', '/', quotes or spaces must be quoted: password="a=b")`);
    }
    options.set(key, value);
  }
  if (t.kind === 'eof') invalid('JAAS config entry not terminated by semi-colon');
  return { loginModule, controlFlag, options };
}

export const PLAIN_LOGIN_MODULE = 'org.apache.kafka.common.security.plain.PlainLoginModule';
export const SCRAM_LOGIN_MODULE = 'org.apache.kafka.common.security.scram.ScramLoginModule';

/**
 * The one login module a client's sasl.jaas.config must hold (Kafka: "JAAS config property
 * contains N login modules, should be 1 module"), with its username and password. Either
 * Kafka login module works with any of PLAIN and SCRAM: both hand the client its username and
 * password, as they do in Kafka.
 */
export function clientCredentialsFromJaas(text: string): { loginModule: string; username: string; password: string } {
  const e = parseJaasEntry(text);
  if (e.loginModule !== PLAIN_LOGIN_MODULE && e.loginModule !== SCRAM_LOGIN_MODULE) {
    const what = /OAuthBearer/i.test(e.loginModule)
      ? 'SASL/OAUTHBEARER is not supported'
      : /Krb5|Kerberos/i.test(e.loginModule)
        ? 'SASL/GSSAPI (Kerberos) is not supported'
        : `login module ${e.loginModule} is not supported`;
    invalid(`${what}; use ${SCRAM_LOGIN_MODULE} (SCRAM-SHA-256, SCRAM-SHA-512) or ${PLAIN_LOGIN_MODULE} (PLAIN)`);
  }
  if ((e.options.get('tokenauth') ?? '').toLowerCase() === 'true') invalid('tokenauth=true (delegation tokens) is not supported');
  const username = e.options.get('username');
  const password = e.options.get('password');
  if (username === undefined || username === '') invalid(`${shortName(e.loginModule)} has no username option (username="..." password="...")`);
  if (password === undefined || password === '') invalid(`${shortName(e.loginModule)} has no password option (username="..." password="...")`);
  return { loginModule: e.loginModule, username, password };
}

function invalid(message: string): never {
  throw new StrataError('CONFIG_INVALID', `sasl.jaas.config: ${message}`);
}

function shortName(cls: string): string {
  return cls.slice(cls.lastIndexOf('.') + 1);
}

/** PlainLoginModule's user_NAME="password" options: the PLAIN users a broker's listener accepts. */
export function plainUsers(entry: JaasEntry): Map<string, string> {
  const users = new Map<string, string>();
  for (const [k, v] of entry.options) if (k.startsWith('user_') && k.length > 5) users.set(k.slice(5), v);
  return users;
}
