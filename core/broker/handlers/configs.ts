/**
 * Configs: DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44).
 *
 * DescribeConfigs: v0 reports isDefault; v1 config source and synonyms; v3 config type and
 * documentation; v4 flexible. AlterConfigs replaces a resource's whole set of dynamic configs;
 * IncrementalAlterConfigs (KIP-339) SETs, DELETEs, APPENDs to or SUBTRACTs from single keys.
 *
 * Resources, as Kafka (KRaft) handles them:
 * - TOPIC: a topic's own configs, stored with its record (TopicAdmin.setConfigs); errors
 *   are INVALID_CONFIG.
 * - BROKER: dynamic broker configs (DynamicBrokerConfigs), '' the cluster-wide default, the
 *   node id this broker's own (any other id: INVALID_REQUEST). Every validation failure is
 *   INVALID_REQUEST, as Kafka answers them (ConfigAdminManager, KAFKA-13609): "Cannot update
 *   these configs dynamically: Set(num.partitions)". DescribeConfigs of '' lists only what is
 *   set there; of the node id, every config with its synonyms layer by layer.
 * - BROKER_LOGGER: Strata has no runtime loggers: described empty, and IncrementalAlterConfigs
 *   answers each logger as Kafka answers an unknown one (INVALID_CONFIG).
 * - anything else (GROUP, CLIENT_METRICS, ...): INVALID_REQUEST "Unknown resource type N".
 * Before any of that, as in Kafka's ConfigAdminManager.preprocess: a resource named twice in one
 * request, a config named twice in one resource, or a null value other than a DELETE's is
 * INVALID_REQUEST.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeConfigsRequest } from '../../protocol/generated/DescribeConfigsRequest';
import type { DescribeConfigsResponse, DescribeConfigsResourceResult, DescribeConfigsResult } from '../../protocol/generated/DescribeConfigsResponse';
import type { AlterConfigsRequest } from '../../protocol/generated/AlterConfigsRequest';
import type { AlterConfigsResponse } from '../../protocol/generated/AlterConfigsResponse';
import type { IncrementalAlterConfigsRequest } from '../../protocol/generated/IncrementalAlterConfigsRequest';
import type { IncrementalAlterConfigsResponse } from '../../protocol/generated/IncrementalAlterConfigsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { StrataError, isStrataError, toKafkaErrorCode } from '../../common/errors';
import { brokerConfigEntry, describeBrokerConfig } from '../../config/brokerConfig';
import { describeClusterDefaults } from '../../config/dynamicBrokerConfig';
import { topicConfigEntry } from '../../config/topicConfig';
import type { ConfigEntry, DescribedConfig } from '../../config/configDef';
import type { BrokerConfigEntity } from '../../meta/brokerConfigStore';
import type { TopicState } from '../../cluster/metadataCache';
import type { ApiHandler, BrokerContext } from './types';

/** Kafka's ConfigResource.Type codes. */
export const ResourceType = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

/** IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType). */
const OpType = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

/** A resource's answer decided here, in Kafka's terms (an error code is a value in the response, never thrown past this module). */
class Answer extends Error {
  constructor(readonly errorCode: number, message: string) {
    super(message);
  }
}

const invalidRequest = (message: string): Answer => new Answer(ErrorCode.INVALID_REQUEST, message);

export function describeTopicConfigs(state: TopicState, keys: string[] | null, includeSynonyms: boolean, includeDocumentation: boolean): (DescribeConfigsResourceResult & { configSource: number })[] {
  const wanted = keys === null || keys.length === 0 ? null : new Set(keys);
  return state.config.entries.filter((e) => wanted === null || wanted.has(e.name)).map((e) => toWire(e, includeSynonyms, includeDocumentation));
}

function toWire(e: DescribedConfig, includeSynonyms: boolean, includeDocumentation: boolean): DescribeConfigsResourceResult & { configSource: number } {
  return {
    name: e.name,
    value: e.value,
    readOnly: e.readOnly,
    isDefault: e.isDefault,
    configSource: e.source,
    isSensitive: e.isSensitive,
    synonyms: includeSynonyms ? e.synonyms.map((s) => ({ name: s.name, value: s.value, source: s.source })) : [],
    configType: e.type,
    documentation: includeDocumentation ? e.documentation : null,
  };
}

/** DescribeConfigs' check of a BROKER resource name (ConfigHelper's wording). */
function describedBrokerError(broker: BrokerContext, name: string): string | null {
  if (name === '') return null;
  if (!/^-?\d+$/.test(name)) return `Broker id must be an integer, but it is: ${name}`;
  if (Number(name) === broker.nodeId) return null;
  return `Unexpected broker id, expected ${broker.nodeId} or empty string, but received ${name}`;
}

/** The stored entity an alter of a BROKER resource changes (ConfigAdminManager's checks and wording). */
function alteredBrokerEntity(broker: BrokerContext, name: string): BrokerConfigEntity {
  if (name === '') return 'default';
  if (!/^-?\d+$/.test(name)) throw invalidRequest(`Node id must be an integer, but it is: ${name}`);
  if (Number(name) !== broker.nodeId) throw invalidRequest(`Unexpected broker id, expected ${broker.nodeId}, but received ${name}`);
  return broker.nodeId;
}

