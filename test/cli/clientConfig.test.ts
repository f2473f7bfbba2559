import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { COMMAND_CONFIG_FLAG, CONSUMER_CONFIG_FLAG, PRODUCER_CONFIG_FLAG } from '../../core/cli/clientConfig';
import { COMMANDS } from '../../core/cli/main';
import { StrataClient } from '../../core/client/client';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { FakeBroker, type FakeBrokerOptions } from '../client/fakeBroker';
import { runCli } from './runCli';

/**
 * The client commands' config files (--command-config, --producer.config, --consumer.config)
 * and security properties, against the fake broker with TLS and/or SASL switched on. The same
 * against a real broker is in test/client/saslConnection.test.ts.
 */

let dir: string;
let certs: TestCerts;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cli-sec-'));
  certs = makeCerts(path.join(dir, 'certs'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const read = (f: string) => fs.readFileSync(f, 'utf8');
const USERS = { alice: 'alice-secret' };

async function broker(opts: FakeBrokerOptions): Promise<FakeBroker> {
  const b = await FakeBroker.start(opts);
  open.push(b);
  return b;
}

let fileNo = 0;
function propertiesFile(lines: string[]): string {
  const file = path.join(dir, `client-${++fileNo}.properties`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const sslLines = (): string[] => ['security.protocol=SSL', 'ssl.truststore.type=PEM', `ssl.truststore.location=${certs.ca.cert}`];
const scramLines = (password = USERS.alice): string[] => [
  'security.protocol=SASL_SSL',
  'sasl.mechanism=SCRAM-SHA-512',
  `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="${password}";`,
  'ssl.truststore.type=PEM',
  `ssl.truststore.location=${certs.ca.cert}`,
];
const tlsOptions = () => ({ key: read(certs.server.key), cert: read(certs.server.cert) });

describe('client config files in the CLI', () => {
  it('every command that talks to a broker takes the Kafka tool\'s config file flag', () => {
    const missing: string[] = [];
    for (const [name, c] of COMMANDS) {
      const names = c.spec.flags.map((f) => f.name);
      if (!names.includes('bootstrap-server')) continue;
      const expected = name === 'console-producer' ? PRODUCER_CONFIG_FLAG.name : name === 'console-consumer' ? CONSUMER_CONFIG_FLAG.name : COMMAND_CONFIG_FLAG.name;
      if (!names.includes(expected)) missing.push(`${name} --${expected}`);
    }
    expect(missing).toEqual([]);
  });

  it('topics --command-config reaches a TLS listener; without it the command says to check security.protocol', async () => {
    const b = await broker({ tls: tlsOptions() });
    b.createTopic('orders', 1);
    const file = propertiesFile([...sslLines(), 'client.id=ops-tool', 'request.timeout.ms=5000']);
    expect(await runCli(['topics', '--bootstrap-server', b.bootstrap, '--list', '--command-config', file])).toEqual({ code: 0, stdout: 'orders\n', stderr: '' });
    // As Kafka's AdminClient: the file's client.id names the requests.
    expect(new Set(b.received.map((h) => h.clientId))).toEqual(new Set(['ops-tool']));
    const plain = await runCli(['topics', '--bootstrap-server', b.bootstrap, '--list']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('check security.protocol');
  });

  it('console-producer --producer.config and console-consumer --consumer.config authenticate with SCRAM over TLS', async () => {
    const b = await broker({ tls: tlsOptions(), sasl: { mechanisms: ['SCRAM-SHA-512'], users: USERS } });
    b.createTopic('t', 1);
    const file = propertiesFile([...scramLines(), 'acks=1', 'key.serializer=org.apache.kafka.common.serialization.StringSerializer']);
    const produced = await runCli(['console-producer', '--bootstrap-server', b.bootstrap, '--topic', 't', '--producer.config', file], 'one\ntwo\n');
    expect(produced).toEqual({ code: 0, stdout: '', stderr: '' });
    const consumed = await runCli(['console-consumer', '--bootstrap-server', b.bootstrap, '--topic', 't', '--from-beginning', '--max-messages', '2', '--consumer.config', file]);
    expect(consumed).toEqual({ code: 0, stdout: 'one\ntwo\n', stderr: 'Processed a total of 2 messages\n' });
    expect(b.authenticated.length).toBeGreaterThanOrEqual(2);
    expect(new Set(b.authenticated.map((a) => `${a.user}/${a.mechanism}`))).toEqual(new Set(['alice/SCRAM-SHA-512']));
  });

  it('takes security settings as --producer-property too, over the file\'s', async () => {
    const b = await broker({ sasl: { mechanisms: ['PLAIN'], users: USERS } });
    b.createTopic('t', 1);
    const file = propertiesFile(['security.protocol=SASL_PLAINTEXT', 'sasl.mechanism=PLAIN', 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="wrong";']);
    const args = ['console-producer', '--bootstrap-server', b.bootstrap, '--topic', 't', '--producer.config', file];
    const wrong = await runCli(args, 'x\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("as 'alice' (PLAIN) failed: Authentication failed: Invalid username or password");
    const right = await runCli(
      [...args, '--producer-property', 'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";'],
      'x\n',
    );
    expect(right).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(b.authenticated).toEqual([{ user: 'alice', mechanism: 'PLAIN' }]);
  });

  it('reports a wrong password as the broker\'s authentication failure, exit 1', async () => {
    const b = await broker({ tls: tlsOptions(), sasl: { mechanisms: ['SCRAM-SHA-512'], users: USERS } });
    const r = await runCli(['topics', '--bootstrap-server', b.bootstrap, '--list', '--command-config', propertiesFile(scramLines('nope'))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512');
  });

  it('names the file in config errors, refuses unknown property keys as usage errors, and warns about ignored settings', async () => {
    const b = await broker({});
    b.createTopic('t', 1);
    const typo = propertiesFile(['security.protocl=SSL']);
    const bad = await runCli(['topics', '--bootstrap-server', b.bootstrap, '--list', '--command-config', typo]);
    expect(bad).toEqual({ code: 1, stdout: '', stderr: `strata topics: --command-config ${typo}: unknown security setting 'security.protocl'; did you mean 'security.protocol'? (supported: ${supportedList()})\n` });

    const missing = await runCli(['topics', '--bootstrap-server', b.bootstrap, '--list', '--command-config', path.join(dir, 'nope.properties')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the client config file');

    const unknownFlag = await runCli(['console-producer', '--bootstrap-server', b.bootstrap, '--topic', 't', '--producer-property', 'linger.msx=5'], '');
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain('--producer-property linger.msx is not supported');

    const ignored = propertiesFile(['ssl.truststore.location=/etc/ca.pem', 'schema.registry.url=http://sr:8081', 'linger.ms=1']);
    const warned = await runCli(['console-producer', '--bootstrap-server', b.bootstrap, '--topic', 't', '--producer.config', ignored], 'v\n');
    expect(warned).toEqual({
      code: 0,
      stdout: '',
      stderr:
        'strata console-producer: warning: schema.registry.url is not a known Kafka client setting; ignored\n' +
        'strata console-producer: warning: ssl.truststore.location is ignored: security.protocol is PLAINTEXT (SSL or SASL_SSL use TLS)\n',
    });
    const client = new StrataClient({ bootstrapServers: [b.bootstrap] });
    open.push(client);
    expect((await client.fetch('t', 0, 0n, { maxWaitMs: 0 })).records.map((r) => r.value?.toString())).toEqual(['v']);
  });
});

function supportedList(): string {
  return [
    'security.protocol',
    'ssl.protocol',
    'ssl.enabled.protocols',
    'ssl.endpoint.identification.algorithm',
    'ssl.truststore.type',
    'ssl.truststore.location',
    'ssl.truststore.certificates',
    'ssl.truststore.password',
    'ssl.keystore.type',
    'ssl.keystore.location',
    'ssl.keystore.certificate.chain',
    'ssl.keystore.key',
    'ssl.keystore.password',
    'ssl.key.password',
    'sasl.mechanism',
    'sasl.jaas.config',
  ].join(', ');
}
