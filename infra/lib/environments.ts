/**
 * Where Strata is deployed, modelled in code: a primary region and, optionally, a mirror region
 * (a second cluster of its own, plus the mirror function that copies topics from the primary
 * into it). Everything here is plain data built from a settings lookup; only the app's entry
 * point (infra/bin/strata.ts) reads CDK context and environment variables and hands them in as
 * `get`, so every construct and stack sees typed values and tests build the app from fixed ones.
 */

/** One region's cluster: where it runs and how it is sized and reached. */
export interface ClusterEnvironment {
  /** 'Primary' or 'Mirror': part of the stack names (Strata-Primary-Brokers, ...). */
  readonly name: string;
  readonly account: string;
  readonly region: string;
  /**
   * The three availability zones, by name. Given explicitly so that synthesis never looks them up
   * (a lookup needs AWS credentials); broker i runs in zone i mod 3 and takes it as broker.rack.
   */
  readonly availabilityZones: readonly string[];
  /** The VPC's CIDR; the two regions' must not overlap, so their VPCs can be peered. */
  readonly vpcCidr: string;
  /**
   * The host name clients use for this cluster's load balancer (a DNS record you manage,
   * pointing at it, named by the brokers' TLS certificate). Unset: the load balancer's own DNS
   * name is advertised, and the certificate must name that.
   */
  readonly clientHostName?: string;
  /** Brokers, node.id 0..brokerCount-1. */
  readonly brokerCount: number;
  /** CIDRs besides the VPC's own that may reach the Kafka ports (e.g. the other region's VPC, for the mirror). */
  readonly extraClientCidrs: readonly string[];
}

/** What the mirror function copies, from the primary cluster into the mirror region's cluster. */
export interface MirrorSettings {
  /** The source cluster's alias: target topics are named <alias>.<topic> (MIRROR_SOURCE_ALIAS). */
  readonly sourceAlias: string;
  /** host:port of the primary cluster as seen from the mirror region. */
  readonly sourceBootstrapServers: readonly string[];
  /** Source topics, one event source mapping each. */
  readonly topics: readonly string[];
  /** PEM of the CA that signed the clusters' certificates, when it is a private one. */
  readonly caPem?: string;
}

export interface StrataEnvironments {
  /** Names the DynamoDB table (<clusterName>-metadata), the S3 key prefix and the internal DNS domain. */
  readonly clusterName: string;
  readonly primary: ClusterEnvironment;
  readonly mirror?: ClusterEnvironment;
  readonly mirroring?: MirrorSettings;
}

/**
 * The settings the entry point reads: a CDK context key (`cdk deploy -c strata:primaryRegion=...`
 * or cdk.json's "context"), and for the account/region pairs an environment variable as well.
 */
export const SETTINGS = {
  clusterName: { context: 'strata:clusterName', description: 'names the table (<name>-metadata), the S3 key prefix and the internal DNS domain; default strata' },
  primaryAccount: { context: 'strata:primaryAccount', env: 'CDK_PRIMARY_ACCOUNT', description: 'primary account; default CDK_DEFAULT_ACCOUNT (the CLI\'s credentials)' },
  primaryRegion: { context: 'strata:primaryRegion', env: 'CDK_PRIMARY_REGION', description: 'primary region; default CDK_DEFAULT_REGION' },
  primaryAzs: { context: 'strata:primaryAzs', description: 'three zone names, comma-separated; default <region>a,b,c' },
  primaryVpcCidr: { context: 'strata:primaryVpcCidr', description: 'default 10.10.0.0/16' },
  primaryClientHost: { context: 'strata:primaryClientHost', description: 'DNS name clients use for the primary cluster; default the NLB DNS name' },
  mirrorAccount: { context: 'strata:mirrorAccount', env: 'CDK_MIRROR_ACCOUNT', description: 'mirror region account; default the primary account' },
  mirrorRegion: { context: 'strata:mirrorRegion', env: 'CDK_MIRROR_REGION', description: 'mirror region; unset: no mirror region stacks' },
  mirrorAzs: { context: 'strata:mirrorAzs', description: 'three zone names; default <region>a,b,c' },
  mirrorVpcCidr: { context: 'strata:mirrorVpcCidr', description: 'default 10.20.0.0/16' },
  mirrorClientHost: { context: 'strata:mirrorClientHost', description: 'DNS name clients use for the mirror region cluster' },
  brokerCount: { context: 'strata:brokerCount', description: 'brokers per cluster; default 3' },
  mirrorTopics: { context: 'strata:mirrorTopics', description: 'source topics to mirror, comma-separated (required with a mirror region)' },
  mirrorSourceBootstrap: { context: 'strata:mirrorSourceBootstrap', description: 'the primary cluster\'s host:port list as the mirror reaches it; default <primaryClientHost>:9092' },
  mirrorSourceAlias: { context: 'strata:mirrorSourceAlias', description: 'MIRROR_SOURCE_ALIAS; default the primary region' },
  mirrorCaPemFile: { context: 'strata:mirrorCaPemFile', description: 'file holding the PEM CA the clusters\' certificates chain to (a private CA)' },
} as const;

export type SettingName = keyof typeof SETTINGS;

/** The fixed, made-up environment `npm run synth` and the tests synthesize with: no AWS account needed. */
export const OFFLINE_SETTINGS: Readonly<Partial<Record<SettingName, string>>> = {
  primaryAccount: '111111111111',
  primaryRegion: 'us-east-1',
  primaryClientHost: 'kafka.us-east-1.example.com',
  mirrorAccount: '111111111111',
  mirrorRegion: 'us-west-2',
  mirrorClientHost: 'kafka.us-west-2.example.com',
  mirrorTopics: 'orders,payments',
};