/** Runs a dynamic broker config change; Kafka answers its refusals INVALID_REQUEST. */
async function alterBroker(broker: BrokerContext, name: string, change: (current: Record<string, string>) => Record<string, string>, validateOnly: boolean): Promise<void> {
  const entity = alteredBrokerEntity(broker, name);
  if (!broker.dynamicConfigs) throw invalidRequest('Dynamic broker configs are not available on this broker.');
  try {
    await broker.dynamicConfigs.alter(entity, change, validateOnly);
  } catch (e) {
    if (isStrataError(e, 'CONFIG_INVALID') || isStrataError(e, 'CONFIG_UNKNOWN')) throw invalidRequest(e.message);
    throw e;
  }
}

function resultFor(resourceType: number, resourceName: string, e: unknown): { errorCode: number; errorMessage: string; resourceType: number; resourceName: string } {
  const errorCode = e instanceof Answer ? e.errorCode : toKafkaErrorCode(e);
  return { errorCode, errorMessage: (e as Error).message, resourceType, resourceName };
}

export const describeConfigsHandler: ApiHandler<DescribeConfigsRequest, DescribeConfigsResponse> = {
  apiKey: ApiKey.DescribeConfigs,
  minImplemented: 0,

  handle(req, ctx) {
    const b = ctx.broker;
    const includeSynonyms = ctx.version >= 1 && (req.includeSynonyms ?? false);
    const includeDocs = ctx.version >= 3 && (req.includeDocumentation ?? false);
    const results: DescribeConfigsResult[] = req.resources.map((r) => {
      const base = { errorCode: ErrorCode.NONE, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName, configs: [] };
      const keys = r.configurationKeys && r.configurationKeys.length > 0 ? new Set(r.configurationKeys) : null;
      const wire = (entries: DescribedConfig[]) => entries.filter((e) => keys === null || keys.has(e.name)).map((e) => toWire(e, includeSynonyms, includeDocs));
      if (r.resourceType === ResourceType.TOPIC) {
        const state = b.topics.get(r.resourceName);
        if (!state) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${r.resourceName}' does not exist.` };
        return { ...base, configs: describeTopicConfigs(state, r.configurationKeys, includeSynonyms, includeDocs) };
      }
      if (r.resourceType === ResourceType.BROKER) {
        const err = describedBrokerError(b, r.resourceName);
        if (err) return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: err };
        const layers = b.dynamicConfigs?.current ?? {};
        if (r.resourceName === '') return { ...base, configs: wire(describeClusterDefaults(layers.clusterDefault ?? {})) };
        return { ...base, configs: wire(describeBrokerConfig(b.config, layers)) };
      }
      if (r.resourceType === ResourceType.BROKER_LOGGER) return base;
      return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type ${r.resourceType}` };
    });
    return { throttleTimeMs: 0, results };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, results: req.resources.map((r) => ({ errorCode, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName, configs: [] })) };
  },
};

type AlterResult = { errorCode: number; errorMessage: string | null; resourceType: number; resourceName: string };

/**
 * Answers each resource on its own, as Kafka does: first ConfigAdminManager's request checks
 * (a resource named twice, a config named twice, a null value where `nullAllowed` says not),
 * then `apply`.
 */
async function alterEach<R extends { resourceType: number; resourceName: string; configs: { name: string; value: string | null }[] }>(
  resources: R[],
  nullAllowed: (c: R['configs'][number]) => boolean,
  apply: (r: R) => Promise<void>,
): Promise<{ throttleTimeMs: number; responses: AlterResult[] }> {
  const idOf = (r: R): string => `${r.resourceType}/${r.resourceName}`;
  const times = new Map<string, number>();
  for (const r of resources) times.set(idOf(r), (times.get(idOf(r)) ?? 0) + 1);
  const responses: AlterResult[] = [];
  for (const r of resources) {
    try {
      if (times.get(idOf(r))! > 1) throw invalidRequest('Each resource must appear at most once.');
      const names = r.configs.map((c) => c.name);
      if (new Set(names).size !== names.length) throw invalidRequest('Error due to duplicate config keys');
      const nulls = r.configs.filter((c) => c.value === null && !nullAllowed(c)).map((c) => c.name);
      if (nulls.length > 0) throw invalidRequest(`Null value not supported for : ${nulls.join(', ')}`);
      await apply(r);
      responses.push({ errorCode: ErrorCode.NONE, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName });
    } catch (e) {
      responses.push(resultFor(r.resourceType, r.resourceName, e));
    }
  }
  return { throttleTimeMs: 0, responses };
}

function alterErrorResponse(resources: { resourceType: number; resourceName: string }[], errorCode: number): { throttleTimeMs: number; responses: AlterResult[] } {
  return { throttleTimeMs: 0, responses: resources.map((r) => ({ errorCode, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName })) };
}

export const alterConfigsHandler: ApiHandler<AlterConfigsRequest, AlterConfigsResponse> = {
  apiKey: ApiKey.AlterConfigs,
  minImplemented: 0,

  handle(req, ctx) {
    return alterEach(req.resources, () => false, async (r) => {
      const configs: Record<string, string> = Object.fromEntries(r.configs.map((c) => [c.name, c.value!]));
      switch (r.resourceType) {
        case ResourceType.TOPIC:
          return ctx.broker.topicAdmin.setConfigs(r.resourceName, configs, req.validateOnly);
        case ResourceType.BROKER:
          return alterBroker(ctx.broker, r.resourceName, () => configs, req.validateOnly);
        default:
          // Legacy AlterConfigs never had BROKER_LOGGER: Kafka refuses it here too.
          throw invalidRequest(`Unknown resource type ${r.resourceType}`);
      }
    });
  },

  errorResponse(req, errorCode) {
    return alterErrorResponse(req.resources, errorCode);
  },
};

/**
 * Applies one IncrementalAlterConfigs operation to a resource's stored configs, as Kafka's
 * prepareIncrementalConfigs does: APPEND/SUBTRACT only on list configs, starting from the
 * stored value or else the config's default. An unknown name is kept as given, whatever the
 * operation, so that validation refuses it with a hint.
 */
function applyOp(configs: Record<string, string>, entry: ConfigEntry | undefined, name: string, op: number, value: string | null): void {
  if (!entry && op >= OpType.SET && op <= OpType.SUBTRACT) {
    configs[name] = value ?? '';
    return;
  }
  switch (op) {
    case OpType.SET:
      configs[name] = value!;
      return;
    case OpType.DELETE:
      delete configs[name];
      return;
    case OpType.APPEND:
    case OpType.SUBTRACT: {
      if (entry!.type !== 'list') throw new StrataError('CONFIG_INVALID', `Config value append/subtract is not allowed for config ${name} (not a list)`);
      const current = (configs[name] ?? entry!.default ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const items = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const next = op === OpType.APPEND ? [...current, ...items.filter((i) => !current.includes(i))] : current.filter((c) => !items.includes(c));
      configs[name] = next.join(',');
      return;
    }
    default:
      throw invalidRequest(`Unknown operations type ${op}`);
  }
}

function applyOps(current: Record<string, string>, ops: { name: string; configOperation: number; value: string | null }[], entryOf: (name: string) => ConfigEntry | undefined): Record<string, string> {
  const next = { ...current };
  for (const c of ops) applyOp(next, entryOf(c.name), c.name, c.configOperation, c.value);
  return next;
}

export const incrementalAlterConfigsHandler: ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse> = {
  apiKey: ApiKey.IncrementalAlterConfigs,
  minImplemented: 0,

  handle(req, ctx) {
    return alterEach(req.resources, (c) => c.configOperation === OpType.DELETE, async (r) => {
      switch (r.resourceType) {
        case ResourceType.TOPIC: {
          const state = ctx.broker.topics.get(r.resourceName);
          if (!state) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${r.resourceName}' does not exist.`);
          return ctx.broker.topicAdmin.setConfigs(r.resourceName, applyOps(state.record.configs, r.configs, topicConfigEntry), req.validateOnly);
        }
        case ResourceType.BROKER:
          return alterBroker(ctx.broker, r.resourceName, (current) => applyOps(current, r.configs, brokerConfigEntry), req.validateOnly);
        case ResourceType.BROKER_LOGGER:
          return alterLoggers(ctx.broker, r.resourceName, r.configs);
        default:
          throw invalidRequest(`Unknown resource type ${r.resourceType}`);
      }
    });
  },

  errorResponse(req, errorCode) {
    return alterErrorResponse(req.resources, errorCode);
  },
};

