/**
 * Kafka's ACL model (org.apache.kafka.common.acl and .resource), with Kafka's wire codes:
 * a binding is a resource pattern (type, name, LITERAL or PREFIXED) plus an access control entry
 * (principal, host, operation, ALLOW or DENY). Filters pick bindings for DescribeAcls and
 * DeleteAcls, where ANY matches every value and, for the pattern type, MATCH matches every
 * pattern that would apply to the named resource (the literal name, the `*` wildcard, and every
 * prefix of it).
 *
 * Which bindings grant what is the authorizer's (authorizer.ts); this module holds the values,
 * the filter rules, validation of new bindings and Kafka's text forms (kafka-acls.sh prints
 * ResourcePattern and AccessControlEntry toString output).
 */

/** Kafka's ResourceType codes. */
export const ResourceType = {
  UNKNOWN: 0,
  ANY: 1,
  TOPIC: 2,
  GROUP: 3,
  CLUSTER: 4,
  TRANSACTIONAL_ID: 5,
  DELEGATION_TOKEN: 6,
  USER: 7,
} as const;

/** Kafka's PatternType codes. */
export const PatternType = {
  UNKNOWN: 0,
  ANY: 1,
  MATCH: 2,
  LITERAL: 3,
  PREFIXED: 4,
} as const;

/** Kafka's AclOperation codes. */
export const AclOperation = {
  UNKNOWN: 0,
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
  CREATE_TOKENS: 13,
  DESCRIBE_TOKENS: 14,
} as const;

/** Kafka's AclPermissionType codes. */
export const AclPermissionType = {
  UNKNOWN: 0,
  ANY: 1,
  DENY: 2,
  ALLOW: 3,
} as const;

/** The one name a CLUSTER resource has (Kafka's Resource.CLUSTER_NAME). */
export const CLUSTER_NAME = 'kafka-cluster';
/** A LITERAL pattern with this name matches every resource of its type. */
export const WILDCARD_RESOURCE = '*';
export const WILDCARD_HOST = '*';
/** An entry with this principal applies to every user. */
export const WILDCARD_PRINCIPAL = 'User:*';

const nameOf = (codes: Record<string, number>): ReadonlyMap<number, string> => new Map(Object.entries(codes).map(([k, v]) => [v, k]));
const RESOURCE_TYPE_NAMES = nameOf(ResourceType);
const PATTERN_TYPE_NAMES = nameOf(PatternType);
const OPERATION_NAMES = nameOf(AclOperation);
const PERMISSION_NAMES = nameOf(AclPermissionType);

/** The enum constant's name as Java prints it (TOPIC, PREFIXED, IDEMPOTENT_WRITE, ALLOW); UNKNOWN for codes Kafka does not have. */
export const resourceTypeName = (code: number): string => RESOURCE_TYPE_NAMES.get(code) ?? 'UNKNOWN';
export const patternTypeName = (code: number): string => PATTERN_TYPE_NAMES.get(code) ?? 'UNKNOWN';
export const operationName = (code: number): string => OPERATION_NAMES.get(code) ?? 'UNKNOWN';
export const permissionTypeName = (code: number): string => PERMISSION_NAMES.get(code) ?? 'UNKNOWN';

export interface ResourcePattern {
  readonly resourceType: number;
  readonly name: string;
  /** LITERAL or PREFIXED. */
  readonly patternType: number;
}

export interface AccessControlEntry {
  /** 'User:alice', or 'User:*' for everyone. */
  readonly principal: string;
  /** A client IP address, or '*' for every host. */
  readonly host: string;
  readonly operation: number;
  readonly permissionType: number;
}

export interface AclBinding {
  readonly pattern: ResourcePattern;
  readonly entry: AccessControlEntry;
}

/** A null name or principal or host matches any; ANY matches every type, operation, permission. */
export interface ResourcePatternFilter {
  readonly resourceType: number;
  readonly name: string | null;
  readonly patternType: number;
}

export interface AccessControlEntryFilter {
  readonly principal: string | null;
  readonly host: string | null;
  readonly operation: number;
  readonly permissionType: number;
}

export interface AclBindingFilter {
  readonly pattern: ResourcePatternFilter;
  readonly entry: AccessControlEntryFilter;
}

export const ANY_ENTRY: AccessControlEntryFilter = Object.freeze({ principal: null, host: null, operation: AclOperation.ANY, permissionType: AclPermissionType.ANY });

/**
 * Kafka's ResourcePatternFilter.matches: the type must agree (unless ANY); a specific pattern
 * type must agree and matches the name exactly; ANY matches the name exactly whatever the
 * pattern type; MATCH matches every pattern that applies to the name (itself, the `*` literal,
 * and prefixes of it).
 */
