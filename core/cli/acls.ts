import * as readline from 'node:readline';
import { StrataError } from '../common/errors';
import type { StrataClient } from '../client/client';
import { throwIfError } from '../client/errors';
import { ApiKey } from '../protocol/generated/index';
import type { CreateAclsResponse } from '../protocol/generated/CreateAclsResponse';
import type { DeleteAclsResponse } from '../protocol/generated/DeleteAclsResponse';
import type { DescribeAclsResponse } from '../protocol/generated/DescribeAclsResponse';
import {
  ANY_ENTRY,
  AclOperation,
  AclPermissionType,
  CLUSTER_NAME,
  PatternType,
  ResourceType,
  WILDCARD_HOST,
  compareBindings,
  formatEntry,
  formatResourcePattern,
  operationByName,
  operationName,
  pascalCase,
  patternTypeByName,
  patternTypeName,
  resourceTypeName,
  supportedOperations,
  type AccessControlEntry,
  type AclBinding,
  type ResourcePattern,
  type ResourcePatternFilter,
} from '../security/acl';
import { parsePrincipal, principalToString } from '../security/principal';
import { CommandSpec, ParsedArgs, UsageError, parseArgs } from './args';
import { failureText } from './errorText';
import { COMMAND_CONFIG_FLAG, commandClient } from './clientConfig';
import { CliIO, writeOut } from './io';

/**
 * `strata acls`: kafka-acls.sh (Kafka's AclCommand, 3.8+) with its flags and its output, so the
 * habits and the scripts that read it carry over:
 *
 *   --add     Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders., patternType=PREFIXED)`: 
 *              	(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW) 
 *   --list    Current ACLs for resource `ResourcePattern(...)`: 
 *              	(principal=..., host=..., operation=..., permissionType=...) 
 *   --remove  asks "Are you sure you want to ...? (y/n)" per resource filter, unless --force
 *
 * (Kafka prints the space after the colon and before the blank line, so does this.) Kafka's
 * order of resources and entries is a hash set's; here they are sorted (resource type, pattern
 * type, name; then principal, host, operation, permission) so that output is stable.
 * --producer adds WRITE, DESCRIBE, CREATE on the topics (and WRITE, DESCRIBE on the
 * transactional ids, IDEMPOTENT_WRITE on the cluster with --idempotent); --consumer READ,
 * DESCRIBE on the topics and READ on the groups.
 */
