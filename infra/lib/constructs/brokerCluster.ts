import { Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import { repoRoot } from '../paths';
import { grantMetadata } from './metadataTable';
import { grantSegments } from './segmentBucket';

/** The container's ports. */
export const CLIENT_PORT = 9092;
export const INTERNAL_PORT = 9094;
export const METRICS_PORT = 9644;
/** The load balancer's ports: bootstrap (every broker), then one per broker: node.id i at FIRST_BROKER_PORT + i. */
export const BOOTSTRAP_PORT = 9092;
export const FIRST_BROKER_PORT = 9100;
/** The broker's data directory in the image (Dockerfile: STRATA_LOG_DIRS). */
export const DATA_DIR = '/var/lib/strata';

/** The JSON fields of the TLS secret (StatefulStack's TLS_SECRET_FIELDS). */
export interface TlsSecretFields {
  readonly key: string;
  readonly certificateChain: string;
  readonly caCertificates: string;
}

export interface BrokerClusterProps {
  readonly vpc: ec2.IVpc;
  /** Brokers, node.id 0..brokerCount-1; broker i runs in availabilityZones[i % 3]. */
  readonly brokerCount: number;
  readonly availabilityZones: readonly string[];
  readonly bucket: s3.IBucket;
  /** The `s3://BUCKET/PREFIX` prefix; the brokers' S3 grant is limited to it. */
  readonly objectKeyPrefix: string;
  readonly table: dynamodb.ITable;
  /** The `dynamodb://PREFIX` prefix (the table is PREFIX-metadata). */
  readonly tablePrefix: string;
  /** PEM key, certificate chain and CA for the SASL_SSL and internal listeners (see StatefulStack). */
  readonly tlsSecret: secretsmanager.ISecret;
  readonly tlsSecretFields: TlsSecretFields;
  /** Advertised host of the client listener; default the load balancer's DNS name. */
  readonly clientHostName?: string;
  /** Who may reach the Kafka ports of the load balancer. */
  readonly clientCidrs: readonly string[];
  /** Who may scrape the brokers' metrics endpoint (default: none besides the load balancer's health checks). */
  readonly metricsCidrs?: readonly string[];
  /** The private DNS domain of the brokers' internal names: b<node.id>.<internalDomain>. */
  readonly internalDomain: string;
  /** Default: built from the repository's Dockerfile at deploy time. */
  readonly image?: ecs.ContainerImage;
  /** Per broker; defaults 2 vCPU, 8 GiB, 200 GiB of ephemeral storage (Fargate's maximum). */
  readonly cpu?: number;
  readonly memoryLimitMiB?: number;
  readonly ephemeralStorageGiB?: number;
  /** An internet-facing load balancer in the public subnets (default: internal). */
  readonly internetFacing?: boolean;
  /**
   * More broker configs by Kafka name (log.local.retention.ms, num.partitions, ...), passed as
   * STRATA_* variables; they win over the defaults here, except the ones this construct owns
   * (BROKER_OWNED_CONFIGS: identity, addresses, stores).
   */
  readonly brokerConfigs?: Readonly<Record<string, string>>;
}

/** Configs set per broker or tied to this deployment's resources: brokerConfigs may not change them. */
export const BROKER_OWNED_CONFIGS = [
  'node.id',
  'broker.id',
  'broker.rack',
  'listeners',
  'advertised.listeners',
  'listener.security.protocol.map',
  'inter.broker.listener.name',
  'metadata',
  'object.store',
  'log.dirs',
  'log.dir',
  'metrics.listener',
];

/** A broker config by Kafka name as the STRATA_* variable `strata broker` reads (core/config/brokerConfig.ts). */
export function configEnvName(name: string): string {
  if (!/^[a-z0-9.]+$/.test(name)) throw new Error(`broker config '${name}' cannot be passed as an environment variable`);
  return `STRATA_${name.toUpperCase().replace(/\./g, '_')}`;
}

/** The broker image built from the repository's Dockerfile (at `cdk deploy`, by the CDK's asset publishing; synthesis only stages the files). */
export function brokerImageFromRepo(): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(repoRoot(), { file: 'Dockerfile', platform: Platform.LINUX_AMD64 });
}

