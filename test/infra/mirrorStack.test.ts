import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MIRROR_ENV_VARS, parseMirrorEnv } from '../../functions/mirror/config';
import { NATIVE_PACKAGES } from '../../infra/lib/constructs/mirrorFunction';
import { REPO_ROOT, renderValue, resourcesOf, synthStrata } from './synth';

const SECRET_ARN = 'arn:aws:secretsmanager:us-west-2:111111111111:secret:placeholder';
const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n';

describe('mirror stack', () => {
  const { stacks, template } = synthStrata();
  const mirror = stacks.mirror!.function;
  const t = template(mirror);
  const fnId = Object.keys(resourcesOf(t, 'AWS::Lambda::Function'))[0];
  const fn = resourcesOf(t, 'AWS::Lambda::Function')[fnId].Properties;
  const secrets = Object.keys(resourcesOf(t, 'AWS::SecretsManager::Secret'));
  const sourceSecret = secrets.find((s) => s.startsWith('MirrorSourceCredentials'))!;
  const targetSecret = secrets.find((s) => s.startsWith('MirrorTargetCredentials'))!;

  test('deployed in the target (mirror) region, into that region\'s broker VPC', () => {
    expect(mirror.region).toBe('us-west-2');
    expect(mirror.account).toBe('111111111111');
    const subnets = (fn.VpcConfig as { SubnetIds: unknown[] }).SubnetIds.map((s) => renderValue(s, (o) => (o['Fn::GetStackOutput'] as { StackName: string; OutputName: string }).StackName + '/' + (o['Fn::GetStackOutput'] as { OutputName: string }).OutputName));
    expect(subnets).toHaveLength(3);
    for (const s of subnets) expect(s).toMatch(/^Strata-Mirror-Brokers\/PublishOutputRefNetworkVpcprivateSubnet/);
  });

  test('the function: nodejs22.x on x86_64, the bundled handler, logs with retention', () => {
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', Architectures: ['x86_64'], MemorySize: 1024, Timeout: 300 });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  test('one self-managed Kafka event source per topic: SASL/SCRAM-512 with the secret, in the VPC, from the earliest offset', () => {
    const mappings = Object.values(resourcesOf(t, 'AWS::Lambda::EventSourceMapping')).map((m) => m.Properties);
    expect(mappings.map((m) => m.Topics)).toEqual([['orders'], ['payments']]);
    for (const m of mappings) {
      const topic = (m.Topics as string[])[0];
      expect(m).toMatchObject({
        FunctionName: { Ref: fnId },
        SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['kafka.us-east-1.example.com:9092'] } },
        SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: `strata-mirror-us-east-1-${topic}` },
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 500,
      });
      const access = m.SourceAccessConfigurations as Array<{ Type: string; URI: unknown }>;
      expect(access.filter((a) => a.Type === 'SASL_SCRAM_512_AUTH')).toEqual([{ Type: 'SASL_SCRAM_512_AUTH', URI: { Ref: sourceSecret } }]);
      expect(access.filter((a) => a.Type === 'VPC_SUBNET')).toHaveLength(3);
      expect(access.filter((a) => a.Type === 'VPC_SECURITY_GROUP')).toHaveLength(1);
      expect(access.filter((a) => a.Type === 'SERVER_ROOT_CA_CERTIFICATE')).toEqual([]);
    }
  });

  test('the environment is the MIRROR_* contract of functions/mirror/config.ts, and parses', () => {
    const vars = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(vars).toEqual({
      MIRROR_SOURCE_ALIAS: 'us-east-1',
      MIRROR_TOPIC_NAMING: 'prefixed',
      MIRROR_OFFSET_PRESERVING: 'false',
      MIRROR_TARGET_BOOTSTRAP_SERVERS: 'kafka.us-west-2.example.com:9092',
      MIRROR_TARGET_SECURITY_PROTOCOL: 'SASL_SSL',
      MIRROR_TARGET_SASL_MECHANISM: 'SCRAM-SHA-512',
      MIRROR_TARGET_SASL_SECRET_ARN: { Ref: targetSecret },
      MIRROR_SOURCE_BOOTSTRAP_SERVERS: 'kafka.us-east-1.example.com:9092',
      MIRROR_SOURCE_SECURITY_PROTOCOL: 'SASL_SSL',
      MIRROR_SOURCE_SASL_MECHANISM: 'SCRAM-SHA-512',
      MIRROR_SOURCE_SASL_SECRET_ARN: { Ref: sourceSecret },
      NODE_OPTIONS: '--enable-source-maps',
    });
    for (const name of Object.keys(vars)) if (name.startsWith('MIRROR_')) expect(MIRROR_ENV_VARS).toContain(name);
    const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, renderValue(v, (o) => `${SECRET_ARN}-${String(o.Ref)}`)]));
    const parsed = parseMirrorEnv(env);
    expect(parsed).toMatchObject({
      sourceAlias: 'us-east-1',
      naming: 'prefixed',
      offsetPreserving: false,
      target: { bootstrapServers: ['kafka.us-west-2.example.com:9092'], protocol: 'SASL_SSL', sasl: { mechanism: 'SCRAM-SHA-512', secretArn: `${SECRET_ARN}-${targetSecret}` } },
      source: { bootstrapServers: ['kafka.us-east-1.example.com:9092'], protocol: 'SASL_SSL', sasl: { mechanism: 'SCRAM-SHA-512', secretArn: `${SECRET_ARN}-${sourceSecret}` } },
    });
  });

  test('least privilege: the function reads its two credential secrets and nothing else', () => {
    const statements = Object.values(resourcesOf(t, 'AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: string[]; Resource: unknown }> }).Statement,
    );
    expect(statements).toEqual([{ Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Effect: 'Allow', Resource: [{ Ref: sourceSecret }, { Ref: targetSecret }] }]);
    const role = Object.values(resourcesOf(t, 'AWS::IAM::Role'))[0].Properties;
    expect(JSON.stringify(role.ManagedPolicyArns)).toMatch(/AWSLambdaBasicExecutionRole.*AWSLambdaVPCAccessExecutionRole/);
  });

  test('credential secrets are generated (no password in the template), JSON {username, password}', () => {
    for (const id of [sourceSecret, targetSecret]) {
      expect(resourcesOf(t, 'AWS::SecretsManager::Secret')[id].Properties).toMatchObject({
        GenerateSecretString: { SecretStringTemplate: JSON.stringify({ username: 'strata-mirror' }), GenerateStringKey: 'password', ExcludePunctuation: true },
      });
      expect(resourcesOf(t, 'AWS::SecretsManager::Secret')[id].Properties.SecretString).toBeUndefined();
    }
  });

  test('a private CA: given to the event source (SERVER_ROOT_CA_CERTIFICATE) and to the function (MIRROR_*_SSL_CA_PEM)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-infra-ca-'));
    try {
      const file = path.join(dir, 'ca.pem');
      fs.writeFileSync(file, CA_PEM);
      const withCa = synthStrata({ settings: { mirrorCaPemFile: file } });
      const ct = withCa.template(withCa.stacks.mirror!.function);
      const vars = (Object.values(resourcesOf(ct, 'AWS::Lambda::Function'))[0].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(vars.MIRROR_SOURCE_SSL_CA_PEM).toBe(CA_PEM);
      expect(vars.MIRROR_TARGET_SSL_CA_PEM).toBe(CA_PEM);
      const caSecret = Object.entries(resourcesOf(ct, 'AWS::SecretsManager::Secret')).find(([id]) => id.startsWith('MirrorSourceRootCa'))!;
      expect(JSON.parse(caSecret[1].Properties.SecretString as string)).toEqual({ certificate: CA_PEM });
      for (const m of Object.values(resourcesOf(ct, 'AWS::Lambda::EventSourceMapping'))) {
        expect(m.Properties.SourceAccessConfigurations).toEqual(expect.arrayContaining([{ Type: 'SERVER_ROOT_CA_CERTIFICATE', URI: { Ref: caSecret[0] } }]));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mirror function asset (bundled for real, as npm run synth does)', () => {
  test('esbuild bundle plus the native linux-x64 packages: loads on its own, outside the repository', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-infra-out-'));
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-infra-asset-'));
    try {
      const { stacks, template } = synthStrata({ bundle: true, outdir });
      const fn = Object.values(resourcesOf(template(stacks.mirror!.function), 'AWS::Lambda::Function'))[0].Properties;
      const hash = (fn.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
      const asset = path.join(outdir, `asset.${hash}`);
      expect(fs.readdirSync(asset).sort()).toEqual(['index.js', 'index.js.map', 'node_modules']);
      for (const p of NATIVE_PACKAGES) expect(fs.existsSync(path.join(asset, 'node_modules', p.name))).toBe(true);
      // Nothing of the repository is left to resolve from: copy the asset away from it.
      fs.cpSync(asset, run, { recursive: true });
      const script = [
        "const h = require('./index.js');",
        "if (typeof h.handler !== 'function') throw new Error('no handler export');",
        "const crc = require('@node-rs/crc32');",
        "require('snappy'); require('lz4-napi'); require('zstd-napi/binding');",
        "process.stdout.write(String(crc.crc32c(Buffer.from('123456789'))));",
      ].join('\n');
      const out = execFileSync(process.execPath, ['-e', script], {
        cwd: run,
        env: { PATH: process.env.PATH, MIRROR_SOURCE_ALIAS: 'us-east-1', MIRROR_TARGET_BOOTSTRAP_SERVERS: 'localhost:9092', NODE_PATH: '' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(out).toBe(String(0xe3069283)); // CRC-32C check value of "123456789"
      expect(path.relative(REPO_ROOT, run).startsWith('..')).toBe(true);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
      fs.rmSync(run, { recursive: true, force: true });
    }
  });
});
