/**
 * The cross-region mirror across two "regions": two independent local Strata brokers (each its
 * own data dir, metadata store and object store), the Lambda handler from dist
 * (dist/functions/mirror/handler.js, required by a child process standing for one Lambda
 * container: its environment set before the require, invocations one at a time over stdin),
 * fed with self-managed Kafka events built from real fetches of the source.
 *
 * - normal mode: every record arrives with key, value, headers and timestamp, in order per
 *   partition, in <alias>.<topic> with the source's partition count and configs; the same event
 *   again (and from a fresh container) adds nothing; a poison record fails the invocation naming
 *   it while everything before it is mirrored;
 * - `strata mirror translate-offsets --execute`: a consumer group resumes on the target exactly at
 *   the next record (no gap, no repeat), and is refused while the group has members there;
 * - offset-preserving mode (a transactional source: commit markers and an aborted transaction
 *   leave gaps; a log start above 0): every target offset equals its source offset, a retry adds
 *   nothing, the mirror topic refuses ordinary produce until promoted, offsets translate 1:1;
 * - `strata mirror` as a long-running process: mirrors, stops cleanly on SIGTERM, resumes
 *   without duplicates.
 */
import { spawn, type ChildProcess } from 'child_process';
import { ConfigResourceType, LATEST_TIMESTAMP, StrataClient } from '../../core/client/client';
import { GroupConsumer } from '../../core/client/groupConsumer';
import { TransactionalProducer } from '../../core/client/transactionalProducer';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { toMirrorEvent, type SelfManagedKafkaEventJson } from '../../core/mirror/event';
import { translateGroupOffsets } from '../../core/mirror/translate';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { runProcess } from '../helpers/proc';
import { LambdaContainer, MIRROR_HANDLER, children, childEnv, stopAllContainers } from '../helpers/lambdaContainer';
import { readCommitted } from '../../core/client/readCommitted';
import { recordMaker, recordView } from '../helpers/recordCopy';
import { waitFor } from '../helpers/waitFor';

jest.setTimeout(120_000);



let east: BrokerProcess;
let west: BrokerProcess;
let eastC: StrataClient;
let westC: StrataClient;
let normal: LambdaContainer;

beforeAll(async () => {
  [east, west] = await Promise.all([startBroker(), startBroker()]);
  eastC = new StrataClient({ bootstrapServers: [east.bootstrap], clientId: 'mirror-test-east' });
  westC = new StrataClient({ bootstrapServers: [west.bootstrap], clientId: 'mirror-test-west' });
  normal = LambdaContainer.start({ MIRROR_TARGET_BOOTSTRAP_SERVERS: west.bootstrap, MIRROR_SOURCE_ALIAS: 'east' });
}, 60_000);

afterAll(async () => {
  await normal?.stop();
  stopAllContainers();
  await eastC?.close();
  await westC?.close();
  await stopAllBrokers();
});


/** The Lambda event for the source partitions' committed records from `from` (default: their start), built from real fetches. */
async function eventOf(topic: string, partitions: number[], from: Map<number, bigint> = new Map()): Promise<SelfManagedKafkaEventJson> {
  const parts = await Promise.all(partitions.map(async (partition) => ({ topic, partition, records: await readCommitted(eastC, topic, partition, { from: from.get(partition) }) })));
  return JSON.parse(JSON.stringify(toMirrorEvent(east.bootstrap, parts))) as SelfManagedKafkaEventJson;
}

async function endOffsets(c: StrataClient, topic: string, partitions: number[]): Promise<Map<number, bigint>> {
  return new Map(await Promise.all(partitions.map(async (p) => [p, (await c.listOffsets(topic, p, LATEST_TIMESTAMP, { isolationLevel: 1 })).offset] as [number, bigint])));
}

const records = recordMaker();

async function produceTo(topic: string, partitions: number[], n: number, batches = 1): Promise<void> {
  for (const p of partitions) for (let b = 0; b < batches; b++) await eastC.produce(topic, p, records(p, n));
}

async function expectMirrored(sourceTopic: string, targetTopic: string, partitions: number[]): Promise<void> {
  for (const p of partitions) {
    const [src, dst] = await Promise.all([readCommitted(eastC, sourceTopic, p), readCommitted(westC, targetTopic, p)]);
    expect(dst.map(recordView)).toEqual(src.map(recordView));
  }
}

