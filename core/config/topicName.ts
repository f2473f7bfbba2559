import { StrataError } from '../common/errors';

/**
 * Kafka's topic name rules. Names become file and directory names and metadata keys, which is
 * why the alphabet is so small; the messages are Kafka's own so that clients and operators see
 * the same text whichever broker they talk to.
 */
export const MAX_TOPIC_NAME_LENGTH = 249;

const LEGAL = /^[a-zA-Z0-9._-]+$/;

/** Throws StrataError('TOPIC_NAME_INVALID') when `name` is not a legal Kafka topic name. */
export function validateTopicName(name: string): void {
  if (name.length === 0) throw invalid('Topic name is illegal, it can\'t be empty');
  if (name === '.' || name === '..') throw invalid('Topic name cannot be "." or ".."');
  if (name.length > MAX_TOPIC_NAME_LENGTH) {
    throw invalid(
      `Topic name is illegal, it can't be longer than ${MAX_TOPIC_NAME_LENGTH} characters, topic name: ${name}`,
    );
  }
  if (!LEGAL.test(name)) {
    throw invalid(
      `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`,
    );
  }
}

function invalid(message: string): StrataError {
  return new StrataError('TOPIC_NAME_INVALID', message);
}

/**
 * Metric names replace '.' with '_', so "a.b" and "a_b" would collide there; Kafka warns when a
 * new name contains either character and refuses one that collides with an existing topic.
 */
export function hasCollisionChars(name: string): boolean {
  return name.includes('_') || name.includes('.');
}

/** The form two names share when they collide: '.' replaced by '_'. */
export function unifyCollisionChars(name: string): string {
  return name.replace(/\./g, '_');
}

/** Whether two distinct topic names would collide in metric names. */
export function hasCollision(a: string, b: string): boolean {
  return unifyCollisionChars(a) === unifyCollisionChars(b);
}

/** Kafka's internal topics; Strata keeps group offsets in the metadata store, not in a topic. */
export const INTERNAL_TOPICS: readonly string[] = ['__consumer_offsets', '__transaction_state'];

export function isInternalTopic(name: string): boolean {
  return INTERNAL_TOPICS.includes(name);
}
