"""
Read every partition of a topic from the beginning to its end with a real consumer
(python3-confluent-kafka 1.7 / librdkafka 2.0.2) at the given isolation level.

    python3 eosRead.py BOOTSTRAP TOPIC PARTITIONS read_committed|read_uncommitted

No group: the partitions are assigned. The end is partition EOF, which librdkafka reports at the
high watermark (read_uncommitted) or at the last stable offset (read_committed), so the caller
waits for open transactions to end first. Prints one line per record on stdout,
PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE<TAB>TXN-HEADER (empty key or header: '-'), then {"ev":"done",...}.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING

bootstrap, topic, partitions, isolation = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': 'eos-reader-unused',  # required by the client; nothing is committed
    'enable.auto.commit': False,
    'enable.partition.eof': True,
    'isolation.level': isolation,
    'error_cb': lambda err: sys.stderr.write('client error: %s\n' % err),
})
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
at_eof = set()
out = sys.stdout
count = 0
deadline = time.time() + 60
while len(at_eof) < partitions:
    if time.time() > deadline:
        sys.stderr.write('no EOF on partitions %s within 60 s\n' % sorted(set(range(partitions)) - at_eof))
        sys.exit(2)
    for m in c.consume(1000, 0.5):
        err = m.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                at_eof.add(m.partition())
                continue
            sys.stderr.write('consumer error: %s\n' % err)
            sys.exit(2)
        # A record after EOF (more arrived): the partition is not done after all.
        at_eof.discard(m.partition())
        txn = dict(m.headers() or []).get('txn')
        key = m.key()
        out.write('%d\t%d\t%s\t%s\t%s\n' % (m.partition(), m.offset(), key.decode() if key is not None else '-',
                                          m.value().decode(), txn.decode() if txn is not None else '-'))
        count += 1
c.close()
out.write(json.dumps({'ev': 'done', 'records': count}) + '\n')
out.flush()
