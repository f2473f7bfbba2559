import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Reader } from '../../core/protocol/reader';
import { Writer } from '../../core/protocol/writer';
import { readRequestHeader, writeRequestHeader } from '../../core/protocol/headers';
import type { RequestHeader } from '../../core/protocol/headers';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { readApiVersionsRequest } from '../../core/protocol/generated/ApiVersionsRequest';
import { readMetadataRequest } from '../../core/protocol/generated/MetadataRequest';
import { readProduceRequest } from '../../core/protocol/generated/ProduceRequest';
import { readFetchRequest } from '../../core/protocol/generated/FetchRequest';
import { readCreateTopicsRequest } from '../../core/protocol/generated/CreateTopicsRequest';
import { readFindCoordinatorRequest } from '../../core/protocol/generated/FindCoordinatorRequest';

/** Request bytes captured from real clients (see test/fixtures/protocol/README.md). */
const DIR = join(__dirname, '..', 'fixtures', 'protocol');

function open(name: string): { header: RequestHeader; r: Reader; bytes: Buffer } {
  const bytes = readFileSync(join(DIR, name));
  const r = new Reader(bytes);
  return { header: readRequestHeader(r), r, bytes };
}

/** Decodes a fixture with the given reader and checks every byte was consumed. */
function decode<T>(name: string, read: (r: Reader, v: number) => T): { header: RequestHeader; body: T } {
  const { header, r } = open(name);
  const body = read(r, header.apiVersion);
  expect(r.remaining).toBe(0);
  return { header, body };
}

