import { formatUsage } from '../../core/cli/args';
import { abortSpecText, formatDescription, formatHanging, formatProducers, prettyPrintTable, transactionsSpec } from '../../core/cli/transactions';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { FakeBroker, FakeBrokerOptions, HookResult } from '../client/fakeBroker';
import { runCli } from './runCli';

/**
 * `strata transactions`: the command line (Kafka's flags, and its sub-command spelling), the
 * tables as kafka-transactions.sh prints them, and each action against a fake broker whose
 * transaction answers the test writes (node 0 leads every partition). The client side of the
 * same calls, on several brokers, is in test/client/transactionsAdmin.test.ts.
 */

let broker: FakeBroker | undefined;
const seen: Array<{ api: number; version: number; req: any }> = [];
let script: (api: number, version: number, req: any) => HookResult = () => undefined;

async function start(opts: FakeBrokerOptions = {}): Promise<FakeBroker> {
  broker = await FakeBroker.start({
    ...opts,
    hook: (h, req) => {
      if (h.apiKey === ApiKey.ApiVersions || h.apiKey === ApiKey.Metadata) return undefined;
      seen.push({ api: h.apiKey, version: h.apiVersion, req });
      return script(h.apiKey, h.apiVersion, req);
    },
  });
  broker.createTopic('orders', 2);
  return broker;
}

afterEach(async () => {
  seen.length = 0;
  script = () => undefined;
  await broker?.close();
  broker = undefined;
});

const txn = (...args: string[]) => runCli(['transactions', '--bootstrap-server', broker ? broker.bootstrap : '127.0.0.1:1', ...args]);
const firstLine = (s: string) => s.split('\n')[0];
const sent = (api: number) => seen.filter((s) => s.api === api);

const coordinator = (req: any): HookResult => ({
  response: { throttleTimeMs: 0, coordinators: req.coordinatorKeys.map((key: string) => ({ key, nodeId: 0, host: '127.0.0.1', port: broker!.port, errorCode: 0, errorMessage: null })) },
});

const producersAnswer = (req: any, activeProducers: any[], errorCode = 0): HookResult => ({
  response: {
    throttleTimeMs: 0,
    topics: req.topics.map((t: any) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((partitionIndex: number) => ({ partitionIndex, errorCode, errorMessage: null, activeProducers: errorCode ? [] : activeProducers })),
    })),
  },
});

const markersAnswer = (req: any, errorCode = 0): HookResult => ({
  response: {
    markers: req.markers.map((m: any) => ({
      producerId: m.producerId,
      topics: m.topics.map((t: any) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex: number) => ({ partitionIndex, errorCode })) })),
    })),
  },
});

const producer = (producerId: bigint, o: { epoch?: number; coordinatorEpoch?: number; start?: bigint; lastTimestamp?: bigint } = {}) => ({
  producerId,
  producerEpoch: o.epoch ?? 0,
  lastSequence: 4,
  lastTimestamp: o.lastTimestamp ?? 1700000000000n,
  coordinatorEpoch: o.coordinatorEpoch ?? -1,
  currentTxnStartOffset: o.start ?? -1n,
});

