import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { ConfigSource } from '../../core/config/configDef';
import {
  type BrokerConfig,
  BROKER_CONFIGS,
  describeBrokerConfig,
  loadBrokerConfig,
  parseListeners,
  renderConfigDocs,
} from '../../core/config/brokerConfig';
import { TOPIC_CONFIGS, resolveTopicConfig } from '../../core/config/topicConfig';
import { errorOf } from '../helpers/errorOf';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-broker-config-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function propertiesFile(text: string): string {
  const file = path.join(dir, 'server.properties');
  fs.writeFileSync(file, text);
  return file;
}

/** The listeners without their security settings. */
function brief(c: BrokerConfig): { name: string; host: string; port: number; securityProtocol: string; advertised: { host: string; port: number } | null }[] {
  return c.listeners.map(({ name, host, port, securityProtocol, advertised }) => ({ name, host, port, securityProtocol, advertised }));
}

describe('loadBrokerConfig defaults', () => {
  test('with nothing set, Strata\'s defaults (Kafka\'s where Kafka has the config)', () => {
    const c = loadBrokerConfig({ flags: {} });
    expect(c).toMatchObject({
      nodeId: 0,
      brokerRack: null,
      interBrokerListenerName: 'PLAINTEXT',
      logDirs: './data',
      autoCreateTopicsEnable: true,
      numPartitions: 1,
      defaultReplicationFactor: 1,
      socketRequestMaxBytes: 104857600,
      messageMaxBytes: 1048588,
      deleteTopicEnable: true,
      connectionsMaxIdleMs: 600000,
      groupInitialRebalanceDelayMs: 3000,
      offsetsRetentionMinutes: 10080,
      metadata: 'embedded:',
      objectStore: 'file:',
      explicitValues: {},
      warnings: [],
    });
  });

  test('every topic config\'s broker synonyms are broker configs', () => {
    const names = new Set(BROKER_CONFIGS.map((e) => e.name));
    for (const t of TOPIC_CONFIGS) for (const s of t.synonyms) expect(names).toContain(s);
  });
});

describe('precedence: flags > env > file > defaults', () => {
  test('each key independently takes its highest layer', () => {
    const file = propertiesFile([
      '# Kafka-style comment',
      'num.partitions=2',
      'default.replication.factor = 1',
      'log.retention.hours: 48',
      'auto.create.topics.enable false',
    ].join('\n'));
    const c = loadBrokerConfig({
      file,
      env: { STRATA_NUM_PARTITIONS: '4', STRATA_AUTO_CREATE_TOPICS_ENABLE: 'true', PATH: '/bin' },
      flags: { 'num.partitions': '8' },
    });
    expect(c.numPartitions).toBe(8);
    expect(c.autoCreateTopicsEnable).toBe(true);
    expect(c.defaultReplicationFactor).toBe(1);
    expect(c.explicitOrigins).toEqual({
      'num.partitions': 'flag',
      'auto.create.topics.enable': 'env',
      'default.replication.factor': 'file',
      'log.retention.hours': 'file',
    });
    expect(resolveTopicConfig({}, c).values['retention.ms']).toBe(48 * 3_600_000);
  });

  test('Kafka\'s synonym rules then choose between keys, whichever layer each came from', () => {
    const file = propertiesFile('log.retention.ms=1000\n');
    const c = loadBrokerConfig({ file, flags: { 'log.retention.hours': '1' } });
    // log.retention.ms outranks log.retention.hours even though the hours came from a flag.
    expect(resolveTopicConfig({}, c).values['retention.ms']).toBe(1000);
  });

  test('flags may use kebab-case and data-dir; env uses STRATA_ and underscores', () => {
    const c = loadBrokerConfig({
      flags: { 'data-dir': '/var/lib/strata', '--node-id': '3', 'object-store': 'file:///t' },
      env: { STRATA_LOG_RETENTION_MS: '5000', STRATA_METADATA: 'embedded:/m' },
    });
    expect(c.logDirs).toBe('/var/lib/strata');
    expect(c.nodeId).toBe(3);
    expect(c.objectStore).toBe('file:///t');
    expect(c.metadata).toBe('embedded:/m');
    expect(c.explicitValues['log.retention.ms']).toBe('5000');
  });

  test('explicit values are kept in canonical form', () => {
    const c = loadBrokerConfig({ flags: { 'log.cleanup.policy': 'compact, delete', 'auto.create.topics.enable': 'FALSE' } });
    expect(c.explicitValues).toEqual({ 'log.cleanup.policy': 'compact,delete', 'auto.create.topics.enable': 'false' });
    expect(c.autoCreateTopicsEnable).toBe(false);
  });
});

