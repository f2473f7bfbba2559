import { isStrataError } from '../../core/common/errors';
import { checkTieredStorageRules } from '../../core/config/tieredStorageRules';
import { resolveTopicConfig } from '../../core/config/topicConfig';

const resolved = (configs: Record<string, string>) => resolveTopicConfig(configs);

function rejection(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (isStrataError(e, 'CONFIG_INVALID')) return (e as Error).message;
    throw e;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('tiered storage config rules (Kafka LogConfig)', () => {
  test('topics without remote storage are not constrained', () => {
    expect(() => checkTieredStorageRules(resolved({ 'retention.ms': '1000', 'local.retention.ms': '5000' }))).not.toThrow();
  });

  test('-2 (same as retention.*) and unbounded retention are always fine', () => {
    expect(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true' }))).not.toThrow();
    expect(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true', 'retention.ms': '-1', 'local.retention.ms': '-1' }))).not.toThrow();
    expect(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true', 'retention.bytes': '100', 'local.retention.bytes': '100' }))).not.toThrow();
  });

  test('local retention may not be unbounded or longer than total retention', () => {
    expect(rejection(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true', 'retention.ms': '1000', 'local.retention.ms': '-1' })))).toBe(
      'Invalid value -1 for configuration local.retention.ms: Value must not be -1 as retention.ms value is set as 1000.',
    );
    expect(rejection(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true', 'retention.ms': '1000', 'local.retention.ms': '1001' })))).toBe(
      'Invalid value 1001 for configuration local.retention.ms: Value must not be more than retention.ms property value: 1000',
    );
    expect(rejection(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true', 'retention.bytes': '10', 'local.retention.bytes': '-1' })))).toContain(
      'local.retention.bytes: Value must not be -1 as retention.bytes value is set as 10',
    );
    expect(rejection(() => checkTieredStorageRules(resolved({ 'remote.storage.enable': 'true', 'retention.bytes': '10', 'local.retention.bytes': '11' })))).toContain(
      'Value must not be more than retention.bytes property value: 10',
    );
  });

  test('remote storage cannot be switched off once on; switching it on is fine', () => {
    const on = resolved({ 'remote.storage.enable': 'true' });
    const off = resolved({});
    expect(rejection(() => checkTieredStorageRules(off, on))).toContain('invalid to disable remote storage');
    expect(() => checkTieredStorageRules(on, off)).not.toThrow();
    expect(() => checkTieredStorageRules(on, on)).not.toThrow();
  });
});
