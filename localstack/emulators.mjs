#!/usr/bin/env node
// Strata's Docker-less AWS emulators: dynalite (DynamoDB) and s3rver (S3) on loopback ports,
// with Strata's metadata table and bucket created, for running the broker and the tests on
// the AWS backends without LocalStack or an AWS account.
//
//   npm run emulators                      # both, on ports 4567 (DynamoDB) and 4568 (S3)
//   node localstack/emulators.mjs --dynamodb-port 0 --s3-port 0   # ephemeral ports
//
// It prints the `export AWS_…` lines to paste into the broker's shell and the broker command,
// then `# ready`, and runs until SIGINT/SIGTERM, when it stops both servers and removes its
// temp dir. The test helper (test/helpers/emulators.ts) runs one process per emulator
// (`--only dynamodb`, `--only s3`) so that S3 can be stopped and restarted on the same port
// and data dir (`--s3-port P --s3-dir D`).
//
// Flags:
//   --host H             listen address (default 127.0.0.1)
//   --dynamodb-port N    dynalite's port (default 4567; 0 = ephemeral)
//   --s3-port N          s3rver's port (default 4568; 0 = ephemeral)
//   --table-prefix P     creates DynamoDB table P-metadata (default strata → dynamodb://strata)
//   --bucket B           creates S3 bucket B (default strata)
//   --s3-prefix X        only for the printed URL s3://B/X (default tier)
//   --s3-dir D           s3rver's data dir, kept on exit (default: a temp dir, removed on exit)
//   --dynamodb-dir D     persist DynamoDB in LevelDB under D (default: in memory, lost on exit)
//   --only dynamodb|s3   run one of the two
//   --no-create          create neither the table nor the bucket
//
// Emulator quirks handled here, found by running Strata's contract suites against them:
// - s3rver encrypts ListObjectsV2 continuation tokens with DES, which Node 17+ only offers
//   with --openssl-legacy-provider: without it every truncated listing (>1000 keys) fails with
//   a 500. This script re-runs itself with that flag when DES is unavailable.
// - s3rver lists keys in directory-walk order, which puts 'a/1' before 'a-c' (its folder 'a'
//   sorts before the file 'a-c'); S3 lists in UTF-8 byte order ('-' < '/'), and paging by
//   start-after then skips keys. Its walk is replaced below by one in key order.
// - s3rver ignores If-None-Match on PUT (no write-once check); dynalite has no
//   TransactWriteItems and no TTL. Strata uses neither of the latter two, and never relies
//   on the first.
// - dynalite keeps tables in CREATING for 500 ms by default; here creation is immediate.
//
// The table definition mirrors core/meta/dynamoTable.ts (metadataTableDefinition): keep them
// equal (the broker's startup check refuses a table with another key schema, and the tests
// run the broker against tables made here).

import { spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const SELF = fileURLToPath(import.meta.url);

function parseFlags(argv) {
  const flags = {
    host: '127.0.0.1',
    'dynamodb-port': '4567',
    's3-port': '4568',
    'table-prefix': 'strata',
    bucket: 'strata',
    's3-prefix': 'tier',
    's3-dir': '',
    'dynamodb-dir': '',
    only: '',
    create: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(SELF, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
      process.exit(0);
    }
    if (a === '--no-create') {
      flags.create = false;
      continue;
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m || !(m[1] in flags) || m[1] === 'create') fail(`unknown argument '${a}' (try --help)`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) fail(`--${m[1]} needs a value`);
    flags[m[1]] = value;
  }
  if (!['', 'dynamodb', 's3'].includes(flags.only)) fail("--only takes 'dynamodb' or 's3'");
  // The rules Strata's s3:// URLs and DynamoDB apply, so nothing is created that Strata would refuse.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(flags.bucket)) fail(`--bucket '${flags.bucket}' is not a valid S3 bucket name (3-63 of a-z 0-9 . -)`);
  if (!/^[A-Za-z0-9_.-]+$/.test(flags['table-prefix'])) fail(`--table-prefix '${flags['table-prefix']}' may only hold letters, digits, '_', '-' and '.'`);
  for (const p of ['dynamodb-port', 's3-port']) {
    if (!/^\d+$/.test(flags[p]) || Number(flags[p]) > 65535) fail(`--${p} must be a port number (0 = ephemeral)`);
  }
  return flags;
}

function fail(msg) {
  process.stderr.write(`emulators: ${msg}\n`);
  process.exit(2);
}

function desAvailable() {
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}

/** Runs this script again with --openssl-legacy-provider, forwarding signals and the exit code. */
function reexecWithLegacyProvider() {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', ...process.execArgv, SELF, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, STRATA_EMULATORS_CHILD: String(process.pid) },
  });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** s3rver's directory walk, in S3's key order (see the header). */
