import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileCache } from '../../core/log/fileCache';
import { FLOOR_CHUNK_BYTES, ResponseBufferBudget, streamResponse, type StreamOptions } from '../../core/broker/responseStream';
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
    const take = budget.take.bind(budget);
    budget.take = (n: number) => {
      const granted = take(n);
      maxInUse = Math.max(maxInUse, budget.inUse);
      return granted;
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
  it('grants what is asked while the budget lasts, then floor chunks, never refusing or waiting', () => {
    const b = new ResponseBufferBudget(100_000);
    expect(b.take(60_000)).toBe(60_000);
    expect(b.take(60_000)).toBe(40_000); // what is left
    expect(b.take(60_000)).toBe(FLOOR_CHUNK_BYTES); // an overdraft of one floor chunk
    expect(b.take(100)).toBe(100); // a small ask is never rounded up
    expect(b.inUse).toBe(100_000 + FLOOR_CHUNK_BYTES + 100);
    b.release(60_000);
    expect(b.take(1_000_000)).toBe(60_000 - FLOOR_CHUNK_BYTES - 100);
    expect(b.inUse).toBe(100_000);
  });
});

describe('stalled readers on the buffered path', () => {
  it('cannot starve another connection, however many hold the budget', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-stall-'));
    const file = path.join(dir, 'segment.log');
    const content = crypto.randomBytes(4 * 1024 * 1024);
    fs.writeFileSync(file, content);
    const cache = new FileCache(16);
    const f = cache.file(file, { readOnly: true });
    // Four stalled readers at 64 KiB each spend the whole 256 KiB budget.
    const budget = new ResponseBufferBudget(256 * 1024);
    const opts = { zeroCopy: null, budget, chunkBytes: 64 * 1024 };
    const pairs = await Promise.all(Array.from({ length: 5 }, () => socketPair()));
    const stalled = pairs.slice(0, 4);
    const sending = stalled.map((p) => {
      p.client.pause();
      // 40 MiB each: more than loopback's socket buffers take, so each ends up holding a chunk.
      return streamResponse(p.server, Array.from({ length: 10 }, () => f.region(0, content.length)), opts).catch(() => 'closed');
    });
    try {
      const deadline = Date.now() + 20_000;
      while (budget.inUse < budget.capacity && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(budget.inUse).toBeGreaterThanOrEqual(budget.capacity);
      const other = pairs[4];
      const received = readBytes(other.client, content.length);
      await streamResponse(other.server, [f.region(0, content.length)], opts);
      expect((await received).equals(content)).toBe(true);
      expect(budget.inUse).toBeLessThanOrEqual(budget.capacity);
    } finally {
      for (const p of pairs) p.close();
      expect(await Promise.all(sending)).toEqual(['closed', 'closed', 'closed', 'closed']);
      expect(budget.inUse).toBe(0);
      expect(f.pins).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
