import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { GroupDescription, GroupListing, LATEST_TIMESTAMP, StrataClient, TopicPartitionRef } from '../client/client';
import { KafkaResponseError } from '../client/errors';
import { decodeOurAssignment } from '../client/groupMembership';
import { ResetPlanRow, ResetSpec, parseDateTime, parseIsoDuration, parseTopicArg, planOffsetReset, resolveTopicArgs } from '../client/groupOffsetReset';
import { CommandSpec, ParsedArgs, UsageError, parseArgs } from './args';
import { kafkaErrorText } from './errorText';
import { CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata consumer-groups`: kafka-consumer-groups.sh's actions, flags and output, so scripts
 * and habits carry over — --list [--state], --describe [--members [--verbose] | --state |
 * --offsets], --delete, --reset-offsets (a dry run unless --execute) and --delete-offsets.
 * One deliberate addition: the reset plan shows each partition's PREVIOUS-OFFSET after
 * Kafka's NEW-OFFSET column, so a dry run says what would change.
 */
export const consumerGroupsSpec: CommandSpec = {
  name: 'consumer-groups',
  summary: 'List, describe, delete consumer groups or reset their offsets (like kafka-consumer-groups.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'list', kind: 'switch', description: 'List all consumer groups.' },
    { name: 'describe', kind: 'switch', description: "Describe groups: each partition's committed offset, log end offset and lag, and who reads it." },
    { name: 'delete', kind: 'switch', description: 'Delete groups (only groups without active members).' },
    { name: 'reset-offsets', kind: 'switch', description: 'Plan (default, or --dry-run) or --execute an offset reset; the group must have no active members.' },
    { name: 'delete-offsets', kind: 'switch', description: "Delete a group's committed offsets of --topic (partitions with T:0,1)." },
    { name: 'group', kind: 'repeatable', valueName: 'GROUP', description: 'The group to act on.' },
    { name: 'all-groups', kind: 'switch', description: 'Act on every consumer group (--describe, --delete, --reset-offsets).' },
    { name: 'topic', kind: 'repeatable', valueName: 'TOPIC[:P,...]', description: 'With --reset-offsets/--delete-offsets: a topic, or some of its partitions (orders:0,2).' },
    { name: 'all-topics', kind: 'switch', description: 'With --reset-offsets: every partition the group has committed offsets for.' },
    { name: 'members', kind: 'switch', description: 'With --describe: list the members instead of partitions.' },
    { name: 'offsets', kind: 'switch', description: 'With --describe: partitions and lag (the default).' },
    { name: 'state', kind: 'value', valueName: 'STATES', description: 'With --describe: the group state. With --list: show states; a value (stable,empty) filters by them.' },
    { name: 'verbose', kind: 'switch', description: "With --describe --members: each member's assignment." },
    { name: 'dry-run', kind: 'switch', description: 'With --reset-offsets: only print the plan (the default).' },
    { name: 'execute', kind: 'switch', description: 'With --reset-offsets: commit the new offsets.' },
    { name: 'export', kind: 'switch', description: 'With --reset-offsets: print the plan as CSV (topic,partition,offset).' },
    { name: 'to-earliest', kind: 'switch', description: 'Reset to the log start offset.' },
    { name: 'to-latest', kind: 'switch', description: 'Reset to the log end offset.' },
    { name: 'to-current', kind: 'switch', description: 'Reset to the committed offset (the log end where none).' },
    { name: 'to-offset', kind: 'value', valueName: 'N', description: 'Reset to offset N (kept within the log).' },
    { name: 'shift-by', kind: 'value', valueName: 'N', description: 'Move the committed offset by N (negative: back), kept within the log.' },
    { name: 'to-datetime', kind: 'value', valueName: 'YYYY-MM-DDTHH:mm:SS.sss', description: 'Reset to the first offset at or after this time (UTC unless a zone like +02:00 is given).' },
    { name: 'by-duration', kind: 'value', valueName: 'PnDTnHnMnS', description: 'Reset to the first offset at or after now minus this ISO-8601 duration, e.g. PT1H.' },
    { name: 'timeout', kind: 'value', valueName: 'MS', description: 'Request timeout in milliseconds (default 30000).' },
  ],
  examples: [
    'strata consumer-groups --bootstrap-server 127.0.0.1:9092 --list --state',
    'strata consumer-groups --bootstrap-server 127.0.0.1:9092 --describe --group billing',
    'strata consumer-groups --bootstrap-server 127.0.0.1:9092 --reset-offsets --group billing --topic orders --to-datetime 2024-05-01T00:00:00.000',
    'strata consumer-groups --bootstrap-server 127.0.0.1:9092 --reset-offsets --group billing --all-topics --shift-by -100 --execute',
    'strata consumer-groups --bootstrap-server 127.0.0.1:9092 --delete --group billing',
  ],
};

const ACTIONS = ['list', 'describe', 'delete', 'reset-offsets', 'delete-offsets'] as const;
type Action = (typeof ACTIONS)[number];

const SCENARIOS = ['to-earliest', 'to-latest', 'to-current', 'to-offset', 'shift-by', 'to-datetime', 'by-duration'] as const;

/** Which flags make sense with which action: anything else is a usage error, as in Kafka. */
const ONLY_WITH: Record<string, readonly Action[]> = {
  group: ['describe', 'delete', 'reset-offsets', 'delete-offsets'],
  'all-groups': ['describe', 'delete', 'reset-offsets'],
  topic: ['reset-offsets', 'delete-offsets'],
  'all-topics': ['reset-offsets'],
  members: ['describe'],
  offsets: ['describe'],
  verbose: ['describe'],
  state: ['describe', 'list'],
  'dry-run': ['reset-offsets'],
  execute: ['reset-offsets'],
  export: ['reset-offsets'],
  ...Object.fromEntries(SCENARIOS.map((s) => [s, ['reset-offsets'] as const])),
};

/** Kafka's classic group states, by the names ListGroups uses. */
const GROUP_STATES = ['PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead', 'Empty'] as const;

/** Shown, as Kafka shows it, when a reset runs without --execute or --dry-run. */
export const DRY_RUN_WARNING =
  'WARN: No action will be performed as the --execute option is missing. ' +
  'In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. ' +
  'You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.';

const MISSING = '-';

/** A failure kafka-consumer-groups.sh reports as "Error: ..." (exit 1), already worded for the user. */
class GroupCommandError extends StrataError {
  constructor(message: string) {
    super('INPUT_INVALID', message);
  }
}

/**
 * `--state` takes an optional value in Kafka (`--list --state` vs `--list --state stable`);
 * the strict parser wants one, so a bare `--state` becomes `--state=` before parsing.
 */
function withOptionalStateValue(argv: readonly string[]): string[] {
  return argv.map((a, i) => (a === '--state' && (argv[i + 1] === undefined || argv[i + 1].startsWith('--')) ? '--state=' : a));
}

export async function runConsumerGroups(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(withOptionalStateValue(argv), consumerGroupsSpec);
  const action = checkArgs(args);
  const timeoutMs = args.int('timeout', { min: 1, max: 2 ** 31 - 1 }) ?? 30_000;
  const spec = action === 'reset-offsets' ? resetSpec(args) : undefined;
  const client = commandClient(args, io, { clientId: 'strata-consumer-groups', requestTimeoutMs: timeoutMs });
  try {
    switch (action) {
      case 'list':
        return await list(client, args, io);
      case 'describe':
        return await describe(client, args, io);
      case 'delete':
        return await remove(client, args, io);
      case 'reset-offsets':
        return await reset(client, args, spec!, io);
      case 'delete-offsets':
        return await deleteOffsets(client, args, io);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof GroupCommandError) {
      await writeOut(io.stderr, `Error: ${err.message}\n`);
      return 1;
    }
    if (err instanceof StrataError) {
      const text = err instanceof KafkaResponseError ? groupErrorText(err) : err.message;
      await writeOut(io.stderr, `Error: Executing consumer group command failed due to ${text}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

/** The command-line checks kafka-consumer-groups.sh makes before connecting. */
function checkArgs(args: ParsedArgs): Action {
  const actions = ACTIONS.filter((a) => args.flag(a));
  if (actions.length !== 1) {
    throw new UsageError(`Command must include exactly one action: ${ACTIONS.map((a) => `--${a}`).join(', ')}`, consumerGroupsSpec);
  }
  const action = actions[0];
  for (const [flag, allowed] of Object.entries(ONLY_WITH)) {
    if (args.has(flag) && !allowed.includes(action)) {
      if (flag === 'topic' && action === 'delete') throw new UsageError('The consumer does not support topic-specific offset deletion from a consumer group.', consumerGroupsSpec);
      throw new UsageError(`--${flag} can only be used with ${allowed.map((a) => `--${a}`).join(', ')}`, consumerGroupsSpec);
    }
  }
  const groups = args.list('group');
  if (groups.length > 0 && args.flag('all-groups')) throw new UsageError('--group and --all-groups cannot be used together', consumerGroupsSpec);
  if ((action === 'describe' || action === 'delete' || action === 'reset-offsets') && groups.length === 0 && !args.flag('all-groups')) {
    throw new UsageError(`--${action} takes one of these options: --group, --all-groups`, consumerGroupsSpec);
  }
  if (groups.some((g) => g.length === 0)) throw new UsageError('--group must not be empty', consumerGroupsSpec);
  if (action === 'describe') {
    const sub = (['members', 'offsets', 'state'] as const).filter((f) => args.has(f));
    if (sub.length > 1) throw new UsageError('--describe takes at most one of these options: --members, --offsets, --state', consumerGroupsSpec);
    if (args.has('state') && args.string('state') !== '') throw new UsageError('--describe does not take a value for --state', consumerGroupsSpec);
    if (args.flag('verbose') && !args.flag('members')) throw new UsageError('--verbose is only supported with --describe --members', consumerGroupsSpec);
  }
  if (action === 'delete-offsets') {
    if (groups.length !== 1 || args.list('topic').length === 0) throw new UsageError('--delete-offsets takes one --group and at least one --topic', consumerGroupsSpec);
  }
  if (action === 'reset-offsets') {
    if (args.flag('dry-run') && args.flag('execute')) throw new UsageError('--reset-offsets only accepts one of --execute and --dry-run', consumerGroupsSpec);
    const scenarios = SCENARIOS.filter((s) => args.has(s));
    if (scenarios.length !== 1) throw new UsageError(`--reset-offsets takes exactly one of ${SCENARIOS.map((s) => `--${s}`).join(', ')}`, consumerGroupsSpec);
    const scopes = args.list('topic').length > 0 ? 1 : 0;
    if (scopes + (args.flag('all-topics') ? 1 : 0) !== 1) throw new UsageError('One of the reset scopes should be defined: --all-topics, --topic.', consumerGroupsSpec);
  }
  for (const t of args.list('topic')) {
    try {
      parseTopicArg(t);
    } catch (err) {
      throw new UsageError((err as Error).message, consumerGroupsSpec);
    }
  }
  return action;
}

/** The reset scenario from the command line (exactly one is present: checkArgs made sure). */
function resetSpec(args: ParsedArgs): ResetSpec {
  const usage = (fn: () => ResetSpec): ResetSpec => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof StrataError && err.code === 'INPUT_INVALID') throw new UsageError(err.message, consumerGroupsSpec);
      throw err;
    }
  };
  const long = (flag: string): bigint => {
    const raw = args.required(flag).trim();
    if (!/^[-+]?\d+$/.test(raw)) throw new UsageError(`--${flag} must be an integer, got '${raw}'`, consumerGroupsSpec);
    const v = BigInt(raw);
    if (v > 2n ** 63n - 1n || v < -(2n ** 63n)) throw new UsageError(`--${flag} is out of range: '${raw}'`, consumerGroupsSpec);
    return v;
  };
  if (args.flag('to-earliest')) return { kind: 'earliest' };
  if (args.flag('to-latest')) return { kind: 'latest' };
  if (args.flag('to-current')) return { kind: 'current' };
  if (args.has('to-offset')) return { kind: 'offset', offset: long('to-offset') };
  if (args.has('shift-by')) return { kind: 'shift', by: long('shift-by') };
  if (args.has('to-datetime')) return usage(() => ({ kind: 'timestamp', timestampMs: BigInt(parseDateTime(args.required('to-datetime'))) }));
  return usage(() => ({ kind: 'timestamp', timestampMs: BigInt(Date.now()) - parseIsoDuration(args.required('by-duration')) }));
}