export const aclsSpec: CommandSpec = {
  name: 'acls',
  summary: 'Add, remove and list ACLs (like kafka-acls.sh).',
  flags: [
    { name: 'bootstrap-server', kind: 'value', valueName: 'HOST:PORT[,...]', description: 'Broker(s) to connect to. Required.' },
    COMMAND_CONFIG_FLAG,
    { name: 'add', kind: 'switch', description: 'Add ACLs.' },
    { name: 'remove', kind: 'switch', description: 'Remove ACLs.' },
    { name: 'list', kind: 'switch', description: 'List ACLs (of the given resources, or all).' },
    { name: 'topic', kind: 'repeatable', valueName: 'TOPIC', description: "Topic the ACLs are for; '*' means every topic." },
    { name: 'group', kind: 'repeatable', valueName: 'GROUP', description: "Consumer group the ACLs are for; '*' means every group." },
    { name: 'cluster', kind: 'switch', description: 'The ACLs are for the cluster.' },
    { name: 'transactional-id', kind: 'repeatable', valueName: 'ID', description: "Transactional id the ACLs are for; '*' means every one." },
    { name: 'resource-pattern-type', kind: 'value', valueName: 'literal|prefixed|any|match', description: 'Pattern type of the resources (default literal). Adding needs literal or prefixed; listing and removing also take any (exact name, any pattern type) and match (every pattern that applies to the name).' },
    { name: 'operation', kind: 'repeatable', valueName: 'OPERATION', description: 'Operation allowed or denied (default All): Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All.' },
    { name: 'allow-principal', kind: 'repeatable', valueName: 'TYPE:NAME', description: "Principal allowed, e.g. User:alice; User:'*' is everyone." },
    { name: 'deny-principal', kind: 'repeatable', valueName: 'TYPE:NAME', description: 'Principal denied (DENY wins over ALLOW).' },
    { name: 'allow-host', kind: 'repeatable', valueName: 'IP', description: "Host (IP address) the allowed principals may connect from (default '*')." },
    { name: 'deny-host', kind: 'repeatable', valueName: 'IP', description: "Host (IP address) the denied principals are denied from (default '*')." },
    { name: 'principal', kind: 'repeatable', valueName: 'TYPE:NAME', description: 'With --list: only the ACLs of this principal.' },
    { name: 'producer', kind: 'switch', description: 'Producer ACLs: WRITE, DESCRIBE, CREATE on --topic (and WRITE, DESCRIBE on --transactional-id).' },
    { name: 'consumer', kind: 'switch', description: 'Consumer ACLs: READ, DESCRIBE on --topic and READ on --group.' },
    { name: 'idempotent', kind: 'switch', description: 'With --producer: also IDEMPOTENT_WRITE on the cluster.' },
    { name: 'force', kind: 'switch', description: 'Remove without asking.' },
  ],
  examples: [
    "strata acls --bootstrap-server 127.0.0.1:9092 --add --allow-principal User:alice --operation Write --topic orders. --resource-pattern-type prefixed",
    'strata acls --bootstrap-server 127.0.0.1:9092 --add --allow-principal User:bob --consumer --topic orders.eu --group billing',
    'strata acls --bootstrap-server 127.0.0.1:9092 --list --topic orders.eu --resource-pattern-type match',
    'strata acls --bootstrap-server 127.0.0.1:9092 --remove --force --allow-principal User:bob --operation Read --topic orders.eu',
  ],
};

const CLUSTER_FILTER: ResourcePatternFilter = { resourceType: ResourceType.CLUSTER, name: CLUSTER_NAME, patternType: PatternType.LITERAL };
const NL = '\n';

/** Kafka's CommandLineUtils.checkInvalidArgs: `used` rules out each of `invalid`. */
function checkInvalid(args: ParsedArgs, used: string, invalid: readonly string[]): void {
  if (!args.has(used)) return;
  for (const i of invalid) if (args.has(i)) throw new UsageError(`Option "[${used}]" can't be used with option "[${i}]"`, aclsSpec);
}

/** AclCommandOptions.checkArgs */
function checkArgs(args: ParsedArgs): 'add' | 'remove' | 'list' {
  const actions = (['add', 'remove', 'list'] as const).filter((a) => args.flag(a));
  if (actions.length !== 1) throw new UsageError('Command must include exactly one action: --list, --add, --remove. ', aclsSpec);
  checkInvalid(args, 'list', ['producer', 'consumer', 'allow-host', 'allow-principal', 'deny-host', 'deny-principal']);
  checkInvalid(args, 'producer', ['operation', 'deny-principal', 'deny-host']);
  checkInvalid(args, 'consumer', ['operation', 'deny-principal', 'deny-host']);
  if (args.has('principal') && !args.flag('list')) throw new UsageError('The --principal option is only available if --list is set', aclsSpec);
  if (args.flag('producer') && !args.has('topic')) throw new UsageError('With --producer you must specify a --topic', aclsSpec);
  if (args.flag('idempotent') && !args.flag('producer')) throw new UsageError('The --idempotent option is only available if --producer is set', aclsSpec);
  if (args.flag('consumer') && (!args.has('topic') || !args.has('group') || (!args.flag('producer') && (args.flag('cluster') || args.has('transactional-id'))))) {
    throw new UsageError('With --consumer you must specify a --topic and a --group and no --cluster or --transactional-id option should be specified.', aclsSpec);
  }
  return actions[0];
}

