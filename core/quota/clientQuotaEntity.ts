/**
 * Client quota entities and keys as Kafka names them (ClientQuotaEntity, QuotaConfigs): an
 * entity is a user, a client id, or a user and a client id, each either named or the default
 * (null), e.g. { user: 'alice', clientId: null } is Kafka's /config/users/alice/clients/<default>.
 * Kafka's third entity type, ip (connection_creation_rate), and controller_mutation_rate are not
 * enforced by Strata, so they are refused rather than stored and ignored.
 */

export const USER = 'user';
export const CLIENT_ID = 'client-id';
export const IP = 'ip';

/** DescribeClientQuotas' match types (ClientQuotaFilterComponent): a name, the default, any name. */
export const MATCH_TYPE_EXACT = 0;
export const MATCH_TYPE_DEFAULT = 1;
export const MATCH_TYPE_SPECIFIED = 2;

/** The quota keys Strata enforces, with Kafka's types: byte rates are longs, request_percentage a double. */
export const QUOTA_KEYS = ['producer_byte_rate', 'consumer_byte_rate', 'request_percentage'] as const;
export type QuotaKey = (typeof QUOTA_KEYS)[number];
const LONG_KEYS: ReadonlySet<string> = new Set(['producer_byte_rate', 'consumer_byte_rate']);
/** Kafka quota keys Strata does not enforce (refused with a message saying so). */
const UNENFORCED_KEYS: ReadonlySet<string> = new Set(['controller_mutation_rate', 'connection_creation_rate']);

export function isQuotaKey(k: string): k is QuotaKey {
  return (QUOTA_KEYS as readonly string[]).includes(k);
}

/**
 * Which names an entity has: undefined = the entity has no such part; null = the default;
 * a string = that user (principal name) or client id.
 */
export interface ClientQuotaEntity {
  readonly user?: string | null;
  readonly clientId?: string | null;
}

export type QuotaValues = Partial<Record<QuotaKey, number>>;

/** A refusal Kafka answers INVALID_REQUEST, with its message. */
export class QuotaEntityError extends Error {}

/**
 * The entity of a request's (entity type, name) pairs, checked as Kafka's
 * ClientQuotaControlManager does: known types, no type twice, no empty name, a supported
 * combination.
 */
export function entityFromWire(parts: ReadonlyArray<{ entityType: string; entityName: string | null }>): ClientQuotaEntity {
  if (parts.length === 0) throw new QuotaEntityError('Invalid empty client quota entity');
  const seen = new Set<string>();
  let user: string | null | undefined;
  let clientId: string | null | undefined;
  for (const { entityType, entityName } of parts) {
    if (seen.has(entityType)) throw new QuotaEntityError(`Invalid empty client quota entity, duplicate entity entry ${entityType}`);
    seen.add(entityType);
    if (entityType === USER) user = entityName;
    else if (entityType === CLIENT_ID) clientId = entityName;
    else if (entityType === IP) throw new QuotaEntityError('Strata does not enforce ip quotas (connection_creation_rate): only user and client-id entities are accepted');
    else throw new QuotaEntityError(`Unhandled client quota entity type: ${entityType}`);
    if (entityName !== null && entityName === '') throw new QuotaEntityError(`Empty ${entityType} not supported`);
  }
  return { user, clientId };
}

export function entityToWire(e: ClientQuotaEntity): Array<{ entityType: string; entityName: string | null }> {
  const out: Array<{ entityType: string; entityName: string | null }> = [];
  if (e.user !== undefined) out.push({ entityType: USER, entityName: e.user });
  if (e.clientId !== undefined) out.push({ entityType: CLIENT_ID, entityName: e.clientId });
  return out;
}

/** Refuses a key or value Kafka's ClientQuotaControlManager would (INVALID_REQUEST); returns the key. */
export function checkQuotaValue(key: string, value: number): QuotaKey {
  if (UNENFORCED_KEYS.has(key)) throw new QuotaEntityError(`Strata does not enforce ${key}: only ${QUOTA_KEYS.join(', ')} can be set`);
  if (!isQuotaKey(key)) throw new QuotaEntityError(`Invalid configuration key ${key}`);
  if (LONG_KEYS.has(key)) {
    const epsilon = 1e-6;
    const asLong = Math.trunc(value + epsilon);
    if (!Number.isFinite(value) || Math.abs(asLong - value) > epsilon) throw new QuotaEntityError(`Configuration ${key} must be a Long value`);
  }
  // Kafka stores any number; a quota of zero or less (or NaN) would throttle every request forever.
  if (!(value > 0) || !Number.isFinite(value)) throw new QuotaEntityError(`Configuration ${key} must be a positive number, got ${value}`);
  return key;
}

const DEFAULT = '<default>';

/**
 * The entity's path, Kafka's ZooKeeper layout: users/<user>, users/<user>/clients/<client-id>,
 * clients/<client-id>, names URI-encoded (so '/' and '<default>' as names cannot clash with the
 * separators and the default).
 */
export function entityPath(e: ClientQuotaEntity): string {
  const name = (n: string | null): string => (n === null ? DEFAULT : encodeURIComponent(n));
  if (e.user !== undefined && e.clientId !== undefined) return `users/${name(e.user)}/clients/${name(e.clientId)}`;
  if (e.user !== undefined) return `users/${name(e.user)}`;
  if (e.clientId !== undefined) return `clients/${name(e.clientId)}`;
  throw new QuotaEntityError('Invalid empty client quota entity');
}

/** The inverse of entityPath; null for a path that is not one. */
export function parseEntityPath(path: string): ClientQuotaEntity | null {
  const name = (n: string): string | null => (n === DEFAULT ? null : decodeURIComponent(n));
  const p = path.split('/');
  try {
    if (p.length === 4 && p[0] === 'users' && p[2] === 'clients') return { user: name(p[1]), clientId: name(p[3]) };
    if (p.length === 2 && p[0] === 'users') return { user: name(p[1]) };
    if (p.length === 2 && p[0] === 'clients') return { clientId: name(p[1]) };
  } catch {
    return null; // a malformed %-escape
  }
  return null;
}

/** "user-principal 'alice', the default client-id", as kafka-configs.sh names an entity. */
export function describeEntity(e: ClientQuotaEntity): string {
  const part = (type: string, n: string | null | undefined): string[] => (n === undefined ? [] : [n === null ? `the default ${type}` : `${type} '${n}'`]);
  return [...part('user-principal', e.user), ...part('client-id', e.clientId)].join(', ');
}
