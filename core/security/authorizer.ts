import type { Logger } from '../common/logger';
import {
  AclOperation,
  AclPermissionType,
  CLUSTER_NAME,
  PatternType,
  ResourceType,
  WILDCARD_HOST,
  WILDCARD_PRINCIPAL,
  WILDCARD_RESOURCE,
  bindingFilterMatches,
  compareBindings,
  operationCovers,
  operationName,
  patternTypeName,
  pascalCase,
  resourceTypeName,
  supportedOperations,
  type AccessControlEntry,
  type AclBinding,
  type AclBindingFilter,
} from './acl';
import type { AclStore } from './aclStore';
import { principalToString, type KafkaPrincipal } from './principal';

/**
 * Strata's authorizer, with the semantics of Kafka's StandardAuthorizer (and of AclAuthorizer
 * before it): a request is allowed when its principal is a super user, or when no DENY entry and
 * at least one ALLOW entry apply; an entry applies when its pattern matches the resource (the
 * LITERAL name, the LITERAL `*`, or a PREFIXED prefix of the name), its principal is the
 * request's or User:*, its host is the client's IP address or `*`, and its operation covers the
 * requested one (acl.ts: ALL covers all; ALLOW READ/WRITE/DELETE/ALTER also allow DESCRIBE,
 * ALLOW ALTER_CONFIGS also allows DESCRIBE_CONFIGS). A resource no entry's pattern matches at all
 * (whoever the entries name) is allowed only with allow.everyone.if.no.acl.found.
 *
 * The ACLs live in the metadata store (aclStore.ts); each broker keeps them in memory, reloaded
 * every `refreshIntervalMs` (so a change made through another broker applies here within that
 * time) and at once after a change made through this one. Denials are logged (principal,
 * operation, resource, host), at most LOG_BURST lines per LOG_WINDOW_MS with a count of the rest,
 * and every explicit decision is counted (strata_authorizer_decisions_total).
 */

/** authorizer.class.name values that mean Strata's authorizer. */
export const AUTHORIZER_CLASS_NAMES: readonly string[] = [
  'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
  'kafka.security.authorizer.AclAuthorizer',
  'kafka.security.auth.SimpleAclAuthorizer',
  'io.strata.security.AclAuthorizer',
];

export interface AuthorizerOptions {
  /** super.users, as 'User:alice' strings. */
  superUsers: readonly string[];
  /** allow.everyone.if.no.acl.found */
  allowEveryoneIfNoAclFound: boolean;
  /** How often the ACLs are reloaded from the store (default 1000 ms). */
  refreshIntervalMs?: number;
  logger: Logger;
}

/** Who is asking, as handlers have it on the connection. */
export interface Requester {
  readonly principal: KafkaPrincipal;
  /** The client's IP address (ACL host filters name IP addresses). */
  readonly remoteIp: string;
}

const LOG_WINDOW_MS = 10_000;
const LOG_BURST = 50;
const DEFAULT_REFRESH_MS = 1000;

/** One resource type's entries, indexed for lookups. */
interface TypeIndex {
  literal: Map<string, AccessControlEntry[]>;
  prefixed: Array<[prefix: string, entries: AccessControlEntry[]]>;
}

export class Authorizer {
  /** Explicit checks by outcome (authorizedOperations and filtering are not counted). */
  readonly decisions = { allowed: 0, denied: 0 };
  private readonly superUsers: ReadonlySet<string>;
  private bindings: AclBinding[] = [];
  private index = new Map<number, TypeIndex>();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private writes: Promise<unknown> = Promise.resolve();
  private logWindowStart = 0;
  private logged = 0;
  private suppressed = 0;
  private closed = false;

  private constructor(
    private readonly store: AclStore,
    private readonly opts: AuthorizerOptions,
  ) {
    this.superUsers = new Set(opts.superUsers);
  }

