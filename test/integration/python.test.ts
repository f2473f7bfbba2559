/**
 * Debian's Python clients against a real broker: librdkafka through python3-confluent-kafka
 * (producer, and a consumer on assigned partitions: groups arrive with the next issue) and
 * kafka-python (ApiVersions v0 / Metadata v0 era negotiation, producer and consumer).
 */
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';

let broker: BrokerProcess;

beforeAll(async () => {
  await pythonClientsAvailable();
  broker = await startBroker({ overrides: { 'num.partitions': '2' } });
});

afterAll(async () => {
  await stopAllBrokers();
});

const CONFLUENT = String.raw`
import json, sys
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({'bootstrap.servers': bootstrap, 'linger.ms': 5, 'compression.type': 'lz4'})
errors = []
def report(err, msg):
    if err is not None: errors.append(str(err))
for i in range(n):
    p.produce(topic, key=('k%d' % (i % 10)).encode(), value=('v%d' % i).encode(), headers=[('h', b'x')])
left = p.flush(30)
c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'unused-assign-only', 'enable.auto.commit': False})
c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
got = []
idle = 0
while len(got) < n and idle < 50:
    m = c.poll(0.2)
    if m is None:
        idle += 1
        continue
    if m.error():
        errors.append(str(m.error()))
        continue
    got.append({'p': m.partition(), 'o': m.offset(), 'k': m.key().decode(), 'v': m.value().decode(), 'h': [[k, v.decode()] for k, v in (m.headers() or [])]})
c.close()
print(json.dumps({'unflushed': left, 'errors': errors, 'records': got}))
`;

const KAFKA_PYTHON = String.raw`
import json, sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, compression_type='gzip')
futures = [p.send(topic, key=b'k', value=('v%d' % i).encode(), partition=0) for i in range(n)]
offsets = [f.get(timeout=30).offset for f in futures]
p.close()
c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
tp = TopicPartition(topic, 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = []
for m in c:
    got.append({'o': m.offset, 'v': m.value.decode()})
    if len(got) >= n: break
c.close()
print(json.dumps({'offsets': offsets, 'records': got, 'api_version': list(p.config['api_version']) if p.config.get('api_version') else None}))
`;

test('python3-confluent-kafka produces (lz4) and consumes assigned partitions', async () => {
  const n = 500;
  const out = await runPythonJson<{ unflushed: number; errors: string[]; records: { p: number; o: number; k: string; v: string; h: string[][] }[] }>(
    { code: CONFLUENT },
    { args: [broker.bootstrap, 'py-confluent', String(n)], timeoutMs: 60_000 },
  );
  expect(out.unflushed).toBe(0);
  expect(out.errors).toEqual([]);
  expect(out.records).toHaveLength(n);
  expect(new Set(out.records.map((r) => r.v)).size).toBe(n);
  expect(out.records.every((r) => r.h.length === 1 && r.h[0][0] === 'h' && r.h[0][1] === 'x')).toBe(true);
  for (const p of [0, 1]) {
    const offsets = out.records.filter((r) => r.p === p).map((r) => r.o);
    offsets.forEach((o, i) => expect(o).toBe(i));
  }
}, 90_000);

test('kafka-python produces (gzip) and consumes', async () => {
  const n = 200;
  const out = await runPythonJson<{ offsets: number[]; records: { o: number; v: string }[] }>(
    { code: KAFKA_PYTHON },
    { args: [broker.bootstrap, 'py-kafka-python', String(n)], timeoutMs: 60_000 },
  );
  expect(out.offsets).toEqual(Array.from({ length: n }, (_, i) => i));
  expect(out.records.map((r) => r.v)).toEqual(Array.from({ length: n }, (_, i) => `v${i}`));
}, 90_000);
