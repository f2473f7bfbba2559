import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { awsErrorName, storeError } from '../common/awsErrors';
import { StrataError } from '../common/errors';

/**
 * The DynamoDB table behind `dynamodb://PREFIX`: one table, `PREFIX-metadata`, holding every
 * VersionedKv entry as one item.
 *
 *   attribute  type  role
 *   pk         S     partition key: the key's "collection" (see below)
 *   sk         S     sort key: the whole key (non-empty, ≤ 1024 bytes: checkKey's limit is
 *                    DynamoDB's sort key limit)
 *   v          S     the value as bigint-safe JSON (json.ts), so offsets never pass through a double
 *   ver        N     the version: 1 on creation, +1 per successful put
 *
 * Billing: on demand (PAY_PER_REQUEST). No secondary indexes, no TTL, no streams.
 *
 * Partition key. A listing must be one Query, i.e. one partition key, so pk is the key up to
 * and including its N-th '/', where N is 2 for keys under `partition/` and `ns/` and 1 for
 * all others (a key with fewer slashes is its own pk):
 *
 *   key                                  pk                        listed by
 *   cluster                              cluster                   (get only)
 *   topic/orders                         topic/                    listTopics: Query pk = topic/
 *   partition/<topicId>/0000000007       partition/<topicId>/      listPartitionStates: one topic's states
 *   broker/0000000003                    broker/                   listBrokers
 *   pending/<topicId>                    pending/                  collectOrphans
 *   ns/offsets/<group>/<topic>/<p>       ns/offsets/               namespace('offsets').list(anything):
 *   ns/remote-segments/<topicId>/…       ns/remote-segments/       Query pk = ns/<name>/, begins_with(sk, prefix)
 *
 * So list(prefix) is a single-partition Query (ConsistentRead, paged by LastEvaluatedKey,
 * `begins_with(sk, prefix)`) whenever the prefix contains its collection's N slashes, which
 * every prefix the metadata store and the namespaces use does. A shorter prefix ('', 'top')
 * could span collections and is answered by a consistent, paged Scan with the same filter;
 * nothing in the broker lists that way (tools and tests do).
 * Partition states get one partition key per topic because leaders update them independently;
 * a namespace is one partition key, so that loading all committed offsets or all remote
 * segments is one Query. DynamoDB splits a hot item collection by sort key range ("split for
 * heat", possible because the table has no local secondary index), so one pk does not cap
 * a namespace at one partition's throughput.
 *
 * Writes. Every change is a single-item conditional write; there is no TransactWriteItems:
 *   create   PutItem  ConditionExpression attribute_not_exists(pk)      → else KEY_EXISTS
 *   update   PutItem  ConditionExpression ver = :expected                → else VERSION_CONFLICT
 *   delete   DeleteItem, unconditional (idempotent), or ver = :expected  → else NOT_FOUND / VERSION_CONFLICT
 * A failed condition's current item comes back with ReturnValuesOnConditionCheckFailure
 * (or from a consistent GetItem where an emulator does not return it) only to word the error.
 * What the missing transactions cost: createTopic writes each partition state and then the
 * topic record (N+1 writes; a crash in between leaves partition states under a topic id no
 * topic names), and deleteTopic removes the topic record first and its partition states after
 * (a crash leaves the same kind of orphans). Both are invisible to readers, which start from
 * the topic record; an intent item (`pending/<topicId>`) written first and removed last lets
 * MetadataStore.collectOrphans find and delete them (two more writes per create or delete).
 *
 * Reads. GetItem and Query with ConsistentRead: a read after an acknowledged write sees it.
 * Item size. DynamoDB's 400 KB counts attribute names and the keys too; an entry over it is
 * refused with a TypeError before anything is sent (the embedded store caps the value alone
 * at 400 KiB, so its limit is a few bytes more generous).
 */
export const METADATA_TABLE_SUFFIX = '-metadata';

