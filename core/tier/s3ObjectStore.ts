import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { commonClientOptions, describeAws, resolveAwsSettings, s3ClientExtras, type AwsSettings } from '../common/awsConfig';
import { awsErrorName, awsHttpStatus, storeError } from '../common/awsErrors';
import { StrataError } from '../common/errors';
import { checkObjectKey, checkRange, MAX_OBJECT_KEY_BYTES, type ByteRange, type ObjectInfo, type ObjectStore } from './objectStore';
import { PieceReader, readBody } from './s3Body';
import { bucketArn, checkBucket, type BucketContext } from './s3Bucket';
import { parseS3Url, type S3Location } from './s3Url';

/**
 * The object store on Amazon S3 (or anything speaking its API): `s3://BUCKET/PREFIX`, object
 * key K at `PREFIX/K`.
 *
 * - put: one PutObject up to `multipartThresholdBytes` (16 MiB), above it a multipart upload
 *   in `partSizeBytes` (8 MiB) parts, one part in memory at a time, aborted on any failure so
 *   no part lingers. Either way the object appears whole or not at all (S3 makes an object
 *   visible only when its PutObject or CompleteMultipartUpload succeeds).
 * - Write-once: puts carry `If-None-Match: *`, so S3 refuses to replace an existing key
 *   (412 → KEY_EXISTS; 409, a concurrent conditional write in flight, is retried). Endpoints
 *   that ignore the header (s3rver) simply overwrite, and one that rejects it (501) gets
 *   plain puts from then on. Nothing relies on it: the tiering code makes keys unique.
 * - get: ranged GETs with the port's inclusive range; an end past the object is clamped by
 *   S3, a start at or past it is 416 → OFFSET_OUT_OF_RANGE. Bodies are read into a buffer
 *   sized from the request and checked against the announced length.
 * - list: ListObjectsV2, 1000 keys a page, yielded page by page (S3 lists in UTF-8 byte order).
 * - delete: DeleteObject, idempotent in S3 itself.
 * Failures the SDK could not retry away become STORE_UNAVAILABLE / STORE_ACCESS_DENIED with
 * the call, the object and the missing permission named (awsErrors.ts).
 */
export interface S3ObjectStoreOptions {
  /** A client to use instead of one built from the AWS configuration; not destroyed by close(). */
  client?: S3Client;
  /** Region and endpoint already resolved (with `client`, for messages). */
  settings?: AwsSettings;
  /** Bodies up to this many bytes go in one PutObject (default 16 MiB). */
  multipartThresholdBytes?: number;
  /** Multipart part size (default 8 MiB; S3's minimum is 5 MiB). */
  partSizeBytes?: number;
}

const MiB = 1024 * 1024;
const MIN_PART_BYTES = 5 * MiB;
const MAX_PARTS = 10_000;
/** Retries of a 409 ConditionalRequestConflict (another conditional write to the key in flight). */
const CONFLICT_RETRIES = 3;

export class S3ObjectStore implements ObjectStore {
  private closed = false;
  /** Cleared when the endpoint answers If-None-Match with 501 Not Implemented. */
  private conditionalPuts = true;
  private readonly threshold: number;
  private readonly partSize: number;

