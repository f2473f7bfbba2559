/**
 * SCRAM credentials managed as Kafka does (KIP-554): `strata configs --entity-type users` (the
 * kafka-configs.sh flags and output) over AlterUserScramCredentials / DescribeUserScramCredentials,
 * against a real broker. The password is salted by the tool; what the broker stores (read back
 * from the embedded store) authenticates a SCRAM exchange with the right password and no other.
 * Kafka's refusals: iterations out of range, a credential altered twice in one request, deleting
 * one that does not exist, a user named twice in a describe.
 */
import * as path from 'path';
import { StrataClient } from '../../core/client/client';
import { openEmbeddedStore } from '../../core/meta/embeddedStore';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import { ScramClient, ScramServer, saltedPassword, type ScramMechanism } from '../../core/security/scram';
import { SCRAM_CREDENTIALS_NAMESPACE, ScramCredentialStore } from '../../core/security/scramCredentialStore';
import { awsBackendSelected } from '../helpers/awsBackend';
import { BROKER_MAIN } from '../helpers/build';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { runProcess } from '../helpers/proc';

let cluster: TestCluster;
let client: StrataClient;

beforeAll(async () => {
  cluster = await startCluster({ brokers: 1 });
  client = new StrataClient({ bootstrapServers: [cluster.bootstrap()], clientId: 'scram-admin-test' });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

async function configs(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runProcess(process.execPath, [BROKER_MAIN, 'configs', '--bootstrap-server', cluster.bootstrap(), ...args], { timeoutMs: 30_000 });
  return { code: r.code ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Runs a SCRAM exchange against `credential` with `password`; true when it authenticates. */
async function authenticates(mechanism: ScramMechanism, user: string, password: string, store: ScramCredentialStore): Promise<boolean> {
  const server = new ScramServer(mechanism, (u) => store.get(u, mechanism));
  const c = new ScramClient(mechanism, user, password);
  try {
    const first = await server.step(c.first());
    c.verify(await server.step(c.final(first)));
    return server.user === user;
  } catch {
    return false;
  }
}

test('strata configs adds, describes and deletes SCRAM credentials; the stored ones authenticate', async () => {
  const add = await configs('--entity-type', 'users', '--entity-name', 'alice', '--alter', '--add-config', 'SCRAM-SHA-512=[iterations=8192,password=alice-secret],SCRAM-SHA-256=[password=alice-secret]');
  expect(add).toMatchObject({ code: 0, stdout: 'Completed updating config for user alice.\n' });
  expect((await configs('--entity-type', 'users', '--entity-name', 'bob', '--alter', '--add-config', 'SCRAM-SHA-256=[password=bob-secret]')).code).toBe(0);

  expect((await configs('--entity-type', 'users', '--entity-name', 'alice', '--describe')).stdout).toBe(
    "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192\n",
  );
  expect((await configs('--entity-type', 'users', '--describe')).stdout).toBe(
    "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192\n" +
      "SCRAM credential configs for user-principal 'bob' are SCRAM-SHA-256=iterations=4096\n",
  );

  if (!awsBackendSelected()) {
    const kv = new KvMetadataStore(await openEmbeddedStore(path.join(cluster.dir, 'meta')));
    try {
      const store = new ScramCredentialStore(kv.namespace(SCRAM_CREDENTIALS_NAMESPACE));
      expect(await authenticates('SCRAM-SHA-512', 'alice', 'alice-secret', store)).toBe(true);
      expect(await authenticates('SCRAM-SHA-256', 'alice', 'alice-secret', store)).toBe(true);
      expect(await authenticates('SCRAM-SHA-512', 'alice', 'wrong', store)).toBe(false);
      expect(await authenticates('SCRAM-SHA-512', 'bob', 'bob-secret', store)).toBe(false); // bob has SHA-256 only
    } finally {
      await kv.close();
    }
  }

  expect(await configs('--entity-type', 'users', '--entity-name', 'alice', '--alter', '--delete-config', 'SCRAM-SHA-512')).toMatchObject({ code: 0, stdout: 'Completed updating config for user alice.\n' });
  expect((await configs('--entity-type', 'users', '--entity-name', 'alice', '--describe')).stdout).toBe("SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096\n");
  // Deleting what is not there: Kafka's RESOURCE_NOT_FOUND, exit 1.
  const again = await configs('--entity-type', 'users', '--entity-name', 'alice', '--alter', '--delete-config', 'SCRAM-SHA-512');
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('RESOURCE_NOT_FOUND: Attempt to delete a user credential that does not exist');
  // A user without credentials prints nothing, as kafka-configs does.
  expect(await configs('--entity-type', 'users', '--entity-name', 'nobody', '--describe')).toMatchObject({ code: 0, stdout: '' });
  // Quotas and credentials in one --alter: refused as kafka-configs.sh refuses them (quotas alone: test/cli/clientQuotaConfigs.test.ts).
  const mixed = await configs('--entity-type', 'users', '--entity-name', 'alice', '--alter', '--add-config', 'producer_byte_rate=1024,SCRAM-SHA-512=[password=x]');
  expect(mixed.code).toBe(1);
  expect(mixed.stderr).toContain("Cannot alter both quota and SCRAM credential configs simultaneously for 'users' using --bootstrap-server.");
}, 120_000);

test("the APIs' refusals, with Kafka's codes and messages; a refused user's other operations are not applied", async () => {
  const conn = await client.brokerConnection();
  const upsert = (name: string, mechanism: number, iterations: number, password = 'pw') => {
    const salt = Buffer.from('0123456789abcdef');
    const m: ScramMechanism = mechanism === 1 ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512';
    return { name, mechanism, iterations, salt, saltedPassword: saltedPassword(m, password, salt, iterations) };
  };
  const res = await conn.send(ApiKey.AlterUserScramCredentials, {
    deletions: [{ name: 'carol', mechanism: 1 }],
    upsertions: [upsert('dave', 2, 4095), upsert('erin', 1, 16385), upsert('carol', 1, 4096), upsert('frank', 9, 4096), upsert('', 1, 4096), upsert('gina', 2, 4096)],
  });
  const byUser = Object.fromEntries((res as { results: { user: string; errorCode: number; errorMessage: string | null }[] }).results.map((r) => [r.user, [r.errorCode, r.errorMessage]]));
  expect(byUser).toEqual({
    carol: [ErrorCode.DUPLICATE_RESOURCE, 'A user credential cannot be altered twice in the same request'],
    dave: [ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Too few iterations'],
    erin: [ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Too many iterations'],
    frank: [ErrorCode.UNSUPPORTED_SASL_MECHANISM, 'Unknown SCRAM mechanism'],
    '': [ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Username must not be empty'],
    gina: [ErrorCode.NONE, null],
  });
  const described = (await conn.send(ApiKey.DescribeUserScramCredentials, { users: [{ name: 'gina' }, { name: 'carol' }, { name: 'dave' }, { name: 'dave' }] })) as {
    results: { user: string; errorCode: number; errorMessage: string | null; credentialInfos: { mechanism: number; iterations: number }[] }[];
  };
  expect(described.results).toEqual([
    { user: 'gina', errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos: [{ mechanism: 2, iterations: 4096 }] },
    { user: 'carol', errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: 'Attempt to describe a user credential that does not exist: carol', credentialInfos: [] },
    { user: 'dave', errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: 'Cannot describe SCRAM credentials for the same user twice in a single request: dave', credentialInfos: [] },
  ]);
});
