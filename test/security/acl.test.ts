/**
 * The ACL model: Kafka's filter matching (ResourcePatternFilter / AccessControlEntryFilter,
 * including the MATCH pattern type), the implications between operations, validation of new
 * bindings with Kafka's messages, and the text forms kafka-acls.sh prints.
 */
import {
  AclOperation as Op,
  AclPermissionType as Perm,
  ANY_ENTRY,
  PatternType,
  ResourceType,
  entryFilterMatches,
  filterProblem,
  formatEntry,
  formatResourcePattern,
  newBindingProblem,
  operationByName,
  operationCovers,
  patternFilterMatches,
  patternTypeByName,
  type AclBinding,
  type ResourcePattern,
} from '../../core/security/acl';

const topic = (name: string, patternType: number = PatternType.LITERAL): ResourcePattern => ({ resourceType: ResourceType.TOPIC, name, patternType });

describe('resource pattern filters', () => {
  const patterns = [topic('orders'), topic('*'), topic('ord', PatternType.PREFIXED), topic('orders.eu', PatternType.PREFIXED), topic('payments')];
  const names = (f: Parameters<typeof patternFilterMatches>[0]): string[] => patterns.filter((p) => patternFilterMatches(f, p)).map((p) => `${p.name}/${p.patternType}`);

  test('a specific pattern type matches that type and the exact name only', () => {
    expect(names({ resourceType: ResourceType.TOPIC, name: 'orders', patternType: PatternType.LITERAL })).toEqual(['orders/3']);
    expect(names({ resourceType: ResourceType.TOPIC, name: 'ord', patternType: PatternType.PREFIXED })).toEqual(['ord/4']);
    expect(names({ resourceType: ResourceType.TOPIC, name: 'orders', patternType: PatternType.PREFIXED })).toEqual([]);
  });

  test('ANY matches the exact name whatever the pattern type; a null name matches every name', () => {
    expect(names({ resourceType: ResourceType.TOPIC, name: 'ord', patternType: PatternType.ANY })).toEqual(['ord/4']);
    expect(names({ resourceType: ResourceType.ANY, name: null, patternType: PatternType.ANY })).toHaveLength(5);
    expect(names({ resourceType: ResourceType.GROUP, name: null, patternType: PatternType.ANY })).toEqual([]);
  });

  test('MATCH matches every pattern that applies to the name: itself, the * literal and its prefixes', () => {
    expect(names({ resourceType: ResourceType.TOPIC, name: 'orders.eu.1', patternType: PatternType.MATCH })).toEqual(['*/3', 'ord/4', 'orders.eu/4']);
    expect(names({ resourceType: ResourceType.TOPIC, name: 'orders', patternType: PatternType.MATCH })).toEqual(['orders/3', '*/3', 'ord/4']);
    expect(names({ resourceType: ResourceType.TOPIC, name: 'payments', patternType: PatternType.MATCH })).toEqual(['*/3', 'payments/3']);
  });

  test('entry filters match exact values (User:* is not expanded), ANY and null match all', () => {
    const e = { principal: 'User:*', host: '*', operation: Op.READ, permissionType: Perm.ALLOW };
    expect(entryFilterMatches(ANY_ENTRY, e)).toBe(true);
    expect(entryFilterMatches({ ...ANY_ENTRY, principal: 'User:alice' }, e)).toBe(false);
    expect(entryFilterMatches({ ...ANY_ENTRY, principal: 'User:*', operation: Op.READ, permissionType: Perm.ALLOW }, e)).toBe(true);
    expect(entryFilterMatches({ ...ANY_ENTRY, operation: Op.WRITE }, e)).toBe(false);
    expect(entryFilterMatches({ ...ANY_ENTRY, host: '10.0.0.1' }, e)).toBe(false);
  });

  test('filters with UNKNOWN elements are refused', () => {
    const any = { pattern: { resourceType: ResourceType.ANY, name: null, patternType: PatternType.ANY }, entry: ANY_ENTRY };
    expect(filterProblem(any)).toBeNull();
    expect(filterProblem({ ...any, pattern: { ...any.pattern, resourceType: ResourceType.UNKNOWN } })).toMatch(/resource type/);
    expect(filterProblem({ ...any, pattern: { ...any.pattern, patternType: 9 } })).toMatch(/pattern type/);
    expect(filterProblem({ ...any, entry: { ...ANY_ENTRY, operation: Op.UNKNOWN } })).toMatch(/operation/);
    expect(filterProblem({ ...any, entry: { ...ANY_ENTRY, permissionType: 0 } })).toMatch(/permission/);
  });
});