  private constructor(
    private readonly ctx: BucketContext,
    private readonly ownsClient: boolean,
    opts: S3ObjectStoreOptions,
  ) {
    this.partSize = opts.partSizeBytes ?? 8 * MiB;
    this.threshold = opts.multipartThresholdBytes ?? 16 * MiB;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_BYTES) throw new TypeError(`partSizeBytes must be at least ${MIN_PART_BYTES}`);
    if (!Number.isSafeInteger(this.threshold) || this.threshold < this.partSize) throw new TypeError('multipartThresholdBytes must be at least partSizeBytes');
  }

  get location(): S3Location {
    return { ...this.ctx.location };
  }

  /** Builds the client from the AWS configuration and checks the bucket (HeadBucket). */
  static async open(url: string | S3Location, opts: S3ObjectStoreOptions = {}): Promise<S3ObjectStore> {
    const location = typeof url === 'string' ? parseS3Url(url) : url;
    const settings = opts.settings ?? (await s3Settings());
    const client = opts.client ?? createS3Client(settings);
    const ctx: BucketContext = { client, location, target: describeAws(settings), region: settings.region };
    try {
      const store = new S3ObjectStore(ctx, !opts.client, opts);
      await checkBucket(ctx);
      return store;
    } catch (e) {
      if (!opts.client) client.destroy();
      throw e;
    }
  }

  async put(key: string, body: Buffer | Readable, opts: { contentLength?: number } = {}): Promise<void> {
    const full = this.fullKey(key);
    this.checkOpen();
    const expected = opts.contentLength;
    if (Buffer.isBuffer(body)) {
      if (expected !== undefined && body.length !== expected) throw lengthMismatch(key, body.length, expected);
      if (body.length <= this.threshold) return this.putWhole(key, full, body);
      const pieces: Buffer[] = [];
      for (let at = 0; at < body.length; at += this.partSize) pieces.push(body.subarray(at, at + this.partSize));
      return this.multipart(key, full, async () => pieces.shift() ?? Buffer.alloc(0), () => undefined);
    }
    const reader = new PieceReader(body);
    const overLimit = (): void => {
      if (expected !== undefined && reader.total > expected) throw lengthMismatch(key, reader.total, expected);
    };
    let first: Buffer;
    try {
      first = await reader.read(this.threshold + 1);
      overLimit();
    } catch (e) {
      await reader.cancel();
      throw bodyError(key, e);
    }
    if (first.length <= this.threshold) {
      if (expected !== undefined && first.length !== expected) throw lengthMismatch(key, first.length, expected);
      return this.putWhole(key, full, first);
    }
    reader.unshift(first);
    const next = async (): Promise<Buffer> => {
      let piece: Buffer;
      try {
        piece = await reader.read(this.partSize);
      } catch (e) {
        throw bodyError(key, e);
      }
      overLimit();
      return piece;
    };
    try {
      await this.multipart(key, full, next, () => {
        if (expected !== undefined && reader.total !== expected) throw lengthMismatch(key, reader.total, expected);
      });
    } finally {
      await reader.cancel();
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    const full = this.fullKey(key);
    if (range) checkRange(range);
    this.checkOpen();
    let out;
    try {
      out = await this.ctx.client.send(
        new GetObjectCommand({ Bucket: this.ctx.location.bucket, Key: full, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
    } catch (e) {
      const name = awsErrorName(e);
      if (name === 'NoSuchKey' || awsHttpStatus(e) === 404) throw notFound(key);
      if (name === 'InvalidRange' || awsHttpStatus(e) === 416) {
        throw new StrataError('OFFSET_OUT_OF_RANGE', `object ${key}: range start ${range?.start} is not below its size`);
      }
      throw this.error(e, 's3:GetObject', full);
    }
    const body = out.Body as Readable | undefined;
    const length = out.ContentLength ?? 0;
    // "bytes START-END/SIZE" on a 206; a 200 means the whole object came (no range, or ignored).
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange ?? '');
    const size = m ? Number(m[3]) : length;
    const servedFrom = m ? Number(m[1]) : 0;
    let skip = 0;
    let take = length;
    if (range) {
      if (range.start >= size) {
        body?.destroy();
        throw new StrataError('OFFSET_OUT_OF_RANGE', `object ${key}: range start ${range.start} is not below its size ${size}`);
      }
      skip = range.start - servedFrom;
      take = Math.min(range.end, size - 1) - range.start + 1;
      if (skip < 0 || skip + take > length) {
        body?.destroy();
        throw new StrataError('STORE_UNAVAILABLE', `object ${key}: ${this.ctx.target} answered range ${range.start}-${range.end} with ${out.ContentRange ?? `${length} bytes`}`);
      }
    }
    if (!body) {
      if (take === 0) return Buffer.alloc(0);
      throw new StrataError('STORE_UNAVAILABLE', `object ${key}: ${this.ctx.target} sent no body`);
    }
    try {
      return await readBody(body, length, skip, take);
    } catch (e) {
      throw this.error(e, 's3:GetObject', full);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const full = this.fullKey(key);
    this.checkOpen();
    try {
      const out = await this.ctx.client.send(new HeadObjectCommand({ Bucket: this.ctx.location.bucket, Key: full }));
      return { size: out.ContentLength ?? 0 };
    } catch (e) {
      if (awsHttpStatus(e) === 404 || awsErrorName(e) === 'NotFound' || awsErrorName(e) === 'NoSuchKey') return null;
      throw this.error(e, 's3:GetObject', full);
    }
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    this.checkOpen();
    const root = this.ctx.location.prefix ? `${this.ctx.location.prefix}/` : '';
    const store = this;
    async function* pages(): AsyncGenerator<ObjectInfo> {
      let token: string | undefined;
      do {
        store.checkOpen();
        let page;
        try {
          page = await store.ctx.client.send(
            new ListObjectsV2Command({ Bucket: store.ctx.location.bucket, Prefix: root + prefix, ...(token ? { ContinuationToken: token } : {}) }),
          );
        } catch (e) {
          throw store.error(e, 's3:ListBucket', undefined);
        }
        for (const o of page.Contents ?? []) {
          if (o.Key === undefined || !o.Key.startsWith(root)) continue;
          yield { key: o.Key.slice(root.length), size: o.Size ?? 0 };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    }
    return { [Symbol.asyncIterator]: () => pages() };
  }

  async delete(key: string): Promise<void> {
    const full = this.fullKey(key);
    this.checkOpen();
    try {
      await this.ctx.client.send(new DeleteObjectCommand({ Bucket: this.ctx.location.bucket, Key: full }));
    } catch (e) {
      if (awsErrorName(e) === 'NoSuchKey' || awsHttpStatus(e) === 404) return;
      throw this.error(e, 's3:DeleteObject', full);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.ctx.client.destroy();
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', `object store s3://${this.ctx.location.bucket}/${this.ctx.location.prefix} is closed`);
  }

  /** Validates the port's key and maps it under the URL's prefix. */
  private fullKey(key: string): string {
    checkObjectKey(key);
    const full = this.ctx.location.prefix ? `${this.ctx.location.prefix}/${key}` : key;
    if (Buffer.byteLength(full) > MAX_OBJECT_KEY_BYTES) {
      throw new TypeError(`object key ${JSON.stringify(key)} under prefix '${this.ctx.location.prefix}' is longer than S3's ${MAX_OBJECT_KEY_BYTES} bytes`);
    }
    return full;
  }

  /** One PutObject, conditional where the endpoint supports it. */
  private async putWhole(key: string, full: string, body: Buffer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const conditional = this.conditionalPuts;
      try {
        await this.ctx.client.send(
          new PutObjectCommand({
            Bucket: this.ctx.location.bucket,
            Key: full,
            Body: body,
            ContentLength: body.length,
            ...(conditional ? { IfNoneMatch: '*' } : {}),
          }),
        );
        return;
      } catch (e) {
        const retry = this.conditionalOutcome(key, e, conditional, attempt);
        if (retry) continue;
        throw this.error(e, 's3:PutObject', full);
      }
    }
  }

  /**
   * For a failed conditional write: throws KEY_EXISTS for 412, returns true to retry (409
   * conflict, or 501 for the header), false when the failure is something else.
   */
  private conditionalOutcome(key: string, e: unknown, conditional: boolean, attempt: number): boolean {
    const status = awsHttpStatus(e);
    const name = awsErrorName(e);
    if (!conditional) return false;
    if (status === 412 || name === 'PreconditionFailed') throw existsError(key);
    if ((status === 409 || name === 'ConditionalRequestConflict') && attempt < CONFLICT_RETRIES) return true;
    if (status === 501 || name === 'NotImplemented') {
      this.conditionalPuts = false;
      return true;
    }
    return false;
  }

  /**
   * A multipart upload: parts come from `nextPart` (an empty buffer ends them); `beforeComplete`
   * may refuse (wrong length). Any failure aborts the upload so no parts are left billed.
   */
  private async multipart(key: string, full: string, nextPart: () => Promise<Buffer>, beforeComplete: () => void): Promise<void> {
    const bucket = this.ctx.location.bucket;
    let uploadId: string | undefined;
    try {
      const created = await this.ctx.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: full })).catch((e: unknown) => {
        throw this.error(e, 's3:PutObject', full);
      });
      uploadId = created.UploadId;
      if (!uploadId) throw new StrataError('STORE_UNAVAILABLE', `object ${key}: ${this.ctx.target} returned no multipart upload id`);
      const parts: CompletedPart[] = [];
      for (;;) {
        const piece = await nextPart();
        if (piece.length === 0) break;
        const PartNumber = parts.length + 1;
        if (PartNumber > MAX_PARTS) throw new StrataError('STORAGE_IO', `object ${key} needs more than ${MAX_PARTS} parts of ${this.partSize} bytes`);
        const out = await this.ctx.client
          .send(new UploadPartCommand({ Bucket: bucket, Key: full, UploadId: uploadId, PartNumber, Body: piece, ContentLength: piece.length }))
          .catch((e: unknown) => {
            throw this.error(e, 's3:PutObject', full);
          });
        parts.push({ PartNumber, ETag: out.ETag });
        if (piece.length < this.partSize) break; // a short part is the last
      }
      beforeComplete();
      for (let attempt = 0; ; attempt++) {
        const conditional = this.conditionalPuts;
        try {
          await this.ctx.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: full,
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
              ...(conditional ? { IfNoneMatch: '*' } : {}),
            }),
          );
          return;
        } catch (e) {
          if (this.conditionalOutcome(key, e, conditional, attempt)) continue;
          throw this.error(e, 's3:PutObject', full);
        }
      }
    } catch (e) {
      if (uploadId) {
        // Best effort: a part left behind is billed but never visible; a bucket lifecycle
        // rule (AbortIncompleteMultipartUpload) collects what this cannot.
        await this.ctx.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: full, UploadId: uploadId })).catch(() => undefined);
      }
      throw e;
    }
  }

  private error(e: unknown, action: string, full: string | undefined): StrataError {
    const bucket = this.ctx.location.bucket;
    const arn = full === undefined ? bucketArn(bucket) : `${bucketArn(bucket)}/${full}`;
    const resource = full === undefined ? `S3 bucket '${bucket}'` : `S3 object s3://${bucket}/${full}`;
    return storeError(e, { action, resource, arn, target: this.ctx.target });
  }
}

function notFound(key: string): StrataError {
  return new StrataError('NOT_FOUND', `object ${key} does not exist`);
}

function existsError(key: string): StrataError {
  return new StrataError('KEY_EXISTS', `object ${key} already exists; objects are write-once`);
}

function lengthMismatch(key: string, got: number, expected: number): StrataError {
  return new StrataError('STORAGE_IO', `object ${key}: body was ${got}${got > expected ? '+' : ''} bytes but contentLength said ${expected}; nothing was stored`);
}

/** A failure of the caller's body stream, not of S3. */
function bodyError(key: string, e: unknown): unknown {
  if (e instanceof StrataError) return e;
  return new StrataError('STORAGE_IO', `storing object ${key}: reading the body failed: ${(e as Error).message}`, { cause: e });
}

/** Region and endpoint for S3 from the standard AWS configuration (see awsConfig.ts). */
export function s3Settings(): Promise<AwsSettings> {
  return resolveAwsSettings('s3', async () => {
    const probe = new S3Client({});
    try {
      return await probe.config.region();
    } finally {
      probe.destroy();
    }
  });
}

export function createS3Client(settings: AwsSettings): S3Client {
  return new S3Client({ ...commonClientOptions(settings), ...s3ClientExtras(settings) });
}