describe('transactions command line', () => {
  it.each<[string[], string]>([
    [[], 'Command must include exactly one action: --list, --describe, --describe-producers, --abort, --find-hanging'],
    [['--list', '--describe'], 'Command must include exactly one action'],
    [['list', 'describe'], 'Command must include exactly one action'],
    [['--list', '--topic', 't'], '--topic can only be used with --describe-producers, --abort, --find-hanging'],
    [['--describe'], 'missing required flag --transactional-id'],
    [['--describe', '--transactional-id', 'x', '--duration-filter', '5'], '--duration-filter can only be used with --list'],
    [['--describe-producers', '--topic', 't'], 'missing required flag --partition'],
    [['--describe-producers', '--topic', 't', '--partition', '-1'], '--partition must be at least 0, got -1'],
    [['--describe-producers', '--partition', '0'], 'missing required flag --topic'],
    [['--abort', '--topic', 't', '--partition', '0'], 'The transaction to abort must be identified either with --start-offset (for brokers on 3.0 or above) or with --producer-id'],
    [['--abort', '--topic', 't', '--partition', '0', '--producer-id', '5'], 'Missing required argument --producer-epoch'],
    [['--abort', '--topic', 't', '--partition', '0', '--producer-id', '5', '--producer-epoch', '1'], 'Missing required argument --coordinator-epoch'],
    [['--abort', '--topic', 't', '--partition', '0', '--start-offset', '5', '--producer-id', '5'], 'give either --start-offset or --producer-id'],
    [['--abort', '--topic', 't', '--partition', '0', '--start-offset', '1.5'], "--start-offset must be an integer, got '1.5'"],
    [['--abort', '--topic', 't', '--partition', '0', '--producer-id', '9223372036854775808', '--producer-epoch', '0', '--coordinator-epoch', '0'], '--producer-id is out of range'],
    [['--abort', '--topic', 't', '--partition', '0', '--producer-id', '1', '--producer-epoch', '40000', '--coordinator-epoch', '0'], '--producer-epoch must be at most 32767'],
    [['--find-hanging'], 'The `find-hanging` command requires either --topic or --broker-id to limit the scope of the search'],
    [['--find-hanging', '--broker-id', '0', '--partition', '1'], 'The --partition argument requires --topic to be provided'],
    [['--find-hanging', '--topic', 't', '--max-transaction-timeout', 'x'], "--max-transaction-timeout must be an integer, got 'x'"],
    [['--list', '--start-offset', '3'], '--start-offset can only be used with --abort'],
    [['--list', 'extra'], "unexpected argument 'extra'"],
    [['--lsit'], 'unknown flag --lsit'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const r = await txn(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(firstLine(r.stderr)).toContain(message);
    expect(r.stderr).toContain(formatUsage(transactionsSpec));
  });

  it('prints its usage with --help', async () => {
    const r = await runCli(['transactions', '--help']);
    expect(r).toEqual({ code: 0, stdout: formatUsage(transactionsSpec), stderr: '' });
    for (const f of ['--list', '--find-hanging', '--start-offset <OFFSET>', '--max-transaction-timeout <MINUTES>', '--duration-filter <MS>']) expect(r.stdout).toContain(f);
  });

  it('fails with one line and exit 1 when the broker is unreachable', async () => {
    const r = await txn('--list');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Failed to list transactions: could not connect to 127\.0\.0\.1:1: [^\n]*\n$/);
  });
});

describe('transactions output', () => {
  it("pads every column to its widest cell and ends every cell with a tab, as Kafka's prettyPrintTable", () => {
    expect(
      prettyPrintTable(
        ['A', 'LongHeader'],
        [
          ['wide-cell', 'x'],
          ['b', ''],
        ],
      ),
    ).toBe('A        \tLongHeader\t\nwide-cell\tx         \t\nb        \t          \t\n');
    expect(prettyPrintTable(['Topic', 'Partition'], [])).toBe('Topic\tPartition\t\n');
  });

  it('prints None for what is absent, and durations from the given time', () => {
    const d = { transactionalId: 'tx', coordinatorId: 0, state: 'Empty', producerId: 5n, producerEpoch: 1, transactionTimeoutMs: 60000, transactionStartTimeMs: null, topicPartitions: [] };
    expect(formatDescription(d, 5000).split('\n')[1]).toBe('0            \ttx             \t5         \t1            \tEmpty           \t60000               \tNone                         \tNone                 \t               \t');
    const open = { ...d, state: 'Ongoing', transactionStartTimeMs: 1000n, topicPartitions: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 3 }] };
    expect(formatDescription(open, 4500).split('\n')[1].split('\t').map((c) => c.trim())).toEqual(['0', 'tx', '5', '1', 'Ongoing', '60000', '1000', '3500', 'a-0,b-3', '']);
    expect(formatProducers([producer(7n, { start: 3n, coordinatorEpoch: 2 }), producer(8n)])).toBe(
      'ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset\t\n' +
        '7         \t0            \t2                     \t4           \t1700000000000\t3                            \t\n' +
        '8         \t0            \t-1                    \t4           \t1700000000000\tNone                         \t\n',
    );
    const hanging = formatHanging([{ topic: 'orders', partition: 1, ...producer(9n, { start: 40n, lastTimestamp: 1_000n }) }], 1_000 + 25 * 60_000 + 59_000);
    expect(hanging.split('\n')[1].split('\t').map((c) => c.trim())).toEqual(['orders', '1', '9', '0', '-1', '40', '1000', '25', '']);
    expect(abortSpecText({ topic: 'orders', partition: 1, producerId: 9n, producerEpoch: 2, coordinatorEpoch: 0 })).toBe(
      'AbortTransactionSpec(topicPartition=orders-1, producerId=9, producerEpoch=2, coordinatorEpoch=0)',
    );
  });
});

