import { StrataClient, TopicPartitionRef } from '../../core/client/client';
import { ConsumerRecord, GroupConsumer, GroupConsumerOptions } from '../../core/client/groupConsumer';
import { BrokerProcess, startBroker } from '../helpers/broker';
import { waitFor } from '../helpers/waitFor';

/**
 * The group consumer against a real broker: joining, assignment, commits, rebalances on join
 * and leave, heartbeats, and closing while the coordinator holds a join. (Protocol corner
 * cases the real coordinator cannot be made to produce on demand are in
 * groupMembership.test.ts, against a scripted coordinator.)
 */

jest.setTimeout(60_000);

let broker: BrokerProcess;
let admin: StrataClient;
const consumers: GroupConsumer[] = [];

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'group.initial.rebalance.delay.ms': '0', 'group.min.session.timeout.ms': '1000' } });
  admin = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await admin.close();
});

function consumer(opts: Partial<GroupConsumerOptions> & { groupId: string; topics: string[] }): GroupConsumer {
  const c = new GroupConsumer({ bootstrapServers: [broker.bootstrap], heartbeatIntervalMs: 200, sessionTimeoutMs: 10_000, autoOffsetReset: 'earliest', ...opts });
  consumers.push(c);
  return c;
}

async function topic(name: string, partitions: number, perPartition = 0, prefix = 'v'): Promise<void> {
  await admin.createTopics([{ name, numPartitions: partitions }]);
  await produce(name, partitions, perPartition, prefix);
}

async function produce(name: string, partitions: number, perPartition: number, prefix: string): Promise<void> {
  if (perPartition === 0) return;
  for (let p = 0; p < partitions; p++) {
    await admin.produce(name, p, Array.from({ length: perPartition }, (_, i) => ({ value: `${prefix}-${p}-${i}` })));
  }
}

/** Polls until `n` records arrived (bounded). */
async function drain(c: GroupConsumer, n: number, timeoutMs = 20_000): Promise<ConsumerRecord[]> {
  const out: ConsumerRecord[] = [];
  await waitFor(
    async () => {
      out.push(...(await c.poll({ maxWaitMs: 200 })));
      return out.length >= n;
    },
    { timeoutMs, intervalMs: 0, message: `${n} records (got ${out.length})` },
  );
  return out;
}

