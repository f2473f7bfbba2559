"""
A consume-transform-produce job with exactly-once semantics, as a real application would write
it with confluent_kafka (python3-confluent-kafka 1.7 / librdkafka 2.0.2): a read_committed
consumer in a fixed group (static membership, so a restarted job takes over at once), a producer
with a fixed transactional.id (so a restarted job fences the killed one and aborts its open
transaction), and one transaction per polled batch holding both the output records and the
consumer offsets.

    python3 eosJob.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID RUN BATCH

Each input record (key K, value V, partition P) becomes an output record (key K, value "out-V",
partition P) with a header txn=<transaction id>. The transaction id is "<RUN>-<n>", unique over
restarts when every run gets its own RUN label.

The log on stdout (one JSON object a line, flushed, so a SIGKILL loses nothing already printed) is
the history the test checks:
  {"ev":"ready"}                                   init_transactions done, subscribing
  {"ev":"txn","txn":ID,"recs":[[P,VALUE],...]}     before anything of transaction ID is produced
  {"ev":"committing","txn":ID}                     records produced (maybe still queued), offsets
                                                   sent: commit_transaction is called next
  {"ev":"end","txn":ID,"outcome":"committed"}      commit_transaction returned
  {"ev":"end","txn":ID,"outcome":"aborted","error":...}  abort_transaction returned, consumer rewound
  {"ev":"exit"}                                    SIGTERM: stopped between transactions
A transaction with a "txn" line but no "end" line (the job was killed) has outcome unknown.
Errors a client cannot handle (fatal, or not abortable) print {"ev":"fatal",...} and exit 3.
Diagnostics go to stderr.
"""
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING

bootstrap, source, sink, group, transactional_id, run = sys.argv[1:7]
batch = int(sys.argv[7])
# Every blocking transactional call is bounded; a broker that never answers fails the job.
CALL_TIMEOUT_S = 30.0


def log(obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def note(*parts):
    sys.stderr.write('[eosJob %s %.3f] %s\n' % (run, time.time(), ' '.join(str(p) for p in parts)))
    sys.stderr.flush()


stopping = False


def on_sigterm(_signum, _frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)

common = {
    'bootstrap.servers': bootstrap,
    # The broker is SIGKILLed and restarted once: reconnect promptly rather than after up to 10 s.
    'reconnect.backoff.ms': 50,
    'reconnect.backoff.max.ms': 500,
    'error_cb': lambda err: note('client error:', err),
}
producer = Producer(dict(common, **{
    'transactional.id': transactional_id,
    'transaction.timeout.ms': 20000,
    'linger.ms': 0,
}))
consumer = Consumer(dict(common, **{
    'group.id': group,
    'group.instance.id': group + '-instance',
    'isolation.level': 'read_committed',
    'enable.auto.commit': False,
    'enable.auto.offset.store': False,
    'auto.offset.reset': 'earliest',
    'session.timeout.ms': 10000,
    'heartbeat.interval.ms': 1000,
}))


def fatal(what, err):
    log({'ev': 'fatal', 'what': what, 'error': str(err)})
    note('fatal:', what, err)
    sys.exit(3)


def kafka_error(e):
    return e.args[0] if e.args and hasattr(e.args[0], 'code') else None


def retrying(what, call):
    """Run a transactional call again while its error is retriable (the librdkafka contract)."""
    deadline = time.time() + 60
    while True:
        try:
            return call()
        except KafkaException as e:
            err = kafka_error(e)
            if err is not None and err.retriable() and not err.fatal() and time.time() < deadline:
                note(what, 'retriable error, retrying:', err)
                continue
            raise


def rewind():
    """After an abort: continue from the group's committed offsets (read stable, as read_committed)."""
    deadline = time.time() + 60
    while True:
        try:
            assigned = consumer.assignment()
            committed = consumer.committed(assigned, CALL_TIMEOUT_S)
            for tp in committed:
                consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
            note('rewound to', [(tp.partition, tp.offset) for tp in committed])
            return
        except KafkaException as e:
            if time.time() > deadline:
                fatal('rewind', e)
            note('rewind failed, again:', e)
            time.sleep(0.1)


retrying('init_transactions', lambda: producer.init_transactions(CALL_TIMEOUT_S))
log({'ev': 'ready'})
consumer.subscribe([source],
                   on_assign=lambda c, ps: note('assigned', [p.partition for p in ps]),
                   on_revoke=lambda c, ps: note('revoked', [p.partition for p in ps]))

n = 0
while not stopping:
    msgs = consumer.consume(batch, 0.2)
    recs = []
    for m in msgs:
        if m.error():
            note('consumer error:', m.error())
        else:
            recs.append(m)
    if not recs:
        continue
    n += 1
    txn = '%s-%d' % (run, n)
    out = [(m.partition(), 'out-' + m.value().decode()) for m in recs]
    log({'ev': 'txn', 'txn': txn, 'recs': out})
    # The offsets to commit: after the last record of this batch, per partition (what
    # consumer.position() reports for them, without depending on when it is updated).
    nxt = {}
    for m in recs:
        nxt[m.partition()] = m.offset() + 1
    offsets = [TopicPartition(source, p, o) for p, o in sorted(nxt.items())]
    try:
        producer.begin_transaction()
        for m, (p, value) in zip(recs, out):
            while True:
                try:
                    producer.produce(sink, key=m.key(), value=value.encode(), partition=p, headers=[('txn', txn.encode())])
                    break
                except BufferError:
                    producer.poll(0.05)
        retrying('send_offsets_to_transaction',
                 lambda: producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), CALL_TIMEOUT_S))
        log({'ev': 'committing', 'txn': txn})
        retrying('commit_transaction', lambda: producer.commit_transaction(CALL_TIMEOUT_S))
        log({'ev': 'end', 'txn': txn, 'outcome': 'committed'})
    except KafkaException as e:
        err = kafka_error(e)
        if err is None or err.fatal() or not err.txn_requires_abort():
            fatal('transaction ' + txn, e)
        note('abortable error in', txn, err)
        try:
            retrying('abort_transaction', lambda: producer.abort_transaction(CALL_TIMEOUT_S))
        except KafkaException as e2:
            fatal('abort_transaction ' + txn, e2)
        log({'ev': 'end', 'txn': txn, 'outcome': 'aborted', 'error': str(err)})
        rewind()

consumer.close()
log({'ev': 'exit'})