/**
 * The brokers: one ECS service per node.id on Fargate, spread over three availability zones, each
 * reachable at an address of its own.
 *
 * Addresses. Kafka clients bootstrap from any broker, then connect to each partition's leader at
 * the address that broker advertises, so each node.id needs a stable address of its own:
 * - clients: one network load balancer, with a listener per broker (port FIRST_BROKER_PORT +
 *   node.id → a target group holding only that broker's task) and a bootstrap listener
 *   (BOOTSTRAP_PORT → every broker). Broker i advertises CLIENT://<host>:<9100+i>, host being
 *   `clientHostName` or the load balancer's DNS name. The load balancer passes TCP through, so
 *   TLS and SASL run end to end between client and broker (the SASL_SSL listener); its DNS name
 *   resolves from anywhere (also from peered VPCs in other regions, where the mirror function
 *   runs); cross-zone balancing is on, since each port has its single target in one zone.
 * - brokers: Cloud Map names in a private DNS namespace, b<i>.<internalDomain> (an A record of the
 *   task's IP, TTL 10 s, re-registered by ECS when the task is replaced). Replication, metadata
 *   pushes and transaction markers go to INTERNAL://b<i>.<internalDomain>:9094 directly, not
 *   through the load balancer (no load balancer charge on replication traffic).
 *
 * Listeners. CLIENT is SASL_SSL with SCRAM-SHA-512 (users live in the metadata table: create
 * the first one with `strata storage format` before the first start, docs/deploy.md). INTERNAL is
 * SSL with client certificates required: brokers authenticate each other with the certificate
 * from the TLS secret (principal = its subject), so no password needs composing into a JAAS line;
 * only tasks with that certificate, inside the brokers' security group, get in. The certificate
 * and key reach the container as environment variables from Secrets Manager (ECS reads them at
 * task start with the execution role): ssl.keystore.key, ssl.keystore.certificate.chain,
 * ssl.truststore.certificates. The certificate must name `clientHostName` (or the load balancer's
 * DNS name) and *.<internalDomain>.
 *
 * Storage. Fargate's ephemeral storage (up to 200 GiB, encrypted, gone with the task) holds the
 * hot segments; the broker is stateless: a new task starts empty and replicates the untiered
 * tail from the leaders, tiered segments are read from S3. See docs/deploy.md for the durability
 * model and why not instance NVMe.
 *
 * Deployments. Each service runs exactly one task (minimum healthy 0 %, maximum 100 %: ECS stops
 * the old task before starting the new one, since one node.id never runs twice). ECS stops a task
 * with SIGTERM, which is the broker's controlled shutdown (leaderships handed to in-sync replicas,
 * ISRs left), given up to 120 s (Fargate's maximum stop timeout). The services depend on each
 * other in node.id order, so CloudFormation updates them one at a time, each after the previous
 * one is back and healthy: a rolling restart. A deployment that does not become healthy rolls back
 * (circuit breaker).
 *
 * Health. The load balancer's target groups check GET /metrics on the metrics port (served once
 * the broker is up); the container's own health check asks the same. Logs go to CloudWatch Logs
 * in non-blocking mode (a stalled log stream must never stall the broker's event loop and cost it
 * its lease). Container Insights is on for the cluster.
 */
export class BrokerCluster extends Construct {
  readonly cluster: ecs.Cluster;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly namespace: servicediscovery.PrivateDnsNamespace;
  readonly services: ecs.FargateService[] = [];
  readonly taskRole: iam.Role;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;
  /** host:port of the bootstrap listener. */
  readonly bootstrapServers: string;
  /** host:port each broker advertises to clients, by node.id. */
  readonly brokerAddresses: string[] = [];

