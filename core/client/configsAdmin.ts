import { ApiKey } from '../protocol/generated/index';
import type { DescribeConfigsRequest } from '../protocol/generated/DescribeConfigsRequest';
import type { DescribeConfigsResponse } from '../protocol/generated/DescribeConfigsResponse';
import type { IncrementalAlterConfigsResponse } from '../protocol/generated/IncrementalAlterConfigsResponse';
import { ConfigResourceType, ConfigSource, incrementalAlterConfigsRequest, type AlterConfigOp, type ConfigEntry, type ConfigResource, type StrataClient } from './client';
import type { KafkaConnection } from './connection';
import { KafkaResponseError, throwIfError } from './errors';

/**
 * The config side of Kafka's Admin as kafka-configs.sh uses it: DescribeConfigs with synonyms
 * and IncrementalAlterConfigs, each sent where Kafka's Admin sends it — a BROKER (or
 * BROKER_LOGGER) resource naming a node id to that broker (its own configs live there), any
 * other resource (topics, the cluster-wide broker default '') to any broker.
 *
 *   describeConfigs           DescribeConfigs (32) v1+ for synonyms (v3+ types and docs)
 *   incrementalAlterConfigs   IncrementalAlterConfigs (44) v0-1
 */

/** One synonym of a described config, highest precedence first (DescribeConfigs v1+). */
export interface ConfigSynonymEntry {
  name: string;
  value: string | null;
  /** A ConfigSource code. */
  source: number;
}

export interface DescribedConfigEntry extends ConfigEntry {
  /** Empty unless asked for (includeSynonyms). */
  synonyms: ConfigSynonymEntry[];
}

/** Java's ConfigEntry.ConfigSource names, as kafka-configs.sh prints synonyms (wire code 1 is DYNAMIC_TOPIC_CONFIG there). */
export const CONFIG_SOURCE_NAMES: Record<number, string> = {
  [ConfigSource.UNKNOWN]: 'UNKNOWN',
  [ConfigSource.DYNAMIC_TOPIC_CONFIG]: 'DYNAMIC_TOPIC_CONFIG',
  [ConfigSource.DYNAMIC_BROKER_CONFIG]: 'DYNAMIC_BROKER_CONFIG',
  [ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]: 'DYNAMIC_DEFAULT_BROKER_CONFIG',
  [ConfigSource.STATIC_BROKER_CONFIG]: 'STATIC_BROKER_CONFIG',
  [ConfigSource.DEFAULT_CONFIG]: 'DEFAULT_CONFIG',
  [ConfigSource.DYNAMIC_BROKER_LOGGER_CONFIG]: 'DYNAMIC_BROKER_LOGGER_CONFIG',
  7: 'DYNAMIC_CLIENT_METRICS_CONFIG',
  8: 'DYNAMIC_GROUP_CONFIG',
};

export function configSourceName(source: number): string {
  return CONFIG_SOURCE_NAMES[source] ?? 'UNKNOWN';
}

function describeResource(r: ConfigResource): string {
  return r.type === ConfigResourceType.TOPIC ? `topic '${r.name}'` : r.type === ConfigResourceType.BROKER ? `broker '${r.name}'` : `resource ${r.type}:'${r.name}'`;
}

/** Where Kafka's Admin sends a config request about `r`. */
async function connectionFor(client: StrataClient, r: ConfigResource): Promise<KafkaConnection> {
  const perBroker = (r.type === ConfigResourceType.BROKER || r.type === ConfigResourceType.BROKER_LOGGER) && /^\d+$/.test(r.name);
  return client.brokerConnection(perBroker ? Number(r.name) : undefined);
}

/** A resource's configs (all, or only `keys`), with their synonyms when asked. */
export async function describeConfigs(
  client: StrataClient,
  resource: ConfigResource,
  opts: { includeSynonyms?: boolean; keys?: string[] } = {},
): Promise<DescribedConfigEntry[]> {
  const request: DescribeConfigsRequest = {
    resources: [{ resourceType: resource.type, resourceName: resource.name, configurationKeys: opts.keys ?? null }],
    includeSynonyms: opts.includeSynonyms ?? false,
    includeDocumentation: false,
  };
  const conn = await connectionFor(client, resource);
  const res = await conn.send<DescribeConfigsResponse>(ApiKey.DescribeConfigs, request);
  const r = res.results[0];
  if (!r) throw new KafkaResponseError(-1, { api: 'DescribeConfigs', resource: describeResource(resource), errorMessage: 'the response names no resource' });
  throwIfError(r.errorCode, { api: 'DescribeConfigs', resource: describeResource(resource), errorMessage: r.errorMessage });
  return r.configs.map((c) => {
    const source = c.configSource ?? -1;
    return {
      name: c.name,
      value: c.value,
      readOnly: c.readOnly,
      source,
      isDefault: source !== -1 ? source === ConfigSource.DEFAULT_CONFIG : !!c.isDefault,
      isSensitive: c.isSensitive,
      synonyms: (c.synonyms ?? []).map((s) => ({ name: s.name, value: s.value, source: s.source })),
    };
  });
}

/** IncrementalAlterConfigs of one resource: SET, DELETE, APPEND or SUBTRACT single keys. */
export async function incrementalAlterConfigs(client: StrataClient, resource: ConfigResource, ops: AlterConfigOp[], opts: { validateOnly?: boolean } = {}): Promise<void> {
  const request = incrementalAlterConfigsRequest(resource, ops, opts.validateOnly ?? false);
  const conn = await connectionFor(client, resource);
  const res = await conn.send<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, request);
  if (res.responses.length === 0) throw new KafkaResponseError(-1, { api: 'IncrementalAlterConfigs', resource: describeResource(resource), errorMessage: 'the response names no resource' });
  for (const r of res.responses) throwIfError(r.errorCode, { api: 'IncrementalAlterConfigs', resource: describeResource(resource), errorMessage: r.errorMessage });
}
