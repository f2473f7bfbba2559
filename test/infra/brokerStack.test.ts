import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { BOOTSTRAP_PORT, BrokerCluster, CLIENT_PORT, FIRST_BROKER_PORT, INTERNAL_PORT, METRICS_PORT, type BrokerClusterProps } from '../../infra/lib/constructs/brokerCluster';
import { makeCerts } from '../helpers/certs';
import { renderValue, resourcesOf, synthStrata } from './synth';

type Resources = ReturnType<typeof resourcesOf>;

interface Container {
  Environment: Array<{ Name: string; Value: unknown }>;
  Secrets: Array<{ Name: string; ValueFrom: unknown }>;
  [k: string]: unknown;
}

function container(taskDefinition: Resources[string]): Container {
  return (taskDefinition.Properties.ContainerDefinitions as Container[])[0];
}

function envOf(c: Container): Record<string, string> {
  return Object.fromEntries(c.Environment.map((e) => [e.Name, renderValue(e.Value)]));
}

/** The broker services in node.id order, each with its task definition, subnet zone and target groups. */
function brokers(t: Template): Array<{ id: string; service: Resources[string]; task: Resources[string]; zone: string; targetGroups: string[]; registry: string }> {
  const services = resourcesOf(t, 'AWS::ECS::Service');
  const tasks = resourcesOf(t, 'AWS::ECS::TaskDefinition');
  const subnets = resourcesOf(t, 'AWS::EC2::Subnet');
  return Object.entries(services)
    .map(([id, service]) => {
      const task = tasks[(service.Properties.TaskDefinition as { Ref: string }).Ref];
      const net = (service.Properties.NetworkConfiguration as { AwsvpcConfiguration: { Subnets: Array<{ Ref: string }> } }).AwsvpcConfiguration;
      expect(net.Subnets).toHaveLength(1);
      const zone = subnets[net.Subnets[0].Ref].Properties.AvailabilityZone as string;
      const targetGroups = (service.Properties.LoadBalancers as Array<{ TargetGroupArn: { Ref: string }; ContainerPort: number }>).map((l) => {
        expect(l.ContainerPort).toBe(CLIENT_PORT);
        return l.TargetGroupArn.Ref;
      });
      const registry = (service.Properties.ServiceRegistries as Array<{ RegistryArn: { 'Fn::GetAtt': [string, string] } }>)[0].RegistryArn['Fn::GetAtt'][0];
      return { id, service, task, zone, targetGroups, registry };
    })
    .sort((a, b) => Number(envOf(container(a.task)).STRATA_NODE_ID) - Number(envOf(container(b.task)).STRATA_NODE_ID));
}

