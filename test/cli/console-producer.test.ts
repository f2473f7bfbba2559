import { Readable } from 'node:stream';
import { StrataClient } from '../../core/client/client';
import { murmur2Partition } from '../../core/client/partitioner';
import { ApiKey } from '../../core/protocol/generated/index';
import { FakeBroker, FakeBrokerOptions } from '../client/fakeBroker';
import { runCli } from './runCli';

let broker: FakeBroker;
const cleanups: Array<() => Promise<unknown>> = [];
async function start(opts: FakeBrokerOptions = {}): Promise<void> {
  broker = await FakeBroker.start(opts);
  cleanups.push(() => broker.close());
}
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const produce = (stdin: string | Buffer | Readable, ...args: string[]) => runCli(['console-producer', '--bootstrap-server', broker.bootstrap, '--topic', 't', ...args], stdin);

/** Every record of the topic as 'key=value' (key '-' when null), per partition. */
async function contents(partitions: number): Promise<string[][]> {
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    const out: string[][] = [];
    for (let p = 0; p < partitions; p++) {
      const f = await client.fetch('t', p, 0n, { maxWaitMs: 0, maxBytes: 64 * 1024 * 1024 });
      out.push(f.records.map((r) => `${r.key === null ? '-' : r.key.toString()}=${r.value === null ? '<null>' : r.value.toString()}`));
    }
    return out;
  } finally {
    await client.close();
  }
}