function strata(args: string[], timeoutMs = 60_000) {
  return runProcess(process.execPath, [BROKER_MAIN, ...args], { timeoutMs, env: childEnv({}) });
}

const ORDERS = 'orders';
const P3 = [0, 1, 2];

test('an invalid environment fails the cold start, naming the variable', async () => {
  const r = await runProcess(process.execPath, ['-e', `require(${JSON.stringify(MIRROR_HANDLER)})`], {
    env: childEnv({ MIRROR_TARGET_BOOTSTRAP_SERVERS: west.bootstrap, MIRROR_SOURCE_ALIAS: 'east', MIRROR_TOPIC_NAMING: 'flat' }),
  });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('MIRROR_TOPIC_NAMING must be prefixed or identity');
});

describe('normal (MirrorMaker 2) mode', () => {
  beforeAll(async () => {
    await eastC.createTopics([{ name: ORDERS, numPartitions: 3, configs: { 'retention.ms': '31536000000000', 'max.message.bytes': '2000000', 'min.insync.replicas': '1' } }]);
    await produceTo(ORDERS, P3, 4, 3);
  });

  test('every record arrives with key, value, headers and timestamp, in order per partition, in <alias>.<topic> shaped like the source', async () => {
    const event = await eventOf(ORDERS, P3);
    expect(Object.values(event.records).map((r) => r.length)).toEqual([12, 12, 12]);
    const out = await normal.ok(event);
    expect(out.map((p) => [p.partition, p.targetTopic, p.recordsIn, p.recordsOut, p.alreadyMirrored])).toEqual(P3.map((p) => [p, 'east.orders', 12, 12, 0]));
    await expectMirrored(ORDERS, 'east.orders', P3);

    expect(await westC.partitionCount('east.orders')).toBe(3);
    const configs = new Map((await westC.describeConfigs({ type: ConfigResourceType.TOPIC, name: 'east.orders' })).map((c) => [c.name, c]));
    expect(configs.get('retention.ms')?.value).toBe('31536000000000'); // ~1000 years: the records' timestamps are from 2021
    expect(configs.get('max.message.bytes')?.value).toBe('2000000');
    expect(configs.get('min.insync.replicas')?.isDefault).toBe(true); // durability is the target's own policy

    expect(normal.logs).toContainEqual(expect.objectContaining({ msg: 'created target topic', topic: 'east.orders', partitions: 3 }));
    const line = normal.logs.find((l) => l.msg === 'mirrored');
    expect(line).toMatchObject({ level: 'info', sourceAlias: 'east', requestId: 'req-1' });
    expect(line!.partitions).toEqual(P3.map((p) => expect.objectContaining({ topic: ORDERS, partition: p, recordsIn: 12, recordsOut: 12, firstOffset: '0', lastOffset: '11' })));
    expect(typeof line!.durationMs).toBe('number');
  });

  test('the same event again adds nothing, from this container or a fresh one; an overlapping event adds only its new records', async () => {
    const event = await eventOf(ORDERS, P3);
    const again = await normal.ok(event);
    expect(again.map((p) => [p.recordsOut, p.alreadyMirrored])).toEqual(P3.map(() => [0, 12]));

    await produceTo(ORDERS, P3, 3);
    const overlapping = await eventOf(ORDERS, P3); // offsets 0..14: 12 mirrored, 3 new
    expect((await normal.ok(overlapping)).map((p) => [p.recordsOut, p.alreadyMirrored])).toEqual(P3.map(() => [3, 12]));

    const cold = LambdaContainer.start({ MIRROR_TARGET_BOOTSTRAP_SERVERS: west.bootstrap, MIRROR_SOURCE_ALIAS: 'east' });
    try {
      expect((await cold.ok(overlapping)).map((p) => p.recordsOut)).toEqual([0, 0, 0]);
    } finally {
      await cold.stop();
    }
    await expectMirrored(ORDERS, 'east.orders', P3);
  });

  test('a poison record fails the invocation naming it; the records before it and the other partitions are mirrored; the fixed event adds the rest once', async () => {
    const from = await endOffsets(eastC, ORDERS, P3);
    await produceTo(ORDERS, P3, 4);
    const event = await eventOf(ORDERS, P3, from);
    const poisoned = JSON.parse(JSON.stringify(event)) as SelfManagedKafkaEventJson;
    const bad = poisoned.records['orders-1'][2];
    bad.value = 'not base64!';

    const r = await normal.invoke(poisoned);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toContain(`orders-1-${bad.offset}: value is not valid base64`);
    const log = normal.logs[normal.logs.length - 1];
    expect(log).toMatchObject({ level: 'error', poisonRecords: [{ topic: ORDERS, partition: 1, offset: String(bad.offset), reason: 'value is not valid base64' }] });

    const targetOf = async (p: number) => (await readCommitted(westC, 'east.orders', p)).length;
    expect([await targetOf(0), await targetOf(1), await targetOf(2)]).toEqual([19, 17, 19]);

    const fixed = await normal.ok(event);
    expect(fixed.map((p) => [p.partition, p.recordsOut, p.alreadyMirrored])).toEqual([
      [0, 0, 4],
      [1, 2, 2],
      [2, 0, 4],
    ]);
    await expectMirrored(ORDERS, 'east.orders', P3);
  });

  test('a missing target topic whose source cannot be read fails the batch with the reason; nothing is created', async () => {
    const event = {
      eventSource: 'SelfManagedKafka',
      bootstrapServers: '127.0.0.1:1', // nothing listens there
      records: { 'ghost-0': [{ topic: 'ghost', partition: 0, offset: 0, timestamp: 1, timestampType: 'CREATE_TIME', value: 'eA==', headers: [] }] },
    };
    const r = await normal.invoke(event);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toContain("target topic 'east.ghost' does not exist, and the source topic 'ghost' could not be read");
    expect(normal.logs[normal.logs.length - 1]).toMatchObject({ level: 'error', failedPartitions: [{ topic: 'ghost', partition: 0 }] });
    expect(await westC.listTopics()).not.toContain('east.ghost');
  });

  test('translated offsets let a consumer group resume on the target at the next record, with no gap and no repeat', async () => {
    const GROUP = 'billing';
    const sourceEnd = await endOffsets(eastC, ORDERS, P3);
    const positions = new Map<number, bigint>([
      [0, 5n],
      [1, 0n],
      [2, sourceEnd.get(2)!], // everything consumed
    ]);
    await eastC.offsetCommit(GROUP, P3.map((p) => ({ topic: ORDERS, partition: p, offset: positions.get(p)! })));
    const translate = ['mirror', 'translate-offsets', '--source-bootstrap-server', east.bootstrap, '--target-bootstrap-server', west.bootstrap, '--source-alias', 'east', '--group', GROUP];

    const dry = await strata(translate);
    expect(dry.stderr).toContain('add --execute');
    expect(dry.code).toBe(0);
    const table = dry.stdout.toString().trim().split('\n');
    expect(table[0]).toMatch(/^TOPIC\s+PARTITION\s+SOURCE-OFFSET\s+TARGET-TOPIC\s+TARGET-OFFSET\s+NOTE$/);
    expect(table.slice(1).map((l) => l.split(/\s+/).slice(0, 4))).toEqual(P3.map((p) => [ORDERS, String(p), String(positions.get(p)), 'east.orders']));
    expect(await westC.offsetFetch(GROUP, null)).toEqual([]);

    // Refused while the group has a member on the target.
    const early = new GroupConsumer({ bootstrapServers: [west.bootstrap], groupId: GROUP, topics: ['east.orders'], autoOffsetReset: 'earliest', enableAutoCommit: false });
    try {
      await waitFor(async () => (await early.poll({ maxWaitMs: 200 }), early.assignment().length === 3), { timeoutMs: 30_000, message: 'the early consumer joining' });
      const refused = await strata([...translate, '--execute']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("consumer group 'billing' has 1 active member(s) on the target cluster");
    } finally {
      await early.close();
    }

    const run = await strata([...translate, '--execute']);
    expect(run.stderr).toContain("Committed 3 offset(s) for consumer group 'billing' on the target cluster.");
    expect(run.code).toBe(0);

    // New records on the source after the failover point of partition 2, mirrored.
    await produceTo(ORDERS, [2], 2);
    await normal.ok(await eventOf(ORDERS, [2], new Map([[2, sourceEnd.get(2)!]])));

    // A consumer of the group on the target reads exactly what it would have read next on the source.
    const expected = new Map<number, unknown[]>();
    for (const p of P3) expected.set(p, (await readCommitted(eastC, ORDERS, p, { from: positions.get(p) })).map(recordView));
    const consumer = new GroupConsumer({ bootstrapServers: [west.bootstrap], groupId: GROUP, topics: ['east.orders'], autoOffsetReset: 'none', isolationLevel: 1, enableAutoCommit: false });
    const got = new Map<number, unknown[]>(P3.map((p) => [p, []]));
    const total = [...expected.values()].reduce((n, v) => n + v.length, 0);
    try {
      await waitFor(
        async () => {
          for (const r of await consumer.poll({ maxWaitMs: 200 })) got.get(r.partition)!.push(recordView(r));
          return [...got.values()].reduce((n, v) => n + v.length, 0) >= total;
        },
        { timeoutMs: 30_000, message: `the target consumer reading ${total} records` },
      );
      // One more poll: nothing beyond (no repeat).
      expect(await consumer.poll({ maxWaitMs: 300 })).toEqual([]);
    } finally {
      await consumer.close();
    }
    for (const p of P3) expect(got.get(p)).toEqual(expected.get(p));
    expect(got.get(2)).toHaveLength(2);
  });
});

describe('offset-preserving mode', () => {
  const LEDGER = 'ledger';
  let preserving: LambdaContainer;

  beforeAll(async () => {
    await eastC.createTopics([{ name: LEDGER, numPartitions: 2 }]);
    // Transactions: commit markers and an aborted transaction leave offset gaps.
    const producer = new TransactionalProducer(eastC, { transactionalId: 'ledger-writer' });
    await producer.initTransactions();
    const txn = async (commit: boolean, n: number) => {
      producer.beginTransaction();
      for (const p of [0, 1]) await producer.send(LEDGER, p, records(p, n));
      await (commit ? producer.commitTransaction() : producer.abortTransaction());
    };
    await txn(true, 3);
    await txn(false, 2);
    await txn(true, 3);
    await eastC.produce(LEDGER, 1, records(1, 2));
    // A log start above 0 on partition 1.
    await eastC.deleteRecords([{ topic: LEDGER, partition: 1, offset: 1n }]);
    preserving = LambdaContainer.start({
      MIRROR_TARGET_BOOTSTRAP_SERVERS: west.bootstrap,
      MIRROR_SOURCE_ALIAS: 'east',
      MIRROR_OFFSET_PRESERVING: 'true',
      MIRROR_TOPIC_NAMING: 'identity',
    });
  });

  afterAll(async () => {
    await preserving?.stop();
  });

  test('every target offset equals its source offset; a retry adds nothing; ordinary produce is refused until the topic is promoted', async () => {
    const event = await eventOf(LEDGER, [0, 1]);
    const sourceOffsets = (p: number) => event.records[`${LEDGER}-${p}`].map((r) => r.offset);
    expect(sourceOffsets(0)).toEqual([0, 1, 2, 7, 8, 9]); // 3 = marker, 4..5 aborted, 6 = marker
    expect(sourceOffsets(1)).toEqual([1, 2, 7, 8, 9, 11, 12]);

    expect((await preserving.ok(event)).map((p) => [p.targetTopic, p.recordsOut])).toEqual([
      [LEDGER, 6],
      [LEDGER, 7],
    ]);
    for (const p of [0, 1]) {
      const [src, dst] = await Promise.all([readCommitted(eastC, LEDGER, p), readCommitted(westC, LEDGER, p)]);
      expect(dst.map((r) => r.offset)).toEqual(src.map((r) => r.offset));
      expect(dst.map(recordView)).toEqual(src.map(recordView));
    }
    const [cfg] = await westC.describeConfigs({ type: ConfigResourceType.TOPIC, name: LEDGER }, ['mirror.source.cluster']);
    expect(cfg.value).toBe('east');

    const ends = await endOffsets(westC, LEDGER, [0, 1]);
    expect((await preserving.ok(event)).map((p) => [p.recordsOut, p.alreadyMirrored])).toEqual([
      [0, 6],
      [0, 7],
    ]);
    expect(await endOffsets(westC, LEDGER, [0, 1])).toEqual(ends);

    await expect(westC.produce(LEDGER, 0, [{ value: 'not mine' }])).rejects.toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: expect.stringContaining('mirror.source.cluster') });

    // Offsets need no translation: copied 1:1, detected from the topic's config.
    await eastC.offsetCommit('ledger-readers', [
      { topic: LEDGER, partition: 0, offset: 4n }, // inside the aborted transaction's gap
      { topic: LEDGER, partition: 1, offset: 8n },
    ]);
    const rows = await translateGroupOffsets({ source: eastC, target: westC, sourceAlias: 'east', naming: 'identity', group: 'ledger-readers' });
    expect(rows.map((r) => [r.targetTopic, r.partition, r.targetOffset, r.how])).toEqual([
      [LEDGER, 0, 4n, 'same-offsets'],
      [LEDGER, 1, 8n, 'same-offsets'],
    ]);
    expect((await readCommitted(westC, LEDGER, 0, { from: 4n })).map(recordView)).toEqual((await readCommitted(eastC, LEDGER, 0, { from: 4n })).map(recordView));

    // Failover: promote the topic by deleting mirror.source.cluster; it is then an ordinary writable topic.
    await westC.incrementalAlterConfigs({ type: ConfigResourceType.TOPIC, name: LEDGER }, [{ name: 'mirror.source.cluster', op: 'delete' }]);
    await waitFor(async () => {
      try {
        await westC.produce(LEDGER, 0, [{ value: 'after promotion' }]);
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 10_000, message: 'produce to the promoted topic' });
  });
});

