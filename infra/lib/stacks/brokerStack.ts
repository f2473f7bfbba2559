import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { BrokerCluster, type BrokerClusterProps } from '../constructs/brokerCluster';
import { Network } from '../constructs/network';
import type { ClusterEnvironment } from '../environments';

/** The stateful stack's resources (typed references), the image and extra broker configs go to BrokerCluster as they are. */
export interface BrokerStackProps
  extends StackProps,
    Pick<BrokerClusterProps, 'bucket' | 'objectKeyPrefix' | 'table' | 'tablePrefix' | 'tlsSecret' | 'tlsSecretFields' | 'image' | 'brokerConfigs'> {
  readonly environment: ClusterEnvironment;
  readonly clusterName: string;
}

/**
 * A cluster's compute and network: the VPC over three zones and the brokers (BrokerCluster). Holds
 * no data of its own (segments and metadata live in the stateful stack), so it can be destroyed
 * and re-created; its brokers then start from the tiered segments and the metadata table.
 */
export class BrokerStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly brokers: BrokerCluster;
  private readonly zones: readonly string[];

  constructor(scope: Construct, id: string, props: BrokerStackProps) {
    super(scope, id, props);
    const env = props.environment;
    this.zones = env.availabilityZones;
    this.vpc = new Network(this, 'Network', { cidr: env.vpcCidr, availabilityZones: env.availabilityZones }).vpc;
    this.brokers = new BrokerCluster(this, 'Brokers', {
      vpc: this.vpc,
      brokerCount: env.brokerCount,
      availabilityZones: env.availabilityZones,
      bucket: props.bucket,
      objectKeyPrefix: props.objectKeyPrefix,
      table: props.table,
      tablePrefix: props.tablePrefix,
      tlsSecret: props.tlsSecret,
      tlsSecretFields: props.tlsSecretFields,
      clientHostName: env.clientHostName,
      clientCidrs: [env.vpcCidr, ...env.extraClientCidrs],
      metricsCidrs: [env.vpcCidr],
      internalDomain: `brokers.${props.clusterName}.internal`,
      image: props.image,
      brokerConfigs: props.brokerConfigs,
    });

    new CfnOutput(this, 'BootstrapServers', { value: this.brokers.bootstrapServers, description: 'bootstrap.servers for Kafka clients (SASL_SSL, SCRAM-SHA-512)' });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: this.brokers.loadBalancer.loadBalancerDnsName, description: 'point the client host name (the certificate\'s name) here' });
    new CfnOutput(this, 'BrokerAddresses', { value: this.brokers.brokerAddresses.join(','), description: 'what each broker advertises, by node.id' });
    // For peering with the other region's VPC (docs/deploy.md, "Mirroring a topic to a second region").
    new CfnOutput(this, 'VpcId', { value: this.vpc.vpcId });
    new CfnOutput(this, 'PrivateRouteTableIds', { value: this.vpc.privateSubnets.map((s) => s.routeTable.routeTableId).join(',') });
    new CfnOutput(this, 'LogGroupName', { value: this.brokers.logGroup.logGroupName, description: 'the brokers\' logs (stream broker-<node.id>/broker/<task id>)' });
    new CfnOutput(this, 'ClusterName', { value: this.brokers.cluster.clusterName, description: 'the ECS cluster' });
    new CfnOutput(this, 'ServiceNames', { value: this.brokers.services.map((s) => s.serviceName).join(','), description: 'the ECS services, by node.id' });
  }

  /** The zones are given, never looked up: synthesis needs no AWS credentials. */
  override get availabilityZones(): string[] {
    return [...this.zones];
  }
}
