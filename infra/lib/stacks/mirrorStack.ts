import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { MirrorFunction } from '../constructs/mirrorFunction';
import type { MirrorSettings } from '../environments';

export interface MirrorStackProps extends StackProps {
  /** The target region's VPC (its broker stack's): the function and its pollers run there. */
  readonly vpc: ec2.IVpc;
  /** The target cluster's bootstrap address (its broker stack's). */
  readonly targetBootstrapServers: string;
  readonly mirroring: MirrorSettings;
}

/**
 * The mirror function, deployed in the target (mirror) region: it reads the primary cluster's
 * topics through Lambda's self-managed Kafka event source and produces them into this region's
 * cluster. Stateless; its two credential secrets are re-created with it (the users on the
 * clusters must then be given the new passwords, docs/deploy.md).
 */
export class MirrorStack extends Stack {
  readonly mirror: MirrorFunction;

  constructor(scope: Construct, id: string, props: MirrorStackProps) {
    super(scope, id, props);
    this.mirror = new MirrorFunction(this, 'Mirror', {
      vpc: props.vpc,
      sourceAlias: props.mirroring.sourceAlias,
      sourceBootstrapServers: props.mirroring.sourceBootstrapServers,
      topics: props.mirroring.topics,
      targetBootstrapServers: props.targetBootstrapServers,
      caPem: props.mirroring.caPem,
    });
    new CfnOutput(this, 'FunctionName', { value: this.mirror.function.functionName });
    new CfnOutput(this, 'SourceCredentialsArn', { value: this.mirror.sourceCredentials.secretArn, description: 'create this SCRAM-SHA-512 user on the source (primary) cluster' });
    new CfnOutput(this, 'TargetCredentialsArn', { value: this.mirror.targetCredentials.secretArn, description: 'create this SCRAM-SHA-512 user on the target (this region\'s) cluster' });
  }
}
