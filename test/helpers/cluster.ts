import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { StrataClient } from '../../core/client/client';
import { awsBackendSelected, awsStores } from './awsBackend';
import { startBroker, type BrokerProcess } from './broker';
import { waitFor } from './waitFor';

/**
 * Several real broker processes that form one cluster for integration tests: node ids 0..n-1,
 * each on its own data dir and ephemeral port, sharing one metadata store and one object store —
 * embedded (a directory of the cluster's) in the `embedded` jest project, one DynamoDB table and
 * S3 prefix on the emulators in the `aws` project. Processes are tracked by the broker helper
 * (stopped after the file, SIGKILLed if the worker dies); the cluster's directory is removed by
 * stop().
 */
export interface TestCluster {
  /** The current process of each node id (replaced by restart). */
  readonly brokers: BrokerProcess[];
  readonly dir: string;
  /** Every broker's host:port, comma-separated, for clients' bootstrap.servers. */
  bootstrap(): string;
  dataDir(nodeId: number): string;
  /** Starts node `nodeId` again (after a stop or kill) on its port; `emptyDataDir` removes its data first. */
  restart(nodeId: number, opts?: { emptyDataDir?: boolean }): Promise<BrokerProcess>;
  /** The leader of a partition as `via` (default: any live broker) answers Metadata, -1 for none. */
  leaderOf(topic: string, partition: number, via?: number): Promise<number>;
  /** Waits until the partition has a live leader other than `not`; returns it. */
  awaitLeader(topic: string, partition: number, opts?: { not?: number; timeoutMs?: number }): Promise<number>;
  /**
   * Waits until every running broker answers Metadata with a leader for each of the topic's
   * `partitions` (brokers learn a new topic within a poll, as Kafka's do from the metadata log;
   * librdkafka's group consumer that subscribes while its broker answers UNKNOWN_TOPIC_OR_PARTITION
   * waits for metadata.max.age.ms before it looks again).
   */
  awaitTopic(topic: string, partitions: number): Promise<void>;
  /** Stops every broker (SIGTERM) and removes the cluster's directory. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  brokers?: number;
  overrides?: Record<string, string>;
  /** Per node id overrides on top (e.g. broker.rack). */
  nodeOverrides?: (nodeId: number) => Record<string, string>;
  /** Every broker's listeners (see startBroker); the first must be PLAINTEXT: the helper's own requests use it. */
  listeners?: string;
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const n = opts.brokers ?? 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cluster-'));
  const storeArgs = awsBackendSelected()
    ? (await awsStores(`cluster:${dir}`)).args
    : ['--metadata', `embedded:${path.join(dir, 'meta')}`, '--object-store', `file://${path.join(dir, 'tier')}`];
  const dataDir = (id: number) => path.join(dir, `broker-${id}`);
  const ports: number[] = [];
  const launch = (id: number) =>
    startBroker({
      dataDir: dataDir(id),
      port: ports[id] ?? 0,
      listeners: opts.listeners,
      args: storeArgs,
      overrides: { 'node.id': String(id), ...(opts.overrides ?? {}), ...(opts.nodeOverrides?.(id) ?? {}) },
      readyTimeoutMs: 30_000,
    });
  const brokers = await Promise.all(Array.from({ length: n }, (_, id) => launch(id)));
  brokers.forEach((b, id) => (ports[id] = b.port));
  const isUp = (b: BrokerProcess) => b.exitStatus() === null;
  const bootstrapOf = (bs: BrokerProcess[]) => bs.map((b) => b.bootstrap).join(',');

  async function leaderOf(topic: string, partition: number, via?: number): Promise<number> {
    const candidates = via === undefined ? brokers.filter(isUp) : [brokers[via]];
    const client = new StrataClient({ bootstrapServers: candidates.map((b) => b.bootstrap), clientId: 'cluster-helper', requestTimeoutMs: 5000 });
    try {
      const md = await client.metadata([topic]);
      const p = md.topics.get(topic)?.partitions.find((x) => x.partition === partition);
      return p && p.errorCode === 0 ? p.leader : -1;
    } finally {
      await client.close();
    }
  }

  /** Until every running broker's Metadata lists every running broker. */
  async function awaitMembership(): Promise<void> {
    await waitFor(
      async () => {
        const up = brokers.filter(isUp);
        for (const b of up) {
          const c = new StrataClient({ bootstrapServers: [b.bootstrap], clientId: 'cluster-helper', requestTimeoutMs: 5000 });
          try {
            const md = await c.metadata([]);
            if (md.cluster.brokers.length < up.length) return false;
          } finally {
            await c.close();
          }
        }
        return true;
      },
      { timeoutMs: 20_000, message: 'every broker seeing the whole cluster' },
    );
  }
  await awaitMembership();

  const cluster: TestCluster = {
    brokers,
    dir,
    bootstrap: () => bootstrapOf(brokers),
    dataDir,
    async restart(id, o = {}) {
      if (isUp(brokers[id])) await brokers[id].stop();
      if (o.emptyDataDir) fs.rmSync(dataDir(id), { recursive: true, force: true });
      brokers[id] = await launch(id);
      await awaitMembership();
      return brokers[id];
    },
    leaderOf,
    async awaitLeader(topic, partition, o = {}) {
      let leader = -1;
      await waitFor(
        async () => {
          leader = await leaderOf(topic, partition).catch(() => -1);
          return leader >= 0 && leader !== o.not && isUp(brokers[leader]);
        },
        { timeoutMs: o.timeoutMs ?? 20_000, message: `a live leader for ${topic}-${partition}${o.not !== undefined ? ` other than ${o.not}` : ''}` },
      );
      return leader;
    },
    async awaitTopic(topic, partitions) {
      for (let via = 0; via < brokers.length; via++) {
        if (!isUp(brokers[via])) continue;
        for (let p = 0; p < partitions; p++) {
          await waitFor(async () => (await leaderOf(topic, p, via).catch(() => -1)) >= 0, { timeoutMs: 20_000, message: `broker ${via} to know a leader for ${topic}-${p}` });
        }
      }
    },
    async stop() {
      await Promise.all(brokers.map((b) => b.stop().catch(() => null)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
