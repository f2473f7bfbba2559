/**
 * The principal of a TLS client certificate: its subject in RFC 2253 form (Java's
 * X500Principal.getName(), most specific first), rewritten by ssl.principal.mapping.rules with
 * Kafka's rule syntax. Certificates are made with openssl.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapPrincipalName, parseMappingRules, subjectDistinguishedName } from '../../core/security/sslPrincipal';
import { isStrataError } from '../../core/common/errors';
import { errorOf } from '../helpers/errorOf';

function selfSigned(subject: string): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-dn-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-subj', subject, '-days', '1', '-outform', 'DER', '-out', 'c.der'], {
      cwd: dir,
      stdio: 'pipe',
    });
    return fs.readFileSync(path.join(dir, 'c.der'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('the subject in RFC 2253 order, special characters escaped', () => {
  expect(subjectDistinguishedName(selfSigned('/C=US/O=Example/OU=eng/CN=alice'))).toBe('CN=alice,OU=eng,O=Example,C=US');
  expect(subjectDistinguishedName(selfSigned('/O=Acme, Inc./CN=bob'))).toBe('CN=bob,O=Acme\\, Inc.');
});

test('rules: the first that matches the whole name wins; L and U fold case; DEFAULT keeps the name', () => {
  const rules = parseMappingRules('RULE:^CN=([^,]+),OU=ServiceUsers,.*$/svc-$1/, RULE:^CN=([^,]+),.*$/$1/L, DEFAULT');
  expect(mapPrincipalName('CN=Kafka,OU=ServiceUsers,O=Example', rules)).toBe('svc-Kafka');
  expect(mapPrincipalName('CN=Alice,OU=eng,O=Example', rules)).toBe('alice');
  expect(mapPrincipalName('O=NoCommonName', rules)).toBe('O=NoCommonName');
  expect(mapPrincipalName('CN=x,O=y', parseMappingRules('RULE:^CN=(.*?),O=(.*)$/$2@$1/U'))).toBe('Y@X');
  expect(mapPrincipalName('CN=x', parseMappingRules(''))).toBe('CN=x');
});

test('a name no rule matches is refused; malformed rules are refused at load', () => {
  const e = errorOf(() => mapPrincipalName('O=Other', parseMappingRules('RULE:^CN=(.*)$/$1/')));
  expect(isStrataError(e, 'SSL_AUTHENTICATION_FAILED')).toBe(true);
  expect(e.message).toBe('No rule of ssl.principal.mapping.rules applies to O=Other');
  expect(isStrataError(errorOf(() => parseMappingRules('RULE:^CN=(.*)$/$1')), 'CONFIG_INVALID')).toBe(true);
  expect(isStrataError(errorOf(() => parseMappingRules('RULE:^CN=((.*)$/$1/')), 'CONFIG_INVALID')).toBe(true);
  expect(isStrataError(errorOf(() => parseMappingRules('SOMETHING')), 'CONFIG_INVALID')).toBe(true);
});
