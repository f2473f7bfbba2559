/**
 * `strata delete-records` end to end: the built binary against a real broker process, with
 * kcat and Strata's client checking the effect (the earliest offset moved, the records below
 * it gone). Kafka's JSON file and the --topic form, -1 (the high watermark), refusals per
 * partition (exit 1) and usage errors (exit 2). The input checks that need no broker also run
 * in-process (runCli) against a port nothing listens on, which proves they fail before connecting.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EARLIEST_TIMESTAMP, StrataClient } from '../../core/client/client';
import { formatUsage } from '../../core/cli/args';
import { deleteRecordsSpec, parseOffsetJson } from '../../core/cli/deleteRecords';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { BROKER_MAIN } from '../helpers/build';
import { kcatAvailable, kcatConsumeRecords } from '../helpers/kcat';
import { runProcess, type RunResult } from '../helpers/proc';
import { runCli } from './runCli';

jest.setTimeout(60_000);

let broker: BrokerProcess;
let client: StrataClient;
let dir: string;

beforeAll(async () => {
  await kcatAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-delete-records-cli-'));
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The built `strata` binary, with the exit code and both streams. */
async function strata(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r: RunResult = await runProcess(process.execPath, [BROKER_MAIN, 'delete-records', ...args], { timeoutMs: 30_000 });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

const bs = () => ['--bootstrap-server', broker.bootstrap];

function jsonFile(name: string, content: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

async function createTopic(name: string, partitions: number, recordsPerPartition: number, configs: Record<string, string> = {}): Promise<void> {
  await client.createTopics([{ name, numPartitions: partitions, replicationFactor: 1, configs }]);
  for (let p = 0; p < partitions; p++) {
    await client.produce(name, p, Array.from({ length: recordsPerPartition }, (_, i) => ({ key: `k${i}`, value: `p${p}-v${i}` })));
  }
}

const earliest = async (topic: string, partition: number): Promise<bigint> => (await client.listOffsets(topic, partition, EARLIEST_TIMESTAMP)).offset;

/** What kcat (librdkafka) reads from the beginning of a partition: offset and value per record. */
async function kcatRead(topic: string, partition: number): Promise<string[]> {
  const records = await kcatConsumeRecords(broker.bootstrap, topic, { partition });
  return records.map((r) => `${r.offset}:${r.value}`);
}

const range = (from: number, to: number, partition: number): string[] => Array.from({ length: to - from }, (_, i) => `${from + i}:p${partition}-v${from + i}`);

test('--offset-json-file: each partition to its offset, -1 to the high watermark; kcat reads from the new start', async () => {
  await createTopic('dr-json', 2, 10);
  const file = jsonFile('two.json', {
    partitions: [
      { topic: 'dr-json', partition: 1, offset: -1 },
      { topic: 'dr-json', partition: 0, offset: 4 },
    ],
    version: 1,
  });
  const r = await strata(...bs(), '--offset-json-file', file);
  expect(r).toEqual({
    code: 0,
    stdout: 'Executing records delete operation\nRecords delete operation completed:\npartition: dr-json-0\tlow_watermark: 4\npartition: dr-json-1\tlow_watermark: 10\n',
    stderr: '',
  });
  expect(await earliest('dr-json', 0)).toBe(4n);
  expect(await earliest('dr-json', 1)).toBe(10n);
  expect(await kcatRead('dr-json', 0)).toEqual(range(4, 10, 0));
  expect(await kcatRead('dr-json', 1)).toEqual([]);
  // Fetching below the start is refused: the records are gone, not hidden.
  await expect(client.fetch('dr-json', 0, 3n, { maxWaitMs: 0 })).rejects.toMatchObject({ errorName: 'OFFSET_OUT_OF_RANGE' });

  // An offset at or below the start moves nothing and succeeds with the current start, as in Kafka.
  const again = await strata(...bs(), '--offset-json-file', jsonFile('below.json', { partitions: [{ topic: 'dr-json', partition: 0, offset: 2 }] }));
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('partition: dr-json-0\tlow_watermark: 4\n');
  expect(await kcatRead('dr-json', 0)).toEqual(range(4, 10, 0));
});

test('--topic: every partition without --partition, one partition with it, -1 = the high watermark', async () => {
  await createTopic('dr-topic', 3, 5);
  const all = await strata(...bs(), '--topic', 'dr-topic', '--offset', '2');
  expect(all).toEqual({
    code: 0,
    stdout:
      'Executing records delete operation\nRecords delete operation completed:\n' +
      'partition: dr-topic-0\tlow_watermark: 2\npartition: dr-topic-1\tlow_watermark: 2\npartition: dr-topic-2\tlow_watermark: 2\n',
    stderr: '',
  });
  const one = await strata(...bs(), '--topic', 'dr-topic', '--partition', '1', '--offset', '-1');
  expect(one).toEqual({ code: 0, stdout: 'Executing records delete operation\nRecords delete operation completed:\npartition: dr-topic-1\tlow_watermark: 5\n', stderr: '' });

  expect([await earliest('dr-topic', 0), await earliest('dr-topic', 1), await earliest('dr-topic', 2)]).toEqual([2n, 5n, 2n]);
  expect(await kcatRead('dr-topic', 0)).toEqual(range(2, 5, 0));
  expect(await kcatRead('dr-topic', 1)).toEqual([]);
  expect(await kcatRead('dr-topic', 2)).toEqual(range(2, 5, 2));
  // New records still land after the end, and are read from the moved start.
  await client.produce('dr-topic', 1, [{ value: 'p1-v5' }]);
  expect(await kcatRead('dr-topic', 1)).toEqual(['5:p1-v5']);
});

test('an offset above the high watermark: the partition fails with the high watermark named (exit 1), the others proceed', async () => {
  await createTopic('dr-range', 2, 6);
  const alone = await strata(...bs(), '--topic', 'dr-range', '--partition', '0', '--offset', '7');
  expect(alone.code).toBe(1);
  expect(alone.stdout).toBe(
    'Executing records delete operation\nRecords delete operation completed:\n' +
      'partition: dr-range-0\terror: offset 7 is above the high watermark 6; give an offset up to 6, or -1 for the high watermark\n',
  );
  expect(alone.stderr).toBe('Error: records of 1 of 1 partition(s) could not be deleted; see the errors above.\n');
  expect(await earliest('dr-range', 0)).toBe(0n);

  // One bad partition in a file does not stop the good one.
  const mixed = await strata(
    ...bs(),
    '--offset-json-file',
    jsonFile('mixed.json', {
      partitions: [
        { topic: 'dr-range', partition: 0, offset: 1000 },
        { topic: 'dr-range', partition: 1, offset: 3 },
      ],
      version: 1,
    }),
  );
  expect(mixed.code).toBe(1);
  expect(mixed.stdout).toContain('partition: dr-range-0\terror: offset 1000 is above the high watermark 6;');
  expect(mixed.stdout).toContain('partition: dr-range-1\tlow_watermark: 3\n');
  expect(mixed.stderr).toBe('Error: records of 1 of 2 partition(s) could not be deleted; see the errors above.\n');
  expect(await earliest('dr-range', 0)).toBe(0n);
  expect(await kcatRead('dr-range', 0)).toEqual(range(0, 6, 0));
  expect(await kcatRead('dr-range', 1)).toEqual(range(3, 6, 1));
});

test('an unknown topic or partition and a compacted topic are refused with the fix (exit 1)', async () => {
  await createTopic('dr-compact', 1, 3, { 'cleanup.policy': 'compact' });
  await createTopic('dr-known', 1, 3);
  const r = await strata(
    ...bs(),
    '--offset-json-file',
    jsonFile('refused.json', {
      partitions: [
        { topic: 'dr-ghost', partition: 0, offset: 1 },
        { topic: 'dr-known', partition: 4, offset: 1 },
        { topic: 'dr-compact', partition: 0, offset: 1 },
      ],
      version: 1,
    }),
  );
  expect(r.code).toBe(1);
  const lines = r.stdout.split('\n');
  expect(lines).toContain(`partition: dr-ghost-0\terror: topic 'dr-ghost' does not exist; check it with: strata topics --bootstrap-server ${broker.bootstrap} --describe --topic dr-ghost`);
  expect(lines).toContain(`partition: dr-known-4\terror: topic 'dr-known' has 1 partition(s), 0 to 0; check it with: strata topics --bootstrap-server ${broker.bootstrap} --describe --topic dr-known`);
  expect(lines.find((l) => l.startsWith('partition: dr-compact-0\terror: '))).toMatch(/cleanup\.policy does not include 'delete'.*set cleanup\.policy=compact,delete/);
  expect(r.stderr).toBe('Error: records of 3 of 3 partition(s) could not be deleted; see the errors above.\n');
  expect(await earliest('dr-compact', 0)).toBe(0n);
  // The metadata lookups did not auto-create the unknown topic.
  expect(await client.listTopics()).not.toContain('dr-ghost');

  const ghost = await strata(...bs(), '--topic', 'dr-ghost', '--offset', '0');
  expect(ghost).toEqual({ code: 1, stdout: '', stderr: `Error: topic 'dr-ghost' does not exist; list the topics with: strata topics --bootstrap-server ${broker.bootstrap} --list\n` });
});

test('usage errors exit 2 with the message and the usage', async () => {
  const none = await strata(...bs());
  expect(none.code).toBe(2);
  expect(none.stdout).toBe('');
  expect(none.stderr).toBe(`strata delete-records: missing the records to delete: give --offset-json-file FILE, or --topic TOPIC --offset N\n\n${formatUsage(deleteRecordsSpec)}`);

  const negative = await strata(...bs(), '--topic', 'dr-topic', '--offset', '-2');
  expect(negative.code).toBe(2);
  expect(negative.stderr.split('\n')[0]).toBe('strata delete-records: --offset must be at least -1 (-1 = the high watermark), got -2');
});

describe('input checks before connecting (in-process, nothing listens on the port)', () => {
  const run = (...args: string[]) => runCli(['delete-records', '--bootstrap-server', '127.0.0.1:1', ...args]);
  const firstLine = (r: { stderr: string }) => r.stderr.split('\n')[0];

  it.each([
    [['--topic', 't'], 'missing required flag --offset (with --topic: records below this offset go; -1 = the high watermark)'],
    [['--topic', 't', '--offset', 'ten'], "--offset must be an integer, got 'ten'"],
    [['--topic', 't', '--offset', '9223372036854775808'], '--offset is out of range: 9223372036854775808'],
    [['--topic', 't', '--offset', '1', '--partition', '-1'], '--partition must be at least 0, got -1'],
    [['--topic', 't', '--offset', '1', '--offset-json-file', 'x.json'], 'give either --offset-json-file or --topic, not both'],
    [['--offset-json-file', 'x.json', '--offset', '1'], '--offset can only be used with --topic (in --offset-json-file the file names partitions and offsets)'],
  ])('%j', async (args, message) => {
    const r = await run(...args);
    expect(r.code).toBe(2);
    expect(firstLine(r)).toBe(`strata delete-records: ${message}`);
  });

  it('names a missing file', async () => {
    const missing = path.join(dir, 'absent.json');
    const r = await run('--offset-json-file', missing);
    expect(r.code).toBe(2);
    expect(firstLine(r)).toBe(`strata delete-records: cannot read --offset-json-file '${missing}': no such file`);
  });

  it.each([
    ['bad JSON', '{"partitions": [', /^not valid JSON \(.+\); expected \{"partitions":\[\{"topic":"orders","partition":0,"offset":5\}\],"version":1\}$/],
    ['no partitions', '{"version":1}', /^missing the "partitions" array; expected /],
    ['an empty list', '{"partitions":[],"version":1}', /^"partitions" is empty/],
    ['version 2', '{"partitions":[{"topic":"t","partition":0,"offset":1}],"version":2}', /^unsupported "version" 2; the only version is 1$/],
    ['no offset', '{"partitions":[{"topic":"t","partition":0}]}', /^partitions\[0\] needs an "offset" \(an integer; -1 = the high watermark\), got none$/],
    ['an offset as a string', '{"partitions":[{"topic":"t","partition":0,"offset":"5"}]}', /^partitions\[0\] needs an "offset" .*, got "5"$/],
    ['a fractional offset', '{"partitions":[{"topic":"t","partition":0,"offset":5.5}]}', /^partitions\[0\] needs an "offset" .*, got 5\.5$/],
    ['an offset below -1', '{"partitions":[{"topic":"t","partition":0,"offset":-7}]}', /^partitions\[0\] "offset" must be at least -1 \(-1 = the high watermark\), got -7$/],
    ['a negative partition', '{"partitions":[{"topic":"t","partition":-1,"offset":1}]}', /^partitions\[0\] needs a "partition" \(an integer from 0\), got -1$/],
    ['no topic', '{"partitions":[{"partition":0,"offset":1}]}', /^partitions\[0\] needs a "topic"/],
    [
      'a partition twice',
      '{"partitions":[{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":2}]}',
      /^lists these partitions more than once: t-0; keep one offset per partition$/,
    ],
  ])('rejects a file with %s', async (name, content, message) => {
    const file = jsonFile(`${name.replace(/\W+/g, '-')}.json`, content);
    const r = await run('--offset-json-file', file);
    expect(r.code).toBe(2);
    const prefix = `strata delete-records: --offset-json-file '${file}': `;
    expect(firstLine(r).startsWith(prefix)).toBe(true);
    expect(firstLine(r).slice(prefix.length)).toMatch(message);
    expect(r.stderr).toContain(formatUsage(deleteRecordsSpec));
  });
});

test('parseOffsetJson keeps offsets past 2^53 exact, defaults the version, ignores other members', () => {
  expect(parseOffsetJson('{"partitions":[{"topic":"a","partition":3,"offset":9007199254740993,"note":"x"},{"topic":"b","partition":0,"offset":-1}]}')).toEqual([
    { topic: 'a', partition: 3, offset: 9007199254740993n },
    { topic: 'b', partition: 0, offset: -1n },
  ]);
});

test('the client refuses a partition listed twice before sending anything', async () => {
  await expect(
    client.deleteRecords([
      { topic: 'dr-json', partition: 0, offset: 1n },
      { topic: 'dr-json', partition: 0, offset: 2n },
    ]),
  ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
});
