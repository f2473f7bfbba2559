import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { clientCredentialsFromJaas, parseJaasConfig } from '../../core/security/jaasConfig';
import { parseClientSecurity, readClientProperties } from '../../core/client/securityConfig';
import { makeCerts, type TestCerts } from '../helpers/certs';

let dir: string;
let certs: TestCerts;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-secconf-'));
  certs = makeCerts(path.join(dir, 'certs'), { clients: ['alice'] });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function failure(f: () => unknown): StrataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StrataError);
    return e as StrataError;
  }
  throw new Error('expected a failure');
}

const SCRAM = 'org.apache.kafka.common.security.scram.ScramLoginModule';
const PLAIN = 'org.apache.kafka.common.security.plain.PlainLoginModule';

describe('parseJaasConfig (Kafka JaasConfig rules)', () => {
  it('reads the ScramLoginModule form with double-quoted values', () => {
    const [e] = parseJaasConfig(`${SCRAM} required username="alice" password="x";`);
    expect(e.loginModule).toBe(SCRAM);
    expect(e.controlFlag).toBe('required');
    expect(Object.fromEntries(e.options)).toEqual({ username: 'alice', password: 'x' });
  });

  it('reads the PlainLoginModule form with single quotes, unquoted words, any-case flag, comments and line breaks', () => {
    const [e] = parseJaasConfig(`/* client */ ${PLAIN} REQUIRED // the user\n  username=alice\n  password='p w;d="q"' ;`);
    expect(e.controlFlag).toBe('required');
    expect(e.options.get('username')).toBe('alice');
    expect(e.options.get('password')).toBe('p w;d="q"');
  });

  it('resolves StreamTokenizer escapes inside quotes', () => {
    const [e] = parseJaasConfig(`${SCRAM} required a="x\\"y" b="tab\\there" c="\\101\\60" d="back\\\\slash" e="\\q";`);
    expect(e.options.get('a')).toBe('x"y');
    expect(e.options.get('b')).toBe('tab\there');
    expect(e.options.get('c')).toBe('A0');
    expect(e.options.get('d')).toBe('back\\slash');
    expect(e.options.get('e')).toBe('q');
  });

  it('keeps word characters Kafka keeps in unquoted values (@ . - : +) and ends them at = ; / and blanks', () => {
    const [e] = parseJaasConfig(`${SCRAM} required username=svc-app@corp.example password=a:b+c;`);
    expect(e.options.get('username')).toBe('svc-app@corp.example');
    expect(e.options.get('password')).toBe('a:b+c');
  });

  it.each([
    ['', 'Login module not specified in JAAS config'],
    [SCRAM, 'Login module control flag not specified in JAAS config'],
    [`${SCRAM} mandatory username="a";`, "Invalid login module control flag 'mandatory' in JAAS config"],
    [`${SCRAM} required username="a"`, 'JAAS config entry not terminated by semi-colon'],
    [`${SCRAM} required username;`, "Value not specified for key 'username' in JAAS config"],
    [`${SCRAM} required password=a=b;`, "Value not specified for key '=' in JAAS config"],
  ])('refuses %j as Kafka does', (text, message) => {
    const e = failure(() => parseJaasConfig(text));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(message);
  });

  it('takes the credentials of exactly one Kafka login module', () => {
    expect(clientCredentialsFromJaas(`${SCRAM} required username="alice" password="x";`)).toEqual({ loginModule: SCRAM, username: 'alice', password: 'x' });
    expect(failure(() => clientCredentialsFromJaas(`${SCRAM} required username="a" password="b"; ${PLAIN} required username="a" password="b";`)).message).toContain(
      'JAAS config property contains 2 login modules, should be 1 module',
    );
    expect(failure(() => clientCredentialsFromJaas('org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;')).message).toContain('OAUTHBEARER is not supported');
    expect(failure(() => clientCredentialsFromJaas(`${SCRAM} required username="a";`)).message).toContain('has no password option');
    expect(failure(() => clientCredentialsFromJaas(`${SCRAM} required username="a" password="b" tokenauth="true";`)).message).toContain('delegation tokens');
  });

  it('never puts the password in an error message', () => {
    const e = failure(() => clientCredentialsFromJaas(`${SCRAM} required username="alice" password="hunter2"`));
    expect(e.message).not.toContain('hunter2');
  });
});

