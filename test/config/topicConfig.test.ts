import { isStrataError } from '../../core/common/errors';
import { ConfigSource, ConfigType } from '../../core/config/configDef';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import {
  TOPIC_CONFIGS,
  effectiveLocalRetentionMs,
  effectiveTimestampBounds,
  isMessageFormatVersion,
  normalizeTopicConfigs,
  resolveTopicConfig,
  validateTopicConfigs,
} from '../../core/config/topicConfig';
import { errorOf } from '../helpers/errorOf';

const entry = (r: ReturnType<typeof resolveTopicConfig>, name: string) => r.entries.find((e) => e.name === name)!;

describe('topic config registry', () => {
  test('holds Kafka\'s topic configs, sorted, each with a type, doc and default', () => {
    const names = TOPIC_CONFIGS.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    for (const n of ['cleanup.policy', 'compression.type', 'retention.ms', 'segment.bytes', 'min.insync.replicas', 'remote.storage.enable',
      'local.retention.ms', 'local.retention.bytes', 'message.timestamp.type', 'message.downconversion.enable', 'max.message.bytes']) {
      expect(names).toContain(n);
    }
    for (const e of TOPIC_CONFIGS) {
      expect(e.doc.length).toBeGreaterThan(10);
      expect(e.doc).not.toContain('\n');
      expect(e.default).not.toBeNull();
      expect(e.isSensitive).toBe(false);
      expect(e.readOnly).toBe(false);
      expect(() => validateTopicConfigs({ [e.name]: e.default })).not.toThrow();
    }
  });
});

describe('resolveTopicConfig defaults', () => {
  const r = resolveTopicConfig({});

  test('typed values equal Kafka\'s defaults', () => {
    expect(r.values).toMatchObject({
      'cleanup.policy': ['delete'],
      'compression.type': 'producer',
      'delete.retention.ms': 86400000,
      'file.delete.delay.ms': 60000,
      'index.interval.bytes': 4096,
      'max.message.bytes': 1048588,
      'message.timestamp.type': 'CreateTime',
      'min.cleanable.dirty.ratio': 0.5,
      'min.compaction.lag.ms': 0,
      'min.insync.replicas': 1,
      'retention.bytes': -1,
      'retention.ms': 604800000,
      'segment.bytes': 1073741824,
      'segment.index.bytes': 10485760,
      'segment.jitter.ms': 0,
      'segment.ms': 604800000,
      'unclean.leader.election.enable': false,
      preallocate: false,
      'remote.storage.enable': false,
      'local.retention.ms': -2,
      'local.retention.bytes': -2,
      'message.downconversion.enable': true,
    });
  });

  test('2^63-1 defaults are exact in the description and clamped to MAX_SAFE_INTEGER in the typed view', () => {
    expect(entry(r, 'flush.messages').value).toBe('9223372036854775807');
    expect(entry(r, 'flush.ms').value).toBe('9223372036854775807');
    expect(r.values['flush.messages']).toBe(Number.MAX_SAFE_INTEGER);
    expect(r.values['max.compaction.lag.ms']).toBe(Number.MAX_SAFE_INTEGER);
  });

  test('every entry reports DEFAULT_CONFIG, isDefault, its type code and documentation', () => {
    expect(r.entries.length).toBe(TOPIC_CONFIGS.length);
    for (const e of r.entries) {
      expect(e.source).toBe(ConfigSource.DEFAULT_CONFIG);
      expect(e.isDefault).toBe(true);
      expect(e.documentation.length).toBeGreaterThan(0);
    }
    expect(entry(r, 'retention.ms').type).toBe(ConfigType.LONG);
    expect(entry(r, 'segment.bytes').type).toBe(ConfigType.INT);
    expect(entry(r, 'cleanup.policy').type).toBe(ConfigType.LIST);
    expect(entry(r, 'preallocate').type).toBe(ConfigType.BOOLEAN);
    expect(entry(r, 'min.cleanable.dirty.ratio').type).toBe(ConfigType.DOUBLE);
    expect(entry(r, 'compression.type').type).toBe(ConfigType.STRING);
    expect(entry(r, 'min.cleanable.dirty.ratio').value).toBe('0.5');
  });

  test('default synonyms name the broker config that supplies the default', () => {
    expect(entry(r, 'segment.bytes').synonyms).toEqual([
      { name: 'log.segment.bytes', value: '1073741824', source: ConfigSource.DEFAULT_CONFIG },
    ]);
    expect(entry(r, 'retention.ms').synonyms).toEqual([
      { name: 'log.retention.hours', value: '168', source: ConfigSource.DEFAULT_CONFIG },
    ]);
    expect(entry(r, 'remote.storage.enable').synonyms).toEqual([]);
  });
});

