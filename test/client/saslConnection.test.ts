import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import type { ConnectionSecurity, SaslMechanism } from '../../core/client/security';
import { ApiKey } from '../../core/protocol/generated/index';
import { runCli } from '../cli/runCli';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { waitFor } from '../helpers/waitFor';

/**
 * Strata's own client (and CLI) against a real broker's SASL listeners: PLAIN on
 * SASL_PLAINTEXT, SCRAM-SHA-256 and SCRAM-SHA-512 on SASL_SSL (certificates made here with
 * openssl), a wrong password, the CLI's --command-config / --producer.config /
 * --consumer.config, and re-authentication on a listener with connections.max.reauth.ms.
 * Users are created over the broker's PLAINTEXT listener with `strata configs`.
 */

let broker: BrokerProcess;
let certs: TestCerts;
let dir: string;
let saslSsl: string;
let saslPlaintext: string;

const JAAS_SCRAM = (user: string, password: string) => `org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${password}";`;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-client-sasl-'));
  certs = makeCerts(path.join(dir, 'certs'));
  broker = await startBroker({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
    overrides: {
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512,SCRAM-SHA-256',
      'listener.name.sasl_plaintext.sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': 'org.apache.kafka.common.security.plain.PlainLoginModule required user_carol="carol-secret";',
      'ssl.keystore.location': certs.server.pem,
      'ssl.truststore.location': certs.ca.cert,
      'connections.max.reauth.ms': '3000',
      'num.partitions': '1',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  saslSsl = `127.0.0.1:${broker.listenerPort('SASL_SSL')}`;
  saslPlaintext = `127.0.0.1:${broker.listenerPort('SASL_PLAINTEXT')}`;
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    const r = await runCli(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', 'alice', '--add-config', `${mechanism}=[password=alice-secret]`]);
    expect(r).toMatchObject({ code: 0 });
  }
}, 60_000);

afterAll(async () => {
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

function sslSasl(mechanism: SaslMechanism, password = 'alice-secret'): ConnectionSecurity {
  return { protocol: 'SASL_SSL', tls: { ca: fs.readFileSync(certs.ca.cert) }, sasl: { mechanism, username: 'alice', password } };
}

async function roundTrip(bootstrap: string, security: ConnectionSecurity, topic: string): Promise<string[]> {
  const client = new StrataClient({ bootstrapServers: [bootstrap], security, retries: 3 });
  open.push(client);
  await client.createTopics([{ name: topic, numPartitions: 1 }]);
  await client.produce(topic, 0, [{ value: `${topic}-1` }, { value: `${topic}-2` }]);
  return (await client.fetch(topic, 0, 0n, { maxWaitMs: 0 })).records.map((r) => r.value!.toString());
}

describe('Strata client on SASL listeners', () => {
  it('authenticates with PLAIN on SASL_PLAINTEXT and produces and fetches', async () => {
    const security: ConnectionSecurity = { protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'PLAIN', username: 'carol', password: 'carol-secret' } };
    expect(await roundTrip(saslPlaintext, security, 'plain-t')).toEqual(['plain-t-1', 'plain-t-2']);
  });

  it.each(['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const)('authenticates with %s on SASL_SSL and produces and fetches', async (mechanism) => {
    const topic = `scram-${mechanism.slice(-3)}`;
    expect(await roundTrip(saslSsl, sslSasl(mechanism), topic)).toEqual([`${topic}-1`, `${topic}-2`]);
  });

  it('fails a wrong password with SASL_AUTHENTICATION_FAILED and the broker message', async () => {
    const e = await KafkaConnection.connect({ host: '127.0.0.1', port: broker.listenerPort('SASL_SSL'), security: sslSasl('SCRAM-SHA-512', 'wrong') }).then(
      (c) => (c.close(), null),
      (err: unknown) => err as StrataError,
    );
    expect(e).toBeInstanceOf(StrataError);
    expect(e!.code).toBe('SASL_AUTHENTICATION_FAILED');
    expect(e!.message).toContain('Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512');
  });

  it('re-authenticates a long-lived connection before connections.max.reauth.ms expires', async () => {
    const c = await KafkaConnection.connect({ host: '127.0.0.1', port: broker.listenerPort('SASL_SSL'), security: sslSasl('SCRAM-SHA-512') });
    open.push(c);
    await waitFor(
      async () => {
        await c.send(ApiKey.Metadata, { topics: [], allowAutoTopicCreation: false });
        return c.saslAuthentications >= 3;
      },
      { timeoutMs: 20_000, intervalMs: 200, message: 'two re-authentications on one connection' },
    );
    expect(c.closed).toBe(false);
  });
});

describe('the CLI with client config files on SASL_SSL', () => {
  function configFile(password = 'alice-secret'): string {
    const file = path.join(dir, `client-${password}.properties`);
    fs.writeFileSync(
      file,
      [
        'security.protocol=SASL_SSL',
        'sasl.mechanism=SCRAM-SHA-512',
        `sasl.jaas.config=${JAAS_SCRAM('alice', password)}`,
        'ssl.truststore.type=PEM',
        `ssl.truststore.location=${certs.ca.cert}`,
        '',
      ].join('\n'),
    );
    return file;
  }

  it('creates and lists topics, produces and consumes in a group with --command-config / --producer.config / --consumer.config', async () => {
    const cfg = configFile();
    expect(await runCli(['topics', '--bootstrap-server', saslSsl, '--command-config', cfg, '--create', '--topic', 'cli-sasl', '--partitions', '1'])).toEqual({
      code: 0,
      stdout: 'Created topic cli-sasl.\n',
      stderr: '',
    });
    expect((await runCli(['topics', '--bootstrap-server', saslSsl, '--command-config', cfg, '--list'])).stdout).toContain('cli-sasl\n');
    expect(await runCli(['console-producer', '--bootstrap-server', saslSsl, '--topic', 'cli-sasl', '--producer.config', cfg], 'a\nb\nc\n')).toEqual({ code: 0, stdout: '', stderr: '' });
    const consumed = await runCli(['console-consumer', '--bootstrap-server', saslSsl, '--topic', 'cli-sasl', '--group', 'cli-sasl-group', '--from-beginning', '--max-messages', '3', '--consumer.config', cfg]);
    expect(consumed).toMatchObject({ code: 0, stdout: 'a\nb\nc\n' });
    const groups = await runCli(['consumer-groups', '--bootstrap-server', saslSsl, '--command-config', cfg, '--list']);
    expect(groups.stdout).toContain('cli-sasl-group');
  });

  it('fails with the broker\'s message for a wrong password, and tells a PLAINTEXT client to check security.protocol', async () => {
    const wrong = await runCli(['topics', '--bootstrap-server', saslSsl, '--command-config', configFile('wrong'), '--list']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512');
    const plain = await runCli(['topics', '--bootstrap-server', saslSsl, '--list']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('security.protocol');
  });
});