describe('transactions against a broker', () => {
  const listAnswer = (): HookResult => ({
    response: {
      throttleTimeMs: 0,
      errorCode: 0,
      unknownStateFilters: [],
      transactionStates: [
        { transactionalId: 'payments-1', producerId: 1000n, transactionState: 'Ongoing' },
        { transactionalId: 'app', producerId: 7n, transactionState: 'CompleteCommit' },
      ],
    },
  });

  it.each([['--list'], ['list']])('%s prints every transaction with its coordinator', async (action) => {
    script = (api) => (api === ApiKey.ListTransactions ? listAnswer() : undefined);
    await start();
    const r = await txn(action);
    expect(r).toEqual({
      code: 0,
      stdout: 'TransactionalId\tCoordinator\tProducerId\tTransactionState\t\n' + 'app            \t0          \t7         \tCompleteCommit  \t\n' + 'payments-1     \t0          \t1000      \tOngoing         \t\n',
      stderr: '',
    });
    expect(sent(ApiKey.ListTransactions)[0].req).toEqual({ stateFilters: [], producerIdFilters: [], durationFilter: -1n });
  });

  it('--list --duration-filter asks for long-running transactions only, and says when the broker cannot', async () => {
    script = (api) => (api === ApiKey.ListTransactions ? listAnswer() : undefined);
    await start();
    expect((await txn('--list', '--duration-filter', '60000')).code).toBe(0);
    expect(sent(ApiKey.ListTransactions)[0]).toMatchObject({ version: 1, req: { durationFilter: 60000n } });
    await broker!.close();

    const versions = new Map([...API_MESSAGES].map(([k, api]) => [k, [api.minVersion, k === ApiKey.ListTransactions ? 0 : api.maxVersion] as [number, number]]));
    await start({ versions });
    const r = await txn('--list', '--duration-filter', '60000');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Failed to list transactions: filtering transactions by duration needs ListTransactions v1 (Kafka 3.8+); the broker at 127.0.0.1:${broker!.port} speaks v0\n`);
  });

  it('says so when the broker has no ListTransactions at all', async () => {
    const versions = new Map([...API_MESSAGES].filter(([k]) => k !== ApiKey.ListTransactions).map(([k, api]) => [k, [api.minVersion, api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion] as [number, number]]));
    await start({ versions });
    const r = await txn('--list');
    expect(r).toEqual({ code: 1, stdout: '', stderr: `Failed to list transactions: the broker at 127.0.0.1:${broker!.port} supports no version of ListTransactions that this client speaks\n` });
  });

  it('--describe prints the transaction at its coordinator; an unknown id fails (exit 1)', async () => {
    const startMs = BigInt(Date.now() - 90_000);
    script = (api, _v, req) => {
      if (api === ApiKey.FindCoordinator) return coordinator(req);
      if (api !== ApiKey.DescribeTransactions) return undefined;
      const id: string = req.transactionalIds[0];
      return {
        response: {
          throttleTimeMs: 0,
          transactionStates: [
            {
              errorCode: id === 'payments-1' ? 0 : ErrorCode.TRANSACTIONAL_ID_NOT_FOUND,
              transactionalId: id,
              transactionState: 'Ongoing',
              transactionTimeoutMs: 60000,
              transactionStartTimeMs: startMs,
              producerId: 1000n,
              producerEpoch: 2,
              topics: [{ topic: 'orders', partitions: [1, 0] }],
            },
          ],
        },
      };
    };
    await start();
    const r = await txn('describe', '--transactional-id', 'payments-1');
    expect(r.code).toBe(0);
    const [header, row, end] = r.stdout.split('\n');
    // TopicPartitions is padded to its cell, 'orders-0,orders-1'.
    expect(header).toBe('CoordinatorId\tTransactionalId\tProducerId\tProducerEpoch\tTransactionState\tTransactionTimeoutMs\tCurrentTransactionStartTimeMs\tTransactionDurationMs\tTopicPartitions  \t');
    const cells = row.split('\t').map((c) => c.trim());
    expect(cells.slice(0, 7)).toEqual(['0', 'payments-1', '1000', '2', 'Ongoing', '60000', String(startMs)]);
    expect(Number(cells[7])).toBeGreaterThanOrEqual(90_000);
    expect(Number(cells[7])).toBeLessThan(150_000);
    expect(cells[8]).toBe('orders-0,orders-1');
    expect(end).toBe('');
    expect(sent(ApiKey.FindCoordinator)[0].req).toMatchObject({ keyType: 1, coordinatorKeys: ['payments-1'] });

    expect(await txn('--describe', '--transactional-id', 'gone')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Failed to describe transaction state of transactional-id `gone`: The transactionalId could not be found.\n',
    });
  });

  it('--describe-producers prints the producers of a partition at its leader, or fails for it', async () => {
    script = (api, _v, req) => {
      if (api !== ApiKey.DescribeProducers) return undefined;
      return req.topics[0].partitionIndexes[0] === 0 ? producersAnswer(req, [producer(1000n, { epoch: 2, coordinatorEpoch: 4, start: 12n })]) : producersAnswer(req, [], ErrorCode.NOT_LEADER_OR_FOLLOWER);
    };
    await start();
    expect(await txn('--describe-producers', '--topic', 'orders', '--partition', '0')).toEqual({
      code: 0,
      stdout:
        'ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\tCurrentTransactionStartOffset\t\n' +
        '1000      \t2            \t4                     \t4           \t1700000000000\t12                           \t\n',
      stderr: '',
    });
    const r = await txn('--describe-producers', '--topic', 'orders', '--partition', '1', '--broker-id', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Failed to describe producers for partition orders-1 on broker 0: ' + 'For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.\n');
    const missing = await txn('--describe-producers', '--topic', 'orders', '--partition', '5');
    expect(missing).toEqual({ code: 1, stdout: '', stderr: "Failed to describe producers for partition orders-5 on leader: topic 'orders' has 2 partition(s), 0 to 1\n" });
  });

  it('--abort with --producer-id writes an ABORT marker as given (a negative coordinator epoch as 0), printing nothing', async () => {
    script = (api, _v, req) => (api === ApiKey.WriteTxnMarkers ? markersAnswer(req) : undefined);
    await start();
    const r = await txn('--abort', '--topic', 'orders', '--partition', '1', '--producer-id', '9007199254740993', '--producer-epoch', '3', '--coordinator-epoch', '-1');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(sent(ApiKey.WriteTxnMarkers)[0].req).toEqual({
      markers: [{ producerId: 9007199254740993n, producerEpoch: 3, transactionResult: false, topics: [{ name: 'orders', partitionIndexes: [1] }], coordinatorEpoch: 0 }],
    });
  });

  it('--abort with --start-offset aborts the producer whose transaction starts there', async () => {
    script = (api, _v, req) => {
      if (api === ApiKey.DescribeProducers) return producersAnswer(req, [producer(5n, { start: 10n, epoch: 1 }), producer(6n, { start: 42n, epoch: 7, coordinatorEpoch: 3 }), producer(8n)]);
      if (api === ApiKey.WriteTxnMarkers) return markersAnswer(req);
      return undefined;
    };
    await start();
    expect(await txn('--abort', '--topic', 'orders', '--partition', '0', '--start-offset', '42')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(sent(ApiKey.WriteTxnMarkers)[0].req.markers[0]).toMatchObject({ producerId: 6n, producerEpoch: 7, coordinatorEpoch: 3, transactionResult: false });

    expect(await txn('--abort', '--topic', 'orders', '--partition', '0', '--start-offset', '11')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Could not find any open transactions starting at offset 11 on partition orders-0\n',
    });
    expect(sent(ApiKey.WriteTxnMarkers)).toHaveLength(1);
  });

  it("--abort reports the leader's refusal with the transaction it tried", async () => {
    script = (api, _v, req) => (api === ApiKey.WriteTxnMarkers ? markersAnswer(req, ErrorCode.INVALID_PRODUCER_EPOCH) : undefined);
    await start();
    const r = await txn('abort', '--topic', 'orders', '--partition', '0', '--producer-id', '5', '--producer-epoch', '1', '--coordinator-epoch', '2');
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Failed to abort transaction AbortTransactionSpec(topicPartition=orders-0, producerId=5, producerEpoch=1, coordinatorEpoch=2): Producer attempted to produce with an old epoch.\n',
    });
  });

  it('--find-hanging prints the open transactions no coordinator will complete', async () => {
    const old = BigInt(Date.now() - 20 * 60_000 - 30_000);
    script = (api, _v, req) => {
      switch (api) {
        case ApiKey.DescribeProducers:
          return producersAnswer(
            req,
            req.topics[0].partitionIndexes.length === 1 && req.topics[0].partitionIndexes[0] === 1
              ? [producer(21n, { start: 5n, lastTimestamp: old })]
              : [producer(20n, { start: 3n, lastTimestamp: old, epoch: 4, coordinatorEpoch: 1 }), producer(22n, { start: 9n, lastTimestamp: BigInt(Date.now()) })],
          );
        case ApiKey.ListTransactions:
          return { response: { throttleTimeMs: 0, errorCode: 0, unknownStateFilters: [], transactionStates: [] } };
        default:
          return undefined;
      }
    };
    await start();
    const r = await txn('--find-hanging', '--topic', 'orders', '--partition', '0');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'Topic \tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\tLastTimestamp\tDuration(min)\t\n' + `orders\t0        \t20        \t4            \t1               \t3          \t${old}\t20           \t\n`,
    );
    expect(sent(ApiKey.ListTransactions)[0].req.producerIdFilters).toEqual([20n]);

    const none = await txn('find-hanging', '--broker-id', '0', '--max-transaction-timeout', '30');
    expect(none).toEqual({ code: 0, stdout: 'Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\tLastTimestamp\tDuration(min)\t\n', stderr: '' });
  });

  it('--find-hanging fails with one line when a partition cannot be described', async () => {
    script = (api, _v, req) => (api === ApiKey.DescribeProducers ? producersAnswer(req, [], ErrorCode.CLUSTER_AUTHORIZATION_FAILED) : undefined);
    await start();
    expect(await txn('--find-hanging', '--topic', 'orders')).toEqual({ code: 1, stdout: '', stderr: 'Failed to find hanging transactions: Cluster authorization failed. (orders-0)\n' });
  });
});
