"""
The librdkafka producers of bench/clusterBench.ts (the `cluster` section), through Debian's
python3-confluent-kafka (run by /usr/bin/python3):

    python3 clusterProduce.py rate BOOTSTRAP TOPIC SIZE RATE SECONDS WARMUP_SECONDS LINGER_MS MAX_IN_FLIGHT DRAIN_SECONDS
    python3 clusterProduce.py failover BOOTSTRAP TOPIC SIZE RATE PARTITIONS LINGER_MS MAX_IN_FLIGHT

Both produce with acks=all, enable.idempotence=false, records of SIZE bytes without a key, and
the given linger.ms and max.in.flight.requests.per.connection (librdkafka's default for the latter,
1,000,000, pipelines a request per record when linger.ms is 0; see bench/README.md).

rate: RATE records per second (keyless, librdkafka's default partitioner spreads them over the
topic's partitions) for WARMUP_SECONDS (not counted), then SECONDS (counted), then at most
DRAIN_SECONDS for the last delivery reports. Record i of the run is due at start + i / RATE; the
loop produces every due record, then serves delivery reports (poll) until the next one is due (at
least 1 ms: librdkafka's timeout is whole milliseconds, and a shorter one spins), so a report is
handled as soon as librdkafka queues it and a record is produced at most ~1 ms late. A record's
latency is the time from its produce() call to its delivery callback (CLOCK_MONOTONIC). Prints
"start" once the topic's metadata is known (the caller samples CPU from there), then one JSON
object: the counted records' latency percentiles (p50, p99, p999, max, mean, in ms; a record
not delivered when the drain ends counts as infinitely late, and a percentile that falls on one
is null), librdkafka's own per-record latency (Message.latency(): from produce() to the broker's
answer, without the callback's dispatch) at p50/p99, the achieved rate (counted records ÷ the
time from the first counted produce to the last counted delivery), how far the producer fell
behind its schedule at worst ("maxLagMs": a client that cannot keep up measures itself, not the
broker), the process's CPU time, "undelivered" and "failed" (delivery reports with an error).
Exits 1 (JSON with "error") if a delivery failed or the local queue filled up.

failover: RATE records per second in all, round-robin over partitions 0..PARTITIONS-1 (explicit
partitions, so every partition keeps receiving records whoever leads it), until stdin is closed
or SIGTERM, then flushes (at most 10 s). Prints "ready" once the topic's metadata is known, then
one line per delivery report, as it is served:

    A <partition> <callback time ns> <produce time ns>          acknowledged
    E <partition> <callback time ns> <produce time ns> <error>   failed (message.timeout.ms ran out)

Times are time.monotonic_ns() (CLOCK_MONOTONIC, the clock of Node's process.hrtime), so the
caller can compare them with when it sent SIGKILL. At the end: "done <produced> <acked> <failed>
<still undelivered after the flush>".
"""
import json
import os
import signal
import sys
import threading
import time

from confluent_kafka import KafkaException, Producer, libversion, version

mode = sys.argv[1]
bootstrap, topic = sys.argv[2], sys.argv[3]
size = int(sys.argv[4])
rate = float(sys.argv[5])

CLIENT = 'confluent-kafka %s, librdkafka %s' % (version()[0], libversion()[0])


