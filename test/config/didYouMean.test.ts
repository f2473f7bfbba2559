import { closestName, editDistance } from '../../core/config/didYouMean';

test('edit distance', () => {
  expect(editDistance('kitten', 'sitting')).toBe(3);
  expect(editDistance('', 'abc')).toBe(3);
  expect(editDistance('same', 'same')).toBe(0);
  expect(editDistance('abcdef', 'uvwxyz', 2)).toBe(3); // gave up past the limit
});

test('closestName suggests plausible typos only', () => {
  const names = ['retention.ms', 'retention.bytes', 'segment.ms', 'segment.bytes'];
  expect(closestName('retention.msx', names)).toBe('retention.ms');
  expect(closestName('RETENTION.MS', names)).toBe('retention.ms');
  expect(closestName('segment.byte', names)).toBe('segment.bytes');
  expect(closestName('colour', names)).toBeUndefined();
});