function patternType(args: ParsedArgs): number {
  const raw = args.string('resource-pattern-type');
  if (raw === undefined) return PatternType.LITERAL;
  const code = patternTypeByName(raw.trim());
  if (code === null) throw new UsageError(`Unknown resource-pattern-type: ${raw}`, aclsSpec);
  return code;
}

/** AclCommand.getResourceFilter */
function resourceFilters(args: ParsedArgs, dieIfNone: boolean): ResourcePatternFilter[] {
  const pt = patternType(args);
  const out: ResourcePatternFilter[] = [];
  const add = (f: ResourcePatternFilter): void => {
    if (!out.some((x) => x.resourceType === f.resourceType && x.name === f.name && x.patternType === f.patternType)) out.push(f);
  };
  for (const t of args.list('topic')) add({ resourceType: ResourceType.TOPIC, name: t.trim(), patternType: pt });
  if (pt === PatternType.LITERAL && (args.flag('cluster') || args.flag('idempotent'))) add(CLUSTER_FILTER);
  for (const g of args.list('group')) add({ resourceType: ResourceType.GROUP, name: g.trim(), patternType: pt });
  for (const id of args.list('transactional-id')) add({ resourceType: ResourceType.TRANSACTIONAL_ID, name: id, patternType: pt });
  if (out.length === 0 && dieIfNone) throw new UsageError('You must provide at least one resource: --topic <topic> or --cluster or --group <group> or --transactional-id <id>', aclsSpec);
  return out;
}

function principals(args: ParsedArgs, flag: string): string[] {
  const out = new Set<string>();
  for (const raw of args.list(flag)) {
    try {
      out.add(principalToString(parsePrincipal(raw.trim())));
    } catch (e) {
      throw new UsageError((e as Error).message, aclsSpec);
    }
  }
  return [...out];
}

function hosts(args: ParsedArgs, hostFlag: string, principalFlag: string): string[] {
  if (args.has(hostFlag)) return [...new Set(args.list(hostFlag).map((h) => h.trim()))];
  return args.has(principalFlag) ? [WILDCARD_HOST] : [];
}

/** AclCommand.getAcl: every principal × operation × host, ALLOW then DENY. */
function entries(args: ParsedArgs, operations: readonly number[]): AccessControlEntry[] {
  const out: AccessControlEntry[] = [];
  const cross = (ps: string[], hs: string[], permissionType: number): void => {
    for (const principal of ps) for (const operation of operations) for (const host of hs) out.push({ principal, host, operation, permissionType });
  };
  cross(principals(args, 'allow-principal'), hosts(args, 'allow-host', 'allow-principal'), AclPermissionType.ALLOW);
  cross(principals(args, 'deny-principal'), hosts(args, 'deny-host', 'deny-principal'), AclPermissionType.DENY);
  return out;
}

function cliOperations(args: ParsedArgs): number[] {
  const names = args.list('operation');
  const ops = new Set<number>();
  for (const n of names.length === 0 ? ['All'] : names) {
    const code = operationByName(n.trim());
    if (code === null || code === AclOperation.ANY) throw new UsageError(`Unknown operation: ${n}`, aclsSpec);
    ops.add(code);
  }
  return [...ops];
}

type FilterAcls = Array<{ filter: ResourcePatternFilter; entries: AccessControlEntry[] }>;