export function patternFilterMatches(f: ResourcePatternFilter, p: ResourcePattern): boolean {
  if (f.resourceType !== ResourceType.ANY && f.resourceType !== p.resourceType) return false;
  if (f.patternType !== PatternType.ANY && f.patternType !== PatternType.MATCH && f.patternType !== p.patternType) return false;
  if (f.name === null) return true;
  if (f.patternType === PatternType.ANY || f.patternType === p.patternType) return f.name === p.name;
  // MATCH
  if (p.patternType === PatternType.LITERAL) return f.name === p.name || p.name === WILDCARD_RESOURCE;
  if (p.patternType === PatternType.PREFIXED) return f.name.startsWith(p.name);
  return false;
}

/** Kafka's AccessControlEntryFilter.matches: exact values (no wildcard expansion), ANY / null for any. */
export function entryFilterMatches(f: AccessControlEntryFilter, e: AccessControlEntry): boolean {
  if (f.principal !== null && f.principal !== e.principal) return false;
  if (f.host !== null && f.host !== e.host) return false;
  if (f.operation !== AclOperation.ANY && f.operation !== e.operation) return false;
  return f.permissionType === AclPermissionType.ANY || f.permissionType === e.permissionType;
}

export function bindingFilterMatches(f: AclBindingFilter, b: AclBinding): boolean {
  return patternFilterMatches(f.pattern, b.pattern) && entryFilterMatches(f.entry, b.entry);
}

/**
 * Why a filter cannot be used (DescribeAcls / DeleteAcls answer INVALID_REQUEST with it), or
 * null: a filter with an UNKNOWN element (a code Kafka does not have) matches nothing
 * meaningful, and Kafka refuses it.
 */
export function filterProblem(f: AclBindingFilter): string | null {
  if (!RESOURCE_TYPE_NAMES.has(f.pattern.resourceType) || f.pattern.resourceType === ResourceType.UNKNOWN) return `Invalid resource type filter ${f.pattern.resourceType}`;
  if (!PATTERN_TYPE_NAMES.has(f.pattern.patternType) || f.pattern.patternType === PatternType.UNKNOWN) return `Invalid pattern type filter ${f.pattern.patternType}`;
  if (!OPERATION_NAMES.has(f.entry.operation) || f.entry.operation === AclOperation.UNKNOWN) return `Invalid operation filter ${f.entry.operation}`;
  if (!PERMISSION_NAMES.has(f.entry.permissionType) || f.entry.permissionType === AclPermissionType.UNKNOWN) return `Invalid permission type filter ${f.entry.permissionType}`;
  return null;
}

/**
 * Why a binding cannot be created (CreateAcls answers INVALID_REQUEST with it), or null. Kafka's
 * checks (AclApis.handleCreateAcls and AclControlManager.validateNewAcl), with their messages.
 */
export function newBindingProblem(b: AclBinding): string | null {
  const { pattern: p, entry: e } = b;
  if (p.resourceType === ResourceType.CLUSTER && p.name !== CLUSTER_NAME) return `The only valid name for the CLUSTER resource is ${CLUSTER_NAME}`;
  if (p.name === '') return 'Invalid empty resource name';
  if (!RESOURCE_TYPE_NAMES.has(p.resourceType) || p.resourceType === ResourceType.UNKNOWN || p.resourceType === ResourceType.ANY) return `Invalid resourceType ${resourceTypeName(p.resourceType)}`;
  if (p.patternType !== PatternType.LITERAL && p.patternType !== PatternType.PREFIXED) return `Invalid patternType ${patternTypeName(p.patternType)}`;
  if (!OPERATION_NAMES.has(e.operation) || e.operation === AclOperation.UNKNOWN || e.operation === AclOperation.ANY) return `Invalid operation ${operationName(e.operation)}`;
  if (e.permissionType !== AclPermissionType.ALLOW && e.permissionType !== AclPermissionType.DENY) return `Invalid permissionType ${permissionTypeName(e.permissionType)}`;
  if (e.principal.indexOf(':') <= 0) return `Could not parse principal from \`${e.principal}\` (no colon is present separating the principal type from the principal name)`;
  return null;
}

const A = AclOperation;
/** The operations Kafka's ACLs support per resource type (AclEntry.supportedOperations). */
const SUPPORTED: ReadonlyMap<number, readonly number[]> = new Map([
  [ResourceType.TOPIC, [A.READ, A.WRITE, A.CREATE, A.DESCRIBE, A.DELETE, A.ALTER, A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS]],
  [ResourceType.GROUP, [A.READ, A.DESCRIBE, A.DELETE, A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS]],
  [ResourceType.CLUSTER, [A.CREATE, A.CLUSTER_ACTION, A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS, A.IDEMPOTENT_WRITE, A.ALTER, A.DESCRIBE]],
  [ResourceType.TRANSACTIONAL_ID, [A.DESCRIBE, A.WRITE]],
  [ResourceType.DELEGATION_TOKEN, [A.DESCRIBE]],
  [ResourceType.USER, [A.CREATE_TOKENS, A.DESCRIBE_TOKENS]],
]);

