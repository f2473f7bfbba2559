import { isStrataError } from '../../core/common/errors';
import { formatS3Url, parseS3Url } from '../../core/tier/s3Url';

describe('s3:// URLs', () => {
  test.each([
    ['s3://strata', { bucket: 'strata', prefix: '' }],
    ['s3://strata/', { bucket: 'strata', prefix: '' }],
    ['s3://strata/tier', { bucket: 'strata', prefix: 'tier' }],
    ['s3://my.bucket-1/cluster/a/', { bucket: 'my.bucket-1', prefix: 'cluster/a' }],
  ])('%s', (url, loc) => {
    expect(parseS3Url(url)).toEqual(loc);
    expect(parseS3Url(formatS3Url(loc))).toEqual(loc);
  });

  test.each([
    ['a bucket name with capitals', 's3://Bucket/x'],
    ['a bucket name too short', 's3://ab/x'],
    ['no bucket', 's3:///x'],
    ['an empty prefix segment', 's3://bucket/a//b'],
    ['a .. segment', 's3://bucket/../x'],
    ['a query', 's3://bucket/x?versionId=1'],
    ['another scheme', 'gs://bucket/x'],
  ])('%s is CONFIG_INVALID', (_what, url) => {
    let err: unknown;
    try {
      parseS3Url(url);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain(url);
  });
});
