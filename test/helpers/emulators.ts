import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { describeAws } from '../../core/common/awsConfig';
import { createDynamoClient, dynamoSettings } from '../../core/meta/dynamoKv';
import { ensureMetadataTable, metadataTableName } from '../../core/meta/dynamoTable';
import { ensureBucket } from '../../core/tier/s3Bucket';
import { createS3Client, s3Settings } from '../../core/tier/s3ObjectStore';
import { launchEmulator, stopEmulator, type EmulatorProcess } from '../../localstack/emulatorProcess';
import { REPO_ROOT } from './build';

/**
 * The AWS emulators for tests: dynalite (DynamoDB) and s3rver (S3), each a child process
 * running localstack/emulators.mjs (the same launcher `npm run emulators` runs), on ephemeral
 * loopback ports. S3 runs in its own process so a test can stop it (a real outage: the port
 * refuses connections) and start it again on the same port and data dir.
 *
 * No orphans: children are tracked and stopped by an afterAll hook registered at import time,
 * and get SIGKILL from the kernel (setpriv --pdeathsig) if the jest worker dies first.
 *
 * With AWS_ENDPOINT_URL set when jest starts (LocalStack: http://localhost:4566), nothing is
 * started: the tests run against that endpoint, with names made unique per run (`name()`),
 * and the S3 outage test, which needs an S3 it can stop, is skipped.
 */
export interface StartEmulatorsOptions {
  /** Table prefix: the launcher creates PREFIX-metadata (default 'strata'). */
  tablePrefix?: string;
  /** Bucket the launcher creates (default 'strata'). */
  bucket?: string;
  /** Prefix of `s3Url` (default 'tier'). */
  s3Prefix?: string;
  /** Create the table and bucket (default true). */
  create?: boolean;
  /** Per-process start timeout (default 30 s). */
  readyTimeoutMs?: number;
}

/** The endpoint the tests use instead of starting emulators (see above), read when jest starts. */
export const EXTERNAL_AWS_ENDPOINT: string | undefined = process.env.AWS_ENDPOINT_URL?.trim() || undefined;

export interface Emulators {
  /** True against an external endpoint (LocalStack), where S3 cannot be stopped. */
  external: boolean;
  /** The table prefix, bucket and S3 prefix actually used (unique per run when external). */
  tablePrefix: string;
  bucket: string;
  /** `base`, made unique per run against an external endpoint that keeps earlier runs' tables. */
  name(base: string): string;
  /** AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_S3, credentials s3rver accepts, AWS_REGION: for startBroker({ env }) or useEnv. */
  env: NodeJS.ProcessEnv;
  /** dynamodb://<tablePrefix> */
  dynamoUrl: string;
  /** s3://<bucket>/<s3Prefix> */
  s3Url: string;
  dynamoEndpoint: string;
  s3Endpoint: string;
  /** s3rver's data dir (kept across stopS3/startS3, removed by stop). */
  s3Dir: string;
  /** Stops both emulators and removes the data dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops S3 only (its port then refuses connections). */
  stopS3(): Promise<void>;
  /** Starts S3 again on the same port and data dir. */
  startS3(): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
const started = new Set<Emulators>();

type Launched = EmulatorProcess;

function launch(args: string[], timeoutMs: number): Promise<Launched> {
  return launchEmulator(args, {
    root: REPO_ROOT,
    readyTimeoutMs: timeoutMs,
    onSpawn: (child) => {
      liveChildren.add(child);
      child.once('exit', () => liveChildren.delete(child));
    },
  });
}

const stopChild = stopEmulator;

export async function startEmulators(opts: StartEmulatorsOptions = {}): Promise<Emulators> {
  if (EXTERNAL_AWS_ENDPOINT) return useExternal(EXTERNAL_AWS_ENDPOINT, opts);
  const tablePrefix = opts.tablePrefix ?? 'strata';
  const bucket = opts.bucket ?? 'strata';
  const s3Prefix = opts.s3Prefix ?? 'tier';
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const create = opts.create === false ? ['--no-create'] : [];
  const s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-s3rver-'));

  let dynamo: Launched | null = null;
  let s3: Launched | null = null;
  try {
    [dynamo, s3] = await Promise.all([
      launch(['--only', 'dynamodb', '--dynamodb-port', '0', '--table-prefix', tablePrefix, ...create], timeoutMs),
      launch(['--only', 's3', '--s3-port', '0', '--s3-dir', s3Dir, '--bucket', bucket, ...create], timeoutMs),
    ]);
  } catch (e) {
    await Promise.all([stopChild(dynamo), stopChild(s3)]);
    fs.rmSync(s3Dir, { recursive: true, force: true });
    throw e;
  }
  const dynamoEndpoint = dynamo.exports.AWS_ENDPOINT_URL_DYNAMODB;
  const s3Endpoint = s3.exports.AWS_ENDPOINT_URL_S3;
  const s3Port = new URL(s3Endpoint).port;
  const env: NodeJS.ProcessEnv = {
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_ACCESS_KEY_ID: s3.exports.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: s3.exports.AWS_SECRET_ACCESS_KEY,
    AWS_REGION: s3.exports.AWS_REGION,
    // No instance-metadata probes from a test machine.
    AWS_EC2_METADATA_DISABLED: 'true',
  };

  let stopped = false;
  const emulators: Emulators = {
    external: false,
    tablePrefix,
    bucket,
    name: (base) => base,
    env,
    dynamoUrl: `dynamodb://${tablePrefix}`,
    s3Url: `s3://${bucket}/${s3Prefix}`,
    dynamoEndpoint,
    s3Endpoint,
    s3Dir,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      started.delete(emulators);
      await Promise.all([stopChild(dynamo), stopChild(s3)]);
      fs.rmSync(s3Dir, { recursive: true, force: true });
    },
    stopS3: async () => {
      await stopChild(s3);
    },
    startS3: async () => {
      if (stopped) throw new Error('emulators were stopped');
      if (s3 && s3.child.exitCode === null && s3.child.signalCode === null) return;
      // The bucket is already in the data dir; --no-create leaves it as it is.
      s3 = await launch(['--only', 's3', '--s3-port', s3Port, '--s3-dir', s3Dir, '--no-create'], timeoutMs);
    },
  };
  started.add(emulators);
  return emulators;
}

