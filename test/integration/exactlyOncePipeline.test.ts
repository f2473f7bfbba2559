/**
 * Exactly-once through crashes: a consume-transform-produce job (test/helpers/eosJob.py,
 * python3-confluent-kafka 1.7 / librdkafka 2.0.2: read_committed consumer, one transaction per
 * batch holding its output records and its input offsets) copies 100,000 records from an input to
 * an output topic while the job is SIGKILLed and restarted three times and the broker is
 * SIGKILLed and restarted once — and again on a 3-broker cluster (replication factor 3), where
 * the job is SIGKILLed twice, the leader of an output partition once and the broker coordinating
 * the job's transactional id (and, usually, its group) once. Afterwards the output, read with read_committed, holds each input
 * record exactly once, and a Jepsen-style check of the job's history (every transaction it began,
 * committed / aborted / unknown when it was killed) against full read_committed and
 * read_uncommitted reads finds no lost committed write, duplicate, aborted read or torn
 * transaction.
 */
import { stopAllJobs, EosJob, type JobTxn } from '../helpers/eosJob';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { awsBackendSelected } from '../helpers/awsBackend';
import { checkHistory, formatReport, type History, type ProducedOp, type ReadOp, type Isolation } from '../helpers/history';
import { kcatAvailable, kcatProduce } from '../helpers/kcat';
import { describeRun } from '../helpers/proc';
import { pythonClientsAvailable, runPython } from '../helpers/python';
import { waitFor } from '../helpers/waitFor';
import { StrataClient, LATEST_TIMESTAMP, CoordinatorType } from '../../core/client/client';
import * as path from 'path';

const N = 100_000;
const PARTITIONS = 4;
const BATCH = 300;
const INPUT = 'eos-input';
const OUTPUT = 'eos-output';
const GROUP = 'eos-copy';
const TRANSACTIONAL_ID = 'eos-copy-job';
/**
 * The faults, each when the job has copied (committed) a fraction of the input and is at a given
 * point of a transaction: 'txn' = it has just begun producing one, 'committing' = its records
 * are produced and commit_transaction is being called. The job is SIGKILLed and restarted
 * (same transactional.id and group) three times; the broker once, on the same port.
 */
type Fault = { at: number; kill: 'job' | 'broker' | 'leader' | 'coordinator'; during: 'txn' | 'committing' };
const FAULTS: Fault[] = [
  { at: 0.2, kill: 'job', during: 'txn' },
  { at: 0.45, kill: 'job', during: 'committing' },
  { at: 0.57, kill: 'broker', during: 'committing' },
  { at: 0.7, kill: 'job', during: 'committing' },
];
/**
 * On a cluster: the job twice, the leader of output partition 0 and the transaction coordinator
 * once each (SIGKILL; restarted once another broker has taken over).
 */
const CLUSTER_FAULTS: Fault[] = [
  { at: 0.2, kill: 'job', during: 'txn' },
  { at: 0.4, kill: 'leader', during: 'committing' },
  { at: 0.6, kill: 'coordinator', during: 'committing' },
  { at: 0.75, kill: 'job', during: 'committing' },
];
/** Bound on each stretch of progress between two faults (a broker's restart and failover included). */
const STEP_TIMEOUT_MS = 60_000;
const READER = path.join(__dirname, '..', 'helpers', 'eosRead.py');

let broker: BrokerProcess | null = null;
let cluster: TestCluster | null = null;
let jobs: EosJob[] = [];
const bootstrap = (): string => (cluster ? cluster.bootstrap() : broker!.bootstrap);

beforeAll(async () => {
  await Promise.all([pythonClientsAvailable(), kcatAvailable()]);
});

afterAll(async () => {
  await stopAllJobs();
  await cluster?.stop();
  await stopAllBrokers();
});

function client(): StrataClient {
  return new StrataClient({ bootstrapServers: bootstrap().split(','), clientId: 'eos-test', retries: 8 });
}

