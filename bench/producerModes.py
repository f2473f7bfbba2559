"""
One timed produce phase for bench/producerModes.ts, with librdkafka through python3-confluent-kafka
(Debian's package, run by /usr/bin/python3):

    python3 producerModes.py BOOTSTRAP TOPIC MODE FILE COUNT SIZE COMMIT_INTERVAL_MS

MODE is plain (enable.idempotence=false), idempotent (enable.idempotence=true) or transactional
(a transactional.id; begin_transaction, then commit_transaction after every COMMIT_INTERVAL_MS of
producing, and once more at the end). FILE holds COUNT records of SIZE bytes, one per line (as
bench/records.ts writes them); every record goes to partition 0 of TOPIC, which exists already.

Untimed: reading FILE into memory, creating the producer, fetching the topic's metadata (so the
connection is up in every mode) and, for transactional, init_transactions. Timed: from the first
produce to the last delivery report (flush, or the last commit_transaction, which flushes).

Prints "start" on stdout just before the timed part, then one JSON object:
  {"seconds", "cpuSeconds" (this process, all threads, during the timed part), "records",
   "failed" (delivery reports with an error), "transactions" (committed with at least one record:
   each wrote one marker to the partition), "emptyCommits", "maxCommitSeconds", "client"}
Exits 1 (JSON with "error") if anything failed: a benchmark must not time an error path.
"""
import json
import sys
import time

from confluent_kafka import KafkaException, Producer, libversion, version

bootstrap, topic, mode, path = sys.argv[1:5]
count, size, commit_interval_ms = (int(a) for a in sys.argv[5:8])
if mode not in ('plain', 'idempotent', 'transactional'):
    sys.exit('unknown mode %r' % mode)

with open(path, 'rb') as f:
    data = f.read()
line = size + 1
if len(data) < count * line:
    sys.exit('%s holds %d bytes, fewer than %d records of %d bytes' % (path, len(data), count, size))

failed = [0]
first_error = [None]


def on_error(err, _msg):
    if err is not None:
        failed[0] += 1
        if first_error[0] is None:
            first_error[0] = str(err)


config = {
    'bootstrap.servers': bootstrap,
    # Identical in every mode: enable.idempotence forces acks=all, so the others ask for it too.
    'acks': 'all',
    'linger.ms': 5,
    'batch.num.messages': 10000,
    'queue.buffering.max.messages': 1000000,
    'queue.buffering.max.kbytes': 1048576,
    # Only failed deliveries call back (librdkafka still reports each message exactly once).
    'delivery.report.only.error': True,
    'on_delivery': on_error,
    'error_cb': lambda err: sys.stderr.write('client error: %s\n' % err),
}
if mode == 'idempotent':
    config['enable.idempotence'] = True
elif mode == 'transactional':
    config['transactional.id'] = 'bench-%s' % topic
    config['transaction.timeout.ms'] = 60000
else:
    config['enable.idempotence'] = False

out = {'mode': mode, 'client': 'confluent-kafka %s, librdkafka %s' % (version()[0], libversion()[0])}


def fail(message):
    out['error'] = message
    print(json.dumps(out))
    sys.exit(1)


try:
    producer = Producer(config)
    txn = mode == 'transactional'
    if txn:
        producer.init_transactions(30)
    producer.list_topics(topic, 10)

    transactions = 0
    empty_commits = 0
    max_commit = 0.0
    in_txn = 0
    # The caller starts sampling the broker's CPU when it reads this line.
    sys.stdout.write('start\n')
    sys.stdout.flush()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if txn:
        producer.begin_transaction()
        txn_started = time.perf_counter()
    interval = commit_interval_ms / 1000.0
    produce = producer.produce
    poll = producer.poll
    for i in range(count):
        at = i * line
        value = data[at:at + size]
        while True:
            try:
                produce(topic, value, partition=0)
                break
            except BufferError:
                poll(0.001)  # the local queue is full: serve delivery reports, then retry
        if i & 1023 == 0:
            poll(0)
        if txn:
            in_txn += 1
            if i & 127 == 0 and time.perf_counter() - txn_started >= interval:
                c0 = time.perf_counter()
                producer.commit_transaction(60)
                max_commit = max(max_commit, time.perf_counter() - c0)
                transactions += 1
                in_txn = 0
                producer.begin_transaction()
                txn_started = time.perf_counter()
    if txn:
        c0 = time.perf_counter()
        producer.commit_transaction(60)
        max_commit = max(max_commit, time.perf_counter() - c0)
        if in_txn > 0:
            transactions += 1
        else:
            empty_commits += 1
    else:
        left = producer.flush(60)
        if left > 0:
            fail('%d records still undelivered after flush(60)' % left)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
except KafkaException as e:
    fail('%s: %s' % (type(e).__name__, e))

out.update(seconds=seconds, cpuSeconds=cpu, records=count - failed[0], failed=failed[0],
           transactions=transactions, emptyCommits=empty_commits, maxCommitSeconds=max_commit)
if failed[0] > 0:
    fail('%d of %d deliveries failed, the first: %s' % (failed[0], count, first_error[0]))
print(json.dumps(out))
