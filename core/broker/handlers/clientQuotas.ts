/**
 * DescribeClientQuotas (api key 48) and AlterClientQuotas (49), KIP-546: client quotas
 * (producer_byte_rate, consumer_byte_rate, request_percentage) by user, client id or both, each
 * named or the default, kept in the metadata store (core/quota/clientQuotaStore.ts) and enforced
 * by every broker's QuotaManager within about a second (at once on the broker that altered them).
 * v1 is v0 made flexible.
 *
 * Describe, as Kafka's ClientQuotasImage.describe: each filter component names an entity type
 * and a match, exact (match = the name), default (match null: the default entity) or specified
 * (match null: any name, the default included); every component must hold, and with `strict`
 * the entity may have no other part. Refused as a whole, with Kafka's messages: an empty entity
 * type, a type twice, a null exact match or a non-null default/specified one, an unknown match
 * type, ip combined with user or client-id (INVALID_REQUEST); an unknown entity type
 * (UNSUPPORTED_VERSION).
 *
 * Alter, as Kafka's ClientQuotaControlManager: per entity, refused (INVALID_REQUEST) for a key
 * given twice, an entity named twice, an empty entity, an unknown entity type or a type twice, an
 * empty name, an unknown key, a byte rate that is not a whole number. Strata also refuses what it
 * would store without enforcing (ip entities, controller_mutation_rate) and quotas of zero or
 * less. Removing a key the entity does not have is no error. validate_only checks without
 * writing. One entity's refusal leaves the others' changes applied.
 */
import { ApiKey } from '../../protocol/generated/index';
import type { AlterClientQuotasRequest } from '../../protocol/generated/AlterClientQuotasRequest';
import type { AlterClientQuotasResponse, EntryData as AlterResult } from '../../protocol/generated/AlterClientQuotasResponse';
import type { DescribeClientQuotasRequest } from '../../protocol/generated/DescribeClientQuotasRequest';
import type { DescribeClientQuotasResponse, EntryData as DescribeEntry } from '../../protocol/generated/DescribeClientQuotasResponse';
import { ErrorCode } from '../../protocol/errorCodes';
import { CLIENT_ID, IP, MATCH_TYPE_DEFAULT, MATCH_TYPE_EXACT, MATCH_TYPE_SPECIFIED, QUOTA_KEYS, QuotaEntityError, USER, checkQuotaValue, entityFromWire, entityToWire, isQuotaKey, type ClientQuotaEntity } from '../../quota/clientQuotaEntity';
import type { QuotaOp } from '../../quota/clientQuotaStore';
import type { ApiHandler } from './types';

type Part = 'user' | 'clientId';
const PART_OF: Record<string, Part> = { [USER]: 'user', [CLIENT_ID]: 'clientId' };

/** A filter that cannot be served: Kafka's InvalidRequestException / UnsupportedVersionException. */
class FilterError extends Error {
  constructor(
    message: string,
    readonly errorCode: number = ErrorCode.INVALID_REQUEST,
  ) {
    super(message);
  }
}

interface Filter {
  /** Entity type → the name it must have (null: the default). */
  exact: Map<string, string | null>;
  /** Entity types the entity must have, any name. */
  specified: Set<string>;
  strict: boolean;
}

function parseFilter(req: DescribeClientQuotasRequest): Filter {
  const exact = new Map<string, string | null>();
  const specified = new Set<string>();
  for (const c of req.components) {
    if (c.entityType === '') throw new FilterError('Invalid empty entity type.');
    if (exact.has(c.entityType) || specified.has(c.entityType)) throw new FilterError(`Entity type ${c.entityType} cannot appear more than once in the filter.`);
    if (c.entityType !== IP && c.entityType !== USER && c.entityType !== CLIENT_ID) throw new FilterError(`Unsupported entity type ${c.entityType}`, ErrorCode.UNSUPPORTED_VERSION);
    switch (c.matchType) {
      case MATCH_TYPE_EXACT:
        if (c.match === null) throw new FilterError('Request specified MATCH_TYPE_EXACT, but set match string to null.');
        exact.set(c.entityType, c.match);
        break;
      case MATCH_TYPE_DEFAULT:
        if (c.match !== null) throw new FilterError('Request specified MATCH_TYPE_DEFAULT, but also specified a match string.');
        exact.set(c.entityType, null);
        break;
      case MATCH_TYPE_SPECIFIED:
        if (c.match !== null) throw new FilterError('Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.');
        specified.add(c.entityType);
        break;
      default:
        throw new FilterError(`Unknown match type ${c.matchType}`);
    }
  }
  const mentions = (t: string): boolean => exact.has(t) || specified.has(t);
  if (mentions(IP) && (mentions(USER) || mentions(CLIENT_ID))) {
    throw new FilterError('Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.');
  }
  return { exact, specified, strict: req.strict };
}

