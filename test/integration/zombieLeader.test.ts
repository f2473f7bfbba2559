/**
 * The zombie leader (the cluster issue's Done 3): on a 3-broker cluster (topic replication.factor
 * 3, min.insync.replicas 2, 4 partitions) under a steady acks=all load of unique values, the
 * leader of partition 0 is frozen with SIGSTOP for longer than its lease
 * (broker.liveness.timeout.ms, 1500 ms) — the failure a clock-less lease must survive: a process
 * that does not know it was away.
 *
 * Before the freeze the leader is given a log tail its followers do not have: both followers are
 * stopped for a moment while three acks=all batches reach the leader one after another (the
 * first may still go out in answer to a fetch the followers had waiting; the others cannot),
 * then the leader is frozen and the followers continued. While it is frozen, produce requests
 * (acks=all, and acks=1, which a leader acting on its stale role would acknowledge at once) are
 * written to it over connections of their own (they wait in its socket); the other brokers must
 * elect a new leader, which takes the load's writes. Then SIGCONT: the old leader must answer the
 * requests that waited in its socket with an error (it acknowledges nothing in its old role, and
 * nothing the load sent it while frozen), truncate the tail the new leader does not have, and
 * rejoin as a follower (ISR back to 3 everywhere).
 *
 * On the embedded store the brokers share one SQLite file: a process stopped inside a metadata
 * write holds its write lock and every other broker's heartbeat waits for it, so the whole
 * cluster loses its leases — a different failure from this test's subject, avoided here by
 * stopping a process only when /proc/locks shows it outside such a write.
 *
 * Then everything is read back: the history checker (test/helpers/history.ts) finds nothing
 * lost, duplicated or acknowledged at an offset that holds another value, and every partition's
 * replicas are byte-identical below the high watermark. Runs on both jest projects.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KafkaConnection } from '../../core/client/connection';
import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { produceOver, readAll, saveOutputs, settleOps, splitAddress, startAckedLoad, topicViewOf, type AckedLoad, type AckedOp, type TopicView } from '../helpers/ackedLoad';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { checkHistory, formatReport } from '../helpers/history';
import { compareReplicas, readReplicaBatches } from '../helpers/replicaCompare';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'zombie';
const PARTITIONS = [0, 1, 2, 3];
/** The fault: longer than the lease, shorter than broker.session.timeout.ms (9 s; on DynamoDB a longer pause fences the broker for good). */
const FREEZE_MS = 4000;
/** However long the new leader takes, the old one is continued by then (well inside the 9 s session). */
const FREEZE_MAX_MS = 7500;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const since = (t0: number, t: number | undefined) => (t === undefined || !Number.isFinite(t) ? 'never' : `${Math.round(t - t0)} ms`);