// ---------------------------------------------------------------- --list

async function list(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<number> {
  const withState = args.has('state');
  const filter = withState ? parseStates(args.string('state')!) : [];
  const groups = (await client.listGroups({ states: filter })).filter(isConsumerGroup);
  const text = withState ? formatGroupList(groups) : groups.map((g) => `${g.groupId}\n`).join('');
  if (text) await writeOut(io.stdout, text);
  return 0;
}

/** `stable,empty` → Kafka's state names; case-insensitive, as Kafka parses them. */
export function parseStates(raw: string): string[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((s) => {
    const found = GROUP_STATES.find((g) => g.toLowerCase() === s.trim().toLowerCase());
    if (!found) throw new UsageError(`Invalid state list '${raw}'. Valid states are: ${GROUP_STATES.join(', ')}`, consumerGroupsSpec);
    return found;
  });
}

/** Groups of consumers, and groups that only committed offsets (protocol type ''), as Kafka lists them. */
function isConsumerGroup(g: GroupListing): boolean {
  return g.protocolType === 'consumer' || g.protocolType === '';
}

/** `--list --state`: GROUP (width: longest id, at least 15, plus 10) and STATE (20). */
export function formatGroupList(groups: GroupListing[]): string {
  const width = Math.max(15, ...groups.map((g) => g.groupId.length)) + 10;
  const line = (group: string, state: string): string => `${group.padEnd(width)} ${state.padEnd(20)}\n`;
  return line('GROUP', 'STATE') + groups.map((g) => line(g.groupId, g.state ?? 'Unknown')).join('');
}

// ---------------------------------------------------------------- --describe

/** One row of `--describe` (offsets); null prints as '-'. */
export interface OffsetRow {
  group: string;
  topic: string | null;
  partition: number | null;
  currentOffset: bigint | null;
  logEndOffset: bigint | null;
  lag: bigint | null;
  consumerId: string | null;
  host: string | null;
  clientId: string | null;
}

export interface MemberRow {
  group: string;
  consumerId: string;
  groupInstanceId: string | null;
  host: string;
  clientId: string;
  partitions: TopicPartitionRef[];
}

async function groupIds(client: StrataClient, args: ParsedArgs): Promise<string[]> {
  if (!args.flag('all-groups')) return [...new Set(args.list('group'))];
  return (await client.listGroups()).filter(isConsumerGroup).map((g) => g.groupId);
}

async function describe(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<number> {
  const ids = [...(await groupIds(client, args))].sort();
  let failed = false;
  for (const description of await client.describeGroups(ids)) {
    const g = description.groupId;
    if (description.state === 'Dead') {
      await writeOut(io.stderr, `Error: Consumer group '${g}' does not exist.\n`);
      failed = true;
      continue;
    }
    if (args.flag('members')) {
      const rows = memberRows(description);
      await stateNotice(io, description);
      if (rows.length > 0) await writeOut(io.stdout, formatMembers(rows, args.flag('verbose')));
    } else if (args.has('state')) {
      await stateNotice(io, description);
      await writeOut(io.stdout, formatState(description));
    } else {
      const rows = await offsetRows(client, description);
      await stateNotice(io, description);
      if (rows.length > 0) await writeOut(io.stdout, formatOffsets(rows));
    }
  }
  return failed ? 1 : 0;
}

/** Kafka's notes about a group that is not Stable, on stderr. */
async function stateNotice(io: CliIO, d: GroupDescription): Promise<void> {
  if (d.state === 'Empty') await writeOut(io.stderr, `\nConsumer group '${d.groupId}' has no active members.\n`);
  else if (d.state === 'PreparingRebalance' || d.state === 'CompletingRebalance') await writeOut(io.stderr, `\nWarning: Consumer group '${d.groupId}' is rebalancing.\n`);
}

/** Each member's assigned partitions (decoded when the group speaks the consumer protocol). */
function memberRows(d: GroupDescription): MemberRow[] {
  return d.members.map((m) => {
    let partitions: TopicPartitionRef[] = [];
    if (d.protocolType === 'consumer') {
      try {
        partitions = decodeOurAssignment(m.assignment);
      } catch {
        partitions = []; // a member with an undecodable assignment is shown without partitions
      }
    }
    return { group: d.groupId, consumerId: m.memberId, groupInstanceId: m.groupInstanceId, host: m.clientHost, clientId: m.clientId, partitions };
  });
}

/**
 * Kafka's describe rows: members with partitions (those with the most first), each with its
 * partitions in order, then partitions that have a committed offset but no member ('-').
 * The lag needs the log end offset, one ListOffsets per partition.
 */
export async function offsetRows(client: StrataClient, d: GroupDescription): Promise<OffsetRow[]> {
  const committed = await client.offsetFetch(d.groupId, null);
  const committedBy = new Map(committed.map((c) => [`${c.topic}\u0000${c.partition}`, c.offset]));
  const owners = memberRows(d)
    .filter((m) => m.partitions.length > 0)
    .sort((a, b) => b.partitions.length - a.partitions.length);
  const assigned = new Set<string>();
  const rows: Array<{ tp: TopicPartitionRef; member: MemberRow | null }> = [];
  for (const m of owners) {
    for (const tp of m.partitions) {
      assigned.add(`${tp.topic}\u0000${tp.partition}`);
      rows.push({ tp, member: m });
    }
  }
  for (const c of committed) if (!assigned.has(`${c.topic}\u0000${c.partition}`)) rows.push({ tp: c, member: null });
  const ends = await Promise.all(
    rows.map(({ tp }) =>
      client.listOffsets(tp.topic, tp.partition, LATEST_TIMESTAMP).then(
        (r) => r.offset,
        () => null, // a deleted topic or a partition without a leader: shown as '-'
      ),
    ),
  );
  return rows.map(({ tp, member }, i) => {
    const current = committedBy.get(`${tp.topic}\u0000${tp.partition}`) ?? null;
    const end = ends[i];
    return {
      group: d.groupId,
      topic: tp.topic,
      partition: tp.partition,
      currentOffset: current,
      logEndOffset: end,
      lag: current !== null && end !== null ? end - current : null,
      consumerId: member?.consumerId ?? null,
      host: member?.host ?? null,
      clientId: member?.clientId ?? null,
    };
  });
}

const cell = (v: string | number | bigint | null): string => (v === null ? MISSING : String(v));

/** Kafka's describe table: a blank line, the header, the rows; columns at least 15 wide (PARTITION 10). */
export function formatOffsets(rows: OffsetRow[]): string {
  const w = (pick: (r: OffsetRow) => string | null): number => Math.max(15, ...rows.map((r) => cell(pick(r)).length));
  const gW = w((r) => r.group);
  const tW = w((r) => r.topic);
  const cW = w((r) => r.consumerId);
  const hW = w((r) => r.host);
  const line = (cols: string[]): string =>
    [cols[0].padEnd(gW), cols[1].padEnd(tW), cols[2].padEnd(10), cols[3].padEnd(15), cols[4].padEnd(15), cols[5].padEnd(15), cols[6].padEnd(cW), cols[7].padEnd(hW), cols[8]].join(' ');
  const lines = [line(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'])];
  for (const r of rows) {
    lines.push(line([r.group, cell(r.topic), cell(r.partition), cell(r.currentOffset), cell(r.logEndOffset), cell(r.lag), cell(r.consumerId), cell(r.host), cell(r.clientId)]));
  }
  return `\n${lines.join('\n')}\n`;
}

/** Kafka's `--describe --members` table (GROUP-INSTANCE-ID only when a member has one; ASSIGNMENT with --verbose). */
export function formatMembers(rows: MemberRow[], verbose: boolean): string {
  const gW = Math.max(15, ...rows.map((r) => r.group.length));
  const cW = Math.max(15, ...rows.map((r) => r.consumerId.length));
  const iW = Math.max(17, ...rows.map((r) => (r.groupInstanceId ?? '').length));
  const hW = Math.max(15, ...rows.map((r) => r.host.length));
  const clW = Math.max(15, ...rows.map((r) => r.clientId.length));
  const withInstance = rows.some((r) => r.groupInstanceId);
  const line = (g: string, c: string, inst: string, h: string, cl: string, n: string, assignment: string): string =>
    [g.padEnd(gW), c.padEnd(cW), ...(withInstance ? [inst.padEnd(iW)] : []), h.padEnd(hW), cl.padEnd(clW), n.padEnd(15)].join(' ') + ' ' + (verbose ? assignment : '');
  const out = [line('GROUP', 'CONSUMER-ID', 'GROUP-INSTANCE-ID', 'HOST', 'CLIENT-ID', '#PARTITIONS', 'ASSIGNMENT')];
  for (const r of rows) out.push(line(r.group, r.consumerId, r.groupInstanceId ?? '', r.host, r.clientId, String(r.partitions.length), assignmentText(r.partitions)));
  return `\n${out.join('\n')}\n`;
}

/** 'orders(0,1), payments(2)' — Kafka's verbose assignment column; '-' for none. */
export function assignmentText(partitions: TopicPartitionRef[]): string {
  if (partitions.length === 0) return MISSING;
  const byTopic = new Map<string, number[]>();
  for (const tp of partitions) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
  return [...byTopic]
    .map(([t, ps]) => `${t}(${[...ps].sort((a, b) => a - b).join(',')})`)
    .sort()
    .join(', ');
}

/** Kafka's `--describe --state` table: coordinator as 'host:port  (id)'. */
export function formatState(d: GroupDescription): string {
  const coordinator = `${d.coordinator.host}:${d.coordinator.port}  (${d.coordinator.nodeId})`;
  const cW = Math.max(25, coordinator.length);
  const gW = Math.max(15, d.groupId.length);
  const line = (g: string, c: string, strategy: string, state: string, members: string): string => `${g.padEnd(gW)} ${c.padEnd(cW)} ${strategy.padEnd(20)} ${state.padEnd(20)} ${members}`;
  return `\n${line('GROUP', 'COORDINATOR (ID)', 'ASSIGNMENT-STRATEGY', 'STATE', '#MEMBERS')}\n${line(d.groupId, coordinator, d.protocol || MISSING, d.state, String(d.members.length))}\n`;
}

// ---------------------------------------------------------------- --delete

async function remove(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<number> {
  const results = await client.deleteGroups(await groupIds(client, args));
  const ok = results.filter((r) => r.error === null).map((r) => `'${r.groupId}'`);
  const failed = results.filter((r) => r.error !== null);
  if (failed.length === 0) {
    await writeOut(io.stdout, `Deletion of requested consumer groups (${ok.join(', ')}) was successful.\n`);
    return 0;
  }
  await writeOut(io.stderr, `Error: Deletion of some consumer groups failed:\n${failed.map((r) => `* Group '${r.groupId}' could not be deleted due to: ${groupErrorText(r.error!)}\n`).join('')}`);
  if (ok.length > 0) await writeOut(io.stdout, `\nThese consumer groups were deleted successfully: ${ok.join(', ')}\n`);
  return 1;
}

// ---------------------------------------------------------------- --reset-offsets

async function reset(client: StrataClient, args: ParsedArgs, spec: ResetSpec, io: CliIO): Promise<number> {
  const execute = args.flag('execute');
  if (!execute && !args.flag('dry-run')) await writeOut(io.stderr, `${DRY_RUN_WARNING}\n`);
  const ids = await groupIds(client, args);
  const plans: Array<{ group: string; rows: ResetPlanRow[] }> = [];
  let failed = false;
  for (const d of await client.describeGroups(ids)) {
    if (d.state !== 'Empty' && d.state !== 'Dead') {
      // Members would overwrite the reset with their next commit, and Kafka refuses it too.
      await writeOut(io.stderr, `Error: Assignments can only be reset if the group '${d.groupId}' is inactive, but the current state is ${d.state}.\n`);
      failed = true;
      continue;
    }
    const partitions: TopicPartitionRef[] = args.flag('all-topics')
      ? (await client.offsetFetch(d.groupId, null)).map((c) => ({ topic: c.topic, partition: c.partition }))
      : await resolveTopicArgs(client, args.list('topic'));
    const plan = await planOffsetReset(client, d.groupId, partitions, spec);
    for (const w of plan.clamped) await writeOut(io.stderr, `WARN ${w}\n`);
    for (const w of plan.warnings) await writeOut(io.stdout, `\n${w}\n`);
    if (execute && plan.rows.length > 0) {
      await client.offsetCommit(
        d.groupId,
        plan.rows.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.next })),
      );
    }
    plans.push({ group: d.groupId, rows: plan.rows });
  }
  if (args.flag('export')) {
    const single = ids.length === 1;
    const csv = plans.flatMap((p) => p.rows.map((r) => `${single ? '' : `${p.group},`}${r.topic},${r.partition},${r.next}\n`)).join('');
    if (csv) await writeOut(io.stdout, csv);
  } else {
    const text = formatResetPlan(plans);
    if (text) await writeOut(io.stdout, text);
  }
  return failed ? 1 : 0;
}

/**
 * Kafka's reset table (GROUP TOPIC PARTITION NEW-OFFSET) plus PREVIOUS-OFFSET, the committed
 * offset before the reset ('-' when there was none); empty when there is nothing to show.
 */
export function formatResetPlan(plans: Array<{ group: string; rows: ResetPlanRow[] }>): string {
  const all = plans.flatMap((p) => p.rows.map((r) => ({ group: p.group, ...r })));
  if (all.length === 0) return '';
  const gW = Math.max(15, ...all.map((r) => r.group.length));
  const tW = Math.max(15, ...all.map((r) => r.topic.length));
  const line = (g: string, t: string, p: string, next: string, previous: string): string => `${g.padEnd(gW)} ${t.padEnd(tW)} ${p.padEnd(10)} ${next.padEnd(15)} ${previous}`;
  const lines = [line('GROUP', 'TOPIC', 'PARTITION', 'NEW-OFFSET', 'PREVIOUS-OFFSET')];
  for (const r of all) lines.push(line(r.group, r.topic, String(r.partition), String(r.next), cell(r.previous)));
  return `\n${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- --delete-offsets

async function deleteOffsets(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<number> {
  const group = args.list('group')[0];
  const partitions = await resolveTopicArgs(client, args.list('topic'));
  let results;
  try {
    results = await client.offsetDelete(group, partitions);
  } catch (err) {
    if (err instanceof KafkaResponseError) throw new GroupCommandError(groupErrorText(err));
    throw err;
  }
  const failed = results.some((r) => r.error !== null);
  if (failed) await writeOut(io.stderr, 'Error: Encountered some partition-level error, see the follow-up details.\n');
  else await writeOut(io.stdout, `Request succeeded for deleting offsets from group ${group}.\n`);
  const tW = Math.max(15, ...results.map((r) => r.topic.length));
  const line = (t: string, p: string, status: string): string => `${t.padEnd(tW)} ${p.padEnd(10)} ${status}`;
  const lines = [line('TOPIC', 'PARTITION', 'STATUS'), ...results.map((r) => line(r.topic, String(r.partition), r.error ? `Error: ${groupErrorText(r.error)}` : 'Successful'))];
  await writeOut(io.stdout, `\n${lines.join('\n')}\n`);
  return failed ? 1 : 0;
}

/** Kafka's messages for the errors group commands meet (its Errors enum wording). */
export function groupErrorText(e: KafkaResponseError): string {
  if (e.errorMessage) return e.errorMessage;
  switch (e.errorCode) {
    case ErrorCode.NON_EMPTY_GROUP:
      return 'The group is not empty.';
    case ErrorCode.GROUP_ID_NOT_FOUND:
      return 'The group id does not exist.';
    case ErrorCode.INVALID_GROUP_ID:
      return 'The configured groupId is invalid.';
    case ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC:
      return 'The consumer group is actively subscribed to the topic';
    case ErrorCode.GROUP_AUTHORIZATION_FAILED:
      return 'Group authorization failed.';
    case ErrorCode.COORDINATOR_NOT_AVAILABLE:
      return 'The coordinator is not available.';
    case ErrorCode.NOT_COORDINATOR:
      return 'This is not the correct coordinator.';
    case ErrorCode.UNKNOWN_MEMBER_ID:
      return 'The coordinator is not aware of this member.';
    case ErrorCode.ILLEGAL_GENERATION:
      return 'Specified group generation id is not valid.';
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
      return 'This server does not host this topic-partition.';
    default:
      return kafkaErrorText(e);
  }
}
