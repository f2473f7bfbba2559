import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import { formatRecord, recordFormat } from '../../core/cli/console-consumer';
import { ApiKey } from '../../core/protocol/generated/index';
import { FakeBroker } from '../client/fakeBroker';
import { runCli } from './runCli';

let broker: FakeBroker;
let client: StrataClient;
beforeEach(async () => {
  broker = await FakeBroker.start();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});
afterEach(async () => {
  await client.close();
  await broker.close();
});

const consume = (...args: string[]) => runCli(['console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', 't', ...args]);

describe('strata console-consumer', () => {
  it('prints values from the beginning and stops after --max-messages', async () => {
    broker.createTopic('t', 1);
    await client.produce('t', 0, ['a', 'b', 'c', 'd'].map((value) => ({ value })));
    const r = await consume('--from-beginning', '--max-messages', '3');
    expect(r).toEqual({ code: 0, stdout: 'a\nb\nc\n', stderr: 'Processed a total of 3 messages\n' });
  });

  it('prints batches librdkafka compressed with gzip, snappy, lz4 and zstd (kcat captures)', async () => {
    broker.createTopic('t', 1);
    const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
    for (const c of codecs) await client.produce('t', 0, fs.readFileSync(path.join(__dirname, `../fixtures/codecs/kcat-${c}.batch`)));
    const r = await consume('--from-beginning', '--max-messages', '16', '--property', 'print.key=true', '--property', 'key.separator=|');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).map((l) => l.replace(/-[abc]+$/, ''))).toEqual(
      codecs.flatMap((c) => [`k1|value-one-${c}`, `k2|value-two-${c}`, `null|keyless-${c}`, `k1|value-three-${c}`]),
    );
  });

  it('reads every partition and exits after --timeout-ms without records', async () => {
    broker.createTopic('t', 3);
    for (let p = 0; p < 3; p++) await client.produce('t', p, [{ value: `p${p}-0` }, { value: `p${p}-1` }]);
    const r = await consume('--from-beginning', '--timeout-ms', '200');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['p0-0', 'p0-1', 'p1-0', 'p1-1', 'p2-0', 'p2-1']);
    expect(r.stderr).toBe('Processed a total of 6 messages\n');
  });

  it('starts at the end by default and prints what arrives afterwards', async () => {
    broker.createTopic('t', 1);
    await client.produce('t', 0, [{ value: 'old' }]);
    const before = broker.framesReceived;
    const running = consume('--max-messages', '1', '--timeout-ms', '10000');
    // The consumer is past its ListOffsets once its first Fetch is waiting: produce then.
    await broker.waitForFrames(before + 4); // consumer: ApiVersions, Metadata, ListOffsets, Fetch
    await client.produce('t', 0, [{ value: 'new' }]);
    expect(await running).toEqual({ code: 0, stdout: 'new\n', stderr: 'Processed a total of 1 messages\n' });
  });

  it('reads one partition from an offset', async () => {
    broker.createTopic('t', 2);
    await client.produce('t', 1, ['a', 'b', 'c'].map((value) => ({ value })));
    await client.produce('t', 0, [{ value: 'other' }]);
    const r = await consume('--partition', '1', '--offset', '1', '--timeout-ms', '100', '--property', 'print.offset=true', '--property', 'print.partition=true');
    expect(r.stdout).toBe('Partition:1\tOffset:1\tb\nPartition:1\tOffset:2\tc\n');
    expect((await consume('--partition', '1', '--offset', 'earliest', '--max-messages', '1')).stdout).toBe('a\n');
  });

  it('formats keys, timestamps and headers like kafka-console-consumer', async () => {
    broker.createTopic('t', 1);
    await client.produce('t', 0, [
      { key: 'k1', value: 'v1', timestamp: 1700000000000, headers: [{ key: 'h1', value: 'x' }, { key: 'h2', value: null }] },
      { key: null, value: null, timestamp: 1700000000001 },
    ]);
    const r = await consume(
      '--from-beginning',
      '--max-messages',
      '2',
      '--property',
      'print.key=true',
      '--property',
      'key.separator=,',
      '--property',
      'print.timestamp=true',
      '--property',
      'print.headers=true',
    );
    expect(r.stdout).toBe('CreateTime:1700000000000,h1:x,h2:null,k1,v1\nCreateTime:1700000000001,NO_HEADERS,null,null\n');
  });

  it('resets an out-of-range offset to the end (or the start with --from-beginning)', async () => {
    broker.createTopic('t', 1);
    await client.produce('t', 0, [{ value: 'a' }]);
    const r = await consume('--partition', '0', '--offset', '99', '--timeout-ms', '100');
    expect(r).toEqual({ code: 0, stdout: '', stderr: 'Processed a total of 0 messages\n' });
  });

  it('fails clearly for a missing topic or partition', async () => {
    expect(await consume('--from-beginning', '--timeout-ms', '100')).toEqual({ code: 1, stdout: '', stderr: "Error: topic 't' does not exist\nProcessed a total of 0 messages\n" });
    broker.createTopic('t', 1);
    const r = await consume('--partition', '3', '--timeout-ms', '100');
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe("Error: topic 't' has no partition 3 (it has 1)");
  });

  it('rides out a dropped connection', async () => {
    await broker.close();
    let dropped = false;
    broker = await FakeBroker.start({
      hook: (h) => {
        if (h.apiKey === ApiKey.Fetch && !dropped) {
          dropped = true;
          return { close: true };
        }
        return undefined;
      },
    });
    await client.close();
    client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
    broker.createTopic('t', 1);
    await client.produce('t', 0, [{ value: 'a' }, { value: 'b' }]);
    const r = await consume('--from-beginning', '--max-messages', '2');
    expect(dropped).toBe(true);
    expect(r).toEqual({ code: 0, stdout: 'a\nb\n', stderr: 'Processed a total of 2 messages\n' });
  });

  it('stops when aborted (SIGINT) and still prints the total', async () => {
    broker.createTopic('t', 1);
    await client.produce('t', 0, [{ value: 'a' }]);
    const controller = new AbortController();
    const before = broker.framesReceived;
    const running = runCli(['console-consumer', '--bootstrap-server', broker.bootstrap, '--topic', 't', '--from-beginning'], '', controller.signal);
    await broker.waitForFrames(before + 5); // ApiVersions, Metadata, ListOffsets, Fetch (record), Fetch (waiting)
    controller.abort();
    expect(await running).toEqual({ code: 0, stdout: 'a\n', stderr: 'Processed a total of 1 messages\n' });
  });

  it('rejects bad group options and bad offsets as usage errors', async () => {
    const g = await consume('--group', 'g1', '--partition', '0');
    expect(g.code).toBe(2);
    expect(g.stderr.split('\n')[0]).toBe('strata console-consumer: Options group and partition cannot be specified together.');
    expect((await consume('--group', 'g1', '--consumer-property', 'group.id=g2')).stderr.split('\n')[0]).toContain("Detected group ids: 'g1', 'g2'");
    expect((await consume('--group', 'g1', '--from-beginning', '--consumer-property', 'auto.offset.reset=latest')).stderr.split('\n')[0]).toContain(
      "Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest'",
    );
    expect((await consume('--group', 'g1', '--consumer-property', 'partition.assignment.strategy=sticky')).stderr.split('\n')[0]).toContain(
      "unknown partition.assignment.strategy 'sticky'",
    );
    expect((await consume('--consumer-property', 'enable.auto.commit=false')).stderr.split('\n')[0]).toContain('--consumer-property enable.auto.commit needs a consumer group (--group)');
    expect((await consume('--offset', '5')).stderr.split('\n')[0]).toContain('--offset needs --partition');
    expect((await consume('--partition', '0', '--offset', '-3')).stderr.split('\n')[0]).toContain("--offset must be a non-negative number, earliest or latest, got '-3'");
    expect((await consume('--partition', '0', '--offset', '1', '--from-beginning')).code).toBe(2);
    expect((await consume('--property', 'print.keys=true')).stderr.split('\n')[0]).toContain('--property print.keys is not supported');
  });
});

describe('formatRecord', () => {
  const rec = { offset: 5n, timestamp: 7n, timestampType: 'LogAppendTime' as const, key: Buffer.from('k'), value: Buffer.from('v'), headers: [] };
  it('orders fields as Kafka does and ends with the line separator', () => {
    const all = recordFormat(
      new Map([
        ['print.timestamp', 'true'],
        ['print.partition', 'true'],
        ['print.offset', 'true'],
        ['print.headers', 'true'],
        ['print.key', 'true'],
      ]),
    );
    expect(formatRecord(rec, 2, all).toString()).toBe('LogAppendTime:7\tPartition:2\tOffset:5\tNO_HEADERS\tk\tv\n');
  });
  it('can leave the value out, ending after the last printed field', () => {
    const f = recordFormat(new Map([['print.key', 'true'], ['print.value', 'false'], ['line.separator', '|']]));
    expect(formatRecord(rec, 0, f).toString()).toBe('k|');
  });
});
