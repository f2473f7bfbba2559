import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { configsSpec, formatConfigLine, parseAddConfig } from '../../core/cli/configs';
import { FakeBroker, type HookResult } from '../client/fakeBroker';
import { runCli } from './runCli';

/**
 * `strata configs`: kafka-configs.sh's command-line checks and messages, the requests it sends
 * (DescribeConfigs with synonyms, IncrementalAlterConfigs SET/DELETE, each to the right
 * resource) and its output, against a fake broker whose config answers the test writes. The
 * broker side is in test/broker/dynamicBrokerConfigs.test.ts and test/integration/brokerConfigs.test.ts.
 */

let broker: FakeBroker;
const seen: Array<{ api: number; req: any }> = [];
let script: (api: number, req: any) => HookResult = () => undefined;

beforeEach(async () => {
  broker = await FakeBroker.start({
    hook: (h, req) => {
      if (h.apiKey === ApiKey.ApiVersions || h.apiKey === ApiKey.Metadata) return undefined;
      seen.push({ api: h.apiKey, req });
      return script(h.apiKey, req);
    },
  });
  broker.createTopic('orders', 1);
});

afterEach(async () => {
  seen.length = 0;
  script = () => undefined;
  await broker.close();
});

const configs = (...args: string[]) => runCli(['configs', '--bootstrap-server', broker.bootstrap, ...args]);
const sent = (api: number) => seen.filter((s) => s.api === api).map((s) => s.req);

const entry = (name: string, value: string | null, source: number, synonyms: Array<[number, string, string | null]> = []) => ({
  name,
  value,
  readOnly: false,
  configSource: source,
  isSensitive: false,
  synonyms: synonyms.map(([s, n, v]) => ({ name: n, value: v, source: s })),
  configType: 0,
  documentation: null,
});

/** DescribeConfigs answered from `byResource` ('<type>/<name>' → entries). */
function describeWith(byResource: Record<string, ReturnType<typeof entry>[]>, errors: Record<string, [number, string]> = {}) {
  return (api: number, req: any): HookResult => {
    if (api !== ApiKey.DescribeConfigs) return undefined;
    return {
      response: {
        throttleTimeMs: 0,
        results: req.resources.map((r: any) => {
          const key = `${r.resourceType}/${r.resourceName}`;
          const [errorCode, errorMessage] = errors[key] ?? [0, null];
          return { errorCode, errorMessage, resourceType: r.resourceType, resourceName: r.resourceName, configs: errorCode ? [] : (byResource[key] ?? []) };
        }),
      },
    };
  };
}

const ORDERS = [
  entry('segment.bytes', '1024', 3, [[3, 'log.segment.bytes', '1024'], [5, 'log.segment.bytes', '1073741824']]),
  entry('retention.ms', '1000', 1, [[1, 'retention.ms', '1000'], [5, 'log.retention.hours', '168']]),
  entry('cleanup.policy', 'delete', 5, [[5, 'log.cleanup.policy', 'delete']]),
];

describe('command line checks (kafka-configs.sh wording)', () => {
  it.each<[string[], string]>([
    [['--entity-type', 'topics', '--entity-name', 'x'], 'Command must include exactly one action: --describe, --alter'],
    [['--describe', '--alter', '--topic', 'x'], 'Command must include exactly one action: --describe, --alter'],
    [['--describe'], 'At least one entity type must be specified'],
    [['--describe', '--entity-type', 'ips'], 'Strata has no ips configs yet: the entity type must be one of topics, brokers, users, clients'],
    [['--describe', '--entity-type', 'widgets'], 'Invalid entity type widgets, the entity type must be one of topics, brokers, users, clients with a --bootstrap-server argument'],
    [['--alter', '--entity-type', 'users', '--add-config', 'SCRAM-SHA-256=[password=p]'], 'An entity-name or default entity must be specified with --alter of users, clients, brokers or ips'],
    [['--alter', '--entity-type', 'users', '--entity-name', 'a', '--entity-type', 'clients', '--add-config', 'producer_byte_rate=1'], '--entity-name or --entity-default must be specified with each --entity-type for --alter'],
    [['--describe', '--entity-type', 'topics', '--entity-default'], '--entity-default must not be specified with --describe of topics'],
    [['--describe', '--entity-type', 'brokers', '--entity-name', 'b1'], 'The entity name for brokers must be a valid integer broker id, but it is: b1'],
    [['--describe', '--entity-type', 'topics', '--topic', 'x'], '--entity-{type,name,default} should not be used in conjunction with specific entity flags'],
    [['--describe', '--topic', 'x', '--add-config', 'a=1'], '--add-config can only be used with --alter'],
    [['--alter', '--topic', 'x', '--all', '--add-config', 'a=1'], '--all can only be used with --describe'],
    [['--alter', '--entity-type', 'topics', '--add-config', 'a=1'], 'An entity name must be specified with --alter of topics'],
    [['--alter', '--entity-type', 'brokers', '--add-config', 'a=1'], 'An entity-name or default entity must be specified with --alter of users, clients, brokers or ips'],
    [['--alter', '--topic', 'x'], 'At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter'],
    [['--alter', '--topic', 'x', '--add-config', 'a=1', '--add-config-file', 'f'], 'Only one of --add-config or --add-config-file must be specified'],
    [['--alter', '--topic', 'x', '--add-config', 'a=1=2'], 'Invalid entity config: all configs to be added must be in the format "key=val".'],
    [['--alter', '--topic', 'x', '--add-config', 'a b=1'], 'Invalid character found for config key: a b'],
  ])('%j', async (args, message) => {
    const r = await configs(...args);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`strata configs: ${message}`);
    expect(seen.filter((s) => s.api === ApiKey.IncrementalAlterConfigs)).toEqual([]);
  });
});

