import { StrataError } from '../common/errors';
import { KafkaResponseError } from '../client/errors';

/**
 * The mirror's failures. Every one of them is thrown (never swallowed): in Lambda a thrown
 * error fails the invocation and the event source retries the batch; in `strata mirror` the
 * loop reports it and tries again. What was committed before the failure is skipped by the
 * retry (core/mirror/mirror.ts explains why), so failing a whole batch is always safe.
 */

/** A record of the event that cannot be mirrored as it is, named by topic-partition-offset. */
export interface PoisonRecord {
  topic: string;
  partition: number;
  /** The offset as the event gave it (a string: it may be what is malformed); '?' when absent. */
  offset: string;
  reason: string;
}

export function poisonText(p: PoisonRecord): string {
  return `${p.topic}-${p.partition}-${p.offset}: ${p.reason}`;
}

/** The event as a whole does not have the self-managed Kafka event's shape: nothing of it is mirrored. */
export class MirrorEventError extends StrataError {
  constructor(message: string) {
    super('INPUT_INVALID', `invalid Kafka event: ${message}`);
    this.name = 'MirrorEventError';
  }
}

/**
 * Poison records: the rest of the event was mirrored (every other partition fully, each
 * poisoned partition up to the record before its poison record), and the invocation fails so
 * the batch is retried and, if it keeps failing, reaches the event source's on-failure
 * destination with this error. The poisoned partition does not move past the record: see
 * docs/deploy.md ("Poison records") for how an operator skips one on purpose.
 */
export class PoisonRecordError extends StrataError {
  constructor(readonly poison: readonly PoisonRecord[]) {
    super('INPUT_INVALID', `${poison.length} poison record(s), not mirrored (nor anything after them in their partitions): ${poison.map(poisonText).join('; ')}`);
    this.name = 'PoisonRecordError';
  }
}

/** One or more partitions of a batch failed; the others were mirrored (and are skipped when the batch is retried). */
export class MirrorPartitionsError extends StrataError {
  constructor(readonly failures: ReadonlyArray<{ topic: string; partition: number; error: Error }>) {
    const first = failures[0]?.error;
    super(
      first instanceof StrataError ? first.code : 'KAFKA_ERROR_RESPONSE',
      `mirroring failed for ${failures.length} partition(s): ${failures.map((f) => `${f.topic}-${f.partition}: ${f.error.message}`).join('; ')}`,
      { cause: first },
    );
    this.name = 'MirrorPartitionsError';
  }
}

/** The target topic exists but cannot take the mirror's records as configured (offset-preserving onto a writable topic...). */
export class MirrorTargetError extends StrataError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
    this.name = 'MirrorTargetError';
  }
}

/** Fields for a JSON log line describing a failure. */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) };
  const out: Record<string, unknown> = { error: err.message, errorName: err.name };
  if (err instanceof StrataError) out.code = err.code;
  if (err instanceof KafkaResponseError) out.kafkaError = err.errorName;
  if (err instanceof PoisonRecordError) out.poisonRecords = err.poison.map((p) => ({ ...p }));
  if (err instanceof MirrorPartitionsError) {
    out.failedPartitions = err.failures.map((f) => ({ topic: f.topic, partition: f.partition, error: f.error.message }));
  }
  return out;
}
