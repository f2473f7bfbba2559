import { KafkaResponseError } from '../../core/client/errors';
import {
  assignmentText,
  formatGroupList,
  formatMembers,
  formatOffsets,
  formatResetPlan,
  formatState,
  groupErrorText,
  parseStates,
} from '../../core/cli/consumer-groups';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { runCli } from './runCli';

/** Output formats and command-line checks; the commands against a broker are in test/integration/consumerGroupsCli.test.ts. */

const cg = (...args: string[]) => runCli(['consumer-groups', '--bootstrap-server', '127.0.0.1:1', ...args]);
const firstLine = (s: string) => s.split('\n')[0];

describe('consumer-groups command line', () => {
  it.each<[string[], string]>([
    [[], 'Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets'],
    [['--list', '--describe'], 'Command must include exactly one action'],
    [['--describe'], '--describe takes one of these options: --group, --all-groups'],
    [['--describe', '--group', 'g', '--all-groups'], '--group and --all-groups cannot be used together'],
    [['--describe', '--group', 'g', '--members', '--state'], '--describe takes at most one of these options: --members, --offsets, --state'],
    [['--describe', '--group', 'g', '--state', 'stable'], '--describe does not take a value for --state'],
    [['--describe', '--group', 'g', '--verbose'], '--verbose is only supported with --describe --members'],
    [['--list', '--group', 'g'], '--group can only be used with --describe, --delete, --reset-offsets, --delete-offsets'],
    [['--list', '--members'], '--members can only be used with --describe'],
    [['--list', '--state', 'bogus'], "Invalid state list 'bogus'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, Dead, Empty"],
    [['--delete', '--group', 'g', '--topic', 't'], 'The consumer does not support topic-specific offset deletion from a consumer group.'],
    [['--delete-offsets', '--group', 'g'], '--delete-offsets takes one --group and at least one --topic'],
    [['--reset-offsets', '--group', 'g', '--topic', 't'], '--reset-offsets takes exactly one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by, --to-datetime, --by-duration'],
    [['--reset-offsets', '--group', 'g', '--topic', 't', '--to-earliest', '--to-latest'], '--reset-offsets takes exactly one of'],
    [['--reset-offsets', '--group', 'g', '--to-earliest'], 'One of the reset scopes should be defined: --all-topics, --topic.'],
    [['--reset-offsets', '--group', 'g', '--topic', 't', '--all-topics', '--to-earliest'], 'One of the reset scopes should be defined'],
    [['--reset-offsets', '--group', 'g', '--topic', 't', '--to-earliest', '--execute', '--dry-run'], '--reset-offsets only accepts one of --execute and --dry-run'],
    [['--reset-offsets', '--group', 'g', '--topic', 't:x', '--to-earliest'], "Invalid partition 'x' specified in topic arg 't:x'"],
    [['--reset-offsets', '--group', 'g', '--topic', 't', '--to-offset', '1.5'], "--to-offset must be an integer, got '1.5'"],
    [['--reset-offsets', '--group', 'g', '--topic', 't', '--to-datetime', '2024-05-01T00:00'], 'is not a date-time in the format YYYY-MM-DDTHH:mm:SS.sss'],
    [['--reset-offsets', '--group', 'g', '--topic', 't', '--by-duration', '1h'], "'1h' is not an ISO-8601 duration"],
    [['--execute', '--list'], '--execute can only be used with --reset-offsets'],
  ])('%j is a usage error', async (args, message) => {
    const r = await cg(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(firstLine(r.stderr)).toContain(message);
    expect(r.stderr).toContain('Usage: strata consumer-groups [flags]');
  });

  it('prints its usage with --help', async () => {
    const r = await cg('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--reset-offsets');
    expect(r.stdout).toContain('--to-datetime <YYYY-MM-DDTHH:mm:SS.sss>');
  });

  it('fails with one line and exit 1 when the broker is unreachable', async () => {
    const r = await cg('--list');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: Executing consumer group command failed due to could not connect to 127\.0\.0\.1:1[^\n]*\n$/);
  });

  it('reads --state values case-insensitively, as Kafka', () => {
    expect(parseStates('stable,EMPTY, preparingrebalance')).toEqual(['Stable', 'Empty', 'PreparingRebalance']);
    expect(parseStates('')).toEqual([]);
  });
});

