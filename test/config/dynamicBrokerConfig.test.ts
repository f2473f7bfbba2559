import { isStrataError } from '../../core/common/errors';
import { BROKER_CONFIGS, describeBrokerConfig, loadBrokerConfig } from '../../core/config/brokerConfig';
import { ConfigSource } from '../../core/config/configDef';
import {
  checkDynamicLogDefaults,
  describeClusterDefaults,
  isDynamicBrokerConfig,
  normalizeDynamicBrokerConfigs,
  sanitizeStoredConfigs,
} from '../../core/config/dynamicBrokerConfig';
import { brokerSynonymGroup, isDynamicTopicDefault } from '../../core/config/topicConfig';
import { errorOf } from '../helpers/errorOf';

describe('which broker configs are dynamic', () => {
  test("Kafka's DynamicLogConfig set: each topic config's first broker synonym, not message.format.version's", () => {
    const dynamic = BROKER_CONFIGS.filter((e) => !e.readOnly).map((e) => e.name);
    expect(dynamic).toEqual(expect.arrayContaining([
      'log.retention.ms', 'log.retention.bytes', 'log.segment.bytes', 'log.roll.ms', 'log.roll.jitter.ms', 'log.cleanup.policy',
      'log.cleaner.delete.retention.ms', 'log.cleaner.min.compaction.lag.ms', 'log.cleaner.max.compaction.lag.ms', 'log.cleaner.min.cleanable.ratio',
      'message.max.bytes', 'compression.type', 'min.insync.replicas', 'unclean.leader.election.enable', 'log.flush.interval.ms',
      'log.flush.interval.messages', 'log.index.interval.bytes', 'log.index.size.max.bytes', 'log.segment.delete.delay.ms', 'log.preallocate',
      'log.message.timestamp.type', 'log.message.timestamp.before.max.ms', 'log.message.timestamp.after.max.ms',
      'log.message.timestamp.difference.max.ms', 'log.message.downconversion.enable', 'log.local.retention.ms', 'log.local.retention.bytes',
    ]));
    expect(dynamic).toHaveLength(27);
    for (const n of ['log.retention.hours', 'log.retention.minutes', 'log.roll.hours', 'log.roll.jitter.hours', 'log.flush.scheduler.interval.ms',
      'log.message.format.version', 'num.partitions', 'listeners', 'max.connections', 'log.cleaner.backoff.ms']) {
      expect(isDynamicBrokerConfig(n)).toBe(false);
      expect(isDynamicTopicDefault(n)).toBe(false);
    }
  });

  test("synonym groups are Kafka's brokerConfigSynonyms", () => {
    for (const n of ['log.retention.ms', 'log.retention.minutes', 'log.retention.hours']) expect(brokerSynonymGroup(n)).toEqual(['log.retention.ms', 'log.retention.minutes', 'log.retention.hours']);
    expect(brokerSynonymGroup('log.roll.hours')).toEqual(['log.roll.ms', 'log.roll.hours']);
    expect(brokerSynonymGroup('log.roll.jitter.ms')).toEqual(['log.roll.jitter.ms', 'log.roll.jitter.hours']);
    expect(brokerSynonymGroup('log.flush.interval.ms')).toEqual(['log.flush.interval.ms', 'log.flush.scheduler.interval.ms']);
    expect(brokerSynonymGroup('log.flush.scheduler.interval.ms')).toEqual(['log.flush.scheduler.interval.ms']);
    expect(brokerSynonymGroup('log.segment.bytes')).toEqual(['log.segment.bytes']);
    expect(brokerSynonymGroup('num.partitions')).toEqual(['num.partitions']);
  });
});

describe('normalizeDynamicBrokerConfigs', () => {
  test('canonical values back', () => {
    expect(normalizeDynamicBrokerConfigs({ 'log.cleanup.policy': 'compact, delete', 'log.retention.ms': ' 1000 ', 'log.preallocate': 'TRUE' })).toEqual({
      'log.cleanup.policy': 'compact,delete',
      'log.preallocate': 'true',
      'log.retention.ms': '1000',
    });
    expect(normalizeDynamicBrokerConfigs({})).toEqual({});
  });

  test("read-only names first, in Kafka's words, then values", () => {
    const e = errorOf(() => normalizeDynamicBrokerConfigs({ 'num.partitions': 'x', 'log.retention.hours': '1', 'log.retention.ms': 'abc' }));
    expect(isStrataError(e, 'CONFIG_INVALID')).toBe(true);
    expect(e.message).toBe('Cannot update these configs dynamically: Set(log.retention.hours, num.partitions)');
    expect(errorOf(() => normalizeDynamicBrokerConfigs({ 'log.retention.ms': 'abc' })).message).toBe('Invalid value abc for configuration log.retention.ms: Not a number of type LONG');
    expect(errorOf(() => normalizeDynamicBrokerConfigs({ 'log.cleaner.min.cleanable.ratio': '2' })).message).toBe(
      'Invalid value 2 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1',
    );
  });

  test('configs Kafka can change but Strata applies at start say so', () => {
    const e = errorOf(() => normalizeDynamicBrokerConfigs({ 'max.connections': '10', 'num.io.threads': '4' }));
    expect(e.message).toMatch(/^Cannot update these configs dynamically: Set\(max.connections, num.io.threads\)\. Kafka can, Strata applies them only at start/);
  });

  test('unknown names are refused with a hint (Kafka would keep them as custom configs)', () => {
    const e = errorOf(() => normalizeDynamicBrokerConfigs({ 'log.retenion.ms': '1' }));
    expect(isStrataError(e, 'CONFIG_UNKNOWN')).toBe(true);
    expect(e.message).toBe("Unknown broker config 'log.retenion.ms'. Did you mean 'log.retention.ms'?");
    expect(errorOf(() => normalizeDynamicBrokerConfigs({ 'segment.bytes': '1' })).message).toBe(
      "Unknown broker config 'segment.bytes': it is a topic config; its broker-level default is log.segment.bytes. Use --entity-type topics to set it on a topic.",
    );
    expect(errorOf(() => normalizeDynamicBrokerConfigs({ 'remote.storage.enable': 'true' })).message).toContain('with no broker-level default');
  });
});

