import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { commonClientOptions, describeAws, resolveAwsSettings, type AwsSettings } from '../common/awsConfig';
import { awsErrorName, storeError } from '../common/awsErrors';
import { StrataError } from '../common/errors';
import {
  ATTR,
  MAX_ITEM_BYTES,
  checkMetadataTable,
  itemBytes,
  metadataTableName,
  partitionKeyOf,
  partitionKeyOfPrefix,
  tableArn,
  type TableContext,
} from './dynamoTable';
import { decodeKvValue, encodeKvValue, type KvValue } from './json';
import { checkExpectedVersion, checkKey, compareKeys, type KvEntry, type VersionedKv } from './versionedKv';

/**
 * VersionedKv on one DynamoDB table (`dynamodb://PREFIX` → table PREFIX-metadata). The table
 * design (keys, item shape, conditions, what the lack of transactions costs) is documented in
 * dynamoTable.ts. Each method is one request (plus paging for list, and one GetItem to word
 * a lost condition), so every guarantee of the port comes from DynamoDB's single-item
 * conditional writes and consistent reads.
 */
export interface DynamoKvOptions {
  /**
   * A client to use instead of one built from the standard AWS configuration (tests wrap
   * theirs to count calls). The store does not destroy a client it was given.
   */
  client?: DynamoDBClient;
  /** Region and endpoint already resolved (required with `client`, for messages). */
  settings?: AwsSettings;
}

type Item = Record<string, AttributeValue>;

export class DynamoKv implements VersionedKv {
  private closed = false;

  private constructor(
    private readonly ctx: TableContext,
    private readonly ownsClient: boolean,
  ) {}

  get tableName(): string {
    return this.ctx.tableName;
  }

  /** Builds the client from the AWS configuration and checks the table (DescribeTable). */
  static async open(tablePrefix: string, opts: DynamoKvOptions = {}): Promise<DynamoKv> {
    const settings = opts.settings ?? (await dynamoSettings());
    const client = opts.client ?? createDynamoClient(settings);
    const ctx: TableContext = {
      client,
      tableName: metadataTableName(tablePrefix),
      prefix: tablePrefix,
      target: describeAws(settings),
      region: settings.region,
    };
    try {
      await checkMetadataTable(ctx);
    } catch (e) {
      if (!opts.client) client.destroy();
      throw e;
    }
    return new DynamoKv(ctx, !opts.client);
  }

  async get(key: string): Promise<KvEntry | null> {
    checkKey(key);
    this.checkOpen();
    const item = await this.getItem(key, 'dynamodb:GetItem');
    return item ? this.toEntry(item) : null;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.checkOpen();
    const pk = partitionKeyOfPrefix(prefix);
    const out: KvEntry[] = [];
    let start: Item | undefined;
    do {
      const page = pk !== null ? await this.queryPage(pk, prefix, start) : await this.scanPage(prefix, start);
      for (const item of page.Items ?? []) out.push(this.toEntry(item));
      start = page.LastEvaluatedKey;
    } while (start);
    // Query returns sort key (UTF-8 byte) order already; a Scan returns no particular order.
    if (pk === null) out.sort((a, b) => compareKeys(a.key, b.key));
    return out;
  }

