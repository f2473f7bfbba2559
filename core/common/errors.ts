import { ErrorCode } from '../protocol/errorCodes';

/**
 * Internal failures carry a stable string code (never parse messages). At the broker's edge,
 * `toKafkaErrorCode` maps them to the Kafka error code a client understands; a Kafka error
 * code is never thrown, only returned in a response.
 */
export type StrataErrorCode =
  | 'CONFIG_INVALID' // a config key is unknown or its value is invalid
  | 'CONFIG_UNKNOWN'
  | 'TOPIC_EXISTS'
  | 'TOPIC_NOT_FOUND'
  | 'TOPIC_NAME_INVALID'
  | 'PARTITIONS_INVALID'
  | 'REPLICATION_FACTOR_INVALID'
  | 'REPLICA_ASSIGNMENT_INVALID'
  | 'VERSION_CONFLICT' // a conditional write lost: the stored version was not the expected one
  | 'KEY_EXISTS' // a write-once key (object store, metadata) is already taken
  | 'NOT_FOUND'
  | 'BATCH_CORRUPT' // CRC mismatch or malformed RecordBatch header
  | 'BATCH_INVALID' // record-level inconsistency (counts, lengths, offsets)
  | 'BATCH_TOO_LARGE'
  | 'OFFSET_OUT_OF_RANGE'
  | 'PROTOCOL_MALFORMED' // a frame or field could not be decoded
  | 'STORAGE_IO' // a local disk operation failed
  | 'STORE_UNAVAILABLE' // a metadata or object store could not be reached
  | 'STORE_NOT_FOUND' // the table or bucket a store URL names does not exist (fix: strata aws-init)
  | 'STORE_ACCESS_DENIED' // the store refused the broker's AWS identity: an IAM permission is missing
  | 'CLOSED'
  | 'CONNECTION_FAILED' // a client could not reach a broker, or the connection dropped
  | 'REQUEST_TIMED_OUT' // a client request got no response within its timeout
  | 'KAFKA_ERROR_RESPONSE' // a broker answered a client request with a Kafka error code
  | 'GROUP_JOIN_FAILED' // a consumer could not become a member of its group (client side)
  | 'COMMIT_FAILED' // a group member's commit was refused because the group moved on (rebalanced)
  | 'NO_OFFSET_FOR_PARTITION' // no committed offset and auto.offset.reset=none (Kafka's NoOffsetForPartitionException)
  | 'API_UNSUPPORTED' // the broker supports no version of an API the client needs
  | 'USAGE_INVALID' // a CLI command line is wrong (unknown flag, missing value)
  | 'PROTOCOL_ENCODE' // a message could not be encoded (null in a non-nullable field, bad uuid, too long)
  | 'INPUT_INVALID' // CLI input (a stdin line) does not have the shape its flags promise
  | 'BATCH_FORMAT_UNSUPPORTED' // a RecordBatch magic other than 2 (message format v0/v1)
  | 'COMPRESSION_UNSUPPORTED' // no codec installed for the batch's compression type
  | 'COORDINATOR_UNAVAILABLE' // the group coordinator is closed, or could not write group state to the metadata store
  | 'BROKER_ALREADY_REGISTERED' // another running broker holds this node.id's registration (lease) in the metadata store
  | 'BROKER_FENCED' // this broker lost its registration lease: it must not write anything more
  | 'OUT_OF_ORDER_SEQUENCE' // an idempotent batch's sequence does not follow its producer's last one
  | 'INVALID_PRODUCER_EPOCH' // a batch or marker carries an epoch older than the producer's current one
  | 'PRODUCER_FENCED' // a newer incarnation of the transactional id holds the producer id (coordinator side)
  | 'SASL_AUTHENTICATION_FAILED' // a SASL exchange failed (wrong password, unknown user, malformed message)
  | 'SSL_AUTHENTICATION_FAILED' // a TLS client certificate gives no principal (no ssl.principal.mapping.rules rule applies)
  | 'UNSUPPORTED_SASL_MECHANISM' // the broker's listener does not enable the client's sasl.mechanism
  | 'SSL_HANDSHAKE_FAILED' // TLS could not be set up: certificate not trusted, host name mismatch, not a TLS port
  | 'INVALID_TXN_STATE' // a transactional write or request does not fit the transaction's state
  | 'INVALID_PRODUCER_ID_MAPPING' // the producer id is not the one the transactional id maps to
  | 'INVALID_TRANSACTION_TIMEOUT' // transaction.timeout.ms above transaction.max.timeout.ms (or not positive)
  | 'CONCURRENT_TRANSACTIONS' // the transaction is completing (markers being written): retry
  | 'TRANSACTION_COORDINATOR_FENCED' // a marker from an older coordinator epoch than the partition has seen
  | 'UNKNOWN_PRODUCER_ID' // the partition has no state for this producer id
  | 'TRANSACTIONAL_ID_NOT_FOUND' // no transaction state for this transactional id
  | 'UNEXPECTED_APPEND_OFFSET'
  | 'NOT_LEADER_OR_FOLLOWER'; // a follower's fetch names a partition this broker does not lead for it (not in its replica assignment) // a follower's copied batches start below its log end or their offsets do not rise (Kafka's UnexpectedAppendOffsetException)

export class StrataError extends Error {
  readonly code: StrataErrorCode;
  constructor(code: StrataErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StrataError';
    this.code = code;
  }
}

export function isStrataError(e: unknown, code?: StrataErrorCode): e is StrataError {
  return e instanceof StrataError && (code === undefined || e.code === code);
}

