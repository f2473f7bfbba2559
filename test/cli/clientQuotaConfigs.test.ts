/**
 * `strata configs --entity-type users|clients` for client quotas, against a real broker:
 * kafka-configs.sh's checks, messages and output (ConfigCommand with --bootstrap-server),
 * entities named by user, client id, both, and defaults, and users' SCRAM credentials still
 * managed alongside.
 */
import { entityNamesInOrder, javaDouble, parseJavaDouble } from '../../core/cli/clientQuotaConfigs';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { runCli } from './runCli';

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker();
}, 60_000);

afterAll(async () => {
  await stopAllBrokers();
});

const configs = (...args: string[]) => runCli(['configs', '--bootstrap-server', broker.bootstrap, ...args]);

test('alter and describe quotas of users, clients, a user\'s client and defaults, printed as kafka-configs.sh does', async () => {
  const done = async (args: string[], message: string) => expect(await configs(...args, '--alter')).toEqual({ code: 0, stdout: `${message}\n`, stderr: '' });
  await done(['--entity-type', 'users', '--entity-name', 'alice', '--add-config', 'producer_byte_rate=1048576,request_percentage=12.5'], 'Completed updating config for user alice.');
  await done(['--entity-type', 'users', '--entity-name', 'alice', '--entity-type', 'clients', '--entity-name', 'app', '--add-config', 'consumer_byte_rate=20000000'], 'Completed updating config for user alice.');
  // Types and names pair in command-line order; clients first works too.
  await done(['--entity-type', 'clients', '--entity-default', '--entity-type', 'users', '--entity-name', 'bob', '--add-config', 'producer_byte_rate=1e3'], 'Completed updating default config for clients in the cluster.');
  await done(['--entity-type', 'users', '--entity-default', '--add-config', 'consumer_byte_rate=2048'], 'Completed updating default config for users in the cluster.');
  await done(['--entity-type', 'clients', '--entity-name', 'app', '--add-config', 'producer_byte_rate=512'], 'Completed updating config for client app.');

  expect((await configs('--entity-type', 'users', '--entity-name', 'alice', '--describe')).stdout).toBe("Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0, request_percentage=12.5\n");
  expect((await configs('--entity-type', 'users', '--describe')).stdout).toBe(
    "Quota configs for the default user-principal are consumer_byte_rate=2048.0\n" + "Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0, request_percentage=12.5\n",
  );
  expect((await configs('--entity-type', 'users', '--entity-type', 'clients', '--describe')).stdout).toBe(
    "Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2.0E7\n" + "Quota configs for user-principal 'bob', the default client-id are producer_byte_rate=1000.0\n",
  );
  expect((await configs('--entity-type', 'users', '--entity-name', 'alice', '--entity-type', 'clients', '--describe')).stdout).toBe(
    "Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2.0E7\n",
  );
  expect((await configs('--entity-type', 'clients', '--entity-default', '--describe')).stdout).toBe('');
  expect((await configs('--entity-type', 'clients', '--describe')).stdout).toBe("Quota configs for client-id 'app' are producer_byte_rate=512.0\n");

  await done(['--entity-type', 'users', '--entity-name', 'alice', '--delete-config', 'request_percentage'], 'Completed updating config for user alice.');
  expect((await configs('--entity-type', 'users', '--entity-name', 'alice', '--describe')).stdout).toBe("Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0\n");
});

test('refusals: before sending (exit 2 with usage, or 1 with the bare message) and from the broker', async () => {
  const usage = async (args: string[], message: string) => {
    const r = await configs(...args);
    expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, `strata configs: ${message}`]);
  };
  await usage(['--alter', '--entity-type', 'clients', '--add-config', 'producer_byte_rate=1'], 'An entity-name or default entity must be specified with --alter of users, clients, brokers or ips');
  await usage(['--alter', '--entity-type', 'users', '--entity-type', 'users', '--entity-name', 'a', '--add-config', 'x=1'], 'Duplicate entity type(s) specified: users');
  await usage(['--describe', '--entity-type', 'users', '--entity-type', 'topics'], "Only 'users' and 'clients' entity types may be specified together");
  await usage(['--describe', '--entity-type', 'users', '--entity-name', 'a', '--entity-name', 'b'], 'More entity names specified than entity types');
  await usage(['--alter', '--entity-type', 'clients', '--entity-name', 'a'], 'At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter');

  const bare = async (args: string[], message: string) => expect(await configs(...args, '--alter')).toEqual({ code: 1, stdout: '', stderr: `${message}\n` });
  await bare(['--entity-type', 'clients', '--entity-name', 'a', '--add-config', 'retention.ms=1'], "Only quota configs can be added for 'clients' using --bootstrap-server. Unexpected config names: Set(retention.ms)");
  await bare(['--entity-type', 'clients', '--entity-name', 'a', '--add-config', 'SCRAM-SHA-256=[password=p]'], "Only quota configs can be added for 'clients' using --bootstrap-server. Unexpected config names: Set(SCRAM-SHA-256)");
  await bare(['--entity-type', 'users', '--entity-name', 'a', '--add-config', 'retention.ms=1'], "Only quota and SCRAM credential configs can be added for 'users' using --bootstrap-server. Unexpected config names: Set(retention.ms)");
  await bare(['--entity-type', 'users', '--entity-default', '--add-config', 'SCRAM-SHA-256=[password=p]'], 'The use of --entity-default or --user-defaults is not allowed with User SCRAM Credentials using --bootstrap-server.');
  await bare(['--entity-type', 'users', '--entity-name', 'a', '--add-config', 'SCRAM-SHA-256=[password=p],producer_byte_rate=1'], "Cannot alter both quota and SCRAM credential configs simultaneously for 'users' using --bootstrap-server.");
  await bare(['--entity-type', 'clients', '--entity-name', 'a', '--add-config', 'producer_byte_rate=fast'], 'Cannot parse quota configuration value for producer_byte_rate: fast');
  await bare(['--entity-type', 'clients', '--entity-name', 'nobody', '--delete-config', 'producer_byte_rate,consumer_byte_rate'], 'Invalid config(s): producer_byte_rate,consumer_byte_rate');

  const args = ['--entity-type', 'clients', '--entity-name', 'a', '--alter', '--add-config', 'producer_byte_rate=1.5'];
  const refused = await configs(...args);
  expect(refused).toEqual({
    code: 1,
    stdout: '',
    stderr: `Error while executing config command with args '--bootstrap-server ${broker.bootstrap} ${args.join(' ')}'\nINVALID_REQUEST: Configuration producer_byte_rate must be a Long value\n`,
  });
});