describe('precedence: topic > broker synonyms (in Kafka\'s order) > default', () => {
  test('a topic override wins and is reported as TOPIC_CONFIG in canonical form', () => {
    const r = resolveTopicConfig({ 'retention.ms': ' 1000 ', 'cleanup.policy': 'compact, delete' }, { 'log.retention.ms': '5' });
    expect(r.values['retention.ms']).toBe(1000);
    expect(r.values['cleanup.policy']).toEqual(['compact', 'delete']);
    const e = entry(r, 'retention.ms');
    expect(e).toMatchObject({ value: '1000', source: ConfigSource.TOPIC_CONFIG, isDefault: false, readOnly: false, isSensitive: false });
    expect(e.synonyms).toEqual([
      { name: 'retention.ms', value: '1000', source: ConfigSource.TOPIC_CONFIG },
      { name: 'log.retention.ms', value: '5', source: ConfigSource.STATIC_BROKER_CONFIG },
      { name: 'log.retention.hours', value: '168', source: ConfigSource.DEFAULT_CONFIG },
    ]);
    expect(entry(r, 'cleanup.policy').value).toBe('compact,delete');
  });

  test('log.retention.ms beats log.retention.minutes beats log.retention.hours, with unit conversion', () => {
    expect(resolveTopicConfig({}, { 'log.retention.hours': '2' }).values['retention.ms']).toBe(7_200_000);
    expect(resolveTopicConfig({}, { 'log.retention.hours': '2', 'log.retention.minutes': '3' }).values['retention.ms']).toBe(180_000);
    const all = resolveTopicConfig({}, { 'log.retention.hours': '2', 'log.retention.minutes': '3', 'log.retention.ms': '42' });
    expect(all.values['retention.ms']).toBe(42);
    const e = entry(all, 'retention.ms');
    expect(e.value).toBe('42');
    expect(e.source).toBe(ConfigSource.STATIC_BROKER_CONFIG);
    expect(e.synonyms.map((s) => s.name)).toEqual(['log.retention.ms', 'log.retention.minutes', 'log.retention.hours', 'log.retention.hours']);
  });

  test('a negative broker retention in any unit means unlimited (-1)', () => {
    expect(resolveTopicConfig({}, { 'log.retention.hours': '-1' }).values['retention.ms']).toBe(-1);
    expect(resolveTopicConfig({}, { 'log.retention.minutes': '-7' }).values['retention.ms']).toBe(-1);
  });

  test('segment.ms and segment.jitter.ms take log.roll.* in ms before hours', () => {
    const r = resolveTopicConfig({}, { 'log.roll.hours': '1', 'log.roll.jitter.hours': '1' });
    expect(r.values['segment.ms']).toBe(3_600_000);
    expect(r.values['segment.jitter.ms']).toBe(3_600_000);
    expect(resolveTopicConfig({}, { 'log.roll.hours': '1', 'log.roll.ms': '500' }).values['segment.ms']).toBe(500);
  });

  test('broker names that differ from the topic name map correctly', () => {
    const r = resolveTopicConfig({}, {
      'message.max.bytes': '2000000',
      'log.segment.bytes': '1048576',
      'log.cleanup.policy': 'compact',
      'log.cleaner.min.cleanable.ratio': '0.25',
      'log.flush.scheduler.interval.ms': '1000',
      'compression.type': 'zstd',
      'min.insync.replicas': '2',
    });
    expect(r.values['max.message.bytes']).toBe(2_000_000);
    expect(r.values['segment.bytes']).toBe(1_048_576);
    expect(r.values['cleanup.policy']).toEqual(['compact']);
    expect(r.values['min.cleanable.dirty.ratio']).toBe(0.25);
    expect(r.values['flush.ms']).toBe(1000);
    expect(r.values['compression.type']).toBe('zstd');
    expect(r.values['min.insync.replicas']).toBe(2);
    expect(entry(r, 'max.message.bytes').synonyms[0]).toEqual({ name: 'message.max.bytes', value: '2000000', source: ConfigSource.STATIC_BROKER_CONFIG });
  });

  test('dynamic layers come before static broker config', () => {
    const r = resolveTopicConfig({}, { 'log.segment.bytes': '1000' }, { clusterDefault: { 'log.segment.bytes': '2000' }, broker: { 'log.segment.bytes': '3000' } });
    const e = entry(r, 'segment.bytes');
    expect(e.value).toBe('3000');
    expect(e.synonyms.map((s) => s.source)).toEqual([
      ConfigSource.DYNAMIC_BROKER_CONFIG,
      ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
      ConfigSource.STATIC_BROKER_CONFIG,
      ConfigSource.DEFAULT_CONFIG,
    ]);
  });

  test('a whole BrokerConfig can be passed as the broker defaults', () => {
    const broker = loadBrokerConfig({ flags: { 'log.retention.hours': '1', 'num.partitions': '3' } });
    expect(resolveTopicConfig({}, broker).values['retention.ms']).toBe(3_600_000);
  });
});

