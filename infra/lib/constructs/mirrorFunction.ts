import * as path from 'node:path';
import { Duration, RemovalPolicy, SecretValue, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AuthenticationMethod, SelfManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { repoRoot } from '../paths';

/**
 * Native packages the mirror's module graph requires (core/log/crc32c.ts: @node-rs/crc32 always;
 * core/log/codecs.ts: snappy, lz4-napi, zstd-napi lazily, for compressed batches), with the
 * prebuilt linux-x64-gnu binaries Lambda's nodejs22.x x86_64 runtime loads (Amazon Linux 2023,
 * glibc 2.34). esbuild cannot bundle a .node file, so they stay external and are copied into the
 * asset's node_modules after bundling, from the repository's own node_modules: no Docker, no
 * network. `files` limits a package to what it needs at run time (zstd-napi ships its C sources).
 */
export const NATIVE_PACKAGES: ReadonlyArray<{ name: string; files?: readonly string[] }> = [
  { name: '@node-rs/crc32' },
  { name: '@node-rs/crc32-linux-x64-gnu' },
  { name: 'snappy' },
  { name: '@napi-rs/snappy-linux-x64-gnu' },
  { name: 'lz4-napi' },
  { name: '@antoniomuso/lz4-napi-linux-x64-gnu' },
  { name: 'zstd-napi', files: ['package.json', 'binding.js', 'build/Release/binding.node'] },
];

/** Left out of the bundle: the native packages above, and better-sqlite3 (the embedded metadata store, never on the mirror's path). */
const EXTERNAL_MODULES = ['@node-rs/crc32', 'snappy', 'lz4-napi', 'zstd-napi', 'better-sqlite3'];

/** The shell commands that copy NATIVE_PACKAGES from `inputDir`/node_modules into `outputDir`/node_modules. */
export function copyNativePackagesCommands(inputDir: string, outputDir: string): string[] {
  return NATIVE_PACKAGES.map(({ name, files }) => {
    const from = `${inputDir}/node_modules/${name}`;
    const to = `${outputDir}/node_modules/${name}`;
    const missing = `{ echo "mirror function: ${from} is missing; the asset needs the linux-x64-gnu build (npm ci on linux x64, or npm install --os=linux --cpu=x64 --libc=glibc)" >&2; exit 1; }`;
    const copy = files
      ? files.map((f) => `mkdir -p "$(dirname "${to}/${f}")" && cp "${from}/${f}" "${to}/${f}"`).join(' && ')
      : `mkdir -p "${to}" && cp -R "${from}/." "${to}/"`;
    return `{ test -d "${from}" || ${missing}; } && ${copy}`;
  });
}

export interface MirrorFunctionProps {
  /** The target region's VPC: the function and its event source mappings run in its private subnets. */
  readonly vpc: ec2.IVpc;
  /** MIRROR_SOURCE_ALIAS: target topics are named <alias>.<topic>. */
  readonly sourceAlias: string;
  /** The source cluster's host:port list, as reachable from `vpc` (peering, or an internet-facing load balancer). */
  readonly sourceBootstrapServers: readonly string[];
  /** Source topics to mirror: one event source mapping each. */
  readonly topics: readonly string[];
  /** host:port[,...] of the target cluster (this region's). */
  readonly targetBootstrapServers: string;
  /** PEM of a private CA both clusters' certificates chain to; unset: public CAs. */
  readonly caPem?: string;
  /** MIRROR_OFFSET_PRESERVING (default false). */
  readonly offsetPreserving?: boolean;
  /** MIRROR_TOPIC_NAMING (default prefixed). */
  readonly topicNaming?: 'prefixed' | 'identity';
  /** Records per invocation (default 500). */
  readonly batchSize?: number;
}

/**
 * The cross-region mirror (functions/mirror/handler.ts), fed by Lambda's self-managed Apache Kafka
 * event source on the source cluster: SASL/SCRAM-SHA-512 over TLS with the credentials in a
 * Secrets Manager secret, pollers in this VPC, from the earliest offset, one consumer group per
 * topic. It produces into the target cluster with credentials of its own (a second secret). Both
 * secrets are generated here; their users must exist on the clusters (docs/deploy.md). No
 * on-failure destination: a batch that fails is retried until it succeeds, so a partition is
 * mirrored in order and nothing is skipped.
 *
 * Packaging: NodejsFunction with esbuild run locally (forceDockerBundling: false; esbuild is a dev
 * dependency), so `cdk synth` needs neither Docker nor the network. The handler and every
 * JavaScript dependency (core/, the AWS SDK client, middy) become one file; the native packages
 * stay external and are copied in after bundling (NATIVE_PACKAGES). x86_64 only, since the copied
 * binaries are linux-x64-gnu.
 */
export class MirrorFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  /** The source cluster's SCRAM user for the event source and the function's own source client. */
  readonly sourceCredentials: secretsmanager.Secret;
  /** The target cluster's SCRAM user the function produces as. */
  readonly targetCredentials: secretsmanager.Secret;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: MirrorFunctionProps) {
    super(scope, id);
    if (props.topics.length === 0) throw new Error('MirrorFunction: at least one topic');
    if (props.caPem !== undefined && props.caPem.length > 1500) {
      // Lambda allows 4 KB of environment in all; the CA goes in twice (source and target).
      throw new Error(`MirrorFunction: the CA PEM is ${props.caPem.length} bytes; at most 1500 fit Lambda's 4 KB environment twice over`);
    }
    const root = repoRoot();
    const region = Stack.of(this).region;

    const credentials = (secretId: string, cluster: string): secretsmanager.Secret => {
      const secret = new secretsmanager.Secret(this, secretId, {
        description: `Strata mirror: the SCRAM-SHA-512 user of the ${cluster} cluster, JSON {"username","password"}; create the user there with this password`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username: 'strata-mirror' }),
          generateStringKey: 'password',
          excludePunctuation: true,
          passwordLength: 32,
        },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(secret).acknowledge({
          id: 'AwsSolutions-SMG4',
          reason: `The password is also the ${cluster} cluster's SCRAM credential (stored there salted); rotating it needs AlterUserScramCredentials on that cluster first, an operator step (docs/deploy.md), not a rotation Lambda.`,
      });
      return secret;
    };
    this.sourceCredentials = credentials('SourceCredentials', 'source');
    this.targetCredentials = credentials('TargetCredentials', 'target');

    let rootCa: secretsmanager.Secret | undefined;
    if (props.caPem !== undefined) {
      // The event source mapping takes a private CA only from Secrets Manager ({"certificate": PEM}).
      // A CA certificate is public, so its value in the template discloses nothing.
      rootCa = new secretsmanager.Secret(this, 'SourceRootCa', {
        description: 'Strata mirror: the CA of the source cluster\'s certificates, for the Kafka event source',
        secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ certificate: props.caPem })),
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(rootCa).acknowledge({ id: 'AwsSolutions-SMG4', reason: 'A public CA certificate, not a credential: nothing to rotate.' });
    }

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: true,
      description: 'Strata mirror: the function and its Kafka pollers (out to both clusters, Secrets Manager, Lambda, STS)',
    });
    const subnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };

    const environment: Record<string, string> = {
      MIRROR_SOURCE_ALIAS: props.sourceAlias,
      MIRROR_TOPIC_NAMING: props.topicNaming ?? 'prefixed',
      MIRROR_OFFSET_PRESERVING: String(props.offsetPreserving ?? false),
      MIRROR_TARGET_BOOTSTRAP_SERVERS: props.targetBootstrapServers,
      MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL',
      MIRROR_TARGET_SASL_MECHANISM: 'SCRAM-SHA-512',
      MIRROR_TARGET_SASL_SECRET_ARN: this.targetCredentials.secretArn,
      MIRROR_SOURCE_BOOTSTRAP_SERVERS: props.sourceBootstrapServers.join(','),
      MIRROR_SOURCE_SECURITY_PROTOCOL: 'SASL_SSL',
      MIRROR_SOURCE_SASL_MECHANISM: 'SCRAM-SHA-512',
      MIRROR_SOURCE_SASL_SECRET_ARN: this.sourceCredentials.secretArn,
      ...(props.caPem !== undefined ? { MIRROR_TARGET_SSL_CA_PEM: props.caPem, MIRROR_SOURCE_SSL_CA_PEM: props.caPem } : {}),
      // Stack traces through the minified bundle name the TypeScript sources (bundling.sourceMap).
      NODE_OPTIONS: '--enable-source-maps',
    };

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: `Strata mirror: ${props.sourceAlias} → ${region}`,
      entry: path.join(root, 'functions', 'mirror', 'handler.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.X86_64,
      projectRoot: root,
      depsLockFilePath: path.join(root, 'package-lock.json'),
      memorySize: 1024,
      timeout: Duration.minutes(5),
      vpc: props.vpc,
      vpcSubnets: subnets,
      securityGroups: [this.securityGroup],
      environment,
      logGroup: new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
      bundling: {
        forceDockerBundling: false,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        logLevel: nodejs.LogLevel.WARNING,
        tsconfig: path.join(root, 'tsconfig.json'),
        externalModules: EXTERNAL_MODULES,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (inputDir, outputDir) => copyNativePackagesCommands(inputDir, outputDir),
        },
      },
    });
    this.sourceCredentials.grantRead(this.function);
    this.targetCredentials.grantRead(this.function);

    for (const topic of props.topics) {
      this.function.addEventSource(
        new SelfManagedKafkaEventSource({
          bootstrapServers: [...props.sourceBootstrapServers],
          topic,
          secret: this.sourceCredentials,
          authenticationMethod: AuthenticationMethod.SASL_SCRAM_512_AUTH,
          ...(rootCa !== undefined ? { rootCACertificate: rootCa } : {}),
          vpc: props.vpc,
          vpcSubnets: subnets,
          securityGroup: this.securityGroup,
          startingPosition: lambda.StartingPosition.TRIM_HORIZON,
          batchSize: props.batchSize ?? 500,
          consumerGroupId: `strata-mirror-${props.sourceAlias}-${topic}`,
        }),
      );
    }

    const ack = Validations.of(this);
    ack.acknowledge({
      id: 'AwsSolutions-L1',
      reason: "nodejs22.x is the runtime the mirror is built and tested for (esbuild target node22, the native packages' N-API builds); moving to a newer runtime is a tested change, not a default.",
    });
    for (const policy of ['AWSLambdaBasicExecutionRole', 'AWSLambdaVPCAccessExecutionRole']) {
      ack.acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
        reason: 'The AWS managed basic and VPC execution policies (logs, and the network interfaces of a function in a VPC) are the documented minimum for a Lambda function in a VPC.',
      });
    }
  }
}
