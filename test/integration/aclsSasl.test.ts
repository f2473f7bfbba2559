/**
 * The ACL test with two real users (issue 11, "Done means" 2): alice and bob log in
 * with SASL/PLAIN on a SASL_PLAINTEXT listener; with ACLs granting alice WRITE on the prefix
 * `orders.` and bob READ on `orders.eu` with group `billing` (made with `strata acls` over the
 * PLAINTEXT listener, whose anonymous user is the super user), every other combination is
 * refused with Kafka's error code — through kafkajs as users run it, and request by request
 * through the project's connection — and `strata acls --list` prints what kafka-acls.sh prints.
 */
import { Kafka, logLevel } from 'kafkajs';
import { KafkaConnection } from '../../core/client/connection';
import { encodeRecordBatch } from '../../core/client/records';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import { StrataClient } from '../../core/client/client';
import { runCli } from '../cli/runCli';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

let broker: BrokerProcess;
let sasl: { host: string; port: number };
const users = { alice: 'alice-secret', bob: 'bob-secret' } as const;
type User = keyof typeof users;
const conns = new Map<User, KafkaConnection>();

beforeAll(async () => {
  broker = await startBroker({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
    overrides: {
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      'super.users': 'User:ANONYMOUS',
      'sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="${users.alice}" user_bob="${users.bob}";`,
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  sasl = { host: '127.0.0.1', port: broker.listenerPort('SASL_PLAINTEXT') };
  const admin = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'acls-sasl-admin' });
  await admin.createTopics(['orders.eu', 'orders.us', 'payments'].map((name) => ({ name, numPartitions: 1, replicationFactor: 1 })));
  await admin.produce('orders.eu', 0, [{ value: 'an order' }]);
  await admin.close();
  const acls = (...args: string[]) => runCli(['acls', '--bootstrap-server', broker.bootstrap, ...args]);
  expect((await acls('--add', '--allow-principal', 'User:alice', '--operation', 'Write', '--topic', 'orders.', '--resource-pattern-type', 'prefixed')).code).toBe(0);
  expect((await acls('--add', '--allow-principal', 'User:bob', '--consumer', '--topic', 'orders.eu', '--group', 'billing')).code).toBe(0);
  for (const user of Object.keys(users) as User[]) {
    conns.set(user, await KafkaConnection.connect({ ...sasl, clientId: `acls-${user}`, security: { protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'PLAIN', username: user, password: users[user] } } }));
  }
}, 60_000);

afterAll(async () => {
  for (const c of conns.values()) c.close();
  await stopAllBrokers();
});

const kafka = (user: User) =>
  new Kafka({ clientId: `acls-${user}`, brokers: [`${sasl.host}:${sasl.port}`], sasl: { mechanism: 'plain', username: user, password: users[user] }, logLevel: logLevel.NOTHING, retry: { retries: 0 } });

async function produce(user: User, topic: string): Promise<number> {
  const res = await conns.get(user)!.send<any>(ApiKey.Produce, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: encodeRecordBatch([{ value: user }], 'none') }] }] });
  return res.responses[0].partitionResponses[0].errorCode;
}

async function fetch(user: User, topic: string): Promise<number> {
  const res = await conns.get(user)!.send<any>(
    ApiKey.Fetch,
    { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: '' },
    { version: 12 },
  );
  return res.responses[0].partitions[0].errorCode;
}

async function joinGroup(user: User, groupId: string): Promise<number> {
  const res = await conns.get(user)!.send<any>(ApiKey.JoinGroup, { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }], reason: null });
  return res.errorCode;
}

