import * as crypto from 'node:crypto';
import { StrataError } from '../common/errors';

/** Longest PLAIN message accepted: authzid, user and password of 255 bytes each, two NULs. */
export const MAX_PLAIN_MESSAGE_BYTES = 3 * 255 + 2;

export interface PlainCredentials {
  /** The authorization id; empty, or equal to `user` (Kafka refuses any other). */
  authzid: string;
  user: string;
  password: string;
}

/**
 * The one message of SASL PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd, UTF-8, no NUL
 * inside a field. As Kafka's PlainSaslServer: the user and password must not be empty, and an
 * authorization id other than the user is refused. Throws SASL_AUTHENTICATION_FAILED.
 */
export function parsePlain(message: Buffer): PlainCredentials {
  if (message.length > MAX_PLAIN_MESSAGE_BYTES) throw new StrataError('SASL_AUTHENTICATION_FAILED', `PLAIN message is ${message.length} bytes (at most ${MAX_PLAIN_MESSAGE_BYTES})`);
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  if (first < 0 || second < 0 || message.indexOf(0, second + 1) >= 0) {
    throw new StrataError('SASL_AUTHENTICATION_FAILED', 'Invalid SASL/PLAIN response: expected 3 tokens');
  }
  const field = (from: number, to: number): string => {
    const bytes = message.subarray(from, to);
    const s = bytes.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(bytes)) throw new StrataError('SASL_AUTHENTICATION_FAILED', 'Invalid SASL/PLAIN response: not UTF-8');
    return s;
  };
  const authzid = field(0, first);
  const user = field(first + 1, second);
  const password = field(second + 1, message.length);
  if (user === '') throw new StrataError('SASL_AUTHENTICATION_FAILED', 'Authentication failed: username not specified');
  if (password === '') throw new StrataError('SASL_AUTHENTICATION_FAILED', 'Authentication failed: password not specified');
  if (authzid !== '' && authzid !== user) throw new StrataError('SASL_AUTHENTICATION_FAILED', 'Authentication failed: Client requested an authorization id that is different from username');
  return { authzid, user, password };
}

/** Compares a password with the expected one in time that does not depend on where they differ. */
export function passwordMatches(given: string, expected: string): boolean {
  // Equal-length digests: timingSafeEqual needs equal lengths, and the lengths must not leak either.
  const a = crypto.createHash('sha256').update(given, 'utf8').digest();
  const b = crypto.createHash('sha256').update(expected, 'utf8').digest();
  return crypto.timingSafeEqual(a, b);
}
