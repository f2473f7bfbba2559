/**
 * SASL PLAIN's message (core/security/saslPlain.ts): RFC 4616's three fields with Kafka's
 * checks, bounded in size, and the constant-time password comparison.
 */
import { isStrataError } from '../../core/common/errors';
import { MAX_PLAIN_MESSAGE_BYTES, parsePlain, passwordMatches } from '../../core/security/saslPlain';

const msg = (...parts: string[]): Buffer => Buffer.from(parts.join('\u0000'), 'utf8');

function refused(m: Buffer): string {
  try {
    parsePlain(m);
  } catch (e) {
    expect(isStrataError(e, 'SASL_AUTHENTICATION_FAILED')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

test('authzid, user and password; an empty authzid or one equal to the user', () => {
  expect(parsePlain(msg('', 'alice', 'secret'))).toEqual({ authzid: '', user: 'alice', password: 'secret' });
  expect(parsePlain(msg('alice', 'alice', 'pä$$ wörd'))).toEqual({ authzid: 'alice', user: 'alice', password: 'pä$$ wörd' });
});

test('Kafka\'s refusals, and malformed or oversized messages', () => {
  expect(refused(msg('bob', 'alice', 'secret'))).toMatch(/authorization id that is different from username/);
  expect(refused(msg('', '', 'secret'))).toMatch(/username not specified/);
  expect(refused(msg('', 'alice', ''))).toMatch(/password not specified/);
  expect(refused(msg('alice', 'secret'))).toMatch(/expected 3 tokens/);
  expect(refused(msg('', 'alice', 'se', 'cret'))).toMatch(/expected 3 tokens/);
  expect(refused(Buffer.alloc(0))).toMatch(/expected 3 tokens/);
  expect(refused(Buffer.concat([Buffer.from([0]), Buffer.from('alice'), Buffer.from([0, 0xc3])]))).toMatch(/not UTF-8/);
  expect(refused(msg('', 'alice', 'x'.repeat(MAX_PLAIN_MESSAGE_BYTES)))).toMatch(/at most/);
});

test('passwords compare equal only when equal, whatever their lengths', () => {
  expect(passwordMatches('secret', 'secret')).toBe(true);
  expect(passwordMatches('secret', 'secreT')).toBe(false);
  expect(passwordMatches('secret', 'secret-longer')).toBe(false);
  expect(passwordMatches('', 'x')).toBe(false);
});
