import { Match } from 'aws-cdk-lib/assertions';
import { ATTR, metadataTableDefinition } from '../../core/meta/dynamoTable';
import { resourcesOf, synthStrata } from './synth';

/**
 * The stateful stack: what a cluster keeps. Its logical IDs are locked here: CloudFormation
 * treats a resource whose logical ID changed as a new one (a new, empty bucket and table; with
 * RETAIN the old ones are merely orphaned). A refactoring that moves these constructs must keep
 * the IDs (overrideLogicalId) or come with a migration; then update this list knowingly.
 */
const LOCKED_LOGICAL_IDS = {
  'AWS::S3::Bucket': ['SegmentsBucket5FE01FB6'],
  'AWS::S3::BucketPolicy': ['SegmentsBucketPolicyEFFCDA25'],
  'AWS::DynamoDB::Table': ['MetadataTableC8A01DE2'],
  'AWS::SecretsManager::Secret': ['BrokerTls88675735'],
};

describe('stateful stack', () => {
  const { stacks, template } = synthStrata();
  const stateful = [stacks.primary.stateful, stacks.mirror!.stateful];
  const t = template(stacks.primary.stateful);

  test('logical IDs are locked, in both regions, and nothing else is stateful', () => {
    for (const stack of stateful) {
      const tpl = template(stack);
      for (const [type, ids] of Object.entries(LOCKED_LOGICAL_IDS)) {
        expect(Object.keys(tpl.findResources(type)).sort()).toEqual(ids);
      }
      expect(Object.keys(tpl.toJSON().Resources as object).sort()).toEqual(Object.values(LOCKED_LOGICAL_IDS).flat().sort());
    }
  });

  test('termination protection on, bucket, table and secret RETAIN', () => {
    for (const stack of stateful) {
      expect(stack.terminationProtection).toBe(true);
      const tpl = template(stack);
      for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table', 'AWS::SecretsManager::Secret']) {
        for (const r of Object.values(resourcesOf(tpl, type))) {
          expect(r.DeletionPolicy).toBe('Retain');
          expect(r.UpdateReplacePolicy).toBe('Retain');
        }
      }
    }
  });

  test('bucket: SSE, public access blocked, ACLs off, versioned, CDK-generated name', () => {
    t.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      VersioningConfiguration: { Status: 'Enabled' },
      BucketName: Match.absent(),
    });
  });

  test('bucket policy denies requests without TLS, and below TLS 1.2', () => {
    const statements = Object.values(resourcesOf(t, 'AWS::S3::BucketPolicy'))[0].Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> };
    const denies = statements.Statement.filter((s) => s.Effect === 'Deny');
    expect(denies).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
        expect.objectContaining({ Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } }, Principal: { AWS: '*' } }),
      ]),
    );
    expect(statements.Statement.filter((s) => s.Effect === 'Allow')).toEqual([]);
  });

  test('lifecycle follows the broker key layout: incomplete uploads aborted, deleted segments expire, no age rule on live keys', () => {
    const rules = (Object.values(resourcesOf(t, 'AWS::S3::Bucket'))[0].Properties.LifecycleConfiguration as { Rules: Array<Record<string, unknown>> }).Rules;
    expect(rules).toEqual([
      { Id: 'AbortIncompleteMultipartUploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' },
      // <keyPrefix>/remote-log/...: the prefix of every segment object (core/tier/remoteSegmentKeys.ts).
      { Id: 'ExpireDeletedSegments', Prefix: 'strata/remote-log/', NoncurrentVersionExpiration: { NoncurrentDays: 1 }, Status: 'Enabled' },
      { Id: 'RemoveExpiredDeleteMarkers', ExpiredObjectDeleteMarker: true, Status: 'Enabled' },
    ]);
    // Live objects never expire by age: an orphan's key looks like a live segment's.
    for (const r of rules) expect(r).not.toHaveProperty('ExpirationInDays');
  });

  test('table: the key schema and billing of core/meta/dynamoTable.ts, PITR, deletion protection, no TTL', () => {
    const def = metadataTableDefinition('strata-metadata');
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'strata-metadata',
      KeySchema: def!.KeySchema,
      AttributeDefinitions: def!.AttributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: Match.absent(),
      GlobalSecondaryIndexes: Match.absent(),
      LocalSecondaryIndexes: Match.absent(),
      StreamSpecification: Match.absent(),
    });
    expect(def!.KeySchema).toEqual([
      { AttributeName: ATTR.pk, KeyType: 'HASH' },
      { AttributeName: ATTR.sk, KeyType: 'RANGE' },
    ]);
    expect(ATTR).toMatchObject({ pk: 'pk', sk: 'sk' });
  });

  test('TLS secret: a placeholder with the three PEM fields, no key material in the template', () => {
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { SecretStringTemplate: JSON.stringify({ certificateChain: '', caCertificates: '' }), GenerateStringKey: 'key' },
      SecretString: Match.absent(),
    });
  });

  test('outputs: the broker URLs', () => {
    t.hasOutput('MetadataUrl', { Value: 'dynamodb://strata' });
    t.hasOutput('ObjectStoreUrl', { Value: { 'Fn::Join': ['', ['s3://', { Ref: 'SegmentsBucket5FE01FB6' }, '/strata']] } });
  });
});