test('the shorthands --user, --client, --user-defaults, --client-defaults name the same entities', async () => {
  expect(await configs('--user', 'dave', '--client', 'etl', '--alter', '--add-config', 'producer_byte_rate=300')).toEqual({ code: 0, stdout: 'Completed updating config for client etl.\n', stderr: '' });
  expect(await configs('--client-defaults', '--user', 'dave', '--alter', '--add-config', 'producer_byte_rate=200')).toEqual({ code: 0, stdout: 'Completed updating config for user dave.\n', stderr: '' });
  expect((await configs('--user-defaults', '--alter', '--add-config', 'request_percentage=80')).stdout).toBe('Completed updating default config for users in the cluster.\n');
  expect((await configs('--user', 'dave', '--client', 'etl', '--describe')).stdout).toBe("Quota configs for user-principal 'dave', client-id 'etl' are producer_byte_rate=300.0\n");
  expect((await configs('--entity-type', 'users', '--entity-name', 'dave', '--entity-type', 'clients', '--describe')).stdout).toBe(
    "Quota configs for user-principal 'dave', the default client-id are producer_byte_rate=200.0\n" + "Quota configs for user-principal 'dave', client-id 'etl' are producer_byte_rate=300.0\n",
  );
  const r = await configs('--entity-type', 'users', '--user', 'dave', '--describe');
  expect([r.code, r.stderr.split('\n')[0]]).toEqual([2, 'strata configs: --entity-{type,name,default} should not be used in conjunction with specific entity flags']);
  const mixed = await configs('--topic', 't', '--user', 'dave', '--describe');
  expect([mixed.code, mixed.stderr.split('\n')[0]]).toEqual([2, "strata configs: Only 'users' and 'clients' entity types may be specified together"]);
});

test("a user's SCRAM credentials are still managed, and described after the user's quotas", async () => {
  expect(await configs('--entity-type', 'users', '--entity-name', 'carol', '--alter', '--add-config', 'SCRAM-SHA-512=[iterations=8192,password=secret]')).toMatchObject({
    code: 0,
    stdout: 'Completed updating config for user carol.\n',
  });
  expect((await configs('--entity-type', 'users', '--entity-name', 'carol', '--alter', '--add-config', 'producer_byte_rate=100')).code).toBe(0);
  expect((await configs('--entity-type', 'users', '--entity-name', 'carol', '--describe')).stdout).toBe(
    "Quota configs for user-principal 'carol' are producer_byte_rate=100.0\n" + "SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-512=iterations=8192\n",
  );
  expect((await configs('--entity-type', 'users', '--entity-name', 'carol', '--alter', '--delete-config', 'SCRAM-SHA-512')).code).toBe(0);
});

test('names in command-line order; Java doubles both ways', () => {
  expect(entityNamesInOrder(['--entity-type', 'users', '--entity-default', '--entity-type', 'clients', '--entity-name=app', '--entity-name', 'x'])).toEqual(['', 'app', 'x']);
  expect([1048576, 12.5, 2e7, 1e7, 9999999, 0.001, 0.0001, 1.5e-7, 100, 123456789.5].map(javaDouble)).toEqual([
    '1048576.0',
    '12.5',
    '2.0E7',
    '1.0E7',
    '9999999.0',
    '0.001',
    '1.0E-4',
    '1.5E-7',
    '100.0',
    '1.234567895E8',
  ]);
  expect(['1048576', '1e3', '1.5', '-2', '3d', ' 4 ', 'fast', '0x10', ''].map(parseJavaDouble)).toEqual([1048576, 1000, 1.5, -2, 3, 4, null, null, null]);
});