describe('errors', () => {
  test('unknown flag keys fail with a did-you-mean hint', () => {
    const e = errorOf(() => loadBrokerConfig({ flags: { 'num.partition': '3' } }));
    expect(e.code).toBe('CONFIG_UNKNOWN');
    expect(e.message).toBe("Unknown broker config 'num.partition' (flag --num.partition). Did you mean 'num.partitions'?");
  });

  test('a topic config given to the broker points at its broker-level name', () => {
    const e = errorOf(() => loadBrokerConfig({ flags: { 'retention.ms': '1' } }));
    expect(e.message).toContain("'retention.ms' is a topic config; its broker-level default is log.retention.ms.");
  });

  test('unknown keys in the file name the file and line', () => {
    const file = propertiesFile('num.partitions=1\n\nlog.retenton.hours=1\n');
    const e = errorOf(() => loadBrokerConfig({ flags: {}, file }));
    expect(e.code).toBe('CONFIG_UNKNOWN');
    expect(e.message).toBe(`Unknown broker config 'log.retenton.hours' (${file} line 3). Did you mean 'log.retention.hours'?`);
  });

  test('an unreadable file is a clear error', () => {
    const e = errorOf(() => loadBrokerConfig({ flags: {}, file: path.join(dir, 'missing.properties') }));
    expect(isStrataError(e, 'CONFIG_INVALID')).toBe(true);
    expect(e.message).toContain('Cannot read config file');
  });

  test('unknown STRATA_ variables only warn (the environment is shared), with a hint', () => {
    const c = loadBrokerConfig({ flags: {}, env: { STRATA_NUM_PARTITION: '3', STRATA_LOG_LEVEL: 'debug', STRATA_SKIP_BUILD: '1' } });
    expect(c.warnings).toEqual([
      "Ignoring environment variable STRATA_NUM_PARTITION: 'num.partition' is not a broker config. Did you mean STRATA_NUM_PARTITIONS?",
    ]);
    expect(c.numPartitions).toBe(1);
  });

  test('bad values say which layer they came from', () => {
    expect(errorOf(() => loadBrokerConfig({ flags: { 'num.partitions': 'many' } })).message).toBe(
      'Invalid value many for configuration num.partitions: Not a number of type INT (flag --num.partitions)',
    );
    expect(errorOf(() => loadBrokerConfig({ flags: {}, env: { STRATA_NUM_PARTITIONS: '0' } })).message).toBe(
      'Invalid value 0 for configuration num.partitions: Value must be at least 1 (environment variable STRATA_NUM_PARTITIONS)',
    );
    const file = propertiesFile('log.segment.bytes=10\n');
    expect(errorOf(() => loadBrokerConfig({ flags: {}, file })).message).toBe(
      `Invalid value 10 for configuration log.segment.bytes: Value must be at least 14 (${file} line 1)`,
    );
  });

  test('node.id and broker.id must agree; broker.id alone sets the node id', () => {
    expect(loadBrokerConfig({ flags: { 'broker.id': '7' } }).nodeId).toBe(7);
    expect(loadBrokerConfig({ flags: { 'broker.id': '7', 'node.id': '7' } }).nodeId).toBe(7);
    expect(errorOf(() => loadBrokerConfig({ flags: { 'broker.id': '7', 'node.id': '8' } })).message).toMatch(/must be equal/);
  });

  test('more than one log dir is refused', () => {
    expect(errorOf(() => loadBrokerConfig({ flags: { 'log.dirs': '/a,/b' } })).message).toMatch(/one directory, but log.dirs lists 2/);
    expect(loadBrokerConfig({ flags: { 'log.dir': '/only' } }).logDirs).toBe('/only');
    expect(loadBrokerConfig({ flags: { 'log.dir': '/x', 'log.dirs': '/y' } }).logDirs).toBe('/y');
  });

  test('listeners are checked at load, with the source named', () => {
    expect(errorOf(() => loadBrokerConfig({ flags: { listeners: 'SSL://:9093' } })).message).toBe(
      'Listener SSL uses SSL but has no certificate: set ssl.keystore.location (a PEM file with the key and the certificate chain), ' +
        'or ssl.keystore.certificate.chain and ssl.keystore.key (listener.name.ssl.ssl.keystore.location for this listener only). (listener SSL)',
    );
    expect(errorOf(() => loadBrokerConfig({ flags: { listeners: 'ODD://:9093' } })).message).toBe(
      'No security protocol defined for listener ODD (add it to listener.security.protocol.map). (flag --listeners)',
    );
    expect(errorOf(() => loadBrokerConfig({ flags: { 'advertised.listeners': 'PLAINTEXT://0.0.0.0:9092' } })).message).toMatch(
      /nonroutable meta-address 0.0.0.0/,
    );
    expect(errorOf(() => loadBrokerConfig({ flags: { 'advertised.listeners': 'OTHER://h:1', 'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT' } })).message).toMatch(
      /OTHER is not in listeners/,
    );
  });
});

