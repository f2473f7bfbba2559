import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import { type TopicPartitionRef } from '../client/client';
import { assignReplicas } from '../cluster/replicaPlacement';
import { ErrorCode, errorName } from '../protocol/errorCodes';
import { type CommandSpec, type ParsedArgs, UsageError } from './args';
import { failureText } from './errorText';
import { type CliIO, writeOut } from './io';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';

/**
 * `strata reassign-partitions`: kafka-reassign-partitions.sh's modes, files and output.
 * --generate proposes an assignment of whole topics over a broker list (rack-aware when the
 * brokers have racks); --execute starts moves (printing the current assignment to roll back
 * to); --verify says which are complete; --cancel stops moves in progress; --list shows them.
 * Replica throttles and log dirs are not supported (the fields are accepted in files, ignored).
 */
export const reassignPartitionsSpec: CommandSpec = {
  name: 'reassign-partitions',
  summary: 'Move partition replicas between brokers (like kafka-reassign-partitions.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'generate', kind: 'switch', description: 'Propose an assignment of the topics in --topics-to-move-json-file over --broker-list.' },
    { name: 'execute', kind: 'switch', description: 'Start the moves in --reassignment-json-file.' },
    { name: 'verify', kind: 'switch', description: 'Say which moves of --reassignment-json-file are complete.' },
    { name: 'cancel', kind: 'switch', description: 'Cancel the moves of --reassignment-json-file still in progress.' },
    { name: 'list', kind: 'switch', description: 'List the moves in progress.' },
    { name: 'reassignment-json-file', kind: 'value', valueName: 'FILE', description: '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}' },
    { name: 'topics-to-move-json-file', kind: 'value', valueName: 'FILE', description: '{"version":1,"topics":[{"topic":"t"}]} (with --generate)' },
    { name: 'broker-list', kind: 'value', valueName: 'IDS', description: 'Comma-separated broker ids to place replicas on (with --generate).' },
  ],
  examples: [
    'strata reassign-partitions --bootstrap-server 127.0.0.1:9092 --generate --topics-to-move-json-file topics.json --broker-list 1,2,3',
    'strata reassign-partitions --bootstrap-server 127.0.0.1:9092 --execute --reassignment-json-file plan.json',
    'strata reassign-partitions --bootstrap-server 127.0.0.1:9092 --verify --reassignment-json-file plan.json',
    'strata reassign-partitions --bootstrap-server 127.0.0.1:9092 --list',
  ],
};

type Move = TopicPartitionRef & { replicas: number[] };
const MODES = ['generate', 'execute', 'verify', 'cancel', 'list'] as const;

