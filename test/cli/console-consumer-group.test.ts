/**
 * `strata console-consumer --group` against a real broker: it joins the group, resumes from
 * and commits the group's offsets (a second run continues where the first stopped), starts at
 * the end or — with --from-beginning — the start for a group without offsets, and on SIGINT
 * commits, leaves the group and exits cleanly (the built binary, a real signal).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { StrataClient } from '../../core/client/client';
import { BrokerProcess, startBroker } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { waitFor } from '../helpers/waitFor';
import { runCli } from './runCli';

jest.setTimeout(60_000);

let broker: BrokerProcess;
let admin: StrataClient;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'group.initial.rebalance.delay.ms': '0' } });
  admin = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
});

afterAll(async () => {
  await admin.close();
});

const consume = (topic: string, ...args: string[]) => runCli(['console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', topic, ...args]);
const lines = (s: string): string[] => s.split('\n').filter(Boolean);
const committed = async (group: string): Promise<bigint[]> => (await admin.offsetFetch(group, null)).map((o) => o.offset);

describe('console-consumer --group', () => {
  it('commits what it printed: the next run with the group continues exactly there', async () => {
    await admin.createTopics([{ name: 'cc', numPartitions: 2 }]);
    await admin.produce('cc', 0, ['a0', 'a1', 'a2', 'a3'].map((value) => ({ value })));
    await admin.produce('cc', 1, ['b0', 'b1', 'b2', 'b3'].map((value) => ({ value })));

    const first = await consume('cc', '--group', 'cc-g', '--from-beginning', '--max-messages', '5');
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('Processed a total of 5 messages\n');
    const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
    expect(sum(await committed('cc-g'))).toBe(5n);
    // It left on exit: the group is empty now, not after a session timeout.
    expect((await admin.describeGroups(['cc-g']))[0].state).toBe('Empty');

    const second = await consume('cc', '--group', 'cc-g', '--from-beginning', '--max-messages', '3');
    expect(second.code).toBe(0);
    expect([...lines(first.stdout), ...lines(second.stdout)].sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3']);
    expect(await committed('cc-g')).toEqual([4n, 4n]);

    // Nothing left for the group; --from-beginning only applies to partitions without offsets.
    const third = await consume('cc', '--group', 'cc-g', '--from-beginning', '--timeout-ms', '1500');
    expect(third).toEqual({ code: 0, stdout: '', stderr: 'Processed a total of 0 messages\n' });
  });

  it('starts a new group at the end of the log without --from-beginning', async () => {
    await admin.createTopics([{ name: 'cc-latest', numPartitions: 1 }]);
    await admin.produce('cc-latest', 0, [{ value: 'old' }]);
    const running = consume('cc-latest', '--group', 'cc-latest-g', '--max-messages', '1', '--timeout-ms', '30000');
    let done = false;
    void running.then(() => (done = true));
    // Keep producing until the consumer, once positioned at the end, picks one up.
    let i = 0;
    await waitFor(async () => (await admin.produce('cc-latest', 0, [{ value: `new-${i++}` }]), done), { timeoutMs: 30_000, intervalMs: 100, message: 'the consumer read a new record' });
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^new-\d+\n$/);
  });

  it('fails clearly for a topic that does not exist', async () => {
    const r = await consume('cc-missing', '--group', 'g-missing', '--timeout-ms', '1000');
    expect(r).toEqual({ code: 1, stdout: '', stderr: "Error: topic 'cc-missing' does not exist\nProcessed a total of 0 messages\n" });
  });

  it('on SIGINT commits, leaves the group and exits 0 with the total (the built binary)', async () => {
    await admin.createTopics([{ name: 'cc-sig', numPartitions: 1 }]);
    await admin.produce('cc-sig', 0, ['x', 'y', 'z'].map((value) => ({ value })));
    const child = spawn(process.execPath, [BROKER_MAIN, 'console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', 'cc-sig', '--group', 'cc-sig-g', '--from-beginning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => lines(stdout).length === 3, { timeoutMs: 30_000, message: 'three records printed' });
    expect((await admin.describeGroups(['cc-sig-g']))[0].state).toBe('Stable');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(lines(stdout)).toEqual(['x', 'y', 'z']);
    expect(stderr).toBe('Processed a total of 3 messages\n');
    expect(await committed('cc-sig-g')).toEqual([3n]);
    expect((await admin.describeGroups(['cc-sig-g']))[0]).toMatchObject({ state: 'Empty', members: [] });
  });
});
