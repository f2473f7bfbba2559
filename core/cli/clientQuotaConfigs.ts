import type { StrataClient } from '../client/client';
import { throwIfError } from '../client/errors';
import { ApiKey } from '../protocol/generated/index';
import type { AlterClientQuotasResponse } from '../protocol/generated/AlterClientQuotasResponse';
import type { DescribeClientQuotasResponse } from '../protocol/generated/DescribeClientQuotasResponse';
import { isScramMechanism } from '../security/scram';
import { CLIENT_ID, MATCH_TYPE_DEFAULT, entityToWire, MATCH_TYPE_EXACT, MATCH_TYPE_SPECIFIED, USER, describeEntity, isQuotaKey, type ClientQuotaEntity } from '../quota/clientQuotaEntity';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { type CliIO, writeOut } from './io';
import { UserConfigError, alterUserScram, describeUserScram } from './userScramConfigs';

/**
 * `strata configs --entity-type users|clients`: client quotas and users' SCRAM credentials as
 * kafka-configs.sh (ConfigCommand) manages them with --bootstrap-server, its checks, output and
 * messages:
 *
 *   --entity-type users --entity-name alice                       users/alice
 *   --entity-type clients --entity-default                        clients/<default>
 *   --entity-type users --entity-name alice --entity-type clients --entity-name app
 *                                                                 users/alice/clients/app
 *   --alter --add-config producer_byte_rate=1048576,request_percentage=50 | --delete-config K[,K]
 *                       one AlterClientQuotas; a --delete-config of a key the entity does not set
 *                       is refused first ("Invalid config(s): k"); users' SCRAM-SHA-* keys go to
 *                       AlterUserScramCredentials (userScramConfigs.ts), never mixed with quotas
 *   --describe          "Quota configs for user-principal 'alice', client-id 'app' are
 *                       producer_byte_rate=1048576.0" (values printed as Java prints a double),
 *                       one line per entity matching exactly the types given (a type without a
 *                       name matches any name, the default included), then for users without
 *                       clients or defaults their SCRAM credentials
 *
 * Names pair with types in command-line order (--entity-name and --entity-default alike), as in
 * Kafka; the shorthands --user U, --client C, --user-defaults, --client-defaults name them too.
 * Difference: entities and keys are listed in a fixed order (Kafka's follows its hash maps).
 */

export type ClientEntityType = 'users' | 'clients';

/** The users/clients entity of a command line: types in order, names in order ('' = the default). */
export interface ClientEntities {
  readonly types: ClientEntityType[];
  readonly names: string[];
}

/** --entity-name and --entity-default values in command-line order ('' for a default), as ConfigCommandOptions.entityNames. */
export function entityNamesInOrder(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i];
    if (w === '--entity-name') out.push(argv[++i] ?? '');
    else if (w.startsWith('--entity-name=')) out.push(w.slice('--entity-name='.length));
    else if (w === '--entity-default' || w === '--entity-default=true') out.push('');
  }
  return out;
}

/** kafka-configs.sh's shorthands for users and clients, in the order ConfigCommandOptions lists them. */
const SHORTHANDS: ReadonlyArray<[flag: string, type: ClientEntityType, isDefault: boolean]> = [
  ['client', 'clients', false],
  ['user', 'users', false],
  ['client-defaults', 'clients', true],
  ['user-defaults', 'users', true],
];
export const CLIENT_SHORTHAND_FLAGS: readonly string[] = SHORTHANDS.map(([flag]) => flag);

/**
 * The users/clients entity of a command line, checked as ConfigCommandOptions.checkArgs checks
 * it; null when the command is about another entity type (the checks common to every type, and
 * the conflict of --entity-* flags with shorthands, are the caller's).
 */
