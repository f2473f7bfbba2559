import { StrataError } from '../../core/common/errors';
import { StrataClient } from '../../core/client/client';
import { KafkaResponseError } from '../../core/client/errors';
import { TransactionsAdmin } from '../../core/client/transactionsAdmin';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { ZERO_UUID } from '../../core/protocol/reader';
import { FakeBroker, HookResult } from './fakeBroker';

/**
 * TransactionsAdmin against a cluster of fake brokers whose answers the test writes: each
 * FakeBroker answers ApiVersions itself, Metadata from `topics` below (which broker leads and
 * hosts each partition) and every transaction API through `script`. Checked: who is asked
 * what at which version (FindCoordinator batching from v4, ListTransactions' duration filter
 * from v1, both WriteTxnMarkers layouts), the retries after a moved coordinator or leader,
 * and kafka-transactions.sh's rules for hanging transactions.
 */

interface Seen {
  node: number;
  api: number;
  version: number;
  req: any;
}

let nodes: FakeBroker[] = [];
let client: StrataClient;
let admin: TransactionsAdmin;
const seen: Seen[] = [];
/** topic → per partition: leader and replicas. */
let topics: Map<string, Array<{ leader: number; replicas: number[] }>>;
let script: (node: number, api: number, version: number, req: any) => HookResult;

/** Starts `n` fake brokers (node ids 0..n-1) that know each other, each advertising `versions` (default: every version our codecs speak). */
async function cluster(n: number, versions?: Map<number, [number, number]>): Promise<void> {
  nodes = [];
  for (let id = 0; id < n; id++) {
    nodes.push(
      await FakeBroker.start({
        versions,
        hook: (h, req) => {
          if (h.apiKey === ApiKey.ApiVersions) return undefined;
          if (h.apiKey === ApiKey.Metadata) return { response: metadata(req) };
          seen.push({ node: id, api: h.apiKey, version: h.apiVersion, req });
          return script(id, h.apiKey, h.apiVersion, req);
        },
      }),
    );
  }
  client = new StrataClient({ bootstrapServers: [nodes[0].bootstrap], retryBackoffMs: 1 });
  admin = new TransactionsAdmin(client, { retryBackoffMs: 1 });
}

function metadata(req: any): unknown {
  const names: string[] = req.topics === null || req.topics.length === 0 ? [...topics.keys()] : req.topics.map((t: any) => t.name);
  return {
    throttleTimeMs: 0,
    brokers: nodes.map((b, nodeId) => ({ nodeId, host: '127.0.0.1', port: b.port, rack: null })),
    clusterId: 'fake-cluster',
    controllerId: 0,
    topics: names.map((name) => {
      const parts = topics.get(name);
      if (!parts) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, topicId: ZERO_UUID, isInternal: false, partitions: [] };
      return {
        errorCode: 0,
        name,
        topicId: ZERO_UUID,
        isInternal: false,
        partitions: parts.map((p, i) => ({ errorCode: 0, partitionIndex: i, leaderId: p.leader, leaderEpoch: 0, replicaNodes: p.replicas, isrNodes: p.replicas, offlineReplicas: [] })),
      };
    }),
  };
}

/** A version table with some APIs narrowed, as an older (or newer) broker would advertise. */
const versions = (overrides: Array<[number, [number, number]]>): Map<number, [number, number]> => {
  const m = new Map<number, [number, number]>();
  for (const [k, api] of API_MESSAGES) m.set(k, [api.minVersion, api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion]);
  for (const [k, r] of overrides) m.set(k, r);
  return m;
};

/** FindCoordinator's answer at any version: `coordinatorOf` picks each key's node (or an error code as a negative number). */
function coordinatorAnswer(version: number, req: any, coordinatorOf: (key: string) => number): HookResult {
  const entry = (key: string) => {
    const node = coordinatorOf(key);
    return node < 0
      ? { key, nodeId: -1, host: '', port: -1, errorCode: -node, errorMessage: null }
      : { key, nodeId: node, host: '127.0.0.1', port: nodes[node].port, errorCode: 0, errorMessage: null };
  };
  if (version >= 4) return { response: { throttleTimeMs: 0, coordinators: req.coordinatorKeys.map(entry) } };
  const e = entry(req.key);
  return { response: { throttleTimeMs: 0, errorCode: e.errorCode, errorMessage: null, nodeId: e.nodeId, host: e.host, port: e.port } };
}

