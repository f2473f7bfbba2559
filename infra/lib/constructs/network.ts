import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  readonly cidr: string;
  /** Exactly three zone names: brokers are spread over them. */
  readonly availabilityZones: readonly string[];
  /**
   * NAT gateways (default 1). Segments and metadata never pass through NAT (S3 and DynamoDB are
   * gateway endpoints, free); NAT carries only image pulls, logs, Secrets Manager and ECS's own
   * calls. With 1, losing its zone stops new tasks elsewhere from pulling their image until it
   * is back; 3 removes that dependency for 2 × $0.045/h more.
   */
  readonly natGateways?: number;
}

/**
 * The cluster's VPC over three availability zones: public subnets (NAT gateways, and the load
 * balancer when it is internet-facing), private subnets for brokers and functions, gateway
 * endpoints for S3 and DynamoDB (the brokers' data path stays off NAT), and flow logs of
 * rejected traffic (what a security group refused: the useful part for debugging and audit, at a
 * fraction of logging every flow of the replication traffic).
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    if (props.availabilityZones.length !== 3) throw new Error(`Network: three availability zones expected, got ${props.availabilityZones.length}`);
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr),
      availabilityZones: [...props.availabilityZones],
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        Rejected: { trafficType: ec2.FlowLogTrafficType.REJECT, destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) },
      },
    });
    Validations.of(this.vpc).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason:
        'The zones are named on purpose: each broker is pinned to one and advertises it as broker.rack, and naming them keeps synthesis free of AWS lookups. They come from the environment model (strata:<env>Azs).',
    });
  }
}
