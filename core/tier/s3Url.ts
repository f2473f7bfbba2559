import { StrataError } from '../common/errors';

/**
 * `s3://BUCKET[/PREFIX]`: the bucket and the key prefix Strata's objects live under. Object
 * key K is stored as `PREFIX/K` (or K without a prefix), so several clusters can share a
 * bucket under different prefixes.
 */
export interface S3Location {
  bucket: string;
  /** '' or '/'-separated segments without leading or trailing '/'. */
  prefix: string;
}

const FORM = 's3://BUCKET/PREFIX';

export function parseS3Url(url: string): S3Location {
  if (!url.startsWith('s3://')) throw invalid(url, `expected ${FORM}`);
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  // S3's rules for new buckets: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw invalid(url, `'${bucket}' is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.' and '-')`);
  }
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (prefix !== '') {
    if (/[?#\\\0]/.test(prefix)) throw invalid(url, 'the prefix may not contain ?, #, a backslash or NUL');
    for (const segment of prefix.split('/')) {
      if (segment === '' || segment === '.' || segment === '..') throw invalid(url, `the prefix '${prefix}' has an empty, '.' or '..' segment`);
    }
  }
  return { bucket, prefix };
}

export function formatS3Url(loc: S3Location): string {
  return `s3://${loc.bucket}${loc.prefix ? `/${loc.prefix}` : ''}`;
}

function invalid(url: string, why: string): StrataError {
  return new StrataError('CONFIG_INVALID', `Invalid object store URL '${url}': ${why}`);
}
