import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection, type ConnectionOptions } from '../../core/client/connection';
import type { ConnectionSecurity } from '../../core/client/security';
import { parseClientSecurity } from '../../core/client/securityConfig';
import { ApiKey } from '../../core/protocol/generated/index';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { FakeBroker, type FakeBrokerOptions } from './fakeBroker';

/**
 * TLS as the client sees it, against a real node:tls server (the fake broker with TLS on):
 * which certificates are trusted, host name verification, presenting a client certificate,
 * and what a protocol mismatch between client and listener looks like.
 */

let dir: string;
let certs: TestCerts;
/** A second CA the client does not trust. */
let otherCerts: TestCerts;
/** A server certificate that names only broker.example (not 127.0.0.1). */
let namedCerts: TestCerts;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tls-'));
  certs = makeCerts(path.join(dir, 'main'), { clients: ['alice'] });
  otherCerts = makeCerts(path.join(dir, 'other'), { caName: 'Other CA' });
  namedCerts = makeCerts(path.join(dir, 'named'), { serverNames: ['broker.example'] });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const read = (f: string): string => fs.readFileSync(f, 'utf8');

async function tlsBroker(c: TestCerts, extra: Partial<NonNullable<FakeBrokerOptions['tls']>> = {}): Promise<FakeBroker> {
  const b = await FakeBroker.start({ tls: { key: read(c.server.key), cert: read(c.server.cert), ...extra } });
  open.push(b);
  return b;
}

async function connect(b: FakeBroker, security: ConnectionSecurity, extra: Partial<ConnectionOptions> = {}): Promise<KafkaConnection> {
  const c = await KafkaConnection.connect({ host: '127.0.0.1', port: b.port, security, ...extra });
  open.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<StrataError> {
  const e = await p.then(
    (c) => {
      (c as KafkaConnection | undefined)?.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StrataError);
  return e as StrataError;
}

const ssl = (tls: ConnectionSecurity['tls']): ConnectionSecurity => ({ protocol: 'SSL', tls });

describe('KafkaConnection over TLS', () => {
  it('connects to a broker whose certificate chains to the trusted CA, and speaks Kafka over it', async () => {
    const b = await tlsBroker(certs);
    b.createTopic('orders', 2);
    const c = await connect(b, ssl({ ca: read(certs.ca.cert) }));
    expect(c.peerCertificate?.subject.CN).toBe('strata-broker');
    const md = await c.send(ApiKey.Metadata, { topics: [{ name: 'orders', topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], allowAutoTopicCreation: false });
    expect(md.topics[0].partitions).toHaveLength(2);
  });

  it('refuses a broker certificate signed by a CA it does not trust, saying which setting to fix', async () => {
    const b = await tlsBroker(otherCerts);
    const e = await refusal(connect(b, ssl({ ca: read(certs.ca.cert) })));
    expect(e.code).toBe('SSL_HANDSHAKE_FAILED');
    expect(e.message).toContain(`TLS with 127.0.0.1:${b.port} failed: the broker's certificate is not trusted`);
    expect(e.message).toContain('ssl.truststore.location');
  });

  it('checks the host name (ssl.endpoint.identification.algorithm=https) unless told not to; the chain is checked either way', async () => {
    const b = await tlsBroker(namedCerts);
    const ca = read(namedCerts.ca.cert);
    const e = await refusal(connect(b, ssl({ ca })));
    expect(e.code).toBe('SSL_HANDSHAKE_FAILED');
    expect(e.message).toContain("the broker's certificate does not name the host connected to");
    // The name the certificate holds, given as the server name: accepted.
    expect((await connect(b, ssl({ ca, servername: 'broker.example' }))).peerCertificate?.subject.CN).toBe('strata-broker');
    // Host name check off (Kafka's empty algorithm): accepted, but only with a trusted chain.
    await connect(b, ssl({ ca, verifyHostname: false }));
    expect((await refusal(connect(b, ssl({ ca: read(certs.ca.cert), verifyHostname: false })))).message).toContain('not trusted');
  });

  it('presents a client certificate to a broker that requires one (ssl.client.auth=required), and fails cleanly without one', async () => {
    const b = await tlsBroker(certs, { requestCert: true, rejectUnauthorized: true, ca: read(certs.ca.cert) });
    const ca = read(certs.ca.cert);
    const alice = certs.clients.alice;
    const c = await connect(b, ssl({ ca, cert: read(alice.cert), key: read(alice.key) }));
    await c.send(ApiKey.Metadata, { topics: [], allowAutoTopicCreation: false });
    expect(b.clientCertificates).toEqual(['alice']);

    const e = await refusal(connect(b, ssl({ ca }), { connectTimeoutMs: 5000 }));
    expect(e.code).toBe('SSL_HANDSHAKE_FAILED');
    expect(e.message).toMatch(/client certificate/);
  });

  it('uses an encrypted PEM key store read from client properties (ssl.keystore.location + ssl.key.password)', async () => {
    const b = await tlsBroker(certs, { requestCert: true, rejectUnauthorized: true, ca: read(certs.ca.cert) });
    const { security } = parseClientSecurity({
      'security.protocol': 'SSL',
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': certs.ca.cert,
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': certs.clients.alice.encryptedPem,
      'ssl.key.password': certs.clients.alice.keyPassword,
    });
    await connect(b, security);
    expect(b.clientCertificates).toEqual(['alice']);
  });

  it('fails cleanly when TLS meets a plaintext listener, and when plaintext meets a TLS listener', async () => {
    const plain = await FakeBroker.start();
    open.push(plain);
    const toPlain = await refusal(connect(plain, ssl({ ca: read(certs.ca.cert) }), { connectTimeoutMs: 1500 }));
    expect(toPlain.code).toBe('SSL_HANDSHAKE_FAILED');
    expect(toPlain.message).toContain('is this a TLS listener?');

    const b = await tlsBroker(certs);
    const toTls = await refusal(connect(b, { protocol: 'PLAINTEXT' }, { connectTimeoutMs: 5000 }));
    expect(toTls.code).toBe('CONNECTION_FAILED');
    expect(toTls.message).toContain('check security.protocol');
  });

  it('gives every connection of a StrataClient the same TLS settings (bootstrap, then the broker it names)', async () => {
    const b = await tlsBroker(certs);
    b.createTopic('orders', 1);
    const client = new StrataClient({ bootstrapServers: [b.bootstrap], security: ssl({ ca: read(certs.ca.cert) }), retries: 0 });
    open.push(client);
    const r = await client.produce('orders', 0, [{ key: null, value: Buffer.from('over tls') }]);
    expect(r.baseOffset).toBe(0n);
    const fetched = await client.fetch('orders', 0, 0n);
    expect(fetched.records.map((x) => x.value?.toString())).toEqual(['over tls']);

    const untrusting = new StrataClient({ bootstrapServers: [b.bootstrap], security: ssl({ ca: read(otherCerts.ca.cert) }), retries: 0 });
    open.push(untrusting);
    const e = await refusal(untrusting.metadata());
    expect(e.code).toBe('SSL_HANDSHAKE_FAILED');
  });
});
