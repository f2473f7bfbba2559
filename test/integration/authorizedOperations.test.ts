/**
 * Authorized operations, as Kafka without an authorizer answers them: when a Metadata (v8+) or
 * DescribeCluster request asks, every operation Kafka's ACLs support for the resource type —
 * a topic's 8 (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS:
 * bit field 3576) and the cluster's 7 (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
 * DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE: 8096); when it does not ask, Kafka's
 * "not requested" sentinel, INT32_MIN. Cluster operations travel in Metadata v8-10 only.
 * Requests go over the wire at each version through the project's connection.
 */
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import { ApiKey } from '../../core/protocol/generated/index';
import type { DescribeClusterResponse } from '../../core/protocol/generated/DescribeClusterResponse';
import type { MetadataResponse } from '../../core/protocol/generated/MetadataResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

const NOT_REQUESTED = -2147483648;

/** Kafka's AclOperation names by code, and the Java client's decoding (AdminClient's validAclOperations). */
const OPERATIONS: Record<number, string> = {
  0: 'UNKNOWN', 1: 'ANY', 2: 'ALL', 3: 'READ', 4: 'WRITE', 5: 'CREATE', 6: 'DELETE', 7: 'ALTER', 8: 'DESCRIBE',
  9: 'CLUSTER_ACTION', 10: 'DESCRIBE_CONFIGS', 11: 'ALTER_CONFIGS', 12: 'IDEMPOTENT_WRITE', 13: 'CREATE_TOKENS', 14: 'DESCRIBE_TOKENS',
};
function decode(field: number): string[] | null {
  if (field === NOT_REQUESTED) return null;
  const ops: string[] = [];
  for (let bit = 0; bit < 32; bit++) if (field & (1 << bit)) ops.push(OPERATIONS[bit] ?? 'UNKNOWN');
  return ops.filter((o) => o !== 'UNKNOWN' && o !== 'ANY' && o !== 'ALL').sort();
}

const TOPIC_OPS = ['ALTER', 'ALTER_CONFIGS', 'CREATE', 'DELETE', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'READ', 'WRITE'];
const CLUSTER_OPS = ['ALTER', 'ALTER_CONFIGS', 'CLUSTER_ACTION', 'CREATE', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'IDEMPOTENT_WRITE'];

let broker: BrokerProcess;
let conn: KafkaConnection;

beforeAll(async () => {
  broker = await startBroker();
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  await client.createTopics([{ name: 'ops', numPartitions: 1, replicationFactor: 1 }]);
  await client.close();
  conn = await KafkaConnection.connect({ host: broker.host, port: broker.port, clientId: 'authorized-ops-test' });
});

afterAll(async () => {
  conn?.close();
  await stopAllBrokers();
});

function metadata(version: number, include: boolean): Promise<MetadataResponse> {
  return conn.send<MetadataResponse>(
    ApiKey.Metadata,
    { topics: [{ name: 'ops' }, { name: 'absent' }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: include, includeTopicAuthorizedOperations: include },
    { version },
  );
}

test('Metadata v8+ answers every topic operation when asked, and the cluster operations in v8-10', async () => {
  const max = conn.apiVersions.get(ApiKey.Metadata)!.maxVersion;
  expect(max).toBeGreaterThanOrEqual(8);
  for (let v = 8; v <= max; v++) {
    const asked = await metadata(v, true);
    const ops = asked.topics.find((t) => t.name === 'ops')!;
    expect([v, ops.topicAuthorizedOperations]).toEqual([v, 3576]);
    expect(decode(ops.topicAuthorizedOperations!)).toEqual(TOPIC_OPS);
    // Kafka sets them on every topic it answers by name, known or not.
    expect(asked.topics.find((t) => t.name === 'absent')!.topicAuthorizedOperations).toBe(3576);
    if (v <= 10) {
      expect([v, asked.clusterAuthorizedOperations]).toEqual([v, 8096]);
      expect(decode(asked.clusterAuthorizedOperations!)).toEqual(CLUSTER_OPS);
    }

    const notAsked = await metadata(v, false);
    expect(notAsked.topics.map((t) => t.topicAuthorizedOperations)).toEqual([NOT_REQUESTED, NOT_REQUESTED]);
    if (v <= 10) expect(notAsked.clusterAuthorizedOperations).toBe(NOT_REQUESTED);
  }
});

test('DescribeCluster answers the 7 cluster operations when asked, the sentinel otherwise', async () => {
  const max = conn.apiVersions.get(ApiKey.DescribeCluster)!.maxVersion;
  for (let v = 0; v <= max; v++) {
    const asked = await conn.send<DescribeClusterResponse>(ApiKey.DescribeCluster, { includeClusterAuthorizedOperations: true, endpointType: 1 }, { version: v });
    expect([v, asked.clusterAuthorizedOperations]).toEqual([v, 8096]);
    expect(decode(asked.clusterAuthorizedOperations!)).toEqual(CLUSTER_OPS);
    const notAsked = await conn.send<DescribeClusterResponse>(ApiKey.DescribeCluster, { includeClusterAuthorizedOperations: false, endpointType: 1 }, { version: v });
    expect(notAsked.clusterAuthorizedOperations).toBe(NOT_REQUESTED);
  }
});