/**
 * BROKER_LOGGER (KIP-412 log levels): Strata has no runtime loggers (its level is
 * STRATA_LOG_LEVEL at start), so every logger named is one that does not exist, answered as
 * Kafka's RuntimeLoggerManager answers that.
 */
async function alterLoggers(broker: BrokerContext, name: string, ops: { name: string; configOperation: number }[]): Promise<void> {
  if (!/^-?\d+$/.test(name)) throw invalidRequest(`Node id must be an integer, but it is: ${name}`);
  if (Number(name) !== broker.nodeId) throw invalidRequest(`Unexpected node id. Expected ${broker.nodeId}, but received ${name}`);
  for (const op of ops) {
    if (op.configOperation === OpType.APPEND || op.configOperation === OpType.SUBTRACT) {
      throw invalidRequest(`${op.configOperation === OpType.APPEND ? 'APPEND' : 'SUBTRACT'} operation is not allowed for the BROKER_LOGGER resource`);
    }
    if (op.configOperation !== OpType.SET && op.configOperation !== OpType.DELETE) {
      throw invalidRequest(`Unknown operation type ${op.configOperation} is not allowed for the BROKER_LOGGER resource`);
    }
    throw new Answer(ErrorCode.INVALID_CONFIG, `Logger ${op.name} does not exist!`);
  }
}
