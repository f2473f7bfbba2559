import type { App } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type { ClusterEnvironment, StrataEnvironments } from './environments';
import { addNagChecks } from './nag';
import { BrokerStack } from './stacks/brokerStack';
import { MirrorStack } from './stacks/mirrorStack';
import { StatefulStack, TLS_SECRET_FIELDS } from './stacks/statefulStack';

export interface StrataStacks {
  primary: ClusterStacks;
  mirror?: ClusterStacks & { function: MirrorStack };
}

export interface ClusterStacks {
  stateful: StatefulStack;
  brokers: BrokerStack;
}

export interface BuildOptions {
  /** The broker image; default the repository's Dockerfile (built at deploy). */
  image?: ecs.ContainerImage;
  /** Apply cdk-nag's AwsSolutions checks to every stack (default true): errors fail the synthesis. */
  nag?: boolean;
}

/**
 * The stacks of one deployment: per region a stateful stack (bucket, table, TLS secret) and a
 * broker stack that takes them as typed props; in the mirror region also the mirror stack, which
 * takes that region's VPC and bootstrap address. Stack names: Strata-<Primary|Mirror>-<part>.
 */
export function buildStrata(app: App, envs: StrataEnvironments, opts: BuildOptions = {}): StrataStacks {
  const cluster = (env: ClusterEnvironment): ClusterStacks => {
    const awsEnv = { account: env.account, region: env.region };
    const prefix = `Strata-${env.name}`;
    const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
      env: awsEnv,
      clusterName: envs.clusterName,
      description: `Strata ${envs.clusterName} (${env.name}, ${env.region}): segments bucket, metadata table, broker TLS secret`,
    });
    const brokers = new BrokerStack(app, `${prefix}-Brokers`, {
      env: awsEnv,
      environment: env,
      clusterName: envs.clusterName,
      bucket: stateful.segments.bucket,
      objectKeyPrefix: stateful.segments.keyPrefix,
      table: stateful.metadata.table,
      tablePrefix: stateful.metadata.tablePrefix,
      tlsSecret: stateful.tlsSecret,
      tlsSecretFields: TLS_SECRET_FIELDS,
      image: opts.image,
      description: `Strata ${envs.clusterName} (${env.name}, ${env.region}): VPC and ${env.brokerCount} brokers`,
    });
    return { stateful, brokers };
  };

  const out: StrataStacks = { primary: cluster(envs.primary) };
  if (envs.mirror && envs.mirroring) {
    const target = cluster(envs.mirror);
    const fn = new MirrorStack(app, `Strata-${envs.mirror.name}-Function`, {
      env: { account: envs.mirror.account, region: envs.mirror.region },
      vpc: target.brokers.vpc,
      targetBootstrapServers: target.brokers.brokers.bootstrapServers,
      mirroring: envs.mirroring,
      description: `Strata ${envs.clusterName}: mirror ${envs.mirroring.sourceAlias} → ${envs.mirror.region}`,
    });
    out.mirror = { ...target, function: fn };
  }
  if (opts.nag ?? true) addNagChecks(app);
  return out;
}
