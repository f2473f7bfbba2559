import { OFFLINE_SETTINGS, SETTINGS, environmentsFrom, type SettingName } from '../../infra/lib/environments';

type Settings = Partial<Record<SettingName, string>>;
const from = (s: Settings, files: Record<string, string> = {}) =>
  environmentsFrom(
    (n) => s[n],
    (f) => {
      if (!(f in files)) throw new Error(`ENOENT ${f}`);
      return files[f];
    },
  );

describe('environments', () => {
  test('the offline settings: a primary and a mirror region, fixed made-up accounts', () => {
    const e = from(OFFLINE_SETTINGS);
    expect(e.clusterName).toBe('strata');
    expect(e.primary).toEqual({
      name: 'Primary',
      account: '111111111111',
      region: 'us-east-1',
      availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
      vpcCidr: '10.10.0.0/16',
      clientHostName: 'kafka.us-east-1.example.com',
      brokerCount: 3,
      // The mirror function reads the primary cluster from the mirror region's VPC.
      extraClientCidrs: ['10.20.0.0/16'],
    });
    expect(e.mirror).toMatchObject({ name: 'Mirror', region: 'us-west-2', vpcCidr: '10.20.0.0/16', extraClientCidrs: [] });
    expect(e.mirroring).toEqual({ sourceAlias: 'us-east-1', sourceBootstrapServers: ['kafka.us-east-1.example.com:9092'], topics: ['orders', 'payments'] });
  });

  test('primary only, when no mirror region is set', () => {
    const e = from({ primaryAccount: '222222222222', primaryRegion: 'eu-west-1' });
    expect(e.mirror).toBeUndefined();
    expect(e.mirroring).toBeUndefined();
    expect(e.primary).toMatchObject({ account: '222222222222', region: 'eu-west-1', availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'], extraClientCidrs: [] });
  });

  test('explicit zones, broker count, cluster name, source address and CA file', () => {
    const e = from(
      {
        ...OFFLINE_SETTINGS,
        clusterName: 'prod',
        primaryAzs: 'us-east-1b, us-east-1d ,us-east-1f',
        brokerCount: '6',
        primaryClientHost: undefined,
        mirrorSourceBootstrap: 'kafka-a.example.net:9092,kafka-b.example.net:9092',
        mirrorSourceAlias: 'east',
        mirrorCaPemFile: '/ca.pem',
      },
      { '/ca.pem': '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' },
    );
    expect(e.clusterName).toBe('prod');
    expect(e.primary.availabilityZones).toEqual(['us-east-1b', 'us-east-1d', 'us-east-1f']);
    expect(e.primary.brokerCount).toBe(6);
    expect(e.mirror!.brokerCount).toBe(6);
    expect(e.mirroring).toMatchObject({ sourceAlias: 'east', sourceBootstrapServers: ['kafka-a.example.net:9092', 'kafka-b.example.net:9092'] });
    expect(e.mirroring!.caPem).toContain('BEGIN CERTIFICATE');
  });

  test.each<[string, Settings, RegExp]>([
    ['no account', { primaryRegion: 'us-east-1' }, /strata:primaryAccount \(or CDK_PRIMARY_ACCOUNT\) must be a 12-digit account id/],
    ['a bad region', { primaryAccount: '111111111111', primaryRegion: 'useast1' }, /strata:primaryRegion/],
    ['two zones', { ...OFFLINE_SETTINGS, primaryAzs: 'us-east-1a,us-east-1b' }, /three availability zones/],
    ['a zone of another region', { ...OFFLINE_SETTINGS, mirrorAzs: 'us-west-2a,us-west-2b,us-east-1c' }, /three availability zones of us-west-2/],
    ['zero brokers', { ...OFFLINE_SETTINGS, brokerCount: '0' }, /brokerCount must be an integer from 1 to 49/],
    ['one region twice', { ...OFFLINE_SETTINGS, mirrorRegion: 'us-east-1' }, /must differ from the primary region/],
    ['one CIDR twice', { ...OFFLINE_SETTINGS, mirrorVpcCidr: '10.10.0.0/16' }, /VPC CIDRs must differ/],
    ['a mirror without topics', { ...OFFLINE_SETTINGS, mirrorTopics: undefined }, /strata:mirrorTopics must name at least one topic/],
    ['a mirror without a source address', { ...OFFLINE_SETTINGS, primaryClientHost: undefined }, /set strata:mirrorSourceBootstrap .* or strata:primaryClientHost/],
    ['a bad source address', { ...OFFLINE_SETTINGS, mirrorSourceBootstrap: 'kafka.example.net' }, /'kafka.example.net' is not host:port/],
    ['a bad cluster name', { ...OFFLINE_SETTINGS, clusterName: 'Prod_1' }, /strata:clusterName/],
  ])('refuses %s, naming the setting', (_what, settings, message) => {
    expect(() => from(settings)).toThrow(message);
  });

  test('a CA file without a certificate is refused', () => {
    expect(() => from({ ...OFFLINE_SETTINGS, mirrorCaPemFile: '/x' }, { '/x': 'hello' })).toThrow(/holds no PEM certificate/);
  });

  test('every setting has a strata: context key; only the account/region pairs have environment variables', () => {
    for (const [name, s] of Object.entries(SETTINGS)) {
      expect(s.context).toBe(`strata:${name}`);
      if ('env' in s) expect(['primaryAccount', 'primaryRegion', 'mirrorAccount', 'mirrorRegion']).toContain(name);
    }
  });
});