  constructor(scope: Construct, id: string, props: BrokerClusterProps) {
    super(scope, id);
    const n = props.brokerCount;
    if (!Number.isInteger(n) || n < 1 || n > 49) throw new Error(`BrokerCluster: brokerCount must be 1..49, got ${n}`);
    if (props.availabilityZones.length !== 3) throw new Error('BrokerCluster: three availability zones expected');
    const owned = Object.keys(props.brokerConfigs ?? {}).filter((k) => BROKER_OWNED_CONFIGS.includes(k));
    if (owned.length > 0) throw new Error(`BrokerCluster: brokerConfigs may not set ${owned.join(', ')} (set per broker by the construct)`);
    const { vpc } = props;
    const region = Stack.of(this).region;

    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    this.namespace = new servicediscovery.PrivateDnsNamespace(this, 'Internal', {
      name: props.internalDomain,
      vpc,
      description: 'Strata brokers: b<node.id> is the internal (replication) address of each broker',
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });

    // Security groups: clients → load balancer → brokers; brokers ↔ brokers on INTERNAL.
    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      allowAllOutbound: false,
      description: 'Strata load balancer: Kafka clients in',
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'BrokerSecurityGroup', {
      vpc,
      allowAllOutbound: true,
      description: 'Strata brokers: CLIENT and health checks from the load balancer, INTERNAL from brokers',
    });
    const brokerPorts = ec2.Port.tcpRange(FIRST_BROKER_PORT, FIRST_BROKER_PORT + n - 1);
    for (const cidr of props.clientCidrs) {
      lbSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(BOOTSTRAP_PORT), `Kafka bootstrap from ${cidr}`);
      lbSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), brokerPorts, `Kafka brokers from ${cidr}`);
    }
    this.securityGroup.connections.allowFrom(lbSecurityGroup, ec2.Port.tcp(CLIENT_PORT), 'CLIENT listener from the load balancer');
    this.securityGroup.connections.allowFrom(lbSecurityGroup, ec2.Port.tcp(METRICS_PORT), 'health checks from the load balancer');
    this.securityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(INTERNAL_PORT), 'INTERNAL listener between brokers');
    for (const cidr of props.metricsCidrs ?? []) {
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(METRICS_PORT), `metrics scrapes from ${cidr}`);
    }

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: props.internetFacing ?? false,
      vpcSubnets: { subnetType: props.internetFacing ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS },
      crossZoneEnabled: true,
      securityGroups: [lbSecurityGroup],
    });
    Validations.of(this.loadBalancer).acknowledge({
        id: 'AwsSolutions-ELB2',
        reason:
          'Network load balancer access logs cover TLS listeners only; these listeners pass TCP through (TLS ends at the broker, so SASL works end to end), so there is nothing to log. Connections show in the brokers\' logs and the VPC flow logs.',
    });
    const host = props.clientHostName ?? this.loadBalancer.loadBalancerDnsName;
    this.bootstrapServers = `${host}:${BOOTSTRAP_PORT}`;

    const healthCheck: elbv2.HealthCheck = {
      protocol: elbv2.Protocol.HTTP,
      port: String(METRICS_PORT),
      path: '/metrics',
      interval: Duration.seconds(10),
      timeout: Duration.seconds(6),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 2,
    };
    const targetGroup = (tgId: string): elbv2.NetworkTargetGroup =>
      new elbv2.NetworkTargetGroup(this, tgId, {
        vpc,
        port: CLIENT_PORT,
        protocol: elbv2.Protocol.TCP,
        targetType: elbv2.TargetType.IP,
        healthCheck,
        // ECS waits this long after deregistering a task before it sends SIGTERM; clients are
        // moved by the controlled shutdown that follows, so there is nothing to drain for long.
        deregistrationDelay: Duration.seconds(15),
      });
    // Kafka clients and brokers close idle connections after 9–10 min (connections.max.idle.ms);
    // the load balancer's default 350 s would cut them silently first.
    const tcpIdleTimeout = Duration.seconds(660);
    const bootstrapTargets = targetGroup('BootstrapTargets');
    this.loadBalancer.addListener('Bootstrap', { port: BOOTSTRAP_PORT, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [bootstrapTargets], tcpIdleTimeout });

    // One task role and one execution role for every broker: the grants are the cluster's.
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Strata brokers: the segments bucket (under the key prefix) and the metadata table',
    });
    grantSegments(props.bucket, props.objectKeyPrefix, this.taskRole);
    grantMetadata(props.table, this.taskRole);
    const executionRole = new iam.Role(this, 'ExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS for Strata brokers: pull the image, write logs, read the TLS secret',
    });
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken, which ECR grants only on all resources; the image pull itself is granted on the one repository.',
    });

    const image = props.image ?? brokerImageFromRepo();
    const tls = props.tlsSecretFields;
    let previous: ecs.FargateService | undefined;
    for (let i = 0; i < n; i++) {
      const zone = props.availabilityZones[i % 3];
      const advertisedPort = FIRST_BROKER_PORT + i;
      this.brokerAddresses.push(`${host}:${advertisedPort}`);
      const configs: Record<string, string> = {
        'node.id': String(i),
        'broker.rack': zone,
        metadata: `dynamodb://${props.tablePrefix}`,
        'object.store': `s3://${props.bucket.bucketName}/${props.objectKeyPrefix}`,
        'log.dirs': DATA_DIR,
        listeners: `CLIENT://:${CLIENT_PORT},INTERNAL://:${INTERNAL_PORT}`,
        'advertised.listeners': `CLIENT://${host}:${advertisedPort},INTERNAL://b${i}.${props.internalDomain}:${INTERNAL_PORT}`,
        'listener.security.protocol.map': 'CLIENT:SASL_SSL,INTERNAL:SSL',
        'inter.broker.listener.name': 'INTERNAL',
        'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
        'listener.name.internal.ssl.client.auth': 'required',
        'metrics.listener': `http://0.0.0.0:${METRICS_PORT}`,
        'default.replication.factor': String(Math.min(3, n)),
        'min.insync.replicas': n >= 3 ? '2' : '1',
        ...props.brokerConfigs,
      };
      const environment: Record<string, string> = { AWS_REGION: region };
      for (const [name, value] of Object.entries(configs)) environment[configEnvName(name)] = value;

      const taskDefinition = new ecs.FargateTaskDefinition(this, `Broker${i}Task`, {
        cpu: props.cpu ?? 2048,
        memoryLimitMiB: props.memoryLimitMiB ?? 8192,
        ephemeralStorageGiB: props.ephemeralStorageGiB ?? 200,
        runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
        taskRole: this.taskRole,
        executionRole,
      });
      taskDefinition.addContainer('broker', {
        image,
        essential: true,
        // The image's entry point is `node dist/core/cli/main.js broker`; everything else is configuration.
        environment,
        secrets: {
          [configEnvName('ssl.keystore.key')]: ecs.Secret.fromSecretsManager(props.tlsSecret, tls.key),
          [configEnvName('ssl.keystore.certificate.chain')]: ecs.Secret.fromSecretsManager(props.tlsSecret, tls.certificateChain),
          [configEnvName('ssl.truststore.certificates')]: ecs.Secret.fromSecretsManager(props.tlsSecret, tls.caCertificates),
        },
        portMappings: [
          { name: 'client', containerPort: CLIENT_PORT },
          { name: 'internal', containerPort: INTERNAL_PORT },
          { name: 'metrics', containerPort: METRICS_PORT },
        ],
        healthCheck: {
          command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${METRICS_PORT}/metrics').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
          interval: Duration.seconds(15),
          timeout: Duration.seconds(5),
          retries: 3,
          // A broker restarted after a crash first waits out its old lease (broker.session.timeout.ms, 9 s).
          startPeriod: Duration.seconds(60),
        },
        stopTimeout: Duration.seconds(120),
        linuxParameters: new ecs.LinuxParameters(this, `Broker${i}Linux`, { initProcessEnabled: true }),
        ulimits: [{ name: ecs.UlimitName.NOFILE, softLimit: 65536, hardLimit: 65536 }],
        logging: ecs.LogDrivers.awsLogs({
          logGroup: this.logGroup,
          streamPrefix: `broker-${i}`,
          mode: ecs.AwsLogDriverMode.NON_BLOCKING,
          maxBufferSize: Size.mebibytes(25),
        }),
      });
      Validations.of(taskDefinition).acknowledge({
          id: 'AwsSolutions-ECS2',
          reason:
            'The environment carries the broker configs (node.id, rack, listeners, store URLs) as the STRATA_* variables `strata broker` reads; none is secret. The TLS key comes through `secrets` (Secrets Manager), not the environment.',
      });

      const service = new ecs.FargateService(this, `Broker${i}`, {
        cluster: this.cluster,
        taskDefinition,
        desiredCount: 1,
        minHealthyPercent: 0,
        maxHealthyPercent: 100,
        circuitBreaker: { rollback: true },
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, availabilityZones: [zone] },
        securityGroups: [this.securityGroup],
        assignPublicIp: false,
        platformVersion: ecs.FargatePlatformVersion.LATEST,
        healthCheckGracePeriod: Duration.seconds(120),
        cloudMapOptions: {
          cloudMapNamespace: this.namespace,
          name: `b${i}`,
          dnsRecordType: servicediscovery.DnsRecordType.A,
          dnsTtl: Duration.seconds(10),
        },
        propagateTags: ecs.PropagatedTagSource.SERVICE,
      });
      const brokerTargets = targetGroup(`Broker${i}Targets`);
      this.loadBalancer.addListener(`Broker${i}Listener`, { port: advertisedPort, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [brokerTargets], tcpIdleTimeout });
      const target = service.loadBalancerTarget({ containerName: 'broker', containerPort: CLIENT_PORT });
      target.attachToNetworkTargetGroup(brokerTargets);
      target.attachToNetworkTargetGroup(bootstrapTargets);
      // One broker at a time: CloudFormation updates service i only once service i-1 is stable.
      if (previous) service.node.addDependency(previous);
      previous = service;
      this.services.push(service);
    }
  }
}

