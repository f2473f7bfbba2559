import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describeAws, type AwsSettings } from '../../core/common/awsConfig';
import { isStrataError } from '../../core/common/errors';
import { createDynamoClient, DynamoKv, dynamoSettings } from '../../core/meta/dynamoKv';
import {
  checkMetadataTable,
  ensureMetadataTable,
  itemBytes,
  metadataTableName,
  parseDynamoUrl,
  partitionKeyOf,
  partitionKeyOfPrefix,
  type TableContext,
} from '../../core/meta/dynamoTable';
import { openMetadataStore } from '../../core/meta/url';
import { startEmulators, useEnv, type Emulators } from '../helpers/emulators';

describe('partition keys: every prefix the metadata store lists is one partition', () => {
  test.each([
    ['cluster', 'cluster'],
    ['topic/orders', 'topic/'],
    ['topic/a/b', 'topic/'],
    ['broker/0000000003', 'broker/'],
    ['partition/AAAAAAAAAAAAAAAAAAAAAg/0000000007', 'partition/AAAAAAAAAAAAAAAAAAAAAg/'],
    ['ns/offsets/g1/orders/0', 'ns/offsets/'],
    ['ns/remote-segments/AAAAAAAAAAAAAAAAAAAAAg/3/00000000000000000042', 'ns/remote-segments/'],
    ['ns/x', 'ns/x'],
    ['t-z', 't-z'],
  ])('%s → %s', (key, pk) => {
    expect(partitionKeyOf(key)).toBe(pk);
  });

  test.each([
    ['topic/', 'topic/'],
    ['topic/ord', 'topic/'],
    ['partition/AAAAAAAAAAAAAAAAAAAAAg/', 'partition/AAAAAAAAAAAAAAAAAAAAAg/'],
    ['broker/', 'broker/'],
    ['ns/offsets/', 'ns/offsets/'],
    ['ns/offsets/g1/', 'ns/offsets/'],
    ['', null],
    ['top', null],
    ['partition/', null],
    ['partition/AAAA', null],
    ['ns/', null],
    ['ns/off', null],
  ])('prefix %j → %j', (prefix, pk) => {
    expect(partitionKeyOfPrefix(prefix)).toBe(pk);
  });

  test('every key with a resolvable prefix has that prefix\'s partition key', () => {
    const keys = ['topic/a', 'topic/ab/c', 'ns/offsets/g/t/0', 'ns/offsets/', 'partition/id/0000000001', 'broker/0000000001'];
    for (const key of keys) {
      for (let n = 0; n <= key.length; n++) {
        const pk = partitionKeyOfPrefix(key.slice(0, n));
        if (pk !== null) expect(partitionKeyOf(key)).toBe(pk);
      }
    }
  });

  test('item size counts attribute names, keys and the value', () => {
    expect(itemBytes('topic/', 'topic/a', '"x"')).toBe(2 + 2 + 1 + 3 + 6 + 7 + 3 + 21);
    expect(itemBytes('p/', 'p/é', '""')).toBe(8 + 2 + 4 + 2 + 21);
  });
});

describe('dynamodb:// URLs', () => {
  test('the prefix names the table PREFIX-metadata', () => {
    expect(parseDynamoUrl('dynamodb://strata')).toEqual({ prefix: 'strata', tableName: 'strata-metadata' });
    expect(parseDynamoUrl('dynamodb://prod.eu_1-x/')).toEqual({ prefix: 'prod.eu_1-x', tableName: 'prod.eu_1-x-metadata' });
  });

  test.each([
    ['no prefix', 'dynamodb://'],
    ['a path', 'dynamodb://a/b'],
    ['a space', 'dynamodb://with space'],
    ['a query', 'dynamodb://x?region=eu'],
    ['a table name over 255 characters', `dynamodb://${'p'.repeat(250)}`],
  ])('%s is refused', (_what, url) => {
    let err: unknown;
    try {
      parseDynamoUrl(url);
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'CONFIG_INVALID')).toBe(true);
  });
});

