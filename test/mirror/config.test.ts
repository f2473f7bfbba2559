/**
 * functions/mirror/config.ts: the Lambda's environment, parsed once at cold start; anything
 * unknown or invalid is an error naming the variable. Secrets are fetched once per ARN.
 */
import { MIRROR_ENV_VARS, parseMirrorEnv, parseSaslSecret, resolveMirrorConfig } from '../../functions/mirror/config';

const base = { MIRROR_TARGET_BOOTSTRAP_SERVERS: 't1:9092, t2:9092', MIRROR_SOURCE_ALIAS: 'east' };
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

test('the two required variables, and the defaults', () => {
  expect(parseMirrorEnv({ ...base, PATH: '/bin' })).toEqual({
    sourceAlias: 'east',
    naming: 'prefixed',
    offsetPreserving: false,
    target: { bootstrapServers: ['t1:9092', 't2:9092'], protocol: 'PLAINTEXT' },
    source: { bootstrapServers: [], protocol: 'PLAINTEXT' },
  });
});

test('naming, offset-preserving and a source bootstrap', () => {
  const env = parseMirrorEnv({ ...base, MIRROR_TOPIC_NAMING: 'identity', MIRROR_OFFSET_PRESERVING: 'TRUE', MIRROR_SOURCE_BOOTSTRAP_SERVERS: 's:9092' });
  expect(env).toMatchObject({ naming: 'identity', offsetPreserving: true, source: { bootstrapServers: ['s:9092'] } });
});