export function clientEntitiesOf(args: ParsedArgs, argv: readonly string[], spec: CommandSpec): ClientEntities | null {
  const usage = (message: string): UsageError => new UsageError(message, spec);
  const shorthands = SHORTHANDS.filter(([flag]) => args.has(flag));
  let types: string[];
  let names: string[];
  if (shorthands.length > 0) {
    const others = ['topic', 'broker', 'broker-defaults'].filter((f) => args.has(f));
    if (others.length > 0) throw usage("Only 'users' and 'clients' entity types may be specified together");
    // Kafka lists the named shorthands first, then the defaults (--client before --user in each).
    types = shorthands.map(([, type]) => type);
    names = shorthands.map(([flag, , isDefault]) => (isDefault ? '' : args.string(flag)!));
  } else {
    types = args.list('entity-type');
    if (!(types[0] === 'users' || types[0] === 'clients' || types.length > 1)) return null;
    names = entityNamesInOrder(argv);
  }
  if (args.flag('alter')) {
    if (args.has('add-config') && args.has('add-config-file')) throw usage('Only one of --add-config or --add-config-file must be specified');
    if (!args.has('add-config') && !args.has('add-config-file') && !args.has('delete-config')) {
      throw usage('At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter');
    }
  }
  const duplicates = types.filter((t, i) => types.indexOf(t) !== i);
  if (duplicates.length > 0) throw usage(`Duplicate entity type(s) specified: ${[...new Set(duplicates)].join(',')}`);
  for (const t of types) {
    if (t !== 'users' && t !== 'clients') {
      if (types.length > 1) throw usage("Only 'users' and 'clients' entity types may be specified together");
      throw usage(`Invalid entity type ${t}, the entity type must be one of topics, brokers, users, clients with a --bootstrap-server argument`);
    }
  }
  if (args.flag('alter')) {
    if (names.length === 0) throw usage('An entity-name or default entity must be specified with --alter of users, clients, brokers or ips');
    if (names.length !== types.length) throw usage('--entity-name or --entity-default must be specified with each --entity-type for --alter');
  }
  if (names.length > types.length) throw usage('More entity names specified than entity types');
  return { types: types as ClientEntityType[], names };
}

/** Runs --describe or --alter for users and clients. */
export async function runClientConfigs(client: StrataClient, args: ParsedArgs, e: ClientEntities, toAdd: ReadonlyMap<string, string>, toDelete: readonly string[], io: CliIO): Promise<void> {
  if (args.flag('alter')) await alterClientConfigs(client, e, toAdd, toDelete, io);
  else await describeClientConfigs(client, e, io);
}

/** Scala's Set.toString, as ConfigCommand's messages print key sets. */
const scalaSet = (keys: readonly string[]): string => `Set(${keys.join(', ')})`;

async function alterClientConfigs(client: StrataClient, e: ClientEntities, toAdd: ReadonlyMap<string, string>, toDelete: readonly string[], io: CliIO): Promise<void> {
  const added = [...toAdd.keys()];
  const quotaChange = added.some(isQuotaKey) || toDelete.some(isQuotaKey);
  const scramAdd = added.filter(isScramMechanism);
  const scramDelete = toDelete.filter(isScramMechanism);
  const unknownAdd = added.filter((k) => !isQuotaKey(k) && !isScramMechanism(k));
  const unknownDelete = toDelete.filter((k) => !isQuotaKey(k) && !isScramMechanism(k));
  if (e.types[0] === 'clients' || e.types.length === 2) {
    if (unknownAdd.length > 0 || scramAdd.length > 0) throw new UserConfigError(`Only quota configs can be added for 'clients' using --bootstrap-server. Unexpected config names: ${scalaSet([...unknownAdd, ...scramAdd])}`);
    if (unknownDelete.length > 0 || scramDelete.length > 0) throw new UserConfigError(`Only quota configs can be deleted for 'clients' using --bootstrap-server. Unexpected config names: ${scalaSet([...unknownDelete, ...scramDelete])}`);
  } else {
    if (unknownAdd.length > 0) throw new UserConfigError(`Only quota and SCRAM credential configs can be added for 'users' using --bootstrap-server. Unexpected config names: ${scalaSet(unknownAdd)}`);
    if (unknownDelete.length > 0) throw new UserConfigError(`Only quota and SCRAM credential configs can be deleted for 'users' using --bootstrap-server. Unexpected config names: ${scalaSet(unknownDelete)}`);
    if (scramAdd.length > 0 || scramDelete.length > 0) {
      if (e.names.includes('')) throw new UserConfigError('The use of --entity-default or --user-defaults is not allowed with User SCRAM Credentials using --bootstrap-server.');
      if (quotaChange) throw new UserConfigError("Cannot alter both quota and SCRAM credential configs simultaneously for 'users' using --bootstrap-server.");
    }
  }
  if (!quotaChange) {
    // SCRAM credentials: userScramConfigs.ts prints the completion line.
    await alterUserScram(client, e.names[0], toAdd, toDelete, io);
    return;
  }
  const entity = entityOf(e);
  const current = await describeQuotas(client, e);
  const old = current[0]?.values ?? new Map<string, number>();
  const invalid = toDelete.filter((k) => !old.has(k));
  if (invalid.length > 0) throw new UserConfigError(`Invalid config(s): ${invalid.join(',')}`);
  const ops: Array<{ key: string; value: number; remove: boolean }> = [];
  for (const [key, raw] of toAdd) {
    const value = parseJavaDouble(raw);
    if (value === null) throw new UserConfigError(`Cannot parse quota configuration value for ${key}: ${raw}`);
    ops.push({ key, value, remove: false });
  }
  for (const key of toDelete) ops.push({ key, value: 0, remove: true });
  const conn = await client.brokerConnection();
  const res = await conn.send<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, { entries: [{ entity: entityToWire(entity), ops }], validateOnly: false });
  for (const r of res.entries) throwIfError(r.errorCode, { api: 'AlterClientQuotas', resource: describeEntity(entity), errorMessage: r.errorMessage });
  const [type, name] = [e.types[0], e.names[0]];
  await writeOut(io.stdout, name !== '' ? `Completed updating config for ${type.slice(0, -1)} ${name}.\n` : `Completed updating default config for ${type} in the cluster.\n`);
}

