"""
A producer of numbered records for failover tests (python3-confluent-kafka 1.7 / librdkafka 2.0.2):
acks=all, no idempotence, records with unique values "<ID>-<n>" written round-robin to every
partition of a topic (partition = n mod PARTITIONS, given explicitly), at a steady rate, until
SIGTERM.

    python3 numberedProducer.py BOOTSTRAP TOPIC PARTITIONS ID RATE_PER_SECOND

Retries are the application's, not librdkafka's (retries=0): a record whose delivery failed is
produced again, as a new attempt of the same value, so that every attempt that may land is in the
history the test checks (a retry inside librdkafka after a lost response can land a record twice
without anybody seeing a second attempt). Records waiting for a partition leader stay queued in
librdkafka (message.timeout.ms) and are sent once there is one.

Every attempt gets a send sequence number S (in produce() call order). The log on stdout, one
line per event, flushed as it happens:
  {"ev":"ready"}                                           the producer is created
  {"s":S,"v":VALUE,"p":P,"o":OFFSET,"t":TIME}              attempt S was acknowledged at OFFSET
  {"s":S,"v":VALUE,"p":P,"e":ERROR,"t":TIME}               attempt S failed (it may or may not have landed)
  {"ev":"exit","sent":N,"pending":[[S,VALUE,P],...]}       SIGTERM: stopped, flushed; attempts
                                                           still without a report are listed
TIME is time.time() when the delivery report was handled (the main loop polls every few ms).
Diagnostics go to stderr.
"""
import json
import signal
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, partitions, ident, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
FLUSH_TIMEOUT_S = 40.0

stopping = False


def on_sigterm(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def note(*parts):
    sys.stderr.write('[numberedProducer %s %.3f] %s\n' % (ident, time.time(), ' '.join(str(p) for p in parts)))
    sys.stderr.flush()


producer = Producer({
    'bootstrap.servers': bootstrap,
    'acks': 'all',
    'enable.idempotence': False,
    # The application retries (see above); librdkafka sends each attempt once.
    'retries': 0,
    'message.timeout.ms': 30000,
    'request.timeout.ms': 5000,
    'linger.ms': 5,
    # Brokers are SIGKILLed and restarted: reconnect promptly, and look for a new leader soon.
    'reconnect.backoff.ms': 50,
    'reconnect.backoff.max.ms': 500,
    'topic.metadata.refresh.fast.interval.ms': 100,
    'error_cb': lambda err: note('client error:', err),
})

seq = 0
pending = {}  # S -> (value, partition)
retry = []  # (value, partition) whose attempt failed, to produce again


def report(s, err, msg):
    value, p = pending.pop(s)
    t = time.time()
    if err is None:
        out({'s': s, 'v': value, 'p': p, 'o': msg.offset(), 't': t})
    else:
        out({'s': s, 'v': value, 'p': p, 'e': str(err), 't': t})
        retry.append((value, p))


def send(value, p):
    global seq
    s = seq
    while True:
        try:
            producer.produce(topic, value=value.encode(), partition=p, on_delivery=lambda err, msg, s=s: report(s, err, msg))
            break
        except BufferError:
            producer.poll(0.01)
    pending[s] = (value, p)
    seq += 1


out({'ev': 'ready'})
start = time.time()
n = 0
while not stopping:
    while retry and not stopping:
        send(*retry.pop(0))
    due = int((time.time() - start) * rate)
    while n < due and not stopping:
        send('%s-%d' % (ident, n), n % partitions)
        n += 1
    producer.poll(0.005)

note('stopping: %d values, %d attempts, %d pending, %d to retry (not retried)' % (n, seq, len(pending), len(retry)))
deadline = time.time() + FLUSH_TIMEOUT_S
while pending and time.time() < deadline:
    producer.poll(0.05)
out({'ev': 'exit', 'sent': seq, 'pending': [[s, v, p] for s, (v, p) in sorted(pending.items())]})
sys.exit(0)
