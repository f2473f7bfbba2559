import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { expectWildcardResources } from '../nag';
import { DEFAULT_KEY_PREFIX } from '../../../core/tier/remoteSegmentKeys';

export interface SegmentBucketProps {
  /** The key prefix of the broker's `s3://BUCKET/PREFIX` URL: the cluster's objects live under it. */
  readonly keyPrefix: string;
  /**
   * How long an object the broker deleted (retention, orphan sweep, a failed upload's cleanup)
   * stays recoverable as a noncurrent version. Default 1 day.
   */
  readonly deletedObjectRetention?: Duration;
  /** When an unfinished multipart upload is aborted. Default 1 day. */
  readonly incompleteUploadExpiry?: Duration;
}

/**
 * The bucket holding tiered (closed) segments: `s3://<bucket>/<keyPrefix>`, its objects laid out
 * by core/tier/remoteSegmentKeys.ts as
 *
 *   <keyPrefix>/remote-log/<topicId>/<partition>/<baseOffset:20>-<leaderEpoch>-<segmentId>.{log,index,timeindex,txnindex,snapshot}
 *
 * Every object is written once under its final key (a fresh random segment id per upload
 * attempt): there is no temporary or upload prefix, and a visible object is never partial
 * (PutObject, or CompleteMultipartUpload above 16 MiB). So the lifecycle rules follow that
 * layout:
 * - an unfinished multipart upload (a broker killed mid-upload; S3ObjectStore aborts the ones it
 *   can) is the only incomplete state: aborted after `incompleteUploadExpiry`;
 * - an orphan (objects of an upload whose metadata record never committed) has a key of the same
 *   form as a live segment's, so no key or age rule can tell them apart: expiring by age would
 *   delete live segments of topics with long retention. The broker deletes orphans itself (the
 *   orphan sweep at partition open, a failed upload's cleanup) and deletes segments past
 *   retention. The bucket is versioned so that those deletes are recoverable for
 *   `deletedObjectRetention`; noncurrent versions then expire, and the delete markers left
 *   behind are removed.
 *
 * SSE-S3 encryption (no KMS request per GET/PUT), public access blocked, TLS enforced by the
 * bucket policy, ACLs off, RETAIN: deleting the stack never deletes tiered data.
 */
export class SegmentBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly keyPrefix: string;

  constructor(scope: Construct, id: string, props: SegmentBucketProps) {
    super(scope, id);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(props.keyPrefix)) throw new Error(`SegmentBucket: keyPrefix must be lower-case letters, digits and '-', got '${props.keyPrefix}'`);
    this.keyPrefix = props.keyPrefix;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: props.incompleteUploadExpiry ?? Duration.days(1) },
        {
          id: 'ExpireDeletedSegments',
          prefix: `${this.keyPrefix}/${DEFAULT_KEY_PREFIX}/`,
          noncurrentVersionExpiration: props.deletedObjectRetention ?? Duration.days(1),
        },
        { id: 'RemoveExpiredDeleteMarkers', expiredObjectDeleteMarker: true },
      ],
    });
    Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Server access logs would log every segment GET and PUT the brokers make (read-ahead chunks of 4 MiB), a second request stream as large as the first; request auditing, when needed, is CloudTrail data events on this bucket.',
    });
  }

  /** The broker's --object-store URL. */
  get objectStoreUrl(): string {
    return `s3://${this.bucket.bucketName}/${this.keyPrefix}`;
  }

  /** What a broker needs (core/tier/s3Bucket.ts S3_PERMISSIONS): list the bucket; get, put, delete and abort uploads under the key prefix only. */
  grantBroker(grantee: iam.IGrantable & IConstruct): iam.Grant {
    return grantSegments(this.bucket, this.keyPrefix, grantee);
  }
}

/** The wildcard actions of Bucket.grantReadWrite, each a family the broker uses a member of. */
const READ_WRITE_WILDCARD_ACTIONS = ['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*'];

/**
 * The broker's grant on a segments bucket, possibly from another stack (typed props:
 * `bucket: s3.IBucket`): Bucket.grantReadWrite limited to `<keyPrefix>/*`, with cdk-nag's wildcard
 * findings on it acknowledged here, where the reason is known.
 */
export function grantSegments(bucket: s3.IBucket, keyPrefix: string, grantee: iam.IGrantable & IConstruct): iam.Grant {
  const grant = bucket.grantReadWrite(grantee, `${keyPrefix}/*`);
  for (const action of READ_WRITE_WILDCARD_ACTIONS) {
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Action::${action}]`,
      reason: `Bucket.grantReadWrite's action family ${action}, on this bucket and the objects under ${keyPrefix}/ only: the broker lists, reads, writes, deletes segment objects and aborts its multipart uploads (core/tier/s3Bucket.ts S3_PERMISSIONS).`,
    });
  }
  expectWildcardResources(
    grantee,
    `/${keyPrefix}/*`,
    `The objects under the cluster's key prefix ${keyPrefix}/: every key a broker writes is <prefix>/remote-log/<topicId>/<partition>/<segment>.<ext>, named per upload, so no fixed list exists.`,
  );
  return grant;
}
