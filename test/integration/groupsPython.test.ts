/**
 * Consumer groups with the Python clients against a real broker:
 * - incremental cooperative rebalancing (KIP-429) with python3-confluent-kafka 1.7 / librdkafka
 *   2.0.2: the protocol is driven by the clients (two join/sync rounds, revoking only what
 *   moves); the broker must keep generations and assignments right through the repeated rounds;
 * - kafka-python 2.0.2, an independent implementation on old API versions (JoinGroup v2).
 */
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { pythonClientsAvailable, runPythonJson } from '../helpers/python';

let broker: BrokerProcess;

beforeAll(async () => {
  await pythonClientsAvailable();
  broker = await startBroker({ overrides: { 'group.initial.rebalance.delay.ms': '0' } });
});

afterAll(async () => {
  await stopAllBrokers();
});

const COOPERATIVE = String.raw`
import json, sys, time
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({'bootstrap.servers': bootstrap})  # kept referenced until the topic exists
admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
events, errors = [], []

def produce(prefix, count):
    p = Producer({'bootstrap.servers': bootstrap})
    for i in range(count):
        p.produce(topic, value=('%s-%d' % (prefix, i)).encode(), partition=i % 6)
    if p.flush(30) != 0:
        errors.append('unflushed records')

class Member:
    def __init__(self, name):
        self.name, self.owned, self.values = name, set(), set()
        self.c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'coop', 'client.id': name,
                           'partition.assignment.strategy': 'cooperative-sticky', 'auto.offset.reset': 'earliest',
                           'session.timeout.ms': 6000, 'heartbeat.interval.ms': 300, 'enable.auto.commit': True})
        self.c.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)
    # With the cooperative protocol the callbacks get only the partitions that move, and the
    # client applies them incrementally once the callback returns.
    def on_assign(self, consumer, parts):
        events.append({'member': self.name, 'event': 'assign', 'partitions': sorted(p.partition for p in parts)})
        self.owned.update(p.partition for p in parts)
    def on_revoke(self, consumer, parts):
        events.append({'member': self.name, 'event': 'revoke', 'partitions': sorted(p.partition for p in parts)})
        self.owned.difference_update(p.partition for p in parts)
    def poll(self):
        m = self.c.poll(0.05)
        if m is None:
            return
        if m.error():
            errors.append(str(m.error()))
        else:
            self.values.add(m.value().decode())

def run_until(cond, members, seconds):
    deadline = time.time() + seconds
    while not cond():
        if time.time() > deadline:
            return False
        for m in members:
            m.poll()
    return True

produce('a', n // 2)
first = Member('first')
ok1 = run_until(lambda: len(first.owned) == 6 and len(first.values) == n // 2, [first], 40)
second = Member('second')
produce('b', n - n // 2)
everything = set(['a-%d' % i for i in range(n // 2)] + ['b-%d' % i for i in range(n - n // 2)])
ok2 = run_until(lambda: first.owned and second.owned and len(first.owned | second.owned) == 6
                and not (first.owned & second.owned) and (first.values | second.values) >= everything, [first, second], 40)
result = {'ok1': ok1, 'ok2': ok2, 'events': list(events), 'errors': list(errors),
          'first': sorted(first.owned), 'second': sorted(second.owned),
          'missing': sorted(everything - (first.values | second.values))}
first.c.close()
second.c.close()
print(json.dumps(result))
`;

interface Rebalance {
  member: string;
  event: 'assign' | 'revoke';
  partitions: number[];
}

test('python3-confluent-kafka with cooperative-sticky: a second consumer joins through an incremental rebalance', async () => {
  const out = await runPythonJson<{ ok1: boolean; ok2: boolean; events: Rebalance[]; errors: string[]; first: number[]; second: number[]; missing: string[] }>(
    { code: COOPERATIVE },
    { args: [broker.bootstrap, 'coop-topic', '600'], timeoutMs: 85_000 },
  );
  const story = JSON.stringify(out.events);
  expect({ ok1: out.ok1, ok2: out.ok2, story }).toEqual({ ok1: true, ok2: true, story });
  expect(out.errors).toEqual([]);
  expect(out.missing).toEqual([]);
  // Both end with partitions, between them all six, none twice.
  expect(out.first.length).toBeGreaterThan(0);
  expect(out.second.length).toBeGreaterThan(0);
  expect([...out.first, ...out.second].sort()).toEqual([0, 1, 2, 3, 4, 5]);

  const first = out.events.filter((e) => e.member === 'first');
  const second = out.events.filter((e) => e.member === 'second');
  // The first consumer got everything, then gave up only what moved: never a full revoke.
  expect(first[0]).toMatchObject({ event: 'assign', partitions: [0, 1, 2, 3, 4, 5] });
  const revoked = first.filter((e) => e.event === 'revoke').flatMap((e) => e.partitions);
  expect(revoked.length).toBeGreaterThan(0);
  expect(revoked.length).toBeLessThan(6);
  expect(revoked.sort()).toEqual(out.second);
  // The second consumer was only ever given the revoked partitions, incrementally.
  expect(second.filter((e) => e.event === 'assign').flatMap((e) => e.partitions).sort()).toEqual(out.second);
  expect(second.some((e) => e.event === 'revoke' && e.partitions.length > 0)).toBe(false);
}, 90_000);

const KAFKA_PYTHON_GROUP = String.raw`
import json, sys, time, threading
from kafka import KafkaConsumer, KafkaProducer, KafkaAdminClient
from kafka.admin import NewTopic
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, 4, 1)])
p = KafkaProducer(bootstrap_servers=bootstrap)
for i in range(n):
    p.send(topic, value=('v%d' % i).encode(), partition=i % 4)
p.flush(30)
got, assignments, lock, stop = set(), {}, threading.Lock(), threading.Event()

# kafka-python blocks in poll() while it joins, so each member needs its own thread (as each
# would have its own process in real life).
def member(i):
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id='kafka-python-group', client_id='kp-%d' % i,
                      auto_offset_reset='earliest', session_timeout_ms=6000, heartbeat_interval_ms=300)
    while not stop.is_set():
        for tp, msgs in c.poll(100).items():
            with lock:
                got.update(m.value.decode() for m in msgs)
        assignments[i] = sorted(tp.partition for tp in c.assignment())
    c.commit()
    c.close()

threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
deadline = time.time() + 40
while time.time() < deadline and not (len(got) == n and len(assignments) == 2 and all(len(a) == 2 for a in assignments.values())):
    time.sleep(0.05)
# The split as it was when both members held their share: once stop is set, a member that closes
# first leaves the group and the other may briefly own everything before it closes too.
final = {k: list(v) for k, v in assignments.items()}
stop.set()
for t in threads:
    t.join()
offsets = admin.list_consumer_group_offsets('kafka-python-group')
print(json.dumps({'got': len(got), 'assignments': final, 'committed': sorted(m.offset for m in offsets.values())}))
`;

test('kafka-python 2.0.2 (JoinGroup v2, no member id handshake): two members split the partitions and commit', async () => {
  const out = await runPythonJson<{ got: number; assignments: Record<string, number[]>; committed: number[] }>(
    { code: KAFKA_PYTHON_GROUP },
    { args: [broker.bootstrap, 'kp-topic', '200'], timeoutMs: 60_000 },
  );
  expect(out.got).toBe(200);
  expect(Object.values(out.assignments).map((a) => a.length)).toEqual([2, 2]);
  expect(Object.values(out.assignments).flat().sort()).toEqual([0, 1, 2, 3]);
  expect(out.committed).toEqual([50, 50, 50, 50]);
}, 70_000);
