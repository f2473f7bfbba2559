/**
 * Configs: DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44).
 *
 * DescribeConfigs: v0 reports isDefault; v1 config source and synonyms; v3 config type and
 * documentation; v4 flexible. AlterConfigs replaces a resource's whole set of overrides;
 * IncrementalAlterConfigs (KIP-339) SETs, DELETEs, APPENDs to or SUBTRACTs from single keys.
 * Topic resources are stored through the metadata store; broker resources are described
 * from the static configuration and are read-only (dynamic broker configs are not supported).
 */
import { ApiKey } from '../../protocol/generated/index';
import type { DescribeConfigsRequest } from '../../protocol/generated/DescribeConfigsRequest';
import type { DescribeConfigsResponse, DescribeConfigsResourceResult, DescribeConfigsResult } from '../../protocol/generated/DescribeConfigsResponse';
import type { AlterConfigsRequest } from '../../protocol/generated/AlterConfigsRequest';
import type { AlterConfigsResponse } from '../../protocol/generated/AlterConfigsResponse';
import type { IncrementalAlterConfigsRequest } from '../../protocol/generated/IncrementalAlterConfigsRequest';
import type { IncrementalAlterConfigsResponse } from '../../protocol/generated/IncrementalAlterConfigsResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { StrataError, toKafkaErrorCode } from '../../common/errors';
import { describeBrokerConfig } from '../../config/brokerConfig';
import { topicConfigEntry } from '../../config/topicConfig';
import type { DescribedConfig } from '../../config/configDef';
import type { TopicState } from '../topicRegistry';
import type { ApiHandler, BrokerContext } from './types';

/** Kafka's ConfigResource.Type codes. */
export const ResourceType = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

/** IncrementalAlterConfigs operations (Kafka's AlterConfigOp.OpType). */
const OpType = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

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

function brokerResourceError(broker: BrokerContext, name: string): string | null {
  if (name === '' || name === String(broker.nodeId)) return null;
  return `Unexpected broker id, expected ${broker.nodeId} or empty string, but received ${name}`;
}

function resultFor(resourceType: number, resourceName: string, e: unknown): { errorCode: number; errorMessage: string; resourceType: number; resourceName: string } {
  return { errorCode: toKafkaErrorCode(e), errorMessage: (e as Error).message, resourceType, resourceName };
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
      if (r.resourceType === ResourceType.TOPIC) {
        const state = b.topics.get(r.resourceName);
        if (!state) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic '${r.resourceName}' does not exist.` };
        return { ...base, configs: describeTopicConfigs(state, r.configurationKeys, includeSynonyms, includeDocs) };
      }
      if (r.resourceType === ResourceType.BROKER) {
        const err = brokerResourceError(b, r.resourceName);
        if (err) return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: err };
        if (r.resourceName === '') return base; // cluster-wide dynamic defaults: none are set
        const keys = r.configurationKeys && r.configurationKeys.length > 0 ? new Set(r.configurationKeys) : null;
        return { ...base, configs: describeBrokerConfig(b.config).filter((e) => keys === null || keys.has(e.name)).map((e) => toWire(e, includeSynonyms, includeDocs)) };
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

function notTopic(resourceType: number): StrataError {
  return new StrataError(
    'CONFIG_INVALID',
    resourceType === ResourceType.BROKER || resourceType === ResourceType.BROKER_LOGGER
      ? 'Dynamic broker configs are not supported: set broker configs at start (--override, STRATA_*, server.properties).'
      : `Unsupported resource type ${resourceType}`,
  );
}

type AlterResult = { errorCode: number; errorMessage: string | null; resourceType: number; resourceName: string };

/** Runs `apply` on each topic resource; every resource gets its own result, as in Kafka. */
async function alterEach<R extends { resourceType: number; resourceName: string }>(resources: R[], apply: (r: R) => Promise<void>): Promise<{ throttleTimeMs: number; responses: AlterResult[] }> {
  const responses: AlterResult[] = [];
  for (const r of resources) {
    try {
      if (r.resourceType !== ResourceType.TOPIC) throw notTopic(r.resourceType);
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
    return alterEach(req.resources, async (r) => {
      const configs: Record<string, string> = {};
      for (const c of r.configs) {
        if (c.value === null) throw new StrataError('CONFIG_INVALID', `Null value not supported for topic config ${c.name}`);
        configs[c.name] = c.value;
      }
      await ctx.broker.topics.setConfigs(r.resourceName, configs, req.validateOnly);
    });
  },

  errorResponse(req, errorCode) {
    return alterErrorResponse(req.resources, errorCode);
  },
};

/** Applies one IncrementalAlterConfigs operation to a topic's overrides. */
function applyOp(configs: Record<string, string>, name: string, op: number, value: string | null): void {
  const entry = topicConfigEntry(name);
  const isList = entry?.type === 'list';
  switch (op) {
    case OpType.SET:
      if (value === null) throw new StrataError('CONFIG_INVALID', `Null value not supported for topic config ${name}`);
      configs[name] = value;
      return;
    case OpType.DELETE:
      delete configs[name];
      return;
    case OpType.APPEND:
    case OpType.SUBTRACT: {
      if (!entry) return; // unknown names are reported by validation below
      if (!isList) throw new StrataError('CONFIG_INVALID', `Config value append/subtract is not allowed for config ${name} (not a list)`);
      const current = (configs[name] ?? entry.default ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const items = (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const next = op === OpType.APPEND ? [...current, ...items.filter((i) => !current.includes(i))] : current.filter((c) => !items.includes(c));
      configs[name] = next.join(',');
      return;
    }
    default:
      throw new StrataError('CONFIG_INVALID', `Unknown config operation ${op} for ${name}`);
  }
}

export const incrementalAlterConfigsHandler: ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse> = {
  apiKey: ApiKey.IncrementalAlterConfigs,
  minImplemented: 0,

  handle(req, ctx) {
    return alterEach(req.resources, async (r) => {
      const state = ctx.broker.topics.get(r.resourceName);
      if (!state) throw new StrataError('TOPIC_NOT_FOUND', `Topic '${r.resourceName}' does not exist.`);
      const names = new Set<string>();
      const configs = { ...state.record.configs };
      for (const c of r.configs) {
        if (names.has(c.name)) throw new StrataError('CONFIG_INVALID', `Error due to duplicate config keys: ${c.name}`);
        names.add(c.name);
        // Unknown names are kept as given so validation reports them with a hint.
        if (!topicConfigEntry(c.name)) configs[c.name] = c.value ?? '';
        else applyOp(configs, c.name, c.configOperation, c.value);
      }
      await ctx.broker.topics.setConfigs(r.resourceName, configs, req.validateOnly);
    });
  },

  errorResponse(req, errorCode) {
    return alterErrorResponse(req.resources, errorCode);
  },
};