describe('requests captured from real clients', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.bin')).sort();

  it('has the fixtures the README lists', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(files)('%s decodes completely and re-encodes to the same bytes', (file) => {
    const { header, r, bytes } = open(file);
    const api = API_MESSAGES.get(header.apiKey)!;
    expect(file).toContain(`-${api.name}-v${header.apiVersion}.bin`);
    const body = api.readRequest(r, header.apiVersion);
    expect(r.remaining).toBe(0);
    const w = new Writer();
    writeRequestHeader(w, header);
    api.writeRequest(w, header.apiVersion, body);
    expect(w.toBuffer().toString('hex')).toBe(bytes.toString('hex'));
  });

  it('kcat ApiVersions v3: flexible body, classic clientId in header v2', () => {
    const { header, body } = decode('kcat-ApiVersions-v3.bin', readApiVersionsRequest);
    expect(header).toEqual({ apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 1, clientId: 'rdkafka' });
    expect(body).toEqual({ clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' });
  });

  it('confluent-kafka-python ApiVersions v3', () => {
    const { header, body } = decode('confluent-kafka-python-ApiVersions-v3.bin', readApiVersionsRequest);
    expect(header.clientId).toBe('strata-fixture-confluent');
    expect(body).toEqual({ clientSoftwareName: 'confluent-kafka-python', clientSoftwareVersion: '1.7.0-rdkafka-2.0.2' });
  });

  it('kafkajs and kafka-python ApiVersions (v2, v0): empty bodies, defaults filled', () => {
    const kjs = decode('kafkajs-ApiVersions-v2.bin', readApiVersionsRequest);
    expect(kjs.header).toEqual({ apiKey: ApiKey.ApiVersions, apiVersion: 2, correlationId: 0, clientId: 'strata-fixture-kafkajs' });
    expect(kjs.body).toEqual({ clientSoftwareName: '', clientSoftwareVersion: '' });
    const py = decode('kafka-python-ApiVersions-v0.bin', readApiVersionsRequest);
    expect(py.header).toEqual({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId: 1, clientId: 'strata-fixture-kafka-python' });
  });

  it('Metadata from every client', () => {
    const kcat = decode('kcat-Metadata-v4.bin', readMetadataRequest);
    expect(kcat.header.clientId).toBe('rdkafka');
    expect(kcat.body.topics).toEqual([]); // librdkafka's brokers-only query
    expect(kcat.body.allowAutoTopicCreation).toBe(false);

    const kjs = decode('kafkajs-Metadata-v6.bin', readMetadataRequest);
    expect(kjs.body.topics!.map((t) => t.name)).toEqual(['fixture-topic']);
    expect(kjs.body.allowAutoTopicCreation).toBe(false);
    expect(decode('kafkajs-admin-Metadata-v6.bin', readMetadataRequest).body.topics).toBeNull(); // all topics

    const py0 = decode('kafka-python-Metadata-v0.bin', readMetadataRequest);
    expect(py0.header.apiVersion).toBe(0);
    expect(py0.body.topics).toEqual([]); // v0: empty means all topics
    expect(py0.body.allowAutoTopicCreation).toBe(true); // field absent before v4: default true
    expect(decode('kafka-python-Metadata-v1.bin', readMetadataRequest).body.topics).toBeNull();
    const old = decode('kafka-python-0.9-Metadata-v0.bin', readMetadataRequest);
    expect(old.body.topics!.map((t) => t.name)).toEqual(['fixture-topic']);
  });

  it('Produce v7 from kcat, kafkajs and kafka-python carries record batches (magic 2)', () => {
    for (const [file, acks, clientId] of [
      ['kcat-Produce-v7.bin', -1, 'rdkafka'],
      ['kafkajs-Produce-v7.bin', -1, 'strata-fixture-kafkajs'],
      ['kafka-python-Produce-v7.bin', 1, 'strata-fixture-kafka-python'],
    ] as const) {
      const { header, body } = decode(file, readProduceRequest);
      expect(header.clientId).toBe(clientId);
      expect(body.transactionalId).toBeNull();
      expect(body.acks).toBe(acks);
      expect(body.topicData).toHaveLength(1);
      expect(body.topicData[0].name).toBe('fixture-topic');
      const [p] = body.topicData[0].partitionData;
      expect(p.index).toBe(0);
      const records = p.records!;
      expect(records.readBigInt64BE(0)).toBe(0n); // baseOffset, assigned by the broker
      expect(records.readInt32BE(8)).toBe(records.length - 12); // batchLength covers the rest
      expect(records[16]).toBe(2); // magic
      expect(records.includes(Buffer.from('hello'))).toBe(true);
    }
  });

  it('Produce v1 from kafka-python pinned to 0.9 carries a magic 0 message set', () => {
    const { body } = decode('kafka-python-0.9-Produce-v1.bin', readProduceRequest);
    expect(body.acks).toBe(1);
    expect(body.timeoutMs).toBe(3000);
    const records = body.topicData[0].partitionData[0].records!;
    expect(records[16]).toBe(0); // magic 0
    expect(records.subarray(records.length - 5).toString()).toBe('hello');
  });

  it('kcat Fetch v11', () => {
    const { body } = decode('kcat-Fetch-v11.bin', readFetchRequest);
    expect(body.replicaId).toBe(-1);
    expect(body.maxWaitMs).toBe(500);
    expect(body.isolationLevel).toBe(1);
    expect(body.topics).toHaveLength(1);
    expect(body.topics[0].topic).toBe('fixture-topic');
    expect(body.topics[0].partitions[0]).toMatchObject({ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1048576 });
    expect(body.rackId).toBe('');
  });

  it('CreateTopics from kafkajs (v3) and confluent-kafka-python (v4)', () => {
    for (const file of ['kafkajs-admin-CreateTopics-v3.bin', 'confluent-kafka-python-CreateTopics-v4.bin']) {
      const { body } = decode(file, readCreateTopicsRequest);
      expect(body.topics).toEqual([
        { name: 'fixture-created', numPartitions: 3, replicationFactor: 1, assignments: [], configs: [{ name: 'retention.ms', value: '60000' }] },
      ]);
      expect(body.timeoutMs).toBe(1000);
      expect(body.validateOnly).toBe(false);
    }
  });

  it('kafkajs FindCoordinator v2', () => {
    const { body } = decode('kafkajs-FindCoordinator-v2.bin', readFindCoordinatorRequest);
    expect(body.key).toBe('fixture-group');
    expect(body.keyType).toBe(0);
  });
});
