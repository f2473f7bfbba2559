/**
 * Mutual TLS on a real broker: an SSL listener with ssl.client.auth=required maps each client
 * certificate to its principal (ssl.principal.mapping.rules), and the ACLs see that principal:
 * kcat with alice's certificate produces and consumes where alice is granted, with mallory's
 * certificate it is refused with TOPIC_AUTHORIZATION_FAILED, and without a certificate it cannot
 * connect. Certificates are made by the test with openssl.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { runCli } from '../cli/runCli';

let broker: BrokerProcess;
let certs: TestCerts;
let dir: string;
let ssl: string;

beforeAll(async () => {
  await kcatAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-mtls-'));
  certs = makeCerts(path.join(dir, 'certs'), { clients: ['alice', 'mallory'] });
  broker = await startBroker({
    listeners: 'PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0',
    overrides: {
      'ssl.keystore.location': certs.server.pem,
      'ssl.truststore.location': certs.ca.cert,
      'ssl.client.auth': 'required',
      'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+)$/$1/L,DEFAULT',
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      // The PLAINTEXT listener is the test's admin door.
      'super.users': 'User:ANONYMOUS',
    },
  });
  ssl = `127.0.0.1:${broker.listenerPort('SSL')}`;
  expect(await runCli(['topics', '--bootstrap-server', broker.bootstrap, '--create', '--topic', 'certs', '--partitions', '1'])).toMatchObject({ code: 0 });
  const grant = await runCli(['acls', '--bootstrap-server', broker.bootstrap, '--add', '--allow-principal', 'User:alice', '--operation', 'Write', '--operation', 'Read', '--topic', 'certs']);
  expect(grant).toMatchObject({ code: 0 });
}, 60_000);

afterAll(async () => {
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function tlsProps(client?: 'alice' | 'mallory'): string[] {
  const props = ['security.protocol=SSL', `ssl.ca.location=${certs.ca.cert}`];
  if (client) props.push(`ssl.certificate.location=${certs.clients[client].cert}`, `ssl.key.location=${certs.clients[client].key}`);
  return props.flatMap((p) => ['-X', p]);
}

test("alice's certificate is User:alice: she produces and consumes the topic she is granted", async () => {
  const p = await kcat(['-b', ssl, ...tlsProps('alice'), '-P', '-t', 'certs'], { input: 'from-alice\n', timeoutMs: 20_000 });
  if (p.code !== 0) throw new Error(describeRun('kcat -P', p));
  const c = await kcat(['-b', ssl, ...tlsProps('alice'), '-C', '-t', 'certs', '-o', 'beginning', '-c', '1'], { timeoutMs: 20_000 });
  if (c.code !== 0) throw new Error(describeRun('kcat -C', c));
  expect(c.stdout.toString().trim()).toBe('from-alice');
});

test("mallory's certificate is User:mallory: refused with TOPIC_AUTHORIZATION_FAILED, and the denial names him", async () => {
  const p = await kcat(['-b', ssl, ...tlsProps('mallory'), '-X', 'message.timeout.ms=5000', '-P', '-t', 'certs'], { input: 'from-mallory\n', timeoutMs: 20_000 });
  expect(p.code).not.toBe(0);
  expect(p.stderr).toMatch(/Topic authorization failed|TOPIC_AUTHORIZATION_FAILED/i);
  expect(broker.output()).toMatch(/Principal = User:mallory is Denied operation = (Write|Describe)/);
});

test('without a client certificate the TLS handshake is refused', async () => {
  const r = await kcat(['-b', ssl, ...tlsProps(), '-L', '-m', '3'], { timeoutMs: 20_000 });
  expect(r.code).not.toBe(0);
  expect(r.stdout.length).toBe(0);
});
