import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/waitFor';

/**
 * MirrorAppend (Strata's own API) through StrataClient.appendMirrored, on a 3-broker cluster with
 * every partition on all three: records land at the offsets they carry, gaps kept (so followers
 * must copy gapped batches, as they copy a compacted leader's), a repeated or overlapping call
 * adds nothing twice, ordinary producers are refused until the topic is promoted, and a mirror of
 * another source is refused.
 */

let cluster: TestCluster;
let client: StrataClient;
const TOPIC = 'src.orders';

beforeAll(async () => {
  cluster = await startCluster({ brokers: 3 });
  client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'append-mirrored-test', retries: 10, retryBackoffMs: 100 });
  await client.createTopics([
    { name: TOPIC, numPartitions: 1, replicationFactor: 3, configs: { 'mirror.source.cluster': 'src', 'min.insync.replicas': '3' } },
    { name: 'plain', numPartitions: 1, replicationFactor: 3 },
  ]);
  await cluster.awaitTopic(TOPIC, 1);
  await cluster.awaitTopic('plain', 1);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

const rec = (offset: number) => ({
  offset: BigInt(offset),
  key: `k${offset}`,
  value: `v${offset}`,
  headers: [{ key: 'src-offset', value: String(offset) }],
  timestamp: 1_700_000_000_000 + offset,
});

async function readAll(): Promise<Array<{ offset: bigint; key: string; value: string; header: string; timestamp: bigint }>> {
  const r = await client.fetch(TOPIC, 0, 0n, { maxWaitMs: 0 });
  return r.records.map((x) => ({ offset: x.offset, key: x.key!.toString(), value: x.value!.toString(), header: x.headers[0].value!.toString(), timestamp: x.timestamp }));
}

test('records keep their source offsets, gaps included, replicated to every in-sync replica (acks=all)', async () => {
  const first = await client.appendMirrored(TOPIC, 0, [rec(5), rec(6), rec(9), rec(10)], { sourceCluster: 'src' });
  expect(first).toEqual({ logEndOffset: 11n, appended: 4 });
  const got = await readAll();
  expect(got.map((r) => r.offset)).toEqual([5n, 6n, 9n, 10n]);
  expect(got[2]).toEqual({ offset: 9n, key: 'k9', value: 'v9', header: '9', timestamp: 1_700_000_000_009n });
  const hw = (await client.fetch(TOPIC, 0, 11n, { maxWaitMs: 0 })).highWatermark;
  expect(hw).toBe(11n);
});

test('a repeated call adds nothing; an overlapping one appends only what is new', async () => {
  expect(await client.appendMirrored(TOPIC, 0, [rec(5), rec(6), rec(9), rec(10)], { sourceCluster: 'src' })).toEqual({ logEndOffset: 11n, appended: 0 });
  expect(await client.appendMirrored(TOPIC, 0, [rec(9), rec(10), rec(11), rec(14)], { sourceCluster: 'src' })).toEqual({ logEndOffset: 15n, appended: 2 });
  expect((await readAll()).map((r) => r.offset)).toEqual([5n, 6n, 9n, 10n, 11n, 14n]);
});

test('ordinary producers are refused until the topic is promoted; another source and a plain topic are refused', async () => {
  await expect(client.produce(TOPIC, 0, [{ value: 'x' }])).rejects.toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, message: expect.stringMatching(/read-only mirror of cluster 'src'/) });
  await expect(client.appendMirrored(TOPIC, 0, [rec(20)], { sourceCluster: 'elsewhere' })).rejects.toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
  await expect(client.appendMirrored('plain', 0, [rec(0)], { sourceCluster: 'src' })).rejects.toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, message: expect.stringMatching(/not a mirror topic/) });
  await expect(client.appendMirrored(TOPIC, 0, [rec(3), rec(2)])).rejects.toMatchObject({ code: 'BATCH_INVALID' });

  // Promotion (the failover step): delete the config; producers continue after the mirrored end.
  await client.incrementalAlterConfigs({ type: 2, name: TOPIC }, [{ name: 'mirror.source.cluster', op: 'delete' }]);
  let baseOffset = -1n;
  await waitFor(
    () =>
      client.produce(TOPIC, 0, [{ value: 'after-promotion' }]).then(
        (r) => {
          baseOffset = r.baseOffset;
          return true;
        },
        (e: unknown) => {
          if ((e as { errorCode?: number }).errorCode === ErrorCode.INVALID_REQUEST) return false;
          throw e;
        },
      ),
    { timeoutMs: 20_000, message: 'the promoted topic to accept a produce' },
  );
  expect(baseOffset).toBe(15n);
});
