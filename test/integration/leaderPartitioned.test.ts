/**
 * A partitioned leader (the cluster issue's Done 4): on a 3-broker cluster on DynamoDB and S3
 * emulators (topic replication.factor 3, min.insync.replicas 2, 4 partitions) under a steady
 * acks=all load, the leader of partition 0 is cut off from its followers and from the metadata
 * store, but not from its clients:
 *
 *   clients ───────────────┬──────────────┬──────────────┐        (never cut)
 *                 kafka proxy 0   kafka proxy 1   kafka proxy 2   advertised listeners
 *                      broker 0        broker 1        broker 2
 *                 store proxy 0   store proxy 1   store proxy 2   AWS_ENDPOINT_URL_DYNAMODB
 *                      └───────────── dynalite ──────┘
 *
 * Every broker advertises its listener through a fault proxy of its own (test/helpers/faultProxy.ts),
 * so clients and followers' replica fetchers (which connect to the leader's registered, i.e.
 * advertised, address) both go through it, and reaches dynalite through a raw TCP fault proxy of
 * its own. The cut holds (a black hole: connections stay open, nothing gets through) the
 * victim's store proxy and, on the Kafka proxies, only the replica fetchers' connections to and
 * from the victim (known by their client id, `strata-replica-fetcher-<follower>-<leader>`); the
 * load keeps reaching the victim through the same proxy, and so do produce requests written
 * straight to its real listening port.
 *
 * The victim must stop acknowledging acks=all writes within its lease (broker.liveness.timeout.ms,
 * 1500 ms): nothing sent to it from cut + 1500 ms until the heal is acknowledged (errors such as
 * NOT_LEADER_OR_FOLLOWER or REQUEST_TIMED_OUT are fine); the other brokers elect a new leader,
 * which takes the load's writes. After healing (held bytes delivered late, as a partition's
 * delayed packets are), the victim truncates what it appended alone and rejoins every ISR; the
 * history checker finds nothing lost or diverged, and replicas are byte-identical below the high
 * watermark.
 *
 * broker.session.timeout.ms is raised to 30 s so that a slow machine's cut never reaches the
 * registration's own fencing (9 s by default, after which a broker on DynamoDB exits): the lease
 * under test is broker.liveness.timeout.ms. This file starts its own emulators and picks its
 * stores itself, so it runs once, in the embedded jest project (listed in AWS_PROJECT_SKIPS).
 */
import { KafkaConnection } from '../../core/client/connection';
import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { produceOver, readAll, saveOutputs, settleOps, splitAddress, startAckedLoad, topicViewOf, type AckedLoad, type AckedOp, type TopicView } from '../helpers/ackedLoad';
import { startBroker, type BrokerProcess } from '../helpers/broker';
import { startEmulators, type Emulators } from '../helpers/emulators';
import { startFaultProxy, type FaultProxy } from '../helpers/faultProxy';
import { checkHistory, formatReport } from '../helpers/history';
import { compareReplicas } from '../helpers/replicaCompare';
import { waitFor } from '../helpers/waitFor';

const TOPIC = 'partitioned';
const PARTITIONS = [0, 1, 2, 3];
const BROKERS = [0, 1, 2];
const LIVENESS_MS = 1500;
/** The fault's length: well past the lease, inside broker.session.timeout.ms. */
const CUT_MS = 5000;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const since = (t0: number, t: number | undefined) => (t === undefined || !Number.isFinite(t) ? 'never' : `${Math.round(t - t0)} ms`);

let emulators: Emulators;
const storeProxies: FaultProxy[] = [];
const kafkaProxies: FaultProxy[] = [];
const brokers: BrokerProcess[] = [];
let load: AckedLoad | null = null;
const conns: KafkaConnection[] = [];

const direct = (id: number) => brokers[id].bootstrap;
const proxied = (id: number) => kafkaProxies[id].bootstrap;

