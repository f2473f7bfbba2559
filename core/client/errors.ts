import { StrataError } from '../common/errors';
import { ErrorCode, errorName, isRetriable } from '../protocol/errorCodes';

/**
 * A broker answered a client request with a Kafka error code. On the client side the code is
 * turned into an exception (as Kafka's Java client turns it into an ApiException), carrying the
 * code, Kafka's name for it and the broker's own message when the response has one.
 *
 * `code` is the StrataError code ('KAFKA_ERROR_RESPONSE'); the Kafka code is `errorCode`,
 * matching the field name in Kafka's responses: `e.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS`.
 */
export class KafkaResponseError extends StrataError {
  /** Kafka's numeric error code, e.g. 36. */
  readonly errorCode: number;
  /** Kafka's name for it, e.g. 'TOPIC_ALREADY_EXISTS'. */
  readonly errorName: string;
  /** The broker's ErrorMessage field, when the response version has one and it was set. */
  readonly errorMessage: string | null;
  /** What the error is about, e.g. "topic 'orders'" or 'orders-3'; null for request-level errors. */
  readonly resource: string | null;
  /** Whether retrying the same request may succeed (Kafka's RetriableException). */
  readonly retriable: boolean;
  /** Produce v8+ (KIP-467): the records the broker refused, by index within their batch. */
  readonly recordErrors: { batchIndex: number; message: string | null }[];

  constructor(errorCode: number, opts: { api: string; resource?: string | null; errorMessage?: string | null; recordErrors?: { batchIndex: number; message: string | null }[] }) {
    const name = errorName(errorCode);
    const where = opts.resource ? ` for ${opts.resource}` : '';
    const detail = opts.errorMessage ? `: ${opts.errorMessage}` : '';
    super('KAFKA_ERROR_RESPONSE', `${opts.api} failed${where}: ${name}${detail}`);
    this.name = 'KafkaResponseError';
    this.errorCode = errorCode;
    this.errorName = name;
    this.errorMessage = opts.errorMessage ?? null;
    this.resource = opts.resource ?? null;
    this.retriable = isRetriable(errorCode);
    this.recordErrors = opts.recordErrors ?? [];
  }
}

/** Throws a KafkaResponseError unless `errorCode` is NONE. */
export function throwIfError(errorCode: number, opts: { api: string; resource?: string | null; errorMessage?: string | null }): void {
  if (errorCode !== ErrorCode.NONE) throw new KafkaResponseError(errorCode, opts);
}

export function isKafkaError(e: unknown, errorCode?: number): e is KafkaResponseError {
  return e instanceof KafkaResponseError && (errorCode === undefined || e.errorCode === errorCode);
}
