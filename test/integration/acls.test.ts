/**
 * ACLs on a real broker (authorizer.class.name set), over the wire: CreateAcls / DescribeAcls /
 * DeleteAcls at every version (kafkajs' admin for v0-1, the project's connection for v2-3), and
 * what every API answers a principal the ACLs refuse — Kafka's codes: TOPIC_AUTHORIZATION_FAILED,
 * GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
 *
 * Until SASL lands every connection is User:ANONYMOUS, so the issue's two users are played in
 * turn by the anonymous principal: first with alice's ACLs (WRITE on the prefix `orders.`), then
 * with bob's (READ on `orders.eu` and on group `billing`). The broker starts with
 * super.users=User:ANONYMOUS to create the topics and the ACL that lets the anonymous user manage
 * ACLs (ALTER and DESCRIBE on the cluster), then restarts on the same data without super users,
 * so everything after runs under the ACLs (which also shows they persist in the metadata store).
 */
import { Kafka, logLevel, AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type Admin } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import { encodeRecordBatch } from '../../core/client/records';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import { AclOperation as Op, AclPermissionType as Perm, PatternType, ResourceType as RT } from '../../core/security/acl';
import { metricsUrlOf, startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/waitFor';

const AUTHORIZER = 'org.apache.kafka.metadata.authorizer.StandardAuthorizer';
const ANON = 'User:ANONYMOUS';

let broker: BrokerProcess;
let conn: KafkaConnection;
let kafka: Kafka;
let admin: Admin;

beforeAll(async () => {
  const setup = await startBroker({ overrides: { 'authorizer.class.name': AUTHORIZER, 'super.users': ANON } });
  const client = new StrataClient({ bootstrapServers: [setup.bootstrap], clientId: 'acls-setup' });
  await client.createTopics(['orders.eu', 'orders.us', 'payments'].map((name) => ({ name, numPartitions: 1, replicationFactor: 1 })));
  await client.produce('orders.eu', 0, [{ value: 'first order' }]);
  const c = await client.brokerConnection();
  const res = await c.send<any>(ApiKey.CreateAcls, { creations: [Op.ALTER, Op.DESCRIBE].map((operation) => creation(RT.CLUSTER, 'kafka-cluster', PatternType.LITERAL, ANON, operation)) });
  expect(res.results.map((r: any) => r.errorCode)).toEqual([0, 0]);
  await client.close();
  await setup.stop();
  broker = await startBroker({ dataDir: setup.dataDir, overrides: { 'authorizer.class.name': AUTHORIZER, 'metrics.listener': 'http://127.0.0.1:0', 'group.initial.rebalance.delay.ms': '0' } });
  conn = await KafkaConnection.connect({ host: broker.host, port: broker.port, clientId: 'acls-test' });
  kafka = new Kafka({ clientId: 'acls-kafkajs', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  admin = kafka.admin();
  await admin.connect();
}, 60_000);

afterAll(async () => {
  await admin?.disconnect();
  conn?.close();
  await stopAllBrokers();
});

function creation(resourceType: number, resourceName: string, resourcePatternType: number, principal: string, operation: number, permissionType: number = Perm.ALLOW) {
  return { resourceType, resourceName, resourcePatternType, principal, host: '*', operation, permissionType };
}

async function grant(...creations: ReturnType<typeof creation>[]): Promise<void> {
  const res = await conn.send<any>(ApiKey.CreateAcls, { creations });
  expect(res.results.map((r: any) => r.errorCode)).toEqual(creations.map(() => ErrorCode.NONE));
}

/** Removes every ACL but the anonymous user's on the cluster. */
async function revokeAllButAdmin(): Promise<void> {
  const res = await conn.send<any>(ApiKey.DeleteAcls, {
    filters: [RT.TOPIC, RT.GROUP, RT.TRANSACTIONAL_ID].map((t) => ({ resourceTypeFilter: t, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: Perm.ANY })),
  });
  expect(res.filterResults.map((r: any) => r.errorCode)).toEqual([0, 0, 0]);
}

async function produce(topics: string[], opts: { transactionalId?: string | null; acks?: number } = {}): Promise<Record<string, number>> {
  const records = encodeRecordBatch([{ value: 'v' }], 'none');
  const res = await conn.send<any>(ApiKey.Produce, {
    transactionalId: opts.transactionalId ?? null,
    acks: opts.acks ?? -1,
    timeoutMs: 5000,
    topicData: topics.map((name) => ({ name, partitionData: [{ index: 0, records }] })),
  });
  return Object.fromEntries(res.responses.map((r: any) => [r.name, r.partitionResponses[0].errorCode]));
}

async function fetchCodes(topics: string[], replicaId = -1): Promise<Record<string, number>> {
  const res = await conn.send<any>(
    ApiKey.Fetch,
    {
      replicaId,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: topics.map((topic) => ({ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] })),
      forgottenTopicsData: [],
      rackId: '',
    },
    { version: 12 },
  );
  expect(res.errorCode).toBe(ErrorCode.NONE);
  return Object.fromEntries(res.responses.map((r: any) => [r.topic, r.partitions[0].errorCode]));
}

async function metadata(topics: string[] | null, opts: { autoCreate?: boolean; ops?: boolean } = {}): Promise<any> {
  return conn.send<any>(ApiKey.Metadata, {
    topics: topics === null ? null : topics.map((name) => ({ name })),
    allowAutoTopicCreation: opts.autoCreate ?? false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: opts.ops ?? false,
  });
}

async function joinGroup(groupId: string): Promise<number> {
  const res = await conn.send<any>(ApiKey.JoinGroup, { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }], reason: null });
  return res.errorCode;
}