describe('validateTopicConfigs', () => {
  test('unknown names get CONFIG_UNKNOWN with a did-you-mean hint', () => {
    const e = errorOf(() => validateTopicConfigs({ 'retention.msx': '1' }));
    expect(e.code).toBe('CONFIG_UNKNOWN');
    expect(e.message).toBe("Unknown topic config 'retention.msx'. Did you mean 'retention.ms'?");
    expect(errorOf(() => validateTopicConfigs({ 'segmnt.bytes': '1' })).message).toContain("Did you mean 'segment.bytes'?");
    expect(errorOf(() => validateTopicConfigs({ 'log.retention.hours': '1' })).message).toBe(
      "Unknown topic config 'log.retention.hours'. Did you mean 'retention.ms'?",
    );
    expect(errorOf(() => validateTopicConfigs({ 'completely.different': '1' })).message).toBe("Unknown topic config 'completely.different'.");
  });

  test('bad values get CONFIG_INVALID in Kafka\'s words', () => {
    const cases: [Record<string, string>, string][] = [
      [{ 'retention.ms': 'abc' }, 'Invalid value abc for configuration retention.ms: Not a number of type LONG'],
      [{ 'retention.ms': '-2' }, 'Invalid value -2 for configuration retention.ms: Value must be at least -1'],
      [{ 'retention.ms': '9223372036854775808' }, 'Invalid value 9223372036854775808 for configuration retention.ms: Not a number of type LONG'],
      [{ 'segment.bytes': '13' }, 'Invalid value 13 for configuration segment.bytes: Value must be at least 14'],
      [{ 'segment.bytes': '2147483648' }, 'Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT'],
      [{ 'segment.bytes': '1.5' }, 'Invalid value 1.5 for configuration segment.bytes: Not a number of type INT'],
      [{ 'cleanup.policy': 'delete,forever' }, 'Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete'],
      [{ 'compression.type': 'brotli' }, 'Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer'],
      [{ 'message.timestamp.type': 'createtime' }, 'Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime'],
      [{ preallocate: 'yes' }, 'Invalid value yes for configuration preallocate: Expected value to be either true or false'],
      [{ 'min.cleanable.dirty.ratio': '1.5' }, 'Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1'],
      [{ 'min.cleanable.dirty.ratio': 'NaN' }, 'Invalid value NaN for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE'],
      [{ 'local.retention.ms': '-3' }, 'Invalid value -3 for configuration local.retention.ms: Value must be at least -2'],
      [{ 'min.insync.replicas': '0' }, 'Invalid value 0 for configuration min.insync.replicas: Value must be at least 1'],
    ];
    for (const [configs, message] of cases) {
      const e = errorOf(() => validateTopicConfigs(configs));
      expect(isStrataError(e, 'CONFIG_INVALID')).toBe(true);
      expect(e.message).toBe(message);
    }
  });

  test('valid values pass, in the forms Kafka accepts', () => {
    expect(() => validateTopicConfigs({
      'retention.ms': '-1',
      'retention.bytes': '-100',
      'cleanup.policy': 'compact,delete',
      preallocate: 'TRUE',
      'min.cleanable.dirty.ratio': '1e-1',
      'segment.bytes': '+1048576',
      'leader.replication.throttled.replicas': '0:1,1:2',
      'follower.replication.throttled.replicas': '*',
    })).not.toThrow();
    expect(() => validateTopicConfigs({ 'leader.replication.throttled.replicas': '0-1' })).toThrow(/literal '\*'/);
  });

  test('null means "remove the override" and only needs a known name', () => {
    expect(() => validateTopicConfigs({ 'retention.ms': null })).not.toThrow();
    expect(() => validateTopicConfigs({ 'retention.mz': null })).toThrow("Did you mean 'retention.ms'?");
  });

  test('min.compaction.lag.ms may not exceed max.compaction.lag.ms', () => {
    expect(() => validateTopicConfigs({ 'min.compaction.lag.ms': '10', 'max.compaction.lag.ms': '5' })).toThrow(
      'conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)',
    );
  });
});

