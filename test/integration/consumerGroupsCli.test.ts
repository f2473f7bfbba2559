/**
 * `strata consumer-groups` against a real broker: --describe's offsets and lag while records
 * are produced and consumed, every --reset-offsets mode as a dry run (nothing changes) and with
 * --execute (offsets change to the expected values), the refusals Kafka makes for groups with
 * active members, --list, --delete and --delete-offsets. Most runs are in-process (runCli);
 * a few run the built binary, to check real exit codes and streams.
 */
import { StrataClient } from '../../core/client/client';
import { GroupConsumer } from '../../core/client/groupConsumer';
import { DRY_RUN_WARNING } from '../../core/cli/consumer-groups';
import { runCli } from '../cli/runCli';
import { BrokerProcess, startBroker } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { runProcess } from '../helpers/proc';
import { waitFor } from '../helpers/waitFor';

jest.setTimeout(60_000);

let broker: BrokerProcess;
let admin: StrataClient;
const consumers: GroupConsumer[] = [];

beforeAll(async () => {
  broker = await startBroker({ overrides: { 'group.initial.rebalance.delay.ms': '0' } });
  admin = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await admin.close();
});

const groups = (...args: string[]) => runCli(['consumer-groups', '--bootstrap-server', broker.bootstrap, ...args]);

function member(groupId: string, topic: string): GroupConsumer {
  const c = new GroupConsumer({ bootstrapServers: [broker.bootstrap], groupId, topics: [topic], autoOffsetReset: 'earliest', enableAutoCommit: false, heartbeatIntervalMs: 200, sessionTimeoutMs: 10_000 });
  consumers.push(c);
  return c;
}

/** Polls until the consumer has read `n` records (bounded). */
async function read(c: GroupConsumer, n: number): Promise<void> {
  let got = 0;
  await waitFor(async () => (got += (await c.poll({ maxWaitMs: 200, maxRecords: n - got })).length) >= n, { timeoutMs: 20_000, intervalMs: 0, message: `${n} records` });
}

async function produce(topic: string, partition: number, n: number, timestamp?: (i: number) => number): Promise<void> {
  await admin.produce(topic, partition, Array.from({ length: n }, (_, i) => ({ value: `v${i}`, timestamp: timestamp?.(i) })));
}

const offsets = async (group: string): Promise<Record<string, bigint>> =>
  Object.fromEntries((await admin.offsetFetch(group, null)).map((o) => [`${o.topic}-${o.partition}`, o.offset]));

/** The table's data rows, split on runs of spaces. */
const rows = (stdout: string): string[][] =>
  stdout
    .split('\n')
    .filter((l) => l.trim() && !/^(GROUP|TOPIC|CONSUMER-ID)\s/.test(l))
    .map((l) => l.trim().split(/\s+/));