export const BOOTSTRAP_PORT = 9092;

const ACCOUNT_RE = /^\d{12}$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;
const CIDR_RE = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function unreadable(path: string): never {
  return fail(`cannot read ${path}: no file reader given`);
}

function fail(message: string): never {
  throw new Error(`Strata infra settings: ${message}`);
}

/**
 * Builds the environments from a settings lookup (context first, then environment variables,
 * as the entry point does it). Throws naming the setting to fix.
 */
export function environmentsFrom(get: (name: SettingName) => string | undefined, readFile: (path: string) => string = unreadable): StrataEnvironments {
  const clusterName = get('clusterName') ?? 'strata';
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(clusterName)) fail(`${SETTINGS.clusterName.context} must be lower-case letters, digits and '-', starting with a letter (at most 31), got '${clusterName}'`);

  const brokerCountText = get('brokerCount') ?? '3';
  const brokerCount = Number(brokerCountText);
  // One NLB listener per broker plus the bootstrap one; an NLB takes at most 50 listeners.
  if (!Number.isInteger(brokerCount) || brokerCount < 1 || brokerCount > 49) fail(`${SETTINGS.brokerCount.context} must be an integer from 1 to 49, got '${brokerCountText}'`);

  const cluster = (
    name: string,
    account: string | undefined,
    region: string | undefined,
    azs: string | undefined,
    cidr: string,
    clientHostName: string | undefined,
    which: 'primary' | 'mirror',
  ): ClusterEnvironment => {
    const accountKey = which === 'primary' ? SETTINGS.primaryAccount : SETTINGS.mirrorAccount;
    const regionKey = which === 'primary' ? SETTINGS.primaryRegion : SETTINGS.mirrorRegion;
    if (account === undefined || !ACCOUNT_RE.test(account)) fail(`${accountKey.context} (or ${accountKey.env}) must be a 12-digit account id, got '${account ?? ''}'`);
    if (region === undefined || !REGION_RE.test(region)) fail(`${regionKey.context} (or ${regionKey.env}) must be a region such as us-east-1, got '${region ?? ''}'`);
    const availabilityZones = azs === undefined ? ['a', 'b', 'c'].map((s) => region + s) : list(azs);
    if (availabilityZones.length !== 3 || !availabilityZones.every((z) => z.startsWith(region))) {
      fail(`strata:${which}Azs must name three availability zones of ${region}, got '${azs}'`);
    }
    if (!CIDR_RE.test(cidr)) fail(`strata:${which}VpcCidr must be a CIDR such as 10.10.0.0/16, got '${cidr}'`);
    return { name, account, region, availabilityZones, vpcCidr: cidr, clientHostName, brokerCount, extraClientCidrs: [] };
  };

  let primary = cluster(
    'Primary',
    get('primaryAccount'),
    get('primaryRegion'),
    get('primaryAzs'),
    get('primaryVpcCidr') ?? '10.10.0.0/16',
    get('primaryClientHost'),
    'primary',
  );
  const mirrorRegion = get('mirrorRegion');
  if (mirrorRegion === undefined) return { clusterName, primary };

  const mirror = cluster(
    'Mirror',
    get('mirrorAccount') ?? primary.account,
    mirrorRegion,
    get('mirrorAzs'),
    get('mirrorVpcCidr') ?? '10.20.0.0/16',
    get('mirrorClientHost'),
    'mirror',
  );
  if (mirror.region === primary.region) fail(`the mirror region must differ from the primary region (${primary.region})`);
  if (mirror.vpcCidr === primary.vpcCidr) fail(`the two VPC CIDRs must differ, so the VPCs can be peered (both are ${mirror.vpcCidr})`);
  // The mirror function reads from the primary cluster from inside the mirror region's VPC.
  primary = { ...primary, extraClientCidrs: [mirror.vpcCidr] };

  const topics = list(get('mirrorTopics'));
  if (topics.length === 0) fail(`${SETTINGS.mirrorTopics.context} must name at least one topic when ${SETTINGS.mirrorRegion.context} is set`);
  const bootstrap = get('mirrorSourceBootstrap');
  const sourceBootstrapServers = bootstrap !== undefined ? list(bootstrap) : primary.clientHostName !== undefined ? [`${primary.clientHostName}:${BOOTSTRAP_PORT}`] : [];
  if (sourceBootstrapServers.length === 0) {
    fail(`set ${SETTINGS.mirrorSourceBootstrap.context} (the primary cluster's host:port as the mirror region reaches it) or ${SETTINGS.primaryClientHost.context}`);
  }
  for (const s of sourceBootstrapServers) if (!/^[^:\s]+:\d{1,5}$/.test(s)) fail(`${SETTINGS.mirrorSourceBootstrap.context}: '${s}' is not host:port`);
  const caFile = get('mirrorCaPemFile');
  const caPem = caFile === undefined ? undefined : readFile(caFile);
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----')) fail(`${SETTINGS.mirrorCaPemFile.context}: ${caFile} holds no PEM certificate`);
  const mirroring: MirrorSettings = {
    sourceAlias: get('mirrorSourceAlias') ?? primary.region,
    sourceBootstrapServers,
    topics,
    ...(caPem !== undefined ? { caPem } : {}),
  };
  return { clusterName, primary, mirror, mirroring };
}
