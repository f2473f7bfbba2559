import * as crypto from 'node:crypto';
import { isStrataError } from '../common/errors';
import type { KvValue } from '../meta/json';
import type { VersionedKv } from '../meta/versionedKv';
import { bindingFilterMatches, type AccessControlEntry, type AclBinding, type AclBindingFilter, type ResourcePattern } from './acl';

/** The metadata store namespace of ACLs (`ns/acls/<resource type>/<pattern type>/<name>`). */
export const ACLS_NAMESPACE = 'acls';

/** How often a write that lost a race with another broker's is retried on the fresh value. */
const MAX_ATTEMPTS = 20;

/**
 * ACLs in the metadata store, one item per resource pattern holding that pattern's entries, as
 * Kafka's ZooKeeper authorizer kept one znode per resource: adding or removing an entry is one
 * conditional write on the pattern's item (retried on the fresh value when another writer got
 * there first), so concurrent changes from several brokers never lose each other.
 *
 * Keys are `<resource type code>/<pattern type code>/<name, URI-encoded>`; a name whose key would
 * pass the store's key limit is keyed by its SHA-256 instead (`#<hex>`, which no encoded name can
 * be). The item also holds the pattern itself, so keys are never parsed back.
 */
export class AclStore {
  constructor(private readonly kv: VersionedKv) {}

  /** Every binding in the store. */
  async list(): Promise<AclBinding[]> {
    const out: AclBinding[] = [];
    for (const e of await this.kv.list('')) {
      const item = decode(e.value);
      if (item === null) continue;
      for (const entry of item.entries) out.push({ pattern: item.pattern, entry });
    }
    return out;
  }

  /** Adds the bindings that are not there yet (adding one that exists changes nothing). */
  async add(bindings: readonly AclBinding[]): Promise<void> {
    for (const [, group] of byPattern(bindings)) {
      await this.update(group.pattern, (entries) => {
        const next = [...entries];
        for (const e of group.entries) if (!next.some((x) => sameEntry(x, e))) next.push(e);
        return next;
      });
    }
  }

  /**
   * Removes every binding matching one of `filters`; resolves with what each filter removed (a
   * binding matched by two filters is reported by the first only, as Kafka's authorizer does).
   */
  async remove(filters: readonly AclBindingFilter[]): Promise<AclBinding[][]> {
    const removed: AclBinding[][] = filters.map(() => []);
    const patterns = new Map<string, ResourcePattern>();
    for (const b of await this.list()) {
      if (filters.some((f) => bindingFilterMatches(f, b))) patterns.set(keyOf(b.pattern), b.pattern);
    }
    for (const pattern of patterns.values()) {
      await this.update(pattern, (entries) => {
        // Recomputed on every attempt: only what is removed from the fresh value is reported.
        for (const r of removed) for (let i = r.length - 1; i >= 0; i--) if (keyOf(r[i].pattern) === keyOf(pattern)) r.splice(i, 1);
        return entries.filter((entry) => {
          const i = filters.findIndex((f) => bindingFilterMatches(f, { pattern, entry }));
          if (i < 0) return true;
          removed[i].push({ pattern, entry });
          return false;
        });
      });
    }
    return removed;
  }

  /** Applies `change` to the pattern's entries with a conditional write; an empty result deletes the item. */
  private async update(pattern: ResourcePattern, change: (entries: AccessControlEntry[]) => AccessControlEntry[]): Promise<void> {
    const key = keyOf(pattern);
    for (let attempt = 1; ; attempt++) {
      const cur = await this.kv.get(key);
      const entries = cur === null ? [] : (decode(cur.value)?.entries ?? []);
      const next = change(entries);
      try {
        if (next.length === entries.length && next.every((e, i) => sameEntry(e, entries[i]))) return;
        if (next.length === 0) {
          if (cur !== null) await this.kv.delete(key, cur.version);
        } else {
          await this.kv.put(key, encode(pattern, next), cur?.version ?? null);
        }
        return;
      } catch (e) {
        const conflict = isStrataError(e, 'VERSION_CONFLICT') || isStrataError(e, 'KEY_EXISTS') || isStrataError(e, 'NOT_FOUND');
        if (conflict && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
    }
  }
}

interface Item {
  pattern: ResourcePattern;
  entries: AccessControlEntry[];
}

function byPattern(bindings: readonly AclBinding[]): Map<string, Item> {
  const out = new Map<string, Item>();
  for (const b of bindings) {
    const k = keyOf(b.pattern);
    let item = out.get(k);
    if (item === undefined) out.set(k, (item = { pattern: b.pattern, entries: [] }));
    item.entries.push(b.entry);
  }
  return out;
}

function sameEntry(a: AccessControlEntry, b: AccessControlEntry): boolean {
  return a.principal === b.principal && a.host === b.host && a.operation === b.operation && a.permissionType === b.permissionType;
}

/** Room left for the namespace prefix within the store's 1024-byte keys. */
const MAX_NAME_KEY_BYTES = 900;

export function keyOf(p: ResourcePattern): string {
  const encoded = encodeURIComponent(p.name);
  const name = Buffer.byteLength(encoded) <= MAX_NAME_KEY_BYTES ? encoded : `#${crypto.createHash('sha256').update(p.name).digest('hex')}`;
  return `${p.resourceType}/${p.patternType}/${name}`;
}

function encode(pattern: ResourcePattern, entries: readonly AccessControlEntry[]): KvValue {
  return {
    resourceType: pattern.resourceType,
    patternType: pattern.patternType,
    name: pattern.name,
    acls: entries.map((e) => ({ principal: e.principal, host: e.host, operation: e.operation, permissionType: e.permissionType })),
  };
}

function decode(v: KvValue): Item | null {
  const o = v as { resourceType?: number; patternType?: number; name?: string; acls?: AccessControlEntry[] };
  if (typeof o.resourceType !== 'number' || typeof o.patternType !== 'number' || typeof o.name !== 'string' || !Array.isArray(o.acls)) return null;
  return {
    pattern: { resourceType: o.resourceType, patternType: o.patternType, name: o.name },
    entries: o.acls.map((e) => ({ principal: e.principal, host: e.host, operation: e.operation, permissionType: e.permissionType })),
  };
}
