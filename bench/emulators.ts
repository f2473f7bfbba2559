import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { launchEmulator, parseLauncherOutput, stopEmulator as stopChild } from '../localstack/emulatorProcess';

/**
 * The AWS emulators for the tiered-read phase: dynalite (DynamoDB) and s3rver (S3), launched by
 * localstack/emulators.mjs (what `npm run emulators` runs) on ephemeral loopback ports, with the
 * metadata table and the bucket created. One process per emulator, so that s3rver's CPU time can
 * be measured on its own (`s3Pid`): on two cores the emulator competes with the broker, and the
 * report must be able to say so.
 *
 * Both run under `setpriv --pdeathsig SIGKILL`, like the broker, so they die with the benchmark
 * even on Ctrl-C (localstack/emulatorProcess.ts, shared with the tests).
 */

export interface BenchEmulators {
  /** AWS_ENDPOINT_URL_DYNAMODB / _S3, credentials s3rver accepts, region: the broker's environment. */
  env: Record<string, string>;
  s3Endpoint: string;
  /** dynamodb://<tablePrefix> */
  metadataUrl: string;
  /** s3://<bucket>/<prefix> */
  objectStoreUrl: string;
  bucket: string;
  /** Key prefix of the broker's objects in the bucket (the path of objectStoreUrl). */
  prefix: string;
  /** The s3rver process (CPU and RSS are read from /proc/<pid>). */
  s3Pid: number;
  dynamoPid: number;
  /** Stops both (SIGTERM, then SIGKILL after 10 s) and removes s3rver's data dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartEmulatorsOptions {
  /** The repository root (localstack/emulators.mjs and node_modules live there). */
  root: string;
  /** Parent of s3rver's data dir (the benchmark's temp dir: same filesystem as the broker's data). */
  workDir: string;
  tablePrefix?: string;
  bucket?: string;
  prefix?: string;
  readyTimeoutMs?: number;
}

export { parseLauncherOutput };

export async function startEmulators(opts: StartEmulatorsOptions): Promise<BenchEmulators> {
  const tablePrefix = opts.tablePrefix ?? 'strata-bench';
  const bucket = opts.bucket ?? 'strata-bench';
  const prefix = opts.prefix ?? 'tier';
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const s3Dir = fs.mkdtempSync(path.join(opts.workDir || os.tmpdir(), 's3rver-'));
  const results = await Promise.allSettled([
    launchEmulator(['--only', 'dynamodb', '--dynamodb-port', '0', '--table-prefix', tablePrefix], { root: opts.root, readyTimeoutMs: timeoutMs }),
    launchEmulator(['--only', 's3', '--s3-port', '0', '--s3-dir', s3Dir, '--bucket', bucket], { root: opts.root, readyTimeoutMs: timeoutMs }),
  ]);
  const [dynamo, s3] = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || !dynamo || !s3) {
    await Promise.all([stopChild(dynamo ?? null), stopChild(s3 ?? null)]);
    fs.rmSync(s3Dir, { recursive: true, force: true });
    throw failed?.reason ?? new Error('emulators did not start');
  }
  const dynamoEndpoint = dynamo.exports.AWS_ENDPOINT_URL_DYNAMODB;
  const s3Endpoint = s3.exports.AWS_ENDPOINT_URL_S3;
  if (!dynamoEndpoint || !s3Endpoint) {
    await Promise.all([stopChild(dynamo), stopChild(s3)]);
    fs.rmSync(s3Dir, { recursive: true, force: true });
    throw new Error(`the emulator launcher printed no endpoint (got ${JSON.stringify({ ...dynamo.exports, ...s3.exports })})`);
  }
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_ACCESS_KEY_ID: s3.exports.AWS_ACCESS_KEY_ID ?? 'S3RVER',
    AWS_SECRET_ACCESS_KEY: s3.exports.AWS_SECRET_ACCESS_KEY ?? 'S3RVER',
    AWS_REGION: s3.exports.AWS_REGION ?? 'us-east-1',
    // No instance-metadata probes from a benchmark machine.
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  let stopped: Promise<void> | null = null;
  return {
    env,
    s3Endpoint,
    metadataUrl: `dynamodb://${tablePrefix}`,
    objectStoreUrl: `s3://${bucket}/${prefix}`,
    bucket,
    prefix,
    s3Pid: s3.child.pid!,
    dynamoPid: dynamo.child.pid!,
    stop() {
      stopped ??= Promise.all([stopChild(dynamo), stopChild(s3)]).then(() => fs.rmSync(s3Dir, { recursive: true, force: true }));
      return stopped;
    },
  };
}