/** Keeps a consumer polling in the background, like an application's loop. */
class Loop {
  readonly records: ConsumerRecord[] = [];
  error: unknown = null;
  private stopped = false;
  private readonly done: Promise<void>;
  constructor(readonly consumer: GroupConsumer) {
    this.done = (async () => {
      while (!this.stopped) {
        try {
          this.records.push(...(await consumer.poll({ maxWaitMs: 100 })));
        } catch (err) {
          this.error = err;
          return;
        }
      }
    })();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

const values = (rs: ConsumerRecord[]): string[] => rs.map((r) => r.value!.toString()).sort();
const sortTp = (tps: TopicPartitionRef[]): string[] => tps.map((t) => `${t.topic}-${t.partition}`).sort();

describe('GroupConsumer', () => {
  it('joins, reads from the earliest offset, commits on close; the next member resumes there', async () => {
    await topic('resume', 3, 4, 'old');
    const c1 = consumer({ groupId: 'resume-g', topics: ['resume'] });
    const first = await drain(c1, 12);
    expect(values(first)).toHaveLength(12);
    expect(sortTp(c1.assignment())).toEqual(['resume-0', 'resume-1', 'resume-2']);
    expect(c1.memberId).toMatch(/^strata-consumer-/);
    expect(c1.generationId).toBeGreaterThan(0);
    await c1.close();
    expect((await admin.offsetFetch('resume-g', null)).map((o) => o.offset)).toEqual([4n, 4n, 4n]);
    // The member left: the group is empty at once, not after the session timeout.
    expect((await admin.describeGroups(['resume-g']))[0]).toMatchObject({ state: 'Empty', members: [] });

    await produce('resume', 3, 2, 'new');
    const c2 = consumer({ groupId: 'resume-g', topics: ['resume'] });
    const second = await drain(c2, 6);
    expect(values(second)).toEqual(['new-0-0', 'new-0-1', 'new-1-0', 'new-1-1', 'new-2-0', 'new-2-1']);
  });

  it('auto.offset.reset: latest starts at the end; none fails with NoOffsetForPartition', async () => {
    await topic('reset', 1, 3, 'old');
    const latest = consumer({ groupId: 'reset-latest', topics: ['reset'], autoOffsetReset: 'latest' });
    await waitFor(async () => (await latest.poll({ maxWaitMs: 100 }), latest.position('reset', 0) !== undefined), { message: 'a position for reset-0' });
    expect(latest.position('reset', 0)).toBe(3n);
    await produce('reset', 1, 1, 'new');
    expect(values(await drain(latest, 1))).toEqual(['new-0-0']);

    const none = consumer({ groupId: 'reset-none', topics: ['reset'], autoOffsetReset: 'none' });
    let error: unknown;
    await waitFor(async () => {
      try {
        await none.poll({ maxWaitMs: 100 });
        return false;
      } catch (err) {
        error = err;
        return true;
      }
    });
    expect(error).toMatchObject({ code: 'NO_OFFSET_FOR_PARTITION', message: expect.stringContaining('Undefined offset with no reset policy for partitions: [reset-0]') });

    // With a committed offset, 'none' has nothing to complain about. (An admin commit is
    // refused while the group has members, so the failed member leaves first.)
    await none.close();
    await admin.offsetCommit('reset-none', [{ topic: 'reset', partition: 0, offset: 1n }]);
    const again = consumer({ groupId: 'reset-none', topics: ['reset'], autoOffsetReset: 'none' });
    expect(values(await drain(again, 3))).toEqual(['new-0-0', 'old-0-1', 'old-0-2']);
  });

  it('splits partitions between members and hands them over on join and leave without losing or repeating a record', async () => {
    await topic('split', 4, 10, 'a');
    const c1 = consumer({ groupId: 'split-g', topics: ['split'] });
    const loop1 = new Loop(c1);
    await waitFor(() => loop1.records.length === 40, { timeoutMs: 20_000, message: 'c1 reads the first 40' });

    const c2 = consumer({ groupId: 'split-g', topics: ['split'] });
    const loop2 = new Loop(c2);
    await waitFor(() => c1.assignment().length === 2 && c2.assignment().length === 2, { timeoutMs: 20_000, message: 'a 2/2 split' });
    // range: the member with the smaller id takes 0-1.
    expect([...sortTp(c1.assignment()), ...sortTp(c2.assignment())].sort()).toEqual(['split-0', 'split-1', 'split-2', 'split-3']);
    await produce('split', 4, 10, 'b');
    await waitFor(() => loop1.records.length + loop2.records.length === 80, { timeoutMs: 20_000, message: 'both read the next 40' });
    expect(loop2.records.length).toBe(20);

    await loop2.stop();
    const leftAt = Date.now();
    await c2.close();
    await waitFor(() => c1.assignment().length === 4, { timeoutMs: 20_000, message: 'c1 takes all partitions back' });
    // A clean leave rebalances at once, not after the 10 s session timeout.
    expect(Date.now() - leftAt).toBeLessThan(5_000);
    await produce('split', 4, 10, 'c');
    await waitFor(() => loop1.records.length + loop2.records.length === 120, { timeoutMs: 20_000, message: 'c1 reads the last 40' });
    await loop1.stop();
    expect(loop1.error).toBeNull();
    expect(loop2.error).toBeNull();
    const all = [...loop1.records, ...loop2.records];
    expect(new Set(values(all)).size).toBe(120);
  });

  it('settles on the assignor every member offers', async () => {
    await topic('rr', 2, 0);
    const c1 = consumer({ groupId: 'rr-g', topics: ['rr'], assignors: ['range', 'roundrobin'] });
    const loop1 = new Loop(c1);
    await waitFor(() => c1.assignment().length === 2, { message: 'c1 joined' });
    const c2 = consumer({ groupId: 'rr-g', topics: ['rr'], assignors: ['roundrobin'] });
    const loop2 = new Loop(c2);
    await waitFor(() => c1.assignment().length === 1 && c2.assignment().length === 1, { timeoutMs: 20_000, message: 'a 1/1 split' });
    expect((await admin.describeGroups(['rr-g']))[0]).toMatchObject({ state: 'Stable', protocol: 'roundrobin' });
    await Promise.all([loop1.stop(), loop2.stop()]);
  });

  it('stays in the group through heartbeats while the application does not poll', async () => {
    await topic('idle', 1, 1);
    const c = consumer({ groupId: 'idle-g', topics: ['idle'], sessionTimeoutMs: 1_500, heartbeatIntervalMs: 300 });
    await drain(c, 1);
    const generation = c.generationId;
    const before = (await admin.describeGroups(['idle-g']))[0];
    // Three session timeouts without a poll: only the heartbeat timer keeps the member alive.
    const until = Date.now() + 4_500;
    await waitFor(() => Date.now() >= until, { timeoutMs: 10_000, intervalMs: 250 });
    const after = (await admin.describeGroups(['idle-g']))[0];
    expect(after.state).toBe('Stable');
    expect(after.members.map((m) => m.memberId)).toEqual(before.members.map((m) => m.memberId));
    await produce('idle', 1, 1, 'later');
    expect(values(await drain(c, 1))).toEqual(['later-0-0']);
    expect(c.generationId).toBe(generation);
  });

  it('rebalances when a subscribed topic grows (the leader watches partition counts)', async () => {
    await topic('grow', 1, 0);
    const c = consumer({ groupId: 'grow-g', topics: ['grow'], metadataMaxAgeMs: 200 });
    const loop = new Loop(c);
    await waitFor(() => c.assignment().length === 1, { message: 'joined' });
    await admin.createPartitions([{ topic: 'grow', count: 3 }]);
    await waitFor(() => c.assignment().length === 3, { timeoutMs: 20_000, message: 'the new partitions are assigned' });
    await admin.produce('grow', 2, [{ value: 'in-new-partition' }]);
    await waitFor(() => loop.records.some((r) => r.partition === 2), { timeoutMs: 20_000, message: 'a record of the new partition' });
    await loop.stop();
  });

  it('commitSync commits positions and committed() reads them back', async () => {
    await topic('sync', 2, 3);
    const c = consumer({ groupId: 'sync-g', topics: ['sync'], enableAutoCommit: false });
    await drain(c, 6);
    expect(await c.committed()).toEqual([]);
    await c.commitSync();
    expect(await c.committed()).toEqual([
      { topic: 'sync', partition: 0, offset: 3n },
      { topic: 'sync', partition: 1, offset: 3n },
    ]);
    await c.commitSync([{ topic: 'sync', partition: 1, offset: 1n }]);
    expect((await admin.offsetFetch('sync-g', null)).map((o) => o.offset)).toEqual([3n, 1n]);
    // Without auto-commit, close commits nothing.
    await c.close();
    expect((await admin.offsetFetch('sync-g', null)).map((o) => o.offset)).toEqual([3n, 1n]);
  });

  it('close() returns promptly while the coordinator holds its join, and leaves the group', async () => {
    await topic('held', 2, 0);
    const c1 = consumer({ groupId: 'held-g', topics: ['held'], rebalanceTimeoutMs: 30_000 });
    await waitFor(async () => (await c1.poll({ maxWaitMs: 100 }), c1.assignment().length === 2), { message: 'c1 joined' });
    // c1 now stops polling: it keeps heartbeating but will not rejoin, so the coordinator holds
    // c2's JoinGroup for up to c1's 30 s rebalance timeout.
    const c2 = consumer({ groupId: 'held-g', topics: ['held'] });
    expect(await c2.poll({ maxWaitMs: 300 })).toEqual([]);
    await waitFor(async () => (await admin.describeGroups(['held-g']))[0].state === 'PreparingRebalance', { message: 'the group is rebalancing' });
    const started = Date.now();
    await c2.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    await waitFor(async () => (await admin.describeGroups(['held-g']))[0].members.length === 1, { message: 'c2 left' });
    // c1 rejoins when it polls again and gets everything.
    await waitFor(async () => (await c1.poll({ maxWaitMs: 100 }), c1.assignment().length === 2 && c1.generationId > 1), { timeoutMs: 20_000, message: 'c1 rejoined' });
    expect((await admin.describeGroups(['held-g']))[0]).toMatchObject({ state: 'Stable' });
  });

  // Last: it restarts the file's broker.
  it('rides out a broker restart: rejoins and resumes from its committed offsets', async () => {
    await topic('restart', 2, 5, 'before');
    const c = consumer({ groupId: 'restart-g', topics: ['restart'], autoCommitIntervalMs: 100 });
    const loop = new Loop(c);
    await waitFor(() => loop.records.length === 10, { timeoutMs: 20_000, message: 'the first 10 records' });
    await waitFor(async () => (await admin.offsetFetch('restart-g', null)).map((o) => o.offset).join() === '5,5', { message: 'auto-commit of 5, 5' });
    const memberId = c.memberId;
    broker = await broker.restart({ samePort: true });
    await produce('restart', 2, 3, 'after');
    const after = (): string[] => [...new Set(values(loop.records.slice(10)))];
    await waitFor(() => after().length === 6, { timeoutMs: 30_000, message: 'the 6 records produced after the restart' });
    // The restarted coordinator forgot the member (membership is not stored): its next heartbeat
    // or commit is refused, and it joins again as a new member.
    await waitFor(() => c.memberId !== memberId && c.memberId !== '' && c.assignment().length === 2, { timeoutMs: 20_000, message: 'a rejoin' });
    await loop.stop();
    expect(loop.error).toBeNull();
    expect(after()).toEqual(['after-0-0', 'after-0-1', 'after-0-2', 'after-1-0', 'after-1-1', 'after-1-2']);
    // At least once: what was read after the restart but before the member learnt it had been
    // forgotten could not be committed and may come again; what was committed never does.
    expect(values(loop.records.slice(10)).filter((v) => v.startsWith('before'))).toEqual([]);
  });
});