test('normalizeTopicConfigs validates and rewrites values in canonical form', () => {
  expect(normalizeTopicConfigs({ 'cleanup.policy': ' compact , delete ', preallocate: 'TRUE', 'retention.ms': '+5', 'min.cleanable.dirty.ratio': '0.50' })).toEqual({
    'cleanup.policy': 'compact,delete',
    preallocate: 'true',
    'retention.ms': '5',
    'min.cleanable.dirty.ratio': '0.5',
  });
  expect(() => normalizeTopicConfigs({ 'retention.ms': 'x' })).toThrow(/Not a number of type LONG/);
});

test('effective helpers apply Kafka\'s -2 and deprecated-difference conventions', () => {
  const d = resolveTopicConfig({ 'retention.ms': '1000' }).values;
  expect(effectiveLocalRetentionMs(d)).toBe(1000);
  expect(effectiveLocalRetentionMs(resolveTopicConfig({ 'local.retention.ms': '10' }).values)).toBe(10);
  expect(effectiveTimestampBounds(resolveTopicConfig({ 'message.timestamp.difference.max.ms': '60000' }).values)).toEqual({ beforeMaxMs: 60000, afterMaxMs: 60000 });
  expect(effectiveTimestampBounds(resolveTopicConfig({ 'message.timestamp.difference.max.ms': '60000', 'message.timestamp.after.max.ms': '5' }).values))
    .toEqual({ beforeMaxMs: 60000, afterMaxMs: 5 });
});

describe('message.format.version (deprecated, accepted as a no-op)', () => {
  test("accepts Kafka 3.x's version strings, as MetadataVersion.fromVersionString reads them", () => {
    for (const v of ['0.8.0', '0.10.0', '0.10.0-IV1', '0.10.2.1', '0.11.0', '1.0', '2.8', '2.8.1', '2.8-IV1', '3.0', '3.0-IV1', '3.3-IV3', '3.9']) {
      expect([v, isMessageFormatVersion(v)]).toEqual([v, true]);
    }
    for (const v of ['', '3', '0.10', '0.8.0-IV0', '3.0-IV2', '3.0-IV01', '4.0', '9.9', 'banana', 'constructor']) {
      expect([v, isMessageFormatVersion(v)]).toEqual([v, false]);
    }
  });

  test('is stored as given, defaults to 3.0-IV1 through log.message.format.version, and refuses a bad version', () => {
    expect(normalizeTopicConfigs({ 'message.format.version': ' 2.8 ' })).toEqual({ 'message.format.version': '2.8' });
    const def = resolveTopicConfig({}).entries.find((e) => e.name === 'message.format.version')!;
    expect(def).toMatchObject({ value: '3.0-IV1', isDefault: true });
    expect(def.synonyms).toEqual([{ name: 'log.message.format.version', value: '3.0-IV1', source: ConfigSource.DEFAULT_CONFIG }]);
    expect(resolveTopicConfig({}, { 'log.message.format.version': '2.8' }).values['message.format.version']).toBe('2.8');
    expect(() => normalizeTopicConfigs({ 'message.format.version': '9.9' })).toThrow(
      'Invalid value 9.9 for configuration message.format.version: Version 9.9 is not a valid version',
    );
  });
});
