import { StrataClient } from '../client/client';
import { parseClientSecurity, readClientProperties } from '../client/securityConfig';
import { StrataError } from '../common/errors';
import { Mirror, type MirrorSummary } from '../mirror/mirror';
import { runMirrorLoop } from '../mirror/runner';
import { applyGroupOffsets, translateGroupOffsets, type OffsetTranslation } from '../mirror/translate';
import { mirrorStateGroup, validateSourceAlias } from '../mirror/naming';
import { type CommandSpec, type ParsedArgs, UsageError, parseArgs, parseIntStrict } from './args';
import { COMMAND_CONFIG_FLAG } from './clientConfig';
import { type CliIO, writeOut } from './io';

/**
 * `strata mirror`: the cross-region mirror (core/mirror) outside Lambda, as a long-running
 * consumer of the source cluster that produces to the target, until SIGINT/SIGTERM (it stops
 * after the batch in progress). The same business logic as the Lambda function, so the same
 * guarantees: no duplicates across restarts, offset syncs (or the source's own offsets with
 * --offset-preserving).
 *
 * `strata mirror translate-offsets` (or --translate-offsets) prints a consumer group's
 * positions on the target for its committed offsets on the source; with --execute it commits
 * them on the target, for failing the group's consumers over to the target region.
 */
export const mirrorSpec: CommandSpec = {
  name: 'mirror',
  summary: 'Mirror topics to another cluster (MirrorMaker 2 style, or keeping offsets), or translate a consumer group\'s offsets for failover.',
  flags: [
    { name: 'source-bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'The source cluster. Required.' },
    { name: 'target-bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'The target cluster. Required.' },
    { name: 'source-alias', kind: 'value', valueName: 'ALIAS', description: "The source cluster's alias: target topics are ALIAS.TOPIC (MirrorMaker 2's naming). Required." },
    { name: 'topic', kind: 'value', valueName: 'TOPIC[,TOPIC...]', description: 'The source topics to mirror. Required to mirror.' },
    { name: 'identity-naming', kind: 'switch', description: "Target topics keep the source topics' names instead of ALIAS.TOPIC." },
    {
      name: 'offset-preserving',
      kind: 'switch',
      description: "Strata targets: keep the source's offsets (target topics are read-only mirrors, mirror.source.cluster=ALIAS). With --translate-offsets: copy offsets 1:1 even for promoted topics.",
    },
    {
      name: 'group',
      kind: 'value',
      valueName: 'GROUP',
      description: "Mirroring: the source consumer group the mirror commits its progress to (default strata-mirror.ALIAS). With --translate-offsets: the consumer group to translate (required).",
    },
    { ...COMMAND_CONFIG_FLAG, description: 'Client properties file for the SOURCE cluster (security.protocol, ssl.*, sasl.*).' },
    { name: 'target-command-config', kind: 'value', valueName: 'FILE', description: 'Client properties file for the TARGET cluster (security.protocol, ssl.*, sasl.*).' },
    { name: 'translate-offsets', kind: 'switch', description: "Instead of mirroring: print --group's positions on the target for its committed offsets on the source (also spelled as the sub-command 'translate-offsets')." },
    { name: 'execute', kind: 'switch', description: "With --translate-offsets: commit the positions for the group on the target (it must have no active members there)." },
    { name: 'max-wait-ms', kind: 'value', valueName: 'MS', description: 'Mirroring: how long one fetch of the source waits for records (default 500).' },
  ],
  examples: [
    'strata mirror --source-bootstrap-server east:9092 --target-bootstrap-server west:9092 --source-alias east --topic orders,payments',
    'strata mirror --source-bootstrap-server east:9092 --target-bootstrap-server west:9092 --source-alias east --topic orders --offset-preserving --identity-naming',
    'strata mirror translate-offsets --source-bootstrap-server east:9092 --target-bootstrap-server west:9092 --source-alias east --group billing',
    'strata mirror translate-offsets --source-bootstrap-server east:9092 --target-bootstrap-server west:9092 --source-alias east --group billing --execute',
  ],
};

const MIRROR_ONLY = ['topic', 'max-wait-ms'];
const TRANSLATE_ONLY = ['execute'];

export const TRANSLATE_HEADERS = ['TOPIC', 'PARTITION', 'SOURCE-OFFSET', 'TARGET-TOPIC', 'TARGET-OFFSET', 'NOTE'] as const;

export async function runMirror(argv: string[], io: CliIO & { signal?: AbortSignal }): Promise<number> {
  const words = argv[0] === 'translate-offsets' ? ['--translate-offsets', ...argv.slice(1)] : argv;
  const args = parseArgs(words, mirrorSpec);
  const translate = args.flag('translate-offsets');
  for (const f of translate ? MIRROR_ONLY : TRANSLATE_ONLY) {
    if (args.has(f)) throw new UsageError(`--${f} ${translate ? 'is for mirroring, not with --translate-offsets' : 'only goes with --translate-offsets'}`, mirrorSpec);
  }
  const alias = args.required('source-alias', 'e.g. --source-alias us-east');
  try {
    validateSourceAlias(alias);
  } catch (e) {
    throw new UsageError(`--source-alias: ${(e as Error).message}`, mirrorSpec);
  }
  const sourceServers = servers(args, 'source-bootstrap-server');
  const targetServers = servers(args, 'target-bootstrap-server');
  const naming = args.flag('identity-naming') ? 'identity' : 'prefixed';
  const offsetPreserving = args.flag('offset-preserving');
  if (translate) {
    const group = args.required('group', 'the consumer group whose offsets to translate');
    const source = clusterClient(args, io, sourceServers, args.string('command-config'), 'strata-mirror-translate');
    const target = clusterClient(args, io, targetServers, args.string('target-command-config'), 'strata-mirror-translate');
    try {
      return await translateOffsets(io, { source, target, sourceAlias: alias, naming, group, offsetPreserving }, args.flag('execute'));
    } finally {
      await Promise.all([source.close(), target.close()]);
    }
  }

  const topics = args
    .required('topic', 'the source topics to mirror, comma-separated')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (topics.length === 0) throw new UsageError('--topic needs at least one topic', mirrorSpec);
  const maxWaitMs = args.int('max-wait-ms', { min: 0, max: 60_000 });
  const group = args.string('group') ?? mirrorStateGroup(alias);
  const source = clusterClient(args, io, sourceServers, args.string('command-config'), 'strata-mirror-source');
  const target = clusterClient(args, io, targetServers, args.string('target-command-config'), 'strata-mirror');
  const mirror = new Mirror(
    { sourceAlias: alias, naming, offsetPreserving, target: { bootstrapServers: targetServers }, source: { bootstrapServers: sourceServers } },
    { target, source, log: (f) => void writeOut(io.stderr, `strata mirror: ${String(f.msg)} ${JSON.stringify({ ...f, msg: undefined, level: undefined })}\n`) },
  );
  const signal = io.signal ?? new AbortController().signal;
  await writeOut(
    io.stderr,
    `strata mirror: mirroring ${topics.join(', ')} from ${sourceServers.join(',')} to ${targetServers.join(',')} as ${topics.map((t) => mirror.targetTopic(t)).join(', ')}${offsetPreserving ? ' (offset-preserving)' : ''}; stop with Ctrl-C\n`,
  );
  try {
    const { mirrored } = await runMirrorLoop({
      mirror,
      source,
      topics,
      group,
      signal,
      maxWaitMs,
      onBatch: (s) => void writeOut(io.stdout, batchLine(s)),
      onError: (err, retryInMs) => void writeOut(io.stderr, `strata mirror: ${err.message}; trying again in ${retryInMs} ms\n`),
      onWarning: (m) => void writeOut(io.stderr, `strata mirror: warning: ${m}\n`),
    });
    await writeOut(io.stderr, `strata mirror: stopped; mirrored a total of ${mirrored} record(s)\n`);
    return 0;
  } finally {
    await mirror.close();
    await Promise.all([source.close(), target.close()]);
  }
}

function batchLine(s: MirrorSummary): string {
  const total = s.partitions.reduce((n, p) => n + p.recordsOut, 0);
  const parts = s.partitions.filter((p) => p.recordsOut > 0).map((p) => `${p.topic}-${p.partition} +${p.recordsOut}`);
  return `mirrored ${total} record(s)${parts.length > 0 ? `: ${parts.join(', ')}` : ''}\n`;
}

async function translateOffsets(io: CliIO, o: Parameters<typeof translateGroupOffsets>[0], execute: boolean): Promise<number> {
  const rows = await translateGroupOffsets(o);
  if (rows.length === 0) {
    await writeOut(io.stderr, `Error: consumer group '${o.group}' has no committed offsets on the source cluster.\n`);
    return 1;
  }
  await writeOut(io.stdout, formatTranslations(rows));
  if (!execute) {
    await writeOut(io.stderr, `Nothing committed (a dry run): add --execute to commit these offsets for '${o.group}' on the target.\n`);
    return 0;
  }
  const n = await applyGroupOffsets(o.target, o.group, rows);
  await writeOut(io.stderr, `Committed ${n} offset(s) for consumer group '${o.group}' on the target cluster.\n`);
  return 0;
}

export function formatTranslations(rows: readonly OffsetTranslation[]): string {
  const cells = rows.map((r) => [r.topic, String(r.partition), String(r.sourceOffset), r.targetTopic, r.targetOffset === null ? '-' : String(r.targetOffset), r.note ?? (r.how === 'same-offsets' ? 'same offsets (offset-preserving mirror)' : '')]);
  const widths = TRANSLATE_HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: readonly string[]): string => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]))).join(' ').trimEnd() + '\n';
  return line(TRANSLATE_HEADERS) + cells.map(line).join('');
}