async function describeClientConfigs(client: StrataClient, e: ClientEntities, io: CliIO): Promise<void> {
  for (const { entity, values } of await describeQuotas(client, e)) {
    const list = [...values].map(([k, v]) => `${k}=${javaDouble(v)}`).join(', ');
    await writeOut(io.stdout, `Quota configs for ${describeEntity(entity)} are ${list}\n`);
  }
  // Kafka describes SCRAM credentials for users only, without clients or defaults.
  if (!e.types.includes('clients') && !e.names.includes('')) await describeUserScram(client, e.names[0], io);
}

/** The entity an --alter names (every type has a name; '' = the default). */
function entityOf(e: ClientEntities): ClientQuotaEntity {
  const out: { user?: string | null; clientId?: string | null } = {};
  e.types.forEach((t, i) => {
    const name = e.names[i] === '' ? null : e.names[i];
    if (t === 'users') out.user = name;
    else out.clientId = name;
  });
  return out;
}

/** ConfigCommand.getAllClientQuotasConfigs: a strict (containsOnly) filter of the types, named, default or any. */
async function describeQuotas(client: StrataClient, e: ClientEntities): Promise<Array<{ entity: ClientQuotaEntity; values: Map<string, number> }>> {
  const components = e.types.map((t, i) => {
    const entityType = t === 'users' ? USER : CLIENT_ID;
    const name = e.names[i];
    if (name === undefined) return { entityType, matchType: MATCH_TYPE_SPECIFIED, match: null };
    if (name === '') return { entityType, matchType: MATCH_TYPE_DEFAULT, match: null };
    return { entityType, matchType: MATCH_TYPE_EXACT, match: name };
  });
  const conn = await client.brokerConnection();
  const res = await conn.send<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, { components, strict: true });
  throwIfError(res.errorCode, { api: 'DescribeClientQuotas', errorMessage: res.errorMessage });
  return (res.entries ?? []).map((entry) => {
    const entity: { user?: string | null; clientId?: string | null } = {};
    for (const p of entry.entity) {
      if (p.entityType === USER) entity.user = p.entityName;
      else if (p.entityType === CLIENT_ID) entity.clientId = p.entityName;
    }
    return { entity, values: new Map(entry.values.map((v) => [v.key, v.value])) };
  });
}

/** Java's Double.parseDouble for what kafka-configs accepts: decimal or scientific, optional sign, no blanks or hex. */
export function parseJavaDouble(raw: string): number | null {
  const s = raw.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?$/.test(s) && !/^[+-]?(NaN|Infinity)$/.test(s)) return null;
  return Number(s.replace(/[dDfF]$/, ''));
}

/**
 * Java's Double.toString: plain decimal with at least one fractional digit for 1e-3 ≤ |v| < 1e7
 * (1048576.0), computerized scientific notation otherwise (1.048576E7, 1.0E-4).
 */
export function javaDouble(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(v);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(v);
    if (s.includes('e')) return Number(v).toFixed(20).replace(/0+$/, '').replace(/\.$/, '.0');
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa, exp] = v.toExponential().split('e');
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exp)}`;
}
