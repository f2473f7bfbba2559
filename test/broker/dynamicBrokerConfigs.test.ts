/**
 * The config handlers' BROKER, BROKER_LOGGER and request-shape paths on an in-process broker,
 * over real sockets: Kafka's INVALID_REQUEST checks (ConfigAdminManager.preprocess), legacy
 * AlterConfigs replacing a broker's whole dynamic set, APPEND on a broker list config,
 * validateOnly, DescribeConfigs of the cluster default and of this broker, a changed default
 * reaching the partitions of an open topic, and stored entries that no longer apply being
 * ignored (with a log line) at start.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Broker } from '../../core/broker/broker';
import { loadBrokerConfig } from '../../core/config/brokerConfig';
import { ConfigSource } from '../../core/config/configDef';
import { createLogger } from '../../core/common/logger';
import { KafkaConnection } from '../../core/client/connection';
import { StrataClient, ConfigResourceType } from '../../core/client/client';
import { describeConfigs } from '../../core/client/configsAdmin';
import { BROKER_CONFIGS_NAMESPACE } from '../../core/meta/brokerConfigStore';
import { openMetadataStore } from '../../core/meta/url';
import { ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import type { AlterConfigsResponse } from '../../core/protocol/generated/AlterConfigsResponse';
import type { IncrementalAlterConfigsResponse } from '../../core/protocol/generated/IncrementalAlterConfigsResponse';
import type { DescribeConfigsResponse } from '../../core/protocol/generated/DescribeConfigsResponse';

let dataDir: string;
let broker: Broker;
let conn: KafkaConnection;
let client: StrataClient;
const lines: string[] = [];

async function start(): Promise<void> {
  const config = loadBrokerConfig({ flags: { 'log.dirs': dataDir, listeners: 'PLAINTEXT://127.0.0.1:0', 'log.segment.bytes': '4096' } });
  broker = await Broker.start(config, createLogger('broker', (l) => lines.push(l)));
  conn = await KafkaConnection.connect({ host: broker.endpoint.host, port: broker.endpoint.port, clientId: 'dynamic-configs-test' });
  client = new StrataClient({ bootstrapServers: [`${broker.endpoint.host}:${broker.endpoint.port}`] });
}

async function stop(): Promise<void> {
  conn?.close();
  await client?.close();
  await broker?.stop();
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-dynamic-configs-'));
  // Stored before the first start, as an earlier version (or a hand edit) might have left them.
  const store = await openMetadataStore('embedded:', { dataDir });
  await store.namespace(BROKER_CONFIGS_NAMESPACE).put('default', { entity: 'default', configs: { 'log.retention.ms': '5000', 'num.partitions': '3', 'log.roll.ms': 'soon' } }, null);
  await store.close();
  await start();
  await client.createTopics([{ name: 't', numPartitions: 1, replicationFactor: 1 }]);
});

afterAll(async () => {
  await stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

type Op = { name: string; configOperation: number; value: string | null };
const incremental = (resources: { resourceType: number; resourceName: string; configs: Op[] }[], validateOnly = false) =>
  conn.send<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, { resources, validateOnly });
const legacy = (resources: { resourceType: number; resourceName: string; configs: { name: string; value: string | null }[] }[], validateOnly = false) =>
  conn.send<AlterConfigsResponse>(ApiKey.AlterConfigs, { resources, validateOnly });
const answers = (r: { responses: { errorCode: number; errorMessage: string | null }[] }) => r.responses.map((x) => [x.errorCode, x.errorMessage]);
const clusterDefaults = async () => Object.fromEntries((await describeConfigs(client, { type: ConfigResourceType.BROKER, name: '' })).map((e) => [e.name, e.value]));

test('stored dynamic configs load at start; those that no longer apply are ignored with a log line', async () => {
  expect(await clusterDefaults()).toEqual({ 'log.retention.ms': '5000' });
  const ignored = lines.find((l) => l.includes('ignoring stored cluster-wide dynamic configs'));
  expect(ignored).toContain('num.partitions=3 (Cannot update these configs dynamically: Set(num.partitions))');
  expect(ignored).toContain('log.roll.ms=soon (Invalid value soon for configuration log.roll.ms: Not a number of type LONG)');
  // The topic created after start, and its partition, resolve against the loaded default.
  expect(broker.context.topics.get('t')!.config.values['retention.ms']).toBe(5000);
  // The next change of that entity drops them from the store.
  await client.incrementalAlterConfigs({ type: ConfigResourceType.BROKER, name: '' }, [{ name: 'log.retention.ms', op: 'set', value: '6000' }]);
  expect(broker.context.topics.get('t')!.partitions[0].config.values['retention.ms']).toBe(6000);
  expect(await clusterDefaults()).toEqual({ 'log.retention.ms': '6000' });
});

test("Kafka's request checks answer INVALID_REQUEST per resource", async () => {
  const twice = await incremental([
    { resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.ms', configOperation: 0, value: '1' }] },
    { resourceType: 4, resourceName: '', configs: [] },
    { resourceType: 2, resourceName: 't', configs: [] },
  ]);
  expect(answers(twice)).toEqual([
    [ErrorCode.INVALID_REQUEST, 'Each resource must appear at most once.'],
    [ErrorCode.INVALID_REQUEST, 'Each resource must appear at most once.'],
    [ErrorCode.NONE, null],
  ]);
  const nulls = await incremental([
    { resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.ms', configOperation: 0, value: null }, { name: 'log.segment.bytes', configOperation: 1, value: null }] },
  ]);
  expect(answers(nulls)).toEqual([[ErrorCode.INVALID_REQUEST, 'Null value not supported for : log.retention.ms']]);
  expect(answers(await legacy([{ resourceType: 2, resourceName: 't', configs: [{ name: 'retention.ms', value: null }] }]))).toEqual([
    [ErrorCode.INVALID_REQUEST, 'Null value not supported for : retention.ms'],
  ]);
  expect(answers(await incremental([{ resourceType: 4, resourceName: '0', configs: [{ name: 'log.retention.ms', configOperation: 7, value: '1' }] }]))).toEqual([
    [ErrorCode.INVALID_REQUEST, 'Unknown operations type 7'],
  ]);
  expect(answers(await incremental([{ resourceType: 4, resourceName: 'zero', configs: [] }]))).toEqual([[ErrorCode.INVALID_REQUEST, 'Node id must be an integer, but it is: zero']]);
  expect(answers(await legacy([{ resourceType: 8, resourceName: '0', configs: [] }]))).toEqual([[ErrorCode.INVALID_REQUEST, 'Unknown resource type 8']]);
  expect(await clusterDefaults()).toEqual({ 'log.retention.ms': '6000' });
});

test('BROKER_LOGGER: Strata has no runtime loggers, answered as Kafka answers an unknown one', async () => {
  expect(answers(await incremental([{ resourceType: 8, resourceName: '0', configs: [{ name: 'kafka.server', configOperation: 0, value: 'DEBUG' }] }]))).toEqual([
    [ErrorCode.INVALID_CONFIG, 'Logger kafka.server does not exist!'],
  ]);
  expect(answers(await incremental([{ resourceType: 8, resourceName: '0', configs: [{ name: 'root', configOperation: 2, value: 'DEBUG' }] }]))).toEqual([
    [ErrorCode.INVALID_REQUEST, 'APPEND operation is not allowed for the BROKER_LOGGER resource'],
  ]);
  expect(answers(await incremental([{ resourceType: 8, resourceName: '0', configs: [] }]))).toEqual([[ErrorCode.NONE, null]]);
});

test('IncrementalAlterConfigs on a broker: APPEND starts from the default; validateOnly stores nothing; the change reaches open partitions', async () => {
  const validated = await incremental([{ resourceType: 4, resourceName: '0', configs: [{ name: 'log.segment.bytes', configOperation: 0, value: '2048' }] }], true);
  expect(answers(validated)).toEqual([[ErrorCode.NONE, null]]);
  expect(broker.context.topics.get('t')!.config.values['segment.bytes']).toBe(4096);

  const appended = await incremental([{ resourceType: 4, resourceName: '0', configs: [{ name: 'log.cleanup.policy', configOperation: 2, value: 'compact' }, { name: 'log.segment.bytes', configOperation: 0, value: '2048' }] }]);
  expect(answers(appended)).toEqual([[ErrorCode.NONE, null]]);
  const t = broker.context.topics.get('t')!;
  expect(t.config.values['cleanup.policy']).toEqual(['delete', 'compact']);
  expect(t.config.values['segment.bytes']).toBe(2048);
  expect(t.partitions[0].config.values['segment.bytes']).toBe(2048);

  const res = await conn.send<DescribeConfigsResponse>(ApiKey.DescribeConfigs, {
    resources: [{ resourceType: 4, resourceName: '0', configurationKeys: ['log.segment.bytes', 'log.retention.hours', 'num.partitions'] }],
    includeSynonyms: true,
    includeDocumentation: false,
  });
  const byName = Object.fromEntries(res.results[0].configs.map((c) => [c.name, c]));
  expect(byName['log.segment.bytes']).toMatchObject({ value: '2048', configSource: ConfigSource.DYNAMIC_BROKER_CONFIG, readOnly: false, isSensitive: false });
  expect(byName['log.segment.bytes'].synonyms).toEqual([
    { name: 'log.segment.bytes', value: '2048', source: ConfigSource.DYNAMIC_BROKER_CONFIG },
    { name: 'log.segment.bytes', value: '4096', source: ConfigSource.STATIC_BROKER_CONFIG },
    { name: 'log.segment.bytes', value: '1073741824', source: ConfigSource.DEFAULT_CONFIG },
  ]);
  expect(byName['log.retention.hours']).toMatchObject({ value: '168', configSource: ConfigSource.DEFAULT_CONFIG, readOnly: true });
  expect(byName['num.partitions']).toMatchObject({ readOnly: true });
  const bad = await conn.send<DescribeConfigsResponse>(ApiKey.DescribeConfigs, { resources: [{ resourceType: 4, resourceName: 'x', configurationKeys: null }], includeSynonyms: false, includeDocumentation: false });
  expect([bad.results[0].errorCode, bad.results[0].errorMessage]).toEqual([ErrorCode.INVALID_REQUEST, 'Broker id must be an integer, but it is: x']);
});

test("legacy AlterConfigs replaces a broker entity's whole dynamic set; bounded retention keeps local retention bounded", async () => {
  expect(answers(await legacy([{ resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.bytes', value: '100000' }] }]))).toEqual([[ErrorCode.NONE, null]]);
  expect(await clusterDefaults()).toEqual({ 'log.retention.bytes': '100000' });
  const tooBig = await legacy([{ resourceType: 4, resourceName: '', configs: [{ name: 'log.retention.bytes', value: '100000' }, { name: 'log.local.retention.bytes', value: '200000' }] }]);
  expect(answers(tooBig)).toEqual([
    [
      ErrorCode.INVALID_REQUEST,
      'Invalid dynamic configuration: Invalid value 200000 for configuration log.local.retention.bytes: Value must not be more than log.retention.bytes property value: 100000',
    ],
  ]);
  expect(answers(await legacy([{ resourceType: 4, resourceName: '', configs: [] }], true))).toEqual([[ErrorCode.NONE, null]]);
  expect(await clusterDefaults()).toEqual({ 'log.retention.bytes': '100000' });
  expect(answers(await legacy([{ resourceType: 4, resourceName: '', configs: [] }]))).toEqual([[ErrorCode.NONE, null]]);
  expect(await clusterDefaults()).toEqual({});
  expect(broker.context.topics.get('t')!.config.values['retention.ms']).toBe(604800000);
});

test('after a restart: this broker keeps its own configs; the cleared default stays cleared', async () => {
  await stop();
  await start();
  const t = broker.context.topics.get('t')!;
  expect(t.config.values['segment.bytes']).toBe(2048);
  expect(t.config.values['cleanup.policy']).toEqual(['delete', 'compact']);
  expect(await clusterDefaults()).toEqual({});
  expect(lines.filter((l) => l.includes("broker 0's dynamic configs: log.cleanup.policy=delete,compact, log.segment.bytes=2048"))).toHaveLength(1);
});