test('a Kafka server.properties loads unchanged; machinery Strata lacks is accepted with a warning', () => {
  const file = propertiesFile(`
# Licensed to the Apache Software Foundation (ASF) ...
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`);
  const c = loadBrokerConfig({ flags: {}, file });
  expect(c.nodeId).toBe(1);
  // The KRaft controller listener is left out of both lists (Kafka's data-plane listeners).
  expect(brief(c)).toEqual([{ name: 'PLAINTEXT', host: '', port: 9092, securityProtocol: 'PLAINTEXT', advertised: { host: 'localhost', port: 9092 } }]);
  expect(c.interBrokerListenerName).toBe('PLAINTEXT');
  expect(c.logDirs).toBe('/tmp/kraft-combined-logs');
  expect(c.warnings).toEqual([
    `Ignoring Kafka settings Strata has no use for (${file}): controller.listener.names, controller.quorum.voters, ` +
      'num.io.threads, num.network.threads, num.recovery.threads.per.data.dir, offsets.topic.replication.factor, process.roles, ' +
      'socket.receive.buffer.bytes, socket.send.buffer.bytes, transaction.state.log.min.isr, transaction.state.log.replication.factor.',
    'Ignoring listeners Strata has no use for: CONTROLLER://:9093 (KRaft controller: Strata has no controller quorum).',
  ]);
  // DescribeConfigs still reports what the file set.
  expect(c.explicitValues.listeners).toBe('PLAINTEXT://:9092,CONTROLLER://:9093');
});