let runs = 0;

/** An external endpoint: the table and bucket are created (unless opts.create is false) under per-run names. */
async function useExternal(endpoint: string, opts: StartEmulatorsOptions): Promise<Emulators> {
  const run = `${Date.now().toString(36)}${process.pid.toString(36)}${++runs}`;
  const name = (base: string): string => `${base}-${run}`;
  const tablePrefix = name(opts.tablePrefix ?? 'strata');
  const bucket = name(opts.bucket ?? 'strata').toLowerCase().slice(0, 63);
  const s3Prefix = opts.s3Prefix ?? 'tier';
  const env: NodeJS.ProcessEnv = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    AWS_REGION: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const created: string[] = [];
  const restore = useEnv(env);
  try {
    if (opts.create !== false) {
      const ds = await dynamoSettings();
      const ddb = createDynamoClient(ds);
      const ss = await s3Settings();
      const s3 = createS3Client(ss);
      try {
        const tableName = metadataTableName(tablePrefix);
        await ensureMetadataTable({ client: ddb, tableName, prefix: tablePrefix, target: describeAws(ds), region: ds.region });
        created.push(tableName);
        await ensureBucket({ client: s3, location: { bucket, prefix: s3Prefix }, target: describeAws(ss), region: ss.region });
      } finally {
        ddb.destroy();
        s3.destroy();
      }
    }
  } finally {
    restore();
  }
  const unsupported = async (): Promise<void> => {
    throw new Error(`cannot stop or start the external S3 endpoint ${endpoint}`);
  };
  const emulators: Emulators = {
    external: true,
    tablePrefix,
    bucket,
    name,
    env,
    dynamoUrl: `dynamodb://${tablePrefix}`,
    s3Url: `s3://${bucket}/${s3Prefix}`,
    dynamoEndpoint: endpoint,
    s3Endpoint: endpoint,
    s3Dir: '',
    stop: async () => {
      started.delete(emulators);
      // The table this run made is dropped; buckets are left (emptying them is the tests' job).
      const back = useEnv(env);
      try {
        const ddb = createDynamoClient(await dynamoSettings());
        for (const t of created.splice(0)) await ddb.send(new DeleteTableCommand({ TableName: t })).catch(() => undefined);
        ddb.destroy();
      } finally {
        back();
      }
    },
    stopS3: unsupported,
    startS3: unsupported,
  };
  started.add(emulators);
  return emulators;
}

/**
 * Applies `env` to process.env (where the AWS SDK reads credentials and endpoints) and
 * returns a function restoring the previous values.
 */
export function useEnv(env: NodeJS.ProcessEnv): () => void {
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(env)) {
    saved.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

const beforeStop = new Set<() => Promise<void>>();

/**
 * Runs `fn` before stopAllEmulators stops anything: test/helpers/broker.ts stops its brokers
 * there, so a broker never outlives the stores it runs on, whatever order a file imported the
 * helpers in (jest runs afterAll hooks in the order they were added).
 */
export function beforeEmulatorsStop(fn: () => Promise<void>): void {
  beforeStop.add(fn);
}

export async function stopAllEmulators(): Promise<void> {
  for (const fn of beforeStop) await fn().catch(() => undefined);
  await Promise.all([...started].map((e) => e.stop().catch(() => undefined)));
}

function killLeftovers(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

process.on('exit', killLeftovers);
if (typeof afterAll === 'function') {
  afterAll(async () => {
    await stopAllEmulators();
    process.removeListener('exit', killLeftovers);
  }, 60_000);
}