export async function runReassignPartitions(args: ParsedArgs, io: CliIO): Promise<number> {
  const modes = MODES.filter((m) => args.flag(m));
  if (modes.length !== 1) throw new UsageError(`give exactly one of ${MODES.map((m) => `--${m}`).join(', ')}`, reassignPartitionsSpec);
  const mode = modes[0];
  const moves = mode === 'execute' || mode === 'verify' || mode === 'cancel' ? readMoves(args.required('reassignment-json-file', 'the reassignment plan')) : [];
  const client = commandClient(args, io, { clientId: 'strata-reassign-partitions' });
  const label = (p: TopicPartitionRef) => `${p.topic}-${p.partition}`;
  try {
    switch (mode) {
      case 'generate': {
        const topics = readTopics(args.required('topics-to-move-json-file', 'the topics to move'));
        const ids = parseBrokerList(args.required('broker-list', 'the brokers to place replicas on'));
        const md = await client.metadata(topics);
        const racks = new Map(md.cluster.brokers.map((b) => [b.nodeId, b.rack]));
        const current: Move[] = [];
        const proposed: Move[] = [];
        for (const topic of topics) {
          const t = md.topics.get(topic);
          if (!t) throw new UsageError(`topic '${topic}' does not exist`, reassignPartitionsSpec);
          const rf = t.partitions[0]?.replicas.length ?? 1;
          const placed = assignReplicas(ids.map((nodeId) => ({ nodeId, rack: racks.get(nodeId) ?? null })), t.partitions.length, rf);
          for (const p of t.partitions) {
            current.push({ topic, partition: p.partition, replicas: p.replicas });
            proposed.push({ topic, partition: p.partition, replicas: placed[p.partition] });
          }
        }
        await writeOut(io.stdout, `Current partition replica assignment\n${planJson(current)}\n\nProposed partition reassignment configuration\n${planJson(proposed)}\n`);
        return 0;
      }
      case 'execute': {
        const md = await client.metadata([...new Set(moves.map((m) => m.topic))]);
        const current = moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: md.topics.get(m.topic)?.partitions.find((p) => p.partition === m.partition)?.replicas ?? [] }));
        await writeOut(io.stdout, `Current partition replica assignment\n\n${planJson(current)}\n\nSave this to use as the --reassignment-json-file option during rollback\n`);
        const results = await client.alterPartitionReassignments(moves);
        return report(io, results, (ok) => `Successfully started partition reassignments for ${ok.map(label).join(',')}\n`, 'reassign');
      }
      case 'verify': {
        const ongoing = new Set((await client.listPartitionReassignments(moves)).map(label));
        const md = await client.metadata([...new Set(moves.map((m) => m.topic))]);
        let out = 'Status of partition reassignment:\n';
        let failed = false;
        for (const m of moves) {
          const now = md.topics.get(m.topic)?.partitions.find((p) => p.partition === m.partition)?.replicas ?? [];
          if (ongoing.has(label(m))) out += `Reassignment of partition ${label(m)} is still in progress.\n`;
          else if (now.join(',') === m.replicas.join(',')) out += `Reassignment of partition ${label(m)} is completed.\n`;
          else {
            out += `There is no active reassignment of partition ${label(m)}, but replica set is ${now.join(',')} rather than ${m.replicas.join(',')}.\n`;
            failed = true;
          }
        }
        await writeOut(io.stdout, out);
        return failed ? 1 : 0;
      }
      case 'cancel': {
        const results = await client.alterPartitionReassignments(moves.map((m) => ({ ...m, replicas: null })));
        return report(io, results.filter((r) => r.errorCode !== ErrorCode.NO_REASSIGNMENT_IN_PROGRESS), (ok) => `Successfully cancelled partition reassignments for: ${ok.map(label).join(',')}\n`, 'cancel the reassignment of');
      }
      case 'list': {
        const ongoing = await client.listPartitionReassignments(null);
        const lines = ongoing.map((r) => `${label(r)}: replicas: ${r.replicas.join(',')}. adding: ${r.adding.join(',')}. removing: ${r.removing.join(',')}.\n`);
        await writeOut(io.stdout, lines.length === 0 ? 'No partition reassignments found.\n' : `Current partition reassignments:\n${lines.join('')}`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof StrataError)) throw err;
    await writeOut(io.stderr, `Error: ${failureText(err)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

async function report(io: CliIO, results: Array<TopicPartitionRef & { errorCode: number; errorMessage: string | null }>, success: (ok: TopicPartitionRef[]) => string, what: string): Promise<number> {
  const ok = results.filter((r) => r.errorCode === ErrorCode.NONE);
  const failed = results.filter((r) => r.errorCode !== ErrorCode.NONE);
  if (ok.length > 0) await writeOut(io.stdout, success(ok));
  if (failed.length === 0) return 0;
  await writeOut(io.stderr, failed.map((r) => `Error: could not ${what} ${r.topic}-${r.partition}: ${errorName(r.errorCode)}${r.errorMessage ? `: ${r.errorMessage}` : ''}\n`).join(''));
  return 1;
}

function planJson(moves: Move[]): string {
  return JSON.stringify({ version: 1, partitions: moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: m.replicas, log_dirs: m.replicas.map(() => 'any') })) });
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read '${file}': ${(e as Error).message}`, reassignPartitionsSpec);
  }
}

function readMoves(file: string): Move[] {
  const list = (readJson(file) as { partitions?: unknown }).partitions;
  const ok = (p: { topic?: unknown; partition?: unknown; replicas?: unknown }) =>
    typeof p?.topic === 'string' && Number.isInteger(p.partition) && (p.partition as number) >= 0 && Array.isArray(p.replicas) && p.replicas.length > 0 && p.replicas.every((r) => Number.isInteger(r) && r >= 0);
  if (!Array.isArray(list) || list.length === 0 || !list.every(ok)) {
    throw new UsageError(`'${file}': expected {"version":1,"partitions":[{"topic":"T","partition":0,"replicas":[1,2]},...]}`, reassignPartitionsSpec);
  }
  return list.map((p: Move) => ({ topic: p.topic, partition: p.partition, replicas: [...p.replicas] }));
}

function readTopics(file: string): string[] {
  const list = (readJson(file) as { topics?: unknown }).topics;
  if (!Array.isArray(list) || list.length === 0 || !list.every((t) => typeof t?.topic === 'string')) {
    throw new UsageError(`'${file}': expected {"version":1,"topics":[{"topic":"T"},...]}`, reassignPartitionsSpec);
  }
  return list.map((t: { topic: string }) => t.topic);
}

function parseBrokerList(raw: string): number[] {
  const ids = raw.split(',').map((s) => Number(s.trim()));
  if (ids.length === 0 || ids.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--broker-list must be comma-separated broker ids, not '${raw}'`, reassignPartitionsSpec);
  return [...new Set(ids)];
}