describe('stock Kafka config files (../shared/kafka-config) load unchanged', () => {
  const STOCK = path.resolve(__dirname, '..', '..', '..', 'shared', 'kafka-config');

  test('KRaft combined: CONTROLLER left out of listeners and advertised.listeners, one line per kind of thing ignored', () => {
    const file = path.join(STOCK, 'kraft-server.properties');
    const c = loadBrokerConfig({ flags: {}, file });
    expect(c.nodeId).toBe(1);
    expect(brief(c)).toEqual([{ name: 'PLAINTEXT', host: '', port: 9092, securityProtocol: 'PLAINTEXT', advertised: { host: 'localhost', port: 9092 } }]);
    expect(c.warnings).toHaveLength(2);
    expect(c.warnings[0].startsWith(`Ignoring Kafka settings Strata has no use for (${file}): `)).toBe(true);
    for (const key of ['process.roles', 'controller.quorum.voters', 'controller.listener.names', 'share.coordinator.state.topic.replication.factor']) {
      expect(c.warnings[0]).toContain(key);
    }
    expect(c.warnings[1]).toBe(
      'Ignoring listeners Strata has no use for: CONTROLLER://:9093 (KRaft controller: Strata has no controller quorum); advertised CONTROLLER://localhost:9093 (KRaft controller).',
    );
  });

  test('KRaft broker-only: the controller is elsewhere (controller.quorum.bootstrap.servers); share coordinator settings ignored', () => {
    const file = path.join(STOCK, 'kraft-broker.properties');
    const c = loadBrokerConfig({ flags: {}, file });
    expect(c).toMatchObject({ nodeId: 2, logDirs: '/tmp/kraft-broker-logs' });
    expect(brief(c)).toEqual([{ name: 'PLAINTEXT', host: 'localhost', port: 9092, securityProtocol: 'PLAINTEXT', advertised: { host: 'localhost', port: 9092 } }]);
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toContain('controller.quorum.bootstrap.servers');
    expect(c.warnings[0]).toContain('share.coordinator.state.topic.min.isr');
  });

  test('ZooKeeper mode: broker.id is the node id, zookeeper.* ignored, Strata\'s default listener', () => {
    const file = path.join(STOCK, 'zookeeper-server.properties');
    const c = loadBrokerConfig({ flags: {}, file });
    expect(c).toMatchObject({ nodeId: 0, groupInitialRebalanceDelayMs: 0 });
    expect(brief(c)).toEqual([{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9092, securityProtocol: 'PLAINTEXT', advertised: null }]);
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toContain('zookeeper.connect, zookeeper.connection.timeout.ms');
  });

  test('flags still override the file (the tests move data and port this way)', () => {
    const c = loadBrokerConfig({ flags: { 'data-dir': '/tmp/x', listeners: 'PLAINTEXT://127.0.0.1:0' }, file: path.join(STOCK, 'kraft-server.properties') });
    expect(c.logDirs).toBe('/tmp/x');
    // The file's advertised PLAINTEXT entry still applies, as in Kafka.
    expect(brief(c)).toEqual([{ name: 'PLAINTEXT', host: '127.0.0.1', port: 0, securityProtocol: 'PLAINTEXT', advertised: { host: 'localhost', port: 9092 } }]);
  });
});

describe('listeners: controller listeners, several client listeners, none usable', () => {
  test('controller.listener.names decides which listeners are the controller\'s; they need no protocol mapping', () => {
    const c = loadBrokerConfig({ flags: { listeners: 'CTRL://:9093,PLAINTEXT://127.0.0.1:9092', 'controller.listener.names': 'CTRL' } });
    expect(brief(c).map((l) => l.name)).toEqual(['PLAINTEXT']);
    expect(c.warnings[1]).toBe('Ignoring listeners Strata has no use for: CTRL://:9093 (KRaft controller: Strata has no controller quorum).');
  });

  test('a file that names only controller listeners is refused, saying what to add', () => {
    const file = propertiesFile('process.roles=controller\nnode.id=1\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n');
    expect(errorOf(() => loadBrokerConfig({ flags: {}, file })).message).toBe(
      `listeners (${file} line 3) names no listener for clients: CONTROLLER://:9093 is a KRaft controller listener (controller.listener.names), ` +
        'which Strata has no use for. Add a client listener, e.g. listeners=PLAINTEXT://:9092,CONTROLLER://:9093, or pass --listeners PLAINTEXT://127.0.0.1:9092.',
    );
  });

  test('advertised.listeners naming only controller listeners is refused, as in Kafka', () => {
    expect(errorOf(() => loadBrokerConfig({ flags: { 'advertised.listeners': 'CONTROLLER://h:9093' } })).message).toMatch(
      /^There must be at least one broker advertised listener. Perhaps all listeners appear in controller.listener.names\?/,
    );
  });

  test('every client listener is served, each with its protocol and advertised address; the inter-broker one is PLAINTEXT or the first', () => {
    const c = loadBrokerConfig({
      flags: {
        listeners: 'INTERNAL://[::1]:9092,EXTERNAL://:9094',
        'advertised.listeners': 'EXTERNAL://public:9094,INTERNAL://internal:9092',
        'listener.security.protocol.map': 'INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT',
      },
    });
    expect(brief(c)).toEqual([
      { name: 'INTERNAL', host: '::1', port: 9092, securityProtocol: 'PLAINTEXT', advertised: { host: 'internal', port: 9092 } },
      { name: 'EXTERNAL', host: '', port: 9094, securityProtocol: 'PLAINTEXT', advertised: { host: 'public', port: 9094 } },
    ]);
    expect(c.interBrokerListenerName).toBe('INTERNAL');
    expect(c.warnings).toEqual([]);
    expect(parseListeners('INTERNAL://[::1]:9092', 'INTERNAL:SASL_SSL')).toEqual([{ name: 'INTERNAL', host: '::1', port: 9092, securityProtocol: 'SASL_SSL' }]);
  });
});

