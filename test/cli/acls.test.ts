/**
 * `strata acls`: kafka-acls.sh's flags, checks and output (AclCommand, Kafka 3.8+), against a
 * real broker with the authorizer on (super.users=User:ANONYMOUS: until SASL lands every
 * connection is anonymous, and the CLI must be allowed to manage ACLs). The output is what
 * kafka-acls.sh prints for the same ACLs, byte for byte, with Kafka's hash order replaced by a
 * sorted one. A broker without an authorizer answers SECURITY_DISABLED.
 */
import { runCli } from './runCli';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

let broker: BrokerProcess;
let plain: BrokerProcess;

beforeAll(async () => {
  [broker, plain] = await Promise.all([
    startBroker({ overrides: { 'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer', 'super.users': 'User:ANONYMOUS' } }),
    startBroker(),
  ]);
});

afterAll(async () => {
  await stopAllBrokers();
});

const acls = (...args: string[]) => runCli(['acls', '--bootstrap-server', broker.bootstrap, ...args]);

/** One block as AclCommand prints it: "HEADER: \n \t(entry)\n\t(entry) \n\n". */
const block = (header: string, entries: string[]) => `${header}: \n ${entries.map((e) => `\t${e}`).join('\n')} \n\n`;
const pattern = (type: string, name: string, patternType = 'LITERAL') => `ResourcePattern(resourceType=${type}, name=${name}, patternType=${patternType})`;
const entry = (principal: string, operation: string, permission = 'ALLOW', host = '*') => `(principal=${principal}, host=${host}, operation=${operation}, permissionType=${permission})`;

const ALICE_WRITE = block(`Current ACLs for resource \`${pattern('TOPIC', 'orders.', 'PREFIXED')}\``, [entry('User:alice', 'WRITE')]);
const BOB_TOPIC = block(`Current ACLs for resource \`${pattern('TOPIC', 'orders.eu')}\``, [entry('User:bob', 'READ'), entry('User:bob', 'DESCRIBE')]);
const BOB_GROUP = block(`Current ACLs for resource \`${pattern('GROUP', 'billing')}\``, [entry('User:bob', 'READ')]);

test('the ACLs of the issue: alice writes to prefix orders., bob consumes orders.eu with group billing', async () => {
  const alice = await acls('--add', '--allow-principal', 'User:alice', '--operation', 'Write', '--topic', 'orders.', '--resource-pattern-type', 'prefixed');
  expect(alice).toEqual({ code: 0, stderr: '', stdout: block(`Adding ACLs for resource \`${pattern('TOPIC', 'orders.', 'PREFIXED')}\``, [entry('User:alice', 'WRITE')]) });

  const bob = await acls('--add', '--allow-principal', 'User:bob', '--consumer', '--topic', 'orders.eu', '--group', 'billing');
  expect(bob).toEqual({
    code: 0,
    stderr: '',
    stdout:
      block(`Adding ACLs for resource \`${pattern('TOPIC', 'orders.eu')}\``, [entry('User:bob', 'READ'), entry('User:bob', 'DESCRIBE')]) +
      block(`Adding ACLs for resource \`${pattern('GROUP', 'billing')}\``, [entry('User:bob', 'READ')]),
  });

  // Every ACL, by resource (type, pattern type, name).
  expect(await acls('--list')).toEqual({ code: 0, stderr: '', stdout: BOB_TOPIC + ALICE_WRITE + BOB_GROUP });
  // The patterns that apply to orders.eu: its literal and the prefix orders.
  expect((await acls('--list', '--topic', 'orders.eu', '--resource-pattern-type', 'match')).stdout).toBe(BOB_TOPIC + ALICE_WRITE);
  expect((await acls('--list', '--topic', 'orders.eu')).stdout).toBe(BOB_TOPIC);
  expect((await acls('--list', '--group', 'billing')).stdout).toBe(BOB_GROUP);
  expect((await acls('--list', '--principal', 'User:alice')).stdout).toBe('ACLs for principal `User:alice`\n' + ALICE_WRITE);

  // Adding what exists changes nothing.
  await acls('--add', '--allow-principal', 'User:alice', '--operation', 'Write', '--topic', 'orders.', '--resource-pattern-type', 'PREFIXED');
  expect((await acls('--list')).stdout).toBe(BOB_TOPIC + ALICE_WRITE + BOB_GROUP);
});