  async put(key: string, value: KvValue, expectedVersion: number | null): Promise<number> {
    checkKey(key);
    checkExpectedVersion(expectedVersion);
    const json = encodeKvValue(value); // validates the value before anything is sent
    const pk = partitionKeyOf(key);
    const size = itemBytes(pk, key, json);
    if (size > MAX_ITEM_BYTES) {
      throw new TypeError(`metadata value for ${key} makes a ${size}-byte DynamoDB item; the limit is ${MAX_ITEM_BYTES}`);
    }
    this.checkOpen();
    const create = expectedVersion === null || expectedVersion === 0;
    const version = create ? 1 : expectedVersion + 1;
    try {
      await this.ctx.client.send(
        new PutItemCommand({
          TableName: this.ctx.tableName,
          Item: {
            [ATTR.pk]: { S: pk },
            [ATTR.sk]: { S: key },
            [ATTR.value]: { S: json },
            [ATTR.version]: { N: String(version) },
          },
          ...(create
            ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': ATTR.pk } }
            : {
                ConditionExpression: '#ver = :expected',
                ExpressionAttributeNames: { '#ver': ATTR.version },
                ExpressionAttributeValues: { ':expected': { N: String(expectedVersion) } },
              }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return version;
    } catch (e) {
      if (awsErrorName(e) !== 'ConditionalCheckFailedException') throw this.error(e, 'dynamodb:PutItem');
      const found = await this.currentVersion(key, e);
      if (create) throw new StrataError('KEY_EXISTS', `metadata key ${key} already exists${found ? ` (version ${found})` : ''}`);
      throw conflict(key, expectedVersion, found);
    }
  }

  async delete(key: string, expectedVersion?: number): Promise<boolean> {
    checkKey(key);
    checkExpectedVersion(expectedVersion);
    this.checkOpen();
    try {
      const out = await this.ctx.client.send(
        new DeleteItemCommand({
          TableName: this.ctx.tableName,
          Key: this.keyOf(key),
          ReturnValues: 'ALL_OLD',
          ...(expectedVersion === undefined
            ? {}
            : {
                ConditionExpression: '#ver = :expected',
                ExpressionAttributeNames: { '#ver': ATTR.version },
                ExpressionAttributeValues: { ':expected': { N: String(expectedVersion) } },
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
              }),
        }),
      );
      return out.Attributes !== undefined;
    } catch (e) {
      if (awsErrorName(e) !== 'ConditionalCheckFailedException') throw this.error(e, 'dynamodb:DeleteItem');
      const found = await this.currentVersion(key, e);
      if (found === null) throw new StrataError('NOT_FOUND', `metadata key ${key} does not exist`);
      throw conflict(key, expectedVersion!, found);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.ctx.client.destroy();
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('CLOSED', `metadata store (DynamoDB table ${this.ctx.tableName}) is closed`);
  }

  private keyOf(key: string): Item {
    return { [ATTR.pk]: { S: partitionKeyOf(key) }, [ATTR.sk]: { S: key } };
  }

  private async getItem(key: string, action: string): Promise<Item | null> {
    try {
      const out = await this.ctx.client.send(new GetItemCommand({ TableName: this.ctx.tableName, Key: this.keyOf(key), ConsistentRead: true }));
      return out.Item ?? null;
    } catch (e) {
      throw this.error(e, action);
    }
  }

  /** The version a failed condition met: from the error (DynamoDB returns it) or a consistent read. */
  private async currentVersion(key: string, conditionError: unknown): Promise<number | null> {
    const returned = (conditionError as { Item?: Item }).Item;
    const item = returned ?? (await this.getItem(key, 'dynamodb:GetItem'));
    return item ? this.versionOf(item) : null;
  }

  private queryPage(pk: string, prefix: string, start: Item | undefined) {
    return this.ctx.client
      .send(
        new QueryCommand({
          TableName: this.ctx.tableName,
          ConsistentRead: true,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': ATTR.pk, '#sk': ATTR.sk },
          ExpressionAttributeValues: { ':pk': { S: pk }, ':prefix': { S: prefix } },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      )
      .catch((e: unknown) => {
        throw this.error(e, 'dynamodb:Query');
      });
  }

  private scanPage(prefix: string, start: Item | undefined) {
    return this.ctx.client
      .send(
        new ScanCommand({
          TableName: this.ctx.tableName,
          ConsistentRead: true,
          ...(prefix === ''
            ? {}
            : {
                FilterExpression: 'begins_with(#sk, :prefix)',
                ExpressionAttributeNames: { '#sk': ATTR.sk },
                ExpressionAttributeValues: { ':prefix': { S: prefix } },
              }),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      )
      .catch((e: unknown) => {
        throw this.error(e, 'dynamodb:Scan');
      });
  }

  private versionOf(item: Item): number {
    const n = Number(item[ATTR.version]?.N);
    if (!Number.isSafeInteger(n) || n < 1) throw this.malformed(item);
    return n;
  }

  private toEntry(item: Item): KvEntry {
    const key = item[ATTR.sk]?.S;
    const json = item[ATTR.value]?.S;
    if (key === undefined || json === undefined) throw this.malformed(item);
    let value: KvValue;
    try {
      value = decodeKvValue(json);
    } catch {
      throw this.malformed(item);
    }
    return { key, value, version: this.versionOf(item) };
  }

  private malformed(item: Item): StrataError {
    return new StrataError('STORAGE_IO', `item ${JSON.stringify(item[ATTR.sk]?.S ?? '?')} in DynamoDB table ${this.ctx.tableName} is not a Strata metadata entry`);
  }

  private error(e: unknown, action: string): StrataError {
    return storeError(e, { action, resource: `DynamoDB table '${this.ctx.tableName}'`, arn: tableArn(this.ctx), target: this.ctx.target });
  }
}

function conflict(key: string, expected: number, found: number | null): StrataError {
  return new StrataError('VERSION_CONFLICT', `metadata key ${key}: expected version ${expected}, found ${found === null ? 'no entry' : `version ${found}`}`);
}

/** Region and endpoint for DynamoDB from the standard AWS configuration (see awsConfig.ts). */
export function dynamoSettings(): Promise<AwsSettings> {
  return resolveAwsSettings('dynamodb', async () => {
    const probe = new DynamoDBClient({});
    try {
      return await probe.config.region();
    } finally {
      probe.destroy();
    }
  });
}

export function createDynamoClient(settings: AwsSettings): DynamoDBClient {
  return new DynamoDBClient(commonClientOptions(settings));
}
