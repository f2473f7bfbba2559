import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ConsumeVerifier, consumeCommand, consumePhase, producePhase, recordedCommand } from '../../bench/kcatPhases';
import { writeRecordFile } from '../../bench/records';
import { startBroker } from '../helpers/broker';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function feed(v: ConsumeVerifier, text: string, splitEvery = 7): void {
  // Arbitrary chunk boundaries, as a pipe delivers them.
  for (let i = 0; i < text.length; i += splitEvery) v.push(Buffer.from(text.slice(i, i + splitEvery), 'latin1'));
  v.end();
}

const lines = (n: number, size: number, from = 0): string =>
  Array.from({ length: n }, (_, i) => `${from + i} ${size}\n`).join('');

describe('ConsumeVerifier', () => {
  it('accepts contiguous offsets from 0 with the expected payload size', () => {
    const v = new ConsumeVerifier(100);
    feed(v, lines(1000, 100));
    expect(v.count).toBe(1000);
    expect(v.firstError).toBeUndefined();
  });

  it('flags a log that does not start at offset 0', () => {
    const v = new ConsumeVerifier(100);
    feed(v, lines(5, 100, 3));
    expect(v.firstError).toBe('record #0 has offset "3", expected 0');
    expect(v.count).toBe(5);
  });

  it('flags a gap or a duplicate', () => {
    const gap = new ConsumeVerifier(10);
    feed(gap, '0 10\n1 10\n3 10\n');
    expect(gap.firstError).toBe('record #2 has offset "3", expected 2');
    const dup = new ConsumeVerifier(10);
    feed(dup, '0 10\n1 10\n1 10\n');
    expect(dup.firstError).toBe('record #2 has offset "1", expected 2');
  });

  it('starts from another offset when told', () => {
    const v = new ConsumeVerifier(100, 500);
    feed(v, lines(3, 100, 500));
    expect(v.firstError).toBeUndefined();
    expect(v.count).toBe(3);
    const wrong = new ConsumeVerifier(100, 500);
    feed(wrong, lines(3, 100, 0));
    expect(wrong.firstError).toBe('record #0 has offset "0", expected 500');
  });

  it('flags a wrong payload size (including a null value, -1)', () => {
    const v = new ConsumeVerifier(100);
    feed(v, '0 100\n1 -1\n');
    expect(v.firstError).toBe('record at offset 1 has -1 payload bytes, expected 100');
  });

  it('flags garbage and a truncated last line without buffering them', () => {
    const junk = new ConsumeVerifier(1);
    junk.push(Buffer.alloc(5000, 0x41));
    expect(junk.firstError).toMatch(/unexpected output from kcat/);
    const cut = new ConsumeVerifier(1);
    feed(cut, '0 1\n1 1');
    expect(cut.firstError).toBe('truncated last line from kcat: "1 1"');
  });
});

describe('consumeCommand', () => {
  it('plain: partition 0 from absolute offset 0; group: -G, committed offsets (earliest if none), topic last', () => {
    const plain = consumeCommand('h:1', 't');
    expect(plain.slice(0, 9)).toEqual(['-C', '-b', 'h:1', '-t', 't', '-p', '0', '-o', '0']);
    const group = consumeCommand('h:1', 't', 'g');
    expect(group.slice(0, 6)).toEqual(['-b', 'h:1', '-G', 'g', '-X', 'auto.offset.reset=earliest']);
    expect(group[group.length - 1]).toBe('t');
    // A logical start offset would make librdkafka race its own offset query (see consumeCommand).
    expect([...plain, ...group]).not.toContain('beginning');
    // Same fetch settings, exit at the end and output format on both sides.
    expect(group.slice(6, -1)).toEqual(plain.slice(9));
    expect(plain).toEqual(expect.arrayContaining(['-e', '-f', '%o %S\\n']));
    expect(consumeCommand('h:1', 't', undefined, 1234).slice(0, 9)).toEqual(['-C', '-b', 'h:1', '-t', 't', '-p', '0', '-o', '1234']);
  });

  it('adds client properties (security) after the fetch settings, both ways', () => {
    const props = { 'security.protocol': 'SASL_SSL', 'sasl.password': 'pw' };
    const plain = consumeCommand('h:1', 't', undefined, 0, props);
    expect(plain.slice(0, 9)).toEqual(consumeCommand('h:1', 't').slice(0, 9));
    expect(plain.join(' ')).toContain('-X fetch.wait.max.ms=10 -X security.protocol=SASL_SSL -X sasl.password=pw -f');
    expect(consumeCommand('h:1', 't', 'g', 0, props)).toEqual(expect.arrayContaining(['security.protocol=SASL_SSL']));
  });

  it('records the command without the SASL password', () => {
    expect(recordedCommand(['-C', '-X', 'sasl.username=bench', '-X', 'sasl.password=s3cr=t', '-X', 'ssl.ca.location=/tmp/ca.crt'])).toEqual([
      'kcat', '-C', '-X', 'sasl.username=bench', '-X', 'sasl.password=***', '-X', 'ssl.ca.location=/tmp/ca.crt',
    ]);
  });
});