async function withClient<T>(fn: (c: StrataClient) => Promise<T>): Promise<T> {
  const c = client();
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Output records of committed transactions, over every run so far. */
const copied = (): number => jobs.reduce((n, j) => n + j.committedRecords, 0);

function startJob(): EosJob {
  const job = new EosJob({
    bootstrap: bootstrap(),
    input: INPUT,
    output: OUTPUT,
    groupId: GROUP,
    transactionalId: TRANSACTIONAL_ID,
    run: `r${jobs.length + 1}`,
    batch: BATCH,
  });
  jobs.push(job);
  return job;
}

function brokerTail(chars = 6000): string {
  const procs = cluster ? cluster.brokers : [broker!];
  return procs.map((b, i) => `--- broker ${i} output (end) ---\n${b.output().slice(-Math.floor(chars / procs.length))}`).join('\n');
}

/** Wait (bounded) until `done`, failing at once if the running job exits by itself. */
async function progress(job: EosJob, what: string, done: () => Promise<boolean> | boolean, timeoutMs = STEP_TIMEOUT_MS): Promise<void> {
  try {
    await Promise.race([waitFor(done, { timeoutMs, intervalMs: 100, message: what }), job.failed]);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n(copied so far: ${copied()} of ${N})\n${job.tail()}\n${brokerTail()}`, { cause: e });
  }
}

interface ReadRecord {
  partition: number;
  offset: bigint;
  key: string;
  value: string;
  txn: string;
}

async function readAll(isolation: Isolation): Promise<ReadRecord[]> {
  const r = await runPython({ file: READER }, { args: [bootstrap(), OUTPUT, String(PARTITIONS), isolation], timeoutMs: 90_000 });
  const what = `python3 eosRead.py (${isolation})`;
  if (r.code !== 0) throw new Error(`${describeRun(what, r)}\n${brokerTail()}`);
  const lines = r.stdout.toString('utf8').split('\n').filter((l) => l !== '');
  const done = JSON.parse(lines.pop() ?? '{}') as { ev?: string; records?: number };
  if (done.ev !== 'done' || done.records !== lines.length) throw new Error(`${what}: no final count line\n${describeRun(what, r)}`);
  return lines.map((l) => {
    const [p, o, key, value, txn] = l.split('\t');
    return { partition: Number(p), offset: BigInt(o!), key: key!, value: value!, txn: txn! };
  });
}

/** SIGKILLs broker `id` of the cluster and, once `takenOver` says another broker stands in, starts it again. */
async function killClusterBroker(id: number, takenOver: () => Promise<boolean>, what: string): Promise<void> {
  await cluster!.brokers[id].kill9();
  await waitFor(() => takenOver().catch(() => false), { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 100, message: what });
  await cluster!.restart(id);
}

test('a consume-transform-produce job copies 100,000 records exactly once through 3 job and 1 broker SIGKILLs', async () => {
  broker = await startBroker({ overrides: { 'group.initial.rebalance.delay.ms': '0' } });
  await runPipeline(FAULTS, 1);
}, 170_000);

test('on a 3-broker cluster: exactly once through job SIGKILLs and SIGKILLs of a partition leader and of the transaction coordinator', async () => {
  await stopAllBrokers();
  broker = null;
  jobs = [];
  // On DynamoDB a restarted broker waits broker.session.timeout.ms for its dead registration: shorter here.
  cluster = await startCluster({ brokers: 3, overrides: { 'group.initial.rebalance.delay.ms': '0', ...(awsBackendSelected() ? { 'broker.session.timeout.ms': '3000' } : {}) } });
  await runPipeline(CLUSTER_FAULTS, 3);
}, 300_000);

async function runPipeline(faults: Fault[], replicationFactor: number): Promise<void> {
  const started = Date.now();
  const configs: Record<string, string> = replicationFactor > 1 ? { 'min.insync.replicas': '2' } : {};
  await withClient((c) =>
    c.createTopics([
      { name: INPUT, numPartitions: PARTITIONS, replicationFactor, configs },
      { name: OUTPUT, numPartitions: PARTITIONS, replicationFactor, configs },
    ]),
  );
  // Keyed, numbered inputs; librdkafka's partitioner spreads them over the partitions by key.
  await kcatProduce(
    bootstrap(),
    INPUT,
    Array.from({ length: N }, (_, i) => `k${i}=${i}`),
    { keyDelimiter: '=', timeoutMs: 60_000 },
  );
  const inputEnds = await withClient((c) => Promise.all(Array.from({ length: PARTITIONS }, (_, p) => c.listOffsets(INPUT, p, LATEST_TIMESTAMP))));
  expect(inputEnds.reduce((n, e) => n + e.offset, 0n)).toBe(BigInt(N));

  try {
    // ---- the run: three job kills and one broker kill, each at a point of progress ----------
    let job = startJob();
    for (const f of faults) {
      const what = `the job (run ${job.opts.run}) to have copied ${f.at * 100}% and be at a '${f.during}' step`;
      try {
        await job.nextLine((l) => l.ev === f.during && copied() >= f.at * N, STEP_TIMEOUT_MS, what);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n(copied so far: ${copied()} of ${N})\n${job.tail()}\n${brokerTail()}`, { cause: e });
      }
      if (f.kill === 'broker') {
        await broker!.kill9();
        broker = await broker!.restart({ samePort: true });
      } else if (f.kill === 'leader') {
        const leader = await cluster!.leaderOf(OUTPUT, 0);
        await killClusterBroker(leader, async () => (await cluster!.leaderOf(OUTPUT, 0)) !== leader, `a new leader of ${OUTPUT}-0 after broker ${leader}`);
      } else if (f.kill === 'coordinator') {
        const coordinator = (await withClient((c) => c.findCoordinator(TRANSACTIONAL_ID, CoordinatorType.TRANSACTION))).nodeId;
        await killClusterBroker(
          coordinator,
          async () => (await withClient((c) => c.findCoordinator(TRANSACTIONAL_ID, CoordinatorType.TRANSACTION))).nodeId !== coordinator,
          `a new transaction coordinator after broker ${coordinator}`,
        );
      } else {
        await job.kill9();
        job = startJob();
      }
    }

    // ---- the end: the group's committed offsets reach the input's ends ------------------------
    const want = inputEnds.map((e) => e.offset);
    let lastSeen = '';
    await progress(
      job,
      'the group to commit every input offset',
      () =>
        withClient(async (c) => {
          const got = await c.offsetFetch(GROUP, Array.from({ length: PARTITIONS }, (_, p) => ({ topic: INPUT, partition: p })));
          lastSeen = JSON.stringify(got.map((o) => [o.partition, String(o.offset)]));
          return got.length === PARTITIONS && got.every((o) => o.offset === want[o.partition]);
        }),
      45_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n(group offsets last seen: ${lastSeen}, input ends: ${want.join(',')})`);
    });
    const last = await job.stop();
    expect({ exit: last, clean: job.cleanExit }).toEqual({ exit: { code: 0, signal: null }, clean: true });

    // No transaction left open: read_committed readers see up to the high watermark.
    let stable = '';
    await waitFor(
      () =>
        withClient(async (c) => {
          const fs = await c.fetchPartitions(OUTPUT, Array.from({ length: PARTITIONS }, (_, p) => ({ partition: p, offset: 0n })), {
            isolationLevel: 1,
            maxBytes: 1,
            maxWaitMs: 0,
          });
          stable = fs.map((f) => `p${f.partition}: ${f.result ? `lso ${f.result.lastStableOffset} hw ${f.result.highWatermark}` : f.error?.message}`).join(', ');
          return fs.every((f) => f.result !== undefined && f.result.lastStableOffset === f.result.highWatermark);
        }),
      { timeoutMs: 30_000, intervalMs: 100, message: "the output's last stable offsets to reach its high watermarks" },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n(last seen: ${stable})\n${brokerTail()}`);
    });
  } finally {
    await stopAllJobs();
  }

  // ---- the reads ------------------------------------------------------------------------------
  const [committedView, uncommittedView] = await Promise.all([readAll('read_committed'), readAll('read_uncommitted')]);

  // Exactly one output per input in the read_committed view, with its key.
  const seen = new Map<string, number>();
  const badKeys: string[] = [];
  for (const r of committedView) {
    seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
    if (r.key !== `k${r.value.slice('out-'.length)}`) badKeys.push(`${r.value} has key ${r.key}`);
  }
  const missing: string[] = [];
  for (let i = 0; i < N; i++) if (!seen.has(`out-${i}`)) missing.push(`out-${i}`);
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([v, n]) => `${v} x${n}`);
  const unexpected = [...seen.keys()].filter((v) => !/^out-\d+$/.test(v) || Number(v.slice(4)) >= N);
  expect({ records: committedView.length, missing: missing.slice(0, 20), duplicated: duplicated.slice(0, 20), unexpected: unexpected.slice(0, 20), badKeys: badKeys.slice(0, 20) }).toEqual({
    records: N,
    missing: [],
    duplicated: [],
    unexpected: [],
    badKeys: [],
  });

  // ---- the history check ----------------------------------------------------------------------
  const txns = new Map<string, JobTxn>();
  for (const j of jobs) for (const [id, t] of j.txns) txns.set(id, t);
  const produced: ProducedOp[] = [];
  for (const t of txns.values()) {
    for (const [partition, value] of t.recs) produced.push({ producer: TRANSACTIONAL_ID, partition, value, acked: t.outcome === 'committed', txn: t.txn });
  }
  const reads: ReadOp[] = [
    ...committedView.map((r) => ({ consumer: 'read_committed reader', partition: r.partition, offset: r.offset, value: r.value, isolation: 'read_committed' as const })),
    ...uncommittedView.map((r) => ({ consumer: 'read_uncommitted reader', partition: r.partition, offset: r.offset, value: r.value, isolation: 'read_uncommitted' as const })),
  ];
  const history: History = { produced, txns: [...txns.values()].map((t) => ({ txn: t.txn, outcome: t.outcome })), reads };
  const report = checkHistory(history, { readsComplete: true });
  expect(formatReport(report)).toMatch(/: ok$/);

  // ---- aborted and unknown transactions in the two views --------------------------------------
  // Each output record carries its transaction's id (header txn). A record of an aborted
  // transaction never shows read_committed; an unknown one (its job was killed) did commit or
  // abort, so read_committed shows all of its records or none; a committed one, all.
  const rcPositions = new Set(committedView.map((r) => `${r.partition}:${r.offset}`));
  const byTxn = new Map<string, { inRc: number; notInRc: number }>();
  const strays: string[] = [];
  for (const r of uncommittedView) {
    const t = txns.get(r.txn);
    if (!t || !t.recs.some(([p, v]) => p === r.partition && v === r.value)) {
      strays.push(`p${r.partition}@${r.offset} ${r.value} (header txn ${r.txn})`);
      continue;
    }
    const e = byTxn.get(r.txn) ?? { inRc: 0, notInRc: 0 };
    if (rcPositions.has(`${r.partition}:${r.offset}`)) e.inRc++;
    else e.notInRc++;
    byTxn.set(r.txn, e);
  }
  const abortedVisible: string[] = [];
  const unknownTorn: string[] = [];
  const committedHidden: string[] = [];
  const resolved = { committed: 0, aborted: 0 };
  for (const [id, e] of byTxn) {
    const t = txns.get(id)!;
    if (t.outcome === 'aborted' && e.inRc > 0) abortedVisible.push(`${id}: ${e.inRc} record(s) read_committed`);
    if (t.outcome === 'committed' && (e.notInRc > 0 || e.inRc !== t.recs.length)) committedHidden.push(`${id}: ${e.inRc} of ${t.recs.length} read_committed`);
    if (t.outcome === 'unknown') {
      if (e.inRc > 0 && (e.notInRc > 0 || e.inRc !== t.recs.length)) unknownTorn.push(`${id}: ${e.inRc} of ${t.recs.length} read_committed`);
      else resolved[e.inRc > 0 ? 'committed' : 'aborted']++;
    }
  }
  expect({ strays: strays.slice(0, 10), abortedVisible, unknownTorn, committedHidden }).toEqual({ strays: [], abortedVisible: [], unknownTorn: [], committedHidden: [] });

  // The faults really happened: a run per job kill, each SIGKILLed but the last.
  const jobKills = faults.filter((f) => f.kill === 'job').length;
  expect(jobs.map((j) => j.describeExit())).toEqual([...Array<string>(jobKills).fill('killed by SIGKILL'), 'exit code 0']);
  const counts = { committed: 0, aborted: 0, unknown: 0 };
  for (const t of txns.values()) counts[t.outcome]++;
  const nothingLanded = [...txns.values()].filter((t) => t.outcome === 'unknown' && !byTxn.has(t.txn)).length;
  console.info(
    `exactly-once pipeline (${cluster ? '3-broker cluster' : 'one broker'}): ${txns.size} transactions (${counts.committed} committed, ${counts.aborted} aborted, ${counts.unknown} unknown: ` +
      `${resolved.committed} found committed, ${resolved.aborted} found aborted, ${nothingLanded} with no record written), ${uncommittedView.length} records read_uncommitted, ` +
      `${committedView.length} read_committed, ${Date.now() - started} ms` +
      [...txns.values()].filter((t) => t.outcome === 'aborted').map((t) => `\n  aborted ${t.txn}: ${t.error}`).join(''),
  );
}