test('--remove asks per resource filter; "n" keeps the ACLs, --force removes without asking', async () => {
  await acls('--add', '--deny-principal', 'User:mallory', '--deny-host', '10.1.2.3', '--operation', 'Read', '--operation', 'Describe', '--topic', 'payments');
  const kept = await runCli(['acls', '--bootstrap-server', broker.bootstrap, '--remove', '--topic', 'payments'], 'n\n');
  expect(kept).toEqual({ code: 0, stderr: '', stdout: `Are you sure you want to delete all ACLs for resource filter \`${pattern('TOPIC', 'payments')}\`? (y/n)\n` });
  const payments = block(`Current ACLs for resource \`${pattern('TOPIC', 'payments')}\``, [entry('User:mallory', 'READ', 'DENY', '10.1.2.3'), entry('User:mallory', 'DESCRIBE', 'DENY', '10.1.2.3')]);
  expect((await acls('--list', '--topic', 'payments')).stdout).toBe(payments);

  // One entry, confirmed with "y".
  const one = await runCli(['acls', '--bootstrap-server', broker.bootstrap, '--remove', '--deny-principal', 'User:mallory', '--deny-host', '10.1.2.3', '--operation', 'Describe', '--topic', 'payments'], 'y\n');
  expect(one.stdout).toBe(`Are you sure you want to remove ACLs: \n \t${entry('User:mallory', 'DESCRIBE', 'DENY', '10.1.2.3')} \n from resource filter \`${pattern('TOPIC', 'payments')}\`? (y/n)\n`);
  expect((await acls('--list', '--topic', 'payments')).stdout).toBe(block(`Current ACLs for resource \`${pattern('TOPIC', 'payments')}\``, [entry('User:mallory', 'READ', 'DENY', '10.1.2.3')]));

  expect(await acls('--remove', '--force', '--topic', 'payments')).toEqual({ code: 0, stdout: '', stderr: '' });
  expect((await acls('--list', '--topic', 'payments')).stdout).toBe('');
});

test('--producer --idempotent and --transactional-id, then removed with --producer', async () => {
  const r = await acls('--add', '--allow-principal', 'User:carol', '--producer', '--idempotent', '--topic', 'audit', '--transactional-id', 'carol-tx');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    block(`Adding ACLs for resource \`${pattern('TOPIC', 'audit')}\``, [entry('User:carol', 'WRITE'), entry('User:carol', 'CREATE'), entry('User:carol', 'DESCRIBE')]) +
      block(`Adding ACLs for resource \`${pattern('TRANSACTIONAL_ID', 'carol-tx')}\``, [entry('User:carol', 'WRITE'), entry('User:carol', 'DESCRIBE')]) +
      block(`Adding ACLs for resource \`${pattern('CLUSTER', 'kafka-cluster')}\``, [entry('User:carol', 'IDEMPOTENT_WRITE')]),
  );
  expect((await acls('--list', '--principal', 'User:carol')).stdout).toBe(
    'ACLs for principal `User:carol`\n' +
      block(`Current ACLs for resource \`${pattern('TOPIC', 'audit')}\``, [entry('User:carol', 'WRITE'), entry('User:carol', 'CREATE'), entry('User:carol', 'DESCRIBE')]) +
      block(`Current ACLs for resource \`${pattern('CLUSTER', 'kafka-cluster')}\``, [entry('User:carol', 'IDEMPOTENT_WRITE')]) +
      block(`Current ACLs for resource \`${pattern('TRANSACTIONAL_ID', 'carol-tx')}\``, [entry('User:carol', 'WRITE'), entry('User:carol', 'DESCRIBE')]),
  );
  expect((await acls('--remove', '--force', '--allow-principal', 'User:carol', '--producer', '--idempotent', '--topic', 'audit', '--transactional-id', 'carol-tx')).code).toBe(0);
  expect((await acls('--list', '--principal', 'User:carol')).stdout).toBe('ACLs for principal `User:carol`\n');
});

test.each([
  [['--list', '--add'], 'Command must include exactly one action: --list, --add, --remove. '],
  [['--topic', 'x'], 'Command must include exactly one action: --list, --add, --remove. '],
  [['--add', '--topic', 'x', '--resource-pattern-type', 'match', '--allow-principal', 'User:a'], "A '--resource-pattern-type' value of 'MATCH' is not valid when adding acls."],
  [['--add', '--topic', 'x', '--operation', 'Read'], 'You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.'],
  [['--add', '--allow-principal', 'User:a'], 'You must provide at least one resource'],
  [['--add', '--allow-principal', 'User:a', '--producer'], 'With --producer you must specify a --topic'],
  [['--add', '--allow-principal', 'User:a', '--consumer', '--topic', 't'], 'With --consumer you must specify a --topic and a --group'],
  [['--add', '--allow-principal', 'User:a', '--idempotent', '--topic', 't'], 'The --idempotent option is only available if --producer is set'],
  [['--add', '--allow-principal', 'User:a', '--producer', '--topic', 't', '--operation', 'Read'], 'Option "[producer]" can\'t be used with option "[operation]"'],
  [['--list', '--allow-principal', 'User:a'], 'Option "[list]" can\'t be used with option "[allow-principal]"'],
  [['--add', '--allow-principal', 'User:a', '--principal', 'User:b', '--topic', 't'], 'The --principal option is only available if --list is set'],
  [['--add', '--allow-principal', 'User:a', '--operation', 'Fly', '--topic', 't'], 'Unknown operation: Fly'],
  [['--add', '--allow-principal', 'User:a', '--operation', 'Write', '--group', 'g'], 'ResourceType GROUP only supports operations Read, Describe, Delete, DescribeConfigs, AlterConfigs, All'],
  [['--add', '--allow-principal', 'alice', '--topic', 't'], "'alice' is not a principal"],
])('usage error: %j', async (args, message) => {
  const r = await acls(...args);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(message);
  expect(r.stdout).toBe('');
});

test('a broker without an authorizer: the error as kafka-acls.sh reports it, exit 1', async () => {
  const r = await runCli(['acls', '--bootstrap-server', plain.bootstrap, '--list']);
  expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error while executing ACL command: No Authorizer is configured on the broker\n' });
});
