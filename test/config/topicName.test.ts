import { isStrataError } from '../../core/common/errors';
import { collidingTopic, collisionMessage, hasCollision, hasCollisionChars, isInternalTopic, isReservedTopicName, unifyCollisionChars, validateTopicName } from '../../core/config/topicName';

function messageOf(name: string): string {
  try {
    validateTopicName(name);
  } catch (e) {
    expect(isStrataError(e, 'TOPIC_NAME_INVALID')).toBe(true);
    return (e as Error).message;
  }
  return 'valid';
}

describe('validateTopicName (Kafka\'s rules and messages)', () => {
  test('legal names', () => {
    for (const n of ['a', 'orders', 'Orders.v2_final-1', '__consumer_offsets', '...', 'x'.repeat(249), '-leading-dash']) {
      expect(messageOf(n)).toBe('valid');
    }
  });

  test('empty, "." and ".."', () => {
    expect(messageOf('')).toBe("Topic name is illegal, it can't be empty");
    expect(messageOf('.')).toBe('Topic name cannot be "." or ".."');
    expect(messageOf('..')).toBe('Topic name cannot be "." or ".."');
  });

  test('longer than 249 characters', () => {
    const long = 'y'.repeat(250);
    expect(messageOf(long)).toBe(`Topic name is illegal, it can't be longer than 249 characters, topic name: ${long}`);
  });

  test('characters outside [a-zA-Z0-9._-]', () => {
    for (const n of ['has space', 'slash/y', 'colon:', 'ünï', 'tab\t', 'star*', 'back\\slash']) {
      expect(messageOf(n)).toBe(`Topic name "${n}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`);
    }
  });
});

test('collision helpers: "." and "_" collide in metric names', () => {
  expect(hasCollisionChars('a.b')).toBe(true);
  expect(hasCollisionChars('a_b')).toBe(true);
  expect(hasCollisionChars('a-b')).toBe(false);
  expect(unifyCollisionChars('a.b_c.d')).toBe('a_b_c_d');
  expect(hasCollision('metrics.cpu', 'metrics_cpu')).toBe(true);
  expect(hasCollision('metrics.cpu', 'metrics-cpu')).toBe(false);
  expect(isInternalTopic('__consumer_offsets')).toBe(true);
  expect(isInternalTopic('orders')).toBe(false);
});

test("Kafka's internal topics and its metadata log are reserved; only the internal ones are marked internal", () => {
  for (const n of ['__consumer_offsets', '__transaction_state', '__share_group_state']) {
    expect([n, isInternalTopic(n), isReservedTopicName(n)]).toEqual([n, true, true]);
  }
  expect([isInternalTopic('__cluster_metadata'), isReservedTopicName('__cluster_metadata')]).toEqual([false, true]);
  expect(isReservedTopicName('__consumer_offsets2')).toBe(false);
});

test("a new name collides with an existing one when '.' and '_' are treated alike", () => {
  expect(collidingTopic('a.b', ['a-b', 'a_b'])).toBe('a_b');
  expect(collidingTopic('a_b', ['a.b'])).toBe('a.b');
  expect(collidingTopic('a.b', ['a.b'])).toBeUndefined();
  expect(collidingTopic('ab', ['ab'])).toBeUndefined();
  expect(collisionMessage('a.b', 'a_b')).toBe("Topic 'a.b' collides with existing topic: a_b");
});
