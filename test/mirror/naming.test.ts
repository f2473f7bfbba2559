import { StrataError } from '../../core/common/errors';
import { mirrorStateGroup, mirrorTransactionalId, offsetSyncsTopic, targetTopicName, validateSourceAlias } from '../../core/mirror/naming';

test("target topics: MirrorMaker 2's <alias>.<topic> by default, the source's name with identity naming", () => {
  expect(targetTopicName('orders', 'east', 'prefixed')).toBe('east.orders');
  expect(targetTopicName('orders', 'east', 'identity')).toBe('orders');
});

test('a target name that would be illegal (too long) is refused', () => {
  expect(() => targetTopicName('x'.repeat(245), 'east', 'prefixed')).toThrow(/longer than 249/);
  expect(targetTopicName('x'.repeat(245), 'east', 'identity')).toHaveLength(245);
});

test('the internal names derive from the alias', () => {
  expect(offsetSyncsTopic('east')).toBe('strata-mirror-offset-syncs.east.internal');
  expect(mirrorStateGroup('east')).toBe('strata-mirror.east');
  expect(mirrorTransactionalId('east', 'orders', 3)).toBe('strata-mirror.east.orders.3');
});

test.each(['', 'us.east', 'a b', 'x'.repeat(65), 'é'])('alias %p is refused', (alias) => {
  expect(() => validateSourceAlias(alias)).toThrow(StrataError);
});

test.each(['east', 'us-east-1', 'DC_2'])('alias %p is fine', (alias) => {
  expect(() => validateSourceAlias(alias)).not.toThrow();
});