describe('connection limits', () => {
  test('Kafka\'s names and defaults (no limit)', () => {
    expect(loadBrokerConfig({ flags: {} })).toMatchObject({ maxConnections: 2147483647, maxConnectionsPerIp: 2147483647, maxConnectionsPerIpOverrides: {} });
    const c = loadBrokerConfig({ flags: { 'max.connections': '1000', 'max.connections.per.ip': '0', 'max.connections.per.ip.overrides': 'hostName:100, 127.0.0.1:200,[::1]:5,fe80::1:7' } });
    expect(c).toMatchObject({ maxConnections: 1000, maxConnectionsPerIp: 0 });
    expect(c.maxConnectionsPerIpOverrides).toEqual({ hostName: 100, '127.0.0.1': 200, '::1': 5, 'fe80::1': 7 });
  });

  test('bad values are refused as Kafka refuses them', () => {
    expect(errorOf(() => loadBrokerConfig({ flags: { 'max.connections.per.ip': '0' } })).message).toBe(
      'max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set (flag --max.connections.per.ip).',
    );
    expect(errorOf(() => loadBrokerConfig({ flags: { 'max.connections': '-1' } })).message).toMatch(/max.connections/);
    expect(errorOf(() => loadBrokerConfig({ flags: { 'max.connections.per.ip.overrides': 'host' } })).message).toMatch(
      /Invalid max.connections.per.ip.overrides entry 'host': expected HOST:COUNT/,
    );
    expect(errorOf(() => loadBrokerConfig({ flags: { 'max.connections.per.ip.overrides': 'a b:3' } })).message).toMatch(/expected HOST:COUNT/);
  });
});

