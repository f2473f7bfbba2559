import { ErrorCode } from '../protocol/errorCodes';
import { KafkaResponseError } from '../client/errors';

/**
 * One readable sentence for a broker's error code, for CLI output. The broker's own message
 * wins when it sent one (it knows the details, e.g. which config value is bad); otherwise
 * Kafka's usual wording for the common cases, else the code's name.
 */
export function kafkaErrorText(e: KafkaResponseError, topic?: string): string {
  if (e.errorMessage) return e.errorMessage;
  const t = topic !== undefined ? `'${topic}'` : 'the topic';
  switch (e.errorCode) {
    case ErrorCode.TOPIC_ALREADY_EXISTS:
      return `Topic ${t} already exists.`;
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
      return `Topic ${t} does not exist as expected`;
    case ErrorCode.INVALID_PARTITIONS:
      return 'Number of partitions is invalid.';
    case ErrorCode.INVALID_REPLICATION_FACTOR:
      return 'Replication factor is below 1 or larger than the number of available brokers.';
    case ErrorCode.INVALID_CONFIG:
      return 'Configuration is invalid.';
    case ErrorCode.INVALID_TOPIC_EXCEPTION:
      return `Topic name ${t} is invalid.`;
    case ErrorCode.TOPIC_DELETION_DISABLED:
      return 'Topic deletion is disabled.';
    case ErrorCode.POLICY_VIOLATION:
      return 'The request parameters do not satisfy the configured policy.';
    default:
      return `${e.errorName} (Kafka error code ${e.errorCode})${e.resource ? ` for ${e.resource}` : ''}`;
  }
}

/** The text a command prints for a failure: a broker's error in Kafka's words, else the error's own message. */
export function failureText(e: Error, topic?: string): string {
  return e instanceof KafkaResponseError ? kafkaErrorText(e, topic) : e.message;
}