function patchS3rverWalkOrder() {
  const utils = require('s3rver/lib/utils');
  const suffix = '._S3rver_';
  const sortKey = (name, isDir) => {
    if (isDir) return Buffer.from(`${name}/`);
    const at = name.lastIndexOf(suffix);
    return Buffer.from(at < 0 ? name : name.slice(0, at));
  };
  utils.walk = function* walk(dir, recurseFilter) {
    const entries = fs
      .readdirSync(dir, { withFileTypes: true })
      .map((d) => ({ name: d.name, isDir: d.isDirectory() }))
      .map((e) => ({ ...e, key: sortKey(e.name, e.isDir) }))
      .sort((a, b) => Buffer.compare(a.key, b.key));
    for (const e of entries) {
      const p = path.posix.join(dir, e.name);
      if (!e.isDir) yield p;
      else if (!recurseFilter || recurseFilter(p)) yield* walk(p, recurseFilter);
    }
  };
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

function closeServer(server) {
  return new Promise((resolve) => {
    if (!server) return resolve();
    server.close(() => resolve());
    // Keep-alive connections from SDK clients would otherwise hold close() open.
    server.closeAllConnections?.();
  });
}

async function startDynalite(flags) {
  const dynalite = require('dynalite');
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(flags['dynamodb-dir'] ? { path: flags['dynamodb-dir'] } : {}),
  });
  const port = await listen(server, Number(flags['dynamodb-port']), flags.host);
  return { server, url: `http://${hostForUrl(flags.host)}:${port}` };
}

async function createTable(url, tableName) {
  const { DynamoDBClient, CreateTableCommand, DescribeTableCommand } = require('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint: url, credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' } });
  try {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (e) {
      if (e.name !== 'ResourceInUseException') throw e;
    }
    for (let i = 0; i < 200; i++) {
      const t = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (t.Table?.TableStatus === 'ACTIVE') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`table ${tableName} did not become ACTIVE`);
  } finally {
    client.destroy();
  }
}

async function startS3rver(flags, dir) {
  const S3rver = require('s3rver');
  const s3rver = new S3rver({
    address: flags.host,
    port: Number(flags['s3-port']),
    directory: dir,
    silent: true,
    // Path-style only: Strata's clients use path-style against an endpoint override.
    vhostBuckets: false,
    configureBuckets: flags.create ? [{ name: flags.bucket, configs: [] }] : [],
  });
  const { port } = await s3rver.run();
  return { s3rver, url: `http://${hostForUrl(flags.host)}:${port}` };
}

function hostForUrl(host) {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const wantDynamo = flags.only !== 's3';
  const wantS3 = flags.only !== 'dynamodb';
  if (wantS3 && !desAvailable()) {
    if (process.env.STRATA_EMULATORS_CHILD) fail('DES is unavailable even with --openssl-legacy-provider; s3rver cannot page listings');
    return reexecWithLegacyProvider();
  }
  if (process.env.STRATA_EMULATORS_CHILD) {
    // Re-executed: don't outlive the parent if it is killed without a chance to forward a signal.
    const parent = Number(process.env.STRATA_EMULATORS_CHILD);
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch {
        process.kill(process.pid, 'SIGTERM');
      }
    }, 1000).unref();
  }

  let ownedDir = null;
  let s3Dir = flags['s3-dir'];
  if (wantS3 && !s3Dir) s3Dir = ownedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-emulators-'));
  if (wantS3) fs.mkdirSync(s3Dir, { recursive: true });

  let dynamo = null;
  let s3 = null;
  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    const hard = setTimeout(() => process.exit(1), 5000);
    hard.unref();
    await Promise.all([closeServer(dynamo?.server), closeServer(s3?.s3rver?.httpServer)]);
    if (ownedDir) fs.rmSync(ownedDir, { recursive: true, force: true });
    process.stdout.write(`# emulators stopped (${why})\n`, () => process.exit(0));
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    if (wantS3) patchS3rverWalkOrder();
    if (wantDynamo) dynamo = await startDynalite(flags);
    if (wantS3) s3 = await startS3rver(flags, s3Dir);
    const tableName = `${flags['table-prefix']}-metadata`;
    if (dynamo && flags.create) await createTable(dynamo.url, tableName);

    const versions = [
      wantDynamo ? `dynalite ${require('dynalite/package.json').version} (DynamoDB${flags['dynamodb-dir'] ? ` in ${flags['dynamodb-dir']}` : ', in memory'})` : null,
      wantS3 ? `s3rver ${require('s3rver/package.json').version} (S3, data in ${s3Dir})` : null,
    ].filter(Boolean);
    const lines = [`# Strata AWS emulators: ${versions.join(' and ')}`];
    if (flags.create) {
      const made = [dynamo ? `DynamoDB table ${tableName}` : null, s3 ? `S3 bucket ${flags.bucket}` : null].filter(Boolean);
      lines.push(`# created ${made.join(' and ')}`);
    }
    if (dynamo) lines.push(`export AWS_ENDPOINT_URL_DYNAMODB=${dynamo.url}`);
    if (s3) lines.push(`export AWS_ENDPOINT_URL_S3=${s3.url}`);
    // s3rver checks request signatures against its one default account; dynalite takes any key.
    lines.push('export AWS_ACCESS_KEY_ID=S3RVER', 'export AWS_SECRET_ACCESS_KEY=S3RVER', 'export AWS_REGION=us-east-1');
    if (dynamo && s3) {
      lines.push(
        '# then, in that shell:',
        `#   npm run build && node dist/core/cli/main.js broker --metadata dynamodb://${flags['table-prefix']} --object-store s3://${flags.bucket}/${flags['s3-prefix']}`,
      );
    }
    lines.push('# Ctrl-C stops the emulators.', '# ready');
    process.stdout.write(lines.join('\n') + '\n');
  } catch (e) {
    process.stderr.write(`emulators: failed to start: ${e?.stack ?? e}\n`);
    await Promise.all([closeServer(dynamo?.server), closeServer(s3?.s3rver?.httpServer)]);
    if (ownedDir) fs.rmSync(ownedDir, { recursive: true, force: true });
    process.exit(1);
  }
}

await main();
