/**
 * DescribeClientQuotas and AlterClientQuotas on a real broker, both versions: Kafka's match
 * types (exact, default, specified), strict filters, validate_only, and its refusals with their
 * error codes and messages. Enforcement is test/integration/quotas.test.ts's.
 */
import { StrataClient } from '../../../core/client/client';
import type { KafkaConnection } from '../../../core/client/connection';
import { ErrorCode } from '../../../core/protocol/errorCodes';
import { ApiKey } from '../../../core/protocol/generated/index';
import type { AlterClientQuotasResponse } from '../../../core/protocol/generated/AlterClientQuotasResponse';
import type { DescribeClientQuotasResponse } from '../../../core/protocol/generated/DescribeClientQuotasResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../../helpers/broker';

let broker: BrokerProcess;
let client: StrataClient;
let conn: KafkaConnection;

beforeAll(async () => {
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'quota-api-test' });
  conn = await client.brokerConnection();
}, 60_000);

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

type Part = [string, string | null];
const entity = (...parts: Part[]) => parts.map(([entityType, entityName]) => ({ entityType, entityName }));
const set = (key: string, value: number) => ({ key, value, remove: false });
const remove = (key: string) => ({ key, value: 0, remove: true });

async function alter(entries: Array<{ entity: ReturnType<typeof entity>; ops: ReturnType<typeof set>[] }>, validateOnly = false, version?: number) {
  return conn.send<AlterClientQuotasResponse>(ApiKey.AlterClientQuotas, { entries, validateOnly }, version === undefined ? undefined : { version });
}

async function describe(components: Array<{ entityType: string; matchType: number; match: string | null }>, strict = false, version?: number) {
  return conn.send<DescribeClientQuotasResponse>(ApiKey.DescribeClientQuotas, { components, strict }, version === undefined ? undefined : { version });
}

/** Entries as 'user=alice,client-id=<default>: k=v,...', sorted, for readable comparisons. */
function show(res: DescribeClientQuotasResponse): string[] {
  expect(res.errorCode).toBe(ErrorCode.NONE);
  return (res.entries ?? [])
    .map((e) => `${e.entity.map((p) => `${p.entityType}=${p.entityName ?? '<default>'}`).join(',')}: ${e.values.map((v) => `${v.key}=${v.value}`).join(',')}`)
    .sort();
}

const EXACT = 0;
const DEFAULT = 1;
const SPECIFIED = 2;

test('alter then describe, with each match type and strict, on both versions', async () => {
  for (const version of [0, 1]) {
    const res = await alter(
      [
        { entity: entity(['user', 'alice']), ops: [set('producer_byte_rate', 1024), set('request_percentage', 12.5)] },
        { entity: entity(['user', 'alice'], ['client-id', 'app']), ops: [set('consumer_byte_rate', 2048)] },
        { entity: entity(['user', null], ['client-id', null]), ops: [set('producer_byte_rate', 10)] },
        { entity: entity(['client-id', 'app']), ops: [set('producer_byte_rate', 4096)] },
        { entity: entity(['client-id', null]), ops: [set('consumer_byte_rate', 8192)] },
      ],
      false,
      version,
    );
    expect(res.entries.map((e) => [e.errorCode, e.errorMessage])).toEqual(Array(5).fill([ErrorCode.NONE, null]));
  }

  const all = await describe([], false, 0);
  expect(show(all)).toEqual([
    'client-id=<default>: consumer_byte_rate=8192',
    'client-id=app: producer_byte_rate=4096',
    'user=<default>,client-id=<default>: producer_byte_rate=10',
    'user=alice,client-id=app: consumer_byte_rate=2048',
    'user=alice: producer_byte_rate=1024,request_percentage=12.5',
  ]);
  expect(show(await describe([{ entityType: 'user', matchType: EXACT, match: 'alice' }], false, 1))).toEqual([
    'user=alice,client-id=app: consumer_byte_rate=2048',
    'user=alice: producer_byte_rate=1024,request_percentage=12.5',
  ]);
  expect(show(await describe([{ entityType: 'user', matchType: EXACT, match: 'alice' }], true))).toEqual(['user=alice: producer_byte_rate=1024,request_percentage=12.5']);
  expect(show(await describe([{ entityType: 'user', matchType: DEFAULT, match: null }]))).toEqual(['user=<default>,client-id=<default>: producer_byte_rate=10']);
  expect(show(await describe([{ entityType: 'client-id', matchType: SPECIFIED, match: null }], true))).toEqual([
    'client-id=<default>: consumer_byte_rate=8192',
    'client-id=app: producer_byte_rate=4096',
  ]);
  expect(
    show(await describe([{ entityType: 'user', matchType: SPECIFIED, match: null }, { entityType: 'client-id', matchType: EXACT, match: 'app' }], true)),
  ).toEqual(['user=alice,client-id=app: consumer_byte_rate=2048']);
  expect(show(await describe([{ entityType: 'user', matchType: EXACT, match: 'nobody' }]))).toEqual([]);

  // Removing a key (and one the entity does not have, which is no error); the last one removes the entity.
  const removed = await alter([{ entity: entity(['client-id', 'app']), ops: [remove('producer_byte_rate'), remove('consumer_byte_rate')] }]);
  expect(removed.entries[0].errorCode).toBe(ErrorCode.NONE);
  expect(show(await describe([{ entityType: 'client-id', matchType: EXACT, match: 'app' }], true))).toEqual([]);
});

