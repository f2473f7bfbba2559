import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { describeAws } from '../../core/common/awsConfig';
import { createDynamoClient, dynamoSettings } from '../../core/meta/dynamoKv';
import { ensureMetadataTable, metadataTableName } from '../../core/meta/dynamoTable';
import { beforeEmulatorsStop, startEmulators, useEnv, type Emulators } from './emulators';

export { beforeEmulatorsStop };

/**
 * The integration suite's AWS backend (jest project `aws`, which sets STRATA_TEST_BACKEND=aws
 * through test/helpers/awsBackendEnv.ts): every broker startBroker launches without its own
 * `--metadata`/`--object-store` runs on DynamoDB and S3 emulators instead of the embedded
 * defaults, so the same test files prove both deployments.
 *
 * One pair of emulators per test file, started by the first broker that needs them. Each data
 * dir gets its own table (`t<n>-metadata`) and S3 prefix: brokers restarted on the same data dir
 * find their metadata again, brokers on different data dirs share nothing, as on the embedded
 * backend. The emulators stop in emulators.ts's afterAll, after the brokers (beforeEmulatorsStop).
 */
export const AWS_BACKEND_ENV = 'STRATA_TEST_BACKEND';

export function awsBackendSelected(): boolean {
  return process.env[AWS_BACKEND_ENV] === 'aws';
}

export interface BackendLaunch {
  args: string[];
  env: NodeJS.ProcessEnv;
}

let emulators: Promise<Emulators> | null = null;
const byStoreKey = new Map<string, Promise<BackendLaunch>>();
/** Tables made here on an external endpoint (LocalStack), dropped when the file's emulators stop. */
const externalTables: string[] = [];

function sharedEmulators(): Promise<Emulators> {
  if (!emulators) {
    emulators = startEmulators();
    // Registered now, after broker.ts registered its brokers' stop: runs after that.
    beforeEmulatorsStop(dropExternalTables);
  }
  return emulators;
}

async function dropExternalTables(): Promise<void> {
  if (externalTables.length === 0 || !emulators) return;
  const emu = await emulators;
  const restore = useEnv(emu.env);
  try {
    const client = createDynamoClient(await dynamoSettings());
    try {
      for (const t of externalTables.splice(0)) await client.send(new DeleteTableCommand({ TableName: t })).catch(() => undefined);
    } finally {
      client.destroy();
    }
  } finally {
    restore();
  }
}

/** The emulators' endpoints and credentials, for a broker whose test picked its stores itself. */
export async function emulatorEnv(): Promise<NodeJS.ProcessEnv> {
  return (await sharedEmulators()).env;
}

/**
 * The `--metadata`/`--object-store` arguments (and environment) of the store pair named `key`
 * (a data dir, or a name a test shares between brokers on different data dirs): created on
 * first use, the same afterwards.
 */
export function awsStores(key: string): Promise<BackendLaunch> {
  let launch = byStoreKey.get(key);
  if (!launch) {
    const n = byStoreKey.size + 1;
    launch = (async () => {
      const emu = await sharedEmulators();
      const prefix = emu.name(`t${n}`);
      const restore = useEnv(emu.env);
      try {
        const settings = await dynamoSettings();
        const client = createDynamoClient(settings);
        try {
          const tableName = metadataTableName(prefix);
          await ensureMetadataTable({ client, tableName, prefix, target: describeAws(settings), region: settings.region });
          if (emu.external) externalTables.push(tableName);
        } finally {
          client.destroy();
        }
      } finally {
        restore();
      }
      return { args: ['--metadata', `dynamodb://${prefix}`, '--object-store', `s3://${emu.bucket}/${prefix}`], env: emu.env };
    })();
    byStoreKey.set(key, launch);
    // A failed start is not cached: the next broker tries again and reports its own error.
    launch.catch(() => byStoreKey.delete(key));
  }
  return launch;
}

/** Whether a broker's own arguments already choose its stores (then the backend leaves them be). */
export function choosesStores(args: readonly string[]): boolean {
  return args.some((a) => a === '--metadata' || a === '--object-store' || a.startsWith('--metadata=') || a.startsWith('--object-store='));
}
