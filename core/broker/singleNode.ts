/**
 * LEADER_EPOCH: the leader epoch a new partition starts at (its record's; the controller bumps it
 * at every change of leader, core/cluster/partitionElection.ts).
 *
 * Until ACLs exist every client may do everything, as Kafka without an authorizer: asked for
 * authorized operations (Metadata v8+,
 * DescribeCluster, DescribeGroups v3+), Kafka answers every operation its ACLs support for the
 * resource type (AuthHelper.authorizedOperations with no authorizer: AclEntry.supportedOperations
 * as a bit field, Utils.to32BitField); not asked, the "not requested" sentinel Integer.MIN_VALUE.
 */
export const LEADER_EPOCH = 0;
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** Kafka's AclOperation codes (org.apache.kafka.common.acl.AclOperation). */
export const AclOperation = {
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
} as const;

/** Bit `code` set for each operation (Kafka's Utils.to32BitField). */
export function operationsBitField(codes: readonly number[]): number {
  let field = 0;
  for (const c of codes) field |= 1 << c;
  return field;
}

const A = AclOperation;

/** A topic's 8 operations: 3576. */
export const TOPIC_AUTHORIZED_OPERATIONS = operationsBitField([A.READ, A.WRITE, A.CREATE, A.DELETE, A.ALTER, A.DESCRIBE, A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS]);
/** The cluster's 7 operations: 8096. */
export const CLUSTER_AUTHORIZED_OPERATIONS = operationsBitField([A.CREATE, A.CLUSTER_ACTION, A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS, A.IDEMPOTENT_WRITE, A.ALTER, A.DESCRIBE]);
/** A group's 5 operations: 3400 (for DescribeGroups). */
export const GROUP_AUTHORIZED_OPERATIONS = operationsBitField([A.READ, A.DESCRIBE, A.DELETE, A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS]);

/** The field to answer: every supported operation when the request asked, else the sentinel. */
export function authorizedOperations(requested: boolean | undefined, all: number): number {
  return requested ? all : AUTHORIZED_OPERATIONS_OMITTED;
}
