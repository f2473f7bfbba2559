import { X509Certificate } from 'node:crypto';
import { StrataError } from '../common/errors';

/**
 * The principal of a TLS client certificate, as Kafka's DefaultKafkaPrincipalBuilder and
 * SslPrincipalMapper make it: the subject's distinguished name in RFC 2253 form (most
 * specific first: "CN=alice,OU=eng,O=Example,C=US"), rewritten by ssl.principal.mapping.rules.
 *
 * Rules are tried in order; the first whose pattern matches the whole name gives the
 * principal's name:
 *   RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/      → alice
 *   RULE:^CN=(.*?),.*$/$1/L                    → the CN, lower-cased (U: upper-cased)
 *   DEFAULT                                    → the whole name unchanged
 * A name no rule matches fails the connection, as in Kafka.
 */
export interface MappingRule {
  /** null for DEFAULT. */
  pattern: RegExp | null;
  replacement: string;
  caseFold: '' | 'L' | 'U';
}

const RULE = /^\s*(?:RULE:((?:\\.|[^\\/])*)\/((?:\\.|[^\\/])*)\/([LU]?)|(DEFAULT))\s*(?:,|$)/;

export function parseMappingRules(rules: string): MappingRule[] {
  const out: MappingRule[] = [];
  let rest = rules.trim();
  if (rest === '') return [{ pattern: null, replacement: '', caseFold: '' }];
  while (rest !== '') {
    const m = RULE.exec(rest);
    if (m === null || m[0] === '') {
      throw new StrataError('CONFIG_INVALID', `Invalid rule in ssl.principal.mapping.rules at '${rest}': expected RULE:pattern/replacement/[LU] or DEFAULT, separated by commas.`);
    }
    if (m[4] !== undefined) out.push({ pattern: null, replacement: '', caseFold: '' });
    else {
      let pattern: RegExp;
      try {
        pattern = new RegExp(`^(?:${m[1]})$`);
      } catch (e) {
        throw new StrataError('CONFIG_INVALID', `Invalid pattern in ssl.principal.mapping.rules: ${m[1]}: ${(e as Error).message}`);
      }
      out.push({ pattern, replacement: m[2].replace(/\\(.)/g, '$1'), caseFold: m[3] as MappingRule['caseFold'] });
    }
    rest = rest.slice(m[0].length).trim();
  }
  return out;
}

/** The principal name for a distinguished name; throws SSL_AUTHENTICATION_FAILED when no rule matches. */
export function mapPrincipalName(dn: string, rules: readonly MappingRule[]): string {
  for (const r of rules) {
    if (r.pattern === null) return dn;
    const m = r.pattern.exec(dn);
    if (m === null) continue;
    // Java's replaceAll on the whole match: $n refers to the pattern's groups.
    const name = r.replacement.replace(/\$(\d)/g, (_, d: string) => m[Number(d)] ?? '');
    return r.caseFold === 'L' ? name.toLowerCase() : r.caseFold === 'U' ? name.toUpperCase() : name;
  }
  throw new StrataError('SSL_AUTHENTICATION_FAILED', `No rule of ssl.principal.mapping.rules applies to ${dn}`);
}

/** A certificate's subject in RFC 2253 form (Java's X500Principal.getName()). */
export function subjectDistinguishedName(der: Buffer): string {
  const cert = new X509Certificate(der);
  // Node lists the subject's attributes one per line, in certificate order (least specific
  // first), values already escaped as RFC 2253 asks (a comma in a value comes as a backslash and a comma).
  return cert.subject
    .split('\n')
    .filter((l) => l !== '')
    .reverse()
    .join(',');
}