describe('consumer-groups --describe', () => {
  it("shows each partition's committed offset, log end offset and lag, and who reads it", async () => {
    await admin.createTopics([{ name: 'lag', numPartitions: 2 }]);
    await produce('lag', 0, 10);
    await produce('lag', 1, 6);
    const c = member('lag-g', 'lag');
    await read(c, 16);
    await c.commitSync([
      { topic: 'lag', partition: 0, offset: 4n },
      { topic: 'lag', partition: 1, offset: 6n },
    ]);
    const d1 = await groups('--describe', '--group', 'lag-g');
    expect(d1.code).toBe(0);
    expect(d1.stderr).toBe('');
    expect(rows(d1.stdout)).toEqual([
      ['lag-g', 'lag', '0', '4', '10', '6', c.memberId, '/127.0.0.1', 'strata-consumer'],
      ['lag-g', 'lag', '1', '6', '6', '0', c.memberId, '/127.0.0.1', 'strata-consumer'],
    ]);
    // Kafka's layout: a blank line, then columns at least 15 wide (PARTITION 10), one space apart.
    const header = d1.stdout.split('\n')[1];
    expect(d1.stdout.startsWith('\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID')).toBe(true);
    const firstRow = d1.stdout.split('\n')[2];
    for (const column of ['PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID']) {
      const at = header.indexOf(column);
      expect(firstRow[at - 1]).toBe(' ');
      expect(firstRow[at]).not.toBe(' ');
    }

    // Producing moves the log end and the lag; consuming and committing brings the lag down.
    await produce('lag', 0, 5);
    expect(rows((await groups('--describe', '--group', 'lag-g')).stdout)[0].slice(0, 6)).toEqual(['lag-g', 'lag', '0', '4', '15', '11']);
    await c.commitSync([{ topic: 'lag', partition: 0, offset: 12n }]);
    expect(rows((await groups('--describe', '--group', 'lag-g')).stdout)[0].slice(0, 6)).toEqual(['lag-g', 'lag', '0', '12', '15', '3']);

    // --members and --state.
    const members = await groups('--describe', '--group', 'lag-g', '--members', '--verbose');
    expect(rows(members.stdout)).toEqual([['lag-g', c.memberId, '/127.0.0.1', 'strata-consumer', '2', 'lag(0,1)']]);
    const state = await groups('--describe', '--group', 'lag-g', '--state');
    expect(rows(state.stdout)).toEqual([['lag-g', `${broker.host}:${broker.port}`, '(0)', 'range', 'Stable', '1']]);

    // Once the member left, the committed offsets remain, with '-' for the member columns.
    await c.close();
    const d2 = await groups('--describe', '--group', 'lag-g');
    expect(d2.code).toBe(0);
    expect(d2.stderr).toBe("\nConsumer group 'lag-g' has no active members.\n");
    expect(d2.stdout).toBe(
      '\nGROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n' +
        'lag-g           lag             0          12              15              3               -               -               -\n' +
        'lag-g           lag             1          6               6               0               -               -               -\n',
    );
  });

  it('lists a partition without a committed offset with - for the offset and lag; an unknown group fails', async () => {
    await admin.createTopics([{ name: 'fresh', numPartitions: 1 }]);
    await produce('fresh', 0, 3);
    const c = member('fresh-g', 'fresh');
    await waitFor(async () => (await c.poll({ maxWaitMs: 100 }), c.assignment().length === 1), { message: 'assigned' });
    expect(rows((await groups('--describe', '--group', 'fresh-g')).stdout)).toEqual([['fresh-g', 'fresh', '0', '-', '3', '-', c.memberId, '/127.0.0.1', 'strata-consumer']]);

    const missing = await groups('--describe', '--group', 'no-such-group');
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: "Error: Consumer group 'no-such-group' does not exist.\n" });
  });
});