describe('a leader frozen past its lease (SIGSTOP)', () => {
  let cluster: TestCluster;
  let load: AckedLoad | null = null;
  const stopped = new Set<number>();
  const conns: KafkaConnection[] = [];

  function freeze(pid: number): void {
    stopped.add(pid);
    process.kill(pid, 'SIGSTOP');
  }
  function thaw(pid: number): void {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
    stopped.delete(pid);
  }

  /**
   * Embedded store only: whether the (stopped) process holds a write lock on one of the store's
   * files — stopped inside a metadata write, it would hold SQLite's WAL write lock, and every
   * other broker's heartbeat would wait for it (reported separately: a frozen broker then stalls
   * the whole cluster, which is not what this test is about).
   */
  function holdsStoreWriteLock(pid: number): boolean {
    const metaDir = path.join(cluster.dir, 'meta');
    if (!fs.existsSync(metaDir) || !fs.statSync(metaDir).isDirectory()) return false;
    const inodes = new Set(fs.readdirSync(metaDir).map((f) => String(fs.statSync(path.join(metaDir, f)).ino)));
    return fs
      .readFileSync('/proc/locks', 'utf8')
      .split('\n')
      .some((line) => {
        const f = line.trim().split(/\s+/); // "11: POSIX ADVISORY WRITE <pid> <maj>:<min>:<inode> <start> <end>"
        return f[1] === 'POSIX' && f[3] === 'WRITE' && f[4] === String(pid) && inodes.has(f[5]?.split(':')[2] ?? '');
      });
  }

  /** SIGSTOP, at a moment the process is not inside a write to the embedded store (bounded retries); returns the attempts. */
  async function freezeOutsideStoreWrites(pid: number): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      freeze(pid);
      if (!holdsStoreWriteLock(pid) || attempt >= 100) return attempt;
      thaw(pid);
      await pause(3);
    }
  }

  beforeAll(async () => {
    cluster = await startCluster({ brokers: 3 });
  }, 90_000);

  // Runs before the broker helper's own (file-level) afterAll: a stopped process ignores SIGTERM.
  afterAll(async () => {
    for (const pid of [...stopped]) thaw(pid);
    for (const c of conns) c.close();
    await load?.stop();
    await cluster?.stop();
  }, 60_000);

  const address = (id: number) => cluster.brokers[id].bootstrap;
  const views = (ids: number[]): Promise<TopicView[]> => Promise.all(ids.map((id) => topicViewOf(address(id), TOPIC)));

  /** Every partition has a leader and all three replicas in sync, as every broker in `ids` says. */
  async function allInSync(ids: number[]): Promise<boolean> {
    const vs = await views(ids);
    return vs.every((v) => PARTITIONS.every((p) => v.partitions[p]?.leader >= 0 && v.partitions[p]?.isr.length === 3));
  }

  async function connect(id: number, clientId: string): Promise<KafkaConnection> {
    const [host, port] = splitAddress(address(id));
    const c = await KafkaConnection.connect({ host, port, clientId, requestTimeoutMs: 60_000 });
    conns.push(c);
    return c;
  }

  async function scenario(): Promise<void> {
    const admin = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'zombie-admin' });
    try {
      await admin.createTopics([{ name: TOPIC, numPartitions: PARTITIONS.length, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
    } finally {
      await admin.close();
    }
    await waitFor(() => allInSync([0, 1, 2]), { timeoutMs: 30_000, message: 'every partition led with 3 in-sync replicas on every broker' });
    const before = (await views([0]))[0];
    const victim = before.partitions[0].leader;
    const followers = [0, 1, 2].filter((id) => id !== victim);
    const victimLed = PARTITIONS.filter((p) => before.partitions[p].leader === victim);

    load = startAckedLoad({ topic: TOPIC, partitions: PARTITIONS, bootstrap: cluster.bootstrap().split(','), produceTimeoutMs: 1000, requestTimeoutMs: 1000 });
    await waitFor(() => PARTITIONS.every((p) => load!.count((op) => op.partition === p) >= 100), {
      timeoutMs: 30_000,
      message: '100 acknowledged records in every partition before the fault',
    });

    // Produce requests of our own, straight to the victim, recorded in the history too.
    const extra: AckedOp[] = [];
    let seq = 0;
    function sendRaw(conn: KafkaConnection, producer: string, partition: number, n: number, produceTimeoutMs: number, acks: -1 | 1 = -1): AckedOp[] {
      const values = Array.from({ length: n }, () => `${producer}-p${partition}-${seq++}`);
      const ops: AckedOp[] = values.map((value) => ({ producer, partition, value, acked: false, sentAt: performance.now(), to: victim }));
      extra.push(...ops);
      produceOver(conn, TOPIC, partition, values, { produceTimeoutMs, requestTimeoutMs: 30_000, acks }).then(
        (answer) => settleOps(ops, { answer }, performance.now()),
        (error: Error) => settleOps(ops, { error }, performance.now()),
      );
      return ops;
    }
    const onVictimDisk = (value: string) =>
      readReplicaBatches(cluster.dataDir(victim), TOPIC, 0).batches.some((b) => b.bytes.includes(Buffer.from(value)));

    // A broker answers one request per connection at a time (as Kafka does), and a waiting
    // acks=all request holds its connection: one connection per tail batch.
    const tailConns = await Promise.all([0, 1, 2].map((i) => connect(victim, `tail-${i}`)));
    const staleConns = await Promise.all(victimLed.flatMap((p) => [connect(victim, `stale-p${p}`), connect(victim, `stale-acks1-p${p}`)]));
    const tail: AckedOp[] = [];
    const stale: AckedOp[] = [];
    let tFreeze = 0;
    let tResume = 0;
    let tElected = 0;
    let freezeAttempts = 0;
    let newLeader = -1;
    try {
      // A tail only the leader has: followers stopped (for well under the lease) while it appends.
      for (const id of followers) await freezeOutsideStoreWrites(cluster.brokers[id].pid);
      for (let i = 0; i < 3; i++) {
        const ops = sendRaw(tailConns[i], 'tail', 0, 3, 8000);
        tail.push(...ops);
        await waitFor(() => onVictimDisk(ops[0].value), { timeoutMs: 5000, message: `tail batch ${i} in the leader's log` });
      }
      freezeAttempts = await freezeOutsideStoreWrites(cluster.brokers[victim].pid);
      tFreeze = performance.now();
      for (const id of followers) thaw(cluster.brokers[id].pid);
      const deadline = tFreeze + FREEZE_MAX_MS;
      const left = () => Math.max(1, deadline - performance.now());

      // Requests that wait in the frozen leader's socket: the first thing it reads when it wakes.
      // acks=1 too: a leader acting on its stale role would acknowledge those at once.
      victimLed.forEach((p, i) => {
        stale.push(...sendRaw(staleConns[2 * i], 'stale', p, 5, 5000));
        stale.push(...sendRaw(staleConns[2 * i + 1], 'stale-acks1', p, 5, 5000, 1));
      });

      await waitFor(
        async () => {
          const vs = await views(followers);
          newLeader = vs[0].partitions[0].leader;
          return newLeader >= 0 && newLeader !== victim && vs.every((v) => victimLed.every((p) => v.partitions[p].leader >= 0 && v.partitions[p].leader !== victim));
        },
        { timeoutMs: left(), message: `the other brokers electing new leaders for partitions ${victimLed.join(',')} of frozen leader ${victim}` },
      );
      tElected = performance.now();
      await waitFor(() => PARTITIONS.every((p) => load!.count((op) => op.partition === p && op.to !== victim && op.answeredAt! > tFreeze) >= 20), {
        timeoutMs: left(),
        message: 'the new leaders (and the leaders of the other partitions) acknowledging 20 records each while the old leader is frozen',
      });
      // The fault's length, not a synchronisation: the lease (1500 ms) is well past by now.
      const rest = FREEZE_MS - (performance.now() - tFreeze);
      if (rest > 0) await pause(rest);
    } finally {
      for (const pid of [...stopped]) thaw(pid);
      tResume = performance.now();
    }

    const victimLog = () => cluster.brokers[victim].output();
    // The requests that waited in its socket are answered, every one with an error.
    await waitFor(() => stale.every((op) => op.answeredAt !== undefined), { timeoutMs: 20_000, message: 'the resumed leader answering the produce requests that waited in its socket' });
    const staleAnswers = [...new Set(stale.map((op) => op.failure))];
    expect(stale.filter((op) => op.acked)).toEqual([]);
    expect(stale.every((op) => op.errorCode !== undefined && op.errorCode !== ErrorCode.NONE)).toBe(true);
    // Nor did it acknowledge anything else sent to it while it was frozen.
    const zombieAcks = load.ops.filter((op) => op.to === victim && op.acked && op.sentAt >= tFreeze && op.sentAt <= tResume);
    expect(zombieAcks).toEqual([]);

    // It truncates its tail and rejoins every ISR.
    await waitFor(() => allInSync([0, 1, 2]), { timeoutMs: 30_000, message: `broker ${victim} back in every ISR, as every broker says` });
    await waitFor(() => /zombie-0: truncating/.test(victimLog()), { timeoutMs: 10_000, message: `broker ${victim} truncating zombie-0` });
    await waitFor(() => tail.every((op) => op.answeredAt !== undefined), { timeoutMs: 30_000, message: 'the tail requests answered' });

    await load.stop();
    const acksDuringFreeze = load.count((op) => op.answeredAt! > tFreeze && op.answeredAt! < tResume);

    // Identical replicas below the high watermark, then everything read back and checked.
    const client = new StrataClient({ bootstrapServers: cluster.bootstrap().split(','), clientId: 'zombie-check' });
    const hws: bigint[] = [];
    try {
      for (const p of PARTITIONS) hws.push((await client.listOffsets(TOPIC, p, -1n)).offset);
    } finally {
      await client.close();
    }
    const dirs = [0, 1, 2].map((id) => cluster.dataDir(id));
    for (const p of PARTITIONS) {
      let detail = '';
      await waitFor(
        () => {
          const c = compareReplicas(dirs, TOPIC, p, hws[p]);
          detail = c.detail;
          return c.identical;
        },
        { timeoutMs: 20_000, message: `identical replicas of ${TOPIC}-${p} below ${hws[p]}` },
      ).catch((e: Error) => {
        throw new Error(`${e.message}: ${detail}`);
      });
    }
    const reads = await readAll(cluster.bootstrap().split(','), TOPIC, PARTITIONS);
    const report = checkHistory({ produced: [...load.ops, ...extra], reads }, { readsComplete: true });

    const tailFate = tail.map((op) => `${op.value}:${op.acked ? `acked@${op.offset}` : op.failure}`).join(', ');
    const truncations = victimLog().match(/zombie-\d: truncating[^\n]*/g) ?? [];
    console.log(
      [
        `zombie: victim ${victim} (led ${victimLed.join(',')}), new leader of p0 ${newLeader} seen after ${since(tFreeze, tElected)}, frozen ${Math.round(tResume - tFreeze)} ms (SIGSTOP attempts: ${freezeAttempts})`,
        `first ack by a new leader of p0 after ${since(tFreeze, Math.min(...load.ops.filter((op) => op.partition === 0 && op.acked && op.to !== victim && op.answeredAt! > tFreeze).map((op) => op.answeredAt!)))}`,
        `acks during the freeze: ${acksDuringFreeze}; stale answers: ${staleAnswers.join(', ')}`,
        // Whether the guard saw the lapse: when asked (no heartbeat within the window), or from the
        // gap between two successful heartbeats when the first after resuming came before any ask.
        `lapse logged by the victim: ${/(no heartbeat reached the metadata store within|passed between two heartbeats, more than) broker\.liveness\.timeout\.ms/.test(victimLog())}`,
        `tail: ${tailFate}`,
        `victim truncations: ${truncations.join(' | ')}`,
        `load failures: ${JSON.stringify(load.failures())}`,
        `high watermarks: ${hws.join(', ')}`,
        formatReport(report),
      ].join('\n'),
    );
    if (!report.ok) throw new Error(formatReport(report));
  }

  test('the old leader acknowledges nothing after the freeze, truncates its tail and rejoins; nothing acked is lost', async () => {
    try {
      await scenario();
    } catch (e) {
      const err = e as Error;
      err.message += `\n${saveOutputs('zombie', cluster.brokers.map((b, id) => ({ label: `broker-${id}`, output: () => b.output() })))}`;
      throw err;
    }
  }, 180_000);
});