test('validate_only checks without storing', async () => {
  const ok = await alter([{ entity: entity(['user', 'val']), ops: [set('producer_byte_rate', 1)] }], true);
  expect(ok.entries[0].errorCode).toBe(ErrorCode.NONE);
  const bad = await alter([{ entity: entity(['user', 'val']), ops: [set('producer_byte_rate', 1.5)] }], true);
  expect(bad.entries[0]).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Configuration producer_byte_rate must be a Long value' });
  expect(show(await describe([{ entityType: 'user', matchType: EXACT, match: 'val' }]))).toEqual([]);
});

test("alter refusals: Kafka's INVALID_REQUEST messages, per entity, the others applied", async () => {
  const res = await alter([
    { entity: entity(['user', 'r1']), ops: [set('producer_byte_rate', 1), set('producer_byte_rate', 2)] },
    { entity: entity(['user', 'r2']), ops: [set('no_such_key', 1)] },
    { entity: entity(['user', 'r3'], ['user', 'r4']), ops: [set('producer_byte_rate', 1)] },
    { entity: entity(['group', 'g']), ops: [set('producer_byte_rate', 1)] },
    { entity: entity(['user', '']), ops: [set('producer_byte_rate', 1)] },
    { entity: entity(), ops: [set('producer_byte_rate', 1)] },
    { entity: entity(['user', 'r5']), ops: [set('consumer_byte_rate', 0)] },
    { entity: entity(['ip', '10.0.0.1']), ops: [set('connection_creation_rate', 5)] },
    { entity: entity(['user', 'r6']), ops: [set('controller_mutation_rate', 5)] },
    { entity: entity(['user', 'ok']), ops: [set('request_percentage', 200)] },
    { entity: entity(['user', 'ok']), ops: [set('request_percentage', 300)] },
  ]);
  expect(res.entries.map((e) => [e.errorCode, e.errorMessage])).toEqual([
    [ErrorCode.INVALID_REQUEST, 'Duplicate quota key producer_byte_rate not updating quota for this entity ClientQuotaEntity(entries={user=r1})'],
    [ErrorCode.INVALID_REQUEST, 'Invalid configuration key no_such_key'],
    [ErrorCode.INVALID_REQUEST, 'Invalid empty client quota entity, duplicate entity entry user'],
    [ErrorCode.INVALID_REQUEST, 'Unhandled client quota entity type: group'],
    [ErrorCode.INVALID_REQUEST, 'Empty user not supported'],
    [ErrorCode.INVALID_REQUEST, 'Invalid empty client quota entity'],
    [ErrorCode.INVALID_REQUEST, 'Configuration consumer_byte_rate must be a positive number, got 0'],
    [ErrorCode.INVALID_REQUEST, 'Strata does not enforce ip quotas (connection_creation_rate): only user and client-id entities are accepted'],
    [ErrorCode.INVALID_REQUEST, 'Strata does not enforce controller_mutation_rate: only producer_byte_rate, consumer_byte_rate, request_percentage can be set'],
    [ErrorCode.NONE, null],
    [ErrorCode.INVALID_REQUEST, 'Ignoring duplicate entity ClientQuotaEntity(entries={user=ok})'],
  ]);
  // The response names each entity as the request did.
  expect(res.entries[2].entity).toEqual(entity(['user', 'r3'], ['user', 'r4']));
  expect(show(await describe([{ entityType: 'user', matchType: SPECIFIED, match: null }], true)).filter((l) => /r\d|ok/.test(l))).toEqual(['user=ok: request_percentage=200']);
});

test("describe refusals: the whole request, Kafka's codes and messages", async () => {
  const cases: Array<[Parameters<typeof describe>[0], number, string]> = [
    [[{ entityType: '', matchType: EXACT, match: 'x' }], ErrorCode.INVALID_REQUEST, 'Invalid empty entity type.'],
    [[{ entityType: 'user', matchType: EXACT, match: 'x' }, { entityType: 'user', matchType: DEFAULT, match: null }], ErrorCode.INVALID_REQUEST, 'Entity type user cannot appear more than once in the filter.'],
    [[{ entityType: 'group', matchType: EXACT, match: 'x' }], ErrorCode.UNSUPPORTED_VERSION, 'Unsupported entity type group'],
    [[{ entityType: 'user', matchType: EXACT, match: null }], ErrorCode.INVALID_REQUEST, 'Request specified MATCH_TYPE_EXACT, but set match string to null.'],
    [[{ entityType: 'user', matchType: DEFAULT, match: 'x' }], ErrorCode.INVALID_REQUEST, 'Request specified MATCH_TYPE_DEFAULT, but also specified a match string.'],
    [[{ entityType: 'user', matchType: SPECIFIED, match: 'x' }], ErrorCode.INVALID_REQUEST, 'Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.'],
    [[{ entityType: 'user', matchType: 7, match: null }], ErrorCode.INVALID_REQUEST, 'Unknown match type 7'],
    [
      [{ entityType: 'ip', matchType: SPECIFIED, match: null }, { entityType: 'user', matchType: SPECIFIED, match: null }],
      ErrorCode.INVALID_REQUEST,
      'Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.',
    ],
  ];
  for (const [components, code, message] of cases) {
    const res = await describe(components);
    expect([res.errorCode, res.errorMessage, res.entries]).toEqual([code, message, null]);
  }
});
