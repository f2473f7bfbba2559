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

/**
 * Kafka's internal topics (Topic.INTERNAL_TOPICS): Metadata marks them is_internal. Strata keeps
 * group offsets and transaction state in its metadata store, so none of them exists here.
 */
export const INTERNAL_TOPICS: readonly string[] = ['__consumer_offsets', '__transaction_state', '__share_group_state'];

/** The KRaft metadata log, which Kafka refuses to create as a topic ("Creation of internal topic ... is prohibited"). */
export const CLUSTER_METADATA_TOPIC = '__cluster_metadata';

/** Kafka's Topic.isInternal: the name of one of Kafka's internal topics. */
export function isInternalTopic(name: string): boolean {
  return INTERNAL_TOPICS.includes(name);
}

/**
 * Names that never become user topics: Kafka's internal topics and its metadata log. A tool
 * asking for `__consumer_offsets` (Burrow does) must not get an empty ordinary topic.
 */
export function isReservedTopicName(name: string): boolean {
  return name === CLUSTER_METADATA_TOPIC || isInternalTopic(name);
}

/** Kafka's CreateTopics answer for a reserved name (ControllerApis.createTopics), with why Strata has no such topic. */
export function reservedTopicMessage(name: string): string {
  return `Creation of internal topic ${name} is prohibited. Strata keeps group offsets, transaction state and cluster metadata in its metadata store, not in topics.`;
}

/**
 * The existing topic `name` collides with once '.' and '_' are treated alike (Kafka refuses such
 * a topic: metric names replace '.' with '_'), or undefined. `existing` excludes `name` itself.
 */
export function collidingTopic(name: string, existing: Iterable<string>): string | undefined {
  if (!hasCollisionChars(name)) return undefined;
  for (const other of existing) if (other !== name && hasCollision(name, other)) return other;
  return undefined;
}

/** Kafka's InvalidTopicException message for a colliding name (ReplicationControlManager.validateNewTopicNames). */
export function collisionMessage(name: string, existing: string): string {
  return `Topic '${name}' collides with existing topic: ${existing}`;
}

/** What kafka-topics.sh prints (TopicCommand) when a new name contains '.' or '_'. */
export const COLLISION_CHARS_WARNING =
  "Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.";
