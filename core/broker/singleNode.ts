/**
 * What a single broker answers about leadership and authorization until replication and ACLs
 * exist: this broker leads every partition at leader epoch 0, and authorized operations are
 * never computed (Kafka's "not requested" sentinel, Integer.MIN_VALUE).
 */
export const LEADER_EPOCH = 0;
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;
