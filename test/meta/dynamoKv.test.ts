import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { commonClientOptions, describeAws, type AwsSettings } from '../../core/common/awsConfig';
import { isStrataError } from '../../core/common/errors';
import { createDynamoClient, DynamoKv, dynamoSettings } from '../../core/meta/dynamoKv';
import { ensureMetadataTable, metadataTableName } from '../../core/meta/dynamoTable';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { startEmulators, useEnv, type Emulators } from '../helpers/emulators';
import { metadataStoreContract } from './metadataStore.contract';
import { expectCode, versionedKvContract } from './versionedKv.contract';

/**
 * DynamoKv against dynalite (a DynamoDB emulator in a child process): the shared contracts,
 * plus what only this adapter has: Query-not-Scan listings, throttling retries, error
 * wording, DynamoDB's item size limit.
 */
let emulators: Emulators;
let restoreEnv: () => void;
let settings: AwsSettings;
let admin: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  emulators = await startEmulators({ create: false });
  restoreEnv = useEnv(emulators.env);
  settings = await dynamoSettings();
  admin = createDynamoClient(settings);
}, 60_000);

afterAll(async () => {
  admin?.destroy();
  restoreEnv?.();
  await emulators?.stop();
});

/** A fresh table per backing, so every contract test starts empty. */
async function freshTable(): Promise<{ prefix: string; drop(): Promise<void> }> {
  const prefix = emulators.name(`t${++tables}-${process.pid}`);
  await ensureMetadataTable({ client: admin, tableName: metadataTableName(prefix), prefix, target: describeAws(settings), region: settings.region }, { pollMs: 20 });
  return { prefix, drop: async () => void (await admin.send(new DeleteTableCommand({ TableName: metadataTableName(prefix) }))) };
}

versionedKvContract('DynamoKv on dynalite', async () => {
  const t = await freshTable();
  return { open: () => DynamoKv.open(t.prefix), destroy: t.drop };
});

metadataStoreContract('KvMetadataStore over DynamoKv on dynalite', async () => {
  const t = await freshTable();
  return { open: async () => new KvMetadataStore(await DynamoKv.open(t.prefix)), destroy: t.drop };
});

/** A client that records the name of every command it sends. */
function countingClient(): { client: DynamoDBClient; commands: string[] } {
  const client = createDynamoClient(settings);
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, context) => (args) => {
      commands.push(context.commandName as string);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return { client, commands };
}

