/**
 * The authorizer's decisions (Kafka's StandardAuthorizer semantics) and its store: ACLs written
 * through one authorizer are seen by another on the same metadata store (two brokers) within the
 * refresh interval, concurrent writers lose nothing, and deletions report what they removed.
 * Every authorizer here runs on a real embedded store in a temporary directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../core/common/logger';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { prefixedKv } from '../../core/meta/versionedKv';
import { ANY_ENTRY, AclOperation as Op, AclPermissionType as Perm, CLUSTER_NAME, PatternType, ResourceType, type AclBinding } from '../../core/security/acl';
import { AclStore } from '../../core/security/aclStore';
import { Authorizer } from '../../core/security/authorizer';
import { TOPIC_AUTHORIZED_OPERATIONS } from '../../core/broker/singleNode';
import { userPrincipal } from '../../core/security/principal';
import { waitFor } from '../helpers/waitFor';

let dir: string;
let kv: EmbeddedKv;
const authorizers: Authorizer[] = [];
const logLines: string[] = [];
const logger = createLogger('authorizer-test', (l) => logLines.push(l));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-acl-'));
  kv = await EmbeddedKv.open(dir);
  logLines.length = 0;
});

afterEach(async () => {
  for (const a of authorizers.splice(0)) a.close();
  await kv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function authorizer(opts: { superUsers?: string[]; allowEveryoneIfNoAclFound?: boolean; refreshIntervalMs?: number } = {}): Promise<Authorizer> {
  const a = await Authorizer.start(new AclStore(prefixedKv(kv, 'ns/acls/')), {
    superUsers: opts.superUsers ?? [],
    allowEveryoneIfNoAclFound: opts.allowEveryoneIfNoAclFound ?? false,
    refreshIntervalMs: opts.refreshIntervalMs,
    logger,
  });
  authorizers.push(a);
  return a;
}

const alice = { principal: userPrincipal('alice'), remoteIp: '10.0.0.1' };
const bob = { principal: userPrincipal('bob'), remoteIp: '10.0.0.2' };
const carol = { principal: userPrincipal('carol'), remoteIp: '10.0.0.3' };

function acl(principal: string, operation: number, resourceType: number, name: string, opts: { patternType?: number; permission?: number; host?: string } = {}): AclBinding {
  return {
    pattern: { resourceType, name, patternType: opts.patternType ?? PatternType.LITERAL },
    entry: { principal, host: opts.host ?? '*', operation, permissionType: opts.permission ?? Perm.ALLOW },
  };
}

const T = ResourceType.TOPIC;
const G = ResourceType.GROUP;

test('alice writes to prefix orders., bob reads orders.eu with group billing; everything else is refused', async () => {
  const a = await authorizer();
  await a.createAcls([
    acl('User:alice', Op.WRITE, T, 'orders.', { patternType: PatternType.PREFIXED }),
    acl('User:bob', Op.READ, T, 'orders.eu'),
    acl('User:bob', Op.READ, G, 'billing'),
  ]);
  expect(a.authorize(alice, Op.WRITE, T, 'orders.eu')).toBe(true);
  expect(a.authorize(alice, Op.WRITE, T, 'orders.us')).toBe(true);
  expect(a.authorize(alice, Op.WRITE, T, 'orders')).toBe(false); // the prefix is 'orders.'
  expect(a.authorize(alice, Op.READ, T, 'orders.eu')).toBe(false);
  expect(a.authorize(alice, Op.DESCRIBE, T, 'orders.eu')).toBe(true); // WRITE implies DESCRIBE
  expect(a.authorize(alice, Op.READ, G, 'billing')).toBe(false);
  expect(a.authorize(bob, Op.READ, T, 'orders.eu')).toBe(true);
  expect(a.authorize(bob, Op.DESCRIBE, T, 'orders.eu')).toBe(true);
  expect(a.authorize(bob, Op.READ, T, 'orders.us')).toBe(false);
  expect(a.authorize(bob, Op.WRITE, T, 'orders.eu')).toBe(false);
  expect(a.authorize(bob, Op.READ, G, 'billing')).toBe(true);
  expect(a.authorize(bob, Op.READ, G, 'other')).toBe(false);
  expect(a.authorize(carol, Op.READ, T, 'orders.eu')).toBe(false);
  expect(a.decisions).toEqual({ allowed: 6, denied: 7 });
});

test('DENY wins over ALLOW, from any matching pattern: literal, * or prefix', async () => {
  const a = await authorizer();
  await a.createAcls([acl('User:*', Op.ALL, T, '*'), acl('User:bob', Op.READ, T, 'secret.', { patternType: PatternType.PREFIXED, permission: Perm.DENY })]);
  expect(a.authorize(bob, Op.READ, T, 'public')).toBe(true);
  expect(a.authorize(bob, Op.READ, T, 'secret.keys')).toBe(false);
  expect(a.authorize(bob, Op.DESCRIBE, T, 'secret.keys')).toBe(true); // DENY READ does not deny DESCRIBE
  expect(a.authorize(alice, Op.READ, T, 'secret.keys')).toBe(true);
  await a.createAcls([acl('User:alice', Op.ALL, T, '*', { permission: Perm.DENY })]);
  expect(a.authorize(alice, Op.DESCRIBE, T, 'public')).toBe(false);
  expect(a.authorize(bob, Op.DESCRIBE, T, 'public')).toBe(true);
});

test('host filters name the client IP address; User:* is every principal', async () => {
  const a = await authorizer();
  await a.createAcls([acl('User:*', Op.READ, T, 'logs', { host: '10.0.0.1' })]);
  expect(a.authorize(alice, Op.READ, T, 'logs')).toBe(true);
  expect(a.authorize({ ...bob, remoteIp: '10.0.0.1' }, Op.READ, T, 'logs')).toBe(true);
  expect(a.authorize(bob, Op.READ, T, 'logs')).toBe(false);
});

test('super users may do anything whatever the ACLs; allow.everyone.if.no.acl.found opens only resources no ACL names', async () => {
  const strict = await authorizer({ superUsers: ['User:admin'] });
  await strict.createAcls([acl('User:admin', Op.ALL, T, '*', { permission: Perm.DENY }), acl('User:bob', Op.READ, T, 'named')]);
  expect(strict.authorize({ principal: userPrincipal('admin'), remoteIp: '::1' }, Op.ALTER, ResourceType.CLUSTER, CLUSTER_NAME)).toBe(true);
  expect(strict.authorize({ principal: userPrincipal('admin'), remoteIp: '::1' }, Op.WRITE, T, 'any')).toBe(true);
  expect(strict.authorize(alice, Op.READ, G, 'unnamed')).toBe(false);

  const open = await authorizer({ allowEveryoneIfNoAclFound: true });
  expect(open.authorize(alice, Op.READ, G, 'unnamed')).toBe(true);
  // 'named' has an ACL (for bob): now only the ACLs decide, for everyone.
  expect(open.authorize(alice, Op.READ, T, 'named')).toBe(false);
  expect(open.authorize(bob, Op.READ, T, 'named')).toBe(true);
  // The DENY * for admin names every topic.
  expect(open.authorize(alice, Op.READ, T, 'other')).toBe(false);
});

test('authorized operations: the supported operations allowed, as a bit field', async () => {
  const a = await authorizer();
  await a.createAcls([acl('User:bob', Op.READ, T, 'orders.eu'), acl('User:bob', Op.ALTER_CONFIGS, T, 'orders.eu')]);
  const bits = (field: number): number[] => [...Array(32).keys()].filter((b) => field & (1 << b));
  expect(bits(a.authorizedOperations(bob, T, 'orders.eu'))).toEqual([Op.READ, Op.DESCRIBE, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS]);
  expect(a.authorizedOperations(alice, T, 'orders.eu')).toBe(0);
  // Without an authorizer: every supported operation (3576 for a topic, as Kafka answers).
  expect(TOPIC_AUTHORIZED_OPERATIONS).toBe(3576);
  // Checks that only shape an answer are neither counted nor logged.
  expect(a.decisions).toEqual({ allowed: 0, denied: 0 });
  expect(logLines.filter((l) => l.includes('Denied'))).toEqual([]);
});

test('idempotent producers: WRITE on some topic, unless a DENY dominates it (authorizeByResourceType)', async () => {
  const a = await authorizer();
  expect(a.authorizeByResourceType(alice, Op.WRITE, T)).toBe(false);
  await a.createAcls([acl('User:alice', Op.WRITE, T, 'orders.', { patternType: PatternType.PREFIXED })]);
  expect(a.authorizeByResourceType(alice, Op.WRITE, T)).toBe(true);
  expect(a.authorizeByResourceType(bob, Op.WRITE, T)).toBe(false);
  await a.createAcls([acl('User:alice', Op.WRITE, T, 'ord', { patternType: PatternType.PREFIXED, permission: Perm.DENY })]);
  expect(a.authorizeByResourceType(alice, Op.WRITE, T)).toBe(false);
});

test('a denial is logged with principal, operation, resource and host', async () => {
  const a = await authorizer();
  expect(a.authorize(bob, Op.WRITE, T, 'orders.eu')).toBe(false);
  expect(logLines.find((l) => l.includes('Denied'))).toContain(
    'Principal = User:bob is Denied operation = Write from host = 10.0.0.2 on resource = Topic:LITERAL:orders.eu based on rule DefaultDeny',
  );
});

test('another broker on the same store sees a change within its refresh interval; deletions report what they removed', async () => {
  const here = await authorizer();
  const there = await authorizer({ refreshIntervalMs: 100 });
  await here.createAcls([acl('User:bob', Op.READ, T, 'orders.eu'), acl('User:bob', Op.READ, G, 'billing')]);
  await waitFor(() => there.authorize(bob, Op.READ, T, 'orders.eu', { log: false }), { timeoutMs: 5000, message: 'the other broker sees the new ACL' });
  const removed = await there.deleteAcls([
    { pattern: { resourceType: ResourceType.ANY, name: 'orders.eu', patternType: PatternType.MATCH }, entry: ANY_ENTRY },
    { pattern: { resourceType: ResourceType.ANY, name: null, patternType: PatternType.ANY }, entry: ANY_ENTRY },
  ]);
  expect(removed).toEqual([[acl('User:bob', Op.READ, T, 'orders.eu')], [acl('User:bob', Op.READ, G, 'billing')]]);
  expect(there.authorize(bob, Op.READ, G, 'billing', { log: false })).toBe(false);
  await here.refresh();
  expect(here.acls({ pattern: { resourceType: ResourceType.ANY, name: null, patternType: PatternType.ANY }, entry: ANY_ENTRY })).toEqual([]);
});

test('concurrent additions to one resource through two brokers are all kept', async () => {
  const one = await authorizer();
  const two = await authorizer();
  const ops = [Op.READ, Op.WRITE, Op.CREATE, Op.DELETE, Op.ALTER, Op.DESCRIBE];
  await Promise.all(ops.map((op, i) => (i % 2 === 0 ? one : two).createAcls([acl('User:alice', op, T, 'shared')])));
  await one.refresh();
  expect(one.acls({ pattern: { resourceType: T, name: 'shared', patternType: PatternType.LITERAL }, entry: ANY_ENTRY }).map((b) => b.entry.operation).sort((x, y) => x - y)).toEqual(ops);
  // Adding what exists changes nothing.
  await one.createAcls([acl('User:alice', Op.READ, T, 'shared')]);
  expect(one.acls({ pattern: { resourceType: T, name: 'shared', patternType: PatternType.LITERAL }, entry: ANY_ENTRY })).toHaveLength(ops.length);
});

test('a name too long for a store key is stored under its hash and read back whole', async () => {
  const a = await authorizer();
  const long = 'g'.repeat(2000);
  await a.createAcls([acl('User:bob', Op.READ, G, long)]);
  const b = await authorizer();
  expect(b.authorize(bob, Op.READ, G, long)).toBe(true);
  expect(b.authorize(bob, Op.READ, G, long.slice(1))).toBe(false);
});