export const ATTR = { pk: 'pk', sk: 'sk', value: 'v', version: 'ver' } as const;

/** DynamoDB's item size limit, attribute names included. */
export const MAX_ITEM_BYTES = 400 * 1024;

/** Collections whose partition key spans two path segments. */
const TWO_SEGMENT_COLLECTIONS = new Set(['partition', 'ns']);

function depthOf(firstSegment: string): number {
  return TWO_SEGMENT_COLLECTIONS.has(firstSegment) ? 2 : 1;
}

/** The key up to and including its n-th '/', or null when it has fewer. */
function throughNthSlash(s: string, n: number): string | null {
  let at = -1;
  for (let i = 0; i < n; i++) {
    at = s.indexOf('/', at + 1);
    if (at < 0) return null;
  }
  return s.slice(0, at + 1);
}

/** The partition key of `key` (see the table above). */
export function partitionKeyOf(key: string): string {
  const slash = key.indexOf('/');
  if (slash < 0) return key;
  return throughNthSlash(key, depthOf(key.slice(0, slash))) ?? key;
}

/**
 * The one partition key every key starting with `prefix` has, or null when such keys can
 * lie in several partitions (the listing then needs a Scan).
 */
export function partitionKeyOfPrefix(prefix: string): string | null {
  const slash = prefix.indexOf('/');
  if (slash < 0) return null;
  return throughNthSlash(prefix, depthOf(prefix.slice(0, slash)));
}

/** The size DynamoDB bills and limits for an item of ours (numbers counted at their maximum). */
export function itemBytes(pk: string, sk: string, encodedValue: string): number {
  const names = ATTR.pk.length + ATTR.sk.length + ATTR.value.length + ATTR.version.length;
  return names + Buffer.byteLength(pk) + Buffer.byteLength(sk) + Buffer.byteLength(encodedValue) + 21;
}

/** `dynamodb://PREFIX` → the prefix and the table name. */
export function parseDynamoUrl(url: string): { prefix: string; tableName: string } {
  const m = /^dynamodb:\/\/([^/?#]*)\/?$/.exec(url);
  const prefix = m?.[1] ?? '';
  if (!m || !/^[A-Za-z0-9_.-]+$/.test(prefix)) {
    throw new StrataError(
      'CONFIG_INVALID',
      `Invalid metadata store URL '${url}': expected dynamodb://TABLE_PREFIX, where the prefix is letters, digits, '_', '-' or '.' (the table is TABLE_PREFIX${METADATA_TABLE_SUFFIX})`,
    );
  }
  const tableName = metadataTableName(prefix);
  if (tableName.length > 255) throw new StrataError('CONFIG_INVALID', `Invalid metadata store URL '${url}': the table name ${tableName} is longer than 255 characters`);
  return { prefix, tableName };
}

export function metadataTableName(prefix: string): string {
  return prefix + METADATA_TABLE_SUFFIX;
}

/** The CreateTable input for the metadata table (aws-init; the LocalStack hook mirrors it). */
export function metadataTableDefinition(tableName: string): ConstructorParameters<typeof CreateTableCommand>[0] {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: ATTR.pk, AttributeType: 'S' },
      { AttributeName: ATTR.sk, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: ATTR.pk, KeyType: 'HASH' },
      { AttributeName: ATTR.sk, KeyType: 'RANGE' },
    ],
  };
}

export interface TableContext {
  client: DynamoDBClient;
  tableName: string;
  /** The dynamodb:// prefix, for the fix in messages. */
  prefix: string;
  /** describeAws(...) */
  target: string;
  region: string;
}

export function tableArn(ctx: Pick<TableContext, 'region' | 'tableName'>): string {
  return `arn:aws:dynamodb:${ctx.region}:*:table/${ctx.tableName}`;
}

function createHint(prefix: string): string {
  return `create it with \`strata aws-init --metadata dynamodb://${prefix}\` or the LocalStack init hook (localstack/init/ready.d/init-strata.sh)`;
}