describe('parseListeners', () => {
  test('PLAINTEXT listeners: names, hosts (empty, names, IPv4, bracketed IPv6) and ports (0 = ephemeral)', () => {
    const p = { securityProtocol: 'PLAINTEXT' };
    expect(parseListeners('PLAINTEXT://127.0.0.1:9092')).toEqual([{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9092, ...p }]);
    expect(parseListeners('plaintext://:0')).toEqual([{ name: 'PLAINTEXT', host: '', port: 0, ...p }]);
    expect(parseListeners('PLAINTEXT://[::1]:9092')).toEqual([{ name: 'PLAINTEXT', host: '::1', port: 9092, ...p }]);
    expect(parseListeners(' PLAINTEXT://broker-1.example.com:19092 ')).toEqual([{ name: 'PLAINTEXT', host: 'broker-1.example.com', port: 19092, ...p }]);
  });

  test('custom names map to a protocol through listener.security.protocol.map', () => {
    expect(parseListeners('INTERNAL://0.0.0.0:9092,EXTERNAL://:9094', 'INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL')).toEqual([
      { name: 'INTERNAL', host: '0.0.0.0', port: 9092, securityProtocol: 'PLAINTEXT' },
      { name: 'EXTERNAL', host: '', port: 9094, securityProtocol: 'SASL_SSL' },
    ]);
    expect(() => parseListeners('INTERNAL://:9092')).toThrow('No security protocol defined for listener INTERNAL');
  });

  test('malformed lists are refused', () => {
    expect(() => parseListeners('')).toThrow(/No listeners/);
    expect(() => parseListeners('localhost:9092')).toThrow(/Unable to parse localhost:9092 to a broker endpoint/);
    expect(() => parseListeners('PLAINTEXT://h:65536')).toThrow(/Invalid port 65536/);
    expect(() => parseListeners('PLAINTEXT://h:-1')).toThrow(/Invalid port -1/);
    expect(() => parseListeners('PLAINTEXT://a:1,PLAINTEXT://b:2')).toThrow(/Each listener must have a different name/);
    expect(() => parseListeners('PLAINTEXT://:1', 'PLAINTEXT:TLS')).toThrow(/Invalid listener.security.protocol.map entry/);
  });
});

describe('describeBrokerConfig', () => {
  test('explicit values are STATIC_BROKER_CONFIG, the rest DEFAULT_CONFIG; all read-only', () => {
    const c = loadBrokerConfig({ flags: { 'num.partitions': '3', 'broker.id': '2' } });
    const d = describeBrokerConfig(c);
    const get = (n: string) => d.find((e) => e.name === n)!;
    expect(get('num.partitions')).toMatchObject({ value: '3', source: ConfigSource.STATIC_BROKER_CONFIG, isDefault: false, readOnly: true });
    expect(get('num.partitions').synonyms).toEqual([
      { name: 'num.partitions', value: '3', source: ConfigSource.STATIC_BROKER_CONFIG },
      { name: 'num.partitions', value: '1', source: ConfigSource.DEFAULT_CONFIG },
    ]);
    expect(get('node.id')).toMatchObject({ value: '2', source: ConfigSource.STATIC_BROKER_CONFIG });
    expect(get('log.retention.hours')).toMatchObject({ value: '168', source: ConfigSource.DEFAULT_CONFIG, isDefault: true });
    expect(get('log.retention.ms')).toMatchObject({ value: null, source: ConfigSource.DEFAULT_CONFIG });
    expect(d.find((e) => e.name === 'num.io.threads')).toBeUndefined();
  });

  test('sensitive configs (JAAS configs, keys, passwords) are described without their values', () => {
    const jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="s3cret";';
    const d = describeBrokerConfig(loadBrokerConfig({ flags: { 'sasl.jaas.config': jaas, 'ssl.key.password': 'k' } }));
    for (const name of ['sasl.jaas.config', 'ssl.key.password']) {
      const e = d.find((x) => x.name === name)!;
      expect(e).toMatchObject({ value: null, isSensitive: true, source: ConfigSource.STATIC_BROKER_CONFIG });
      expect(e.synonyms.every((syn) => syn.value === null)).toBe(true);
    }
    expect(JSON.stringify(d)).not.toContain('s3cret');
  });
});

test('renderConfigDocs lists every broker and topic config with its doc', () => {
  const md = renderConfigDocs();
  for (const e of BROKER_CONFIGS) expect(md).toContain(`\`${e.name}\``);
  for (const e of TOPIC_CONFIGS) {
    expect(md).toContain(`| \`${e.name}\` |`);
    expect(md).toContain(e.doc.replace(/\|/g, '\\|'));
  }
  expect(md).toContain('| `metadata` (Strata) | string | `embedded:` |');
  expect(md).toContain('| `retention.ms` | long | `604800000` | `[-1,...]` | `log.retention.ms`, `log.retention.minutes`, `log.retention.hours` |');
  expect(md).toContain('`zookeeper.connect`');
});