export function supportedOperations(resourceType: number): readonly number[] {
  return SUPPORTED.get(resourceType) ?? [];
}

/** ALLOW entries for these operations also allow DESCRIBE (Kafka's implication; not for DENY). */
const IMPLIES_DESCRIBE: ReadonlySet<number> = new Set([A.DESCRIBE, A.READ, A.WRITE, A.DELETE, A.ALTER]);
/** ALLOW entries for these operations also allow DESCRIBE_CONFIGS. */
const IMPLIES_DESCRIBE_CONFIGS: ReadonlySet<number> = new Set([A.DESCRIBE_CONFIGS, A.ALTER_CONFIGS]);

/**
 * Whether an entry's operation covers the requested one: ALL covers everything; an ALLOW entry
 * for READ, WRITE, DELETE or ALTER also covers DESCRIBE, and one for ALTER_CONFIGS covers
 * DESCRIBE_CONFIGS; a DENY entry covers its own operation (and ALL) only, so denying READ does
 * not deny DESCRIBE (Kafka's StandardAuthorizerData.findResult).
 */
export function operationCovers(entryOperation: number, permissionType: number, requested: number): boolean {
  if (entryOperation === A.ALL) return true;
  if (permissionType === AclPermissionType.ALLOW) {
    if (requested === A.DESCRIBE) return IMPLIES_DESCRIBE.has(entryOperation);
    if (requested === A.DESCRIBE_CONFIGS) return IMPLIES_DESCRIBE_CONFIGS.has(entryOperation);
  }
  return entryOperation === requested;
}

/** Java's ResourcePattern.toString (and ResourcePatternFilter's, with `<any>` for a null name). */
export function formatResourcePattern(p: ResourcePattern | ResourcePatternFilter): string {
  return `ResourcePattern(resourceType=${resourceTypeName(p.resourceType)}, name=${p.name ?? '<any>'}, patternType=${patternTypeName(p.patternType)})`;
}

/** Java's AccessControlEntry.toString. */
export function formatEntry(e: AccessControlEntry): string {
  return `(principal=${e.principal}, host=${e.host}, operation=${operationName(e.operation)}, permissionType=${permissionTypeName(e.permissionType)})`;
}

/** Java's AclBinding.toString. */
export function formatBinding(b: AclBinding): string {
  return `(pattern=${formatResourcePattern(b.pattern)}, entry=${formatEntry(b.entry)})`;
}

/** 'IDEMPOTENT_WRITE' → 'IdempotentWrite' (Kafka's SecurityUtils.operationName). */
export function pascalCase(constant: string): string {
  return constant
    .split('_')
    .map((w) => (w === '' ? '' : w[0].toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

/**
 * An operation by name as kafka-acls.sh's --operation takes it (SecurityUtils.operation): the
 * Pascal-case name (IdempotentWrite) in any letter case; null for an unknown name.
 */
export function operationByName(name: string): number | null {
  const wanted = name.toUpperCase();
  for (const [code, constant] of OPERATION_NAMES) {
    if (code === A.UNKNOWN) continue;
    if (pascalCase(constant).toUpperCase() === wanted) return code;
  }
  return null;
}

/** A pattern type by name, in any letter case (kafka-acls.sh's --resource-pattern-type); null for UNKNOWN or an unknown name. */
export function patternTypeByName(name: string): number | null {
  const code = PatternType[name.toUpperCase() as keyof typeof PatternType];
  return code === undefined || code === PatternType.UNKNOWN ? null : code;
}

/** One string per distinct binding (for sets and sorting). */
export function bindingKey(b: AclBinding): string {
  const { pattern: p, entry: e } = b;
  return JSON.stringify([p.resourceType, p.patternType, p.name, e.principal, e.host, e.operation, e.permissionType]);
}

/** Bindings in a stable order: resource type, pattern type, name, then principal, host, operation, permission. */
export function compareBindings(a: AclBinding, b: AclBinding): number {
  const pa = a.pattern;
  const pb = b.pattern;
  if (pa.resourceType !== pb.resourceType) return pa.resourceType - pb.resourceType;
  if (pa.patternType !== pb.patternType) return pa.patternType - pb.patternType;
  if (pa.name !== pb.name) return pa.name < pb.name ? -1 : 1;
  const ea = a.entry;
  const eb = b.entry;
  if (ea.principal !== eb.principal) return ea.principal < eb.principal ? -1 : 1;
  if (ea.host !== eb.host) return ea.host < eb.host ? -1 : 1;
  if (ea.operation !== eb.operation) return ea.operation - eb.operation;
  return ea.permissionType - eb.permissionType;
}
