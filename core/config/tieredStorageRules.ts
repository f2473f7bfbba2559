import { StrataError } from '../common/errors';
import type { ResolvedTopicConfig } from './topicConfig';

/**
 * Kafka's rules for topics with remote storage (KIP-405), checked on the resolved config (the
 * topic's overrides over the broker's defaults) at CreateTopics and AlterConfigs:
 * - local.retention.bytes / local.retention.ms (unless -2, "same as retention.*") may not be
 *   -1 or exceed retention.bytes / retention.ms when those are bounded: the local part of a
 *   log cannot be kept longer than the log itself;
 * - remote.storage.enable cannot go from true to false: the tiered data would be stranded
 *   (Kafka asks for remote.log.delete.on.disable=true, which Strata does not implement;
 *   deleting the topic deletes its tiered data).
 * Failures are StrataError('CONFIG_INVALID'), answered as INVALID_CONFIG.
 */
export function checkTieredStorageRules(next: ResolvedTopicConfig, previous?: ResolvedTopicConfig): void {
  const v = next.values;
  if (previous?.values['remote.storage.enable'] && !v['remote.storage.enable']) {
    throw new StrataError(
      'CONFIG_INVALID',
      'It is invalid to disable remote storage without deleting remote data: remote.storage.enable cannot go from true to false. ' +
        'Delete the topic to remove its tiered data, or keep remote.storage.enable=true.',
    );
  }
  if (!v['remote.storage.enable']) return;
  checkLocalBound('local.retention.bytes', v['local.retention.bytes'], 'retention.bytes', v['retention.bytes']);
  checkLocalBound('local.retention.ms', v['local.retention.ms'], 'retention.ms', v['retention.ms']);
}

function checkLocalBound(localName: string, local: number, totalName: string, total: number): void {
  if (total === -1 || local === -2) return;
  if (local === -1) {
    throw new StrataError('CONFIG_INVALID', `Invalid value -1 for configuration ${localName}: Value must not be -1 as ${totalName} value is set as ${total}.`);
  }
  if (local > total) {
    throw new StrataError('CONFIG_INVALID', `Invalid value ${local} for configuration ${localName}: Value must not be more than ${totalName} property value: ${total}`);
  }
}