test('checkDynamicLogDefaults: local retention bounded by a bounded retention, on the values the change leaves', () => {
  const config = loadBrokerConfig({ flags: { 'log.retention.hours': '1' } });
  expect(() => checkDynamicLogDefaults(config, { clusterDefault: { 'log.local.retention.ms': '3600000' } })).not.toThrow();
  expect(() => checkDynamicLogDefaults(config, { clusterDefault: { 'log.local.retention.ms': '3600001' } })).toThrow(
    'Invalid dynamic configuration: Invalid value 3600001 for configuration log.local.retention.ms: Value must not be more than log.retention.ms property value: 3600000',
  );
  expect(() => checkDynamicLogDefaults(config, { broker: { 'log.local.retention.ms': '-1' } })).toThrow(
    'Value must not be -1 as log.retention.ms value is set as 3600000.',
  );
  // A per-broker retention above it makes the same default fine.
  expect(() => checkDynamicLogDefaults(config, { clusterDefault: { 'log.local.retention.ms': '3600001' }, broker: { 'log.retention.ms': '-1' } })).not.toThrow();
  expect(() => checkDynamicLogDefaults(config, { clusterDefault: { 'log.retention.bytes': '10', 'log.local.retention.bytes': '11' } })).toThrow('log.local.retention.bytes');
});

test('describeClusterDefaults lists only what is set there, with itself as the one synonym', () => {
  expect(describeClusterDefaults({ 'log.segment.bytes': '1024', 'log.cleanup.policy': 'compact' })).toEqual([
    expect.objectContaining({
      name: 'log.cleanup.policy',
      value: 'compact',
      source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
      isDefault: false,
      readOnly: false,
      synonyms: [{ name: 'log.cleanup.policy', value: 'compact', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG }],
    }),
    expect.objectContaining({ name: 'log.segment.bytes', value: '1024' }),
  ]);
});

test('sanitizeStoredConfigs keeps what still applies and says why the rest does not', () => {
  expect(sanitizeStoredConfigs({ 'log.retention.ms': '5', 'num.partitions': '3', 'log.roll.ms': 'x' })).toEqual({
    kept: { 'log.retention.ms': '5' },
    dropped: [
      'num.partitions=3 (Cannot update these configs dynamically: Set(num.partitions))',
      'log.roll.ms=x (Invalid value x for configuration log.roll.ms: Not a number of type LONG)',
    ],
  });
});

describe('describeBrokerConfig with dynamic layers', () => {
  const config = loadBrokerConfig({ flags: { 'log.retention.hours': '48', 'log.segment.bytes': '4096' } });
  const layers = { broker: { 'log.segment.bytes': '2048' }, clusterDefault: { 'log.segment.bytes': '1024', 'log.retention.ms': '1000' } };
  const get = (name: string) => describeBrokerConfig(config, layers).find((e) => e.name === name)!;

  test('per-broker over cluster default over static over default, each a synonym', () => {
    expect(get('log.segment.bytes')).toMatchObject({ value: '2048', source: ConfigSource.DYNAMIC_BROKER_CONFIG, isDefault: false, readOnly: false });
    expect(get('log.segment.bytes').synonyms.map((s) => [s.source, s.value])).toEqual([
      [ConfigSource.DYNAMIC_BROKER_CONFIG, '2048'],
      [ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, '1024'],
      [ConfigSource.STATIC_BROKER_CONFIG, '4096'],
      [ConfigSource.DEFAULT_CONFIG, '1073741824'],
    ]);
  });

  test("a retention name lists the other units after it, and none of those ahead of it (Kafka's dropWhile)", () => {
    expect(get('log.retention.ms').synonyms).toEqual([
      { name: 'log.retention.ms', value: '1000', source: ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG },
      { name: 'log.retention.hours', value: '48', source: ConfigSource.STATIC_BROKER_CONFIG },
      { name: 'log.retention.hours', value: '168', source: ConfigSource.DEFAULT_CONFIG },
    ]);
    expect(get('log.retention.hours')).toMatchObject({ value: '48', source: ConfigSource.STATIC_BROKER_CONFIG, readOnly: true });
    expect(get('log.retention.hours').synonyms.map((s) => s.name)).toEqual(['log.retention.hours', 'log.retention.hours']);
    expect(describeBrokerConfig(loadBrokerConfig({ flags: {} })).find((e) => e.name === 'log.retention.ms')).toMatchObject({ value: null, source: ConfigSource.DEFAULT_CONFIG, synonyms: [] });
  });
});