function servers(args: ParsedArgs, flag: string): string[] {
  const list = args
    .required(flag, 'host:port[,host:port...]')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError(`--${flag} needs at least one host:port`, mirrorSpec);
  return list;
}

/** A client of one of the two clusters, secured per its properties file (security settings, client.id, request.timeout.ms). */
function clusterClient(args: ParsedArgs, io: CliIO, bootstrapServers: string[], file: string | undefined, clientId: string): StrataClient {
  const props = file === undefined ? new Map<string, string>() : readClientProperties(file);
  let parsed: ReturnType<typeof parseClientSecurity>;
  try {
    parsed = parseClientSecurity(props);
  } catch (e) {
    if (e instanceof StrataError) throw new StrataError(e.code, `${file}: ${e.message}`, { cause: e });
    throw e;
  }
  for (const w of parsed.warnings) void writeOut(io.stderr, `strata mirror: warning: ${w}\n`);
  const timeout = parsed.others.get('request.timeout.ms');
  return new StrataClient({
    bootstrapServers,
    security: parsed.security,
    clientId: parsed.others.get('client.id') ?? clientId,
    requestTimeoutMs: timeout === undefined ? undefined : parseIntStrict(timeout.trim(), 'request.timeout.ms', { min: 1, max: 2 ** 31 - 1 }, args.spec),
  });
}
