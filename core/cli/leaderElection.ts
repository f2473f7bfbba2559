import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { StrataClient, type TopicPartitionRef } from '../client/client';
import { ErrorCode, errorName } from '../protocol/errorCodes';
import { type CommandSpec, type ParsedArgs, UsageError } from './args';
import { failureText } from './errorText';
import { type CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata leader-election`: kafka-leader-election.sh's flags and output. PREFERRED moves each
 * partition's leadership to its first assigned replica when that one is alive and in sync;
 * UNCLEAN elects a live replica for partitions whose in-sync replicas are all gone (it may lose
 * acknowledged records). Exit 1 when any partition could not be elected.
 */
export const leaderElectionSpec: CommandSpec = {
  name: 'leader-election',
  summary: 'Elect partition leaders: the preferred replica, or (unclean) any live replica (like kafka-leader-election.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'election-type', kind: 'value', valueName: 'PREFERRED|UNCLEAN', description: 'Which election. Required.' },
    { name: 'topic', kind: 'value', valueName: 'TOPIC', description: 'The topic (with --partition: one partition; alone: all its partitions).' },
    { name: 'partition', kind: 'value', valueName: 'P', description: 'With --topic: the partition.' },
    { name: 'all-topic-partitions', kind: 'switch', description: 'Every partition of every topic.' },
    { name: 'path-to-json-file', kind: 'value', valueName: 'FILE', description: 'The partitions, in Kafka\'s format: {"partitions":[{"topic":"orders","partition":0}]}.' },
  ],
  examples: [
    'strata leader-election --bootstrap-server 127.0.0.1:9092 --election-type PREFERRED --all-topic-partitions',
    'strata leader-election --bootstrap-server 127.0.0.1:9092 --election-type PREFERRED --topic orders --partition 0',
    'strata leader-election --bootstrap-server 127.0.0.1:9092 --election-type UNCLEAN --path-to-json-file partitions.json',
  ],
};

export async function runLeaderElection(args: ParsedArgs, io: CliIO): Promise<number> {
  const rawType = args.required('election-type', 'PREFERRED or UNCLEAN').toUpperCase();
  if (rawType !== 'PREFERRED' && rawType !== 'UNCLEAN') throw new UsageError(`--election-type must be PREFERRED or UNCLEAN, not ${rawType}`, leaderElectionSpec);
  const type = rawType === 'PREFERRED' ? 'preferred' : 'unclean';
  const targets = partitionsOf(args);
  const client = commandClient(args, io, { clientId: 'strata-leader-election' });
  try {
    const topicsAsked = targets === 'all' ? null : await expand(client, targets);
    const results = await client.electLeaders(type, topicsAsked);
    const label = (r: TopicPartitionRef) => `${r.topic}-${r.partition}`;
    const done = results.filter((r) => r.errorCode === ErrorCode.NONE).map(label);
    const noop = results.filter((r) => r.errorCode === ErrorCode.ELECTION_NOT_NEEDED).map(label);
    const failed = results.filter((r) => r.errorCode !== ErrorCode.NONE && r.errorCode !== ErrorCode.ELECTION_NOT_NEEDED);
    let out = '';
    if (done.length > 0) out += `Successfully completed leader election (${rawType}) for partitions ${done.join(', ')}\n`;
    if (noop.length > 0) out += `Valid replica already elected for partitions ${noop.join(', ')}\n`;
    if (done.length === 0 && noop.length === 0 && failed.length === 0) out += 'No partitions needed an election\n';
    await writeOut(io.stdout, out);
    if (failed.length === 0) return 0;
    await writeOut(io.stderr, failed.map((r) => `Error completing leader election (${rawType}) for partition: ${label(r)}: ${errorName(r.errorCode)}${r.errorMessage ? `: ${r.errorMessage}` : ''}\n`).join(''));
    return 1;
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof StrataError)) throw err;
    await writeOut(io.stderr, `Error: leader election failed: ${failureText(err)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

type Targets = 'all' | Array<{ topic: string; partition?: number }>;

function partitionsOf(args: ParsedArgs): Targets {
  const all = args.has('all-topic-partitions');
  const topic = args.string('topic');
  const file = args.string('path-to-json-file');
  const given = [all, topic !== undefined, file !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give exactly one of --all-topic-partitions, --topic, --path-to-json-file', leaderElectionSpec);
  if (args.has('partition') && topic === undefined) throw new UsageError('--partition needs --topic', leaderElectionSpec);
  if (all) return 'all';
  if (topic !== undefined) return [{ topic, partition: args.int('partition', { min: 0, max: 2 ** 31 - 1 }) }];
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file!, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read --path-to-json-file '${file}': ${(e as Error).message}`, leaderElectionSpec);
  }
  const list = (parsed as { partitions?: unknown }).partitions;
  if (!Array.isArray(list) || list.some((p) => typeof p?.topic !== 'string' || !Number.isInteger(p?.partition) || p.partition < 0)) {
    throw new UsageError(`--path-to-json-file '${file}': expected {"partitions":[{"topic":"T","partition":0},...]}`, leaderElectionSpec);
  }
  return list.map((p: { topic: string; partition: number }) => ({ topic: p.topic, partition: p.partition }));
}

/** A topic named without a partition means all of its partitions. */
async function expand(client: StrataClient, targets: Array<{ topic: string; partition?: number }>): Promise<TopicPartitionRef[]> {
  const out: TopicPartitionRef[] = [];
  for (const t of targets) {
    if (t.partition !== undefined) out.push({ topic: t.topic, partition: t.partition });
    else for (const p of (await client.describeTopics([t.topic]))[0].partitions) out.push({ topic: t.topic, partition: p.partition });
  }
  return out;
}
