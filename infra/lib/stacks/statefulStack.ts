import { CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { MetadataTable } from '../constructs/metadataTable';
import { SegmentBucket } from '../constructs/segmentBucket';

export interface StatefulStackProps extends StackProps {
  /** The table prefix (table <clusterName>-metadata) and the S3 key prefix. */
  readonly clusterName: string;
}

/** The JSON fields of the brokers' TLS secret, each injected into the container as one broker config. */
export const TLS_SECRET_FIELDS = {
  /** PEM private key (PKCS#8, unencrypted) → ssl.keystore.key */
  key: 'key',
  /** PEM certificate chain: the brokers' certificate, then intermediates → ssl.keystore.certificate.chain */
  certificateChain: 'certificateChain',
  /** PEM CA certificate(s) the brokers trust for each other's client certificates → ssl.truststore.certificates */
  caCertificates: 'caCertificates',
} as const;

/**
 * What a cluster keeps: the segments bucket, the metadata table and the brokers' TLS secret. In a
 * stack of its own so that the broker stack can be replaced or destroyed freely: termination
 * protection on, everything RETAIN, and the logical IDs locked by test/infra/statefulStack.test.ts
 * (a changed logical ID is a new resource to CloudFormation, i.e. an empty bucket and table).
 */
export class StatefulStack extends Stack {
  readonly segments: SegmentBucket;
  readonly metadata: MetadataTable;
  /**
   * The brokers' certificate and key, filled in by the operator before the brokers start
   * (docs/deploy.md): JSON with the fields of TLS_SECRET_FIELDS. Created here with placeholder
   * values so that its ARN is known to the broker stack and it outlives broker stack deletes.
   */
  readonly tlsSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    this.segments = new SegmentBucket(this, 'Segments', { keyPrefix: props.clusterName });
    this.metadata = new MetadataTable(this, 'Metadata', { tablePrefix: props.clusterName });
    this.tlsSecret = new secretsmanager.Secret(this, 'BrokerTls', {
      description: `Strata ${props.clusterName}: the brokers' TLS key, certificate chain and CA (PEM), JSON {"${TLS_SECRET_FIELDS.key}","${TLS_SECRET_FIELDS.certificateChain}","${TLS_SECRET_FIELDS.caCertificates}"}; put the real value before deploying the brokers`,
      // A placeholder: CloudFormation must not hold the key. The operator writes the real JSON with
      // `aws secretsmanager put-secret-value` (docs/deploy.md, step 3).
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ [TLS_SECRET_FIELDS.certificateChain]: '', [TLS_SECRET_FIELDS.caCertificates]: '' }),
        generateStringKey: TLS_SECRET_FIELDS.key,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.tlsSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'A certificate and its key are renewed by re-issuing them from the CA, not by a rotation Lambda: the operator puts the new PEM and rolls the brokers (docs/deploy.md, "Renewing the certificate").',
    });

    new CfnOutput(this, 'BucketName', { value: this.segments.bucket.bucketName, description: 'segments bucket' });
    new CfnOutput(this, 'ObjectStoreUrl', { value: this.segments.objectStoreUrl, description: "the brokers' --object-store" });
    new CfnOutput(this, 'MetadataUrl', { value: this.metadata.metadataUrl, description: "the brokers' --metadata (strata storage format, strata aws-init)" });
    new CfnOutput(this, 'TlsSecretArn', { value: this.tlsSecret.secretArn, description: 'put the brokers\' TLS JSON here before deploying the brokers' });
  }
}