describe('against dynalite', () => {
  let emulators: Emulators;
  let restoreEnv: () => void;
  let settings: AwsSettings;
  let client: DynamoDBClient;
  const ctx = (prefix: string): TableContext => ({ client, tableName: metadataTableName(prefix), prefix, target: describeAws(settings), region: settings.region });

  beforeAll(async () => {
    emulators = await startEmulators({ tablePrefix: 'made-by-launcher' });
    restoreEnv = useEnv(emulators.env);
    settings = await dynamoSettings();
    client = createDynamoClient(settings);
  }, 60_000);
  afterAll(async () => {
    client?.destroy();
    restoreEnv?.();
    await emulators?.stop();
  });

  test('the settings come from the environment the emulators export', () => {
    expect(settings).toMatchObject({
      region: 'us-east-1',
      regionSource: 'AWS_REGION',
      endpoint: emulators.dynamoEndpoint,
      endpointSource: emulators.external ? 'AWS_ENDPOINT_URL' : 'AWS_ENDPOINT_URL_DYNAMODB',
    });
  });

  test('the launcher\'s table passes the broker\'s startup check (the two definitions agree)', async () => {
    await checkMetadataTable(ctx(emulators.tablePrefix));
  });

  test('ensureMetadataTable creates an on-demand table once, then reports it exists', async () => {
    const idem = emulators.name('idem');
    expect(await ensureMetadataTable(ctx(idem), { pollMs: 20 })).toBe('created');
    expect(await ensureMetadataTable(ctx(idem), { pollMs: 20 })).toBe('exists');
    const t = (await client.send(new DescribeTableCommand({ TableName: metadataTableName(idem) }))).Table!;
    expect(t.BillingModeSummary?.BillingMode ?? 'PAY_PER_REQUEST').toBe('PAY_PER_REQUEST');
    expect(t.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    // Two creators racing: both succeed, one of them created it.
    const racedPrefix = emulators.name('raced');
    const raced = await Promise.all([ensureMetadataTable(ctx(racedPrefix), { pollMs: 20 }), ensureMetadataTable(ctx(racedPrefix), { pollMs: 20 })]);
    expect(raced.filter((r) => r === 'created').length).toBeLessThanOrEqual(1);
    await checkMetadataTable(ctx(racedPrefix));
    await client.send(new DeleteTableCommand({ TableName: metadataTableName(idem) }));
    await client.send(new DeleteTableCommand({ TableName: metadataTableName(racedPrefix) }));
  });

  test('a table with another key schema is refused with an explanation', async () => {
    const foreign = emulators.name('foreign');
    await client.send(
      new CreateTableCommand({
        TableName: metadataTableName(foreign),
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );
    try {
      let err: unknown;
      await DynamoKv.open(foreign).catch((e: unknown) => (err = e));
      expect(isStrataError(err, 'CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain(`DynamoDB table '${metadataTableName(foreign)}'`);
      expect((err as Error).message).toContain('partition key pk: S, sort key sk: S');
      await expect(ensureMetadataTable(ctx(foreign))).rejects.toThrow(/does not have Strata's key schema/);
    } finally {
      await client.send(new DeleteTableCommand({ TableName: metadataTableName(foreign) }));
    }
  });

  test('openMetadataStore opens dynamodb:// URLs, and checks the table first', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-ddb-url-'));
    try {
      const store = await openMetadataStore(emulators.dynamoUrl, { dataDir });
      const id = await store.getOrCreateClusterId();
      await store.createTopic({ name: 'via-url', partitions: 1, replicationFactor: 1, configs: {} });
      await store.close();
      const again = await openMetadataStore(emulators.dynamoUrl, { dataDir });
      expect(await again.getOrCreateClusterId()).toBe(id);
      expect((await again.listTopics()).map((t) => t.name)).toEqual(['via-url']);
      await again.close();
      // Nothing was written under the data dir: the metadata lives in the table.
      expect(fs.readdirSync(dataDir)).toEqual([]);

      const nobody = emulators.name('nobody-made-this');
      await expect(openMetadataStore(`dynamodb://${nobody}`, { dataDir })).rejects.toThrow(`DynamoDB table '${nobody}-metadata' does not exist`);
      await expect(openMetadataStore('dynamodb://bad/prefix', { dataDir })).rejects.toThrow(/expected dynamodb:\/\/TABLE_PREFIX/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
