import { StrataError, isStrataError } from '../common/errors';
import type { KvValue, VersionedKv } from './versionedKv';

/**
 * Dynamic broker configs in the metadata store: Kafka's /config/brokers/<default> and
 * /config/brokers/<id> (in KRaft, the ConfigRecords of BROKER resources ''/'<id>'). One item
 * per entity in the namespace `broker-configs` (its own DynamoDB partition key):
 *
 *   ns/broker-configs/default                 { entity: 'default', configs: { name: value }, updatedAt }
 *   ns/broker-configs/broker/<0000000003>     { entity: 3,         configs: { name: value }, updatedAt }
 *
 * `configs` holds only what was set dynamically, by Kafka name, in canonical string form; an
 * entity with nothing set has no item. Every write is conditional on the version read, so two
 * admins racing on one entity cannot lose each other's change: the loser re-reads and retries.
 * What a value means and which names are allowed is the caller's business
 * (config/dynamicBrokerConfig.ts); this module only stores.
 */
export const BROKER_CONFIGS_NAMESPACE = 'broker-configs';

/** The cluster-wide default ('' as a BROKER resource name) or one broker's own configs. */
export type BrokerConfigEntity = 'default' | number;

export interface StoredBrokerConfigs {
  configs: Record<string, string>;
  /** 0 when the entity has no item. */
  version: number;
}

/** How often a conditional write is retried after losing to another writer. */
const MAX_ATTEMPTS = 5;

export function brokerConfigKey(entity: BrokerConfigEntity): string {
  return entity === 'default' ? 'default' : `broker/${String(entity).padStart(10, '0')}`;
}

export class BrokerConfigStore {
  constructor(private readonly kv: VersionedKv) {}

  async read(entity: BrokerConfigEntity): Promise<StoredBrokerConfigs> {
    const e = await this.kv.get(brokerConfigKey(entity));
    return e === null ? { configs: {}, version: 0 } : { configs: configsOf(e.value), version: e.version };
  }

  /**
   * Reads the entity's configs, lets `change` compute the new set (it may throw to refuse),
   * and writes it conditionally on the version read; an empty set deletes the item. Retried on
   * a lost race, `change` seeing the winner's configs. Resolves with the configs now stored.
   */
  async update(entity: BrokerConfigEntity, change: (current: Record<string, string>) => Record<string, string>): Promise<Record<string, string>> {
    const key = brokerConfigKey(entity);
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(entity);
      const next = change({ ...current.configs });
      try {
        if (Object.keys(next).length === 0) {
          if (current.version > 0) await this.kv.delete(key, current.version);
        } else {
          const value: KvValue = { entity, configs: sorted(next), updatedAt: Date.now() };
          await this.kv.put(key, value, current.version);
        }
        return next;
      } catch (e) {
        const lostRace = isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS') || isStrataError(e, 'NOT_FOUND');
        if (!lostRace || attempt >= MAX_ATTEMPTS) throw e;
      }
    }
  }
}

function sorted(configs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(configs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function configsOf(value: KvValue): Record<string, string> {
  const configs = (value as { configs?: unknown } | null)?.configs;
  if (typeof configs !== 'object' || configs === null || Array.isArray(configs)) {
    throw new StrataError('STORE_UNAVAILABLE', 'A dynamic broker config item in the metadata store has no configs map.');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(configs)) if (typeof v === 'string') out[k] = v;
  return out;
}