/** AclCommand.getResourceFilterToAcls */
function filterToAcls(args: ParsedArgs): FilterAcls {
  const out: FilterAcls = [];
  const put = (filter: ResourcePatternFilter, es: AccessControlEntry[], merge: boolean): void => {
    const existing = out.find((x) => x.filter.resourceType === filter.resourceType && x.filter.name === filter.name && x.filter.patternType === filter.patternType);
    if (existing === undefined) out.push({ filter, entries: es });
    else existing.entries = merge ? [...existing.entries, ...es] : es;
  };
  const filters = (): ResourcePatternFilter[] => resourceFilters(args, true);
  const A = AclOperation;
  if (!args.flag('producer') && !args.flag('consumer')) {
    const es = entries(args, cliOperations(args));
    for (const f of filters()) put(f, es, false);
  }
  if (args.flag('producer')) {
    for (const f of filters()) {
      if (f.resourceType === ResourceType.TOPIC) put(f, entries(args, [A.WRITE, A.DESCRIBE, A.CREATE]), false);
      else if (f.resourceType === ResourceType.TRANSACTIONAL_ID) put(f, entries(args, [A.WRITE, A.DESCRIBE]), false);
    }
    if (args.flag('idempotent')) put(CLUSTER_FILTER, entries(args, [A.IDEMPOTENT_WRITE]), false);
  }
  if (args.flag('consumer')) {
    for (const f of filters()) {
      if (f.resourceType === ResourceType.TOPIC) put(f, entries(args, [A.READ, A.DESCRIBE]), true);
      else if (f.resourceType === ResourceType.GROUP) put(f, entries(args, [A.READ]), true);
    }
  }
  // validateOperation
  for (const { filter, entries: es } of out) {
    const valid = [...supportedOperations(filter.resourceType), A.ALL];
    if (es.some((e) => !valid.includes(e.operation))) {
      throw new UsageError(`ResourceType ${resourceTypeName(filter.resourceType)} only supports operations ${valid.map((o) => pascalCase(operationName(o))).join(', ')}`, aclsSpec);
    }
  }
  for (const x of out) x.entries = dedupe(x.entries);
  return out;
}

