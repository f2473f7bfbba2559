/**
 * LEADER_EPOCH: the leader epoch a new partition starts at (its record's; the controller bumps it
 * at every change of leader, core/cluster/partitionElection.ts).
 *
 * Without an authorizer (authorizer.class.name empty) every client may do everything, as in
 * Kafka: asked for authorized operations (Metadata v8+,
 * DescribeCluster, DescribeGroups v3+), Kafka answers every operation its ACLs support for the
 * resource type (AuthHelper.authorizedOperations with no authorizer: AclEntry.supportedOperations
 * as a bit field, Utils.to32BitField); not asked, the "not requested" sentinel Integer.MIN_VALUE.
 */
import { ResourceType, supportedOperations } from '../security/acl';

export const LEADER_EPOCH = 0;
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** Bit `code` set for each operation (Kafka's Utils.to32BitField). */
export function operationsBitField(codes: readonly number[]): number {
  let field = 0;
  for (const c of codes) field |= 1 << c;
  return field;
}

/** A topic's 8 operations: 3576. */
export const TOPIC_AUTHORIZED_OPERATIONS = operationsBitField(supportedOperations(ResourceType.TOPIC));
/** The cluster's 7 operations: 8096. */
export const CLUSTER_AUTHORIZED_OPERATIONS = operationsBitField(supportedOperations(ResourceType.CLUSTER));
/** A group's 5 operations: 3400 (for DescribeGroups). */
export const GROUP_AUTHORIZED_OPERATIONS = operationsBitField(supportedOperations(ResourceType.GROUP));

/** The field to answer: every supported operation when the request asked, else the sentinel. */
export function authorizedOperations(requested: boolean | undefined, all: number): number {
  return requested ? all : AUTHORIZED_OPERATIONS_OMITTED;
}
