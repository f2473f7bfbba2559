/**
 * A 3-broker cluster whose brokers replicate over an authenticated internal listener
 * (INTERNAL, SASL_SSL with SCRAM-SHA-512, inter.broker.listener.name=INTERNAL) while clients use
 * a SASL_SSL listener of their own, with ACLs on and only the brokers' user as super user.
 * acks=all with min.insync.replicas=3 succeeds only if both followers fetch over INTERNAL,
 * which closes unauthenticated connections, as User:broker (a follower's Fetch needs
 * CLUSTER_ACTION). Clients of each listener are told that listener's addresses. The admin work
 * (user, topic, ACLs) goes through the CLI with --command-config as the broker user, whose
 * credential the brokers created from their JAAS config.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { runCli } from '../cli/runCli';
import { stopAllBrokers } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

let cluster: TestCluster;
let certs: TestCerts;
let dir: string;
let adminConfig: string;
let clientBootstrap: string;

beforeAll(async () => {
  await kcatAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sasl-cluster-'));
  certs = makeCerts(path.join(dir, 'certs'));
  cluster = await startCluster({
    brokers: 3,
    listeners: 'PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0,CLIENT://127.0.0.1:0',
    overrides: {
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL,CLIENT:SASL_SSL',
      'inter.broker.listener.name': 'INTERNAL',
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
      'sasl.mechanism.inter.broker.protocol': 'SCRAM-SHA-512',
      'listener.name.internal.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";',
      'ssl.keystore.location': certs.server.pem,
      'ssl.truststore.location': certs.ca.cert,
      'group.initial.rebalance.delay.ms': '0',
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      'super.users': 'User:broker',
    },
  });
  adminConfig = path.join(dir, 'admin.properties');
  fs.writeFileSync(
    adminConfig,
    [
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-512',
      'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";',
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${certs.ca.cert}`,
    ].join('\n') + '\n',
  );
  clientBootstrap = cluster.brokers.map((b) => `127.0.0.1:${b.listenerPort('CLIENT')}`).join(',');
  const admin = (...args: string[]) => runCli([...args, '--bootstrap-server', clientBootstrap, '--command-config', adminConfig]);
  expect(await admin('configs', '--alter', '--entity-type', 'users', '--entity-name', 'alice', '--add-config', 'SCRAM-SHA-512=[password=alice-secret]')).toMatchObject({ code: 0 });
  expect(await admin('acls', '--add', '--allow-principal', 'User:alice', '--producer', '--consumer', '--topic', 'secure', '--group', '*')).toMatchObject({ code: 0 });
  // Each broker reloads the ACLs within a second: wait until every one lists alice's.
  for (const b of cluster.brokers) {
    const one = `127.0.0.1:${b.listenerPort('CLIENT')}`;
    await waitFor(
      async () => (await runCli(['acls', '--bootstrap-server', one, '--command-config', adminConfig, '--list', '--topic', 'secure'])).stdout.includes('principal=User:alice'),
      { timeoutMs: 10_000, message: `broker ${one} seeing alice's ACLs` },
    );
  }
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const client = (): string[] =>
  ['security.protocol=SASL_SSL', 'sasl.mechanisms=SCRAM-SHA-512', 'sasl.username=alice', 'sasl.password=alice-secret', `ssl.ca.location=${certs.ca.cert}`].flatMap((p) => ['-X', p]);

test('acks=all with three in-sync replicas: the followers replicate over the authenticated INTERNAL listener', async () => {
  const created = await runCli(['topics', '--bootstrap-server', clientBootstrap, '--command-config', adminConfig, '--create', '--topic', 'secure', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=3']);
  expect(created).toMatchObject({ code: 0 });
  const bootstrap = clientBootstrap;
  // Every broker knows the topic before kcat asks (brokers learn within a poll).
  await waitFor(
    async () => {
      const d = await runCli(['topics', '--bootstrap-server', clientBootstrap, '--command-config', adminConfig, '--describe', '--topic', 'secure']);
      return d.code === 0 && (d.stdout.match(/Leader: \d/g) ?? []).length === 3;
    },
    { timeoutMs: 20_000, message: 'the topic led everywhere' },
  );

  // Metadata on the CLIENT listener names every broker at its CLIENT port.
  const md = await kcat(['-b', bootstrap, ...client(), '-L', '-J', '-t', 'secure'], { timeoutMs: 20_000 });
  if (md.code !== 0) throw new Error(describeRun('kcat -L', md));
  const brokers = (JSON.parse(md.stdout.toString()) as { brokers: { id: number; name: string }[] }).brokers;
  expect(brokers.map((b) => b.name).sort()).toEqual(cluster.brokers.map((b) => `127.0.0.1:${b.listenerPort('CLIENT')}`).sort());

  const lines = Array.from({ length: 300 }, (_, i) => `r-${i}`);
  const p = await kcat(['-b', bootstrap, ...client(), '-X', 'acks=all', '-X', 'message.timeout.ms=20000', '-P', '-t', 'secure'], { input: lines.join('\n') + '\n', timeoutMs: 40_000 });
  if (p.code !== 0) throw new Error(describeRun('kcat -P acks=all', p) + cluster.brokers.map((b) => b.output().split('\n').filter((l) => /Denied/.test(l)).slice(0, 3).join('\n')).join('\n'));

  const c = await kcat(['-b', bootstrap, ...client(), '-C', '-t', 'secure', '-o', 'beginning', '-c', '300'], { timeoutMs: 40_000 });
  if (c.code !== 0) throw new Error(describeRun('kcat -C', c));
  expect(c.stdout.toString().trim().split('\n').sort()).toEqual([...lines].sort());
  // The brokers created the inter-broker user from their JAAS config.
  expect(cluster.brokers.some((b) => b.output().includes('created the SCRAM-SHA-512 credential of the inter-broker user broker'))).toBe(true);
  // Nothing between brokers was refused.
  for (const b of cluster.brokers) expect(b.output()).not.toMatch(/Principal = User:broker is Denied/);
});

test('a client of the PLAINTEXT listener is User:ANONYMOUS, which no ACL allows', async () => {
  const r = await runCli(['topics', '--bootstrap-server', cluster.brokers[0].bootstrap, '--create', '--topic', 'anonymous', '--partitions', '1']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/TOPIC_AUTHORIZATION_FAILED|CLUSTER_AUTHORIZATION_FAILED|not authorized/i);
});
