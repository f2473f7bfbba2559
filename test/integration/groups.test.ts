/**
 * Consumer groups with real clients on a real broker process: kafkajs 2.2.4 members (as child
 * processes where a crash must be real: SIGKILL sends no LeaveGroup), kcat's balanced consumer
 * (librdkafka 2.0.2), committed offsets across a broker restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type Producer } from 'kafkajs';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { REPO_ROOT } from '../helpers/build';
import { waitFor } from '../helpers/waitFor';
import { decodeSubscription } from '../../core/group/consumerProtocol';

const SESSION_TIMEOUT_MS = 6000;
/** Member settings that make kafkajs notice rebalances quickly (it heartbeats between fetches). */
const FAST = { sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: 500, maxWaitTimeInMs: 500, rebalanceTimeout: 20_000 };

let broker: BrokerProcess;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const consumers: Consumer[] = [];

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker({ overrides: { 'group.initial.rebalance.delay.ms': '0' } });
  kafka = new Kafka({ clientId: 'groups-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
}, 60_000);

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
  await stopMembers();
  await producer?.disconnect();
  await admin?.disconnect();
  await stopAllBrokers();
}, 60_000);

// ---- kafkajs members in child processes ---------------------------------------------------------

const MEMBER_SCRIPT = String.raw`
const { Kafka, logLevel } = require('kafkajs');
const cfg = JSON.parse(process.env.MEMBER_CONFIG);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const kafka = new Kafka({ clientId: cfg.name, brokers: [cfg.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20 } });
const consumer = kafka.consumer({ groupId: cfg.groupId, ...cfg.consumer });
consumer.on(consumer.events.GROUP_JOIN, (e) => out({ ev: 'assigned', memberId: e.payload.memberId, assignment: e.payload.memberAssignment }));
consumer.on(consumer.events.CRASH, (e) => out({ ev: 'crash', error: String(e.payload.error) }));
(async () => {
  await consumer.connect();
  await consumer.subscribe({ topic: cfg.topic, fromBeginning: true });
  await consumer.run({
    autoCommit: cfg.autoCommit,
    eachMessage: async ({ partition, message }) => out({ ev: 'record', p: partition, o: message.offset, v: message.value.toString() }),
  });
})().catch((e) => { out({ ev: 'crash', error: String(e) }); process.exit(1); });
process.on('SIGTERM', () => consumer.disconnect().then(() => { out({ ev: 'left' }); process.exit(0); }));
`;

const SETPRIV = '/usr/bin/setpriv';

class Member {
  readonly child: ChildProcess;
  readonly records: { p: number; o: string; v: string }[] = [];
  /** Partitions of the topic in the member's latest assignment. */
  partitions: number[] = [];
  assignments = 0;
  memberId = '';
  private output = '';
  readonly exited: Promise<void>;

  constructor(readonly name: string, topic: string, groupId: string, autoCommit: boolean) {
    const config = { name, bootstrap: broker.bootstrap, topic, groupId, autoCommit, consumer: FAST };
    // setpriv: the kernel kills the member if the jest worker dies, so none outlives the run.
    const [cmd, args] = fs.existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', process.execPath, '-e', MEMBER_SCRIPT]]
      : [process.execPath, ['-e', MEMBER_SCRIPT]];
    this.child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, MEMBER_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    let pending = '';
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        this.onLine(line);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      this.output = (this.output + text).slice(-20_000);
    });
    members.add(this);
  }

  private onLine(line: string): void {
    const m = JSON.parse(line) as { ev: string; p: number; o: string; v: string; assignment: Record<string, number[]>; memberId: string; error: string };
    if (m.ev === 'record') this.records.push({ p: m.p, o: m.o, v: m.v });
    else if (m.ev === 'assigned') {
      this.memberId = m.memberId;
      this.partitions = Object.values(m.assignment).flat().sort((a, b) => a - b);
      this.assignments++;
    } else if (m.ev === 'crash') this.output += `\nconsumer crashed: ${m.error}`;
  }

  values(): Set<string> {
    return new Set(this.records.map((r) => r.v));
  }

  /** A crash: no LeaveGroup, no commit. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A clean shutdown: consumer.disconnect() sends LeaveGroup. */
  async leave(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }

  describe(): string {
    return `${this.name} (${this.memberId}) partitions ${JSON.stringify(this.partitions)}, ${this.records.length} records; stderr: ${this.output.slice(-2000)}`;
  }
}

const members = new Set<Member>();

async function stopMembers(): Promise<void> {
  await Promise.all(
    [...members].map(async (m) => {
      if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
      await m.exited;
    }),
  );
  members.clear();
}

// ---- helpers ------------------------------------------------------------------------------------