const TO_KAFKA: Record<StrataErrorCode, number> = {
  CONFIG_INVALID: ErrorCode.INVALID_CONFIG,
  CONFIG_UNKNOWN: ErrorCode.INVALID_CONFIG,
  TOPIC_EXISTS: ErrorCode.TOPIC_ALREADY_EXISTS,
  TOPIC_NOT_FOUND: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  TOPIC_NAME_INVALID: ErrorCode.INVALID_TOPIC_EXCEPTION,
  PARTITIONS_INVALID: ErrorCode.INVALID_PARTITIONS,
  REPLICATION_FACTOR_INVALID: ErrorCode.INVALID_REPLICATION_FACTOR,
  REPLICA_ASSIGNMENT_INVALID: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
  VERSION_CONFLICT: ErrorCode.CONCURRENT_TRANSACTIONS,
  KEY_EXISTS: ErrorCode.UNKNOWN_SERVER_ERROR,
  NOT_FOUND: ErrorCode.UNKNOWN_SERVER_ERROR,
  BATCH_CORRUPT: ErrorCode.CORRUPT_MESSAGE,
  BATCH_INVALID: ErrorCode.INVALID_RECORD,
  BATCH_TOO_LARGE: ErrorCode.MESSAGE_TOO_LARGE,
  OFFSET_OUT_OF_RANGE: ErrorCode.OFFSET_OUT_OF_RANGE,
  PROTOCOL_MALFORMED: ErrorCode.INVALID_REQUEST,
  STORAGE_IO: ErrorCode.KAFKA_STORAGE_ERROR,
  STORE_UNAVAILABLE: ErrorCode.KAFKA_STORAGE_ERROR,
  STORE_NOT_FOUND: ErrorCode.KAFKA_STORAGE_ERROR,
  STORE_ACCESS_DENIED: ErrorCode.KAFKA_STORAGE_ERROR,
  CLOSED: ErrorCode.UNKNOWN_SERVER_ERROR,
  CONNECTION_FAILED: ErrorCode.NETWORK_EXCEPTION,
  REQUEST_TIMED_OUT: ErrorCode.REQUEST_TIMED_OUT,
  KAFKA_ERROR_RESPONSE: ErrorCode.UNKNOWN_SERVER_ERROR,
  GROUP_JOIN_FAILED: ErrorCode.UNKNOWN_SERVER_ERROR,
  COMMIT_FAILED: ErrorCode.ILLEGAL_GENERATION,
  NO_OFFSET_FOR_PARTITION: ErrorCode.OFFSET_OUT_OF_RANGE,
  API_UNSUPPORTED: ErrorCode.UNSUPPORTED_VERSION,
  USAGE_INVALID: ErrorCode.INVALID_REQUEST,
  PROTOCOL_ENCODE: ErrorCode.UNKNOWN_SERVER_ERROR,
  INPUT_INVALID: ErrorCode.INVALID_REQUEST,
  BATCH_FORMAT_UNSUPPORTED: ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
  COMPRESSION_UNSUPPORTED: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
  // Retriable for every group client: they rediscover the coordinator and retry, as they do
  // when Kafka fails to append to __consumer_offsets.
  COORDINATOR_UNAVAILABLE: ErrorCode.COORDINATOR_NOT_AVAILABLE,
  BROKER_ALREADY_REGISTERED: ErrorCode.DUPLICATE_BROKER_REGISTRATION,
  // Retriable: clients refresh metadata and go to the broker that holds the lease now.
  BROKER_FENCED: ErrorCode.NOT_LEADER_OR_FOLLOWER,
  OUT_OF_ORDER_SEQUENCE: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
  INVALID_PRODUCER_EPOCH: ErrorCode.INVALID_PRODUCER_EPOCH,
  PRODUCER_FENCED: ErrorCode.PRODUCER_FENCED,
  INVALID_TXN_STATE: ErrorCode.INVALID_TXN_STATE,
  SASL_AUTHENTICATION_FAILED: ErrorCode.SASL_AUTHENTICATION_FAILED,
  SSL_AUTHENTICATION_FAILED: ErrorCode.NETWORK_EXCEPTION, // never in a response: the connection is closed
  UNSUPPORTED_SASL_MECHANISM: ErrorCode.UNSUPPORTED_SASL_MECHANISM,
  // Client side only (a TLS failure never reaches a Kafka response).
  SSL_HANDSHAKE_FAILED: ErrorCode.NETWORK_EXCEPTION,
  INVALID_PRODUCER_ID_MAPPING: ErrorCode.INVALID_PRODUCER_ID_MAPPING,
  INVALID_TRANSACTION_TIMEOUT: ErrorCode.INVALID_TRANSACTION_TIMEOUT,
  CONCURRENT_TRANSACTIONS: ErrorCode.CONCURRENT_TRANSACTIONS,
  TRANSACTION_COORDINATOR_FENCED: ErrorCode.TRANSACTION_COORDINATOR_FENCED,
  UNKNOWN_PRODUCER_ID: ErrorCode.UNKNOWN_PRODUCER_ID,
  TRANSACTIONAL_ID_NOT_FOUND: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND,
  // Internal to replication: the follower truncates and fetches again; never answered to clients.
  UNEXPECTED_APPEND_OFFSET: ErrorCode.UNKNOWN_SERVER_ERROR,
  NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_LEADER_OR_FOLLOWER,
};

/** The one place internal failures become Kafka error codes. */
export function toKafkaErrorCode(e: unknown): number {
  return e instanceof StrataError ? TO_KAFKA[e.code] : ErrorCode.UNKNOWN_SERVER_ERROR;
}