describe('broker stack', () => {
  const { stacks, template } = synthStrata();
  const t = template(stacks.primary.brokers);
  const zones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

  test('a VPC over three availability zones: public and private subnets in each, S3 and DynamoDB gateway endpoints', () => {
    const subnets = Object.values(resourcesOf(t, 'AWS::EC2::Subnet'));
    expect(subnets).toHaveLength(6);
    expect([...new Set(subnets.map((s) => s.Properties.AvailabilityZone))].sort()).toEqual(zones);
    const endpoints = Object.values(resourcesOf(t, 'AWS::EC2::VPCEndpoint')).map((e) => renderValue(e.Properties.ServiceName, (o) => (o.Ref === 'AWS::Region' ? 'us-east-1' : '?')));
    expect(endpoints.sort()).toEqual(['com.amazonaws.us-east-1.dynamodb', 'com.amazonaws.us-east-1.s3']);
    t.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  test('one service per node.id, spread over the zones, broker.rack = its zone', () => {
    const bs = brokers(t);
    expect(bs).toHaveLength(3);
    bs.forEach((b, i) => {
      const env = envOf(container(b.task));
      expect(env.STRATA_NODE_ID).toBe(String(i));
      expect(b.zone).toBe(zones[i % 3]);
      expect(env.STRATA_BROKER_RACK).toBe(b.zone);
      expect(b.service.Properties).toMatchObject({ DesiredCount: 1, LaunchType: 'FARGATE' });
    });
  });

  test('the broker count is a prop: 5 brokers, node.id 0..4 over three zones', () => {
    const five = synthStrata({ settings: { brokerCount: '5', mirrorRegion: undefined } });
    const bs = brokers(five.template(five.stacks.primary.brokers));
    expect(bs.map((b) => [envOf(container(b.task)).STRATA_NODE_ID, b.zone])).toEqual([
      ['0', 'us-east-1a'],
      ['1', 'us-east-1b'],
      ['2', 'us-east-1c'],
      ['3', 'us-east-1a'],
      ['4', 'us-east-1b'],
    ]);
    const ports = Object.values(resourcesOf(five.template(five.stacks.primary.brokers), 'AWS::ElasticLoadBalancingV2::Listener')).map((l) => l.Properties.Port);
    expect(ports.sort()).toEqual([9092, 9100, 9101, 9102, 9103, 9104]);
    expect(five.stacks.mirror).toBeUndefined();
  });

  test('each node.id has its own address: a load balancer listener to its task alone, plus a bootstrap listener to all', () => {
    const listeners = resourcesOf(t, 'AWS::ElasticLoadBalancingV2::Listener');
    const byPort = new Map(Object.values(listeners).map((l) => [l.Properties.Port as number, (l.Properties.DefaultActions as Array<{ TargetGroupArn: { Ref: string } }>)[0].TargetGroupArn.Ref]));
    const bs = brokers(t);
    const bootstrapTg = byPort.get(BOOTSTRAP_PORT)!;
    bs.forEach((b, i) => {
      const own = byPort.get(FIRST_BROKER_PORT + i)!;
      expect(b.targetGroups.sort()).toEqual([bootstrapTg, own].sort());
      // No other broker is behind this broker's port.
      expect(bs.filter((o) => o.targetGroups.includes(own))).toHaveLength(1);
      const env = envOf(container(b.task));
      expect(env.STRATA_ADVERTISED_LISTENERS).toBe(`CLIENT://kafka.us-east-1.example.com:${FIRST_BROKER_PORT + i},INTERNAL://b${i}.brokers.strata.internal:${INTERNAL_PORT}`);
    });
    expect(bs.every((b) => b.targetGroups.includes(bootstrapTg))).toBe(true);
    // Cloud Map: b<i> in the private namespace, an A record of the task's IP.
    const registries = resourcesOf(t, 'AWS::ServiceDiscovery::Service');
    expect(bs.map((b) => registries[b.registry].Properties.Name)).toEqual(['b0', 'b1', 'b2']);
    t.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'brokers.strata.internal' });
    t.hasResourceProperties('AWS::ServiceDiscovery::Service', { DnsConfig: { DnsRecords: [{ TTL: 10, Type: 'A' }] } });
    t.hasOutput('BootstrapServers', { Value: 'kafka.us-east-1.example.com:9092' });
  });

  test('without a client host name, brokers advertise the load balancer DNS name', () => {
    const bare = synthStrata({ settings: { primaryClientHost: undefined, mirrorRegion: undefined } });
    const bs = brokers(bare.template(bare.stacks.primary.brokers));
    const lb = Object.keys(resourcesOf(bare.template(bare.stacks.primary.brokers), 'AWS::ElasticLoadBalancingV2::LoadBalancer'))[0];
    const env = envOf(container(bs[1].task));
    const advertised = bs[1].task.Properties.ContainerDefinitions as Container[];
    expect(env.STRATA_ADVERTISED_LISTENERS).toBe(`CLIENT://resolved-at-deploy:9101,INTERNAL://b1.brokers.strata.internal:9094`);
    expect(JSON.stringify(advertised[0].Environment)).toContain(JSON.stringify({ 'Fn::GetAtt': [lb, 'DNSName'] }));
  });

  test('listeners: SASL_SSL (SCRAM-SHA-512) for clients, SSL with client certificates between brokers; TLS material from Secrets Manager', () => {
    for (const b of brokers(t)) {
      const c = container(b.task);
      const env = envOf(c);
      expect(env).toMatchObject({
        STRATA_LISTENERS: `CLIENT://:${CLIENT_PORT},INTERNAL://:${INTERNAL_PORT}`,
        STRATA_LISTENER_SECURITY_PROTOCOL_MAP: 'CLIENT:SASL_SSL,INTERNAL:SSL',
        STRATA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
        STRATA_SASL_ENABLED_MECHANISMS: 'SCRAM-SHA-512',
        STRATA_LISTENER_NAME_INTERNAL_SSL_CLIENT_AUTH: 'required',
        STRATA_METADATA: 'dynamodb://strata',
        STRATA_OBJECT_STORE: 's3://resolved-at-deploy/strata',
        STRATA_METRICS_LISTENER: `http://0.0.0.0:${METRICS_PORT}`,
        STRATA_DEFAULT_REPLICATION_FACTOR: '3',
        STRATA_MIN_INSYNC_REPLICAS: '2',
      });
      expect(Object.keys(env).filter((k) => /KEY|PASSWORD|JAAS/.test(k))).toEqual([]);
      const secrets = Object.fromEntries(c.Secrets.map((s) => [s.Name, renderValue(s.ValueFrom, () => 'arn:tls-secret')]));
      expect(secrets).toEqual({
        STRATA_SSL_KEYSTORE_KEY: 'arn:tls-secret:key::',
        STRATA_SSL_KEYSTORE_CERTIFICATE_CHAIN: 'arn:tls-secret:certificateChain::',
        STRATA_SSL_TRUSTSTORE_CERTIFICATES: 'arn:tls-secret:caCertificates::',
      });
    }
  });

  test('the task definition is a valid `strata broker` configuration (STRATA_* env read by loadBrokerConfig)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-infra-certs-'));
    try {
      const certs = makeCerts(dir, { serverNames: ['kafka.us-east-1.example.com', '*.brokers.strata.internal'] });
      const read = (f: string): string => fs.readFileSync(f, 'utf8');
      const b = brokers(t)[2];
      const env: NodeJS.ProcessEnv = {
        ...envOf(container(b.task)),
        STRATA_SSL_KEYSTORE_KEY: read(certs.server.key),
        STRATA_SSL_KEYSTORE_CERTIFICATE_CHAIN: read(certs.server.cert),
        STRATA_SSL_TRUSTSTORE_CERTIFICATES: read(certs.ca.cert),
      };
      const config = loadBrokerConfig({ flags: {}, env });
      expect(config.warnings).toEqual([]);
      expect(config.nodeId).toBe(2);
      expect(config.brokerRack).toBe('us-east-1c');
      expect(config.interBrokerListenerName).toBe('INTERNAL');
      expect(config.metadata).toBe('dynamodb://strata');
      expect(config.logDirs).toBe('/var/lib/strata');
      const byName = Object.fromEntries(config.listeners.map((l) => [l.name, l]));
      expect(byName.CLIENT).toMatchObject({ port: CLIENT_PORT, securityProtocol: 'SASL_SSL', advertised: { host: 'kafka.us-east-1.example.com', port: 9102 } });
      expect(byName.CLIENT.security.sasl?.enabledMechanisms).toEqual(['SCRAM-SHA-512']);
      expect(byName.CLIENT.security.ssl?.clientAuth).toBe('none');
      expect(byName.INTERNAL).toMatchObject({ port: INTERNAL_PORT, securityProtocol: 'SSL', advertised: { host: 'b2.brokers.strata.internal', port: INTERNAL_PORT } });
      expect(byName.INTERNAL.security.ssl?.clientAuth).toBe('required');
      expect(byName.INTERNAL.security.sasl).toBeNull();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Fargate: 2 vCPU, 8 GiB, 200 GiB ephemeral storage for hot segments, x86_64', () => {
    for (const b of brokers(t)) {
      expect(b.task.Properties).toMatchObject({
        Cpu: '2048',
        Memory: '8192',
        EphemeralStorage: { SizeInGiB: 200 },
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
        NetworkMode: 'awsvpc',
      });
    }
  });

  test('rolling deployment: one task per node.id (stop, then start), SIGTERM with 120 s for the controlled shutdown, one service after another', () => {
    const bs = brokers(t);
    bs.forEach((b, i) => {
      expect(b.service.Properties.DeploymentConfiguration).toEqual({
        MinimumHealthyPercent: 0,
        MaximumPercent: 100,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      });
      const c = container(b.task);
      expect(c.StopTimeout).toBe(120);
      expect(c.LinuxParameters).toMatchObject({ InitProcessEnabled: true });
      if (i > 0) expect(b.service.DependsOn).toContain(bs[i - 1].id);
      else expect(bs.slice(1).map((o) => o.id).some((id) => b.service.DependsOn?.includes(id))).toBe(false);
    });
  });

  test('health checks, metrics endpoint, logs and Container Insights wired', () => {
    const groups = Object.values(resourcesOf(t, 'AWS::ElasticLoadBalancingV2::TargetGroup'));
    expect(groups).toHaveLength(4);
    for (const g of groups) {
      expect(g.Properties).toMatchObject({ Protocol: 'TCP', Port: CLIENT_PORT, TargetType: 'ip', HealthCheckProtocol: 'HTTP', HealthCheckPort: String(METRICS_PORT), HealthCheckPath: '/metrics' });
    }
    for (const b of brokers(t)) {
      const c = container(b.task);
      expect((c.HealthCheck as { Command: string[] }).Command.join(' ')).toContain(`http://127.0.0.1:${METRICS_PORT}/metrics`);
      expect(c.LogConfiguration).toMatchObject({ LogDriver: 'awslogs', Options: { mode: 'non-blocking' } });
      expect(c.PortMappings).toEqual(expect.arrayContaining([expect.objectContaining({ ContainerPort: METRICS_PORT })]));
    }
    t.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('network: clients reach only the load balancer\'s Kafka ports; brokers take CLIENT and health checks from it, INTERNAL from each other', () => {
    const groups = resourcesOf(t, 'AWS::EC2::SecurityGroup');
    const lb = Object.entries(groups).find(([, g]) => String(g.Properties.GroupDescription).includes('load balancer: Kafka clients'))![0];
    const brokerSg = Object.entries(groups).find(([, g]) => String(g.Properties.GroupDescription).startsWith('Strata brokers'))![0];
    const lbIngress = (groups[lb].Properties.SecurityGroupIngress as Array<Record<string, unknown>>).map((r) => [r.CidrIp, r.FromPort, r.ToPort]);
    // The mirror region's VPC (10.20.0.0/16) reads the primary cluster.
    expect(lbIngress.sort()).toEqual(
      [
        ['10.10.0.0/16', 9092, 9092],
        ['10.10.0.0/16', 9100, 9102],
        ['10.20.0.0/16', 9092, 9092],
        ['10.20.0.0/16', 9100, 9102],
      ].sort(),
    );
    const ingress = Object.values(resourcesOf(t, 'AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    const into = (port: number) => ingress.filter((r) => (r.GroupId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] === brokerSg && r.FromPort === port);
    expect(into(CLIENT_PORT).map((r) => (r.SourceSecurityGroupId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0])).toEqual([lb]);
    expect(into(INTERNAL_PORT).map((r) => (r.SourceSecurityGroupId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0])).toEqual([brokerSg]);
    expect(into(METRICS_PORT).map((r) => (r.SourceSecurityGroupId as { 'Fn::GetAtt': string[] } | undefined)?.['Fn::GetAtt'][0])).toEqual([lb]);
    expect((groups[brokerSg].Properties.SecurityGroupIngress as Array<Record<string, unknown>>).map((r) => [r.CidrIp, r.FromPort])).toEqual([['10.10.0.0/16', METRICS_PORT]]);
    for (const g of Object.values(groups)) {
      for (const r of (g.Properties.SecurityGroupIngress as Array<Record<string, unknown>> | undefined) ?? []) expect(r.CidrIp).not.toBe('0.0.0.0/0');
    }
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
      Type: 'network',
      LoadBalancerAttributes: [{ Key: 'deletion_protection.enabled', Value: 'false' }, { Key: 'load_balancing.cross_zone.enabled', Value: 'true' }],
    });
  });

  test('more broker configs pass through as STRATA_* variables; the ones the construct sets per broker are refused', () => {
    const cluster = (brokerConfigs: Record<string, string>): Template => {
      const stack = new Stack(new App(), 'T');
      const props: BrokerClusterProps = {
        vpc: new ec2.Vpc(stack, 'Vpc', { availabilityZones: zones }),
        brokerCount: 1,
        availabilityZones: zones,
        bucket: new s3.Bucket(stack, 'Bucket'),
        objectKeyPrefix: 'c1',
        table: new dynamodb.Table(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } }),
        tablePrefix: 'c1',
        tlsSecret: new secretsmanager.Secret(stack, 'Tls'),
        tlsSecretFields: { key: 'k', certificateChain: 'c', caCertificates: 'a' },
        clientCidrs: ['10.0.0.0/8'],
        internalDomain: 'brokers.c1.internal',
        image: ecs.ContainerImage.fromRegistry('example/strata:test'),
        brokerConfigs,
      };
      new BrokerCluster(stack, 'Brokers', props);
      return Template.fromStack(stack);
    };
    const c = container(Object.values(resourcesOf(cluster({ 'log.local.retention.ms': '3600000', 'min.insync.replicas': '1' }), 'AWS::ECS::TaskDefinition'))[0]);
    expect(envOf(c)).toMatchObject({ STRATA_LOG_LOCAL_RETENTION_MS: '3600000', STRATA_MIN_INSYNC_REPLICAS: '1', STRATA_DEFAULT_REPLICATION_FACTOR: '1', STRATA_METADATA: 'dynamodb://c1' });
    expect(() => cluster({ 'node.id': '7' })).toThrow(/brokerConfigs may not set node\.id/);
  });

  describe('least privilege', () => {
    const policies = resourcesOf(t, 'AWS::IAM::Policy');
    const roles = resourcesOf(t, 'AWS::IAM::Role');
    const taskRole = Object.keys(roles).find((id) => id.startsWith('BrokersTaskRole'))!;
    const executionRole = Object.keys(roles).find((id) => id.startsWith('BrokersExecutionRole'))!;
    const statementsOf = (role: string): Array<{ Action: string | string[]; Resource: unknown; Effect: string }> =>
      Object.values(policies)
        .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === role))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown; Effect: string }> }).Statement);
    const actions = (s: { Action: string | string[] }): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
    const output = (resource: unknown): string => renderValue(resource, (o) => ((o['Fn::GetStackOutput'] as { OutputName?: string } | undefined)?.OutputName ?? JSON.stringify(o)));

    test('no service-wide or global actions anywhere in the stack', () => {
      for (const p of Object.values(policies)) {
        for (const s of (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[] }> }).Statement) {
          for (const a of actions(s)) expect(a).not.toMatch(/^(\*|s3:\*|dynamodb:\*|secretsmanager:\*|ecr:\*|logs:\*|iam:.*)$/);
        }
      }
      expect([roles[taskRole], roles[executionRole]].every((r) => r.Properties.ManagedPolicyArns === undefined)).toBe(true);
    });

    test('the brokers\' role: the bucket and the objects under its key prefix, the metadata table, nothing else', () => {
      const statements = statementsOf(taskRole);
      expect(statements).toHaveLength(2);
      const [s3, ddb] = [statements.find((s) => actions(s)[0].startsWith('s3:'))!, statements.find((s) => actions(s)[0].startsWith('dynamodb:'))!];
      expect(actions(s3).every((a) => a.startsWith('s3:'))).toBe(true);
      for (const needed of ['s3:ListBucket', 's3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload']) {
        const family = needed.replace(/(Bucket|Object|MultipartUpload)$/, '');
        expect(actions(s3).some((a) => a === needed || (a.endsWith('*') && needed.startsWith(a.slice(0, -1))) || a === `${family}*`)).toBe(true);
      }
      expect((s3.Resource as unknown[]).map(output).sort()).toEqual(
        ['PublishOutputFnGetAttSegmentsBucket5FE01FB6ArnFFC9BB70', 'PublishOutputFnGetAttSegmentsBucket5FE01FB6ArnFFC9BB70/strata/*'].sort(),
      );
      expect(actions(ddb).every((a) => a.startsWith('dynamodb:'))).toBe(true);
      expect(actions(ddb)).toEqual(expect.arrayContaining(['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query']));
      expect(actions(ddb)).not.toEqual(expect.arrayContaining(['dynamodb:CreateTable']));
      expect(output(ddb.Resource)).toBe('PublishOutputFnGetAttMetadataTableC8A01DE2ArnB23F6F82');
    });

    test('the execution role: the image repository, this log group, the TLS secret', () => {
      // With the image built from the repository's Dockerfile (staged, not built, at synthesis).
      const withAsset = synthStrata({ dockerAsset: true, settings: { mirrorRegion: undefined } });
      const at = withAsset.template(withAsset.stacks.primary.brokers);
      const statements = Object.entries(resourcesOf(at, 'AWS::IAM::Policy'))
        .filter(([id]) => id.startsWith('BrokersExecutionRole'))
        .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown; Effect: string }> }).Statement);
      const byAction = new Map(statements.flatMap((s) => actions(s).map((a) => [a, output(s.Resource)])));
      expect(byAction.get('secretsmanager:GetSecretValue')).toBe('PublishOutputRefBrokerTls88675735770C7DB4');
      expect(byAction.get('logs:PutLogEvents')).toMatch(/BrokersLogs/);
      expect(byAction.get('ecr:BatchGetImage')).toBe('arn:aws:ecr:us-east-1:111111111111:repository/cdk-hnb659fds-container-assets-111111111111-us-east-1');
      // ecr:GetAuthorizationToken is the one action on '*': ECR has no resource for it.
      expect(statements.filter((s) => s.Resource === '*').flatMap(actions)).toEqual(['ecr:GetAuthorizationToken']);
      const image = (Object.values(resourcesOf(at, 'AWS::ECS::TaskDefinition'))[0].Properties.ContainerDefinitions as Array<{ Image: unknown }>)[0].Image;
      expect(JSON.stringify(image)).toContain('cdk-hnb659fds-container-assets-111111111111-us-east-1:');
    });

    test('with a registry image, the execution role reads only the TLS secret and writes only the log group', () => {
      const statements = statementsOf(executionRole);
      expect(statements.flatMap(actions).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    });
  });
});