describe('kcat phases', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-phases-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports kcat failing (nothing listening) with its stderr', async () => {
    const port = await closedPort();
    const file = path.join(dir, 'ten.txt');
    writeRecordFile(file, 10, 100);
    const r = await producePhase({
      name: 'p', bootstrap: `127.0.0.1:${port}`, topic: 't', file, records: 10, recordSize: 100, brokerPid: process.pid, timeoutMs: 20_000,
    });
    expect(r).toMatchObject({ ok: false, records: 0, recordsPerSec: 0 });
    expect(r.error).toMatch(/^kcat exited with code 1: [\s\S]*Connection refused/);
  });

  it('kills kcat at the phase timeout (a server that never answers)', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const r = await consumePhase({
        name: 'c', bootstrap: `127.0.0.1:${(silent.address() as net.AddressInfo).port}`, topic: 't', records: 10, recordSize: 100,
        brokerPid: process.pid, timeoutMs: 500,
      });
      expect(r).toMatchObject({ ok: false, error: 'kcat timed out after 500 ms (killed)', records: 0 });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('produces and consumes against the real broker, verifying every record', async () => {
    const broker = await startBroker();
    try {
      const file = path.join(dir, 'r.txt');
      writeRecordFile(file, 3000, 100);
      const common = { bootstrap: broker.bootstrap, topic: 'bench-test', records: 3000, recordSize: 100, brokerPid: broker.pid, timeoutMs: 30_000 };
      const produced = await producePhase({ ...common, name: 'produce', file });
      expect(produced.error).toBeUndefined();
      expect(produced).toMatchObject({ ok: true, records: 3000, payloadBytes: 300_000 });
      expect(produced.recordsPerSec).toBeGreaterThan(0);
      expect(produced.broker.peakRssBytes).toBeGreaterThan(0);
      expect(produced.client!.cpuSeconds).toBeGreaterThanOrEqual(0);

      const consumed = await consumePhase({ ...common, name: 'consume' });
      expect(consumed.error).toBeUndefined();
      expect(consumed).toMatchObject({ ok: true, records: 3000 });
      const tail = await consumePhase({ ...common, name: 'consume the tail', fromOffset: 2500, records: 500 });
      expect(tail.error).toBeUndefined();
      expect(tail).toMatchObject({ ok: true, records: 500 });

      // Verification is real: the same data read as the wrong size or count fails the phase.
      const wrongSize = await consumePhase({ ...common, name: 'consume', recordSize: 99 });
      expect(wrongSize).toMatchObject({ ok: false, error: 'record at offset 0 has 100 payload bytes, expected 99' });
      const wrongCount = await consumePhase({ ...common, name: 'consume', records: 3001 });
      expect(wrongCount).toMatchObject({ ok: false, error: 'consumed 3000 records, expected exactly 3001' });
    } finally {
      await broker.stop();
    }
  });
});
