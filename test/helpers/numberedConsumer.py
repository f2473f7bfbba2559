"""
A consumer that keeps reading every partition of a topic from the beginning while brokers fail
(python3-confluent-kafka 1.7 / librdkafka 2.0.2, read_uncommitted, no group: the partitions are
assigned), until SIGTERM.

    python3 numberedConsumer.py BOOTSTRAP TOPIC PARTITIONS

Prints on stdout one line per record, PARTITION<TAB>OFFSET<TAB>VALUE, as it reads them, then
{"ev":"exit","records":N} after SIGTERM. Consumer errors go to stderr (and as
{"ev":"error",...} lines on stdout, so the test can report them).
"""
import json
import signal
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])

stopping = False


def on_sigterm(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)


def note(*parts):
    sys.stderr.write('[numberedConsumer %.3f] %s\n' % (time.time(), ' '.join(str(p) for p in parts)))
    sys.stderr.flush()


c = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': 'numbered-consumer-unused',  # required by the client; nothing is committed
    'enable.auto.commit': False,
    'isolation.level': 'read_uncommitted',
    'auto.offset.reset': 'earliest',
    'fetch.wait.max.ms': 100,
    'reconnect.backoff.ms': 50,
    'reconnect.backoff.max.ms': 500,
    'topic.metadata.refresh.fast.interval.ms': 100,
    'error_cb': lambda err: note('client error:', err),
})
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
out = sys.stdout
count = 0
while not stopping:
    msgs = c.consume(1000, 0.1)
    for m in msgs:
        err = m.error()
        if err is not None:
            note('consumer error:', err)
            out.write(json.dumps({'ev': 'error', 'error': str(err), 't': time.time()}) + '\n')
            continue
        out.write('%d\t%d\t%s\n' % (m.partition(), m.offset(), m.value().decode()))
        count += 1
    out.flush()
c.close()
out.write(json.dumps({'ev': 'exit', 'records': count}) + '\n')
out.flush()
