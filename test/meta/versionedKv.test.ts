import fc from 'fast-check';
import { compareKeys } from '../../core/meta/versionedKv';

test('compareKeys orders like UTF-8 bytes (S3, DynamoDB), including astral and high-BMP characters', () => {
  expect(compareKeys('a-c', 'a/b')).toBeLessThan(0);
  expect(compareKeys('\u{1F600}', '\uFFFD')).toBeGreaterThan(0); // UTF-16 comparison gets this wrong
  expect(compareKeys('ab', 'abc')).toBeLessThan(0);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      const bytes = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(Math.sign(compareKeys(a, b))).toBe(bytes);
    }),
    { numRuns: 2000 },
  );
});