describe('strata console-producer', () => {
  it('sends one record per line and exits 0 once all are acknowledged', async () => {
    await start();
    broker.createTopic('t', 1);
    const r = await produce('a\nb\r\n\nlast-without-newline');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await contents(1)).toEqual([['-=a', '-=b', '-=', '-=last-without-newline']]);
  });

  it('parses keys and places keyed records like the Java client', async () => {
    await start();
    broker.createTopic('t', 4);
    const lines = Array.from({ length: 40 }, (_, i) => `user-${i % 7},event-${i}`);
    const r = await produce(lines.join('\n') + '\n', '--property', 'parse.key=true', '--property', 'key.separator=,');
    expect(r.code).toBe(0);
    const got = await contents(4);
    for (let p = 0; p < 4; p++) {
      const expected = lines.filter((l) => murmur2Partition(Buffer.from(l.split(',')[0]), 4) === p).map((l) => l.replace(',', '='));
      expect(got[p]).toEqual(expected);
    }
  });

  it('parses headers', async () => {
    await start();
    broker.createTopic('t', 1);
    const r = await produce('h1:x,h2:y\tk\tv\n', '--property', 'parse.headers=true', '--property', 'parse.key=true');
    expect(r.code).toBe(0);
    const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
    cleanups.push(() => client.close());
    const [rec] = (await client.fetch('t', 0, 0n, { maxWaitMs: 0 })).records;
    expect(rec.headers.map((h) => `${h.key}:${h.value}`)).toEqual(['h1:x', 'h2:y']);
    expect([rec.key!.toString(), rec.value!.toString()]).toEqual(['k', 'v']);
  });

  it('honours acks, compression, batch size and linger from --producer-property', async () => {
    let produceRequests: any[] = [];
    await start({
      hook: (h, req) => {
        if (h.apiKey === ApiKey.Produce) produceRequests.push(req);
        return undefined;
      },
    });
    broker.createTopic('t', 1);
    const input = Array.from({ length: 100 }, (_, i) => `line-${i}`).join('\n');
    const r = await produce(input, '--producer-property', 'acks=1', '--producer-property', 'compression.type=gzip', '--batch-size', '200', '--timeout', '1000');
    expect(r.code).toBe(0);
    expect(produceRequests.every((q) => q.acks === 1)).toBe(true);
    const batches = broker.topics.get('t')!.partitions[0].batches;
    expect(batches.every((b) => (b.readInt16BE(21) & 0x07) === 1)).toBe(true); // gzip codec id
    expect(batches.length).toBeGreaterThan(3); // 200-byte batches, not one big one
    expect((await contents(1))[0]).toHaveLength(100);

    produceRequests = [];
    expect((await produce('x\n', '--request-required-acks', 'all')).code).toBe(0);
    expect(produceRequests[0].acks).toBe(-1);
  });

  it.each([
    ['gzip', 1],
    ['snappy', 2],
    ['lz4', 3],
    ['zstd', 4],
  ] as const)('compresses with %s (--compression-codec)', async (codec, id) => {
    await start();
    broker.createTopic('t', 1);
    const lines = Array.from({ length: 300 }, (_, i) => `k${i % 5},${codec}-value-${i}-${'x'.repeat(i % 50)}`);
    const r = await produce(lines.join('\n') + '\n', '--compression-codec', codec, '--property', 'parse.key=true', '--property', 'key.separator=,');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const batches = broker.topics.get('t')!.partitions[0].batches;
    expect(batches.length).toBeGreaterThan(0);
    expect(batches.every((b) => (b.readInt16BE(21) & 0x07) === id)).toBe(true);
    expect((await contents(1))[0]).toEqual(lines.map((l) => l.replace(',', '=')));
  });

  it('streams a large input through bounded batches', async () => {
    await start();
    broker.createTopic('t', 3);
    const N = 20000;
    const lines = (function* () {
      for (let i = 0; i < N; i += 1000) {
        let chunk = '';
        for (let j = i; j < i + 1000; j++) chunk += `record-${j}\n`;
        yield Buffer.from(chunk);
      }
    })();
    const r = await produce(Readable.from(lines));
    expect(r.code).toBe(0);
    const got = (await contents(3)).flat();
    expect(got).toHaveLength(N);
    expect(new Set(got).size).toBe(N);
  });

  it('explains a missing topic when the broker does not auto-create', async () => {
    await start();
    const r = await produce('x\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "Error: topic 't' does not exist and the broker did not create it (auto.create.topics.enable is off). Create it first: strata topics --bootstrap-server <host:port> --create --topic t\n",
    );
  });

  it('lets the broker auto-create the topic', async () => {
    await start({ autoCreateTopics: true });
    expect((await produce('x\n')).code).toBe(0);
    expect(broker.topics.get('t')!.partitions[0].nextOffset).toBe(1n);
  });

  it('does not touch the broker for empty input', async () => {
    await start({ autoCreateTopics: true });
    expect((await produce('')).code).toBe(0);
    expect(broker.topics.has('t')).toBe(false);
  });

  it("stops at a line without the key separator, with Kafka's message", async () => {
    await start();
    broker.createTopic('t', 1);
    const r = await produce('k,v\nnosep\n', '--property', 'parse.key=true', '--property', 'key.separator=,');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: No key separator found on line number 2: 'nosep'\n");
  });

  it('reports a produce error from the broker', async () => {
    await start({
      hook: (h) =>
        h.apiKey === ApiKey.Produce
          ? { response: { responses: [{ name: 't', partitionResponses: [{ index: 0, errorCode: 10, baseOffset: -1n, recordErrors: [], errorMessage: 'batch too big' }] }], throttleTimeMs: 0 } }
          : undefined,
    });
    broker.createTopic('t', 1);
    const r = await produce('x\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: could not produce to topic 't' (t-0): batch too big\n");
  });

  it('rejects bad settings as usage errors', async () => {
    await start();
    const cases: Array<[string[], string]> = [
      [['--producer-property', 'acks=2'], "acks must be all, -1, 1 or 0, got '2'"],
      [['--producer-property', 'compression.type=brotli'], "compression.type must be one of none, gzip, snappy, lz4, zstd, got 'brotli'"],
      [['--producer-property', 'nope=1'], '--producer-property nope is not supported; supported: acks, compression.type'],
      [['--property', 'parse.keys=true'], '--property parse.keys is not supported'],
      [['--batch-size', 'x'], "--batch-size must be an integer, got 'x'"],
    ];
    for (const [args, message] of cases) {
      const r = await produce('x\n', ...args);
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toContain(message);
    }
  });
});