describe('consumer-groups output', () => {
  it("formats --describe rows in Kafka's columns, widening for long values", () => {
    const consumerId = 'strata-consumer-0123456789abcdef0123';
    const text = formatOffsets([
      { group: 'g', topic: 'orders', partition: 0, currentOffset: 5n, logEndOffset: 12n, lag: 7n, consumerId, host: '/10.0.0.1', clientId: 'app' },
      { group: 'g', topic: 'orders', partition: 1, currentOffset: null, logEndOffset: 3n, lag: null, consumerId: null, host: null, clientId: null },
    ]);
    const idW = consumerId.length;
    expect(text).toBe(
      '\n' +
        `GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             ${'CONSUMER-ID'.padEnd(idW)} HOST            CLIENT-ID\n` +
        `g               orders          0          5               12              7               ${consumerId} /10.0.0.1       app\n` +
        `g               orders          1          -               3               -               ${'-'.padEnd(idW)} -               -\n`,
    );
  });

  it('formats --members, with GROUP-INSTANCE-ID when a member is static and ASSIGNMENT with --verbose', () => {
    const rows = [
      { group: 'g', consumerId: 'c-1', groupInstanceId: null, host: '/127.0.0.1', clientId: 'app', partitions: [{ topic: 't', partition: 1 }, { topic: 't', partition: 0 }, { topic: 'a', partition: 2 }] },
      { group: 'g', consumerId: 'c-2', groupInstanceId: 'static-1', host: '/127.0.0.1', clientId: 'app', partitions: [] },
    ];
    expect(formatMembers(rows, false)).toBe(
      '\n' +
        'GROUP           CONSUMER-ID     GROUP-INSTANCE-ID HOST            CLIENT-ID       #PARTITIONS     \n' +
        'g               c-1                               /127.0.0.1      app             3               \n' +
        'g               c-2             static-1          /127.0.0.1      app             0               \n',
    );
    expect(formatMembers([rows[0]], true)).toBe(
      '\n' +
        'GROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     ASSIGNMENT\n' +
        'g               c-1             /127.0.0.1      app             3               a(2), t(0,1)\n',
    );
    expect(assignmentText([])).toBe('-');
  });

  it('formats --describe --state and --list --state', () => {
    const d = { groupId: 'g', state: 'Stable', protocolType: 'consumer', protocol: 'range', members: [], coordinator: { nodeId: 0, host: 'localhost', port: 9092, rack: null } };
    expect(formatState(d)).toBe(
      '\n' +
        'GROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS\n' +
        'g               localhost:9092  (0)       range                Stable               0\n',
    );
    expect(formatState({ ...d, protocol: '', state: 'Empty' })).toContain('-                    Empty');
    expect(formatGroupList([{ groupId: 'g', protocolType: 'consumer', state: 'Stable' }, { groupId: 'other', protocolType: '', state: null }])).toBe(
      `${'GROUP'.padEnd(25)} ${'STATE'.padEnd(20)}\n${'g'.padEnd(25)} ${'Stable'.padEnd(20)}\n${'other'.padEnd(25)} ${'Unknown'.padEnd(20)}\n`,
    );
  });

  it('formats the reset plan with the previous offsets after NEW-OFFSET', () => {
    expect(formatResetPlan([{ group: 'g', rows: [{ topic: 't', partition: 0, previous: 3n, next: 0n }, { topic: 't', partition: 1, previous: null, next: 9n }] }])).toBe(
      '\n' +
        'GROUP           TOPIC           PARTITION  NEW-OFFSET      PREVIOUS-OFFSET\n' +
        'g               t               0          0               3\n' +
        'g               t               1          9               -\n',
    );
    expect(formatResetPlan([{ group: 'g', rows: [] }])).toBe('');
  });

  it("words group errors as Kafka's tools do", () => {
    expect(groupErrorText(new KafkaResponseError(ErrorCode.NON_EMPTY_GROUP, { api: 'DeleteGroups' }))).toBe('The group is not empty.');
    expect(groupErrorText(new KafkaResponseError(ErrorCode.GROUP_ID_NOT_FOUND, { api: 'OffsetDelete' }))).toBe('The group id does not exist.');
    expect(groupErrorText(new KafkaResponseError(ErrorCode.NON_EMPTY_GROUP, { api: 'DeleteGroups', errorMessage: 'from the broker' }))).toBe('from the broker');
  });
});