const describeProducersAnswer = (req: any, producersOf: (topic: string, partition: number) => { errorCode?: number; producers?: any[] }): HookResult => ({
  response: {
    throttleTimeMs: 0,
    topics: req.topics.map((t: any) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p: number) => {
        const r = producersOf(t.name, p);
        return { partitionIndex: p, errorCode: r.errorCode ?? 0, errorMessage: null, activeProducers: r.producers ?? [] };
      }),
    })),
  },
});

const producer = (producerId: bigint, o: { epoch?: number; lastTimestamp?: bigint; coordinatorEpoch?: number; start?: bigint; lastSequence?: number } = {}) => ({
  producerId,
  producerEpoch: o.epoch ?? 0,
  lastSequence: o.lastSequence ?? 4,
  lastTimestamp: o.lastTimestamp ?? 1_000n,
  coordinatorEpoch: o.coordinatorEpoch ?? -1,
  currentTxnStartOffset: o.start ?? -1n,
});

const markersAnswer = (req: any, errorCode: number): HookResult => ({
  response: {
    markers: req.markers.map((m: any) => ({
      producerId: m.producerId,
      topics: m.topics.map((t: any) => ({ name: t.name, partitions: t.partitionIndexes.map((p: number) => ({ partitionIndex: p, errorCode })) })),
    })),
  },
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

beforeEach(() => {
  topics = new Map([
    [
      'orders',
      [
        { leader: 0, replicas: [0, 1] },
        { leader: 1, replicas: [1, 0] },
        { leader: 1, replicas: [1] },
      ],
    ],
  ]);
  script = () => undefined;
});

afterEach(async () => {
  seen.length = 0;
  await client.close();
  for (const b of nodes) await b.close();
});

const requests = (api: number) => seen.filter((s) => s.api === api);

describe('listTransactions', () => {
  it('asks every broker with the filters and merges the answers, by coordinator then id', async () => {
    script = (node, api) =>
      api === ApiKey.ListTransactions
        ? {
            response: {
              throttleTimeMs: 0,
              errorCode: 0,
              unknownStateFilters: [],
              transactionStates:
                node === 0
                  ? [
                      { transactionalId: 'b', producerId: 7n, transactionState: 'Ongoing' },
                      { transactionalId: 'a', producerId: 3n, transactionState: 'Empty' },
                    ]
                  : [{ transactionalId: 'c', producerId: 9n, transactionState: 'PrepareCommit' }],
            },
          }
        : undefined;
    await cluster(2);
    expect(await admin.listTransactions({ states: ['Ongoing'], producerIds: [3n, 7n], durationFilterMs: 60_000 })).toEqual([
      { transactionalId: 'a', producerId: 3n, state: 'Empty', coordinatorId: 0 },
      { transactionalId: 'b', producerId: 7n, state: 'Ongoing', coordinatorId: 0 },
      { transactionalId: 'c', producerId: 9n, state: 'PrepareCommit', coordinatorId: 1 },
    ]);
    const sent = requests(ApiKey.ListTransactions);
    expect(sent.map((s) => [s.node, s.version]).sort()).toEqual([
      [0, 1],
      [1, 1],
    ]);
    for (const s of sent) expect(s.req).toEqual({ stateFilters: ['Ongoing'], producerIdFilters: [3n, 7n], durationFilter: 60_000n });
  });

  it('speaks v0 to a broker before KIP-994, and refuses a duration filter there', async () => {
    script = (_node, api) => (api === ApiKey.ListTransactions ? { response: { throttleTimeMs: 0, errorCode: 0, unknownStateFilters: [], transactionStates: [] } } : undefined);
    await cluster(1, versions([[ApiKey.ListTransactions, [0, 0]]]));
    expect(await admin.listTransactions()).toEqual([]);
    expect(requests(ApiKey.ListTransactions)[0]).toMatchObject({ version: 0, req: { stateFilters: [], producerIdFilters: [], durationFilter: -1n } });
    const e = await rejection(admin.listTransactions({ durationFilterMs: 0 }));
    expect(e).toBeInstanceOf(StrataError);
    expect((e as StrataError).code).toBe('API_UNSUPPORTED');
    expect(e.message).toContain('needs ListTransactions v1');
  });

  it('asks again while a coordinator loads, and throws other errors', async () => {
    let calls = 0;
    script = (_node, api) => {
      if (api !== ApiKey.ListTransactions) return undefined;
      const errorCode = calls++ === 0 ? ErrorCode.COORDINATOR_LOAD_IN_PROGRESS : calls > 2 ? ErrorCode.CLUSTER_AUTHORIZATION_FAILED : 0;
      return { response: { throttleTimeMs: 0, errorCode, unknownStateFilters: [], transactionStates: [{ transactionalId: 'x', producerId: 1n, transactionState: 'Ongoing' }] } };
    };
    await cluster(1);
    expect(await admin.listTransactions()).toHaveLength(1);
    expect(calls).toBe(2);
    const e = await rejection(admin.listTransactions());
    expect(e).toBeInstanceOf(KafkaResponseError);
    expect((e as KafkaResponseError).errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    expect((e as KafkaResponseError).resource).toBe('broker 0');
  });
});

describe('describeTransactions', () => {
  const state = (transactionalId: string, o: { errorCode?: number; start?: bigint; topics?: any[] } = {}) => ({
    errorCode: o.errorCode ?? 0,
    transactionalId,
    transactionState: o.start === undefined ? 'Empty' : 'Ongoing',
    transactionTimeoutMs: 60_000,
    transactionStartTimeMs: o.start ?? -1n,
    producerId: 42n,
    producerEpoch: 3,
    topics: o.topics ?? [],
  });

  it('finds the coordinators in one FindCoordinator (v4+) and asks each for its ids; results in the order asked', async () => {
    script = (node, api, version, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(version, req, (key) => (key === 'c' ? 1 : 0));
      if (api === ApiKey.DescribeTransactions) {
        return {
          response: {
            throttleTimeMs: 0,
            transactionStates: req.transactionalIds.map((id: string) =>
              id === 'missing'
                ? state(id, { errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND })
                : state(id, node === 1 ? {} : { start: 5_000n, topics: [{ topic: 'orders', partitions: [2, 0] }, { topic: 'audit', partitions: [1] }] }),
            ),
          },
        };
      }
      return undefined;
    };
    await cluster(2);
    const results = await admin.describeTransactions(['c', 'a', 'missing']);
    expect(results.map((r) => r.transactionalId)).toEqual(['c', 'a', 'missing']);
    expect(results[0]).toEqual({
      transactionalId: 'c',
      error: null,
      description: { transactionalId: 'c', coordinatorId: 1, state: 'Empty', producerId: 42n, producerEpoch: 3, transactionTimeoutMs: 60_000, transactionStartTimeMs: null, topicPartitions: [] },
    });
    expect(results[1].description).toMatchObject({
      coordinatorId: 0,
      state: 'Ongoing',
      transactionStartTimeMs: 5_000n,
      topicPartitions: [
        { topic: 'audit', partition: 1 },
        { topic: 'orders', partition: 0 },
        { topic: 'orders', partition: 2 },
      ],
    });
    expect(results[2].description).toBeNull();
    expect(results[2].error).toBeInstanceOf(KafkaResponseError);
    expect(results[2].error!.errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);

    const find = requests(ApiKey.FindCoordinator);
    expect(find).toHaveLength(1);
    expect(find[0].version).toBe(6);
    expect(find[0].req).toMatchObject({ keyType: 1, coordinatorKeys: ['c', 'a', 'missing'] });
    const describe = requests(ApiKey.DescribeTransactions);
    expect(describe.map((d) => [d.node, d.req.transactionalIds]).sort()).toEqual([
      [0, ['a', 'missing']],
      [1, ['c']],
    ]);
  });

  it('asks FindCoordinator once per id before v4, and cannot ask at v0 (no key type)', async () => {
    script = (_node, api, version, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(version, req, () => 0);
      if (api === ApiKey.DescribeTransactions) return { response: { throttleTimeMs: 0, transactionStates: req.transactionalIds.map((id: string) => state(id)) } };
      return undefined;
    };
    await cluster(1, versions([[ApiKey.FindCoordinator, [0, 3]]]));
    expect((await admin.describeTransactions(['a', 'b'])).map((r) => r.description?.transactionalId)).toEqual(['a', 'b']);
    const find = requests(ApiKey.FindCoordinator);
    expect(find.map((f) => [f.version, f.req.key, f.req.keyType]).sort()).toEqual([
      [3, 'a', 1],
      [3, 'b', 1],
    ]);
    await client.close();
    for (const b of nodes) await b.close();

    await cluster(1, versions([[ApiKey.FindCoordinator, [0, 0]]]));
    const e = await rejection(admin.describeTransactions(['a']));
    expect((e as StrataError).code).toBe('API_UNSUPPORTED');
  });

  it('finds the coordinator again when one answers NOT_COORDINATOR or is loading', async () => {
    const answers = [ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.NONE];
    let finds = 0;
    script = (_node, api, version, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(version, req, () => (finds++ === 0 ? -ErrorCode.COORDINATOR_NOT_AVAILABLE : finds % 2));
      if (api === ApiKey.DescribeTransactions) return { response: { throttleTimeMs: 0, transactionStates: req.transactionalIds.map((id: string) => state(id, { errorCode: answers.shift() })) } };
      return undefined;
    };
    await cluster(2);
    const [r] = await admin.describeTransactions(['t']);
    expect(r.error).toBeNull();
    expect(requests(ApiKey.FindCoordinator)).toHaveLength(4);
    expect(requests(ApiKey.DescribeTransactions)).toHaveLength(3);
  });
});

describe('describeProducers', () => {
  it("asks each partition's leader for its partitions and reads every field", async () => {
    script = (_node, api, _v, req) =>
      api === ApiKey.DescribeProducers
        ? describeProducersAnswer(req, (_t, p) => ({ producers: p === 1 ? [producer(11n, { epoch: 2, coordinatorEpoch: 5, start: 40n, lastTimestamp: 123n, lastSequence: 9 })] : [] }))
        : undefined;
    await cluster(2);
    const r = await admin.describeProducers('orders', [2, 0, 1]);
    expect(r).toEqual([
      { topic: 'orders', partition: 0, error: null, activeProducers: [] },
      {
        topic: 'orders',
        partition: 1,
        error: null,
        activeProducers: [{ producerId: 11n, producerEpoch: 2, lastSequence: 9, lastTimestamp: 123n, coordinatorEpoch: 5, currentTxnStartOffset: 40n }],
      },
      { topic: 'orders', partition: 2, error: null, activeProducers: [] },
    ]);
    const sent = requests(ApiKey.DescribeProducers);
    expect(sent.map((s) => [s.node, s.version, s.req.topics]).sort()).toEqual([
      [0, 0, [{ name: 'orders', partitionIndexes: [0] }]],
      [1, 0, [{ name: 'orders', partitionIndexes: [2, 1] }]],
    ]);
  });

  it('follows a moved leader, and reports unknown partitions and refusals per partition', async () => {
    script = (node, api, _v, req) => {
      if (api !== ApiKey.DescribeProducers) return undefined;
      return describeProducersAnswer(req, (_t, p) => {
        if (p === 0 && node === 0) {
          topics.get('orders')![0].leader = 1; // the partition moved: fresh metadata says so
          return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER };
        }
        if (p === 2) return { errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED };
        return { producers: [producer(BigInt(node))] };
      });
    };
    await cluster(2);
    const r = await admin.describeProducersOf([
      { topic: 'orders', partition: 0 },
      { topic: 'orders', partition: 2 },
      { topic: 'orders', partition: 7 },
      { topic: 'nope', partition: 0 },
    ]);
    expect(r.map((x) => [x.topic, x.partition, x.error?.errorCode ?? 0, x.activeProducers.map((p) => p.producerId)])).toEqual([
      ['nope', 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, []],
      ['orders', 0, 0, [1n]],
      ['orders', 2, ErrorCode.TOPIC_AUTHORIZATION_FAILED, []],
      ['orders', 7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, []],
    ]);
    expect(r[0].error!.errorMessage).toBe("topic 'nope' does not exist");
    expect(r[3].error!.errorMessage).toBe("topic 'orders' has 3 partition(s), 0 to 2");
  });

  it('asks the broker given by brokerId, and does not retry a NOT_LEADER_OR_FOLLOWER from it', async () => {
    script = (node, api, _v, req) => (api === ApiKey.DescribeProducers ? describeProducersAnswer(req, (_t, p) => (p === 2 ? { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER } : { producers: [producer(BigInt(node))] })) : undefined);
    await cluster(2);
    const r = await admin.describeProducers('orders', [0, 1, 2], { brokerId: 0 });
    expect(r.map((x) => [x.partition, x.error?.errorCode ?? 0, x.activeProducers.map((p) => p.producerId)])).toEqual([
      [0, 0, [0n]],
      [1, 0, [0n]],
      [2, ErrorCode.NOT_LEADER_OR_FOLLOWER, []],
    ]);
    expect(requests(ApiKey.DescribeProducers).map((s) => s.node)).toEqual([0]);
    const e = await rejection(admin.describeProducers('orders', [0], { brokerId: 9 }));
    expect(e.message).toBe('broker 9 is not in the cluster (brokers: 0, 1)');
  });
});

describe('abortTransaction', () => {
  const spec = { topic: 'orders', partition: 1, producerId: 77n, producerEpoch: 4, coordinatorEpoch: 12 };

  it.each([
    ['v1 (flexible)', undefined, 1],
    ['v0', versions([[ApiKey.WriteTxnMarkers, [0, 0]]]), 0],
  ])("writes one ABORT marker at the partition's leader, %s", async (_name, v, version) => {
    script = (_node, api, _v, req) => (api === ApiKey.WriteTxnMarkers ? markersAnswer(req, 0) : undefined);
    await cluster(2, v);
    await admin.abortTransaction(spec);
    const sent = requests(ApiKey.WriteTxnMarkers);
    expect(sent.map((s) => [s.node, s.version])).toEqual([[1, version]]);
    expect(sent[0].req).toEqual({
      markers: [{ producerId: 77n, producerEpoch: 4, transactionResult: false, topics: [{ name: 'orders', partitionIndexes: [1] }], coordinatorEpoch: 12 }],
    });
  });

  it('follows a moved leader; throws refusals and a response about something else', async () => {
    let first = true;
    script = (node, api, _v, req) => {
      if (api !== ApiKey.WriteTxnMarkers) return undefined;
      if (first) {
        first = false;
        topics.get('orders')![1].leader = 0;
        return markersAnswer(req, ErrorCode.NOT_LEADER_OR_FOLLOWER);
      }
      return markersAnswer(req, node === 0 ? ErrorCode.NONE : ErrorCode.INVALID_PRODUCER_EPOCH);
    };
    await cluster(2);
    await admin.abortTransaction(spec);
    expect(requests(ApiKey.WriteTxnMarkers).map((s) => s.node)).toEqual([1, 0]);

    const e = await rejection(admin.abortTransaction({ ...spec, partition: 2 }));
    expect(e).toBeInstanceOf(KafkaResponseError);
    expect((e as KafkaResponseError).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((e as KafkaResponseError).resource).toBe('orders-2');

    script = (_node, api) => (api === ApiKey.WriteTxnMarkers ? { response: { markers: [{ producerId: 1n, topics: [] }] } } : undefined);
    const malformed = await rejection(admin.abortTransaction(spec));
    expect((malformed as StrataError).code).toBe('PROTOCOL_MALFORMED');

    const unknown = await rejection(admin.abortTransaction({ ...spec, partition: 5 }));
    expect((unknown as KafkaResponseError).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('findHangingTransactions', () => {
  const now = 10_000_000_000n;
  const old = now - 20n * 60_000n; // 20 minutes ago: beyond the default 15
  const recent = now - 60_000n;

  /**
   * orders-0 (leader 0): p1 open in txn-ok (its coordinator lists orders-0: not hanging), p2
   * open in txn-moved (whose transaction is on orders-1 only: hanging), p5 idle.
   * orders-1 (leader 1): p3 open, no transactional id lists it (hanging); p4 open but recent.
   * orders-2 (leader 1): p6 open in txn-gone, unknown to its coordinator (hanging).
   */
  function scenario(): void {
    const producers: Record<number, any[]> = {
      0: [producer(1n, { start: 10n, lastTimestamp: old }), producer(2n, { start: 12n, lastTimestamp: old, coordinatorEpoch: 3 }), producer(5n, { lastTimestamp: old })],
      1: [producer(3n, { start: 30n, lastTimestamp: old }), producer(4n, { start: 31n, lastTimestamp: recent })],
      2: [producer(6n, { start: 50n, lastTimestamp: old, epoch: 9 })],
    };
    const ids: Record<string, string> = { '1': 'txn-ok', '2': 'txn-moved', '6': 'txn-gone' };
    script = (_node, api, version, req) => {
      switch (api) {
        case ApiKey.DescribeProducers:
          return describeProducersAnswer(req, (_t, p) => ({ producers: producers[p] }));
        case ApiKey.ListTransactions:
          return {
            response: {
              throttleTimeMs: 0,
              errorCode: 0,
              unknownStateFilters: [],
              transactionStates: req.producerIdFilters.filter((p: bigint) => ids[String(p)]).map((p: bigint) => ({ transactionalId: ids[String(p)], producerId: p, transactionState: 'Ongoing' })),
            },
          };
        case ApiKey.FindCoordinator:
          return coordinatorAnswer(version, req, () => 0);
        case ApiKey.DescribeTransactions:
          return {
            response: {
              throttleTimeMs: 0,
              transactionStates: req.transactionalIds.map((id: string) => ({
                errorCode: id === 'txn-gone' ? ErrorCode.TRANSACTIONAL_ID_NOT_FOUND : 0,
                transactionalId: id,
                transactionState: 'Ongoing',
                transactionTimeoutMs: 60_000,
                transactionStartTimeMs: old,
                producerId: id === 'txn-ok' ? 1n : 2n,
                producerEpoch: 0,
                topics: [{ topic: 'orders', partitions: id === 'txn-ok' ? [0] : [1] }],
              })),
            },
          };
        default:
          return undefined;
      }
    };
  }

  it("finds a topic's hanging transactions as kafka-transactions.sh decides", async () => {
    scenario();
    await cluster(2);
    const hanging = await admin.findHangingTransactions({ topic: 'orders', nowMs: Number(now) });
    expect(hanging.map((h) => [h.topic, h.partition, h.producerId, h.currentTxnStartOffset])).toEqual([
      ['orders', 0, 2n, 12n],
      ['orders', 1, 3n, 30n],
      ['orders', 2, 6n, 50n],
    ]);
    expect(hanging[0]).toEqual({ topic: 'orders', partition: 0, producerId: 2n, producerEpoch: 0, lastSequence: 4, lastTimestamp: old, coordinatorEpoch: 3, currentTxnStartOffset: 12n });
    // Only candidates are looked up: open, and older than the timeout.
    expect(requests(ApiKey.ListTransactions).map((s) => [...s.req.producerIdFilters].sort())).toEqual([
      [1n, 2n, 3n, 6n],
      [1n, 2n, 3n, 6n],
    ]);
    expect(requests(ApiKey.DescribeTransactions).flatMap((s) => s.req.transactionalIds).sort()).toEqual(['txn-gone', 'txn-moved', 'txn-ok']);
  });

  it('searches the partitions a broker hosts, asking that broker; a longer timeout leaves fewer candidates', async () => {
    scenario();
    await cluster(2);
    const hanging = await admin.findHangingTransactions({ brokerId: 0, nowMs: Number(now) });
    expect(hanging.map((h) => [h.partition, h.producerId])).toEqual([
      [0, 2n],
      [1, 3n],
    ]);
    expect(requests(ApiKey.DescribeProducers).map((s) => [s.node, s.req.topics])).toEqual([[0, [{ name: 'orders', partitionIndexes: [0, 1] }]]]);

    seen.length = 0;
    expect(await admin.findHangingTransactions({ topic: 'orders', partition: 1, maxTransactionTimeoutMs: 30 * 60_000, nowMs: Number(now) })).toEqual([]);
    expect(requests(ApiKey.ListTransactions)).toEqual([]);
  });

  it('needs a broker or a topic, and fails when a partition cannot be described', async () => {
    await cluster(1);
    expect((await rejection(admin.findHangingTransactions({}))).message).toContain('needs a brokerId or a topic');
    expect((await rejection(admin.findHangingTransactions({ partition: 0, brokerId: 0 }))).message).toContain('a partition needs its topic');
    const e = await rejection(admin.findHangingTransactions({ topic: 'nope' }));
    expect((e as KafkaResponseError).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});