test.each([
  [{ MIRROR_SOURCE_ALIAS: 'east' }, 'MIRROR_TARGET_BOOTSTRAP_SERVERS is required'],
  [{ MIRROR_TARGET_BOOTSTRAP_SERVERS: 't:9092' }, 'MIRROR_SOURCE_ALIAS is required'],
  [{ ...base, MIRROR_SOURCE_ALIAS: 'us.east' }, "MIRROR_SOURCE_ALIAS: the source alias must be"],
  [{ ...base, MIRROR_TOPIC_NAMING: 'flat' }, 'MIRROR_TOPIC_NAMING must be prefixed or identity'],
  [{ ...base, MIRROR_OFFSET_PRESERVING: 'yes' }, 'MIRROR_OFFSET_PRESERVING must be true or false'],
  [{ ...base, MIRROR_TARGET_BOOTSTRAP_SERVERS: 'nohost' }, "'nohost' is not host:port"],
  [{ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'TLS' }, 'MIRROR_TARGET_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL'],
  [{ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL', MIRROR_TARGET_SASL_USERNAME: 'u', MIRROR_TARGET_SASL_PASSWORD: 'p' }, 'MIRROR_TARGET_SASL_MECHANISM is required with SASL_SSL'],
  [{ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL', MIRROR_TARGET_SASL_MECHANISM: 'GSSAPI', MIRROR_TARGET_SASL_USERNAME: 'u', MIRROR_TARGET_SASL_PASSWORD: 'p' }, 'MIRROR_TARGET_SASL_MECHANISM must be one of PLAIN'],
  [{ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL', MIRROR_TARGET_SASL_MECHANISM: 'SCRAM-SHA-512' }, 'SASL_SSL needs credentials'],
  [
    { ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL', MIRROR_TARGET_SASL_MECHANISM: 'PLAIN', MIRROR_TARGET_SASL_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:x', MIRROR_TARGET_SASL_USERNAME: 'u' },
    'give either MIRROR_TARGET_SASL_SECRET_ARN or',
  ],
  [{ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL', MIRROR_TARGET_SASL_MECHANISM: 'PLAIN', MIRROR_TARGET_SASL_SECRET_ARN: 'my-secret' }, 'must be a Secrets Manager secret ARN'],
  [{ ...base, MIRROR_TARGET_SASL_USERNAME: 'u' }, 'MIRROR_TARGET_SASL_USERNAME set but MIRROR_TARGET_SECURITY_PROTOCOL is PLAINTEXT'],
  [{ ...base, MIRROR_SOURCE_SSL_CA_PEM: PEM }, 'MIRROR_SOURCE_SSL_CA_PEM is set but MIRROR_SOURCE_SECURITY_PROTOCOL is PLAINTEXT'],
  [{ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SSL', MIRROR_TARGET_SSL_CA_PEM: '/etc/ca.pem' }, 'must hold PEM certificate(s)'],
  [{ ...base, MIRROR_TARGET_BOOTSTRAP_SERVER: 'x:1' }, 'unknown variable MIRROR_TARGET_BOOTSTRAP_SERVER; did you mean MIRROR_TARGET_BOOTSTRAP_SERVERS?'],
])('invalid: %o', (env, message) => {
  expect(() => parseMirrorEnv(env)).toThrow(message);
});

test('every documented variable is known', () => {
  expect(MIRROR_ENV_VARS).toHaveLength(17);
});

test('security: TLS with a CA, SASL from the environment or from one secret fetch per ARN', async () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:mirror-abc';
  const env = parseMirrorEnv({
    ...base,
    MIRROR_TARGET_SECURITY_PROTOCOL: 'sasl_ssl',
    MIRROR_TARGET_SASL_MECHANISM: 'scram-sha-512',
    MIRROR_TARGET_SASL_SECRET_ARN: arn,
    MIRROR_TARGET_SSL_CA_PEM: PEM,
    MIRROR_SOURCE_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
    MIRROR_SOURCE_SASL_MECHANISM: 'SCRAM-SHA-512',
    MIRROR_SOURCE_SASL_SECRET_ARN: arn,
  });
  const fetches: string[] = [];
  const config = await resolveMirrorConfig(env, async (a) => {
    fetches.push(a);
    return { username: 'mirror', password: 's3cret' };
  });
  expect(fetches).toEqual([arn]);
  expect(config.target).toEqual({
    bootstrapServers: ['t1:9092', 't2:9092'],
    security: { protocol: 'SASL_SSL', tls: { ca: PEM.trim() }, sasl: { mechanism: 'SCRAM-SHA-512', username: 'mirror', password: 's3cret' } },
  });
  expect(config.source.security).toEqual({ protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'SCRAM-SHA-512', username: 'mirror', password: 's3cret' } });

  const local = await resolveMirrorConfig(
    parseMirrorEnv({ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', MIRROR_TARGET_SASL_MECHANISM: 'PLAIN', MIRROR_TARGET_SASL_USERNAME: 'u', MIRROR_TARGET_SASL_PASSWORD: 'p' }),
    () => Promise.reject(new Error('no secret expected')),
  );
  const oneLine = await resolveMirrorConfig(parseMirrorEnv({ ...base, MIRROR_TARGET_SECURITY_PROTOCOL: 'SSL', MIRROR_TARGET_SSL_CA_PEM: PEM.trim().replace(/\n/g, '\\n') }), () => Promise.reject(new Error('none')));
  expect(oneLine.target.security).toEqual({ protocol: 'SSL', tls: { ca: PEM.trim() } });
  expect(local.target.security).toEqual({ protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } });
});

test('a secret must be JSON {username, password}; its text is never echoed', () => {
  expect(parseSaslSecret('arn:s', '{"username":"u","password":"p"}')).toEqual({ username: 'u', password: 'p' });
  expect(() => parseSaslSecret('arn:s', 'hunter2')).toThrow(/secret arn:s is not JSON/);
  expect(() => parseSaslSecret('arn:s', 'hunter2')).not.toThrow(/hunter2/);
  expect(() => parseSaslSecret('arn:s', '{"user":"u"}')).toThrow(/"username" and "password"/);
  expect(() => parseSaslSecret('arn:s', undefined)).toThrow(/"username" and "password"/);
});
