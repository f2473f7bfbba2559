import { CreateBucketCommand, HeadBucketCommand, type BucketLocationConstraint, type S3Client } from '@aws-sdk/client-s3';
import { awsErrorName, awsHttpStatus, isAccessDenied, storeError } from '../common/awsErrors';
import { StrataError } from '../common/errors';
import { formatS3Url, type S3Location } from './s3Url';

/**
 * The bucket behind `s3://BUCKET/PREFIX`: the broker's startup check (HeadBucket) and
 * aws-init's idempotent creation. Strata never creates buckets when it starts: who owns the
 * bucket (CDK, Terraform, aws-init) is the operator's choice.
 */
export interface BucketContext {
  client: S3Client;
  location: S3Location;
  /** describeAws(...) */
  target: string;
  region: string;
}

/** The IAM permissions the broker needs, for messages and the README. */
export const S3_PERMISSIONS = ['s3:ListBucket', 's3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'] as const;

type HeadOutcome = 'exists' | 'missing' | 'denied' | { movedTo: string | undefined };

async function head(ctx: BucketContext): Promise<HeadOutcome> {
  try {
    await ctx.client.send(new HeadBucketCommand({ Bucket: ctx.location.bucket }));
    return 'exists';
  } catch (e) {
    const status = awsHttpStatus(e);
    const name = awsErrorName(e);
    // HEAD responses have no body, so the SDK names these errors after the status code.
    if (status === 404 || name === 'NotFound' || name === 'NoSuchBucket') return 'missing';
    if (status === 301 || name === 'PermanentRedirect' || name === 'MovedPermanently') {
      const headers = (e as { $response?: { headers?: Record<string, string> } }).$response?.headers ?? {};
      return { movedTo: headers['x-amz-bucket-region'] };
    }
    if (isAccessDenied(e)) return 'denied';
    throw storeError(e, { action: 's3:ListBucket', resource: `S3 bucket '${ctx.location.bucket}'`, arn: bucketArn(ctx.location.bucket), target: ctx.target });
  }
}

export function bucketArn(bucket: string): string {
  return `arn:aws:s3:::${bucket}`;
}

function createHint(loc: S3Location): string {
  return `create it with \`strata aws-init --object-store ${formatS3Url(loc)}\` or the LocalStack init hook (localstack/init/ready.d/init-strata.sh)`;
}

function outcomeError(ctx: BucketContext, outcome: Exclude<HeadOutcome, 'exists'>): StrataError {
  const { bucket, prefix } = ctx.location;
  if (outcome === 'missing') {
    return new StrataError('STORE_NOT_FOUND', `S3 bucket '${bucket}' does not exist (${ctx.target}): ${createHint(ctx.location)}`);
  }
  if (outcome === 'denied') {
    const objects = `${bucketArn(bucket)}/${prefix ? `${prefix}/` : ''}*`;
    return new StrataError(
      'STORE_ACCESS_DENIED',
      `access denied to S3 bucket '${bucket}' (${ctx.target}): the broker's IAM identity needs s3:ListBucket on ${bucketArn(bucket)} ` +
        `and s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload on ${objects} (or the bucket belongs to another account)`,
    );
  }
  return new StrataError(
    'CONFIG_INVALID',
    `S3 bucket '${bucket}' is not in ${ctx.region}${outcome.movedTo ? ` but in ${outcome.movedTo}: set AWS_REGION=${outcome.movedTo}` : ': set AWS_REGION to its region'}`,
  );
}

/** The broker's startup check: the bucket exists and this identity may list it. */
export async function checkBucket(ctx: BucketContext): Promise<void> {
  const outcome = await head(ctx);
  if (outcome !== 'exists') throw outcomeError(ctx, outcome);
}

/** aws-init: creates the bucket unless it exists (ours already, or created concurrently). */
export async function ensureBucket(ctx: BucketContext): Promise<'created' | 'exists'> {
  const before = await head(ctx);
  if (before === 'exists') return 'exists';
  if (before !== 'missing') throw outcomeError(ctx, before);
  try {
    await ctx.client.send(
      new CreateBucketCommand({
        Bucket: ctx.location.bucket,
        // us-east-1 is the one region that refuses an explicit location constraint.
        ...(ctx.region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: ctx.region as BucketLocationConstraint } }),
      }),
    );
    return 'created';
  } catch (e) {
    const name = awsErrorName(e);
    if (name === 'BucketAlreadyOwnedByYou') return 'exists';
    if (name === 'BucketAlreadyExists') {
      // Someone else's, or ours created a moment ago by a concurrent aws-init: HeadBucket tells.
      const after = await head(ctx);
      if (after === 'exists') return 'exists';
      throw new StrataError('CONFIG_INVALID', `S3 bucket name '${ctx.location.bucket}' is taken by another account; bucket names are global: pick another`);
    }
    throw storeError(e, { action: 's3:CreateBucket', resource: `S3 bucket '${ctx.location.bucket}'`, arn: bucketArn(ctx.location.bucket), target: ctx.target });
  }
}