async function describe(ctx: TableContext): Promise<TableDescription | null> {
  try {
    const out = await ctx.client.send(new DescribeTableCommand({ TableName: ctx.tableName }));
    return out.Table ?? null;
  } catch (e) {
    if (awsErrorName(e) === 'ResourceNotFoundException') return null;
    throw storeError(e, { action: 'dynamodb:DescribeTable', resource: `DynamoDB table '${ctx.tableName}'`, arn: tableArn(ctx), target: ctx.target });
  }
}

/** Throws CONFIG_INVALID unless the table has our key schema (pk S HASH, sk S RANGE). */
function checkSchema(ctx: TableContext, t: TableDescription): void {
  const key = (t.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).sort().join(',');
  const types = new Map((t.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]));
  if (key !== `${ATTR.pk}:HASH,${ATTR.sk}:RANGE` || types.get(ATTR.pk) !== 'S' || types.get(ATTR.sk) !== 'S') {
    throw new StrataError(
      'CONFIG_INVALID',
      `DynamoDB table '${ctx.tableName}' (${ctx.target}) does not have Strata's key schema (partition key pk: S, sort key sk: S); ` +
        `it has ${(t.KeySchema ?? []).map((k) => `${k.AttributeName} ${k.KeyType}`).join(', ') || 'no keys'}. Use another dynamodb:// prefix or recreate the table with \`strata aws-init\`.`,
    );
  }
}

/**
 * The broker's startup check: the table exists, is usable and has our schema. Strata never
 * creates tables itself: who owns the table (CDK, Terraform, aws-init) is the operator's choice.
 */
export async function checkMetadataTable(ctx: TableContext): Promise<void> {
  const t = await describe(ctx);
  if (!t) {
    throw new StrataError('STORE_NOT_FOUND', `DynamoDB table '${ctx.tableName}' does not exist (${ctx.target}): ${createHint(ctx.prefix)}`);
  }
  checkSchema(ctx, t);
  if (t.TableStatus !== 'ACTIVE' && t.TableStatus !== 'UPDATING') {
    throw new StrataError('STORE_UNAVAILABLE', `DynamoDB table '${ctx.tableName}' is ${t.TableStatus} (${ctx.target}); start the broker once it is ACTIVE`);
  }
}

/**
 * aws-init: creates the table (on demand) unless it exists, and waits until it is ACTIVE.
 * Idempotent, and safe against a concurrent creator (ResourceInUseException is "exists").
 */
export async function ensureMetadataTable(ctx: TableContext, opts: { waitTimeoutMs?: number; pollMs?: number } = {}): Promise<'created' | 'exists'> {
  let outcome: 'created' | 'exists' = 'exists';
  let t = await describe(ctx);
  if (!t) {
    try {
      await ctx.client.send(new CreateTableCommand(metadataTableDefinition(ctx.tableName)));
      outcome = 'created';
    } catch (e) {
      if (awsErrorName(e) !== 'ResourceInUseException') {
        throw storeError(e, { action: 'dynamodb:CreateTable', resource: `DynamoDB table '${ctx.tableName}'`, arn: tableArn(ctx), target: ctx.target });
      }
    }
    t = await describe(ctx);
  }
  const deadline = Date.now() + (opts.waitTimeoutMs ?? 5 * 60_000);
  while (!t || t.TableStatus !== 'ACTIVE') {
    if (t?.TableStatus === 'DELETING') throw new StrataError('STORE_UNAVAILABLE', `DynamoDB table '${ctx.tableName}' is being deleted (${ctx.target}); run aws-init again once it is gone`);
    if (Date.now() > deadline) throw new StrataError('STORE_UNAVAILABLE', `DynamoDB table '${ctx.tableName}' is still ${t?.TableStatus ?? 'missing'} (${ctx.target})`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    t = await describe(ctx);
  }
  checkSchema(ctx, t);
  return outcome;
}
