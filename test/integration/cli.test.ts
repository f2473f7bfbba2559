/**
 * The `strata` CLI end to end: the built binary against a real broker process, with kcat
 * checking what the CLI wrote and the CLI reading what kcat wrote.
 */
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { runProcess, type RunResult } from '../helpers/proc';
import { kcatAvailable, kcatConsumeRecords, kcatProduce } from '../helpers/kcat';

let broker: BrokerProcess;

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker();
});

afterAll(async () => {
  await stopAllBrokers();
});

function strata(args: string[], input?: string): Promise<RunResult> {
  return runProcess(process.execPath, [BROKER_MAIN, ...args], { input, timeoutMs: 30_000 });
}

const out = (r: RunResult) => r.stdout.toString('utf8');

test('topics: create, list, describe, alter, delete', async () => {
  const bs = ['--bootstrap-server', broker.bootstrap];
  const created = await strata(['topics', ...bs, '--create', '--topic', 'cli-orders', '--partitions', '3', '--replication-factor', '1', '--config', 'retention.ms=60000']);
  expect(created.code).toBe(0);
  expect(out(created)).toContain('Created topic cli-orders.');

  const list = await strata(['topics', ...bs, '--list']);
  expect(out(list).split('\n')).toContain('cli-orders');

  const describe = await strata(['topics', ...bs, '--describe', '--topic', 'cli-orders']);
  expect(describe.code).toBe(0);
  expect(out(describe)).toMatch(/Topic: cli-orders\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention.ms=60000/);
  expect(out(describe)).toMatch(/\tTopic: cli-orders\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0/);

  const alter = await strata(['topics', ...bs, '--alter', '--topic', 'cli-orders', '--partitions', '5']);
  expect(alter.code).toBe(0);
  expect(out(await strata(['topics', ...bs, '--describe', '--topic', 'cli-orders']))).toContain('PartitionCount: 5');

  const dup = await strata(['topics', ...bs, '--create', '--topic', 'cli-orders', '--partitions', '1', '--replication-factor', '1']);
  expect(dup.code).toBe(1);
  expect(dup.stderr).toMatch(/already exists/);

  const shrink = await strata(['topics', ...bs, '--alter', '--topic', 'cli-orders', '--partitions', '2']);
  expect(shrink.code).toBe(1);
  expect(shrink.stderr).toMatch(/currently has 5 partitions/);

  const del = await strata(['topics', ...bs, '--delete', '--topic', 'cli-orders']);
  expect(del.code).toBe(0);
  expect(out(await strata(['topics', ...bs, '--list']))).not.toContain('cli-orders');
});

test('console-producer writes keyed lines that kcat reads; console-consumer reads what kcat wrote', async () => {
  const bs = ['--bootstrap-server', broker.bootstrap];
  await strata(['topics', ...bs, '--create', '--topic', 'cli-io', '--partitions', '1', '--replication-factor', '1']);
  const lines = Array.from({ length: 100 }, (_, i) => `key${i % 7},value ${i}`);
  const produced = await strata(
    ['console-producer', ...bs, '--topic', 'cli-io', '--producer-property', 'acks=all', '--property', 'parse.key=true', '--property', 'key.separator=,'],
    lines.join('\n') + '\n',
  );
  expect(produced.code).toBe(0);
  const records = await kcatConsumeRecords(broker.bootstrap, 'cli-io');
  expect(records.map((r) => `${r.key},${r.value}`)).toEqual(lines);

  await kcatProduce(broker.bootstrap, 'cli-io', ['kx:from kcat'], { keyDelimiter: ':' });
  const consumed = await strata(['console-consumer', ...bs, '--topic', 'cli-io', '--from-beginning', '--max-messages', '101', '--property', 'print.key=true', '--property', 'key.separator=,']);
  expect(consumed.code).toBe(0);
  expect(out(consumed).trimEnd().split('\n')).toEqual([...lines, 'kx,from kcat']);
  expect(consumed.stderr).toContain('Processed a total of 101 messages');

  const fromOffset = await strata(['console-consumer', ...bs, '--topic', 'cli-io', '--partition', '0', '--offset', '98', '--max-messages', '3']);
  expect(out(fromOffset).trimEnd().split('\n')).toEqual(['value 98', 'value 99', 'from kcat']);
});

test('mistakes get a clear message and a non-zero exit', async () => {
  const typo = await strata(['topics', '--bootstrap-server', broker.bootstrap, '--lsit']);
  expect(typo.code).toBe(2);
  expect(typo.stderr).toMatch(/--lsit/);
  expect(typo.stderr).toMatch(/--list/);

  const down = await strata(['topics', '--bootstrap-server', '127.0.0.1:1', '--list']);
  expect(down.code).toBe(1);
  expect(down.stderr).toMatch(/127\.0\.0\.1:1/);

  const unknownCommand = await strata(['topix']);
  expect(unknownCommand.code).toBe(2);
  expect(unknownCommand.stderr).toMatch(/topics/);

  const badBrokerFlag = await strata(['broker', '--override', 'log.retention.msx=5']);
  expect(badBrokerFlag.code).not.toBe(0);
  expect(badBrokerFlag.stderr).toMatch(/log\.retention\.ms/);
});
