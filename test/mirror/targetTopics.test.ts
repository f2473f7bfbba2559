import { ConfigSource, type ConfigEntry } from '../../core/client/client';
import { copiedTopicConfigs } from '../../core/mirror/targetTopics';

const entry = (name: string, value: string | null, source: number = ConfigSource.DYNAMIC_TOPIC_CONFIG, over: Partial<ConfigEntry> = {}): ConfigEntry => ({
  name,
  value,
  source,
  readOnly: false,
  isDefault: source === ConfigSource.DEFAULT_CONFIG,
  isSensitive: false,
  ...over,
});

test("only the source topic's own settings are copied, minus those that must not be", () => {
  const { configs, dropped } = copiedTopicConfigs([
    entry('cleanup.policy', 'compact'),
    entry('retention.ms', '3600000'),
    entry('max.message.bytes', '2000000'),
    entry('segment.bytes', '1073741824', ConfigSource.DEFAULT_CONFIG),
    entry('retention.bytes', '5', ConfigSource.STATIC_BROKER_CONFIG),
    entry('message.timestamp.type', 'LogAppendTime'),
    entry('min.insync.replicas', '2'),
    entry('leader.replication.throttled.replicas', '*'),
    entry('remote.storage.enable', 'true'),
    entry('mirror.source.cluster', 'west'),
    entry('confluent.placement.constraints', '{}'),
    entry('compression.type', null, ConfigSource.DYNAMIC_TOPIC_CONFIG, { isSensitive: true }),
  ]);
  expect(configs).toEqual({ 'cleanup.policy': 'compact', 'retention.ms': '3600000', 'max.message.bytes': '2000000' });
  expect(dropped).toEqual(['confluent.placement.constraints']);
});
