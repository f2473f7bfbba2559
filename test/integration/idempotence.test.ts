/**
 * Idempotent producers through faults: librdkafka (python3-confluent-kafka) and kafkajs with
 * idempotence on produce numbered records while the fault proxy drops produce responses (the
 * broker wrote the batch, the client never hears so and resends it) and while the broker is
 * SIGKILLed and restarted (the producer state is rebuilt from the log). Afterwards each
 * partition must hold every acknowledged record exactly once, in the order sent: the history
 * checker (test/helpers/history.ts) looks for lost, duplicated and reordered writes.
 *
 * Every client connection goes through the proxy: the broker advertises the proxy's address.
 */
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { startFaultProxy, seededRng, type FaultProxy } from '../helpers/faultProxy';
import { checkHistory, formatReport, type ProducedOp, type ReadOp } from '../helpers/history';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';
import { waitFor } from '../helpers/waitFor';

const PRODUCE = 0;
const PARTITIONS = 3;

let proxy: FaultProxy;
let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  await pythonClientsAvailable();
  proxy = await startFaultProxy();
  broker = await startBroker({
    overrides: {
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxy.port}`,
      // A broker restarted after kill -9 waits out its old lease on a shared store (the aws project).
      'broker.session.timeout.ms': '3000',
      'broker.heartbeat.interval.ms': '500',
    },
  });
  proxy.setTarget('127.0.0.1', broker.port);
  client = new StrataClient({ bootstrapServers: [proxy.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
  await proxy?.close();
});

/** kill -9, then a new broker process on the same data dir; new connections go to it. */
async function crashAndRestart(): Promise<void> {
  proxy.clearTarget();
  await broker.kill9();
  broker = await broker.restart();
  proxy.setTarget('127.0.0.1', broker.port);
}

async function totalRecords(topic: string): Promise<bigint> {
  let n = 0n;
  for (let p = 0; p < PARTITIONS; p++) n += (await client.listOffsets(topic, p, -1n)).offset;
  return n;
}

/** Every record of every partition, in offset order, as the history checker's reads. */
async function readAll(topic: string): Promise<ReadOp[]> {
  const reads: ReadOp[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const end = (await client.listOffsets(topic, p, -1n)).offset;
    let offset = 0n;
    while (offset < end) {
      const r = await client.fetch(topic, p, offset, { maxWaitMs: 0, maxBytes: 1 << 20 });
      for (const rec of r.records) reads.push({ consumer: 'final', partition: p, offset: rec.offset, value: rec.value!.toString(), isolation: 'read_uncommitted' });
      offset = r.nextOffset;
    }
  }
  return reads;
}

function expectExactlyOnce(produced: ProducedOp[], reads: ReadOp[]): void {
  const report = checkHistory({ produced, reads }, { readsComplete: true });
  if (!report.ok) throw new Error(formatReport(report));
  // Nothing but what was produced, each value once.
  expect(new Set(reads.map((r) => r.value)).size).toBe(reads.length);
}

const RDKAFKA_PRODUCER = String.raw`
import json, sys, time
from confluent_kafka import Producer
bootstrap, topic, n, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True, 'linger.ms': 2,
              'message.timeout.ms': 90000, 'retry.backoff.ms': 50, 'reconnect.backoff.max.ms': 500})
acks = []
def report(err, msg):
    acks.append({'v': msg.value().decode(), 'p': msg.partition(), 'o': msg.offset() if err is None else -1, 'err': None if err is None else str(err)})
for i in range(n):
    while True:
        try:
            p.produce(topic, value=('rk-%d' % i).encode(), partition=i % partitions, on_delivery=report)
            break
        except BufferError:
            p.poll(0.05)
    if i % 100 == 99:
        p.poll(0)
        time.sleep(0.08)  # pacing: the test crashes the broker while this producer is mid-stream
left = p.flush(120)
print(json.dumps({'left': left, 'acks': acks}))
`;

test('librdkafka (confluent-kafka) idempotent producer: lost responses and a broker kill -9 leave every record exactly once, in order', async () => {
  const topic = 'idem-rdkafka';
  const n = 3000;
  await client.createTopics([{ name: topic, numPartitions: PARTITIONS, replicationFactor: 1 }]);
  proxy.dropResponses({ apiKey: PRODUCE, probability: 0.1, rng: seededRng(7) });
  const run = runPythonJson<{ left: number; acks: { v: string; p: number; o: number; err: string | null }[] }>(
    { code: RDKAFKA_PRODUCER },
    { args: [proxy.bootstrap, topic, String(n), String(PARTITIONS)], timeoutMs: 150_000 },
  );
  await waitFor(async () => (await totalRecords(topic)) >= 1000n, { timeoutMs: 60_000, message: 'the producer never reached 1000 records' });
  const atCrash = await totalRecords(topic);
  await crashAndRestart();
  const out = await run;
  proxy.clearFaults();
  expect(atCrash).toBeLessThan(BigInt(n)); // the crash really happened mid-stream
  expect(proxy.stats().droppedResponses).toBeGreaterThan(0);
  expect(out.left).toBe(0);
  expect(out.acks.filter((a) => a.err !== null)).toEqual([]);
  const byValue = new Map(out.acks.map((a) => [a.v, a]));
  const produced: ProducedOp[] = Array.from({ length: n }, (_, i) => {
    const a = byValue.get(`rk-${i}`);
    return { producer: 'rdkafka', partition: i % PARTITIONS, value: `rk-${i}`, acked: a !== undefined && a.err === null, offset: a && a.o >= 0 ? BigInt(a.o) : undefined };
  });
  const reads = await readAll(topic);
  expectExactlyOnce(produced, reads);
  expect(reads).toHaveLength(n);
}, 200_000);

test('kafkajs idempotent producer: lost responses and a broker kill -9 leave every record exactly once, in order', async () => {
  const topic = 'idem-kafkajs';
  const sends = 150;
  const perSend = 10;
  await client.createTopics([{ name: topic, numPartitions: PARTITIONS, replicationFactor: 1 }]);
  const kafka = new Kafka({ clientId: 'idem', brokers: [proxy.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 40, initialRetryTime: 100, maxRetryTime: 1000 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const produced: ProducedOp[] = [];
  let crash: Promise<void> | null = null;
  try {
    proxy.dropResponses({ apiKey: PRODUCE, probability: 0.1, rng: seededRng(11) });
    for (let s = 0; s < sends; s++) {
      if (s === 50) crash = crashAndRestart(); // mid-stream, not awaited: the sends below retry through it
      const partition = s % PARTITIONS;
      const values = Array.from({ length: perSend }, (_, k) => `kj-${s * perSend + k}`);
      let acked = false;
      let baseOffset: bigint | undefined;
      try {
        const [meta] = await producer.send({ topic, messages: values.map((value) => ({ value, partition })) });
        acked = meta.errorCode === 0;
        baseOffset = BigInt(meta.baseOffset!);
      } catch {
        acked = false;
      }
      values.forEach((value, k) => produced.push({ producer: 'kafkajs', partition, value, acked, offset: baseOffset === undefined ? undefined : baseOffset + BigInt(k) }));
    }
    await crash;
  } finally {
    proxy.clearFaults();
    await producer.disconnect();
  }
  expect(proxy.stats().droppedResponses).toBeGreaterThan(0);
  expect(produced.filter((p) => !p.acked)).toEqual([]);
  const reads = await readAll(topic);
  expectExactlyOnce(produced, reads);
  expect(reads).toHaveLength(sends * perSend);
}, 200_000);
