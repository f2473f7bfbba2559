/**
 * The stock Kafka config files in ../shared/kafka-config (KRaft combined, KRaft broker-only,
 * ZooKeeper mode) start a broker that serves kcat. Each file is used as shipped except for its
 * client port, moved from 9092 to 0 (ephemeral) so that the test cannot collide with a broker
 * already on 9092; its /tmp data dir is replaced with --data-dir, as an operator would.
 * The KRaft controller listener (CONTROLLER://:9093) is not bound: one line names it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnBrokerCommand, type BrokerCommand } from '../helpers/brokerCommand';
import { kcatAvailable, kcatConsume, kcatProduce } from '../helpers/kcat';

const STOCK = path.resolve(__dirname, '..', '..', '..', 'shared', 'kafka-config');
// Not a storage test: the stores come from the command line, so the aws project adds nothing.
const describeEmbedded = process.env.STRATA_TEST_BACKEND === 'aws' ? describe.skip : describe;

let dir: string;
const brokers: BrokerCommand[] = [];

beforeAll(async () => {
  await kcatAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-kafka-config-'));
});

afterAll(async () => {
  await Promise.all(brokers.map((b) => b.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The stock file with its client port 9092 turned into 0; everything else as shipped. */
function withEphemeralPort(name: string): string {
  const text = fs.readFileSync(path.join(STOCK, name), 'utf8');
  const file = path.join(dir, name);
  fs.writeFileSync(file, text.replace(/^((?:advertised\.)?listeners=.*)$/gm, (line) => line.replace(/:9092\b/g, ':0')));
  return file;
}

async function start(args: string[]): Promise<{ broker: BrokerCommand; port: number }> {
  const broker = await spawnBrokerCommand(args);
  brokers.push(broker);
  const { port } = await broker.listening;
  return { broker, port };
}

async function roundTrip(bootstrap: string, topic: string): Promise<void> {
  await kcatProduce(bootstrap, topic, ['k1:v1', 'k2:v2'], { keyDelimiter: ':' });
  const r = await kcatConsume(bootstrap, topic, { format: '%k=%s\n' });
  expect(r.lines).toEqual(['k1=v1', 'k2=v2']);
}

describeEmbedded('stock Kafka config files start the broker', () => {
  test('KRaft combined (kraft-server.properties): CONTROLLER listener and KRaft settings ignored, one line each', async () => {
    const file = withEphemeralPort('kraft-server.properties');
    const dataDir = path.join(dir, 'combined');
    const { broker, port } = await start(['--config', file, '--data-dir', dataDir]);
    const out = broker.output();
    expect(out).toContain('Ignoring listeners Strata has no use for: CONTROLLER://:9093 (KRaft controller: Strata has no controller quorum); advertised CONTROLLER://localhost:9093 (KRaft controller).');
    const settings = out.split('\n').filter((l) => l.includes('Ignoring Kafka settings'));
    expect(settings).toHaveLength(1);
    for (const key of ['process.roles', 'controller.quorum.voters', 'controller.listener.names', 'num.network.threads', 'share.coordinator.state.topic.replication.factor']) {
      expect(settings[0]).toContain(key);
    }
    expect(out).not.toMatch(/No security protocol defined/);
    expect(out).toMatch(new RegExp(`listening on PLAINTEXT://:${port} \\(node\\.id=1, .*advertised PLAINTEXT://localhost:${port}, inter-broker listener PLAINTEXT, data ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},`));
    await roundTrip(`127.0.0.1:${port}`, 'combined');
  });

  test('KRaft broker-only (kraft-broker.properties)', async () => {
    const file = withEphemeralPort('kraft-broker.properties');
    const { broker, port } = await start(['--config', file, '--data-dir', path.join(dir, 'broker')]);
    expect(broker.output()).toMatch(/Ignoring Kafka settings Strata has no use for \(.*\): controller\.listener\.names, controller\.quorum\.bootstrap\.servers, /);
    expect(broker.output()).toMatch(new RegExp(`listening on PLAINTEXT://localhost:${port} \\(node\\.id=2,`));
    await roundTrip(`localhost:${port}`, 'broker-only');
  });

  test('ZooKeeper mode (zookeeper-server.properties): no listeners in the file, so Strata\'s default, moved with --listeners', async () => {
    const file = path.join(STOCK, 'zookeeper-server.properties');
    const { broker, port } = await start(['--config', file, '--data-dir', path.join(dir, 'zk'), '--listeners', 'PLAINTEXT://127.0.0.1:0']);
    expect(broker.output()).toMatch(/Ignoring Kafka settings Strata has no use for \(.*zookeeper-server\.properties\): .*zookeeper\.connect, zookeeper\.connection\.timeout\.ms\./);
    expect(broker.output()).toMatch(/listening on PLAINTEXT:\/\/127\.0\.0\.1:\d+ \(node\.id=0,/);
    await roundTrip(`127.0.0.1:${port}`, 'zk-mode');
  });

  test('a file that names only a controller listener is refused with what to add (exit code 1)', async () => {
    const file = path.join(dir, 'controller.properties');
    fs.writeFileSync(file, 'process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n');
    const broker = await spawnBrokerCommand(['--config', file, '--data-dir', path.join(dir, 'controller')]);
    brokers.push(broker);
    expect((await broker.exited).code).toBe(1);
    expect(broker.output()).toContain(
      `strata broker: listeners (${file} line 4) names no listener for clients: CONTROLLER://:9093 is a KRaft controller listener (controller.listener.names), ` +
        'which Strata has no use for. Add a client listener, e.g. listeners=PLAINTEXT://:9092,CONTROLLER://:9093, or pass --listeners PLAINTEXT://127.0.0.1:9092.',
    );
  });
});
