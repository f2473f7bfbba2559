"""
A consumer-group member (python3-confluent-kafka 1.7 / librdkafka 2.0.2, subscribe, automatic
commits) that keeps consuming while brokers fail, until SIGTERM.

    python3 groupConsumer.py BOOTSTRAP GROUP TOPIC

Prints on stdout each record's value, one per line. Client errors go to stderr as
"error <text>" lines (librdkafka reports a lost broker there and recovers by itself); a
consume error on a message goes there as "consume-error <text>".
"""
import signal
import sys

from confluent_kafka import Consumer

bootstrap, group, topic = sys.argv[1], sys.argv[2], sys.argv[3]

stopping = False


def on_sigterm(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)


def error(kind, err):
    sys.stderr.write('%s %s\n' % (kind, err))
    sys.stderr.flush()


c = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': group,
    'enable.auto.commit': True,
    'auto.commit.interval.ms': 200,
    'auto.offset.reset': 'earliest',
    'fetch.wait.max.ms': 100,
    'reconnect.backoff.ms': 50,
    'reconnect.backoff.max.ms': 500,
    'topic.metadata.refresh.interval.ms': 1000,
    'error_cb': lambda err: error('error', err),
})
c.subscribe([topic])
out = sys.stdout
while not stopping:
    for m in c.consume(1000, 0.1):
        if m.error() is not None:
            error('consume-error', m.error())
            continue
        out.write(m.value().decode() + '\n')
    out.flush()
c.close()
