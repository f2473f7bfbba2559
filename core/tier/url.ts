import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { FileObjectStore } from './fileObjectStore';
import type { ObjectStore } from './objectStore';

/**
 * Picks the object store adapter from one URL (the `object.store` broker config):
 *
 *   file:  or  file://         <dataDir>/tier (the default)
 *   file://PATH or file:PATH   PATH, absolute (file:///var/tier) or relative to the working
 *                              directory (file://./tier, file://tier: no host part, unlike RFC 8089)
 *   s3://BUCKET/PREFIX         Amazon S3 or an S3-compatible endpoint (AWS_ENDPOINT_URL_S3), objects
 *                              under PREFIX/ (s3ObjectStore.ts). The bucket must exist: opening
 *                              checks it (HeadBucket) and fails with the fix (`strata aws-init`).
 */
export interface OpenObjectStoreOptions {
  dataDir: string;
}

const ACCEPTED = "accepted forms: 'file:' (<data dir>/tier), 'file://PATH', 's3://BUCKET/PREFIX'";

/** Where a file: URL puts objects, or null for any other URL. */
export function fileObjectStoreDir(url: string, dataDir: string): string | null {
  if (!url.startsWith('file:')) return null;
  let p = url.slice('file:'.length);
  if (p.startsWith('//')) p = p.slice(2);
  return p === '' ? path.resolve(dataDir, 'tier') : path.resolve(p);
}

export async function openObjectStore(url: string, opts: OpenObjectStoreOptions): Promise<ObjectStore> {
  const dir = fileObjectStoreDir(url, opts.dataDir);
  if (dir !== null) return FileObjectStore.open(dir);
  if (url.startsWith('s3://')) {
    // Loaded on demand: the AWS SDK costs ~100 ms at startup, which file-store users need not pay.
    const { S3ObjectStore } = await import('./s3ObjectStore');
    return S3ObjectStore.open(url);
  }
  throw new StrataError('CONFIG_INVALID', `Unsupported object store URL '${url}'; ${ACCEPTED}.`);
}