describe('DynamoKv specifics', () => {
  test("the metadata store's listings are single-partition Queries, never Scans", async () => {
    const t = await freshTable();
    const { client, commands } = countingClient();
    const store = new KvMetadataStore(await DynamoKv.open(t.prefix, { client, settings }));
    try {
      const topic = await store.createTopic({ name: 'q', partitions: 3, replicationFactor: 1, configs: {} }, [0, 1, 2].map((partition) => ({
        partition, leader: 0, leaderEpoch: 0, isr: [0], replicas: [0], logStartOffset: 0n,
      })));
      await store.putBroker({ nodeId: 1, host: 'h', port: 1, rack: null, epoch: 1 }, null);
      const offsets = store.namespace('offsets');
      for (let i = 0; i < 3; i++) await offsets.put(`g${i}/q/0`, { offset: BigInt(i) }, null);
      commands.length = 0;
      expect((await store.listTopics()).map((x) => x.name)).toEqual(['q']);
      expect(await store.listPartitionStates(topic.topicId)).toHaveLength(3);
      expect(await store.listBrokers()).toHaveLength(1);
      expect(await offsets.list('')).toHaveLength(3);
      expect(await offsets.list('g1/')).toHaveLength(1);
      expect(commands).toEqual(['QueryCommand', 'QueryCommand', 'QueryCommand', 'QueryCommand', 'QueryCommand']);
      // A prefix that spans collections is the one case served by a Scan.
      const raw = await DynamoKv.open(t.prefix, { client, settings });
      commands.length = 0;
      expect((await raw.list('')).map((e) => e.key)).toEqual([
        'broker/0000000001',
        'ns/offsets/g0/q/0',
        'ns/offsets/g1/q/0',
        'ns/offsets/g2/q/0',
        `partition/${topic.topicId}/0000000000`,
        `partition/${topic.topicId}/0000000001`,
        `partition/${topic.topicId}/0000000002`,
        'topic/q',
      ]);
      expect(commands).toEqual(['ScanCommand']);
      await raw.close();
    } finally {
      await store.close();
      client.destroy();
      await t.drop();
    }
  });

  test('Query pages are followed: a listing larger than one 1 MB page is complete and in key order', async () => {
    const t = await freshTable();
    const kv = await DynamoKv.open(t.prefix);
    try {
      const value = 'v'.repeat(100 * 1024); // ~100 KB items: 1 MB pages hold about ten
      const keys = Array.from({ length: 25 }, (_, i) => `ns/big/${String(i).padStart(3, '0')}`);
      for (const k of keys) await kv.put(k, value, null);
      const listed = await kv.list('ns/big/');
      expect(listed.map((e) => e.key)).toEqual(keys);
      expect(listed.every((e) => e.value === value && e.version === 1)).toBe(true);
    } finally {
      await kv.close();
      await t.drop();
    }
  });

  test("items are limited to DynamoDB's 400 KB, names and keys included", async () => {
    const t = await freshTable();
    const kv = await DynamoKv.open(t.prefix);
    try {
      await expect(kv.put('topic/too-big', 'x'.repeat(400 * 1024), null)).rejects.toThrow(/400 ?KB|409600/);
      expect(await kv.get('topic/too-big')).toBeNull();
      await kv.put('topic/fits', 'x'.repeat(400 * 1024 - 200), null);
      expect(((await kv.get('topic/fits'))!.value as string).length).toBe(400 * 1024 - 200);
    } finally {
      await kv.close();
      await t.drop();
    }
  });

  test('a missing table fails open with the table name and the fix', async () => {
    let err: unknown;
    try {
      await DynamoKv.open(emulators.name('absent'));
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'STORE_NOT_FOUND')).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain(`DynamoDB table '${emulators.name('absent')}-metadata' does not exist`);
    expect(msg).toContain(`strata aws-init --metadata dynamodb://${emulators.name('absent')}`);
    expect(msg).toContain('LocalStack init hook');
    expect(msg).toContain(emulators.dynamoEndpoint);
  });

  describe('through a fault-injecting proxy', () => {
    let proxy: http.Server;
    let proxyUrl: string;
    /** Per request: a canned error to answer with, or null to forward to dynalite. */
    let fault: (target: string) => { status: number; type: string; message: string } | null;
    const seen: string[] = [];

    beforeAll(async () => {
      const upstream = new URL(emulators.dynamoEndpoint);
      proxy = http.createServer((req, res) => {
        const target = String(req.headers['x-amz-target'] ?? '').split('.').pop()!;
        seen.push(target);
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const f = fault(target);
          if (f) {
            const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${f.type}`, message: f.message });
            res.writeHead(f.status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'fault' }).end(body);
            return;
          }
          const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
            res.writeHead(r.statusCode ?? 500, r.headers);
            r.pipe(res);
          });
          up.on('error', () => res.destroy());
          up.end(Buffer.concat(chunks));
        });
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    });
    beforeEach(() => {
      seen.length = 0;
      fault = () => null;
    });

    const viaProxy = (maxAttempts?: number): { client: DynamoDBClient; settings: AwsSettings } => {
      const s = { ...settings, endpoint: proxyUrl };
      return { client: new DynamoDBClient({ ...commonClientOptions(s), ...(maxAttempts ? { maxAttempts } : {}) }), settings: s };
    };

    test('throttled writes are retried with backoff and succeed', async () => {
      const t = await freshTable();
      const { client, settings: s } = viaProxy();
      const kv = await DynamoKv.open(t.prefix, { client, settings: s });
      try {
        let throttles = 0;
        const kinds = ['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded'];
        fault = (target) => (target === 'PutItem' && throttles < 3 ? { status: 400, type: kinds[throttles++], message: 'slow down' } : null);
        expect(await kv.put('broker/0000000001', { host: 'h' }, null)).toBe(1);
        expect(seen.filter((x) => x === 'PutItem')).toHaveLength(4);
        expect((await kv.get('broker/0000000001'))!.value).toEqual({ host: 'h' });
      } finally {
        await kv.close();
        client.destroy();
        await t.drop();
      }
    }, 60_000);

    test('throttling that outlasts the retries is STORE_UNAVAILABLE, naming the call', async () => {
      const t = await freshTable();
      const { client, settings: s } = viaProxy(2);
      const kv = await DynamoKv.open(t.prefix, { client, settings: s });
      try {
        fault = (target) => (target === 'GetItem' ? { status: 400, type: 'ProvisionedThroughputExceededException', message: 'slow down' } : null);
        let err: unknown;
        await kv.get('topic/x').catch((e: unknown) => (err = e));
        expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
        expect((err as Error).message).toContain(`kept throttling dynamodb:GetItem on DynamoDB table '${metadataTableName(t.prefix)}' after 2 attempts`);
      } finally {
        await kv.close();
        client.destroy();
        await t.drop();
      }
    }, 60_000);

    test('AccessDenied names the missing permission', async () => {
      const t = await freshTable();
      const { client, settings: s } = viaProxy();
      try {
        fault = (target) => (target === 'DescribeTable' ? { status: 400, type: 'AccessDeniedException', message: 'User: arn:aws:iam::1:user/x is not authorized' } : null);
        let err: unknown;
        await DynamoKv.open(t.prefix, { client, settings: s }).catch((e: unknown) => (err = e));
        expect(isStrataError(err, 'STORE_ACCESS_DENIED')).toBe(true);
        expect((err as Error).message).toContain(`needs the dynamodb:DescribeTable permission on arn:aws:dynamodb:us-east-1:*:table/${metadataTableName(t.prefix)}`);

        fault = (target) => (target === 'PutItem' ? { status: 400, type: 'AccessDeniedException', message: 'not authorized' } : null);
        const kv = await DynamoKv.open(t.prefix, { client, settings: s });
        await expectCode(kv.put('topic/t', 1, null), 'STORE_ACCESS_DENIED');
        await kv.close();
      } finally {
        client.destroy();
        await t.drop();
      }
    });
  });

  test('an unreachable endpoint is STORE_UNAVAILABLE within a bounded time', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const s = { ...settings, endpoint: `http://127.0.0.1:${port}` };
    const client = new DynamoDBClient({ ...commonClientOptions(s), maxAttempts: 2 });
    const started = Date.now();
    let err: unknown;
    await DynamoKv.open('x', { client, settings: s }).catch((e: unknown) => (err = e));
    client.destroy();
    expect(isStrataError(err, 'STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(`cannot reach DynamoDB in us-east-1 at http://127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
