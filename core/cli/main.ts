#!/usr/bin/env node
import { StrataError } from '../common/errors';
import { CommandSpec, UsageError, didYouMean, formatUsage, parseArgs, wantsHelp } from './args';
import { aclsSpec, runAcls } from './acls';
import { awsInitSpec, runAwsInit } from './aws-init';
import { leaderElectionSpec, runLeaderElection } from './leaderElection';
import { reassignPartitionsSpec, runReassignPartitions } from './reassignPartitions';
import { brokerSpec, runBrokerCommand } from './broker';
import { clusterSpec, runClusterCommand } from './cluster';
import { configsSpec, runConfigs } from './configs';
import { consoleConsumerSpec, runConsoleConsumer } from './console-consumer';
import { consoleProducerSpec, runConsoleProducer } from './console-producer';
import { consumerGroupsSpec, runConsumerGroups } from './consumer-groups';
import { deleteRecordsSpec, runDeleteRecords } from './deleteRecords';
import { logDirsSpec, runLogDirs } from './logDirs';
import { mirrorSpec, runMirror } from './mirror';
import { CliIO, processIO } from './io';
import { runTopics, topicsSpec } from './topics';
import { runStorage, storageFormatSpec } from './storage';
import { runTransactions, transactionsSpec } from './transactions';

/**
 * `strata <command> [flags]`. Exit codes, the same for every command:
 *   0  success
 *   1  the command ran and failed (broker unreachable, topic missing, broker error...)
 *   2  the command line is wrong (unknown command or flag, missing or bad value)
 * Failures print one line on stderr; STRATA_DEBUG=1 adds the stack trace.
 */

interface Command {
  spec: CommandSpec;
  run(argv: string[], io: CliIO & { signal?: AbortSignal }): Promise<number>;
}

export const COMMANDS: ReadonlyMap<string, Command> = new Map<string, Command>([
  ['broker', { spec: brokerSpec, run: (argv) => runBrokerCommand(argv) }],
  ['cluster', { spec: clusterSpec, run: (argv, io) => runClusterCommand(argv, io) }],
  ['topics', { spec: topicsSpec, run: (argv, io) => runTopics(parseArgs(argv, topicsSpec), io) }],
  ['configs', { spec: configsSpec, run: (argv, io) => runConfigs(argv, io) }],
  ['acls', { spec: aclsSpec, run: (argv, io) => runAcls(argv, io) }],
  ['console-producer', { spec: consoleProducerSpec, run: (argv, io) => runConsoleProducer(parseArgs(argv, consoleProducerSpec), io) }],
  ['console-consumer', { spec: consoleConsumerSpec, run: (argv, io) => runConsoleConsumer(parseArgs(argv, consoleConsumerSpec), io) }],
  ['consumer-groups', { spec: consumerGroupsSpec, run: (argv, io) => runConsumerGroups(argv, io) }],
  ['delete-records', { spec: deleteRecordsSpec, run: (argv, io) => runDeleteRecords(parseArgs(argv, deleteRecordsSpec), io) }],
  ['transactions', { spec: transactionsSpec, run: (argv, io) => runTransactions(argv, io) }],
  ['log-dirs', { spec: logDirsSpec, run: (argv, io) => runLogDirs(argv, io) }],
  ['leader-election', { spec: leaderElectionSpec, run: (argv, io) => runLeaderElection(parseArgs(argv, leaderElectionSpec), io) }],
  ['reassign-partitions', { spec: reassignPartitionsSpec, run: (argv, io) => runReassignPartitions(parseArgs(argv, reassignPartitionsSpec), io) }],
  ['aws-init', { spec: awsInitSpec, run: (argv, io) => runAwsInit(parseArgs(argv, awsInitSpec), io) }],
  ['storage', { spec: storageFormatSpec, run: (argv, io) => runStorage(argv, io) }],
  ['mirror', { spec: mirrorSpec, run: (argv, io) => runMirror(argv, io) }],
]);

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function topLevelUsage(): string {
  const width = Math.max(...[...COMMANDS.keys()].map((k) => k.length)) + 4;
  const lines = ['Usage: strata <command> [flags]', '', 'Commands:'];
  for (const [name, c] of COMMANDS) lines.push(`  ${name.padEnd(width)}${c.spec.summary}`);
  lines.push(
    '',
    "Run 'strata <command> --help' for the command's flags.",
    'Exit codes: 0 success, 1 the command failed, 2 the command line is wrong.',
    'Set STRATA_DEBUG=1 to print stack traces on errors.',
  );
  return lines.join('\n') + '\n';
}

/** Runs one command line (without 'node' and the script path) and returns the exit code. */
export async function main(argv: string[], io: CliIO & { signal?: AbortSignal } = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(topLevelUsage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = COMMANDS.get(name);
  if (!command) {
    const guess = didYouMean(name, [...COMMANDS.keys()]);
    io.stderr.write(`strata: unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''}\n\n${topLevelUsage()}`);
    return EXIT_USAGE;
  }
  if (wantsHelp(rest)) {
    io.stdout.write(formatUsage(command.spec));
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`strata ${name}: ${err.message}\n\n${formatUsage(err.spec ?? command.spec)}`);
      return EXIT_USAGE;
    }
    const message = err instanceof StrataError ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    io.stderr.write(`strata ${name}: ${message}\n`);
    if (process.env.STRATA_DEBUG === '1' && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}

/**
 * Entry point when run as the `strata` bin. SIGINT/SIGTERM abort long-running client commands
 * (the console consumer prints its total and exits); the broker and cluster commands install
 * their own handlers. The process exits explicitly once the command is done, so an idle stdin or a
 * lingering socket cannot keep it alive; stdout/stderr are flushed first.
 */
function runAsBin(): void {
  const argv = process.argv.slice(2);
  const controller = new AbortController();
  if (argv[0] !== 'broker' && argv[0] !== 'cluster') {
    const onSignal = (): void => {
      if (controller.signal.aborted) process.exit(130); // second ^C: stop now
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  main(argv, { ...processIO(), signal: controller.signal }).then(
    (code) => exitAfterFlush(code),
    (err: unknown) => {
      process.stderr.write(`strata: ${err instanceof Error ? err.message : String(err)}\n`);
      exitAfterFlush(EXIT_FAILURE);
    },
  );
}

function exitAfterFlush(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

if (require.main === module) runAsBin();
