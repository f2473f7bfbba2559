import * as net from 'node:net';
import { formatTopicDescription, topicMatcher } from '../../core/cli/topics';
import { FakeBroker } from '../client/fakeBroker';
import { runCli } from './runCli';

let broker: FakeBroker;
beforeEach(async () => {
  broker = await FakeBroker.start({ defaultPartitions: 2 });
});
afterEach(async () => {
  await broker.close();
});

const topics = (...args: string[]) => runCli(['topics', '--bootstrap-server', broker.bootstrap, ...args]);

describe('strata topics', () => {
  it('creates a topic with partitions, replication factor and configs', async () => {
    const r = await topics('--create', '--topic', 'orders', '--partitions', '3', '--replication-factor', '1', '--config', 'retention.ms=60000', '--config', 'cleanup.policy=compact');
    expect(r).toEqual({ code: 0, stdout: 'Created topic orders.\n', stderr: '' });
    const t = broker.topics.get('orders')!;
    expect(t.partitions).toHaveLength(3);
    expect(t.configs).toEqual({ 'retention.ms': '60000', 'cleanup.policy': 'compact' });
  });

  it('uses the broker defaults when --partitions and --replication-factor are left out', async () => {
    expect((await topics('--create', '--topic', 'd')).code).toBe(0);
    expect(broker.topics.get('d')!.partitions).toHaveLength(2);
  });

  it('reports an existing topic, unless --if-not-exists', async () => {
    await topics('--create', '--topic', 'orders');
    const again = await topics('--create', '--topic', 'orders');
    expect(again).toEqual({ code: 1, stdout: '', stderr: "Error while executing topic command: Topic 'orders' already exists.\n" });
    expect(await topics('--create', '--topic', 'orders', '--if-not-exists')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('lists topic names sorted, optionally filtered by --topic', async () => {
    for (const t of ['b', 'a', 'c-1']) broker.createTopic(t, 1);
    expect(await topics('--list')).toEqual({ code: 0, stdout: 'a\nb\nc-1\n', stderr: '' });
    expect((await topics('--list', '--topic', 'c-.*')).stdout).toBe('c-1\n');
    expect((await topics('--list', '--topic', 'nothing')).stdout).toBe('');
  });

  it('prints nothing for an empty cluster', async () => {
    expect(await topics('--list')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('describes topics in the kafka-topics.sh format', async () => {
    const t = broker.createTopic('orders', 2, { 'retention.ms': '1000' });
    broker.createTopic('other', 1);
    const r = await topics('--describe', '--topic', 'orders');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `Topic: orders\tTopicId: ${t.id}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=1000\n` +
        '\tTopic: orders\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n' +
        '\tTopic: orders\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n',
    );
    const all = await topics('--describe');
    expect(all.stdout.split('\n').filter((l) => l.startsWith('Topic: ')).map((l) => l.split('\t')[0])).toEqual(['Topic: orders', 'Topic: other']);
  });

  it('--topics-with-overrides: only topics with non-default configs, without partitions, as kafka-topics.sh', async () => {
    const t = broker.createTopic('orders', 2, { 'retention.ms': '1000' });
    broker.createTopic('plain', 1);
    const r = await topics('--describe', '--topics-with-overrides');
    expect(r).toEqual({ code: 0, stdout: `Topic: orders\tTopicId: ${t.id}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=1000\n`, stderr: '' });
    expect((await topics('--list', '--topics-with-overrides')).code).toBe(2);
  });

  it('fails for a topic that does not exist, unless --if-exists', async () => {
    for (const action of ['--describe', '--delete']) {
      const r = await topics(action, '--topic', 'ghost');
      expect(r).toEqual({ code: 1, stdout: '', stderr: "Error while executing topic command: Topic 'ghost' does not exist as expected\n" });
      expect(await topics(action, '--topic', 'ghost', '--if-exists')).toEqual({ code: 0, stdout: '', stderr: '' });
    }
  });

  it('deletes topics silently, as kafka-topics.sh does', async () => {
    broker.createTopic('x', 1);
    expect(await topics('--delete', '--topic', 'x')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(broker.topics.has('x')).toBe(false);
  });

  it('raises the partition count with --alter, and reports a refused change', async () => {
    broker.createTopic('x', 1);
    expect(await topics('--alter', '--topic', 'x', '--partitions', '4')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(broker.topics.get('x')!.partitions).toHaveLength(4);
    const shrink = await topics('--alter', '--topic', 'x', '--partitions', '2');
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toBe('Error while executing topic command: Topic currently has 4 partitions, which is higher than the requested 2.\n');
  });

  it('rejects bad command lines with exit code 2', async () => {
    const cases: Array<[string[], string]> = [
      [[], 'Command must include exactly one action: --list, --describe, --create, --alter or --delete'],
      [['--list', '--create'], 'Command must include exactly one action'],
      [['--create'], '--create needs --topic'],
      [['--alter', '--topic', 'x'], '--alter needs --partitions'],
      [['--create', '--topic', 'x', '--partitions', '0'], '--partitions must be at least 1, got 0'],
      [['--create', '--topic', 'x', '--replication-factor', '40000'], '--replication-factor must be at most 32767, got 40000'],
      [['--create', '--topic', 'x', '--config', 'novalue'], "--config expects key=value, got 'novalue'"],
      [['--list', '--partitions', '3'], '--partitions can only be used with --create, --alter'],
      [['--delete', '--topic', 'x', '--if-not-exists'], '--if-not-exists can only be used with --create'],
    ];
    for (const [args, message] of cases) {
      const r = await topics(...args);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toContain(message);
    }
  });

  it('explains an unreachable broker', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const r = await runCli(['topics', '--bootstrap-server', `127.0.0.1:${port}`, '--list']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error while executing topic command: could not connect to 127.0.0.1:${port}: is the broker running? start it with \`npm start\`\n`,
    });
  });
});

describe('topicMatcher', () => {
  it('matches whole names as a regex, with commas as alternatives', () => {
    const m = topicMatcher('orders');
    expect(['orders', 'orders2', 'my-orders'].filter(m)).toEqual(['orders']);
    expect(['a', 'b', 'c'].filter(topicMatcher('a,c'))).toEqual(['a', 'c']);
    expect(['x(1', 'x1'].filter(topicMatcher('x(1'))).toEqual(['x(1']); // invalid regex: literal
  });
});

describe('formatTopicDescription', () => {
  it('leaves out a zero TopicId and shows leaderless partitions as none', () => {
    const text = formatTopicDescription(
      { name: 't', topicId: 'AAAAAAAAAAAAAAAAAAAAAA', isInternal: false, partitions: [{ partition: 0, leader: -1, leaderEpoch: -1, replicas: [1, 2], isr: [], offlineReplicas: [1, 2], errorCode: 5 }] },
      [],
    );
    expect(text).toBe('Topic: t\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: none\tReplicas: 1,2\tIsr: \tOffline: 1,2\n');
  });
});
