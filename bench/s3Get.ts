import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'stream';
import { Throughput } from './limits';
import { MB, MiB, perSecond, secondsSince } from './units';

/**
 * The object store's own ceiling for the tiered-read phase: plain ranged GETs with the AWS SDK
 * (the client Strata uses), of the objects the broker tiered, in pieces of the read cache's
 * chunk size, `inFlight` at a time. The bodies are only counted, never copied or kept, so this is
 * as fast as the emulator (and the SDK) can serve the same bytes Strata asks for: cold-read
 * MB/s ÷ this says whether the emulator or Strata is the limit.
 */

export interface S3Target {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** Only keys under this prefix ending in `suffix` are read. */
  prefix: string;
  suffix?: string;
}

export interface S3GetResult extends Throughput {
  objects: number;
  gets: number;
  chunkBytes: number;
  inFlight: number;
}

export function s3Client(t: S3Target): S3Client {
  return new S3Client({
    endpoint: t.endpoint,
    region: t.region,
    forcePathStyle: true,
    credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    // No retries: a failed GET fails the measurement instead of being timed.
    maxAttempts: 1,
  });
}

/** Keys and sizes under the prefix ending in the suffix, in key order. */
export async function listObjects(client: S3Client, t: S3Target): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: t.prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined && o.Key.endsWith(t.suffix ?? '')) out.push({ key: o.Key, size: o.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** [start, end] (inclusive) byte ranges of `chunkBytes` covering each object, in object order. */
export function chunkRanges(objects: Array<{ key: string; size: number }>, chunkBytes: number): Array<{ key: string; start: number; end: number }> {
  const out: Array<{ key: string; start: number; end: number }> = [];
  for (const o of objects) {
    for (let start = 0; start < o.size; start += chunkBytes) out.push({ key: o.key, start, end: Math.min(o.size, start + chunkBytes) - 1 });
  }
  return out;
}

/** Ranged GETs over every object under the prefix; fails if any GET fails or returns the wrong length. */
export async function rangedGets(t: S3Target, chunkBytes: number, inFlight: number): Promise<S3GetResult> {
  if (!(chunkBytes > 0) || !(inFlight >= 1)) throw new TypeError('chunkBytes and inFlight must be positive');
  const client = s3Client(t);
  try {
    const objects = await listObjects(client, t);
    if (objects.length === 0) throw new Error(`no objects under s3://${t.bucket}/${t.prefix}${t.suffix ? ` ending in ${t.suffix}` : ''}`);
    const ranges = chunkRanges(objects, chunkBytes);
    let next = 0;
    let bytes = 0;
    const start = process.hrtime.bigint();
    const worker = async (): Promise<void> => {
      while (next < ranges.length) {
        const r = ranges[next++]!;
        const res = await client.send(new GetObjectCommand({ Bucket: t.bucket, Key: r.key, Range: `bytes=${r.start}-${r.end}` }));
        let got = 0;
        for await (const chunk of res.Body as Readable) got += (chunk as Buffer).length;
        if (got !== r.end - r.start + 1) throw new Error(`GET ${r.key} bytes=${r.start}-${r.end} returned ${got} bytes`);
        bytes += got;
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, ranges.length) }, worker));
    const seconds = secondsSince(start);
    const label = chunkBytes % MiB === 0 ? `${chunkBytes / MiB} MiB` : `${chunkBytes} B`;
    return {
      name: `S3 emulator ranged GET, ${label}, ${inFlight} in flight`,
      bytes,
      seconds,
      mbPerSec: perSecond(bytes, seconds) / MB,
      objects: objects.length,
      gets: ranges.length,
      chunkBytes,
      inFlight,
    };
  } finally {
    client.destroy();
  }
}