describe('parseClientSecurity', () => {
  const scramJaas = `${SCRAM} required username="alice" password="alice-secret";`;

  it('is PLAINTEXT without settings, and hands non-security keys back', () => {
    const r = parseClientSecurity({ 'client.id': 'tool', acks: 'all' });
    expect(r.security).toEqual({ protocol: 'PLAINTEXT' });
    expect(Object.fromEntries(r.others)).toEqual({ 'client.id': 'tool', acks: 'all' });
    expect(r.warnings).toEqual([]);
  });

  it('reads SASL_SSL with SCRAM-SHA-512, a PEM trust store file and host name verification off', () => {
    const r = parseClientSecurity({
      'security.protocol': 'sasl_ssl',
      'sasl.mechanism': 'SCRAM-SHA-512',
      'sasl.jaas.config': scramJaas,
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': certs.ca.cert,
      'ssl.endpoint.identification.algorithm': ' ',
    });
    expect(r.security.protocol).toBe('SASL_SSL');
    expect(r.security.sasl).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'alice', password: 'alice-secret' });
    expect(r.security.tls?.ca).toBe(fs.readFileSync(certs.ca.cert, 'utf8'));
    expect(r.security.tls?.verifyHostname).toBe(false);
  });

  it('reads inline PEM certificates and an inline key + chain', () => {
    const r = parseClientSecurity({
      'security.protocol': 'SSL',
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.certificates': fs.readFileSync(certs.ca.cert, 'utf8'),
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.certificate.chain': fs.readFileSync(certs.clients.alice.cert, 'utf8'),
      'ssl.keystore.key': fs.readFileSync(certs.clients.alice.key, 'utf8'),
      'ssl.enabled.protocols': 'TLSv1.3',
    });
    expect(r.security.tls?.cert).toContain('BEGIN CERTIFICATE');
    expect(r.security.tls?.key).toContain('PRIVATE KEY');
    expect(r.security.tls?.minVersion).toBe('TLSv1.3');
    expect(r.security.tls?.maxVersion).toBe('TLSv1.3');
  });

  it('reads a PEM key store file with an encrypted key and ssl.key.password, and refuses a wrong or missing password', () => {
    const base = { 'security.protocol': 'SSL', 'ssl.keystore.type': 'PEM', 'ssl.keystore.location': certs.clients.alice.encryptedPem };
    const r = parseClientSecurity({ ...base, 'ssl.key.password': certs.clients.alice.keyPassword });
    expect(r.security.tls?.keyPassword).toBe(certs.clients.alice.keyPassword);
    expect(failure(() => parseClientSecurity({ ...base, 'ssl.key.password': 'wrong' })).message).toBe('ssl.key.password does not decrypt the private key');
    expect(failure(() => parseClientSecurity(base)).message).toContain('is encrypted: set ssl.key.password');
  });

  it('refuses JKS and PKCS12 stores with the way to PEM', () => {
    const jks = failure(() => parseClientSecurity({ 'security.protocol': 'SSL', 'ssl.truststore.type': 'JKS', 'ssl.truststore.location': '/x.jks' }));
    expect(jks.message).toMatch(/ssl\.truststore\.type=JKS is not supported: Strata reads PEM only; .*keytool -exportcert -rfc/);
    const p12 = failure(() => parseClientSecurity({ 'security.protocol': 'SSL', 'ssl.keystore.type': 'PKCS12', 'ssl.keystore.location': '/x.p12' }));
    expect(p12.message).toMatch(/ssl\.keystore\.type=PKCS12 is not supported: .*ssl\.keystore\.type=PEM/);
    // No type given (Kafka's default is JKS) and a binary store: the same advice.
    const binary = path.join(dir, 'truststore.jks');
    fs.writeFileSync(binary, Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]));
    const untyped = failure(() => parseClientSecurity({ 'security.protocol': 'SSL', 'ssl.truststore.location': binary }));
    expect(untyped.message).toContain("is not a PEM file (Kafka's default ssl.truststore.type is JKS; Strata reads PEM only)");
    // No type given and a PEM file: read as PEM.
    expect(parseClientSecurity({ 'security.protocol': 'SSL', 'ssl.truststore.location': certs.ca.cert }).security.tls?.ca).toContain('BEGIN CERTIFICATE');
  });

  it.each([
    [{ 'ssl.truststore.location': 'CA', 'ssl.truststore.certificates': 'x' }, 'Both SSL trust store location and separate trust certificates are specified.'],
    [{ 'ssl.truststore.location': 'CA', 'ssl.truststore.password': 'p' }, 'SSL trust store password cannot be specified for PEM format.'],
    [{ 'ssl.keystore.location': 'ALICE', 'ssl.keystore.password': 'p' }, 'SSL key store password cannot be specified with PEM format, only key password may be specified.'],
    [{ 'ssl.keystore.key': 'k' }, 'SSL private key is specified, but certificate chain is not specified.'],
    [{ 'ssl.keystore.certificate.chain': 'c' }, 'SSL certificate chain is specified, but private key is not specified'],
    [{ 'ssl.keystore.location': 'CA' }, 'holds no private key'],
    [{ 'ssl.truststore.location': '/does/not/exist.pem' }, 'cannot read ssl.truststore.location /does/not/exist.pem'],
    [{ 'ssl.endpoint.identification.algorithm': 'http' }, 'ssl.endpoint.identification.algorithm must be https or empty'],
    [{ 'ssl.enabled.protocols': 'TLSv1.1' }, 'TLSv1.1 is not supported'],
  ])('refuses inconsistent TLS settings %j', (settings, message) => {
    const files: Record<string, string> = { CA: certs.ca.cert, ALICE: certs.clients.alice.pem };
    const props = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, files[v] ?? v]));
    const e = failure(() => parseClientSecurity({ 'security.protocol': 'SSL', ...props }));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain(message);
  });

  it('needs a supported sasl.mechanism and a JAAS config for SASL', () => {
    expect(failure(() => parseClientSecurity({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.jaas.config': scramJaas })).message).toContain("sasl.mechanism is not set; Kafka's default, GSSAPI");
    expect(failure(() => parseClientSecurity({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'scram-sha-256', 'sasl.jaas.config': scramJaas })).message).toContain(
      'case-sensitive: SCRAM-SHA-256',
    );
    expect(failure(() => parseClientSecurity({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'GSSAPI', 'sasl.jaas.config': scramJaas })).message).toContain('SASL/GSSAPI is not supported');
    expect(failure(() => parseClientSecurity({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'PLAIN' })).message).toContain(
      'sasl.jaas.config is not set: give the credentials as sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule',
    );
    const plain = parseClientSecurity({ 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanism': 'PLAIN', 'sasl.jaas.config': `${PLAIN} required username="bob" password="b";` });
    expect(plain.security).toEqual({ protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'PLAIN', username: 'bob', password: 'b' } });
    expect(failure(() => parseClientSecurity({ 'security.protocol': 'TLS' })).message).toBe("security.protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got 'TLS'");
  });

  it('points at the intended key for a misspelt security setting', () => {
    expect(failure(() => parseClientSecurity({ 'security.protocl': 'SSL' })).message).toContain("unknown security setting 'security.protocl'; did you mean 'security.protocol'?");
    expect(failure(() => parseClientSecurity({ 'sasl.jaas.conf': 'x' })).message).toContain("did you mean 'sasl.jaas.config'?");
    expect(failure(() => parseClientSecurity({ 'ssl.truststore.file': 'x' })).message).toContain("unknown security setting 'ssl.truststore.file'");
    expect(failure(() => parseClientSecurity({ 'sasl.client.callback.handler.class': 'com.example.X' })).message).toContain('cannot be loaded here');
  });

  it('ignores Kafka tuning keys quietly, warns about unknown keys and about security keys the protocol does not use', () => {
    const r = parseClientSecurity({
      'linger.ms': '5',
      'key.serializer': 'org.apache.kafka.common.serialization.StringSerializer',
      'max.poll.records': '10',
      'schema.registry.url': 'http://sr:8081',
      'ssl.cipher.suites': 'TLS_AES_128_GCM_SHA256',
      'ssl.truststore.location': certs.ca.cert,
      'sasl.mechanism': 'PLAIN',
    });
    expect(r.security).toEqual({ protocol: 'PLAINTEXT' });
    expect([...r.others.keys()]).toEqual(['linger.ms', 'key.serializer', 'max.poll.records', 'schema.registry.url']);
    expect(r.warnings).toEqual([
      'schema.registry.url is not a known Kafka client setting; ignored',
      "ssl.cipher.suites is ignored: it tunes the Java client's TLS or login machinery, which Strata's client does not have",
      'ssl.truststore.location is ignored: security.protocol is PLAINTEXT (SSL or SASL_SSL use TLS)',
      'sasl.mechanism is ignored: security.protocol is PLAINTEXT (SASL_PLAINTEXT or SASL_SSL use SASL)',
    ]);
  });
});

describe('readClientProperties', () => {
  it('reads a Java properties file with a JAAS config continued over lines', () => {
    const file = path.join(dir, 'client.properties');
    fs.writeFileSync(
      file,
      [
        '# Kafka client config',
        'security.protocol=SASL_SSL',
        'sasl.mechanism=SCRAM-SHA-256',
        `sasl.jaas.config=${SCRAM} required \\`,
        '    username="alice" \\',
        '    password="a b";',
        `ssl.truststore.location=${certs.ca.cert}`,
        'ssl.truststore.type=PEM',
        '',
      ].join('\n'),
    );
    const props = readClientProperties(file);
    const r = parseClientSecurity(props);
    expect(r.security.protocol).toBe('SASL_SSL');
    expect(r.security.sasl).toEqual({ mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'a b' });
    expect(failure(() => readClientProperties(path.join(dir, 'missing.properties'))).message).toContain('cannot read the client config file');
  });
});