def payloads(n):
    """n distinct printable payloads of `size` bytes (windows over a fixed pool)."""
    pool = bytes((65 + (i * 7919 + i // 61) % 58) for i in range(65536 + size))
    return [pool[(i * 4099) % 65536:(i * 4099) % 65536 + size] for i in range(n)]


def acks_all_producer(linger_ms, max_in_flight, error_cb, extra=None):
    """The producer both modes use: acks=all, no idempotence, the given linger and pipelining."""
    config = {
        'bootstrap.servers': bootstrap,
        'acks': 'all',
        'linger.ms': linger_ms,
        'max.in.flight.requests.per.connection': max_in_flight,
        'enable.idempotence': False,
        'error_cb': error_cb,
    }
    config.update(extra or {})
    return Producer(config)


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


def run_rate():
    seconds, warmup, linger_ms = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
    max_in_flight, drain = int(sys.argv[9]), float(sys.argv[10])
    out = {'mode': 'rate', 'client': CLIENT, 'rate': rate, 'seconds': seconds, 'warmup': warmup, 'lingerMs': linger_ms, 'maxInFlight': max_in_flight}

    def fail(message):
        out['error'] = message
        print(json.dumps(out))
        sys.stdout.flush()
        os._exit(1)

    total = int(rate * (warmup + seconds))
    counted_from = int(rate * warmup)
    inf = float('inf')
    latency = [inf] * total  # ms, produce() -> callback; inf until delivered
    rd_latency = [inf] * total  # ms, librdkafka's Message.latency()
    done_at = [0] * total  # callback time, ns
    produced_at = [0] * total
    delivered = [0]
    failed = [0]
    first_error = [None]
    mono = time.monotonic_ns

    def report(i):
        def cb(err, msg):
            now = mono()
            delivered[0] += 1
            if err is not None:
                failed[0] += 1
                if first_error[0] is None:
                    first_error[0] = str(err)
                return
            latency[i] = (now - produced_at[i]) / 1e6
            rd_latency[i] = (msg.latency() or 0.0) * 1000.0
            done_at[i] = now
        return cb

    producer = acks_all_producer(linger_ms, max_in_flight, lambda err: sys.stderr.write('client error: %s\n' % err), {
        'queue.buffering.max.messages': 1000000,
        'queue.buffering.max.kbytes': 1048576,
    })
    try:
        producer.list_topics(topic, 10)
    except KafkaException as e:
        fail('metadata: %s' % e)
    values = payloads(4096)
    produce = producer.produce
    poll = producer.poll
    sys.stdout.write('start\n')
    sys.stdout.flush()
    cpu0 = time.process_time()
    start = mono()
    interval_ns = 1e9 / rate
    max_lag_ns = 0
    i = 0
    while i < total:
        now = mono()
        due = start + int(i * interval_ns)
        if now < due:
            # librdkafka's poll timeout is whole milliseconds: a shorter one is 0, a busy spin that
            # took a core (1.1 cores at any rate) from the brokers being measured. Due records
            # wait at most ~1 ms for their produce() (latency counts from produce()).
            poll(max((due - now) / 1e9, 0.001))
            continue
        if i >= counted_from and now - due > max_lag_ns:
            max_lag_ns = now - due
        # Every record that is due now, then back to serving delivery reports.
        while i < total and start + int(i * interval_ns) <= now:
            produced_at[i] = mono()
            try:
                produce(topic, values[i & 4095], on_delivery=report(i))
            except BufferError:
                fail('the local queue filled up (librdkafka could not keep up)')
            i += 1
        poll(0)
    deadline = mono() + int(drain * 1e9)
    while delivered[0] < total and mono() < deadline:
        poll(0.05)
    cpu = time.process_time() - cpu0
    wall = (mono() - start) / 1e9
    if failed[0] > 0:
        fail('%d of %d deliveries failed, the first: %s' % (failed[0], total, first_error[0]))
    lat = sorted(latency[counted_from:])
    rdl = sorted(rd_latency[counted_from:])
    counted = total - counted_from
    undelivered = sum(1 for x in lat if x == inf)
    last_done = max(done_at[counted_from:])
    window_ns = (last_done if undelivered == 0 else mono()) - produced_at[counted_from]

    def finite(x):
        return None if x is None or x == inf else x

    out.update(
        records=counted,
        undelivered=undelivered,
        p50Ms=finite(percentile(lat, 0.50)), p99Ms=finite(percentile(lat, 0.99)), p999Ms=finite(percentile(lat, 0.999)),
        maxMs=finite(lat[-1]), meanMs=finite(sum(lat) / len(lat)),
        librdkafkaP50Ms=finite(percentile(rdl, 0.50)), librdkafkaP99Ms=finite(percentile(rdl, 0.99)),
        achievedRecordsPerSec=(counted - undelivered) / (window_ns / 1e9),
        achievedMbPerSec=(counted - undelivered) * size / (window_ns / 1e9) / 1e6,
        maxLagMs=max_lag_ns / 1e6,
        cpuSeconds=cpu,
        wallSeconds=wall,
        drainSeconds=drain,
    )
    print(json.dumps(out))
    sys.stdout.flush()
    # Records still in flight would make the producer's destructor wait for them.
    os._exit(0)


def run_failover():
    partitions, linger_ms, max_in_flight = int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    write = sys.stdout.write
    mono = time.monotonic_ns
    counts = {'acked': 0, 'failed': 0}

    def report(p, t0):
        def cb(err, msg):
            now = mono()
            if err is None:
                counts['acked'] += 1
                write('A %d %d %d\n' % (p, now, t0))
            else:
                counts['failed'] += 1
                write('E %d %d %d %s\n' % (p, now, t0, str(err).replace('\n', ' ')))
        return cb

    producer = acks_all_producer(linger_ms, max_in_flight, lambda err: sys.stderr.write('%d client error: %s\n' % (mono(), err)))
    md = producer.list_topics(topic, 10)
    if len(md.topics[topic].partitions) != partitions:
        sys.exit('%s has %d partitions, expected %d' % (topic, len(md.topics[topic].partitions), partitions))
    # stdin closing (the caller exited or ended us) stops the loop too.
    def watch_stdin():
        sys.stdin.read()
        stop[0] = True
    threading.Thread(target=watch_stdin, daemon=True).start()
    write('ready\n')
    sys.stdout.flush()
    values = payloads(256)
    interval_ns = 1e9 / rate
    start = mono()
    i = 0
    last_flush = start
    while not stop[0]:
        now = mono()
        due = start + int(i * interval_ns)
        if now < due:
            producer.poll(min(max((due - now) / 1e9, 0.001), 0.01))  # whole ms: see run_rate
        else:
            p = i % partitions
            try:
                producer.produce(topic, values[i & 255], partition=p, on_delivery=report(p, mono()))
                i += 1
            except BufferError:
                producer.poll(0.01)
            producer.poll(0)
        if now - last_flush > 20000000:
            sys.stdout.flush()
            last_flush = now
    left = producer.flush(10)
    write('done %d %d %d %d\n' % (i, counts['acked'], counts['failed'], left))
    sys.stdout.flush()
    os._exit(0)


if mode == 'rate':
    run_rate()
elif mode == 'failover':
    run_failover()
else:
    sys.exit('unknown mode %r' % mode)