describe('a leader partitioned from its followers and the metadata store', () => {
  const views = (ids: number[]): Promise<TopicView[]> => Promise.all(ids.map((id) => topicViewOf(direct(id), TOPIC)));

  async function allInSync(ids: number[]): Promise<boolean> {
    const vs = await views(ids);
    return vs.every((v) => PARTITIONS.every((p) => v.partitions[p]?.leader >= 0 && v.partitions[p]?.isr.length === 3));
  }

  beforeAll(async () => {
    emulators = await startEmulators();
    const dynamo = new URL(emulators.dynamoEndpoint);
    for (const id of BROKERS) {
      const store = await startFaultProxy({ raw: true });
      store.setTarget(dynamo.hostname, Number(dynamo.port || 80));
      storeProxies.push(store);
      kafkaProxies.push(await startFaultProxy());
    }
    brokers.push(
      ...(await Promise.all(
        BROKERS.map((id) =>
          startBroker({
            args: ['--metadata', emulators.dynamoUrl, '--object-store', emulators.s3Url],
            env: { ...emulators.env, AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${storeProxies[id].port}` },
            overrides: {
              'node.id': String(id),
              'advertised.listeners': `PLAINTEXT://127.0.0.1:${kafkaProxies[id].port}`,
              'broker.session.timeout.ms': '30000',
            },
            readyTimeoutMs: 30_000,
          }),
        ),
      )),
    );
    brokers.forEach((b, id) => kafkaProxies[id].setTarget(b.host, b.port));
    await waitFor(async () => (await Promise.all(BROKERS.map((id) => topicViewOf(direct(id), TOPIC)))).every((v) => v.brokers.size === 3), {
      timeoutMs: 30_000,
      message: 'every broker seeing the whole cluster',
    });
  }, 120_000);

  // Inside the describe block: runs before the helpers' file-level afterAll hooks stop brokers and emulators.
  afterAll(async () => {
    // Healed first, so that the brokers stop cleanly (handing over, releasing their registrations).
    for (const p of [...storeProxies, ...kafkaProxies]) p.resume();
    for (const c of conns) c.close();
    await load?.stop();
    await Promise.all(brokers.map((b) => b.stop()));
    await Promise.all([...storeProxies, ...kafkaProxies].map((p) => p.close()));
    await emulators?.stop();
  }, 60_000);

  async function scenario(): Promise<void> {
    const admin = new StrataClient({ bootstrapServers: BROKERS.map(direct), clientId: 'partition-admin' });
    try {
      await admin.createTopics([{ name: TOPIC, numPartitions: PARTITIONS.length, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }]);
    } finally {
      await admin.close();
    }
    await waitFor(() => allInSync(BROKERS), { timeoutMs: 30_000, message: 'every partition led with 3 in-sync replicas on every broker' });
    const before = (await views([0]))[0];
    const victim = before.partitions[0].leader;
    const others = BROKERS.filter((id) => id !== victim);
    const victimLed = PARTITIONS.filter((p) => before.partitions[p].leader === victim);
    const victimLog = () => brokers[victim].output();

    // The load reaches every broker through its advertised (proxied) address.
    load = startAckedLoad({ topic: TOPIC, partitions: PARTITIONS, bootstrap: BROKERS.map(proxied), produceTimeoutMs: 1000, requestTimeoutMs: 1000 });
    await waitFor(() => PARTITIONS.every((p) => load!.count((op) => op.partition === p) >= 100), {
      timeoutMs: 30_000,
      message: '100 acknowledged records in every partition before the fault',
    });

    // And produce requests straight to the victim's real port, one connection per partition it leads.
    const directOps: AckedOp[] = [];
    let directStop = false;
    async function directLoop(partition: number): Promise<void> {
      const [host, port] = splitAddress(direct(victim));
      const conn = await KafkaConnection.connect({ host, port, clientId: `direct-p${partition}`, requestTimeoutMs: 10_000 });
      conns.push(conn);
      for (let seq = 0; !directStop; seq++) {
        const values = [0, 1].map((i) => `direct-p${partition}-${seq}-${i}`);
        const ops: AckedOp[] = values.map((value) => ({ producer: 'direct', partition, value, acked: false, sentAt: performance.now(), to: victim }));
        directOps.push(...ops);
        try {
          settleOps(ops, { answer: await produceOver(conn, TOPIC, partition, values, { produceTimeoutMs: 1000, requestTimeoutMs: 3000 }) }, performance.now());
        } catch (e) {
          settleOps(ops, { error: e as Error }, performance.now());
        }
        // Pacing between requests (errors come back at once), not a synchronisation.
        await pause(20);
      }
    }
    const directLoops = victimLed.map((p) => directLoop(p));
    await waitFor(() => victimLed.every((p) => directOps.some((op) => op.partition === p && op.acked)), {
      timeoutMs: 10_000,
      message: 'the victim acknowledging direct produce requests before the cut',
    });

    const fetcherTo = new RegExp(`^strata-replica-fetcher-\\d+-${victim}$`);
    const fetcherFrom = `strata-replica-fetcher-${victim}-`;
    let t0 = 0;
    let tElected = 0;
    let tHeal = 0;
    let newLeader = -1;
    try {
      // The cut: the victim's store traffic, and replication to and from it; clients untouched.
      storeProxies[victim].pause();
      kafkaProxies[victim].holdClients((id) => id !== null && fetcherTo.test(id));
      for (const id of others) kafkaProxies[id].holdClients((id) => id !== null && id.startsWith(fetcherFrom));
      t0 = performance.now();

      await waitFor(
        async () => {
          const vs = await views(others);
          newLeader = vs[0].partitions[0].leader;
          return vs.every((v) => victimLed.every((p) => v.partitions[p].leader >= 0 && v.partitions[p].leader !== victim));
        },
        { timeoutMs: 15_000, message: `the other brokers electing new leaders for partitions ${victimLed.join(',')} of cut-off leader ${victim}` },
      );
      tElected = performance.now();
      await waitFor(() => PARTITIONS.every((p) => load!.count((op) => op.partition === p && op.to !== victim && op.answeredAt! > t0) >= 20), {
        timeoutMs: 15_000,
        message: 'the new leaders (and the other partitions\' leaders) acknowledging 20 records each during the cut',
      });
      // Enough refused requests after the lease to mean something, on each path.
      await waitFor(() => victimLed.every((p) => directOps.filter((op) => op.partition === p && op.sentAt >= t0 + LIVENESS_MS && op.answeredAt !== undefined).length >= 10), {
        timeoutMs: 15_000,
        message: 'direct produce requests to the victim answered after its lease',
      });
      expect(victimLog()).toMatch(/no heartbeat reached the metadata store within broker\.liveness\.timeout\.ms/);
      // The fault's length, not a synchronisation.
      const rest = CUT_MS - (performance.now() - t0);
      if (rest > 0) await pause(rest);
    } finally {
      for (const p of [...storeProxies, ...kafkaProxies]) p.resume();
      tHeal = performance.now();
    }
    directStop = true;
    await Promise.all(directLoops);

    // Nothing sent to the victim until the heal was acknowledged once its lease had run out, on
    // either path: not sent after that, nor answered after it (250 ms of slack for the answer's
    // way to this process; the lease ran out by t0 + 1500 ms at the latest, its last heartbeat
    // having been sent before the cut).
    const afterLease = (op: AckedOp) =>
      op.to === victim && op.sentAt <= tHeal && (op.sentAt >= t0 + LIVENESS_MS || (op.answeredAt !== undefined && op.answeredAt >= t0 + LIVENESS_MS + 250));
    const lateDirect = directOps.filter(afterLease);
    const lateLoad = load.ops.filter(afterLease);
    expect(lateDirect.filter((op) => op.acked)).toEqual([]);
    expect(lateLoad.filter((op) => op.acked)).toEqual([]);
    expect(brokers[victim].exitStatus()).toBeNull();

    // It rejoins every ISR, having truncated what it appended alone.
    await waitFor(() => allInSync(BROKERS), { timeoutMs: 30_000, message: `broker ${victim} back in every ISR, as every broker says` });
    const truncated = new RegExp(`${TOPIC}-(${victimLed.join('|')}): truncating`);
    await waitFor(() => truncated.test(victimLog()), { timeoutMs: 10_000, message: `broker ${victim} truncating a partition it led` });

    await load.stop();
    const client = new StrataClient({ bootstrapServers: BROKERS.map(direct), clientId: 'partition-check' });
    const hws: bigint[] = [];
    try {
      for (const p of PARTITIONS) hws.push((await client.listOffsets(TOPIC, p, -1n)).offset);
    } finally {
      await client.close();
    }
    const dirs = brokers.map((b) => b.dataDir);
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
    const reads = await readAll(BROKERS.map(direct), TOPIC, PARTITIONS);
    const report = checkHistory({ produced: [...load.ops, ...directOps], reads }, { readsComplete: true });

    const firstRefusal = Math.min(...directOps.filter((op) => op.sentAt >= t0 && op.errorCode === ErrorCode.NOT_LEADER_OR_FOLLOWER).map((op) => op.sentAt));
    const lastDirectAck = Math.max(...directOps.filter((op) => op.acked).map((op) => op.answeredAt!));
    const answers = (ops: AckedOp[]) => {
      const out: Record<string, number> = {};
      for (const op of ops) {
        const k = op.acked ? 'acked' : (op.failure ?? 'unanswered').replace(/\d+/g, 'N');
        out[k] = (out[k] ?? 0) + 1;
      }
      return JSON.stringify(out);
    };
    console.log(
      [
        `partition: victim ${victim} (led ${victimLed.join(',')}), new leader of p0 ${newLeader} seen after ${since(t0, tElected)}, cut ${Math.round(tHeal - t0)} ms`,
        `direct: last ack ${since(t0, lastDirectAck)} after the cut, first NOT_LEADER_OR_FOLLOWER for a request sent ${since(t0, firstRefusal)} after it`,
        `direct answers after the lease: ${answers(lateDirect)}; load answers to the victim after the lease: ${answers(lateLoad)}`,
        `victim truncations: ${(victimLog().match(new RegExp(`${TOPIC}-\\d: truncating[^\\n]*`, 'g')) ?? []).join(' | ')}`,
        `proxies: ${kafkaProxies.map((p, id) => `kafka ${id} ${JSON.stringify(p.stats().requests)}`).join('; ')}`,
        `load failures: ${JSON.stringify(load.failures())}`,
        `high watermarks: ${hws.join(', ')}`,
        formatReport(report),
      ].join('\n'),
    );
    if (!report.ok) throw new Error(formatReport(report));
  }

  test('a leader cut off from its followers and the store stops acknowledging within its lease; a new leader takes over; nothing is lost', async () => {
    try {
      await scenario();
    } catch (e) {
      const err = e as Error;
      err.message += `\n${saveOutputs('partitioned', brokers.map((b, id) => ({ label: `broker-${id}`, output: () => b.output() })))}`;
      throw err;
    }
  }, 180_000);
});
