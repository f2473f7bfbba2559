import { describeAws } from '../common/awsConfig';
import { formatS3Url, parseS3Url } from '../tier/s3Url';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { writeOut, type CliIO } from './io';

/**
 * `strata aws-init`: creates what the AWS backends need, so the broker (which only checks)
 * can start: the DynamoDB table for `--metadata dynamodb://PREFIX` (on-demand billing, the
 * key schema in core/meta/dynamoTable.ts) and the S3 bucket for `--object-store
 * s3://BUCKET/PREFIX`. Idempotent: what exists is left alone and reported. Region, endpoint
 * and credentials come from the standard AWS configuration, as for the broker.
 */
export const awsInitSpec: CommandSpec = {
  name: 'aws-init',
  summary: 'Create the DynamoDB table and S3 bucket the AWS backends use, if missing (idempotent).',
  flags: [
    { name: 'metadata', kind: 'value', valueName: 'URL', description: 'dynamodb://TABLE_PREFIX: create table TABLE_PREFIX-metadata (on-demand billing).' },
    { name: 'object-store', kind: 'value', valueName: 'URL', description: 's3://BUCKET/PREFIX: create the bucket.' },
  ],
  examples: [
    'strata aws-init --metadata dynamodb://strata --object-store s3://my-strata-bucket/cluster1',
    'AWS_ENDPOINT_URL=http://localhost:4566 strata aws-init --metadata dynamodb://strata --object-store s3://strata/tier',
  ],
};

export async function runAwsInit(args: ParsedArgs, io: CliIO): Promise<number> {
  const metadata = args.string('metadata');
  const objectStore = args.string('object-store');
  if (metadata === undefined && objectStore === undefined) {
    throw new UsageError('give --metadata dynamodb://PREFIX and/or --object-store s3://BUCKET/PREFIX', awsInitSpec);
  }
  // Both URLs are checked before anything is created.
  if (metadata !== undefined && !metadata.startsWith('dynamodb://')) {
    throw new UsageError(`--metadata must be a dynamodb:// URL (got '${metadata}'); embedded stores need no setup`, awsInitSpec);
  }
  if (objectStore !== undefined && !objectStore.startsWith('s3://')) {
    throw new UsageError(`--object-store must be an s3:// URL (got '${objectStore}'); file stores need no setup`, awsInitSpec);
  }
  // The AWS SDK is loaded only now, so `strata` stays quick to start for every other command.
  const { ensureMetadataTable, parseDynamoUrl } = await import('../meta/dynamoTable');
  const { createDynamoClient, dynamoSettings } = await import('../meta/dynamoKv');
  const { ensureBucket } = await import('../tier/s3Bucket');
  const { createS3Client, s3Settings } = await import('../tier/s3ObjectStore');
  const table = metadata === undefined ? undefined : parseDynamoUrl(metadata);
  const location = objectStore === undefined ? undefined : parseS3Url(objectStore);

  if (table) {
    const settings = await dynamoSettings();
    const client = createDynamoClient(settings);
    try {
      const target = describeAws(settings);
      const outcome = await ensureMetadataTable({ client, tableName: table.tableName, prefix: table.prefix, target, region: settings.region });
      await writeOut(
        io.stdout,
        outcome === 'created'
          ? `Created DynamoDB table ${table.tableName} (on-demand billing) in ${target}.\n`
          : `DynamoDB table ${table.tableName} already exists in ${target}; left as it is.\n`,
      );
    } finally {
      client.destroy();
    }
  }
  if (location) {
    const settings = await s3Settings();
    const client = createS3Client(settings);
    try {
      const target = describeAws(settings);
      const outcome = await ensureBucket({ client, location, target, region: settings.region });
      await writeOut(
        io.stdout,
        outcome === 'created'
          ? `Created S3 bucket ${location.bucket} in ${target}; objects will live under ${formatS3Url(location)}/.\n`
          : `S3 bucket ${location.bucket} already exists in ${target}; left as it is.\n`,
      );
    } finally {
      client.destroy();
    }
  }
  return 0;
}