describe('operations', () => {
  test('ALLOW READ, WRITE, DELETE and ALTER imply DESCRIBE; ALLOW ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL covers all', () => {
    for (const op of [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.DESCRIBE]) expect([op, operationCovers(op, Perm.ALLOW, Op.DESCRIBE)]).toEqual([op, true]);
    for (const op of [Op.CREATE, Op.CLUSTER_ACTION, Op.IDEMPOTENT_WRITE, Op.ALTER_CONFIGS]) expect([op, operationCovers(op, Perm.ALLOW, Op.DESCRIBE)]).toEqual([op, false]);
    expect(operationCovers(Op.ALTER_CONFIGS, Perm.ALLOW, Op.DESCRIBE_CONFIGS)).toBe(true);
    expect(operationCovers(Op.READ, Perm.ALLOW, Op.WRITE)).toBe(false);
    expect(operationCovers(Op.ALL, Perm.ALLOW, Op.IDEMPOTENT_WRITE)).toBe(true);
    expect(operationCovers(Op.ALL, Perm.DENY, Op.DESCRIBE)).toBe(true);
  });

  test('a DENY entry covers its own operation only: denying READ does not deny DESCRIBE', () => {
    expect(operationCovers(Op.READ, Perm.DENY, Op.DESCRIBE)).toBe(false);
    expect(operationCovers(Op.ALTER_CONFIGS, Perm.DENY, Op.DESCRIBE_CONFIGS)).toBe(false);
    expect(operationCovers(Op.READ, Perm.DENY, Op.READ)).toBe(true);
  });

  test('names as kafka-acls.sh takes them: Pascal case in any letter case', () => {
    expect(operationByName('Write')).toBe(Op.WRITE);
    expect(operationByName('IdempotentWrite')).toBe(Op.IDEMPOTENT_WRITE);
    expect(operationByName('idempotentwrite')).toBe(Op.IDEMPOTENT_WRITE);
    expect(operationByName('DESCRIBECONFIGS')).toBe(Op.DESCRIBE_CONFIGS);
    expect(operationByName('All')).toBe(Op.ALL);
    expect(operationByName('Fly')).toBeNull();
    expect(patternTypeByName('prefixed')).toBe(PatternType.PREFIXED);
    expect(patternTypeByName('Match')).toBe(PatternType.MATCH);
    expect(patternTypeByName('unknown')).toBeNull();
  });
});

describe('new bindings', () => {
  const ok: AclBinding = { pattern: topic('orders'), entry: { principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Perm.ALLOW } };

  test('a well-formed binding passes', () => {
    expect(newBindingProblem(ok)).toBeNull();
    expect(newBindingProblem({ ...ok, pattern: topic('orders.', PatternType.PREFIXED) })).toBeNull();
  });

  test.each([
    [{ ...ok, pattern: { resourceType: ResourceType.CLUSTER, name: 'other', patternType: PatternType.LITERAL } }, 'The only valid name for the CLUSTER resource is kafka-cluster'],
    [{ ...ok, pattern: topic('') }, 'Invalid empty resource name'],
    [{ ...ok, pattern: { ...ok.pattern, resourceType: ResourceType.ANY } }, 'Invalid resourceType ANY'],
    [{ ...ok, pattern: topic('x', PatternType.MATCH) }, 'Invalid patternType MATCH'],
    [{ ...ok, entry: { ...ok.entry, operation: Op.ANY } }, 'Invalid operation ANY'],
    [{ ...ok, entry: { ...ok.entry, permissionType: Perm.ANY } }, 'Invalid permissionType ANY'],
    [{ ...ok, entry: { ...ok.entry, principal: 'alice' } }, 'Could not parse principal from `alice` (no colon is present separating the principal type from the principal name)'],
  ])('refused: %#', (binding, message) => {
    expect(newBindingProblem(binding as AclBinding)).toBe(message);
  });
});

test('text forms are Java toString output, as kafka-acls.sh prints them', () => {
  expect(formatResourcePattern(topic('orders.', PatternType.PREFIXED))).toBe('ResourcePattern(resourceType=TOPIC, name=orders., patternType=PREFIXED)');
  expect(formatResourcePattern({ resourceType: ResourceType.TRANSACTIONAL_ID, name: null, patternType: PatternType.ANY })).toBe('ResourcePattern(resourceType=TRANSACTIONAL_ID, name=<any>, patternType=ANY)');
  expect(formatEntry({ principal: 'User:alice', host: '*', operation: Op.IDEMPOTENT_WRITE, permissionType: Perm.DENY })).toBe(
    '(principal=User:alice, host=*, operation=IDEMPOTENT_WRITE, permissionType=DENY)',
  );
});

describe('broker configs', () => {
  // Imported here so the model tests above need nothing else.
  const { loadBrokerConfig } = require('../../core/config/brokerConfig') as typeof import('../../core/config/brokerConfig');

  test('authorizer.class.name: empty (no authorization) by default; Kafka\'s class names mean Strata\'s authorizer; others are refused', () => {
    expect(loadBrokerConfig({ flags: {} })).toMatchObject({ authorizerClassName: '', superUsers: [], allowEveryoneIfNoAclFound: false });
    for (const name of ['org.apache.kafka.metadata.authorizer.StandardAuthorizer', 'kafka.security.authorizer.AclAuthorizer']) {
      expect(loadBrokerConfig({ flags: { 'authorizer.class.name': name } }).authorizerClassName).toBe(name);
    }
    expect(() => loadBrokerConfig({ flags: { 'authorizer.class.name': 'com.example.MyAuthorizer' } })).toThrow(/'com.example.MyAuthorizer' is not one of them/);
  });

  test('super.users is semicolon-separated principals; allow.everyone.if.no.acl.found a boolean', () => {
    const c = loadBrokerConfig({ flags: { 'super.users': 'User:admin; User:broker;', 'allow.everyone.if.no.acl.found': 'true' } });
    expect(c.superUsers).toEqual(['User:admin', 'User:broker']);
    expect(c.allowEveryoneIfNoAclFound).toBe(true);
    expect(() => loadBrokerConfig({ flags: { 'super.users': 'admin' } })).toThrow(/'admin' is not a principal/);
  });
});