function matches(entity: ClientQuotaEntity, f: Filter): boolean {
  const parts = entityToWire(entity);
  if (f.strict && parts.length !== f.exact.size + f.specified.size) return false;
  const nameOf = (type: string): string | null | undefined => {
    const part = PART_OF[type];
    return part === undefined ? undefined : entity[part];
  };
  for (const [type, name] of f.exact) if (nameOf(type) === undefined || nameOf(type) !== name) return false;
  for (const type of f.specified) if (nameOf(type) === undefined) return false;
  return true;
}

export const describeClientQuotasHandler: ApiHandler<DescribeClientQuotasRequest, DescribeClientQuotasResponse> = {
  apiKey: ApiKey.DescribeClientQuotas,
  minImplemented: 0,

  async handle(req, ctx) {
    const store = ctx.broker.quotas?.store;
    if (!store) return this.errorResponse(req, ErrorCode.UNKNOWN_SERVER_ERROR, ctx);
    let filter: Filter;
    try {
      filter = parseFilter(req);
    } catch (e) {
      if (!(e instanceof FilterError)) throw e;
      return { throttleTimeMs: 0, errorCode: e.errorCode, errorMessage: e.message, entries: null };
    }
    const entries: DescribeEntry[] = [];
    for (const q of await store.list()) {
      if (!matches(q.entity, filter)) continue;
      const values = QUOTA_KEYS.filter((k) => q.values[k] !== undefined).map((k) => ({ key: k, value: q.values[k]! }));
      entries.push({ entity: entityToWire(q.entity), values });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, entries };
  },

  errorResponse(_req, errorCode) {
    return { throttleTimeMs: 0, errorCode, errorMessage: null, entries: null };
  },
};

/** Kafka's ClientQuotaEntity.toString, for messages. */
function entityString(parts: ReadonlyArray<{ entityType: string; entityName: string | null }>): string {
  return `ClientQuotaEntity(entries={${parts.map((p) => `${p.entityType}=${p.entityName}`).join(', ')}})`;
}

export const alterClientQuotasHandler: ApiHandler<AlterClientQuotasRequest, AlterClientQuotasResponse> = {
  apiKey: ApiKey.AlterClientQuotas,
  minImplemented: 0,

  async handle(req, ctx) {
    const quotas = ctx.broker.quotas;
    const store = quotas?.store;
    if (!quotas || !store) return this.errorResponse(req, ErrorCode.UNKNOWN_SERVER_ERROR, ctx);
    const results: AlterResult[] = [];
    const seen = new Set<string>();
    let wrote = false;
    for (const entry of req.entries) {
      const result: AlterResult = { errorCode: ErrorCode.NONE, errorMessage: null, entity: entry.entity };
      results.push(result);
      const refuse = (message: string, code: number = ErrorCode.INVALID_REQUEST): void => {
        result.errorCode = code;
        result.errorMessage = message;
      };
      const identity = JSON.stringify([...entry.entity].sort((a, b) => (a.entityType < b.entityType ? -1 : a.entityType > b.entityType ? 1 : 0)));
      const duplicateKey = entry.ops.find((op, i) => entry.ops.findIndex((o) => o.key === op.key) !== i);
      if (duplicateKey !== undefined) {
        refuse(`Duplicate quota key ${duplicateKey.key} not updating quota for this entity ${entityString(entry.entity)}`);
        seen.add(identity);
        continue;
      }
      if (seen.has(identity)) {
        refuse(`Ignoring duplicate entity ${entityString(entry.entity)}`);
        continue;
      }
      seen.add(identity);
      let entity: ClientQuotaEntity;
      const ops: QuotaOp[] = [];
      try {
        entity = entityFromWire(entry.entity);
        for (const op of entry.ops) {
          if (op.remove) {
            // Removing what is not there is no error (nor is an unknown key then: it cannot be there).
            if (isQuotaKey(op.key)) ops.push({ key: op.key, value: null });
            continue;
          }
          ops.push({ key: checkQuotaValue(op.key, op.value), value: op.value });
        }
      } catch (e) {
        if (!(e instanceof QuotaEntityError)) throw e;
        refuse(e.message);
        continue;
      }
      if (req.validateOnly || ops.length === 0) continue;
      try {
        await store.alter(entity, ops);
        wrote = true;
      } catch (e) {
        ctx.broker.logger.warn(`AlterClientQuotas: storing the quotas of ${entityString(entry.entity)} failed: ${(e as Error).message}`);
        refuse(`Storing the quotas failed: ${(e as Error).message}`, ErrorCode.UNKNOWN_SERVER_ERROR);
      }
    }
    // This broker applies them before answering; the others within their refresh interval.
    if (wrote) await quotas.refreshNow();
    return { throttleTimeMs: 0, entries: results };
  },

  errorResponse(req, errorCode) {
    return { throttleTimeMs: 0, entries: req.entries.map((e) => ({ errorCode, errorMessage: null, entity: e.entity })) };
  },
};
