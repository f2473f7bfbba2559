import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileCache } from '../../core/log/fileCache';
import { ResponseBufferBudget, streamResponse, type StreamOptions } from '../../core/broker/responseStream';
import { loadZeroCopy } from '../../core/net/zeroCopy';
import type { ResponseChunk } from '../../core/common/fileRegion';

/** A connected socket pair over loopback: `server` is the sending side. */
async function socketPair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  const server = await accepted;
  listener.close();
  // As the broker's connections do: a reset is reported through the send that fails.
  server.on('error', () => undefined);
  client.on('error', () => undefined);
  return { server, client, close: () => (server.destroy(), client.destroy()) };
}

/** Reads `n` bytes from the socket, optionally pausing between reads (a slow consumer). */
function readBytes(s: net.Socket, n: number, pauseMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer): void => {
      parts.push(d);
      got += d.length;
      if (got >= n) {
        s.off('data', onData);
        resolve(Buffer.concat(parts).subarray(0, n));
      } else if (pauseMs > 0) {
        s.pause();
        setTimeout(() => s.resume(), pauseMs);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

const modes: [string, () => StreamOptions['zeroCopy']][] = [
  ['buffered', () => null],
  ['zero-copy', () => loadZeroCopy()],
];

describe.each(modes)('streamResponse (%s)', (_mode, zc) => {
  let dir: string;
  let file: string;
  let content: Buffer;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-stream-'));
    file = path.join(dir, 'seg.log');
    content = crypto.randomBytes(6 * 1024 * 1024 + 123);
    fs.writeFileSync(file, content);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sends buffers and file regions in order, byte for byte, to a slow reader, within the buffer budget', async () => {
    if (_mode === 'zero-copy') expect(zc()).not.toBeNull();
    const cache = new FileCache(4);
    const f = cache.file(file, { readOnly: true });
    const budget = new ResponseBufferBudget(100_000);
    let maxInUse = 0;
    const acquire = budget.acquire.bind(budget);
    budget.acquire = (n: number) => {
      const p = acquire(n);
      void p.then(() => (maxInUse = Math.max(maxInUse, budget.inUse)));
      return p;
    };
    const { server, client, close } = await socketPair();
    try {
      const head = Buffer.from('head');
      const chunks: ResponseChunk[] = [head, f.region(17, 3_000_000), Buffer.from('middle'), f.region(3_000_017, content.length - 3_000_017), Buffer.from('tail')];
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const received = readBytes(client, total, 2);
      await streamResponse(server, chunks, { zeroCopy: zc(), budget, chunkBytes: 64 * 1024 });
      const got = await received;
      const expected = Buffer.concat([head, content.subarray(17, 3_000_017), Buffer.from('middle'), content.subarray(3_000_017), Buffer.from('tail')]);
      expect(got.equals(expected)).toBe(true);
      // Every region released, and the buffered path never held more than the budget.
      expect(f.pins).toBe(0);
      expect(budget.inUse).toBe(0);
      expect(maxInUse).toBeLessThanOrEqual(100_000);
    } finally {
      close();
    }
  });

  it('fails, releasing its regions, when the peer goes away mid-response', async () => {
    const cache = new FileCache(4);
    const f = cache.file(file, { readOnly: true });
    const budget = new ResponseBufferBudget(1024 * 1024);
    const { server, client, close } = await socketPair();
    try {
      // The reader takes a little, then disconnects.
      client.once('data', () => client.destroy());
      const sending = streamResponse(server, [f.region(0, content.length), f.region(0, content.length)], { zeroCopy: zc(), budget, chunkBytes: 64 * 1024 });
      await expect(sending).rejects.toThrow();
      expect(f.pins).toBe(0);
      expect(budget.inUse).toBe(0);
    } finally {
      close();
    }
  });

  it('fails when the file is shorter than the region promised (cut under the response)', async () => {
    const short = path.join(dir, `short-${_mode}.log`);
    fs.writeFileSync(short, content.subarray(0, 1000));
    const cache = new FileCache(4);
    const f = cache.file(short, { readOnly: true });
    const { server, client, close } = await socketPair();
    try {
      client.resume();
      const sending = streamResponse(server, [f.region(0, 5000)], { zeroCopy: zc(), budget: new ResponseBufferBudget(1 << 20), chunkBytes: 64 * 1024 });
      await expect(sending).rejects.toThrow(/before the 5000 bytes|ends before/);
      expect(f.pins).toBe(0);
    } finally {
      close();
    }
  });
});

describe('ResponseBufferBudget', () => {
  it('grants in arrival order, never beyond capacity, and a request above capacity gets the whole budget', async () => {
    const b = new ResponseBufferBudget(100);
    expect(await b.acquire(60)).toBe(60);
    const order: string[] = [];
    const second = b.acquire(50).then((n) => order.push(`second:${n}`));
    const third = b.acquire(10).then((n) => order.push(`third:${n}`));
    await Promise.resolve();
    // The third would fit, but waits behind the second (no overtaking).
    expect(order).toEqual([]);
    expect(b.waiting).toBe(2);
    b.release(60);
    await Promise.all([second, third]);
    expect(order).toEqual(['second:50', 'third:10']);
    expect(b.inUse).toBe(60);
    b.release(50);
    b.release(10);
    expect(await b.acquire(1000)).toBe(100);
    b.release(100);
    expect(b.inUse).toBe(0);
  });
});
