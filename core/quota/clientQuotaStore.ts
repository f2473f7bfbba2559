import { isStrataError } from '../common/errors';
import type { KvValue } from '../meta/json';
import type { VersionedKv } from '../meta/versionedKv';
import { QUOTA_KEYS, entityPath, isQuotaKey, parseEntityPath, type ClientQuotaEntity, type QuotaKey, type QuotaValues } from './clientQuotaEntity';

/** The metadata store namespace of client quotas (`ns/client-quotas/<entity path>`). */
export const CLIENT_QUOTAS_NAMESPACE = 'client-quotas';

/** One entity's quotas as stored. */
export interface StoredClientQuota {
  readonly entity: ClientQuotaEntity;
  readonly values: QuotaValues;
}

/** A change to one key: a value sets it, null removes it. */
export interface QuotaOp {
  key: QuotaKey;
  value: number | null;
}

const MAX_ATTEMPTS = 5;

/**
 * Client quotas in the metadata store, one item per entity (its path, clientQuotaEntity.ts, is
 * the key; the value holds its quota keys), so that altering an entity is one conditional write
 * of one key, as everything in the store. An entity left without quotas is deleted.
 */
export class ClientQuotaStore {
  constructor(private readonly kv: VersionedKv) {}

  /** Every entity with quotas, in key order. */
  async list(): Promise<StoredClientQuota[]> {
    const out: StoredClientQuota[] = [];
    for (const e of await this.kv.list('')) {
      const entity = parseEntityPath(e.key);
      if (entity !== null) out.push({ entity, values: decode(e.value) });
    }
    return out;
  }

  async get(entity: ClientQuotaEntity): Promise<QuotaValues> {
    const e = await this.kv.get(entityPath(entity));
    return e === null ? {} : decode(e.value);
  }

  /**
   * Applies `ops` to the entity's quotas (read, change, conditional write; a concurrent writer
   * makes it read again); resolves with the entity's quotas after.
   */
  async alter(entity: ClientQuotaEntity, ops: readonly QuotaOp[]): Promise<QuotaValues> {
    const key = entityPath(entity);
    for (let attempt = 1; ; attempt++) {
      const cur = await this.kv.get(key);
      const values: QuotaValues = cur === null ? {} : decode(cur.value);
      for (const op of ops) {
        if (op.value === null) delete values[op.key];
        else values[op.key] = op.value;
      }
      try {
        if (Object.keys(values).length === 0) {
          if (cur !== null) await this.kv.delete(key, cur.version);
        } else if (cur === null || !sameValues(decode(cur.value), values)) {
          await this.kv.put(key, values as KvValue, cur?.version ?? null);
        }
        return values;
      } catch (e) {
        const conflict = isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS') || isStrataError(e, 'NOT_FOUND');
        if (conflict && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
    }
  }
}

function decode(v: KvValue): QuotaValues {
  const out: QuotaValues = {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v)) if (isQuotaKey(k) && typeof x === 'number') out[k] = x;
  return out;
}

function sameValues(a: QuotaValues, b: QuotaValues): boolean {
  return QUOTA_KEYS.every((k) => a[k] === b[k]);
}
