/**
 * `strata storage format --add-scram`: SCRAM users written to a broker's metadata store before
 * it first starts (Kafka's kafka-storage format --add-scram), so a broker whose only listener
 * asks for SASL can be administered from its first second. The parser takes Kafka's syntax.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from './runCli';
import { parseAddScram } from '../../core/cli/storage';
import { saltedPassword } from '../../core/security/scram';
import { startBroker, stopAllBrokers } from '../helpers/broker';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { errorOf } from '../helpers/errorOf';

afterAll(async () => {
  await stopAllBrokers();
});

test("Kafka's --add-scram syntax: password, iterations, or a salted password made elsewhere", () => {
  const a = parseAddScram('SCRAM-SHA-512=[name=admin,password=admin-secret]');
  expect(a).toMatchObject({ name: 'admin', credential: { mechanism: 'SCRAM-SHA-512', iterations: 4096 } });
  const b = parseAddScram('SCRAM-SHA-256=[name="bob",iterations=8192,password="a,b=c"]');
  expect(b).toMatchObject({ name: 'bob', credential: { mechanism: 'SCRAM-SHA-256', iterations: 8192 } });
  const salt = Buffer.from('salt-bytes');
  const salted = saltedPassword('SCRAM-SHA-256', 'pw', salt, 4096).toString('base64');
  const c = parseAddScram(`SCRAM-SHA-256=[name=carol,iterations=4096,salt="${salt.toString('base64')}",saltedpassword="${salted}"]`);
  expect(c.credential.salt).toEqual(salt);
  for (const bad of ['SCRAM-SHA-1=[name=a,password=b]', 'SCRAM-SHA-256=[password=b]', 'SCRAM-SHA-256=[name=a]', 'SCRAM-SHA-256=[name=a,password=b,iterations=100]', 'name=a']) {
    expect(errorOf(() => parseAddScram(bad)).message).toMatch(/--add-scram/);
  }
});

test('a broker whose only client listener is SASL starts with the admin user the store was formatted with', async () => {
  await kcatAvailable();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-format-'));
  try {
    const r = await runCli(['storage', 'format', '--data-dir', dataDir, '--add-scram', 'SCRAM-SHA-512=[name=admin,password=admin-secret]']);
    expect(r).toEqual({ code: 0, stdout: 'Created SCRAM-SHA-512 credential for user admin (4096 iterations).\n', stderr: '' });
    const broker = await startBroker({ dataDir, listeners: 'SASL_PLAINTEXT://127.0.0.1:0', overrides: {
        'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
        // Its own connections (the only listener is also the inter-broker one) use the formatted user too.
        'sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";',
      },
    });
    const k = await kcat(['-b', broker.bootstrap, '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=admin', '-X', 'sasl.password=admin-secret', '-L', '-m', '10'], {
      timeoutMs: 20_000,
    });
    if (k.code !== 0) throw new Error(describeRun('kcat -L', k));
    await broker.stop();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('usage: a subcommand and at least one user are required', async () => {
  expect((await runCli(['storage'])).code).toBe(2);
  expect((await runCli(['storage', 'wipe'])).stderr).toMatch(/unknown storage subcommand 'wipe'/);
  expect((await runCli(['storage', 'format', '--data-dir', '/tmp/x'])).stderr).toMatch(/give at least one --add-scram/);
});
