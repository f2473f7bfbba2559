/**
 * TLS and SASL on a real broker, with the clients users run: a SASL_SSL listener with
 * SCRAM-SHA-512 (certificates made by the test with openssl), where kcat, kafkajs and
 * python3-confluent-kafka produce and consume with consumer groups; a wrong password gets
 * SASL_AUTHENTICATION_FAILED and no data; a PLAINTEXT client on the TLS port fails cleanly; a
 * client that sends a request before authenticating is cut off; a SASL_PLAINTEXT listener
 * serves PLAIN. Users are created over the broker's PLAINTEXT listener with `strata configs`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { metricsUrlOf, startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';
import { runCli } from '../cli/runCli';
import { waitFor } from '../helpers/waitFor';
import { describeRun } from '../helpers/proc';

let broker: BrokerProcess;
let certs: TestCerts;
let dir: string;
let saslSsl: string;
let saslPlaintext: string;

beforeAll(async () => {
  await kcatAvailable();
  await pythonClientsAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-sasl-'));
  certs = makeCerts(path.join(dir, 'certs'));
  broker = await startBroker({
    listeners: 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0',
    args: ['--metrics-listener', 'http://127.0.0.1:0'],
    overrides: {
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512,SCRAM-SHA-256',
      'listener.name.sasl_plaintext.sasl.enabled.mechanisms': 'PLAIN',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config':
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_carol="carol-secret";',
      'ssl.keystore.location': certs.server.pem,
      'ssl.truststore.location': certs.ca.cert,
      'num.partitions': '2',
      'group.initial.rebalance.delay.ms': '0',
    },
  });
  saslSsl = `127.0.0.1:${broker.listenerPort('SASL_SSL')}`;
  saslPlaintext = `127.0.0.1:${broker.listenerPort('SASL_PLAINTEXT')}`;
  const r = await runCli(['configs', '--bootstrap-server', broker.bootstrap, '--alter', '--entity-type', 'users', '--entity-name', 'alice', '--add-config', 'SCRAM-SHA-512=[password=alice-secret]']);
  expect(r).toMatchObject({ code: 0 });
}, 60_000);

afterAll(async () => {
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** librdkafka's properties for the SASL_SSL listener. */
function rdkafkaSecurity(password = 'alice-secret'): Record<string, string> {
  return {
    'security.protocol': 'SASL_SSL',
    'sasl.mechanisms': 'SCRAM-SHA-512',
    'sasl.username': 'alice',
    'sasl.password': password,
    'ssl.ca.location': certs.ca.cert,
  };
}
const X = (props: Record<string, string>): string[] => Object.entries(props).flatMap(([k, v]) => ['-X', `${k}=${v}`]);

test('kcat produces and consumes over SASL_SSL with SCRAM-SHA-512, in a consumer group', async () => {
  const lines = Array.from({ length: 50 }, (_, i) => `kcat-${i}`);
  const p = await kcat(['-b', saslSsl, ...X(rdkafkaSecurity()), '-P', '-t', 'kcat-sasl'], { input: lines.join('\n') + '\n' });
  expect(p.code).toBe(0);
  // A balanced consumer group (-G): JoinGroup, SyncGroup, offsets, all over the authenticated connection.
  const c = await kcat(['-b', saslSsl, ...X(rdkafkaSecurity()), '-X', 'auto.offset.reset=earliest', '-G', 'kcat-group', '-c', '50', 'kcat-sasl'], { timeoutMs: 40_000 });
  if (c.code !== 0) throw new Error(describeRun('kcat -G', c));
  expect(c.stdout.toString().trim().split('\n').sort()).toEqual([...lines].sort());
});

test('a wrong password gets SASL_AUTHENTICATION_FAILED and no data', async () => {
  const r = await kcat(['-b', saslSsl, ...X(rdkafkaSecurity('wrong')), '-C', '-t', 'kcat-sasl', '-e', '-m', '5'], { timeoutMs: 20_000 });
  expect(r.code).not.toBe(0);
  expect(r.stdout.length).toBe(0);
  expect(r.stderr).toContain('Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512');

  const kafka = new Kafka({
    clientId: 'wrong-password',
    brokers: [saslSsl],
    ssl: { ca: [fs.readFileSync(certs.ca.cert)] },
    sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 'wrong' },
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const err = await admin.connect().then(
    () => null,
    (e: Error & { type?: string }) => e,
  );
  await admin.disconnect();
  expect(err?.name).toBe('KafkaJSSASLAuthenticationError');
  expect(err?.message).toMatch(/SASL SCRAM SHA512 authentication failed/);
});

test('kafkajs produces and consumes over SASL_SSL in a consumer group', async () => {
  const kafka = new Kafka({
    clientId: 'kafkajs-sasl',
    brokers: [saslSsl],
    ssl: { ca: [fs.readFileSync(certs.ca.cert)] },
    sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 'alice-secret' },
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  await producer.connect();
  const values = Array.from({ length: 40 }, (_, i) => `kafkajs-${i}`);
  await producer.send({ topic: 'kafkajs-sasl', messages: values.map((value) => ({ value })) });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: 'kafkajs-sasl-group' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'kafkajs-sasl', fromBeginning: true });
  const got: string[] = [];
  await consumer.run({ eachMessage: async ({ message }) => void got.push(message.value!.toString()) });
  try {
    await waitFor(() => got.length >= values.length, { timeoutMs: 30_000, message: `40 records (have ${got.length})` });
  } finally {
    await consumer.disconnect();
  }
  expect([...got].sort()).toEqual([...values].sort());
});