async function produce(topic: string, prefix: string, n: number, partitions: number): Promise<string[]> {
  const values = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  // Explicit partitions, so every partition gets records whatever the partitioner does.
  await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ value, partition: i % partitions })) });
  return values;
}

function missing(expected: Iterable<string>, got: Set<string>): string[] {
  return [...expected].filter((v) => !got.has(v));
}

function union(...sets: Set<string>[]): Set<string> {
  const u = new Set<string>();
  for (const s of sets) for (const v of s) u.add(v);
  return u;
}

/** An in-process kafkajs consumer that records what it receives and its latest assignment. */
async function inProcessConsumer(groupId: string, topic: string, opts: { autoCommit?: boolean } = {}) {
  const consumer = kafka.consumer({ groupId, ...FAST });
  consumers.push(consumer);
  const state = { consumer, values: new Set<string>(), partitions: [] as number[], assignments: 0 };
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    state.partitions = Object.values(e.payload.memberAssignment).flat().sort((a, b) => a - b);
    state.assignments++;
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ autoCommit: opts.autoCommit ?? true, eachMessage: async ({ message }) => void state.values.add(message.value!.toString()) });
  return state;
}

// ---- tests --------------------------------------------------------------------------------------

test('three kafkajs members share six partitions; a crashed member\'s partitions move after the session timeout, a clean leave rebalances at once, no record is skipped', async () => {
  const topic = 'g-six';
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }] });
  const produced = await produce(topic, 'before', 120, 6);
  const [a, b, c] = ['m-a', 'm-b', 'm-c'].map((name) => new Member(name, topic, 'six', true));
  const describeAll = () => [a, b, c].map((m) => m.describe()).join('\n');

  await waitFor(() => [a, b, c].every((m) => m.partitions.length === 2) && new Set([a, b, c].flatMap((m) => m.partitions)).size === 6, {
    timeoutMs: 30_000,
    message: `2 partitions each\n${describeAll()}`,
  });
  const described = await admin.describeGroups(['six']);
  expect(described.groups[0]).toMatchObject({ state: 'Stable', protocolType: 'consumer', protocol: 'RoundRobinAssigner' });
  expect(described.groups[0].members.map((m) => m.memberId).sort()).toEqual([a, b, c].map((m) => m.memberId).sort());
  for (const m of described.groups[0].members) {
    expect(m.clientHost).toBe('/127.0.0.1');
    expect(decodeSubscription(m.memberMetadata).subscription.topics).toEqual([topic]);
  }
  await waitFor(() => missing(produced, union(a.values(), b.values(), c.values())).length === 0, { timeoutMs: 30_000, message: `first records consumed\n${describeAll()}` });

  // A crash: C's partitions go to A and B only after its session times out.
  const cPartitions = c.partitions;
  const killedAt = Date.now();
  await c.kill();
  produced.push(...(await produce(topic, 'after-crash', 120, 6)));
  await waitFor(() => a.partitions.length === 3 && b.partitions.length === 3 && new Set([...a.partitions, ...b.partitions]).size === 6, {
    timeoutMs: 30_000,
    message: `C's partitions ${JSON.stringify(cPartitions)} reassigned\n${describeAll()}`,
  });
  expect(Date.now() - killedAt).toBeGreaterThanOrEqual(SESSION_TIMEOUT_MS - 1000);
  await waitFor(() => missing(produced, union(a.values(), b.values(), c.values())).length === 0, { timeoutMs: 30_000, message: `records after the crash\n${describeAll()}` });

  // A clean leave: LeaveGroup rebalances without waiting for a session timeout.
  const leftAt = Date.now();
  await b.leave();
  await waitFor(() => a.partitions.length === 6, { timeoutMs: 15_000, message: `A takes everything\n${describeAll()}` });
  expect(Date.now() - leftAt).toBeLessThan(SESSION_TIMEOUT_MS);
  produced.push(...(await produce(topic, 'after-leave', 60, 6)));
  await waitFor(() => missing(produced, union(a.values(), b.values(), c.values())).length === 0, { timeoutMs: 30_000, message: `records after the leave\n${describeAll()}` });
  await a.leave();
  expect((await admin.describeGroups(['six'])).groups[0].state).toBe('Empty');
}, 90_000);