test('every combination of user, operation and resource, request by request', async () => {
  const T = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
  const G = ErrorCode.GROUP_AUTHORIZATION_FAILED;
  const outcomes: Record<string, number> = {};
  for (const user of ['alice', 'bob'] as User[]) {
    for (const topic of ['orders.eu', 'orders.us', 'payments']) {
      outcomes[`${user} writes ${topic}`] = await produce(user, topic);
      outcomes[`${user} reads ${topic}`] = await fetch(user, topic);
    }
    for (const group of ['billing', 'other']) {
      outcomes[`${user} finds ${group}`] = (await conns.get(user)!.send<any>(ApiKey.FindCoordinator, { key: group, keyType: 0, coordinatorKeys: [group] })).coordinators[0].errorCode;
      outcomes[`${user} joins ${group}`] = await joinGroup(user, group);
    }
  }
  expect(outcomes).toEqual({
    'alice writes orders.eu': ErrorCode.NONE,
    'alice writes orders.us': ErrorCode.NONE,
    'alice writes payments': T,
    'alice reads orders.eu': T,
    'alice reads orders.us': T,
    'alice reads payments': T,
    'alice finds billing': G,
    'alice joins billing': G,
    'alice finds other': G,
    'alice joins other': G,
    'bob writes orders.eu': T,
    'bob writes orders.us': T,
    'bob writes payments': T,
    'bob reads orders.eu': ErrorCode.NONE,
    'bob reads orders.us': T,
    'bob reads payments': T,
    'bob finds billing': ErrorCode.NONE,
    // The first join of a member is answered MEMBER_ID_REQUIRED: the group check passed.
    'bob joins billing': ErrorCode.MEMBER_ID_REQUIRED,
    'bob finds other': G,
    'bob joins other': G,
  });
});

test('kafkajs: alice produces to orders.*, bob consumes orders.eu in group billing; the reverse is refused', async () => {
  const aliceProducer = kafka('alice').producer({ allowAutoTopicCreation: false });
  await aliceProducer.connect();
  try {
    await aliceProducer.send({ topic: 'orders.eu', messages: [{ value: 'from alice' }] });
    await expect(aliceProducer.send({ topic: 'payments', messages: [{ value: 'x' }] })).rejects.toThrow(/Not authorized to access topics/);
  } finally {
    await aliceProducer.disconnect();
  }
  const bobProducer = kafka('bob').producer({ allowAutoTopicCreation: false });
  await bobProducer.connect();
  try {
    await expect(bobProducer.send({ topic: 'orders.eu', messages: [{ value: 'x' }] })).rejects.toThrow(/TOPIC_AUTHORIZATION_FAILED|Topic authorization failed|Not authorized/);
  } finally {
    await bobProducer.disconnect();
  }

  const bob = kafka('bob').consumer({ groupId: 'billing' });
  const seen: string[] = [];
  await bob.connect();
  try {
    await bob.subscribe({ topics: ['orders.eu'], fromBeginning: true });
    await bob.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    await waitFor(() => seen.includes('from alice'), { timeoutMs: 20_000, message: 'bob reading what alice wrote' });
  } finally {
    await bob.disconnect();
  }
  expect(seen).toContain('an order');

  const alice = kafka('alice').consumer({ groupId: 'billing', retry: { retries: 0 } });
  await alice.connect();
  try {
    await alice.subscribe({ topics: ['orders.eu'], fromBeginning: true });
    const crashed = new Promise<string>((resolve) => alice.on(alice.events.CRASH, (e) => resolve(String(e.payload.error))));
    await alice.run({ eachMessage: async () => undefined });
    // kafkajs reports the refused FindCoordinator (GROUP_AUTHORIZATION_FAILED, below) as a coordinator it cannot find.
    expect(await crashed).toMatch(/Failed to find group coordinator/);
  } finally {
    await alice.disconnect();
  }
});

test('strata acls --list prints what kafka-acls.sh prints for these ACLs', async () => {
  const r = await runCli(['acls', '--bootstrap-server', broker.bootstrap, '--list']);
  expect(r).toEqual({
    code: 0,
    stderr: '',
    stdout:
      'Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders.eu, patternType=LITERAL)`: \n' +
      ' \t(principal=User:bob, host=*, operation=READ, permissionType=ALLOW)\n' +
      '\t(principal=User:bob, host=*, operation=DESCRIBE, permissionType=ALLOW) \n\n' +
      'Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders., patternType=PREFIXED)`: \n' +
      ' \t(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW) \n\n' +
      'Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=billing, patternType=LITERAL)`: \n' +
      ' \t(principal=User:bob, host=*, operation=READ, permissionType=ALLOW) \n\n',
  });
  expect(broker.output()).toMatch(/Principal = User:bob is Denied operation = Write from host = 127\.0\.0\.1 on resource = Topic:LITERAL:orders\.eu/);
});