  /** Loads the ACLs (before anything is served), then keeps reloading them. */
  static async start(store: AclStore, opts: AuthorizerOptions): Promise<Authorizer> {
    const a = new Authorizer(store, opts);
    await a.load();
    const every = opts.refreshIntervalMs ?? DEFAULT_REFRESH_MS;
    a.timer = setInterval(() => {
      a.refresh().catch((e: unknown) => {
        if (!a.closed) opts.logger.warn(`reloading ACLs failed (keeping the ${a.bindings.length} loaded): ${(e as Error).message}`);
      });
    }, every);
    a.timer.unref();
    return a;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reloads the ACLs from the store; concurrent calls share a load, and one asked during a load runs after it. */
  refresh(): Promise<void> {
    if (this.refreshing !== null) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.refreshAgain = false;
          await this.load();
        } while (this.refreshAgain && !this.closed);
      } finally {
        this.refreshing = null;
      }
    };
    this.refreshing = run();
    return this.refreshing;
  }

  private async load(): Promise<void> {
    this.setBindings(await this.store.list());
  }

  /** Replaces the in-memory ACLs (exposed for the store-less unit tests of the matching rules). */
  setBindings(bindings: readonly AclBinding[]): void {
    const index = new Map<number, TypeIndex>();
    for (const b of bindings) {
      let t = index.get(b.pattern.resourceType);
      if (t === undefined) index.set(b.pattern.resourceType, (t = { literal: new Map(), prefixed: [] }));
      if (b.pattern.patternType === PatternType.LITERAL) {
        const list = t.literal.get(b.pattern.name);
        if (list === undefined) t.literal.set(b.pattern.name, [b.entry]);
        else list.push(b.entry);
      } else if (b.pattern.patternType === PatternType.PREFIXED) {
        const p = t.prefixed.find(([prefix]) => prefix === b.pattern.name);
        if (p === undefined) t.prefixed.push([b.pattern.name, [b.entry]]);
        else p[1].push(b.entry);
      }
    }
    this.bindings = [...bindings].sort(compareBindings);
    this.index = index;
  }

  isSuperUser(principal: KafkaPrincipal): boolean {
    return this.superUsers.has(principalToString(principal));
  }

  /**
   * Whether `who` may do `operation` on the resource. Explicit checks (the default) are counted
   * and their denials logged; `log: false` is for checks that only shape an answer (authorized
   * operations, listing what may be described), which Kafka logs at trace level only.
   */
  authorize(who: Requester, operation: number, resourceType: number, resourceName: string, opts: { log?: boolean; request?: string } = {}): boolean {
    const { allowed, rule } = this.decide(who, operation, resourceType, resourceName);
    if (opts.log !== false) {
      if (allowed) this.decisions.allowed++;
      else {
        this.decisions.denied++;
        this.logDenial(who, operation, resourceType, resourceName, rule, opts.request);
      }
    }
    return allowed;
  }

  private decide(who: Requester, operation: number, resourceType: number, name: string): { allowed: boolean; rule: string } {
    const principal = principalToString(who.principal);
    if (this.superUsers.has(principal)) return { allowed: true, rule: 'SuperUser' };
    const t = this.index.get(resourceType);
    let matchedResource = false;
    let allow = false;
    const consider = (entries: readonly AccessControlEntry[] | undefined): boolean => {
      if (entries === undefined) return false;
      for (const e of entries) {
        matchedResource = true;
        if (e.principal !== principal && e.principal !== WILDCARD_PRINCIPAL) continue;
        if (e.host !== WILDCARD_HOST && e.host !== who.remoteIp) continue;
        if (!operationCovers(e.operation, e.permissionType, operation)) continue;
        if (e.permissionType === AclPermissionType.DENY) return true;
        if (e.permissionType === AclPermissionType.ALLOW) allow = true;
      }
      return false;
    };
    if (t !== undefined) {
      if (consider(t.literal.get(name))) return { allowed: false, rule: 'DenyAcl' };
      if (name !== WILDCARD_RESOURCE && consider(t.literal.get(WILDCARD_RESOURCE))) return { allowed: false, rule: 'DenyAcl' };
      for (const [prefix, entries] of t.prefixed) {
        if (name.startsWith(prefix) && consider(entries)) return { allowed: false, rule: 'DenyAcl' };
      }
    }
    if (allow) return { allowed: true, rule: 'AllowAcl' };
    if (!matchedResource) return { allowed: this.opts.allowEveryoneIfNoAclFound, rule: this.opts.allowEveryoneIfNoAclFound ? 'DefaultAllow' : 'DefaultDeny' };
    return { allowed: false, rule: 'DefaultDeny' };
  }

  /**
   * Whether `who` may do `operation` on at least one resource of the type (Kafka's
   * Authorizer.authorizeByResourceType, used for idempotent producers without IDEMPOTENT_WRITE on
   * the cluster): some ALLOW pattern that no DENY dominates (a DENY `*`, the same literal, or a
   * DENY prefix of the allowed name).
   */
  authorizeByResourceType(who: Requester, operation: number, resourceType: number): boolean {
    // Super users, and allow.everyone.if.no.acl.found with no ACLs that could apply.
    if (this.decide(who, operation, resourceType, 'hardcode').allowed) return true;
    const principal = principalToString(who.principal);
    const denyLiteral = new Set<string>();
    const denyPrefixed = new Set<string>();
    const allowLiteral: string[] = [];
    const allowPrefixed: string[] = [];
    for (const b of this.bindings) {
      const { pattern: p, entry: e } = b;
      if (p.resourceType !== resourceType) continue;
      if (e.host !== who.remoteIp && e.host !== WILDCARD_HOST) continue;
      if (e.principal !== principal && e.principal !== WILDCARD_PRINCIPAL) continue;
      if (e.operation !== operation && e.operation !== AclOperation.ALL) continue;
      if (e.permissionType === AclPermissionType.DENY) {
        if (p.patternType === PatternType.LITERAL) {
          if (p.name === WILDCARD_RESOURCE) return false;
          denyLiteral.add(p.name);
        } else if (p.patternType === PatternType.PREFIXED) denyPrefixed.add(p.name);
      } else if (e.permissionType === AclPermissionType.ALLOW) {
        if (p.patternType === PatternType.LITERAL) {
          if (p.name === WILDCARD_RESOURCE) return true;
          allowLiteral.push(p.name);
        } else if (p.patternType === PatternType.PREFIXED) allowPrefixed.push(p.name);
      }
    }
    const dominated = (name: string): boolean => {
      for (let i = 1; i <= name.length; i++) if (denyPrefixed.has(name.slice(0, i))) return true;
      return false;
    };
    return allowLiteral.some((n) => !denyLiteral.has(n) && !dominated(n)) || allowPrefixed.some((n) => !dominated(n));
  }

  /** Kafka's authorized-operations bit field: bit `code` set for each supported operation allowed on the resource. */
  authorizedOperations(who: Requester, resourceType: number, resourceName: string): number {
    let field = 0;
    for (const op of supportedOperations(resourceType)) {
      if (this.decide(who, op, resourceType, resourceName).allowed) field |= 1 << op;
    }
    return field;
  }

  /** The bindings matching `filter`, in a stable order (DescribeAcls). */
  acls(filter: AclBindingFilter): AclBinding[] {
    return this.bindings.filter((b) => bindingFilterMatches(filter, b));
  }

  /** Stores the bindings (checked by the caller), then reloads so the change applies here at once. */
  createAcls(bindings: readonly AclBinding[]): Promise<void> {
    return this.serialized(async () => {
      try {
        await this.store.add(bindings);
      } finally {
        await this.refresh();
      }
      for (const b of bindings) this.opts.logger.info(`ACL added: ${describe(b)}`);
    });
  }

  /** Removes what each filter matches; resolves with each filter's removed bindings. */
  deleteAcls(filters: readonly AclBindingFilter[]): Promise<AclBinding[][]> {
    return this.serialized(async () => {
      let removed: AclBinding[][];
      try {
        removed = await this.store.remove(filters);
      } finally {
        await this.refresh();
      }
      for (const r of removed) for (const b of r) this.opts.logger.info(`ACL removed: ${describe(b)}`);
      return removed;
    });
  }

  /** Changes made through this broker run one at a time (fewer conditional-write races). */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.writes.then(fn, fn);
    this.writes = next.catch(() => undefined);
    return next;
  }

  private logDenial(who: Requester, operation: number, resourceType: number, name: string, rule: string, request: string | undefined): void {
    const now = Date.now();
    if (now - this.logWindowStart >= LOG_WINDOW_MS) {
      if (this.suppressed > 0) this.opts.logger.info(`authorization: ${this.suppressed} more denials in the last ${LOG_WINDOW_MS / 1000} s not logged`);
      this.logWindowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (this.logged >= LOG_BURST) {
      this.suppressed++;
      return;
    }
    this.logged++;
    // Kafka's audit line: Principal = User:bob is Denied operation = WRITE from host = ... on resource = Topic:LITERAL:orders ...
    this.opts.logger.info(
      `authorization: Principal = ${principalToString(who.principal)} is Denied operation = ${pascalCase(operationName(operation))} from host = ${who.remoteIp} ` +
        `on resource = ${pascalCase(resourceTypeName(resourceType))}:LITERAL:${name}${request === undefined ? '' : ` for request = ${request}`} based on rule ${rule}`,
    );
  }
}

function describe(b: AclBinding): string {
  const { pattern: p, entry: e } = b;
  return `${e.principal} ${permissionName(e.permissionType)} ${operationName(e.operation)} from ${e.host} on ${resourceTypeName(p.resourceType)} ${patternTypeName(p.patternType)} '${p.name}'`;
}

function permissionName(code: number): string {
  return code === AclPermissionType.ALLOW ? 'ALLOW' : code === AclPermissionType.DENY ? 'DENY' : String(code);
}

/**
 * The check handlers make: always true without an authorizer (authorizer.class.name empty, every
 * client may do everything, as Kafka without one).
 */
export function allowed(authorizer: Authorizer | undefined, who: Requester, operation: number, resourceType: number, resourceName: string, opts?: { log?: boolean; request?: string }): boolean {
  return authorizer === undefined || authorizer.authorize(who, operation, resourceType, resourceName, opts);
}

/** The check on the cluster resource (kafka-cluster). */
export function allowedOnCluster(authorizer: Authorizer | undefined, who: Requester, operation: number, opts?: { log?: boolean; request?: string }): boolean {
  return allowed(authorizer, who, operation, ResourceType.CLUSTER, CLUSTER_NAME, opts);
}
