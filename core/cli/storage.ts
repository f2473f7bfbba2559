import { StrataError } from '../common/errors';
import { createLogger } from '../common/logger';
import { loadBrokerConfig } from '../config/brokerConfig';
import { openMetadataStore } from '../meta/url';
import { MAX_ITERATIONS, MIN_ITERATIONS, isScramMechanism, scramCredential, scramCredentialFromSalted, type ScramCredential, type ScramMechanism } from '../security/scram';
import { SCRAM_CREDENTIALS_NAMESPACE, ScramCredentialStore } from '../security/scramCredentialStore';
import { UsageError, parseArgs, parseKeyValue, type CommandSpec } from './args';
import { writeOut, type CliIO } from './io';

/**
 * `strata storage format`: what Kafka's `kafka-storage.sh format` does that Strata needs
 * before a broker first starts: SCRAM users (--add-scram, Kafka's syntax), so that a cluster
 * whose every listener asks for SASL has an administrator from its first second. The metadata
 * store is the broker's (--config / --metadata / --data-dir, resolved as `strata broker` does).
 * A user that exists is replaced, as `strata configs --alter` would.
 */
export const storageFormatSpec: CommandSpec = {
  name: 'storage format',
  summary: 'Prepare a metadata store before the first broker starts: create SCRAM users (kafka-storage format --add-scram).',
  flags: [
    { name: 'config', kind: 'value', valueName: 'FILE', description: 'the brokers\' server.properties: its metadata store is the one written (-c in Kafka)' },
    { name: 'metadata', kind: 'value', valueName: 'URL', description: 'metadata store: embedded:PATH or dynamodb://TABLE_PREFIX (default: the config\'s, else embedded:<data-dir>/meta)' },
    { name: 'data-dir', kind: 'value', valueName: 'DIR', description: 'the broker\'s data directory, for the default embedded store (default ./data)' },
    { name: 'override', kind: 'repeatable', valueName: 'KEY=VALUE', description: 'a broker config, as for `strata broker`' },
    {
      name: 'add-scram',
      kind: 'repeatable',
      valueName: 'SPEC',
      description: "a SCRAM user, e.g. 'SCRAM-SHA-512=[name=admin,password=admin-secret]' or with iterations=N, or salt=BASE64 and saltedpassword=BASE64 instead of password",
    },
  ],
  examples: [
    "strata storage format --config server.properties --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]'",
    "strata storage format --metadata dynamodb://strata --add-scram 'SCRAM-SHA-256=[name=broker,iterations=8192,password=broker-secret]'",
  ],
};

const SUBCOMMANDS = ['format'];

export async function runStorage(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'format') {
    throw new UsageError(sub === undefined ? `strata storage needs a subcommand: ${SUBCOMMANDS.join(', ')}` : `unknown storage subcommand '${sub}' (known: ${SUBCOMMANDS.join(', ')})`, storageFormatSpec);
  }
  const args = parseArgs(rest, storageFormatSpec);
  const users = args.list('add-scram').map((spec) => parseAddScram(spec));
  if (users.length === 0) throw new UsageError('give at least one --add-scram (the store needs nothing else before a broker starts)', storageFormatSpec);
  const flags: Record<string, string> = {};
  for (const o of args.list('override')) {
    const [k, v] = parseKeyValue(o, '--override', storageFormatSpec);
    flags[k] = v;
  }
  const dataDir = args.string('data-dir');
  if (dataDir !== undefined) flags['log.dirs'] = dataDir;
  const metadata = args.string('metadata');
  if (metadata !== undefined) flags.metadata = metadata;
  const config = loadBrokerConfig({ flags, env: process.env, file: args.string('config') });
  const store = await openMetadataStore(config.metadata, { dataDir: config.logDirs, nodeId: config.nodeId, logger: createLogger('storage') });
  try {
    const scram = new ScramCredentialStore(store.namespace(SCRAM_CREDENTIALS_NAMESPACE));
    for (const u of users) {
      await scram.put(u.name, u.credential);
      await writeOut(io.stdout, `Created ${u.credential.mechanism} credential for user ${u.name} (${u.credential.iterations} iterations).\n`);
    }
  } finally {
    await store.close();
  }
  return 0;
}

/**
 * Kafka's --add-scram value: MECHANISM=[name=USER,password=PW] with optional iterations=N, or
 * salt=BASE64,saltedpassword=BASE64 (a credential made elsewhere) instead of the password.
 * Values may be double-quoted.
 */
export function parseAddScram(spec: string): { name: string; credential: ScramCredential } {
  const m = /^([A-Z0-9-]+)=\[(.*)\]$/s.exec(spec.trim());
  if (m === null) throw new UsageError(`--add-scram ${spec}: expected MECHANISM=[name=USER,password=PASSWORD], e.g. SCRAM-SHA-512=[name=admin,password=admin-secret]`, storageFormatSpec);
  const mechanism = m[1];
  if (!isScramMechanism(mechanism)) throw new UsageError(`--add-scram ${spec}: ${mechanism} is not a SCRAM mechanism (SCRAM-SHA-256, SCRAM-SHA-512)`, storageFormatSpec);
  const attrs = new Map<string, string>();
  for (const part of splitAttributes(m[2])) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--add-scram ${spec}: '${part}' is not key=value`, storageFormatSpec);
    const key = part.slice(0, eq).trim().toLowerCase();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!['name', 'password', 'iterations', 'salt', 'saltedpassword'].includes(key)) {
      throw new UsageError(`--add-scram ${spec}: unknown attribute ${key} (name, password, iterations, salt, saltedpassword)`, storageFormatSpec);
    }
    attrs.set(key, value);
  }
  const name = attrs.get('name');
  if (!name) throw new UsageError(`--add-scram ${spec}: name= is required`, storageFormatSpec);
  const iterations = attrs.has('iterations') ? Number(attrs.get('iterations')) : MIN_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new UsageError(`--add-scram ${spec}: iterations must be ${MIN_ITERATIONS}..${MAX_ITERATIONS}`, storageFormatSpec);
  }
  return { name, credential: credentialOf(spec, mechanism, attrs, iterations) };
}

function credentialOf(spec: string, mechanism: ScramMechanism, attrs: Map<string, string>, iterations: number): ScramCredential {
  const password = attrs.get('password');
  const salt = attrs.get('salt');
  const salted = attrs.get('saltedpassword');
  if (password !== undefined) {
    if (salted !== undefined) throw new UsageError(`--add-scram ${spec}: give password or saltedpassword, not both`, storageFormatSpec);
    if (password === '') throw new UsageError(`--add-scram ${spec}: the password is empty`, storageFormatSpec);
    return scramCredential(mechanism, password, { iterations, ...(salt !== undefined ? { salt: Buffer.from(salt, 'base64') } : {}) });
  }
  if (salt === undefined || salted === undefined) throw new UsageError(`--add-scram ${spec}: give password=, or salt= and saltedpassword=`, storageFormatSpec);
  const saltedBytes = Buffer.from(salted, 'base64');
  const expected = mechanism === 'SCRAM-SHA-256' ? 32 : 64;
  if (saltedBytes.length !== expected) throw new StrataError('INPUT_INVALID', `--add-scram ${spec}: saltedpassword must be ${expected} bytes for ${mechanism} (base64), got ${saltedBytes.length}`);
  return scramCredentialFromSalted(mechanism, Buffer.from(salt, 'base64'), iterations, saltedBytes);
}

/** Splits at commas outside double quotes. */
function splitAttributes(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const c of s) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur.trim() !== '') out.push(cur);
  return out;
}