describe('strata mirror (long-running, without Lambda)', () => {
  const CLICKS = 'clicks';
  const P2 = [0, 1];

  function startCli(): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
    const child = spawn(
      process.execPath,
      [BROKER_MAIN, 'mirror', '--source-bootstrap-server', east.bootstrap, '--target-bootstrap-server', west.bootstrap, '--source-alias', 'east', '--topic', CLICKS, '--max-wait-ms', '200'],
      { env: childEnv({}), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (t: Buffer) => (out += t.toString()));
    child.stderr!.on('data', (t: Buffer) => (err += t.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (children.delete(child), resolve(code))));
    return { child, out: () => out, err: () => err, exited };
  }

  async function targetCounts(): Promise<number[]> {
    try {
      return await Promise.all(P2.map(async (p) => (await readCommitted(westC, 'east.clicks', p)).length));
    } catch {
      return [];
    }
  }

  async function stop(cli: ReturnType<typeof startCli>): Promise<number | null> {
    cli.child.kill('SIGTERM');
    const timer = setTimeout(() => cli.child.kill('SIGKILL'), 15_000);
    const code = await cli.exited;
    clearTimeout(timer);
    return code;
  }

  beforeAll(async () => {
    await eastC.createTopics([{ name: CLICKS, numPartitions: 2 }]);
    await produceTo(CLICKS, P2, 10);
  });

  test('mirrors a topic while it runs, stops cleanly on SIGTERM, and resumes without duplicates', async () => {
    const first = startCli();
    await waitFor(async () => (await targetCounts()).join() === '10,10', { timeoutMs: 30_000, message: `the first 20 records mirrored; stderr: ${first.err()}` });
    await produceTo(CLICKS, P2, 5);
    await waitFor(async () => (await targetCounts()).join() === '15,15', { timeoutMs: 30_000, message: 'records produced while it runs mirrored' });
    expect(await stop(first)).toBe(0);
    expect(first.err()).toContain('stopped; mirrored a total of 30 record(s)');
    expect(first.out()).toMatch(/^mirrored \d+ record\(s\): clicks-/m);

    await produceTo(CLICKS, P2, 5);
    const second = startCli();
    await waitFor(async () => (await targetCounts()).join() === '20,20', { timeoutMs: 30_000, message: `the resumed mirror catching up; stderr: ${second.err()}` });
    expect(await stop(second)).toBe(0);
    expect(second.err()).toContain('mirrored a total of 10 record(s)');
    await expectMirrored(CLICKS, 'east.clicks', P2);
    // The source group (for lag monitoring) is at the end.
    const committed = await eastC.offsetFetch('strata-mirror.east', P2.map((partition) => ({ topic: CLICKS, partition })));
    expect(committed.map((c) => c.offset)).toEqual([20n, 20n]);
  });
});