describe('--describe', () => {
  it("lists a topic's own configs, sorted, with synonyms, asking for synonyms", async () => {
    script = describeWith({ '2/orders': ORDERS });
    const r = await configs('--entity-type', 'topics', '--entity-name', 'orders', '--describe');
    expect(r).toEqual({
      code: 0,
      stdout: 'Dynamic configs for topic orders are:\n  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}\n',
      stderr: '',
    });
    expect(sent(ApiKey.DescribeConfigs)).toEqual([{ resources: [{ resourceType: 2, resourceName: 'orders', configurationKeys: null }], includeSynonyms: true, includeDocumentation: false }]);
  });

  it('--all lists every config', async () => {
    script = describeWith({ '2/orders': ORDERS });
    const r = await configs('--topic', 'orders', '--describe', '--all');
    expect(r.stdout.split('\n')).toEqual([
      'All configs for topic orders are:',
      '  cleanup.policy=delete sensitive=false synonyms={DEFAULT_CONFIG:log.cleanup.policy=delete}',
      '  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}',
      '  segment.bytes=1024 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1024, DEFAULT_CONFIG:log.segment.bytes=1073741824}',
      '',
    ]);
  });

  it('without a name: every broker (DescribeCluster), then the cluster-wide default', async () => {
    script = describeWith({
      '4/0': [entry('log.retention.ms', '5', 2, [[2, 'log.retention.ms', '5'], [3, 'log.retention.ms', '9']]), entry('num.partitions', '1', 5)],
      '4/': [entry('log.retention.ms', '9', 3, [[3, 'log.retention.ms', '9']])],
    });
    const r = await configs('--entity-type', 'brokers', '--describe');
    expect(r.stdout).toBe(
      'Dynamic configs for broker 0 are:\n' +
        '  log.retention.ms=5 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=5, DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=9}\n' +
        'Default configs for brokers in the cluster are:\n' +
        '  log.retention.ms=9 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=9}\n',
    );
    expect(sent(ApiKey.DescribeConfigs).map((q) => q.resources[0].resourceName)).toEqual(['0', '']);
  });

  it('a broker error is reported as kafka-configs.sh does, exit 1', async () => {
    script = describeWith({}, { '2/ghost': [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "Topic 'ghost' does not exist."] });
    const r = await configs('--topic', 'ghost', '--describe');
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error while executing config command with args '--bootstrap-server ${broker.bootstrap} --topic ghost --describe'\nUNKNOWN_TOPIC_OR_PARTITION: Topic 'ghost' does not exist.\n`,
    });
  });
});

describe('--alter', () => {
  const altered = (errorCode = 0, errorMessage: string | null = null) => (api: number, req: any): HookResult =>
    api === ApiKey.IncrementalAlterConfigs
      ? { response: { throttleTimeMs: 0, responses: req.resources.map((r: any) => ({ errorCode, errorMessage, resourceType: r.resourceType, resourceName: r.resourceName })) } }
      : describeWith({ '2/orders': ORDERS, '4/': [entry('log.retention.ms', '9', 3)] })(api, req);

  it('sends one IncrementalAlterConfigs: SETs (brackets group commas), then DELETEs of configs the entity sets', async () => {
    script = altered();
    const r = await configs('--topic', 'orders', '--alter', '--add-config', 'cleanup.policy=[compact,delete], max.message.bytes = 2048', '--delete-config', 'retention.ms');
    expect(r).toEqual({ code: 0, stdout: 'Completed updating config for topic orders.\n', stderr: '' });
    expect(sent(ApiKey.IncrementalAlterConfigs)).toEqual([
      {
        resources: [
          {
            resourceType: 2,
            resourceName: 'orders',
            configs: [
              { name: 'cleanup.policy', configOperation: 0, value: 'compact,delete' },
              { name: 'max.message.bytes', configOperation: 0, value: '2048' },
              { name: 'retention.ms', configOperation: 1, value: null },
            ],
          },
        ],
        validateOnly: false,
      },
    ]);
  });

  it('the cluster-wide default: resource name empty, its own message', async () => {
    script = altered();
    const r = await configs('--entity-type', 'brokers', '--entity-default', '--alter', '--delete-config', 'log.retention.ms');
    expect(r.stdout).toBe('Completed updating default config for brokers in the cluster.\n');
    expect(sent(ApiKey.IncrementalAlterConfigs)[0].resources[0]).toMatchObject({ resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.ms', configOperation: 1 }] });
    const one = await configs('--broker', '0', '--alter', '--add-config', 'log.retention.ms=1');
    expect(one.stdout).toBe('Completed updating config for broker 0.\n');
  });

  it('refuses to delete a config the entity does not set, before altering anything', async () => {
    script = altered();
    const r = await configs('--topic', 'orders', '--alter', '--delete-config', 'segment.bytes,cleanup.policy', '--delete-config', 'retention.ms');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Invalid config(s): segment.bytes,cleanup.policy\n' });
    expect(sent(ApiKey.IncrementalAlterConfigs)).toEqual([]);
  });

  it("reports the broker's refusal", async () => {
    script = altered(ErrorCode.INVALID_REQUEST, 'Cannot update these configs dynamically: Set(num.partitions)');
    const r = await configs('--broker-defaults', '--alter', '--add-config', 'num.partitions=3');
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[1]).toBe('INVALID_REQUEST: Cannot update these configs dynamically: Set(num.partitions)');
  });

  it('--add-config-file reads a properties file; message.format.version gets Kafka\'s warning', async () => {
    script = altered();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-configs-cli-'));
    try {
      const file = path.join(dir, 'add.properties');
      fs.writeFileSync(file, '# topic settings\nretention.ms=60000\nmessage.format.version: 2.8\n');
      const r = await configs('--topic', 'orders', '--alter', '--add-config-file', file);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^WARNING: The configuration message.format.version=2.8 is specified\. .*removed in Apache Kafka 4\.0\.\nCompleted updating config for topic orders\.\n$/);
      expect(sent(ApiKey.IncrementalAlterConfigs)[0].resources[0].configs).toEqual([
        { name: 'retention.ms', configOperation: 0, value: '60000' },
        { name: 'message.format.version', configOperation: 0, value: '2.8' },
      ]);
      const missing = await configs('--topic', 'orders', '--alter', '--add-config-file', path.join(dir, 'nope'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^Cannot read --add-config-file .*nope/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("parseAddConfig splits as ConfigCommand's regexes do", () => {
  expect(parseAddConfig('k1=v1,k2=[v1,v2,v2],k3=v3')).toEqual([['k1', 'v1'], ['k2', 'v1,v2,v2'], ['k3', 'v3']]);
  expect(parseAddConfig('ssl.endpoint.identification.algorithm=')).toEqual([['ssl.endpoint.identification.algorithm', '']]);
  expect(parseAddConfig(' a = 1 ')).toEqual([['a', '1']]);
  expect(parseAddConfig('a=[x=y]')).toEqual([['a', 'x=y']]);
  expect(() => parseAddConfig('a')).toThrow('Invalid entity config');
});

test('formatConfigLine prints null values and unknown sources as Java does', () => {
  expect(formatConfigLine({ name: 'p', value: null, readOnly: true, isDefault: false, source: 4, isSensitive: true, synonyms: [{ name: 'p', value: null, source: 42 }] })).toBe(
    '  p=null sensitive=true synonyms={UNKNOWN:p=null}',
  );
  expect(configsSpec.flags.map((f) => f.name)).toEqual(expect.arrayContaining(['entity-type', 'entity-name', 'entity-default', 'add-config', 'add-config-file', 'delete-config', 'all']));
});
