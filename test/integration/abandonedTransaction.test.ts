/**
 * An abandoned transaction: a transactional producer (librdkafka) SIGKILLed with its transaction
 * open holds the partition's last stable offset back, so read_committed consumers cannot read
 * past it — until the coordinator aborts it after transaction.timeout.ms. Then read_committed
 * readers move on (without the abandoned records), and `strata transactions` lists the id as
 * aborted and finds nothing hanging.
 */
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { pythonClientsAvailable, runPython } from '../helpers/python';
import { waitFor } from '../helpers/waitFor';
import { runCli } from '../cli/runCli';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  await pythonClientsAvailable();
  broker = await startBroker({ overrides: { 'transaction.abort.timed.out.transaction.cleanup.interval.ms': '500' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

/** Opens a transaction, writes to it, and SIGKILLs its own process with the transaction open. */
const ABANDON = String.raw`
import os, signal, sys
from confluent_kafka import Producer
bootstrap, topic = sys.argv[1], sys.argv[2]
p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': 'abandoned-tx', 'transaction.timeout.ms': 3000})
p.init_transactions(30)
p.begin_transaction()
for i in range(5):
    p.produce(topic, value=('abandoned-%d' % i).encode(), partition=0)
if p.flush(30) != 0:
    sys.exit(3)
os.kill(os.getpid(), signal.SIGKILL)
`;

async function readCommitted(topic: string): Promise<string[]> {
  const end = (await client.listOffsets(topic, 0, -1n, { isolationLevel: 1 })).offset;
  const out: string[] = [];
  let offset = 0n;
  while (offset < end) {
    const r = await client.fetch(topic, 0, offset, { maxWaitMs: 0, isolationLevel: 1 });
    out.push(...r.records.map((x) => x.value!.toString()));
    if (r.nextOffset === offset) break;
    offset = r.nextOffset;
  }
  return out;
}

test('a producer killed mid-transaction is aborted after transaction.timeout.ms and read_committed readers move past it', async () => {
  const topic = 'abandoned';
  await client.createTopics([{ name: topic, numPartitions: 1, replicationFactor: 1 }]);
  await client.produce(topic, 0, [{ value: 'before' }]);
  const killed = await runPython({ code: ABANDON }, { args: [broker.bootstrap, topic], timeoutMs: 60_000 });
  expect(killed.signal).toBe('SIGKILL');
  // Records written after the open transaction's first one stay invisible to read_committed.
  await client.produce(topic, 0, [{ value: 'after-0' }, { value: 'after-1' }]);
  expect((await client.listOffsets(topic, 0, -1n)).offset).toBe(8n);
  const lso = (await client.listOffsets(topic, 0, -1n, { isolationLevel: 1 })).offset;
  if (lso === 1n) {
    // Normally seen: the transaction is still open here (it times out 3 s after it began).
    expect(await readCommitted(topic)).toEqual(['before']);
  }
  const openTxn = /^\s*\d+\s+\d+\s+-?\d+\s+4\s+\d+\s+1\s*$/m; // a producer whose last sequence is 4, transaction open at offset 1
  const before = await runCli(['transactions', '--bootstrap-server', broker.bootstrap, '--describe-producers', '--topic', topic, '--partition', '0']);
  expect(before.code).toBe(0);
  if (lso === 1n) expect(before.stdout.replace(/\t/g, ' ')).toMatch(openTxn);

  // The coordinator aborts it (with an epoch bump): its marker lets the LSO move on.
  await waitFor(async () => (await client.listOffsets(topic, 0, -1n, { isolationLevel: 1 })).offset === 9n, {
    timeoutMs: 20_000,
    message: 'the abandoned transaction was never aborted',
  });
  expect(await readCommitted(topic)).toEqual(['before', 'after-0', 'after-1']);
  expect(broker.output()).toMatch(/abandoned-tx/);

  // The markers are written before the coordinator records the outcome: CompleteAbort follows.
  await waitFor(async () => /abandoned-tx\s+\S+\s+\d+\s+CompleteAbort/.test((await runCli(['transactions', '--bootstrap-server', broker.bootstrap, '--list'])).stdout), {
    timeoutMs: 10_000,
    message: 'strata transactions --list never showed the abandoned transaction as CompleteAbort',
  });
  const find = await runCli(['transactions', '--bootstrap-server', broker.bootstrap, '--find-hanging', '--topic', topic]);
  expect(find.code).toBe(0);
  expect(find.stdout).not.toMatch(/abandoned/);
  const after = await runCli(['transactions', '--bootstrap-server', broker.bootstrap, '--describe-producers', '--topic', topic, '--partition', '0']);
  // The producer is still known (its epoch was bumped by the abort), with no transaction open.
  expect(after.stdout.replace(/\t/g, ' ')).toMatch(/^\s*\d+\s+1\s+\d+\s+-?\d+\s+\d+\s+None\s*$/m);
  expect(after.stdout.replace(/\t/g, ' ')).not.toMatch(openTxn);
}, 60_000);
