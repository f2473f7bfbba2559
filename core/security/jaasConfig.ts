import { StrataError } from '../common/errors';

/**
 * Kafka's sasl.jaas.config value: one JAAS login module entry,
 *
 *   org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="s3cret";
 *
 * a class name, a control flag (required, requisite, sufficient, optional), options as
 * name=value (value quoted with "..." where it holds anything but letters, digits and ._-$),
 * and a closing ';'. Parsed as Kafka's JaasConfig does, with one entry only.
 */
export interface JaasEntry {
  loginModule: string;
  controlFlag: 'required' | 'requisite' | 'sufficient' | 'optional';
  options: Map<string, string>;
}

const FLAGS = new Set(['required', 'requisite', 'sufficient', 'optional']);

export function parseJaasConfig(text: string, what = 'sasl.jaas.config'): JaasEntry {
  const tokens = tokenize(text, what);
  const fail = (why: string): never => {
    throw new StrataError('CONFIG_INVALID', `Invalid ${what}: ${why}. Expected e.g. org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="...";`);
  };
  let i = 0;
  const next = (): Token | undefined => tokens[i++];
  const module = next();
  if (module === undefined || module.quoted) fail('no login module class');
  const flag = next();
  if (flag === undefined || flag.quoted || !FLAGS.has(flag.text.toLowerCase())) fail(`'${flag?.text ?? ''}' is not a control flag (required, requisite, sufficient, optional)`);
  const options = new Map<string, string>();
  for (;;) {
    const t = next();
    if (t === undefined) fail("missing ';' at the end");
    if (!t!.quoted && t!.text === ';') break;
    const eq = next();
    const value = next();
    if (t!.quoted || eq === undefined || eq.quoted || eq.text !== '=' || value === undefined) fail(`expected name=value, found '${t!.text}'`);
    options.set(t!.text, value!.text);
  }
  if (i < tokens.length) fail('more than one login module (sasl.jaas.config takes exactly one)');
  return { loginModule: module!.text, controlFlag: flag!.text.toLowerCase() as JaasEntry['controlFlag'], options };
}

interface Token {
  text: string;
  quoted: boolean;
}

function tokenize(text: string, what: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '=' || c === ';') {
      out.push({ text: c, quoted: false });
      i++;
    } else if (c === '"') {
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new StrataError('CONFIG_INVALID', `Invalid ${what}: a quoted value is not closed`);
        const d = text[i++];
        if (d === '"') break;
        if (d === '\\' && i < text.length) s += text[i++];
        else s += d;
      }
      out.push({ text: s, quoted: true });
    } else {
      const m = /^[^\s=;"]+/.exec(text.slice(i))!;
      out.push({ text: m[0], quoted: false });
      i += m[0].length;
    }
  }
  return out;
}

/** PlainLoginModule's user_NAME="password" options: the PLAIN users a listener accepts. */
export function plainUsers(entry: JaasEntry): Map<string, string> {
  const users = new Map<string, string>();
  for (const [k, v] of entry.options) if (k.startsWith('user_') && k.length > 5) users.set(k.slice(5), v);
  return users;
}
