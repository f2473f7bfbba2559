import type { Logger } from '../common/logger';
import type { BrokerConfig } from '../config/brokerConfig';
import { checkDynamicLogDefaults, normalizeDynamicBrokerConfigs, sanitizeStoredConfigs } from '../config/dynamicBrokerConfig';
import type { BrokerDynamicLayers } from '../config/topicConfig';
import { BrokerConfigStore, type BrokerConfigEntity } from '../meta/brokerConfigStore';
import type { VersionedKv } from '../meta/versionedKv';

/**
 * This broker's dynamic configs (Kafka's DynamicBrokerConfig): the cluster-wide defaults and
 * its own per-broker configs, read from the metadata store at start (before the topics load,
 * so every topic opens with them) and changed by AlterConfigs / IncrementalAlterConfigs on
 * BROKER resources. A change is checked, written to the store, then applied: `onChange`
 * listeners (topic admin, which re-resolves every topic's config and hands it to its
 * partitions) run before the request is answered, so an answered change is in effect.
 *
 * Changes run one at a time. Another broker sharing the store does not hear of a change until
 * it restarts (there is one broker per cluster today; the cluster issue brings notification).
 */
export class DynamicBrokerConfigs {
  private layers: { clusterDefault: Record<string, string>; broker: Record<string, string> };
  private readonly listeners: ((layers: BrokerDynamicLayers) => Promise<void>)[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: BrokerConfigStore,
    private readonly config: BrokerConfig,
    private readonly logger: Logger,
    clusterDefault: Record<string, string>,
    broker: Record<string, string>,
  ) {
    this.layers = { clusterDefault, broker };
  }

  /** Reads the cluster-wide defaults and this broker's configs; stored entries that are no longer valid are logged and ignored. */
  static async load(kv: VersionedKv, config: BrokerConfig, logger: Logger): Promise<DynamicBrokerConfigs> {
    const store = new BrokerConfigStore(kv);
    const read = async (entity: BrokerConfigEntity, what: string): Promise<Record<string, string>> => {
      const { kept, dropped } = sanitizeStoredConfigs((await store.read(entity)).configs);
      if (dropped.length > 0) logger.error(`ignoring stored ${what} dynamic configs that cannot apply: ${dropped.join('; ')}`);
      if (Object.keys(kept).length > 0) logger.info(`${what} dynamic configs: ${formatConfigs(kept)}`);
      return kept;
    };
    const clusterDefault = await read('default', 'cluster-wide');
    const broker = await read(config.nodeId, `broker ${config.nodeId}'s`);
    return new DynamicBrokerConfigs(store, config, logger, clusterDefault, broker);
  }

  /** The layers in effect (copies). */
  get current(): BrokerDynamicLayers {
    return { clusterDefault: { ...this.layers.clusterDefault }, broker: { ...this.layers.broker } };
  }

  /** `fn` runs after every change, with the new layers, before the change is answered. */
  onChange(fn: (layers: BrokerDynamicLayers) => Promise<void>): void {
    this.listeners.push(fn);
  }

  /**
   * Changes one entity's configs: `change` gets its stored configs and returns the new set
   * (IncrementalAlterConfigs applies its operations, AlterConfigs returns its whole set). The
   * result is checked (normalizeDynamicBrokerConfigs, checkDynamicLogDefaults), throwing
   * StrataError('CONFIG_*') on a refusal; with `validateOnly` nothing is written.
   */
  alter(entity: BrokerConfigEntity, change: (current: Record<string, string>) => Record<string, string>, validateOnly = false): Promise<void> {
    const run = async (): Promise<void> => {
      // Stored entries that no longer apply were ignored at load; a change drops them, as Kafka's does.
      const check = (stored: Record<string, string>): Record<string, string> => {
        const next = normalizeDynamicBrokerConfigs(change(sanitizeStoredConfigs(stored).kept));
        checkDynamicLogDefaults(this.config, entity === 'default' ? { ...this.current, clusterDefault: next } : { ...this.current, broker: next });
        return next;
      };
      if (validateOnly) {
        check((await this.store.read(entity)).configs);
        return;
      }
      const stored = await this.store.update(entity, check);
      if (entity === 'default') this.layers = { ...this.layers, clusterDefault: stored };
      else if (entity === this.config.nodeId) this.layers = { ...this.layers, broker: stored };
      const what = entity === 'default' ? 'cluster-wide' : `broker ${entity}'s`;
      this.logger.info(`${what} dynamic configs now: ${formatConfigs(stored)}`);
      for (const fn of this.listeners) await fn(this.current);
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

function formatConfigs(configs: Record<string, string>): string {
  const entries = Object.entries(configs);
  return entries.length === 0 ? '(none)' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}