async function initProducerId(transactionalId: string | null): Promise<number> {
  const res = await conn.send<any>(ApiKey.InitProducerId, { transactionalId, transactionTimeoutMs: 30_000, producerId: -1n, producerEpoch: -1 });
  return res.errorCode;
}

const bits = (field: number): number[] => [...Array(32).keys()].filter((b) => field & (1 << b));

describe('the ACL APIs', () => {
  afterAll(revokeAllButAdmin);

  test('kafkajs admin (v0-1): create, describe, delete; what exists is described once', async () => {
    await admin.createAcls({
      acl: [
        { resourceType: AclResourceTypes.TOPIC, resourceName: 'orders.', resourcePatternType: ResourcePatternTypes.PREFIXED, principal: 'User:alice', host: '*', operation: AclOperationTypes.WRITE, permissionType: AclPermissionTypes.ALLOW },
        { resourceType: AclResourceTypes.GROUP, resourceName: 'billing', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:bob', host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW },
      ],
    });
    const described = await admin.describeAcls({ resourceType: AclResourceTypes.ANY, resourcePatternType: ResourcePatternTypes.ANY, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
    expect(described.resources.map((r) => [r.resourceType, r.resourceName, r.resourcePatternType, r.acls.map((a) => [a.principal, a.operation])])).toEqual([
      [RT.TOPIC, 'orders.', PatternType.PREFIXED, [['User:alice', Op.WRITE]]],
      [RT.GROUP, 'billing', PatternType.LITERAL, [['User:bob', Op.READ]]],
      [RT.CLUSTER, 'kafka-cluster', PatternType.LITERAL, [[ANON, Op.ALTER], [ANON, Op.DESCRIBE]]],
    ]);
    // MATCH: every pattern that applies to the topic orders.eu.
    const match = await admin.describeAcls({ resourceType: AclResourceTypes.TOPIC, resourceName: 'orders.eu', resourcePatternType: ResourcePatternTypes.MATCH, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
    expect(match.resources.map((r) => r.resourceName)).toEqual(['orders.']);
    const deleted = await admin.deleteAcls({ filters: [{ resourceType: AclResourceTypes.GROUP, resourcePatternType: ResourcePatternTypes.ANY, principal: 'User:bob', operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY }] });
    expect(deleted.filterResponses.map((f) => [f.errorCode, f.matchingAcls.map((m) => [m.resourceName, m.principal, m.operation])])).toEqual([[0, [['billing', 'User:bob', Op.READ]]]]);
  });

  test('the project client, v2 and v3; bad creations and filters get INVALID_REQUEST with Kafka\'s message', async () => {
    for (const version of [2, 3]) {
      const created = await conn.send<any>(
        ApiKey.CreateAcls,
        {
          creations: [
            creation(RT.TRANSACTIONAL_ID, `tx-v${version}`, PatternType.LITERAL, 'User:carol', Op.WRITE),
            creation(RT.CLUSTER, 'other', PatternType.LITERAL, 'User:carol', Op.ALTER),
            creation(RT.TOPIC, '', PatternType.LITERAL, 'User:carol', Op.READ),
            creation(RT.TOPIC, 't', PatternType.MATCH, 'User:carol', Op.READ),
            creation(RT.TOPIC, 't', PatternType.LITERAL, 'carol', Op.READ),
          ],
        },
        { version },
      );
      expect(created.results).toEqual([
        { errorCode: ErrorCode.NONE, errorMessage: null },
        { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'The only valid name for the CLUSTER resource is kafka-cluster' },
        { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Invalid empty resource name' },
        { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Invalid patternType MATCH' },
        { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Could not parse principal from `carol` (no colon is present separating the principal type from the principal name)' },
      ]);
      const filter = { resourceTypeFilter: RT.TRANSACTIONAL_ID, resourceNameFilter: `tx-v${version}`, patternTypeFilter: PatternType.LITERAL, principalFilter: 'User:carol', hostFilter: '*', operation: Op.WRITE, permissionType: Perm.ALLOW };
      const described = await conn.send<any>(ApiKey.DescribeAcls, filter, { version });
      expect(described.resources).toEqual([{ resourceType: RT.TRANSACTIONAL_ID, resourceName: `tx-v${version}`, patternType: PatternType.LITERAL, acls: [{ principal: 'User:carol', host: '*', operation: Op.WRITE, permissionType: Perm.ALLOW }] }]);
      const unknown = await conn.send<any>(ApiKey.DescribeAcls, { ...filter, operation: Op.UNKNOWN }, { version });
      expect(unknown.errorCode).toBe(ErrorCode.INVALID_REQUEST);
      const deleted = await conn.send<any>(ApiKey.DeleteAcls, { filters: [{ ...filter, permissionType: 0 }, filter] }, { version });
      expect(deleted.filterResults.map((f: any) => [f.errorCode, f.matchingAcls.length])).toEqual([[ErrorCode.INVALID_REQUEST, 0], [ErrorCode.NONE, 1]]);
    }
  });

  test('a broker without an authorizer answers SECURITY_DISABLED', async () => {
    const plain = await startBroker();
    const c = await KafkaConnection.connect({ host: plain.host, port: plain.port, clientId: 'acls-plain' });
    try {
      const created = await c.send<any>(ApiKey.CreateAcls, { creations: [creation(RT.TOPIC, 't', PatternType.LITERAL, 'User:a', Op.READ)] });
      expect(created.results.map((r: any) => r.errorCode)).toEqual([ErrorCode.SECURITY_DISABLED]);
      const described = await c.send<any>(ApiKey.DescribeAcls, { resourceTypeFilter: RT.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: Perm.ANY });
      expect([described.errorCode, described.errorMessage]).toEqual([ErrorCode.SECURITY_DISABLED, 'No Authorizer is configured on the broker']);
      const deleted = await c.send<any>(ApiKey.DeleteAcls, { filters: [{ resourceTypeFilter: RT.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: Perm.ANY }] });
      expect(deleted.filterResults.map((r: any) => r.errorCode)).toEqual([ErrorCode.SECURITY_DISABLED]);
    } finally {
      c.close();
      await plain.stop();
    }
  });
});

describe("as alice: WRITE on the prefix 'orders.'", () => {
  beforeAll(() => grant(creation(RT.TOPIC, 'orders.', PatternType.PREFIXED, ANON, Op.WRITE)));
  afterAll(revokeAllButAdmin);

  test('Produce: orders.* accepted, anything else TOPIC_AUTHORIZATION_FAILED, per topic in one request', async () => {
    expect(await produce(['orders.eu', 'orders.us', 'payments'])).toEqual({ 'orders.eu': ErrorCode.NONE, 'orders.us': ErrorCode.NONE, payments: ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    expect(await produce(['payments'])).toEqual({ payments: ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    // A transactional id she may not write: the whole request.
    expect(await produce(['orders.eu'], { transactionalId: 'tx' })).toEqual({ 'orders.eu': ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED });
  });

  test('kafkajs: producing to orders.eu works, to payments is refused with TOPIC_AUTHORIZATION_FAILED', async () => {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic: 'orders.eu', messages: [{ value: 'from kafkajs' }] });
      await expect(producer.send({ topic: 'payments', messages: [{ value: 'x' }] })).rejects.toThrow('Not authorized to access topics: [Topic authorization failed]');
    } finally {
      await producer.disconnect();
    }
  });

  test('reading, groups, creating, deleting and configs are refused', async () => {
    expect(await fetchCodes(['orders.eu', 'payments'])).toEqual({ 'orders.eu': ErrorCode.TOPIC_AUTHORIZATION_FAILED, payments: ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    expect(await joinGroup('billing')).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    const created = await conn.send<any>(ApiKey.CreateTopics, { topics: [{ name: 'orders.new', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    expect(created.topics.map((t: any) => [t.name, t.errorCode])).toEqual([['orders.new', ErrorCode.TOPIC_AUTHORIZATION_FAILED]]);
    const deleted = await conn.send<any>(ApiKey.DeleteTopics, { topicNames: ['orders.us'], topics: [{ name: 'orders.us', topicId: 'AAAAAAAAAAAAAAAAAAAAAA' }], timeoutMs: 5000 });
    expect(deleted.responses.map((t: any) => [t.name, t.errorCode])).toEqual([['orders.us', ErrorCode.TOPIC_AUTHORIZATION_FAILED]]);
    const configs = await conn.send<any>(ApiKey.DescribeConfigs, { resources: [{ resourceType: 2, resourceName: 'orders.eu', configurationKeys: null }, { resourceType: 4, resourceName: '0', configurationKeys: null }], includeSynonyms: false, includeDocumentation: false });
    expect(configs.results.map((r: any) => [r.resourceName, r.errorCode])).toEqual([['orders.eu', ErrorCode.TOPIC_AUTHORIZATION_FAILED], ['0', ErrorCode.CLUSTER_AUTHORIZATION_FAILED]]);
    const offsets = await conn.send<any>(ApiKey.ListOffsets, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'payments', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }] });
    expect(offsets.topics[0].partitions[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
  });

  test('Metadata lists only the topics she may describe (WRITE implies DESCRIBE); named others are refused, and so is auto-creation without CREATE', async () => {
    const all = await metadata(null);
    expect(all.topics.map((t: any) => t.name).sort()).toEqual(['orders.eu', 'orders.us']);
    const named = await metadata(['orders.eu', 'payments', 'orders.new'], { autoCreate: true, ops: true });
    expect(named.topics.map((t: any) => [t.name, t.errorCode])).toEqual([
      ['orders.eu', ErrorCode.NONE],
      ['payments', ErrorCode.TOPIC_AUTHORIZATION_FAILED],
      ['orders.new', ErrorCode.TOPIC_AUTHORIZATION_FAILED],
    ]);
    expect(bits(named.topics[0].topicAuthorizedOperations)).toEqual([Op.WRITE, Op.DESCRIBE]);
    expect((await metadata(null)).topics.map((t: any) => t.name)).not.toContain('orders.new');
  });

  test('transactions and idempotence: TRANSACTIONAL_ID_AUTHORIZATION_FAILED for a foreign id; idempotent producing is allowed by WRITE on a topic', async () => {
    expect(await initProducerId('tx')).toBe(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    expect(await initProducerId(null)).toBe(ErrorCode.NONE);
    const end = await conn.send<any>(ApiKey.EndTxn, { transactionalId: 'tx', producerId: 1n, producerEpoch: 0, committed: true });
    expect(end.errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    const add = await conn.send<any>(ApiKey.AddPartitionsToTxn, { v3AndBelowTransactionalId: 'tx', v3AndBelowProducerId: 1n, v3AndBelowProducerEpoch: 0, v3AndBelowTopics: [{ name: 'orders.eu', partitions: [0] }] }, { version: 3 });
    expect(add.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  });

  test('inter-broker APIs need CLUSTER_ACTION: a replica fetch, UpdateMetadata', async () => {
    expect(await fetchCodes(['orders.eu'], 1)).toEqual({ 'orders.eu': ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    const um = await conn.send<any>(ApiKey.UpdateMetadata, { controllerId: 0, controllerEpoch: 0, brokerEpoch: -1n, ungroupedPartitionStates: [], topicStates: [], liveBrokers: [] });
    expect(um.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  });
});

describe("as bob: READ on 'orders.eu' and on group 'billing'", () => {
  beforeAll(() => grant(creation(RT.TOPIC, 'orders.eu', PatternType.LITERAL, ANON, Op.READ), creation(RT.GROUP, 'billing', PatternType.LITERAL, ANON, Op.READ)));
  afterAll(revokeAllButAdmin);

  test('a kafkajs consumer in group billing reads orders.eu and commits', async () => {
    const consumer = kafka.consumer({ groupId: 'billing', retry: { retries: 0 } });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: ['orders.eu'], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
      await waitFor(() => seen.includes('first order'), { timeoutMs: 20_000, message: 'the consumer reading orders.eu' });
    } finally {
      await consumer.disconnect();
    }
    const committed = await admin.fetchOffsets({ groupId: 'billing', topics: ['orders.eu'] });
    expect(Number(committed[0].partitions[0].offset)).toBeGreaterThan(0);
  });

  test('everything else is refused with Kafka\'s codes', async () => {
    expect(await produce(['orders.eu'])).toEqual({ 'orders.eu': ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    expect(await fetchCodes(['orders.eu', 'orders.us'])).toEqual({ 'orders.eu': ErrorCode.NONE, 'orders.us': ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    expect(await joinGroup('other')).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    const commit = await conn.send<any>(ApiKey.OffsetCommit, {
      groupId: 'billing',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [
        { name: 'orders.eu', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] },
        { name: 'orders.us', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] },
      ],
    });
    expect(commit.topics.map((t: any) => [t.name, t.partitions[0].errorCode])).toEqual([['orders.eu', ErrorCode.NONE], ['orders.us', ErrorCode.TOPIC_AUTHORIZATION_FAILED]]);
    const otherCommit = await conn.send<any>(ApiKey.OffsetCommit, { groupId: 'other', generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, retentionTimeMs: -1n, topics: [{ name: 'orders.eu', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] }] });
    expect(otherCommit.topics[0].partitions[0].errorCode).toBe(ErrorCode.GROUP_AUTHORIZATION_FAILED);
    expect(await initProducerId(null)).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    expect((await metadata(null)).topics.map((t: any) => t.name)).toEqual(['orders.eu']);
  });

  test('DescribeGroups and DescribeCluster fill in the authorized operations', async () => {
    const groups = await conn.send<any>(ApiKey.DescribeGroups, { groups: ['billing', 'other'], includeAuthorizedOperations: true });
    expect(groups.groups.map((g: any) => [g.groupId, g.errorCode])).toEqual([['billing', ErrorCode.NONE], ['other', ErrorCode.GROUP_AUTHORIZATION_FAILED]]);
    expect(bits(groups.groups[0].authorizedOperations)).toEqual([Op.READ, Op.DESCRIBE]);
    const cluster = await conn.send<any>(ApiKey.DescribeCluster, { includeClusterAuthorizedOperations: true, endpointType: 1 });
    expect(bits(cluster.clusterAuthorizedOperations)).toEqual([Op.ALTER, Op.DESCRIBE]);
  });
});

describe('the other APIs, with no ACL but the cluster ones', () => {
  const T = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
  const G = ErrorCode.GROUP_AUTHORIZATION_FAILED;
  const X = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;

  test('group APIs: GROUP_AUTHORIZATION_FAILED', async () => {
    expect((await conn.send<any>(ApiKey.DeleteGroups, { groupsNames: ['billing'] })).results).toEqual([{ groupId: 'billing', errorCode: G }]);
    expect((await conn.send<any>(ApiKey.OffsetDelete, { groupId: 'billing', topics: [{ name: 'orders.eu', partitions: [{ partitionIndex: 0 }] }] })).errorCode).toBe(G);
    const v8 = await conn.send<any>(ApiKey.OffsetFetch, { groups: [{ groupId: 'billing', memberId: null, memberEpoch: -1, topics: null }], requireStable: false }, { version: 8 });
    expect(v8.groups.map((g: any) => [g.groupId, g.errorCode])).toEqual([['billing', G]]);
    const v7 = await conn.send<any>(ApiKey.OffsetFetch, { groupId: 'billing', topics: null, requireStable: false }, { version: 7 });
    expect(v7.errorCode).toBe(G);
    const v3 = await conn.send<any>(ApiKey.FindCoordinator, { key: 'billing', keyType: 0 }, { version: 3 });
    expect(v3.errorCode).toBe(G);
    const v4 = await conn.send<any>(ApiKey.FindCoordinator, { keyType: 1, coordinatorKeys: ['tx'] }, { version: 4 });
    expect(v4.coordinators.map((c: any) => [c.key, c.errorCode])).toEqual([['tx', X]]);
  });

  test('topic APIs: TOPIC_AUTHORIZATION_FAILED', async () => {
    expect((await conn.send<any>(ApiKey.CreatePartitions, { topics: [{ name: 'orders.eu', count: 2, assignments: null }], timeoutMs: 5000, validateOnly: false })).results.map((r: any) => [r.name, r.errorCode])).toEqual([['orders.eu', T]]);
    expect((await conn.send<any>(ApiKey.DeleteRecords, { topics: [{ name: 'orders.eu', partitions: [{ partitionIndex: 0, offset: 1n }] }], timeoutMs: 5000 })).topics[0].partitions[0].errorCode).toBe(T);
    expect((await conn.send<any>(ApiKey.DescribeProducers, { topics: [{ name: 'orders.eu', partitionIndexes: [0] }] })).topics[0].partitions[0].errorCode).toBe(T);
    expect((await conn.send<any>(ApiKey.OffsetForLeaderEpoch, { replicaId: -1, topics: [{ topic: 'orders.eu', partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] }] })).topics[0].partitions[0].errorCode).toBe(T);
    const altered = await conn.send<any>(ApiKey.IncrementalAlterConfigs, {
      resources: [
        { resourceType: 2, resourceName: 'orders.eu', configs: [{ name: 'retention.ms', configOperation: 0, value: '1000' }] },
        { resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.ms', configOperation: 0, value: '1000' }] },
      ],
      validateOnly: true,
    });
    expect(altered.responses.map((r: any) => [r.resourceName, r.errorCode])).toEqual([['orders.eu', T], ['', ErrorCode.CLUSTER_AUTHORIZATION_FAILED]]);
    expect((await conn.send<any>(ApiKey.AlterConfigs, { resources: [{ resourceType: 2, resourceName: 'orders.eu', configs: [] }], validateOnly: true })).responses[0].errorCode).toBe(T);
  });

  test('transaction APIs: TRANSACTIONAL_ID_AUTHORIZATION_FAILED; listings leave out what may not be described', async () => {
    expect((await conn.send<any>(ApiKey.AddOffsetsToTxn, { transactionalId: 'tx', producerId: 1n, producerEpoch: 0, groupId: 'billing' })).errorCode).toBe(X);
    const commit = await conn.send<any>(ApiKey.TxnOffsetCommit, { transactionalId: 'tx', groupId: 'billing', producerId: 1n, producerEpoch: 0, generationId: -1, memberId: '', groupInstanceId: null, topics: [{ name: 'orders.eu', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null }] }] });
    expect(commit.topics[0].partitions[0].errorCode).toBe(X);
    expect((await conn.send<any>(ApiKey.DescribeTransactions, { transactionalIds: ['tx'] })).transactionStates.map((t: any) => [t.transactionalId, t.errorCode])).toEqual([['tx', X]]);
    expect((await conn.send<any>(ApiKey.ListTransactions, { stateFilters: [], producerIdFilters: [], durationFilter: -1n })).transactionStates).toEqual([]);
  });
});

describe('the cluster resource', () => {
  test('without DESCRIBE on the cluster DescribeAcls is refused; without ALTER, CreateAcls and DeleteAcls', async () => {
    await grant(creation(RT.CLUSTER, 'kafka-cluster', PatternType.LITERAL, ANON, Op.DESCRIBE, Perm.DENY));
    const described = await conn.send<any>(ApiKey.DescribeAcls, { resourceTypeFilter: RT.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: Perm.ANY });
    expect(described.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    const cluster = await conn.send<any>(ApiKey.DescribeCluster, { includeClusterAuthorizedOperations: true, endpointType: 1 });
    expect(cluster.clusterAuthorizedOperations).toBe(0);
    await grant(creation(RT.CLUSTER, 'kafka-cluster', PatternType.LITERAL, ANON, Op.ALTER, Perm.DENY));
    const created = await conn.send<any>(ApiKey.CreateAcls, { creations: [creation(RT.TOPIC, 't', PatternType.LITERAL, ANON, Op.READ)] });
    expect(created.results.map((r: any) => r.errorCode)).toEqual([ErrorCode.CLUSTER_AUTHORIZATION_FAILED]);
    const deleted = await conn.send<any>(ApiKey.DeleteAcls, { filters: [{ resourceTypeFilter: RT.ANY, resourceNameFilter: null, patternTypeFilter: PatternType.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: Perm.ANY }] });
    expect(deleted.filterResults.map((r: any) => r.errorCode)).toEqual([ErrorCode.CLUSTER_AUTHORIZATION_FAILED]);
    const C = ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
    expect((await conn.send<any>(ApiKey.DescribeLogDirs, { topics: null })).errorCode).toBe(C);
    expect((await conn.send<any>(ApiKey.ListPartitionReassignments, { timeoutMs: 5000, topics: null })).errorCode).toBe(C);
    expect((await conn.send<any>(ApiKey.DescribeUserScramCredentials, { users: null })).errorCode).toBe(C);
    expect((await conn.send<any>(ApiKey.ElectLeaders, { electionType: 0, topicPartitions: [{ topic: 'orders.eu', partitions: [0] }], timeoutMs: 5000 })).errorCode).toBe(C);
    expect((await conn.send<any>(ApiKey.AlterPartitionReassignments, { timeoutMs: 5000, topics: [{ name: 'orders.eu', partitions: [{ partitionIndex: 0, replicas: [0] }] }] })).errorCode).toBe(C);
    // ListGroups without DESCRIBE on the cluster: only the groups the caller may describe (none).
    expect((await conn.send<any>(ApiKey.ListGroups, { statesFilter: [], typesFilter: [] })).groups).toEqual([]);
    // WriteTxnMarkers: CLUSTER_ACTION, or ALTER on the cluster (Kafka's rule), neither held now.
    const markers = await conn.send<any>(ApiKey.WriteTxnMarkers, { markers: [{ producerId: 1n, producerEpoch: 0, transactionResult: true, topics: [{ name: 'orders.eu', partitionIndexes: [0] }], coordinatorEpoch: 0 }] });
    expect(markers.markers[0].topics[0].partitions[0].errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    const scram = await conn.send<any>(ApiKey.AlterUserScramCredentials, { deletions: [{ name: 'alice', mechanism: 2 }], upsertions: [] });
    expect(scram.results.map((r: any) => r.errorCode)).toEqual([ErrorCode.CLUSTER_AUTHORIZATION_FAILED]);
  });

  test('denials are logged and counted', async () => {
    expect(broker.output()).toContain('Principal = User:ANONYMOUS is Denied operation = Write from host = 127.0.0.1 on resource = Topic:LITERAL:payments for request = Produce based on rule DefaultDeny');
    const url = await metricsUrlOf(broker);
    const text = await (await fetch(url)).text();
    const denied = /strata_authorizer_decisions_total\{decision="denied"\} (\d+)/.exec(text);
    const allowed = /strata_authorizer_decisions_total\{decision="allowed"\} (\d+)/.exec(text);
    expect(Number(denied?.[1])).toBeGreaterThan(10);
    expect(Number(allowed?.[1])).toBeGreaterThan(10);
  });
});

describe('two brokers on one metadata store', () => {
  let cluster: TestCluster;
  afterAll(() => cluster?.stop());

  test('an ACL created through one broker is enforced by the other within its refresh interval', async () => {
    // No ACL on the cluster: the brokers' own requests (anonymous, as every connection until
    // SASL) are allowed by allow.everyone.if.no.acl.found, and so is replication.
    cluster = await startCluster({ brokers: 2, overrides: { 'authorizer.class.name': 'kafka.security.authorizer.AclAuthorizer', 'allow.everyone.if.no.acl.found': 'true' } });
    const client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'acls-cluster' });
    const [zero, one] = await Promise.all(cluster.brokers.map((b) => KafkaConnection.connect({ host: b.host, port: b.port, clientId: 'acls-cluster' })));
    try {
      await client.createTopics([{ name: 'guarded', numPartitions: 1, replicationFactor: 2 }]);
      await cluster.awaitTopic('guarded', 1);
      const listed = async (c: KafkaConnection): Promise<boolean> => ((await c.send<any>(ApiKey.Metadata, { topics: null, allowAutoTopicCreation: false })).topics as any[]).some((t) => t.name === 'guarded');
      expect([await listed(zero), await listed(one)]).toEqual([true, true]);
      const res = await zero.send<any>(ApiKey.CreateAcls, { creations: [creation(RT.TOPIC, 'guard', PatternType.PREFIXED, 'User:*', Op.DESCRIBE, Perm.DENY)] });
      expect(res.results.map((r: any) => r.errorCode)).toEqual([ErrorCode.NONE]);
      // In effect at once where it was made, and within a second or so on the other broker.
      expect(await listed(zero)).toBe(false);
      await waitFor(async () => !(await listed(one)), { timeoutMs: 5000, message: 'broker 1 hiding the topic the new ACL denies' });
      const named = await one.send<any>(ApiKey.Metadata, { topics: [{ name: 'guarded' }], allowAutoTopicCreation: false });
      expect(named.topics[0].errorCode).toBe(ErrorCode.TOPIC_AUTHORIZATION_FAILED);
    } finally {
      zero.close();
      one.close();
      await client.close();
    }
  });
});