const CONFLUENT = String.raw`
import json, sys
from confluent_kafka import Producer, Consumer
bootstrap, ca, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sec = {'bootstrap.servers': bootstrap, 'security.protocol': 'SASL_SSL', 'sasl.mechanisms': 'SCRAM-SHA-512',
       'sasl.username': 'alice', 'sasl.password': 'alice-secret', 'ssl.ca.location': ca}
p = Producer(dict(sec, **{'linger.ms': 5}))
for i in range(n):
    p.produce(topic, value=('py-%d' % i).encode())
left = p.flush(30)
c = Consumer(dict(sec, **{'group.id': 'py-sasl-group', 'auto.offset.reset': 'earliest'}))
c.subscribe([topic])
got = []
idle = 0
while len(got) < n and idle < 150:
    m = c.poll(0.2)
    if m is None or m.error():
        idle += 1
        continue
    got.append(m.value().decode())
c.commit(asynchronous=False)
c.close()
print(json.dumps({'unflushed': left, 'got': sorted(got)}))
`;

test('python3-confluent-kafka produces and consumes over SASL_SSL in a consumer group', async () => {
  const out = await runPythonJson<{ unflushed: number; got: string[] }>({ code: CONFLUENT }, { args: [saslSsl, certs.ca.cert, 'py-sasl', '30'], timeoutMs: 60_000 });
  expect(out.unflushed).toBe(0);
  expect(out.got).toEqual(Array.from({ length: 30 }, (_, i) => `py-${i}`).sort());
});

test('a PLAINTEXT client on the TLS port fails cleanly, and the broker names the mistake', async () => {
  const r = await kcat(['-b', saslSsl, '-L', '-m', '3'], { timeoutMs: 20_000 });
  expect(r.code).not.toBe(0);
  await waitFor(() => /TLS handshake failed: .*\(the client does not speak TLS: configure it with security\.protocol=SSL or SASL_SSL\)/.test(broker.output()), {
    timeoutMs: 10_000,
    message: 'the broker logging the plaintext client',
  });
});

test('SASL_PLAINTEXT with PLAIN users from the JAAS config; a request before authenticating closes the connection', async () => {
  const ok = await kcat(['-b', saslPlaintext, '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN', '-X', 'sasl.username=carol', '-X', 'sasl.password=carol-secret', '-L', '-m', '10'], {
    timeoutMs: 20_000,
  });
  if (ok.code !== 0) throw new Error(describeRun('kcat -L', ok));
  // SCRAM is not enabled on this listener: the handshake names the mechanisms that are.
  const scram = await kcat(['-b', saslPlaintext, '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=alice', '-X', 'sasl.password=alice-secret', '-L', '-m', '3'], {
    timeoutMs: 20_000,
  });
  expect(scram.code).not.toBe(0);
  expect(scram.stderr).toMatch(/Unsupported SASL mechanism|SASL mechanism.*not supported|PLAIN/);

  // A Metadata request (api key 3, v1) before any SASL: the broker closes the connection unanswered.
  const socket = net.connect({ host: '127.0.0.1', port: broker.listenerPort('SASL_PLAINTEXT') });
  const received: Buffer[] = [];
  socket.on('data', (d) => received.push(d));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => undefined);
  const body = Buffer.from([0, 3, 0, 1, 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  socket.write(Buffer.concat([size, body]));
  await closed;
  expect(Buffer.concat(received).length).toBe(0);
});

test('authentications are counted per listener, mechanism and outcome', async () => {
  const text = await (await fetch(await metricsUrlOf(broker))).text();
  const count = (labels: string): number => Number(new RegExp(`^strata_sasl_authentications_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  expect(count('listener="SASL_SSL",mechanism="SCRAM-SHA-512",outcome="success"')).toBeGreaterThan(0);
  expect(count('listener="SASL_SSL",mechanism="SCRAM-SHA-512",outcome="failure"')).toBeGreaterThan(0);
  expect(count('listener="SASL_PLAINTEXT",mechanism="PLAIN",outcome="success"')).toBeGreaterThan(0);
});