test('a kcat balanced consumer (librdkafka) and a kafkajs group on the same topic each receive every record', async () => {
  const topic = 'g-two-groups';
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  const produced = await produce(topic, 'r', 90, 3);
  const kjs = await inProcessConsumer('kjs-group', topic);
  const args = ['-b', broker.bootstrap, '-G', 'kcat-group', topic, '-e', '-f', '%s\n', '-X', 'auto.offset.reset=earliest', '-X', 'session.timeout.ms=6000'];
  const r = await kcat(args, { timeoutMs: 45_000 });
  if (r.code !== 0) throw new Error(describeRun(`kcat ${args.join(' ')}`, r));
  const kcatValues = new Set(r.stdout.toString('utf8').split('\n').filter((l) => l !== ''));
  expect(missing(produced, kcatValues)).toEqual([]);
  await waitFor(() => missing(produced, kjs.values).length === 0, { timeoutMs: 30_000, message: 'kafkajs group got everything' });
  // kcat committed what it read when it closed: its group's offsets are the log end offsets.
  const committed = await admin.fetchOffsets({ groupId: 'kcat-group', topics: [topic] });
  expect(committed[0].partitions.sort((x, y) => x.partition - y.partition).map((p) => p.offset)).toEqual(['30', '30', '30']);
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
  expect(groups).toEqual(expect.arrayContaining(['kcat-group', 'kjs-group']));
}, 60_000);

test('a fourth member on a three-partition topic stays idle until a member leaves, then takes over', async () => {
  const topic = 'g-three';
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  const group: Awaited<ReturnType<typeof inProcessConsumer>>[] = [];
  for (let i = 0; i < 4; i++) group.push(await inProcessConsumer('four', topic));
  const describeAll = () => group.map((g, i) => `#${i}: ${JSON.stringify(g.partitions)} (${g.assignments} assignments)`).join(', ');
  await waitFor(
    async () => {
      const d = await admin.describeGroups(['four']);
      return d.groups[0].state === 'Stable' && d.groups[0].members.length === 4 && group.every((g) => g.assignments > 0) && group.filter((g) => g.partitions.length === 1).length === 3;
    },
    { timeoutMs: 30_000, message: `3 busy members and 1 idle: ${describeAll()}` },
  );
  const idle = group.find((g) => g.partitions.length === 0)!;
  const leaving = group.find((g) => g.partitions.length === 1)!;
  const itsPartition = leaving.partitions[0];
  await leaving.consumer.disconnect();
  const stay = group.filter((g) => g !== leaving);
  // Each member learns its new assignment on its own (its SyncGroup answer): wait for all three.
  const covered = () => new Set(stay.flatMap((g) => g.partitions)).size === 3 && stay.every((g) => g.partitions.length === 1);
  await waitFor(() => idle.partitions.length === 1 && covered(), { timeoutMs: 20_000, message: `the idle member takes a partition: ${describeAll()}` });
  expect(new Set(stay.flatMap((g) => g.partitions))).toEqual(new Set([0, 1, 2]));
  expect(stay.flatMap((g) => g.partitions)).toContain(itsPartition);
  const produced = await produce(topic, 'x', 30, 3);
  await waitFor(() => missing(produced, union(...stay.map((g) => g.values))).length === 0, { timeoutMs: 20_000, message: 'records reach the remaining members' });
  expect(idle.values.size).toBeGreaterThan(0);
  for (const g of stay) await g.consumer.disconnect();
}, 60_000);

test('at least once: records processed but not committed before a crash are delivered again; committed offsets survive a broker restart', async () => {
  const topic = 'g-alo';
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  const first = await produce(topic, 'first', 40, 2);
  // The crashing member reads everything and commits nothing.
  const crasher = new Member('crasher', topic, 'alo', false);
  await waitFor(() => missing(first, crasher.values()).length === 0, { timeoutMs: 30_000, message: `the crasher read everything: ${crasher.describe()}` });
  await crasher.kill();
  // The next member starts from the committed offsets, i.e. from the beginning: everything again.
  const next = await inProcessConsumer('alo', topic);
  await waitFor(() => missing(first, next.values).length === 0, { timeoutMs: 30_000, message: 'the records are delivered again after the rebalance' });
  await next.consumer.disconnect(); // commits what it processed, then leaves

  const before = await admin.fetchOffsets({ groupId: 'alo', topics: [topic] });
  expect(before[0].partitions.map((p) => p.offset).sort()).toEqual(['20', '20']);
  await producer.disconnect();
  await admin.disconnect();
  broker = await broker.restart({ samePort: true });
  await admin.connect();
  await producer.connect();
  const after = await admin.fetchOffsets({ groupId: 'alo', topics: [topic] });
  expect(after).toEqual(before);
  expect((await admin.describeGroups(['alo'])).groups[0].state).toBe('Empty');

  // A new member resumes from the committed offsets: it sees only what came after.
  const second = await produce(topic, 'second', 20, 2);
  const resumed = await inProcessConsumer('alo', topic);
  await waitFor(() => missing(second, resumed.values).length === 0, { timeoutMs: 30_000, message: 'the new member reads the new records' });
  expect([...resumed.values].filter((v) => v.startsWith('first-'))).toEqual([]);
  await resumed.consumer.disconnect();
}, 90_000);