function dedupe(es: AccessControlEntry[]): AccessControlEntry[] {
  const seen = new Set<string>();
  return es.filter((e) => {
    const k = formatEntry(e);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const sortedEntries = (pattern: ResourcePattern, es: readonly AccessControlEntry[]): AccessControlEntry[] =>
  es.map((entry) => ({ pattern, entry })).sort(compareBindings).map((b) => b.entry);

/** "HEADER`: \n \t(entry)\n\t(entry) \n" plus println's newline, as AclCommand prints its blocks. */
function block(header: string, es: readonly AccessControlEntry[]): string {
  return `${header}: ${NL} ${es.map((e) => `\t${formatEntry(e)}`).join(NL)} ${NL}${NL}`;
}

export async function runAcls(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, aclsSpec);
  const action = checkArgs(args);
  // Command-line mistakes are found before connecting, as AclCommand does.
  const plan = action === 'list' ? null : filterToAcls(args);
  if (action === 'add') {
    const pt = patternType(args);
    if (pt !== PatternType.LITERAL && pt !== PatternType.PREFIXED) throw new UsageError(`A '--resource-pattern-type' value of '${patternTypeName(pt)}' is not valid when adding acls.`, aclsSpec);
    if (plan!.some((x) => x.entries.length === 0)) throw new UsageError('You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.', aclsSpec);
  }
  const client = commandClient(args, io, { clientId: 'strata-acls' });
  try {
    if (action === 'add') await addAcls(client, plan!, io);
    else if (action === 'remove') await removeAcls(client, plan!, args.flag('force'), io);
    else await listAcls(client, args, io);
    return 0;
  } catch (err) {
    if (!(err instanceof StrataError) || err instanceof UsageError) throw err;
    await writeOut(io.stderr, `Error while executing ACL command: ${failureText(err)}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

async function addAcls(client: StrataClient, plan: FilterAcls, io: CliIO): Promise<void> {
  const conn = await client.brokerConnection();
  for (const { filter, entries: es } of plan) {
    const pattern: ResourcePattern = { resourceType: filter.resourceType, name: filter.name!, patternType: filter.patternType };
    await writeOut(io.stdout, block(`Adding ACLs for resource \`${formatResourcePattern(pattern)}\``, sortedEntries(pattern, es)));
    const res = await conn.send<CreateAclsResponse>(ApiKey.CreateAcls, {
      creations: es.map((e) => ({ resourceType: pattern.resourceType, resourceName: pattern.name, resourcePatternType: pattern.patternType, principal: e.principal, host: e.host, operation: e.operation, permissionType: e.permissionType })),
    });
    for (const r of res.results) throwIfError(r.errorCode, { api: 'CreateAcls', errorMessage: r.errorMessage });
  }
}

async function removeAcls(client: StrataClient, plan: FilterAcls, force: boolean, io: CliIO): Promise<void> {
  const answers = force ? null : readline.createInterface({ input: io.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  const confirm = async (question: string): Promise<boolean> => {
    if (answers === null) return true;
    await writeOut(io.stdout, `${question}${NL}`);
    const next = await answers.next();
    return !next.done && next.value.trim().toLowerCase() === 'y';
  };
  const conn = await client.brokerConnection();
  for (const { filter, entries: es } of plan) {
    const what = formatResourcePattern(filter);
    const sure =
      es.length === 0
        ? await confirm(`Are you sure you want to delete all ACLs for resource filter \`${what}\`? (y/n)`)
        : await confirm(`Are you sure you want to remove ACLs: ${NL} ${es.map((e) => `\t${formatEntry(e)}`).join(NL)} ${NL} from resource filter \`${what}\`? (y/n)`);
    if (!sure) continue;
    const entryFilters = es.length === 0 ? [ANY_ENTRY] : es;
    const res = await conn.send<DeleteAclsResponse>(ApiKey.DeleteAcls, {
      filters: entryFilters.map((e) => ({
        resourceTypeFilter: filter.resourceType,
        resourceNameFilter: filter.name,
        patternTypeFilter: filter.patternType,
        principalFilter: e.principal,
        hostFilter: e.host,
        operation: e.operation,
        permissionType: e.permissionType,
      })),
    });
    for (const r of res.filterResults) throwIfError(r.errorCode, { api: 'DeleteAcls', errorMessage: r.errorMessage });
  }
}

async function listAcls(client: StrataClient, args: ParsedArgs, io: CliIO): Promise<void> {
  const filters = resourceFilters(args, false);
  const listPrincipals = principals(args, 'principal');
  const conn = await client.brokerConnection();
  const bindings: AclBinding[] = [];
  const seen = new Set<string>();
  for (const f of filters.length === 0 ? [{ resourceType: ResourceType.ANY, name: null, patternType: PatternType.ANY }] : filters) {
    const res = await conn.send<DescribeAclsResponse>(ApiKey.DescribeAcls, {
      resourceTypeFilter: f.resourceType,
      resourceNameFilter: f.name,
      patternTypeFilter: f.patternType,
      principalFilter: null,
      hostFilter: null,
      operation: AclOperation.ANY,
      permissionType: AclPermissionType.ANY,
    });
    throwIfError(res.errorCode, { api: 'DescribeAcls', errorMessage: res.errorMessage });
    for (const r of res.resources) {
      for (const a of r.acls) {
        const b: AclBinding = { pattern: { resourceType: r.resourceType, name: r.resourceName, patternType: r.patternType ?? PatternType.LITERAL }, entry: a };
        const k = JSON.stringify([b.pattern, b.entry]);
        if (!seen.has(k)) {
          seen.add(k);
          bindings.push(b);
        }
      }
    }
  }
  bindings.sort(compareBindings);
  const print = async (selected: AclBinding[]): Promise<void> => {
    let i = 0;
    while (i < selected.length) {
      const pattern = selected[i].pattern;
      const es: AccessControlEntry[] = [];
      for (; i < selected.length && compareBindings({ pattern, entry: selected[i].entry }, selected[i]) === 0; i++) es.push(selected[i].entry);
      await writeOut(io.stdout, block(`Current ACLs for resource \`${formatResourcePattern(pattern)}\``, es));
    }
  };
  if (listPrincipals.length === 0) await print(bindings);
  else {
    for (const p of listPrincipals) {
      await writeOut(io.stdout, `ACLs for principal \`${p}\`${NL}`);
      await print(bindings.filter((b) => b.entry.principal === p));
    }
  }
}