describe('consumer-groups --reset-offsets', () => {
  const HOUR = 3_600_000;
  const base = Date.now() - 10 * HOUR; // record i of each partition has timestamp base + i hours

  beforeAll(async () => {
    await admin.createTopics([{ name: 'rs', numPartitions: 2 }]);
    await produce('rs', 0, 10, (i) => base + i * HOUR);
    await produce('rs', 1, 10, (i) => base + i * HOUR);
  });

  /** Every group starts from committed offsets 5 (partition 0) and 3 (partition 1). */
  async function freshGroup(name: string): Promise<void> {
    await admin.offsetCommit(name, [
      { topic: 'rs', partition: 0, offset: 5n },
      { topic: 'rs', partition: 1, offset: 3n },
    ]);
  }

  const iso = (ms: number): string => new Date(ms).toISOString().replace('Z', '');

  const higher = (o: number, p: number, to: number) => `WARN New offset (${o}) is higher than latest offset for topic partition rs-${p}. Value will be set to ${to}\n`;
  const lower = (o: number, p: number, to: number) => `WARN New offset (${o}) is lower than earliest offset for topic partition rs-${p}. Value will be set to ${to}\n`;
  it.each<[string, string[], [bigint, bigint], string?]>([
    ['--to-earliest', ['--to-earliest'], [0n, 0n]],
    ['--to-latest', ['--to-latest'], [10n, 10n]],
    ['--to-current', ['--to-current'], [5n, 3n]],
    ['--to-offset', ['--to-offset', '7'], [7n, 7n]],
    ['--to-offset past the end (clamped)', ['--to-offset', '100'], [10n, 10n], higher(100, 0, 10) + higher(100, 1, 10)],
    ['--to-offset before the start (clamped)', ['--to-offset', '-5'], [0n, 0n], lower(-5, 0, 0) + lower(-5, 1, 0)],
    ['--shift-by', ['--shift-by', '-2'], [3n, 1n]],
    ['--shift-by past the end (clamped)', ['--shift-by', '6'], [10n, 9n], higher(11, 0, 10)],
    ['--to-datetime', ['--to-datetime', iso(base + 3 * HOUR)], [3n, 3n]],
    ['--to-datetime with a zone', ['--to-datetime', iso(base + 4 * HOUR + 2 * HOUR) + '+02:00'], [4n, 4n]],
    ['--by-duration', ['--by-duration', 'PT5H30M'], [5n, 5n]],
  ])('%s: a dry run changes nothing, --execute commits the plan', async (name, scenario, [p0, p1], clampWarnings = '') => {
    const group = `rs-${name.replace(/[^a-z]+/g, '-')}`;
    await freshGroup(group);
    const planned = `\nGROUP${' '.repeat(Math.max(15, group.length) - 5)} TOPIC           PARTITION  NEW-OFFSET      PREVIOUS-OFFSET\n`;
    const plan = [
      [group, 'rs', '0', String(p0), '5'],
      [group, 'rs', '1', String(p1), '3'],
    ];

    const dry = await groups('--reset-offsets', '--group', group, '--topic', 'rs', ...scenario);
    expect(dry.code).toBe(0);
    // The dry-run note, then Kafka's warning for each target outside the log (checkOffsetsRange).
    expect(dry.stderr).toBe(`${DRY_RUN_WARNING}\n${clampWarnings}`);
    expect(dry.stdout.startsWith(planned)).toBe(true);
    expect(rows(dry.stdout)).toEqual(plan);
    expect(await offsets(group)).toEqual({ 'rs-0': 5n, 'rs-1': 3n });

    const explicitDry = await groups('--reset-offsets', '--group', group, '--topic', 'rs', ...scenario, '--dry-run');
    expect(explicitDry).toMatchObject({ code: 0, stderr: clampWarnings });
    expect(rows(explicitDry.stdout)).toEqual(plan);
    expect(await offsets(group)).toEqual({ 'rs-0': 5n, 'rs-1': 3n });

    const executed = await groups('--reset-offsets', '--group', group, '--topic', 'rs', ...scenario, '--execute');
    expect(executed).toMatchObject({ code: 0, stderr: clampWarnings });
    expect(rows(executed.stdout)).toEqual(plan);
    expect(await offsets(group)).toEqual({ 'rs-0': p0, 'rs-1': p1 });
  });

  it('scopes: some partitions of a topic, or --all-topics (the partitions with committed offsets)', async () => {
    await admin.offsetCommit('rs-scope', [{ topic: 'rs', partition: 1, offset: 4n }]);
    const one = await groups('--reset-offsets', '--group', 'rs-scope', '--topic', 'rs:0', '--to-offset', '2', '--execute');
    expect(rows(one.stdout)).toEqual([['rs-scope', 'rs', '0', '2', '-']]);
    expect(await offsets('rs-scope')).toEqual({ 'rs-0': 2n, 'rs-1': 4n });
    const all = await groups('--reset-offsets', '--group', 'rs-scope', '--all-topics', '--to-latest', '--execute', '--export');
    expect(all.stdout).toBe('rs,0,10\nrs,1,10\n');
    expect(await offsets('rs-scope')).toEqual({ 'rs-0': 10n, 'rs-1': 10n });
    // --to-current puts a partition without a committed offset at the log end.
    await admin.offsetCommit('rs-current', [{ topic: 'rs', partition: 0, offset: 1n }]);
    expect(rows((await groups('--reset-offsets', '--group', 'rs-current', '--topic', 'rs', '--to-current', '--dry-run')).stdout)).toEqual([
      ['rs-current', 'rs', '0', '1', '1'],
      ['rs-current', 'rs', '1', '10', '-'],
    ]);
  });

  it('refuses --shift-by without a committed offset, unknown partitions, and bad values', async () => {
    const shift = await groups('--reset-offsets', '--group', 'rs-none', '--topic', 'rs', '--shift-by', '1');
    expect(shift.code).toBe(1);
    expect(shift.stderr).toContain('Cannot shift offset for partition rs-0 since there is no current committed offset');
    const unknown = await groups('--reset-offsets', '--group', 'rs-none', '--topic', 'rs:7', '--to-earliest', '--dry-run');
    expect(unknown).toMatchObject({ code: 1, stderr: 'Error: Executing consumer group command failed due to The partitions "rs-7" do not exist\n' });
    const noTopic = await groups('--reset-offsets', '--group', 'rs-none', '--topic', 'nope', '--to-earliest', '--dry-run');
    expect(noTopic.code).toBe(1);
    expect((await groups('--reset-offsets', '--group', 'g', '--topic', 'rs', '--to-datetime', '2024-05-01')).code).toBe(2);
    expect((await groups('--reset-offsets', '--group', 'g', '--topic', 'rs', '--by-duration', '5h')).code).toBe(2);
  });

  it("refuses a group with active members with Kafka's message and exit code 1 (the built binary)", async () => {
    await admin.createTopics([{ name: 'busy', numPartitions: 1 }]);
    const c = member('busy-g', 'busy');
    await waitFor(async () => (await c.poll({ maxWaitMs: 100 }), c.assignment().length === 1), { message: 'assigned' });
    await c.commitSync([{ topic: 'busy', partition: 0, offset: 0n }]);
    const r = await runProcess(process.execPath, [BROKER_MAIN, 'consumer-groups', '--bootstrap-server', broker.bootstrap, '--reset-offsets', '--group', 'busy-g', '--topic', 'busy', '--to-latest', '--execute'], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: Assignments can only be reset if the group 'busy-g' is inactive, but the current state is Stable.\n");
    expect(r.stdout.toString()).toBe('');
    expect(await offsets('busy-g')).toEqual({ 'busy-0': 0n });
  });
});

describe('consumer-groups --list, --delete, --delete-offsets', () => {
  it('lists groups (with states), deletes empty ones and refuses groups with members', async () => {
    await admin.createTopics([{ name: 'ld', numPartitions: 1 }]);
    await admin.offsetCommit('ld-empty', [{ topic: 'ld', partition: 0, offset: 0n }]);
    const c = member('ld-active', 'ld');
    await waitFor(async () => (await c.poll({ maxWaitMs: 100 }), c.assignment().length === 1), { message: 'assigned' });

    const list = await groups('--list');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['ld-empty', 'ld-active']));
    const withState = await groups('--list', '--state');
    // Kafka's widths: the longest group id (at least 15) plus 10, then 20 for the state.
    const width = Math.max(15, ...rows(withState.stdout).map((r) => r[0].length)) + 10;
    expect(withState.stdout.split('\n')[0]).toBe(`${'GROUP'.padEnd(width)} ${'STATE'.padEnd(20)}`);
    expect(rows(withState.stdout)).toEqual(expect.arrayContaining([['ld-empty', 'Empty'], ['ld-active', 'Stable']]));
    expect(rows((await groups('--list', '--state', 'stable')).stdout).map((r) => r[1])).toEqual(rows((await groups('--list', '--state', 'Stable')).stdout).map((r) => r[1]));
    expect(rows((await groups('--list', '--state', 'empty')).stdout)).not.toContainEqual(['ld-active', 'Stable']);

    const refused = await groups('--delete', '--group', 'ld-active');
    expect(refused).toMatchObject({
      code: 1,
      stdout: '',
      stderr: "Error: Deletion of some consumer groups failed:\n* Group 'ld-active' could not be deleted due to: The group is not empty.\n",
    });
    const deleted = await groups('--delete', '--group', 'ld-empty');
    expect(deleted).toMatchObject({ code: 0, stdout: "Deletion of requested consumer groups ('ld-empty') was successful.\n" });
    expect((await groups('--list')).stdout.split('\n')).not.toContain('ld-empty');
    expect(await offsets('ld-empty')).toEqual({});
  });

  it('deletes offsets of a topic, refused while a member reads it', async () => {
    await admin.createTopics([{ name: 'do', numPartitions: 2 }]);
    await admin.offsetCommit('do-g', [
      { topic: 'do', partition: 0, offset: 0n },
      { topic: 'do', partition: 1, offset: 0n },
    ]);
    const ok = await groups('--delete-offsets', '--group', 'do-g', '--topic', 'do:1');
    expect(ok).toMatchObject({ code: 0, stdout: 'Request succeeded for deleting offsets from group do-g.\n\nTOPIC           PARTITION  STATUS\ndo              1          Successful\n' });
    expect(await offsets('do-g')).toEqual({ 'do-0': 0n });

    const c = member('do-g', 'do');
    await waitFor(async () => (await c.poll({ maxWaitMs: 100 }), c.assignment().length === 2), { message: 'assigned' });
    const refused = await groups('--delete-offsets', '--group', 'do-g', '--topic', 'do');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('Error: Encountered some partition-level error, see the follow-up details.\n');
    expect(rows(refused.stdout)).toEqual([
      ['do', '0', 'Error:', 'The', 'consumer', 'group', 'is', 'actively', 'subscribed', 'to', 'the', 'topic'],
      ['do', '1', 'Error:', 'The', 'consumer', 'group', 'is', 'actively', 'subscribed', 'to', 'the', 'topic'],
    ]);
  });
});
